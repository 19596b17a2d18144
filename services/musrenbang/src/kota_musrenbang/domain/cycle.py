"""The planning cycle: the stages of Musrenbang (UU 25/2004, Permendagri 86/2017), when each is open, and which
action belongs to which stage.

`PlanningCycle.year` is the year the meetings are held; the work plan (RKPD) they feed is for `plan_year`, the
year after. Windows are half-open, [opens, closes), in UTC; messages show them as dates in Jakarta time.

The proposal's methods (model.py) check roles, areas and statuses but not the calendar: the service layer calls
`cycle.require_action_open(action, now)` before calling them, with the action that `ACTION_STAGES` maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from zoneinfo import ZoneInfo

from kota_musrenbang.domain.errors import DomainError, OutsideStageWindow

JAKARTA = ZoneInfo("Asia/Jakarta")


class Level(str, Enum):
    RW = "rw"
    KELURAHAN = "kelurahan"
    KECAMATAN = "kecamatan"
    KOTA = "kota"
    PROVINSI = "provinsi"

    @property
    def display_name(self) -> str:
        return _DISPLAY[self]

    @property
    def order(self) -> int:
        return _ORDER.index(self)


_ORDER = (Level.RW, Level.KELURAHAN, Level.KECAMATAN, Level.KOTA, Level.PROVINSI)
_DISPLAY = {
    Level.RW: "Rembuk RW",
    Level.KELURAHAN: "Musrenbang Kelurahan",
    Level.KECAMATAN: "Musrenbang Kecamatan",
    Level.KOTA: "Musrenbang Kota",
    Level.PROVINSI: "Musrenbang Provinsi",
}


class Action(str, Enum):
    SUBMIT = "submit"  # a resident (or the RT/RW on behalf of the rembuk) submits a proposal
    SUPPORT = "support"  # a resident supports a proposal (public consultation)
    WITHDRAW_SUPPORT = "withdraw_support"
    VERIFY = "verify"  # RT/RW at the rembuk RW, the lurah at the kelurahan forum
    REJECT = "reject"  # whoever is deciding at the proposal's level
    MERGE = "merge"  # two proposals for the same works become one
    PRIORITISE = "prioritise"  # ranked by the kecamatan forum (Tim Kecamatan), then by Bappeda at kota/provinsi
    SELECT = "select"  # the kecamatan forum's selection under its pagu indikatif (selection.py)
    VERIFY_TECHNICALLY = "verify_technically"  # the implementing agency (Forum Perangkat Daerah, before Musrenbang Kota)
    ACCEPT = "accept"  # Bappeda takes the proposal into the RKPD work plan
    REALISE = "realise"  # start, milestones, done or not realised: any time after acceptance

    @classmethod
    def verification_for(cls, role: str) -> Action:
        """The agency's verification is the technical one, with its own stages; the others' is VERIFY."""
        return cls.VERIFY_TECHNICALLY if role == "agency_verifier" else cls.VERIFY


# When each action may happen: while any of these stages is open. An empty tuple: the calendar does not limit it
# (the proposal's status does). This table is the one place the calendar rules live.
ACTION_STAGES: dict[Action, tuple[Level, ...]] = {
    Action.SUBMIT: (Level.RW, Level.KELURAHAN),
    Action.SUPPORT: (Level.KELURAHAN, Level.KECAMATAN),
    Action.WITHDRAW_SUPPORT: (Level.KELURAHAN, Level.KECAMATAN),
    Action.VERIFY: (Level.RW, Level.KELURAHAN),
    Action.REJECT: (Level.RW, Level.KELURAHAN, Level.KECAMATAN, Level.KOTA, Level.PROVINSI),
    Action.MERGE: (Level.KELURAHAN, Level.KECAMATAN),
    Action.PRIORITISE: (Level.KECAMATAN, Level.KOTA, Level.PROVINSI),
    Action.SELECT: (Level.KECAMATAN,),
    Action.VERIFY_TECHNICALLY: (Level.KOTA, Level.PROVINSI),
    Action.ACCEPT: (Level.PROVINSI,),
    Action.REALISE: (),
}


@dataclass(frozen=True)
class StageWindow:
    level: Level
    opens: datetime  # UTC, inclusive
    closes: datetime  # UTC, exclusive

    def __post_init__(self) -> None:
        if self.opens.tzinfo is None or self.closes.tzinfo is None:
            raise DomainError(f"jadwal {self.level.display_name} harus memakai zona waktu (UTC)", "stages")
        if not self.opens < self.closes:
            raise DomainError(f"jadwal {self.level.display_name}: waktu buka harus sebelum waktu tutup", "stages")

    def contains(self, at: datetime) -> bool:
        return self.opens <= at < self.closes

    @property
    def first_day(self) -> date:
        return self.opens.astimezone(JAKARTA).date()

    @property
    def last_day(self) -> date:
        return (self.closes - timedelta(microseconds=1)).astimezone(JAKARTA).date()

    def describe(self) -> str:
        return f"{self.level.display_name} dibuka {self.first_day.isoformat()} s.d. {self.last_day.isoformat()}"


@dataclass(frozen=True)
class PlanningCycle:
    year: int
    stages: tuple[StageWindow, ...]
    support_limit: int = 10

    def __post_init__(self) -> None:
        levels = [s.level for s in self.stages]
        if len(set(levels)) != len(levels):
            raise DomainError("setiap tahap hanya boleh punya satu jadwal", "stages")
        if levels != sorted(levels, key=lambda lv: lv.order):
            raise DomainError("jadwal tahap harus berurutan: RW, kelurahan, kecamatan, kota, provinsi", "stages")
        for earlier, later in zip(self.stages, self.stages[1:], strict=False):
            if later.opens < earlier.closes:
                raise DomainError(
                    f"{later.level.display_name} tidak boleh dibuka sebelum {earlier.level.display_name} ditutup", "stages"
                )
        if self.support_limit < 1:
            raise DomainError("batas dukungan per warga minimal 1", "support_limit")

    @property
    def plan_year(self) -> int:
        """The year of the work plan (RKPD) this cycle's proposals go into."""
        return self.year + 1

    def stage(self, level: Level) -> StageWindow | None:
        return next((s for s in self.stages if s.level == level), None)

    def active_stages(self, at: datetime) -> list[StageWindow]:
        return [s for s in self.stages if s.contains(at)]

    def require_open(self, level: Level, at: datetime) -> StageWindow:
        window = self.stage(level)
        if window is None:
            raise OutsideStageWindow(f"tahap {level.display_name} tidak dijadwalkan pada siklus {self.year}", level)
        if not window.contains(at):
            raise OutsideStageWindow(f"tahap {window.describe()}; sekarang di luar jadwal", level)
        return window

    def require_action_open(self, action: Action, at: datetime) -> StageWindow | None:
        """The open stage in which `action` may happen now (None for actions the calendar does not limit)."""
        levels = ACTION_STAGES[action]
        if not levels:
            return None
        for level in levels:
            window = self.stage(level)
            if window is not None and window.contains(at):
                return window
        scheduled = [w for w in (self.stage(lv) for lv in levels) if w is not None]
        if not scheduled:
            raise OutsideStageWindow(f"tidak ada tahap untuk {action.value} pada siklus {self.year}", levels[0])
        described = "; ".join(f"tahap {w.describe()}" for w in scheduled)
        raise OutsideStageWindow(f"{_ACTION_NAMES[action]} hanya pada {described}; sekarang di luar jadwal", scheduled[0].level)

    def submission_level(self, at: datetime) -> Level:
        """The level a proposal submitted now starts at: RW during the rembuk RW, else kelurahan."""
        window = self.require_action_open(Action.SUBMIT, at)
        return window.level if window is not None else Level.KELURAHAN

    # -- calendars ------------------------------------------------------------------------------------------
    @classmethod
    def jakarta(cls, year: int, support_limit: int = 10) -> PlanningCycle:
        """Jakarta's calendar (2022's, SYSTEM.md), weeks counted from the 1st of the month (week n: days 7n-6..7n,
        week 5: the 29th to the month's end): Rembuk RW January weeks 1-3; kelurahan January week 4 to February
        week 1; kecamatan February weeks 2-3; kota March weeks 4-5; provinsi April week 2. Whole days, Jakarta time."""

        def window(level: Level, first: date, last: date) -> StageWindow:
            opens = datetime(first.year, first.month, first.day, tzinfo=JAKARTA)
            after = last + timedelta(days=1)
            closes = datetime(after.year, after.month, after.day, tzinfo=JAKARTA)
            return StageWindow(level, opens.astimezone(timezone.utc), closes.astimezone(timezone.utc))

        march_end = date(year, 4, 1) - timedelta(days=1)
        return cls(
            year=year,
            stages=(
                window(Level.RW, date(year, 1, 1), date(year, 1, 21)),
                window(Level.KELURAHAN, date(year, 1, 22), date(year, 2, 7)),
                window(Level.KECAMATAN, date(year, 2, 8), date(year, 2, 21)),
                window(Level.KOTA, date(year, 3, 22), march_end),
                window(Level.PROVINSI, date(year, 4, 8), date(year, 4, 14)),
            ),
            support_limit=support_limit,
        )

    @classmethod
    def demo(cls, now: datetime, support_limit: int = 10) -> PlanningCycle:
        """For seeding a live portal: the rembuk RW has just ended and the kelurahan stage is open from an hour
        ago for ten days, so residents can submit and support and the lurah can verify right away; kecamatan,
        kota and provinsi follow, ten days each."""
        start = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        day = timedelta(days=1)
        bounds = [start - 14 * day, start, start + 10 * day, start + 20 * day, start + 30 * day, start + 40 * day]
        stages = tuple(StageWindow(level, bounds[i], bounds[i + 1]) for i, level in enumerate(_ORDER))
        return cls(year=now.year, stages=stages, support_limit=support_limit)


_ACTION_NAMES = {
    Action.SUBMIT: "usulan dapat diajukan",
    Action.SUPPORT: "dukungan dapat diberikan",
    Action.WITHDRAW_SUPPORT: "dukungan dapat ditarik",
    Action.VERIFY: "verifikasi dilakukan",
    Action.REJECT: "penolakan dilakukan",
    Action.MERGE: "penggabungan usulan dilakukan",
    Action.PRIORITISE: "prioritas ditetapkan",
    Action.SELECT: "pemilihan usulan dalam pagu dilakukan",
    Action.VERIFY_TECHNICALLY: "verifikasi teknis dinas dilakukan",
    Action.ACCEPT: "penetapan ke RKPD dilakukan",
    Action.REALISE: "realisasi dicatat",
}
