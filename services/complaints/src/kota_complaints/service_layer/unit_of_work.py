"""Unit of work: one database transaction; the aggregates' events go to the outbox inside it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from kota_common import envelope, outbox
from kota_common.db.deferred import defer_notify
from kota_common.events import complaints as ev
from kota_common.telemetry import current_trace_headers
from kota_common.unit_of_work import SqlUnitOfWork
from kota_complaints.adapters.repository import ComplaintRepository
from kota_complaints.domain.model import Complaint
from kota_complaints.service_layer.updates import UPDATES_CHANNEL, ChangeNotice


class UnitOfWork(SqlUnitOfWork):
    """With an engine, it owns its transaction and `after_commit(changed)` announces what a commit changed. With
    `session`, it joins the transaction of the group-commit writer or of the alert consumer, which commits it:
    `changed` then tells that owner what to announce."""

    complaints: ComplaintRepository

    def __init__(
        self,
        engine: Engine | None = None,
        after_commit: Callable[[list[tuple[Complaint, str]]], None] | None = None,
        *,
        session: Session | None = None,
    ):
        self._announce = after_commit
        super().__init__(engine, session=session)

    def _open(self, session: Session) -> None:
        self.complaints = ComplaintRepository(session)

    def after_commit(self, changed: list) -> None:
        if self._announce is not None:
            self._announce(changed)

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
