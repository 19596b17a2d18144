"""Maps complaint aggregates to rows and back; loads the city's routing reference data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple, overload

import sqlalchemy
from sqlalchemy import bindparam, func, literal, update
from sqlmodel import Session, col, select

from kota_common.db.deferred import defer_insert, deferred_rows, flush_deferred
from kota_common.db.driver import DriverStatement
from kota_common.db.tables import table_of
from kota_complaints.adapters.orm import (
    AgencyRow,
    ComplaintRow,
    HistoryRow,
    ReporterRow,
    RoutingRuleRow,
    SensorIncidentRow,
    ServiceCategoryRow,
)
from kota_complaints.domain.model import (
    Agency,
    Area,
    AttributeDef,
    Channel,
    Complaint,
    HistoryEntry,
    RoutingRule,
    RoutingTable,
    ServiceCategory,
    Status,
    bounding_box,
)


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: datetime | None) -> datetime | None: ...
def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything Kota stores is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


@dataclass(frozen=True)
class ComplaintFilter:
    statuses: tuple[Status, ...] = ()
    service_code: str = ""
    agency_code: str = ""
    kota_code: str = ""
    kelurahan_code: str = ""
    channel: str = ""
    start: datetime | None = None
    end: datetime | None = None
    ids: tuple[str, ...] = ()


_TABLE = table_of(ComplaintRow)
_C = _TABLE.c
_OPEN = (Status.RECEIVED.value, Status.ROUTED.value, Status.IN_PROGRESS.value)
# Built once: the duplicate check runs on every submission. (Core statements: sqlalchemy's select, typed for any
# number of columns.)
_OPEN_NEAR = DriverStatement(sqlalchemy.select(_C.id, _C.channel, _C.lat, _C.lon, _C.requested_at, _C.status).where(
    _C.service_code == bindparam("code"),
    _C.status.in_([literal(status) for status in _OPEN]),  # fixed parameters: no per-call IN expansion
    _C.lat.between(bindparam("min_lat"), bindparam("max_lat")),
    _C.lon.between(bindparam("min_lon"), bindparam("max_lon")),
    _C.duplicate_of.is_(None),
    _C.requested_at >= bindparam("since"),
))



class _ComplaintRecord(NamedTuple):
    """A row of the complaints table as _BY_ID reads it (its columns, in the table's order)."""

    id: str
    channel: str
    service_code: str
    description: str
    lat: float | None
    lon: float | None
    address: str
    kelurahan_code: str
    kelurahan: str
    kecamatan: str
    kota_code: str
    kota: str
    media_urls: str
    attributes: str
    external_ref: str
    reporter_ref: str
    anonymous: bool
    idempotency_key: str | None
    status: str
    requested_at: datetime
    updated_at: datetime
    agency_code: str
    unit: str
    routed_at: datetime | None
    due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    sla_breached: bool
    escalation_level: int
    duplicate_of: str | None
    supporters_count: int
    rating: int | None
    status_notes: str
    version: int


class _HistoryRecord(NamedTuple):
    at: datetime
    kind: str
    status: str
    actor: str
    note: str


# A complaint and its history, loaded for every change to it (and a duplicate's master on intake).
_RECORD_COLUMNS = [_C[name] for name in _ComplaintRecord._fields]  # a field the table lacks fails here, on import
_BY_ID = DriverStatement(sqlalchemy.select(*_RECORD_COLUMNS).where(_C.id == bindparam("id")))
_BY_ID_FOR_UPDATE = DriverStatement(sqlalchemy.select(*_RECORD_COLUMNS).where(_C.id == bindparam("id")).with_for_update())
_HISTORY = table_of(HistoryRow)
_H = _HISTORY.c
_HISTORY_OF = DriverStatement(
    sqlalchemy.select(_H.at, _H.kind, _H.status, _H.actor, _H.note).where(_H.complaint_id == bindparam("id")).order_by(_H.seq)
)
# Every column a change can touch (ComplaintRepository._columns), written back by id: a duplicate's master on
# every duplicate submission, and each staff change.
UPDATED_COLUMNS = (
    "channel", "service_code", "description", "lat", "lon", "address", "kelurahan_code", "kelurahan", "kecamatan",
    "kota_code", "kota", "media_urls", "attributes", "external_ref", "status", "updated_at", "agency_code", "unit",
    "routed_at", "due_at", "resolved_at", "closed_at", "sla_breached", "escalation_level", "duplicate_of",
    "supporters_count", "rating", "status_notes",
)
_UPDATE = DriverStatement(
    update(_TABLE).where(_C.id == bindparam("_id")).values({k: bindparam(k, type_=_C[k].type) for k in UPDATED_COLUMNS})
)
_REPORTERS = table_of(ReporterRow)


class ComplaintRepository:
    def __init__(self, session: Session):
        self.session = session
        self.seen: dict[str, Complaint] = {}
        self._new: dict[str, dict] = {}
        self._reporters: list[dict] = []
        self._history_len: dict[str, int] = {}

    # -- writes -----------------------------------------------------------------------------------------
    def add(self, complaint: Complaint, *, idempotency_key: str | None) -> None:
        self._new[complaint.id] = {
            "reporter_ref": complaint.reporter_ref,
            "anonymous": complaint.anonymous,
            "idempotency_key": idempotency_key,
            "requested_at": complaint.requested_at,
        }
        self._history_len[complaint.id] = 0
        self.seen[complaint.id] = complaint

    def add_reporter(self, **contact) -> None:
        self._reporters.append(contact)

    def flush_changes(self) -> None:
        """Queues new aggregates and new history entries as deferred inserts (written at commit, batched with
        every other use case of a group commit) and writes changed aggregates (Core statements: the write path
        is hot, and ORM object construction would cost more than the database work)."""
        inserts, history = [], []
        for complaint in self.seen.values():
            start = self._history_len.get(complaint.id, 0)
            if complaint.id in self._new:
                inserts.append({**self._columns(complaint), **self._new.pop(complaint.id)})
            elif len(complaint.history) > start:  # every change to an aggregate appends to its history
                self._flush_if_queued(complaint.id)
                columns = self._columns(complaint)
                columns["_id"] = columns.pop("id")
                _UPDATE.execute(self.session.connection(), columns)
            history += [
                {"complaint_id": complaint.id, "seq": seq, "at": e.at, "kind": e.kind, "status": e.status.value,
                 "actor": e.actor, "note": e.note}
                for seq, e in enumerate(complaint.history[start:], start=start)
            ]
            self._history_len[complaint.id] = len(complaint.history)
        defer_insert(self.session, _TABLE, inserts)
        defer_insert(self.session, _REPORTERS, self._reporters)
        self._reporters = []
        defer_insert(self.session, _HISTORY, history)

    def _flush_if_queued(self, complaint_id: str) -> None:
        """Writes the rows queued in this transaction first if the complaint or some of its history is among
        them (submitted or changed earlier in the same group commit). Otherwise they stay queued: flushing on
        every duplicate's master split the group commit's inserts into many small statements."""
        if any(row["id"] == complaint_id for row in deferred_rows(self.session, _TABLE)) or any(
            row["complaint_id"] == complaint_id for row in deferred_rows(self.session, _HISTORY)
        ):
            flush_deferred(self.session)

    @staticmethod
    def _columns(c: Complaint) -> dict:
        return dict(
            id=c.id,
            channel=c.channel.value,
            service_code=c.service_code,
            description=c.description,
            lat=c.area.lat,
            lon=c.area.lon,
            address=c.area.address,
            kelurahan_code=c.area.kelurahan_code,
            kelurahan=c.area.kelurahan,
            kecamatan=c.area.kecamatan,
            kota_code=c.area.kota_code,
            kota=c.area.kota,
            media_urls=json.dumps(c.media_urls),
            attributes=json.dumps(c.attributes),
            external_ref=c.external_ref,
            status=c.status.value,
            updated_at=c.updated_at or c.requested_at,
            agency_code=c.agency_code,
            unit=c.unit,
            routed_at=c.routed_at,
            due_at=c.due_at,
            resolved_at=c.resolved_at,
            closed_at=c.closed_at,
            sla_breached=c.sla_breached,
            escalation_level=c.escalation_level,
            duplicate_of=c.duplicate_of,
            supporters_count=c.supporters_count,
            rating=c.rating,
            status_notes=c.status_notes,
        )

    # -- reads ------------------------------------------------------------------------------------------
    def get(self, complaint_id: str, *, for_update: bool = False) -> Complaint | None:
        if complaint_id in self.seen:
            return self.seen[complaint_id]
        self._flush_if_queued(complaint_id)
        found = (_BY_ID_FOR_UPDATE if for_update else _BY_ID).rows(self.session.connection(), {"id": complaint_id})
        if not found:
            return None
        return self._track(_ComplaintRecord._make(found[0]))

    def by_idempotency_key(self, key: str) -> tuple[str, str] | None:
        """(complaint id, stored key) of the submission made with the same caller key as `key`, whatever its
        content: stored keys are "<version>:<caller key>:<content>", so it is the one that starts alike."""
        scope = key.rpartition(":")[0] + ":"
        for row in deferred_rows(self.session, _TABLE):  # submitted earlier in this group commit
            if (stored := row["idempotency_key"]) and stored.startswith(scope):
                return row["id"], stored
        # A range on the unique index (":" + 1 is ";"), the same on every database.
        found = self.session.connection().execute(
            sqlalchemy.select(_C.id, _C.idempotency_key).where(_C.idempotency_key >= scope, _C.idempotency_key < scope[:-1] + ";")
        ).first()
        return (found.id, found.idempotency_key) if found else None

    def _track(self, row: ComplaintRow | _ComplaintRecord) -> Complaint:
        history = [_HistoryRecord._make(h) for h in _HISTORY_OF.rows(self.session.connection(), {"id": row.id})]
        complaint = to_domain(row, history)
        self.seen[row.id] = complaint
        self._history_len[row.id] = len(history)
        return complaint

    def open_near(self, service_code: str, lat: float, lon: float, radius_m: float, since: datetime) -> list[Complaint]:
        """Open, unlinked complaints of a category in a box around a point: light candidates for find_duplicate
        (no history loaded; the chosen master is loaded in full by `get`)."""
        min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius_m)
        rows = _OPEN_NEAR.rows(
            self.session.connection(),
            {"code": service_code, "since": since, "min_lat": min_lat, "max_lat": max_lat, "min_lon": min_lon,
             "max_lon": max_lon},
        )
        queued = [  # submitted earlier in this group commit, not written yet
            r for r in deferred_rows(self.session, _TABLE)
            if r["service_code"] == service_code and r["status"] in _OPEN and r["duplicate_of"] is None
            and r["lat"] is not None and min_lat <= r["lat"] <= max_lat and min_lon <= r["lon"] <= max_lon
            and r["requested_at"] >= since
        ]
        candidates = [(id_, channel, lat_, lon_, _utc(at), status) for id_, channel, lat_, lon_, at, status in rows]
        candidates += [(r["id"], r["channel"], r["lat"], r["lon"], r["requested_at"], r["status"]) for r in queued]
        return [
            self.seen.get(id_)
            or Complaint(
                id=id_, channel=Channel(channel), service_code=service_code, description="",
                area=Area(lat=lat_, lon=lon_), reporter_ref="", anonymous=True,
                requested_at=requested_at, status=Status(status),
            )
            for id_, channel, lat_, lon_, requested_at, status in candidates
        ]

    def linked_to(self, master_id: str) -> list[Complaint]:
        flush_deferred(self.session)
        rows = self.session.exec(select(ComplaintRow).where(ComplaintRow.duplicate_of == master_id)).all()
        return [self.seen.get(r.id) or self._track(r) for r in rows]

    def overdue_ids(self, now: datetime, limit: int = 500) -> list[str]:
        flush_deferred(self.session)
        return list(
            self.session.exec(
                select(ComplaintRow.id)
                .where(
                    col(ComplaintRow.status).in_([Status.ROUTED.value, Status.IN_PROGRESS.value]),
                    col(ComplaintRow.duplicate_of).is_(None),
                    col(ComplaintRow.due_at) < now,
                )
                .limit(limit)
            ).all()
        )

    def list(self, flt: ComplaintFilter, offset: int, limit: int) -> tuple[list[ComplaintRow], int]:
        flush_deferred(self.session)
        stmt = select(ComplaintRow)
        if flt.statuses:
            stmt = stmt.where(col(ComplaintRow.status).in_([s.value for s in flt.statuses]))
        for column, value in (
            (col(ComplaintRow.service_code), flt.service_code),
            (col(ComplaintRow.agency_code), flt.agency_code),
            (col(ComplaintRow.kota_code), flt.kota_code),
            (col(ComplaintRow.kelurahan_code), flt.kelurahan_code),
            (col(ComplaintRow.channel), flt.channel),
        ):
            if value:
                stmt = stmt.where(column == value)
        if flt.ids:
            stmt = stmt.where(col(ComplaintRow.id).in_(flt.ids))
        if flt.start:
            stmt = stmt.where(col(ComplaintRow.requested_at) >= flt.start)
        if flt.end:
            stmt = stmt.where(col(ComplaintRow.requested_at) <= flt.end)
        total = self.session.exec(select(func.count()).select_from(stmt.subquery())).one()
        rows = self.session.exec(
            stmt.order_by(col(ComplaintRow.requested_at).desc(), col(ComplaintRow.id).desc()).offset(offset).limit(limit)
        ).all()
        return list(rows), total

    # -- sensor incidents ---------------------------------------------------------------------------------
    def incident(self, station_id: str, kind: str) -> SensorIncidentRow | None:
        flush_deferred(self.session)
        return self.session.get(SensorIncidentRow, (station_id, kind))


def to_domain(row: ComplaintRow | _ComplaintRecord, history: list[HistoryRow] | list[_HistoryRecord]) -> Complaint:
    return Complaint(
        id=row.id,
        channel=Channel(row.channel),
        service_code=row.service_code,
        description=row.description,
        area=Area(
            lat=row.lat,
            lon=row.lon,
            address=row.address,
            kelurahan_code=row.kelurahan_code,
            kelurahan=row.kelurahan,
            kecamatan=row.kecamatan,
            kota_code=row.kota_code,
            kota=row.kota,
        ),
        reporter_ref=row.reporter_ref,
        anonymous=row.anonymous,
        requested_at=_utc(row.requested_at),
        media_urls=json.loads(row.media_urls),
        attributes=json.loads(row.attributes),
        external_ref=row.external_ref,
        status=Status(row.status),
        updated_at=_utc(row.updated_at),
        agency_code=row.agency_code,
        unit=row.unit,
        routed_at=_utc(row.routed_at),
        due_at=_utc(row.due_at),
        resolved_at=_utc(row.resolved_at),
        closed_at=_utc(row.closed_at),
        sla_breached=row.sla_breached,
        escalation_level=row.escalation_level,
        duplicate_of=row.duplicate_of,
        supporters_count=row.supporters_count,
        rating=row.rating,
        status_notes=row.status_notes,
        history=[HistoryEntry(_utc(h.at), h.kind, Status(h.status), h.actor, h.note) for h in history],
    )


def load_routing_table(session: Session, default_agency: str) -> RoutingTable:
    agencies = {a.code: Agency(a.code, a.name, a.short_name) for a in session.exec(select(AgencyRow)).all()}
    categories = {}
    for c in session.exec(select(ServiceCategoryRow)).all():
        categories[c.code] = ServiceCategory(
            code=c.code,
            name=c.name,
            description=c.description,
            group=c.group,
            agency_code=c.agency_code,
            sla_hours=c.sla_hours,
            keywords=tuple(json.loads(c.keywords)),
            attributes=tuple(
                AttributeDef(
                    code=a["code"],
                    datatype=a["datatype"],
                    required=a.get("required", False),
                    description=a.get("description", ""),
                    values=tuple(a.get("values", ())),
                    order=a.get("order", 0),
                )
                for a in json.loads(c.attributes)
            ),
        )
    rules = [
        RoutingRule(r.service_code, r.agency_code, r.unit, r.kota_code)
        for r in session.exec(select(RoutingRuleRow).order_by(col(RoutingRuleRow.id))).all()
    ]
    return RoutingTable(agencies=agencies, categories=categories, rules=rules, default_agency=default_agency)
