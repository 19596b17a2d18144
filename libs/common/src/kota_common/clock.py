"""The platform's clock: every time Kota stores or publishes is timezone-aware UTC."""

from __future__ import annotations

from datetime import datetime, timezone


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
