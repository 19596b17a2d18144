"""Idempotent Kafka consumer: dedupe by ce_id, poison messages to `<topic>.dlq`, offsets committed after handling.

The handler runs in a database transaction together with the record of the event id, so a redelivered
event (after a crash or a rebalance) changes nothing the second time.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from confluent_kafka import KafkaError, Message
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from kota_common import envelope
from kota_common.db import write_lock
from kota_common.events import EventPayload
from kota_common.events import topic as topic_spec
from kota_common.kafka import make_consumer, make_producer
from kota_common.telemetry import context_from_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer("kota.consumer")


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_events"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=64)
    processed_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


@contextlib.contextmanager
def _locked(engine: Engine, session: Session):
    session.connection()  # connection first, then the write lock (see kota_common.db.write_lock)
    with write_lock(engine):
        yield


class PoisonMessage(Exception):
    """The record can never be handled (bad envelope, unknown type, invalid payload, rejected by the domain)."""


Handler = Callable[[Session, envelope.Event, EventPayload], None]


class IdempotentConsumer:
    def __init__(
        self,
        engine: Engine,
        bootstrap: str,
        group_id: str,
        handlers: dict[str, Handler],
        *,
        max_attempts: int = 5,
        on_handled: Callable[[], None] | None = None,
    ):
        """`handlers` maps a topic to its handler; payloads are validated against the topic's event models."""
        self.engine = engine
        self.group_id = group_id
        self.handlers = handlers
        self.max_attempts = max_attempts
        self.on_handled = on_handled
        self.consumer = make_consumer(bootstrap, group_id)
        self.dlq_producer = make_producer(bootstrap)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.handled = 0
        self.dead_lettered = 0
        self.duplicates = 0

    def start(self) -> None:
        self.consumer.subscribe(list(self.handlers))
        self._thread = threading.Thread(target=self._run, name=f"consumer-{self.group_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        self.dlq_producer.flush(5)
        try:
            self.consumer.close()
        except RuntimeError:
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", msg.error())
                continue
            self.process(msg)
            self.consumer.commit(message=msg, asynchronous=False)

    def process(self, msg: Message) -> None:
        topic = msg.topic()
        try:
            event, payload = self._parse(topic, msg)
        except PoisonMessage as exc:
            self._dead_letter(msg, str(exc))
            return
        with tracer.start_as_current_span(
            f"{topic} process", context=context_from_headers(msg.headers()), kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.system", "kafka")
            span.set_attribute("messaging.destination.name", topic)
            span.set_attribute("messaging.message.id", event.id)
            for attempt in range(1, self.max_attempts + 1):
                try:
                    self._handle_once(topic, event, payload)
                    return
                except PoisonMessage as exc:
                    self._dead_letter(msg, str(exc))
                    return
                except Exception as exc:  # transient (database away, lock): retry, then give up to the DLQ
                    if attempt == self.max_attempts:
                        log.exception("handler failed %d times, dead-lettering", attempt)
                        self._dead_letter(msg, f"handler failed after {attempt} attempts: {exc}")
                        return
                    time.sleep(min(0.2 * 2**attempt, 5))

    def _parse(self, topic: str, msg: Message) -> tuple[envelope.Event, EventPayload]:
        try:
            event = envelope.decode(msg.value(), msg.headers(), msg.key())
        except envelope.EnvelopeError as exc:
            raise PoisonMessage(str(exc)) from exc
        model = topic_spec(topic).model_for(event.type)
        if model is None:
            raise PoisonMessage(f"unknown event type {event.type!r} on {topic}")
        try:
            payload = model.model_validate(event.data)
        except ValidationError as exc:
            raise PoisonMessage(f"invalid {event.type} payload: {exc.errors(include_url=False)}") from exc
        return event, payload

    def _handle_once(self, topic: str, event: envelope.Event, payload: EventPayload) -> None:
        with Session(self.engine) as session, _locked(self.engine, session):
            seen = session.exec(
                select(ProcessedEvent).where(
                    ProcessedEvent.consumer == self.group_id, ProcessedEvent.event_id == event.id
                )
            ).first()
            if seen:
                self.duplicates += 1
                return
            self.handlers[topic](session, event, payload)
            session.add(ProcessedEvent(consumer=self.group_id, event_id=event.id))
            try:
                session.commit()
            except IntegrityError:  # a concurrent replica handled it first
                session.rollback()
                self.duplicates += 1
                return
        self.handled += 1
        if self.on_handled:
            self.on_handled()

    def _dead_letter(self, msg: Message, reason: str) -> None:
        dead_letter(self.dlq_producer, msg, reason, self.group_id)
        self.dead_lettered += 1


def dead_letter(producer, msg: Message, reason: str, consumer: str) -> None:
    """Sends a record its consumer cannot handle to `<topic>.dlq`, unchanged, with why and where it came from
    (kota_dlq_* headers), and waits until the broker has it: only then may the consumer commit past it."""
    log.warning("dead-lettering record from %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), reason)
    headers = list(msg.headers() or []) + [
        ("kota_dlq_reason", reason[:2000].encode()),
        ("kota_dlq_topic", msg.topic().encode()),
        ("kota_dlq_partition", str(msg.partition()).encode()),
        ("kota_dlq_offset", str(msg.offset()).encode()),
        ("kota_dlq_consumer", consumer.encode()),
    ]
    producer.produce(f"{msg.topic()}.dlq", key=msg.key(), value=msg.value(), headers=headers)
    producer.flush(30)
