"""SensorThings query plans run as SQL on a real database (SQLite and PostgreSQL): every operator and function of
the gateway's parser, evaluated by the database, against the answer worked out by hand."""

import json
from datetime import datetime, timezone

import pytest
from sqlmodel import Session

from kota_common.db.engines import make_engine, upgrade_to_head
from kota_gateway.domain import odata
from kota_sensors.adapters.orm import DeviceRow
from kota_sensors.adapters.repository import store_observations, upsert_datastreams
from kota_sensors.adapters.seed import jakarta_devices
from kota_sensors.adapters.sta_sql import run_plan
from kota_sensors.domain.sta import PlanError
from kota_sensors.entrypoints.app import MIGRATIONS

pytestmark = pytest.mark.integration

T = 1_796_000_000_000  # 2026-11-30T00:53:20Z
JAKARTA_CENTRE = "geography'POLYGON((106.80 -6.20, 106.85 -6.20, 106.85 -6.19, 106.80 -6.19, 106.80 -6.20))'"


@pytest.fixture
def engine(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    with Session(engine) as s:
        for d in jakarta_devices():
            s.add(DeviceRow(**{**d, "thresholds": json.dumps(d["thresholds"])}, created_at=datetime.now(timezone.utc)))
        s.commit()
        store_observations(s, [("DKI1", "pm25", T + i * 60_000, v) for i, v in enumerate((20.0, 35.0, 60.0))]
                           + [("KATULAMPA", "water_level", T + i * 60_000, v) for i, v in enumerate((70.0, 120.0, 170.0))]
                           + [("DKI2", "pm25", T, 12.5)])
        upsert_datastreams(s, {("DKI1", "pm25"): (T, T + 120_000, 60.0), ("DKI2", "pm25"): (T, T, 12.5),
                               ("KATULAMPA", "water_level"): (T, T + 120_000, 170.0)})
        s.commit()
    yield engine
    engine.dispose()


def run(engine, path: str, **params: str) -> dict:
    with Session(engine) as s:
        return run_plan(s, json.loads(json.dumps(odata.parse(path, params).plan())))


def ids(engine, path: str, flt: str, **params: str) -> list:
    return [r["@iot.id"] for r in run(engine, path, **{"$filter": flt, **params})["value"]]


def results(engine, flt: str) -> list:
    return sorted(r["result"] for r in run(engine, "Observations", **{"$filter": flt})["value"])


@pytest.mark.parametrize(("flt", "expected"), [
    ("result eq 35", [35.0]), ("result ne 35", [12.5, 20.0, 60.0, 70.0, 120.0, 170.0]), ("result gt 60", [70.0, 120.0, 170.0]),
    ("result ge 60", [60.0, 70.0, 120.0, 170.0]), ("result lt 20", [12.5]), ("result le 20", [12.5, 20.0]),
    ("result gt 30 and result lt 100", [35.0, 60.0, 70.0]), ("result lt 13 or result gt 150", [12.5, 170.0]),
    ("not (result gt 20)", [12.5, 20.0]),
    ("result add 5 eq 40", [35.0]), ("result sub 5 eq 30", [35.0]), ("result mul 2 eq 70", [35.0]),
    ("result div 2 eq 17.5", [35.0]), ("result mod 50 eq 20", [20.0, 70.0, 120.0, 170.0]), ("-result lt -150", [170.0]),
    ("(result add 5) mul 2 eq 80", [35.0]),
    ("round(result) eq 13", [12.5]), ("floor(result) eq 12", [12.5]), ("ceiling(result) eq 13", [12.5]),
    ("phenomenonTime eq 2026-11-30T00:54:20Z", [35.0, 120.0]), ("phenomenonTime gt 2026-11-30T00:54:20Z", [60.0, 170.0]),
    ("resultTime le '2026-11-30T00:53:20Z'", [12.5, 20.0, 70.0]),
    ("year(phenomenonTime) eq 2026 and month(phenomenonTime) eq 11 and day(phenomenonTime) eq 30 and result gt 150", [170.0]),
    ("hour(phenomenonTime) eq 0 and minute(phenomenonTime) eq 55", [60.0, 170.0]),
    ("second(phenomenonTime) eq 20 and fractionalseconds(phenomenonTime) eq 0 and result lt 13", [12.5]),
    ("date(phenomenonTime) eq 2026-11-30 and time(phenomenonTime) eq 00:55:20", [60.0, 170.0]),
    ("totaloffsetminutes(phenomenonTime) eq 0 and result lt 13", [12.5]),
    ("phenomenonTime lt now() and phenomenonTime gt mindatetime() and phenomenonTime lt maxdatetime() and result lt 13", [12.5]),
    ("phenomenonTime add duration'PT1M' eq 2026-11-30T00:55:20Z", [35.0, 120.0]),
    ("phenomenonTime sub 2026-11-30T00:53:20Z eq duration'PT2M'", [60.0, 170.0]),
    ("Datastream/ObservedProperty/@iot.id eq 'pm25' and result gt 30", [35.0, 60.0]),
    ("Datastream/Thing/properties/kind eq 'water_level' and result lt 100", [70.0]),
    ("substringof('PM2.5', Datastream/ObservedProperty/name) and result lt 20", [12.5]),
    ("Datastream/unitOfMeasurement/symbol eq 'cm' and result gt 100", [120.0, 170.0]),
    (f"geo.intersects(FeatureOfInterest/feature, {JAKARTA_CENTRE})", [20.0, 35.0, 60.0]),
    (f"st_intersects(FeatureOfInterest/feature, {JAKARTA_CENTRE})", [20.0, 35.0, 60.0]),
    (f"st_within(FeatureOfInterest/feature, {JAKARTA_CENTRE})", [20.0, 35.0, 60.0]),
    (f"st_contains({JAKARTA_CENTRE}, FeatureOfInterest/feature)", [20.0, 35.0, 60.0]),
    (f"st_disjoint(FeatureOfInterest/feature, {JAKARTA_CENTRE}) and result lt 100", [12.5, 70.0]),
    ("geo.distance(FeatureOfInterest/feature, geography'POINT(106.91 -6.1535)') lt 0.001", [12.5]),
    ("st_equals(FeatureOfInterest/feature, geography'POINT(106.91 -6.1535)')", [12.5]),
    ("@iot.id eq 'DKI1:pm25:1796000060000'", [35.0]),
])
def test_each_operator_and_function_selects_in_the_database(engine, flt, expected):
    assert results(engine, flt) == expected


@pytest.mark.parametrize(("flt", "expected"), [
    ("substringof('Gading', name)", ["DKI2"]), ("contains(name, 'Gading')", ["DKI2"]),
    ("startswith(name, 'Pintu Air')", ["KARET", "MANGGARAI"]), ("endswith(name, 'Depok')", ["DEPOK"]),
    ("length(@iot.id) eq 4", ["DKI1", "DKI2", "DKI3", "DKI4", "DKI5"]),
    ("indexof(name, 'Katulampa') eq 8", ["KATULAMPA"]), ("substring(@iot.id, 1, 3) eq 'EPO'", ["DEPOK"]),
    ("substring(@iot.id, 3) eq 'ET'", ["KARET"]),
    ("tolower(@iot.id) eq 'karet'", ["KARET"]), ("toupper(name) eq 'POS PANTAU DEPOK'", ["DEPOK"]),
    ("trim(concat(' ', @iot.id)) eq 'DEPOK'", ["DEPOK"]), ("concat(concat(@iot.id, '/'), properties/kind) eq 'DKI3/air_quality'", ["DKI3"]),
    ("Datastreams/ObservedProperty/@iot.id eq 'pm25'", ["DKI1", "DKI2"]),
    ("Datastreams/Observations/result gt 100", ["KATULAMPA"]),
    ("geo.distance(Locations/location, geography'POINT(106.823 -6.195)') lt 0.01", ["DKI1"]),
    ("geo.distance(Locations/location, geography'LINESTRING(106.8 -6.3349, 106.9 -6.3349)') lt 0.0001", ["DKI3"]),
    ("st_touches(Locations/location, geography'POLYGON((106.823 -6.4, 107 -6.4, 107 -6.3, 106.823 -6.3, 106.823 -6.4))')",
     ["DEPOK", "DKI3"]),  # DKI3 on its west edge, Depok on its south edge
    ("geo.length(geography'LINESTRING(0 0, 3 4)') eq 5 and @iot.id eq 'DKI1'", ["DKI1"]),
    ("properties/kind eq 'air_quality' and not (@iot.id ne 'DKI4')", ["DKI4"]),
])
def test_string_navigation_and_geospatial_filters_on_things(engine, flt, expected):
    assert sorted(ids(engine, "Things", flt)) == expected


def test_orderby_any_expression_and_paging_are_the_databases(engine):
    ordered = run(engine, "Observations", **{"$orderby": "result desc", "$top": "2", "$count": "true"})
    assert [o["result"] for o in ordered["value"]] == [170.0, 120.0] and ordered["count"] == 7 and ordered["more"]
    by_place = run(engine, "Locations", **{"$orderby": "geo.distance(location, geography'POINT(106.91 -6.15)')",
                                           "$top": "1"})
    assert [t["@iot.id"] for t in by_place["value"]] == ["DKI2"]
    by_unit = run(engine, "Datastreams", **{"$orderby": "Thing/name desc, @iot.id"})
    assert [d["@iot.id"] for d in by_unit["value"]] == ["DKI2:pm25", "DKI1:pm25", "KATULAMPA:water_level"]


def test_expand_pages_each_parent_with_its_own_options(engine):
    things = run(engine, "Things", **{"$filter": "Datastreams/ObservedProperty/@iot.id eq 'pm25'",
                                      "$expand": "Datastreams($expand=Observations($orderby=result desc;$top=1;$count=true))"})
    by_id = {t["@iot.id"]: t for t in things["value"]}
    dki1 = by_id["DKI1"]["Datastreams"]["value"][0]["Observations"]
    assert [o["result"] for o in dki1["value"]] == [60.0] and dki1["count"] == 3 and dki1["more"]
    assert [o["result"] for o in by_id["DKI2"]["Datastreams"]["value"][0]["Observations"]["value"]] == [12.5]
    one = run(engine, "Observations", **{"$filter": "result eq 35", "$expand": "FeatureOfInterest,Datastream/Thing"})
    (obs,) = one["value"]
    assert obs["FeatureOfInterest"]["feature"] == {"type": "Point", "coordinates": [106.823, -6.195]}
    assert obs["Datastream"]["Thing"]["@iot.id"] == "DKI1"


def test_features_of_interest_are_the_devices_locations(engine):
    fois = run(engine, "FeaturesOfInterest", **{"$count": "true"})
    assert fois["count"] == 14 and all(f["encodingType"] == "application/geo+json" for f in fois["value"])
    assert [o["result"] for o in run(engine, "FeaturesOfInterest('KATULAMPA')/Observations",
                                     **{"$orderby": "phenomenonTime"})["value"]] == [70.0, 120.0, 170.0]
    assert run(engine, "HistoricalLocations")["value"] == []


@pytest.mark.parametrize(("path", "flt", "message"), [
    ("Things", "name gt 3", "cannot compare a string with a number"),
    ("Things", "result gt 3", "Things has no property 'result'"),
    ("Things", "Datastreams gt 3", "Datastreams is an entity, not a value"),
    ("Things", "length(3) eq 1", "length takes strings, not a number"),
    ("Things", "name", "a filter must be true or false, not a string"),
    ("Observations", "st_relate(FeatureOfInterest/feature, geography'POINT(1 2)', 'T********')", "st_relate"),
    ("Observations", "geo.intersects(FeatureOfInterest/feature, FeatureOfInterest/feature)", "one side must be a geography"),
])
def test_a_plan_the_model_cannot_answer_says_why(engine, path, flt, message):
    with pytest.raises(PlanError, match=message):
        run(engine, path, **{"$filter": flt})


def test_a_division_by_zero_is_no_match_on_sqlite_and_the_reason_on_postgresql(engine):
    if engine.dialect.name == "sqlite":  # SQLite's x / 0 is null: nothing matches
        assert results(engine, "result div 0 gt 1") == []
    else:
        with pytest.raises(PlanError, match="the database cannot evaluate this query: division by zero"):
            results(engine, "result div 0 gt 1")
    assert results(engine, "result eq 35") == [35.0]  # the session is usable afterwards


@pytest.mark.parametrize(("plan", "message"), [
    ({"path": [{"name": "Things"}], "skip": 2**60}, "skip must be a non-negative integer below 2"),
    ({"path": [{"name": "Things"}], "filter": {"op": "gt", "args": [{"prop": ["name"]}, {"lit": 2**70, "type": "int"}]}},
     "out of range"),
    ({"path": [{"name": "Unicorns"}]}, "no entity set 'Unicorns'"),
    ({"path": [{"name": "Things"}, {"name": "Sensor"}]}, "Things has no navigation property 'Sensor'"),
])
def test_a_malformed_plan_is_refused_with_the_reason(engine, plan, message):
    with Session(engine) as s, pytest.raises(PlanError, match=message):
        run_plan(s, plan)
