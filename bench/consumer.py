"""Consumer benchmark: events/s through one FastStream subscriber that dedupes by ce_id in a database transaction,
next to raw aiokafka consumers in the same run.

N CloudEvents (complaint routed events, valid payloads) are produced to a topic of their own; then each consumer
reads them all from the beginning, in its own consumer group, one after the other:

  1. raw aiokafka: getmany + commit, nothing else (the client and broker's ceiling);
  2. raw aiokafka + the same work by hand: parse and validate the CloudEvent, then per record one transaction that
     checks the ce_id, inserts a row and the ce_id, commits; offsets committed after each fetched batch;
  3. Kota's subscriber (kota_common.eventbus.EventBus.subscribe + IdempotentHandler): the same work, with
     FastStream's middleware (tracing), dead-letter handling, metrics, and the offsets of handled records
     committed by the bus (OffsetCommits);
  4. Kota's batch subscriber (subscribe_batch + IdempotentBatchHandler, up to --batch records a transaction).

    .venv/bin/python bench/consumer.py [--events 20000] [--batch 500] [--database-url URL]

Uses KOTA_KAFKA_BOOTSTRAP if set, otherwise starts the embedded broker on a free port. Never run as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import datetime, timezone

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from kota_common import envelope
from kota_common.db.engines import make_engine
from kota_common.db.sqlite import write_lock
from kota_common.eventbus import EventBus, IdempotentBatchHandler, IdempotentHandler, ProcessedEvent, parse_event
from kota_common.events import TopicSpec, register_topic
from kota_common.events.complaints import SOURCE, ComplaintRouted
from kota_common.kafka import ensure_topics
from kota_common.testing import bench_broker, bench_workdir


def routed_event(i: int) -> envelope.Event:
    payload = ComplaintRouted(complaint_id=f"c-{i}", service_code="banjir", agency_code="DSDA", unit="Sudin SDA",
                              due_at=None, routed_at=datetime.now(timezone.utc))
    return envelope.Event(type=payload.ce_type, source=SOURCE, subject=payload.complaint_id, data=payload.to_data())


async def produce(bootstrap: str, topic: str, n: int) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = []
        for i in range(n):
            key, value, headers = envelope.encode(routed_event(i), f"c-{i}")
            futures.append(await producer.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n / (time.perf_counter() - started)


def apply(session: Session, event: envelope.Event, payload: ComplaintRouted) -> None:
    """The projection every consumer here applies: one row per event."""
    session.execute(text("INSERT INTO bench_applied (event_id, complaint_id, agency) VALUES (:e, :c, :a)"),
                    {"e": event.id, "c": payload.complaint_id, "a": payload.agency_code})


async def raw_consume(bootstrap: str, topic: str, n: int, work=None) -> float:
    """Raw aiokafka: getmany, `work(records)` if given, commit; until n records were read."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, isolation_level="read_committed",
                                session_timeout_ms=6000, heartbeat_interval_ms=1000)
    await consumer.start()
    try:
        seen = 0
        started = None
        while seen < n:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batches.values():
                if started is None:
                    started = time.perf_counter()
                if work is not None:
                    await asyncio.to_thread(work, records)
                seen += len(records)
            if batches:
                await consumer.commit()
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def by_hand(engine, group_id: str):
    """The subscriber's work written by hand: parse, then one transaction per record with its ce_id."""

    def work(records) -> None:
        for record in records:
            event, payload = parse_event(record)
            with Session(engine) as session:
                session.connection()
                with write_lock(engine):
                    if session.exec(select(ProcessedEvent.event_id).where(
                            ProcessedEvent.consumer == group_id, ProcessedEvent.event_id == event.id)).first():
                        continue
                    apply(session, event, payload)
                    session.add(ProcessedEvent(consumer=group_id, event_id=event.id))
                    session.commit()

    return work


def through_the_bus(bootstrap: str, topic: str, n: int, handler: IdempotentHandler, batch: int | None) -> float:
    bus = EventBus(bootstrap, "bench")
    if batch:
        bus.subscribe_batch(handler, topic, group_id=handler.group_id, max_records=batch)
    else:
        bus.subscribe(handler, topic, group_id=handler.group_id)
    bus.start()
    try:
        deadline = time.monotonic() + 600
        while handler.handled == 0:
            if time.monotonic() > deadline:
                raise TimeoutError("the subscriber handled nothing in 600 s")
            time.sleep(0.001)
        started, first = time.perf_counter(), handler.handled
        while handler.handled < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the subscriber handled {handler.handled} of {n} in 600 s")
            time.sleep(0.005)
        return (n - first) / (time.perf_counter() - started)
    finally:
        bus.stop()


def count_applied(engine, group_ids: list[str]) -> dict[str, int]:
    with engine.connect() as c:
        return {g: c.execute(text("SELECT count(*) FROM processed_events WHERE consumer = :g"), {"g": g}).scalar()
                for g in group_ids}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500, help="records a transaction for the batch subscriber")
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()

    work = bench_workdir("kota-bench-consumer-")
    with bench_broker(work) as bootstrap:
        topic = f"bench.consumer.{uuid.uuid4().hex[:8]}.v1"
        register_topic(TopicSpec(topic, "complaint id", "benchmark events", (ComplaintRouted,)))
        ensure_topics(bootstrap, [topic], partitions=1)
        url = args.database_url or f"sqlite:///{work / 'consumer.db'}"
        engine = make_engine(url)
        SQLModel.metadata.create_all(engine, tables=[ProcessedEvent.__table__])
        with engine.begin() as c:
            c.execute(text("CREATE TABLE IF NOT EXISTS bench_applied (event_id VARCHAR(64), complaint_id VARCHAR(64), "
                           "agency VARCHAR(16))"))

        print(f"producing {args.events:,} events to {topic} on {bootstrap} ({engine.dialect.name})")
        rate = asyncio.run(produce(bootstrap, topic, args.events))
        print(f"  produced at {rate:,.0f}/s (aiokafka, acks=all)")

        results = []
        raw = asyncio.run(raw_consume(bootstrap, topic, args.events))
        results.append(("raw aiokafka: getmany + commit", raw))
        hand_group = f"bench-hand-{uuid.uuid4().hex[:8]}"
        hand = asyncio.run(raw_consume(bootstrap, topic, args.events, by_hand(engine, hand_group)))
        results.append(("raw aiokafka + parse, dedupe, one transaction a record (by hand)", hand))
        single = IdempotentHandler(engine, f"bench-sub-{uuid.uuid4().hex[:8]}", {topic: apply})
        results.append(("Kota subscriber (FastStream): the same, one record a transaction",
                        through_the_bus(bootstrap, topic, args.events, single, None)))
        batched = IdempotentBatchHandler(engine, f"bench-batch-{uuid.uuid4().hex[:8]}", {topic: apply})
        results.append((f"Kota batch subscriber (FastStream): up to {args.batch} records a transaction",
                        through_the_bus(bootstrap, topic, args.events, batched, args.batch)))

        print(f"\nevents/s, {args.events:,} events each, same broker, same database:")
        for name, value in results:
            print(f"  {name:<80} {value:>10,.0f}/s")
        print(f"\nKota subscriber against the hand-written loop: {results[2][1] / hand:.0%}")
        applied = count_applied(engine, [hand_group, single.group_id, batched.group_id])
        wrong = {g: k for g, k in applied.items() if k != args.events}
        print(f"every event applied exactly once per consumer: {'yes' if not wrong else f'NO {wrong}'}")
        engine.dispose()
        return 0 if not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
