"""Unit of work: one database transaction; what happened to messages and intake goes to the outbox inside it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from kota_common import envelope, outbox
from kota_common.events import EventPayload
from kota_common.events import notifications as ev
from kota_common.telemetry import current_trace_headers
from kota_common.unit_of_work import SqlUnitOfWork
from kota_notifications.adapters.repository import NotificationRepository


class UnitOfWork(SqlUnitOfWork):
    """`after_commit(changed)` gets (key, ce_type) of every event the commit made durable (the relay is woken)."""

    repo: NotificationRepository

    def __init__(self, engine: Engine | None = None, after_commit: Callable[[list], None] | None = None, *,
                 session: Session | None = None):
        self._announce = after_commit
        self.published: list[tuple[str, EventPayload]] = []
        super().__init__(engine, session=session)

    def _open(self, session: Session) -> None:
        self.repo = NotificationRepository(session)
        self.published = []

    def publish(self, key: str, payload: EventPayload) -> None:
        self.published.append((key, payload))

    def after_commit(self, changed: list) -> None:
        if self._announce is not None:
            self._announce(changed)

    def stage(self) -> list[tuple[str, str]]:
        self.repo.flush_changes()
        trace = current_trace_headers()
        pending, self.published = self.published, []
        rows = [outbox.outbox_row(ev.TOPIC, key, envelope.Event(type=payload.ce_type, source=ev.SOURCE, subject=key,
                                                                data=payload.to_data(), trace=trace))
                for key, payload in pending]
        outbox.add_events(self.session, rows)
        return [(key, payload.ce_type) for key, payload in pending]
