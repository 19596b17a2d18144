"""The e-mail channel's embedded default: an SMTP server (aiosmtpd) that takes mail to the intake address. A mail
is stored before the client hears 250, so that nothing acknowledged is lost; the complaints service gets it from
the intake worker (entrypoints.app), whether it is up now or later. Production may run IMAP polling instead (not
built yet) in front of the same use case."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiosmtpd.controller import Controller

from kota_common.errors import ServiceError
from kota_notifications.domain.intake import ReadError, read_mail

log = logging.getLogger(__name__)
# aiosmtpd logs each mail's sender and recipients at INFO ("sender: warga@...", "recip: ..."): citizens' addresses
# never go to the logs, so its logger says warnings and errors only.
AIOSMTPD_LOGGER = "mail.log"


class IntakeHandler:
    """aiosmtpd's handler: one mail -> `receive(mail)` (a use case; it blocks on the database, so it runs on a
    worker thread), then `wake()` so that the intake worker submits it now."""

    def __init__(self, receive: Callable, wake: Callable[[], None]):
        self.receive = receive
        self.wake = wake

    async def handle_DATA(self, server, session, envelope) -> str:
        raw = envelope.original_content or envelope.content
        try:
            mail = read_mail(raw if isinstance(raw, bytes) else raw.encode(), envelope.mail_from or "")
        except ReadError as exc:  # the sending server bounces it to whoever sent it
            return f"554 5.6.0 {exc.reason}"
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.receive, mail)
        except ServiceError as exc:
            return f"550 5.1.7 {exc.message}"
        except Exception:
            log.exception("the intake could not store a mail; the client will retry")
            return "451 4.3.0 temporarily unable to accept the message; try again later"
        self.wake()
        return "250 2.0.0 message accepted; a reply with the report's number follows"


class SmtpIntake:
    """A ServiceHost component: the SMTP server on `address` (host:port)."""

    name = "smtp-intake"

    def __init__(self, address: str, handler: IntakeHandler, *, max_bytes: int):
        host, _, port = address.rpartition(":")
        self.controller = Controller(handler, hostname=host.strip("[]"), port=int(port), data_size_limit=max_bytes,
                                     server_hostname="kota-notifications")

    def start(self) -> None:
        logging.getLogger(AIOSMTPD_LOGGER).setLevel(logging.WARNING)
        self.controller.start()
        log.info("SMTP intake listening on %s:%s", self.controller.hostname, self.controller.port)

    def stop(self) -> None:
        self.controller.stop()
