"""The ingest pipeline against a fake producer (no I/O): headers, ids, acks, refusals, rejections."""

import json
import time

import pytest

from kota_common import envelope
from kota_common.events.sensors import READINGS_TOPIC, SUMMARIES_TOPIC, ReadingSummary, SensorReading, VehiclePosition
from kota_sensors.domain.devices import DeviceInfo, hash_token
from kota_sensors.domain.validation import Validator
from kota_sensors.service_layer.ingest import DESCRIPTIONS, IngestPipeline, PositionsIn, SeriesIn


class FakeProducer:
    def __init__(self):
        self.records = []
        self.pending = []

    def produce(self, topic, value, key, on_delivery=None, headers=None):
        # librdkafka sends str header values as UTF-8, as it does the value
        headers = [(n, v.encode() if isinstance(v, str) else v) for n, v in headers or []]
        self.records.append((topic, key, value, headers))
        if on_delivery is not None:
            self.pending.append((topic, on_delivery))

    def poll(self, timeout):
        time.sleep(min(timeout, 0.01))
        return 0

    def deliver(self, err=None, topic=None):
        """Reports every pending delivery; `err` for all of them, or only for those of `topic`."""
        for t, cb in self.pending:
            cb(err if topic in (None, t) else None, None)
        self.pending.clear()

    def flush(self, timeout):
        return 0


DEVICES = {
    "DKI1": DeviceInfo("DKI1", "DKI1", "air_quality", -6.19, 106.82, "31.71", "", hash_token("secret")),
    "TJ-1": DeviceInfo("TJ-1", "bus", "vehicle", -6.2, 106.8, "", "1", hash_token("bus")),
}


@pytest.fixture(params=[True, False], ids=["report-each", "report-last"])
def pipeline(request):
    p = IngestPipeline(FakeProducer(), Validator(), dict(DEVICES), report_each=request.param)
    yield p
    p.close(0)


def test_accepted_readings_become_cloudevents_with_deterministic_ids(pipeline):
    now = int(time.time() * 1000) - 5000
    ticket = pipeline.submit("DKI1", "secret", [SeriesIn("pm25", "ug/m3", [now, now + 1000], [12.5, 13.0]),
                                                SeriesIn("pm10", "ug/m3", [now], [-1.0])], sequence=4)
    assert not ticket.done  # not acknowledged before the broker acks
    pipeline.producer.deliver()
    assert ticket.wait(1) and ticket.delivered == 2 and ticket.rejections == [("pm10", 0, now, "out_of_range")]
    records = pipeline.producer.records
    events = [envelope.decode(v.encode(), h, k) for t, k, v, h in records if t == READINGS_TOPIC]
    assert [e.id for e in events] == [f"DKI1/pm25/{now}", f"DKI1/pm25/{now + 1000}"]
    assert {e.type for e in events} == {"kota.sensors.reading.v1"} and {e.source for e in events} == {"/kota/sensors"}
    readings = [SensorReading.model_validate(e.data) for e in events]
    assert [(r.device_id, r.value, r.observed_at_ms) for r in readings] == [("DKI1", 12.5, now), ("DKI1", 13.0, now + 1000)]
    assert {k for _t, k, _v, _h in pipeline.producer.records} == {b"DKI1"}
    assert pipeline.accepted == 2 and pipeline.rejected["out_of_range"] == 1
    # and the batch's one summary for the alert evaluator: the accepted PM2.5 readings summed per minute
    (summary_event,) = [envelope.decode(v, h, k) for t, k, v, h in records if t == SUMMARIES_TOPIC]
    assert summary_event.id == f"DKI1/summary/{now}/{now + 1000}" and summary_event.type == "kota.sensors.reading-summary.v1"
    summary = ReadingSummary.model_validate(summary_event.data)
    assert (summary.device_id, summary.last_ms, summary.pm25_first_ms, summary.pm25_last_ms) == ("DKI1", now + 1000, now, now + 1000)
    assert sum(total for _m, total, _n in summary.pm25) == 25.5 and sum(n for *_, n in summary.pm25) == 2
    assert summary.pm25[0][0] == now // 60_000 and summary.water_level == []


def test_a_lost_summary_fails_the_whole_batch_so_the_device_resends_it(pipeline):
    now = int(time.time() * 1000) - 5000
    series = [SeriesIn("pm25", "ug/m3", [now, now + 1], [1.0, 2.0])]
    t = pipeline.submit("DKI1", "secret", series)
    pipeline.producer.deliver(err="summary lost", topic=SUMMARIES_TOPIC)  # the readings themselves landed
    assert pipeline.settle(t, 1).failed == 2 and t.delivered == 0
    t2 = pipeline.submit("DKI1", "secret", series)
    pipeline.producer.deliver()
    assert pipeline.settle(t2, 1).delivered == 2


def test_wrong_token_unknown_device_and_revoked_credential_are_refused(pipeline):
    now = int(time.time() * 1000)
    for device, token in [("DKI1", "nope"), ("DKI9", "secret"), ("DKI1", "")]:
        t = pipeline.submit(device, token, [SeriesIn("pm25", "ug/m3", [now], [1.0])])
        assert t.refused == "unauthenticated" and t.done
    pipeline.devices = {**DEVICES, "DKI1": DeviceInfo("DKI1", "DKI1", "air_quality", 0, 0, "", "", None)}  # revoked
    assert pipeline.submit("DKI1", "secret", [SeriesIn("pm25", "ug/m3", [now], [1.0])]).refused == "unauthenticated"
    assert pipeline.producer.records == [] and pipeline.refused_batches == 4


def test_a_broker_failure_is_reported_and_the_resend_is_taken(pipeline):
    now = int(time.time() * 1000) - 5000
    series = [SeriesIn("pm25", "ug/m3", [now, now + 1], [1.0, 2.0])]
    t = pipeline.submit("DKI1", "secret", series)
    pipeline.producer.deliver(err="broker down")
    pipeline.settle(t, 1)
    assert t.failed == 2 and t.delivered == 0
    t2 = pipeline.submit("DKI1", "secret", series)  # the device resends: not a duplicate
    pipeline.producer.deliver()
    assert pipeline.settle(t2, 1).delivered == 2


def test_vehicle_positions(pipeline):
    now = int(time.time() * 1000) - 5000
    t = pipeline.submit("TJ-1", "bus", [], PositionsIn("", [now, now + 1000], [-6.2, 95.0], [106.8, 106.8], [], []))
    pipeline.producer.deliver()
    assert t.wait(1) and t.delivered == 1 and t.rejections == [("position", 1, now + 1000, "out_of_range")]
    topic, key, value, _h = pipeline.producer.records[0]
    assert topic == "sensors.vehicle-positions.v1" and key == b"TJ-1"
    assert VehiclePosition.model_validate(json.loads(value)).route_id == "1"
    # a station cannot send positions
    t = pipeline.submit("DKI1", "secret", [], PositionsIn("", [now], [-6.2], [106.8], [], []))
    assert t.rejections[0][3] == "unknown_quantity"


@pytest.mark.parametrize("route", ['K1","vehicle_id":"TJ-999', 'K1"', "K1\\", "K1\n", "K 1", "x" * 65])
def test_a_route_id_outside_the_provisioning_pattern_is_rejected_not_pasted(pipeline, route):
    now = int(time.time() * 1000) - 5000
    t = pipeline.submit("TJ-1", "bus", [], PositionsIn(route, [now, now + 1000], [-6.2, -6.21], [106.8, 106.8], [], []))
    assert t.done and t.accepted == 0 and not t.refused
    assert t.rejections == [("position", 0, now, "invalid_route_id"), ("position", 1, now + 1000, "invalid_route_id")]
    assert pipeline.producer.records == [] and pipeline.rejected["invalid_route_id"] == 2
    assert "route_id" in DESCRIPTIONS["invalid_route_id"]


def test_a_valid_route_id_is_taken_and_the_record_stays_the_vehicle_s():
    import msgspec

    p = IngestPipeline(FakeProducer(), Validator(), dict(DEVICES))
    try:
        now = int(time.time() * 1000) - 5000
        t = p.submit("TJ-1", "bus", [], PositionsIn("K1-express_2.b", [now], [-6.2], [106.8], [], []))
        p.producer.deliver()
        assert t.wait(1) and t.delivered == 1 and t.rejections == []
        record = msgspec.json.decode(p.producer.records[0][2].encode())
        assert (record["vehicle_id"], record["route_id"]) == ("TJ-1", "K1-express_2.b")
    finally:
        p.close(0)


@pytest.mark.parametrize("route", ['K1"', "K1\n", "a/b"])
def test_provisioning_refuses_the_same_route_ids(route):
    from kota_sensors.domain.devices import validate_device

    fields = {"id": "TJ-9", "name": "bus", "kind": "vehicle", "lat": -6.2, "lon": 106.8, "route_id": route}
    assert [f for f, _ in validate_device(fields)] == ["device.route_id"]
    assert [f for f, _ in validate_device({**fields, "route_id": "K1", "id": "TJ-9\n"})] == ["device.id"]
