"""`python -m kota_musrenbang` (or `kota-musrenbang`): runs the e-Musrenbang service until SIGTERM/SIGINT."""

from __future__ import annotations

from kota_common.process import run_service
from kota_musrenbang.config import MusrenbangSettings


def main() -> None:
    def app(settings: MusrenbangSettings):
        from kota_musrenbang.entrypoints.app import bootstrap

        return bootstrap(settings)

    run_service("musrenbang", MusrenbangSettings, app)


if __name__ == "__main__":
    main()
