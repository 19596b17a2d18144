"""The two consumers of what ingest produces (the alert evaluator: batch summaries; the observation store:
readings), each its own consumer group, against the real broker and database; and several ingest processes
sharing the gRPC port."""

import json
import uuid

import grpc
import pytest
from sqlalchemy import text

from kota.sensors.v1 import sensors_pb2 as pb
from kota.sensors.v1 import sensors_pb2_grpc as pb_grpc
from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.eventbus import EventBus
from kota_common.events.sensors import READINGS_TOPIC, SUMMARIES_TOPIC
from kota_common.kafka import ensure_topics
from kota_common.testing import RecordProducer, wait_consumed, wait_until
from kota_sensors.domain.batch import encode_summary, summarise
from kota_sensors.domain.devices import DeviceInfo
from kota_sensors.entrypoints.app import MIGRATIONS
from kota_sensors.service_layer.evaluator import AlertConsumer, ObservationStore

from ..conftest import now_ms
from .test_ingest import grpc_batches, level_series

pytestmark = pytest.mark.integration

THRESHOLDS = {"siaga4_max": 80, "siaga3_max": 150, "siaga2_max": 200}


def produce_levels(bootstrap: str, gauge: str, levels: list[float], t0: int) -> None:
    """Records shaped as the ingest pipeline writes them, plus one poison record of the same key."""
    p = RecordProducer(bootstrap)
    for i, cm in enumerate(levels):
        doc = {"device_id": gauge, "quantity": "water_level", "unit": "cm", "value": cm, "observed_at_ms": t0 + i * 1000}
        p.produce(READINGS_TOPIC, json.dumps(doc), gauge.encode(), headers=[
            ("ce_specversion", b"1.0"), ("ce_id", f"{gauge}/water_level/{t0 + i * 1000}"), ("ce_source", b"/kota/sensors"),
            ("ce_type", b"kota.sensors.reading.v1")])
        if i == 1:
            p.produce(READINGS_TOPIC, b"\x00not json", gauge.encode(), headers=[("ce_specversion", b"1.0")])
    p.close()


def produce_level_summaries(bootstrap: str, gauge: str, batches: list[list[float]], t0: int) -> None:
    """Batch summaries shaped as the ingest pipeline writes them (a level a second), plus one poison record of the
    same key after the first, and the first batch once more (a resend after a lost answer)."""
    p = RecordProducer(bootstrap)
    summaries, ts = [], t0
    for levels in batches:
        tss = [ts + i * 1000 for i in range(len(levels))]
        summaries.append((f"{gauge}/summary/{tss[0]}/{tss[-1]}", summarise(gauge, [("water_level", tss, levels)])))
        ts = tss[-1] + 1000
    for item in [summaries[0], None, *summaries[1:], summaries[0]]:
        if item is None:
            p.produce(SUMMARIES_TOPIC, b"\x00not json", gauge.encode(), headers=[("ce_specversion", b"1.0")])
            continue
        ce_id, summary = item
        p.produce(SUMMARIES_TOPIC, encode_summary(summary), gauge.encode(), headers=[
            ("ce_specversion", b"1.0"), ("ce_id", ce_id), ("ce_source", b"/kota/sensors"),
            ("ce_type", b"kota.sensors.reading-summary.v1"), ("content-type", b"application/json")])
    p.close()


def run_on_a_bus(consumer, bootstrap: str) -> EventBus:
    """The consumer as the service runs it: a batch subscriber on an event bus of its own."""
    bus = EventBus(bootstrap, "sensors-test")
    consumer.subscribe_to(bus, "under test")
    consumer.start()
    return bus.start()


@pytest.fixture
def engine(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    e = make_engine(database_url)
    yield e
    e.dispose()


def test_the_alert_evaluator_alone_raises_siaga_alerts_and_dead_letters_a_poison_record(engine, kafka_bootstrap, topic_reader):
    ensure_topics(kafka_bootstrap, [SUMMARIES_TOPIC])
    gauge = f"T-GAU-{uuid.uuid4().hex[:8]}"
    devices = {gauge: DeviceInfo(gauge, "test gauge", "water_level", -6.2, 106.8, "", "", None, THRESHOLDS)}
    produce_level_summaries(kafka_bootstrap, gauge, [[60.0, 70.0], [120.0, 210.0], [205.0, 185.0]], now_ms() - 60_000)
    group = f"test-{uuid.uuid4().hex[:8]}-alerts"
    dlq = topic_reader(SUMMARIES_TOPIC + ".dlq")
    alerts = AlertConsumer(engine, group, lambda: devices, batch_size=1000)
    bus = run_on_a_bus(alerts, kafka_bootstrap)
    try:
        wait_consumed(kafka_bootstrap, group, SUMMARIES_TOPIC)
        with engine.connect() as c:
            staged = [json.loads(bytes(row[0]))["level"] for row in c.execute(
                text("SELECT payload FROM outbox WHERE key = :k ORDER BY id"), {"k": gauge})]
            state = c.execute(text("SELECT level FROM alert_state WHERE station_id = :k"), {"k": gauge}).scalar()
        # one change per level crossed, hysteresis keeps 205 at Siaga 1 and takes 185 down to Siaga 2; the
        # resent first batch changes nothing
        assert staged == ["siaga-3", "siaga-1", "siaga-2"] and state == "siaga-2"
        dead = dlq.wait_for(lambda r: len(r) >= 1, timeout=60, match=lambda m: m.key() == gauge.encode()
                            and dict(m.headers()).get("kota_dlq_consumer") == group.encode())
        assert dead[0].value() == b"\x00not json"
        # the store (another group) has not run: nothing stored, the alerts did not wait for it
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM observations WHERE device_id = :k"), {"k": gauge}).scalar() == 0
    finally:
        bus.stop()
        alerts.stop()


def test_the_observation_store_alone_stores_every_observation(engine, kafka_bootstrap):
    ensure_topics(kafka_bootstrap, [READINGS_TOPIC])
    gauge = f"T-GAU-{uuid.uuid4().hex[:8]}"
    t0 = now_ms() - 60_000
    produce_levels(kafka_bootstrap, gauge, [60.0, 70.0, 120.0], t0)
    group = f"test-{uuid.uuid4().hex[:8]}"
    store = ObservationStore(engine, group, dict, batch_size=1000)
    bus = run_on_a_bus(store, kafka_bootstrap)
    try:
        wait_consumed(kafka_bootstrap, group, READINGS_TOPIC)
        with engine.connect() as c:
            rows = c.execute(text("SELECT ts_ms, value FROM observations WHERE device_id = :k ORDER BY ts_ms"),
                             {"k": gauge}).all()
            latest = c.execute(text("SELECT latest_ms, latest_value FROM datastreams WHERE device_id = :k"), {"k": gauge}).one()
            assert c.execute(text("SELECT count(*) FROM outbox WHERE key = :k"), {"k": gauge}).scalar() == 0
        assert [tuple(r) for r in rows] == [(t0, 60.0), (t0 + 1000, 70.0), (t0 + 2000, 120.0)]
        assert tuple(latest) == (t0 + 2000, 120.0)
    finally:
        bus.stop()
        store.stop()


def test_two_ingest_processes_share_the_port_and_know_devices_registered_by_either(start_sensors):
    s = start_sensors(KOTA_SENSORS_INGEST_PROCESSES="2")
    gauge, token = s.provision("water_level")  # registered through one process
    t0 = now_ms() - 100_000
    # fresh connections land on either process (SO_REUSEPORT): each must take the device at once
    for i in range(8):
        channel = grpc.insecure_channel(s.process.address, options=[("grpc.use_local_subchannel_pool", 1)])
        try:
            stub = pb_grpc.SensorsServiceStub(channel)
            ack = grpc_batches(stub, [pb.IngestReadingsRequest(device_id=gauge, device_token=token,
                                                               series=[level_series([50.0 + i], t0 + i * 1000)])])
            assert ack[0].accepted == 1 and not ack[0].refused_reason
        finally:
            channel.close()
    obs = wait_until(lambda: len(s.stub.ListObservations(pb.ListObservationsRequest(device_id=gauge)).observations) == 8)
    assert obs
