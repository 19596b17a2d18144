"""Unit of work: one database transaction; every step of a partnership and every other decision or partner call
goes to the outbox (collab.events.v1) inside it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from kota_collab.adapters.repository import (
    ActivityRepository,
    AgreementRepository,
    CityRepository,
    DeliveryRepository,
    PartnershipRepository,
)
from kota_common import envelope, outbox
from kota_common.clock import now_utc
from kota_common.events import EventPayload
from kota_common.events import collab as ev
from kota_common.telemetry import current_trace_headers
from kota_common.unit_of_work import SqlUnitOfWork


class UnitOfWork(SqlUnitOfWork):
    """`after_commit(changed)` gets (key, ce_type) of every event the commit made durable (the relay is woken, and
    the federation's delivery when a partnership changed)."""

    cities: CityRepository
    partnerships: PartnershipRepository
    agreements: AgreementRepository
    activities: ActivityRepository
    deliveries: DeliveryRepository

    def __init__(self, engine: Engine | None = None, after_commit: Callable[[list], None] | None = None, *,
                 session: Session | None = None, clock: Callable[[], datetime] = now_utc):
        self._announce = after_commit
        self._clock = clock
        self.published: list[tuple[str, EventPayload]] = []
        super().__init__(engine, session=session)

    def _open(self, session: Session) -> None:
        self.cities = CityRepository(session)
        self.partnerships = PartnershipRepository(session)
        self.agreements = AgreementRepository(session)
        self.activities = ActivityRepository(session)
        self.deliveries = DeliveryRepository(session)
        self.published = []

    def publish(self, key: str, payload: EventPayload) -> None:
        self.published.append((key, payload))

    def after_commit(self, changed: list) -> None:
        if self._announce is not None:
            self._announce(changed)

    def stage(self) -> list[tuple[str, str]]:
        self.partnerships.flush_changes(self._clock())
        self.deliveries.flush_changes()
        pending: list[tuple[str, EventPayload]] = []
        for stored in self.partnerships.seen.values():
            p = stored.partnership
            for change in p.changes:
                h = change.entry
                pending.append((p.id, ev.PartnershipChanged(
                    partnership_id=p.id, kind=p.kind.value, scope=p.scope, title=p.title,
                    focus_areas=[f.value for f in p.focus_areas], party_city_ids=p.party_ids(), status=h.status.value,
                    previous_status=change.previous.value if change.previous else "", seq=h.seq, decided_by=h.city_id,
                    actor=h.actor, note=h.note, origin=change.origin, federated=p.federated,
                    signed_on=h.signed_on.isoformat() if h.signed_on else "", document_url=h.document_url, at=h.at)))
            p.changes.clear()
        pending += self.published
        self.published = []
        trace = current_trace_headers()
        rows = [outbox.outbox_row(ev.TOPIC, key, envelope.Event(type=payload.ce_type, source=ev.SOURCE, subject=key,
                                                                  data=payload.to_data(), trace=trace))
                for key, payload in pending]
        outbox.add_events(self.session, rows)
        return [(key, payload.ce_type) for key, payload in pending]
