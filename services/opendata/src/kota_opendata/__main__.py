"""`python -m kota_opendata` (or `kota-opendata`): runs the open data service until SIGTERM/SIGINT."""

from __future__ import annotations

from kota_common.process import run_service
from kota_opendata.config import OpenDataSettings


def main() -> None:
    def app(settings: OpenDataSettings):
        from kota_opendata.entrypoints.app import bootstrap

        return bootstrap(settings)

    run_service("opendata", OpenDataSettings, app)


if __name__ == "__main__":
    main()
