"""`python -m kota_collab` (or `kota-collab`): runs the inter-city collaboration registry until SIGTERM/SIGINT."""

from __future__ import annotations

from kota_collab.config import CollabSettings
from kota_common.process import run_service


def main() -> None:
    def app(settings: CollabSettings):
        from kota_collab.entrypoints.app import bootstrap

        return bootstrap(settings)

    run_service("collab", CollabSettings, app)


if __name__ == "__main__":
    main()
