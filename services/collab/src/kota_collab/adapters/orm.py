"""The collab service's tables. Lists (focus areas, parties, dataset ids, streams) are JSON text: they are read and
written whole with their row, never queried by element."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# The shared outbox and processed-event tables belong to this service's database too.
from kota_common.eventbus import ProcessedEvent  # noqa: F401
from kota_common.outbox import OutboxMessage  # noqa: F401


class CityRow(SQLModel, table=True):
    __tablename__ = "collab_cities"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    region: str = Field(default="", max_length=200)
    population: int = 0
    ascn_member: bool = False
    endpoint: str = Field(default="", max_length=300, description="host:port of its Kota inter-city endpoint")
    home: bool = False
    latitude: float | None = Field(default=None, description="WGS84 degrees; null when not recorded")
    longitude: float | None = None
    updated: datetime


class PartnershipRow(SQLModel, table=True):
    __tablename__ = "collab_partnerships"
    __table_args__ = (UniqueConstraint("request_id", name="uq_collab_partnerships_request_id"),)

    id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=32)
    title: str = Field(max_length=300)
    scope: str = Field(max_length=16)
    focus_areas: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    parties: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"),
                         description="JSON: [{city_id, role, since, until}]")
    federated: bool = False
    status: str = Field(max_length=16, index=True)
    request_id: str | None = Field(default=None, max_length=64)
    created: datetime
    updated: datetime
    version: int = Field(default=1, description="optimistic concurrency: bumped by every change")


class HistoryRow(SQLModel, table=True):
    __tablename__ = "collab_history"
    __table_args__ = (UniqueConstraint("partnership_id", "seq", name="uq_collab_history_step"),)

    id: int | None = Field(default=None, primary_key=True)
    partnership_id: str = Field(max_length=36, foreign_key="collab_partnerships.id")
    seq: int
    status: str = Field(max_length=16)
    at: datetime
    city_id: str = Field(max_length=40)
    actor: str = Field(max_length=100)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    signed_on: date | None = None
    document_url: str = Field(default="", max_length=500)
    valid_until: date | None = None


class AgreementRow(SQLModel, table=True):
    __tablename__ = "collab_agreements"
    __table_args__ = (Index("ix_collab_agreements_city", "city_id", "revoked_at"),)

    id: str = Field(primary_key=True, max_length=36)
    partnership_id: str = Field(max_length=36, foreign_key="collab_partnerships.id", index=True)
    city_id: str = Field(max_length=40)
    dataset_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    streams: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    valid_until: date | None = None
    granted_at: datetime
    granted_by: str = Field(max_length=100)
    revoked_at: datetime | None = None
    revoked_by: str = Field(default="", max_length=100)
    revoke_reason: str = Field(default="", max_length=500)


class ActivityRow(SQLModel, table=True):
    __tablename__ = "collab_activities"

    id: str = Field(primary_key=True, max_length=36)
    partnership_id: str = Field(max_length=36, foreign_key="collab_partnerships.id", index=True)
    kind: str = Field(max_length=32)
    title: str = Field(max_length=300)
    starts_on: date | None = None
    ends_on: date | None = None
    participants: int = 0
    outcomes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created: datetime


class DeliveryRow(SQLModel, table=True):
    """A federated partnership whose latest state the partner's registry has not confirmed: the federation's own
    outbox. One row per (partnership, city): a change made while an earlier one waits is sent with it."""

    __tablename__ = "collab_deliveries"
    __table_args__ = (Index("ix_collab_deliveries_due", "delivered_seq", "next_attempt_at"),)

    partnership_id: str = Field(primary_key=True, max_length=36, foreign_key="collab_partnerships.id")
    city_id: str = Field(primary_key=True, max_length=40)
    wanted_seq: int = Field(description="the history length to deliver")
    delivered_seq: int = Field(default=0, description="the history length the partner confirmed")
    attempts: int = 0
    next_attempt_at: datetime
    last_error: str = Field(default="", max_length=500)
