"""The complaint aggregate and its rules: lifecycle, routing, duplicates, SLA. Plain Python, no I/O.

Every change records a domain event (the versioned payload of complaints.events.v1) in `complaint.events`;
the unit of work stages them in the outbox in the same transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from kota_common.events import EventPayload
from kota_common.events import complaints as ev
from kota_common.privacy import scrub
from kota_common.reference import haversine_km


class Status(str, Enum):
    RECEIVED = "received"
    ROUTED = "routed"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    CLOSED = "closed"


OPEN_STATUSES = frozenset({Status.RECEIVED, Status.ROUTED, Status.IN_PROGRESS})

# Staff transitions. Reopening (resolved|rejected -> routed) is the citizen's and has its own rule.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.ROUTED, Status.REJECTED}),
    Status.ROUTED: frozenset({Status.IN_PROGRESS, Status.RESOLVED, Status.REJECTED}),
    Status.IN_PROGRESS: frozenset({Status.RESOLVED, Status.REJECTED}),
    Status.RESOLVED: frozenset({Status.CLOSED}),
    Status.REJECTED: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


class Channel(str, Enum):
    """The fourteen intake channels of Jakarta's CRM, plus Open311 clients and sensor-raised incidents."""

    APP = "app"
    WEB = "web"
    TWITTER = "twitter"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    CALL_CENTER = "call_center"
    LAPOR = "lapor"
    KELURAHAN_WALK_IN = "kelurahan_walk_in"
    KECAMATAN_WALK_IN = "kecamatan_walk_in"
    CITY_HALL_WALK_IN = "city_hall_walk_in"
    OPEN311 = "open311"
    SENSOR = "sensor"
    TELEGRAM = "telegram"  # the city's Telegram bot (a conversation of the notifications service)


class DomainError(Exception):
    """A rule of the domain refused the change. `field` names the offending input when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class InvalidTransition(DomainError):
    pass


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    short_name: str


@dataclass(frozen=True)
class AttributeDef:
    """An Open311 service attribute definition."""

    code: str
    datatype: str  # string | number | datetime | text | singlevaluelist | multivaluelist
    required: bool
    description: str
    values: tuple[str, ...] = ()
    order: int = 0

    def check(self, value: str) -> str | None:
        """Returns why the value is not acceptable, or None."""
        if self.datatype == "number":
            try:
                float(value)
            except ValueError:
                return "must be a number"
        if self.datatype == "singlevaluelist" and value not in self.values:
            return f"must be one of {', '.join(self.values)}"
        if self.datatype == "multivaluelist" and not set(value.split(",")) <= set(self.values):
            return f"must be a comma-separated subset of {', '.join(self.values)}"
        if self.datatype == "datetime":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                return "must be an ISO 8601 date-time"
        return None


@dataclass(frozen=True)
class ServiceCategory:
    """A complaint category (Open311 service): who handles it by default and how fast."""

    code: str
    name: str
    description: str
    group: str
    agency_code: str
    sla_hours: int
    keywords: tuple[str, ...] = ()
    attributes: tuple[AttributeDef, ...] = ()


@dataclass(frozen=True)
class Area:
    lat: float | None = None
    lon: float | None = None
    address: str = ""
    kelurahan_code: str = ""
    kelurahan: str = ""
    kecamatan: str = ""
    kota_code: str = ""
    kota: str = ""

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None

    @property
    def point(self) -> tuple[float, float] | None:
        """(lat, lon), or None without a point."""
        return (self.lat, self.lon) if self.lat is not None and self.lon is not None else None


@dataclass(frozen=True)
class RoutingRule:
    """category (+ optional kota) -> agency and unit. `unit` may use {kota} and {kecamatan}."""

    service_code: str
    agency_code: str
    unit: str
    kota_code: str = ""


@dataclass(frozen=True)
class Assignment:
    agency_code: str
    unit: str


@dataclass
class RoutingTable:
    agencies: dict[str, Agency]
    categories: dict[str, ServiceCategory]
    rules: list[RoutingRule]
    default_agency: str

    def route(self, service_code: str, area: Area) -> Assignment:
        """The most specific rule wins: category and kota, then category alone, then the category's agency."""
        specific = [r for r in self.rules if r.service_code == service_code and r.kota_code and r.kota_code == area.kota_code]
        general = [r for r in self.rules if r.service_code == service_code and not r.kota_code]
        rule = next(iter(specific or general), None)
        if rule is not None:
            return Assignment(rule.agency_code, _unit(rule.unit, area))
        category = self.categories.get(service_code)
        agency = category.agency_code if category else self.default_agency
        return Assignment(agency, self.agencies[agency].name if agency in self.agencies else agency)


def _unit(template: str, area: Area) -> str:
    if ("{kota}" in template and not area.kota) or ("{kecamatan}" in template and not area.kecamatan):
        # No area known: the agency's headquarters unit handles it and can re-dispatch.
        return template.split("{")[0].strip() + " (pusat)"
    return template.format(kota=area.kota, kecamatan=area.kecamatan)


@dataclass(frozen=True)
class Policy:
    """City-configurable rules."""

    duplicate_radius_m: float = 100.0
    duplicate_window: timedelta = timedelta(hours=72)
    reopen_window: timedelta = timedelta(days=7)
    escalation_extension_ratio: float = 0.5  # after a breach the next deadline is this share of the SLA away


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return haversine_km(lat1, lon1, lat2, lon2) * 1000.0


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) around a point, for an index-friendly pre-filter."""
    dlat = radius_m / 111_320.0
    dlon = radius_m / (111_320.0 * max(math.cos(math.radians(lat)), 1e-6))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


@dataclass
class HistoryEntry:
    at: datetime
    kind: str  # status | note | duplicate | sla | rating | reopen
    status: Status
    actor: str
    note: str = ""


@dataclass
class Complaint:
    id: str
    channel: Channel
    service_code: str
    description: str
    area: Area
    reporter_ref: str
    anonymous: bool
    requested_at: datetime
    media_urls: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    external_ref: str = ""
    status: Status = Status.RECEIVED
    updated_at: datetime | None = None
    agency_code: str = ""
    unit: str = ""
    routed_at: datetime | None = None
    due_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    sla_breached: bool = False
    escalation_level: int = 0
    duplicate_of: str | None = None
    supporters_count: int = 0
    rating: int | None = None
    status_notes: str = ""
    history: list[HistoryEntry] = field(default_factory=list)
    events: list[EventPayload] = field(default_factory=list, repr=False)

    # -- creation ---------------------------------------------------------------------------------------
    @classmethod
    def submit(
        cls,
        *,
        id: str,
        channel: Channel,
        category: ServiceCategory,
        description: str,
        area: Area,
        reporter_ref: str,
        anonymous: bool,
        now: datetime,
        media_urls: list[str] | None = None,
        attributes: dict[str, str] | None = None,
        external_ref: str = "",
    ) -> Complaint:
        attributes = attributes or {}
        check_attributes(category, attributes)
        complaint = cls(
            id=id,
            channel=channel,
            service_code=category.code,
            description=description.strip(),
            area=area,
            reporter_ref=reporter_ref,
            anonymous=anonymous,
            requested_at=now,
            updated_at=now,
            media_urls=list(media_urls or []),
            attributes=attributes,
            external_ref=external_ref,
        )
        complaint.history.append(HistoryEntry(now, "status", Status.RECEIVED, "citizen", f"via {channel.value}"))
        complaint.events.append(
            ev.ComplaintSubmitted(
                complaint_id=id,
                channel=channel.value,
                service_code=category.code,
                description=scrub(complaint.description),
                location=ev.AreaRef(
                    lat=area.lat,
                    lon=area.lon,
                    kelurahan_code=area.kelurahan_code,
                    kelurahan=area.kelurahan,
                    kecamatan=area.kecamatan,
                    kota_code=area.kota_code,
                    kota=area.kota,
                ),
                media_urls=complaint.media_urls,
                attributes=attributes,
                reporter_ref=reporter_ref,
                anonymous=anonymous,
                requested_at=now,
            )
        )
        return complaint

    # -- routing and SLA ----------------------------------------------------------------------------------
    def route(self, assignment: Assignment, sla_hours: int, now: datetime) -> None:
        self._require(Status.ROUTED, "system")
        self.agency_code, self.unit = assignment.agency_code, assignment.unit
        self.routed_at = now
        self.due_at = now + timedelta(hours=sla_hours)
        self._set_status(Status.ROUTED, "system", f"routed to {assignment.unit}", now)
        self.events.append(
            ev.ComplaintRouted(
                complaint_id=self.id,
                service_code=self.service_code,
                agency_code=self.agency_code,
                unit=self.unit,
                due_at=self.due_at,
                routed_at=now,
            )
        )

    def is_overdue(self, now: datetime) -> bool:
        return self.status in OPEN_STATUSES and self.due_at is not None and now > self.due_at

    def breach_sla(self, now: datetime, escalated_to: str, sla_hours: int, policy: Policy) -> None:
        if not self.is_overdue(now):
            raise DomainError(f"complaint {self.id} is not overdue")
        due = self.due_at
        self.sla_breached = True
        self.escalation_level += 1
        self.due_at = now + timedelta(hours=sla_hours * policy.escalation_extension_ratio)
        self.updated_at = now
        self.history.append(
            HistoryEntry(now, "sla", self.status, "system", f"SLA breached (due {due:%Y-%m-%d %H:%M}); escalated to {escalated_to}")
        )
        self.events.append(
            ev.ComplaintSlaBreached(
                complaint_id=self.id,
                service_code=self.service_code,
                agency_code=self.agency_code,
                due_at=due,
                escalation_level=self.escalation_level,
                escalated_to=escalated_to,
                breached_at=now,
            )
        )

    # -- lifecycle ------------------------------------------------------------------------------------------
    def change_status(self, to: Status, actor: str, note: str, now: datetime) -> None:
        if to == self.status:
            raise InvalidTransition(f"complaint is already {to.value}", "status")
        self._require(to, actor)
        if to in (Status.RESOLVED, Status.REJECTED) and not note.strip():
            raise DomainError(f"a note explaining the {to.value} decision is required", "note")
        self._set_status(to, actor, note, now)

    def _require(self, to: Status, actor: str) -> None:
        if to not in TRANSITIONS[self.status]:
            allowed = ", ".join(s.value for s in sorted(TRANSITIONS[self.status], key=lambda s: s.value)) or "none"
            raise InvalidTransition(f"cannot go from {self.status.value} to {to.value} (allowed: {allowed})", "status")

    def _set_status(self, to: Status, actor: str, note: str, now: datetime) -> None:
        previous = self.status
        self.status = to
        self.updated_at = now
        if note:
            self.status_notes = note
        if to == Status.RESOLVED:
            self.resolved_at = now
        if to == Status.CLOSED:
            self.closed_at = now
        self.history.append(HistoryEntry(now, "status", to, actor, note))
        resolution = (now - self.requested_at).total_seconds() if to in (Status.RESOLVED, Status.REJECTED) else None
        self.events.append(
            ev.ComplaintStatusChanged(
                complaint_id=self.id,
                service_code=self.service_code,
                agency_code=self.agency_code,
                from_status=previous.value,
                to_status=to.value,
                actor=actor,
                note=scrub(note),
                changed_at=now,
                resolution_seconds=resolution,
            )
        )

    def add_note(self, note: str, actor: str, now: datetime) -> None:
        if not note.strip():
            raise DomainError("note must not be empty", "note")
        self.updated_at = now
        self.history.append(HistoryEntry(now, "note", self.status, actor, note.strip()))
        self.events.append(ev.ComplaintNoteAdded(complaint_id=self.id, actor=actor, note=scrub(note.strip()), added_at=now))

    def rate(self, rating: int, now: datetime) -> None:
        if self.status not in (Status.RESOLVED, Status.CLOSED) or self.resolved_at is None:
            raise InvalidTransition("only a resolved complaint can be rated", "rating")
        if not 1 <= rating <= 5:
            raise DomainError("rating must be between 1 and 5", "rating")
        if self.rating is not None:
            raise InvalidTransition("this complaint has already been rated", "rating")
        self.rating = rating
        self.updated_at = now
        self.history.append(HistoryEntry(now, "rating", self.status, "citizen", f"rated {rating}/5"))
        self.events.append(ev.ComplaintRated(complaint_id=self.id, agency_code=self.agency_code, rating=rating, rated_at=now))

    def reopen(self, reason: str, now: datetime, policy: Policy) -> None:
        if self.status not in (Status.RESOLVED, Status.REJECTED):
            raise InvalidTransition(f"only a resolved or rejected complaint can be reopened (it is {self.status.value})", "status")
        decided_at = self.resolved_at if self.status == Status.RESOLVED else self.updated_at
        if decided_at and now - decided_at > policy.reopen_window:
            raise InvalidTransition(f"the reopen window of {policy.reopen_window.days} days has passed", "status")
        if not reason.strip():
            raise DomainError("a reason is required to reopen", "reason")
        self.resolved_at = None
        self.rating = None
        self._set_status(Status.ROUTED, "citizen", f"reopened: {reason.strip()}", now)

    # -- duplicates -------------------------------------------------------------------------------------
    def link_to(self, master: Complaint, now: datetime) -> None:
        """This complaint reports the same problem as `master`: it follows master's ticket from now on."""
        self.duplicate_of = master.id
        self.agency_code, self.unit, self.due_at, self.routed_at = master.agency_code, master.unit, master.due_at, now
        master.supporters_count += 1
        master.updated_at = now
        master.history.append(HistoryEntry(now, "duplicate", master.status, "system", f"supported by report {self.id}"))
        self.status = master.status
        self.updated_at = now
        self.history.append(HistoryEntry(now, "duplicate", master.status, "system", f"linked to open report {master.id}"))
        self.events.append(
            ev.ComplaintDuplicateLinked(
                complaint_id=self.id, duplicate_of=master.id, supporters_count=master.supporters_count, linked_at=now
            )
        )

    def follow(self, master: Complaint, now: datetime) -> None:
        """Mirrors a status change of the master ticket on a linked duplicate."""
        if master.status != self.status:
            if master.status == Status.RESOLVED:
                self.resolved_at = master.resolved_at
            self._set_status(master.status, "system", f"follows {master.id}: {master.status_notes}".strip(), now)


def check_attributes(category: ServiceCategory, values: dict[str, str]) -> None:
    known = {a.code: a for a in category.attributes}
    for code in values:
        if code not in known:
            raise DomainError(f"unknown attribute {code!r} for service {category.code}", f"attributes.{code}")
    for attr in category.attributes:
        value = values.get(attr.code, "")
        if not value:
            if attr.required:
                raise DomainError(f"attribute {attr.code} is required for service {category.code}", f"attributes.{attr.code}")
            continue
        problem = attr.check(value)
        if problem:
            raise DomainError(f"attribute {attr.code} {problem}", f"attributes.{attr.code}")


def find_duplicate(new: Complaint, candidates: list[Complaint], policy: Policy) -> Complaint | None:
    """The nearest open complaint of the same category within the radius and time window, if any."""
    new_point = new.area.point
    if new_point is None:
        return None
    best, best_d = None, policy.duplicate_radius_m
    for c in candidates:
        point = c.area.point
        if (
            c.id == new.id
            or c.duplicate_of
            or c.service_code != new.service_code
            or c.status not in OPEN_STATUSES
            or point is None
            or new.requested_at - c.requested_at > policy.duplicate_window
        ):
            continue
        d = distance_m(*new_point, *point)
        if d <= best_d:
            best, best_d = c, d
    return best


def escalation_target(level: int, agency: Agency | None, area: Area) -> str:
    """Who is told when a deadline is missed: the agency's head, then the mayor, then the regional secretary."""
    if level <= 1:
        return f"Kepala {agency.name}" if agency else "Kepala OPD"
    if level == 2 and area.kota:
        return f"Wali Kota {area.kota}"
    return "Sekretaris Daerah Provinsi"
