"""Kota's events on FastStream and aiokafka: one broker a service process, and the guarantees every subscriber keeps.

A service is synchronous (a gRPC thread pool, SQLAlchemy sessions), FastStream is asyncio: an `EventBus` runs one
`KafkaBroker` on an event loop of its own thread, and the service's handlers run on a worker thread, one record
(or batch) at a time per subscriber, so a slow transaction never stalls the consumer's heartbeats.

What every subscriber keeps, written once here:
- CloudEvents binary headers are checked and the payload validated into the topic's event model (`parse_event`);
- a record is handled in the handler's database transaction together with its `ce_id`, so a redelivery changes
  nothing (`IdempotentHandler`, `IdempotentBatchHandler`);
- a record that can never be handled goes to `<topic>.dlq` once, unchanged, with the reason in `kota_dlq_*`
  headers, and the subscriber carries on (`DeadLetters`);
- offsets are committed after handling, for handled records only (`OffsetCommits`); a failure that could not
  even dead-letter rewinds the partition (nack), and the record comes again;
- the trace continues from the record's `traceparent` (FastStream's `KafkaTelemetryMiddleware`);
- handled, deduplicated and dead-lettered events and consumer lag are OpenTelemetry metrics.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from kota_common import envelope
from kota_common.db.sqlite import holding_write_lock
from kota_common.events import EventPayload
from kota_common.events import topic as topic_spec
from kota_common.kafka import faststream_security

log = logging.getLogger(__name__)
T = TypeVar("T")
_meter = metrics.get_meter("kota.events")
EVENTS_HANDLED = _meter.create_counter("kota.events.handled", unit="{event}", description="events applied by a subscriber")
EVENTS_DEDUPLICATED = _meter.create_counter(
    "kota.events.deduplicated", unit="{event}", description="events skipped because their ce_id was handled before"
)
EVENTS_DEAD_LETTERED = _meter.create_counter(
    "kota.events.dead_lettered", unit="{event}", description="records sent to <topic>.dlq"
)
HANDLER_ATTEMPTS = 5
BATCH_WAIT_MS = 25
# Subscriber settings every Kota consumer shares: read from the start of a new group, only committed
# transactions, commit after handling; a group forms in about half the session timeout on Tansu.
CONSUMER_DEFAULTS: dict[str, Any] = {
    "auto_offset_reset": "earliest",
    "isolation_level": "read_committed",
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    # Offsets are committed by the bus (OffsetCommits), for handled records only; a failure rewinds (nack).
    "ack_policy": AckPolicy.MANUAL,
}
# Offsets of handled records are committed in one request per this many records or this long, whichever first: a
# commit per record (a broker round trip) cost a single-record subscriber two thirds of its throughput (bench/consumer.py).
COMMIT_EVERY_RECORDS = 500
COMMIT_WITHIN_S = 0.1


class PoisonMessage(Exception):
    """The record can never be handled (bad envelope, unknown type, invalid payload, rejected by the domain)."""


class ProcessedEvent(SQLModel, table=True):
    """The ce_ids a consumer group has applied: the record of its idempotence, written in the handler's transaction."""

    __tablename__ = "processed_events"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=64)
    processed_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


def parse_event(record: ConsumerRecord) -> tuple[envelope.Event, EventPayload]:
    """The CloudEvent a record carries and its payload validated into the topic's model; PoisonMessage with a
    reason a person can read otherwise."""
    try:
        event = envelope.decode(record.value, record.headers, record.key)
    except envelope.EnvelopeError as exc:
        raise PoisonMessage(str(exc)) from exc
    model = topic_spec(record.topic).model_for(event.type)
    if model is None:
        raise PoisonMessage(f"unknown event type {event.type!r} on {record.topic}")
    try:
        payload = model.model_validate(event.data)
    except ValidationError as exc:
        raise PoisonMessage(f"invalid {event.type} payload: {exc.errors(include_url=False)}") from exc
    return event, payload


# -- the broker -------------------------------------------------------------------------------------------------


class EventBus:
    """One FastStream `KafkaBroker` for a service process, on an event loop of its own thread.

    Subscribers are registered before `start()`; `start()` returns at once and the broker connects (and keeps
    trying) in the background, so a service's gRPC API never waits for Kafka. `healthy()` says whether the
    broker is connected and its subscribers run."""

    def __init__(
        self, bootstrap: str, service: str, *, graceful_timeout: float = 10.0, telemetry: bool = True,
        **producer_options,
    ):
        """`telemetry=False` for a bus that publishes records made elsewhere (the outbox relay): FastStream's
        middleware would give each record a span of its own and replace the traceparent it carries.
        `producer_options` (aiokafka's) override the producer defaults below."""
        self.service = service
        self.bootstrap = bootstrap
        producer_settings: dict[str, Any] = {"acks": "all", "linger_ms": 5, "compression_type": "gzip"}
        self.broker = KafkaBroker(
            bootstrap,
            client_id=f"kota-{service}",
            middlewares=(KafkaTelemetryMiddleware(),) if telemetry else (),
            graceful_timeout=graceful_timeout,
            logger=logging.getLogger(f"kota.events.{service}"),
            log_level=logging.DEBUG,  # FastStream logs every record at this level: not at INFO
            description=f"Kota {service} service",
            security=faststream_security(),
            **(producer_settings | producer_options),
        )
        self.dead_letters = DeadLetters(self)
        self._commits: dict[int, OffsetCommits] = {}  # per aiokafka consumer, on the loop only
        self.lag = ConsumerLag(service)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._main: asyncio.Future | None = None
        self.last_error: str | None = None

    # Registration (before start) ---------------------------------------------------------------------------
    def subscribe(self, handler: RecordHandler, *topics: str, group_id: str, description: str = "", **options) -> None:
        """One record at a time: `handler(record)` on a worker thread, then the offset is committed."""
        bus = self

        async def on_record(message=Context("message")) -> None:
            await bus._handle(handler, message, [message.raw_message], group_id)

        self._register(on_record, topics, group_id, description, batch=False, **options)

    def subscribe_batch(
        self, handler: RecordHandler, *topics: str, group_id: str, max_records: int = 500, description: str = "", **options
    ) -> None:
        """What the broker has ready, up to `max_records`, in one call; then the offsets are committed."""
        bus = self

        async def on_batch(message=Context("message")) -> None:
            await bus._handle(handler, message, list(message.raw_message), group_id)

        # FastStream's batch subscriber sleeps this long again after an empty fetch (0.7: usecase.get_msg), so on a
        # quiet topic a record can wait twice this before it is handled: at 200 ms open data's freshness doubled.
        options.setdefault("batch_timeout_ms", BATCH_WAIT_MS)
        self._register(on_batch, topics, group_id, description, batch=True, max_records=max_records, **options)

    def _register(self, fn, topics, group_id, description, **options) -> None:
        settings = {**CONSUMER_DEFAULTS, "decoder": _undecoded, **options}
        self.broker.subscriber(*topics, group_id=group_id, title=f"{group_id}:{','.join(topics)}",
                               description=description or None, **settings)(fn)

    async def _handle(self, handler: RecordHandler, message, records: list[ConsumerRecord], group_id: str) -> None:
        """Runs the handler off the loop, dead-letters what it could never handle, then has the records' offsets
        committed. A failure it did not turn into a dead letter (the database stays away) is retried with backoff,
        then the partition is rewound (nack) and the records come again."""
        try:
            for attempt in range(1, HANDLER_ATTEMPTS + 1):
                try:
                    poison = await asyncio.to_thread(handler, records)
                    break
                except Exception:
                    log.exception("%s: a batch of %d record(s) failed (attempt %d)", group_id, len(records), attempt)
                    if attempt == HANDLER_ATTEMPTS or self._stopping.is_set():
                        raise
                    await asyncio.sleep(min(0.5 * 2**attempt, 10))
            for record, reason in poison:
                await self.dead_letters.send(record, reason, group_id)
        except BaseException:
            await message.nack()
            raise
        self.lag.observe(message.consumer, group_id, records)
        await self._offsets_of(message.consumer).handled(records)

    def _offsets_of(self, consumer) -> OffsetCommits:
        commits = self._commits.get(id(consumer))
        if commits is None:
            commits = self._commits[id(consumer)] = OffsetCommits(consumer)
        return commits

    # Running ---------------------------------------------------------------------------------------------------
    def start(self) -> EventBus:
        self._thread = threading.Thread(target=self._run, name=f"events-{self.service}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._main = self._loop.create_task(self._connect())
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _connect(self) -> None:
        """Connects when the broker answers (retrying), then runs until stopped."""
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self.broker.start()
                self.last_error = None
                break
            except Exception as exc:  # broker not up yet: the service works without it meanwhile
                self.last_error = str(exc) or type(exc).__name__
                log.warning("event broker at %s not ready (%s); retrying in %.1f s", self.bootstrap, self.last_error, delay)
                try:
                    await self.broker.stop()
                except Exception:
                    pass
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        else:
            return
        self._started.set()

    def wait_started(self, timeout: float) -> bool:
        return self._started.wait(timeout)

    def healthy(self) -> bool:
        return self._started.is_set() and not self._stopping.is_set() and all(
            sub.running for sub in self.broker.subscribers
        )

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Runs a coroutine on the bus's loop from another thread and returns its result."""
        if self._loop is None:
            raise RuntimeError("the event bus is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        if self._loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            for commits in list(self._commits.values()):
                await commits.flush()
            if self._main is not None and not self._main.done():
                self._main.cancel()
            await self.broker.stop()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout)
        except Exception:
            log.warning("event broker of %s did not stop cleanly", self.service, exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)


async def _undecoded(message) -> Any:
    """The body as it came: the handler parses the records itself (`parse_event`), so that a body FastStream could
    not decode (invalid JSON) reaches it and is dead-lettered instead of failing before it, over and over."""
    return message.body


# A handler takes a list of records (one for `subscribe`) and returns the ones it could never handle, with why.
RecordHandler = Callable[[list[ConsumerRecord]], list[tuple[ConsumerRecord, str]]]


class OffsetCommits:
    """Commits the offsets of handled records of one consumer: the next offset of the last handled record of each
    partition, never the consumer's position (a record being handled may be past the last handled one). One
    commit request per COMMIT_EVERY_RECORDS records or COMMIT_WITHIN_S seconds, whichever comes first; a record
    handled but not yet committed when the process dies comes again, and is deduplicated by its ce_id."""

    def __init__(self, consumer, every: int = COMMIT_EVERY_RECORDS, within_s: float = COMMIT_WITHIN_S):
        self.consumer = consumer
        self.every = every
        self.within_s = within_s
        self._pending: dict[TopicPartition, int] = {}
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None

    async def handled(self, records: Sequence[ConsumerRecord]) -> None:
        for r in records:
            self._pending[TopicPartition(r.topic, r.partition)] = r.offset + 1
        self._count += len(records)
        if self._count >= self.every:
            await self.flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.within_s, lambda: loop.create_task(self.flush()))

    async def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        offsets, self._pending, self._count = self._pending, {}, 0
        if not isinstance(self.consumer, AIOKafkaConsumer):  # FastStream's in-memory test broker commits nothing
            return
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:  # e.g. the partitions moved in a rebalance: their next owner replays (deduplicated)
            log.warning("offset commit failed: %s", exc)


class DeadLetters:
    """Sends a record its consumer cannot handle to `<topic>.dlq`, unchanged, with why and where it came from, and
    waits until the broker has it: only then may the subscriber commit past it."""

    def __init__(self, bus: EventBus):
        self.bus = bus
        self.count = 0

    async def send(self, record: ConsumerRecord, reason: str, group_id: str) -> None:
        log.warning("dead-lettering record from %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason)
        headers = {name: value.decode(errors="replace") for name, value in record.headers or () if value is not None}
        headers |= dead_letter_headers(record, reason, group_id)
        await self.bus.broker.publish(record.value, f"{record.topic}.dlq", key=record.key, headers=headers)
        EVENTS_DEAD_LETTERED.add(1, {"topic": record.topic, "group": group_id})
        self.count += 1


def dead_letter_headers(record: ConsumerRecord, reason: str, group_id: str) -> dict[str, str]:
    return {
        "kota_dlq_reason": reason[:2000],
        "kota_dlq_topic": record.topic,
        "kota_dlq_partition": str(record.partition),
        "kota_dlq_offset": str(record.offset),
        "kota_dlq_consumer": group_id,
    }


class ConsumerLag:
    """Consumer lag per group and partition (the partition's high watermark less the next offset to handle), as
    an observable gauge read when metrics are scraped."""

    def __init__(self, service: str):
        self.service = service
        self._lag: dict[tuple[str, str, int], int] = {}
        _meter.create_observable_gauge(
            "kota.consumer.lag", callbacks=[self._observe], unit="{record}",
            description="records on a partition not yet handled by the consumer group",
        )

    def observe(self, consumer, group_id: str, records: Sequence[ConsumerRecord]) -> None:
        highwater = getattr(consumer, "highwater", None)
        if highwater is None or not records:
            return
        last: dict[tuple[str, int], int] = {}
        for r in records:
            last[(r.topic, r.partition)] = r.offset
        for (topic, partition), offset in last.items():
            end = highwater(TopicPartition(topic, partition))
            if end is not None:
                self._lag[(group_id, topic, partition)] = max(end - offset - 1, 0)

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        for (group, topic, partition), lag in list(self._lag.items()):
            yield Observation(lag, {"service": self.service, "group": group, "topic": topic, "partition": partition})


def count_handled(records: Sequence[ConsumerRecord], poison: Sequence[tuple[ConsumerRecord, str]], group_id: str) -> None:
    """Counts as handled, per topic, the records of a batch that were not dead-lettered: for handlers whose
    replays are harmless by construction (keyed upserts) rather than by the processed-events table."""
    bad = {id(record) for record, _ in poison}
    per_topic: dict[str, int] = {}
    for record in records:
        if id(record) not in bad:
            per_topic[record.topic] = per_topic.get(record.topic, 0) + 1
    for topic, n in per_topic.items():
        EVENTS_HANDLED.add(n, {"topic": topic, "group": group_id})


# -- idempotent handling in the database ----------------------------------------------------------------------

# The payload is an instance of the topic's event type (parse_event): each handler declares the type of its topic's,
# which a mapping of topics to handlers cannot express, hence Any.
Handler = Callable[[Session, envelope.Event, Any], None]


@dataclass
class IdempotentHandler:
    """Applies each record with its topic's handler in one transaction with its ce_id; a ce_id seen before
    changes nothing. A poison record is reported for the dead-letter topic; a transient failure (database away,
    a lock) is retried with backoff, then dead-lettered."""

    engine: Engine
    group_id: str
    handlers: dict[str, Handler]
    on_handled: Callable[[], None] | None = None
    max_attempts: int = 5
    handled: int = 0
    duplicates: int = 0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(self.handlers)

    def __call__(self, records: list[ConsumerRecord]) -> list[tuple[ConsumerRecord, str]]:
        poison = []
        for record in records:
            reason = self.process(record)
            if reason is not None:
                poison.append((record, reason))
        return poison

    def process(self, record: ConsumerRecord) -> str | None:
        """None once the record is applied (or was before); the reason it can never be, otherwise."""
        try:
            event, payload = parse_event(record)
        except PoisonMessage as exc:
            return str(exc)
        for attempt in range(1, self.max_attempts + 1):
            try:
                self._apply(record.topic, event, payload)
                return None
            except PoisonMessage as exc:
                return str(exc)
            except Exception as exc:  # transient: retry, then give up to the DLQ
                if attempt == self.max_attempts:
                    log.exception("handler failed %d times, dead-lettering", attempt)
                    return f"handler failed after {attempt} attempts: {exc}"
                self.sleep(min(0.2 * 2**attempt, 5))
        return None  # unreachable: the loop returns

    def _apply(self, topic: str, event: envelope.Event, payload: EventPayload) -> None:
        attributes = {"topic": topic, "group": self.group_id}
        with Session(self.engine) as session, holding_write_lock(session):
            seen = session.exec(select(ProcessedEvent.event_id).where(
                ProcessedEvent.consumer == self.group_id, ProcessedEvent.event_id == event.id)).first()
            if seen:
                self.duplicates += 1
                EVENTS_DEDUPLICATED.add(1, attributes)
                return
            self.handlers[topic](session, event, payload)
            session.add(ProcessedEvent(consumer=self.group_id, event_id=event.id))
            try:
                session.commit()
            except IntegrityError:  # a concurrent replica handled it first
                session.rollback()
                self.duplicates += 1
                EVENTS_DEDUPLICATED.add(1, attributes)
                return
        self.handled += 1
        EVENTS_HANDLED.add(1, attributes)
        if self.on_handled:
            self.on_handled()


@dataclass
class IdempotentBatchHandler(IdempotentHandler):
    """Applies a whole batch in one transaction (with every ce_id), for consumers that take thousands of events a
    second. `begin_batch(session)` / `end_batch(session)` let handlers buffer work and write it once per batch.
    If anything in the batch fails, the transaction is rolled back and the batch is replayed one record at a
    time (retries, then the DLQ), so a poison record never takes its neighbours with it."""

    begin_batch: Callable[[Session], None] | None = None
    end_batch: Callable[[Session], None] | None = None

    def __call__(self, records: list[ConsumerRecord]) -> list[tuple[ConsumerRecord, str]]:
        if self._apply_batch(records):
            return []
        return super().__call__(records)

    def _apply_batch(self, records: list[ConsumerRecord]) -> bool:
        """True when the whole batch was applied (or was already); False to fall back to one by one."""
        try:
            parsed = [(r.topic, *parse_event(r)) for r in records]
        except PoisonMessage:
            return False
        applied: dict[str, int] = {}
        skipped: dict[str, int] = {}
        try:
            with Session(self.engine) as session, holding_write_lock(session):
                if self.begin_batch:
                    self.begin_batch(session)
                ids = list({event.id for _, event, _ in parsed})
                seen = set(session.exec(select(ProcessedEvent.event_id).where(
                    ProcessedEvent.consumer == self.group_id, col(ProcessedEvent.event_id).in_(ids))).all())
                for topic, event, payload in parsed:
                    if event.id in seen:
                        skipped[topic] = skipped.get(topic, 0) + 1
                        continue
                    seen.add(event.id)
                    self.handlers[topic](session, event, payload)
                    session.add(ProcessedEvent(consumer=self.group_id, event_id=event.id))
                    applied[topic] = applied.get(topic, 0) + 1
                if self.end_batch:
                    self.end_batch(session)
                session.commit()
        except IntegrityError:  # a concurrent replica handled some of them first
            return False
        except Exception:
            log.warning("batch of %d failed; replaying one by one", len(parsed), exc_info=True)
            return False
        for topic, n in applied.items():
            EVENTS_HANDLED.add(n, {"topic": topic, "group": self.group_id})
        for topic, n in skipped.items():
            EVENTS_DEDUPLICATED.add(n, {"topic": topic, "group": self.group_id})
        self.handled += sum(applied.values())
        self.duplicates += sum(skipped.values())
        if applied and self.on_handled:
            self.on_handled()
        return True
