"""`python -m kota_notifications` (or `kota-notifications`): runs the notifications service until SIGTERM/SIGINT."""

from __future__ import annotations

from kota_common.process import run_service
from kota_notifications.config import NotificationsSettings


def main() -> None:
    def app(settings: NotificationsSettings):
        from kota_notifications.entrypoints.app import bootstrap

        return bootstrap(settings)

    run_service("notifications", NotificationsSettings, app)


if __name__ == "__main__":
    main()
