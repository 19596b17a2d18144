"""gRPC servicer of kota.notifications.v1.NotificationsService (proto/kota/notifications/v1/notifications.proto):
requests to use cases, their answers to messages. Addresses leave only masked."""

from __future__ import annotations

from collections.abc import Callable

from kota.notifications.v1 import notifications_pb2 as pb
from kota.notifications.v1 import notifications_pb2_grpc as pb_grpc
from kota_common.auth import Principal, principal_from_metadata
from kota_common.errors import InvalidArgument, PermissionDenied
from kota_common.grpc_server import timestamp, translate_errors
from kota_notifications.adapters.repository import MessageFilter
from kota_notifications.domain.addresses import mask
from kota_notifications.domain.conversation import StepKind
from kota_notifications.domain.intake import Intake, IntakeStatus
from kota_notifications.domain.model import Channel, DeliveryStatus, Message, Recipient
from kota_notifications.domain.ratelimit import CALLER
from kota_notifications.service_layer import services
from kota_notifications.service_layer.services import ChatMessage, Context, MakeUnitOfWork, VocabularySource

SERVICE_NAME = "kota.notifications.v1.NotificationsService"
CHANNELS = {Channel.EMAIL: pb.CHANNEL_EMAIL, Channel.WHATSAPP: pb.CHANNEL_WHATSAPP,
            Channel.TELEGRAM: pb.CHANNEL_TELEGRAM, Channel.SMS: pb.CHANNEL_SMS}
CHANNELS_BY_PB = {v: k for k, v in CHANNELS.items()}
STATUSES = {s: getattr(pb, f"DELIVERY_STATUS_{s.name}") for s in DeliveryStatus}
STATUSES_BY_PB = {v: k for k, v in STATUSES.items()}
INTAKE_STATUSES = {s: getattr(pb, f"INTAKE_STATUS_{s.name}") for s in IntakeStatus}
INTAKE_STATUSES_BY_PB = {v: k for k, v in INTAKE_STATUSES.items()}
STAFF_ROLES = {"staff", "admin", "system"}
STEPS = {StepKind.ASK: pb.CONVERSATION_STEP_ASKED, StepKind.SUBMIT: pb.CONVERSATION_STEP_QUEUED,
         StepKind.OPT_OUT: pb.CONVERSATION_STEP_OPTED_OUT, StepKind.CANCELLED: pb.CONVERSATION_STEP_CANCELLED}
DEFAULT_PAGE = 50
CLIENT_KEY = "x-kota-client"  # who RegisterRecipient is asked for (the gateway: a keyed hash of the citizen's IP)


def message_pb(m: Message, r: Recipient | None) -> pb.Message:
    return pb.Message(
        id=m.id, complaint_id=m.complaint_id, channel=CHANNELS[m.channel],
        recipient_masked=mask(r.channel, r.address) if r else "", kind=m.kind, language=m.language,
        status=STATUSES[m.status], attempts=m.attempts, created_at=timestamp(m.created_at),
        next_attempt_at=timestamp(m.next_attempt_at), sent_at=timestamp(m.sent_at), last_error=m.last_error,
        event_id="" if m.event_id.startswith(services.INTAKE_REF) else m.event_id,
        history=[pb.Attempt(at=timestamp(a.at), outcome=a.outcome.value, detail=a.detail) for a in m.history],
        body=m.staff_body,
    )


def intake_pb(i: Intake) -> pb.Intake:
    return pb.Intake(
        id=i.id, channel=CHANNELS.get(Channel(i.channel), pb.CHANNEL_UNSPECIFIED), sender_masked=mask(i.channel, i.sender),
        subject=i.subject, status=INTAKE_STATUSES[i.status], complaint_id=i.complaint_id, missing=i.missing,
        attempts=i.attempts, received_at=timestamp(i.received_at), next_attempt_at=timestamp(i.next_attempt_at),
        last_error=i.last_error, attachments=i.attachments,
    )


def page(size: int, token: str) -> tuple[int, int]:
    violations = []
    if size < 0 or size > services.MAX_PAGE:
        violations.append(("page_size", f"must be between 0 and {services.MAX_PAGE}"))
    if token and not token.isdigit():
        violations.append(("page_token", "is not a token this service issued"))
    if violations:
        raise InvalidArgument("invalid page", violations)
    return (int(token) if token else 0), (size or DEFAULT_PAGE)


def next_token(offset: int, count: int, total: int) -> str:
    return str(offset + count) if offset + count < total else ""


class NotificationsServicer(pb_grpc.NotificationsServiceServicer):
    def __init__(self, uow: MakeUnitOfWork, ctx: Context, auth_secret: str, on_queued: Callable[[], None] = lambda: None,
                 *, vocabulary: VocabularySource | None = None, on_intake: Callable[[], None] = lambda: None):
        self.uow = uow
        self.ctx = ctx
        self.secret = auth_secret
        self.on_queued = on_queued
        self.vocabulary = vocabulary
        self.on_intake = on_intake

    def _staff(self, context) -> Principal:
        principal = principal_from_metadata(self.secret, context.invocation_metadata())
        assert principal is not None
        if not principal.roles & STAFF_ROLES:
            raise PermissionDenied("staff only", [("authorization", "needs the staff, admin or system role")])
        return principal

    @translate_errors
    def GetMessage(self, request: pb.GetMessageRequest, context):
        self._staff(context)
        if not request.id:
            raise InvalidArgument("id is required", [("id", "is required")])
        return pb.GetMessageResponse(message=message_pb(*services.get_message(self.uow(), request.id)))

    @translate_errors
    def ListMessages(self, request: pb.ListMessagesRequest, context):
        self._staff(context)
        offset, limit = page(request.page_size, request.page_token)
        f = MessageFilter(complaint_id=request.complaint_id, status=STATUSES_BY_PB.get(request.status),
                          channel=CHANNELS_BY_PB.get(request.channel))
        found, total = services.list_messages(self.uow(), f, offset, limit)
        return pb.ListMessagesResponse(messages=[message_pb(m, r) for m, r in found], total=total,
                                       next_page_token=next_token(offset, len(found), total))

    @translate_errors
    def RetryMessage(self, request: pb.RetryMessageRequest, context):
        self._staff(context)
        if not request.id:
            raise InvalidArgument("id is required", [("id", "is required")])
        m, r = services.retry_message(self.uow(), self.ctx, request.id)
        self.on_queued()
        return pb.RetryMessageResponse(message=message_pb(m, r))

    @translate_errors
    def RegisterRecipient(self, request: pb.RegisterRecipientRequest, context):
        principal = self._staff(context)
        channel = CHANNELS_BY_PB.get(request.channel)
        violations = [] if channel else [("channel", "is required")]
        if not request.complaint_id:
            violations.append(("complaint_id", "is required"))
        if not request.address:
            violations.append(("address", "is required"))
        if violations or channel is None:
            raise InvalidArgument("invalid recipient", violations)
        client = "" if principal.roles & {"staff", "admin"} else registering_client(principal, context)
        queued = services.register_recipient(self.uow(), self.ctx, request.complaint_id, channel, request.address,
                                             request.language or "id", client=client)
        if queued:
            self.on_queued()
        return pb.RegisterRecipientResponse(queued=queued)

    @translate_errors
    def OptOut(self, request: pb.OptOutRequest, context):
        if not request.token:
            raise InvalidArgument("token is required", [("token", "is required")])
        channel, masked = services.opt_out_by_token(self.uow(), self.ctx, request.token)
        return pb.OptOutResponse(channel=CHANNELS[channel], recipient_masked=masked)

    @translate_errors
    def ListIntake(self, request: pb.ListIntakeRequest, context):
        self._staff(context)
        offset, limit = page(request.page_size, request.page_token)
        found, total = services.list_intake(self.uow(), INTAKE_STATUSES_BY_PB.get(request.status), offset, limit)
        return pb.ListIntakeResponse(intake=[intake_pb(i) for i in found], total=total,
                                     next_page_token=next_token(offset, len(found), total))

    @translate_errors
    def ReceiveChannelMessage(self, request: pb.ReceiveChannelMessageRequest, context):
        self._staff(context)
        channel = CHANNELS_BY_PB.get(request.channel)
        if channel is None or self.vocabulary is None:
            raise InvalidArgument("invalid channel message", [("channel", "must be whatsapp, telegram or sms")])
        if not request.sender:
            raise InvalidArgument("invalid channel message", [("sender", "is required")])
        msg = ChatMessage(channel=channel, sender=request.sender, message_id=request.message_id, text=request.text,
                          sender_name=request.sender_name, language=request.language,
                          attachments=tuple(request.attachments))
        received = services.receive_chat_message(self.uow(), self.ctx, self.vocabulary.current(), msg)
        if received.step is StepKind.SUBMIT:
            self.on_intake()
        elif received.step is not None:
            self.on_queued()
        return pb.ReceiveChannelMessageResponse(
            duplicate=received.duplicate, missing=list(received.missing), intake_id=received.intake_id,
            step=STEPS[received.step] if received.step else pb.CONVERSATION_STEP_UNSPECIFIED)


def registering_client(principal: Principal, context) -> str:
    """Who a system caller (the gateway) registers a contact for: the citizen as it names them (an opaque key in
    x-kota-client), else the caller itself (its token's subject)."""
    given = dict(context.invocation_metadata()).get(CLIENT_KEY)
    return f"client:{str(given)[:200]}" if given else f"{CALLER}{principal.subject}"


def register(servicer: NotificationsServicer) -> Callable:
    def add(server):
        pb_grpc.add_NotificationsServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return add
