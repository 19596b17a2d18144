"""The collab service's use cases: staff register partners, partnerships, agreements and activities; partner cities
deliver partnership steps and read what their agreements grant. Each takes a command, loads through the
repositories inside a unit of work, lets the domain decide and commits. The domain's refusals become the errors
every entrypoint maps to its protocol: bad input INVALID_ARGUMENT (with the field), a step the lifecycle forbids
FAILED_PRECONDITION, the wrong city, role or a missing grant PERMISSION_DENIED. Every partner call, served or
refused, is recorded as an audit event."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from kota_collab.domain.errors import DomainError, HistoriesDiverge, InvalidTransition, NotGranted, NotPermitted
from kota_collab.domain.model import (
    Activity,
    ActivityKind,
    Agreement,
    City,
    Decision,
    FocusArea,
    Grant,
    Kind,
    Partnership,
    Status,
    Stream,
    grant_for_dataset,
    grant_for_stream,
    parse_date,
    shared_datasets,
)
from kota_collab.service_layer.unit_of_work import UnitOfWork
from kota_common.auth import Principal
from kota_common.clock import now_utc
from kota_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from kota_common.events import collab as ev
from kota_common.ids import new_uuid

MakeUnitOfWork = Callable[[], UnitOfWork]
WRITER_ROLES = frozenset({"admin", "collab"})


@dataclass
class Context:
    """What the use cases share: this city's profile and the clock."""

    home: City
    clock: Callable[[], datetime] = now_utc


@contextmanager
def domain_rules() -> Iterator[None]:
    """The domain's refusals as service errors, with the offending field."""
    try:
        yield
    except (InvalidTransition, HistoriesDiverge) as exc:
        raise FailedPrecondition(exc.message, [(exc.field or "state", exc.message)]) from None
    except (NotPermitted, NotGranted) as exc:
        raise PermissionDenied(exc.message, [(exc.field or "authorization", exc.message)]) from None
    except DomainError as exc:
        raise InvalidArgument(exc.message, [(exc.field or "request", exc.message)]) from None


def _writer(principal: Principal) -> str:
    if not WRITER_ROLES & principal.roles:
        raise PermissionDenied("changing the collaboration registry needs the collab or admin role",
                               [("authorization", "collab or admin role")])
    return principal.actor


def _enum(kind: Any, value: str, field_name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(k.value for k in kind)
        raise InvalidArgument(f"{value!r} is not one of {known}", [(field_name, f"one of {known}")]) from None


def _date(value: str, field_name: str) -> date | None:
    with domain_rules():
        return parse_date(value, field_name)


# -- cities ----------------------------------------------------------------------------------------------------
def ensure_home(ctx: Context, uow: UnitOfWork) -> None:
    """This city's own profile, from its settings, in its registry (at every start)."""
    with uow:
        if uow.cities.get(ctx.home.id) != ctx.home:
            uow.cities.put(ctx.home, ctx.clock())
            uow.complete()


def register_city(ctx: Context, uow: UnitOfWork, principal: Principal, city: City) -> City:
    actor = _writer(principal)
    if city.id == ctx.home.id or city.home:
        raise InvalidArgument("this city's own profile comes from its settings", [("city.id", "is this city")])
    with uow:
        uow.cities.put(city, ctx.clock())
        uow.publish(f"city:{city.id}", ev.CityRegistered(
            city_id=city.id, name=city.name, country=city.country, region=city.region, ascn_member=city.ascn_member,
            federated=city.federated, actor=actor, at=ctx.clock()))
        uow.complete()
    return city


def list_cities(uow: UnitOfWork) -> list[City]:
    with uow:
        return uow.cities.all()


# -- partnerships ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreatePartnership:
    kind: str
    title: str
    focus_areas: list[str]
    partner_city_ids: list[str]
    status: str = ""
    signed_on: str = ""
    document_url: str = ""
    valid_until: str = ""
    note: str = ""
    request_id: str = ""


@dataclass
class PartnershipView:
    partnership: Partnership
    sync_pending: bool = False
    agreements: list[Agreement] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)


def create_partnership(ctx: Context, uow: UnitOfWork, principal: Principal, cmd: CreatePartnership) -> PartnershipView:
    actor = _writer(principal)
    kind = _enum(Kind, cmd.kind, "kind")
    status = _enum(Status, cmd.status or Status.PROPOSED.value, "status")
    focus = tuple(_enum(FocusArea, f, "focus_areas") for f in cmd.focus_areas)
    signed_on, valid_until = _date(cmd.signed_on, "signed_on"), _date(cmd.valid_until, "valid_until")
    with uow:
        if cmd.request_id and (earlier := uow.partnerships.by_request_id(cmd.request_id)) is not None:
            return PartnershipView(earlier, uow.deliveries.pending_for(earlier.id))
        partners = []
        for n, city_id in enumerate(cmd.partner_city_ids):
            city = uow.cities.get(city_id)
            if city is None:
                raise InvalidArgument(f"no partner city {city_id!r}: register it first",
                                      [(f"partner_city_ids[{n}]", "not registered")])
            partners.append(city)
        with domain_rules():
            p = Partnership.start(new_uuid(), kind, cmd.title, focus, ctx.home, partners, actor=actor, at=ctx.clock(),
                                  status=status, note=cmd.note, signed_on=signed_on, document_url=cmd.document_url,
                                  valid_until=valid_until)
        uow.partnerships.add(p, cmd.request_id or None)
        _send_to_partners(ctx, uow, p)
        uow.complete()
    return PartnershipView(p, p.federated)


def _send_to_partners(ctx: Context, uow: UnitOfWork, p: Partnership) -> None:
    """A federated partnership's latest steps go to the partner's registry (delivered after the commit)."""
    if p.federated:
        for city_id in p.party_ids():
            if city_id != ctx.home.id:
                uow.deliveries.want(p.id, city_id, len(p.history), ctx.clock())


def _found(uow: UnitOfWork, partnership_id: str) -> Partnership:
    p = uow.partnerships.get(partnership_id)
    if p is None:
        raise NotFound(f"no partnership {partnership_id!r}", [("id", "not found")])
    return p


def get_partnership(uow: UnitOfWork, partnership_id: str) -> PartnershipView:
    with uow:
        p = _found(uow, partnership_id)
        return PartnershipView(p, uow.deliveries.pending_for(p.id), uow.agreements.of_partnership(p.id),
                               uow.activities.of_partnership(p.id))


def list_partnerships(uow: UnitOfWork, city_id: str = "", kind: str = "", status: str = "") -> list[PartnershipView]:
    kind_ = _enum(Kind, kind, "kind") if kind else None
    status_ = _enum(Status, status, "status") if status else None
    with uow:
        return [PartnershipView(p, uow.deliveries.pending_for(p.id))
                for p in uow.partnerships.filtered(city_id=city_id, kind=kind_, status=status_)]


@dataclass(frozen=True)
class DecidePartnership:
    id: str
    decision: str
    note: str = ""
    signed_on: str = ""
    document_url: str = ""
    valid_until: str = ""


def decide_partnership(ctx: Context, uow: UnitOfWork, principal: Principal, cmd: DecidePartnership) -> PartnershipView:
    actor = _writer(principal)
    decision = _enum(Decision, cmd.decision, "decision")
    signed_on, valid_until = _date(cmd.signed_on, "signed_on"), _date(cmd.valid_until, "valid_until")
    with uow:
        p = _found(uow, cmd.id)
        with domain_rules():
            p.decide(decision, city_id=ctx.home.id, actor=actor, at=ctx.clock(), note=cmd.note, signed_on=signed_on,
                     document_url=cmd.document_url, valid_until=valid_until)
        _send_to_partners(ctx, uow, p)
        uow.complete()
    return PartnershipView(p, p.federated)


# -- agreements and activities ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GrantAgreement:
    partnership_id: str
    city_id: str
    dataset_ids: list[str]
    streams: list[str]
    valid_until: str = ""


def grant_agreement(ctx: Context, uow: UnitOfWork, principal: Principal, cmd: GrantAgreement) -> Agreement:
    actor = _writer(principal)
    streams = [_enum(Stream, s, "streams") for s in cmd.streams]
    valid_until = _date(cmd.valid_until, "valid_until")
    if cmd.city_id == ctx.home.id:
        raise InvalidArgument("an agreement grants a partner city, not this one", [("city_id", "is this city")])
    with uow:
        p = _found(uow, cmd.partnership_id)
        with domain_rules():
            a = Agreement.grant(new_uuid(), p, cmd.city_id, cmd.dataset_ids, streams, valid_until, actor=actor, at=ctx.clock())
        uow.agreements.add(a)
        uow.publish(p.id, ev.AgreementGranted(
            agreement_id=a.id, partnership_id=p.id, city_id=a.city_id, dataset_ids=list(a.dataset_ids),
            streams=[s.value for s in a.streams], valid_until=valid_until.isoformat() if valid_until else "",
            actor=actor, at=a.granted_at))
        uow.complete()
    return a


def revoke_agreement(ctx: Context, uow: UnitOfWork, principal: Principal, agreement_id: str, reason: str) -> Agreement:
    actor = _writer(principal)
    with uow:
        a = uow.agreements.get(agreement_id)
        if a is None:
            raise NotFound(f"no agreement {agreement_id!r}", [("id", "not found")])
        with domain_rules():
            a.revoke(actor=actor, at=ctx.clock(), reason=reason)
        uow.agreements.save_revocation(a)
        uow.publish(a.partnership_id, ev.AgreementRevoked(
            agreement_id=a.id, partnership_id=a.partnership_id, city_id=a.city_id, reason=reason, actor=actor,
            at=ctx.clock()))
        uow.complete()
    return a


@dataclass(frozen=True)
class RecordActivity:
    partnership_id: str
    kind: str
    title: str
    starts_on: str = ""
    ends_on: str = ""
    participants: int = 0
    outcomes: str = ""


def record_activity(ctx: Context, uow: UnitOfWork, principal: Principal, cmd: RecordActivity) -> Activity:
    actor = _writer(principal)
    kind = _enum(ActivityKind, cmd.kind, "kind")
    starts_on, ends_on = _date(cmd.starts_on, "starts_on"), _date(cmd.ends_on, "ends_on")
    with uow:
        p = _found(uow, cmd.partnership_id)
        with domain_rules():
            a = Activity(new_uuid(), p.id, kind, cmd.title.strip(), starts_on, ends_on, cmd.participants, cmd.outcomes)
        uow.activities.add(a, ctx.clock())
        uow.publish(p.id, ev.ActivityRecorded(
            activity_id=a.id, partnership_id=p.id, kind=kind.value, title=a.title, starts_on=cmd.starts_on,
            ends_on=cmd.ends_on, participants=a.participants, outcomes=a.outcomes, actor=actor, at=ctx.clock()))
        uow.complete()
    return a


def _partnership_ids(uow: UnitOfWork, partnership_id: str, city_id: str) -> set[str] | None:
    """The partnerships a list is narrowed to (None: every one); unknown ids are NOT_FOUND."""
    ids: set[str] | None = None
    if partnership_id:
        ids = {_found(uow, partnership_id).id}
    if city_id:
        if uow.cities.get(city_id) is None:
            raise NotFound(f"no city {city_id!r}", [("city_id", "not found")])
        of_city = {p.id for p in uow.partnerships.filtered(city_id=city_id)}
        ids = of_city if ids is None else ids & of_city
    return ids


def list_activities(uow: UnitOfWork, partnership_id: str = "", city_id: str = "") -> list[Activity]:
    """Activities in the order they happened (by start date, undated last), narrowed to a partnership or to the
    partnerships of a city."""
    with uow:
        return uow.activities.of_partnerships(_partnership_ids(uow, partnership_id, city_id))


def list_agreements(uow: UnitOfWork, partnership_id: str = "", city_id: str = "") -> list[Agreement]:
    """Agreements in the order they were granted: of a partnership, or granted to a city, or all."""
    with uow:
        if city_id and uow.cities.get(city_id) is None:
            raise NotFound(f"no city {city_id!r}", [("city_id", "not found")])
        found = uow.agreements.of_partnership(_found(uow, partnership_id).id) if partnership_id else uow.agreements.all()
        return [a for a in found if not city_id or a.city_id == city_id]


# -- partner cities (the inter-city endpoint) ------------------------------------------------------------------
def audit(ctx: Context, uow: UnitOfWork, city_id: str, method: str, outcome: str, detail: str = "",
          partnership_id: str = "", agreement_id: str = "") -> None:
    """Records a partner's call in a transaction of its own (a refusal is recorded although the call fails)."""
    with uow:
        uow.publish(partnership_id or f"city:{city_id}", ev.PartnerCalled(
            call_id=new_uuid(), city_id=city_id, method=method, outcome=outcome, detail=detail[:500],
            partnership_id=partnership_id, agreement_id=agreement_id, at=ctx.clock()))
        uow.complete()


def known_partner(ctx: Context, make_uow: MakeUnitOfWork, city_id: str, method: str) -> City:
    """The calling city (its certificate's identity) if this registry knows it as a federated partner; refused and
    recorded otherwise."""
    with make_uow() as uow:
        city = uow.cities.get(city_id)
    if city is None or city.home or not city.federated:
        message = (f"city {city_id!r} is not a partner of {ctx.home.id}" if city is None or city.home else
                   f"city {city_id!r} is registered without a Kota endpoint: it is not federated with {ctx.home.id}")
        audit(ctx, make_uow(), city_id, method, "denied", message)
        raise PermissionDenied(message, [("certificate", "unknown city")])
    return city


def receive_partnership(ctx: Context, make_uow: MakeUnitOfWork, sender: City, theirs: Partnership
                        ) -> tuple[PartnershipView, bool]:
    """A partner's proposal or later step. Idempotent: what ours already holds changes nothing (applied False)."""
    try:
        with make_uow() as uow:
            ours = uow.partnerships.get(theirs.id)
            with domain_rules():
                if ours is None:
                    ours = Partnership.received(theirs, sender.id, ctx.home.id)
                    uow.partnerships.add(ours)
                    applied = True
                else:
                    if not ours.has_party(sender.id):
                        raise NotPermitted(f"{sender.id} is not a party to partnership {ours.id}", "partnership.id")
                    applied = ours.merge(theirs, sender.id)
            uow.publish(ours.id, ev.PartnerCalled(
                call_id=new_uuid(), city_id=sender.id, method="SyncPartnership", outcome="ok",
                detail=f"{'applied' if applied else 'already held'} up to step {len(theirs.history)} "
                       f"({theirs.history[-1].status.value if theirs.history else 'empty'})",
                partnership_id=ours.id, at=ctx.clock()))
            # What the partner lacks (a step taken here meanwhile) goes back to it.
            if len(ours.history) > len(theirs.history):
                uow.deliveries.want(ours.id, sender.id, len(ours.history), ctx.clock())
            uow.complete()
            return PartnershipView(ours, uow.deliveries.pending_for(ours.id)), applied
    except (PermissionDenied, FailedPrecondition, InvalidArgument) as exc:
        audit(ctx, make_uow(), sender.id, "SyncPartnership", "denied", exc.message, partnership_id=theirs.id)
        raise


def shared_datasets_of(ctx: Context, make_uow: MakeUnitOfWork, city: City) -> list[tuple[str, Grant]]:
    with make_uow() as uow:
        agreements = uow.agreements.of_city(city.id)
        partnerships = uow.partnerships.in_force_by_ids({a.partnership_id for a in agreements})
    found = shared_datasets(agreements, partnerships, city.id, ctx.clock())
    audit(ctx, make_uow(), city.id, "ListSharedDatasets", "ok", f"{len(found)} dataset(s)")
    return found


def dataset_grant(ctx: Context, make_uow: MakeUnitOfWork, city: City, dataset_id: str, method: str) -> Grant:
    """The agreement that lets the partner read the dataset now; refused (and recorded) otherwise. The read itself is
    recorded by `dataset_read`."""
    if not dataset_id:
        raise InvalidArgument("dataset_id is required", [("dataset_id", "required")])
    try:
        with make_uow() as uow:
            agreements = uow.agreements.of_city(city.id)
            partnerships = uow.partnerships.in_force_by_ids({a.partnership_id for a in agreements})
        with domain_rules():
            return grant_for_dataset(agreements, partnerships, city.id, dataset_id, ctx.clock())
    except PermissionDenied as exc:
        audit(ctx, make_uow(), city.id, method, "denied", exc.message)
        raise


def dataset_read(ctx: Context, make_uow: MakeUnitOfWork, city: City, dataset_id: str, method: str, grant: Grant,
                 detail: str = "") -> None:
    audit(ctx, make_uow(), city.id, method, "ok", f"dataset {dataset_id}{detail}", grant.partnership_id,
          grant.agreement_id)


def stream_grant(ctx: Context, make_uow: MakeUnitOfWork, city: City, stream_name: str) -> tuple[Stream, Grant]:
    """The agreement that lets the partner read the stream now; refused (and recorded) otherwise."""
    try:
        stream = _enum(Stream, stream_name, "stream")
        return stream, current_stream_grant(ctx, make_uow, city.id, stream)
    except (PermissionDenied, InvalidArgument) as exc:
        audit(ctx, make_uow(), city.id, "SubscribeSharedEvents", "denied", exc.message)
        raise


def current_stream_grant(ctx: Context, make_uow: MakeUnitOfWork, city_id: str, stream: Stream) -> Grant:
    """Checked again and again while a stream is open: a revoked or lapsed grant raises PermissionDenied."""
    with make_uow() as uow:
        agreements = uow.agreements.of_city(city_id)
        partnerships = uow.partnerships.in_force_by_ids({a.partnership_id for a in agreements})
    with domain_rules():
        return grant_for_stream(agreements, partnerships, city_id, stream, ctx.clock())
