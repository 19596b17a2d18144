"""The use cases of notifications: each loads through the repository inside a unit of work, lets the domain decide
and completes. Talking to a provider or to the complaints service happens between two units of work (claim, then
call, then record), never inside a transaction. The domain's refusals become the errors every entrypoint maps to
its protocol."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from kota_common.clock import now_utc
from kota_common.errors import FailedPrecondition, InvalidArgument, NotFound
from kota_common.events import notifications as ev
from kota_common.ids import new_uuid
from kota_notifications.adapters.repository import MessageFilter
from kota_notifications.domain import addresses, chat_media, templates
from kota_notifications.domain import conversation as chat
from kota_notifications.domain.conversation import Category, Conversation, StepKind, Vocabulary
from kota_notifications.domain.intake import (
    ComplaintRefused,
    ComplaintsUnavailable,
    IncomingMail,
    Intake,
    IntakeKind,
    IntakeStatus,
    Submitted,
)
from kota_notifications.domain.model import (
    Channel,
    DeliveryStatus,
    DomainError,
    InvalidTransition,
    Message,
    Outcome,
    Recipient,
    RetryPolicy,
    SendResult,
)
from kota_notifications.domain.policy import ROUTED, TOLD, ComplaintUpdate, notice_for
from kota_notifications.domain.ratelimit import RateLimits, RegistrationLimits
from kota_notifications.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
MakeUnitOfWork = Callable[[], UnitOfWork]
MAX_PAGE = 200
RATE_LIMITED = "RATE_LIMITED"  # the ErrorInfo reason of a registration over its limits
INTAKE_REF = "intake:"  # the event id of an answer to a channel's message: intake:<intake id>


class Sender(Protocol):
    def send(self, address: str, subject: str, body: str, message_id: str) -> SendResult: ...


class FetchMedia(Protocol):
    def __call__(self, media: chat_media.MediaRef) -> str: ...


class Complaints(Protocol):
    def submit(self, intake: Intake) -> Submitted: ...


class Categories(Protocol):
    def categories(self) -> list[Category]: ...


@dataclass
class Context:
    """What the use cases share: the address key (hashes, opt-out tokens), the portal's address for tracking
    links, the retry policies and the clock."""

    key: bytes
    portal_url: str = "http://127.0.0.1:8080"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    intake_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(
        max_attempts=1_000_000, base=timedelta(seconds=2), cap=timedelta(minutes=5)))
    lease: timedelta = timedelta(minutes=2)
    update_retention: timedelta = timedelta(days=30)
    clock: Callable[[], datetime] = now_utc
    registrations: RegistrationLimits = field(default_factory=RegistrationLimits)


@contextmanager
def domain_rules() -> Iterator[None]:
    try:
        yield
    except InvalidTransition as exc:
        raise FailedPrecondition(exc.message, [(exc.field or "state", exc.message)]) from None
    except DomainError as exc:
        raise InvalidArgument(exc.message, [(exc.field or "request", exc.message)]) from None


# -- answers out: complaint events to messages ------------------------------------------------------------------
def record_complaint_update(uow: UnitOfWork, ctx: Context, update: ComplaintUpdate) -> int:
    """A complaint event: kept (its recipients may be told later), and a message for each recipient known now.
    Runs in the event handler's transaction (joined), which records the event's id with it."""
    if update.ce_type not in TOLD:  # a rating, say: no one will ever hear of it, so it is not kept
        return 0
    with uow:
        uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
        uow.repo.add_update(update, ctx.clock())
        queued = sum(_queue_notice(uow, ctx, r, update) for r in uow.repo.recipients_of(update.complaint_id))
        uow.complete()
    return queued


def record_complaint_updates(uow: UnitOfWork, ctx: Context, updates: list[ComplaintUpdate]) -> int:
    """A batch of complaint events, as record_complaint_update does each in turn, set-wise: the updates inserted
    together, the recipients of all their complaints read in one query (and the messages already queued, the
    earlier routings, the opt-outs), the messages inserted together. Runs in the event handler's transaction."""
    told = [u for u in updates if u.ce_type in TOLD]
    if not told:
        return 0
    with uow:
        uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
        repo = uow.repo
        repo.add_updates([(u, ctx.clock()) for u in told])
        recipients = repo.recipients_of_complaints({u.complaint_id for u in told})
        told = [u for u in told if u.complaint_id in recipients]
        queued = repo.messages_of_events({u.event_id for u in told})
        routings = repo.update_ids_of({u.complaint_id for u in told if u.ce_type == ROUTED}, ROUTED)
        opted_out = repo.opted_out_of({(r.channel, _hash(ctx, r)) for u in told for r in recipients[u.complaint_id]})
        messages: list[Message] = []
        for u in told:
            routed = routings.get(u.complaint_id)
            first_routing = u.ce_type != ROUTED or not routed or routed[0] == u.event_id
            for r in recipients[u.complaint_id]:
                if (u.event_id, r.id) in queued:
                    continue
                notice = notice_for(u, acknowledged=r.acknowledged, first_routing=first_routing)
                if notice is None:
                    continue
                m = _message(ctx, r, notice.kind, notice.facts, u.event_id)
                if (r.channel, _hash(ctx, r)) in opted_out:
                    m.suppress()
                messages.append(m)
        repo.insert_messages(messages)
        uow.complete()
    return len(messages)


def register_recipient(uow: UnitOfWork, ctx: Context, complaint_id: str, channel: Channel, address: str,
                       language: str = "id", *, acknowledged: bool = False, client: str = "") -> int:
    """Where to answer about a complaint; the updates it already had are told now. Registering the same address
    again changes nothing (and tells nothing twice). Asked for the public (`client`: who asks; staff registering a
    contact they were given are not limited), within limits (ctx.registrations) per client and per contact; beyond
    them FailedPrecondition with the reason RATE_LIMITED, and nothing is registered."""
    if not complaint_id:
        raise InvalidArgument("complaint_id is required", [("complaint_id", "is required")])
    with domain_rules():
        address = addresses.normalise(channel, address)
    now = ctx.clock()
    if client and not ctx.registrations.client_allowed(client, now.timestamp()):
        raise FailedPrecondition("too many registrations from this client; try again later",
                                 [("client", "too many registrations")], reason=RATE_LIMITED)
    with uow:
        uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
        if client and uow.repo.find_recipient(complaint_id, channel, address) is None:
            refusal = ctx.registrations.contact_refusal(
                uow.repo.registrations_of(channel, address, now - ctx.registrations.DAY), now)
            if refusal:
                log.info("a %s contact was not registered to complaint %s: over its limit", channel.value, complaint_id)
                raise FailedPrecondition(refusal, [("address", refusal)], reason=RATE_LIMITED)
        recipient = _recipient(uow, ctx, complaint_id, channel, address, language, acknowledged)
        queued = sum(_queue_notice(uow, ctx, recipient, u) for u in uow.repo.updates_of(complaint_id))
        uow.complete()
    return queued


def forget_old_updates(uow: UnitOfWork, ctx: Context) -> int:
    """Complaint updates older than the retention are dropped: a recipient registered later hears only of what
    happens from then on (and the table does not grow with every complaint no one gave a channel for)."""
    with uow:
        uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
        forgotten = uow.repo.forget_updates(ctx.clock() - ctx.update_retention)
        uow.complete()
    return forgotten


def _recipient(uow: UnitOfWork, ctx: Context, complaint_id: str, channel: Channel, address: str, language: str,
               acknowledged: bool = False) -> Recipient:
    found = uow.repo.find_recipient(complaint_id, channel, address)
    if found is not None:
        return found
    r = Recipient(new_uuid(), complaint_id, channel, address, templates.language_of(language), acknowledged, ctx.clock())
    uow.repo.add_recipient(r)
    return r


def _queue_notice(uow: UnitOfWork, ctx: Context, recipient: Recipient, update: ComplaintUpdate) -> int:
    if uow.repo.has_message(update.event_id, recipient.id):
        return 0
    first_routing = True
    if update.ce_type == ROUTED:  # the acknowledgement of a channel named the agency of the first routing
        routed = [u.event_id for u in uow.repo.updates_of(update.complaint_id) if u.ce_type == ROUTED]
        first_routing = not routed or routed[0] == update.event_id
    notice = notice_for(update, acknowledged=recipient.acknowledged, first_routing=first_routing)
    if notice is None:
        return 0
    _queue(uow, ctx, recipient, notice.kind, notice.facts, update.event_id)
    return 1


def _queue(uow: UnitOfWork, ctx: Context, recipient: Recipient, kind: str, facts: dict, event_id: str,
           secret: str = "") -> Message:
    m = _message(ctx, recipient, kind, facts, event_id, secret)
    if kind != "opted_out" and uow.repo.opted_out(recipient.channel, _hash(ctx, recipient)):
        m.suppress()
    uow.repo.add_message(m)
    return m


def _message(ctx: Context, recipient: Recipient, kind: str, facts: dict, event_id: str, secret: str = "") -> Message:
    rendered = templates.render(kind, recipient.language, facts, portal_url=ctx.portal_url)
    return Message(id=new_uuid(), complaint_id=recipient.complaint_id, channel=recipient.channel,
                   recipient_id=recipient.id, kind=kind, language=recipient.language, subject=rendered.subject,
                   body=rendered.body, event_id=event_id, created_at=ctx.clock(), secret=secret)


def _hash(ctx: Context, r: Recipient) -> str:
    return addresses.address_hash(ctx.key, r.channel, r.address)


# -- delivery ---------------------------------------------------------------------------------------------------
@dataclass
class Dispatcher:
    """Sends what is due within each channel's rate limit: claims a batch of each channel (one transaction each),
    sends them outside any transaction, `concurrency` at a time over all channels, and records the outcomes of the
    sends that have finished, together (one transaction a group of up to `record_batch`, as they finish or
    `record_within_s` after the first of them finished). A crash loses at most the
    outcomes of the messages in hand: they are sent again when their lease runs out, the one case of a second
    send, which the provider sees with the same Message-ID / idempotency key."""

    uow: MakeUnitOfWork
    ctx: Context
    senders: dict[Channel, Sender]
    limits: RateLimits
    batch: int = 100
    monotonic: Callable[[], float] = time.monotonic
    concurrency: int = 8
    record_batch: int = 50  # outcomes recorded in one transaction at most
    record_within_s: float = 0.05  # how long a finished send's outcome waits for others to be recorded with it
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def run_once(self) -> int:
        work: list[tuple[Sender, Message, Recipient | None]] = []
        for channel, sender in self.senders.items():
            wanted = self.limits.take(channel.value, self.monotonic(), self.batch)
            if not wanted:
                continue
            now = self.ctx.clock()
            with self.uow() as uow:
                uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
                claimed = uow.repo.claim_due_messages(channel, now, now + self.ctx.lease, wanted)
                recipients = uow.repo.get_recipients({m.recipient_id for m in claimed})
                work += [(sender, m, recipients.get(m.recipient_id)) for m in claimed]
                uow.complete()
            self.limits.give_back(channel.value, wanted - len(claimed))
        if len(work) <= 1 or self.concurrency <= 1:
            return sum(self._record([(m.id, _send_to(sender, recipient, m))]) for sender, m, recipient in work)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="dispatcher-send")
        # Each send hands its outcome over a queue as it finishes (waiting on the futures themselves cost a
        # waiter on every one still pending, each time one finished).
        outcomes: queue.SimpleQueue[tuple[str, SendResult | None]] = queue.SimpleQueue()
        for sender, m, recipient in work:
            self._pool.submit(_send_into, outcomes, sender, recipient, m)
        sent = 0
        outstanding = len(work)
        finished: list[tuple[str, SendResult]] = []
        oldest = 0.0
        while outstanding:
            # The finished sends' outcomes are recorded together: when `record_batch` are in hand, when the
            # oldest has waited `record_within_s`, or when the last send is over.
            try:
                message_id, result = outcomes.get(timeout=self.record_within_s)
            except queue.Empty:
                pass
            else:
                outstanding -= 1
                if result is not None:
                    if not finished:
                        oldest = self.monotonic()
                    finished.append((message_id, result))
            if finished and (not outstanding or len(finished) >= self.record_batch
                             or self.monotonic() - oldest >= self.record_within_s):
                sent += self._record(finished)
                finished = []
        return sent

    def _record(self, outcomes: list[tuple[str, SendResult]]) -> int:
        """Records each message's outcome (the messages read in one query, written in one statement); how many
        were sent."""
        with self.uow() as uow:
            found = {m.id: m for m in uow.repo.get_messages([message_id for message_id, _ in outcomes])}
            for message_id, result in outcomes:
                m = found.get(message_id)
                if m is None or m.status is not DeliveryStatus.SENDING:
                    continue
                m.record(result, self.ctx.clock(), self.ctx.retry)
                _publish_message_events(uow, m)
            uow.complete()
        return sum(result.outcome is Outcome.OK for _id, result in outcomes)

    def close(self) -> None:
        """Ends the sending threads and the senders' open connections (after the last run_once)."""
        if self._pool is not None:
            self._pool.shutdown()
        for sender in self.senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                close()


def _send_into(outcomes: queue.SimpleQueue[tuple[str, SendResult | None]], sender: Sender,
               recipient: Recipient | None, m: Message) -> None:
    result = None  # a send that never returned: nothing recorded, the message is due again when its lease runs out
    try:
        result = _send_to(sender, recipient, m)
    finally:
        outcomes.put((m.id, result))


def _send_to(sender: Sender, recipient: Recipient | None, m: Message) -> SendResult:
    if recipient is None:
        return SendResult(Outcome.PERMANENT, "recipient unknown")
    return _send(sender, recipient.address, m)


def _send(sender: Sender, address: str, m: Message) -> SendResult:
    try:
        return sender.send(address, m.subject, m.body, m.id)
    except Exception as exc:  # a sender's bug must not stop the others: the message is retried
        log.exception("sender failed on message %s", m.id)
        return SendResult(Outcome.TRANSIENT, f"sender error: {type(exc).__name__}")


def _publish_message_events(uow: UnitOfWork, m: Message) -> None:
    cause = "" if m.event_id.startswith(INTAKE_REF) else m.event_id
    for what, facts in m.events:
        if what == "sent" and m.sent_at is not None:
            uow.publish(m.id, ev.MessageSent(message_id=m.id, complaint_id=m.complaint_id, channel=m.channel.value,
                                             kind=m.kind, cause_event_id=cause, attempts=m.attempts, sent_at=m.sent_at))
        elif what == "failed":
            uow.publish(m.id, ev.MessageFailed(message_id=m.id, complaint_id=m.complaint_id, channel=m.channel.value,
                                               kind=m.kind, attempts=m.attempts, permanent=facts["permanent"],
                                               failed_at=m.history[-1].at))
    m.events.clear()


# -- staff -------------------------------------------------------------------------------------------------------
def get_message(uow: UnitOfWork, message_id: str) -> tuple[Message, Recipient | None]:
    with uow:
        m = uow.repo.get_message(message_id)
        if m is None:
            raise NotFound(f"no message {message_id}", [("id", "not found")])
        return m, uow.repo.get_recipient(m.recipient_id)


def list_messages(uow: UnitOfWork, f: MessageFilter, offset: int, limit: int
                  ) -> tuple[list[tuple[Message, Recipient | None]], int]:
    with uow:
        found, total = uow.repo.list_messages(f, offset=offset, limit=min(limit, MAX_PAGE))
        return [(m, uow.repo.get_recipient(m.recipient_id)) for m in found], total


def retry_message(uow: UnitOfWork, ctx: Context, message_id: str) -> tuple[Message, Recipient | None]:
    with uow:
        m = uow.repo.get_message(message_id)
        if m is None:
            raise NotFound(f"no message {message_id}", [("id", "not found")])
        recipient = uow.repo.get_recipient(m.recipient_id)
        if recipient is not None and uow.repo.opted_out(recipient.channel, _hash(ctx, recipient)):
            raise FailedPrecondition("the recipient opted out", [("id", "the recipient opted out")])
        with domain_rules():
            m.retry(ctx.clock())
        uow.complete()
        return m, recipient


def list_intake(uow: UnitOfWork, status: IntakeStatus | None, offset: int, limit: int) -> tuple[list[Intake], int]:
    with uow:
        return uow.repo.list_intake(status, offset=offset, limit=min(limit, MAX_PAGE))


# -- opt-out -----------------------------------------------------------------------------------------------------
def opt_out_by_token(uow: UnitOfWork, ctx: Context, token: str) -> tuple[Channel, str]:
    """(channel, masked address) of the token's address, which gets no more messages."""
    with domain_rules():
        channel, address_hash = addresses.read_opt_out_token(ctx.key, token)
    with uow:
        uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
        if uow.repo.add_opt_out(channel, address_hash, "token", ctx.clock()):
            uow.publish(new_uuid(), ev.OptedOut(opt_out_id=new_uuid(), channel=channel.value, via="token",
                                                opted_out_at=ctx.clock()))
        uow.complete()
    return channel, ""


def opt_out_address(uow: UnitOfWork, ctx: Context, channel: Channel, address: str, via: str = "reply") -> None:
    """The address asked for no more messages: what is queued for it is suppressed, and one last message says so."""
    with uow:
        uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
        _opt_out(uow, ctx, channel, address, via)
        uow.complete()


def _opt_out(uow: UnitOfWork, ctx: Context, channel: Channel, address: str, via: str) -> None:
    r = Recipient("", "", channel, address)
    if uow.repo.add_opt_out(channel, _hash(ctx, r), via, ctx.clock()):
        key = new_uuid()
        uow.publish(key, ev.OptedOut(opt_out_id=key, channel=channel.value, via=via, opted_out_at=ctx.clock()))
        for m in uow.repo.pending_messages_to(channel, address):
            m.suppress()
        _queue(uow, ctx, _recipient(uow, ctx, "", channel, address, "id"), "opted_out", {},
               f"opt-out:{key}")


def opt_out_token_for(ctx: Context, channel: Channel, address: str) -> str:
    return addresses.opt_out_token(ctx.key, channel, address)


# -- channels in: intake -----------------------------------------------------------------------------------------
def receive_mail(uow: UnitOfWork, ctx: Context, mail: IncomingMail) -> str | None:
    """A mail to the intake address, kept at once (the SMTP client gets its 250 only once it is stored): a
    complaint waits for the intake worker; a refusal is answered saying what is missing; STOP opts out. None for
    what is not answered: an auto-reply (mail loops) or the same mail delivered again."""
    if mail.auto_reply:
        log.info("an automatic reply reached the intake; not answered")
        return None
    with domain_rules():
        sender = addresses.normalise(Channel.EMAIL, mail.sender)
    if mail.kind is IntakeKind.OPT_OUT:
        opt_out_address(uow, ctx, Channel.EMAIL, sender)
        return None
    now = ctx.clock()
    intake = Intake(id=new_uuid(), channel=Channel.EMAIL.value, sender=sender, received_at=now,
                    sender_name=mail.sender_name[:200], subject=mail.subject, text=mail.text,
                    external_ref=mail.message_id, language=mail.language,
                    attachments=[a.reference for a in mail.attachments], next_attempt_at=now)
    with uow:
        uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
        if not uow.repo.add_intake(intake):
            return None
        if mail.kind is IntakeKind.REFUSED:
            _refuse(uow, ctx, intake, mail.missing)
        uow.complete()
    return intake.id


def _refuse(uow: UnitOfWork, ctx: Context, intake: Intake, missing: list[str]) -> None:
    intake.refused(missing)
    recipient = _recipient(uow, ctx, "", Channel(intake.channel), intake.sender, intake.language)
    _queue(uow, ctx, recipient, "intake_refused", {"missing": missing}, INTAKE_REF + intake.id)
    uow.publish(intake.id, ev.IntakeRefused(intake_id=intake.id, channel=intake.channel, missing=missing,
                                            received_at=intake.received_at))


@dataclass
class IntakeWorker:
    """Hands pending intake to the complaints service: a message is kept until complaints takes it (retried with
    backoff while it is away) and submitted once (complaints deduplicates by the channel's message id).

    Photos sent on a chat platform are fetched first (`fetch_media`, outside any transaction and outside the
    webhook's answer): the intake then carries the kept photos' URLs, or notes for staff. A platform that does not
    answer delays the intake like complaints being away, `media_tries` times at most; then the report goes without
    that photo (named for staff)."""

    uow: MakeUnitOfWork
    ctx: Context
    complaints: Complaints
    batch: int = 20
    fetch_media: FetchMedia | None = None
    media_tries: int = 5

    def run_once(self) -> int:
        now = self.ctx.clock()
        with self.uow() as uow:
            uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
            claimed = uow.repo.claim_due_intake(now, now + self.ctx.lease, self.batch)
            uow.complete()
        done = 0
        for intake in claimed:
            if chat_media.pending(intake.attachments) and not self._fetch_photos(intake):
                continue
            try:
                outcome: Submitted | ComplaintRefused | ComplaintsUnavailable = self.complaints.submit(intake)
            except (ComplaintRefused, ComplaintsUnavailable) as exc:
                outcome = exc
            done += self._record(intake.id, outcome)
        return done

    def _fetch_photos(self, intake: Intake) -> bool:
        """The intake's platform media fetched and its attachments saved (what was fetched is not fetched again);
        False when a platform did not answer and the intake waits for its next try."""
        give_up = self.fetch_media is None or intake.attempts + 1 >= self.media_tries
        fetch = self.fetch_media or _no_media_api
        resolved = chat_media.resolve(intake.attachments, fetch, give_up)
        intake.attachments = resolved.attachments
        with self.uow() as uow:
            uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
            if not resolved.unavailable:  # still claimed (its lease kept): submitted next
                saved = uow.repo.set_pending_intake_attachments(intake.id, resolved.attachments)
                uow.complete()
                return saved
            kept = uow.repo.get_intake(intake.id)
            if kept is None or kept.status is not IntakeStatus.PENDING:
                return False
            kept.attachments = resolved.attachments
            kept.not_taken(resolved.unavailable, self.ctx.clock(), self.ctx.intake_retry)
            uow.complete()
        log.warning("a photo of intake %s could not be fetched (attempt %d): %s", kept.id, kept.attempts,
                    resolved.unavailable)
        return False

    def _record(self, intake_id: str, outcome: Submitted | ComplaintRefused | ComplaintsUnavailable) -> int:
        with self.uow() as uow:
            uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
            intake = uow.repo.get_intake(intake_id)
            if intake is None or intake.status is not IntakeStatus.PENDING:
                return 0
            if isinstance(outcome, ComplaintsUnavailable):
                intake.not_taken(str(outcome), self.ctx.clock(), self.ctx.intake_retry)
                uow.complete()
                log.warning("complaints did not take intake %s (attempt %d): %s", intake.id, intake.attempts, outcome)
                return 0
            if isinstance(outcome, ComplaintRefused):
                _refuse(uow, self.ctx, intake, outcome.missing or ["description"])
                uow.complete()
                return 1
            intake.submitted(outcome.complaint_id)
            recipient = _recipient(uow, self.ctx, outcome.complaint_id, Channel(intake.channel), intake.sender,
                                   intake.language, acknowledged=True)
            facts = {"complaint_id": outcome.complaint_id, "agency": outcome.agency,
                     "tracking_code": outcome.tracking_code, "ask": list(outcome.missing)}
            _queue(uow, self.ctx, recipient, "acknowledged", facts, INTAKE_REF + intake.id, secret=outcome.tracking_code)
            for update in uow.repo.updates_of(outcome.complaint_id):  # what complaints published before it answered
                _queue_notice(uow, self.ctx, recipient, update)
            uow.publish(intake.id, ev.IntakeSubmitted(
                intake_id=intake.id, channel=intake.channel, complaint_id=outcome.complaint_id,
                attachments=len(intake.attachments), attempts=intake.attempts, received_at=intake.received_at,
                submitted_at=self.ctx.clock()))
            uow.complete()
            return 1


def _no_media_api(media: chat_media.MediaRef) -> str:
    raise chat_media.MediaUnavailable("no media API configured")


# -- channels in: chat and SMS conversations ---------------------------------------------------------------------
CHAT_CHANNELS = (Channel.WHATSAPP, Channel.TELEGRAM, Channel.SMS)
CHAT_MEMORY = timedelta(days=30)  # how long a platform's message id is remembered: its retries end long before


@dataclass(frozen=True)
class ChatMessage:
    """One message a chat or SMS webhook received."""

    channel: Channel
    sender: str
    message_id: str  # the platform's: WhatsApp's wamid, Telegram's update_id, the SMS gateway's id
    text: str
    sender_name: str = ""
    language: str = ""
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Received:
    duplicate: bool = False
    step: StepKind | None = None
    missing: tuple[str, ...] = ()
    intake_id: str = ""


def receive_chat_message(uow: UnitOfWork, ctx: Context, vocabulary: Vocabulary, msg: ChatMessage) -> Received:
    """A chat or SMS message, kept before the webhook is answered: the same platform message again changes nothing.
    The sender's conversation goes on: a question for what is missing is queued on the same channel, or the
    complete report becomes an intake (submitted by the intake worker, acknowledged on the same channel), or STOP
    opts the address out, or BATAL drops the report being written. All in one transaction."""
    violations = [] if msg.channel in CHAT_CHANNELS else [("channel", "must be whatsapp, telegram or sms")]
    if not msg.message_id:
        violations.append(("message_id", "is required"))
    if violations:
        raise InvalidArgument("invalid channel message", violations)
    with domain_rules():
        sender = addresses.normalise(msg.channel, msg.sender)
    now = ctx.clock()
    with uow:
        uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
        if not uow.repo.remember_channel_message(msg.channel.value, msg.message_id[:200], now):
            return Received(duplicate=True)
        conversation = uow.repo.get_conversation(msg.channel.value, sender) or Conversation(
            msg.channel.value, sender, started_at=now, updated_at=now, language=templates.language_of(msg.language),
            sender_name=msg.sender_name[:200])
        step = conversation.hear(msg.text, vocabulary, now, msg.attachments)
        reply_ref = f"{INTAKE_REF}chat-{new_uuid()}"
        received = Received(step=step.kind, missing=step.missing)
        if step.kind is StepKind.OPT_OUT:
            uow.repo.end_conversation(msg.channel.value, sender)
            _opt_out(uow, ctx, msg.channel, sender, "reply")
        elif step.kind is StepKind.CANCELLED:
            uow.repo.end_conversation(msg.channel.value, sender)
            _queue_text(uow, ctx, conversation, chat.cancelled(conversation.language), reply_ref)
        elif step.kind is StepKind.ASK:
            uow.repo.save_conversation(conversation)
            _queue_text(uow, ctx, conversation, chat.question(conversation, vocabulary), reply_ref)
        else:
            intake = Intake(id=new_uuid(), channel=msg.channel.value, sender=sender, received_at=now,
                            sender_name=conversation.sender_name, text=step.report, external_ref=msg.message_id[:200],
                            language=conversation.language, attachments=conversation.attachments, next_attempt_at=now)
            uow.repo.add_intake(intake)
            uow.repo.end_conversation(msg.channel.value, sender)
            received = Received(step=step.kind, intake_id=intake.id)
        uow.complete()
    return received


def _queue_text(uow: UnitOfWork, ctx: Context, conversation: Conversation, body: str, event_id: str) -> Message:
    """A conversation's own message (a question, a cancellation) to its sender."""
    recipient = _recipient(uow, ctx, "", Channel(conversation.channel), conversation.sender, conversation.language)
    m = Message(id=new_uuid(), complaint_id="", channel=recipient.channel, recipient_id=recipient.id,
                kind="conversation", language=recipient.language, subject="", body=body, event_id=event_id,
                created_at=ctx.clock())
    if uow.repo.opted_out(recipient.channel, _hash(ctx, recipient)):
        m.suppress()
    uow.repo.add_message(m)
    return m


class VocabularySource:
    """What conversations read messages with: the city's kelurahan (the shared area directory) and the categories
    last read from complaints. Until complaints has answered once, the category is not asked for (complaints then
    guesses it, and its acknowledgement asks)."""

    def __init__(self, categories: Categories, kelurahan: list[tuple[str, tuple[str, ...]]]):
        self.source = categories
        self.kelurahan = kelurahan
        self._current = Vocabulary([], kelurahan)

    def current(self) -> Vocabulary:
        return self._current

    def refresh(self) -> int:
        """Reads the categories again; keeps the ones known when complaints does not answer. How many."""
        try:
            found = self.source.categories()
        except ComplaintsUnavailable as exc:
            log.warning("the complaint categories could not be read (%s); kept %d", exc, len(self._current.categories))
            return 0
        self._current = Vocabulary(found, self.kelurahan)
        return len(found)


def forget_chat_state(uow: UnitOfWork, ctx: Context) -> int:
    """Platform message ids older than CHAT_MEMORY and conversations idle longer than conversation.IDLE are
    dropped: neither table grows with every message."""
    now = ctx.clock()
    with uow:
        uow.begin_writing()  # it writes as it goes: the write lock first (see SqlUnitOfWork)
        forgotten = uow.repo.forget_channel_messages(now - CHAT_MEMORY) + uow.repo.forget_conversations(now - chat.IDLE)
        uow.complete()
    return forgotten
