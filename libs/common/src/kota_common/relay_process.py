"""The outbox relay in a process of its own, beside the service process that writes the outbox.

A Python process computes on one core at a time (the GIL). Intake's relay (reading events back from the outbox,
producing them, marking them published) took about an eighth of the complaints service's core; in a child
process it runs on another core, and the service's core is left to requests. The service wakes the child
through a pipe after each commit that added events; the pipe closing (the service stopped, or died) stops it.
Which process relays is still decided by the relay's own lock (`OutboxRelay._is_leader`).

    python -m kota_common.relay_process   (started by RelayProcess, configured by KOTA_RELAY_* variables)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kota_common.runtime import ChildProcess
from kota_common.settings import CommonSettings

log = logging.getLogger(__name__)
RESTART_CHECK_S = 2.0


class RelaySettings(BaseSettings):
    """The child's settings, set by RelayProcess; the shared ones (broker, logging, tracing) are inherited."""

    model_config = SettingsConfigDict(env_prefix="KOTA_RELAY_", extra="ignore")

    name: str = Field("outbox-relay", description="the process's name in logs and traces")
    database_url: str
    wake_fd: int = Field(-1, description="read end of the pipe the service writes to after each commit")
    linger_ms: float = Field(25.0, ge=0, le=1000)
    mark_interval_ms: float = Field(250.0, ge=0, le=10_000)
    metrics_address: str = Field("", description="where the relay serves /metrics; none by default (its service "
                                 "reports the outbox backlog)")
    common: CommonSettings = Field(default_factory=CommonSettings)


def beside_this_process() -> set[int]:
    """The CPUs this process is not bound to (KOTA_CPU_AFFINITY), for the relay: on the service's own core it
    would take from the requests what it was moved out to give them. Empty if this process may run anywhere."""
    return set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0)


class RelayProcess(ChildProcess):
    """The service's handle on its relay process: started, restarted if it dies and stopped as any ChildProcess;
    each start gets a new wake-up pipe, and stopping closes the pipe rather than signalling."""

    def __init__(self, name: str, database_url: str, *, linger_ms: float):
        super().__init__(name, "kota_common.relay_process", {
            "KOTA_RELAY_NAME": name, "KOTA_RELAY_DATABASE_URL": database_url, "KOTA_RELAY_LINGER_MS": str(linger_ms),
        }, restart_after_s=RESTART_CHECK_S)
        self._wake_fd = -1
        self._read_fd = self._next_wake_fd = -1  # the new pipe's ends, between _launch and _spawned
        self._fd_lock = threading.Lock()  # a wake-up never goes to a descriptor being replaced

    def notify(self) -> None:
        """Called after a commit that added events. One byte; a full pipe already holds a wake-up."""
        with self._fd_lock:
            if self._wake_fd < 0:  # stopped
                return
            try:
                os.write(self._wake_fd, b"\0")
            except (BlockingIOError, BrokenPipeError):
                pass

    def terminate(self) -> None:
        """Closing the pipe asks the child to publish what it has in hand and exit (stop() then waits for it)."""
        self._stop.set()
        with self._fd_lock:
            if self._wake_fd >= 0:
                os.close(self._wake_fd)
                self._wake_fd = -1

    def _launch(self, first: bool) -> tuple[dict[str, str], tuple[int, ...]]:
        self._read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)  # the writer thread never waits on the relay
        self._next_wake_fd = write_fd
        env = {**os.environ, **self.env, "KOTA_RELAY_WAKE_FD": str(self._read_fd)}
        env.pop("KOTA_CPU_AFFINITY", None)
        if others := beside_this_process():
            env["KOTA_CPU_AFFINITY"] = json.dumps(sorted(others))
        return env, (self._read_fd,)

    def _spawned(self, first: bool) -> None:
        os.close(self._read_fd)
        with self._fd_lock:
            old, self._wake_fd = self._wake_fd, self._next_wake_fd
            if old >= 0:
                os.close(old)
        if not first:
            self.notify()  # what was committed meanwhile


class RelayApp:
    """The child: an OutboxRelay woken by the pipe."""

    def __init__(self, settings: RelaySettings):
        self.settings = settings

    def start(self) -> None:
        from kota_common.db.engines import make_engine
        from kota_common.outbox import OutboxRelay

        s = self.settings
        self.engine = make_engine(s.database_url, pool_size=2)
        self.relay = OutboxRelay(self.engine, s.common.kafka_bootstrap, name=s.name, linger=s.linger_ms / 1000,
                                 mark_interval=s.mark_interval_ms / 1000)
        self.relay.start()
        if s.wake_fd >= 0:
            threading.Thread(target=self._listen, name="wake", daemon=True).start()

    def _listen(self) -> None:
        while os.read(self.settings.wake_fd, 4096):
            self.relay.notify()
        log.info("the service closed the wake-up pipe; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    def stop(self) -> None:
        self.relay.stop()
        self.engine.dispose()


def main() -> None:
    from kota_common.process import run_service

    run_service(os.environ.get("KOTA_RELAY_NAME", "outbox-relay"), RelaySettings, RelayApp)


if __name__ == "__main__":
    main()
