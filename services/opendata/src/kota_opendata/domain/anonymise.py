"""Anonymisation rules applied before anything is stored in the open-data catalogue.

Plain functions, documented in docs/opendata-anonymisation.md:
- no reporter identity: only whitelisted fields of a complaint are ever copied (`public_complaint_fields`);
- free text scrubbed of e-mail addresses, 16-digit NIK and phone numbers (kota_common.privacy.scrub);
- coordinates snapped to the centre of a grid cell of about 100 m (`coarsen_point`);
- times of citizen reports truncated to the hour (`truncate_to_hour`);
- small-cell suppression: a count between 1 and k-1 is published as null (`suppress_count`).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import overload

from kota_common.privacy import scrub

METRES_PER_DEGREE_LAT = 111_320.0
DEFAULT_GRID_M = 100.0
DEFAULT_K = 3


def scrub_text(text: str | None, max_length: int = 2000) -> str:
    """Free text as published: personal identifiers replaced by placeholders, whitespace collapsed, capped."""
    if not text:
        return ""
    cleaned = " ".join(scrub(text).split())
    return cleaned[:max_length]


def coarsen_point(lat: float | None, lon: float | None, grid_m: float = DEFAULT_GRID_M) -> tuple[float | None, float | None]:
    """Snaps a point to the centre of its grid cell (cells of `grid_m` metres, square at the cell's latitude).

    Everyone inside the same cell gets the same published point, so a published point tells where within
    about `grid_m` metres something happened, not at which house. Invalid or missing coordinates give
    (None, None).
    """
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    if math.isnan(lat) or math.isnan(lon):
        return None, None
    dlat = grid_m / METRES_PER_DEGREE_LAT
    row = math.floor(lat / dlat)
    centre_lat = (row + 0.5) * dlat
    dlon = grid_m / (METRES_PER_DEGREE_LAT * max(math.cos(math.radians(centre_lat)), 1e-6))
    col = math.floor(lon / dlon)
    centre_lon = (col + 0.5) * dlon
    return round(centre_lat, 5), round(centre_lon, 5)


@overload
def truncate_to_hour(at: datetime) -> datetime: ...
@overload
def truncate_to_hour(at: None) -> None: ...
def truncate_to_hour(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def suppress_count(count: int, k: int = DEFAULT_K) -> int | None:
    """k-anonymity style small-cell suppression: counts 1..k-1 become None (published as empty)."""
    if count < 0:
        raise ValueError("count cannot be negative")
    if 0 < count < k:
        return None
    return count


def suppress_cell(count: int, values: dict[str, float | None], k: int = DEFAULT_K) -> tuple[int | None, dict, bool]:
    """Suppresses a cell's count and every statistic derived from the same people (means, sums).

    Returns (published count, published values, suppressed?)."""
    published = suppress_count(count, k)
    if published is None:
        return None, {name: None for name in values}, True
    return published, dict(values), False


# Fields of ComplaintSubmitted that may ever reach open data. Anything else (reporter_ref, anonymous, media,
# attributes, exact coordinates, exact times) is dropped by construction, not by a blacklist.
PUBLIC_COMPLAINT_FIELDS = ("complaint_id", "channel", "service_code", "description", "location", "requested_at")


def public_complaint(payload, grid_m: float = DEFAULT_GRID_M) -> dict:
    """The per-record public row of a submitted complaint (see PUBLIC_COMPLAINT_FIELDS)."""
    loc = payload.location
    lat, lon = coarsen_point(loc.lat, loc.lon, grid_m)
    submitted = truncate_to_hour(payload.requested_at)
    return {
        "complaint_id": payload.complaint_id,
        "submitted_at": iso(submitted),
        "submitted_date": submitted.date().isoformat(),
        "channel": payload.channel,
        "service_code": payload.service_code,
        "description": scrub_text(payload.description),
        "kelurahan_code": loc.kelurahan_code,
        "kelurahan": loc.kelurahan,
        "kecamatan": loc.kecamatan,
        "kota_code": loc.kota_code,
        "kota": loc.kota,
        "lat": lat,
        "lon": lon,
        "duplicate_of": payload.duplicate_of or "",
    }


def iso(at: datetime | None) -> str | None:
    """Timestamps in open data: UTC, ISO 8601 without offset (CKAN's convention), seconds precision."""
    if at is None:
        return None
    if at.tzinfo is not None:
        at = at.astimezone(timezone.utc).replace(tzinfo=None)
    return at.replace(microsecond=0).isoformat()
