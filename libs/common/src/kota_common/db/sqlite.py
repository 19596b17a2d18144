"""SQLite: one writer at a time (across threads and processes), and its log checkpointed off the writers' path."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, SqliteWriteLock] = weakref.WeakKeyDictionary()


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


def register_write_lock(engine: Engine, database: str | None) -> None:
    """Makes `write_lock(engine)` the lock of `database` (make_engine does it for every SQLite engine)."""
    _WRITE_LOCKS[engine] = SqliteWriteLock.for_database(database)


def write_lock(engine: Engine) -> AbstractContextManager:
    """Serialises writers on SQLite, which allows one at a time (SqliteWriteLock). pysqlite starts a
    transaction at the first write statement, so holding this around flush + commit covers the whole write.
    Other databases get a no-op. Holders must already have their connection (holding_write_lock takes it):
    a writer waiting for a pooled connection while holding the lock would keep out the writers holding the
    connections it waits for."""
    return _WRITE_LOCKS.get(engine) or nullcontext()


@contextmanager
def holding_write_lock(session: Session) -> Iterator[None]:
    """The session's connection, then its engine's write lock, in that order (see write_lock), for as long
    as the block runs: the way every unit of work and event handler writes."""
    session.connection()
    with write_lock(session.get_bind().engine):  # the bind is an Engine (or a Connection: then its engine)
        yield
