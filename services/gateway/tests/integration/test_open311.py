"""Open311 GeoReport v2 through the running stack: every endpoint, JSON and XML, and its error array."""

from xml.etree import ElementTree as ET

import pytest

from kota_common.testing import free_port
from kota_gateway.testing import OPEN311_KEY, start_gateway

pytestmark = pytest.mark.integration

BASE = "/open311/v2"
CENTRAL_JAKARTA = {"lat": "-6.1754", "long": "106.8272"}


def post(client, fmt="json", **fields):
    data = {"api_key": OPEN311_KEY, "service_code": "waste", "description": "Sampah tidak diangkut tiga hari", **fields}
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(f"{BASE}/requests.{fmt}", data=data)


def xml_errors(response) -> list[tuple[str, str]]:
    root = ET.fromstring(response.content)
    assert root.tag == "errors"
    return [(e.findtext("code"), e.findtext("description")) for e in root.findall("error")]


def test_discovery_json_and_xml(client):
    doc = client.get("/open311/discovery.json").json()
    [endpoint] = doc["endpoints"]
    assert endpoint["url"].endswith("/open311/v2") and "text/xml" in endpoint["formats"]
    root = ET.fromstring(client.get("/open311/discovery.xml").content)
    assert root.tag == "discovery" and root.find("endpoints/endpoint/url").text.endswith("/open311/v2")


def test_service_list_json_and_xml(client):
    r = client.get(f"{BASE}/services.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    services = {s["service_code"]: s for s in r.json()}
    assert {"flooding", "waste", "road_damage"} <= services.keys()
    assert services["flooding"]["metadata"] is True and services["flooding"]["type"] == "realtime"
    assert services["waste"]["metadata"] is False

    r = client.get(f"{BASE}/services.xml")
    assert r.status_code == 200 and "xml" in r.headers["content-type"]
    root = ET.fromstring(r.content)
    assert root.tag == "services"
    codes = [s.findtext("service_code") for s in root.findall("service")]
    assert set(codes) == services.keys()


def test_service_definition_json_and_xml(client):
    r = client.get(f"{BASE}/services/flooding.json")
    assert r.status_code == 200
    body = r.json()
    assert body["service_code"] == "flooding"
    attribute = body["attributes"][0]
    assert attribute["code"] == "water_depth_cm" and attribute["variable"] is True

    root = ET.fromstring(client.get(f"{BASE}/services/flooding.xml").content)
    assert root.tag == "service_definition"
    assert root.find("attributes/attribute/code").text == "water_depth_cm"


def test_unknown_service_definition_is_404_in_both_formats(client):
    r = client.get(f"{BASE}/services/no-such-thing.json")
    assert r.status_code == 404
    assert r.json() == [{"code": 404, "description": "service_code: unknown service 'no-such-thing'"}]
    r = client.get(f"{BASE}/services/no-such-thing.xml")
    assert r.status_code == 404 and xml_errors(r)[0][0] == "404"


def test_post_then_get_one_request(client):
    r = post(
        client,
        service_code="flooding",
        description="Banjir setinggi lutut",
        **CENTRAL_JAKARTA,
        **{"attribute[water_depth_cm]": "45"},
        email="warga@example.org",
        first_name="Siti",
        phone="081234567890",
        media_url="https://example.org/banjir.jpg",
        device_id="device-1",
        account_id="acct-9",
    )
    assert r.status_code == 201, r.text
    [created] = r.json()
    assert created["account_id"] == "acct-9" and created["token"]
    assert created["service_notice"].startswith("Diteruskan ke")
    request_id = created["service_request_id"]

    [one] = client.get(f"{BASE}/requests/{request_id}.json").json()
    assert one["service_request_id"] == request_id
    assert one["status"] == "open"
    assert one["service_code"] == "flooding" and one["description"] == "Banjir setinggi lutut"
    assert one["lat"] == pytest.approx(-6.1754) and one["long"] == pytest.approx(106.8272)
    assert one["media_url"] == "https://example.org/banjir.jpg"
    assert one["agency_responsible"]
    # contact details never come back
    assert "warga@example.org" not in client.get(f"{BASE}/requests/{request_id}.json").text

    root = ET.fromstring(client.get(f"{BASE}/requests/{request_id}.xml").content)
    assert root.tag == "service_requests"
    assert root.find("request/service_request_id").text == request_id
    assert root.find("request/status").text == "open"

    # the complaint came in on the Open311 channel
    assert client.get(f"/api/v1/complaints/{request_id}").json()["channel"] == "open311"


def test_post_xml_and_by_address_only(client):
    r = post(client, "xml", address_string="Jl. Medan Merdeka Barat 1", address_id="31.71.01.1001")
    assert r.status_code == 201
    root = ET.fromstring(r.content)
    request_id = root.find("request/service_request_id").text
    [one] = client.get(f"{BASE}/requests/{request_id}.json").json()
    assert one["address"] == "Jl. Medan Merdeka Barat 1" and one["address_id"] == "31.71.01.1001"
    assert one["zipcode"] and len(one["zipcode"]) == 5  # the kelurahan's postcode
    assert one["lat"] is None


def test_token_lookup(client):
    [created] = post(client, **CENTRAL_JAKARTA).json()
    r = client.get(f"{BASE}/tokens/{created['token']}.json")
    assert r.status_code == 200
    assert r.json() == [{"service_request_id": created["service_request_id"], "token": created["token"]}]
    root = ET.fromstring(client.get(f"{BASE}/tokens/{created['token']}.xml").content)
    assert root.find("request/service_request_id").text == created["service_request_id"]

    forged = created["service_request_id"] + ".0000000000000000"
    r = client.get(f"{BASE}/tokens/{forged}.json")
    assert r.status_code == 404 and r.json()[0]["code"] == 404
    assert client.get(f"{BASE}/tokens/garbage.xml").status_code == 404


@pytest.mark.parametrize(
    ("fields", "status", "fragment"),
    [
        ({"api_key": None}, 403, "api_key: is required"),
        ({"api_key": "wrong"}, 403, "api_key: not a valid key"),
        ({"service_code": None, **CENTRAL_JAKARTA}, 400, "service_code: is required"),
        ({"service_code": "unicorns", **CENTRAL_JAKARTA}, 400, "service_code: unknown service code"),
        ({"lat": "north", "long": "106.8"}, 400, "lat: must be a number"),
        ({"lat": "-6.2"}, 400, "lat/long: give both or neither"),
        ({"lat": "-95", "long": "106.8"}, 400, "lat: must be between -90 and 90"),
        ({"description": None, **CENTRAL_JAKARTA}, 400, "description: is required"),
        ({}, 400, "lat/long, address_string or address_id"),
        ({"media_url": "ftp://x", **CENTRAL_JAKARTA}, 400, "media_url: must be an http(s) URL"),
        ({"email": "not-an-email", **CENTRAL_JAKARTA}, 400, "email: is not a valid e-mail address"),
        ({"address_id": "99.99", "address_string": "x"}, 400, "address_id: unknown kelurahan"),
        ({"service_code": "road_damage", **CENTRAL_JAKARTA}, 400, "attribute[severity]: attribute severity is required"),
        ({"jurisdiction_id": "bandung.go.id", **CENTRAL_JAKARTA}, 404, "jurisdiction_id: unknown jurisdiction"),
    ],
)
def test_post_errors_json_and_xml(client, fields, status, fragment):
    r = post(client, **fields)
    assert r.status_code == status, r.text
    errors = r.json()
    assert all(set(e) == {"code", "description"} and e["code"] == status for e in errors)
    assert any(fragment in e["description"] for e in errors), errors

    r = post(client, "xml", **fields)
    assert r.status_code == status
    assert any(fragment in description for _, description in xml_errors(r))


def test_post_must_be_form_encoded(client):
    r = client.post(f"{BASE}/requests.json", json={"api_key": OPEN311_KEY, "service_code": "waste"})
    assert r.status_code == 400
    assert "form-encoded" in r.json()[0]["description"]


def test_unknown_request_and_format(client):
    r = client.get(f"{BASE}/requests/NOSUCHID.json")
    assert r.status_code == 404 and r.json()[0]["code"] == 404
    r = client.get(f"{BASE}/requests/NOSUCHID.xml")
    assert r.status_code == 404 and xml_errors(r)[0][0] == "404"
    r = client.get(f"{BASE}/services.csv")
    assert r.status_code == 404 and r.json()[0]["code"] == 404


def test_jurisdiction_id_accepted_on_reads(client):
    assert client.get(f"{BASE}/services.json", params={"jurisdiction_id": "jakarta.go.id"}).status_code == 200
    r = client.get(f"{BASE}/services.xml", params={"jurisdiction_id": "surabaya.go.id"})
    assert r.status_code == 404 and "jurisdiction_id" in xml_errors(r)[0][1]


def test_get_requests_filters(client, staff_token):
    [a] = post(client, service_code="street_light", **CENTRAL_JAKARTA).json()
    [b] = post(client, service_code="street_light", lat="-6.30", long="106.86").json()
    [c] = post(client, service_code="sidewalk", lat="-6.25", long="106.80").json()
    a_id, b_id, c_id = a["service_request_id"], b["service_request_id"], c["service_request_id"]

    ids = {r["service_request_id"] for r in client.get(f"{BASE}/requests.json", params={"service_request_id": f"{a_id},{c_id}"}).json()}
    assert ids == {a_id, c_id}

    lights = client.get(f"{BASE}/requests.json", params={"service_code": "street_light"}).json()
    assert {a_id, b_id} <= {r["service_request_id"] for r in lights}
    assert all(r["service_code"] == "street_light" for r in lights)

    both = client.get(f"{BASE}/requests.json", params={"service_code": "street_light,sidewalk"}).json()
    assert {a_id, b_id, c_id} <= {r["service_request_id"] for r in both}

    # resolve b as staff of its agency: Open311 shows it closed
    agency = client.get(f"/api/v1/complaints/{b_id}").json()["agency_code"]
    r = client.post(
        f"/api/v1/staff/complaints/{b_id}/status",
        json={"status": "resolved", "note": "Lampu sudah diganti"},
        headers={"authorization": f"Bearer {staff_token(agency)}"},
    )
    assert r.status_code == 200, r.text
    [closed_b] = client.get(f"{BASE}/requests/{b_id}.json").json()
    assert closed_b["status"] == "closed" and closed_b["status_notes"]

    open_ids = {r["service_request_id"] for r in client.get(f"{BASE}/requests.json", params={"status": "open"}).json()}
    closed_ids = {r["service_request_id"] for r in client.get(f"{BASE}/requests.json", params={"status": "closed"}).json()}
    assert a_id in open_ids and b_id not in open_ids
    assert b_id in closed_ids and a_id not in closed_ids

    # the date window: everything so far was requested before `later`
    later = "2999-01-01T00:00:00Z"
    assert client.get(f"{BASE}/requests.json", params={"start_date": later}).json() == []
    window = client.get(f"{BASE}/requests.json", params={"start_date": "2000-01-01T00:00:00Z", "end_date": later}).json()
    assert {a_id, b_id, c_id} <= {r["service_request_id"] for r in window}
    assert client.get(f"{BASE}/requests.json", params={"end_date": "2000-01-01T00:00:00+07:00"}).json() == []

    root = ET.fromstring(client.get(f"{BASE}/requests.xml", params={"service_request_id": a_id}).content)
    assert [e.text for e in root.findall("request/service_request_id")] == [a_id]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"status": "pending"}, "status: must be open or closed"),
        ({"start_date": "yesterday"}, "start_date: not a W3C date-time"),
        ({"end_date": "2026-13-45"}, "end_date: not a W3C date-time"),
        ({"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "start_date: must not be after end_date"),
    ],
)
def test_get_requests_errors(client, params, fragment):
    r = client.get(f"{BASE}/requests.json", params=params)
    assert r.status_code == 400
    assert fragment in r.json()[0]["description"]
    r = client.get(f"{BASE}/requests.xml", params=params)
    assert r.status_code == 400 and fragment in xml_errors(r)[0][1]


def test_service_down_is_503_in_open311_format(stack, tmp_path):
    dead = f"127.0.0.1:{free_port()}"  # nothing listens here
    gateway = start_gateway(tmp_path, dead, stack.kafka_bootstrap, name="gateway-dead", KOTA_GATEWAY_RPC_TIMEOUT_S="1")
    try:
        import httpx

        with httpx.Client(base_url=gateway.base_url, timeout=30) as c:
            r = c.get(f"{BASE}/services.json")
            assert r.status_code == 503 and r.headers["retry-after"]
            assert r.json()[0]["code"] == 503 and "complaints service is unavailable" in r.json()[0]["description"]
            r = c.get(f"{BASE}/requests/X.xml")
            assert r.status_code == 503 and xml_errors(r)[0][0] == "503"
            r = post(c, **CENTRAL_JAKARTA)
            assert r.status_code == 503
            assert c.get("/readyz").status_code == 503
    finally:
        gateway.stop()
