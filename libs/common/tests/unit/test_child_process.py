"""runtime.ChildProcess: the one supervisor of child processes (a service's roles, its relay, `kota up`'s services)."""

import signal
import subprocess
import sys
import time

from kota_common.runtime import ChildProcess


def wait_until(condition, timeout=10.0, what=""):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_child_that_dies_is_started_again_and_its_output_appended_to_its_log(tmp_path):
    log = tmp_path / "child.log"
    child = ChildProcess("short-lived", "", {"GREETING": "started"}, restart_after_s=0.1, log_path=log,
                         argv=[sys.executable, "-c", "import os, sys; print(os.environ['GREETING']); sys.exit(3)"])
    child.start()
    try:
        wait_until(lambda: child.restarts >= 2, what=f"two restarts (log: {log.read_text() if log.exists() else ''})")
        wait_until(lambda: log.read_text().count("started") >= 3, what=f"three starts logged: {log.read_text()!r}")
    finally:
        child.stop()


def test_stop_ends_a_child_that_keeps_running_and_it_is_not_restarted(tmp_path):
    child = ChildProcess("long-lived", "", {}, restart_after_s=0.1, log_path=tmp_path / "child.log",
                         argv=[sys.executable, "-c", "import time; time.sleep(60)"])
    child.start()
    assert child.healthy()
    child.stop()
    assert child.proc.returncode is not None and not child.healthy()
    time.sleep(0.3)
    assert child.restarts == 0 and child.proc.returncode is not None


def test_a_child_that_keeps_dying_at_start_waits_twice_as_long_each_time_up_to_the_ceiling(tmp_path):
    child = ChildProcess("crashing", "", {}, restart_after_s=0.1, max_restart_after_s=0.4, log_path=tmp_path / "c.log",
                         argv=[sys.executable, "-c", "import sys; sys.exit(1)"])
    delays = []
    child.start()
    try:
        for _ in range(4):
            restarts = child.restarts
            wait_until(lambda: child.restarts > restarts, what="a restart")  # noqa: B023
            delays.append(child.next_restart_after_s)
    finally:
        child.stop()
    assert delays == [0.2, 0.4, 0.4, 0.4]  # the wait before each next restart


def test_a_child_that_ran_long_enough_restarts_after_the_shortest_wait(tmp_path):
    child = ChildProcess("stable", "", {}, restart_after_s=0.1, max_restart_after_s=5, stable_after_s=0.0,
                         log_path=tmp_path / "c.log", argv=[sys.executable, "-c", "import sys; sys.exit(1)"])
    child.start()
    try:
        wait_until(lambda: child.restarts >= 3, timeout=5, what="three quick restarts")
    finally:
        child.stop()


def test_a_child_ends_when_its_parent_is_killed_however_it_dies(tmp_path):
    import os
    import signal
    import subprocess

    parent = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from kota_common.runtime import ChildProcess\n"
        "child = ChildProcess('sleeper', '', {}, argv=[sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "child.start()\n"
        "print(child.proc.pid, flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)  # no chance to stop its children
        parent.wait(10)

        def gone() -> bool:
            try:
                os.kill(child_pid, 0)
            except ProcessLookupError:
                return True
            with open(f"/proc/{child_pid}/stat") as stat:  # a zombie until init reaps it: ended all the same
                return stat.read().split()[2] == "Z"

        wait_until(gone, what=f"child {child_pid} to end with its parent")
    finally:
        parent.kill()


STOPPABLE = """
import sys, time
from kota_common.process import StopSignal
stop = StopSignal()
print("waiting", flush=True)
assert stop.wait()
time.sleep(0.5)  # a stop in progress, while more signals come
print("stopped", flush=True)
"""


def test_a_burst_of_stop_signals_stops_a_process_once_and_never_hangs_it():
    """The stop a service waits for (run_service): signals coming faster than the first is handled end the wait
    once (an Event set from the handler deadlocked here when a second signal arrived inside set())."""
    proc = subprocess.Popen([sys.executable, "-c", STOPPABLE], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "waiting"
        for _ in range(200):
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert (proc.returncode, out.strip()) == (0, "stopped")
