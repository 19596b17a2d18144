"""What musrenbang events add up to in open data: order, repeats and what may be published (no I/O)."""

import itertools
import json
from datetime import date, datetime, timedelta, timezone

import pytest

from kota_common.events import musrenbang as ev
from kota_common.reference import AreaDirectory
from kota_opendata.domain import anonymise, catalog
from kota_opendata.domain import musrenbang as mus

AREAS = AreaDirectory.load_jakarta()
T0 = datetime(2027, 1, 25, 3, 17, 42, 123456, tzinfo=timezone.utc)
PID = "U-2027-000123"
NIK = "3171014508900001"


def submitted(**kw) -> ev.ProposalSubmitted:
    values = dict(
        proposal_id=PID, cycle_year=2027, title=f"Saluran Jl. Kebon Kelapa, hubungi NIK {NIK}",
        problem="Meluap tiap hujan; telp 0812-3456-7890", activity_code="DRN-01",
        activity_name="Saluran drainase lingkungan", field="infrastruktur", agency_code="DSDA", volume=120,
        unit="meter", unit_cost=1_500_000, cost=180_000_000,
        location=ev.LocationRef(kelurahan_code="31.71.01.1001", kecamatan_code="31.71.01", kota_code="31.71", rw="003",
                                lat=-6.175412, lon=106.827234),
        level="kelurahan", photo_url="https://files.example/u.jpg", submitted_at=T0)
    return ev.ProposalSubmitted(**(values | kw))


def status(to, at, reason="", level="kelurahan", rank=None, frm="submitted") -> ev.ProposalStatusChanged:
    return ev.ProposalStatusChanged(proposal_id=PID, from_status=frm, to_status=to, from_level=level, to_level=level,
                                    actor_role="lurah", rank=rank, reason=reason, changed_at=at)


def supports(n, at) -> ev.ProposalSupportCountChanged:
    return ev.ProposalSupportCountChanged(proposal_id=PID, support_count=n, changed_at=at)


def apply(state: mus.ProposalState, payload) -> None:
    if isinstance(payload, ev.ProposalSubmitted):
        mus.submit(state, mus.public_submission(payload, AREAS, 100.0))
    elif isinstance(payload, ev.ProposalStatusChanged):
        mus.change_status(state, payload)
    elif isinstance(payload, ev.ProposalSupportCountChanged):
        mus.count_supports(state, payload.support_count, payload.changed_at)
    elif isinstance(payload, ev.MilestoneRecorded):
        mus.record_milestone(state, payload)
    else:
        raise AssertionError(payload)


def fold(events) -> mus.ProposalState:
    state = mus.ProposalState(PID)
    for e in events:
        apply(state, e)
        state = mus.ProposalState.from_json(state.to_json())  # as stored between events
    return state


def test_a_proposal_row_is_a_whitelist_scrubbed_gridded_and_dated_with_area_names():
    row = mus.proposal_row(fold([submitted()]))
    assert row is not None
    assert set(row) == {f[0] for f in catalog.MUSRENBANG_PROPOSALS.fields}
    assert NIK not in json.dumps(row) and "[nik]" in row["title"] and "[phone]" in row["problem"]
    assert "photo" not in json.dumps(row) and "files.example" not in json.dumps(row)
    assert (row["lat"], row["lon"]) == anonymise.coarsen_point(-6.175412, 106.827234, 100.0) != (-6.175412, 106.827234)
    assert row["submitted_date"] == "2027-01-25" and row["status_date"] == "2027-01-25"
    assert (row["status"], row["level"], row["support_count"], row["merged_into"]) == ("submitted", "kelurahan", 0, None)
    assert row["kelurahan"] == AREAS.find_kelurahan("31.71.01.1001").name
    assert row["kecamatan"] == AREAS.find_kecamatan("31.71.01").name and row["kota"] == AREAS.find_kota("31.71").name


def test_a_support_count_before_the_submission_waits_for_it_and_is_kept():
    state = fold([supports(7, T0 + timedelta(hours=1))])
    assert mus.proposal_row(state) is None  # nothing public without the submission
    state = fold([supports(7, T0 + timedelta(hours=1)), submitted()])
    assert mus.proposal_row(state)["support_count"] == 7


def test_late_or_repeated_changes_never_wind_a_proposal_back():
    h = [T0 + timedelta(hours=i) for i in range(6)]
    events = [submitted(), supports(3, h[1]), status("verified", h[2], "Lokasi sudah dicek"), supports(5, h[3]),
              status("prioritised", h[4], rank=2, frm="verified")]
    expected = mus.proposal_row(fold(events))
    assert (expected["status"], expected["rank"], expected["support_count"]) == ("prioritised", 2, 5)
    # every order of the same events, and every event twice, give the same row
    for order in itertools.permutations(events):
        assert mus.proposal_row(fold(list(order))) == expected, order
    assert mus.proposal_row(fold(events + events[::-1])) == expected


def test_a_rejection_keeps_its_scrubbed_reason_and_a_level_change_clears_the_rank():
    state = fold([submitted(), status("prioritised", T0 + timedelta(hours=1), rank=1),
                  status("rejected", T0 + timedelta(hours=2), reason=f"Aset swasta, lapor NIK {NIK}")])
    row = mus.proposal_row(state)
    assert row["status"] == "rejected" and "[nik]" in row["status_reason"] and NIK not in row["status_reason"]
    moved = ev.ProposalStatusChanged(proposal_id=PID, from_status="prioritised", to_status="prioritised",
                                     from_level="kelurahan", to_level="kecamatan", actor_role="tim_kecamatan",
                                     changed_at=T0 + timedelta(hours=3))
    state = fold([submitted(), status("prioritised", T0 + timedelta(hours=1), rank=1), moved])
    assert (state.level, state.rank) == ("kecamatan", None)


def test_a_merge_marks_the_source_and_a_late_merge_does_not_undo_a_later_status():
    source = fold([submitted()])
    merge = ev.ProposalsMerged(proposal_id=PID, merged_into="U-2027-000001", support_count=9, actor_role="lurah",
                               merged_at=T0 + timedelta(hours=2))
    mus.merge_away(source, merge)
    row = mus.proposal_row(source)
    assert (row["status"], row["merged_into"]) == ("merged", "U-2027-000001")
    with pytest.raises(mus.InvalidMusrenbangEvent):
        mus.merge_away(source, merge.model_copy(update={"merged_into": PID}))


def milestone(pct, day, recorded, title="Galian") -> ev.MilestoneRecorded:
    return ev.MilestoneRecorded(proposal_id=PID, title=title, progress_percent=pct, at=day, note="telp 081234567890",
                                actor_role="agency_verifier", recorded_at=recorded)


def test_realisation_appears_once_accepted_with_the_latest_milestone_and_the_reason_when_not_realised():
    base = [submitted(), status("accepted", T0 + timedelta(days=60), "ditetapkan dalam RKPD")]
    assert mus.realisation_row(fold(base[:1])) is None
    row = mus.realisation_row(fold(base))
    assert set(row) == {f[0] for f in catalog.MUSRENBANG_REALISATION.fields}
    assert (row["status"], row["accepted_date"], row["progress_percent"]) == ("accepted", "2027-03-26", None)
    later, earlier = (milestone(60, date(2028, 5, 10), T0 + timedelta(days=470), "U-ditch"),
                      milestone(30, date(2028, 4, 1), T0 + timedelta(days=480), "Galian"))  # recorded late
    for order in ((later, earlier), (earlier, later)):
        row = mus.realisation_row(fold([*base, status("in_realisation", T0 + timedelta(days=400)), *order]))
        assert (row["progress_percent"], row["milestone_title"], row["milestone_date"]) == (60, "U-ditch", "2028-05-10")
        assert "[phone]" in row["milestone_note"] and row["last_change_date"] == "2028-05-10"
    stopped = fold([*base, status("not_realised", T0 + timedelta(days=400), "Lahan bersengketa")])
    row = mus.realisation_row(stopped)
    assert (row["status"], row["not_realised_reason"]) == ("not_realised", "Lahan bersengketa")


def selection(**kw) -> ev.SelectionPublished:
    values = dict(kecamatan_code="31.71.01", cycle_year=2027, budget=500_000_000, field_minimums={"ekonomi": 1},
                  agency_ceilings={}, selected_ids=[PID], total_score=78.5, total_cost=180_000_000,
                  decisions=[ev.SelectionDecision(proposal_id=PID, selected=True, score=78.5, cost=180_000_000,
                                                  reason="terpilih"),
                             ev.SelectionDecision(proposal_id="U-2027-000124", selected=False, score=40.0,
                                                  cost=400_000_000, reason=f"melebihi pagu; NIK {NIK}")],
                  solver="HiGHS", status="optimal", published_at=T0)
    return ev.SelectionPublished(**(values | kw))


def test_a_selection_is_one_row_per_decision_with_its_budget_and_totals():
    rows = mus.decision_rows(selection(), AREAS)
    assert [set(r) for r in rows] == [{f[0] for f in catalog.MUSRENBANG_SELECTIONS.fields}] * 2
    assert [(r["proposal_id"], r["selected"]) for r in rows] == [(PID, True), ("U-2027-000124", False)]
    assert rows[1]["reason"] == "melebihi pagu; NIK [nik]"
    assert rows[0]["kecamatan"] == AREAS.find_kecamatan("31.71.01").name and rows[0]["kota_code"] == "31.71"
    assert (rows[0]["budget"], rows[0]["selected_count"], rows[0]["candidate_count"]) == (500_000_000, 1, 2)
    assert json.loads(rows[0]["field_minimums"]) == {"ekonomi": 1} and rows[0]["published_at"] == "2027-01-25T03:17:42"


def test_a_selection_that_is_not_optimal_or_decides_twice_breaks_the_contract():
    with pytest.raises(mus.InvalidMusrenbangEvent):
        mus.decision_rows(selection(status="time_limit"), AREAS)
    twice = selection()
    twice.decisions.append(twice.decisions[0])
    with pytest.raises(mus.InvalidMusrenbangEvent):
        mus.decision_rows(twice, AREAS)


def test_clocks_sort_as_text_across_microseconds_and_offsets():
    plus7 = timezone(timedelta(hours=7))
    assert mus.stamp(T0.replace(microsecond=0)) < mus.stamp(T0) < mus.stamp(T0.astimezone(plus7) + timedelta(seconds=1))
    assert mus.stamp(T0.replace(tzinfo=None)) == mus.stamp(T0)
