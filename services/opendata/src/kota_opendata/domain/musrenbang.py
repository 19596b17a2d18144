"""Musrenbang in open data: what a proposal's events add up to, and the public rows drawn from it.

musrenbang.events.v1 is ordered per proposal, but not across proposals: a merge (keyed by the proposal merged
away) carries the *target's* support count, and a kecamatan's selection is keyed by the kecamatan. So a
proposal's support count can arrive before its submission, and a producer's resend (a new ce_id) can bring an
old change again. The rules, plain and testable here:

- Each part of a proposal has its own clock, the time the producer stamped on the change: the status (with its
  level, rank and reason), the support count, the latest milestone. A change older than what is already known
  for its part is ignored, so a late or repeated event never winds a record back.
- What arrives before the submission is kept in the state and published once the submission arrives; until
  then the proposal has no public row (nothing to show but a number).
- Facts that only accumulate (accepted into the work plan, the reason it was not realised) are kept whatever
  the order.

The public rows are built from a whitelist, never from the payload as a whole: titles, problems, reasons and
notes are scrubbed again (the producer scrubs them already), points are snapped to the anonymisation grid,
photos are never copied (they can show faces and plates), and a citizen's submission time is published as a
date.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from kota_common.events import musrenbang as ev
from kota_common.reference import AreaDirectory
from kota_opendata.domain import anonymise

# Statuses a proposal reaches only once it is in the work plan (RKPD): its realisation is tracked from then on.
REALISATION_STATUSES = ("accepted", "in_realisation", "done", "not_realised")


class InvalidMusrenbangEvent(ValueError):
    """An event that breaks the topic's contract: it can never be applied."""


def stamp(at: datetime) -> str:
    """A clock value that sorts as text: UTC, microseconds, fixed width."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ProposalState:
    """Everything open data knows of one proposal (internal: stored as JSON, never published as it is)."""

    proposal_id: str
    submission: dict[str, Any] | None = None  # the public fields of ProposalSubmitted, already anonymised
    status: str = ""
    level: str = ""
    rank: int | None = None
    status_reason: str = ""
    status_at: str = ""  # clock of status, level, rank and reason
    support_count: int = 0
    support_at: str = ""
    merged_into: str = ""
    accepted_at: str = ""  # first time it was accepted into the work plan
    not_realised_reason: str = ""
    milestone: dict[str, Any] | None = None  # the latest: title, progress_percent, at, note, recorded_at

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> ProposalState:
        return ProposalState(**json.loads(text))


def public_submission(payload: ev.ProposalSubmitted, areas: AreaDirectory, grid_m: float) -> dict[str, Any]:
    """The fields of a submitted proposal that may be published (a whitelist; photo_url is not in it)."""
    loc = payload.location
    lat, lon = anonymise.coarsen_point(loc.lat, loc.lon, grid_m)
    kelurahan = areas.find_kelurahan(loc.kelurahan_code)
    kecamatan = areas.find_kecamatan(loc.kecamatan_code)
    kota = areas.find_kota(loc.kota_code)
    return {
        "proposal_id": payload.proposal_id,
        "cycle_year": payload.cycle_year,
        "title": anonymise.scrub_text(payload.title, 300),
        "problem": anonymise.scrub_text(payload.problem),
        "activity_code": payload.activity_code,
        "activity_name": payload.activity_name,
        "field": payload.field,
        "agency_code": payload.agency_code,
        "volume": payload.volume,
        "unit": payload.unit,
        "unit_cost": payload.unit_cost,
        "cost": payload.cost,
        "kelurahan_code": loc.kelurahan_code,
        "kelurahan": kelurahan.name if kelurahan else "",
        "kecamatan_code": loc.kecamatan_code,
        "kecamatan": kecamatan.name if kecamatan else "",
        "kota_code": loc.kota_code,
        "kota": kota.name if kota else "",
        "rw": loc.rw,
        "lat": lat,
        "lon": lon,
        "submitted_date": _utc(payload.submitted_at).date().isoformat(),
        "submitted_at": stamp(payload.submitted_at),
        "first_level": payload.level,
    }


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


# ---- applying events ------------------------------------------------------------------------------------


def submit(state: ProposalState, submission: dict[str, Any]) -> None:
    state.submission = submission
    if not state.status_at or submission["submitted_at"] > state.status_at:
        state.status, state.level, state.status_at = "submitted", submission["first_level"], submission["submitted_at"]
        state.rank, state.status_reason = None, ""


def change_status(state: ProposalState, payload: ev.ProposalStatusChanged) -> None:
    at = stamp(payload.changed_at)
    reason = anonymise.scrub_text(payload.reason, 1000)
    if payload.to_status == "accepted" and (not state.accepted_at or at < state.accepted_at):
        state.accepted_at = at
    if payload.to_status == "not_realised":
        state.not_realised_reason = reason
    if at < state.status_at:
        return  # a later change is already known
    if payload.rank is not None:
        state.rank = payload.rank
    elif payload.to_level != state.level:
        state.rank = None  # a rank belongs to the forum that gave it
    state.status, state.level, state.status_reason, state.status_at = payload.to_status, payload.to_level, reason, at


def count_supports(state: ProposalState, support_count: int, at: datetime) -> None:
    clock = stamp(at)
    if clock >= state.support_at:
        state.support_count, state.support_at = support_count, clock


def merge_away(source: ProposalState, payload: ev.ProposalsMerged) -> None:
    """The source proposal now follows the target (the target's count: `count_supports`)."""
    if payload.merged_into == payload.proposal_id:
        raise InvalidMusrenbangEvent(f"{payload.proposal_id} cannot be merged into itself")
    source.merged_into = payload.merged_into
    at = stamp(payload.merged_at)
    if at >= source.status_at:
        source.status, source.status_reason, source.status_at = "merged", f"digabung ke {payload.merged_into}", at
        source.rank = None


def record_milestone(state: ProposalState, payload: ev.MilestoneRecorded) -> None:
    """Keeps the latest milestone: by the day it was reached, then by when it was recorded."""
    candidate = {"title": anonymise.scrub_text(payload.title, 300), "progress_percent": payload.progress_percent,
                 "at": payload.at.isoformat(), "note": anonymise.scrub_text(payload.note, 1000),
                 "recorded_at": stamp(payload.recorded_at)}
    current = state.milestone
    if current is None or (candidate["at"], candidate["recorded_at"]) >= (current["at"], current["recorded_at"]):
        state.milestone = candidate


# ---- public rows ---------------------------------------------------------------------------------------


def _date(clock: str) -> str | None:
    return clock[:10] if clock else None


def proposal_row(state: ProposalState) -> dict[str, Any] | None:
    """The proposal's row in `usulan-musrenbang`; None until its submission is known."""
    s = state.submission
    if s is None:
        return None
    row = {k: v for k, v in s.items() if k not in ("submitted_at", "first_level")}
    return row | {
        "status": state.status, "level": state.level, "rank": state.rank, "status_reason": state.status_reason,
        "status_date": _date(state.status_at), "support_count": state.support_count,
        "merged_into": state.merged_into or None,
    }


def realisation_row(state: ProposalState) -> dict[str, Any] | None:
    """The proposal's row in `realisasi-musrenbang` once it is in the work plan; None before (or unknown)."""
    s = state.submission
    in_plan = state.accepted_at or state.status in REALISATION_STATUSES or state.milestone is not None
    if s is None or not in_plan:
        return None
    m = state.milestone or {}
    return {
        "proposal_id": state.proposal_id, "cycle_year": s["cycle_year"], "title": s["title"],
        "activity_name": s["activity_name"], "field": s["field"], "agency_code": s["agency_code"],
        "volume": s["volume"], "unit": s["unit"], "cost": s["cost"],
        "kelurahan_code": s["kelurahan_code"], "kelurahan": s["kelurahan"], "kecamatan": s["kecamatan"],
        "kota": s["kota"], "rw": s["rw"], "lat": s["lat"], "lon": s["lon"],
        "status": state.status, "accepted_date": _date(state.accepted_at),
        "progress_percent": m.get("progress_percent"), "milestone_title": m.get("title"),
        "milestone_date": m.get("at"), "milestone_note": m.get("note"),
        "not_realised_reason": state.not_realised_reason if state.status == "not_realised" else None,
        "last_change_date": max(_date(state.status_at) or "", m.get("at") or "") or None,
    }


def decision_rows(payload: ev.SelectionPublished, areas: AreaDirectory) -> list[dict[str, Any]]:
    """One row of `pilihan-forum-musrenbang` per decision of a kecamatan forum's published selection."""
    if payload.status != "optimal":  # the producer publishes proven optima only
        raise InvalidMusrenbangEvent(f"a selection with solver status {payload.status!r} is never published")
    ids = [d.proposal_id for d in payload.decisions]
    if len(set(ids)) != len(ids):
        raise InvalidMusrenbangEvent("a selection decides on each proposal once")
    kecamatan = areas.find_kecamatan(payload.kecamatan_code)
    kota_code = kecamatan.kota_code if kecamatan else ""
    kota = areas.find_kota(kota_code) if kota_code else None
    common = {
        "cycle_year": payload.cycle_year, "kecamatan_code": payload.kecamatan_code,
        "kecamatan": kecamatan.name if kecamatan else "", "kota_code": kota_code, "kota": kota.name if kota else "",
        "budget": payload.budget, "total_cost": payload.total_cost, "total_score": payload.total_score,
        "selected_count": sum(1 for d in payload.decisions if d.selected), "candidate_count": len(payload.decisions),
        "field_minimums": json.dumps(payload.field_minimums, sort_keys=True),
        "agency_ceilings": json.dumps(payload.agency_ceilings, sort_keys=True),
        "solver": payload.solver, "solver_status": payload.status,
        "published_at": anonymise.iso(payload.published_at),
    }
    return [common | {"proposal_id": d.proposal_id, "selected": d.selected, "score": d.score, "cost": d.cost,
                      "reason": anonymise.scrub_text(d.reason, 1000)}
            for d in payload.decisions]

