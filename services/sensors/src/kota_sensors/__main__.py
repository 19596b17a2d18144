"""`python -m kota_sensors` (or `kota-sensors`): runs the sensors service until SIGTERM/SIGINT."""

from __future__ import annotations

from kota_common.process import run_service
from kota_sensors.config import SensorsSettings


def main() -> None:
    def app(settings: SensorsSettings):
        from kota_sensors.entrypoints.app import SensorsApp

        return SensorsApp(settings)

    run_service("sensors", SensorsSettings, app)


if __name__ == "__main__":
    main()
