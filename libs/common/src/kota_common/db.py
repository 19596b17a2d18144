"""Database engines and Alembic migrations. SQLite files under var/ by default, PostgreSQL by URL."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, event, insert, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session
from sqlmodel import create_engine
from sqlmodel.sql.sqltypes import UTCDateTime

log = logging.getLogger(__name__)
_WRITE_LOCKS: dict[int, AbstractContextManager] = {}
_DEFERRED = "kota_deferred_inserts"
_NOTIFY = "kota_deferred_notifications"


class WalCheckpointer:
    """Copies a SQLite database's write-ahead log back into the database from a thread of its own.

    SQLite otherwise checkpoints inside the commit that crosses 1,000 log pages, and that commit then waits for
    the copy and its fsyncs while every writer queues behind it: the intake bench measured 15-20% more
    submissions a second with the checkpoint moved off the write path. A passive checkpoint runs beside
    writers and readers; once it has copied everything, the next writer starts the log from the beginning, so
    it stays small. One thread per database file and process; it ends when the file is deleted.

    Under sustained writes a passive checkpoint never catches up (writers append while it copies), so the log
    never starts again from the beginning: it grew by about 50 MB a second in the intake bench's closed loop,
    without bound. Once it holds more than `restart_above` bytes, the checkpointer catches up with passive
    passes, then takes the database's write lock for a RESTART checkpoint, which copies the little that is
    left; the next writer starts the log from the beginning and reuses the file. Writers wait for that copy
    (12-40 ms measured), readers holding an older snapshot are waited for up to `RESTART_WAIT_MS` (else it
    tries again next round). The bound is high because each restart is such a pause: at 64 MB, restarts every
    few seconds took p99 at 500/s from 16 to about 50 ms. The file is not truncated (a writer truncating a log
    of 500 MB stalled intake for 300 ms): it keeps its high-water size, at most about `restart_above`."""

    INTERVAL_S = 0.5
    RESTART_ABOVE_BYTES = 1024 * 1024 * 1024
    RESTART_WAIT_MS = 200
    CATCH_UP_PASSES, CATCH_UP_PAGES = 8, 64
    _running: dict[str, WalCheckpointer] = {}
    _guard = threading.Lock()

    def __init__(self, path: str, restart_above: int = RESTART_ABOVE_BYTES):
        self.path = path
        self.restart_above = restart_above
        self.checkpoints = 0
        self.restarts = 0
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    @classmethod
    def for_database(cls, database: str) -> WalCheckpointer:
        path = str(Path(database).resolve())
        with cls._guard:
            running = cls._running.get(path)
            if running is None or not running._thread.is_alive():
                running = cls._running[path] = cls(path)
                running._thread.start()
            return running

    def _run(self) -> None:
        conn, existed = None, False
        try:
            while True:
                time.sleep(self.INTERVAL_S)
                if not os.path.exists(self.path):
                    if existed:  # deleted (a test's temporary database)
                        return
                    continue  # not created yet: the first connection creates it
                existed = True
                if conn is None:
                    conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                try:
                    _busy, log_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                    if log_pages * page_size > self.restart_above:
                        for _ in range(self.CATCH_UP_PASSES):  # until little is left to copy under the lock
                            if log_pages - copied <= self.CATCH_UP_PAGES:
                                break
                            _busy, log_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        self._restart(conn)
                except sqlite3.Error as exc:  # busy or being replaced: the next round tries again
                    log.debug("checkpoint of %s skipped: %s", self.path, exc)
        finally:
            if conn is not None:
                conn.close()
            with self._guard:
                if self._running.get(self.path) is self:
                    del self._running[self.path]

    def _restart(self, conn: sqlite3.Connection) -> None:
        with SqliteWriteLock.for_database(self.path):
            conn.execute(f"PRAGMA busy_timeout={self.RESTART_WAIT_MS}")
            try:
                busy, _log_pages, _copied = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            finally:
                conn.execute("PRAGMA busy_timeout=30000")
        if busy:
            log.debug("log of %s not restarted: a reader held an older snapshot", self.path)
        else:
            self.restarts += 1


def lock_file_beside(database: str | None, name: str) -> TextIO | None:
    """The file beside a SQLite database whose flock stands for `name` (write-lock, relay-lock), opened for
    as long as the caller holds it; None for an in-memory database, which no other process can open."""
    if not database or database == ":memory:":
        return None
    return open(f"{database}.{name}", "a")


class SqliteWriteLock:
    """One writer at a time on a SQLite database, across the threads of a process (a lock) and across
    processes (an flock on a file beside the database: a service and its relay process). A waiter is woken
    when the holder lets go, where SQLite's own busy handler sleeps 1, 2, 5, 10... ms between retries. (With
    the relay process marking rows every 250 ms, the intake bench measured no difference in throughput either
    way: two alternating pairs.)"""

    _by_path: dict[str, SqliteWriteLock] = {}
    _guard = threading.Lock()

    @classmethod
    def for_database(cls, database: str | None) -> SqliteWriteLock:
        """One per database file and process, whatever the number of engines on it."""
        if not database or database == ":memory:":
            return cls(None)
        path = str(Path(database).resolve())
        with cls._guard:
            if path not in cls._by_path:
                cls._by_path[path] = cls(path)
            return cls._by_path[path]

    def __init__(self, database: str | None):
        self._threads = threading.Lock()
        self._file = lock_file_beside(database, "write-lock")  # open for the process's life

    def __enter__(self) -> None:
        self._threads.acquire()
        if self._file is not None:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX)
            except BaseException:
                self._threads.release()
                raise

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._threads.release()


def write_lock(engine: Engine) -> AbstractContextManager:
    """Serialises writers on SQLite, which allows one at a time (SqliteWriteLock). pysqlite starts a
    transaction at the first write statement, so holding this around flush + commit covers the whole write.
    Other databases get a no-op. Take a connection (session.connection()) before the lock, never the other
    way round."""
    return _WRITE_LOCKS.get(id(engine)) or nullcontext()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Statement parameters never appear in errors (hide_parameters): they can be a citizen's name or contact,
    and errors get logged."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        checkpointer = WalCheckpointer.for_database(parsed.database) if parsed.database not in (None, "", ":memory:") else None
        # SQLite connections are cheap; a pool smaller than the worker threads would only add waiting.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=64, max_overflow=64,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL: readers never block the writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if checkpointer is not None:  # the checkpointer thread does it, off the writers' path
                cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        _WRITE_LOCKS[id(engine)] = SqliteWriteLock.for_database(parsed.database)
        return engine
    # Timestamps are stored as UTC without a zone: the session's zone must be UTC whatever the server's is.
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"},
        hide_parameters=True,
    )


def upgrade_to_head(url: str, migrations_dir: Path) -> None:
    """Runs the service's Alembic migrations up to head (idempotent; safe at every start)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(cfg, "head")


def defer_insert(session: Session, table: Table, rows: list[dict]) -> None:
    """Queues rows to be inserted when the session commits: one statement per table for every row queued in
    the transaction, so a group commit of many use cases costs a few statements, not a few per use case.
    Tables are written in the order they were first queued (parents before children). Rows of one table
    must have the same keys."""
    if rows:
        session.info.setdefault(_DEFERRED, {}).setdefault(table, []).extend(rows)


def deferred_rows(session: Session, table: Table) -> list[dict]:
    """Rows queued for `table` in this transaction and not yet written (reads that must see them look here)."""
    return session.info.get(_DEFERRED, {}).get(table, [])


def flush_deferred(session: Session) -> None:
    """Writes the queued rows now: before a statement that must see them (an UPDATE or a read of the table)."""
    pending = session.info.pop(_DEFERRED, None)
    if pending:
        conn = session.connection()
        for table, rows in pending.items():
            insert_many(conn, table, rows)


def bind_processor(column_type, dialect) -> Callable | None:
    """What SQLAlchemy does to a parameter of `column_type` before the driver gets it. For a UTC timestamp on
    SQLite, the same text written directly: SQLAlchemy's formats it through a dict, and intake binds about
    fifteen timestamps a submission (a test holds the two equal)."""
    if dialect.name == "sqlite" and isinstance(column_type, UTCDateTime):
        return _sqlite_utc_text
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"a timestamp must be a datetime with timezone information, not {value!r}")
    if value.tzinfo is not timezone.utc:  # Kota makes them in UTC: most need no conversion
        value = value.astimezone(timezone.utc)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


_INSERT_PLANS: dict[tuple, tuple[str, tuple[str, ...] | None, dict[str, Callable]] | None] = {}


def insert_many(conn: Connection, table: Table, rows: list[dict]) -> None:
    """Inserts rows that all have the same keys, as one executemany of a statement compiled once per table and
    key set, each value converted by its column's bind processor here. `conn.execute(insert(table), rows)`
    rebuilds every row's parameters through the compiler: per row, that cost more than SQLite's own work."""
    keys = tuple(rows[0])
    plan_key = (conn.dialect.name, conn.dialect.driver, table, keys)
    if plan_key not in _INSERT_PLANS:
        _INSERT_PLANS[plan_key] = _insert_plan(conn.dialect, table, keys)
    plan = _INSERT_PLANS[plan_key]
    if plan is None:  # a column default the statement computes, or escaped names: SQLAlchemy's way
        conn.execute(insert(table), rows)
        return
    sql, positions, processors = plan
    if processors:
        rows = [{**row, **{k: p(row[k]) for k, p in processors.items()}} for row in rows]
    if positions is None:
        conn.exec_driver_sql(sql, rows)
    else:
        conn.exec_driver_sql(sql, [tuple(row[k] for k in positions) for row in rows])


def _insert_plan(dialect, table: Table, keys: tuple[str, ...]):
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    positions = tuple(compiled.positiontup) if compiled.positiontup is not None else None
    if compiled.insert_prefetch or compiled.escaped_bind_names or sorted(positions or compiled.binds) != sorted(keys):
        return None
    processors = {key: p for key in keys if (p := bind_processor(table.c[key].type, dialect)) is not None}
    return str(compiled), positions, processors


class DriverStatement:
    """A Core statement compiled once per dialect and run straight on the driver's cursor of the caller's
    connection (so inside its transaction), with the columns' bind and result processors applied here. For a
    statement on a hot path: SQLAlchemy's per-execution work (building the statement, its cache key, the
    parameters, the result object) cost more than SQLite's own for an indexed lookup or a one-row update."""

    def __init__(self, statement):
        self.statement = statement
        self._plans: dict[tuple[str, str], list] = {}

    def rows(self, conn: Connection, params: dict) -> list[tuple]:
        """The rows a SELECT finds."""
        cursor, plan = self._execute(conn, params)
        try:
            found = cursor.fetchall()
            result_processors = plan[4]
            if result_processors is None:  # the driver's column types are known once a query has run
                result_processors = plan[4] = self._result_processors(conn.dialect, cursor.description)
        finally:
            cursor.close()
        if result_processors:
            found = [tuple(p(v) if p else v for p, v in zip(result_processors, row, strict=True)) for row in found]
        return found

    def execute(self, conn: Connection, params: dict) -> int:
        """Runs an INSERT, UPDATE or DELETE; the number of rows it changed."""
        cursor, _plan = self._execute(conn, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def _execute(self, conn: Connection, params: dict):
        dialect = conn.dialect
        plan = self._plans.get((dialect.name, dialect.driver)) or self._plan(dialect)
        sql, positions, fixed, bind_processors, _result_processors = plan
        values = dict(fixed)
        for key, value in params.items():
            processor = bind_processors.get(key)
            values[key] = processor(value) if processor else value
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, values if positions is None else tuple(values[k] for k in positions))
        except BaseException:
            cursor.close()
            raise
        return cursor, plan

    def _plan(self, dialect) -> list:
        compiled = self.statement.compile(dialect=dialect)
        bind_processors, fixed = {}, {}
        for name, bind in compiled.binds.items():
            processor = bind_processor(bind.type, dialect)
            if bind.required:
                if processor is not None:
                    bind_processors[name] = processor
            else:  # a literal: its value is part of the statement
                fixed[name] = processor(bind.value) if processor else bind.value
        positions = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        plan = self._plans[(dialect.name, dialect.driver)] = [str(compiled), positions, fixed, bind_processors, None]
        return plan

    def _result_processors(self, dialect, description) -> list:
        processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, column_description[1])
            for column, column_description in zip(self.statement.selected_columns, description, strict=True)
        ]
        return processors if any(processors) else []


def defer_notify(session: Session, channel: str, payloads: Iterable[str]) -> None:
    """PostgreSQL: NOTIFY `channel` with each payload when the transaction commits (one statement for all), so
    that every process LISTENing on the database hears of the change once it is durable, and never of a change
    rolled back. Elsewhere (SQLite: one process) nothing happens and `payloads` is not even iterated."""
    if session.get_bind().dialect.name == "postgresql":
        session.info.setdefault(_NOTIFY, {}).setdefault(channel, []).extend(payloads)


@event.listens_for(Session, "before_commit")
def _write_deferred_before_commit(session: Session) -> None:
    flush_deferred(session)
    notifications = session.info.pop(_NOTIFY, None)
    if notifications:
        conn = session.connection()
        for channel, payloads in notifications.items():
            if payloads:
                conn.execute(text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p"),
                             {"channel": channel, "payloads": payloads})


@event.listens_for(Session, "after_soft_rollback")
def _drop_deferred_on_rollback(session: Session, _previous_transaction) -> None:
    session.info.pop(_DEFERRED, None)
    session.info.pop(_NOTIFY, None)


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (any driver suffix) as the conninfo psycopg.connect takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class NotificationListener:
    """LISTENs on a PostgreSQL channel from a thread of its own and calls `on_notify(payload)` for each
    notification, in commit order. After losing the database it reconnects (backing off up to 10 s); what was
    notified while it was away is not replayed by PostgreSQL: `on_reconnect(since)`, once listening again, is
    told when the lost connection was last known to be alive, so that the caller can catch up from its own
    records (e.g. the outbox)."""

    name = "update listener"

    def __init__(self, url: str, channel: str, on_notify, on_reconnect: Callable[[datetime], None] | None = None):
        self.conninfo = libpq_conninfo(url)
        self.channel = channel
        self.on_notify = on_notify
        self.on_reconnect = on_reconnect
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)

    def start(self) -> NotificationListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg
        from psycopg import sql

        backoff = 0.5
        alive_at: datetime | None = None  # when the current (or lost) connection was last known to listen
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    backoff = 0.5
                    if alive_at is not None and self.on_reconnect is not None:
                        try:
                            self.on_reconnect(alive_at)
                        except Exception:
                            log.exception("catching up after reconnecting to %s failed", self.channel)
                    while not self._stop.is_set():
                        alive_at = datetime.now(timezone.utc)
                        for notification in conn.notifies(timeout=1.0):
                            try:
                                self.on_notify(notification.payload)
                            except Exception:
                                log.exception("handling a notification on %s failed", self.channel)
            except Exception as exc:
                log.warning("listening on %s: %s; reconnecting in %.1f s", self.channel, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
