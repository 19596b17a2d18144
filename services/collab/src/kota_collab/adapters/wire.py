"""The domain's objects as kota.collab.v1 messages and back: what the staff API answers and what two registries
send each other."""

from __future__ import annotations

from datetime import date, datetime, timezone

from kota.collab.v1 import collab_pb2 as pb
from kota_collab.domain.errors import DomainError
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
    parse_date,
)
from kota_common.grpc_server import timestamp

KINDS = {Kind.SISTER_CITY: pb.PARTNERSHIP_KIND_SISTER_CITY, Kind.MOU: pb.PARTNERSHIP_KIND_MOU,
         Kind.ASCN_PROJECT: pb.PARTNERSHIP_KIND_ASCN_PROJECT,
         Kind.TECHNICAL_COOPERATION: pb.PARTNERSHIP_KIND_TECHNICAL_COOPERATION}
KINDS_BY_PB = {v: k for k, v in KINDS.items()}
ACTIVITY_KINDS = {ActivityKind.VISIT_IN_PERSON: pb.ACTIVITY_KIND_VISIT_IN_PERSON,
                  ActivityKind.VISIT_VIRTUAL: pb.ACTIVITY_KIND_VISIT_VIRTUAL,
                  ActivityKind.WORKSHOP: pb.ACTIVITY_KIND_WORKSHOP,
                  ActivityKind.SHARED_SOLUTION: pb.ACTIVITY_KIND_SHARED_SOLUTION}
ACTIVITY_KINDS_BY_PB = {v: k for k, v in ACTIVITY_KINDS.items()}
DECISIONS = {pb.DECISION_ACCEPT: "accept", pb.DECISION_DECLINE: "decline", pb.DECISION_SIGN: "sign",
             pb.DECISION_ACTIVATE: "activate", pb.DECISION_RENEW: "renew", pb.DECISION_END: "end",
             pb.DECISION_EXPIRE: "expire"}


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


def city_pb(c: City) -> pb.City:
    message = pb.City(id=c.id, name=c.name, country=c.country, region=c.region, population=c.population,
                      ascn_member=c.ascn_member, endpoint=c.endpoint, home=c.home)
    if c.latitude is not None and c.longitude is not None:
        message.latitude, message.longitude, message.has_location = c.latitude, c.longitude, True
    return message


def city_from_pb(m: pb.City) -> City:
    located = m.has_location
    return City(m.id, m.name, m.country, m.region, m.population, m.ascn_member, m.endpoint,
                latitude=m.latitude if located else None, longitude=m.longitude if located else None)


def partnership_pb(p: Partnership, sync_pending: bool = False) -> pb.Partnership:
    return pb.Partnership(
        id=p.id, kind=KINDS[p.kind], title=p.title, scope=p.scope, focus_areas=[f.value for f in p.focus_areas],
        parties=[pb.Party(city_id=x.city_id, role=x.role, since=_iso(x.since), until=_iso(x.until)) for x in p.parties],
        status=p.status.value, signed_on=_iso(p.signed_on), document_url=p.document_url, valid_until=_iso(p.valid_until),
        history=[history_pb(h) for h in p.history], federated=p.federated, sync_pending=sync_pending,
    )


def history_pb(h: HistoryEntry) -> pb.HistoryEntry:
    return pb.HistoryEntry(seq=h.seq, status=h.status.value, at=timestamp(h.at), city_id=h.city_id, actor=h.actor,
                           note=h.note, signed_on=_iso(h.signed_on), document_url=h.document_url,
                           valid_until=_iso(h.valid_until))


def partnership_from_pb(m: pb.Partnership) -> Partnership:
    """A partner's copy. Bad content is a DomainError naming the field."""
    try:
        kind = KINDS_BY_PB[m.kind]
        focus = tuple(FocusArea(f) for f in m.focus_areas)
        history = []
        for h in m.history:
            at = datetime.fromtimestamp(h.at.seconds, timezone.utc).replace(microsecond=h.at.nanos // 1000)
            history.append(HistoryEntry(h.seq, Status(h.status), at, h.city_id, h.actor, h.note,
                                        parse_date(h.signed_on, "partnership.history.signed_on"), h.document_url,
                                        parse_date(h.valid_until, "partnership.history.valid_until")))
    except (KeyError, ValueError):
        raise DomainError("the partnership's kind, focus areas or history are not valid", "partnership") from None
    if [h.seq for h in history] != list(range(1, len(history) + 1)):
        raise DomainError("the history's steps must be numbered from 1", "partnership.history")
    parties = tuple(Party(x.city_id, x.role, parse_date(x.since, "partnership.parties"),
                          parse_date(x.until, "partnership.parties")) for x in m.parties)
    return Partnership(m.id, kind, m.title, focus, parties, m.scope, m.federated, history)


def agreement_pb(a: Agreement) -> pb.Agreement:
    message = pb.Agreement(id=a.id, partnership_id=a.partnership_id, city_id=a.city_id, dataset_ids=list(a.dataset_ids),
                           streams=[s.value for s in a.streams], valid_until=_iso(a.valid_until),
                           granted_at=timestamp(a.granted_at), granted_by=a.granted_by, revoked_by=a.revoked_by)
    if a.revoked_at:
        message.revoked_at.CopyFrom(timestamp(a.revoked_at))
    return message


def activity_pb(a: Activity) -> pb.Activity:
    return pb.Activity(id=a.id, partnership_id=a.partnership_id, kind=ACTIVITY_KINDS[a.kind], title=a.title,
                       starts_on=_iso(a.starts_on), ends_on=_iso(a.ends_on), participants=a.participants,
                       outcomes=a.outcomes)
