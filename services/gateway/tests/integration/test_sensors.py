"""SensorThings v1.1, GTFS-realtime and the dashboard's sensor views through the gateway, against the sensors
service as a process with readings ingested over its gRPC stream."""

import httpx
import pytest

pytestmark = pytest.mark.integration

STA = "/sta/v1.1"


@pytest.fixture(scope="module")
def sensors_stack(full_stack):
    with full_stack.client() as client:
        yield client


def test_service_root_and_things(sensors_stack):
    c = sensors_stack
    root = c.get(STA).json()
    assert {"Things", "Datastreams", "Observations"} <= {v["name"] for v in root["value"]}
    page = c.get(f"{STA}/Things", params={"$top": 2, "$count": "true"}).json()
    assert page["@iot.count"] >= 14 and len(page["value"]) == 2 and "@iot.nextLink" in page
    following = httpx.get(page["@iot.nextLink"], timeout=30).json()
    assert len(following["value"]) == 2 and following["value"][0]["@iot.id"] != page["value"][0]["@iot.id"]
    dki1 = c.get(f"{STA}/Things('DKI1')", params={"$expand": "Datastreams,Locations"}).json()
    assert dki1["@iot.id"] == "DKI1" and dki1["properties"]["kind"] == "air_quality"
    assert "DKI1:pm25" in [d["@iot.id"] for d in dki1["Datastreams"]]
    assert dki1["Locations"][0]["location"]["type"] == "Point"
    assert c.get(f"{STA}/Things('DKI1')/Locations").json()["value"][0]["@iot.id"] == "DKI1"
    assert c.get(f"{STA}/Sensors('DKI1')").status_code == 200
    assert "pm25" in [p["@iot.id"] for p in c.get(f"{STA}/ObservedProperties").json()["value"]]


def test_filters_on_things_and_datastreams(sensors_stack):
    c = sensors_stack
    air = c.get(f"{STA}/Things", params={"$filter": "properties/kind eq 'air_quality'", "$count": "true"}).json()
    assert air["@iot.count"] == 5 and {t["@iot.id"] for t in air["value"]} == {f"DKI{i}" for i in range(1, 6)}
    one = c.get(f"{STA}/Things", params={"$filter": "@iot.id eq 'KATULAMPA'"}).json()
    assert [t["@iot.id"] for t in one["value"]] == ["KATULAMPA"]
    pm = c.get(f"{STA}/Datastreams", params={"$filter": "ObservedProperty/@iot.id eq 'pm25'"}).json()
    assert [d["@iot.id"] for d in pm["value"]] == ["DKI1:pm25"]
    assert c.get(f"{STA}/Things", params={"$filter": "name gt 'A'"}).status_code == 200


def test_datastream_observations_with_query_options(sensors_stack):
    c = sensors_stack
    ds = c.get(f"{STA}/Datastreams('DKI1:pm25')", params={"$expand": "Thing,ObservedProperty"}).json()
    assert ds["unitOfMeasurement"]["symbol"] == "ug/m3" and ds["Thing"]["@iot.id"] == "DKI1"
    path = f"{STA}/Datastreams('DKI1:pm25')/Observations"
    first = c.get(path, params={"$orderby": "phenomenonTime asc", "$top": 1, "$count": "true"}).json()
    assert first["@iot.count"] == 3 and [o["result"] for o in first["value"]] == [20.0] and "@iot.nextLink" in first
    newest = c.get(path, params={"$top": 1}).json()
    assert newest["value"][0]["result"] == 60.0
    high = c.get(path, params={"$filter": "result ge 30"}).json()
    assert sorted(o["result"] for o in high["value"]) == [35.0, 60.0]
    since = first["value"][0]["phenomenonTime"]
    later = c.get(path, params={"$filter": f"phenomenonTime gt {since}"}).json()
    assert sorted(o["result"] for o in later["value"]) == [35.0, 60.0]
    one = c.get(f"{STA}/Observations('{newest['value'][0]['@iot.id']}')").json()
    assert one["result"] == 60.0
    assert c.get(f"{STA}/Observations('{one['@iot.id']}')/Datastream").json()["@iot.id"] == "DKI1:pm25"


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/Things('NOPE')", {}, 404),
        ("/Unicorns", {}, 404),
        ("/Things", {"$top": "many"}, 400),
        ("/Observations", {"$filter": "substringof('x', name)"}, 400),
        ("/Observations", {"$orderby": "result desc; drop"}, 400),
        ("/Sensors", {"$filter": "properties/kind eq 'x'"}, 400),
        ("/Datastreams('DKI1:nothing')", {}, 404),
    ],
)
def test_sensorthings_errors(sensors_stack, path, params, status):
    r = sensors_stack.get(STA + path, params=params)
    assert r.status_code == status
    assert r.json()["code"] == status and r.json()["message"]


def test_gtfs_realtime_feed(sensors_stack):
    from google.transit import gtfs_realtime_pb2 as rt

    r = sensors_stack.get("/gtfs-rt/vehicle-positions.pb")
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    feed = rt.FeedMessage.FromString(r.content)
    assert feed.header.gtfs_realtime_version == "2.0"
    bus = next(e for e in feed.entity if e.id == "TJ-1-001")
    assert bus.vehicle.trip.route_id == "1"
    assert bus.vehicle.position.latitude == pytest.approx(-6.2) and bus.vehicle.position.speed == pytest.approx(10.0)


def test_dashboard_sensor_views(sensors_stack):
    air = {s["id"]: s for s in sensors_stack.get("/api/v1/air-quality").json()}
    # 60 µg/m³ PM2.5: (200-100)/(150.4-55.4)*(60-55.4)+100 = 104.8
    assert air["DKI1"]["pollutant"] == "pm25" and air["DKI1"]["ispu"] == 105 and air["DKI1"]["category"] == "Tidak Sehat"
    assert air["DKI2"]["ispu"] is None
    gauges = {g["id"]: g for g in sensors_stack.get("/api/v1/flood-gauges").json()}
    katulampa = gauges["KATULAMPA"]
    assert katulampa["level_cm"] == 170.0 and katulampa["siaga"] == 2
    assert [p["level_cm"] for p in katulampa["recent"]] == [70.0, 120.0, 170.0]
