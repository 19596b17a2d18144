"""Protobuf messages of the services -> plain JSON-able dicts (the portal's view and Open311's)."""

from __future__ import annotations

import functools
from datetime import timezone

from kota.complaints.v1 import complaints_pb2 as pb
from kota_gateway.domain.complaints import CHANNEL_NAMES, OPEN, STATUS_NAMES


@functools.cache
def postcodes() -> dict[str, str]:
    from kota_common.reference import AreaDirectory

    return {k.code: k.postcode for k in AreaDirectory.load_jakarta().kelurahan() if k.postcode}


def iso(ts, has: bool = True) -> str | None:
    if not has or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return ts.ToDatetime(tzinfo=timezone.utc).isoformat(timespec="seconds")


def complaint_view(c: pb.Complaint) -> dict:
    loc = c.location
    return {
        "id": c.id,
        "status": STATUS_NAMES.get(c.status, "unknown"),
        "open": c.status in OPEN,
        "channel": CHANNEL_NAMES.get(c.channel, "unknown"),
        "service_code": c.service_code,
        "service_name": c.service_name,
        "description": c.description,
        "location": {
            "lat": loc.lat if loc.HasField("lat") else None,
            "lon": loc.lon if loc.HasField("lon") else None,
            "address": loc.address,
            "kelurahan_code": loc.kelurahan_code,
            "kelurahan": loc.kelurahan,
            "kecamatan": loc.kecamatan,
            "kota": loc.kota,
            "kota_code": loc.kota_code,
        },
        "media_urls": list(c.media_urls),
        "attributes": {a.code: a.value for a in c.attributes},
        "agency_code": c.agency_code,
        "agency_name": c.agency_name,
        "unit": c.unit,
        "requested_at": iso(c.requested_at, c.HasField("requested_at")),
        "updated_at": iso(c.updated_at, c.HasField("updated_at")),
        "due_at": iso(c.due_at, c.HasField("due_at")),
        "sla_breached": c.sla_breached,
        "escalation_level": c.escalation_level,
        "duplicate_of": c.duplicate_of or None,
        "supporters_count": c.supporters_count,
        "rating": c.rating or None,
        "status_notes": c.status_notes,
        "anonymous": c.anonymous,
        "history": [
            {
                "at": iso(h.at, h.HasField("at")),
                "status": STATUS_NAMES.get(h.status, "unknown"),
                "actor": h.actor,
                "note": h.note,
                "kind": h.kind,
            }
            for h in c.history
        ],
    }


def open311_request(c: pb.Complaint) -> dict:
    loc = c.location
    address = loc.address or ", ".join(p for p in (loc.kelurahan, loc.kecamatan, loc.kota) if p)
    return {
        "service_request_id": c.id,
        "status": "open" if c.status in OPEN else "closed",
        "status_notes": c.status_notes or None,
        "service_name": c.service_name,
        "service_code": c.service_code,
        "description": c.description,
        "agency_responsible": c.agency_name or c.agency_code or None,
        "service_notice": None,
        "requested_datetime": iso(c.requested_at, c.HasField("requested_at")),
        "updated_datetime": iso(c.updated_at, c.HasField("updated_at")),
        "expected_datetime": iso(c.due_at, c.HasField("due_at")),
        "address": address or None,
        "address_id": loc.kelurahan_code or None,
        "zipcode": postcodes().get(loc.kelurahan_code),
        "lat": loc.lat if loc.HasField("lat") else None,
        "long": loc.lon if loc.HasField("lon") else None,
        "media_url": c.media_urls[0] if c.media_urls else None,
    }
