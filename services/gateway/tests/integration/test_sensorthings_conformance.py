"""OGC SensorThings API v1.1 (OGC 18-088) conformance classes through a real gateway over a real sensors service
(gRPC, its database on SQLite and on PostgreSQL), with readings ingested over gRPC and stored by the service's
observation store. Each test names the requirement (http://www.opengis.net/spec/iot_sensing/1.1/req/...) and
checks it as the standard words it."""

import email.parser
import email.policy
import json
import time
import uuid

import grpc
import httpx
import pytest

from kota.sensors.v1 import sensors_pb2 as pb
from kota.sensors.v1 import sensors_pb2_grpc as pb_grpc
from kota_common.auth import issue_token
from kota_common.settings import CommonSettings
from kota_common.testing import ServiceProcess, _fresh_postgres_database, free_port
from kota_gateway.testing import start_gateway

pytestmark = pytest.mark.integration

STA = "/sta/v1.1"
CENTRAL = "geography'POLYGON((106.80 -6.20, 106.85 -6.20, 106.85 -6.19, 106.80 -6.19, 106.80 -6.20))'"


def ingest(address: str, t0: int) -> None:
    """PM2.5 at DKI1 (20, 35, 60) and DKI2 (12.5), water levels at Katulampa (70, 120, 170), a minute apart."""
    admin = issue_token(CommonSettings().auth_secret, "test", "DLH", ["admin"])
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.SensorsServiceStub(channel)

        def credential(device_id):
            return stub.IssueDeviceCredential(pb.IssueDeviceCredentialRequest(device_id=device_id),
                                              metadata=[("authorization", f"Bearer {admin}")], timeout=10).device_token

        minutes = [t0 + i * 60_000 for i in range(3)]
        batches = [
            pb.IngestReadingsRequest(sequence=1, device_id="DKI1", device_token=credential("DKI1"), series=[
                pb.Series(quantity="pm25", unit="ug/m3", timestamps_ms=minutes, values=[20.0, 35.0, 60.0])]),
            pb.IngestReadingsRequest(sequence=2, device_id="DKI2", device_token=credential("DKI2"), series=[
                pb.Series(quantity="pm25", unit="ug/m3", timestamps_ms=minutes[:1], values=[12.5])]),
            pb.IngestReadingsRequest(sequence=3, device_id="KATULAMPA", device_token=credential("KATULAMPA"), series=[
                pb.Series(quantity="water_level", unit="cm", timestamps_ms=minutes, values=[70.0, 120.0, 170.0])]),
        ]
        answers = list(stub.IngestReadings(iter(batches), timeout=30))
        assert [a.accepted for a in answers] == [3, 1, 3], answers
        deadline = time.monotonic() + 60
        seen = None
        while time.monotonic() < deadline:
            seen = stub.ListObservations(pb.ListObservationsRequest(page_size=100), timeout=5).observations
            if len(seen) == 7:
                return
            time.sleep(0.5)
        raise TimeoutError(f"the observation store holds {len(seen or [])} observations, not 7")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sta(request, stack, tmp_path_factory):
    """An httpx client on a gateway over a sensors service on that database, readings stored. Its own broker:
    the readings topic of a shared one holds other tests' readings, which the observation store would keep."""
    from kota_common.broker import start_embedded_broker

    tmp = tmp_path_factory.mktemp(f"sta-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'sensors.db'}"
    else:
        server = request.getfixturevalue("postgres_server_url")
        if server is None:
            pytest.skip("no PostgreSQL available (set KOTA_TEST_POSTGRES_URL or install postgresql)")
        url = _fresh_postgres_database(server)
    bootstrap = f"127.0.0.1:{free_port()}"
    broker = start_embedded_broker(bootstrap, tmp / "broker.log")
    address = f"127.0.0.1:{free_port()}"
    sensors = ServiceProcess("kota_sensors", {
        "KOTA_KAFKA_BOOTSTRAP": bootstrap, "KOTA_SENSORS_DATABASE_URL": url,
        "KOTA_SENSORS_GRPC_ADDRESS": address, "KOTA_SENSORS_HTTP_ENABLED": "false",
        "KOTA_SENSORS_MQTT_ENABLED": "false", "KOTA_SENSORS_CONSUMER_GROUP": f"test-sta-{uuid.uuid4().hex[:8]}",
    }, address, tmp / "sensors.log").start()
    gateway = None
    try:
        t0 = (int(time.time() * 1000) // 60_000 - 10) * 60_000
        ingest(address, t0)
        gateway = start_gateway(tmp, stack.complaints_address, bootstrap, name=f"gateway-sta-{request.param}",
                                health_path="/readyz", KOTA_GATEWAY_SENSORS_ADDRESS=address)
        with httpx.Client(base_url=gateway.base_url + STA, timeout=30) as client:
            yield client
    finally:
        if gateway:
            gateway.stop()
        sensors.stop()
        broker.terminate()
        broker.wait(10)


def get(client: httpx.Client, path: str, **params) -> dict:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ids(body: dict) -> list:
    return [e["@iot.id"] for e in body["value"]]


# -- Sensing Core (req/datamodel, req/resource-path) ---------------------------------------------------------------
def test_service_root_lists_every_entity_set_and_the_conformance_classes(sta):
    """req/resource-path/resource-path-to-entities: the service root lists the entity sets with their URLs;
    18-088 9.2: serverSettings.conformance lists the conformance classes the service implements."""
    root = get(sta, "")
    assert {v["name"] for v in root["value"]} == {"Things", "Locations", "HistoricalLocations", "Datastreams",
                                                  "Sensors", "ObservedProperties", "Observations", "FeaturesOfInterest"}
    assert all(v["url"].endswith("/sta/v1.1/" + v["name"]) for v in root["value"])
    assert "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array" in root["serverSettings"]["conformance"]


@pytest.mark.parametrize(("entity_set", "properties", "navigation"), [
    ("Things", {"name", "description", "properties"}, {"Locations", "HistoricalLocations", "Datastreams"}),
    ("Locations", {"name", "description", "encodingType", "location"}, {"Things", "HistoricalLocations"}),
    ("Sensors", {"name", "description", "encodingType", "metadata"}, {"Datastreams"}),
    ("ObservedProperties", {"name", "definition", "description"}, {"Datastreams"}),
    ("Datastreams", {"name", "description", "unitOfMeasurement", "observationType"},
     {"Thing", "Sensor", "ObservedProperty", "Observations"}),
    ("Observations", {"phenomenonTime", "result", "resultTime"}, {"Datastream", "FeatureOfInterest"}),
    ("FeaturesOfInterest", {"name", "description", "encodingType", "feature"}, {"Observations"}),
])
def test_each_entity_has_its_mandatory_properties_self_link_and_navigation_links(sta, entity_set, properties, navigation):
    """req/datamodel/<entity>/properties and /relations (18-088 8.2): each entity carries its mandatory properties,
    @iot.id, @iot.selfLink, and a navigation link per relation; the self link answers with the same entity."""
    body = get(sta, entity_set, **{"$top": "1"})
    (first,) = body["value"]
    assert properties <= set(first) and {"@iot.id", "@iot.selfLink"} <= set(first)
    assert {k.removesuffix("@iot.navigationLink") for k in first if k.endswith("@iot.navigationLink")} == navigation
    again = httpx.get(first["@iot.selfLink"], timeout=30).json()
    assert again["@iot.id"] == first["@iot.id"]


def test_features_of_interest_come_from_locations_and_every_observation_has_one(sta):
    """req/datamodel/feature-of-interest: an Observation SHALL have one FeatureOfInterest; here a station's place."""
    obs = get(sta, "Observations", **{"$filter": "result eq 35", "$expand": "FeatureOfInterest"})["value"][0]
    foi = obs["FeatureOfInterest"]
    assert foi["@iot.id"] == "DKI1" and foi["feature"]["type"] == "Point"
    assert foi["encodingType"] == "application/geo+json"
    assert get(sta, "FeaturesOfInterest('DKI1')/Observations", **{"$count": "true"})["@iot.count"] == 3


def test_property_and_raw_value_and_ref_paths(sta):
    """req/resource-path: `Things(id)/name` is {"name": ...}, `.../name/$value` the bare value, `Things/$ref`
    the self links only."""
    assert get(sta, "Things('DKI1')/name") == {"name": "SPKU DKI1 Bundaran HI"}
    raw = sta.get("Things('DKI1')/name/$value")
    assert raw.status_code == 200 and raw.text == "SPKU DKI1 Bundaran HI" and raw.headers["content-type"].startswith("text/plain")
    refs = get(sta, "Things/$ref", **{"$top": "2"})["value"]
    assert len(refs) == 2 and all(set(r) == {"@iot.selfLink"} for r in refs)
    assert sta.get("Things('NOPE')").status_code == 404


# -- Filtering Extension (req/request-data) -----------------------------------------------------------------------
def test_select_returns_only_the_selected_properties_at_every_expand_level(sta):
    """req/request-data/select: the result SHALL contain only the selected properties (a selected navigation
    property: its link), and $select nested in $expand applies to the expanded entities."""
    thing = get(sta, "Things('DKI1')", **{"$select": "name,Datastreams",
                                          "$expand": "Datastreams($select=name;$expand=Observations($select=result;$top=1))"})
    assert set(thing) == {"name", "Datastreams@iot.navigationLink", "Datastreams"}
    (stream,) = thing["Datastreams"]
    assert set(stream) == {"name", "Observations", "Observations@iot.nextLink"}  # 3 observations, $top=1
    assert set(stream["Observations"][0]) == {"result"}


def test_expand_with_nested_options_and_count_and_next_link(sta):
    """req/request-data/expand: nested $filter, $orderby, $top, $count apply per parent; more than $top gives
    the expanded collection's @iot.nextLink."""
    ds = get(sta, "Datastreams('DKI1:pm25')", **{
        "$expand": "Observations($orderby=result desc;$top=2;$count=true),Thing/Locations,ObservedProperty"})
    assert [o["result"] for o in ds["Observations"]] == [60.0, 35.0] and ds["Observations@iot.count"] == 3
    assert "Observations@iot.nextLink" in ds
    assert ds["Thing"]["Locations"][0]["location"]["type"] == "Point" and ds["ObservedProperty"]["@iot.id"] == "pm25"


def test_orderby_any_property_path_and_result_descending(sta):
    """req/request-data/orderby: ordered by each expression in turn, asc by default, desc when asked."""
    assert [o["result"] for o in get(sta, "Observations", **{"$orderby": "result desc", "$top": "3"})["value"]] == \
        [170.0, 120.0, 70.0]
    streams = get(sta, "Datastreams", **{"$orderby": "Thing/name desc"})
    assert ids(streams) == ["DKI2:pm25", "DKI1:pm25", "KATULAMPA:water_level"]


def test_top_skip_count_and_next_link(sta):
    """req/request-data/top, skip, count, pagination: $count counts all that match, not the page; @iot.nextLink
    gives the next page."""
    first = get(sta, "Observations", **{"$top": "3", "$count": "true", "$orderby": "result"})
    assert first["@iot.count"] == 7 and [o["result"] for o in first["value"]] == [12.5, 20.0, 35.0]
    following = httpx.get(first["@iot.nextLink"], timeout=30).json()
    assert [o["result"] for o in following["value"]] == [60.0, 70.0, 120.0]


@pytest.mark.parametrize(("path", "flt", "expected"), [
    ("Observations", "result gt 30 and result lt 100 or result eq 12.5", [12.5, 35.0, 60.0, 70.0]),
    ("Observations", "not (result le 60) and result mod 100 ne 20", [70.0, 170.0]),
    ("Observations", "result add 10 mul 2 eq 90", [70.0]),
    ("Observations", "Datastream/ObservedProperty/name eq 'PM2.5 mass concentration' and result sub 1 gt 30", [35.0, 60.0]),
    ("Observations", "substringof('Katulampa', Datastream/Thing/name) and round(result div 100) eq 2", [170.0]),
    ("Observations", "year(phenomenonTime) ge 2026 and minute(phenomenonTime) ge 0 and phenomenonTime lt now() "
                     "and result lt 13", [12.5]),
    ("Observations", f"geo.intersects(FeatureOfInterest/feature, {CENTRAL})", [20.0, 35.0, 60.0]),
    ("Observations", f"st_within(FeatureOfInterest/feature, {CENTRAL}) and result gt 50", [60.0]),
])
def test_filter_operators_and_functions_select_observations(sta, path, flt, expected):
    """req/request-data/filter, built-in-filter-operations, built-in-query-functions (18-088 9.3.3.5, tables 14
    and 15): comparison, logical and arithmetic operators, string, date, math and geospatial functions."""
    assert sorted(o["result"] for o in get(sta, path, **{"$filter": flt})["value"]) == expected


@pytest.mark.parametrize(("flt", "expected"), [
    ("startswith(name, 'Pintu Air') and endswith(tolower(name), 'karet')", ["KARET"]),
    ("Datastreams/ObservedProperty/@iot.id eq 'pm25'", ["DKI1", "DKI2"]),
    ("geo.distance(Locations/location, geography'POINT(106.823 -6.195)') lt 0.01", ["DKI1"]),
    ("length(@iot.id) eq 4 and indexof(name, 'Gading') gt 0", ["DKI2"]),
])
def test_filter_on_things_through_any_path(sta, flt, expected):
    assert sorted(ids(get(sta, "Things", **{"$filter": flt}))) == expected


@pytest.mark.parametrize(("params", "fragment"), [
    ({"$filter": "name gt 3"}, "cannot compare a string with a number"),
    ({"$filter": "name eq"}, "position 8"),
    ({"$filter": "frob(name)"}, "unknown function 'frob'"),
    ({"$orderby": "result desc"}, "Things has no property 'result'"),
    ({"$select": "result"}, "$select: Things has no property 'result'"),
    ({"$expand": "Observations"}, "Things has no navigation property 'Observations'"),
])
def test_a_query_it_cannot_answer_is_400_with_the_reason(sta, params, fragment):
    """req/request-data/query-status-code: an invalid query option is answered with 400 and an error document."""
    r = sta.get("Things", params=params)
    assert r.status_code == 400 and r.json()["code"] == 400 and fragment in r.json()["message"], r.text


# -- Data Array (req/data-array) -----------------------------------------------------------------------------------
def test_observations_as_data_arrays_one_per_datastream(sta):
    """req/data-array/data-array (18-088 14.3): $resultFormat=dataArray answers one component list and one
    array of values per Datastream, in the order of `components`."""
    body = get(sta, "Observations", **{"$resultFormat": "dataArray", "$select": "id,phenomenonTime,result",
                                       "$filter": "result lt 100", "$orderby": "result"})
    by_stream = {v["Datastream@iot.navigationLink"].rsplit("('", 1)[1][:-2]: v for v in body["value"]}
    assert set(by_stream) == {"DKI1:pm25", "DKI2:pm25", "KATULAMPA:water_level"}
    dki1 = by_stream["DKI1:pm25"]
    assert dki1["components"] == ["id", "phenomenonTime", "result"] and dki1["dataArray@iot.count"] == 3
    assert [row[2] for row in dki1["dataArray"]] == [20.0, 35.0, 60.0] and dki1["dataArray"][0][0].startswith("DKI1:pm25:")


# -- Batch requests (req/batch-request) ----------------------------------------------------------------------------
def test_a_json_batch_answers_each_read_in_order_with_its_own_status(sta):
    """req/batch-request/batch-request (18-088 13, OData JSON batch): each request answered in order with its id
    and status; one failing does not fail the others; writes are refused (read-only service)."""
    r = sta.post("$batch", json={"requests": [
        {"id": "a", "method": "get", "url": "Things('DKI1')?$select=name"},
        {"id": "b", "method": "get", "url": "/sta/v1.1/Observations?$filter=result gt 150"},
        {"id": "c", "method": "get", "url": "Things('NOPE')"},
        {"id": "d", "method": "post", "url": "Things", "body": {"name": "x"}},
    ]})
    assert r.status_code == 200
    answers = {x["id"]: x for x in r.json()["responses"]}
    assert [x["id"] for x in r.json()["responses"]] == ["a", "b", "c", "d"]
    assert answers["a"]["status"] == 200 and answers["a"]["body"] == {"name": "SPKU DKI1 Bundaran HI"}
    assert [o["result"] for o in answers["b"]["body"]["value"]] == [170.0]
    assert answers["c"]["status"] == 404 and answers["d"]["status"] == 405


def test_a_multipart_batch_answers_each_read_in_order_in_multipart(sta):
    """req/batch-request/batch-request (18-088 13, after OData 4.0 part 1 11.7, the multipart format): each
    application/http part answered by an application/http part with its status, in order; a change set (writes)
    refused as one."""
    boundary = "batch_kota"
    parts = [
        "Content-Type: application/http\r\nContent-ID: a\r\n\r\nGET Things('DKI1')?$select=name HTTP/1.1\r\n\r\n",
        "Content-Type: application/http\r\n\r\nGET /sta/v1.1/Observations?$filter=result%20gt%20150 HTTP/1.1\r\n\r\n",
        "Content-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\n\r\n"
        "POST Things HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"name\": \"x\"}\r\n--cs--\r\n",
    ]
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    r = sta.post("$batch", content=body.encode(), headers={"content-type": f"multipart/mixed; boundary={boundary}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("multipart/mixed; boundary=")
    answer = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {r.headers['content-type']}\r\n\r\n".encode() + r.content)
    responses = []
    for part in answer.iter_parts():
        assert part.get_content_type() == "application/http"
        head, _, payload = part.get_payload(decode=True).partition(b"\r\n\r\n")
        responses.append((part["Content-ID"], int(head.split()[1]), json.loads(payload)))
    assert [(cid, status) for cid, status, _ in responses] == [("a", 200), ("2", 200), ("3", 405)]
    assert responses[0][2] == {"name": "SPKU DKI1 Bundaran HI"}
    assert [o["result"] for o in responses[1][2]["value"]] == [170.0]
