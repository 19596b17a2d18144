"""Fan-out of committed complaint changes to WatchComplaints streams (per complaint, per agency).

Changes made in this process reach its streams straight after commit. Replicas sharing a PostgreSQL database
also hear of each other's changes: each transaction NOTIFYs `UPDATES_CHANNEL` with a `ChangeNotice` per change,
and every replica LISTENs and passes on the notices another replica sent (SQLite has one process).
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from dataclasses import dataclass
from typing import Any

UPDATES_CHANNEL = "kota_complaints_updates"
PROCESS_ID = uuid.uuid4().hex  # tells this process's own notices from other replicas'


@dataclass(frozen=True)
class ChangeNotice:
    """What a replica tells the others about a committed change: ids only, never the complaint's content."""

    complaint_id: str
    agency_code: str
    event_type: str
    origin: str = PROCESS_ID

    def encode(self) -> str:
        return json.dumps({"id": self.complaint_id, "agency": self.agency_code, "type": self.event_type, "origin": self.origin})

    @classmethod
    def decode(cls, payload: str) -> ChangeNotice:
        d = json.loads(payload)
        return cls(d["id"], d.get("agency", ""), d["type"], d.get("origin", ""))

    @property
    def from_elsewhere(self) -> bool:
        return self.origin != PROCESS_ID


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

    def watches_agencies(self) -> bool:
        with self._lock:
            return any(kind == "agency" for kind, _ in self._subscribers)

    def watched(self, complaint_id: str, agency_code: str) -> bool:
        subs = self._subscribers
        return ("id", complaint_id) in subs or ("agency", agency_code) in subs
