"""The complaints service as this one uses it: a channel message submitted through its gRPC API
(SubmitChannelMessage, which normalises the text into a complaint and keeps the sender's contact)."""

from __future__ import annotations

import grpc

from kota.complaints.v1 import complaints_pb2 as pb
from kota.complaints.v1 import complaints_pb2_grpc as pb_grpc
from kota_common.grpc_server import field_violations
from kota_notifications.domain.conversation import Category
from kota_notifications.domain.intake import ComplaintRefused, ComplaintsUnavailable, Intake, Submitted, photos_and_others

CHANNELS = {"email": pb.CHANNEL_EMAIL, "whatsapp": pb.CHANNEL_WHATSAPP, "sms": pb.CHANNEL_SMS,
            "telegram": pb.CHANNEL_TELEGRAM}
# Statuses after which the same call may succeed later: complaints is down, restarting, overloaded or slow.
TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
             grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED}
FIELDS = {"text": "description", "channel": "channel"}


class ComplaintsClient:
    def __init__(self, address: str, timeout: float = 10.0):
        self.address = address
        self.timeout = timeout
        # gRPC's default reconnect backoff grows to two minutes: intake waiting for complaints to come back would
        # keep failing at once for that long after it is up. Our own retry paces the calls.
        self._channel = grpc.insecure_channel(address, options=[
            ("grpc.initial_reconnect_backoff_ms", 500), ("grpc.min_reconnect_backoff_ms", 500),
            ("grpc.max_reconnect_backoff_ms", 3000)])
        self._stub = pb_grpc.ComplaintsServiceStub(self._channel)

    def submit(self, intake: Intake) -> Submitted:
        """The complaint the message became; ComplaintsUnavailable (try later) or ComplaintRefused (never)."""
        answer = self.submit_channel_message(intake)
        c = answer.complaint
        missing = []
        if not c.location.kelurahan_code and not c.location.HasField("lat"):
            missing.append("location")
        if c.service_code == "other":
            missing.append("category")
        return Submitted(c.id, answer.tracking_code, c.agency_name or c.agency_code, tuple(missing))

    def submit_channel_message(self, intake: Intake) -> pb.SubmitChannelMessageResponse:
        text = intake.text
        photos, others = photos_and_others(intake.attachments)
        if others:  # what was not kept as a photo: staff at least know it exists and can ask for it
            via = {"email": "e-mail", "whatsapp": "WhatsApp", "telegram": "Telegram", "sms": "SMS"}.get(intake.channel, intake.channel)
            text += f"\n\n[Lampiran diterima lewat {via}: " + ", ".join(others) + "]"
        request = pb.SubmitChannelMessageRequest(
            channel=CHANNELS.get(intake.channel, pb.CHANNEL_UNSPECIFIED), text=text, sender=intake.sender,
            sender_name=intake.sender_name, subject=intake.subject, media_urls=photos,
            # Complaints makes the same complaint of the same (channel, external_ref): a retry after a lost answer
            # submits nothing twice.
            external_ref=intake.external_ref or f"kota-intake-{intake.id}",
        )
        try:
            return self._stub.SubmitChannelMessage(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            if code in TRANSIENT:
                raise ComplaintsUnavailable(f"{code.name}: {exc.details()}") from None
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise ComplaintRefused(exc.details(), [missing_of(f) for f, _ in field_violations(exc)]) from None
            raise ComplaintsUnavailable(f"{code.name}: {exc.details()}") from None

    def categories(self) -> list[Category]:
        """The complaint categories with the keywords complaints' normaliser reads messages with."""
        try:
            reply = self._stub.ListServices(pb.ListServicesRequest(), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise ComplaintsUnavailable(f"{exc.code().name}: {exc.details()}") from None
        return [Category(s.service_code, s.service_name, tuple(s.keywords)) for s in reply.services]

    def close(self) -> None:
        self._channel.close()


def missing_of(field: str) -> str:
    """What the citizen is asked for, from the field complaints named: a category's required attribute is asked for
    by its code (severity), the message's text as its description."""
    return field.removeprefix("attributes.") if field.startswith("attributes.") else FIELDS.get(field, field)
