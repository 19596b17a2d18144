"""`python -m kota_opendata` (or `kota-opendata`): runs the open data service until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading

from kota_common.logging import configure_logging
from kota_common.settings import load_settings
from kota_common.telemetry import configure_tracing
from kota_opendata.config import OpenDataSettings


def main() -> None:
    settings = load_settings(OpenDataSettings)
    configure_logging("opendata", settings.common.log_level, settings.common.log_json)
    configure_tracing("kota-opendata")
    from kota_opendata.entrypoints.app import OpenDataApp

    app = OpenDataApp(settings)
    app.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    app.stop()


if __name__ == "__main__":
    main()
