"""SensorThings reads against a fake sensors service (no network): the plan the gateway sends, and what it makes
of the rows it gets back: links, $select, expansions, pages, Data Array, batches, errors."""

import asyncio
import email.parser
import email.policy

import pytest

from kota_gateway.adapters.errors import FailureCode, RpcFailure
from kota_gateway.domain import odata
from kota_gateway.domain import odata_batch as batches
from kota_gateway.domain import sensorthings as views
from kota_gateway.service_layer import sensorthings

BASE = "http://h"


class FakeSensors:
    """Answers every plan with `result`; records the plans."""

    def __init__(self, result: dict | None = None, failure: RpcFailure | None = None):
        self.result = result or {"count": None, "value": [], "more": False}
        self.failure = failure
        self.plans: list[dict] = []

    async def query_sensorthings(self, plan: dict) -> dict:
        self.plans.append(plan)
        if self.failure is not None:
            raise self.failure
        return self.result


def read(fake, path: str, **params: str):
    request = sensorthings.StaRequest(odata.parse(path, params), BASE, f"/sta/v1.1/{path}", params)
    return asyncio.run(sensorthings.read(fake, request))


THING = {"@iot.id": "DKI1", "name": "SPKU DKI1", "description": "Bundaran HI", "properties": {"kind": "air_quality"}}


def obs(stream: str, ms: int, value: float) -> dict:
    return {"@iot.id": f"{stream}:{ms}", "phenomenonTime": "t", "resultTime": "t", "result": value}


def test_the_plan_carries_the_path_and_options_to_the_sensors_service():
    fake = FakeSensors()
    read(fake, "Datastreams('DKI1:pm25')/Observations", **{"$filter": "result gt 3", "$top": "5"})
    (plan,) = fake.plans
    assert plan["path"][0] == {"name": "Datastreams", "key": "DKI1:pm25"} and plan["top"] == 5
    assert plan["filter"]["op"] == "gt"


def test_an_entity_gets_its_self_and_navigation_links():
    body = read(FakeSensors({"count": 3, "value": [THING], "more": True}), "Things", **{"$top": "1", "$count": "true"})
    (t,) = body["value"]
    assert t["@iot.selfLink"] == "http://h/sta/v1.1/Things('DKI1')"
    assert t["Datastreams@iot.navigationLink"] == "http://h/sta/v1.1/Things('DKI1')/Datastreams"
    assert body["@iot.count"] == 3 and body["@iot.nextLink"] == "http://h/sta/v1.1/Things?%24count=true&%24top=1&%24skip=1"


def test_select_keeps_only_what_was_asked_and_expansions_nest_with_their_own_select():
    row = {**THING, "Datastreams": {"count": 2, "more": True, "value": [
        {"@iot.id": "DKI1:pm25", "name": "pm", "unitOfMeasurement": {}}]}}
    body = read(FakeSensors({"count": None, "value": [row], "more": False}), "Things",
                **{"$select": "id,Datastreams", "$expand": "Datastreams($select=name;$top=1;$count=true)"})
    (t,) = body["value"]
    assert set(t) == {"@iot.id", "Datastreams@iot.navigationLink", "Datastreams", "Datastreams@iot.count",
                      "Datastreams@iot.nextLink"}
    assert t["Datastreams"] == [{"name": "pm"}] and t["Datastreams@iot.count"] == 2
    assert t["Datastreams@iot.nextLink"] == "http://h/sta/v1.1/Things('DKI1')/Datastreams?%24top=1&%24skip=1"


def test_an_entity_that_is_not_there_is_a_404_and_a_property_path_its_value():
    with pytest.raises(odata.ODataError) as caught:
        read(FakeSensors(), "Datastreams('DKI1:nothing')")
    assert (caught.value.status, caught.value.message) == (404, "no Datastreams 'DKI1:nothing'")
    one = FakeSensors({"count": None, "value": [THING], "more": False})
    assert read(one, "Things('DKI1')/name") == {"name": "SPKU DKI1"}
    assert read(one, "Things('DKI1')/properties/$value") == sensorthings.RawValue('{"kind": "air_quality"}')


def test_a_plan_the_service_cannot_answer_is_a_400_with_its_reason():
    fake = FakeSensors(failure=RpcFailure("sensors", FailureCode.INVALID_ARGUMENT, "Things has no property 'x'"))
    with pytest.raises(odata.ODataError) as caught:
        read(fake, "Things", **{"$filter": "x eq 1"})
    assert (caught.value.status, caught.value.message) == (400, "Things has no property 'x'")


def test_data_array_groups_observations_by_datastream_in_component_order():
    rows = [obs("DKI1:pm25", 1, 20.0), obs("KAT:water_level", 1, 70.0), obs("DKI1:pm25", 2, 35.0)]
    body = read(FakeSensors({"count": 3, "value": rows, "more": False}), "Observations",
                **{"$resultFormat": "dataArray", "$select": "result,id", "$count": "true"})
    first, second = body["value"]
    assert first["Datastream@iot.navigationLink"] == "http://h/sta/v1.1/Datastreams('DKI1:pm25')"
    assert first["components"] == ["result", "id"] and first["dataArray"] == [[20.0, "DKI1:pm25:1"], [35.0, "DKI1:pm25:2"]]
    assert first["dataArray@iot.count"] == 2 and second["dataArray"] == [[70.0, "KAT:water_level:1"]]
    assert body["@iot.count"] == 3
    default = read(FakeSensors({"count": None, "value": rows[:1], "more": False}), "Observations",
                   **{"$resultFormat": "dataArray"})
    assert default["value"][0]["components"] == list(views.DATA_ARRAY_COMPONENTS)


def test_a_batch_answers_each_request_and_refuses_writes_and_malformed_ones_one_by_one():
    fake = FakeSensors({"count": None, "value": [THING], "more": False})
    requests = batches.read_json({"requests": [
        {"id": "1", "method": "GET", "url": "Things?$top=1"},
        {"id": "2", "method": "GET", "url": "http://h/sta/v1.1/Things('DKI1')/name"},
        {"id": "3", "method": "GET", "url": "Unicorns"},
        {"id": "4", "method": "GET", "url": "Things?$filter=name eq"},
        {"id": "5", "method": "DELETE", "url": "Things('DKI1')"},
        {"id": "6", "method": "GET", "url": ""},
        {"id": "7", "method": "GET", "url": "http://[broken/Things"},
    ]})
    out = batches.write_json(asyncio.run(sensorthings.batch(fake, requests, BASE)))
    statuses = [(r["id"], r["status"]) for r in out["responses"]]
    assert statuses == [("1", 200), ("2", 200), ("3", 404), ("4", 400), ("5", 405), ("6", 200), ("7", 400)]
    assert out["responses"][1]["body"] == {"name": "SPKU DKI1"}
    assert "position 8" in out["responses"][3]["body"]["message"]
    with pytest.raises(odata.ODataError):
        batches.read_json({"requests": "no"})
    with pytest.raises(odata.ODataError, match="100 requests at most"):
        batches.read_json({"requests": [{"method": "GET", "url": "Things"}] * 101})


MULTIPART_BATCH = (
    "--batch_36522ad7\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "GET Things?$top=1 HTTP/1.1\r\n"
    "Host: localhost\r\n"
    "\r\n"
    "\r\n"
    "--batch_36522ad7\r\n"
    "Content-Type: application/http\r\n"
    "Content-ID: name-of-dki1\r\n"
    "\r\n"
    "GET /sta/v1.1/Things('DKI1')/name/$value HTTP/1.1\r\n"
    "\r\n"
    "\r\n"
    "--batch_36522ad7\r\n"
    "Content-Type: multipart/mixed; boundary=changeset_77162fcd\r\n"
    "\r\n"
    "--changeset_77162fcd\r\n"
    "Content-Type: application/http\r\n"
    "Content-ID: 1\r\n"
    "\r\n"
    "POST v1.1/Things HTTP/1.1\r\n"
    "Content-Type: application/json\r\n"
    "\r\n"
    '{"name": "x"}\r\n'
    "--changeset_77162fcd--\r\n"
    "\r\n"
    "--batch_36522ad7\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "hello\r\n"
    "--batch_36522ad7--\r\n"
)


def test_a_multipart_batch_is_read_part_by_part_with_change_sets_as_one_unit():
    """OData 4.0 part 1, 11.7.2: application/http parts, a change set a nested multipart/mixed; the standard's
    example shapes (request line with a URL relative to the batch's, i.e. the service root, absolute path, Content-ID)."""
    requests = batches.read_multipart("multipart/mixed; boundary=batch_36522ad7", MULTIPART_BATCH.encode())
    assert [(r.id, r.method, r.url) for r in requests[:2]] == [
        ("1", "GET", "Things?$top=1"), ("name-of-dki1", "GET", "/sta/v1.1/Things('DKI1')/name/$value")]
    assert requests[2].method == "CHANGESET" and [(r.method, r.url) for r in requests[2].change_set] == [
        ("POST", "v1.1/Things")]
    assert "not text/plain" in requests[3].problem
    with pytest.raises(odata.ODataError, match="boundary"):
        batches.read_multipart("multipart/mixed", MULTIPART_BATCH.encode())
    with pytest.raises(odata.ODataError, match="no part"):
        batches.read_multipart("multipart/mixed; boundary=elsewhere", MULTIPART_BATCH.encode())


def test_a_multipart_batch_is_answered_in_multipart_each_part_an_http_response():
    fake = FakeSensors({"count": None, "value": [THING], "more": False})
    requests = batches.read_multipart("multipart/mixed; boundary=batch_36522ad7", MULTIPART_BATCH.encode())
    responses = asyncio.run(sensorthings.batch(fake, requests, BASE))
    assert [(r.id, r.status) for r in responses] == [("1", 200), ("name-of-dki1", 200), ("3", 405), ("4", 400)]
    media_type, body = batches.write_multipart(responses, boundary="batchresponse_x")
    assert media_type == "multipart/mixed; boundary=batchresponse_x"
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {media_type}\r\n\r\n".encode() + body)
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["application/http"] * 4
    assert [p["Content-ID"] for p in parts] == ["1", "name-of-dki1", "3", "4"]
    second = parts[1].get_payload(decode=True).split(b"\r\n")
    assert second[0] == b"HTTP/1.1 200 OK" and b"Content-Type: text/plain; charset=utf-8" in second
    assert second[-1] == b"SPKU DKI1"
    assert parts[2].get_payload(decode=True).startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")


def test_the_service_root_offers_the_mqtt_extension_only_where_an_endpoint_is_configured(monkeypatch):
    from kota_gateway.config import GatewaySettings

    bare = sensorthings.service_root(BASE)["serverSettings"]
    assert views.MQTT_CONFORMANCE not in bare["conformance"] and views.MQTT_CONFORMANCE not in bare
    monkeypatch.setenv("KOTA_GATEWAY_SENSORTHINGS_MQTT_ENDPOINTS", "mqtts://iot.kota.example:8883,wss://iot.kota.example/mqtt")
    endpoints = GatewaySettings().mqtt_endpoints
    offered = sensorthings.service_root(BASE, endpoints)["serverSettings"]
    assert views.MQTT_CONFORMANCE in offered["conformance"]
    assert offered[views.MQTT_CONFORMANCE] == {"endpoints": ["mqtts://iot.kota.example:8883", "wss://iot.kota.example/mqtt"]}
    monkeypatch.setenv("KOTA_GATEWAY_SENSORTHINGS_MQTT_ENDPOINTS", "iot.kota.example:1883")  # no scheme: refused
    with pytest.raises(ValueError, match="sensorthings_mqtt_endpoints"):
        GatewaySettings()
