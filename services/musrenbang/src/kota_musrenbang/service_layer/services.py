"""The use cases of e-Musrenbang: each takes a command, loads through the repository inside a unit of work, lets
the domain decide and commits. The domain's refusals become the errors every entrypoint maps to its protocol:
a rule broken by the input is INVALID_ARGUMENT (with the field), the wrong stage or status FAILED_PRECONDITION,
the wrong role or area PERMISSION_DENIED."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from kota_common.auth import Principal
from kota_common.clock import now_utc
from kota_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, ServiceError
from kota_common.events import musrenbang as ev
from kota_common.ids import new_uuid
from kota_common.reference import AreaDirectory, haversine_km
from kota_common.telemetry import current_trace_headers
from kota_musrenbang.adapters.repository import Assessment, ProposalFilter, StoredProposal
from kota_musrenbang.domain import duplicates, evidence, scoring, selection
from kota_musrenbang.domain.catalog import JAKARTA_ACTIVITIES, Activity, Field, activity_by_code
from kota_musrenbang.domain.cycle import Action, Level, PlanningCycle
from kota_musrenbang.domain.errors import (
    DomainError,
    InvalidNik,
    InvalidTransition,
    NotPermitted,
    OutsideStageWindow,
    SelectionInfeasible,
    SupportLimitReached,
)
from kota_musrenbang.domain.model import HistoryEntry, Location, Milestone, Proposal, Role, Staff, Status
from kota_musrenbang.domain.nik import Nik, NikHasher, nik_matches_kelurahan, parse_nik, resident_ref
from kota_musrenbang.service_layer.unit_of_work import UnitOfWork

MakeUnitOfWork = Callable[[], UnitOfWork]
MAX_PAGE = 200


@dataclass
class Context:
    """What the use cases share: the cycle's calendar, the catalogue, the city's areas, the NIK hasher, the
    scoring weights and the duplicate policy."""

    cycle: PlanningCycle
    areas: AreaDirectory
    hasher: NikHasher
    weights: scoring.Weights = field(default_factory=scoring.Weights)
    catalogue: tuple[Activity, ...] = JAKARTA_ACTIVITIES
    duplicate_radius_km: float = 0.5
    duplicate_min_similarity: float = 70.0
    city: str = "Provinsi DKI Jakarta"
    clock: Callable[[], datetime] = now_utc
    # each proposal's kelurahan once read (it never changes): a support checks the resident's area without a read
    proposal_kelurahan: dict[str, str] = field(default_factory=dict, repr=False)


@contextmanager
def domain_rules() -> Iterator[None]:
    """The domain's refusals as service errors, with the offending field."""
    try:
        yield
    except (OutsideStageWindow, InvalidTransition, SupportLimitReached, SelectionInfeasible) as exc:
        raise FailedPrecondition(exc.message, [(exc.field or "state", exc.message)]) from None
    except NotPermitted as exc:
        raise PermissionDenied(exc.message, [(exc.field or "authorization", exc.message)]) from None
    except DomainError as exc:
        raise InvalidArgument(exc.message, [(exc.field or "request", exc.message)]) from None


# -- residents -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resident:
    nik: Nik
    hash: str

    @property
    def ref(self) -> str:
        return resident_ref(self.hash)


def resident(ctx: Context, raw_nik: str, kelurahan_code: str) -> Resident:
    """A verified resident of the kelurahan's kecamatan (the NIK names the kecamatan that issued it)."""
    try:
        nik = parse_nik(raw_nik, today=ctx.clock().date())
    except InvalidNik as exc:
        raise InvalidArgument(f"NIK tidak valid: {exc.message}", [("nik", exc.message)]) from None
    if ctx.areas.find_kelurahan(kelurahan_code) is None:
        raise InvalidArgument(f"kelurahan {kelurahan_code!r} tidak dikenal", [("kelurahan_code", "tidak dikenal")])
    if not nik_matches_kelurahan(nik, kelurahan_code):
        message = f"NIK ini tidak terdaftar di kecamatan kelurahan {kelurahan_code}"
        raise PermissionDenied(message, [("nik", message)])
    return Resident(nik, ctx.hasher.hash(nik))


def check_resident(ctx: Context, uow: UnitOfWork, raw_nik: str, kelurahan_code: str) -> tuple[bool, str, int]:
    try:
        who = resident(ctx, raw_nik, kelurahan_code)
    except ServiceError as exc:
        return False, exc.message, 0
    with uow:
        used = uow.proposals.supports_used(ctx.cycle.year, who.hash)
    return True, "", max(ctx.cycle.support_limit - used, 0)


# -- staff -----------------------------------------------------------------------------------------------------
def staff_of(principal: Principal) -> Staff:
    """The Musrenbang role a bearer token carries, with its area (kelurahan code, "/<rw>" for RT/RW)."""
    roles = [r for r in Role if r.value in principal.roles]
    if not roles:
        needed = ", ".join(r.value for r in Role)
        raise PermissionDenied(f"token tanpa peran Musrenbang (perlu salah satu: {needed})", [("authorization", needed)])
    area, _, rw = principal.area.partition("/")
    with domain_rules():
        return Staff(actor_id=principal.subject, role=roles[0], area_code=area, agency_code=principal.agency or None, rw=rw)


# -- proposals -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubmitProposal:
    nik: str
    title: str
    problem: str
    activity_code: str
    volume: int
    kelurahan_code: str
    rw: str = ""
    rt: str = ""
    address: str = ""
    lat: float | None = None
    lon: float | None = None
    photo_url: str = ""
    draft: bool = False
    request_id: str = ""


@dataclass
class ProposalView:
    """A proposal as shown: with the city's evidence and its score's parts."""

    stored: StoredProposal
    evidence: evidence.Evidence
    score: scoring.Score | None

    @property
    def proposal(self) -> Proposal:
        return self.stored.proposal


def activity(ctx: Context, code: str) -> Activity:
    found = activity_by_code(code, ctx.catalogue)
    if found is None:
        raise InvalidArgument(f"kegiatan {code!r} tidak ada di katalog", [("activity_code", "tidak ada di katalog")])
    return found


def submit_proposal(ctx: Context, uow: UnitOfWork, cmd: SubmitProposal) -> tuple[ProposalView, list[duplicates.Similar]]:
    who = resident(ctx, cmd.nik, cmd.kelurahan_code)
    at = ctx.clock()
    with uow:
        if cmd.request_id and (earlier := uow.proposals.by_request_id(cmd.request_id)) is not None:
            if earlier.proposer_hash != who.hash:
                raise FailedPrecondition("request_id sudah dipakai", [("request_id", "sudah dipakai")])
            return _view(ctx, uow, earlier), []
        with domain_rules():
            level = Level.KELURAHAN if cmd.draft else ctx.cycle.submission_level(at)
            location = Location(cmd.kelurahan_code, cmd.kelurahan_code.rsplit(".", 1)[0], cmd.rw, cmd.rt,
                                " ".join(cmd.address.split())[:300], cmd.lat, cmd.lon)
            make = Proposal.draft if cmd.draft else Proposal.submit_new
            proposal = make(id=f"U-{ctx.cycle.year}-{new_uuid()[:8]}", cycle_year=ctx.cycle.year, title=cmd.title,
                            problem=cmd.problem, activity=activity(ctx, cmd.activity_code), volume=cmd.volume,
                            location=location, proposer_ref=who.ref, at=at, photo_url=cmd.photo_url, level=level,
                            areas=ctx.areas)
        similar = duplicates.find_similar(proposal, uow.proposals.nearby(ctx.cycle.year, location.kecamatan_code, proposal.id),
                                          radius_km=ctx.duplicate_radius_km, min_similarity=ctx.duplicate_min_similarity)
        uow.proposals.add(proposal, who.hash, cmd.request_id or None)
        uow.complete()
        return _view(ctx, uow, uow.proposals.seen[proposal.id]), similar


def get_proposal(ctx: Context, uow: UnitOfWork, proposal_id: str) -> ProposalView:
    with uow:
        return _view(ctx, uow, _found(uow, proposal_id))


def list_proposals(ctx: Context, uow: UnitOfWork, f: ProposalFilter, page_size: int, page_token: str
                   ) -> tuple[list[ProposalView], str, int]:
    size = page_size or 50
    if not 0 < size <= MAX_PAGE:
        raise InvalidArgument(f"page_size harus 1 sampai {MAX_PAGE}", [("page_size", f"1..{MAX_PAGE}")])
    try:
        offset = int(page_token or 0)
        if offset < 0:
            raise ValueError
    except ValueError:
        raise InvalidArgument("page_token tidak valid", [("page_token", "tidak valid")]) from None
    with uow:
        stored, total = uow.proposals.search(f, offset=offset, limit=size)
        views = [_view(ctx, uow, s) for s in stored]
    next_token = str(offset + size) if offset + size < total else ""
    return views, next_token, total


def _found(uow: UnitOfWork, proposal_id: str) -> StoredProposal:
    stored = uow.proposals.get(proposal_id) if proposal_id else None
    if stored is None:
        raise NotFound(f"usulan {proposal_id!r} tidak ditemukan", [("id", "tidak ditemukan")])
    return stored


def proposal_evidence(ctx: Context, uow: UnitOfWork, proposal: Proposal) -> evidence.Evidence:
    codes, kinds = evidence.sources_for(proposal.activity.code)
    loc = proposal.location
    return uow.proposals.evidence(loc.kelurahan_code, loc.kecamatan_code, codes, kinds, evidence.window_start(ctx.clock()))


def _score(ctx: Context, stored: StoredProposal, found: evidence.Evidence) -> scoring.Score | None:
    a = stored.assessment
    if a is None:
        return None
    return scoring.score(
        scoring.ScoreInputs(urgency=a.urgency, beneficiaries=a.beneficiaries, alignment=a.alignment,
                            evidence_count=found.total, supports=stored.proposal.support_count,
                            complaints=found.complaint_count, alerts=found.alert_count),
        ctx.weights,
    )


def _view(ctx: Context, uow: UnitOfWork, stored: StoredProposal) -> ProposalView:
    found = proposal_evidence(ctx, uow, stored.proposal)
    return ProposalView(stored, found, _score(ctx, stored, found))


# -- supports --------------------------------------------------------------------------------------------------
Write = Callable[[Callable[[UnitOfWork], Any]], Any]  # runs a use case's writes in the next group commit


def _support_target(ctx: Context, uow: UnitOfWork, proposal_id: str, raw_nik: str, action: Action) -> Resident:
    """The resident, once the proposal exists, takes supports now and the NIK belongs to its area."""
    with uow:
        brief = uow.proposals.brief(proposal_id) if proposal_id else None
    if brief is None:
        raise NotFound(f"usulan {proposal_id!r} tidak ditemukan", [("proposal_id", "tidak ditemukan")])
    who = resident(ctx, raw_nik, brief[1])
    with domain_rules():
        ctx.cycle.require_action_open(action, ctx.clock())
        _require_open_for_support(brief[0])
    return who


def _require_open_for_support(status: str) -> None:
    if status not in (Status.SUBMITTED.value, Status.VERIFIED.value):
        raise InvalidTransition(f"usulan berstatus {status} tidak dapat didukung (atau ditarik dukungannya)", "proposal_id")


@dataclass(frozen=True)
class SupportWish:
    """A support checked on its request's thread (the resident, the area, the stage), waiting for its group commit."""

    proposal_id: str
    resident_hash: str
    trace: dict[str, str]  # the request's trace headers, for its event


Supports = Callable[[SupportWish], tuple[int, int, bool]]  # applies a support in the next group commit (apply_supports)


def support(ctx: Context, uow: UnitOfWork, supports: Supports, proposal_id: str, raw_nik: str) -> tuple[int, int, bool]:
    """(support count, supports left, added). A resident's second support of the same proposal changes nothing
    and says so; simultaneous ones count once (the database decides: repository.add_supports). Supports are
    applied as a set, many residents' in one group commit (apply_supports); this thread only checks the
    resident against the proposal's area (known without a read once seen) and the stage."""
    who = resident(ctx, raw_nik, _kelurahan_of(ctx, uow, proposal_id))
    with domain_rules():
        ctx.cycle.require_action_open(Action.SUPPORT, ctx.clock())
    return supports(SupportWish(proposal_id, who.hash, current_trace_headers()))


def apply_supports(ctx: Context, uow: UnitOfWork, wishes: list[SupportWish]) -> list[tuple[int, int, bool] | ServiceError]:
    """A group commit's supports, as if one after another in their order: each gets (support count, supports
    left, added), or the error that refuses it (its proposal no longer takes supports, or the resident has none
    left). One event per support added, with the count it left."""
    year, limit, at = ctx.cycle.year, ctx.cycle.support_limit, ctx.clock()
    states = uow.proposals.support_states(w.proposal_id for w in wishes)
    answers: list[tuple[int, int, bool] | ServiceError] = []
    taking: list[int] = []  # the wishes whose proposal takes supports
    for i, w in enumerate(wishes):
        try:
            with domain_rules():
                _require_open_for_support(states.get(w.proposal_id, ("", 0))[0])
        except ServiceError as refused:
            answers.append(refused)
        else:
            answers.append((0, 0, False))  # decided below
            taking.append(i)
    done = uow.proposals.add_supports([(wishes[i].proposal_id, wishes[i].resident_hash) for i in taking], year, limit, at)
    counts = {pid: count for pid, (_status, count) in states.items()} | done.counts
    # The batch's final counts less what was added after each wish: the count and quota as that wish left them.
    added_later = Counter(wishes[i].proposal_id for i, added in zip(taking, done.added, strict=True) if added)
    spent_later = Counter(wishes[i].resident_hash for i, added in zip(taking, done.added, strict=True) if added)
    for i, added in zip(taking, done.added, strict=True):
        w = wishes[i]
        if added:
            added_later[w.proposal_id] -= 1
            spent_later[w.resident_hash] -= 1
        left = max(limit - done.used.get(w.resident_hash, 0) + spent_later[w.resident_hash], 0)
        if added is None:
            message = f"setiap warga dapat mendukung paling banyak {limit} usulan per siklus; Anda sudah memakai {limit}"
            answers[i] = FailedPrecondition(message, [("nik", message)])
        elif added:
            count = counts[w.proposal_id] - added_later[w.proposal_id]
            uow.publish(w.proposal_id, ev.ProposalSupportCountChanged(proposal_id=w.proposal_id, support_count=count,
                                                                     changed_at=at), trace=w.trace)
            answers[i] = (count, left, True)
        else:
            answers[i] = (counts[w.proposal_id] - added_later[w.proposal_id], left, False)
    uow.complete()
    return answers


def _kelurahan_of(ctx: Context, uow: UnitOfWork, proposal_id: str) -> str:
    """The proposal's kelurahan: read once, then known (a proposal never moves)."""
    known = ctx.proposal_kelurahan.get(proposal_id)
    if known is None:
        with uow:
            brief = uow.proposals.brief(proposal_id) if proposal_id else None
        if brief is None:
            raise NotFound(f"usulan {proposal_id!r} tidak ditemukan", [("proposal_id", "tidak ditemukan")])
        known = ctx.proposal_kelurahan[proposal_id] = brief[1]
    return known


def withdraw_support(ctx: Context, uow: UnitOfWork, write: Write, proposal_id: str, raw_nik: str) -> tuple[int, int]:
    who = _support_target(ctx, uow, proposal_id, raw_nik, Action.WITHDRAW_SUPPORT)
    year, limit = ctx.cycle.year, ctx.cycle.support_limit

    def work(u: UnitOfWork) -> tuple[int, int]:
        if not u.proposals.remove_support(proposal_id, who.hash, year):
            raise FailedPrecondition("Anda belum mendukung usulan ini", [("proposal_id", "belum didukung")])
        count = u.proposals.counted[proposal_id]
        u.publish(proposal_id, ev.ProposalSupportCountChanged(proposal_id=proposal_id, support_count=count,
                                                             changed_at=ctx.clock()))
        left = max(limit - u.proposals.supports_used(year, who.hash), 0)
        u.complete()
        return count, left

    return write(work)


# -- the forums ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Review:
    proposal_id: str
    decision: str  # verify, reject, assess, prioritise, accept, start_realisation, finish, not_realised
    reason: str = ""
    assessment: Assessment | None = None
    rank: int | None = None
    level: Level | None = None


DECISION_ACTIONS = {
    "submit": Action.SUBMIT,  # the RT/RW submits a draft on behalf of the rembuk RW
    "verify": None,  # the role decides (Action.verification_for)
    "reject": Action.REJECT,
    "assess": Action.PRIORITISE,
    "prioritise": Action.PRIORITISE,
    "accept": Action.ACCEPT,
    "start_realisation": Action.REALISE,
    "finish": Action.REALISE,
    "not_realised": Action.REALISE,
}


def review(ctx: Context, uow: UnitOfWork, principal: Principal, cmd: Review) -> ProposalView:
    staff = staff_of(principal)
    if cmd.decision not in DECISION_ACTIONS:
        raise InvalidArgument(f"keputusan {cmd.decision!r} tidak dikenal", [("decision", "tidak dikenal")])
    at = ctx.clock()
    with uow:
        stored = _found(uow, cmd.proposal_id)
        p = stored.proposal
        with domain_rules():
            action = DECISION_ACTIONS[cmd.decision] or Action.verification_for(staff.role.value)
            if cmd.decision == "reject":
                _require_reject_stage(ctx, p, at)
            else:
                ctx.cycle.require_action_open(action, at)
            match cmd.decision:
                case "submit":
                    p.submit(staff, at, ctx.cycle.submission_level(at))
                case "verify":
                    p.verify(staff, at, cmd.reason)
                case "reject":
                    p.reject(staff, cmd.reason, at)
                case "assess":
                    _assess(ctx, uow, stored, staff, cmd.assessment)
                case "prioritise":
                    p.prioritise(staff, cmd.level or (Level.KECAMATAN if staff.role == Role.TIM_KECAMATAN else Level.KOTA),
                                 cmd.rank, at)
                case "accept":
                    p.accept(staff, at)
                case "start_realisation":
                    p.start_realisation(staff, at)
                case "finish":
                    p.finish(staff, at)
                case "not_realised":
                    p.mark_not_realised(staff, cmd.reason, at)
        uow.complete()
        return _view(ctx, uow, stored)


def _require_reject_stage(ctx: Context, p: Proposal, at: datetime) -> None:
    """A forum rejects during its own stage: the one at the proposal's level (a verified one stands at kecamatan)."""
    ctx.cycle.require_open(p.level, at)


def _assess(ctx: Context, uow: UnitOfWork, stored: StoredProposal, staff: Staff, assessment: Assessment | None) -> None:
    """The kecamatan forum's judgement of a verified proposal (urgency, beneficiaries, alignment), scored with the
    city's weights together with the evidence and the supports."""
    staff.require(Action.PRIORITISE, stored.proposal)
    if staff.role != Role.TIM_KECAMATAN:
        raise NotPermitted("penilaian usulan oleh tim kecamatan", needed_roles=(Role.TIM_KECAMATAN.value,))
    if stored.proposal.status != Status.VERIFIED:
        raise InvalidTransition(f"hanya usulan terverifikasi yang dinilai (usulan ini {stored.proposal.status.value})", "status")
    if assessment is None:
        raise DomainError("penilaian (urgensi, penerima manfaat, keselarasan) wajib diisi", "assessment")
    found = proposal_evidence(ctx, uow, stored.proposal)
    stored.assessment = assessment
    result = _score(ctx, stored, found)
    assert result is not None
    uow.proposals.set_assessment(stored.proposal.id, assessment, round(result.total, 2))
    stored.proposal.history.append(HistoryEntry(
        ctx.clock(), stored.proposal.status, staff.label, f"dinilai: skor {result.total:.2f}", stored.proposal.level))


def merge(ctx: Context, uow: UnitOfWork, principal: Principal, target_id: str, source_id: str) -> ProposalView:
    staff = staff_of(principal)
    at = ctx.clock()
    with uow:
        target, source = _found(uow, target_id), _found(uow, source_id)
        with domain_rules():
            ctx.cycle.require_action_open(Action.MERGE, at)
            uow.begin_writing()
            source.proposal.merge_into(target.proposal, staff, at)  # checks role, area, statuses
        count = uow.proposals.merge_supports(source_id, target_id)
        with domain_rules():
            target.proposal.set_support_count(count, at)
        uow.complete()
        return _view(ctx, uow, target)


def record_milestone(ctx: Context, uow: UnitOfWork, principal: Principal, proposal_id: str, milestone: Milestone) -> ProposalView:
    staff = staff_of(principal)
    with uow:
        stored = _found(uow, proposal_id)
        with domain_rules():
            stored.proposal.record_milestone(staff, milestone, ctx.clock())
        uow.complete()
        return _view(ctx, uow, stored)


def make_milestone(title: str, progress: int, at: datetime | date, photo_url: str, note: str) -> Milestone:
    with domain_rules():
        return Milestone(title, progress, at, photo_url, note)


# -- the kecamatan forum's selection ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSelection:
    kecamatan_code: str
    budget: int
    field_minimums: dict[str, int]
    agency_ceilings: dict[str, int]
    attendees: int = 0


def run_selection(ctx: Context, uow: UnitOfWork, principal: Principal, cmd: RunSelection) -> dict:
    """Chooses, among the kecamatan's verified and assessed proposals, those maximising the total score within
    the pagu, the fields' minimums and the agencies' ceilings (proven optimal); every candidate gets its reason.
    The selected are prioritised at the kecamatan and go on to kota; the selection is stored and published."""
    staff = staff_of(principal)
    kecamatan = ctx.areas.find_kecamatan(cmd.kecamatan_code)
    if kecamatan is None:
        raise InvalidArgument(f"kecamatan {cmd.kecamatan_code!r} tidak dikenal", [("kecamatan_code", "tidak dikenal")])
    if cmd.budget <= 0:
        raise InvalidArgument("pagu indikatif harus lebih dari 0", [("budget", "harus lebih dari 0")])
    try:
        minimums = {Field(k): v for k, v in cmd.field_minimums.items()}
    except ValueError:
        raise InvalidArgument("bidang tidak dikenal", [("field_minimums", "infrastruktur, sosial_budaya, ekonomi")]) from None
    at = ctx.clock()
    with uow:
        with domain_rules():
            staff.require_in(Action.SELECT, cmd.kecamatan_code)
            ctx.cycle.require_action_open(Action.SELECT, at)
        if uow.proposals.latest_selection(ctx.cycle.year, cmd.kecamatan_code) is not None:
            raise FailedPrecondition(f"forum kecamatan {kecamatan.name} sudah menetapkan pilihannya tahun {ctx.cycle.year}",
                                     [("kecamatan_code", "sudah ditetapkan")])
        stored, _ = uow.proposals.search(ProposalFilter(ctx.cycle.year, kecamatan_code=cmd.kecamatan_code,
                                                      statuses=(Status.VERIFIED,)), offset=0, limit=100_000)
        unassessed = [s.proposal.id for s in stored if s.assessment is None]
        if unassessed:
            message = f"{len(unassessed)} usulan terverifikasi belum dinilai: {', '.join(unassessed[:10])}"
            raise FailedPrecondition(message, [("proposals", message)])
        if not stored:
            raise FailedPrecondition("tidak ada usulan terverifikasi di kecamatan ini", [("kecamatan_code", "tanpa usulan")])
        by_id = {s.proposal.id: s for s in stored}
        candidates = [selection.Candidate(s.proposal.id, s.proposal.cost, s.proposal.score or 0.0,
                                          s.proposal.activity.field, s.proposal.activity.agency_code) for s in stored]
        rules = selection.SelectionRules(cmd.budget, minimums, dict(cmd.agency_ceilings))
        with domain_rules():
            chosen = selection.select(candidates, rules)
            greedy = selection.greedy_by_score(candidates, rules)
            ranked = sorted(chosen.selected, key=lambda pid: (-(by_id[pid].proposal.score or 0.0), pid))
            for rank, pid in enumerate(ranked, 1):
                by_id[pid].proposal.prioritise(staff, Level.KECAMATAN, rank, at)
        decisions = [
            {"proposal_id": pid, "title": by_id[pid].proposal.title, "kelurahan_code": by_id[pid].proposal.location.kelurahan_code,
             "selected": d.selected, "reason": d.reason, "score": by_id[pid].proposal.score or 0.0,
             "cost": by_id[pid].proposal.cost}
            for pid, d in sorted(chosen.decisions.items(), key=lambda kv: (not kv[1].selected, kv[0]))
        ]
        selection_id = new_uuid()
        document: dict[str, Any] = {
            "id": selection_id, "kecamatan_code": cmd.kecamatan_code, "kecamatan": kecamatan.name, "cycle_year": ctx.cycle.year,
            "budget": cmd.budget, "field_minimums": {f.value: v for f, v in minimums.items()},
            "agency_ceilings": dict(cmd.agency_ceilings), "total_score": chosen.total_score, "total_cost": chosen.total_cost,
            "status": chosen.status, "solver": chosen.solver, "greedy_total_score": greedy.total_score,
            "attendees": cmd.attendees, "decided_at": at.isoformat(), "decided_by": staff.label, "decisions": decisions,
        }
        uow.proposals.add_selection(selection_id, ctx.cycle.year, cmd.kecamatan_code, document, at)
        uow.publish(cmd.kecamatan_code, ev.SelectionPublished(
            kecamatan_code=cmd.kecamatan_code, cycle_year=ctx.cycle.year, budget=cmd.budget,
            field_minimums=document["field_minimums"], agency_ceilings=document["agency_ceilings"],
            selected_ids=sorted(chosen.selected), total_score=chosen.total_score, total_cost=chosen.total_cost,
            decisions=[ev.SelectionDecision(proposal_id=d["proposal_id"], selected=d["selected"], score=d["score"],
                                            cost=d["cost"], reason=d["reason"]) for d in decisions],
            solver=chosen.solver, status=chosen.status, published_at=at,
        ))
        uow.complete()
    return document


def get_selection(ctx: Context, uow: UnitOfWork, kecamatan_code: str, cycle_year: int = 0) -> dict:
    with uow:
        document = uow.proposals.latest_selection(cycle_year or ctx.cycle.year, kecamatan_code)
    if document is None:
        raise NotFound(f"belum ada pilihan forum untuk kecamatan {kecamatan_code!r}", [("kecamatan_code", "belum ada")])
    return document


# -- evidence from the city's events ---------------------------------------------------------------------------
def record_complaint(uow: UnitOfWork, complaint_id: str, kelurahan_code: str, service_code: str, at: datetime) -> None:
    if kelurahan_code:
        uow.proposals.record_complaint(complaint_id, kelurahan_code, service_code, at)
    uow.complete()


def record_alert(ctx: Context, uow: UnitOfWork, alert_id: str, kind: str, severity: str, level: str, station: str,
                 lat: float | None, lon: float | None, at: datetime) -> None:
    """An alert is evidence for the kecamatan nearest its station, when that is near enough (evidence.py)."""
    if severity in evidence.ALERT_SEVERITIES and lat is not None and lon is not None:
        kecamatan = ctx.areas.nearest_kecamatan(lat, lon)
        if haversine_km(lat, lon, kecamatan.lat, kecamatan.lon) <= evidence.ALERT_RADIUS_KM:
            uow.proposals.record_alert(alert_id, kecamatan.code, kind, level, station, at)
    uow.complete()
