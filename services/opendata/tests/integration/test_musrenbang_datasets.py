"""The musrenbang live datasets: musrenbang.events.v1 published to the real broker as the musrenbang service does,
read back through the open data gRPC API, on SQLite and PostgreSQL."""

import json
import random
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from kota.opendata.v1 import opendata_pb2 as pb
from kota_common import envelope
from kota_common.events import musrenbang as ev
from kota_opendata.domain.anonymise import coarsen_point

pytestmark = pytest.mark.integration

TOPIC = ev.TOPIC
PROPOSALS, SELECTIONS, REALISATION = "usulan-musrenbang", "pilihan-forum-musrenbang", "realisasi-musrenbang"
NIK = "3171014508900001"
LAT, LON = -6.175412, 106.827234


def ids(n: int) -> list[str]:
    run = uuid.uuid4().hex[:8].upper()  # the broker outlives a test: proposals of other runs are on the topic
    return [f"U-T{run}-{i}" for i in range(n)]


def submitted(pid: str, at: datetime, year: int, **kw) -> ev.ProposalSubmitted:
    values = dict(
        proposal_id=pid, cycle_year=year, title=f"Saluran Jl. Kebon Kelapa {NIK}", problem="Meluap setiap hujan",
        activity_code="DRN-01", activity_name="Saluran drainase lingkungan", field="infrastruktur", agency_code="DSDA",
        volume=120, unit="meter", unit_cost=1_500_000, cost=180_000_000,
        location=ev.LocationRef(kelurahan_code="31.71.01.1001", kecamatan_code="31.71.01", kota_code="31.71", rw="003",
                                lat=LAT, lon=LON),
        level="kelurahan", photo_url="https://files.example/rumah-pak-budi.jpg", submitted_at=at)
    return ev.ProposalSubmitted(**(values | kw))


def changed(pid: str, frm: str, to: str, at: datetime, *, level="kelurahan", to_level=None, rank=None, reason=""):
    return ev.ProposalStatusChanged(proposal_id=pid, from_status=frm, to_status=to, from_level=level,
                                    to_level=to_level or level, actor_role="lurah", rank=rank, reason=reason,
                                    changed_at=at)


def supports(pid: str, n: int, at: datetime) -> ev.ProposalSupportCountChanged:
    return ev.ProposalSupportCountChanged(proposal_id=pid, support_count=n, changed_at=at)


def selection(year: int, decisions: list[tuple[str, bool, str]], at: datetime, **kw) -> ev.SelectionPublished:
    chosen = [ev.SelectionDecision(proposal_id=p, selected=s, score=70.0, cost=180_000_000, reason=r)
              for p, s, r in decisions]
    values = dict(kecamatan_code="31.71.01", cycle_year=year, budget=500_000_000, field_minimums={},
                  agency_ceilings={"DSDA": 400_000_000}, selected_ids=[d.proposal_id for d in chosen if d.selected],
                  total_score=70.0 * sum(d.selected for d in chosen),
                  total_cost=180_000_000 * sum(d.selected for d in chosen), decisions=chosen,
                  solver="HiGHS (scipy.optimize.milp)", status="optimal", published_at=at)
    return ev.SelectionPublished(**(values | kw))


def one(od, od_query, eventually, dataset, pid, check=lambda r: True):
    """The record of `pid` once it satisfies `check`."""
    rows = eventually(lambda: [r for r in od_query(od, dataset, {"proposal_id": pid})[0] if check(r)])
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture
def od(start_opendata):
    return start_opendata()[1]


def test_a_proposal_its_selection_and_realisation_appear_anonymised_and_late_or_repeated_events_change_nothing(
    od, publish, od_query, eventually
):
    year = random.randint(2100, 9999)  # a cycle of its own: selections are keyed by kecamatan and cycle
    t = datetime(2027, 1, 25, 3, tzinfo=timezone.utc)
    main, other, merged, dropped = ids(4)
    sent = [
        publish(TOPIC, main, supports(main, 4, t + timedelta(hours=1))),  # before the submission it counts
        publish(TOPIC, main, submitted(main, t, year)),
        publish(TOPIC, main, changed(main, "submitted", "verified", t + timedelta(days=5), reason="Lokasi dicek")),
        publish(TOPIC, main, changed(main, "verified", "prioritised", t + timedelta(days=20), level="kelurahan",
                                     to_level="kecamatan", rank=2)),
        publish(TOPIC, merged, submitted(merged, t + timedelta(hours=2), year, title="Saluran Kebon Kelapa juga")),
        publish(TOPIC, merged, ev.ProposalsMerged(proposal_id=merged, merged_into=main, support_count=12,
                                                  actor_role="lurah", merged_at=t + timedelta(days=6))),
        publish(TOPIC, other, submitted(other, t + timedelta(hours=3), year, title="Lampu jalan RW 03")),
        publish(TOPIC, dropped, submitted(dropped, t + timedelta(hours=4), year)),
    ]
    row = one(od, od_query, eventually, PROPOSALS, main, lambda r: r["status"] == "prioritised" and r["support_count"] == 12)
    text = json.dumps(row)
    assert NIK not in text and "[nik]" in row["title"], row
    assert "files.example" not in text and "pak-budi" not in text  # photos are never published
    assert (row["lat"], row["lon"]) == coarsen_point(LAT, LON) != (LAT, LON)
    assert (row["level"], row["rank"], row["rw"], row["kelurahan_code"]) == ("kecamatan", 2, "003", "31.71.01.1001")
    assert row["kecamatan"] and row["kota"] and row["cost"] == 180_000_000 and row["submitted_date"] == "2027-01-25"
    assert one(od, od_query, eventually, PROPOSALS, merged)["merged_into"] == main
    assert one(od, od_query, eventually, PROPOSALS, merged)["status"] == "merged"
    for pid in (main, merged, other, dropped):  # no text field of any record could carry the NIK
        assert NIK not in json.dumps(one(od, od_query, eventually, PROPOSALS, pid))

    # The kecamatan forum selects, then publishes again (a correction): the second replaces the first.
    t_sel = t + timedelta(days=25)
    publish(TOPIC, "31.71.01", selection(year, [(main, True, "terpilih: skor 70"), (other, False, "melebihi pagu"),
                                                (dropped, False, "pagu")], t_sel))
    eventually(lambda: len(od_query(od, SELECTIONS, {"cycle_year": year})[0]) == 3)
    publish(TOPIC, "31.71.01", selection(year, [(main, True, "terpilih: skor 70"),
                                                (other, False, f"melebihi pagu DSDA; lapor {NIK}")],
                                         t_sel + timedelta(hours=1)))
    decisions = eventually(lambda: (lambda rs: rs if len(rs) == 2 else None)(
        od_query(od, SELECTIONS, {"cycle_year": year}, sort="proposal_id asc")[0]))
    assert [(d["proposal_id"], d["selected"]) for d in decisions] == [(main, True), (other, False)]
    assert decisions[1]["reason"] == "melebihi pagu DSDA; lapor [nik]"
    assert decisions[0]["budget"] == 500_000_000 and decisions[0]["selected_count"] == 1
    assert json.loads(decisions[0]["agency_ceilings"]) == {"DSDA": 400_000_000} and decisions[0]["kecamatan"]

    # Accepted into the work plan; realised with milestones (one recorded late for an earlier day), or not.
    day = t + timedelta(days=60)
    sent += [
        publish(TOPIC, main, changed(main, "prioritised", "accepted", day, level="provinsi")),
        publish(TOPIC, main, changed(main, "accepted", "in_realisation", day + timedelta(days=300), level="provinsi")),
        publish(TOPIC, main, ev.MilestoneRecorded(proposal_id=main, title="Galian dan U-ditch", progress_percent=60,
                                                  at=date(2028, 5, 10), note="Tersisa 50 meter",
                                                  actor_role="agency_verifier",
                                                  recorded_at=datetime(2028, 5, 11, tzinfo=timezone.utc))),
        publish(TOPIC, main, ev.MilestoneRecorded(proposal_id=main, title="Galian", progress_percent=30,
                                                  at=date(2028, 4, 1), actor_role="agency_verifier",
                                                  recorded_at=datetime(2028, 5, 12, tzinfo=timezone.utc))),
        publish(TOPIC, other, changed(other, "prioritised", "accepted", day, level="provinsi")),
        publish(TOPIC, other, changed(other, "accepted", "not_realised", day + timedelta(days=200), level="provinsi",
                                      reason="Lahan bersengketa")),
    ]
    realised = one(od, od_query, eventually, REALISATION, main, lambda r: r["status"] == "in_realisation"
                   and r["progress_percent"] == 60)
    assert (realised["milestone_title"], realised["milestone_date"]) == ("Galian dan U-ditch", "2028-05-10")
    assert realised["accepted_date"] == "2027-03-26" and NIK not in json.dumps(realised)
    stopped = one(od, od_query, eventually, REALISATION, other, lambda r: r["status"] == "not_realised")
    assert stopped["not_realised_reason"] == "Lahan bersengketa"
    assert od_query(od, REALISATION, {"proposal_id": dropped})[0] == []  # never accepted: not in the realisation

    # Everything again (same ce_ids), then late resends (new ce_ids, old times) of a status, a count and the first
    # selection, then a marker: nothing may move back.
    before = {ds: od_query(od, ds, {"proposal_id": [main, other, merged, dropped]}, sort="proposal_id asc")[0]
              for ds in (PROPOSALS, REALISATION)}
    dataset_before = od.GetDataset(pb.GetDatasetRequest(id=PROPOSALS), timeout=10).dataset
    for event in sent:
        publish.raw(TOPIC, *envelope.encode(event, event.subject))
    publish(TOPIC, main, changed(main, "submitted", "verified", t + timedelta(days=5), reason="Lokasi dicek"))
    publish(TOPIC, main, supports(main, 4, t + timedelta(hours=1)))
    publish(TOPIC, "31.71.01", selection(year, [(main, False, "lama"), (dropped, True, "lama")], t_sel))
    publish(TOPIC, dropped, supports(dropped, 1, t + timedelta(days=1)))  # the marker
    one(od, od_query, eventually, PROPOSALS, dropped, lambda r: r["support_count"] == 1)
    after = {ds: od_query(od, ds, {"proposal_id": [main, other, merged, dropped]}, sort="proposal_id asc")[0]
             for ds in (PROPOSALS, REALISATION)}
    moved = [r for r in after[PROPOSALS] if r["proposal_id"] == dropped]
    assert [r for r in after[PROPOSALS] if r["proposal_id"] != dropped] == \
        [r for r in before[PROPOSALS] if r["proposal_id"] != dropped]
    assert after[REALISATION] == before[REALISATION]
    assert moved[0] == [r for r in before[PROPOSALS] if r["proposal_id"] == dropped][0] | {"support_count": 1}
    assert od_query(od, SELECTIONS, {"cycle_year": year}, sort="proposal_id asc")[0] == decisions
    dataset_after = od.GetDataset(pb.GetDatasetRequest(id=PROPOSALS), timeout=10).dataset
    assert dataset_after.record_count == dataset_before.record_count  # replays inserted nothing

    # In the catalogue, Bappeda's, with their fields.
    found = od.SearchDatasets(pb.SearchDatasetsRequest(q="musrenbang", fq="organization:bappeda", rows=50),
                              timeout=10)
    assert {PROPOSALS, SELECTIONS, REALISATION} <= {d.name for d in found.results}
    for name in (PROPOSALS, SELECTIONS, REALISATION):
        dataset = od.GetDataset(pb.GetDatasetRequest(id=name), timeout=10).dataset
        assert dataset.organization.name == "bappeda" and dataset.source == "events" and dataset.record_count >= 2
        assert "perencanaan" in [g.name for g in dataset.groups] and dataset.notes
    proposals = od.GetDataset(pb.GetDatasetRequest(id=PROPOSALS), timeout=10).dataset
    assert proposals.spatial and "support_count" in [f.id for f in proposals.fields]


def test_a_bad_musrenbang_event_goes_to_the_dlq_and_the_consumer_carries_on(od, publish, od_query, eventually,
                                                                             topic_reader):
    dlq = topic_reader(f"{TOPIC}.dlq")
    year = random.randint(2100, 9999)
    bad, good = ids(2)
    t = datetime(2027, 1, 25, 3, tzinfo=timezone.utc)
    invalid = envelope.Event(type="kota.musrenbang.proposal-submitted.v1", source="/kota/test", subject=bad,
                             data=submitted(bad, t, year).to_data() | {"volume": 0})  # breaks the payload model
    publish.raw(TOPIC, *envelope.encode(invalid, bad))
    # valid as a payload, but a selection that is not proven optimal is never published (the topic's contract)
    not_optimal = publish(TOPIC, "31.71.01", selection(year, [(good, True, "terpilih")], t, status="time_limit"))
    publish(TOPIC, good, submitted(good, t, year))
    one(od, od_query, eventually, PROPOSALS, good)

    def ce_ids(records):
        return {dict(m.headers()).get("ce_id") for m in records}

    assert dlq.wait_for(lambda rs: {invalid.id.encode(), not_optimal.id.encode()} <= ce_ids(rs))
    assert od_query(od, PROPOSALS, {"proposal_id": bad})[0] == []
    assert od_query(od, SELECTIONS, {"cycle_year": year})[0] == []
