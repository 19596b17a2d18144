"""Who watches which proposal (WatchProposal streams): told of each committed change, by proposal id."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class WatchHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchers: dict[str, list[Callable[[str], None]]] = {}

    @contextmanager
    def watching(self, proposal_id: str, tell: Callable[[str], None]) -> Iterator[None]:
        with self._lock:
            self._watchers.setdefault(proposal_id, []).append(tell)
        try:
            yield
        finally:
            with self._lock:
                watchers = self._watchers.get(proposal_id, [])
                watchers.remove(tell)
                if not watchers:
                    self._watchers.pop(proposal_id, None)

    def publish(self, changed: list[tuple[str, str]]) -> None:
        """(proposal id, ce_type) of each committed change."""
        with self._lock:
            calls = [(tell, ce_type) for key, ce_type in changed for tell in self._watchers.get(key, ())]
        for tell, ce_type in calls:
            tell(ce_type)
