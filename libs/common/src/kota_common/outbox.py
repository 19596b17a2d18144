"""Transactional outbox: events are written with the change, in the same transaction, and a relay publishes them.

An accepted request is therefore never lost when the broker is down: it waits in the table until the relay
gets it onto the topic. Delivery is at least once (a crash between delivery and marking can resend);
consumers are idempotent by ce_id.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import orjson
from opentelemetry import trace
from sqlalchemy import Column, Index, LargeBinary, delete, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from kota_common import envelope
from kota_common.db import defer_insert, lock_file_beside, write_lock
from kota_common.kafka import make_producer

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("kota.outbox")
MAX_LINKS = 128  # the OpenTelemetry SDK's default span link limit
OUTBOX_LOCK_KEY = 0x6B6F7461  # "kota": the advisory lock whose holder relays a database's outbox


def _span_context(headers: list[list[str]]) -> trace.SpanContext | None:
    """The span context of a stored W3C traceparent ("00-<trace id>-<span id>-<flags>"), parsed directly: the
    relay links every event it sends, and the propagator API costs more than the rest of the send."""
    for name, value in headers:
        if name == "traceparent":
            parts = value.split("-")
            if len(parts) != 4 or parts[0] != "00":
                return None
            try:
                span_context = trace.SpanContext(
                    trace_id=int(parts[1], 16), span_id=int(parts[2], 16), is_remote=True,
                    trace_flags=trace.TraceFlags(int(parts[3], 16)),
                )
            except ValueError:
                return None
            return span_context if span_context.is_valid else None
    return None


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


def outbox_row(topic: str, key: str, event: envelope.Event) -> dict:
    """The outbox row of one event, ready for a bulk insert."""
    _k, value, headers = envelope.encode(event, key)
    return {
        "event_id": event.id,
        "topic": topic,
        "key": key,
        "ce_type": event.type,
        "headers": orjson.dumps([[n, v.decode()] for n, v in headers]).decode(),
        "payload": value,
        "created_at": datetime.now(timezone.utc),
    }


def add_events(session: Session, rows: list[dict]) -> None:
    """Stages events (from outbox_row) in the caller's transaction; they are written when it commits, with
    every other event of the transaction in one statement."""
    defer_insert(session, OutboxMessage.__table__, rows)


def add_event(session: Session, topic: str, key: str, event: envelope.Event) -> None:
    add_events(session, [outbox_row(topic, key, event)])


def events_since(engine: Engine, topic: str, since: datetime) -> list[tuple[str | None, str]]:
    """(key, ce_type) of the events staged for `topic` from `since` on, published or not (as far back as the
    relay's retention), in commit order: what a process that stopped hearing of changes meanwhile missed."""
    table = OutboxMessage.__table__
    stmt = select(table.c.key, table.c.ce_type).where(table.c.topic == topic, table.c.created_at >= since)
    with engine.connect() as conn:
        return [(key, ce_type) for key, ce_type in conn.execute(stmt.order_by(table.c.id))]


class OutboxRelay:
    """Publishes outbox rows in id order with librdkafka's idempotent producer; marks them when acknowledged."""

    def __init__(
        self,
        engine: Engine,
        bootstrap: str,
        *,
        batch_size: int = 1000,
        idle_interval: float = 0.2,
        linger: float = 0.005,
        retention: timedelta = timedelta(hours=24),
        producer_config: dict | None = None,
        mark_interval: float = 0.0,
    ):
        """`mark_interval`: at least this long between the updates that mark rows published. A relay in a
        process of its own sets it: there each update waits for, and makes wait, the service's writer on SQLite's
        file lock, and a crash between delivery and marking only resends (delivery is at least once)."""
        self.engine = engine
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.linger = linger
        self.retention = retention
        self.producer = make_producer(bootstrap, **(producer_config or {}))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._delivered: list[int] = []
        self._thread: threading.Thread | None = None
        self.mark_interval = mark_interval
        self._last_cleanup = 0.0
        self._last_mark = 0.0
        self._leader_conn = None
        self._leader_file = None
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
        try:
            self._mark_delivered(force=True)
        except Exception:  # left unmarked: sent again by the next relay (at least once)
            log.exception("marking the last published events failed")
        if self._leader_conn is not None:
            self._leader_conn.close()
        if self._leader_file is not None:
            self._leader_file.close()

    def _on_delivery(self, row_id: int) -> Callable:
        def callback(err, _msg):
            with self._lock:
                if err is None:  # stays in flight until marked, so that no pass selects it again
                    self._delivered.append(row_id)
                else:  # left unpublished: picked up again on the next pass
                    self._in_flight.discard(row_id)
                    log.warning("outbox delivery failed, will retry: %s", err)

        return callback

    def _is_leader(self) -> bool:
        """One relay per outbox, so each row is published once. On PostgreSQL several replicas share it: only
        the holder of an advisory lock relays; if it dies its connection closes, the lock is freed and another
        replica takes over. On SQLite the holder of a lock on a file beside the database relays: a relay process
        that outlives its service for a moment leaves the next one waiting, not publishing twice."""
        if self.engine.dialect.name == "sqlite":
            return self._holds_file_lock()
        if self.engine.dialect.name != "postgresql":
            return True
        if self._leader_conn is not None:
            try:
                self._leader_conn.exec_driver_sql("SELECT 1")
                return True
            except Exception:  # lost the connection, hence the lock
                self._leader_conn = None
        try:
            conn = self.engine.connect()
            if conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({OUTBOX_LOCK_KEY})").scalar():
                conn.commit()
                self._leader_conn = conn
                log.info("this replica now relays the outbox")
                return True
            conn.close()
        except Exception:
            log.exception("outbox leadership check failed")
        return False

    def _holds_file_lock(self) -> bool:
        if self._leader_file is None:
            lock_file = lock_file_beside(self.engine.url.database, "relay-lock")
            if lock_file is None:  # in memory: this process's alone
                return True
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock_file.close()
                return False
            self._leader_file = lock_file
            log.info("this process now relays the outbox")
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._is_leader():
                self._stop.wait(self.idle_interval * 10)
                continue
            try:
                sent = self.run_once()
            except Exception:  # database briefly unavailable: keep the relay alive
                log.exception("outbox relay pass failed")
                sent = 0
            if sent < self.batch_size:
                # Idle or a trickle: wait for a commit, then linger briefly so one pass carries many events.
                if self._wake.wait(self.idle_interval if sent == 0 else self.linger):
                    self._stop.wait(self.linger)
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
        table = OutboxMessage.__table__
        stmt = (
            select(table.c.id, table.c.topic, table.c.key, table.c.headers, table.c.payload)
            .where(table.c.published_at.is_(None))
            .order_by(table.c.id)
        )
        if in_flight:
            stmt = stmt.where(table.c.id.not_in(in_flight))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.limit(self.batch_size)).all()
        if not rows:
            return 0
        decoded = [(row_id, topic, key, orjson.loads(headers_json), payload) for row_id, topic, key, headers_json, payload in rows]
        # One "send" span per pass, linked to the context of each event it carries (OpenTelemetry's convention
        # for batch publishing; the SDK keeps 128 links a span); each record keeps the traceparent of the
        # request that caused it.
        links = [
            trace.Link(span_context)
            for *_, headers, _ in decoded[:MAX_LINKS]
            if (span_context := _span_context(headers)) is not None
        ]
        with _tracer.start_as_current_span("outbox send", kind=trace.SpanKind.PRODUCER, links=links) as span:
            span.set_attribute("messaging.system", "kafka")
            span.set_attribute("messaging.batch.message_count", len(decoded))
            with self._lock:
                self._in_flight.update(row[0] for row in decoded)
            for row_id, topic, key, headers, payload in decoded:
                while True:
                    try:
                        self.producer.produce(
                            topic,
                            key=key,
                            value=payload,
                            headers=[(n, v.encode()) for n, v in headers],
                            on_delivery=self._on_delivery(row_id),
                        )
                        break
                    except BufferError:
                        self.producer.poll(0.05)
        self.producer.poll(0)
        return len(decoded)

    def _mark_delivered(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_mark < self.mark_interval:
            return
        self._last_mark = time.monotonic()
        with self._lock:
            ids, self._delivered = self._delivered, []
        if not ids:
            return
        now = datetime.now(timezone.utc)
        table = OutboxMessage.__table__
        try:
            with self.engine.connect() as conn, write_lock(self.engine):
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    conn.execute(update(table).where(table.c.id.in_(chunk)).values(published_at=now))
                conn.commit()
        except Exception:
            with self._lock:  # marked on a later pass; until then still in flight, so not sent again
                self._delivered[:0] = ids
            raise
        with self._lock:
            self._in_flight.difference_update(ids)
        self.published_total += len(ids)

    def _cleanup(self) -> None:
        if time.monotonic() - self._last_cleanup < 60:
            return
        self._last_cleanup = time.monotonic()
        cutoff = datetime.now(timezone.utc) - self.retention
        table = OutboxMessage.__table__
        with self.engine.connect() as conn, write_lock(self.engine):
            conn.execute(delete(table).where(table.c.published_at.is_not(None), table.c.published_at < cutoff))
            conn.commit()
