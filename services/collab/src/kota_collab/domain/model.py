"""Inter-city collaboration: cities, partnerships with their lifecycle and history, data-sharing agreements and
activities. Plain Python; every method refuses what the rules forbid (domain.errors).

A partnership's lifecycle (PP 28/2018; Permendagri 22/2020 domestic, 25/2020 foreign):

    proposed -> negotiating -> signed -> active -> expired | renewed | ended
         \\-> declined        (negotiating may be declined too; expired may be renewed; renewed may end or expire)

Each step is a history entry naming the city whose staff took it. A federated partnership (the partner runs Kota)
lives in both registries; `merge` takes the partner's copy when its history extends ours, which makes delivering
the same state twice, or an older one late, change nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from urllib.parse import urlparse

from kota_collab.domain.errors import DomainError, HistoriesDiverge, InvalidTransition, NotGranted, NotPermitted

CITY_ID = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
ENDPOINT = re.compile(r"^[\w.\-\[\]:]+:\d+$")


class Kind(str, Enum):
    SISTER_CITY = "sister_city"
    MOU = "mou"
    ASCN_PROJECT = "ascn_project"
    TECHNICAL_COOPERATION = "technical_cooperation"


class FocusArea(str, Enum):
    """The ASEAN Smart Cities Network's six focus areas."""

    CIVIC_SOCIAL = "civic_social"
    HEALTH_WELLBEING = "health_wellbeing"
    SAFETY_SECURITY = "safety_security"
    QUALITY_ENVIRONMENT = "quality_environment"
    BUILT_INFRASTRUCTURE = "built_infrastructure"
    INDUSTRY_INNOVATION = "industry_innovation"


class Status(str, Enum):
    PROPOSED = "proposed"
    NEGOTIATING = "negotiating"
    SIGNED = "signed"
    ACTIVE = "active"
    RENEWED = "renewed"
    EXPIRED = "expired"
    ENDED = "ended"
    DECLINED = "declined"

    @property
    def in_force(self) -> bool:
        """Agreements under the partnership may be used."""
        return self in (Status.SIGNED, Status.ACTIVE, Status.RENEWED)


class Decision(str, Enum):
    ACCEPT = "accept"
    DECLINE = "decline"
    SIGN = "sign"
    ACTIVATE = "activate"
    RENEW = "renew"
    END = "end"
    EXPIRE = "expire"


# decision -> (the statuses it may follow, the status it leads to)
TRANSITIONS: dict[Decision, tuple[frozenset[Status], Status]] = {
    Decision.ACCEPT: (frozenset({Status.PROPOSED}), Status.NEGOTIATING),
    Decision.DECLINE: (frozenset({Status.PROPOSED, Status.NEGOTIATING}), Status.DECLINED),
    Decision.SIGN: (frozenset({Status.NEGOTIATING}), Status.SIGNED),
    Decision.ACTIVATE: (frozenset({Status.SIGNED}), Status.ACTIVE),
    Decision.RENEW: (frozenset({Status.ACTIVE, Status.EXPIRED, Status.RENEWED}), Status.RENEWED),
    Decision.END: (frozenset({Status.SIGNED, Status.ACTIVE, Status.RENEWED}), Status.ENDED),
    Decision.EXPIRE: (frozenset({Status.SIGNED, Status.ACTIVE, Status.RENEWED}), Status.EXPIRED),
}
# What a partnership recorded after the fact may start as (one that exists already, e.g. a sister city since 1984).
RECORDABLE = frozenset({Status.PROPOSED, Status.SIGNED, Status.ACTIVE, Status.EXPIRED})


class Stream(str, Enum):
    """Anonymised event streams a city can share: each is a topic of this city, filtered and stripped to fields that
    name no person (see service_layer.sharing)."""

    AIR_QUALITY_ALERTS = "air-quality-alerts"
    FLOOD_ALERTS = "flood-alerts"
    COMPLAINT_STATISTICS = "complaint-statistics"


class ActivityKind(str, Enum):
    VISIT_IN_PERSON = "visit_in_person"
    VISIT_VIRTUAL = "visit_virtual"
    WORKSHOP = "workshop"
    SHARED_SOLUTION = "shared_solution"


def parse_date(value: str, field_name: str) -> date | None:
    """An ISO 8601 calendar date, or None for "" (not known)."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError(f"{value!r} is not a date (YYYY-MM-DD)", field_name) from None


def check_url(value: str, field_name: str) -> str:
    if value and urlparse(value).scheme not in ("http", "https"):
        raise DomainError("a link must be an http(s) URL", field_name)
    return value


@dataclass(frozen=True)
class City:
    id: str
    name: str
    country: str
    region: str = ""
    population: int = 0
    ascn_member: bool = False
    endpoint: str = ""  # host:port of its Kota inter-city endpoint; "" when it runs none
    home: bool = False
    latitude: float | None = None  # WGS84 degrees, for the map; None when not recorded
    longitude: float | None = None

    def __post_init__(self) -> None:
        if not CITY_ID.match(self.id):
            raise DomainError("a city id is 2-40 lowercase letters, digits and hyphens, starting with a letter", "id")
        if not self.name.strip():
            raise DomainError("a city needs a name", "name")
        if not COUNTRY.match(self.country):
            raise DomainError("country is an ISO 3166-1 alpha-2 code, e.g. ID, KR", "country")
        if self.population < 0:
            raise DomainError("population cannot be negative", "population")
        if self.endpoint and not ENDPOINT.match(self.endpoint):
            raise DomainError("endpoint is host:port", "endpoint")
        if (self.latitude is None) != (self.longitude is None):
            raise DomainError("a location needs both latitude and longitude", "latitude")
        if self.latitude is not None and not -90 <= self.latitude <= 90:
            raise DomainError("latitude is between -90 and 90 degrees", "latitude")
        if self.longitude is not None and not -180 <= self.longitude <= 180:
            raise DomainError("longitude is between -180 and 180 degrees", "longitude")

    @property
    def federated(self) -> bool:
        return bool(self.endpoint)


@dataclass(frozen=True)
class Party:
    city_id: str
    role: str
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class HistoryEntry:
    seq: int
    status: Status
    at: datetime
    city_id: str  # whose staff took the step
    actor: str  # by role: staff:<agency>, admin
    note: str = ""
    signed_on: date | None = None
    document_url: str = ""
    valid_until: date | None = None


@dataclass(frozen=True)
class Change:
    """A history entry this registry has just recorded (taken here or received), for the events."""

    partnership_id: str
    entry: HistoryEntry
    previous: Status | None
    origin: str  # local | partner


@dataclass
class Partnership:
    id: str
    kind: Kind
    title: str
    focus_areas: tuple[FocusArea, ...]
    parties: tuple[Party, ...]
    scope: str  # domestic | foreign
    federated: bool = False
    history: list[HistoryEntry] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @classmethod
    def start(cls, id: str, kind: Kind, title: str, focus_areas: tuple[FocusArea, ...], home: City, partners: list[City],
              *, actor: str, at: datetime, status: Status = Status.PROPOSED, note: str = "", signed_on: date | None = None,
              document_url: str = "", valid_until: date | None = None) -> Partnership:
        """A partnership this city proposes, or records as it already stands (`status` signed, active, expired)."""
        title = title.strip()
        if not title or len(title) > 300:
            raise DomainError("a title of 1-300 characters is required", "title")
        if not partners:
            raise DomainError("a partnership needs at least one partner city", "partner_city_ids")
        if home.id in {p.id for p in partners}:
            raise DomainError("this city is a party already; name the other cities", "partner_city_ids")
        if len({p.id for p in partners}) != len(partners):
            raise DomainError("a partner city is named twice", "partner_city_ids")
        if status not in RECORDABLE:
            raise DomainError(f"a partnership starts as one of {', '.join(sorted(s.value for s in RECORDABLE))}", "status")
        federated = any(p.federated for p in partners)
        if federated and status is not Status.PROPOSED:
            raise DomainError("a partnership with a federated city starts as a proposal the partner accepts", "status")
        if federated and len(partners) > 1:
            raise DomainError("a federated partnership has exactly two parties", "partner_city_ids")
        if signed_on is not None and status is Status.PROPOSED:
            raise DomainError("a proposal is not signed yet", "signed_on")
        check_url(document_url, "document_url")
        scope = "domestic" if all(p.country == home.country for p in partners) else "foreign"
        if kind is Kind.SISTER_CITY and scope == "domestic":
            raise DomainError("a sister-city partnership is with a foreign city (Permendagri 25/2020)", "kind")
        parties = (Party(home.id, "proposer" if status is Status.PROPOSED else "party"),
                   *(Party(p.id, "partner" if status is Status.PROPOSED else "party") for p in partners))
        p = cls(id, kind, title, tuple(dict.fromkeys(focus_areas)), parties, scope, federated)
        p._record(status, at, home.id, actor, note, signed_on=signed_on, document_url=document_url, valid_until=valid_until)
        return p

    # -- reading ---------------------------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        return self.history[-1].status

    @property
    def proposer(self) -> str:
        return self.history[0].city_id

    @property
    def signed_on(self) -> date | None:
        return next((h.signed_on for h in reversed(self.history) if h.signed_on), None)

    @property
    def document_url(self) -> str:
        return next((h.document_url for h in reversed(self.history) if h.document_url), "")

    @property
    def valid_until(self) -> date | None:
        return next((h.valid_until for h in reversed(self.history) if h.valid_until), None)

    def party_ids(self) -> list[str]:
        return [p.city_id for p in self.parties]

    def has_party(self, city_id: str) -> bool:
        return city_id in self.party_ids()

    # -- deciding --------------------------------------------------------------------------------------------
    def decide(self, decision: Decision, *, city_id: str, actor: str, at: datetime, note: str = "",
               signed_on: date | None = None, document_url: str = "", valid_until: date | None = None) -> HistoryEntry:
        """A step taken by the staff of `city_id` (a party)."""
        if not self.has_party(city_id):
            raise NotPermitted(f"{city_id} is not a party to this partnership", "id")
        allowed_from, to = TRANSITIONS[decision]
        if self.status not in allowed_from:
            raise InvalidTransition(f"cannot {decision.value} a partnership that is {self.status.value} "
                                    f"(only one that is {', '.join(sorted(s.value for s in allowed_from))})", "decision")
        # In a federated partnership each city decides for itself; otherwise this city's staff record every step.
        if (self.federated and decision in (Decision.ACCEPT, Decision.DECLINE) and self.status is Status.PROPOSED
                and city_id == self.proposer):
            raise NotPermitted(f"{city_id} proposed this partnership: the partner accepts or declines it", "decision")
        if decision is Decision.SIGN and signed_on is None:
            raise DomainError("signing needs the date it was signed", "signed_on")
        if decision is not Decision.SIGN and (signed_on is not None or document_url):
            raise DomainError("a signing date and document go with the sign decision", "signed_on")
        if valid_until is not None and decision not in (Decision.SIGN, Decision.RENEW):
            raise DomainError("valid_until goes with sign or renew", "valid_until")
        if decision is Decision.RENEW and valid_until is None:
            raise DomainError("a renewal needs the new end date", "valid_until")
        check_url(document_url, "document_url")
        if len(note) > 2000:
            raise DomainError("a note is at most 2000 characters", "note")
        return self._record(to, at, city_id, actor, note, signed_on=signed_on, document_url=document_url,
                            valid_until=valid_until)

    def _record(self, status: Status, at: datetime, city_id: str, actor: str, note: str, **dates) -> HistoryEntry:
        previous = self.history[-1].status if self.history else None
        entry = HistoryEntry(len(self.history) + 1, status, at, city_id, actor, note, **dates)
        self.history.append(entry)
        self.changes.append(Change(self.id, entry, previous, "local"))
        return entry

    # -- federation ------------------------------------------------------------------------------------------
    def merge(self, theirs: Partnership, sender: str) -> bool:
        """Takes the partner's copy when its history extends ours; True if anything new was applied. A copy whose
        history ours already contains (a repeat, or an older state arriving late) changes nothing. Entries the
        sender records as taken by another city than itself must already be ours: a city speaks for itself only."""
        if theirs.id != self.id:
            raise DomainError("not the same partnership", "partnership.id")
        common = min(len(self.history), len(theirs.history))
        if self.history[:common] != theirs.history[:common]:
            raise HistoriesDiverge(f"partnership {self.id}: the partner's history differs from ours at step "
                                   f"{next(i + 1 for i in range(common) if self.history[i] != theirs.history[i])}")
        new = theirs.history[common:]
        for entry in new:
            if entry.city_id != sender:
                raise NotPermitted(f"{sender} sent a step taken by {entry.city_id}", "partnership.history")
        for entry in new:
            previous = self.history[-1].status if self.history else None
            self.history.append(entry)
            self.changes.append(Change(self.id, entry, previous, "partner"))
        return bool(new)

    @classmethod
    def received(cls, theirs: Partnership, sender: str, home_id: str) -> Partnership:
        """A partner's proposal, as this registry first records it."""
        if not theirs.history or theirs.history[0].status is not Status.PROPOSED:
            raise DomainError("a partnership arrives first as a proposal", "partnership.history")
        if theirs.history[0].city_id != sender:
            raise NotPermitted(f"{sender} cannot propose on behalf of {theirs.history[0].city_id}", "partnership.history")
        if set(theirs.party_ids()) != {sender, home_id}:
            raise NotPermitted(f"the parties must be {sender} and this city ({home_id})", "partnership.parties")
        copy = replace(theirs, federated=True, history=[], changes=[])
        copy.merge(theirs, sender)
        return copy


@dataclass
class Agreement:
    """A data-sharing agreement: what this city grants a partner city to read, until when (inclusive)."""

    id: str
    partnership_id: str
    city_id: str
    dataset_ids: tuple[str, ...]
    streams: tuple[Stream, ...]
    valid_until: date | None
    granted_at: datetime
    granted_by: str
    revoked_at: datetime | None = None
    revoked_by: str = ""
    revoke_reason: str = ""

    @classmethod
    def grant(cls, id: str, partnership: Partnership, city_id: str, dataset_ids: list[str], streams: list[Stream],
              valid_until: date | None, *, actor: str, at: datetime) -> Agreement:
        if not partnership.has_party(city_id):
            raise DomainError(f"{city_id} is not a party to the partnership", "city_id")
        if not partnership.status.in_force:
            raise InvalidTransition(f"the partnership is {partnership.status.value}: grants need one that is signed, "
                                    "active or renewed", "partnership_id")
        if not dataset_ids and not streams:
            raise DomainError("an agreement grants at least one dataset or stream", "dataset_ids")
        bad = [d for d in dataset_ids if not re.match(r"^[a-z0-9][a-z0-9_-]{0,99}$", d)]
        if bad:
            raise DomainError(f"not a dataset id: {bad[0]!r}", "dataset_ids")
        if valid_until is not None and valid_until < at.date():
            raise DomainError("valid_until is in the past", "valid_until")
        return cls(id, partnership.id, city_id, tuple(dict.fromkeys(dataset_ids)), tuple(dict.fromkeys(streams)),
                   valid_until, at, actor)

    def in_force(self, at: datetime) -> bool:
        return self.revoked_at is None and (self.valid_until is None or at.date() <= self.valid_until)

    def revoke(self, *, actor: str, at: datetime, reason: str = "") -> None:
        if self.revoked_at is not None:
            raise InvalidTransition("the agreement is revoked already", "id")
        self.revoked_at, self.revoked_by, self.revoke_reason = at, actor, reason


@dataclass(frozen=True)
class Grant:
    """What allowed a partner's read: the agreement and its partnership."""

    agreement_id: str
    partnership_id: str
    valid_until: date | None


def grant_for_stream(agreements: list[Agreement], partnerships: dict[str, Partnership], city_id: str, stream: Stream,
                     at: datetime) -> Grant:
    """The agreement that lets `city_id` read `stream` now; NotGranted naming what is missing otherwise."""
    return _grant(agreements, partnerships, city_id, at, lambda a: stream in a.streams, f"stream {stream.value}")


def grant_for_dataset(agreements: list[Agreement], partnerships: dict[str, Partnership], city_id: str, dataset_id: str,
                      at: datetime) -> Grant:
    return _grant(agreements, partnerships, city_id, at, lambda a: dataset_id in a.dataset_ids, f"dataset {dataset_id}")


def _grant(agreements, partnerships, city_id, at, covers, what: str) -> Grant:
    lapsed = ""
    for a in agreements:
        if a.city_id != city_id or not covers(a):
            continue
        p = partnerships.get(a.partnership_id)
        if a.in_force(at) and p is not None and p.status.in_force:
            return Grant(a.id, a.partnership_id, a.valid_until)
        lapsed = (f"agreement {a.id} was revoked" if a.revoked_at else
                  f"agreement {a.id} expired on {a.valid_until}" if not a.in_force(at) else
                  f"partnership {a.partnership_id} is {p.status.value if p else 'unknown'}")
    raise NotGranted(f"no agreement grants {city_id} the {what}" + (f" ({lapsed})" if lapsed else ""), what)


def shared_datasets(agreements: list[Agreement], partnerships: dict[str, Partnership], city_id: str,
                    at: datetime) -> list[tuple[str, Grant]]:
    """Every dataset `city_id` may read now, each with the agreement that grants it (the longest-running one)."""
    found: dict[str, Grant] = {}
    for a in agreements:
        p = partnerships.get(a.partnership_id)
        if a.city_id != city_id or not a.in_force(at) or p is None or not p.status.in_force:
            continue
        for d in a.dataset_ids:
            current = found.get(d)
            if current is None or (current.valid_until is not None and (a.valid_until is None or a.valid_until > current.valid_until)):
                found[d] = Grant(a.id, a.partnership_id, a.valid_until)
    return sorted(found.items())


@dataclass(frozen=True)
class Activity:
    id: str
    partnership_id: str
    kind: ActivityKind
    title: str
    starts_on: date | None
    ends_on: date | None
    participants: int = 0
    outcomes: str = ""

    def __post_init__(self) -> None:
        if not self.title.strip() or len(self.title) > 300:
            raise DomainError("a title of 1-300 characters is required", "title")
        if self.participants < 0:
            raise DomainError("participants cannot be negative", "participants")
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise DomainError("an activity cannot end before it starts", "ends_on")
        if self.ends_on and not self.starts_on:
            raise DomainError("an end date needs a start date", "starts_on")
