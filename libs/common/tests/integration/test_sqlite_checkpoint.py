"""The write-ahead log is copied back into a SQLite database by the checkpointer thread, not by a commit."""

import time

import pytest
from sqlalchemy import text

from kota_common.db import WalCheckpointer, make_engine

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
