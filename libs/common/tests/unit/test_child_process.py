"""runtime.ChildProcess: the one supervisor of child processes (a service's roles, its relay, `kota up`'s services)."""

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
    finally:
        child.stop()
    wait_until(lambda: log.read_text().count("started") >= 3, what=f"three starts logged: {log.read_text()!r}")


def test_stop_ends_a_child_that_keeps_running_and_it_is_not_restarted(tmp_path):
    child = ChildProcess("long-lived", "", {}, restart_after_s=0.1, log_path=tmp_path / "child.log",
                         argv=[sys.executable, "-c", "import time; time.sleep(60)"])
    child.start()
    assert child.healthy()
    child.stop()
    assert child.proc.returncode is not None and not child.healthy()
    time.sleep(0.3)
    assert child.restarts == 0 and child.proc.returncode is not None
