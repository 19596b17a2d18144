"""complaints.events.v1 (key: complaint id). No personal data: the reporter is an opaque reference."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kota_common.events import EventPayload, TopicSpec, register_topic

TOPIC = "complaints.events.v1"
SOURCE = "/kota/complaints"


class AreaRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float | None = Field(None, description="latitude, WGS84")
    lon: float | None = Field(None, description="longitude, WGS84")
    kelurahan_code: str = ""
    kelurahan: str = ""
    kecamatan: str = ""
    kota_code: str = ""
    kota: str = ""


class ComplaintSubmitted(EventPayload):
    ce_type: Literal["kota.complaints.submitted.v1"] = "kota.complaints.submitted.v1"
    complaint_id: str
    channel: str
    service_code: str
    description: str = Field(description="free text, scrubbed of phone numbers, e-mail addresses and NIK")
    location: AreaRef
    media_urls: list[str] = []
    attributes: dict[str, str] = {}
    reporter_ref: str = Field(description="opaque reference; identity and contact stay in the complaints service")
    anonymous: bool
    requested_at: datetime
    duplicate_of: str | None = None


class ComplaintRouted(EventPayload):
    ce_type: Literal["kota.complaints.routed.v1"] = "kota.complaints.routed.v1"
    complaint_id: str
    service_code: str
    agency_code: str
    unit: str
    due_at: datetime | None
    routed_at: datetime


class ComplaintStatusChanged(EventPayload):
    ce_type: Literal["kota.complaints.status-changed.v1"] = "kota.complaints.status-changed.v1"
    complaint_id: str
    service_code: str
    agency_code: str
    from_status: str
    to_status: str
    actor: str = Field(description="role of who acted: citizen, staff:<agency>, system")
    note: str = ""
    changed_at: datetime
    resolution_seconds: float | None = None


class ComplaintNoteAdded(EventPayload):
    ce_type: Literal["kota.complaints.note-added.v1"] = "kota.complaints.note-added.v1"
    complaint_id: str
    actor: str
    note: str
    added_at: datetime


class ComplaintRated(EventPayload):
    ce_type: Literal["kota.complaints.rated.v1"] = "kota.complaints.rated.v1"
    complaint_id: str
    agency_code: str
    rating: int = Field(ge=1, le=5)
    rated_at: datetime


class ComplaintDuplicateLinked(EventPayload):
    ce_type: Literal["kota.complaints.duplicate-linked.v1"] = "kota.complaints.duplicate-linked.v1"
    complaint_id: str
    duplicate_of: str
    supporters_count: int
    linked_at: datetime


class ComplaintSlaBreached(EventPayload):
    ce_type: Literal["kota.complaints.sla-breached.v1"] = "kota.complaints.sla-breached.v1"
    complaint_id: str
    service_code: str
    agency_code: str
    due_at: datetime
    escalation_level: int
    escalated_to: str
    breached_at: datetime


TOPIC_SPEC = register_topic(
    TopicSpec(
        name=TOPIC,
        key="complaint id",
        description="Every change to a citizen complaint: submission, routing, status, notes, ratings, "
        "duplicate links and SLA breaches. Ordered per complaint.",
        payloads=(
            ComplaintSubmitted,
            ComplaintRouted,
            ComplaintStatusChanged,
            ComplaintNoteAdded,
            ComplaintRated,
            ComplaintDuplicateLinked,
            ComplaintSlaBreached,
        ),
    )
)
