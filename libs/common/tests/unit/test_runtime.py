"""The service runtime (kota_common.runtime): components start in order and stop in reverse, a failed start stops
what had started, a watched component's health is reported under its own name, periodic tasks survive failures."""

from __future__ import annotations

import threading

import pytest

from kota_common.runtime import Hook, Periodic, ServiceHost
from kota_common.testing import wait_until


class Recorded:
    def __init__(self, name: str, journal: list[str], *, fail_start: bool = False):
        self.name = name
        self.journal = journal
        self.fail_start = fail_start

    def start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.journal.append(f"start {self.name}")

    def stop(self) -> None:
        self.journal.append(f"stop {self.name}")


def test_components_start_in_order_and_stop_in_reverse():
    journal: list[str] = []
    host = ServiceHost("test", [Recorded(n, journal) for n in ("database", "relay", "grpc")])
    host.start()
    host.stop()
    assert journal == ["start database", "start relay", "start grpc", "stop grpc", "stop relay", "stop database"]


def test_a_component_that_fails_to_start_stops_those_started_before_it():
    journal: list[str] = []
    host = ServiceHost("test", [Recorded("database", journal), Recorded("relay", journal, fail_start=True),
                                Recorded("grpc", journal)])
    with pytest.raises(RuntimeError, match="relay cannot start"):
        host.start()
    assert journal == ["start database", "stop database"]


def test_a_hook_runs_at_its_place_in_the_order():
    journal: list[str] = []
    host = ServiceHost("test", [Hook("database", on_stop=lambda: journal.append("dispose")), Recorded("grpc", journal)])
    host.start()
    host.stop()
    assert journal == ["start grpc", "stop grpc", "dispose"]


def test_a_watched_component_s_health_is_reported_under_its_name():
    from kota_common import runtime

    reported: dict[str, bool] = {}

    class Server(runtime.GrpcServer):  # the host reports health on its GrpcServers: this one only records it
        def __init__(self):
            self.name = "grpc"

        def start(self):
            pass

        def stop(self):
            pass

        def set_health(self, name: str, serving: bool) -> None:
            reported[name] = serving

    class Watched:
        name = "events"
        health_name = "kota.events.test"
        ok = False

        def start(self):
            pass

        def stop(self):
            pass

        def healthy(self) -> bool:
            return self.ok

    watched = Watched()
    host = ServiceHost("test", [watched, Server()], health_interval=0.05)
    host.start()
    try:
        wait_until(lambda: reported.get("kota.events.test") is False, timeout=5, what="NOT_SERVING reported")
        assert not host.healthy() and host.unhealthy() == ["events"]
        watched.ok = True
        wait_until(lambda: reported.get("kota.events.test") is True, timeout=5, what="SERVING reported")
        assert host.healthy()
    finally:
        host.stop()


def test_a_periodic_task_that_fails_runs_again():
    runs: list[int] = []
    again = threading.Event()

    def task() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise ValueError("first run fails")
        again.set()

    periodic = Periodic("flaky", 0.01, task)
    periodic.start()
    try:
        assert again.wait(5), f"ran {len(runs)} time(s)"
    finally:
        periodic.stop()
