"""The use cases on the real tables and unit of work (SQLite and PostgreSQL), with fake senders and a fake
complaints service: what is told to whom, never twice, within the rate limits, with retries, opt-outs, and
intake that waits for complaints."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kota_common.db.engines import make_engine, upgrade_to_head
from kota_notifications.adapters.repository import MessageFilter
from kota_notifications.domain.intake import ComplaintsUnavailable, Intake, IntakeStatus, Submitted, read_mail
from kota_notifications.domain.model import Channel, DeliveryStatus, Outcome, RetryPolicy, SendResult
from kota_notifications.domain.policy import ComplaintUpdate
from kota_notifications.domain.ratelimit import RateLimits
from kota_notifications.service_layer import services
from kota_notifications.service_layer.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration
MIGRATIONS = Path(services.__file__).resolve().parents[1] / "adapters" / "migrations"
T0 = datetime(2026, 3, 4, 7, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class FakeSender:
    def __init__(self, *outcomes: Outcome):
        self.outcomes = list(outcomes)
        self.sent: list[tuple[str, str, str]] = []

    def send(self, address, subject, body, message_id) -> SendResult:
        outcome = self.outcomes.pop(0) if self.outcomes else Outcome.OK
        if outcome is Outcome.OK:
            self.sent.append((address, subject, body))
        return SendResult(outcome, f"{outcome} from the fake")


class FakeComplaints:
    def __init__(self) -> None:
        self.down = False
        self.calls: list[str] = []

    def submit(self, intake: Intake) -> Submitted:
        self.calls.append(intake.id)
        if self.down:
            raise ComplaintsUnavailable("UNAVAILABLE: connection refused")
        return Submitted("c-mail", "K-SECRET-1", "Dinas LH", ("location",))


@pytest.fixture
def world(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    clock = Clock()
    ctx = services.Context(key=b"k" * 32, portal_url="http://portal", clock=clock,
                           retry=RetryPolicy(max_attempts=3, base=timedelta(seconds=10), jitter=0))
    yield engine, ctx, clock
    engine.dispose()


def uow_of(engine):
    return lambda: UnitOfWork(engine)


def event(event_id: str, ce_type: str, complaint_id: str = "c1", **data) -> ComplaintUpdate:
    return ComplaintUpdate(event_id, complaint_id, f"kota.complaints.{ce_type}.v1", data)


def record(engine, ctx, update: ComplaintUpdate) -> int:
    from sqlmodel import Session

    with Session(engine) as session:
        n = services.record_complaint_update(UnitOfWork(session=session), ctx, update)
        session.commit()
    return n


def messages(engine, **f):
    found, _ = services.list_messages(UnitOfWork(engine), MessageFilter(**f), 0, 200)
    return [m for m, _r in found]


def test_updates_before_the_recipient_is_known_are_told_when_it_is_and_nothing_twice(world):
    engine, ctx, _ = world
    assert record(engine, ctx, event("e1", "submitted")) == 0  # nobody to tell yet
    assert record(engine, ctx, event("e2", "routed", agency_code="DLH", unit="Sudin LH")) == 0
    assert record(engine, ctx, event("e3", "rated", rating=5)) == 0
    queued = services.register_recipient(UnitOfWork(engine), ctx, "c1", Channel.WHATSAPP, "0812-3456-7890", "en")
    assert queued == 2
    # Registered again, and the same event delivered again: nothing more.
    assert services.register_recipient(UnitOfWork(engine), ctx, "c1", Channel.WHATSAPP, "+6281234567890") == 0
    assert record(engine, ctx, event("e4", "status-changed", to_status="in_progress", agency_code="DLH")) == 1
    kinds = sorted(m.kind for m in messages(engine, complaint_id="c1"))
    assert kinds == ["acknowledged", "in_progress", "routed"]
    assert all(m.language == "en" for m in messages(engine, complaint_id="c1"))


def test_the_dispatcher_sends_within_the_rate_limit_retries_with_backoff_and_records_failure(world):
    engine, ctx, clock = world
    services.register_recipient(UnitOfWork(engine), ctx, "c1", Channel.SMS, "081234567890")
    for i in range(3):
        record(engine, ctx, event(f"n{i}", "note-added", actor="staff:DLH", note=f"catatan {i}"))
    sms = FakeSender(Outcome.TRANSIENT, Outcome.OK, Outcome.OK, Outcome.TRANSIENT, Outcome.TRANSIENT)
    now = [0.0]
    dispatcher = services.Dispatcher(uow_of(engine), ctx, {Channel.SMS: sms}, RateLimits({"sms": (1, 2)}),
                                     monotonic=lambda: now[0])
    dispatcher.run_once()  # two may go (the burst); the first fails and waits 10 s
    assert len(sms.sent) == 1
    dispatcher.run_once()
    assert len(sms.sent) == 1  # no token left at the same instant
    now[0] = 5.0
    dispatcher.run_once()  # the third note goes; the failed one is not due yet
    assert len(sms.sent) == 2
    for step in (10, 20):  # its next attempts: after 10 s, then 20 s; the third fails it for good
        clock.now += timedelta(seconds=step)
        now[0] += step
        dispatcher.run_once()
    failed = messages(engine, status=DeliveryStatus.FAILED)
    assert len(failed) == 1 and failed[0].attempts == 3 and "transient" in failed[0].last_error
    assert len(messages(engine, status=DeliveryStatus.SENT)) == 2
    # Staff queue it again: it goes.
    services.retry_message(UnitOfWork(engine), ctx, failed[0].id)
    now[0] += 10
    dispatcher.run_once()
    assert len(sms.sent) == 3 and not messages(engine, status=DeliveryStatus.FAILED)


def test_a_mail_waits_for_complaints_and_is_acknowledged_once_with_its_secret_hidden_from_staff(world):
    engine, ctx, clock = world
    complaints = FakeComplaints()
    worker = services.IntakeWorker(uow_of(engine), ctx, complaints)
    mail = read_mail(b"From: Warga <warga@contoh.id>\r\nSubject: Sampah\r\nMessage-ID: <m1@contoh.id>\r\n\r\n"
                     b"Sampah menumpuk di pinggir jalan sejak kemarin.\r\n")
    intake_id = services.receive_mail(UnitOfWork(engine), ctx, mail)
    assert intake_id and services.receive_mail(UnitOfWork(engine), ctx, mail) is None  # delivered twice: one intake
    complaints.down = True
    assert worker.run_once() == 0
    pending, _ = services.list_intake(UnitOfWork(engine), IntakeStatus.PENDING, 0, 10)
    assert pending[0].attempts == 1 and pending[0].next_attempt_at > clock.now and "UNAVAILABLE" in pending[0].last_error
    assert worker.run_once() == 0 and len(complaints.calls) == 1  # not due yet
    complaints.down = False
    clock.now += timedelta(minutes=10)
    assert worker.run_once() == 1
    clock.now += timedelta(minutes=10)
    assert worker.run_once() == 0 and len(complaints.calls) == 2
    [ack] = messages(engine, complaint_id="c-mail")
    assert ack.kind == "acknowledged" and "K-SECRET-1" in ack.body and "K-SECRET-1" not in ack.staff_body
    assert "lokasinya" in ack.body  # what complaints could not work out is asked for
    # The submission's own events do not repeat what the acknowledgement said.
    record(engine, ctx, event("s1", "submitted", complaint_id="c-mail"))
    record(engine, ctx, event("r1", "routed", complaint_id="c-mail", agency_code="DLH"))
    assert len(messages(engine, complaint_id="c-mail")) == 1
    mail_sender = FakeSender()
    services.Dispatcher(uow_of(engine), ctx, {Channel.EMAIL: mail_sender}, RateLimits({})).run_once()
    assert mail_sender.sent[0][0] == "warga@contoh.id"
    sent = messages(engine, complaint_id="c-mail")[0]
    assert sent.status is DeliveryStatus.SENT and "K-SECRET-1" not in sent.body  # forgotten once delivered
    done, _ = services.list_intake(UnitOfWork(engine), IntakeStatus.SUBMITTED, 0, 10)
    assert done[0].complaint_id == "c-mail" and done[0].text == ""


def test_stop_by_mail_suppresses_what_is_queued_and_everything_after_with_one_last_confirmation(world):
    engine, ctx, _ = world
    services.register_recipient(UnitOfWork(engine), ctx, "c1", Channel.EMAIL, "warga@contoh.id")
    record(engine, ctx, event("n1", "note-added", actor="staff:DLH", note="Petugas di lokasi"))
    services.receive_mail(UnitOfWork(engine), ctx, read_mail(b"From: warga@contoh.id\r\nSubject: BERHENTI\r\n\r\n"))
    record(engine, ctx, event("n2", "status-changed", to_status="resolved", agency_code="DLH"))
    by_kind = {m.kind: m.status for m in messages(engine)}
    assert by_kind == {"note": DeliveryStatus.SUPPRESSED, "resolved": DeliveryStatus.SUPPRESSED,
                       "opted_out": DeliveryStatus.PENDING}


def test_an_opt_out_token_works_once_and_a_forged_one_is_refused(world):
    engine, ctx, _ = world
    services.register_recipient(UnitOfWork(engine), ctx, "c1", Channel.TELEGRAM, "123456789")
    token = services.opt_out_token_for(ctx, Channel.TELEGRAM, "123456789")
    services.opt_out_by_token(UnitOfWork(engine), ctx, token)
    services.opt_out_by_token(UnitOfWork(engine), ctx, token)  # again: nothing changes
    record(engine, ctx, event("n1", "note-added", actor="staff:DLH", note="Petugas di lokasi"))
    assert [m.status for m in messages(engine)] == [DeliveryStatus.SUPPRESSED]
    from kota_common.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        services.opt_out_by_token(UnitOfWork(engine), ctx, token[:-2] + "xx")


def test_updates_past_their_retention_are_forgotten_and_not_told_to_a_late_recipient(world):
    engine, ctx, clock = world
    record(engine, ctx, event("old", "note-added", actor="staff:DLH", note="lama"))
    clock.now += ctx.update_retention + timedelta(hours=1)
    record(engine, ctx, event("new", "note-added", actor="staff:DLH", note="baru"))
    assert services.forget_old_updates(UnitOfWork(engine), ctx) == 1
    assert services.register_recipient(UnitOfWork(engine), ctx, "c1", Channel.SMS, "081234567890") == 1
    assert ["baru" in m.body for m in messages(engine)] == [True]
