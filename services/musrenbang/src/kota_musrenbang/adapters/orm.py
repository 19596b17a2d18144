"""The musrenbang service's tables. A resident appears only as the keyed hash of their NIK (`resident_hash`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# The shared outbox and processed-event tables belong to this service's database too.
from kota_common.eventbus import ProcessedEvent  # noqa: F401
from kota_common.outbox import OutboxMessage  # noqa: F401


class ProposalRow(SQLModel, table=True):
    __tablename__ = "mb_proposals"
    __table_args__ = (
        Index("ix_mb_proposals_area", "cycle_year", "kecamatan_code", "kelurahan_code", "status"),
        UniqueConstraint("request_id", name="uq_mb_proposals_request_id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    cycle_year: int
    title: str = Field(max_length=200)
    problem: str = Field(sa_column=Column(Text, nullable=False))
    activity_code: str = Field(max_length=32)
    volume: int
    cost: int
    kelurahan_code: str = Field(max_length=16)
    kecamatan_code: str = Field(max_length=16)
    rw: str = Field(max_length=8)
    rt: str = Field(max_length=8)
    address: str = Field(max_length=300)
    lat: float | None = None
    lon: float | None = None
    photo_url: str = Field(default="", max_length=500)
    proposer_hash: str = Field(max_length=64, index=True, description="keyed hash of the proposer's NIK")
    proposer_ref: str = Field(max_length=32, description="opaque reference derived from the hash, safe to publish")
    status: str = Field(max_length=20)
    level: str = Field(max_length=16)
    support_count: int = 0
    urgency: int | None = None
    beneficiaries: int | None = None
    alignment: int | None = None
    score_total: float | None = None
    ranks: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"),
                       description="JSON: level -> rank given by that forum")
    technically_verified: bool = False
    merged_into: str | None = Field(default=None, max_length=36)
    request_id: str | None = Field(default=None, max_length=64)
    created: datetime
    updated: datetime
    version: int = Field(default=1, description="optimistic concurrency: bumped by every change")


class HistoryRow(SQLModel, table=True):
    __tablename__ = "mb_history"

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: str = Field(max_length=36, index=True, foreign_key="mb_proposals.id")
    at: datetime
    status: str = Field(max_length=20)
    actor: str = Field(max_length=100)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    level: str | None = Field(default=None, max_length=16)


class MilestoneRow(SQLModel, table=True):
    __tablename__ = "mb_milestones"

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: str = Field(max_length=36, index=True, foreign_key="mb_proposals.id")
    title: str = Field(max_length=200)
    progress_percent: int
    at: datetime
    photo_url: str = Field(default="", max_length=500)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class SupportRow(SQLModel, table=True):
    """One resident's support of one proposal: the primary key makes a second one impossible, whatever the
    concurrency."""

    __tablename__ = "mb_supports"

    proposal_id: str = Field(primary_key=True, max_length=36)
    resident_hash: str = Field(primary_key=True, max_length=64)
    cycle_year: int
    created: datetime


class SupportQuotaRow(SQLModel, table=True):
    """Supports a resident has given in a cycle: raised by a conditional UPDATE (used < limit), so that a burst
    of simultaneous supports cannot pass the limit together."""

    __tablename__ = "mb_support_quota"

    cycle_year: int = Field(primary_key=True)
    resident_hash: str = Field(primary_key=True, max_length=64)
    used: int = 0


class ComplaintEvidenceRow(SQLModel, table=True):
    """A complaint filed in a kelurahan (from complaints.events.v1): evidence for proposals there."""

    __tablename__ = "mb_evidence_complaints"
    __table_args__ = (Index("ix_mb_evidence_complaints_place", "kelurahan_code", "service_code", "at"),)

    complaint_id: str = Field(primary_key=True, max_length=64)
    kelurahan_code: str = Field(max_length=16)
    service_code: str = Field(max_length=64)
    at: datetime


class AlertEvidenceRow(SQLModel, table=True):
    """A sensor alert raised near a kecamatan (from sensors.alerts.v1): evidence for proposals there."""

    __tablename__ = "mb_evidence_alerts"
    __table_args__ = (Index("ix_mb_evidence_alerts_place", "kecamatan_code", "kind", "at"),)

    alert_id: str = Field(primary_key=True, max_length=64)
    kecamatan_code: str = Field(max_length=16)
    kind: str = Field(max_length=32)
    level: str = Field(max_length=64)
    station_name: str = Field(max_length=200)
    at: datetime


class SelectionRow(SQLModel, table=True):
    """A kecamatan forum's published selection; the latest per kecamatan and cycle is the one in force."""

    __tablename__ = "mb_selections"
    __table_args__ = (Index("ix_mb_selections_forum", "cycle_year", "kecamatan_code", "decided_at"),)

    id: str = Field(primary_key=True, max_length=36)
    cycle_year: int
    kecamatan_code: str = Field(max_length=16)
    document: str = Field(sa_column=Column(Text, nullable=False), description="the selection as JSON")
    decided_at: datetime
