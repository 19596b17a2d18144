"""The notifications service's tables. Citizens' addresses live in two: nt_recipients (where to answer about a
complaint) and nt_intake (who sent a channel message); the opt-out list keeps only keyed hashes of addresses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# The shared outbox and processed-event tables belong to this service's database too.
from kota_common.eventbus import ProcessedEvent  # noqa: F401
from kota_common.outbox import OutboxMessage  # noqa: F401


class RecipientRow(SQLModel, table=True):
    __tablename__ = "nt_recipients"
    __table_args__ = (UniqueConstraint("complaint_id", "channel", "address", name="uq_nt_recipients_address"),
                      Index("ix_nt_recipients_contact", "channel", "address", "created_at"))

    id: str = Field(primary_key=True, max_length=36)
    complaint_id: str = Field(max_length=64, index=True, description="'' for the sender of a refused message")
    channel: str = Field(max_length=16)
    address: str = Field(max_length=320)
    language: str = Field(max_length=8)
    acknowledged: bool = False
    created_at: datetime


class UpdateRow(SQLModel, table=True):
    """A complaint event a citizen may hear of, kept until its complaint's recipients are known."""

    __tablename__ = "nt_updates"

    event_id: str = Field(primary_key=True, max_length=64)
    complaint_id: str = Field(max_length=64, index=True)
    ce_type: str = Field(max_length=100)
    data: str = Field(sa_column=Column(Text, nullable=False), description="the event's payload as JSON")
    received_at: datetime


class MessageRow(SQLModel, table=True):
    __tablename__ = "nt_messages"
    __table_args__ = (
        # Never twice for one event: one message per (event, recipient), whatever the replays.
        UniqueConstraint("event_id", "recipient_id", name="uq_nt_messages_event_recipient"),
        Index("ix_nt_messages_due", "status", "next_attempt_at"),
        Index("ix_nt_messages_complaint", "complaint_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    complaint_id: str = Field(max_length=64)
    recipient_id: str = Field(max_length=36, foreign_key="nt_recipients.id")
    channel: str = Field(max_length=16)
    kind: str = Field(max_length=32)
    language: str = Field(max_length=8)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    secret: str = Field(default="", max_length=64, description="the tracking code in the body, until it is sent")
    event_id: str = Field(max_length=80)
    status: str = Field(max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    last_error: str = Field(default="", max_length=500)
    history: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"),
                         description="JSON list of attempts: at, outcome, detail")
    created_at: datetime


class IntakeRow(SQLModel, table=True):
    """A message received on a channel, kept until the complaints service has taken it (or it was refused)."""

    __tablename__ = "nt_intake"
    __table_args__ = (
        # The same channel message delivered twice (an SMTP client's retry, a webhook's) is one intake.
        UniqueConstraint("channel", "external_ref", name="uq_nt_intake_external_ref"),
        Index("ix_nt_intake_due", "status", "next_attempt_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    channel: str = Field(max_length=16)
    external_ref: str | None = Field(default=None, max_length=200)
    sender: str = Field(max_length=320)
    sender_name: str = Field(default="", max_length=200)
    subject: str = Field(default="", max_length=300)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""),
                      description="the message, until complaints has taken it")
    language: str = Field(default="id", max_length=8)
    attachments: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    status: str = Field(max_length=16)
    missing: str = Field(default="[]", max_length=200)
    complaint_id: str = Field(default="", max_length=64)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    last_error: str = Field(default="", max_length=500)
    received_at: datetime


class OptOutRow(SQLModel, table=True):
    __tablename__ = "nt_opt_outs"

    channel: str = Field(primary_key=True, max_length=16)
    address_hash: str = Field(primary_key=True, max_length=64)
    via: str = Field(max_length=16)
    at: datetime


class ChannelMessageRow(SQLModel, table=True):
    """A chat or SMS message already received (the platform's id): a webhook delivered again is recognised and
    changes nothing. Forgotten after the platforms' retries are long over (entrypoints.app)."""

    __tablename__ = "nt_channel_messages"

    channel: str = Field(primary_key=True, max_length=16)
    external_ref: str = Field(primary_key=True, max_length=200)
    received_at: datetime = Field(index=True)


class ConversationRow(SQLModel, table=True):
    """A report being written over a chat or SMS conversation, one per sender and channel, until it is submitted
    (it then becomes an intake), cancelled, or left idle."""

    __tablename__ = "nt_conversations"

    channel: str = Field(primary_key=True, max_length=16)
    sender: str = Field(primary_key=True, max_length=320)
    sender_name: str = Field(default="", max_length=200)
    language: str = Field(default="id", max_length=8)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    category: str = Field(default="", max_length=64)
    kelurahan: str = Field(default="", max_length=100)
    asking: str = Field(default="", max_length=16)
    asked: str = Field(default="{}", max_length=200, description="JSON: times each missing thing was asked")
    attachments: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    started_at: datetime
    updated_at: datetime = Field(index=True)
