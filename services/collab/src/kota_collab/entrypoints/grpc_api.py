"""gRPC servicers of kota.collab.v1 (proto/kota/collab/v1/collab.proto): CollabService for this city's staff
(bearer token) and FederationService for partner cities (mutual TLS). Requests to commands, answers to messages;
nothing here decides anything."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import orjson

from kota.collab.v1 import collab_pb2 as pb
from kota.collab.v1 import collab_pb2_grpc as pb_grpc
from kota_collab.adapters import wire
from kota_collab.adapters.opendata import OpenDataClient
from kota_collab.adapters.shared_events import BadPosition, TopicFollower
from kota_collab.adapters.tls import CertificateRefused, PeerIdentity
from kota_collab.domain.credentials import Refusal, Refused
from kota_collab.domain.errors import DomainError
from kota_collab.service_layer import services
from kota_collab.service_layer.services import Context, MakeUnitOfWork
from kota_collab.service_layer.sharing import SOURCES
from kota_common.auth import Principal, principal_from_metadata
from kota_common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from kota_common.grpc_server import timestamp, translate_errors

log = logging.getLogger(__name__)
MAX_BATCH = 1000  # events a response of a batched shared stream carries at most


def _name(enum_value: int, names: dict, field: str) -> str:
    found = names.get(enum_value)
    if found is None:
        raise InvalidArgument(f"{field} is required", [(field, "required")])
    return found.value if hasattr(found, "value") else found


class CollabServicer(pb_grpc.CollabServiceServicer):
    def __init__(self, uow: MakeUnitOfWork, ctx: Context, auth_secret: str):
        self.uow = uow
        self.ctx = ctx
        self.secret = auth_secret

    def _staff(self, context) -> Principal:
        principal = principal_from_metadata(self.secret, context.invocation_metadata())
        assert principal is not None  # required: raises UNAUTHENTICATED otherwise
        return principal

    @translate_errors
    def RegisterCity(self, request, context):
        principal = self._staff(context)
        try:
            city = wire.city_from_pb(request.city)
        except DomainError as exc:
            raise InvalidArgument(exc.message, [(f"city.{exc.field}", exc.message)]) from None
        return pb.RegisterCityResponse(city=wire.city_pb(services.register_city(self.ctx, self.uow(), principal, city)))

    @translate_errors
    def ListCities(self, request, context):
        self._staff(context)
        return pb.ListCitiesResponse(cities=[wire.city_pb(c) for c in services.list_cities(self.uow())])

    @translate_errors
    def CreatePartnership(self, request, context):
        principal = self._staff(context)
        kind = _name(request.kind, wire.KINDS_BY_PB, "kind")
        view = services.create_partnership(self.ctx, self.uow(), principal, services.CreatePartnership(
            kind=kind, title=request.title, focus_areas=list(request.focus_areas),
            partner_city_ids=list(request.partner_city_ids), status=request.status, signed_on=request.signed_on,
            document_url=request.document_url, valid_until=request.valid_until, note=request.note,
            request_id=request.request_id))
        return pb.CreatePartnershipResponse(partnership=wire.partnership_pb(view.partnership, view.sync_pending))

    @translate_errors
    def GetPartnership(self, request, context):
        self._staff(context)
        view = services.get_partnership(self.uow(), request.id)
        return pb.GetPartnershipResponse(partnership=wire.partnership_pb(view.partnership, view.sync_pending),
                                         agreements=[wire.agreement_pb(a) for a in view.agreements],
                                         activities=[wire.activity_pb(a) for a in view.activities])

    @translate_errors
    def ListPartnerships(self, request, context):
        self._staff(context)
        kind = wire.KINDS_BY_PB[request.kind].value if request.kind else ""
        views = services.list_partnerships(self.uow(), request.city_id, kind, request.status)
        return pb.ListPartnershipsResponse(partnerships=[wire.partnership_pb(v.partnership, v.sync_pending) for v in views])

    @translate_errors
    def DecidePartnership(self, request, context):
        principal = self._staff(context)
        decision = _name(request.decision, wire.DECISIONS, "decision")
        view = services.decide_partnership(self.ctx, self.uow(), principal, services.DecidePartnership(
            id=request.id, decision=decision, note=request.note, signed_on=request.signed_on,
            document_url=request.document_url, valid_until=request.valid_until))
        return pb.DecidePartnershipResponse(partnership=wire.partnership_pb(view.partnership, view.sync_pending))

    @translate_errors
    def GrantAgreement(self, request, context):
        principal = self._staff(context)
        agreement = services.grant_agreement(self.ctx, self.uow(), principal, services.GrantAgreement(
            partnership_id=request.partnership_id, city_id=request.city_id, dataset_ids=list(request.dataset_ids),
            streams=list(request.streams), valid_until=request.valid_until))
        return pb.GrantAgreementResponse(agreement=wire.agreement_pb(agreement))

    @translate_errors
    def RevokeAgreement(self, request, context):
        principal = self._staff(context)
        agreement = services.revoke_agreement(self.ctx, self.uow(), principal, request.id, request.reason)
        return pb.RevokeAgreementResponse(agreement=wire.agreement_pb(agreement))

    @translate_errors
    def RecordActivity(self, request, context):
        principal = self._staff(context)
        kind = _name(request.kind, wire.ACTIVITY_KINDS_BY_PB, "kind")
        activity = services.record_activity(self.ctx, self.uow(), principal, services.RecordActivity(
            partnership_id=request.partnership_id, kind=kind, title=request.title, starts_on=request.starts_on,
            ends_on=request.ends_on, participants=request.participants, outcomes=request.outcomes))
        return pb.RecordActivityResponse(activity=wire.activity_pb(activity))

    @translate_errors
    def ListActivities(self, request, context):
        self._staff(context)
        found = services.list_activities(self.uow(), request.partnership_id, request.city_id)
        return pb.ListActivitiesResponse(activities=[wire.activity_pb(a) for a in found])

    @translate_errors
    def ListAgreements(self, request, context):
        self._staff(context)
        found = services.list_agreements(self.uow(), request.partnership_id, request.city_id)
        return pb.ListAgreementsResponse(agreements=[wire.agreement_pb(a) for a in found])


class FederationServicer(pb_grpc.FederationServiceServicer):
    """`recheck_s`: how often an open stream checks its grant again (a revoked grant ends it within that, plus one
    poll of the topic)."""

    def __init__(self, uow: MakeUnitOfWork, ctx: Context, peers: PeerIdentity, kafka_bootstrap: str,
                 recheck_s: float = 1.0, follower: Callable[[str, str, str], TopicFollower] = TopicFollower,
                 open_data: OpenDataClient | None = None):
        self.uow = uow
        self.ctx = ctx
        self.peers = peers
        self.bootstrap = kafka_bootstrap
        self.recheck_s = recheck_s
        self.follower = follower
        self.open_data = open_data

    def _caller(self, context, method: str):
        """The calling partner, or refused (UNAUTHENTICATED with the reason as google.rpc.ErrorInfo) and audited."""
        city_id = self._certified(context, method)
        try:
            return services.known_partner(self.ctx, self.uow, city_id, method)  # audits its own refusal
        except PermissionDenied as exc:
            raise CertificateRefused(Refused(Refusal.UNKNOWN_CITY, city_id, exc.message)) from None

    def _certified(self, context, method: str) -> str:
        try:
            return self.peers.city_of(context)
        except CertificateRefused as exc:
            services.audit(self.ctx, self.uow(), exc.caller, method, "denied", f"{exc.reason}: {exc.message}")
            raise

    @translate_errors
    def SyncPartnership(self, request, context):
        sender = self._caller(context, "SyncPartnership")
        try:
            theirs = wire.partnership_from_pb(request.partnership)
        except DomainError as exc:
            services.audit(self.ctx, self.uow(), sender.id, "SyncPartnership", "denied", exc.message)
            raise InvalidArgument(exc.message, [(exc.field or "partnership", exc.message)]) from None
        view, applied = services.receive_partnership(self.ctx, self.uow, sender, theirs)
        return pb.SyncPartnershipResponse(partnership=wire.partnership_pb(view.partnership, view.sync_pending),
                                          applied=applied)

    @translate_errors
    def ListSharedDatasets(self, request, context):
        city = self._caller(context, "ListSharedDatasets")
        found = services.shared_datasets_of(self.ctx, self.uow, city)
        return pb.ListSharedDatasetsResponse(datasets=[
            pb.SharedDataset(dataset_id=d, agreement_id=g.agreement_id,
                             valid_until=g.valid_until.isoformat() if g.valid_until else "") for d, g in found])

    @translate_errors
    def GetSharedDataset(self, request, context):
        city = self._caller(context, "GetSharedDataset")
        grant = services.dataset_grant(self.ctx, self.uow, city, request.dataset_id, "GetSharedDataset")
        dataset = self._open_data().get_dataset(request.dataset_id)
        services.dataset_read(self.ctx, self.uow, city, request.dataset_id, "GetSharedDataset", grant)
        return pb.GetSharedDatasetResponse(dataset=dataset, agreement_id=grant.agreement_id)

    @translate_errors
    def QuerySharedDataset(self, request, context):
        city = self._caller(context, "QuerySharedDataset")
        name = request.query.resource_id
        grant = services.dataset_grant(self.ctx, self.uow, city, name, "QuerySharedDataset")
        result = self._open_data().query(request.query)
        services.dataset_read(self.ctx, self.uow, city, name, "QuerySharedDataset", grant,
                              f": {result.total} record(s) matched")
        return pb.QuerySharedDatasetResponse(result=result, agreement_id=grant.agreement_id)

    def _open_data(self) -> OpenDataClient:
        if self.open_data is None:
            raise FailedPrecondition("this city has no open data service configured", [("dataset_id", "no open data")])
        return self.open_data

    @translate_errors
    def SubscribeSharedEvents(self, request, context):
        city = self._caller(context, "SubscribeSharedEvents")
        stream, grant = services.stream_grant(self.ctx, self.uow, city, request.stream)
        source = SOURCES[stream]
        try:
            follower = self.follower(self.bootstrap, source.topic, request.position)
        except BadPosition as exc:
            raise InvalidArgument(str(exc), [("position", "partition:offset,...")]) from None
        batch = min(request.max_batch, MAX_BATCH)
        services.audit(self.ctx, self.uow(), city.id, "SubscribeSharedEvents", "ok",
                       f"stream {stream.value} from {request.position or 'the start'}"
                       + (f", in batches of up to {batch}" if batch else ""), grant.partnership_id, grant.agreement_id)
        ended = "the partner left"
        try:
            checked = time.monotonic()
            while context.is_active():
                if time.monotonic() - checked >= self.recheck_s:
                    grant = services.current_stream_grant(self.ctx, self.uow, city.id, stream)
                    self._certified(context, "SubscribeSharedEvents")  # revoked or expired since it opened: ends
                    checked = time.monotonic()
                shared = [pb.SharedEvent(position=read.position, type=read.type, time=timestamp(read.time),
                                         data_json=orjson.dumps(data).decode())
                          for read in follower.poll(min(0.5, self.recheck_s))
                          if (data := source.project(stream, read.type, read.data)) is not None]
                if batch:
                    for start in range(0, len(shared), batch):
                        yield pb.SubscribeSharedEventsResponse(stream=stream.value, agreement_id=grant.agreement_id,
                                                               events=shared[start:start + batch])
                    continue
                for event in shared:
                    yield pb.SubscribeSharedEventsResponse(
                        position=event.position, stream=stream.value, type=event.type, time=event.time,
                        data_json=event.data_json, agreement_id=grant.agreement_id)
        except (PermissionDenied, CertificateRefused) as exc:
            ended = exc.message
            raise
        finally:
            follower.close()
            services.audit(self.ctx, self.uow(), city.id, "SubscribeSharedEvents", "ended",
                           f"stream {stream.value}: {ended}", grant.partnership_id, grant.agreement_id)
