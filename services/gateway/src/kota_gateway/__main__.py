"""`python -m kota_gateway` (or `kota-gateway`): serves HTTP on KOTA_GATEWAY_HTTP_ADDRESS until SIGTERM/SIGINT."""

from __future__ import annotations

from kota_common.logging import configure_logging
from kota_common.metrics import configure_metrics
from kota_common.settings import load_settings
from kota_common.telemetry import configure_tracing
from kota_gateway.config import GatewaySettings


def build_asgi(settings: GatewaySettings):
    """The app wrapped in OpenTelemetry's ASGI middleware: every request is a server span whose context
    travels to the services in gRPC metadata (traceparent) and from there onto their events, and is recorded
    in `http.server.duration` (ms) under its route template (in http.target), method and status code."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    from kota_gateway.entrypoints.app import create_app

    return OpenTelemetryMiddleware(create_app(settings), excluded_urls="healthz,static", exclude_spans=["receive", "send"])


def main() -> None:
    import uvicorn

    settings = load_settings(GatewaySettings)
    configure_logging("gateway", settings.common.log_level, settings.common.log_json)
    configure_tracing("kota-gateway")
    configure_metrics("kota-gateway", settings.metrics_address)
    host, _, port = settings.http_address.rpartition(":")
    uvicorn.run(
        build_asgi(settings),
        host=host.strip("[]"),
        port=int(port),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        h11_max_incomplete_event_size=settings.max_body_bytes,
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
    )


if __name__ == "__main__":
    main()
