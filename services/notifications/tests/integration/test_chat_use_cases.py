"""The chat and SMS intake use case on the real tables and unit of work (SQLite and PostgreSQL), with a fake
complaints service: a redelivered platform message changes nothing, the conversation's questions are queued on the
sender's channel, a complete report becomes one intake, submitted once while complaints comes and goes; BATAL and
STOP; the chat state is forgotten when old."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.errors import InvalidArgument
from kota_common.reference import AreaDirectory
from kota_notifications.adapters.repository import MessageFilter
from kota_notifications.domain.conversation import IDLE, Category, StepKind, Vocabulary
from kota_notifications.domain.intake import ComplaintsUnavailable, Intake, IntakeStatus, Submitted
from kota_notifications.domain.model import Channel, DeliveryStatus
from kota_notifications.service_layer import services
from kota_notifications.service_layer.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration
MIGRATIONS = Path(services.__file__).resolve().parents[1] / "adapters" / "migrations"
T0 = datetime(2026, 3, 4, 7, 0, tzinfo=timezone.utc)
NUMBER = "+6281234567890"
VOCABULARY = Vocabulary([Category("waste", "Sampah tidak terangkut", ("sampah",)), Category("flooding", "Banjir", ("banjir",))],
                        [(k.name, k.aliases) for k in AreaDirectory.load_jakarta().kelurahan()])


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class FakeComplaints:
    def __init__(self) -> None:
        self.down = True
        self.submitted: list[Intake] = []

    def submit(self, intake: Intake) -> Submitted:
        if self.down:
            raise ComplaintsUnavailable("UNAVAILABLE: connection refused")
        self.submitted.append(intake)
        return Submitted("c-chat", "K-SECRET-2", "Dinas LH")


@pytest.fixture
def world(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    clock = Clock()
    yield engine, services.Context(key=b"k" * 32, portal_url="http://portal", clock=clock), clock
    engine.dispose()


def say(engine, ctx, message_id: str, text: str, sender: str = NUMBER, channel: Channel = Channel.WHATSAPP):
    msg = services.ChatMessage(channel=channel, sender=sender, message_id=message_id, text=text, sender_name="Budi")
    return services.receive_chat_message(UnitOfWork(engine), ctx, VOCABULARY, msg)


def replies(engine, channel: Channel = Channel.WHATSAPP) -> list[str]:
    found, _ = services.list_messages(UnitOfWork(engine), MessageFilter(channel=channel), 0, 200)
    return [m.body for m, _r in sorted(found, key=lambda f: f[0].created_at)]


def test_a_conversation_is_kept_message_by_message_and_a_redelivery_changes_nothing(world):
    engine, ctx, clock = world
    first = say(engine, ctx, "wamid.1", "halo")
    assert (first.step, first.missing) == (StepKind.ASK, ("description", "category", "kelurahan"))
    assert say(engine, ctx, "wamid.1", "halo").duplicate, "the platform delivered it again"
    assert len(replies(engine)) == 1
    clock.now += timedelta(minutes=1)
    assert say(engine, ctx, "wamid.2", "ada sampah menumpuk di pinggir jalan").missing == ("kelurahan",)
    clock.now += timedelta(minutes=1)
    done = say(engine, ctx, "wamid.3", "Cideng")
    assert done.step is StepKind.SUBMIT and done.intake_id
    assert say(engine, ctx, "wamid.3", "Cideng").duplicate
    intake, total = services.list_intake(UnitOfWork(engine), None, 0, 10)
    assert total == 1 and intake[0].status is IntakeStatus.PENDING and intake[0].sender == NUMBER
    assert intake[0].text == "halo\nada sampah menumpuk di pinggir jalan\nCideng"
    assert [r.split("\n\n")[1 if i == 0 else 0][:20] for i, r in enumerate(replies(engine))] == \
        ["Ceritakan masalahnya", "Di kelurahan mana lo"]

    # Complaints is down: the report waits; once it is back, it is submitted once and acknowledged on WhatsApp.
    complaints = FakeComplaints()
    worker = services.IntakeWorker(lambda: UnitOfWork(engine), ctx, complaints)
    assert worker.run_once() == 0
    clock.now += timedelta(minutes=10)
    complaints.down = False
    assert worker.run_once() == 1
    clock.now += timedelta(minutes=10)
    assert worker.run_once() == 0
    assert [i.external_ref for i in complaints.submitted] == ["wamid.3"]
    [ack] = [m for m, _r in services.list_messages(UnitOfWork(engine), MessageFilter(complaint_id="c-chat"), 0, 10)[0]]
    assert ack.kind == "acknowledged" and ack.channel is Channel.WHATSAPP and "K-SECRET-2" in ack.body


def test_batal_drops_the_report_and_stop_opts_the_number_out(world):
    engine, ctx, clock = world
    say(engine, ctx, "sms-1", "ada sampah menumpuk", channel=Channel.SMS, sender="081234567890")
    assert say(engine, ctx, "sms-2", "batal", channel=Channel.SMS, sender="081234567890").step is StepKind.CANCELLED
    assert "batalkan" in replies(engine, Channel.SMS)[-1]
    assert say(engine, ctx, "sms-3", "halo", channel=Channel.SMS, sender="081234567890").missing[0] == "description", \
        "the dropped report is not carried on"
    assert say(engine, ctx, "sms-4", "STOP", channel=Channel.SMS, sender="081234567890").step is StepKind.OPT_OUT
    found, _ = services.list_messages(UnitOfWork(engine), MessageFilter(channel=Channel.SMS), 0, 200)
    assert [m.kind for m, _r in found if m.status is not DeliveryStatus.SUPPRESSED].count("opted_out") == 1
    assert all(m.status is DeliveryStatus.SUPPRESSED for m, _r in found if m.kind == "conversation" and m.status
               is not DeliveryStatus.SENT), "what was queued for the number is not sent"
    clock.now += timedelta(minutes=1)
    say(engine, ctx, "sms-5", "halo", channel=Channel.SMS, sender="081234567890")
    found, _ = services.list_messages(UnitOfWork(engine), MessageFilter(channel=Channel.SMS), 0, 200)
    [question] = [m for m, _r in found if m.created_at == clock.now]
    assert question.kind == "conversation" and question.status is DeliveryStatus.SUPPRESSED, \
        "a number that opted out is not written to, even when it writes again"


def test_a_message_that_is_not_a_chat_message_is_refused(world):
    engine, ctx, _ = world
    with pytest.raises(InvalidArgument):
        say(engine, ctx, "m-1", "halo", channel=Channel.EMAIL, sender="warga@contoh.id")
    with pytest.raises(InvalidArgument):
        say(engine, ctx, "", "halo")
    with pytest.raises(InvalidArgument):
        say(engine, ctx, "m-2", "halo", sender="not a number")


def test_old_message_ids_and_idle_conversations_are_forgotten(world):
    engine, ctx, clock = world
    say(engine, ctx, "wamid.old", "halo")
    clock.now += max(services.CHAT_MEMORY, IDLE) + timedelta(minutes=1)
    assert services.forget_chat_state(UnitOfWork(engine), ctx) == 2
    assert not say(engine, ctx, "wamid.old", "halo").duplicate


def test_two_messages_of_one_sender_at_once_take_turns_or_one_is_delivered_again(world):
    engine, ctx, _ = world
    texts = {"wamid.x": "ada sampah menumpuk", "wamid.y": "di pinggir jalan besar"}
    failed: list[str] = []
    start = threading.Barrier(2)

    def deliver(message_id: str) -> None:
        start.wait()
        try:
            say(engine, ctx, message_id, texts[message_id], sender="+6281900001111")
        except Exception:  # the platform gets a 5xx and delivers it again
            failed.append(message_id)

    threads = [threading.Thread(target=deliver, args=(m,)) for m in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for message_id in failed:
        assert not say(engine, ctx, message_id, texts[message_id], sender="+6281900001111").duplicate
    from sqlmodel import Session

    from kota_notifications.adapters.repository import NotificationRepository

    with Session(engine) as session:
        conversation = NotificationRepository(session).get_conversation("whatsapp", "+6281900001111")
    assert conversation is not None and sorted(conversation.text.split("\n")) == sorted(texts.values()), \
        "both messages are in the report, whichever way they met"
