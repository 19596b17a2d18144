"""The e-mail channel's production option: polling the city's intake mailbox over IMAP (stdlib imaplib, on a thread
of its own). Each unseen mail is fetched with BODY.PEEK[] (which leaves it unseen), handed to the same use case as
the SMTP intake's, and marked \\Seen only once that use case has kept it: a crash, a database that refuses, or a
lost connection in between leaves the mail unseen, to be read again at the next poll (and recognised then by its
Message-ID). Nothing of a mail (sender, subject) is logged."""

from __future__ import annotations

import imaplib
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from kota_common.errors import ServiceError
from kota_notifications.domain.intake import IncomingMail, ReadError, read_mail

log = logging.getLogger(__name__)


@dataclass
class ImapAccount:
    host: str
    port: int = 993
    tls: bool = True
    starttls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    mailbox: str = "INBOX"
    timeout: float = 30.0

    def connect(self) -> imaplib.IMAP4:
        if self.tls:
            return imaplib.IMAP4_SSL(self.host, self.port, ssl_context=ssl.create_default_context(), timeout=self.timeout)
        imap = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
        if self.starttls:
            imap.starttls(ssl.create_default_context())
        return imap


class ImapIntake:
    """A ServiceHost component: `poll_once` every `interval_s` seconds; `receive(mail)` is the intake use case (it
    raises ServiceError for a mail refused for good, which is marked seen: reading it again would not help)."""

    name = "imap-intake"

    def __init__(self, account: ImapAccount, receive: Callable[[IncomingMail], object], wake: Callable[[], None],
                 interval_s: float = 30.0, max_bytes: int = 10 * 1024 * 1024):
        self.account, self.receive, self.wake, self.interval_s, self.max_bytes = account, receive, wake, interval_s, max_bytes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        log.info("IMAP intake polling %s:%s every %s s", self.account.host, self.account.port, self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.account.timeout + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.poll_once():
                    self.wake()
            except (OSError, imaplib.IMAP4.error) as exc:  # the server is away or refused us: the next poll tries again
                log.warning("IMAP poll failed: %s", type(exc).__name__)
            except Exception:
                log.exception("IMAP poll failed")
            self._stop.wait(self.interval_s)

    def poll_once(self) -> int:
        """Reads the unseen mail; how many were kept (or refused for good) and marked seen."""
        imap = self.account.connect()
        try:
            imap.login(self.account.username, self.account.password)
            kind, _ = imap.select(self.account.mailbox)
            if kind != "OK":
                raise imaplib.IMAP4.error(f"cannot select {self.account.mailbox}")
            kind, found = imap.uid("SEARCH", "UNSEEN")
            uids = found[0].decode().split() if kind == "OK" and found and found[0] else []
            done = 0
            for uid in uids:
                if self._stop.is_set() or not self._take(imap, uid):
                    break
                done += 1
            return done
        finally:
            try:
                imap.logout()
            except (OSError, imaplib.IMAP4.error):
                pass

    def _take(self, imap: imaplib.IMAP4, uid: str) -> bool:
        """One mail kept, then marked seen; False (it stays unseen) when it could not be kept now."""
        kind, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")
        raw = next((p[1] for p in parts or [] if isinstance(p, tuple) and len(p) == 2), None) if kind == "OK" else None
        if raw is None:
            log.warning("IMAP message %s could not be fetched", uid)
            return False
        try:
            if len(raw) <= self.max_bytes:
                self.receive(read_mail(raw))
            else:
                log.warning("IMAP message %s is larger than %d bytes; not taken", uid, self.max_bytes)
        except (ReadError, ServiceError) as exc:  # nothing anyone can act on, now or later: it is not read again
            log.info("IMAP message %s not taken: %s", uid, getattr(exc, "reason", None) or type(exc).__name__)
        except Exception:
            log.exception("the intake could not keep IMAP message %s; it stays unseen", uid)
            return False
        imap.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        return True
