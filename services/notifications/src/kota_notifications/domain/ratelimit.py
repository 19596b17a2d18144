"""Per-channel rate limits: a token bucket each, so that a burst of updates (a flood day) stays under what each
provider allows (WhatsApp's and Telegram's per-second limits, an SMS gateway's contract, an SMTP relay's)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
