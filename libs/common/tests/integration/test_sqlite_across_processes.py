"""A service and its relay process: on another core, one SQLite writer at a time, one relay at a time."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import text

from kota_common.db.engines import make_engine
from kota_common.db.sqlite import write_lock
from kota_common.outbox import OutboxRelay

pytestmark = pytest.mark.integration


def test_the_write_lock_excludes_a_writer_in_another_process(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT)"))
    # The other process takes the lock, says so, and writes "other" only after we have tried to take it.
    other = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from sqlalchemy import text
            from kota_common.db.engines import make_engine
            from kota_common.db.sqlite import write_lock
            engine = make_engine({url!r})
            with write_lock(engine):
                print("locked", flush=True)
                sys.stdin.readline()
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO events (who) VALUES ('other')"))
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert other.stdout.readline().strip() == "locked"
    other.stdin.write("go\n")
    other.stdin.flush()
    with write_lock(engine), engine.begin() as conn:  # waits for the other process to let go
        conn.execute(text("INSERT INTO events (who) VALUES ('this')"))
    assert other.wait(30) == 0
    with engine.connect() as conn:
        assert [w for (w,) in conn.execute(text("SELECT who FROM events ORDER BY seq"))] == ["other", "this"]
    engine.dispose()


def test_one_relay_publishes_a_sqlite_outbox_until_it_stops(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    # The relays are not started: only who may publish is under test (a producer connects lazily).
    first = OutboxRelay(engine, "127.0.0.1:1")
    second = OutboxRelay(engine, "127.0.0.1:1")
    assert first._is_leader()
    assert not second._is_leader()
    first.stop(timeout=1)
    assert second._is_leader()
    second.stop(timeout=1)
    engine.dispose()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs")
def test_the_relay_process_runs_beside_a_pinned_service_not_on_its_core():
    script = ("import os; os.sched_setaffinity(0, {0}); "
              "from kota_common.relay_process import beside_this_process; print(sorted(beside_this_process()))")
    pinned = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(pinned) == list(range(1, os.cpu_count()))
    free = ("import os; os.sched_setaffinity(0, range(os.cpu_count())); "
            "from kota_common.relay_process import beside_this_process; print(sorted(beside_this_process()))")
    assert json.loads(subprocess.run([sys.executable, "-c", free], capture_output=True, text=True, check=True).stdout) == []
