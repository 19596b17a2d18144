"""The outbox relay against a real broker: records as stored, marked only once the broker has them."""

import time
import uuid

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import insert, select

from kota_common import envelope
from kota_common.db.engines import make_engine
from kota_common.outbox import OutboxMessage, OutboxRelay, outbox_row

pytestmark = pytest.mark.integration
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "vendor=abc"}


def event(key: str, size: int = 10) -> envelope.Event:
    return envelope.Event(type="kota.test.happened.v1", source="/kota/test", subject=key,
                          data={"key": key, "filler": "x" * size}, trace=TRACE)


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    """Tracing on, as in a service: a middleware that made spans of its own would also replace the traceparent."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def outbox(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    OutboxMessage.__table__.create(engine)
    yield engine
    engine.dispose()


def stage(engine, rows: list[dict]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(OutboxMessage.__table__), rows)


def published(engine) -> dict[str, bool]:
    table = OutboxMessage.__table__
    with engine.connect() as conn:
        return {event_id: at is not None for event_id, at in conn.execute(select(table.c.event_id, table.c.published_at))}


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while (value := check()) is None or value is False:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not in {timeout} s")
        time.sleep(0.1)
    return value


def started(relay: OutboxRelay) -> OutboxRelay:
    relay.start()
    assert relay.bus.wait_started(30), relay.bus.last_error
    return relay


def test_each_record_goes_out_with_its_stored_headers_byte_for_byte_and_is_marked_by_stop(outbox, kafka_bootstrap,
                                                                                          topic_reader, spans):
    spans.clear()
    topic = f"kota-test.relay-{uuid.uuid4().hex[:8]}"
    reader = topic_reader(topic)
    rows = [outbox_row(topic, f"k{i}", event(f"k{i}")) for i in range(5)]
    # Marked only by stop(): it waits for the broker's answers and marks what was delivered.
    relay = started(OutboxRelay(outbox, kafka_bootstrap, mark_interval=3600))
    stage(outbox, rows)
    relay.notify()
    records = reader.wait_for(lambda rs: len(rs) >= len(rows), timeout=30)
    relay.stop()

    assert len(records) == len(rows), [m.key() for m in records]
    by_key = {m.key(): m for m in records}
    for row in rows:
        record = by_key[row["key"].encode()]
        stored = [(name, value.encode()) for name, value in orjson.loads(row["headers"])]
        headers = record.headers()
        names = [name for name, _ in headers]
        assert len(names) == len(set(names)), names  # FastStream's own content-type is not there twice
        # FastStream's correlation id is the event's id; every other header is the stored one, byte for byte.
        assert dict(headers).pop("correlation_id") == row["event_id"].encode()
        assert sorted(h for h in headers if h[0] != "correlation_id") == sorted(stored)
        assert dict(headers)["content-type"] == b"application/json"
        assert dict(headers)["traceparent"] == TRACE["traceparent"].encode()
        assert record.value() == row["payload"]
        assert envelope.decode(record.value(), headers, record.key()).id == row["event_id"]
    assert published(outbox) == {row["event_id"]: True for row in rows}
    # One span a pass, linked to the request that caused each event; none a record.
    finished = spans.get_finished_spans()
    assert {span.name for span in finished} == {"outbox send"}, [span.name for span in finished]
    linked = [link.context.trace_id for span in finished for link in span.links]
    assert linked == [int(TRACE["traceparent"].split("-")[1], 16)] * len(rows)


def test_a_row_the_producer_refuses_stays_unpublished_and_the_rows_behind_it_go_out(outbox, kafka_bootstrap,
                                                                                    topic_reader):
    topic = f"kota-test.relay-{uuid.uuid4().hex[:8]}"
    reader = topic_reader(topic)
    too_large = outbox_row(topic, "big", event("big", size=20_000))
    fine = [outbox_row(topic, f"k{i}", event(f"k{i}")) for i in range(3)]
    relay = started(OutboxRelay(outbox, kafka_bootstrap, producer_options={"max_request_size": 10_000}))
    try:
        stage(outbox, [too_large, *fine])
        relay.notify()
        wait_until(lambda: all(published(outbox)[row["event_id"]] for row in fine), 30, "the rows behind it marked")
        reader.wait_for(lambda rs: len(rs) >= len(fine), timeout=10)
        reader.assert_quiet(0.5)  # more passes: it is offered again and refused again
        assert published(outbox)[too_large["event_id"]] is False
        assert sorted(m.key() for m in reader.records()) == [b"k0", b"k1", b"k2"]
    finally:
        relay.stop()
    assert published(outbox)[too_large["event_id"]] is False


def test_rows_sent_while_the_broker_is_frozen_stay_unpublished_and_go_out_when_it_returns(outbox, kafka_broker,
                                                                                         kafka_bootstrap, topic_reader):
    topic = f"kota-test.relay-{uuid.uuid4().hex[:8]}"
    reader = topic_reader(topic)
    relay = started(OutboxRelay(outbox, kafka_bootstrap, producer_options={"request_timeout_ms": 2000}))
    rows = [outbox_row(topic, f"k{i}", event(f"k{i}")) for i in range(5)]
    try:
        kafka_broker.pause()
        try:
            stage(outbox, rows)
            relay.notify()
            wait_until(lambda: relay._in_flight or None, 10, "a pass handing the rows over")
            time.sleep(4)  # past the request timeout: the deliveries failed
            assert not any(published(outbox).values())
        finally:
            kafka_broker.resume()
        wait_until(lambda: all(published(outbox).values()), 60, "every row marked once the broker is back")
        records = reader.wait_for(lambda rs: {m.key() for m in rs} >= {r["key"].encode() for r in rows}, timeout=30)
        assert {m.key() for m in records} == {r["key"].encode() for r in rows}  # at least once: maybe twice
    finally:
        relay.stop()
