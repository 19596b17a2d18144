"""Sensor topics: sensors.readings.v1 (key: device id), sensors.vehicle-positions.v1 (key: vehicle id),
sensors.alerts.v1 (key: station or gauge id, consumed by complaints to open incident tickets), and the sensors
service's own sensors.reading-summaries.v1 (key: device id): what its alert evaluator needs of each ingested batch.

Readings and positions are published straight from the ingest path in batches (not through the outbox): the
device is acknowledged only after the broker has acknowledged its batch. Their ce_id is deterministic
(`<device>/<quantity>/<epoch ms>`), so a batch resent after a lost acknowledgement is dropped by idempotent
consumers. Alerts go through the sensors service's transactional outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from kota_common.events import EventPayload, TopicSpec, register_topic

ALERTS_TOPIC = "sensors.alerts.v1"
READINGS_TOPIC = "sensors.readings.v1"
POSITIONS_TOPIC = "sensors.vehicle-positions.v1"
SUMMARIES_TOPIC = "sensors.reading-summaries.v1"
SOURCE = "/kota/sensors"


class SensorAlert(EventPayload):
    """An alert level changed at a station or gauge (raised, escalated or cleared)."""

    ce_type: Literal["kota.sensors.alert-changed.v1"] = "kota.sensors.alert-changed.v1"
    alert_id: str
    kind: Literal["flood", "air_quality", "device_silent"]
    station_id: str
    station_name: str
    lat: float | None = None
    lon: float | None = None
    kota_code: str = ""
    level: str = Field(description="flood: siaga-1..siaga-4; air: ISPU category; device_silent: silent|ok")
    previous_level: str = ""
    severity: Literal["normal", "watch", "warning", "danger"]
    value: float | None = None
    unit: str = ""
    observed_at: datetime


ALERTS_SPEC = register_topic(
    TopicSpec(
        name=ALERTS_TOPIC,
        key="station or gauge id",
        description="Alert level changes: ISPU category per air-quality station, Siaga level per flood gauge, "
        "silent devices. Hysteresis applied by the producer.",
        payloads=(SensorAlert,),
    )
)


class SensorReading(EventPayload):
    """One accepted observation of one quantity by one device (an air-quality station, a river gauge)."""

    ce_type: Literal["kota.sensors.reading.v1"] = "kota.sensors.reading.v1"
    device_id: str
    quantity: str = Field(description="pm25, pm10, so2, co, o3, no2, hc, temperature, humidity, water_level, rainfall")
    unit: str = Field(description="canonical unit of the quantity: ug/m3, Cel, %, cm, mm")
    value: float
    observed_at_ms: int = Field(description="when it was observed, milliseconds since the Unix epoch (UTC)")


class VehiclePosition(EventPayload):
    """A bus position (TransJakarta), the source of the GTFS-realtime VehiclePositions feed."""

    ce_type: Literal["kota.sensors.vehicle-position.v1"] = "kota.sensors.vehicle-position.v1"
    vehicle_id: str
    route_id: str = ""
    lat: float
    lon: float
    bearing: float = Field(0, description="degrees clockwise from north")
    speed_kmh: float = 0
    observed_at_ms: int = Field(description="milliseconds since the Unix epoch (UTC)")


READINGS_SPEC = register_topic(
    TopicSpec(
        name=READINGS_TOPIC,
        key="device id",
        description="Every accepted sensor reading, one record per observation, ordered per device. Published in "
        "batches from the ingest path; ce_id is <device>/<quantity>/<epoch ms> (duplicates by id are resends).",
        payloads=(SensorReading,),
    )
)

POSITIONS_SPEC = register_topic(
    TopicSpec(
        name=POSITIONS_TOPIC,
        key="vehicle id",
        description="Accepted vehicle positions (TransJakarta buses), ordered per vehicle.",
        payloads=(VehiclePosition,),
    )
)


class ReadingSummary(EventPayload):
    """What the alert evaluator needs of one accepted batch of one device, written by the ingest path beside the
    batch's readings: PM2.5 summed per minute, every water level, and the newest reading time."""

    ce_type: Literal["kota.sensors.reading-summary.v1"] = "kota.sensors.reading-summary.v1"
    device_id: str
    last_ms: int = Field(description="the batch's newest reading time, any quantity (ms since the epoch, UTC)")
    pm25: list[tuple[int, float, int]] = Field(
        default_factory=list, description="[minute since the epoch, sum of ug/m3, count] of the batch's PM2.5 readings"
    )
    pm25_first_ms: int = Field(0, description="the batch's first and last PM2.5 reading times (0: none)")
    pm25_last_ms: int = 0
    water_level: list[tuple[int, float]] = Field(default_factory=list, description="[ms since the epoch, cm], in time order")


SUMMARIES_SPEC = register_topic(
    TopicSpec(
        name=SUMMARIES_TOPIC,
        key="device id",
        description="Internal to the sensors service: one record per accepted ingest batch, summarising its readings "
        "for the alert evaluator, so alerts keep up with ingest at a cost per batch, not per reading. "
        "ce_id is <device>/summary/<first ms>/<last ms>. Integrators read sensors.readings.v1.",
        payloads=(ReadingSummary,),
    )
)
