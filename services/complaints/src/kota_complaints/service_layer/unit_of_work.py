"""Unit of work: one database transaction; the aggregates' events go to the outbox inside it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from kota_common import envelope, outbox
from kota_common.db.deferred import defer_notify
from kota_common.db.sqlite import write_lock
from kota_common.events import complaints as ev
from kota_common.telemetry import current_trace_headers
from kota_complaints.adapters.repository import ComplaintRepository
from kota_complaints.domain.model import Complaint
from kota_complaints.service_layer.updates import UPDATES_CHANNEL, ChangeNotice


class UnitOfWork:
    def __init__(
        self,
        engine: Engine | None,
        after_commit: Callable[[list[tuple[Complaint, str]]], None] | None = None,
        *,
        session: Session | None = None,
    ):
        """With `session`, the caller owns the transaction (the group-commit writer, or a Kafka consumer that
        records the event id in it): commit() then only stages, and `changed` tells the owner what to announce."""
        self.engine = engine
        self.after_commit = after_commit
        self.changed: list[tuple[Complaint, str]] = []
        self._external = session
        if session is not None:
            self.session = session
            self.complaints = ComplaintRepository(session)

    def __enter__(self) -> UnitOfWork:
        if self._external is None:
            # No autoflush: nothing is written before commit(), which holds the engine's write lock.
            self.session = Session(self.engine, expire_on_commit=False, autoflush=False)
            self.complaints = ComplaintRepository(self.session)
        return self

    def __exit__(self, *exc) -> None:
        if self._external is None:
            self.session.rollback()
            self.session.close()

    def commit(self) -> None:
        if self._external is not None:
            self.changed += self.stage()
            return
        with write_lock(self.session.get_bind()):
            changed = self.stage()
            self.session.commit()
        if self.after_commit and changed:
            self.after_commit(changed)

    def stage(self) -> list[tuple[Complaint, str]]:
        """Writes aggregates and their events (to the outbox) into the open transaction without committing."""
        self.complaints.flush_changes()
        trace = current_trace_headers()
        changed: list[tuple[Complaint, str]] = []
        rows = []
        for complaint in self.complaints.seen.values():
            for payload in complaint.events:
                event = envelope.Event(
                    type=payload.ce_type, source=ev.SOURCE, subject=complaint.id, data=payload.to_data(), trace=trace
                )
                rows.append(outbox.outbox_row(ev.TOPIC, complaint.id, event))
                changed.append((complaint, payload.ce_type))
            complaint.events.clear()
        outbox.add_events(self.session, rows)
        defer_notify(self.session, UPDATES_CHANNEL, (ChangeNotice(c.id, c.agency_code, t).encode() for c, t in changed))
        return changed
