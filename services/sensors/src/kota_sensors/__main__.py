"""`python -m kota_sensors` (or `kota-sensors`): runs the sensors service until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading

from kota_common.logging import configure_logging
from kota_common.settings import load_settings
from kota_common.telemetry import configure_tracing
from kota_sensors.config import SensorsSettings


def main() -> None:
    settings = load_settings(SensorsSettings)
    configure_logging("sensors", settings.common.log_level, settings.common.log_json)
    configure_tracing("kota-sensors")
    from kota_sensors.entrypoints.app import SensorsApp

    app = SensorsApp(settings)
    app.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    app.stop()


if __name__ == "__main__":
    main()
