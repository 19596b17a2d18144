"""e-Musrenbang in the portal's JSON API (/api/v1/musrenbang): residents propose, check their NIK, support and
follow proposals; forum staff verify, merge, record milestones and run the kecamatan forum's selection, whose
berita acara (minutes) is a PDF.

Residents act with their NIK, which goes in a request body only (never a path or a query: those reach access logs
and traces), is hidden from the models' repr, and is never echoed: validation errors here leave out the input.
Staff act with a bearer token (`kota_common.auth`, with a Musrenbang role and an `area` claim), checked here for
its signature and passed on: the musrenbang service decides what its role and area allow.

Errors are the portal's: {"detail": ...} with "errors": [{field, description}] when the service names the fields
(400 bad input, 403 wrong role or area, 404 unknown, 409 outside the stage's window or not allowed in the
proposal's state, 401 no or a bad token), 422 with FastAPI's validation details (no input values) for a malformed
request, 503 when the service is down."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response, StreamingResponse

from kota.musrenbang.v1 import musrenbang_pb2 as pb
from kota_common.auth import InvalidToken, Principal, verify_token
from kota_gateway.adapters.errors import RpcFailure, ServiceUnavailable
from kota_gateway.adapters.musrenbang import MusrenbangClient
from kota_gateway.entrypoints.errors import RETRY_LATER, answering
from kota_gateway.entrypoints.portal import _failure
from kota_gateway.httputil import dumps
from kota_gateway.service_layer import musrenbang as use_cases
from kota_gateway.views import iso


def _without_input(errors: list[dict]) -> list[dict]:
    """FastAPI's validation errors less the values sent (a NIK among them) and the docs' URLs."""
    return [{k: (v if k != "ctx" else {ck: str(cv) for ck, cv in v.items()}) for k, v in e.items() if k not in ("input", "url")}
            for e in errors]


MUSRENBANG_ERRORS = answering({
    RpcFailure: _failure,
    ServiceUnavailable: lambda request, exc: JSONResponse({"detail": str(exc)}, 503, headers=RETRY_LATER),
    RequestValidationError: lambda request, exc: JSONResponse({"detail": _without_input(exc.errors())}, 422),
    StarletteHTTPException: lambda request, exc: JSONResponse({"detail": exc.detail}, exc.status_code,
                                                              headers=getattr(exc, "headers", None)),
})
router = APIRouter(prefix="/api/v1/musrenbang", tags=["musrenbang"], route_class=MUSRENBANG_ERRORS)
staff_router = APIRouter(prefix="/api/v1/musrenbang", tags=["musrenbang staff"], route_class=MUSRENBANG_ERRORS)

ProposalId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$", description="the proposal's id")]
KecamatanCode = Annotated[str, Path(pattern=r"^\d{2}\.\d{2}\.\d{2}$", description="Kemendagri code, e.g. 31.71.01",
                                    examples=["31.71.01"])]
LevelName = Literal["rw", "kelurahan", "kecamatan", "kota", "provinsi"]
StatusName = Literal["draft", "submitted", "verified", "rejected", "prioritised", "accepted", "in_realisation", "done",
                     "not_realised", "merged"]
FieldName = Literal["infrastruktur", "sosial_budaya", "ekonomi"]
NIK_FIELD = Field(..., min_length=1, max_length=32, repr=False,
                  description="the resident's NIK (16 digits); checked by the musrenbang service, stored there only as a "
                  "keyed hash, never logged or echoed", examples=["3171011201900001"])

LEVELS: dict[pb.Level, LevelName] = {pb.LEVEL_RW: "rw", pb.LEVEL_KELURAHAN: "kelurahan", pb.LEVEL_KECAMATAN: "kecamatan",
                                pb.LEVEL_KOTA: "kota", pb.LEVEL_PROVINSI: "provinsi"}
LEVEL_VALUES = {name: value for value, name in LEVELS.items()}
DECISIONS = {"verify": pb.DECISION_VERIFY, "reject": pb.DECISION_REJECT, "assess": pb.DECISION_ASSESS,
             "prioritise": pb.DECISION_PRIORITISE, "accept": pb.DECISION_ACCEPT,
             "start_realisation": pb.DECISION_START_REALISATION, "finish": pb.DECISION_FINISH,
             "not_realised": pb.DECISION_NOT_REALISED}
DecisionName = Literal["verify", "reject", "assess", "prioritise", "accept", "start_realisation", "finish",
                       "not_realised"]


# -- models: answers ------------------------------------------------------------------------------------------


class StageOut(BaseModel):
    level: LevelName
    name: str = Field(..., examples=["Musrenbang Kelurahan"])
    opens: str | None = Field(None, description="ISO 8601, UTC")
    closes: str | None = Field(None, description="ISO 8601, UTC (the window is [opens, closes))")
    open_now: bool


class CycleOut(BaseModel):
    year: int
    support_limit: int = Field(..., description="supports one resident may give in this cycle")
    stages: list[StageOut]


class ActivityOut(BaseModel):
    code: str = Field(..., examples=["DRN-01"])
    name: str
    unit: str = Field(..., description="unit of volume", examples=["meter"])
    unit_cost: int = Field(..., description="rupiah per unit")
    field: str = Field(..., description="infrastruktur, sosial_budaya or ekonomi")
    agency_code: str = Field(..., description="the responsible agency (SKPD)", examples=["DSDA"])


class LocationOut(BaseModel):
    kelurahan_code: str
    kelurahan: str
    kecamatan_code: str
    kecamatan: str
    rw: str
    rt: str
    address: str
    lat: float | None = Field(None, description="WGS84; null when the proposal has no point")
    lon: float | None = None


class HistoryOut(BaseModel):
    at: str | None
    status: str
    actor: str = Field(..., description='a staff role and area ("lurah 31.71.01.1001"), or "warga" for a resident')
    reason: str
    level: LevelName | None


class MilestoneOut(BaseModel):
    title: str
    progress_percent: int
    at: str | None
    photo_url: str
    note: str


class ScorePartOut(BaseModel):
    criterion: str = Field(..., description="urgency, beneficiaries, alignment, evidence or supports")
    points: int = Field(..., description="1-5")
    weight: float
    contribution: float
    explanation: str


class ScoreOut(BaseModel):
    total: float
    parts: list[ScorePartOut]


class EvidenceOut(BaseModel):
    complaint_count: int
    alert_count: int
    summaries: list[str] = Field(..., examples=[["38 laporan genangan di kelurahan ini dalam 12 bulan terakhir"]])


class ProposalOut(BaseModel):
    id: str
    cycle_year: int
    title: str
    problem: str
    activity: ActivityOut
    volume: int
    cost: int = Field(..., description="volume × unit cost, rupiah")
    location: LocationOut
    photo_url: str
    status: StatusName | str
    level: LevelName | None = Field(None, description="the level where the proposal now stands")
    support_count: int
    progress_percent: int = Field(..., description="latest progress of realisation, 0-100")
    score: ScoreOut | None = Field(None, description="once the kecamatan forum has assessed it")
    evidence: EvidenceOut
    history: list[HistoryOut]
    milestones: list[MilestoneOut]
    merged_into: str | None
    created: str | None
    updated: str | None


class ProposalPage(BaseModel):
    proposals: list[ProposalOut]
    next_page_token: str = Field(..., description="pass as page_token for the next page; empty on the last")
    total: int


class SimilarOut(BaseModel):
    proposal_id: str
    title: str
    similarity: float = Field(..., description="0-100")
    distance_km: float | None = Field(None, description="null when either proposal has no point")
    reasons: list[str]


class ProposalSubmittedOut(BaseModel):
    proposal: ProposalOut
    similar: list[SimilarOut] = Field(..., description="similar proposals nearby: perhaps support one of them instead")


class ResidentCheckOut(BaseModel):
    eligible: bool
    reason: str = Field(..., description="why not, when not eligible")
    supports_left: int = Field(..., description="supports this resident has left in the current cycle")


class SupportOut(BaseModel):
    support_count: int
    supports_left: int
    added: bool | None = Field(None, description="on support: false when this resident had already supported it")


class DecisionOut(BaseModel):
    proposal_id: str
    title: str
    selected: bool
    reason: str = Field(..., description="why selected, or why not (what would have had to give way)")
    score: float
    cost: int


class SelectionOut(BaseModel):
    id: str
    kecamatan_code: str
    kecamatan: str
    cycle_year: int
    budget: int = Field(..., description="the kecamatan's pagu indikatif, rupiah")
    field_minimums: dict[str, int]
    agency_ceilings: dict[str, int]
    total_score: float
    total_cost: int
    status: str = Field(..., description='"optimal": the solver proved it')
    solver: str
    greedy_total_score: float = Field(..., description="greedy-by-score's total on the same input, for comparison")
    attendees: int
    decided_at: str | None
    decided_by: str
    decisions: list[DecisionOut]
    minutes_url: str = Field(..., description="the berita acara (PDF)")


class StaffOut(BaseModel):
    subject: str
    agency: str
    roles: list[str]
    area: str


# -- models: requests -----------------------------------------------------------------------------------------


class ResidentCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nik: str = NIK_FIELD
    kelurahan_code: str = Field(..., min_length=1, max_length=32, examples=["31.71.01.1001"])


class ProposalIn(BaseModel):
    """A resident's proposal. Cost is the catalogue's unit cost × volume, computed by the service."""

    model_config = ConfigDict(extra="forbid")
    nik: str = NIK_FIELD
    title: str = Field(..., min_length=1, max_length=200, examples=["Rehabilitasi saluran drainase RW 05"])
    problem: str = Field(..., min_length=1, max_length=4000, description="the problem the works would solve")
    activity_code: str = Field(..., min_length=1, max_length=32, description="from GET /api/v1/musrenbang/activities")
    volume: int = Field(..., ge=1, le=2**31 - 1, description="in the activity's unit")
    kelurahan_code: str = Field(..., min_length=1, max_length=32, examples=["31.71.01.1001"])
    rw: str = Field("", max_length=8, examples=["005"])
    rt: str = Field("", max_length=8)
    address: str = Field("", max_length=500)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    photo_url: str = Field("", max_length=1000)
    draft: bool = Field(False, description="keep it as a draft, not yet submitted to the forum")


class ResidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nik: str = NIK_FIELD


class AssessmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    urgency: int = Field(..., ge=1, le=5)
    beneficiaries: int = Field(..., ge=0, le=100_000_000, description="people who benefit")
    alignment: int = Field(..., ge=1, le=5, description="fit with the city's priorities")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: DecisionName
    reason: str = Field("", max_length=4000, description="required to reject and to mark not realised")
    assessment: AssessmentIn | None = Field(None, description="for assess: the kecamatan forum's judgement")
    rank: int = Field(0, ge=0, le=100_000, description="for prioritise: the forum's rank (1 first), optional")
    level: LevelName | None = Field(None, description="for prioritise: the level ranking it (Bappeda: kota or provinsi)")


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_id: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$", description="the proposal that stays")
    source_id: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$",
                           description="the duplicate folded into it (another proposal)")

    @model_validator(mode="after")
    def _two_proposals(self) -> MergeIn:
        if self.source_id == self.target_id:
            raise ValueError("source_id and target_id must be two different proposals")
        return self


class MilestoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(..., min_length=1, max_length=200)
    progress_percent: int = Field(..., ge=0, le=100)
    at: datetime | None = Field(None, description="when; now if not given")
    photo_url: str = Field("", max_length=1000)
    note: str = Field("", max_length=4000)


class SelectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kecamatan_code: str = Field(..., pattern=r"^\d{2}\.\d{2}\.\d{2}$", description="Kemendagri code", examples=["31.71.01"])
    budget: int = Field(..., ge=1, le=10**15, description="the kecamatan's pagu indikatif, rupiah")
    field_minimums: dict[FieldName, Annotated[int, Field(ge=0, le=10**15)]] = Field(
        default_factory=dict, description="rupiah that must go at least to each field")
    agency_ceilings: dict[Annotated[str, Field(min_length=1, max_length=32)], Annotated[int, Field(ge=0, le=10**15)]] = Field(
        default_factory=dict, max_length=100, description="rupiah each agency may get at most")
    attendees: int = Field(0, ge=0, le=100_000, description="people at the forum, for the minutes")
    cycle_year: int = Field(0, ge=0, le=9999, description="0: the current cycle")


# -- views ----------------------------------------------------------------------------------------------------


def activity_view(a: pb.Activity) -> dict:
    return {"code": a.code, "name": a.name, "unit": a.unit, "unit_cost": a.unit_cost, "field": a.field,
            "agency_code": a.agency_code}


def proposal_view(p: pb.Proposal) -> dict:
    loc = p.location
    return {
        "id": p.id, "cycle_year": p.cycle_year, "title": p.title, "problem": p.problem,
        "activity": activity_view(p.activity), "volume": p.volume, "cost": p.cost,
        "location": {"kelurahan_code": loc.kelurahan_code, "kelurahan": loc.kelurahan, "kecamatan_code": loc.kecamatan_code,
                     "kecamatan": loc.kecamatan, "rw": loc.rw, "rt": loc.rt, "address": loc.address,
                     "lat": loc.lat if loc.has_point else None, "lon": loc.lon if loc.has_point else None},
        "photo_url": p.photo_url, "status": p.status, "level": LEVELS.get(p.level), "support_count": p.support_count,
        "progress_percent": p.progress_percent,
        "score": {"total": p.score.total, "parts": [
            {"criterion": s.criterion, "points": s.points, "weight": s.weight, "contribution": s.contribution,
             "explanation": s.explanation} for s in p.score.parts]} if p.HasField("score") else None,
        "evidence": {"complaint_count": p.evidence.complaint_count, "alert_count": p.evidence.alert_count,
                     "summaries": list(p.evidence.summaries)},
        "history": [{"at": iso(h.at, h.HasField("at")), "status": h.status, "actor": h.actor, "reason": h.reason,
                     "level": LEVELS.get(h.level)} for h in p.history],
        "milestones": [{"title": m.title, "progress_percent": m.progress_percent, "at": iso(m.at, m.HasField("at")),
                        "photo_url": m.photo_url, "note": m.note} for m in p.milestones],
        "merged_into": p.merged_into or None,
        "created": iso(p.created, p.HasField("created")), "updated": iso(p.updated, p.HasField("updated")),
    }


def selection_view(s: pb.Selection) -> dict:
    year = f"?cycle_year={s.cycle_year}" if s.cycle_year else ""
    return {
        "id": s.id, "kecamatan_code": s.kecamatan_code, "kecamatan": s.kecamatan, "cycle_year": s.cycle_year,
        "budget": s.budget, "field_minimums": {f.field: f.amount for f in s.field_minimums},
        "agency_ceilings": {a.agency_code: a.amount for a in s.agency_ceilings}, "total_score": s.total_score,
        "total_cost": s.total_cost, "status": s.status, "solver": s.solver, "greedy_total_score": s.greedy_total_score,
        "attendees": s.attendees, "decided_at": iso(s.decided_at, s.HasField("decided_at")), "decided_by": s.decided_by,
        "decisions": [{"proposal_id": d.proposal_id, "title": d.title, "selected": d.selected, "reason": d.reason,
                       "score": d.score, "cost": d.cost} for d in s.decisions],
        "minutes_url": f"/api/v1/musrenbang/selections/{s.kecamatan_code}/berita-acara.pdf{year}",
    }


# -- dependencies ---------------------------------------------------------------------------------------------


def musrenbang(request: Request) -> MusrenbangClient:
    return request.app.state.musrenbang


bearer = HTTPBearer(auto_error=False, description="a Musrenbang staff token: role rt_rw, lurah, tim_kecamatan, "
                    "agency_verifier or bappeda, with an area claim")


class Staff:
    def __init__(self, principal: Principal, token: str):
        self.principal, self.token = principal, token


def staff(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Staff:
    """A signed, unexpired token (401 otherwise). Its role and area are the musrenbang service's to judge (403)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "token petugas (bearer) diperlukan", headers={"WWW-Authenticate": "Bearer"})
    try:
        principal = verify_token(request.app.state.settings.common.auth_secret, credentials.credentials)
    except InvalidToken as exc:
        raise HTTPException(401, f"token tidak sah: {exc}", headers={"WWW-Authenticate": "Bearer"}) from None
    return Staff(principal, credentials.credentials)


# -- public ---------------------------------------------------------------------------------------------------


@router.get("/cycle", summary="The planning cycle: its stage windows, which are open now, the support limit",
            response_model=CycleOut)
async def get_cycle(request: Request, year: int = Query(0, ge=0, le=9999, description="0: the current cycle")):
    c = await musrenbang(request).get_cycle(year)
    return {"year": c.year, "support_limit": c.support_limit, "stages": [
        {"level": LEVELS.get(s.level, "rw"), "name": s.name, "opens": iso(s.opens, s.HasField("opens")),
         "closes": iso(s.closes, s.HasField("closes")), "open_now": s.open_now} for s in c.stages]}


@router.get("/activities", summary="The activity catalogue proposals choose from (unit, unit cost, field, agency)",
            response_model=list[ActivityOut])
async def list_activities(request: Request):
    return [activity_view(a) for a in await musrenbang(request).list_activities()]


@router.post("/check-resident", summary="May this NIK propose and support in this kelurahan? (and why not)",
             response_model=ResidentCheckOut)
async def check_resident(request: Request, body: ResidentCheckIn):
    reply = await musrenbang(request).check_resident(body.nik, body.kelurahan_code)
    return {"eligible": reply.eligible, "reason": reply.reason, "supports_left": reply.supports_left}


@router.get("/proposals", summary="Proposals, filtered and paged", response_model=ProposalPage)
async def list_proposals(
    request: Request,
    kelurahan_code: str = Query("", max_length=32),
    kecamatan_code: str = Query("", max_length=16),
    status: StatusName | None = Query(None, description="one status; all but drafts if not given"),
    activity_code: str = Query("", max_length=32),
    q: str = Query("", max_length=200, description="words searched in title and problem"),
    order_by: Literal["newest", "supports", "score", "cost"] = Query("newest"),
    cycle_year: int = Query(0, ge=0, le=9999, description="0: the current cycle"),
    page_size: int = Query(50, ge=1, le=200),
    page_token: str = Query("", max_length=64, pattern=r"^[A-Za-z0-9_\-=]*$"),
):
    reply = await musrenbang(request).list_proposals(pb.ListProposalsRequest(
        cycle_year=cycle_year, kelurahan_code=kelurahan_code, kecamatan_code=kecamatan_code, status=status or "",
        activity_code=activity_code, q=q, page_size=page_size, page_token=page_token, order_by=order_by))
    return {"proposals": [proposal_view(p) for p in reply.proposals], "next_page_token": reply.next_page_token,
            "total": reply.total}


@router.post("/proposals", status_code=201, response_model=ProposalSubmittedOut,
             summary="Submit a resident's proposal (NIK checked); answers with similar proposals nearby")
async def submit_proposal(
    request: Request,
    body: ProposalIn,
    idempotency_key: str | None = Header(None, max_length=128, description="retrying with the same key is safe"),
):
    if (body.lat is None) != (body.lon is None):
        raise RequestValidationError([{"loc": ("body", "lat"), "msg": "lat dan lon harus diisi bersama",
                                       "type": "value_error"}])
    location = pb.Location(kelurahan_code=body.kelurahan_code, rw=body.rw, rt=body.rt, address=body.address)
    if body.lat is not None and body.lon is not None:
        location.lat, location.lon, location.has_point = body.lat, body.lon, True
    reply = await musrenbang(request).submit(pb.SubmitProposalRequest(
        nik=body.nik, title=body.title, problem=body.problem, activity_code=body.activity_code, volume=body.volume,
        location=location, photo_url=body.photo_url, draft=body.draft,
        request_id=f"portal:{idempotency_key}" if idempotency_key else f"portal:{uuid.uuid4()}"))
    return {"proposal": proposal_view(reply.proposal), "similar": [
        {"proposal_id": s.proposal_id, "title": s.title, "similarity": s.similarity,
         "distance_km": s.distance_km if s.distance_km >= 0 else None, "reasons": list(s.reasons)} for s in reply.similar]}


@router.get("/proposals/{proposal_id}", summary="One proposal: cost, status, history, evidence, score parts, "
            "milestones, supports", response_model=ProposalOut)
async def get_proposal(request: Request, proposal_id: ProposalId):
    return proposal_view(await musrenbang(request).get_proposal(proposal_id))


@router.post("/proposals/{proposal_id}/support", response_model=SupportOut,
             summary="Support a proposal (once per resident, within the cycle's limit, while the stage is open)")
async def support(request: Request, proposal_id: ProposalId, body: ResidentIn):
    reply = await musrenbang(request).support(proposal_id, body.nik)
    return {"support_count": reply.support_count, "supports_left": reply.supports_left, "added": reply.added}


@router.delete("/proposals/{proposal_id}/support", response_model=SupportOut,
               summary="Withdraw one's support while the support stage is open (the NIK in the body)")
async def withdraw_support(request: Request, proposal_id: ProposalId, body: ResidentIn):
    reply = await musrenbang(request).withdraw_support(proposal_id, body.nik)
    return {"support_count": reply.support_count, "supports_left": reply.supports_left, "added": None}


async def _changes(request: Request, proposal_id: str, first: pb.Proposal):
    """Server-sent events of use_cases.follow_proposal: each state as a `proposal` event, quiet spells as comments."""
    state = request.app.state
    updates = use_cases.follow_proposal(musrenbang(request), proposal_id, first, poll_s=state.settings.sse_poll_s,
                                        budget=state.musrenbang_watch_budget)
    try:
        async for item in updates:
            if isinstance(item, use_cases.Quiet):
                yield f": {item.reason}\n\n"
            else:
                data = dumps({"change": item.change, "proposal": proposal_view(item.proposal)})
                yield f"event: proposal\ndata: {data}\n\n"
    finally:
        await updates.aclose()


@router.get(
    "/proposals/{proposal_id}/events",
    summary="Follow a proposal: its state now, then after every change (text/event-stream, event `proposal`)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def proposal_events(request: Request, proposal_id: ProposalId):
    first = await musrenbang(request).get_proposal(proposal_id)
    return StreamingResponse(_changes(request, proposal_id, first), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/selections/{kecamatan_code}", summary="A kecamatan forum's latest selection, every proposal with its "
            "reason", response_model=SelectionOut)
async def get_selection(request: Request, kecamatan_code: KecamatanCode,
                        cycle_year: int = Query(0, ge=0, le=9999, description="0: the current cycle")):
    return selection_view(await musrenbang(request).get_selection(kecamatan_code, cycle_year))


@router.get(
    "/selections/{kecamatan_code}/berita-acara.pdf",
    summary="The forum's berita acara (minutes) as a PDF, in Bahasa Indonesia",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def minutes_pdf(request: Request, kecamatan_code: KecamatanCode,
                      cycle_year: int = Query(0, ge=0, le=9999, description="0: the current cycle")):
    reply = await musrenbang(request).get_minutes(kecamatan_code, cycle_year)
    filename = reply.filename or f"berita-acara-{kecamatan_code}.pdf"
    return Response(reply.pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})


# -- staff ----------------------------------------------------------------------------------------------------


@staff_router.get("/me", summary="Who the bearer token belongs to: roles and area", response_model=StaffOut)
async def me(who: Staff = Depends(staff)):
    p = who.principal
    return {"subject": p.subject, "agency": p.agency, "roles": sorted(p.roles), "area": p.area}


@staff_router.post("/proposals/{proposal_id}/review", response_model=ProposalOut,
                   summary="A staff decision: verify, reject (reason), assess (scored), prioritise, accept, realisation")
async def review(request: Request, proposal_id: ProposalId, body: ReviewIn, who: Staff = Depends(staff)):
    message = pb.ReviewProposalRequest(id=proposal_id, decision=DECISIONS[body.decision], reason=body.reason,
                                       rank=body.rank, level=LEVEL_VALUES[body.level] if body.level else pb.LEVEL_UNSPECIFIED)
    if body.assessment is not None:
        message.assessment.CopyFrom(pb.Assessment(**body.assessment.model_dump()))
    return proposal_view(await musrenbang(request).review(message, token=who.token))


@staff_router.post("/merge", response_model=ProposalOut,
                   summary="Fold a duplicate into another proposal; each resident's support counts once")
async def merge(request: Request, body: MergeIn, who: Staff = Depends(staff)):
    return proposal_view(await musrenbang(request).merge(body.target_id, body.source_id, token=who.token))


@staff_router.post("/proposals/{proposal_id}/milestones", response_model=ProposalOut,
                   summary="Record a realisation milestone (progress %, date, photo)")
async def record_milestone(request: Request, proposal_id: ProposalId, body: MilestoneIn, who: Staff = Depends(staff)):
    milestone = pb.Milestone(title=body.title, progress_percent=body.progress_percent, photo_url=body.photo_url,
                             note=body.note)
    if body.at is not None:
        milestone.at.FromDatetime(body.at)
    return proposal_view(await musrenbang(request).record_milestone(proposal_id, milestone, token=who.token))


@staff_router.post("/selections", status_code=201, response_model=SelectionOut,
                   summary="Run the kecamatan forum's selection: the highest total score within the pagu, field "
                   "minimums and agency ceilings, proven optimal, with a reason for every proposal")
async def run_selection(request: Request, body: SelectionIn, who: Staff = Depends(staff)):
    message = pb.RunSelectionRequest(
        kecamatan_code=body.kecamatan_code, cycle_year=body.cycle_year, budget=body.budget, attendees=body.attendees,
        field_minimums=[pb.FieldAmount(field=k, amount=v) for k, v in sorted(body.field_minimums.items())],
        agency_ceilings=[pb.AgencyAmount(agency_code=k, amount=v) for k, v in sorted(body.agency_ceilings.items())])
    return selection_view(await musrenbang(request).run_selection(message, token=who.token))
