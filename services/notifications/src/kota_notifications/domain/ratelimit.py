"""Per-channel rate limits: a token bucket each, so that a burst of updates (a flood day) stays under what each
provider allows (WhatsApp's and Telegram's per-second limits, an SMS gateway's contract, an SMTP relay's)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar


@dataclass
class TokenBucket:
    """`rate` sends a second on average, up to `burst` at once. Time is given (seconds, monotonic), not read."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if self.at is not None and now > self.at:
            self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now if self.at is None else max(self.at, now)

    def take(self, now: float, wanted: int) -> int:
        """How many of `wanted` sends may go now (0 to wanted); those are spent."""
        self._refill(now)
        granted = min(wanted, int(self.tokens))
        self.tokens -= granted
        return granted

    def give_back(self, unused: int) -> None:
        """Sends granted but not made (fewer were due than granted)."""
        self.tokens = min(float(self.burst), self.tokens + unused)


class RateLimits:
    def __init__(self, limits: dict[str, tuple[float, int]]):
        self.buckets = {channel: TokenBucket(rate, burst) for channel, (rate, burst) in limits.items()}

    def take(self, channel: str, now: float, wanted: int) -> int:
        bucket = self.buckets.get(channel)
        return wanted if bucket is None else bucket.take(now, wanted)

    def give_back(self, channel: str, unused: int) -> None:
        if unused > 0 and channel in self.buckets:
            self.buckets[channel].give_back(unused)


CALLER = "caller:"  # a client key naming the caller (its token's subject), not one citizen


@dataclass
class RegistrationLimits:
    """Who may have a contact told about a complaint (RegisterRecipient: the portal's report gives any address).
    Without limits the portal is a way to send the city's messages to a stranger's inbox or phone: a contact is
    registered to at most `per_contact_hour` new complaints an hour and `per_contact_day` a day (a citizen reports a
    few things a day; a victim of spam would get one acknowledgement each), and a client (the caller named by its
    token, or the citizen's address as the gateway passes it) at most `per_client_rate` a second on average, with
    a burst of `per_client_burst`; a caller that names no citizen (the gateway as a whole, a key starting with
    `caller:`) at most `per_caller_rate` with a burst of `per_caller_burst`. The client buckets live in memory (`max_clients` of them, the least recently
    seen dropped first); the contact counts are read from the database, so that every replica sees them."""

    per_contact_hour: int = 3
    per_contact_day: int = 10
    per_client_rate: float = 1.0
    per_client_burst: int = 30
    per_caller_rate: float = 20.0
    per_caller_burst: int = 200
    max_clients: int = 10_000
    _clients: dict[str, TokenBucket] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    DAY: ClassVar[timedelta] = timedelta(days=1)

    def client_allowed(self, client: str, now: float) -> bool:
        """Spends one registration of `client` (seconds, monotonic or not, as long as they only grow)."""
        with self._lock:
            bucket = self._clients.pop(client, None) or (
                TokenBucket(self.per_caller_rate, self.per_caller_burst) if client.startswith(CALLER)
                else TokenBucket(self.per_client_rate, self.per_client_burst))
            self._clients[client] = bucket  # the most recently seen last
            while len(self._clients) > self.max_clients:
                del self._clients[next(iter(self._clients))]
            return bucket.take(now, 1) == 1

    def contact_refusal(self, registered_at: list[datetime], now: datetime) -> str:
        """Why the contact may not be registered to one more complaint now ("" when it may), given when it was
        registered to the others in the last day."""
        last_day = [at for at in registered_at if now - at < self.DAY]
        if len(last_day) >= self.per_contact_day:
            return f"this contact was given for {len(last_day)} complaints today"
        if sum(now - at < timedelta(hours=1) for at in last_day) >= self.per_contact_hour:
            return f"this contact was given for {self.per_contact_hour} complaints in the last hour"
        return ""
