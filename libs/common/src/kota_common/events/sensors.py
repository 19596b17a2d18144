"""sensors.alerts.v1 (key: station or gauge id), consumed by complaints to open incident tickets."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from kota_common.events import EventPayload, TopicSpec, register_topic

ALERTS_TOPIC = "sensors.alerts.v1"
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
