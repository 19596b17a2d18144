"""Proposals, supports, evidence and selections in the service's database.

Support counts move only by relative SQL increments (`support_count = support_count + 1`) under the row's lock,
so that simultaneous supports never overwrite each other; everything else a proposal holds is written with an
optimistic version check: a change made meanwhile by another request aborts this one (ConcurrentChange) instead
of being lost."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from kota_common.db.tables import table_of
from kota_common.errors import ServiceError
from kota_musrenbang.adapters.orm import (
    AlertEvidenceRow,
    ComplaintEvidenceRow,
    HistoryRow,
    MilestoneRow,
    ProposalRow,
    SelectionRow,
    SupportQuotaRow,
    SupportRow,
)
from kota_musrenbang.domain.catalog import Activity, activity_by_code
from kota_musrenbang.domain.cycle import Level
from kota_musrenbang.domain.evidence import Evidence
from kota_musrenbang.domain.model import HistoryEntry, Location, Milestone, Proposal, Status


class ConcurrentChange(ServiceError):
    """Another request changed the proposal after this one read it: nothing was written; try again."""

    code = grpc.StatusCode.ABORTED


@dataclass(frozen=True)
class Assessment:
    urgency: int
    beneficiaries: int
    alignment: int


@dataclass
class StoredProposal:
    """A proposal as loaded, with what only this service keeps beside it."""

    proposal: Proposal
    proposer_hash: str
    assessment: Assessment | None
    version: int
    loaded_history: int = 0  # entries already stored
    loaded_milestones: int = 0
    assessed: bool = False  # the assessment changed

    @property
    def changed(self) -> bool:
        return bool(self.proposal.events) or self.assessed or len(self.proposal.history) != self.loaded_history


@dataclass(frozen=True)
class SupportsAdded:
    """What add_supports did: per wish, True (added), False (supported already) or None (no support left this
    cycle); the touched proposals' support counts and the residents' supports used, as the batch left them."""

    added: list[bool | None]
    counts: dict[str, int]
    used: dict[str, int]


@dataclass(frozen=True)
class ProposalFilter:
    cycle_year: int
    kelurahan_code: str = ""
    kecamatan_code: str = ""
    statuses: tuple[Status, ...] = ()
    activity_code: str = ""
    q: str = ""
    order_by: str = "newest"


def _insert(session: Session, table):
    """INSERT with ON CONFLICT, in the database's dialect."""
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


class _SupportStatements:
    """The statements of a batch of supports, built once per dialect: building and keying a statement for the
    SQL cache costs more than executing it (lists go in as expanding parameters)."""

    def __init__(self, dialect: str):
        proposals, supports, quota = table_of(ProposalRow), table_of(SupportRow), table_of(SupportQuotaRow)
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.states = select(proposals.c.id, proposals.c.status, proposals.c.support_count).where(
            proposals.c.id.in_(bindparam("ids", expanding=True)))
        self.existing = select(supports.c.proposal_id, supports.c.resident_hash).where(
            supports.c.proposal_id.in_(bindparam("ids", expanding=True)),
            supports.c.resident_hash.in_(bindparam("residents", expanding=True)))
        self.used = select(quota.c.resident_hash, quota.c.used).where(
            quota.c.cycle_year == bindparam("year"), quota.c.resident_hash.in_(bindparam("residents", expanding=True)))
        upsert = insert(quota)
        self.raise_quotas = upsert.on_conflict_do_update(  # executed for many: "limit" in every parameter set
            index_elements=["cycle_year", "resident_hash"], set_={"used": quota.c.used + upsert.excluded.used},
            where=quota.c.used + upsert.excluded.used <= bindparam("limit")).returning(quota.c.resident_hash, quota.c.used)
        self.raise_quota = upsert.on_conflict_do_update(
            index_elements=["cycle_year", "resident_hash"], set_={"used": quota.c.used + 1},
            where=quota.c.used < bindparam("limit")).returning(quota.c.used)
        # executemany with RETURNING (SQLAlchemy's insertmanyvalues): one statement for a batch
        self.add = insert(supports).on_conflict_do_nothing().returning(supports.c.proposal_id, supports.c.resident_hash)
        # no version bump: support counts are never written from a loaded proposal (see _columns)
        self.raise_count = update(proposals).where(proposals.c.id == bindparam("pid")).values(
            support_count=proposals.c.support_count + bindparam("n"))
        self.counts = select(proposals.c.id, proposals.c.support_count).where(
            proposals.c.id.in_(bindparam("ids", expanding=True)))


_SUPPORT_STATEMENTS = {dialect: _SupportStatements(dialect) for dialect in ("sqlite", "postgresql")}


class ProposalRepository:
    def __init__(self, session: Session, catalogue: tuple[Activity, ...]):
        self.session = session
        self.catalogue = catalogue
        self.seen: dict[str, StoredProposal] = {}
        self._new: set[str] = set()
        self._request_ids: dict[str, str | None] = {}
        self.counted: dict[str, int] = {}  # support counts as this transaction left them

    # -- proposals ---------------------------------------------------------------------------------------------
    def add(self, proposal: Proposal, proposer_hash: str, request_id: str | None = None) -> None:
        self.seen[proposal.id] = StoredProposal(proposal, proposer_hash, None, 0)
        self._new.add(proposal.id)
        self._request_ids[proposal.id] = request_id

    def get(self, proposal_id: str) -> StoredProposal | None:
        if proposal_id in self.seen:
            return self.seen[proposal_id]
        query = select(ProposalRow).where(col(ProposalRow.id) == proposal_id)
        row = self.session.execute(query).scalar_one_or_none()
        if row is None:
            return None
        return self._load([row])[0]

    def by_request_id(self, request_id: str) -> StoredProposal | None:
        row = self.session.execute(select(ProposalRow).where(col(ProposalRow.request_id) == request_id)).scalar_one_or_none()
        return None if row is None else self._load([row])[0]

    def search(self, f: ProposalFilter, *, offset: int, limit: int) -> tuple[list[StoredProposal], int]:
        conditions = [col(ProposalRow.cycle_year) == f.cycle_year]
        if f.kelurahan_code:
            conditions.append(col(ProposalRow.kelurahan_code) == f.kelurahan_code)
        if f.kecamatan_code:
            conditions.append(col(ProposalRow.kecamatan_code) == f.kecamatan_code)
        if f.statuses:
            conditions.append(col(ProposalRow.status).in_([s.value for s in f.statuses]))
        if f.activity_code:
            conditions.append(col(ProposalRow.activity_code) == f.activity_code)
        for word in f.q.split()[:5]:
            pattern = f"%{word.lower()}%"
            conditions.append(or_(func.lower(ProposalRow.title).like(pattern), func.lower(ProposalRow.problem).like(pattern)))
        where = and_(*conditions)
        total = self.session.execute(select(func.count()).select_from(ProposalRow).where(where)).scalar_one()
        orders: dict[str, list[Any]] = {
            "supports": [col(ProposalRow.support_count).desc(), col(ProposalRow.created).desc()],
            "score": [col(ProposalRow.score_total).desc().nulls_last(), col(ProposalRow.created).desc()],
            "cost": [col(ProposalRow.cost).desc()],
        }
        order = orders.get(f.order_by, [col(ProposalRow.created).desc()])
        rows = self.session.execute(
            select(ProposalRow).where(where).order_by(*order, col(ProposalRow.id)).offset(offset).limit(limit)
        ).scalars().all()
        return self._load(list(rows)), total

    def nearby(self, cycle_year: int, kecamatan_code: str, exclude: str) -> list[Proposal]:
        """The cycle's live proposals in a kecamatan (candidates for duplicates)."""
        rows = self.session.execute(
            select(ProposalRow).where(
                col(ProposalRow.cycle_year) == cycle_year, col(ProposalRow.kecamatan_code) == kecamatan_code,
                col(ProposalRow.status).in_([Status.SUBMITTED.value, Status.VERIFIED.value, Status.PRIORITISED.value]),
                col(ProposalRow.id) != exclude,
            )
        ).scalars().all()
        return [s.proposal for s in self._load(list(rows), with_children=False)]

    def set_assessment(self, proposal_id: str, assessment: Assessment, score: float) -> None:
        stored = self.seen[proposal_id]
        stored.assessment, stored.assessed = assessment, True
        stored.proposal.score = score

    def flush_changes(self) -> None:
        """Writes every proposal seen: new ones whole, changed ones with a version check; then their new history
        entries and milestones."""
        for pid, stored in self.seen.items():
            if pid not in self._new and not stored.changed:
                continue
            p = stored.proposal
            values = self._columns(stored)
            if pid in self._new:
                row = ProposalRow(**values, id=pid, proposer_hash=stored.proposer_hash, proposer_ref=p.proposer_ref,
                                  support_count=p.support_count, created=p.created_at, version=1,
                                  request_id=self._request_ids.get(pid))
                self.session.add(row)
                self.session.flush()
                stored.version = 1
            else:
                done = self.session.execute(
                    update(ProposalRow)
                    .where(col(ProposalRow.id) == pid, col(ProposalRow.version) == stored.version)
                    .values(**values, version=stored.version + 1)
                )
                if done.rowcount != 1:  # type: ignore[attr-defined]
                    raise ConcurrentChange(f"usulan {pid} diubah oleh permintaan lain; silakan ulangi")
                stored.version += 1
            for h in p.history[stored.loaded_history:]:
                self.session.add(HistoryRow(proposal_id=pid, at=h.at, status=h.status.value, actor=h.actor,
                                            reason=h.reason, level=h.level.value if h.level else None))
            for m in p.milestones[stored.loaded_milestones:]:
                at = m.at if isinstance(m.at, datetime) else datetime(m.at.year, m.at.month, m.at.day)
                self.session.add(MilestoneRow(proposal_id=pid, title=m.title, progress_percent=m.progress_percent, at=at,
                                              photo_url=m.photo_url, note=m.note))
            stored.loaded_history, stored.loaded_milestones, stored.assessed = len(p.history), len(p.milestones), False
        self._new.clear()
        self.session.flush()

    # -- supports ----------------------------------------------------------------------------------------------
    def support_states(self, proposal_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """(status, support count) of each proposal that exists, in one query."""
        rows = self.session.connection().execute(self._supporting.states, {"ids": sorted(set(proposal_ids))})
        return {pid: (status, count) for pid, status, count in rows}

    def add_supports(self, wishes: Sequence[tuple[str, str]], cycle_year: int, limit: int, at: datetime) -> SupportsAdded:
        """Records a batch of supports, (proposal id, resident hash) each, as if one after another in this order:
        a resident's support of a proposal they support already (or earlier in the batch) is not added; one past
        their `limit` for the cycle neither. Set-wise: two reads (the pairs that exist, the residents' quotas), one
        conditional quota upsert, one insert and one count update for the whole batch, whatever its size.

        Exact under concurrency, replicas included: the quotas rise by a conditional upsert (used + n <= limit)
        and the supports' primary key refuses a pair twice; when either finds another writer got there first
        between the reads and the writes, that resident's wishes fall back to one conditional upsert each."""
        sql, conn = self._supporting, self.session.connection()  # Core on the connection: no ORM work a statement
        residents = sorted({r for _p, r in wishes})
        existing = {(p, r) for p, r in conn.execute(sql.existing, {"ids": sorted({p for p, _r in wishes}),
                                                                   "residents": residents})}
        used = {r: n for r, n in conn.execute(sql.used, {"year": cycle_year, "residents": residents})}
        added: list[bool | None] = []
        first: dict[tuple[str, str], int] = {}
        repeats: list[tuple[int, int]] = []  # (wish, the same wish earlier in the batch)
        wanted: dict[str, list[int]] = {}  # resident -> indexes of the wishes to add, in order
        for i, pair in enumerate(wishes):
            if pair in first:
                repeats.append((i, first[pair]))
                added.append(False)
                continue
            first[pair] = i
            mine = wanted.setdefault(pair[1], [])
            if pair in existing:
                added.append(False)
            elif used.get(pair[1], 0) + len(mine) >= limit:
                added.append(None)
            else:
                added.append(True)
                mine.append(i)
        wanted = {r: idx for r, idx in wanted.items() if idx}
        if wanted:
            self._raise_quotas(wanted, added, used, cycle_year, limit)
        inserting = [wishes[i] for idx in wanted.values() for i in idx if added[i]]
        counts: dict[str, int] = {}
        if inserting:
            stored = {(p, r) for p, r in conn.execute(sql.add, [
                {"proposal_id": p, "resident_hash": r, "cycle_year": cycle_year, "created": at} for p, r in inserting])}
            for pair in set(inserting) - stored:  # another replica's, a moment ago
                added[first[pair]] = False
                self._give_back(cycle_year, pair[1])
                used[pair[1]] -= 1
            counts = self._raise_counts(Counter(p for p, _r in stored))
        for i, earlier in repeats:  # asked twice in the batch: the second finds what the first did
            added[i] = None if added[earlier] is None else False
        return SupportsAdded(added, counts, used)

    @property
    def _supporting(self) -> _SupportStatements:
        return _SUPPORT_STATEMENTS["postgresql" if self.session.get_bind().dialect.name == "postgresql" else "sqlite"]

    def _raise_quotas(self, wanted: dict[str, list[int]], added: list[bool | None], used: dict[str, int],
                      cycle_year: int, limit: int) -> None:
        """Takes each resident's wanted supports from their quota (`used` and `added` updated)."""
        sql, conn = self._supporting, self.session.connection()
        raised = {r: n for r, n in conn.execute(sql.raise_quotas, [
            {"cycle_year": cycle_year, "resident_hash": r, "used": len(idx), "limit": limit} for r, idx in wanted.items()])}
        used.update(raised)
        for resident in wanted.keys() - raised.keys():  # another replica raised it since the read: one at a time
            for i in wanted[resident]:
                # RETURNING says whether a row was written: an INSERT's rowcount is not reported by every driver
                now = conn.execute(sql.raise_quota, {"cycle_year": cycle_year, "resident_hash": resident, "used": 1,
                                                     "limit": limit}).scalar_one_or_none()
                if now is None:
                    added[i] = None
                else:
                    used[resident] = now
            if not any(added[i] for i in wanted[resident]):
                del wanted[resident]

    def _raise_counts(self, increments: Counter[str]) -> dict[str, int]:
        """Adds each proposal's new supports to its count (one UPDATE, executed for many); the counts as they now
        are, read back in one query."""
        if not increments:
            return {}
        sql, conn = self._supporting, self.session.connection()
        conn.execute(sql.raise_count, [{"pid": pid, "n": n} for pid, n in sorted(increments.items())])
        counts = {pid: count for pid, count in conn.execute(sql.counts, {"ids": sorted(increments)})}
        for pid, count in counts.items():
            self.counted[pid] = count
            if pid in self.seen:
                self.seen[pid].proposal.support_count = count
        return counts

    def remove_support(self, proposal_id: str, resident_hash: str, cycle_year: int) -> bool:
        removed = self.session.execute(
            delete(SupportRow).where(col(SupportRow.proposal_id) == proposal_id, col(SupportRow.resident_hash) == resident_hash)
        )
        if removed.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self._give_back(cycle_year, resident_hash)
        self._bump_count(proposal_id, -1)
        return True

    def brief(self, proposal_id: str) -> tuple[str, str] | None:
        """(status, kelurahan code) of a proposal: what a support needs to know, without loading it."""
        row = self.session.execute(
            select(col(ProposalRow.status), col(ProposalRow.kelurahan_code)).where(col(ProposalRow.id) == proposal_id)
        ).first()
        return None if row is None else (row[0], row[1])

    def _give_back(self, cycle_year: int, resident_hash: str) -> None:
        self.session.execute(
            update(SupportQuotaRow)
            .where(col(SupportQuotaRow.cycle_year) == cycle_year, col(SupportQuotaRow.resident_hash) == resident_hash)
            .values(used=SupportQuotaRow.used - 1)
        )

    def supports_used(self, cycle_year: int, resident_hash: str) -> int:
        used = self.session.execute(
            select(col(SupportQuotaRow.used)).where(col(SupportQuotaRow.cycle_year) == cycle_year,
                                               col(SupportQuotaRow.resident_hash) == resident_hash)
        ).scalar_one_or_none()
        return used or 0

    def support_count(self, proposal_id: str) -> int:
        return self.session.execute(select(col(ProposalRow.support_count)).where(col(ProposalRow.id) == proposal_id)).scalar_one()

    def merge_supports(self, source_id: str, target_id: str) -> int:
        """Moves the source's supporters to the target, each resident once (one who supported both keeps one
        support there and gets the other back); the target's count as it now is."""
        target_residents = select(col(SupportRow.resident_hash)).where(col(SupportRow.proposal_id) == target_id)
        both = self.session.execute(
            select(col(SupportRow.resident_hash), col(SupportRow.cycle_year)).where(
                col(SupportRow.proposal_id) == source_id, col(SupportRow.resident_hash).in_(target_residents))
        ).all()
        for resident_hash, cycle_year in both:
            self.session.execute(
                update(SupportQuotaRow)
                .where(col(SupportQuotaRow.cycle_year) == cycle_year, col(SupportQuotaRow.resident_hash) == resident_hash)
                .values(used=SupportQuotaRow.used - 1)
            )
        self.session.execute(delete(SupportRow).where(
            col(SupportRow.proposal_id) == source_id, col(SupportRow.resident_hash).in_([h for h, _ in both])))
        self.session.execute(update(SupportRow).where(col(SupportRow.proposal_id) == source_id).values(proposal_id=target_id))
        count = self.session.execute(
            select(func.count()).select_from(SupportRow).where(col(SupportRow.proposal_id) == target_id)).scalar_one()
        for pid, n in ((target_id, count), (source_id, 0)):
            self.session.execute(update(ProposalRow).where(col(ProposalRow.id) == pid).values(support_count=n))
        for pid in (target_id, source_id):
            if pid in self.seen:
                self.seen[pid].proposal.support_count = count if pid == target_id else 0
        return count

    def _bump_count(self, proposal_id: str, delta: int) -> None:
        # no version bump: support counts are never written from a loaded proposal (see _columns)
        self.counted[proposal_id] = self.session.execute(
            update(ProposalRow).where(col(ProposalRow.id) == proposal_id)
            .values(support_count=ProposalRow.support_count + delta).returning(col(ProposalRow.support_count))
        ).scalar_one()
        if proposal_id in self.seen:
            self.seen[proposal_id].proposal.support_count = self.counted[proposal_id]

    # -- evidence ----------------------------------------------------------------------------------------------
    def record_complaint(self, complaint_id: str, kelurahan_code: str, service_code: str, at: datetime) -> None:
        if self.session.get(ComplaintEvidenceRow, complaint_id) is None:
            self.session.add(ComplaintEvidenceRow(complaint_id=complaint_id, kelurahan_code=kelurahan_code,
                                                  service_code=service_code, at=at))

    def record_alert(self, alert_id: str, kecamatan_code: str, kind: str, level: str, station: str, at: datetime) -> None:
        if self.session.get(AlertEvidenceRow, alert_id) is None:
            self.session.add(AlertEvidenceRow(alert_id=alert_id, kecamatan_code=kecamatan_code, kind=kind, level=level,
                                              station_name=station, at=at))

    def evidence(self, kelurahan_code: str, kecamatan_code: str, service_codes: frozenset[str],
                 alert_kinds: frozenset[str], since: datetime) -> Evidence:
        complaints: dict[str, int] = {}
        alerts: dict[str, int] = {}
        if service_codes:
            complaints = dict(self.session.execute(
                select(col(ComplaintEvidenceRow.service_code), func.count()).where(
                    col(ComplaintEvidenceRow.kelurahan_code) == kelurahan_code,
                    col(ComplaintEvidenceRow.service_code).in_(sorted(service_codes)),
                    col(ComplaintEvidenceRow.at) >= since,
                ).group_by(col(ComplaintEvidenceRow.service_code))
            ).all())
        if alert_kinds:
            alerts = dict(self.session.execute(
                select(col(AlertEvidenceRow.kind), func.count()).where(
                    col(AlertEvidenceRow.kecamatan_code) == kecamatan_code,
                    col(AlertEvidenceRow.kind).in_(sorted(alert_kinds)),
                    col(AlertEvidenceRow.at) >= since,
                ).group_by(col(AlertEvidenceRow.kind))
            ).all())
        return Evidence(complaints, alerts)

    # -- selections --------------------------------------------------------------------------------------------
    def add_selection(self, selection_id: str, cycle_year: int, kecamatan_code: str, document: dict, at: datetime) -> None:
        self.session.add(SelectionRow(id=selection_id, cycle_year=cycle_year, kecamatan_code=kecamatan_code,
                                      document=json.dumps(document), decided_at=at))

    def latest_selection(self, cycle_year: int, kecamatan_code: str) -> dict | None:
        doc = self.session.execute(
            select(col(SelectionRow.document)).where(col(SelectionRow.cycle_year) == cycle_year,
                                                col(SelectionRow.kecamatan_code) == kecamatan_code)
            .order_by(col(SelectionRow.decided_at).desc()).limit(1)
        ).scalar_one_or_none()
        return None if doc is None else json.loads(doc)

    # -- mapping -----------------------------------------------------------------------------------------------
    def _columns(self, stored: StoredProposal) -> dict:
        p, a = stored.proposal, stored.assessment
        loc = p.location
        return dict(
            cycle_year=p.cycle_year, title=p.title, problem=p.problem, activity_code=p.activity.code, volume=p.volume,
            cost=p.cost, kelurahan_code=loc.kelurahan_code, kecamatan_code=loc.kecamatan_code, rw=loc.rw, rt=loc.rt,
            address=loc.address, lat=loc.lat, lon=loc.lon, photo_url=p.photo_url, status=p.status.value,
            level=p.level.value, urgency=a.urgency if a else None, beneficiaries=a.beneficiaries if a else None,
            alignment=a.alignment if a else None, score_total=p.score,
            ranks=json.dumps({lv.value: r for lv, r in p.ranks.items()}), technically_verified=p.technically_verified,
            merged_into=p.merged_into, updated=p.updated_at or p.created_at,
        )

    def _load(self, rows: list[ProposalRow], *, with_children: bool = True) -> list[StoredProposal]:
        ids = [r.id for r in rows]
        history: dict[str, list[HistoryEntry]] = {i: [] for i in ids}
        milestones: dict[str, list[Milestone]] = {i: [] for i in ids}
        if with_children and ids:
            for h in self.session.execute(
                select(HistoryRow).where(col(HistoryRow.proposal_id).in_(ids)).order_by(col(HistoryRow.id))
            ).scalars():
                history[h.proposal_id].append(HistoryEntry(h.at, Status(h.status), h.actor, h.reason,
                                                           Level(h.level) if h.level else None))
            for m in self.session.execute(
                select(MilestoneRow).where(col(MilestoneRow.proposal_id).in_(ids)).order_by(col(MilestoneRow.id))
            ).scalars():
                milestones[m.proposal_id].append(Milestone(m.title, m.progress_percent, m.at, m.photo_url, m.note))
        loaded = []
        for r in rows:
            activity = activity_by_code(r.activity_code, self.catalogue)
            if activity is None:
                raise LookupError(f"activity {r.activity_code} of proposal {r.id} is not in the catalogue")
            proposal = Proposal(
                id=r.id, cycle_year=r.cycle_year, title=r.title, problem=r.problem, activity=activity, volume=r.volume,
                location=Location(r.kelurahan_code, r.kecamatan_code, r.rw, r.rt, r.address, r.lat, r.lon),
                proposer_ref=r.proposer_ref, created_at=r.created, photo_url=r.photo_url, status=Status(r.status),
                level=Level(r.level), support_count=r.support_count, score=r.score_total,
                ranks={Level(k): v for k, v in json.loads(r.ranks).items()}, technically_verified=r.technically_verified,
                updated_at=r.updated, merged_into=r.merged_into, history=history[r.id], milestones=milestones[r.id],
            )
            assessment = None
            if r.urgency is not None and r.beneficiaries is not None and r.alignment is not None:
                assessment = Assessment(r.urgency, r.beneficiaries, r.alignment)
            stored = StoredProposal(proposal, r.proposer_hash, assessment, r.version, len(history[r.id]),
                                    len(milestones[r.id]))
            if with_children:
                self.seen[r.id] = stored
            loaded.append(stored)
        return loaded
