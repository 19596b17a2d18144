"""The guarantees every subscriber keeps (kota_common.eventbus), in memory with FastStream's TestKafkaBroker: bad
records go to `<topic>.dlq` once with a reason a person can read and the subscriber carries on; a redelivered event
changes nothing; a batch with a poison record in it still applies its neighbours."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone

import pytest
from faststream import Context
from faststream.kafka import TestKafkaBroker
from sqlalchemy import text
from sqlmodel import Session, SQLModel, create_engine, select

from kota_common import envelope
from kota_common.eventbus import EventBus, IdempotentBatchHandler, IdempotentHandler, PoisonMessage, ProcessedEvent
from kota_common.events.complaints import SOURCE, TOPIC, ComplaintRouted

DLQ = TOPIC + ".dlq"


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    SQLModel.metadata.create_all(engine, tables=[ProcessedEvent.__table__])
    with engine.begin() as c:
        c.execute(text("CREATE TABLE applied (event_id TEXT, complaint_id TEXT)"))
    yield engine
    engine.dispose()


def routed(complaint_id: str = "c-1", **changes) -> envelope.Event:
    payload = ComplaintRouted(complaint_id=complaint_id, service_code="banjir", agency_code="DSDA", unit="Sudin SDA",
                              due_at=None, routed_at=datetime(2026, 12, 7, tzinfo=timezone.utc))
    data = {**payload.to_data(), **changes}
    return envelope.Event(type=payload.ce_type, source=SOURCE, subject=complaint_id, data=data)


def as_publish_args(event: envelope.Event) -> dict:
    key, value, headers = envelope.encode(event, event.subject)
    return {"message": value, "key": key, "headers": {name: v.decode() for name, v in headers}}


class Recorder:
    """The handler under test: writes what it applies in the handler's transaction; refuses what the domain would."""

    def __init__(self, engine):
        self.engine = engine

    def __call__(self, session, event, payload) -> None:
        if payload.unit == "refused":
            raise PoisonMessage("the domain refuses unit 'refused'")
        session.execute(text("INSERT INTO applied (event_id, complaint_id) VALUES (:e, :c)"),
                        {"e": event.id, "c": payload.complaint_id})

    @property
    def applied(self) -> list[tuple[str, str]]:
        with self.engine.connect() as c:
            return [tuple(row) for row in c.execute(text("SELECT event_id, complaint_id FROM applied ORDER BY rowid"))]


def bus_with(handler) -> EventBus:
    bus = EventBus("127.0.0.1:1", "test")
    bus.subscribe(handler, TOPIC, group_id="test-group")
    return bus


BAD_RECORDS = {
    "missing CloudEvents headers": (
        {"message": b"{}", "key": b"c-1", "headers": {"content-type": "application/json"}},
        "missing CloudEvents headers: ce_specversion, ce_id, ce_source, ce_type",
    ),
    "a wrong specversion": (
        {**as_publish_args(routed()), "headers": {**as_publish_args(routed())["headers"], "ce_specversion": "0.3"}},
        "unsupported ce_specversion",
    ),
    "an unknown type": (
        as_publish_args(envelope.Event(type="kota.complaints.exploded.v1", source=SOURCE, subject="c-1", data={})),
        "unknown event type 'kota.complaints.exploded.v1' on complaints.events.v1",
    ),
    "invalid JSON": (
        {**as_publish_args(routed()), "message": b"{not json"},
        "undecodable CloudEvent",
    ),
    "a payload that fails validation": (
        as_publish_args(routed(agency_code=None)),
        "invalid kota.complaints.routed.v1 payload",
    ),
    "a payload the domain refuses": (
        as_publish_args(routed(unit="refused")),
        "the domain refuses unit 'refused'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_a_bad_record_goes_to_the_dlq_once_with_a_readable_reason_and_the_subscriber_carries_on(engine, case):
    record, reason = BAD_RECORDS[case]
    recorder = Recorder(engine)
    handler = IdempotentHandler(engine, "test-group", {TOPIC: recorder}, sleep=lambda _s: None)
    bus = bus_with(handler)
    good = routed("c-after")
    dead = asyncio.run(dead_letters_of(bus, [record, as_publish_args(good)]))
    assert len(dead) == 1, f"expected one dead letter, got {dead}"
    headers = dict(dead[0].headers)
    assert reason in headers["kota_dlq_reason"].decode()
    assert headers["kota_dlq_topic"] == TOPIC.encode() and headers["kota_dlq_consumer"] == b"test-group"
    assert dead[0].value == record["message"], "the record is dead-lettered unchanged"
    assert recorder.applied == [(good.id, "c-after")], "the good record behind the bad one is applied"
    assert bus.dead_letters.count == 1


def test_an_event_delivered_twice_is_applied_once(engine):
    recorder = Recorder(engine)
    handler = IdempotentHandler(engine, "test-group", {TOPIC: recorder})
    event = routed("c-twice")
    dead = asyncio.run(dead_letters_of(bus_with(handler), [as_publish_args(event), as_publish_args(event)]))
    assert dead == []
    assert recorder.applied == [(event.id, "c-twice")]
    assert (handler.handled, handler.duplicates) == (1, 1)
    with Session(engine) as s:
        assert s.exec(select(ProcessedEvent.event_id)).all() == [event.id]


def counted(name: str, group: str = "test-group") -> float:
    """A counter's value for the complaints topic and the group, as Prometheus scrapes it (0 before any count)."""
    from prometheus_client import REGISTRY, generate_latest

    from kota_common.metrics import configure_metrics

    configure_metrics("kota-test", "off")  # once a process; the instruments report through it
    pattern = re.compile(rf'^{name}_total{{([^}}]*)}} (\S+)$', re.M)
    return sum(float(value) for labels, value in pattern.findall(generate_latest(REGISTRY).decode())
               if f'topic="{TOPIC}"' in labels and f'group="{group}"' in labels)


def test_what_a_subscriber_handled_deduplicated_and_dead_lettered_is_counted(engine):
    before = {m: counted(m) for m in ("kota_events_handled", "kota_events_deduplicated", "kota_events_dead_lettered")}
    handler = IdempotentHandler(engine, "test-group", {TOPIC: Recorder(engine)})
    event = routed("c-counted")
    asyncio.run(dead_letters_of(bus_with(handler), [as_publish_args(event), as_publish_args(event),
                                                    as_publish_args(routed(unit="refused"))]))
    after = {m: counted(m) for m in before}
    assert {m: after[m] - before[m] for m in before} == {
        "kota_events_handled": 1, "kota_events_deduplicated": 1, "kota_events_dead_lettered": 1}


def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered(engine):
    attempts = []

    def broken(session, event, payload):
        attempts.append(event.id)
        raise ConnectionError("database away")

    handler = IdempotentHandler(engine, "test-group", {TOPIC: broken}, max_attempts=3, sleep=lambda _s: None)
    dead = asyncio.run(dead_letters_of(bus_with(handler), [as_publish_args(routed())]))
    assert len(attempts) == 3
    assert len(dead) == 1 and b"handler failed after 3 attempts: database away" in dict(dead[0].headers)["kota_dlq_reason"]


def test_a_batch_with_a_poison_record_applies_its_neighbours_and_dead_letters_only_the_poison(engine):
    recorder = Recorder(engine)
    handler = IdempotentBatchHandler(engine, "test-group", {TOPIC: recorder}, sleep=lambda _s: None)
    first, refused, last = routed("c-1"), routed("c-2", unit="refused"), routed("c-3")
    # the batch as the bus hands it over: the handler is called directly with the records
    records = [consumer_record(e, offset=i) for i, e in enumerate([first, refused, last])]
    poison = handler(records)
    assert [(r.offset, reason) for r, reason in poison] == [(1, "the domain refuses unit 'refused'")]
    assert recorder.applied == [(first.id, "c-1"), (last.id, "c-3")]
    assert handler(records) == [(records[1], "the domain refuses unit 'refused'")]
    assert handler.handled == 2 and handler.duplicates == 2, "a replayed batch changes nothing"


def consumer_record(event: envelope.Event, offset: int):
    from aiokafka import ConsumerRecord

    key, value, headers = envelope.encode(event, event.subject)
    return ConsumerRecord(topic=TOPIC, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=key, value=value,
                          checksum=None, serialized_key_size=len(key), serialized_value_size=len(value), headers=headers)


async def dead_letters_of(bus: EventBus, records: list[dict]) -> list:
    """Publishes the records in memory, in order, and returns the raw records that reached the dead-letter topic."""
    dead: list = []

    @bus.broker.subscriber(DLQ, decoder=lambda message: message.body)
    async def collect(message=Context("message")) -> None:
        dead.append(message.raw_message)

    async with TestKafkaBroker(bus.broker) as broker:
        for record in records:
            await broker.publish(topic=TOPIC, **record)
    return dead
