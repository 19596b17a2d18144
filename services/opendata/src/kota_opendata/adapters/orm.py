"""The open data service's metadata tables. Records live in one table per dataset version (adapters/datastore.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

# The shared outbox and processed-event tables belong to this service's database too.
from kota_common.eventbus import ProcessedEvent  # noqa: F401
from kota_common.outbox import OutboxMessage  # noqa: F401


class OrganizationRow(SQLModel, table=True):
    __tablename__ = "od_organizations"

    name: str = Field(primary_key=True, max_length=64, description="agency code, upper case")
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created: datetime


class GroupRow(SQLModel, table=True):
    __tablename__ = "od_groups"

    name: str = Field(primary_key=True, max_length=64)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class DatasetRow(SQLModel, table=True):
    __tablename__ = "od_datasets"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=100, unique=True)
    title: str = Field(max_length=300)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    organization: str = Field(max_length=64, index=True)
    tags: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    groups: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    license_id: str = Field(default="cc-by-4.0", max_length=64)
    frequency: str = Field(default="irregular", max_length=32)
    source: str = Field(max_length=16)
    extras: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    version: int = 1
    fields: str = Field(sa_column=Column(Text, nullable=False), description="JSON list of the current version's fields")
    table_name: str = Field(max_length=64, description="records table of the current version")
    time_field: str = Field(default="", max_length=64)
    record_count: int = 0
    temporal_start: str | None = Field(default=None, max_length=32)
    temporal_end: str | None = Field(default=None, max_length=32)
    bbox: str = Field(default="", max_length=200, description="JSON [min_lon, min_lat, max_lon, max_lat]")
    metadata_created: datetime
    metadata_modified: datetime
    pending_changes: int = 0
    last_event_at: datetime | None = None


class DatasetVersionRow(SQLModel, table=True):
    __tablename__ = "od_dataset_versions"

    dataset_id: str = Field(primary_key=True, max_length=36)
    number: int = Field(primary_key=True)
    table_name: str = Field(max_length=64)
    fields: str = Field(sa_column=Column(Text, nullable=False))
    created: datetime
    record_count: int = 0
    rejected_count: int = 0
    actor: str = Field(default="system", max_length=100)
    note: str = Field(default="", max_length=500)


class ComplaintFactRow(SQLModel, table=True):
    """Internal (never published): one row per complaint, the basis of the suppressed daily counts."""

    __tablename__ = "od_complaint_facts"
    __table_args__ = (Index("ix_od_complaint_facts_cell", "date", "kelurahan_code", "service_code", "status"),)

    complaint_id: str = Field(primary_key=True, max_length=64)
    date: str = Field(max_length=10)
    kelurahan_code: str = Field(default="", max_length=32)
    kelurahan: str = Field(default="", max_length=100)
    kecamatan: str = Field(default="", max_length=100)
    kota: str = Field(default="", max_length=100)
    service_code: str = Field(default="", max_length=64)
    status: str = Field(default="received", max_length=20)
    submitted_at: datetime | None = None
    resolution_seconds: float | None = None


class AggregateRow(SQLModel, table=True):
    """Internal running sums behind hourly / 10-minute means (one per dataset record and parameter)."""

    __tablename__ = "od_aggregates"

    dataset: str = Field(primary_key=True, max_length=100)
    record_key: str = Field(primary_key=True, max_length=200)
    parameter: str = Field(primary_key=True, max_length=32)
    total: float = 0.0
    n: int = 0
    maximum: float | None = None


class MusrenbangProposalRow(SQLModel, table=True):
    """Internal (never published): what open data knows of one musrenbang proposal, with the clock of each part
    (domain/musrenbang.py ProposalState as JSON), so that late and repeated events never wind a record back."""

    __tablename__ = "od_musrenbang_proposals"

    proposal_id: str = Field(primary_key=True, max_length=64)
    state: str = Field(sa_column=Column(Text, nullable=False))


class DatasetActivityRow(SQLModel, table=True):
    """One entry of a dataset's activity stream (CKAN package_activity_list), written with the opendata.events.v1
    event it records, in the same transaction; its id is the event's id."""

    __tablename__ = "od_dataset_activity"
    __table_args__ = (Index("ix_od_dataset_activity_dataset", "dataset_id", "at"),)

    id: str = Field(primary_key=True, max_length=64)
    dataset_id: str = Field(max_length=36)
    activity_type: str = Field(max_length=32, description='"new package" or "changed package"')
    event_type: str = Field(max_length=100)
    at: datetime
    version: int = 1
    record_count: int = 0
    changes: int = 0
    actor: str = Field(default="system", max_length=100)
    note: str = Field(default="", max_length=500)
