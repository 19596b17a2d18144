"""Transactional outbox: events are written with the change, in the same transaction, and a relay publishes them.

An accepted request is therefore never lost when the broker is down: it waits in the table until the relay
gets it onto the topic. Delivery is at least once (a crash between delivery and marking can resend);
consumers are idempotent by ce_id.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import TextIO

import orjson
from aiokafka.errors import KafkaTimeoutError
from opentelemetry import trace
from sqlalchemy import Column, Index, LargeBinary, delete, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, Session, SQLModel

from kota_common import envelope
from kota_common.db.deferred import defer_insert
from kota_common.db.sqlite import lock_file_beside, write_lock
from kota_common.db.tables import table_of
from kota_common.eventbus import EventBus

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("kota.outbox")
MAX_LINKS = 128  # the OpenTelemetry SDK's default span link limit
OUTBOX_LOCK_KEY = 0x6B6F7461  # "kota": the advisory lock whose holder relays a database's outbox
# aiokafka holds one batch a partition while another is in flight and makes `send` wait when it is full: room for
# a whole pass (about 1 KiB an event before compression), so a pass is handed over without waiting on the broker.
RELAY_PRODUCER_OPTIONS = {"max_batch_size": 1 << 20}
SEND_TIMEOUT_S = 60.0  # longer than aiokafka's request timeout (40 s), after which a waiting send gives up


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
    defer_insert(session, table_of(OutboxMessage), rows)


def add_event(session: Session, topic: str, key: str, event: envelope.Event) -> None:
    add_events(session, [outbox_row(topic, key, event)])


def events_since(engine: Engine, topic: str, since: datetime) -> list[tuple[str | None, str]]:
    """(key, ce_type) of the events staged for `topic` from `since` on, published or not (as far back as the
    relay's retention), in commit order: what a process that stopped hearing of changes meanwhile missed."""
    table = table_of(OutboxMessage)
    stmt = select(table.c.key, table.c.ce_type).where(table.c.topic == topic, table.c.created_at >= since)
    with engine.connect() as conn:
        return [(key, ce_type) for key, ce_type in conn.execute(stmt.order_by(table.c.id))]


class OutboxRelay:
    """Publishes outbox rows in id order through FastStream on aiokafka; marks them when the broker acknowledged.

    The producer has acks="all" without idempotence (aiokafka's idempotent producer fails against Tansu): a retry
    may write a record twice, which the at-least-once contract allows (consumers deduplicate by ce_id)."""

    def __init__(
        self,
        engine: Engine,
        bootstrap: str,
        *,
        name: str = "outbox-relay",
        batch_size: int = 1000,
        idle_interval: float = 0.2,
        linger: float = 0.005,
        retention: timedelta = timedelta(hours=24),
        producer_options: dict | None = None,
        mark_interval: float = 0.0,
    ):
        """`mark_interval`: at least this long between the updates that mark rows published. A relay in a
        process of its own sets it: there each update waits for, and makes wait, the service's writer on SQLite's
        file lock, and a crash between delivery and marking only resends (delivery is at least once).
        `producer_options`: aiokafka producer settings over the EventBus's and RELAY_PRODUCER_OPTIONS."""
        self.name = name
        self.engine = engine
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.linger = linger
        self.retention = retention
        # Publisher only, without FastStream's telemetry middleware: the relay makes one span a pass, and each
        # record goes out with the headers (traceparent included) stored with it.
        self.bus = EventBus(bootstrap, name, telemetry=False, **(RELAY_PRODUCER_OPTIONS | (producer_options or {})))
        self._confirming: set[asyncio.Task] = set()  # on the bus's loop only
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._delivered: list[int] = []
        self._thread: threading.Thread | None = None
        self.mark_interval = mark_interval
        self._last_cleanup = 0.0
        self._last_mark = 0.0
        self._leader_conn: Connection | None = None
        self._leader_file: TextIO | None = None
        self.published_total = 0

    def notify(self) -> None:
        """Called after a commit that added events, so they go out without waiting for the next poll."""
        self._wake.set()

    def start(self) -> None:
        self.bus.start()  # connects in the background (retrying); rows wait in the table meanwhile
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
        self._flush(min(timeout, 5.0))
        try:
            self._mark_delivered(force=True)
        except Exception:  # left unmarked: sent again by the next relay (at least once)
            log.exception("marking the last published events failed")
        self.bus.stop(timeout)
        if self._leader_conn is not None:
            self._leader_conn.close()
        if self._leader_file is not None:
            self._leader_file.close()

    def _flush(self, timeout: float) -> None:
        """Waits (up to `timeout`) for the broker to answer for every record handed to it."""
        if self._thread is None:  # never started: nothing handed over
            return

        async def confirmed() -> None:
            if self._confirming:
                await asyncio.wait(set(self._confirming), timeout=timeout)

        try:
            self.bus.call(confirmed(), timeout + 1.0)
        except Exception:
            log.warning("waiting for the last deliveries failed", exc_info=True)

    def _settle(self, delivered: list[int], failed: list[int], error: BaseException | None) -> None:
        with self._lock:  # delivered rows stay in flight until marked, so that no pass selects them again
            self._delivered.extend(delivered)
            self._in_flight.difference_update(failed)  # left unpublished: picked up again on a later pass
        if failed:
            log.warning("outbox delivery of %d event(s) failed, will retry: %s", len(failed), error)

    async def _send(self, rows: list[tuple[int, str, str | None, list[list[str]], bytes]]) -> None:
        """On the bus's loop: hands every row of a pass to the producer in id order, without waiting for the
        broker; a task settles them when it answers. A refused row is left to a later pass; so is the rest of the
        pass once the producer's buffer stayed full until the request timeout (no use waiting that long a row)."""
        publish = self.bus.broker.publish
        ids: list[int] = []
        futures: list[asyncio.Future] = []
        for index, (row_id, topic, key, headers, payload) in enumerate(rows):
            record_headers = dict(headers)  # last over FastStream's own: the stored content-type wins
            try:
                futures.append(await publish(
                    payload, topic, key=key.encode() if key is not None else None, headers=record_headers,
                    correlation_id=record_headers.get("ce_id"), no_confirm=True,
                ))
            except KafkaTimeoutError as exc:  # the producer's buffer stayed full: the broker is slow or away
                self._settle([], [row[0] for row in rows[index:]], exc)
                break
            except Exception as exc:  # this record refused (too large, ...): the rest go on
                self._settle([], [row_id], exc)
                continue
            ids.append(row_id)
        if futures:
            task = asyncio.ensure_future(self._confirm(ids, futures))
            self._confirming.add(task)
            task.add_done_callback(self._confirming.discard)

    async def _confirm(self, ids: list[int], futures: list[asyncio.Future]) -> None:
        results = await asyncio.gather(*futures, return_exceptions=True)
        delivered, failed, error = [], [], None
        for row_id, result in zip(ids, results, strict=True):
            if isinstance(result, BaseException):
                failed.append(row_id)
                error = error or result
            else:
                delivered.append(row_id)
        self._settle(delivered, failed, error)

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
        self._mark_delivered()
        self._cleanup()
        if not self.bus.healthy():  # not connected (yet): the rows wait in the table
            return 0
        with self._lock:
            in_flight = set(self._in_flight)
        if len(in_flight) >= self.batch_size * 10:  # broker is slow or away: don't pile up more
            self._stop.wait(0.1)
            return 0
        table = table_of(OutboxMessage)
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
            try:  # one hand-over to the loop a pass
                self.bus.call(self._send(decoded), SEND_TIMEOUT_S)
            except concurrent.futures.TimeoutError:  # still waiting on the loop, where it settles its rows itself
                log.warning("outbox pass of %d event(s) still waiting for the producer", len(decoded))
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
        table = table_of(OutboxMessage)
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
        table = table_of(OutboxMessage)
        with self.engine.connect() as conn, write_lock(self.engine):
            conn.execute(delete(table).where(table.c.published_at.is_not(None), table.c.published_at < cutoff))
            conn.commit()
