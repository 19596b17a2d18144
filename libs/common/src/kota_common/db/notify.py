"""PostgreSQL LISTEN: processes hear of each other's committed changes (see deferred.defer_notify)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (any driver suffix) as the conninfo psycopg.connect takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class NotificationListener:
    """LISTENs on a PostgreSQL channel from a thread of its own and calls `on_notify(payload)` for each
    notification, in commit order. After losing the database it reconnects (backing off up to 10 s); what was
    notified while it was away is not replayed by PostgreSQL: `on_reconnect(since)`, once listening again, is
    told when the lost connection was last known to be alive, so that the caller can catch up from its own
    records (e.g. the outbox)."""

    name = "update listener"

    def __init__(self, url: str, channel: str, on_notify, on_reconnect: Callable[[datetime], None] | None = None):
        self.conninfo = libpq_conninfo(url)
        self.channel = channel
        self.on_notify = on_notify
        self.on_reconnect = on_reconnect
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)

    def start(self) -> NotificationListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg
        from psycopg import sql

        backoff = 0.5
        alive_at: datetime | None = None  # when the current (or lost) connection was last known to listen
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    backoff = 0.5
                    if alive_at is not None and self.on_reconnect is not None:
                        try:
                            self.on_reconnect(alive_at)
                        except Exception:
                            log.exception("catching up after reconnecting to %s failed", self.channel)
                    while not self._stop.is_set():
                        alive_at = datetime.now(timezone.utc)
                        for notification in conn.notifies(timeout=1.0):
                            try:
                                self.on_notify(notification.payload)
                            except Exception:
                                log.exception("handling a notification on %s failed", self.channel)
            except Exception as exc:
                log.warning("listening on %s: %s; reconnecting in %.1f s", self.channel, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
