"""An IdempotentConsumer that applies a batch of records in one transaction.

Sensor readings arrive at thousands per second; one transaction per reading would make the open data
service the bottleneck (and freshness would suffer). This consumer takes what the broker has ready (up to
`batch_size`), skips the event ids already processed, applies the rest with the same handlers inside one
transaction together with their processed-event rows, commits, then commits the offsets. If anything in the
batch fails, the transaction is rolled back and the batch is replayed one record at a time through the
base class (retries, then the DLQ), so a poison record never takes its neighbours with it.
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError
from opentelemetry import trace
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from kota_common.consumer import IdempotentConsumer, PoisonMessage, ProcessedEvent

log = logging.getLogger(__name__)
tracer = trace.get_tracer("kota.opendata.consumer")


class BatchingConsumer(IdempotentConsumer):
    def __init__(self, *args, batch_size: int = 500, begin_batch=None, end_batch=None, **kwargs):
        """`begin_batch(session)` / `end_batch(session)` let handlers buffer work and write it once per batch."""
        super().__init__(*args, **kwargs)
        self.batch_size = batch_size
        self.begin_batch = begin_batch
        self.end_batch = end_batch

    def _run(self) -> None:
        while not self._stop.is_set():
            first = self.consumer.poll(0.5)  # returns as soon as one record is there
            if first is None:
                continue
            # then whatever is already fetched, without waiting (consume() with a timeout would wait for a full batch)
            messages = [first, *self.consumer.consume(self.batch_size - 1, 0)] if self.batch_size > 1 else [first]
            good = []
            for msg in messages:
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        log.warning("consumer error: %s", msg.error())
                    continue
                good.append(msg)
            if not good:
                continue
            if not self._apply_batch(good):
                for msg in good:
                    self.process(msg)
            offsets = {}
            for msg in good:
                offsets[(msg.topic(), msg.partition())] = msg
            for msg in offsets.values():
                self.consumer.commit(message=msg, asynchronous=False)

    def _apply_batch(self, messages) -> bool:
        """True when the whole batch was applied (or was already); False to fall back to one by one."""
        parsed = []
        for msg in messages:
            try:
                event, payload = self._parse(msg.topic(), msg)
            except PoisonMessage:
                return False
            parsed.append((msg.topic(), event, payload))
        with tracer.start_as_current_span("opendata batch process", kind=trace.SpanKind.CONSUMER) as span:
            span.set_attribute("messaging.batch.message_count", len(parsed))
            try:
                with Session(self.engine) as session:
                    if self.begin_batch:
                        self.begin_batch(session)
                    ids = list({event.id for _, event, _ in parsed})
                    seen = set(session.exec(select(ProcessedEvent.event_id).where(
                        ProcessedEvent.consumer == self.group_id, ProcessedEvent.event_id.in_(ids))).all())
                    applied = 0
                    for topic, event, payload in parsed:
                        if event.id in seen:
                            self.duplicates += 1
                            continue
                        seen.add(event.id)
                        self.handlers[topic](session, event, payload)
                        session.add(ProcessedEvent(consumer=self.group_id, event_id=event.id))
                        applied += 1
                    if self.end_batch:
                        self.end_batch(session)
                    session.commit()
            except IntegrityError:  # a concurrent replica handled some of them first
                return False
            except Exception:
                log.warning("batch of %d failed; replaying one by one", len(parsed), exc_info=True)
                return False
        self.handled += applied
        if applied and self.on_handled:
            self.on_handled()
        return True
