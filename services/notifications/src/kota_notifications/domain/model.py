"""A message to a citizen and its delivery: the state machine every channel's sender goes through.

pending --claim--> sending --sent--> sent
                           --transient failure--> pending (next attempt after a backoff) ... --> failed
                           --permanent failure--> failed
pending --(the address opted out)--> suppressed;  failed --staff retry--> pending

A message is made once per (complaint event, recipient): the pair is its identity, so that an event handled twice,
or a recipient registered twice, never makes a second message."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

REDACTED = "******"


class Channel(enum.StrEnum):
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    SMS = "sms"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class Outcome(enum.StrEnum):
    OK = "ok"
    TRANSIENT = "transient"  # try again later: the provider is down, busy (429) or slow
    PERMANENT = "permanent"  # never: the address does not exist, the request is refused for good


class DomainError(Exception):
    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidTransition(DomainError):
    pass


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    detail: str = ""  # what the provider said, scrubbed of addresses by the sender
    provider_id: str = ""  # the provider's id of the accepted message


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: base * 2^(attempt-1), capped, for at most `max_attempts` attempts."""

    max_attempts: int = 6
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.2  # +- this fraction of the delay, so that a provider back from an outage is not hit at once

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """The wait after the `attempts`-th failed attempt."""
        raw = min(self.base * 2 ** max(attempts - 1, 0), self.cap)
        spread = (rng or random).uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        return raw * (1 + spread)


@dataclass(frozen=True)
class Attempt:
    at: datetime
    outcome: Outcome
    detail: str = ""


@dataclass
class Message:
    id: str
    complaint_id: str
    channel: Channel
    recipient_id: str
    kind: str
    language: str
    subject: str
    body: str
    event_id: str  # the complaint event's ce_id; "intake:<id>" for the answer to a channel's message
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str = ""
    lease_until: datetime | None = None
    secret: str = ""  # the tracking code in the body: forgotten once sent (staff never read it)
    history: list[Attempt] = field(default_factory=list)
    events: list[tuple[str, dict]] = field(default_factory=list)  # (what happened, facts) for the topic

    def __post_init__(self) -> None:
        if self.next_attempt_at is None and self.status is DeliveryStatus.PENDING:
            self.next_attempt_at = self.created_at

    def due(self, now: datetime) -> bool:
        if self.status is DeliveryStatus.PENDING:
            return self.next_attempt_at is None or self.next_attempt_at <= now
        # A sender that died holding it: its lease ran out, so it is due again.
        return self.status is DeliveryStatus.SENDING and self.lease_until is not None and self.lease_until <= now

    def claim(self, now: datetime, lease: timedelta) -> None:
        if not self.due(now):
            raise InvalidTransition(f"message {self.id} is {self.status} and not due", "status")
        self.status = DeliveryStatus.SENDING
        self.lease_until = now + lease

    def record(self, result: SendResult, now: datetime, policy: RetryPolicy, rng: random.Random | None = None) -> None:
        """The outcome of the attempt this message was claimed for."""
        if self.status is not DeliveryStatus.SENDING:
            raise InvalidTransition(f"message {self.id} is {self.status}, not sending", "status")
        self.attempts += 1
        self.lease_until = None
        self.history.append(Attempt(now, result.outcome, result.detail[:500]))
        if result.outcome is Outcome.OK:
            self.status, self.sent_at, self.next_attempt_at = DeliveryStatus.SENT, now, None
            if self.secret:
                self.body, self.secret = self.body.replace(self.secret, REDACTED), ""
            self.events.append(("sent", {}))
            return
        self.last_error = result.detail[:500]
        if result.outcome is Outcome.PERMANENT or self.attempts >= policy.max_attempts:
            self.status, self.next_attempt_at = DeliveryStatus.FAILED, None
            self.events.append(("failed", {"permanent": result.outcome is Outcome.PERMANENT}))
            return
        self.status = DeliveryStatus.PENDING
        self.next_attempt_at = now + policy.delay(self.attempts, rng)

    @property
    def staff_body(self) -> str:
        """The text as staff may read it: without the citizen's secret tracking code."""
        return self.body.replace(self.secret, REDACTED) if self.secret else self.body

    def suppress(self) -> None:
        """The recipient opted out: a message not yet sent never will be."""
        if self.status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
            self.status, self.next_attempt_at = DeliveryStatus.SUPPRESSED, None

    def retry(self, now: datetime) -> None:
        """Staff queue a failed message again: a fresh set of attempts."""
        if self.status is not DeliveryStatus.FAILED:
            raise InvalidTransition(f"only a failed message can be retried; this one is {self.status}", "id")
        self.status, self.attempts, self.next_attempt_at, self.last_error = DeliveryStatus.PENDING, 0, now, ""


@dataclass
class Recipient:
    """Where to answer about one complaint: the channel it came through and the address there."""

    id: str
    complaint_id: str
    channel: Channel
    address: str
    language: str = "id"
    acknowledged: bool = False  # the intake already answered with the number, the tracking code and the agency
    created_at: datetime | None = None
