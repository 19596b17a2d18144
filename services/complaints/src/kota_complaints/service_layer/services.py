"""Use cases of the complaints service. Entry points (gRPC, Kafka subscribers, CLI) call only these."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from sqlmodel import SQLModel

from kota_common.auth import Principal
from kota_common.clock import now_utc
from kota_common.db.tables import table_of
from kota_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from kota_common.events.sensors import SensorAlert
from kota_common.ids import new_uuid, random_bytes
from kota_common.reference import AreaDirectory, Kota, haversine_km
from kota_complaints.adapters.orm import ComplaintRow, ReporterRow, SensorIncidentRow
from kota_complaints.adapters.repository import ComplaintFilter
from kota_complaints.domain.commands import EMAIL, PHONE, SubmitComplaint
from kota_complaints.domain.commands import Contact as Contact  # re-exported: callers build commands from here
from kota_complaints.domain.model import (
    Area,
    Channel,
    Complaint,
    DomainError,
    Policy,
    RoutingTable,
    Status,
    escalation_target,
    find_duplicate,
)
from kota_complaints.service_layer.unit_of_work import UnitOfWork

MAX_DESCRIPTION = 4000
MAX_MEDIA = 10
# Crockford base32 without look-alike letters: readable over the phone by the call centre.
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648
_TRACKING_SHIFTS = tuple(range(55, -1, -5))  # 12 letters of 5 bits, most significant first



def new_complaint_id() -> str:
    return "".join(_ID_ALPHABET[b & 31] for b in random_bytes(10))  # 32 symbols: 5 bits of each byte


@dataclass
class Context:
    """What the use cases need beyond the unit of work: reference data, policy, the tracking-code secret."""

    routing: RoutingTable
    areas: AreaDirectory
    policy: Policy
    secret: str

    def tracking_code(self, complaint_id: str) -> str:
        """The first 12 letters of the base32 (RFC 4648) HMAC-SHA256 of the id: its first 60 bits, taken
        directly (base64.b32encode is pure Python and cost more than the HMAC)."""
        digest = hmac.digest(self.secret.encode(), f"track:{complaint_id}".encode(), "sha256")
        bits = int.from_bytes(digest[:8], "big") >> 4
        return "".join([_BASE32[(bits >> shift) & 31] for shift in _TRACKING_SHIFTS])

    def check_tracking_code(self, complaint_id: str, code: str) -> None:
        if not code:
            raise Unauthenticated("the tracking code given at submission is required", [("tracking_code", "required")])
        given = code.strip().upper().encode("utf-8")  # bytes: compare_digest refuses non-ASCII str
        if not hmac.compare_digest(self.tracking_code(complaint_id).encode(), given):
            raise PermissionDenied("the tracking code does not match this complaint")


def _max_length(model: type[SQLModel], column: str) -> int:
    # String's length, or AutoString's (SQLModel's str columns: a TypeDecorator passing it on from its String).
    length = getattr(table_of(model).c[column].type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{model.__name__}.{column} is not a string column of bounded length")
    return length


# Field name and column length of each free-text field, in the order _validate_submission reads them (read from
# the columns once: SQLAlchemy's attribute lookup costs more than the whole check).
_TEXT_LIMITS = tuple(
    (name, _max_length(model, column))
    for name, model, column in (
        ("location.address", ComplaintRow, "address"), ("external_ref", ComplaintRow, "external_ref"),
        ("idempotency_key", ComplaintRow, "idempotency_key"), ("contact.first_name", ReporterRow, "first_name"),
        ("contact.last_name", ReporterRow, "last_name"), ("contact.email", ReporterRow, "email"),
        ("contact.phone", ReporterRow, "phone"), ("contact.device_id", ReporterRow, "device_id"),
    )
)


def _validate_submission(cmd: SubmitComplaint, ctx: Context) -> Channel:
    """The submission's channel; InvalidArgument with every violation if it is not valid."""
    violations: list[tuple[str, str]] = []
    channel = None
    try:
        channel = Channel(cmd.channel)
    except ValueError:
        violations.append(("channel", f"unknown channel {cmd.channel!r}"))
    if cmd.service_code not in ctx.routing.categories:
        violations.append(("service_code", f"unknown service code {cmd.service_code!r}"))
    if not cmd.description.strip():
        violations.append(("description", "is required"))
    elif len(cmd.description) > MAX_DESCRIPTION:
        violations.append(("description", f"must be at most {MAX_DESCRIPTION} characters"))
    if (cmd.lat is None) != (cmd.lon is None):
        violations.append(("location", "lat and lon must be given together"))
    if cmd.lat is not None and not -90 <= cmd.lat <= 90:
        violations.append(("location.lat", "must be between -90 and 90"))
    if cmd.lon is not None and not -180 <= cmd.lon <= 180:
        violations.append(("location.lon", "must be between -180 and 180"))
    if cmd.lat is None and not cmd.address.strip() and not cmd.kelurahan_code:
        violations.append(("location", "give lat/lon, an address or a kelurahan code"))
    if cmd.kelurahan_code and ctx.areas.find_kelurahan(cmd.kelurahan_code) is None:
        violations.append(("location.kelurahan_code", f"unknown kelurahan {cmd.kelurahan_code!r}"))
    if len(cmd.media_urls) > MAX_MEDIA:
        violations.append(("media_urls", f"at most {MAX_MEDIA} links"))
    for i, url in enumerate(cmd.media_urls):
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            violations.append((f"media_urls[{i}]", "must be an http(s) URL"))
    if cmd.contact.email and not EMAIL.match(cmd.contact.email):
        violations.append(("contact.email", "is not a valid e-mail address"))
    if cmd.contact.phone and not PHONE.match(cmd.contact.phone):
        violations.append(("contact.phone", "is not a valid phone number"))
    c = cmd.contact
    for (name, limit), value in zip(_TEXT_LIMITS, (  # longer than its column would fail at commit, on PostgreSQL
        cmd.address, cmd.external_ref, cmd.idempotency_key, c.first_name, c.last_name, c.email, c.phone, c.device_id,
    ), strict=True):
        if len(value) > limit:
            violations.append((name, f"must be at most {limit} characters"))
    if violations or channel is None:  # no channel is a violation
        raise InvalidArgument("the complaint is not valid", violations)
    return channel


def _kota(areas: AreaDirectory, code: str) -> Kota:
    kota = areas.find_kota(code)
    if kota is None:  # the directory is a tree: every kecamatan's kota is in it
        raise LookupError(f"kota {code!r} is not in the area directory")
    return kota


def resolve_area(cmd: SubmitComplaint, areas: AreaDirectory) -> Area:
    """Fills kelurahan/kecamatan/kota from the city's area directory."""
    if cmd.kelurahan_code:
        kel = areas.find_kelurahan(cmd.kelurahan_code)
        if kel is None:  # refused by _validate_submission
            raise InvalidArgument(f"unknown kelurahan {cmd.kelurahan_code!r}", [("location.kelurahan_code", "unknown kelurahan")])
        kec = areas.find_kecamatan(kel.kecamatan_code)
        if kec is None:  # the directory is a tree: every kelurahan's kecamatan is in it
            raise LookupError(f"kecamatan {kel.kecamatan_code!r} of kelurahan {kel.code!r} is not in the area directory")
        kota = _kota(areas, kel.kota_code)
        return Area(cmd.lat, cmd.lon, cmd.address.strip(), kel.code, kel.name, kec.name, kota.code, kota.name)
    if cmd.lat is not None and cmd.lon is not None:  # given together (_validate_submission)
        kec = areas.nearest_kecamatan(cmd.lat, cmd.lon)
        if haversine_km(kec.lat, kec.lon, cmd.lat, cmd.lon) <= 8:  # beyond that, outside the city
            kota = _kota(areas, kec.kota_code)
            return Area(cmd.lat, cmd.lon, cmd.address.strip(), "", "", kec.name, kota.code, kota.name)
    return Area(cmd.lat, cmd.lon, cmd.address.strip())


def submit_complaint(cmd: SubmitComplaint, uow: UnitOfWork, ctx: Context) -> tuple[Complaint, str]:
    channel = _validate_submission(cmd, ctx)
    now = now_utc()
    with uow:
        key = cmd.stored_idempotency_key()
        if key:
            existing = uow.complaints.by_idempotency_key(key)
            if existing is not None:
                complaint_id, stored_key = existing
                if stored_key != key:
                    raise InvalidArgument("the idempotency key was already used for another submission", [(
                        "idempotency_key", "was sent before with other content: send a new key for a new submission",
                    )])
                return _found(uow.complaints.get(complaint_id), complaint_id), ctx.tracking_code(complaint_id)
        category = ctx.routing.categories[cmd.service_code]
        reporter_ref = new_uuid()
        try:
            complaint = Complaint.submit(
                id=new_complaint_id(),
                channel=channel,
                category=category,
                description=cmd.description,
                area=resolve_area(cmd, ctx.areas),
                reporter_ref=reporter_ref,
                anonymous=cmd.anonymous or cmd.contact.empty,
                now=now,
                media_urls=list(cmd.media_urls),
                attributes=dict(cmd.attributes),
                external_ref=cmd.external_ref,
            )
        except DomainError as err:
            raise InvalidArgument(str(err), [(err.field or "complaint", str(err))]) from err
        uow.complaints.add(complaint, idempotency_key=key)
        if not complaint.anonymous:
            c = cmd.contact
            uow.complaints.add_reporter(
                reporter_ref=reporter_ref,
                first_name=c.first_name,
                last_name=c.last_name,
                email=c.email,
                phone=c.phone,
                device_id=c.device_id,
                created_at=now,
            )
        master = None
        if (point := complaint.area.point) is not None:
            candidates = uow.complaints.open_near(
                complaint.service_code,
                *point,
                ctx.policy.duplicate_radius_m,
                now - ctx.policy.duplicate_window,
            )
            master = find_duplicate(complaint, candidates, ctx.policy)
        if master is not None:
            complaint.link_to(_found(uow.complaints.get(master.id), master.id), now)
        else:
            complaint.route(ctx.routing.route(complaint.service_code, complaint.area), category.sla_hours, now)
        uow.complete()
    return complaint, ctx.tracking_code(complaint.id)


def _found(complaint: Complaint | None, complaint_id: str) -> Complaint:
    if complaint is None:
        raise NotFound(f"complaint {complaint_id!r} not found", [("id", "no such complaint")])
    return complaint


def get_complaint(complaint_id: str, uow: UnitOfWork) -> Complaint:
    with uow:
        return _found(uow.complaints.get(complaint_id), complaint_id)


def list_complaints(flt: ComplaintFilter, offset: int, limit: int, uow: UnitOfWork) -> tuple[list[Complaint], int]:
    with uow:
        rows, total = uow.complaints.list(flt, offset, limit)
        return [_found(uow.complaints.get(r.id), r.id) for r in rows], total


def _load(uow: UnitOfWork, complaint_id: str) -> Complaint:
    return _found(uow.complaints.get(complaint_id, for_update=True), complaint_id)


def _domain(call, *args):
    try:
        call(*args)
    except DomainError as err:
        if err.field in ("note", "rating", "reason"):
            raise InvalidArgument(str(err), [(err.field, str(err))]) from err
        raise FailedPrecondition(str(err)) from err


def _require_staff(principal: Principal | None, complaint: Complaint) -> Principal:
    if principal is None:
        raise Unauthenticated("a staff bearer token is required")
    if not principal.is_staff_of(complaint.agency_code):
        raise PermissionDenied(f"only staff of {complaint.agency_code} may act on this complaint")
    return principal


def update_status(complaint_id: str, status: str, note: str, principal: Principal | None, uow: UnitOfWork) -> Complaint:
    try:
        to = Status(status)
    except ValueError:
        raise InvalidArgument(f"unknown status {status!r}", [("status", "unknown status")]) from None
    now = now_utc()
    with uow:
        complaint = _load(uow, complaint_id)
        staff = _require_staff(principal, complaint)
        if complaint.duplicate_of:
            raise FailedPrecondition(f"this report follows {complaint.duplicate_of}; update that ticket instead")
        _domain(complaint.change_status, to, staff.actor, note.strip(), now)
        for linked in uow.complaints.linked_to(complaint.id):
            linked.follow(complaint, now)
        uow.complete()
        return complaint


def add_note(complaint_id: str, note: str, principal: Principal | None, uow: UnitOfWork) -> Complaint:
    if len(note) > MAX_DESCRIPTION:
        raise InvalidArgument("note is too long", [("note", f"must be at most {MAX_DESCRIPTION} characters")])
    with uow:
        complaint = _load(uow, complaint_id)
        staff = _require_staff(principal, complaint)
        _domain(complaint.add_note, note, staff.actor, now_utc())
        uow.complete()
        return complaint


def rate(complaint_id: str, tracking_code: str, rating: int, uow: UnitOfWork, ctx: Context) -> Complaint:
    ctx.check_tracking_code(complaint_id, tracking_code)
    with uow:
        complaint = _load(uow, complaint_id)
        _domain(complaint.rate, rating, now_utc())
        uow.complete()
        return complaint


def reopen(complaint_id: str, tracking_code: str, reason: str, uow: UnitOfWork, ctx: Context) -> Complaint:
    ctx.check_tracking_code(complaint_id, tracking_code)
    with uow:
        complaint = _load(uow, complaint_id)
        if complaint.duplicate_of:  # the citizen disagrees with the shared resolution: it becomes its own ticket
            complaint.duplicate_of = None
        _domain(complaint.reopen, reason, now_utc(), ctx.policy)
        uow.complete()
        return complaint


def enforce_slas(uow_factory, ctx: Context, now: datetime | None = None) -> int:
    """Marks overdue complaints as breached and escalates them. Returns how many were escalated."""
    now = now or now_utc()
    with uow_factory() as uow:
        ids = uow.complaints.overdue_ids(now)
    escalated = 0
    for complaint_id in ids:
        with uow_factory() as uow:
            complaint = uow.complaints.get(complaint_id, for_update=True)
            if complaint is None or not complaint.is_overdue(now):
                continue  # handled meanwhile (another replica, or staff)
            category = ctx.routing.categories.get(complaint.service_code)
            target = escalation_target(
                complaint.escalation_level + 1, ctx.routing.agencies.get(complaint.agency_code), complaint.area
            )
            complaint.breach_sla(now, target, category.sla_hours if category else 72, ctx.policy)
            uow.complete()
            escalated += 1
    return escalated


# -- incidents raised by sensors (sensors.alerts.v1) -----------------------------------------------------
SEVERE = {"danger", "warning"}
FLOOD_SEVERE_LEVELS = {"siaga-1", "siaga-2"}
AIR_SEVERE_LEVELS = {"tidak sehat", "sangat tidak sehat", "berbahaya"}


def _alert_is_severe(alert: SensorAlert) -> bool:
    if alert.kind == "flood":
        return alert.level.lower() in FLOOD_SEVERE_LEVELS
    if alert.kind == "air_quality":
        return alert.level.lower() in AIR_SEVERE_LEVELS
    return False


def handle_sensor_alert(alert: SensorAlert, uow: UnitOfWork, ctx: Context) -> Complaint | None:
    """Opens an incident ticket for a severe alert, notes escalations, resolves it when the level falls back."""
    if alert.kind not in ("flood", "air_quality"):
        return None
    now = now_utc()
    incident = uow.complaints.incident(alert.station_id, alert.kind)
    severe = _alert_is_severe(alert)
    reading = f"{alert.value:g} {alert.unit}".strip() if alert.value is not None else ""
    if incident is None and not severe:
        return None
    if incident is not None:
        complaint = _load(uow, incident.complaint_id)
        if severe:
            if alert.level != incident.level:
                complaint.add_note(f"level now {alert.level} at {alert.station_name} ({reading})", "system", now)
                incident.level = alert.level
                uow.session.add(incident)
        else:
            if complaint.status in (Status.ROUTED, Status.IN_PROGRESS):
                complaint.change_status(
                    Status.RESOLVED, "system", f"level fell back to {alert.level} at {alert.station_name} ({reading})", now
                )
            else:
                complaint.add_note(f"level fell back to {alert.level} ({reading})", "system", now)
            uow.session.delete(incident)
        uow.complete()
        return complaint
    service_code = "disaster" if alert.kind == "flood" else "air_quality"
    what = "Banjir: tinggi muka air" if alert.kind == "flood" else "Kualitas udara: ISPU"
    complaint = Complaint.submit(
        id=new_complaint_id(),
        channel=Channel.SENSOR,
        category=ctx.routing.categories[service_code],
        description=f"{what} {alert.level} di {alert.station_name} ({reading}), sensor {alert.station_id}",
        area=_alert_area(alert, ctx.areas),
        reporter_ref=f"sensor:{alert.station_id}",
        anonymous=True,
        now=now,
        external_ref=alert.alert_id,
    )
    uow.complaints.add(complaint, idempotency_key=f"alert:{alert.alert_id}")
    category = ctx.routing.categories[service_code]
    complaint.route(ctx.routing.route(service_code, complaint.area), category.sla_hours, now)
    if alert.kind == "flood":
        complaint.add_note("Dinas Sumber Daya Air diberi tahu untuk operasi pintu air dan pompa", "system", now)
    uow.complete()  # stages the complaint first: the incident row refers to it
    uow.session.add(
        SensorIncidentRow(station_id=alert.station_id, kind=alert.kind, complaint_id=complaint.id, level=alert.level, opened_at=now)
    )
    return complaint


def _alert_area(alert: SensorAlert, areas: AreaDirectory) -> Area:
    if alert.lat is not None and alert.lon is not None:
        cmd = SubmitComplaint(channel="sensor", service_code="", description="", lat=alert.lat, lon=alert.lon)
        return resolve_area(cmd, areas)
    kota = areas.find_kota(alert.kota_code) if alert.kota_code else None
    return Area(kota_code=kota.code if kota else "", kota=kota.name if kota else "")
