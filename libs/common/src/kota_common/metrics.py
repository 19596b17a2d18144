"""OpenTelemetry metrics: one meter provider a process, read by Prometheus at `/metrics`.

Instruments are made with the OpenTelemetry API (`opentelemetry.metrics.get_meter(...)`) wherever they are
counted; `configure_metrics` gives them a provider whose PrometheusMetricReader turns them into Prometheus
series when scraped (names: dots become underscores, the unit a suffix: `rpc.server.duration` in ms is
`rpc_server_duration_milliseconds`). An instrument made before `configure_metrics` (at import) counts from then
on: the API's proxy meter hands it over. Metric names and ports: docs/architecture.md, "Metrics".
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from opentelemetry import metrics
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

OFF = ("", "off")  # metrics are still counted, but served by no HTTP endpoint

# Attributes kept on the HTTP server instruments of opentelemetry-instrumentation-asgi: the route template (in
# http.target under the instrumentation's default semantic conventions, http.route under the stable ones),
# method and status. The Host header, server name and port it also records are chosen by the client: as
# labels they would let anyone create series without bound.
HTTP_SERVER_ATTRIBUTES = {"http.method", "http.request.method", "http.status_code", "http.response.status_code",
                          "http.target", "http.route", "error.type"}

_lock = threading.Lock()
_provider: MeterProvider | None = None


def configure_metrics(service_name: str, address: str | None) -> MeterProvider | None:
    """Sets this process's meter provider (resource service.name, service.namespace=kota) with a Prometheus
    reader, and serves `/metrics` on `address` (host:port; "" or "off": no endpoint, instruments still count).
    Once a process: a later call changes nothing and returns None. A taken port stops the process, as a taken
    gRPC port does."""
    global _provider
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    with _lock:
        if _provider is not None:
            return None
        provider = MeterProvider(
            resource=Resource.create({"service.name": service_name, "service.namespace": "kota"}),
            metric_readers=[PrometheusMetricReader()],
            views=[View(instrument_name="http.server.*", attribute_keys=HTTP_SERVER_ATTRIBUTES)],
            # Prometheus's text format carries no exemplars: none are collected
            exemplar_filter=AlwaysOffExemplarFilter(),
        )
        metrics.set_meter_provider(provider)
        _provider = provider
    serve_metrics(address)
    return provider


def serve_metrics(address: str | None) -> WSGIServer | None:
    """Serves prometheus_client's default registry (where the reader answers) at http://<address>/metrics, from
    a daemon thread; None for "" or "off"."""
    from prometheus_client import start_http_server

    if address is None or address.strip().lower() in OFF:
        return None
    host, _, port = address.rpartition(":")
    try:
        server, _thread = start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0")
    except OSError as exc:
        raise RuntimeError(f"cannot serve metrics on {address}: {exc}") from exc
    log.info("metrics at http://%s/metrics", address)
    return server


def observe_outbox(engine: Engine, service: str) -> None:
    """Registers, for `engine`'s outbox table, the gauges `kota.outbox.backlog` (unpublished rows) and
    `kota.outbox.oldest_age` (seconds since the oldest unpublished row was staged; 0 when there is none),
    attribute kota.service=`service`. They query the database when scraped (one statement: a count and the
    oldest row by the index on published_at, id), not before; a failing query leaves the scrape without them."""
    from sqlalchemy import func, select

    from kota_common.db.tables import table_of
    from kota_common.outbox import OutboxMessage

    table = table_of(OutboxMessage)
    unpublished = table.c.published_at.is_(None)
    oldest = select(table.c.created_at).where(unpublished).order_by(table.c.id).limit(1).scalar_subquery()
    statement = select(func.count(), oldest).select_from(table).where(unpublished)
    attributes = {"kota.service": service}
    # Both gauges come from one query: the first callback of a scrape runs it, the second takes its result.
    last: dict[str, float] = {}
    read_by: set[str] = set()

    def observe(gauge: str):
        def callback(_options):
            if gauge in read_by or not last:
                try:
                    with engine.connect() as conn:
                        count, created_at = conn.execute(statement).one()
                except Exception:
                    log.warning("outbox gauges: the query failed", exc_info=True)
                    last.clear()
                    return []
                last.update(backlog=float(count), oldest_age=_age_s(created_at))
                read_by.clear()
            read_by.add(gauge)
            return [metrics.Observation(last[gauge], attributes)]

        return callback

    meter = metrics.get_meter("kota.outbox")
    meter.create_observable_gauge("kota.outbox.backlog", [observe("backlog")], unit="{event}",
                                  description="outbox rows not yet published")
    meter.create_observable_gauge("kota.outbox.oldest_age", [observe("oldest_age")], unit="s",
                                  description="age of the oldest outbox row not yet published (0: none)")


def _age_s(created_at: datetime | str | None) -> float:
    if created_at is None:
        return 0.0
    if isinstance(created_at, str):  # SQLite without the column's type (a raw scalar subquery)
        created_at = datetime.fromisoformat(created_at)
    if created_at.tzinfo is None:  # stored as UTC without a zone
        created_at = created_at.replace(tzinfo=timezone.utc)
    return max(0.0, (datetime.now(timezone.utc) - created_at).total_seconds())
