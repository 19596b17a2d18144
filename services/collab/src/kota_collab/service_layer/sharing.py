"""What each shareable stream is: a topic of this city, the events of it that belong to the stream, and the fields
of each that a partner may see. Only fields that name no person pass (a complaint's text, point, reporter and
attachments never do)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kota_collab.domain.model import Stream
from kota_common.events import complaints as complaint_events
from kota_common.events.sensors import ALERTS_TOPIC

_ALERT_FIELDS = ("alert_id", "kind", "station_id", "station_name", "lat", "lon", "kota_code", "level", "previous_level",
                 "severity", "value", "unit", "observed_at")
_COMPLAINT_FIELDS = {
    "kota.complaints.submitted.v1": ("complaint_id", "channel", "service_code", "requested_at"),
    "kota.complaints.status-changed.v1": ("complaint_id", "service_code", "agency_code", "from_status", "to_status",
                                          "changed_at", "resolution_seconds"),
}
_AREA_FIELDS = ("kelurahan_code", "kelurahan", "kecamatan", "kota_code", "kota")  # a complaint's area, not its point


@dataclass(frozen=True)
class StreamSource:
    topic: str

    def project(self, stream: Stream, ce_type: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """The anonymised payload of an event of the topic, or None when the event is not part of the stream."""
        if stream in (Stream.FLOOD_ALERTS, Stream.AIR_QUALITY_ALERTS):
            wanted = "flood" if stream is Stream.FLOOD_ALERTS else "air_quality"
            if ce_type != "kota.sensors.alert-changed.v1" or data.get("kind") != wanted:
                return None
            return {k: data[k] for k in _ALERT_FIELDS if k in data}
        fields = _COMPLAINT_FIELDS.get(ce_type)
        if fields is None:
            return None
        out = {k: data[k] for k in fields if k in data}
        if isinstance(data.get("location"), dict):
            out["area"] = {k: data["location"][k] for k in _AREA_FIELDS if k in data["location"]}
        return out


SOURCES = {
    Stream.FLOOD_ALERTS: StreamSource(ALERTS_TOPIC),
    Stream.AIR_QUALITY_ALERTS: StreamSource(ALERTS_TOPIC),
    Stream.COMPLAINT_STATISTICS: StreamSource(complaint_events.TOPIC),
}
