"""Transactional outbox: events are written with the change, in the same transaction, and a relay publishes them.

An accepted request is therefore never lost when the broker is down: it waits in the table until the relay
gets it onto the topic. Delivery is at least once (a crash between delivery and marking can resend);
consumers are idempotent by ce_id.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import Column, Index, LargeBinary, delete, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from kota_common import envelope
from kota_common.kafka import make_producer

log = logging.getLogger(__name__)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=64, unique=True)
    topic: str = Field(max_length=200)
    key: str | None = Field(default=None, max_length=200)
    ce_type: str = Field(max_length=200)
    headers: str = Field(description="JSON list of [name, value] pairs")
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    published_at: datetime | None = Field(default=None)


def add_event(session: Session, topic: str, key: str, event: envelope.Event) -> None:
    """Stages an event in the caller's transaction."""
    k, value, headers = envelope.encode(event, key)
    session.add(
        OutboxMessage(
            event_id=event.id,
            topic=topic,
            key=key,
            ce_type=event.type,
            headers=json.dumps([[n, v.decode()] for n, v in headers]),
            payload=value,
        )
    )


class OutboxRelay:
    """Publishes outbox rows in id order with librdkafka's idempotent producer; marks them when acknowledged."""

    def __init__(
        self,
        engine: Engine,
        bootstrap: str,
        *,
        batch_size: int = 1000,
        idle_interval: float = 0.2,
        retention: timedelta = timedelta(hours=24),
        producer_config: dict | None = None,
    ):
        self.engine = engine
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.retention = retention
        self.producer = make_producer(bootstrap, **(producer_config or {}))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._delivered: list[int] = []
        self._thread: threading.Thread | None = None
        self._last_cleanup = 0.0
        self.published_total = 0

    def notify(self) -> None:
        """Called after a commit that added events, so they go out without waiting for the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
        self.producer.flush(min(timeout, 5.0))
        self._mark_delivered()

    def _on_delivery(self, row_id: int) -> Callable:
        def callback(err, _msg):
            with self._lock:
                self._in_flight.discard(row_id)
                if err is None:
                    self._delivered.append(row_id)
                else:  # left unpublished: picked up again on the next pass
                    log.warning("outbox delivery failed, will retry: %s", err)

        return callback

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.run_once()
            except Exception:  # database briefly unavailable: keep the relay alive
                log.exception("outbox relay pass failed")
                sent = 0
            if sent == 0:
                self._wake.wait(self.idle_interval)
                self._wake.clear()

    def run_once(self) -> int:
        self.producer.poll(0)
        self._mark_delivered()
        self._cleanup()
        with self._lock:
            in_flight = set(self._in_flight)
        if len(in_flight) >= self.batch_size * 10:  # broker is slow or away: don't pile up more
            self.producer.poll(0.1)
            return 0
        with Session(self.engine) as session:
            stmt = select(OutboxMessage).where(OutboxMessage.published_at.is_(None)).order_by(OutboxMessage.id)
            if in_flight:
                stmt = stmt.where(OutboxMessage.id.not_in(in_flight))
            rows = session.exec(stmt.limit(self.batch_size)).all()
        sent = 0
        for row in rows:
            headers = [(n, v.encode()) for n, v in json.loads(row.headers)]
            with self._lock:
                self._in_flight.add(row.id)
            while True:
                try:
                    self.producer.produce(
                        row.topic, key=row.key, value=row.payload, headers=headers, on_delivery=self._on_delivery(row.id)
                    )
                    break
                except BufferError:
                    self.producer.poll(0.05)
            sent += 1
        self.producer.poll(0)
        return sent

    def _mark_delivered(self) -> None:
        with self._lock:
            ids, self._delivered = self._delivered, []
        if not ids:
            return
        now = datetime.now(timezone.utc)
        with Session(self.engine) as session:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                session.exec(update(OutboxMessage).where(OutboxMessage.id.in_(chunk)).values(published_at=now))
            session.commit()
        self.published_total += len(ids)

    def _cleanup(self) -> None:
        if time.monotonic() - self._last_cleanup < 60:
            return
        self._last_cleanup = time.monotonic()
        cutoff = datetime.now(timezone.utc) - self.retention
        with Session(self.engine) as session:
            session.exec(
                delete(OutboxMessage).where(OutboxMessage.published_at.is_not(None), OutboxMessage.published_at < cutoff)
            )
            session.commit()

    def pending(self) -> int:
        with Session(self.engine) as session:
            return len(session.exec(select(OutboxMessage.id).where(OutboxMessage.published_at.is_(None))).all())
