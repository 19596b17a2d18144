"""Wires the notifications service (cosmicpython's bootstrap) as components of one ServiceHost: database, outbox
relay, the complaint-events subscriber, the intake worker and the dispatcher (by default in a process of its own:
entrypoints.dispatcher), the SMTP intake, the gRPC server."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.eventbus import EventBus, IdempotentBatchHandler
from kota_common.events import notifications as nt_events
from kota_common.metrics import observe_outbox
from kota_common.outbox import OutboxRelay
from kota_common.photos import Photos, photos_from_settings
from kota_common.reference import AreaDirectory
from kota_common.runtime import Events, GrpcServer, Hook, Periodic, ServiceHost
from kota_notifications.adapters.chat_media import PlatformMedia, telegram_urls, whatsapp_graph_url
from kota_notifications.adapters.complaints_client import ComplaintsClient
from kota_notifications.adapters.photos import MailPhotos
from kota_notifications.adapters.senders import SmsSender, SmtpSender, TelegramSender, WhatsAppSender
from kota_notifications.config import NotificationsSettings
from kota_notifications.domain.model import Channel, RetryPolicy
from kota_notifications.domain.policy import ComplaintUpdate
from kota_notifications.domain.ratelimit import RateLimits, RegistrationLimits
from kota_notifications.entrypoints import subscribers
from kota_notifications.entrypoints.dispatcher import DispatcherProcess
from kota_notifications.entrypoints.grpc_api import SERVICE_NAME, NotificationsServicer, register
from kota_notifications.entrypoints.imap_intake import ImapAccount, ImapIntake
from kota_notifications.entrypoints.smtp_intake import IntakeHandler, SmtpIntake
from kota_notifications.service_layer import services
from kota_notifications.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"


@dataclass
class Worker(Periodic):
    """A Periodic that also runs as soon as it is woken, and again while a run found work (its task returns how
    much it did): a mail or an event is answered at once, and the interval is only the retry timer."""

    _wake: threading.Event = field(default_factory=threading.Event, repr=False)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                while self.task() and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("%s failed", self.name)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        super().stop()


class Delivery:
    """The dispatcher as a component: run by a Worker (woken when messages are queued), its sending threads and
    connections closed after its last run. In the service process (dispatcher=thread) or in its dispatcher
    process (entrypoints.dispatcher), the only one of either: the per-channel rate limits are kept in memory."""

    name = "dispatcher"

    def __init__(self, dispatcher: services.Dispatcher, http: httpx.Client, interval_s: float):
        self.dispatcher = dispatcher
        self.http = http
        self.worker = Worker("dispatcher", interval_s, dispatcher.run_once)

    def start(self) -> None:
        self.worker.start()

    def wake(self) -> None:
        self.worker.wake()

    def stop(self) -> None:
        self.worker.stop()
        self.dispatcher.close()
        self.http.close()


def delivery(s: NotificationsSettings, engine: Engine, ctx: services.Context,
             after_commit: Callable[[list], None] | None = None) -> Delivery:
    """The dispatcher with its senders (over a client of its own) and the per-channel rate limits."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Telegram's URLs carry the bot's token
    http = httpx.Client(timeout=s.http_timeout_s)
    limits = RateLimits({Channel.EMAIL.value: (s.email_rate, max(1, int(s.email_rate))),
                         Channel.WHATSAPP.value: (s.whatsapp_rate, max(1, int(s.whatsapp_rate))),
                         Channel.TELEGRAM.value: (s.telegram_rate, max(1, int(s.telegram_rate))),
                         Channel.SMS.value: (s.sms_rate, max(1, int(s.sms_rate)))})
    dispatcher = services.Dispatcher(lambda: UnitOfWork(engine, after_commit), ctx, senders(s, http), limits)
    return Delivery(dispatcher, http, s.dispatch_interval_s)


def context(s: NotificationsSettings) -> services.Context:
    return services.Context(
        key=s.address_key.encode(), portal_url=s.portal_url,
        retry=RetryPolicy(max_attempts=s.max_attempts, base=timedelta(seconds=s.retry_base_s),
                          cap=timedelta(seconds=s.retry_cap_s)),
        intake_retry=RetryPolicy(max_attempts=1_000_000, base=timedelta(seconds=min(2.0, s.intake_retry_cap_s)),
                                 cap=timedelta(seconds=s.intake_retry_cap_s)),
        update_retention=timedelta(days=s.update_retention_days),
        registrations=RegistrationLimits(s.register_per_contact_hour, s.register_per_contact_day,
                                         s.register_per_client_rate, s.register_per_client_burst,
                                         s.register_per_caller_rate, s.register_per_caller_burst),
    )


def senders(s: NotificationsSettings, client: httpx.Client) -> dict[Channel, services.Sender]:
    """E-mail always (the local sink by default); a send API only where its URL is configured: without one, its
    messages wait (pending) rather than go anywhere unintended."""
    out: dict[Channel, services.Sender] = {Channel.EMAIL: SmtpSender(
        s.smtp_host, s.smtp_port, s.mail_from, s.mail_reply_to, s.smtp_username, s.smtp_password, s.smtp_starttls,
        timeout=s.http_timeout_s)}
    if s.whatsapp_url:
        out[Channel.WHATSAPP] = WhatsAppSender(client, s.whatsapp_url, s.whatsapp_token)
    if s.telegram_url:
        out[Channel.TELEGRAM] = TelegramSender(client, s.telegram_url)
    if s.sms_url:
        out[Channel.SMS] = SmsSender(client, s.sms_url, s.sms_token)
    return out


def chat_media(s: NotificationsSettings, photos: Photos, client: httpx.Client) -> PlatformMedia:
    """The platforms' media APIs at their own settings, else beside their send APIs (the local sink serves both)."""
    bot, files = telegram_urls(s.telegram_url)
    return PlatformMedia(client, photos, s.photos.public_url or s.portal_url,
                         whatsapp_graph=s.whatsapp_media_url or whatsapp_graph_url(s.whatsapp_url),
                         whatsapp_token=s.whatsapp_token, telegram_bot=s.telegram_bot_url or bot,
                         telegram_files=s.telegram_file_url or files)


def bootstrap(s: NotificationsSettings, *, ctx: services.Context | None = None) -> ServiceHost:
    """The service as its components, in start-up order (they stop in reverse). `ctx`: the use cases' context
    (tests give their own clock and retry policy; a dispatcher process would not share it: dispatcher=thread)."""
    if ctx is not None and s.dispatcher == "process":
        raise ValueError("a context of one's own needs dispatcher=thread: the dispatcher process builds its own")
    upgrade_to_head(s.database_url, MIGRATIONS)
    engine = make_engine(s.database_url, pool_size=min(s.grpc_workers, 20))
    observe_outbox(engine, "notifications")
    ctx = ctx or context(s)
    relay = OutboxRelay(engine, s.common.kafka_bootstrap)

    def after_commit(_changed: list) -> None:
        relay.notify()

    def uow() -> UnitOfWork:
        return UnitOfWork(engine, after_commit)

    # httpx logs every request's URL at INFO, and Telegram's carries the bot's token: warnings only.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    http = httpx.Client(timeout=s.http_timeout_s)
    # dispatcher=process: on the other core (queueing and delivering each took half of one)
    dispatching: Delivery | DispatcherProcess = (
        DispatcherProcess(s) if s.dispatcher == "process" else delivery(s, engine, ctx, after_commit))
    complaints = ComplaintsClient(s.complaints_address)
    photos = photos_from_settings(s.photos)
    intake_worker = services.IntakeWorker(uow, ctx, complaints, fetch_media=chat_media(s, photos, http).keep,
                                          media_tries=s.chat_photo_tries)

    def take_intake() -> int:
        done = intake_worker.run_once()
        if done:
            dispatching.wake()  # the answers it queued
        return done

    intake = Worker("intake", s.dispatch_interval_s, take_intake)
    vocabulary = services.VocabularySource(complaints, [(k.name, k.aliases) for k in AreaDirectory.load_jakarta().kelurahan()])
    categories_read = [0.0]

    def refresh_categories() -> None:
        """Every categories_refresh_s; every few seconds while none is known (complaints was away at start)."""
        if vocabulary.current().knows_categories and time.monotonic() - categories_read[0] < s.categories_refresh_s:
            return
        if vocabulary.refresh():
            categories_read[0] = time.monotonic()

    bus = EventBus(s.common.kafka_bootstrap, "notifications")
    if s.consume_events:
        answers = Answers(ctx)
        # A batch of events in one transaction (each with its id), and the dispatcher woken once for it.
        handler = IdempotentBatchHandler(engine, s.consumer_group, {subscribers.TOPICS[0]: answers.on_complaint},
                                         on_handled=dispatching.wake, begin_batch=answers.begin_batch,
                                         end_batch=answers.end_batch)
        subscribers.subscribe(bus, handler, s)
    servicer = NotificationsServicer(uow, ctx, s.common.auth_secret, on_queued=dispatching.wake,
                                     vocabulary=vocabulary, on_intake=intake.wake)
    components: list = [
        Hook("database", on_stop=engine.dispose),
        Hook("http client", on_stop=http.close),
        Hook("complaints client", on_stop=complaints.close),
        relay,
        Events(bus, [nt_events.TOPIC, *subscribers.TOPICS], replication_factor=s.common.kafka_replication_factor),
        dispatching,
        intake,
        Periodic("forget old updates", 3600, lambda: services.forget_old_updates(uow(), ctx)),
        Periodic("forget old chat state", 3600, lambda: services.forget_chat_state(uow(), ctx)),
        Hook("complaint categories", on_start=refresh_categories),  # at once: conversations ask with them
        Periodic("refresh complaint categories", 5.0, refresh_categories),
    ]
    # a mail's photos are kept (checked, without metadata) before the mail is: the intake holds their URLs
    mail_photos = MailPhotos(photos, s.photos.public_url or s.portal_url)
    if s.smtp_intake_address not in ("", "off"):
        receive: Callable = lambda mail: services.receive_mail(uow(), ctx, mail_photos.keep(mail))  # noqa: E731
        components.append(SmtpIntake(s.smtp_intake_address, IntakeHandler(receive, intake.wake),
                                     max_bytes=s.smtp_intake_max_bytes))
    if s.imap_host:
        account = ImapAccount(s.imap_host, s.imap_port, s.imap_tls, s.imap_starttls, s.imap_username, s.imap_password,
                              s.imap_mailbox, timeout=s.http_timeout_s)
        keep: Callable = lambda mail: services.receive_mail(uow(), ctx, mail_photos.keep(mail))  # noqa: E731
        components.append(ImapIntake(account, keep, intake.wake, s.imap_poll_s, s.smtp_intake_max_bytes))
    components.append(GrpcServer(s.grpc_address, register(servicer), [SERVICE_NAME], max_workers=s.grpc_workers))
    return ServiceHost("notifications", components)


class Answers:
    """Complaint events, recorded in the handler's transaction (with the event's id): each recipient's message is
    queued in the same commit, so that an event is answered once or, after a crash, not yet (never twice)."""

    def __init__(self, ctx: services.Context):
        self.ctx = ctx
        self._batch: tuple[Session, list[ComplaintUpdate]] | None = None  # the batch being handled, set-wise

    def begin_batch(self, session: Session) -> None:
        self._batch = (session, [])

    def on_complaint(self, session, event, payload) -> None:
        update = ComplaintUpdate(event.id, payload.complaint_id, payload.ce_type, payload.to_data())
        if self._batch is not None and self._batch[0] is session:  # a batch: recorded together at its end
            self._batch[1].append(update)
            return
        # one event in its own transaction (a failed batch replayed one by one)
        services.record_complaint_update(UnitOfWork(session=session), self.ctx, update)

    def end_batch(self, session: Session) -> None:
        batch, self._batch = self._batch, None
        if batch is not None and batch[0] is session:
            services.record_complaint_updates(UnitOfWork(session=session), self.ctx, batch[1])
