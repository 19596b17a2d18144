"""musrenbang.events.v1 (key: proposal id; a forum's selection: the kecamatan code). No personal data: proposals
carry no proposer at all (residents are known to the musrenbang service only by a keyed hash of their NIK), actors
appear by role, and a location goes no finer than the RW (no RT, no street address)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kota_common.events import EventPayload, TopicSpec, register_topic

TOPIC = "musrenbang.events.v1"
SOURCE = "/kota/musrenbang"


PROPOSAL_ID = Field(description="the proposal's id (also the record key and ce_subject), e.g. U-2027-000123")
CYCLE_YEAR = Field(description="the year the musrenbang is held; its proposals go into the next year's work plan (RKPD)")
STATUS = Field(description="draft, submitted, verified, rejected, prioritised, accepted, in_realisation, done, "
               "not_realised, merged")
LEVEL = Field(description="the forum the proposal stands at: rw, kelurahan, kecamatan, kota, provinsi")
ACTOR_ROLE = Field(description="role of who acted, never a person: warga, rt_rw, lurah, tim_kecamatan, agency_verifier, "
                   "bappeda, system")


def _example(**values) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


_LOCATION_EXAMPLE = dict(kelurahan_code="31.71.01.1001", kecamatan_code="31.71.01", kota_code="31.71", rw="003",
                         lat=-6.1754, lon=106.8272)


class LocationRef(BaseModel):
    """Where the proposed works are: codes down to the kelurahan, the RW, and a point if the proposer set one.
    Names come from the area reference data (kota_common.reference)."""

    model_config = _example(**_LOCATION_EXAMPLE)

    kelurahan_code: str = Field(description="Kemendagri code of the kelurahan (village), e.g. 31.71.01.1001")
    kecamatan_code: str = Field(description="Kemendagri code of the kecamatan (district), e.g. 31.71.01")
    kota_code: str = Field(description="Kemendagri code of the kota (city), e.g. 31.71")
    rw: str = Field("", description="the RW (rukun warga), three digits, e.g. 003; empty for works across the kelurahan")
    lat: float | None = Field(None, description="latitude of the proposed works, WGS84")
    lon: float | None = Field(None, description="longitude of the proposed works, WGS84")


class ProposalSubmitted(EventPayload):
    """A resident (or the RT/RW on behalf of a rembuk RW) submitted a development proposal."""

    model_config = _example(
        proposal_id="U-2027-000123", cycle_year=2027, title="Perbaikan saluran air Jl. Kebon Kelapa",
        problem="Saluran tersumbat dan meluap setiap hujan deras", activity_code="DRN-01",
        activity_name="Pembangunan/rehabilitasi saluran drainase lingkungan", field="infrastruktur", agency_code="DSDA",
        volume=120, unit="meter", unit_cost=1_500_000, cost=180_000_000,
        location=_LOCATION_EXAMPLE, level="kelurahan",
        photo_url="https://files.kota.example/musrenbang/u-2027-000123.jpg", submitted_at="2027-01-25T03:00:00Z",
    )

    ce_type: Literal["kota.musrenbang.proposal-submitted.v1"] = "kota.musrenbang.proposal-submitted.v1"
    proposal_id: str = PROPOSAL_ID
    cycle_year: int = CYCLE_YEAR
    title: str = Field(description="short title, scrubbed of phone numbers, e-mail addresses and NIK")
    problem: str = Field(description="the problem the works would solve, scrubbed likewise")
    activity_code: str = Field(description="code of the activity in the city's catalogue, e.g. DRN-01")
    activity_name: str = Field(description="name of the activity")
    field: str = Field(description="bidang: infrastruktur, sosial_budaya, ekonomi")
    agency_code: str = Field(description="code of the agency (SKPD) that would carry it out, e.g. DSDA, DBM, DLH")
    volume: int = Field(gt=0, description="how many units of the activity")
    unit: str = Field(description="the activity's unit: meter, m2, titik, unit, paket, peserta")
    unit_cost: int = Field(description="indicative cost per unit, rupiah")
    cost: int = Field(description="volume x unit cost, rupiah")
    location: LocationRef = Field(description="where the works are")
    level: str = LEVEL
    photo_url: str = Field("", description="a photo of the problem, if any")
    submitted_at: datetime = Field(description="when it was submitted (UTC)")


class ProposalStatusChanged(EventPayload):
    """A proposal moved through its lifecycle, moved up a level, or was ranked at a level."""

    model_config = _example(proposal_id="U-2027-000123", from_status="submitted", to_status="verified",
                            from_level="kelurahan", to_level="kecamatan", actor_role="lurah", rank=None,
                            reason="Lokasi sudah dicek; bukan aset swasta", changed_at="2027-02-03T04:00:00Z")

    ce_type: Literal["kota.musrenbang.status-changed.v1"] = "kota.musrenbang.status-changed.v1"
    proposal_id: str = PROPOSAL_ID
    from_status: str = STATUS
    to_status: str = Field(description="the status after (same values); equal to from_status when only the level or rank changed")
    from_level: str = LEVEL
    to_level: str = Field(description="the level after (same values)")
    actor_role: str = ACTOR_ROLE
    rank: int | None = Field(None, description="the rank the forum gave it at to_level (1 = first), when it ranked it")
    reason: str = Field("", description="why (required for rejection and not realised), scrubbed of personal data")
    changed_at: datetime = Field(description="when it changed (UTC)")


class ProposalSupportCountChanged(EventPayload):
    """Residents supported a proposal or withdrew their support (public consultation)."""

    model_config = _example(proposal_id="U-2027-000123", support_count=42, changed_at="2027-02-01T10:00:00Z")

    ce_type: Literal["kota.musrenbang.support-count-changed.v1"] = "kota.musrenbang.support-count-changed.v1"
    proposal_id: str = PROPOSAL_ID
    support_count: int = Field(ge=0, description="how many residents support it now (each counted once)")
    changed_at: datetime = Field(description="when the count changed (UTC)")


class ProposalsMerged(EventPayload):
    """Two proposals asked for the same works: the source now follows the target, which keeps both supports."""

    model_config = _example(proposal_id="U-2027-000140", merged_into="U-2027-000123", support_count=57,
                            actor_role="lurah", merged_at="2027-02-02T06:00:00Z")

    ce_type: Literal["kota.musrenbang.proposals-merged.v1"] = "kota.musrenbang.proposals-merged.v1"
    proposal_id: str = Field(description="the proposal merged away (the source; the record key)")
    merged_into: str = Field(description="the proposal it now follows (the target)")
    support_count: int = Field(ge=0, description="the target's support count after merging (each resident once)")
    actor_role: str = ACTOR_ROLE
    merged_at: datetime = Field(description="when they were merged (UTC)")


_DECISION_EXAMPLE = dict(proposal_id="U-2027-000123", selected=True, score=78.5, cost=180_000_000,
                         reason="terpilih: skor 78.50, biaya Rp 180.000.000")


class SelectionDecision(BaseModel):
    """The forum's decision on one candidate, with its reason."""

    model_config = _example(**_DECISION_EXAMPLE)

    proposal_id: str = PROPOSAL_ID
    selected: bool = Field(description="whether it fits in the kecamatan's pagu")
    score: float = Field(description="the proposal's priority score, 0-100")
    cost: int = Field(description="the proposal's cost, rupiah")
    reason: str = Field(description="why it was or was not selected, in Bahasa Indonesia")


class SelectionPublished(EventPayload):
    """A kecamatan forum published which verified proposals fit in its pagu indikatif (record key: the kecamatan
    code). The selection maximises the total score under the budget, the fields' minimums and the agencies'
    ceilings, solved to proven optimality."""

    model_config = _example(
        kecamatan_code="31.71.01", cycle_year=2027, budget=5_000_000_000,
        field_minimums={"ekonomi": 500_000_000}, agency_ceilings={"DSDA": 2_000_000_000},
        selected_ids=["U-2027-000123"], total_score=78.5, total_cost=180_000_000,
        decisions=[_DECISION_EXAMPLE],
        solver="HiGHS (scipy.optimize.milp)", status="optimal", published_at="2027-02-20T08:00:00Z",
    )

    ce_type: Literal["kota.musrenbang.selection-published.v1"] = "kota.musrenbang.selection-published.v1"
    kecamatan_code: str = Field(description="Kemendagri code of the kecamatan whose forum selected, e.g. 31.71.01")
    cycle_year: int = CYCLE_YEAR
    budget: int = Field(description="the kecamatan's pagu indikatif, rupiah")
    field_minimums: dict[str, int] = Field({}, description="rupiah that had to go at least to each field (bidang)")
    agency_ceilings: dict[str, int] = Field({}, description="rupiah that could go at most to each agency")
    selected_ids: list[str] = Field(description="the selected proposals, in id order")
    total_score: float = Field(description="sum of the selected proposals' scores")
    total_cost: int = Field(description="sum of the selected proposals' costs, rupiah")
    decisions: list[SelectionDecision] = Field(description="every candidate, selected or not, with its reason")
    solver: str = Field(description="what solved it, e.g. HiGHS (scipy.optimize.milp)")
    status: str = Field(description="the solver's status: optimal (anything else is never published)")
    published_at: datetime = Field(description="when it was published (UTC)")


class MilestoneRecorded(EventPayload):
    """Progress of an accepted proposal's works, as the implementing agency or Bappeda reported it."""

    model_config = _example(proposal_id="U-2027-000123", title="Galian dan pemasangan U-ditch", progress_percent=60,
                            at="2028-05-10", photo_url="https://files.kota.example/musrenbang/u-2027-000123-m2.jpg",
                            note="Tersisa 50 meter", actor_role="agency_verifier", recorded_at="2028-05-11T02:00:00Z")

    ce_type: Literal["kota.musrenbang.milestone-recorded.v1"] = "kota.musrenbang.milestone-recorded.v1"
    proposal_id: str = PROPOSAL_ID
    title: str = Field(description="what was reached")
    progress_percent: int = Field(ge=0, le=100, description="physical progress of the works, percent")
    at: date = Field(description="the day it was reached")
    photo_url: str = Field("", description="a photo of the works, if any")
    note: str = Field("", description="a note, scrubbed of personal data")
    actor_role: str = ACTOR_ROLE
    recorded_at: datetime = Field(description="when it was recorded (UTC)")


TOPIC_SPEC = register_topic(
    TopicSpec(
        name=TOPIC,
        key="proposal id (a selection: the kecamatan code)",
        description="Every change to a development-planning (musrenbang) proposal: submission, verification, "
        "ranking, supports, merges, acceptance into the work plan and realisation; and each kecamatan forum's "
        "published selection. Ordered per proposal.",
        payloads=(
            ProposalSubmitted,
            ProposalStatusChanged,
            ProposalSupportCountChanged,
            ProposalsMerged,
            SelectionPublished,
            MilestoneRecorded,
        ),
    )
)
