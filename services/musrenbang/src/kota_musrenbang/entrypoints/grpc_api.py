"""gRPC servicer of kota.musrenbang.v1.MusrenbangService (proto/kota/musrenbang/v1/musrenbang.proto): requests to
commands, use cases' answers to messages. Nothing here decides anything."""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from datetime import datetime, timezone

from kota.musrenbang.v1 import musrenbang_pb2 as pb
from kota.musrenbang.v1 import musrenbang_pb2_grpc as pb_grpc
from kota_common.auth import Principal, principal_from_metadata
from kota_common.errors import InvalidArgument
from kota_common.grpc_server import timestamp, translate_errors
from kota_common.reference import AreaDirectory
from kota_musrenbang.adapters import minutes
from kota_musrenbang.adapters.repository import Assessment, ProposalFilter
from kota_musrenbang.domain.cycle import Level
from kota_musrenbang.domain.model import Status
from kota_musrenbang.service_layer import services
from kota_musrenbang.service_layer.services import Context, MakeUnitOfWork, ProposalView
from kota_musrenbang.service_layer.watchers import WatchHub

log = logging.getLogger(__name__)

LEVELS = {Level.RW: pb.LEVEL_RW, Level.KELURAHAN: pb.LEVEL_KELURAHAN, Level.KECAMATAN: pb.LEVEL_KECAMATAN,
          Level.KOTA: pb.LEVEL_KOTA, Level.PROVINSI: pb.LEVEL_PROVINSI}
LEVELS_BY_PB = {v: k for k, v in LEVELS.items()}
DECISIONS = {
    pb.DECISION_VERIFY: "verify", pb.DECISION_REJECT: "reject", pb.DECISION_PRIORITISE: "prioritise",
    pb.DECISION_ACCEPT: "accept", pb.DECISION_START_REALISATION: "start_realisation", pb.DECISION_FINISH: "finish",
    pb.DECISION_NOT_REALISED: "not_realised", pb.DECISION_ASSESS: "assess", pb.DECISION_SUBMIT: "submit",
}


def activity_pb(a) -> pb.Activity:
    return pb.Activity(code=a.code, name=a.name, unit=a.unit, unit_cost=a.unit_cost, field=a.field.value,
                       agency_code=a.agency_code)


def proposal_pb(view: ProposalView, areas: AreaDirectory) -> pb.Proposal:
    p = view.proposal
    loc = p.location
    kel = areas.find_kelurahan(loc.kelurahan_code)
    kec = areas.find_kecamatan(loc.kecamatan_code)
    message = pb.Proposal(
        id=p.id, cycle_year=p.cycle_year, title=p.title, problem=p.problem, activity=activity_pb(p.activity),
        volume=p.volume, cost=p.cost, photo_url=p.photo_url, status=p.status.value, level=LEVELS[p.level],
        support_count=p.support_count, merged_into=p.merged_into or "",
        location=pb.Location(kelurahan_code=loc.kelurahan_code, kelurahan=kel.name if kel else "",
                             kecamatan_code=loc.kecamatan_code, kecamatan=kec.name if kec else "", rw=loc.rw, rt=loc.rt,
                             address=loc.address, lat=loc.lat or 0.0, lon=loc.lon or 0.0, has_point=loc.has_point),
        created=timestamp(p.created_at), updated=timestamp(p.updated_at or p.created_at),
        evidence=pb.Evidence(complaint_count=view.evidence.complaint_count, alert_count=view.evidence.alert_count,
                             summaries=view.evidence.summaries()),
        progress_percent=p.milestones[-1].progress_percent if p.milestones else 0,
    )
    if view.score is not None:
        message.score.CopyFrom(pb.Score(total=round(view.score.total, 2), parts=[
            pb.ScorePart(criterion=c.value, points=part.points, weight=part.weight, contribution=round(part.contribution, 2),
                         explanation=part.explanation) for c, part in view.score.parts.items()]))
    for h in p.history:
        # Staff appear by role (and area, in the role's label); residents as "warga", never by reference.
        actor = "warga" if h.actor.startswith("warga:") else h.actor.split(":", 1)[0]
        message.history.append(pb.HistoryEntry(at=timestamp(h.at), status=h.status.value, actor=actor, reason=h.reason,
                                               level=LEVELS[h.level] if h.level else pb.LEVEL_UNSPECIFIED))
    for m in p.milestones:
        at = m.at if isinstance(m.at, datetime) else datetime(m.at.year, m.at.month, m.at.day, tzinfo=timezone.utc)
        message.milestones.append(pb.Milestone(title=m.title, progress_percent=m.progress_percent, at=timestamp(at),
                                               photo_url=m.photo_url, note=m.note))
    return message


def selection_pb(doc: dict) -> pb.Selection:
    return pb.Selection(
        id=doc["id"], kecamatan_code=doc["kecamatan_code"], kecamatan=doc["kecamatan"], cycle_year=doc["cycle_year"],
        budget=doc["budget"], total_score=doc["total_score"], total_cost=doc["total_cost"], status=doc["status"],
        solver=doc["solver"], greedy_total_score=doc["greedy_total_score"], attendees=doc["attendees"],
        decided_at=timestamp(datetime.fromisoformat(doc["decided_at"])), decided_by=doc["decided_by"],
        field_minimums=[pb.FieldAmount(field=k, amount=v) for k, v in doc["field_minimums"].items()],
        agency_ceilings=[pb.AgencyAmount(agency_code=k, amount=v) for k, v in doc["agency_ceilings"].items()],
        decisions=[pb.SelectionDecision(proposal_id=d["proposal_id"], title=d["title"], selected=d["selected"],
                                        reason=d["reason"], score=d["score"], cost=d["cost"]) for d in doc["decisions"]],
    )


class MusrenbangServicer(pb_grpc.MusrenbangServiceServicer):
    def __init__(self, uow: MakeUnitOfWork, write: services.Write, supports: services.Supports, ctx: Context, hub: WatchHub,
                 auth_secret: str):
        self.uow = uow
        self.write = write
        self.supports = supports
        self.ctx = ctx
        self.hub = hub
        self.secret = auth_secret

    def _staff(self, context) -> Principal:
        principal = principal_from_metadata(self.secret, context.invocation_metadata())
        assert principal is not None  # required: raises UNAUTHENTICATED otherwise
        return principal

    def _pb(self, view: ProposalView) -> pb.Proposal:
        return proposal_pb(view, self.ctx.areas)

    @translate_errors
    def GetCycle(self, request, context):
        cycle = self.ctx.cycle
        if request.year and request.year != cycle.year:
            raise services.NotFound(f"siklus {request.year} tidak ada (siklus berjalan: {cycle.year})", [("year", "tidak ada")])
        now = self.ctx.clock()
        return pb.GetCycleResponse(cycle=pb.Cycle(year=cycle.year, support_limit=cycle.support_limit, stages=[
            pb.StageWindow(level=LEVELS[s.level], name=s.level.display_name, opens=timestamp(s.opens),
                           closes=timestamp(s.closes), open_now=s.contains(now)) for s in cycle.stages]))

    @translate_errors
    def ListActivities(self, request, context):
        return pb.ListActivitiesResponse(activities=[activity_pb(a) for a in self.ctx.catalogue])

    @translate_errors
    def CheckResident(self, request, context):
        eligible, reason, left = services.check_resident(self.ctx, self.uow(), request.nik, request.kelurahan_code)
        return pb.CheckResidentResponse(eligible=eligible, reason=reason, supports_left=left)

    @translate_errors
    def SubmitProposal(self, request, context):
        loc = request.location
        if request.volume <= 0 or request.volume > 2**31:
            raise InvalidArgument("volume harus lebih dari 0", [("volume", "harus lebih dari 0")])
        view, similar = services.submit_proposal(self.ctx, self.uow(), services.SubmitProposal(
            nik=request.nik, title=request.title, problem=request.problem, activity_code=request.activity_code,
            volume=int(request.volume), kelurahan_code=loc.kelurahan_code, rw=loc.rw, rt=loc.rt, address=loc.address,
            lat=loc.lat if loc.has_point else None, lon=loc.lon if loc.has_point else None, photo_url=request.photo_url,
            draft=request.draft, request_id=request.request_id))
        return pb.SubmitProposalResponse(proposal=self._pb(view), similar=[
            pb.SimilarProposal(proposal_id=s.proposal_id, title=s.title, similarity=s.similarity,
                               distance_km=s.distance_km if s.distance_km is not None else -1.0, reasons=s.reasons)
            for s in similar])

    @translate_errors
    def GetProposal(self, request, context):
        return pb.GetProposalResponse(proposal=self._pb(services.get_proposal(self.ctx, self.uow(), request.id)))

    @translate_errors
    def ListProposals(self, request, context):
        try:
            statuses = (Status(request.status),) if request.status else tuple(s for s in Status if s != Status.DRAFT)
        except ValueError:
            raise InvalidArgument(f"status {request.status!r} tidak dikenal", [("status", "tidak dikenal")]) from None
        if request.order_by not in ("", "newest", "supports", "score", "cost"):
            raise InvalidArgument("order_by: newest, supports, score atau cost", [("order_by", "tidak dikenal")])
        f = ProposalFilter(cycle_year=request.cycle_year or self.ctx.cycle.year, kelurahan_code=request.kelurahan_code,
                           kecamatan_code=request.kecamatan_code, statuses=statuses, activity_code=request.activity_code,
                           q=request.q, order_by=request.order_by or "newest")
        views, next_token, total = services.list_proposals(self.ctx, self.uow(), f, request.page_size, request.page_token)
        return pb.ListProposalsResponse(proposals=[self._pb(v) for v in views], next_page_token=next_token, total=total)

    @translate_errors
    def SupportProposal(self, request, context):
        count, left, added = services.support(self.ctx, self.uow(), self.supports, request.proposal_id, request.nik)
        return pb.SupportProposalResponse(support_count=count, supports_left=left, added=added)

    @translate_errors
    def WithdrawSupport(self, request, context):
        count, left = services.withdraw_support(self.ctx, self.uow(), self.write, request.proposal_id, request.nik)
        return pb.WithdrawSupportResponse(support_count=count, supports_left=left)

    @translate_errors
    def ReviewProposal(self, request, context):
        principal = self._staff(context)
        decision = DECISIONS.get(request.decision)
        if decision is None:
            raise InvalidArgument("decision wajib diisi", [("decision", "wajib diisi")])
        assessment = None
        if request.HasField("assessment"):
            a = request.assessment
            assessment = Assessment(a.urgency, a.beneficiaries, a.alignment)
        view = services.review(self.ctx, self.uow(), principal, services.Review(
            proposal_id=request.id, decision=decision, reason=request.reason, assessment=assessment,
            rank=request.rank or None, level=LEVELS_BY_PB.get(request.level)))
        return pb.ReviewProposalResponse(proposal=self._pb(view))

    @translate_errors
    def MergeProposals(self, request, context):
        view = services.merge(self.ctx, self.uow(), self._staff(context), request.target_id, request.source_id)
        return pb.MergeProposalsResponse(target=self._pb(view))

    @translate_errors
    def RecordMilestone(self, request, context):
        principal = self._staff(context)
        m = request.milestone
        at = m.at.ToDatetime(tzinfo=timezone.utc) if m.HasField("at") else self.ctx.clock()
        milestone = services.make_milestone(m.title, m.progress_percent, at, m.photo_url, m.note)
        view = services.record_milestone(self.ctx, self.uow(), principal, request.proposal_id, milestone)
        return pb.RecordMilestoneResponse(proposal=self._pb(view))

    @translate_errors
    def RunSelection(self, request, context):
        principal = self._staff(context)
        if request.cycle_year and request.cycle_year != self.ctx.cycle.year:
            raise InvalidArgument(f"hanya siklus berjalan ({self.ctx.cycle.year})", [("cycle_year", "bukan siklus berjalan")])
        doc = services.run_selection(self.ctx, self.uow(), principal, services.RunSelection(
            kecamatan_code=request.kecamatan_code, budget=request.budget,
            field_minimums={f.field: f.amount for f in request.field_minimums},
            agency_ceilings={a.agency_code: a.amount for a in request.agency_ceilings}, attendees=request.attendees))
        return pb.RunSelectionResponse(selection=selection_pb(doc))

    @translate_errors
    def GetSelection(self, request, context):
        doc = services.get_selection(self.ctx, self.uow(), request.kecamatan_code, request.cycle_year)
        return pb.GetSelectionResponse(selection=selection_pb(doc))

    @translate_errors
    def GetMinutes(self, request, context):
        doc = services.get_selection(self.ctx, self.uow(), request.kecamatan_code, request.cycle_year)
        kelurahan = {k.code: k.name for k in self.ctx.areas.kelurahan()}
        rules = [f"Pagu indikatif kecamatan {minutes.rupiah(doc['budget'])}"]
        rules += [f"Paling sedikit {minutes.rupiah(v)} untuk bidang {k}" for k, v in doc["field_minimums"].items()]
        rules += [f"Paling banyak {minutes.rupiah(v)} untuk {k}" for k, v in doc["agency_ceilings"].items()]
        pdf = minutes.render(minutes.ForumMinutes(
            city=self.ctx.city, kecamatan=doc["kecamatan"], kecamatan_code=doc["kecamatan_code"],
            cycle_year=doc["cycle_year"], decided_at=datetime.fromisoformat(doc["decided_at"]),
            decided_by=doc["decided_by"], attendees=doc["attendees"], budget=doc["budget"], total_cost=doc["total_cost"],
            total_score=doc["total_score"], greedy_total_score=doc["greedy_total_score"], solver=doc["solver"], rules=rules,
            items=[minutes.MinutesItem(d["proposal_id"], d["title"], kelurahan.get(d["kelurahan_code"], d["kelurahan_code"]),
                                       d["cost"], d["score"], d["selected"], d["reason"]) for d in doc["decisions"]],
        ))
        return pb.GetMinutesResponse(pdf=pdf, filename=f"berita-acara-musrenbang-{doc['kecamatan_code']}-{doc['cycle_year']}.pdf")

    @translate_errors
    def WatchProposal(self, request, context):
        changes: queue.Queue[str] = queue.Queue()
        with self.hub.watching(request.id, changes.put):
            yield pb.WatchProposalResponse(proposal=self._pb(services.get_proposal(self.ctx, self.uow(), request.id)))
            while context.is_active():
                try:
                    change = changes.get(timeout=1.0)
                except queue.Empty:
                    continue
                view = services.get_proposal(self.ctx, self.uow(), request.id)
                yield pb.WatchProposalResponse(proposal=self._pb(view), change=change)


def register(servicer: MusrenbangServicer) -> Callable:
    def add(server):
        pb_grpc.add_MusrenbangServiceServicer_to_server(servicer, server)
        return ["kota.musrenbang.v1.MusrenbangService"]

    return add
