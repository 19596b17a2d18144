"""`python -m kota_sensors` (or `kota-sensors`): runs the sensors service until SIGTERM/SIGINT."""

from __future__ import annotations

from kota_common.process import run_service
from kota_sensors.config import SensorsSettings

# The processes the service (role all) starts share its host, so each serves /metrics on a port of its own:
# the service's metrics port plus this offset.
CHILD_METRICS_PORT_OFFSET = {"alerts": 100, "store": 200}


def metrics_address(settings: SensorsSettings) -> str:
    """Where this process serves /metrics: KOTA_SENSORS_METRICS_ADDRESS, unless it is a child process of the
    service (parent_pid set): the alert evaluator then serves at that port + 100, the observation store at
    + 200, and the further ingest processes (ingest_processes > 1) nowhere (they share the gRPC port and have
    no port of their own to tell apart; run ingest replicas as role `ingest` to scrape each)."""
    address = settings.metrics_address
    if not settings.parent_pid or address.strip().lower() in ("", "off"):
        return address
    offset = CHILD_METRICS_PORT_OFFSET.get(settings.role)
    if offset is None:
        return "off"
    host, _, port = address.rpartition(":")
    return f"{host}:{int(port) + offset}"


def main() -> None:
    def app(settings: SensorsSettings):
        from kota_sensors.entrypoints.app import bootstrap

        return bootstrap(settings)

    run_service("sensors", SensorsSettings, app, metrics_address=metrics_address)


if __name__ == "__main__":
    main()
