"""The sensors service's tables: registry, observations (batched writes), latest values, alert state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

# The shared outbox and processed-event tables belong to this service's database too.
from kota_common.eventbus import ProcessedEvent  # noqa: F401
from kota_common.outbox import OutboxMessage  # noqa: F401


class DeviceRow(SQLModel, table=True):
    __tablename__ = "devices"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=32, index=True)
    lat: float | None = None
    lon: float | None = None
    location_description: str = Field(default="", max_length=300)
    owner_agency: str = Field(default="", max_length=32)
    kota_code: str = Field(default="", max_length=32)
    sensor_model: str = Field(default="", max_length=200)
    route_id: str = Field(default="", max_length=64)
    thresholds: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    token_hash: str | None = Field(default=None, max_length=128)
    token_issued_at: datetime | None = None
    revoked_at: datetime | None = None
    created_at: datetime
    last_seen_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ObservationRow(SQLModel, table=True):
    __tablename__ = "observations"
    __table_args__ = (Index("ix_observations_time", "ts_ms"),)

    device_id: str = Field(primary_key=True, max_length=64)
    quantity: str = Field(primary_key=True, max_length=32)
    ts_ms: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    value: float


class DatastreamRow(SQLModel, table=True):
    __tablename__ = "datastreams"

    id: str = Field(primary_key=True, max_length=100)
    device_id: str = Field(max_length=64, index=True)
    quantity: str = Field(max_length=32)
    first_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    latest_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    latest_value: float


class VehiclePositionRow(SQLModel, table=True):
    __tablename__ = "vehicle_positions"

    vehicle_id: str = Field(primary_key=True, max_length=64)
    route_id: str = Field(default="", max_length=64, index=True)
    lat: float
    lon: float
    bearing: float = 0
    speed_kmh: float = 0
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class AlertStateRow(SQLModel, table=True):
    """The current alert level per (station, kind), so that a restart neither repeats nor misses a change."""

    __tablename__ = "alert_state"

    station_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=32)
    level: str = Field(max_length=64)
    updated_at: datetime
