"""Unit of work: one database transaction; the proposals' events (and a forum's selection) go to the outbox
inside it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from kota_common import envelope, outbox
from kota_common.events import EventPayload
from kota_common.events import musrenbang as ev
from kota_common.telemetry import current_trace_headers
from kota_common.unit_of_work import SqlUnitOfWork
from kota_musrenbang.adapters.repository import ProposalRepository
from kota_musrenbang.domain.catalog import JAKARTA_ACTIVITIES, Activity


class UnitOfWork(SqlUnitOfWork):
    """`after_commit(changed)` gets (key, ce_type) of every event the commit made durable: the relay is woken and
    the proposal's watchers told."""

    proposals: ProposalRepository

    def __init__(self, engine: Engine | None = None, after_commit: Callable[[list], None] | None = None, *,
                 session: Session | None = None, catalogue: tuple[Activity, ...] = JAKARTA_ACTIVITIES):
        self._announce = after_commit
        self._catalogue = catalogue
        # events not kept on a loaded proposal (a selection, a support count), by key, with the trace of the
        # request that caused each (None: the current one)
        self.published: list[tuple[str, EventPayload, dict[str, str] | None]] = []
        super().__init__(engine, session=session)

    def _open(self, session: Session) -> None:
        self.proposals = ProposalRepository(session, self._catalogue)
        self.published = []

    def publish(self, key: str, payload: EventPayload, trace: dict[str, str] | None = None) -> None:
        """`trace`: the headers of the request the event answers, when it is not the current context's (a
        support applied with others in one group commit)."""
        self.published.append((key, payload, trace))

    def after_commit(self, changed: list) -> None:
        if self._announce is not None:
            self._announce(changed)

    def stage(self) -> list[tuple[str, str]]:
        self.proposals.flush_changes()
        trace = current_trace_headers()
        pending: list[tuple[str, EventPayload, dict[str, str] | None]] = [
            (pid, payload, None) for pid, stored in self.proposals.seen.items() for payload in stored.proposal.events]
        pending += self.published
        rows = []
        for key, payload, own_trace in pending:
            event = envelope.Event(type=payload.ce_type, source=ev.SOURCE, subject=key, data=payload.to_data(),
                                   trace=trace if own_trace is None else own_trace)
            rows.append(outbox.outbox_row(ev.TOPIC, key, event))
        outbox.add_events(self.session, rows)
        for stored in self.proposals.seen.values():
            stored.proposal.events.clear()
        self.published = []
        return [(key, payload.ce_type) for key, payload, _trace in pending]
