"""The complaints service's tables. The reporter's identity and contact live only in `reporters`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

# The shared outbox and processed-event tables belong to this service's database too.
from kota_common.eventbus import ProcessedEvent  # noqa: F401
from kota_common.outbox import OutboxMessage  # noqa: F401


class ComplaintRow(SQLModel, table=True):
    __tablename__ = "complaints"
    __table_args__ = (
        Index("ix_complaints_dup", "service_code", "status", "lat", "lon"),
        Index("ix_complaints_agency_status", "agency_code", "status"),
        Index("ix_complaints_requested", "requested_at"),
        Index("ix_complaints_due", "status", "due_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    channel: str = Field(max_length=32)
    service_code: str = Field(max_length=64)
    description: str = Field(sa_column=Column(Text, nullable=False))
    lat: float | None = None
    lon: float | None = None
    address: str = Field(default="", max_length=500)
    kelurahan_code: str = Field(default="", max_length=32, index=True)
    kelurahan: str = Field(default="", max_length=100)
    kecamatan: str = Field(default="", max_length=100)
    kota_code: str = Field(default="", max_length=32, index=True)
    kota: str = Field(default="", max_length=100)
    media_urls: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    attributes: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    external_ref: str = Field(default="", max_length=200)
    reporter_ref: str = Field(max_length=64)
    anonymous: bool = False
    idempotency_key: str | None = Field(default=None, max_length=128, unique=True)
    status: str = Field(max_length=20)
    requested_at: datetime
    updated_at: datetime
    agency_code: str = Field(default="", max_length=32)
    unit: str = Field(default="", max_length=200)
    routed_at: datetime | None = None
    due_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    sla_breached: bool = False
    escalation_level: int = 0
    duplicate_of: str | None = Field(default=None, max_length=32, index=True)
    supporters_count: int = 0
    rating: int | None = None
    status_notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    version: int = 0


class HistoryRow(SQLModel, table=True):
    __tablename__ = "complaint_history"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: str = Field(foreign_key="complaints.id", index=True, max_length=32)
    seq: int
    at: datetime
    kind: str = Field(max_length=20)
    status: str = Field(max_length=20)
    actor: str = Field(max_length=100)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class ReporterRow(SQLModel, table=True):
    """Personal data. Never copied into events, open data, logs or public views."""

    __tablename__ = "reporters"

    reporter_ref: str = Field(primary_key=True, max_length=64)
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    email: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    device_id: str = Field(default="", max_length=200)
    created_at: datetime


class AgencyRow(SQLModel, table=True):
    __tablename__ = "agencies"

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    short_name: str = Field(max_length=64)


class ServiceCategoryRow(SQLModel, table=True):
    __tablename__ = "service_categories"

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    group: str = Field(default="", max_length=100)
    agency_code: str = Field(foreign_key="agencies.code", max_length=32)
    sla_hours: int
    keywords: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    attributes: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))


class RoutingRuleRow(SQLModel, table=True):
    __tablename__ = "routing_rules"

    id: int | None = Field(default=None, primary_key=True)
    service_code: str = Field(foreign_key="service_categories.code", max_length=64, index=True)
    kota_code: str = Field(default="", max_length=32)
    agency_code: str = Field(foreign_key="agencies.code", max_length=32)
    unit: str = Field(max_length=200)


class SensorIncidentRow(SQLModel, table=True):
    """Which complaint tracks the open alert of a station or gauge (opened and closed by sensors.alerts.v1)."""

    __tablename__ = "sensor_incidents"

    station_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=32)
    complaint_id: str = Field(foreign_key="complaints.id", max_length=32)
    level: str = Field(max_length=40)
    opened_at: datetime
