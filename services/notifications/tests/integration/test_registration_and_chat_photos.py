"""RegisterRecipient's limits and the intake worker's chat photos, on the real tables and unit of work (SQLite and
PostgreSQL), with a fake platform and a fake complaints service."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.errors import FailedPrecondition
from kota_notifications.domain.chat_media import MediaRef, MediaUnavailable
from kota_notifications.domain.intake import Intake, IntakeStatus, Submitted
from kota_notifications.domain.model import Channel
from kota_notifications.domain.ratelimit import RegistrationLimits
from kota_notifications.service_layer import services
from kota_notifications.service_layer.unit_of_work import UnitOfWork

MIGRATIONS = Path(services.__file__).resolve().parents[1] / "adapters" / "migrations"
T0 = datetime(2026, 3, 4, 7, 0, tzinfo=timezone.utc)

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    clock = Clock()
    yield engine, services.Context(key=b"k" * 32, portal_url="http://portal", clock=clock), clock
    engine.dispose()


def register(engine, ctx, complaint_id: str, address: str, client: str = "client:ip-1") -> int:
    return services.register_recipient(UnitOfWork(engine), ctx, complaint_id, Channel.EMAIL, address, client=client)


def test_a_contact_is_registered_to_a_few_complaints_then_refused_and_nothing_is_kept(world):
    engine, ctx, clock = world
    ctx.registrations = RegistrationLimits(per_contact_hour=2, per_contact_day=3)
    register(engine, ctx, "c1", "korban@contoh.id")
    register(engine, ctx, "c2", "Korban@CONTOH.id")  # the same contact, written otherwise
    assert register(engine, ctx, "c2", "korban@contoh.id") == 0, "the same registration again is no new one"
    with pytest.raises(FailedPrecondition) as refused:
        register(engine, ctx, "c3", "korban@contoh.id")
    assert refused.value.reason == services.RATE_LIMITED
    assert register(engine, ctx, "c3", "warga.lain@contoh.id") == 0, "another contact is not held back"
    clock.now += timedelta(hours=1, minutes=1)
    register(engine, ctx, "c3", "korban@contoh.id")
    clock.now += timedelta(hours=2)
    with pytest.raises(FailedPrecondition, match="today"):
        register(engine, ctx, "c4", "korban@contoh.id")
    with UnitOfWork(engine) as uow:
        assert uow.repo.find_recipient("c4", Channel.EMAIL, "korban@contoh.id") is None
    clock.now += timedelta(days=1)
    register(engine, ctx, "c4", "korban@contoh.id")
    for n in range(5, 9):  # staff registering a contact they were given (client "") are not limited
        register(engine, ctx, f"c{n}", "korban@contoh.id", client="")


def test_a_client_that_registers_too_fast_is_refused(world):
    engine, ctx, _ = world
    ctx.registrations = RegistrationLimits(per_client_rate=0.01, per_client_burst=2)
    register(engine, ctx, "c1", "a@contoh.id", client="client:ip-1")
    register(engine, ctx, "c2", "b@contoh.id", client="client:ip-1")
    with pytest.raises(FailedPrecondition, match="this client"):
        register(engine, ctx, "c3", "c@contoh.id", client="client:ip-1")
    register(engine, ctx, "c3", "c@contoh.id", client="client:ip-2")


class Platform:
    def __init__(self, down_times: int = 0):
        self.down_times, self.calls = down_times, []

    def __call__(self, media: MediaRef) -> str:
        self.calls.append(media.media_id)
        if self.down_times > 0:
            self.down_times -= 1
            raise MediaUnavailable("WhatsApp: HTTP 503")
        return f"http://kota/media/photos/{media.media_id}.jpg"


class Complaints:
    def __init__(self):
        self.submitted: list[list[str]] = []

    def submit(self, intake: Intake) -> Submitted:
        self.submitted.append(list(intake.attachments))
        return Submitted("c-wa", "K-1", "Dinas LH")


def chat_intake(engine, ctx) -> str:
    intake = Intake(id="i-1", channel="whatsapp", sender="+6281234567890", received_at=ctx.clock(),
                    text="Sampah menumpuk di Gambir", external_ref="wamid.1", next_attempt_at=ctx.clock(),
                    attachments=["whatsapp-media:m1", "video"])
    with UnitOfWork(engine) as uow:
        uow.repo.add_intake(intake)
        uow.complete()
    return intake.id


def intake_of(engine, intake_id: str) -> Intake:
    with UnitOfWork(engine) as uow:
        found = uow.repo.get_intake(intake_id)
        assert found is not None
        return found


def test_a_chat_photo_is_fetched_again_while_the_platform_is_away_and_submitted_with_its_url(world):
    engine, ctx, clock = world
    platform, complaints = Platform(down_times=2), Complaints()
    worker = services.IntakeWorker(lambda: UnitOfWork(engine), ctx, complaints, fetch_media=platform, media_tries=5)
    intake_id = chat_intake(engine, ctx)
    assert worker.run_once() == 0 and complaints.submitted == []
    waiting = intake_of(engine, intake_id)
    assert waiting.status is IntakeStatus.PENDING and waiting.attempts == 1 and "503" in waiting.last_error
    assert worker.run_once() == 0, "not due before its backoff"
    for _ in range(2):
        clock.now += timedelta(minutes=10)
        worker.run_once()
    assert complaints.submitted == [["http://kota/media/photos/m1.jpg", "video"]]
    assert platform.calls == ["m1", "m1", "m1"]
    done = intake_of(engine, intake_id)
    assert done.status is IntakeStatus.SUBMITTED and done.attachments == ["http://kota/media/photos/m1.jpg", "video"]


def test_a_platform_away_for_good_costs_the_photo_not_the_report(world):
    engine, ctx, clock = world
    complaints = Complaints()
    worker = services.IntakeWorker(lambda: UnitOfWork(engine), ctx, complaints, fetch_media=Platform(down_times=99),
                                   media_tries=3)
    chat_intake(engine, ctx)
    for _ in range(4):
        worker.run_once()
        clock.now += timedelta(minutes=10)
    assert complaints.submitted == [["foto WhatsApp tidak dapat diambil", "video"]]
