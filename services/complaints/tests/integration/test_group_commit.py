"""Use cases batched in one group commit see each other's writes, which reach the database only at commit."""

import threading
import time

import pytest
from sqlalchemy import func, select

from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.errors import InvalidArgument
from kota_common.group_commit import GroupCommitWriter
from kota_common.outbox import OutboxMessage
from kota_complaints.config import ComplaintsSettings
from kota_complaints.entrypoints.app import MIGRATIONS, load_context
from kota_complaints.service_layer import services
from kota_complaints.service_layer.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration


def submission(**overrides) -> services.SubmitComplaint:
    fields = dict(
        channel="web", service_code="waste", description="sampah menumpuk di pinggir kali",
        lat=-6.1702, lon=106.8320, contact=services.Contact(email="warga@contoh.id"),
    )
    return services.SubmitComplaint(**{**fields, **overrides})


def run_in_one_batch(writer: GroupCommitWriter, ctx, commands) -> list:
    """Queues every command before the writer starts, so that its first batch holds them all, in order."""
    outcomes: list = [None] * len(commands)

    def call(i, cmd):
        try:
            outcomes[i] = writer.run(lambda uow: services.submit_complaint(cmd, uow, ctx))
        except Exception as exc:  # the outcome under test
            outcomes[i] = exc

    threads = []
    for i, cmd in enumerate(commands):
        threads.append(threading.Thread(target=call, args=(i, cmd)))
        threads[-1].start()
        while writer._queue.qsize() < i + 1:  # keep the order of the batch
            time.sleep(0.005)
    writer.start()
    for t in threads:
        t.join(30)
    writer.stop()
    return outcomes


def test_a_batch_sees_its_own_submissions_and_refuses_one_alone(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    ctx = load_context(engine, ComplaintsSettings(database_url=database_url))
    writer = GroupCommitWriter(engine, lambda session: UnitOfWork(session=session), lambda changed: None)
    first, duplicate, invalid, resent = run_in_one_batch(writer, ctx, [
        submission(idempotency_key="gc-first"),
        submission(description="sampah lagi, bau sekali"),  # same category and place: a duplicate
        submission(service_code="no-such-category"),
        submission(idempotency_key="gc-first"),  # the first one sent again
    ])
    assert writer.batches == 1 and writer.items == 4
    master, _code = first
    assert duplicate[0].duplicate_of == master.id
    assert isinstance(invalid, InvalidArgument)
    assert resent[0].id == master.id

    with UnitOfWork(engine) as uow:
        stored = uow.complaints.get(master.id)
        assert stored.supporters_count == 1 and stored.duplicate_of is None  # one report supports it
        assert uow.complaints.get(duplicate[0].id).duplicate_of == master.id
    with engine.connect() as conn:
        events = conn.execute(
            select(OutboxMessage.key, func.count()).group_by(OutboxMessage.key)
        ).all()
    per_complaint = dict(events)
    assert set(per_complaint) == {master.id, duplicate[0].id}  # nothing from the refused one
    engine.dispose()


def test_duplicates_of_one_stored_master_in_one_batch_see_each_others_changes(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    ctx = load_context(engine, ComplaintsSettings(database_url=database_url))

    def writer() -> GroupCommitWriter:
        return GroupCommitWriter(engine, lambda session: UnitOfWork(session=session), lambda changed: None)

    [(master, _code)] = run_in_one_batch(writer(), ctx, [submission()])
    batch = writer()
    first, second, elsewhere = run_in_one_batch(batch, ctx, [
        submission(description="sampah lagi, bau sekali"),
        submission(description="masih belum diangkut"),
        submission(lat=-6.2500, lon=106.9000),  # far away: not a duplicate, its insert stays queued meanwhile
    ])
    assert batch.batches == 1
    assert first[0].duplicate_of == second[0].duplicate_of == master.id and elsewhere[0].duplicate_of is None
    with UnitOfWork(engine) as uow:
        stored = uow.complaints.get(master.id)
        assert stored.supporters_count == 2
        assert [e.kind for e in stored.history].count("duplicate") == 2  # the second link saw the first's entry
        assert uow.complaints.get(elsewhere[0].id) is not None
    engine.dispose()


def test_under_load_a_lone_submission_waits_for_company_before_its_commit(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    ctx = load_context(engine, ComplaintsSettings(database_url=database_url))
    # A long delay, so that the second submission is surely queued within it.
    writer = GroupCommitWriter(engine, lambda session: UnitOfWork(session=session), lambda changed: None,
                               commit_delay=2.0)
    outcomes: list = []

    def submit(cmd):
        outcomes.append(writer.run(lambda uow: services.submit_complaint(cmd, uow, ctx)))

    load = [threading.Thread(target=submit, args=(submission(lat=lat),)) for lat in (-6.20, -6.21)]
    for t in load:
        t.start()
    while writer._queue.qsize() < 2:
        time.sleep(0.005)
    writer.start()  # load: its first batch holds two
    for t in load:
        t.join(30)
    first = threading.Thread(target=submit, args=(submission(lat=-6.22),))
    first.start()
    while writer._queue.qsize():  # the writer took it and is waiting for company
        time.sleep(0.005)
    second = threading.Thread(target=submit, args=(submission(lat=-6.23),))
    second.start()
    first.join(30)
    second.join(30)
    writer.stop()
    assert len(outcomes) == 4
    assert (writer.batches, writer.items) == (2, 4)  # the last two came in one batch
    engine.dispose()
