"""`python -m kota_complaints` (or `kota-complaints`): runs the complaints service until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading

from kota_common.logging import configure_logging
from kota_common.settings import load_settings
from kota_common.telemetry import configure_tracing
from kota_complaints.config import ComplaintsSettings


def main() -> None:
    settings = load_settings(ComplaintsSettings)
    configure_logging("complaints", settings.common.log_level, settings.common.log_json)
    configure_tracing("kota-complaints")
    from kota_complaints.entrypoints.app import ComplaintsApp

    app = ComplaintsApp(settings)
    app.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    app.stop()


if __name__ == "__main__":
    main()
