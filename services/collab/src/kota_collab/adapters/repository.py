"""Cities, partnerships (with their history), agreements, activities and pending deliveries in the service's
database. A partnership's row is written with an optimistic version check: a change made meanwhile by another
request (or by the partner's registry) aborts this one (ConcurrentChange) instead of being lost; its history is
append-only, one row per step."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone

import grpc
from sqlalchemy import select, update
from sqlmodel import Session, col

from kota_collab.adapters.orm import ActivityRow, AgreementRow, CityRow, DeliveryRow, HistoryRow, PartnershipRow
from kota_collab.domain.model import (
    Activity,
    ActivityKind,
    Agreement,
    City,
    FocusArea,
    HistoryEntry,
    Kind,
    Partnership,
    Party,
    Status,
    Stream,
)
from kota_common.errors import ServiceError


class ConcurrentChange(ServiceError):
    """Another request changed the partnership after this one read it: nothing was written; try again."""

    code = grpc.StatusCode.ABORTED


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


@dataclass
class Stored:
    partnership: Partnership
    version: int
    loaded_steps: int
    request_id: str | None = None
    new: bool = False


class CityRepository:
    def __init__(self, session: Session):
        self.session = session

    def get(self, city_id: str) -> City | None:
        row = self.session.get(CityRow, city_id)
        return None if row is None else self._city(row)

    def all(self) -> list[City]:
        rows = self.session.execute(select(CityRow).order_by(col(CityRow.home).desc(), col(CityRow.name))).scalars()
        return [self._city(r) for r in rows]

    def put(self, city: City, at: datetime) -> None:
        row = self.session.get(CityRow, city.id)
        if row is None:
            row = CityRow(id=city.id, name=city.name, country=city.country, updated=at)
            self.session.add(row)
        row.name, row.country, row.region, row.population = city.name, city.country, city.region, city.population
        row.ascn_member, row.endpoint, row.home, row.updated = city.ascn_member, city.endpoint, city.home, at
        row.latitude, row.longitude = city.latitude, city.longitude

    @staticmethod
    def _city(r: CityRow) -> City:
        return City(r.id, r.name, r.country, r.region, r.population, r.ascn_member, r.endpoint, r.home, r.latitude,
                    r.longitude)


class PartnershipRepository:
    def __init__(self, session: Session):
        self.session = session
        self.seen: dict[str, Stored] = {}

    def add(self, partnership: Partnership, request_id: str | None = None) -> None:
        self.seen[partnership.id] = Stored(partnership, 0, 0, request_id, new=True)

    def get(self, partnership_id: str) -> Partnership | None:
        if partnership_id in self.seen:
            return self.seen[partnership_id].partnership
        row = self.session.get(PartnershipRow, partnership_id)
        return None if row is None else self._load([row])[0]

    def by_request_id(self, request_id: str) -> Partnership | None:
        row = self.session.execute(
            select(PartnershipRow).where(col(PartnershipRow.request_id) == request_id)).scalar_one_or_none()
        return None if row is None else self._load([row])[0]

    def filtered(self, *, city_id: str = "", kind: Kind | None = None, status: Status | None = None) -> list[Partnership]:
        query = select(PartnershipRow)
        if kind is not None:
            query = query.where(col(PartnershipRow.kind) == kind.value)
        if status is not None:
            query = query.where(col(PartnershipRow.status) == status.value)
        if city_id:  # parties is JSON text: a coarse LIKE, then the exact check
            query = query.where(col(PartnershipRow.parties).like(f'%"{city_id}"%'))
        rows = self.session.execute(query.order_by(col(PartnershipRow.created), col(PartnershipRow.id))).scalars().all()
        found = self._load(list(rows))
        return [p for p in found if not city_id or p.has_party(city_id)]

    def in_force_by_ids(self, ids: set[str]) -> dict[str, Partnership]:
        rows = self.session.execute(select(PartnershipRow).where(col(PartnershipRow.id).in_(ids))).scalars().all() if ids else []
        return {p.id: p for p in self._load(list(rows))}

    def _load(self, rows: list[PartnershipRow]) -> list[Partnership]:
        ids = [r.id for r in rows]
        steps: dict[str, list[HistoryEntry]] = {i: [] for i in ids}
        if ids:
            for h in self.session.execute(select(HistoryRow).where(col(HistoryRow.partnership_id).in_(ids))
                                          .order_by(col(HistoryRow.partnership_id), col(HistoryRow.seq))).scalars():
                steps[h.partnership_id].append(HistoryEntry(
                    h.seq, Status(h.status), _utc(h.at), h.city_id, h.actor, h.note, h.signed_on, h.document_url,
                    h.valid_until))
        out = []
        for r in rows:
            parties = tuple(Party(p["city_id"], p["role"], _date(p.get("since")), _date(p.get("until")))
                            for p in json.loads(r.parties))
            p = Partnership(r.id, Kind(r.kind), r.title, tuple(FocusArea(f) for f in json.loads(r.focus_areas)), parties,
                            r.scope, r.federated, steps[r.id])
            self.seen[r.id] = Stored(p, r.version, len(p.history), r.request_id)
            out.append(p)
        return out

    def flush_changes(self, at: datetime) -> None:
        for stored in self.seen.values():
            p = stored.partnership
            if not stored.new and len(p.history) == stored.loaded_steps:
                continue
            values: dict[str, object] = dict(kind=p.kind.value, title=p.title, scope=p.scope,
                          focus_areas=json.dumps([f.value for f in p.focus_areas]),
                          parties=json.dumps([{"city_id": x.city_id, "role": x.role, "since": _iso(x.since),
                                               "until": _iso(x.until)} for x in p.parties]),
                          federated=p.federated, status=p.status.value, updated=at)
            if stored.new:
                row = PartnershipRow(id=p.id, request_id=stored.request_id, created=at, version=1, kind=p.kind.value,
                                     title=p.title, scope=p.scope, status=p.status.value, updated=at)
                for name, value in values.items():
                    setattr(row, name, value)
                self.session.add(row)
                self.session.flush()
            else:
                done = self.session.execute(
                    update(PartnershipRow).where(col(PartnershipRow.id) == p.id, col(PartnershipRow.version) == stored.version)
                    .values(version=stored.version + 1, **values))
                if done.rowcount != 1:  # type: ignore[attr-defined]
                    raise ConcurrentChange(f"partnership {p.id} was changed meanwhile; nothing was written, try again")
            for h in p.history[stored.loaded_steps:]:
                self.session.add(HistoryRow(partnership_id=p.id, seq=h.seq, status=h.status.value, at=h.at,
                                            city_id=h.city_id, actor=h.actor, note=h.note, signed_on=h.signed_on,
                                            document_url=h.document_url, valid_until=h.valid_until))
            stored.new, stored.loaded_steps, stored.version = False, len(p.history), stored.version + 1


class AgreementRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, a: Agreement) -> None:
        self.session.add(AgreementRow(
            id=a.id, partnership_id=a.partnership_id, city_id=a.city_id, dataset_ids=json.dumps(list(a.dataset_ids)),
            streams=json.dumps([s.value for s in a.streams]), valid_until=a.valid_until, granted_at=a.granted_at,
            granted_by=a.granted_by))

    def get(self, agreement_id: str) -> Agreement | None:
        row = self.session.get(AgreementRow, agreement_id)
        return None if row is None else self._agreement(row)

    def save_revocation(self, a: Agreement) -> None:
        row = self.session.get(AgreementRow, a.id)
        assert row is not None
        row.revoked_at, row.revoked_by, row.revoke_reason = a.revoked_at, a.revoked_by, a.revoke_reason

    def of_partnership(self, partnership_id: str) -> list[Agreement]:
        rows = self.session.execute(select(AgreementRow).where(col(AgreementRow.partnership_id) == partnership_id)
                                    .order_by(col(AgreementRow.granted_at))).scalars()
        return [self._agreement(r) for r in rows]

    def of_city(self, city_id: str) -> list[Agreement]:
        rows = self.session.execute(select(AgreementRow).where(col(AgreementRow.city_id) == city_id)
                                    .order_by(col(AgreementRow.granted_at))).scalars()
        return [self._agreement(r) for r in rows]

    def all(self) -> list[Agreement]:
        rows = self.session.execute(select(AgreementRow).order_by(col(AgreementRow.granted_at), col(AgreementRow.id)))
        return [self._agreement(r) for r in rows.scalars()]

    @staticmethod
    def _agreement(r: AgreementRow) -> Agreement:
        return Agreement(r.id, r.partnership_id, r.city_id, tuple(json.loads(r.dataset_ids)),
                         tuple(Stream(s) for s in json.loads(r.streams)), r.valid_until, _utc(r.granted_at), r.granted_by,
                         _utc(r.revoked_at) if r.revoked_at else None, r.revoked_by, r.revoke_reason)


class ActivityRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, a: Activity, at: datetime) -> None:
        self.session.add(ActivityRow(id=a.id, partnership_id=a.partnership_id, kind=a.kind.value, title=a.title,
                                     starts_on=a.starts_on, ends_on=a.ends_on, participants=a.participants,
                                     outcomes=a.outcomes, created=at))

    def of_partnership(self, partnership_id: str) -> list[Activity]:
        return self.of_partnerships({partnership_id})

    def of_partnerships(self, partnership_ids: set[str] | None) -> list[Activity]:
        """The activities of these partnerships (every one's when None), in the order they happened: by start
        date, those without one last, then as they were recorded."""
        query = select(ActivityRow)
        if partnership_ids is not None:
            if not partnership_ids:
                return []
            query = query.where(col(ActivityRow.partnership_id).in_(partnership_ids))
        rows = self.session.execute(query.order_by(col(ActivityRow.starts_on).is_(None), col(ActivityRow.starts_on),
                                                   col(ActivityRow.created), col(ActivityRow.id))).scalars()
        return [Activity(r.id, r.partnership_id, ActivityKind(r.kind), r.title, r.starts_on, r.ends_on, r.participants,
                         r.outcomes) for r in rows]


@dataclass(frozen=True)
class Delivery:
    partnership_id: str
    city_id: str
    wanted_seq: int
    delivered_seq: int
    attempts: int
    next_attempt_at: datetime
    last_error: str


class DeliveryRepository:
    """The federation's outbox: which partner registries still lack a partnership's latest steps."""

    def __init__(self, session: Session):
        self.session = session
        self._wanted: list[tuple[str, str, int, datetime]] = []

    def want(self, partnership_id: str, city_id: str, seq: int, at: datetime) -> None:
        """The partner should hold the history up to `seq`: due now (a new change resets the backoff). Written
        by flush_changes, after the partnership's own row (which it refers to)."""
        self._wanted.append((partnership_id, city_id, seq, at))

    def flush_changes(self) -> None:
        wanted, self._wanted = self._wanted, []
        for want in wanted:
            self._write_want(*want)

    def _write_want(self, partnership_id: str, city_id: str, seq: int, at: datetime) -> None:
        row = self.session.get(DeliveryRow, (partnership_id, city_id))
        if row is None:
            self.session.add(DeliveryRow(partnership_id=partnership_id, city_id=city_id, wanted_seq=seq,
                                         next_attempt_at=at))
        elif seq > row.wanted_seq:
            row.wanted_seq, row.attempts, row.next_attempt_at = seq, 0, at

    def due(self, at: datetime, limit: int = 50) -> list[Delivery]:
        rows = self.session.execute(
            select(DeliveryRow).where(col(DeliveryRow.delivered_seq) < col(DeliveryRow.wanted_seq),
                                      col(DeliveryRow.next_attempt_at) <= at)
            .order_by(col(DeliveryRow.next_attempt_at)).limit(limit)).scalars()
        return [self._delivery(r) for r in rows]

    def pending_for(self, partnership_id: str) -> bool:
        rows = self.session.execute(select(DeliveryRow).where(col(DeliveryRow.partnership_id) == partnership_id)).scalars()
        return any(r.delivered_seq < r.wanted_seq for r in rows)

    def delivered(self, partnership_id: str, city_id: str, seq: int) -> None:
        row = self.session.get(DeliveryRow, (partnership_id, city_id))
        if row is not None:
            row.delivered_seq, row.attempts, row.last_error = max(row.delivered_seq, seq), 0, ""

    def failed(self, partnership_id: str, city_id: str, error: str, next_attempt_at: datetime) -> None:
        row = self.session.get(DeliveryRow, (partnership_id, city_id))
        if row is not None:
            row.attempts, row.last_error, row.next_attempt_at = row.attempts + 1, error[:500], next_attempt_at

    @staticmethod
    def _delivery(r: DeliveryRow) -> Delivery:
        return Delivery(r.partnership_id, r.city_id, r.wanted_seq, r.delivered_seq, r.attempts, _utc(r.next_attempt_at),
                        r.last_error)
