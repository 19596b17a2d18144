"""The portal's JSON API through the running stack: intake, tracking with server-sent events, staff, limits."""

import json

import httpx
import pytest

from kota_common.envelope import decode
from kota_gateway.testing import start_gateway

pytestmark = pytest.mark.integration


def submit(client, **overrides):
    body = {"service_code": "waste", "description": "Sampah menumpuk di TPS", "kelurahan_code": "31.71.01.1001",
            "anonymous": True, **overrides}
    r = client.post("/api/v1/complaints", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def test_submit_and_track(client):
    created = submit(client, contact={"first_name": "Budi", "email": "budi@example.org"}, anonymous=False)
    assert created["tracking_code"] and created["id"]
    c = created["complaint"]
    assert c["status"] == "routed" and c["agency_code"] and c["channel"] == "web"
    assert c["location"]["kelurahan"] and c["location"]["kota"]
    got = client.get(f"/api/v1/complaints/{created['id']}").json()
    assert got["id"] == created["id"] and [h["status"] for h in got["history"]] == ["received", "routed"]
    assert "budi@example.org" not in json.dumps(got)


def test_idempotency_key_returns_the_same_complaint(client):
    body = {"service_code": "waste", "description": "Sampah", "kelurahan_code": "31.71.01.1002", "anonymous": True}
    first = client.post("/api/v1/complaints", json=body, headers={"Idempotency-Key": "same-key-1"}).json()
    again = client.post("/api/v1/complaints", json=body, headers={"Idempotency-Key": "same-key-1"}).json()
    assert first["id"] == again["id"]
    reused = client.post("/api/v1/complaints", json={**body, "description": "Sampah menumpuk di jalan"},
                         headers={"Idempotency-Key": "same-key-1"})
    assert reused.status_code == 400 and "idempotency_key" in reused.text and first["id"] not in reused.text


@pytest.mark.parametrize(
    ("content", "status", "fragment"),
    [
        (b"{not json", 422, "JSON decode error"),
        (b'{"service_code": "waste"}', 422, "description"),
        (b'{"service_code": "waste", "description": "x", "kelurahan_code": "31.71.01.1001", "extra": 1}', 422, "extra"),
        (b'{"service_code": "waste", "description": "x", "lat": -6.2}', 422, "lat and lon must be given together"),
        (b'{"service_code": "waste", "description": "x", "lat": 123, "lon": 0}', 422, "lat"),
        (b'[]', 422, "dict"),
    ],
)
def test_malformed_bodies_are_4xx(client, content, status, fragment):
    r = client.post("/api/v1/complaints", content=content, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert fragment in r.text


def test_service_violations_come_back_as_fields(client):
    r = client.post("/api/v1/complaints", json={"service_code": "unicorns", "description": "x", "lat": -6.2, "lon": 106.8})
    assert r.status_code == 400
    assert r.json()["errors"] == [{"field": "service_code", "description": "unknown service code 'unicorns'"}]


def test_oversized_body_is_413(client):
    r = client.post("/api/v1/complaints", content=b"{" + b" " * 200_000 + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    r = client.post("/open311/v2/requests.xml", content=b"a=" + b"b" * 200_000,
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and b"<errors>" in r.content


def test_unknown_complaint_is_404(client):
    r = client.get("/api/v1/complaints/NOSUCH")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "id"
    assert client.get("/api/v1/complaints/NOSUCH/events").status_code == 404


def events_until(response, done) -> list[dict]:
    """Reads server-sent events until `done(event)`; the read timeout bounds the wait."""
    events, event = [], {}
    for line in response.iter_lines():
        if line.startswith("data: "):
            event["data"] = json.loads(line[6:])
        elif line.startswith("event: "):
            event["event"] = line[7:]
        elif line == "" and event:
            events.append(event)
            if done(event):
                return events
            event = {}
    return events


def test_server_sent_events_follow_the_lifecycle(stack, staff_token):
    with stack.client() as client:
        created = submit(client, service_code="street_light", kelurahan_code="31.71.02.1001")
        cid, agency = created["id"], created["complaint"]["agency_code"]
        with httpx.Client(base_url=stack.base_url, timeout=httpx.Timeout(30, read=20)) as sse, sse.stream(
            "GET", f"/api/v1/complaints/{cid}/events"
        ) as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            for status in ("in_progress", "resolved"):
                r = client.post(f"/api/v1/staff/complaints/{cid}/status", json={"status": status, "note": f"-> {status}"},
                                headers=bearer(staff_token(agency)))
                assert r.status_code == 200, r.text
            events = events_until(response, lambda e: e["data"]["complaint"]["status"] == "resolved")
        assert events[0]["event"] == "complaint" and events[0]["data"]["event_type"] == "snapshot"
        assert events[0]["data"]["complaint"]["status"] == "routed"
        assert events[-1]["data"]["complaint"]["status"] == "resolved"
        assert [h["status"] for h in events[-1]["data"]["complaint"]["history"]][-2:] == ["in_progress", "resolved"]


def test_staff_inbox_and_lifecycle(client, staff_token):
    created = submit(client, service_code="fallen_tree", kelurahan_code="31.71.03.1001")
    cid, agency = created["id"], created["complaint"]["agency_code"]
    token = staff_token(agency)

    assert client.get("/api/v1/staff/inbox").status_code == 401
    assert client.get("/api/v1/staff/inbox", headers=bearer("not-a-jwt")).status_code == 401
    me = client.get("/api/v1/staff/me", headers=bearer(token)).json()
    assert me["agency"] == agency and me["roles"] == ["staff"]

    inbox = client.get("/api/v1/staff/inbox", headers=bearer(token), params={"status": ["routed"]}).json()
    assert cid in [c["id"] for c in inbox["complaints"]]
    assert all(c["agency_code"] == agency for c in inbox["complaints"])

    other = "DINKES" if agency != "DINKES" else "DLH"
    r = client.post(f"/api/v1/staff/complaints/{cid}/status", json={"status": "in_progress"}, headers=bearer(staff_token(other)))
    assert r.status_code == 403
    assert client.get("/api/v1/staff/inbox", headers=bearer(staff_token(other)), params={"agency_code": agency}).status_code == 403

    r = client.post(f"/api/v1/staff/complaints/{cid}/status", json={"status": "closed"}, headers=bearer(token))
    assert r.status_code == 409  # routed -> closed is not a transition
    r = client.post(f"/api/v1/staff/complaints/{cid}/status", json={"status": "flying"}, headers=bearer(token))
    assert r.status_code == 422
    r = client.post(f"/api/v1/staff/complaints/{cid}/notes", json={"note": "Tim sudah dijadwalkan"}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["history"][-1]["note"] == "Tim sudah dijadwalkan"
    r = client.post(f"/api/v1/staff/complaints/{cid}/status", json={"status": "resolved", "note": "Pohon dipangkas"},
                    headers=bearer(token))
    assert r.status_code == 200 and r.json()["status"] == "resolved"

    # the citizen rates with the tracking code; a wrong code is refused
    r = client.post(f"/api/v1/complaints/{cid}/rating", json={"tracking_code": "WRONG", "rating": 5})
    assert r.status_code == 403
    r = client.post(f"/api/v1/complaints/{cid}/rating", json={"tracking_code": created["tracking_code"], "rating": 5})
    assert r.status_code == 200 and r.json()["rating"] == 5


def test_reference_and_dashboard(client):
    areas = client.get("/api/v1/areas").json()
    assert len(areas) == 6 and sum(len(k["kecamatan"]) for k in areas) == 44
    assert sum(len(kc["kelurahan"]) for k in areas for kc in k["kecamatan"]) == 267
    services = client.get("/api/v1/services").json()
    assert {"flooding", "waste"} <= {s["code"] for s in services}
    assert len(client.get("/api/v1/agencies").json()) >= 10
    submit(client, service_code="drainage", kelurahan_code="31.73.01.1001")
    summary = client.get("/api/v1/dashboard/summary").json()
    assert summary["total"] >= 1 and summary["by_category"]["Saluran air tersumbat"] >= 1
    assert sum(summary["by_kota"].values()) == summary["total"]
    assert len(summary["per_day"]) == 14


def test_openapi_document(client):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/complaints" in doc["paths"] and "/open311/v2/requests.{fmt}" in doc["paths"]


def test_portal_page_is_served_without_a_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and 'lang="id"' in page.text
    for attribute in ('src="http', "src='http", 'href="http', "href='http", "//cdn"):
        assert attribute not in page.text
    assert client.get("/static/vendor/chart-4.6.1.umd.min.js").status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/vendor/swagger-ui-5.35.0-bundle.js" in docs.text
    assert "cdn." not in docs.text


def test_rate_limit_per_client_ip(stack, tmp_path):
    gateway = start_gateway(tmp_path, stack.complaints_address, stack.kafka_bootstrap, name="gateway-limited",
                            KOTA_GATEWAY_RATE_LIMIT_PER_S="0.5", KOTA_GATEWAY_RATE_LIMIT_BURST="3")
    try:
        with httpx.Client(base_url=gateway.base_url, timeout=30) as c:
            codes = [c.get("/api/v1/agencies").status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            r = c.get("/api/v1/agencies")
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            r = c.get("/open311/v2/services.xml")
            assert r.status_code == 429 and b"<errors>" in r.content
            # another client (uvicorn trusts X-Forwarded-For from loopback, as from a local proxy) has its own bucket
            assert c.get("/api/v1/agencies", headers={"x-forwarded-for": "10.1.2.3"}).status_code == 200
            # static assets and the page itself are not limited
            assert c.get("/").status_code == 200
    finally:
        gateway.stop()


def test_one_trace_from_gateway_request_to_complaint_event(client, topic_reader):
    reader = topic_reader("complaints.events.v1")
    r = client.post("/api/v1/complaints", json={"service_code": "waste", "description": "Trace me",
                                                 "kelurahan_code": "31.71.01.1001", "anonymous": True})
    assert r.status_code == 201
    trace_id, cid = r.headers["x-trace-id"], r.json()["id"]
    assert len(trace_id) == 32 and int(trace_id, 16) != 0
    records = reader.wait_for(lambda recs: bool(recs), timeout=30, match=lambda m: m.key() == cid.encode())
    assert records, "no event for the complaint on complaints.events.v1"
    headers = dict(records[0].headers())
    traceparent = headers["traceparent"].decode()
    assert traceparent.split("-")[1] == trace_id
    event = decode(records[0].value(), records[0].headers(), records[0].key())
    assert event.type.startswith("kota.complaints.")


def test_sse_falls_back_to_polling_when_no_watch_stream_is_free(stack, staff_token, tmp_path):
    gateway = start_gateway(tmp_path, stack.complaints_address, stack.kafka_bootstrap, name="gateway-nowatch",
                            KOTA_GATEWAY_MAX_WATCH_STREAMS="0", KOTA_GATEWAY_SSE_POLL_S="0.5")
    try:
        with httpx.Client(base_url=gateway.base_url, timeout=httpx.Timeout(30, read=20)) as client:
            created = submit(client, service_code="sidewalk", kelurahan_code="31.71.04.1001")
            cid, agency = created["id"], created["complaint"]["agency_code"]
            with client.stream("GET", f"/api/v1/complaints/{cid}/events") as response, httpx.Client(
                base_url=gateway.base_url, timeout=30
            ) as staff:
                r = staff.post(f"/api/v1/staff/complaints/{cid}/status", json={"status": "in_progress"},
                               headers=bearer(staff_token(agency)))
                assert r.status_code == 200
                events = events_until(response, lambda e: e["data"]["complaint"]["status"] == "in_progress")
        assert events[-1]["data"]["event_type"] == "refresh"  # seen by the re-check, not a watch stream
    finally:
        gateway.stop()


def test_a_frozen_service_gets_a_503_within_the_deadline(stack, tmp_path):
    """The complaints process stops answering (SIGSTOP): calls end at their deadline with a 503, not a hang."""
    import signal

    gateway = start_gateway(tmp_path, stack.complaints_address, stack.kafka_bootstrap, name="gateway-deadline",
                            KOTA_GATEWAY_RPC_TIMEOUT_S="1")
    try:
        with httpx.Client(base_url=gateway.base_url, timeout=30) as c:
            assert c.get("/api/v1/complaints/NOSUCH").status_code == 404  # connected and answering
            stack.complaints.proc.send_signal(signal.SIGSTOP)
            try:
                r = c.get("/api/v1/complaints/NOSUCH")
                assert r.status_code == 503 and "deadline_exceeded" in r.json()["detail"]
                assert r.headers["retry-after"]
                r = c.get("/open311/v2/requests/NOSUCH.xml")
                assert r.status_code == 503 and b"<code>503</code>" in r.content
            finally:
                stack.complaints.proc.send_signal(signal.SIGCONT)
            assert c.get("/api/v1/complaints/NOSUCH").status_code == 404  # and it recovers by itself
    finally:
        gateway.stop()


def test_the_events_asyncapi_page_and_document(client):
    page = client.get("/asyncapi")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '"/asyncapi.json"' in page.text and "/static/vendor/asyncapi-react-" in page.text
    document = client.get("/asyncapi.json")
    assert document.status_code == 200 and document.headers["content-type"] == "application/json"
    body = document.json()
    assert body["asyncapi"] == "3.0.0"
    assert {"complaints.events.v1", "sensors.alerts.v1"} <= {c["address"] for c in body["channels"].values()}
