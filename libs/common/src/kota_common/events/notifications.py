"""notifications.events.v1 (key: message id; a channel's intake: the intake id). No personal data: no address,
no name and no text of a message travels here; a message is named by its id, its complaint and its channel."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from kota_common.events import EventPayload, TopicSpec, register_topic

TOPIC = "notifications.events.v1"
SOURCE = "/kota/notifications"

MESSAGE_ID = Field(description="the message's id (a UUID; also the record key and ce_subject)")
COMPLAINT_ID = Field(description="id of the complaint the message is about")
CHANNEL = Field(description="the channel: email, whatsapp, telegram, sms")
KIND = Field(description="what the message says: acknowledged, routed, in_progress, resolved, rejected, note, "
             "sla_breached, duplicate, intake_refused, opted_out")
INTAKE_ID = Field(description="id of the message received on a channel (a UUID; also the record key)")


def _example(**values) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


class MessageSent(EventPayload):
    """A message to a citizen was accepted by its provider (the SMTP server, the send API)."""

    model_config = _example(message_id="5d0c6a3e-8f1b-4a2d-9c7e-0b1a2c3d4e5f", complaint_id="0f8c2b7e-5d4a-4c1e-9a3b-7e2d1c6f8a90",
                            channel="email", kind="resolved", cause_event_id="8b9c0d1e-2f3a-4b5c-8d7e-9f0a1b2c3d4e",
                            attempts=1, sent_at="2025-03-06T10:00:02Z")

    ce_type: Literal["kota.notifications.message-sent.v1"] = "kota.notifications.message-sent.v1"
    message_id: str = MESSAGE_ID
    complaint_id: str = COMPLAINT_ID
    channel: str = CHANNEL
    kind: str = KIND
    cause_event_id: str = Field("", description="ce_id of the complaints.events.v1 event it answers; empty for the "
                                "answer to a channel's message")
    attempts: int = Field(description="attempts it took, this one included")
    sent_at: datetime = Field(description="when the provider accepted it (UTC)")


class MessageFailed(EventPayload):
    """A message could not be delivered: refused for good, or out of attempts. Staff see it in ListMessages."""

    model_config = _example(message_id="5d0c6a3e-8f1b-4a2d-9c7e-0b1a2c3d4e5f", complaint_id="0f8c2b7e-5d4a-4c1e-9a3b-7e2d1c6f8a90",
                            channel="whatsapp", kind="routed", attempts=6, permanent=False,
                            failed_at="2025-03-04T09:00:00Z")

    ce_type: Literal["kota.notifications.message-failed.v1"] = "kota.notifications.message-failed.v1"
    message_id: str = MESSAGE_ID
    complaint_id: str = COMPLAINT_ID
    channel: str = CHANNEL
    kind: str = KIND
    attempts: int = Field(description="attempts made")
    permanent: bool = Field(description="true: the provider refused it for good (no such address); false: out of attempts")
    failed_at: datetime = Field(description="when it was given up (UTC)")


class IntakeSubmitted(EventPayload):
    """A message received on a channel became a complaint (through the complaints service's gRPC)."""

    model_config = _example(intake_id="3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", channel="email",
                            complaint_id="0f8c2b7e-5d4a-4c1e-9a3b-7e2d1c6f8a90", attachments=1, attempts=1,
                            received_at="2025-03-04T07:14:58Z", submitted_at="2025-03-04T07:15:00Z")

    ce_type: Literal["kota.notifications.intake-submitted.v1"] = "kota.notifications.intake-submitted.v1"
    intake_id: str = INTAKE_ID
    channel: str = CHANNEL
    complaint_id: str = COMPLAINT_ID
    attachments: int = Field(description="files attached to the message")
    attempts: int = Field(description="tries it took to reach the complaints service (more than 1: it was down)")
    received_at: datetime = Field(description="when the channel received it (UTC)")
    submitted_at: datetime = Field(description="when the complaints service took it (UTC)")


class IntakeRefused(EventPayload):
    """A message received on a channel could not become a complaint; the sender was told what is missing."""

    model_config = _example(intake_id="3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", channel="email", missing=["description"],
                            received_at="2025-03-04T07:14:58Z")

    ce_type: Literal["kota.notifications.intake-refused.v1"] = "kota.notifications.intake-refused.v1"
    intake_id: str = INTAKE_ID
    channel: str = CHANNEL
    missing: list[str] = Field(description="what the message lacked: description, location, category")
    received_at: datetime = Field(description="when the channel received it (UTC)")


class OptedOut(EventPayload):
    """A citizen asked for no more messages on a channel (counted; the address stays in the service)."""

    model_config = _example(opt_out_id="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", channel="sms", via="reply",
                            opted_out_at="2025-03-07T08:00:00Z")

    ce_type: Literal["kota.notifications.opted-out.v1"] = "kota.notifications.opted-out.v1"
    opt_out_id: str = Field(description="a random id of the opt-out (also the record key)")
    channel: str = CHANNEL
    via: str = Field(description="how: reply (STOP, BERHENTI) or token (the link in a message)")
    opted_out_at: datetime = Field(description="when (UTC)")


TOPIC_SPEC = register_topic(
    TopicSpec(
        name=TOPIC,
        key="message id (intake events: intake id)",
        description="What the CRM told citizens and heard from them: messages sent or given up, channel messages "
        "that became complaints or were refused, opt-outs. No address or text ever.",
        payloads=(MessageSent, MessageFailed, IntakeSubmitted, IntakeRefused, OptedOut),
    )
)
