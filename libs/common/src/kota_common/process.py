"""How every Kota service process starts and stops: settings (fail fast), JSON logs, tracing, metrics, then the app
until SIGTERM/SIGINT, then a graceful stop. Each service's __main__ is one call to run_service()."""

from __future__ import annotations

import gc
import os
import signal
import threading
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
    app = app_factory(settings)
    app.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    app.stop()


def collect_garbage_less_often(young_threshold: int) -> None:
    """For a process that keeps many objects alive across allocations (a consumed batch, a group commit of
    requests): at CPython's default threshold (700 allocations) the cyclic collector scans them again and
    again and finds no garbage. What is alive now (modules, reference data) leaves its sight for good
    (gc.freeze), and young objects are collected per `young_threshold` allocations."""
    gc.freeze()
    gc.set_threshold(young_threshold, *gc.get_threshold()[1:])
