"""How every Kota service process starts and stops: settings (fail fast), JSON logs, tracing, metrics, then the app
until SIGTERM/SIGINT, then a graceful stop. Each service's __main__ is one call to run_service()."""

from __future__ import annotations

import faulthandler
import gc
import os
import select
import signal
import socket
from collections.abc import Callable
from typing import Any

from pydantic_settings import BaseSettings

from kota_common.logging import configure_logging
from kota_common.metrics import configure_metrics
from kota_common.settings import CommonSettings, load_settings
from kota_common.telemetry import configure_tracing


def run_service(
    name: str,
    settings_class: type[BaseSettings],
    app_factory: Callable[[Any], Any],
    metrics_address: Callable[[Any], str] = lambda settings: settings.metrics_address,
) -> None:
    """`settings_class` has the shared settings as its `common` field (CommonSettings).
    `app_factory(settings)` returns an object with start() and stop(); it is imported lazily by the caller
    so that logging, tracing and metrics are configured before the service's modules load.
    `metrics_address(settings)`: where this process serves /metrics (by default the metrics_address setting)."""
    settings = load_settings(settings_class)
    common = getattr(settings, "common", None)
    if not isinstance(common, CommonSettings):
        raise TypeError(f"{settings_class.__name__} has no `common: CommonSettings` field")
    if common.cpu_affinity:  # before any thread starts: threads inherit it
        os.sched_setaffinity(0, common.cpu_affinity)
    configure_logging(name, common.log_level, common.log_json)
    configure_tracing(f"kota-{name}")
    configure_metrics(f"kota-{name}", metrics_address(settings))
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: every thread's stack, to stderr
    stop_signal = StopSignal()  # before start: a SIGTERM while starting stops the service once it has started
    app = app_factory(settings)
    app.start()
    stop_signal.wait()
    app.stop()


class StopSignal:
    """SIGTERM or SIGINT, awaited by the main thread without a lock in the signal handler: the handlers do nothing
    in Python, and the interpreter writes each signal's number to a wake-up socket that `wait` reads. (An Event set
    from the handler deadlocked: a second SIGTERM arriving while the first handler's set() held the Event's lock
    ran the handler again on the same thread, which waited for that lock for ever.) Signals after the first are
    ignored, so a stop in progress is not interrupted."""

    def __init__(self) -> None:
        self._reader, writer = socket.socketpair()
        writer.setblocking(False)
        self._writer = writer
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def wait(self, timeout: float | None = None) -> bool:
        """Whether one of the signals has arrived (since construction), waiting up to `timeout` s (None: until
        one does)."""
        ready, _, _ = select.select([self._reader], [], [], timeout)
        return bool(ready)


def collect_garbage_less_often(young_threshold: int) -> None:
    """For a process that keeps many objects alive across allocations (a consumed batch, a group commit of
    requests): at CPython's default threshold (700 allocations) the cyclic collector scans them again and
    again and finds no garbage. What is alive now (modules, reference data) leaves its sight for good
    (gc.freeze), and young objects are collected per `young_threshold` allocations."""
    gc.freeze()
    gc.set_threshold(young_threshold, *gc.get_threshold()[1:])
