"""Supports applied as a set in one group commit (services.apply_supports, repository.add_supports): the same
answers as one after another, on SQLite and PostgreSQL, and exact when another writer takes a quota meanwhile."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, func, select, text

from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.errors import FailedPrecondition
from kota_common.group_commit import GroupCommitWriter
from kota_common.outbox import OutboxMessage
from kota_musrenbang.adapters.orm import ProposalRow, SupportQuotaRow, SupportRow
from kota_musrenbang.config import MusrenbangSettings
from kota_musrenbang.domain.cycle import PlanningCycle
from kota_musrenbang.domain.nik import parse_nik
from kota_musrenbang.entrypoints.app import MIGRATIONS, context
from kota_musrenbang.service_layer import services
from kota_musrenbang.service_layer.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration

GAMBIR = "31.71.01.1001"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def nik(serial: int) -> str:
    return f"317101120190{serial:04d}"


@pytest.fixture
def world(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    settings = MusrenbangSettings(database_url=database_url, support_limit=2)
    ctx = context(settings, clock=lambda: NOW, cycle=PlanningCycle.demo(NOW, support_limit=2))
    ids = []
    for serial in (1, 2, 3):
        view, _similar = services.submit_proposal(ctx, UnitOfWork(engine), services.SubmitProposal(
            nik=nik(serial), title=f"Penerangan jalan gang nomor {serial}", activity_code="PJU-01", volume=2,
            kelurahan_code=GAMBIR, problem="Gang gelap pada malam hari; warga khawatir akan keamanan."))
        ids.append(view.proposal.id)
    yield engine, ctx, ids
    engine.dispose()


def writer_of(engine, ctx) -> GroupCommitWriter:
    return GroupCommitWriter(engine, lambda session: UnitOfWork(session=session, catalogue=ctx.catalogue),
                             lambda changed: None)


def support_in_one_batch(engine, ctx, attempts: list[tuple[str, int]]) -> tuple[list, GroupCommitWriter]:
    """Each (proposal, resident) through services.support, all queued before the writer starts, in this order, so
    that its first batch holds them all."""
    writer = writer_of(engine, ctx)
    apply = lambda uow, wishes: services.apply_supports(ctx, uow, wishes)  # noqa: E731  one object for the batch
    outcomes: list = [None] * len(attempts)

    def call(i: int, pid: str, serial: int) -> None:
        try:
            outcomes[i] = services.support(ctx, UnitOfWork(engine), lambda wish: writer.run_together(apply, wish),
                                           pid, nik(serial))
        except Exception as exc:  # the outcome under test
            outcomes[i] = exc

    threads = []
    for i, (pid, serial) in enumerate(attempts):
        threads.append(threading.Thread(target=call, args=(i, pid, serial)))
        threads[-1].start()
        deadline = time.monotonic() + 30
        while writer._queue.qsize() < i + 1:  # keep the order of the batch
            assert time.monotonic() < deadline, f"attempt {i} never queued: {outcomes[i]!r}"
            time.sleep(0.005)
    writer.start()
    for t in threads:
        t.join(30)
    writer.stop()
    return outcomes, writer


def test_a_batch_answers_as_one_support_after_another(world):
    engine, ctx, (p1, p2, p3) = world
    [alone], _ = support_in_one_batch(engine, ctx, [(p1, 9)])
    assert alone == (1, 1, True)

    outcomes, writer = support_in_one_batch(engine, ctx, [
        (p1, 9),  # supported already
        (p2, 9),  # resident 9's second: the limit reached
        (p2, 9),  # the same again in the batch
        (p3, 9),  # a third: refused
        (p1, 10), (p1, 11), (p3, 10),
    ])
    assert writer.batches == 1 and writer.items == 7
    refused = outcomes.pop(3)
    assert isinstance(refused, FailedPrecondition) and [f for f, _ in refused.violations] == ["nik"]
    assert outcomes == [(1, 1, False), (1, 0, True), (1, 0, False), (2, 1, True), (3, 1, True), (1, 0, True)]

    hashes = {serial: ctx.hasher.hash(parse_nik(nik(serial), today=NOW.date())) for serial in (9, 10, 11)}
    with engine.connect() as conn:
        counts = dict(conn.execute(select(ProposalRow.id, ProposalRow.support_count)).all())
        used = dict(conn.execute(select(SupportQuotaRow.resident_hash, SupportQuotaRow.used)).all())
        rows = conn.execute(select(func.count()).select_from(SupportRow)).scalar_one()
        events = conn.execute(select(OutboxMessage.key, OutboxMessage.payload)
                              .where(OutboxMessage.ce_type == "kota.musrenbang.support-count-changed.v1")
                              .order_by(OutboxMessage.id)).all()
    assert counts == {p1: 3, p2: 1, p3: 1} and rows == 5
    assert used == {hashes[9]: 2, hashes[10]: 2, hashes[11]: 1}
    # one event a support added, each with the count it left
    assert [(key, json.loads(payload)["support_count"]) for key, payload in events] == [
        (p1, 1), (p2, 1), (p1, 2), (p1, 3), (p3, 1)]

def test_a_quota_taken_meanwhile_by_another_writer_is_respected(world, database_url):
    """Another replica raises resident 9's quota between the batch's read of it and its upsert: the batch's
    conditional upsert refuses to pass the limit, and the resident's supports are then taken one at a time."""
    engine, ctx, (p1, p2, _p3) = world
    if engine.dialect.name != "postgresql":
        pytest.skip("one writer at a time on SQLite (the write lock): no other writer can come between")
    resident = ctx.hasher.hash(parse_nik(nik(9), today=NOW.date()))
    other = make_engine(database_url)
    raced = []

    @event.listens_for(engine, "before_cursor_execute")
    def another_replica_first(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO mb_support_quota") and not raced:
            raced.append(statement)
            with other.begin() as c:  # a support of resident 9 elsewhere, committed just now
                c.execute(text("INSERT INTO mb_support_quota (cycle_year, resident_hash, used) VALUES (:y, :r, 1)"),
                          {"y": ctx.cycle.year, "r": resident})

    try:
        outcomes, _writer = support_in_one_batch(engine, ctx, [(p1, 9), (p2, 9)])
    finally:
        event.remove(engine, "before_cursor_execute", another_replica_first)
        other.dispose()
    assert raced
    assert outcomes[0] == (1, 0, True)
    assert isinstance(outcomes[1], FailedPrecondition)
    with engine.connect() as conn:
        assert conn.execute(select(SupportQuotaRow.used)).scalar_one() == 2
        assert dict(conn.execute(select(ProposalRow.id, ProposalRow.support_count)).all())[p2] == 0
