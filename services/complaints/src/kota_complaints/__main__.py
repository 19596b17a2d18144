"""`python -m kota_complaints` (or `kota-complaints`): runs the complaints service until SIGTERM/SIGINT."""

from __future__ import annotations

from kota_common.process import run_service
from kota_complaints.config import ComplaintsSettings


def main() -> None:
    def app(settings: ComplaintsSettings):
        from kota_complaints.entrypoints.app import bootstrap

        return bootstrap(settings)

    run_service("complaints", ComplaintsSettings, app)


if __name__ == "__main__":
    main()
