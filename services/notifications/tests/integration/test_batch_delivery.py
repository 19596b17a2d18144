"""The set-wise paths of delivery on the real tables (SQLite and PostgreSQL): a batch of complaint events queues
exactly what the same events one at a time queue (acknowledged recipients, first and later routings, opt-outs,
complaints no one gave a channel for), and the dispatcher records many outcomes together, each only once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import Session

from kota_common.db.engines import make_engine, upgrade_to_head
from kota_notifications.adapters.repository import MessageFilter
from kota_notifications.domain.model import Channel, DeliveryStatus, Outcome, RetryPolicy, SendResult
from kota_notifications.domain.policy import ComplaintUpdate
from kota_notifications.domain.ratelimit import RateLimits
from kota_notifications.service_layer import services
from kota_notifications.service_layer.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration
MIGRATIONS = Path(services.__file__).resolve().parents[1] / "adapters" / "migrations"
T0 = datetime(2026, 3, 4, 7, 0, tzinfo=timezone.utc)


@pytest.fixture
def world(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    ctx = services.Context(key=b"k" * 32, portal_url="http://portal", clock=lambda: T0,
                           retry=RetryPolicy(max_attempts=2, base=timedelta(seconds=10), jitter=0))
    yield engine, ctx
    engine.dispose()


def story(prefix: str) -> list[ComplaintUpdate]:
    """Events of four complaints: an acknowledged e-mail recipient routed twice, an opted-out WhatsApp recipient,
    two recipients of one complaint, and a complaint without any."""
    def e(n: int, complaint: str, ce_type: str, **data) -> ComplaintUpdate:
        return ComplaintUpdate(f"{prefix}e{n:02d}", f"{prefix}{complaint}", f"kota.complaints.{ce_type}.v1", data)

    return [e(1, "c1", "submitted"), e(2, "c1", "routed", agency_code="DLH", unit="Sudin LH"),
            e(3, "c1", "routed", agency_code="DSDA", unit="Sudin SDA"), e(4, "c1", "rated", rating=5),
            e(5, "c2", "status-changed", to_status="in_progress", agency_code="DLH"),
            e(6, "c3", "note-added", actor="staff:DLH", note="Petugas di lokasi"),
            e(7, "c4", "routed", agency_code="DLH"), e(8, "c1", "status-changed", to_status="resolved")]


def register(engine, ctx, prefix: str) -> None:
    services.register_recipient(UnitOfWork(engine), ctx, f"{prefix}c1", Channel.EMAIL, f"{prefix}@contoh.id",
                                acknowledged=True)
    services.register_recipient(UnitOfWork(engine), ctx, f"{prefix}c2", Channel.WHATSAPP, f"+62812{len(prefix)}000111")
    services.opt_out_address(UnitOfWork(engine), ctx, Channel.WHATSAPP, f"+62812{len(prefix)}000111")
    services.register_recipient(UnitOfWork(engine), ctx, f"{prefix}c3", Channel.SMS, f"0813{len(prefix)}000222", "en")
    services.register_recipient(UnitOfWork(engine), ctx, f"{prefix}c3", Channel.TELEGRAM, f"{len(prefix)}4242")


def told(engine, prefix: str) -> list[tuple]:
    found, _ = services.list_messages(UnitOfWork(engine), MessageFilter(), 0, 200)
    return sorted((m.complaint_id.removeprefix(prefix), m.event_id.removeprefix(prefix), m.channel.value, m.kind,
                   m.language, m.status.value, m.body.replace(prefix, "")) for m, _r in found
                  if m.complaint_id.startswith(prefix) and m.kind != "opted_out")


def test_a_batch_of_events_queues_what_they_queue_one_at_a_time(world):
    engine, ctx = world
    register(engine, ctx, "one-")
    register(engine, ctx, "batch-")
    queued = 0
    for update in story("one-"):
        with Session(engine) as session:
            queued += services.record_complaint_update(UnitOfWork(session=session), ctx, update)
            session.commit()
    with Session(engine) as session:
        assert services.record_complaint_updates(UnitOfWork(session=session), ctx, story("batch-")) == queued
        session.commit()
    expected = told(engine, "one-")
    assert told(engine, "batch-") == expected
    # the second routing only (the acknowledgement named the first), the status changes, both of c3's channels
    assert [(c, e, k, s) for c, e, _ch, k, _l, s, _b in expected] == [
        ("c1", "e03", "routed", "pending"), ("c1", "e08", "resolved", "pending"),
        ("c2", "e05", "in_progress", "suppressed"), ("c3", "e06", "note", "pending"), ("c3", "e06", "note", "pending")]
    # a recipient registered later hears of the batch's updates as of the others'
    services.register_recipient(UnitOfWork(engine), ctx, "one-c4", Channel.EMAIL, "late@contoh.id")
    services.register_recipient(UnitOfWork(engine), ctx, "batch-c4", Channel.EMAIL, "late@contoh.id")
    assert told(engine, "batch-") == told(engine, "one-")


class Sender:
    """Answers each address's messages with its outcomes in turn (OK after them), from several threads."""

    def __init__(self, outcomes: dict[str, list[Outcome]]):
        self.outcomes = outcomes
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def send(self, address, subject, body, message_id) -> SendResult:
        with self.lock:
            queue = self.outcomes.get(address) or []
            outcome = queue.pop(0) if queue else Outcome.OK
            if outcome is Outcome.OK:
                self.sent.append(message_id)
        return SendResult(outcome, f"{outcome} from the fake")


def test_the_dispatcher_records_many_outcomes_together_each_message_once(world):
    engine, ctx = world
    addresses = [f"warga{n}@contoh.id" for n in range(30)]
    for n, address in enumerate(addresses):
        services.register_recipient(UnitOfWork(engine), ctx, f"c{n}", Channel.EMAIL, address)
    with Session(engine) as session:
        services.record_complaint_updates(UnitOfWork(session=session), ctx, [
            ComplaintUpdate(f"e{n}", f"c{n}", "kota.complaints.note-added.v1", {"actor": "staff:DLH", "note": "x"})
            for n in range(30)])
        session.commit()
    sender = Sender({addresses[0]: [Outcome.PERMANENT], addresses[1]: [Outcome.TRANSIENT]})
    dispatcher = services.Dispatcher(lambda: UnitOfWork(engine), ctx, {Channel.EMAIL: sender}, RateLimits({}),
                                     concurrency=4, record_batch=7)
    try:
        assert dispatcher.run_once() == 28
        assert dispatcher.run_once() == 0  # the transient failure is not due yet; nothing else is left
    finally:
        dispatcher.close()
    assert len(sender.sent) == len(set(sender.sent)) == 28
    found, _ = services.list_messages(UnitOfWork(engine), MessageFilter(), 0, 200)
    by_address = {r.address: m for m, r in found if r is not None}
    assert by_address[addresses[0]].status is DeliveryStatus.FAILED and by_address[addresses[0]].attempts == 1
    assert by_address[addresses[1]].status is DeliveryStatus.PENDING
    assert by_address[addresses[1]].next_attempt_at == T0 + timedelta(seconds=10)
    sent = [m for m in by_address.values() if m.status is DeliveryStatus.SENT]
    assert len(sent) == 28 and all(m.attempts == 1 and m.lease_until is None and m.sent_at == T0 for m in sent)
    with Session(engine) as session:  # one event on the topic for each sent and the failed one
        from sqlmodel import select

        from kota_common.outbox import OutboxMessage

        types = sorted(session.exec(select(OutboxMessage.ce_type)).all())
    assert types.count("kota.notifications.message-sent.v1") == 28
    assert types.count("kota.notifications.message-failed.v1") == 1
