"""The musrenbang projection on a real database (SQLite and PostgreSQL), without the broker: a batch and one event
at a time agree, and what an event leaves as it is is not touched (records, counts, metadata)."""

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlmodel import Session

from kota_common import envelope
from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.eventbus import PoisonMessage
from kota_common.events import musrenbang as ev
from kota_opendata.adapters.orm import DatasetRow
from kota_opendata.domain import catalog
from kota_opendata.entrypoints.app import MIGRATIONS
from kota_opendata.service_layer.catalog import ensure_catalog
from kota_opendata.service_layer.projections import Projector
from kota_opendata.service_layer.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration

T0 = datetime(2027, 1, 25, 3, tzinfo=timezone.utc)
EVENT = envelope.Event(type="kota.musrenbang.test", source="/test", subject="", data={})


def events(prefix: str) -> list:
    pid, other = f"{prefix}-1", f"{prefix}-2"
    loc = ev.LocationRef(kelurahan_code="31.71.01.1001", kecamatan_code="31.71.01", kota_code="31.71", rw="001",
                         lat=-6.17, lon=106.82)

    def submitted(p, at):
        return ev.ProposalSubmitted(proposal_id=p, cycle_year=2027, title="Lampu jalan", problem="Gelap",
                                    activity_code="PJU-01", activity_name="Penerangan jalan", field="infrastruktur",
                                    agency_code="DBM", volume=4, unit="titik", unit_cost=10, cost=40, location=loc,
                                    level="kelurahan", submitted_at=at)

    def status(p, frm, to, at, reason=""):
        return ev.ProposalStatusChanged(proposal_id=p, from_status=frm, to_status=to, from_level="kota",
                                        to_level="kota", actor_role="bappeda", reason=reason, changed_at=at)

    def selected(decisions, at):
        return ev.SelectionPublished(
            kecamatan_code="31.71.01", cycle_year=2027, budget=100, selected_ids=[], total_score=1.0, total_cost=40,
            decisions=[ev.SelectionDecision(proposal_id=p, selected=s, score=1.0, cost=40, reason="r")
                       for p, s in decisions], solver="HiGHS", status="optimal", published_at=at)

    return [
        ev.ProposalSupportCountChanged(proposal_id=pid, support_count=3, changed_at=T0 + timedelta(hours=1)),
        submitted(pid, T0), submitted(other, T0),
        selected([(pid, True), (other, False)], T0 + timedelta(days=20)),
        status(pid, "prioritised", "accepted", T0 + timedelta(days=60)),
        status(other, "prioritised", "accepted", T0 + timedelta(days=60)),
        status(pid, "accepted", "in_realisation", T0 + timedelta(days=300)),
        ev.MilestoneRecorded(proposal_id=pid, title="Tiang", progress_percent=50, at=date(2027, 11, 1),
                             actor_role="agency_verifier", recorded_at=T0 + timedelta(days=301)),
        status(other, "accepted", "not_realised", T0 + timedelta(days=310), "Anggaran dialihkan"),
        selected([(pid, True)], T0 + timedelta(days=21)),  # republished: the other decision goes
    ]


def records(engine, tables, name, prefix):
    table = tables[name].table
    with engine.connect() as conn:
        found = conn.execute(select(table).where(table.c.proposal_id.like(f"{prefix}-%"))
                             .order_by(table.c.proposal_id)).mappings().all()
    return [{k: v for k, v in r.items() if k not in ("_id", "_text")} for r in found]


def metadata(engine, tables):
    with Session(engine) as session:
        return {name: (row.record_count, row.metadata_modified)
                for name in (catalog.MUSRENBANG_PROPOSALS.name, catalog.MUSRENBANG_SELECTIONS.name,
                             catalog.MUSRENBANG_REALISATION.name)
                if (row := session.get(DatasetRow, tables[name].dataset_id))}


def test_a_batch_and_single_events_agree_and_a_repeat_touches_nothing(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    tables = ensure_catalog(UnitOfWork(engine))
    projector = Projector(tables, announce_interval=3600)
    names = (catalog.MUSRENBANG_PROPOSALS.name, catalog.MUSRENBANG_REALISATION.name)
    with Session(engine) as session:  # one transaction, as the batch handler does
        projector.begin_batch(session)
        for payload in events("B"):
            projector.on_musrenbang(session, EVENT, payload)
        projector.end_batch(session)
        session.commit()
    for payload in events("S"):
        with Session(engine) as session:
            projector.on_musrenbang(session, EVENT, payload)
            session.commit()

    def strip(rows, prefix):
        return [r | {"_key": r["_key"].removeprefix(prefix), "proposal_id": r["proposal_id"].removeprefix(prefix)}
                for r in rows]

    for name in names:
        assert strip(records(engine, tables, name, "B"), "B") == strip(records(engine, tables, name, "S"), "S")
    proposals = records(engine, tables, names[0], "S")
    assert [(p["status"], p["support_count"]) for p in proposals] == [("in_realisation", 3), ("not_realised", 0)]
    realised = records(engine, tables, names[1], "S")
    assert [(r["status"], r["progress_percent"], r["not_realised_reason"]) for r in realised] == [
        ("in_realisation", 50, None), ("not_realised", None, "Anggaran dialihkan")]
    # the selections of both runs share a kecamatan and cycle: the last published replaced the earlier ones
    selections = tables[catalog.MUSRENBANG_SELECTIONS.name].table
    with engine.connect() as conn:
        kept = conn.execute(select(selections.c.proposal_id, selections.c.selected)).all()
    assert sorted(kept) == [("S-1", True)]

    before = metadata(engine, tables)
    assert before[catalog.MUSRENBANG_SELECTIONS.name][0] == 1  # S-1 only: the rest were replaced
    assert before[names[0]][0] == 4 and before[names[1]][0] == 4
    for payload in events("S"):  # resent with new ce_ids: every record is already so
        with Session(engine) as session:
            projector.on_musrenbang(session, EVENT, payload)
            session.commit()
    assert metadata(engine, tables) == before
    engine.dispose()


def test_events_that_break_the_contract_are_poison(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    projector = Projector(ensure_catalog(UnitOfWork(engine)))
    bad = ev.ProposalsMerged(proposal_id="X-1", merged_into="X-1", support_count=1, actor_role="lurah", merged_at=T0)
    with Session(engine) as session, pytest.raises(PoisonMessage, match="into itself"):
        projector.on_musrenbang(session, EVENT, bad)
    engine.dispose()
