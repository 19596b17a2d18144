"""The write-ahead log is copied back into a SQLite database by the checkpointer thread, not by a commit."""

import os
import sqlite3
import time
from contextlib import closing

import pytest
from sqlalchemy import text

from kota_common.db.engines import make_engine
from kota_common.db.sqlite import WalCheckpointer, write_lock

pytestmark = pytest.mark.integration


def test_the_log_reaches_the_database_file_without_a_checkpoint_in_any_commit(tmp_path):
    path = tmp_path / "c.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
    size_before = path.stat().st_size
    with engine.begin() as conn:  # ~2 MB, far past the 1,000 pages at which a commit would checkpoint
        conn.execute(text("INSERT INTO t (body) VALUES (:b)"), [{"b": "x" * 2000} for _ in range(1000)])
    checkpointer = WalCheckpointer.for_database(str(path))
    deadline = time.monotonic() + 30
    # The file grows while the checkpoint runs, and its count goes up once it has returned: wait for both.
    while (path.stat().st_size < size_before + 1_000_000 or checkpointer.checkpoints < 1) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.stat().st_size >= size_before + 1_000_000  # the rows are in the database file now
    assert checkpointer.checkpoints >= 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1000
    engine.dispose()


def _write_without_pause(engine, seconds: float) -> int:
    """Commits small transactions back to back, as intake under load does: a passive checkpoint never
    finds the log fully copied between two of them."""
    written, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        with write_lock(engine), engine.begin() as conn:
            conn.execute(text("INSERT INTO t (body) VALUES (:b)"), [{"b": "x" * 1000} for _ in range(20)])
        written += 20
    return written


def test_under_sustained_writes_the_log_starts_again_from_the_beginning(tmp_path):
    path = tmp_path / "c.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
    # A second checkpointer on the same file with a small bound (the engine's own has the default, 1 GiB).
    checkpointer = WalCheckpointer(str(path), restart_above=1_000_000)
    checkpointer._thread.start()
    written = _write_without_pause(engine, 3)
    assert checkpointer.restarts >= 1  # while the writes went on: a passive checkpoint alone never restarts it
    grown_to = os.path.getsize(f"{path}-wal")
    restarts = checkpointer.restarts
    deadline = time.monotonic() + 10
    while checkpointer.restarts == restarts and time.monotonic() < deadline:  # the rest, once writes pause
        time.sleep(0.1)
    with write_lock(engine), engine.begin() as conn:  # the first write after a restart starts the log again
        conn.execute(text("INSERT INTO t (body) VALUES ('after')"))
    with closing(sqlite3.connect(path)) as conn:
        log_pages = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    assert log_pages < 10  # one small transaction at the start of the log, not appended after the rest
    assert os.path.getsize(f"{path}-wal") <= grown_to  # the file is reused, not grown
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == written + 1
    os.remove(path)  # ends the checkpointer threads
    engine.dispose()
