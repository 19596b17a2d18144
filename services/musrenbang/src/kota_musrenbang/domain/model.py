"""The proposal aggregate: a resident's request for works in their area, from draft through the forums (RW,
kelurahan, kecamatan, kota, provinsi) into the work plan and its realisation. Plain Python, no I/O.

Who may do what is `Staff.require` (role and area); when is the planning cycle's (`cycle.ACTION_STAGES`, checked
by the service layer before it calls a method here); in which status is `TRANSITIONS`. Every method that changes
a proposal appends a history entry and, except for a private draft, a domain event (a payload of
musrenbang.events.v1) to `proposal.events`; the unit of work stages them in the outbox in the same transaction.

The path and the level at each step:

    draft -> submitted (rw or kelurahan) -[RT/RW verifies at rw: moves up to kelurahan]
          -> verified (lurah; now at kecamatan) -> prioritised (kecamatan forum; now at kota)
          -[agency verifies technically; Bappeda ranks at kota (moves up to provinsi) and provinsi]
          -> accepted (Bappeda, into the RKPD) -> in_realisation -> done | not_realised
    submitted | verified | prioritised -> rejected (reason required);  submitted | verified -> merged
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from urllib.parse import urlparse

from kota_common.events import EventPayload
from kota_common.events import musrenbang as ev
from kota_common.privacy import scrub
from kota_common.reference import AreaDirectory
from kota_musrenbang.domain.catalog import Activity
from kota_musrenbang.domain.cycle import Action, Level
from kota_musrenbang.domain.errors import DomainError, InvalidTransition, NotPermitted


class Status(str, Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    REJECTED = "rejected"
    PRIORITISED = "prioritised"
    ACCEPTED = "accepted"
    IN_REALISATION = "in_realisation"
    DONE = "done"
    NOT_REALISED = "not_realised"
    MERGED = "merged"


# A status may lead to itself: a submitted proposal moves up from rw to kelurahan, a prioritised one is verified
# technically and ranked at kota and provinsi without changing status.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.SUBMITTED}),
    Status.SUBMITTED: frozenset({Status.SUBMITTED, Status.VERIFIED, Status.REJECTED, Status.MERGED}),
    Status.VERIFIED: frozenset({Status.PRIORITISED, Status.REJECTED, Status.MERGED}),
    Status.PRIORITISED: frozenset({Status.PRIORITISED, Status.ACCEPTED, Status.REJECTED}),
    Status.ACCEPTED: frozenset({Status.IN_REALISATION, Status.NOT_REALISED}),
    Status.IN_REALISATION: frozenset({Status.DONE, Status.NOT_REALISED}),
    Status.DONE: frozenset(),
    Status.NOT_REALISED: frozenset(),
    Status.REJECTED: frozenset(),
    Status.MERGED: frozenset(),
}

OPEN_FOR_SUPPORT = frozenset({Status.SUBMITTED, Status.VERIFIED})
MERGEABLE = frozenset({Status.SUBMITTED, Status.VERIFIED})

TITLE_LENGTH = (10, 120)
PROBLEM_LENGTH = (20, 2000)
MAX_VOLUME = 1_000_000

_KELURAHAN_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")
_LOOKS_LIKE_NIK = re.compile(r"\d{16}")


class Role(str, Enum):
    RT_RW = "rt_rw"  # the RT/RW heads of one RW: the rembuk RW
    LURAH = "lurah"  # the kelurahan's head: validates at the kelurahan forum
    TIM_KECAMATAN = "tim_kecamatan"  # the kecamatan forum's team: prioritises and selects under the pagu
    AGENCY_VERIFIER = "agency_verifier"  # an agency's (SKPD's) planner: technical verification, realisation
    BAPPEDA = "bappeda"  # the planning agency: kota/provinsi ranking, the work plan, realisation


RESIDENT_ROLE = "warga"

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.RT_RW: frozenset({Action.SUBMIT, Action.VERIFY, Action.REJECT}),
    Role.LURAH: frozenset({Action.VERIFY, Action.REJECT, Action.MERGE}),
    Role.TIM_KECAMATAN: frozenset({Action.PRIORITISE, Action.SELECT, Action.REJECT, Action.MERGE}),
    Role.AGENCY_VERIFIER: frozenset({Action.VERIFY_TECHNICALLY, Action.REJECT, Action.REALISE}),
    Role.BAPPEDA: frozenset({Action.PRIORITISE, Action.ACCEPT, Action.REJECT, Action.REALISE}),
}

# Who rejects depends on where the proposal stands: the forum that is deciding on it.
REJECTERS: dict[Status, frozenset[Role]] = {
    Status.SUBMITTED: frozenset({Role.RT_RW, Role.LURAH}),
    Status.VERIFIED: frozenset({Role.TIM_KECAMATAN}),
    Status.PRIORITISED: frozenset({Role.AGENCY_VERIFIER, Role.BAPPEDA}),
}


def normalise_rw(value: str, field_name: str = "location.rw") -> str:
    """"3", "03", "RW 003" -> "003" (RT numbers likewise); "" stays "" (works across the whole kelurahan)."""
    digits = "".join(ch for ch in value if ch.isdigit())
    if not digits:
        if value.strip():
            raise DomainError(f"nomor RW/RT tidak valid: {value!r}", field_name)
        return ""
    if len(digits) > 3 or int(digits) == 0:
        raise DomainError(f"nomor RW/RT tidak valid: {value!r}", field_name)
    return digits.zfill(3)


@dataclass(frozen=True)
class Location:
    kelurahan_code: str
    kecamatan_code: str
    rw: str = ""
    rt: str = ""
    address: str = ""
    lat: float | None = None
    lon: float | None = None

    def __post_init__(self) -> None:
        if not _KELURAHAN_CODE.match(self.kelurahan_code):
            raise DomainError(f"kode kelurahan tidak valid: {self.kelurahan_code!r} (contoh 31.71.01.1001)", "location.kelurahan_code")
        if self.kelurahan_code.rsplit(".", 1)[0] != self.kecamatan_code:
            raise DomainError(
                f"kelurahan {self.kelurahan_code} tidak berada di kecamatan {self.kecamatan_code}", "location.kecamatan_code"
            )
        object.__setattr__(self, "rw", normalise_rw(self.rw))
        object.__setattr__(self, "rt", normalise_rw(self.rt, "location.rt"))
        if (self.lat is None) != (self.lon is None):
            raise DomainError("lintang dan bujur harus diisi keduanya atau tidak sama sekali", "location.lat")
        if self.lat is not None and self.lon is not None and not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise DomainError("koordinat di luar jangkauan", "location.lat")

    @property
    def kota_code(self) -> str:
        return self.kecamatan_code.rsplit(".", 1)[0]

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None

    def ref(self) -> ev.LocationRef:
        """For events: down to the RW, never the RT or the address."""
        return ev.LocationRef(kelurahan_code=self.kelurahan_code, kecamatan_code=self.kecamatan_code,
                              kota_code=self.kota_code, rw=self.rw, lat=self.lat, lon=self.lon)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    status: Status
    actor: str  # "warga:<ref>" or "<role>:<actor id>"; history is internal, events carry the role only
    reason: str = ""
    level: Level | None = None


@dataclass(frozen=True)
class Milestone:
    title: str
    progress_percent: int
    at: date | datetime
    photo_url: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise DomainError("judul capaian wajib diisi", "milestone.title")
        if isinstance(self.progress_percent, bool) or not 0 <= self.progress_percent <= 100:
            raise DomainError("progres harus 0 sampai 100 persen", "milestone.progress_percent")
        check_url(self.photo_url, "milestone.photo_url")

    @property
    def day(self) -> date:
        return self.at.date() if isinstance(self.at, datetime) else self.at


@dataclass(frozen=True)
class Staff:
    actor_id: str
    role: Role
    area_code: str  # RT/RW and lurah: kelurahan code; tim kecamatan: kecamatan; agency and Bappeda: kota or "31"
    agency_code: str | None = None  # the agency verifier's agency
    rw: str = ""  # RT/RW only: its RW

    def __post_init__(self) -> None:
        if self.role == Role.AGENCY_VERIFIER and not self.agency_code:
            raise DomainError("verifikator dinas harus punya kode dinas", "agency_code")
        if self.role == Role.RT_RW:
            object.__setattr__(self, "rw", normalise_rw(self.rw, "rw"))
            if not self.rw:
                raise DomainError("pengurus RT/RW harus punya nomor RW", "rw")

    @property
    def label(self) -> str:
        return f"{self.role.value}:{self.actor_id}"

    def require(self, action: Action, proposal: Proposal) -> None:
        """Raises NotPermitted unless this staff member's role may do `action` and the proposal is in their area
        (for an agency verifier: also its agency's work)."""
        self._require_role(action)
        loc = proposal.location
        if self.role == Role.RT_RW:
            ok, area = loc.kelurahan_code == self.area_code and loc.rw == self.rw, f"{self.area_code} RW {self.rw}"
        elif self.role == Role.LURAH:
            ok, area = loc.kelurahan_code == self.area_code, f"kelurahan {self.area_code}"
        elif self.role == Role.TIM_KECAMATAN:
            ok, area = loc.kecamatan_code == self.area_code, f"kecamatan {self.area_code}"
        else:
            ok, area = within(self.area_code, loc.kelurahan_code), f"wilayah {self.area_code}"
        if not ok:
            raise NotPermitted(
                f"{_ROLE_NAMES[self.role]} hanya dapat bertindak atas usulan di {area}; usulan {proposal.id} ada di "
                f"{loc.kelurahan_code}" + (f" RW {loc.rw}" if loc.rw else ""),
                needed_roles=(self.role.value,), needed_area=loc.kelurahan_code,
            )
        if self.role == Role.AGENCY_VERIFIER and proposal.activity.agency_code != self.agency_code:
            raise NotPermitted(
                f"usulan {proposal.id} dikerjakan {proposal.activity.agency_code}, bukan {self.agency_code}",
                needed_roles=(Role.AGENCY_VERIFIER.value, Role.BAPPEDA.value), needed_area=loc.kelurahan_code,
            )

    def require_in(self, action: Action, area_code: str) -> None:
        """For actions on an area rather than one proposal (the kecamatan forum's selection)."""
        self._require_role(action)
        ok = self.area_code == area_code if self.role == Role.TIM_KECAMATAN else within(self.area_code, area_code)
        if not ok:
            raise NotPermitted(
                f"{_ROLE_NAMES[self.role]} wilayah {self.area_code} tidak dapat bertindak di {area_code}",
                needed_roles=(self.role.value,), needed_area=area_code,
            )

    def _require_role(self, action: Action) -> None:
        if action not in ROLE_ACTIONS[self.role]:
            needed = tuple(r.value for r in Role if action in ROLE_ACTIONS[r])
            names = ", ".join(_ROLE_NAMES[Role(r)] for r in needed)
            raise NotPermitted(f"{_ROLE_NAMES[self.role]} tidak berwenang ({action.value}); perlu: {names}", needed_roles=needed)


_ROLE_NAMES = {
    Role.RT_RW: "pengurus RT/RW",
    Role.LURAH: "lurah",
    Role.TIM_KECAMATAN: "tim kecamatan",
    Role.AGENCY_VERIFIER: "verifikator dinas",
    Role.BAPPEDA: "Bappeda",
}


def within(area_code: str, code: str) -> bool:
    """`code` lies in `area_code` (codes nest by dotted prefix; "" is everywhere)."""
    return not area_code or code == area_code or code.startswith(area_code + ".")


def check_url(url: str, field_name: str) -> None:
    if not url:
        return
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise DomainError("tautan foto harus alamat http(s)", field_name)


def check_text(value: str, bounds: tuple[int, int], name: str, field_name: str) -> str:
    text = " ".join(value.split())
    low, high = bounds
    if not low <= len(text) <= high:
        raise DomainError(f"{name} harus {low} sampai {high} karakter (sekarang {len(text)})", field_name)
    return text


@dataclass
class Proposal:
    id: str
    cycle_year: int
    title: str
    problem: str
    activity: Activity
    volume: int
    location: Location
    proposer_ref: str  # opaque resident reference (nik.resident_ref), never a NIK
    created_at: datetime
    photo_url: str = ""
    status: Status = Status.DRAFT
    level: Level = Level.KELURAHAN
    support_count: int = 0
    score: float | None = None  # the priority score (scoring.py) the kecamatan forum gave it, 0-100
    ranks: dict[Level, int] = field(default_factory=dict)
    technically_verified: bool = False
    updated_at: datetime | None = None
    merged_into: str | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    events: list[EventPayload] = field(default_factory=list, repr=False)

    @property
    def cost(self) -> int:
        return self.volume * self.activity.unit_cost

    # -- creation ---------------------------------------------------------------------------------------
    @classmethod
    def draft(
        cls,
        *,
        id: str,
        cycle_year: int,
        title: str,
        problem: str,
        activity: Activity,
        volume: int,
        location: Location,
        proposer_ref: str,
        at: datetime,
        photo_url: str = "",
        level: Level = Level.KELURAHAN,
        areas: AreaDirectory | None = None,
    ) -> Proposal:
        """A resident's draft, seen only by them (no event). With `areas`, the kelurahan must exist in it; without,
        only the code's shape is checked here and the service layer checks it against its reference data."""
        if isinstance(volume, bool) or not isinstance(volume, int) or not 0 < volume <= MAX_VOLUME:
            raise DomainError(f"volume harus bilangan bulat 1 sampai {MAX_VOLUME:,}".replace(",", "."), "volume")
        if not proposer_ref.strip() or _LOOKS_LIKE_NIK.search(proposer_ref):
            raise DomainError("pengusul harus berupa referensi samaran, bukan NIK", "proposer_ref")
        if level not in (Level.RW, Level.KELURAHAN):
            raise DomainError("usulan diajukan di tingkat RW atau kelurahan", "level")
        check_url(photo_url, "photo_url")
        if areas is not None and areas.find_kelurahan(location.kelurahan_code) is None:
            raise DomainError(f"kelurahan {location.kelurahan_code} tidak dikenal", "location.kelurahan_code")
        proposal = cls(
            id=id,
            cycle_year=cycle_year,
            title=check_text(title, TITLE_LENGTH, "judul", "title"),
            problem=check_text(problem, PROBLEM_LENGTH, "uraian masalah", "problem"),
            activity=activity,
            volume=volume,
            location=location,
            proposer_ref=proposer_ref,
            created_at=at,
            updated_at=at,
            photo_url=photo_url,
            level=level,
        )
        proposal.history.append(HistoryEntry(at, Status.DRAFT, f"{RESIDENT_ROLE}:{proposer_ref}", "", level))
        return proposal

    @classmethod
    def submit_new(
        cls,
        *,
        id: str,
        cycle_year: int,
        title: str,
        problem: str,
        activity: Activity,
        volume: int,
        location: Location,
        proposer_ref: str,
        at: datetime,
        photo_url: str = "",
        level: Level = Level.KELURAHAN,
        areas: AreaDirectory | None = None,
        on_behalf_of: Staff | None = None,
    ) -> Proposal:
        """Drafted and submitted at once; `on_behalf_of` is the RT/RW submitting for a rembuk RW."""
        proposal = cls.draft(id=id, cycle_year=cycle_year, title=title, problem=problem, activity=activity, volume=volume,
                             location=location, proposer_ref=proposer_ref, at=at, photo_url=photo_url, level=level, areas=areas)
        proposal.submit(on_behalf_of or proposer_ref, at, level)
        return proposal

    # -- the resident ---------------------------------------------------------------------------------------
    def submit(self, actor: str | Staff, at: datetime, level: Level | None = None) -> None:
        """`actor`: the proposer's reference, or the RT/RW of the proposal's RW. `level`: where the cycle stands
        (`PlanningCycle.submission_level`); default: the level the draft was made at."""
        if isinstance(actor, Staff):
            actor.require(Action.SUBMIT, self)
            label = actor.label
        elif actor != self.proposer_ref:
            raise NotPermitted("hanya pengusul yang dapat mengajukan usulannya", needed_roles=(RESIDENT_ROLE,))
        else:
            label = f"{RESIDENT_ROLE}:{actor}"
        to_level = level or self.level
        if to_level not in (Level.RW, Level.KELURAHAN):
            raise DomainError("usulan diajukan di tingkat RW atau kelurahan", "level")
        self._require(Status.SUBMITTED)
        self.status, self.level, self.updated_at = Status.SUBMITTED, to_level, at
        self.history.append(HistoryEntry(at, Status.SUBMITTED, label, "", to_level))
        self.events.append(
            ev.ProposalSubmitted(
                proposal_id=self.id,
                cycle_year=self.cycle_year,
                title=scrub(self.title),
                problem=scrub(self.problem),
                activity_code=self.activity.code,
                activity_name=self.activity.name,
                field=self.activity.field.value,
                agency_code=self.activity.agency_code,
                volume=self.volume,
                unit=self.activity.unit,
                unit_cost=self.activity.unit_cost,
                cost=self.cost,
                location=self.location.ref(),
                level=to_level.value,
                photo_url=self.photo_url,
                submitted_at=at,
            )
        )  # names no one, not even by role: the proposer stays in this service

    def add_support(self, at: datetime) -> None:
        """One more resident supports it (supports.py says whether they may; the database that they do once)."""
        self._require_open_for_support()
        self.set_support_count(self.support_count + 1, at)

    def withdraw_support(self, at: datetime) -> None:
        self._require_open_for_support()
        if self.support_count == 0:
            raise DomainError("usulan ini belum punya dukungan", "support")
        self.set_support_count(self.support_count - 1, at)

    def set_support_count(self, count: int, at: datetime) -> None:
        """The count as the service layer counted it (after a merge: the union of both proposals' supporters)."""
        if count < 0:
            raise DomainError("jumlah dukungan tidak boleh negatif", "support_count")
        self.support_count, self.updated_at = count, at
        self.events.append(ev.ProposalSupportCountChanged(proposal_id=self.id, support_count=count, changed_at=at))

    def _require_open_for_support(self) -> None:
        if self.status not in OPEN_FOR_SUPPORT:
            raise InvalidTransition(f"usulan berstatus {self.status.value} tidak dapat didukung", "support")

    # -- the forums ---------------------------------------------------------------------------------------------
    def verify(self, staff: Staff, at: datetime, note: str = "") -> None:
        """RT/RW at the rembuk RW: moves it up to the kelurahan. Lurah: verified, on to the kecamatan forum.
        Agency verifier: technical verification of a prioritised proposal (required before acceptance)."""
        action = Action.verification_for(staff.role.value)
        staff.require(action, self)
        if staff.role == Role.RT_RW:
            if self.status != Status.SUBMITTED or self.level != Level.RW:
                raise InvalidTransition(f"pengurus RT/RW hanya memverifikasi usulan di tingkat RW (usulan ini {self._where()})", "status")
            self._change(Status.SUBMITTED, Level.KELURAHAN, staff, note, at)
        elif staff.role == Role.LURAH:
            if self.status != Status.SUBMITTED:
                raise InvalidTransition(f"lurah hanya memverifikasi usulan yang diajukan (usulan ini {self._where()})", "status")
            self._change(Status.VERIFIED, Level.KECAMATAN, staff, note, at)
        else:
            if self.status != Status.PRIORITISED:
                raise InvalidTransition(f"verifikasi teknis hanya untuk usulan prioritas (usulan ini {self._where()})", "status")
            if self.technically_verified:
                raise InvalidTransition("usulan ini sudah diverifikasi teknis", "status")
            self.technically_verified = True
            self._change(Status.PRIORITISED, self.level, staff, f"verifikasi teknis: {note}".strip(": "), at)

    def reject(self, staff: Staff, reason: str, at: datetime) -> None:
        staff.require(Action.REJECT, self)
        reason = _required_reason(reason)
        self._require(Status.REJECTED)
        if staff.role not in REJECTERS.get(self.status, frozenset()) or (staff.role == Role.RT_RW and self.level != Level.RW):
            raise NotPermitted(
                f"{_ROLE_NAMES[staff.role]} tidak dapat menolak usulan yang {self._where()}",
                needed_roles=tuple(r.value for r in REJECTERS.get(self.status, frozenset())),
            )
        self._change(Status.REJECTED, self.level, staff, reason, at)

    def prioritise(self, staff: Staff, level: Level, rank: int | None, at: datetime) -> None:
        """The kecamatan forum (its selection under the pagu) makes a verified proposal a priority and sends it on
        to kota; Bappeda ranks prioritised proposals at kota (sending them on to provinsi) and at provinsi."""
        staff.require(Action.PRIORITISE, self)
        if rank is not None and rank < 1:
            raise DomainError("peringkat mulai dari 1", "rank")
        if staff.role == Role.TIM_KECAMATAN:
            if level != Level.KECAMATAN:
                raise NotPermitted("tim kecamatan menetapkan prioritas di tingkat kecamatan", needed_roles=(Role.BAPPEDA.value,))
            if self.status != Status.VERIFIED:
                raise InvalidTransition(f"hanya usulan terverifikasi yang dapat diprioritaskan (usulan ini {self._where()})", "status")
            to_status, to_level = Status.PRIORITISED, Level.KOTA
        else:
            if level not in (Level.KOTA, Level.PROVINSI):
                raise NotPermitted("Bappeda menetapkan prioritas di tingkat kota dan provinsi", needed_roles=(Role.TIM_KECAMATAN.value,))
            if self.status != Status.PRIORITISED:
                raise InvalidTransition(f"Bappeda hanya memeringkat usulan prioritas kecamatan (usulan ini {self._where()})", "status")
            to_status, to_level = Status.PRIORITISED, Level.PROVINSI
        if rank is not None:
            self.ranks[level] = rank
        self._change(to_status, to_level, staff, f"prioritas {level.display_name}", at, rank=rank)

    def accept(self, staff: Staff, at: datetime) -> None:
        """Bappeda takes it into the work plan (RKPD); the implementing agency must have verified it technically."""
        staff.require(Action.ACCEPT, self)
        self._require(Status.ACCEPTED)
        if not self.technically_verified:
            raise InvalidTransition(f"usulan {self.id} belum diverifikasi teknis oleh {self.activity.agency_code}", "status")
        self._change(Status.ACCEPTED, Level.PROVINSI, staff, "ditetapkan dalam RKPD", at)

    def merge_into(self, target: Proposal, staff: Staff, at: datetime, support_count: int | None = None) -> None:
        """This proposal asks for the same works as `target`: it follows target from now on. `support_count`:
        target's count after merging, the union of both proposals' supporters (supports.merge_supports), which
        the service layer counts; None leaves target's count as it is."""
        if target.id == self.id:
            raise DomainError("usulan tidak dapat digabung dengan dirinya sendiri", "target")
        staff.require(Action.MERGE, self)
        staff.require(Action.MERGE, target)
        if self.status not in MERGEABLE or target.status not in MERGEABLE:
            raise InvalidTransition(
                f"hanya usulan yang diajukan atau terverifikasi yang dapat digabung ({self.id}: {self.status.value}, "
                f"{target.id}: {target.status.value})", "status")
        if target.cycle_year != self.cycle_year:
            raise DomainError("usulan dari siklus yang berbeda tidak dapat digabung", "target")
        self._change(Status.MERGED, self.level, staff, f"digabung ke {target.id}", at, emit=False)
        self.merged_into = target.id
        target.updated_at = at
        target.history.append(HistoryEntry(at, target.status, staff.label, f"menerima gabungan {self.id}", target.level))
        if support_count is not None:
            target.set_support_count(support_count, at)
        self.events.append(ev.ProposalsMerged(proposal_id=self.id, merged_into=target.id, support_count=target.support_count,
                                              actor_role=staff.role.value, merged_at=at))

    # -- realisation ------------------------------------------------------------------------------------------
    def start_realisation(self, staff: Staff, at: datetime) -> None:
        staff.require(Action.REALISE, self)
        self._require(Status.IN_REALISATION)
        self._change(Status.IN_REALISATION, self.level, staff, "pekerjaan dimulai", at)

    def record_milestone(self, staff: Staff, milestone: Milestone, at: datetime | None = None) -> None:
        """`at`: when it is recorded (default: the milestone's own time)."""
        staff.require(Action.REALISE, self)
        if self.status != Status.IN_REALISATION:
            raise InvalidTransition(f"capaian hanya dicatat saat pekerjaan berjalan (usulan ini {self._where()})", "status")
        if self.milestones and milestone.progress_percent < self.milestones[-1].progress_percent:
            raise DomainError(
                f"progres tidak boleh turun ({self.milestones[-1].progress_percent}% -> {milestone.progress_percent}%)",
                "milestone.progress_percent",
            )
        recorded = at or (milestone.at if isinstance(milestone.at, datetime) else self.updated_at or self.created_at)
        self.milestones.append(milestone)
        self.updated_at = recorded
        self.history.append(HistoryEntry(recorded, self.status, staff.label,
                                         f"capaian {milestone.progress_percent}%: {milestone.title}", self.level))
        self.events.append(
            ev.MilestoneRecorded(proposal_id=self.id, title=scrub(milestone.title), progress_percent=milestone.progress_percent,
                                 at=milestone.day, photo_url=milestone.photo_url, note=scrub(milestone.note),
                                 actor_role=staff.role.value, recorded_at=recorded)
        )

    def finish(self, staff: Staff, at: datetime) -> None:
        staff.require(Action.REALISE, self)
        self._require(Status.DONE)
        if not self.milestones or self.milestones[-1].progress_percent != 100:
            raise InvalidTransition("pekerjaan selesai hanya jika capaian terakhir 100%", "status")
        self._change(Status.DONE, self.level, staff, "pekerjaan selesai", at)

    def mark_not_realised(self, staff: Staff, reason: str, at: datetime) -> None:
        staff.require(Action.REALISE, self)
        reason = _required_reason(reason)
        self._require(Status.NOT_REALISED)
        self._change(Status.NOT_REALISED, self.level, staff, reason, at)

    # -- internals ----------------------------------------------------------------------------------------------
    def _where(self) -> str:
        return f"berstatus {self.status.value} di tingkat {self.level.value}"

    def _require(self, to: Status) -> None:
        if to not in TRANSITIONS[self.status]:
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[self.status])) or "tidak ada"
            raise InvalidTransition(f"tidak dapat berubah dari {self.status.value} ke {to.value} (yang mungkin: {allowed})", "status")

    def _change(self, to: Status, to_level: Level, staff: Staff, reason: str, at: datetime, *,
                rank: int | None = None, emit: bool = True) -> None:
        self._require(to)
        previous, previous_level = self.status, self.level
        self.status, self.level, self.updated_at = to, to_level, at
        self.history.append(HistoryEntry(at, to, staff.label, reason, to_level))
        if emit:
            self.events.append(
                ev.ProposalStatusChanged(proposal_id=self.id, from_status=previous.value, to_status=to.value,
                                         from_level=previous_level.value, to_level=to_level.value, actor_role=staff.role.value,
                                         rank=rank, reason=scrub(reason), changed_at=at)
            )


def _required_reason(reason: str) -> str:
    text = " ".join(reason.split())
    if not text:
        raise DomainError("alasan wajib diisi", "reason")
    return text
