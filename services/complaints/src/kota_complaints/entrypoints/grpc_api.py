"""gRPC kota.complaints.v1: translates protobuf to use-case calls and domain objects to the public view."""

from __future__ import annotations

import queue
from dataclasses import replace
from datetime import timezone

import grpc

from kota.complaints.v1 import complaints_pb2 as pb
from kota.complaints.v1 import complaints_pb2_grpc as pb_grpc
from kota_common.auth import Principal, principal_from_metadata
from kota_common.errors import InvalidArgument
from kota_common.grpc_server import timestamp, translate_errors
from kota_common.privacy import scrub
from kota_complaints.adapters.channels import ChannelNormaliser, RawMessage, reply_text
from kota_complaints.adapters.repository import ComplaintFilter
from kota_complaints.domain.model import Channel, Complaint, Status
from kota_complaints.service_layer import services
from kota_complaints.service_layer.updates import UpdateHub

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


def channel_to_pb(channel: Channel) -> pb.Channel:
    return pb.Channel.Value(f"CHANNEL_{channel.name}")


def channel_from_pb(value: int) -> str:
    name = pb.Channel.Name(value) if value in pb.Channel.values() else "CHANNEL_UNSPECIFIED"
    return "" if value == pb.CHANNEL_UNSPECIFIED else Channel[name.removeprefix("CHANNEL_")].value


def status_to_pb(status: Status) -> pb.Status:
    return pb.Status.Value(f"STATUS_{status.name}")


def status_from_pb(value: int, field: str = "status") -> Status:
    if value == pb.STATUS_UNSPECIFIED or value not in pb.Status.values():
        raise InvalidArgument("a status is required", [(field, "must be one of received, routed, ...")])
    return Status[pb.Status.Name(value).removeprefix("STATUS_")]


def complaint_to_pb(c: Complaint, ctx: services.Context) -> pb.Complaint:
    """The complaint as it leaves this service: free text (description, notes) scrubbed of phone numbers, e-mail
    addresses and NIK, as on the topic; the reporter only as the opaque reporter_ref."""
    category = ctx.routing.categories.get(c.service_code)
    agency = ctx.routing.agencies.get(c.agency_code)
    a = c.area
    return pb.Complaint(
        id=c.id,
        channel=channel_to_pb(c.channel),
        service_code=c.service_code,
        service_name=category.name if category else c.service_code,
        description=scrub(c.description),
        location=pb.Location(
            lat=a.lat, lon=a.lon, address=a.address, kelurahan_code=a.kelurahan_code, kelurahan=a.kelurahan,
            kecamatan=a.kecamatan, kota=a.kota, kota_code=a.kota_code,
        ),
        media_urls=c.media_urls,
        attributes=[pb.Attribute(code=k, value=v) for k, v in sorted(c.attributes.items())],
        status=status_to_pb(c.status),
        agency_code=c.agency_code,
        agency_name=agency.name if agency else "",
        unit=c.unit,
        requested_at=timestamp(c.requested_at),
        updated_at=timestamp(c.updated_at),
        due_at=timestamp(c.due_at),
        sla_breached=c.sla_breached,
        escalation_level=c.escalation_level,
        duplicate_of=c.duplicate_of or "",
        supporters_count=c.supporters_count,
        rating=c.rating or 0,
        status_notes=scrub(c.status_notes),
        history=[
            pb.HistoryEntry(at=timestamp(h.at), status=status_to_pb(h.status), actor=h.actor, note=scrub(h.note), kind=h.kind)
            for h in c.history
        ],
        reporter_ref=c.reporter_ref,
        anonymous=c.anonymous,
        external_ref=c.external_ref,
    )


class ComplaintsServicer(pb_grpc.ComplaintsServiceServicer):
    def __init__(self, uow_factory, write, ctx: services.Context, hub: UpdateHub, auth_secret: str):
        """`uow_factory()` gives a unit of work for reads; `write(work)` runs work(uow) in a group commit."""
        self.uow_factory = uow_factory
        self.write = write
        self.normaliser = ChannelNormaliser(ctx.routing.categories, ctx.areas)
        self.ctx = ctx
        self.hub = hub
        self.auth_secret = auth_secret

    def _principal(self, context: grpc.ServicerContext) -> Principal | None:
        return principal_from_metadata(self.auth_secret, context.invocation_metadata(), required=False)

    @translate_errors
    def SubmitComplaint(self, request: pb.SubmitComplaintRequest, context):
        if request.channel == pb.CHANNEL_UNSPECIFIED:
            raise InvalidArgument("the complaint is not valid", [("channel", "is required")])
        loc = request.location
        contact = request.contact
        cmd = services.SubmitComplaint(
            channel=channel_from_pb(request.channel),
            service_code=request.service_code,
            description=request.description,
            lat=loc.lat if loc.HasField("lat") else None,
            lon=loc.lon if loc.HasField("lon") else None,
            address=loc.address,
            kelurahan_code=loc.kelurahan_code,
            media_urls=tuple(request.media_urls),
            attributes={a.code: a.value for a in request.attributes},
            contact=services.Contact(
                first_name=contact.first_name, last_name=contact.last_name, email=contact.email,
                phone=contact.phone, device_id=contact.device_id,
            ),
            anonymous=request.anonymous,
            idempotency_key=request.idempotency_key,
            external_ref=request.external_ref,
        )
        complaint, code = self.write(lambda uow: services.submit_complaint(cmd, uow, self.ctx))
        return pb.SubmitComplaintResponse(complaint=complaint_to_pb(complaint, self.ctx), tracking_code=code)

    @translate_errors
    def SubmitChannelMessage(self, request: pb.SubmitChannelMessageRequest, context):
        violations = []
        if request.channel in (pb.CHANNEL_UNSPECIFIED, pb.CHANNEL_SENSOR):
            violations.append(("channel", "a citizen channel is required"))
        if not request.text.strip():
            violations.append(("text", "is required"))
        if violations:
            raise InvalidArgument("the message is not valid", violations)
        normalised = self.normaliser.normalise(
            RawMessage(
                channel=Channel(channel_from_pb(request.channel)),
                text=request.text,
                sender=request.sender,
                sender_name=request.sender_name,
                subject=request.subject,
                external_ref=request.external_ref,
                media_urls=tuple(request.media_urls),
                lat=request.lat if request.HasField("lat") else None,
                lon=request.lon if request.HasField("lon") else None,
            )
        )
        cmd = normalised.command
        if not cmd.kelurahan_code and cmd.lat is None and not cmd.address:
            # Nothing in the message says where: keep it, routed to the agency's head office for follow-up.
            cmd = replace(cmd, address="(lokasi belum diketahui)")
        complaint, code = self.write(lambda uow: services.submit_complaint(cmd, uow, self.ctx))
        agency = self.ctx.routing.agencies.get(complaint.agency_code)
        return pb.SubmitChannelMessageResponse(
            complaint=complaint_to_pb(complaint, self.ctx),
            tracking_code=code,
            reply=reply_text(complaint.id, code, agency.short_name if agency else complaint.agency_code, complaint.duplicate_of),
        )

    @translate_errors
    def GetComplaint(self, request, context):
        if not request.id:
            raise InvalidArgument("id is required", [("id", "is required")])
        complaint = services.get_complaint(request.id, self.uow_factory())
        return pb.GetComplaintResponse(complaint=complaint_to_pb(complaint, self.ctx))

    @translate_errors
    def ListComplaints(self, request: pb.ListComplaintsRequest, context):
        violations = []
        if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
            violations.append(("page_size", f"must be between 0 and {MAX_PAGE_SIZE}"))
        offset = 0
        if request.page_token:
            if not request.page_token.isdigit():
                violations.append(("page_token", "is not a token this service issued"))
            else:
                offset = int(request.page_token)
        statuses = []
        for i, s in enumerate(request.statuses):
            if s == pb.STATUS_UNSPECIFIED or s not in pb.Status.values():
                violations.append((f"statuses[{i}]", "unknown status"))
            else:
                statuses.append(Status[pb.Status.Name(s).removeprefix("STATUS_")])
        if violations:
            raise InvalidArgument("invalid list request", violations)
        limit = request.page_size or DEFAULT_PAGE_SIZE
        flt = ComplaintFilter(
            statuses=tuple(statuses),
            service_code=request.service_code,
            agency_code=request.agency_code,
            kota_code=request.kota_code,
            kelurahan_code=request.kelurahan_code,
            channel=channel_from_pb(request.channel),
            start=request.start_date.ToDatetime(tzinfo=timezone.utc) if request.HasField("start_date") else None,
            end=request.end_date.ToDatetime(tzinfo=timezone.utc) if request.HasField("end_date") else None,
            ids=tuple(request.ids),
        )
        complaints, total = services.list_complaints(flt, offset, limit, self.uow_factory())
        next_token = str(offset + limit) if offset + limit < total else ""
        return pb.ListComplaintsResponse(
            complaints=[complaint_to_pb(c, self.ctx) for c in complaints], next_page_token=next_token, total_size=total
        )

    @translate_errors
    def UpdateComplaintStatus(self, request, context):
        status = status_from_pb(request.status)
        principal = self._principal(context)
        complaint = self.write(lambda uow: services.update_status(request.id, status.value, request.note, principal, uow))
        return pb.UpdateComplaintStatusResponse(complaint=complaint_to_pb(complaint, self.ctx))

    @translate_errors
    def AddComplaintNote(self, request, context):
        principal = self._principal(context)
        complaint = self.write(lambda uow: services.add_note(request.id, request.note, principal, uow))
        return pb.AddComplaintNoteResponse(complaint=complaint_to_pb(complaint, self.ctx))

    @translate_errors
    def RateComplaint(self, request, context):
        complaint = self.write(lambda uow: services.rate(request.id, request.tracking_code, request.rating, uow, self.ctx))
        return pb.RateComplaintResponse(complaint=complaint_to_pb(complaint, self.ctx))

    @translate_errors
    def ReopenComplaint(self, request, context):
        complaint = self.write(
            lambda uow: services.reopen(request.id, request.tracking_code, request.reason, uow, self.ctx)
        )
        return pb.ReopenComplaintResponse(complaint=complaint_to_pb(complaint, self.ctx))

    @translate_errors
    def WatchComplaints(self, request, context):
        if bool(request.id) == bool(request.agency_code):
            raise InvalidArgument("give exactly one of id and agency_code", [("id", "or agency_code, not both")])
        if request.id:
            services.get_complaint(request.id, self.uow_factory())  # NOT_FOUND before streaming
        elif request.agency_code not in self.ctx.routing.agencies:
            raise InvalidArgument("unknown agency", [("agency_code", f"unknown agency {request.agency_code!r}")])
        q = self.hub.subscribe(complaint_id=request.id, agency_code=request.agency_code)
        try:
            while context.is_active():
                try:
                    update = q.get(timeout=1.0)
                except queue.Empty:
                    continue
                yield pb.WatchComplaintsResponse(complaint=update.view, event_type=update.event_type)
        finally:
            self.hub.unsubscribe(q)

    @translate_errors
    def ListServices(self, request, context):
        routing = self.ctx.routing
        return pb.ListServicesResponse(
            services=[
                pb.Service(
                    service_code=c.code, service_name=c.name, description=c.description, group=c.group,
                    keywords=list(c.keywords), agency_code=c.agency_code, sla_hours=c.sla_hours,
                    attributes=[
                        pb.ServiceAttribute(
                            code=a.code, datatype=a.datatype, required=a.required, description=a.description,
                            values=list(a.values), order=a.order,
                        )
                        for a in c.attributes
                    ],
                )
                for c in routing.categories.values()
            ]
        )

    @translate_errors
    def ListAgencies(self, request, context):
        return pb.ListAgenciesResponse(
            agencies=[pb.Agency(code=a.code, name=a.name, short_name=a.short_name) for a in self.ctx.routing.agencies.values()]
        )
