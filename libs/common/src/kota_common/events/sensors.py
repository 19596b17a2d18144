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

from pydantic import ConfigDict, Field

from kota_common.events import EventPayload, TopicSpec, register_topic

ALERTS_TOPIC = "sensors.alerts.v1"
READINGS_TOPIC = "sensors.readings.v1"
POSITIONS_TOPIC = "sensors.vehicle-positions.v1"
SUMMARIES_TOPIC = "sensors.reading-summaries.v1"
SOURCE = "/kota/sensors"
DEVICE_ID = Field(description="the device's id, e.g. DKI1 (an air-quality station), PA-KATULAMPA (a gauge); the record key")


def _example(**values) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


class SensorAlert(EventPayload):
    """An alert level changed at a station or gauge (raised, escalated or cleared)."""

    model_config = _example(alert_id="5e0c1a2b-7d3f-4b8e-9a6c-2f1e0d9c8b7a", kind="flood", station_id="PA-KATULAMPA",
                            station_name="Bendung Katulampa", lat=-6.6326, lon=106.8375, kota_code="32.71",
                            level="siaga-2", previous_level="siaga-3", severity="warning", value=172.0, unit="cm",
                            observed_at="2025-02-12T14:10:00Z")

    ce_type: Literal["kota.sensors.alert-changed.v1"] = "kota.sensors.alert-changed.v1"
    alert_id: str = Field(description="the alert change's id (a UUID)")
    kind: Literal["flood", "air_quality", "device_silent"] = Field(description="what is alerted on")
    station_id: str = Field(description="the station's or gauge's device id (also the record key)")
    station_name: str = Field(description="the station's or gauge's name")
    lat: float | None = Field(None, description="latitude, WGS84")
    lon: float | None = Field(None, description="longitude, WGS84")
    kota_code: str = Field("", description="Kemendagri code of the kota (city) the device is in")
    level: str = Field(description="flood: siaga-1..siaga-4; air: ISPU category; device_silent: silent|ok")
    previous_level: str = Field("", description="the level before this change (same values); empty when first raised")
    severity: Literal["normal", "watch", "warning", "danger"] = Field(description="the level on one scale for every kind")
    value: float | None = Field(None, description="the value that set the level: water level, PM2.5 hourly average")
    unit: str = Field("", description="unit of value: cm, ug/m3")
    observed_at: datetime = Field(description="when the value was observed (UTC)")


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

    model_config = _example(device_id="DKI1", quantity="pm25", unit="ug/m3", value=38.5, observed_at_ms=1741072500000)

    ce_type: Literal["kota.sensors.reading.v1"] = "kota.sensors.reading.v1"
    device_id: str = DEVICE_ID
    quantity: str = Field(description="pm25, pm10, so2, co, o3, no2, hc, temperature, humidity, water_level, rainfall")
    unit: str = Field(description="canonical unit of the quantity: ug/m3, Cel, %, cm, mm")
    value: float = Field(description="the observed value, in unit")
    observed_at_ms: int = Field(description="when it was observed, milliseconds since the Unix epoch (UTC)")


class VehiclePosition(EventPayload):
    """A bus position (TransJakarta), the source of the GTFS-realtime VehiclePositions feed."""

    model_config = _example(vehicle_id="TJ-0412", route_id="1", lat=-6.1862, lon=106.8230, bearing=180.0, speed_kmh=23.5,
                            observed_at_ms=1741072500000)

    ce_type: Literal["kota.sensors.vehicle-position.v1"] = "kota.sensors.vehicle-position.v1"
    vehicle_id: str = Field(description="the vehicle's id (also the record key)")
    route_id: str = Field("", description="the GTFS route it serves, e.g. 1 (Koridor 1); empty when off duty")
    lat: float = Field(description="latitude, WGS84")
    lon: float = Field(description="longitude, WGS84")
    bearing: float = Field(0, description="degrees clockwise from north")
    speed_kmh: float = Field(0, description="speed in km/h")
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

    model_config = _example(device_id="DKI1", last_ms=1741072560000, pm25=[[29017876, 77.5, 2]],
                            pm25_first_ms=1741072500000, pm25_last_ms=1741072560000, water_level=[])

    ce_type: Literal["kota.sensors.reading-summary.v1"] = "kota.sensors.reading-summary.v1"
    device_id: str = DEVICE_ID
    last_ms: int = Field(description="the batch's newest reading time, any quantity (ms since the epoch, UTC)")
    pm25: list[tuple[int, float, int]] = Field(
        default_factory=list, description="[minute since the epoch, sum of ug/m3, count] of the batch's PM2.5 readings"
    )
    pm25_first_ms: int = Field(0, description="the batch's first PM2.5 reading time (0: none)")
    pm25_last_ms: int = Field(0, description="the batch's last PM2.5 reading time (0: none)")
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
