"""The service runtime: a service is a list of components, each with start() and stop(), run by one host.

The host starts the components in order and stops them in reverse (a gRPC server stops taking calls before the
subscribers and the relay behind it stop), stops what it started if one fails to start, and reports health: a
component that can be unhealthy has a `health_name`, under which the gRPC health service reports it (e.g.
`kota.events.opendata`), while the service's own names stay SERVING: its API works without the broker.

The pieces every service had written for itself live here once:
- `GrpcServer`: a server with health and reflection (kota_common.grpc_server), SERVING once started;
- `Events`: the topics created when the broker answers (retrying, never blocking start-up), then the event bus;
- `Periodic`: a task every n seconds whose failure is logged and does not end it;
- `ChildProcess`: a child process restarted when it dies, stopped with the service;
- `Hook`: a step at its place in the order (release the database after everything that used it).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from kota_common.eventbus import EventBus
from kota_common.grpc_server import build_server, set_serving

log = logging.getLogger(__name__)


@runtime_checkable
class Component(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


C = TypeVar("C", bound=Component)


def _healthy(component: Component) -> bool:
    check = getattr(component, "healthy", None)
    return check() if callable(check) else True


class ServiceHost:
    """Runs a service's components: start in order, stop in reverse, health from all of them."""

    def __init__(self, name: str, components: Sequence[Component] = (), *, health_interval: float = 2.0):
        self.name = name
        self.components: list[Component] = list(components)
        self.health_interval = health_interval
        self._started: list[Component] = []
        self._stop = threading.Event()

    def add(self, component: C) -> C:
        self.components.append(component)
        return component

    def start(self) -> None:
        for component in self.components:
            try:
                component.start()
            except Exception:
                log.exception("%s: %s failed to start; stopping what started", self.name, component.name)
                self.stop()
                raise
            self._started.append(component)
        threading.Thread(target=self._watch_health, name=f"{self.name}-health", daemon=True).start()

    def healthy(self) -> bool:
        return all(_healthy(c) for c in self._started)

    def unhealthy(self) -> list[str]:
        return [c.name for c in self._started if not _healthy(c)]

    def _watch_health(self) -> None:
        """Each watched component's health under its own name on every gRPC server of the service (a stalled
        consumer shows in probes and `kota up`)."""
        servers = [c for c in self._started if isinstance(c, GrpcServer)]
        watched: list[tuple[str, Component]] = [
            (health_name, c) for c in self._started if (health_name := getattr(c, "health_name", None))
        ]
        last: dict[str, bool] = {}
        while True:
            for health_name, component in watched:
                healthy = _healthy(component)
                if last.get(health_name) != healthy:
                    if not healthy:
                        log.warning("%s: %s is not healthy", self.name, component.name)
                    for server in servers:
                        server.set_health(health_name, healthy)
                    last[health_name] = healthy
            if self._stop.wait(self.health_interval):
                return

    def stop(self) -> None:
        self._stop.set()
        while self._started:
            component = self._started.pop()
            try:
                component.stop()
            except Exception:
                log.exception("%s: stopping %s failed", self.name, component.name)


class GrpcServer:
    """A gRPC server with health and reflection; SERVING from start to stop."""

    def __init__(self, address: str, register: Callable, service_names: Iterable[str], *, grace: float = 5.0,
                 **options):
        self.name = f"grpc {address}"
        self.service_names = list(service_names)
        self.grace = grace
        self.server, self.health, self.port = build_server(address, register, **options)

    def start(self) -> None:
        self.server.start()
        self.set_serving(True)

    def set_serving(self, serving: bool) -> None:
        set_serving(self.health, self.service_names, serving)

    def set_health(self, name: str, serving: bool) -> None:
        from grpc_health.v1 import health_pb2

        status = health_pb2.HealthCheckResponse
        self.health.set(name, status.SERVING if serving else status.NOT_SERVING)

    def stop(self) -> None:
        self.set_serving(False)
        self.server.stop(self.grace).wait()


class Events:
    """The service's topics and its event bus: start() returns at once; a thread creates the topics once the broker
    answers (retrying every `retry_s`), then starts the bus. Healthy once the bus runs its subscribers."""

    def __init__(self, bus: EventBus, topics: Sequence[str], *, replication_factor: int = 1, retry_s: float = 2.0,
                 on_ready: Callable[[], None] | None = None):
        self.name = f"events {bus.service}"
        self.health_name = f"kota.events.{bus.service}"
        self.bus = bus
        self.topics = list(topics)
        self.replication_factor = replication_factor
        self.retry_s = retry_s
        self.on_ready = on_ready
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._setup, name=f"{self.name}-setup", daemon=True)
        self._thread.start()

    def _setup(self) -> None:
        from kota_common.kafka import ensure_topics

        while not self._stop.is_set():
            try:
                ensure_topics(self.bus.bootstrap, self.topics, timeout=10, replication_factor=self.replication_factor)
                break
            except Exception as exc:
                log.warning("broker not ready (%s); retrying", exc)
                self._stop.wait(self.retry_s)
        if self._stop.is_set():
            return
        if self.bus.broker.subscribers:
            self.bus.start()
        if self.on_ready is not None:
            self.on_ready()

    def healthy(self) -> bool:
        """Healthy once the topics exist and the subscribers run (if any)."""
        ready = self._thread is not None and not self._thread.is_alive()
        return ready and (not self.bus.broker.subscribers or self.bus.healthy())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        self.bus.stop()


@dataclass
class Hook:
    """A step at its place in the order: `on_start` when the components before it have started (e.g. lowering the
    process's priority once the children that must not inherit it run), `on_stop` when those after it have
    stopped (e.g. releasing an engine's connections after everything that used them)."""

    name: str
    on_start: Callable[[], object] | None = None
    on_stop: Callable[[], object] | None = None

    def start(self) -> None:
        if self.on_start is not None:
            self.on_start()

    def stop(self) -> None:
        if self.on_stop is not None:
            self.on_stop()


@dataclass
class Periodic:
    """`task()` every `interval_s` seconds on a thread of its own; a failure is logged and the next run comes."""

    name: str
    interval_s: float
    task: Callable[[], object]
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.task()
            except Exception:
                log.exception("%s failed", self.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def die_with_parent() -> None:
    """In a child between fork and exec (Popen's preexec_fn): Linux sends it SIGTERM when the process that started
    it dies, however that dies (a SIGKILL, a crash), so a service's role processes never outlive the service."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


class ChildProcess:
    """A child process (`python -m <module>` with extra environment) restarted when it dies, stopped with the
    service: terminated, then killed if it has not exited within `stop_timeout`. Its output goes to this process's,
    or is appended to `log_path`.

    Restarts back off as Kubernetes' CrashLoopBackOff does: a child that dies within `stable_after_s` of its start
    waits twice as long as the last time before the next one (from `restart_after_s` up to `max_restart_after_s`),
    so that one that cannot start (a bad setting, a port taken) does not spin; one that ran longer starts over
    from `restart_after_s`."""

    def __init__(self, name: str, module: str, env: dict[str, str], *, pass_fds: tuple[int, ...] = (),
                 first_start_env: dict[str, str] | None = None, restart_after_s: float = 2.0,
                 max_restart_after_s: float = 30.0, stable_after_s: float = 60.0,
                 stop_timeout: float = 15.0, argv: Sequence[str] | None = None, log_path: Path | None = None):
        """`pass_fds` and `first_start_env` (e.g. a pipe to say it is ready) go to the first start only."""
        self.name = name
        self.argv = list(argv) if argv is not None else [sys.executable, "-m", module]
        self.env = env
        self.first_start_env = first_start_env or {}
        self.pass_fds = pass_fds
        self.restart_after_s = restart_after_s
        self.max_restart_after_s = max(max_restart_after_s, restart_after_s)
        self.stable_after_s = stable_after_s
        self.next_restart_after_s = restart_after_s
        self.stop_timeout = stop_timeout
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._started_at = 0.0
        self._stop = threading.Event()

    def start(self) -> None:
        self._spawn()
        threading.Thread(target=self._supervise, name=f"{self.name}-supervisor", daemon=True).start()

    def _launch(self, first: bool) -> tuple[dict[str, str], tuple[int, ...]]:
        """The environment and the descriptors of a start (the first, or a restart)."""
        env = {**os.environ, **self.env, **(self.first_start_env if first else {})}
        return env, self.pass_fds if first else ()

    def _spawned(self, first: bool) -> None:
        """Called once a start has spawned the process (a subclass may hand it something)."""

    def _spawn(self) -> None:
        first = self.proc is None
        env, pass_fds = self._launch(first)
        out = open(self.log_path, "ab") if self.log_path else None
        try:
            self.proc = subprocess.Popen(self.argv, env=env, pass_fds=pass_fds, stdout=out,
                                         stderr=subprocess.STDOUT if out else None, preexec_fn=die_with_parent)
        finally:
            if out is not None:
                out.close()  # the child has its own copy
        self._started_at = time.monotonic()
        log.info("started %s process (pid %d)", self.name, self.proc.pid)
        self._spawned(first)

    def _supervise(self) -> None:
        poll_s = min(self.restart_after_s, 0.5)
        while not self._stop.wait(poll_s):
            if self.proc is None or self.proc.poll() is None:
                continue
            ran_s = time.monotonic() - self._started_at
            delay = self.restart_after_s if ran_s >= self.stable_after_s else self.next_restart_after_s
            self.next_restart_after_s = min(delay * 2, self.max_restart_after_s)
            log.warning("%s process exited with %s after %.1f s; restarting it in %.1f s", self.name,
                        self.proc.returncode, ran_s, delay)
            if self._stop.wait(max(delay - poll_s, 0)):
                return
            self.restarts += 1
            self._spawn()

    def healthy(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        """Asks the child to stop (SIGTERM) without waiting: the host stops several children at once."""
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> None:
        self.terminate()
        if self.proc is None:
            return
        deadline = time.monotonic() + self.stop_timeout
        try:
            self.proc.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            log.warning("%s process did not stop; killing it", self.name)
            self.proc.kill()
            self.proc.wait(5)
