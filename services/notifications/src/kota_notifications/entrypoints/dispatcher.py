"""The delivery dispatcher in a process of its own, beside the service process that queues the messages.

A Python process computes on one core at a time (the GIL). Queueing (the complaint-events subscriber) and
delivering (claiming, sending, recording) each took about half of one core when first measured
(bench/notifications_delivery.py); in a child process the dispatcher runs on the other core. The service wakes it through a pipe whenever it queued
messages (RelayProcess's wake-up pipe, reused: the child reads it at KOTA_RELAY_WAKE_FD), and the pipe closing
(the service stopped, or died) stops it. The child is the service's only dispatcher (the service process has
none with dispatcher=process), so the per-channel rate limits, kept in memory by the dispatcher, hold as with a
thread; a second dispatcher would still never send a message twice (the claims are leases in the database).

    python -m kota_notifications.entrypoints.dispatcher   (started by DispatcherProcess, given the service's
                                                           settings in KOTA_DISPATCHER_SERVICE)
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kota_common.relay_process import RESTART_CHECK_S, RelayProcess
from kota_common.settings import CommonSettings
from kota_notifications.config import NotificationsSettings

log = logging.getLogger(__name__)
MODULE = "kota_notifications.entrypoints.dispatcher"


class DispatcherSettings(BaseSettings):
    """The child's settings: the service's own, handed over whole (as JSON) by DispatcherProcess."""

    model_config = SettingsConfigDict(env_prefix="KOTA_DISPATCHER_", extra="ignore")

    service: NotificationsSettings
    wake_fd: int = Field(-1, validation_alias="KOTA_RELAY_WAKE_FD",
                         description="read end of the pipe the service writes to when it queued messages")
    metrics_address: str = Field("", description="none: the service reports the delivery outbox")
    common: CommonSettings = Field(default_factory=CommonSettings)


class DispatcherProcess(RelayProcess):
    """The service's handle on its dispatcher process: started, restarted if it dies (a restart's first run takes
    what was queued meanwhile) and stopped with the service; `wake()` after messages were queued."""

    def __init__(self, settings: NotificationsSettings):
        super().__init__("notifications-dispatcher", settings.database_url, linger_ms=0)
        self.argv = [sys.executable, "-m", MODULE]
        self.env = {"KOTA_DISPATCHER_SERVICE": settings.model_dump_json(),
                    "KOTA_DISPATCHER_COMMON": settings.common.model_dump_json()}
        self.restart_after_s = RESTART_CHECK_S

    def wake(self) -> None:
        self.notify()


class DispatcherApp:
    """The child: the dispatcher (app.delivery) run as the service's Worker, woken by the pipe."""

    def __init__(self, settings: DispatcherSettings):
        self.settings = settings

    def start(self) -> None:
        from kota_common.db.engines import make_engine
        from kota_notifications.entrypoints import app

        s = self.settings.service
        self.engine = make_engine(s.database_url, pool_size=4)
        # Its commits add no events for the relay to hurry: recorded outcomes are relayed by the service's relay.
        self.delivery = app.delivery(s, self.engine, app.context(s))
        self.delivery.start()
        if self.settings.wake_fd >= 0:
            threading.Thread(target=self._listen, name="wake", daemon=True).start()

    def _listen(self) -> None:
        while os.read(self.settings.wake_fd, 4096):
            self.delivery.wake()
        log.info("the service closed the wake-up pipe; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    def stop(self) -> None:
        self.delivery.stop()
        self.engine.dispose()


def main() -> None:
    from kota_common.process import run_service

    run_service("notifications-dispatcher", DispatcherSettings, DispatcherApp)


if __name__ == "__main__":
    main()
