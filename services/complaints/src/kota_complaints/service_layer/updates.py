"""In-process fan-out of committed complaint changes to WatchComplaints streams (per complaint, per agency)."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Update:
    complaint_id: str
    agency_code: str
    event_type: str
    view: Any  # the complaint's public view at commit time


class UpdateHub:
    def __init__(self, max_queue: int = 1000):
        self._lock = threading.Lock()
        self._subscribers: dict[tuple[str, str], set[queue.Queue]] = {}
        self.max_queue = max_queue

    def subscribe(self, *, complaint_id: str = "", agency_code: str = "") -> queue.Queue:
        key = ("id", complaint_id) if complaint_id else ("agency", agency_code)
        q: queue.Queue = queue.Queue(self.max_queue)
        with self._lock:
            self._subscribers.setdefault(key, set()).add(q)
        q.key = key  # type: ignore[attr-defined]
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            subs = self._subscribers.get(q.key)  # type: ignore[attr-defined]
            if subs:
                subs.discard(q)
                if not subs:
                    del self._subscribers[q.key]  # type: ignore[attr-defined]

    def publish(self, update: Update) -> None:
        with self._lock:
            targets = list(self._subscribers.get(("id", update.complaint_id), ())) + list(
                self._subscribers.get(("agency", update.agency_code), ())
            )
        for q in targets:
            try:
                q.put_nowait(update)
            except queue.Full:  # a stalled watcher loses updates rather than stalling intake
                pass

    def has_subscribers(self) -> bool:
        return bool(self._subscribers)
