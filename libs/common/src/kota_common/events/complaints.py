"""complaints.events.v1 (key: complaint id). No personal data: the reporter is an opaque reference."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kota_common.events import EventPayload, TopicSpec, register_topic

TOPIC = "complaints.events.v1"
SOURCE = "/kota/complaints"


COMPLAINT_ID = Field(description="the complaint's id (a UUID; also the record key and ce_subject)")
SERVICE_CODE = Field(description="the complaint category's Open311 service code, e.g. waste, flooding, road-damage")
AGENCY_CODE = Field(description="code of the agency (SKPD) responsible, e.g. DLH, DSDA, DBM")


def _example(**values) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


_AREA_EXAMPLE = dict(lat=-6.1754, lon=106.8272, kelurahan_code="31.71.01.1001", kelurahan="Gambir",
                     kecamatan="Gambir", kota_code="31.71", kota="Kota Administrasi Jakarta Pusat")


class AreaRef(BaseModel):
    """Where a complaint is: a point, and the kelurahan, kecamatan and kota (city) it falls in."""

    model_config = _example(**_AREA_EXAMPLE)

    lat: float | None = Field(None, description="latitude, WGS84")
    lon: float | None = Field(None, description="longitude, WGS84")
    kelurahan_code: str = Field("", description="Kemendagri code of the kelurahan (village), e.g. 31.71.01.1001")
    kelurahan: str = Field("", description="name of the kelurahan")
    kecamatan: str = Field("", description="name of the kecamatan (district)")
    kota_code: str = Field("", description="Kemendagri code of the kota (city), e.g. 31.71")
    kota: str = Field("", description="name of the kota")


class ComplaintSubmitted(EventPayload):
    """A citizen (or a sensor alert) submitted a complaint."""

    model_config = _example(
        complaint_id="0f8c2b7e-5d4a-4c1e-9a3b-7e2d1c6f8a90", channel="web", service_code="waste",
        description="Sampah menumpuk di TPS sejak tiga hari", location=_AREA_EXAMPLE,
        media_urls=[], attributes={}, reporter_ref="r-5b1f0c2a9e", anonymous=False,
        requested_at="2025-03-04T07:15:00Z", duplicate_of=None,
    )

    ce_type: Literal["kota.complaints.submitted.v1"] = "kota.complaints.submitted.v1"
    complaint_id: str = COMPLAINT_ID
    channel: str = Field(description="intake channel: app, web, twitter, facebook, instagram, sms, whatsapp, email, "
                         "call_center, lapor, kelurahan_walk_in, kecamatan_walk_in, city_hall_walk_in, open311, sensor, telegram")
    service_code: str = SERVICE_CODE
    description: str = Field(description="free text, scrubbed of phone numbers, e-mail addresses and NIK")
    location: AreaRef = Field(description="where the problem is")
    media_urls: list[str] = Field([], description="photos or videos attached by the reporter")
    attributes: dict[str, str] = Field({}, description="answers to the category's extra questions (Open311 attributes)")
    reporter_ref: str = Field(description="opaque reference; identity and contact stay in the complaints service")
    anonymous: bool = Field(description="the reporter asked not to be named, even to staff")
    requested_at: datetime = Field(description="when the complaint was received (UTC)")
    duplicate_of: str | None = Field(None, description="id of an open complaint this one was linked to on intake")


class ComplaintRouted(EventPayload):
    """A complaint was assigned to the agency and unit that handle its category and area."""

    model_config = _example(complaint_id="0f8c2b7e-5d4a-4c1e-9a3b-7e2d1c6f8a90", service_code="waste", agency_code="DLH", unit="Suku Dinas LH Jakarta Pusat",
                            due_at="2025-03-06T07:15:00Z", routed_at="2025-03-04T07:15:01Z")

    ce_type: Literal["kota.complaints.routed.v1"] = "kota.complaints.routed.v1"
    complaint_id: str = COMPLAINT_ID
    service_code: str = SERVICE_CODE
    agency_code: str = AGENCY_CODE
    unit: str = Field(description="the unit of the agency that handles it, e.g. a kota's suku dinas")
    due_at: datetime | None = Field(description="when the category's SLA runs out (UTC); null: no SLA")
    routed_at: datetime = Field(description="when it was routed (UTC)")


class ComplaintStatusChanged(EventPayload):
    """A complaint moved through its lifecycle (received, routed, in progress, resolved, closed, rejected)."""

    model_config = _example(complaint_id="0f8c2b7e-5d4a-4c1e-9a3b-7e2d1c6f8a90", service_code="waste", agency_code="DLH", from_status="routed",
                            to_status="in_progress", actor="staff:DLH", note="Truk dijadwalkan besok pagi",
                            changed_at="2025-03-04T09:30:00Z", resolution_seconds=None)

    ce_type: Literal["kota.complaints.status-changed.v1"] = "kota.complaints.status-changed.v1"
    complaint_id: str = COMPLAINT_ID
    service_code: str = SERVICE_CODE
    agency_code: str = AGENCY_CODE
    from_status: str = Field(description="the status before: received, routed, in_progress, resolved, closed, rejected")
    to_status: str = Field(description="the status after (same values)")
    actor: str = Field(description="role of who acted: citizen, staff:<agency>, system")
    note: str = Field("", description="what the actor wrote to the citizen, if anything")
    changed_at: datetime = Field(description="when the status changed (UTC)")
    resolution_seconds: float | None = Field(None, description="seconds from submission to resolution, set when resolved")


class ComplaintNoteAdded(EventPayload):
    """Staff or the citizen added a note to a complaint."""

    model_config = _example(complaint_id="0f8c2b7e-5d4a-4c1e-9a3b-7e2d1c6f8a90", actor="staff:DLH", note="Petugas sudah di lokasi",
                            added_at="2025-03-05T06:00:00Z")

    ce_type: Literal["kota.complaints.note-added.v1"] = "kota.complaints.note-added.v1"
    complaint_id: str = COMPLAINT_ID
    actor: str = Field(description="role of who wrote it: citizen, staff:<agency>, system")
    note: str = Field(description="the note, scrubbed of personal data")
    added_at: datetime = Field(description="when it was added (UTC)")


class ComplaintRated(EventPayload):
    """The citizen rated how their complaint was handled."""

    model_config = _example(complaint_id="0f8c2b7e-5d4a-4c1e-9a3b-7e2d1c6f8a90", agency_code="DLH", rating=4, rated_at="2025-03-06T10:00:00Z")

    ce_type: Literal["kota.complaints.rated.v1"] = "kota.complaints.rated.v1"
    complaint_id: str = COMPLAINT_ID
    agency_code: str = AGENCY_CODE
    rating: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")
    rated_at: datetime = Field(description="when it was rated (UTC)")


class ComplaintDuplicateLinked(EventPayload):
    """A complaint was linked to an earlier open one about the same problem; the earlier one gains a supporter."""

    model_config = _example(complaint_id="7a1d9e40-3b2c-4f6a-8d5e-1c0b9a8f7e6d", duplicate_of="0f8c2b7e-5d4a-4c1e-9a3b-7e2d1c6f8a90",
                            supporters_count=3, linked_at="2025-03-04T08:00:00Z")

    ce_type: Literal["kota.complaints.duplicate-linked.v1"] = "kota.complaints.duplicate-linked.v1"
    complaint_id: str = COMPLAINT_ID
    duplicate_of: str = Field(description="id of the earlier complaint it duplicates")
    supporters_count: int = Field(description="how many complaints the earlier one now stands for, itself included")
    linked_at: datetime = Field(description="when they were linked (UTC)")


class ComplaintSlaBreached(EventPayload):
    """A complaint was not resolved within its category's SLA and was escalated."""

    model_config = _example(complaint_id="0f8c2b7e-5d4a-4c1e-9a3b-7e2d1c6f8a90", service_code="waste", agency_code="DLH", due_at="2025-03-06T07:15:00Z",
                            escalation_level=1, escalated_to="Kepala Dinas LH", breached_at="2025-03-06T07:16:00Z")

    ce_type: Literal["kota.complaints.sla-breached.v1"] = "kota.complaints.sla-breached.v1"
    complaint_id: str = COMPLAINT_ID
    service_code: str = SERVICE_CODE
    agency_code: str = AGENCY_CODE
    due_at: datetime = Field(description="when the SLA ran out (UTC)")
    escalation_level: int = Field(description="1 for the first escalation, then one more each time it is breached again")
    escalated_to: str = Field(description="who it was escalated to (a role, never a person's name)")
    breached_at: datetime = Field(description="when the breach was found (UTC)")


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
