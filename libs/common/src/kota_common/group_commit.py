"""Group commit: write use cases from many request threads run on one writer thread, a batch per transaction.

One commit (and, on SQLite, one hold of the single write lock) then serves many requests, which is what lets
a single-writer database keep up with concurrent intake. Each caller still gets its own result or error:
a use case that refuses (ServiceError, raised before it writes anything) fails alone; any other error rolls
the batch back and its items are run again one by one, so one bad item never takes others down with it.

Writes that are cheaper as a set (`run_together`) go further: the batch hands all of them, queued with the same
`apply`, to one call, which writes them with a few statements for the whole set instead of a few each.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from sqlalchemy.engine import Engine
from sqlmodel import Session

from kota_common.db.sqlite import holding_write_lock
from kota_common.errors import ServiceError

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Pending:
    """One caller's outcome. A lock held until the writer releases it: waking the caller is one C call, where a
    Future's condition variable costs the writer several Python-level steps per item."""

    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.result: Any = None
        self.error: BaseException | None = None

    def settle(self, result: Any, error: BaseException | None) -> None:
        self.result, self.error = result, error
        self.done.release()


class _Together:
    """An item queued by run_together: applied with the batch's other items of the same `apply`."""

    __slots__ = ("apply", "item")

    def __init__(self, apply: Callable[[Any, list], list], item: Any):
        self.apply, self.item = apply, item


class GroupCommitWriter:
    name = "group-commit writer"

    def __init__(
        self,
        engine: Engine,
        make_uow: Callable[[Session], Any],
        after_commit: Callable[[list], None],
        *,
        max_batch: int = 64,
        commit_delay: float = 0.0,
    ):
        """`make_uow(session)` builds a unit of work joined to the batch's session (its use case's complete()
        stages into the batch; the writer commits); its `changed` list is handed to `after_commit` once the
        batch is durable.

        `commit_delay` (seconds), as PostgreSQL's commit_delay: while requests arrive faster than one at a time
        (the last batch held more than one), the writer waits this long for more before it starts a batch
        that would hold only one. A commit costs about as much as half a dozen submissions, so under load
        fewer, fuller batches save CPU; an idle service answers without the wait."""
        self.engine = engine
        self.make_uow = make_uow
        self.after_commit = after_commit
        self.max_batch = max_batch
        self.commit_delay = commit_delay
        self._last_batch = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()  # implemented in C: no Python locking per item
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self.batches = 0
        self.items = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def run(self, work: Callable[[Any], T], timeout: float = 30.0) -> T:
        """Runs `work(uow)` in the next batch and returns its result (or raises its error) once committed."""
        return self._submit(work, timeout)

    def _submit(self, work: Callable[[Any], Any] | _Together, timeout: float) -> Any:
        pending = _Pending()
        # The caller's trace context goes with the work, so the events it stages carry the request's trace.
        self._queue.put((work, pending, otel_context.get_current()))
        if not pending.done.acquire(timeout=timeout):
            raise TimeoutError(f"the write was not committed within {timeout} s")
        if pending.error is not None:
            raise pending.error
        return pending.result

    def run_together(self, apply: Callable[[Any, list], list], item: Any, timeout: float = 30.0) -> Any:
        """Queues `item` for `apply(uow, items)`, called once per batch with every item queued with the same
        `apply` (in arrival order, on one unit of work); returns this item's outcome once committed. `apply`
        returns an outcome per item, in order: its result, or the ServiceError that refuses it (that item alone
        fails; `apply` must then have written nothing for it)."""
        return self._submit(_Together(apply, item), timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._queue.get(timeout=0.2)]
            except queue.Empty:
                continue
            if self.commit_delay and self._last_batch > 1 and self._queue.empty():
                time.sleep(self.commit_delay)
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._last_batch = len(batch)
            self._execute(batch)

    def _execute(self, batch: list) -> None:
        outcomes: list[tuple[_Pending, Any, BaseException | None]] = []
        changed: list = []
        try:
            with Session(self.engine, expire_on_commit=False, autoflush=False) as session, holding_write_lock(session):
                together: dict[Callable, list] = {}
                for work, pending, ctx in batch:
                    if isinstance(work, _Together):
                        together.setdefault(work.apply, []).append((work.item, pending, ctx))
                        continue
                    token = otel_context.attach(ctx)
                    uow = self.make_uow(session)
                    try:
                        outcomes.append((pending, work(uow), None))
                        changed += uow.changed
                    except ServiceError as err:  # refused before writing anything
                        outcomes.append((pending, None, err))
                    finally:
                        otel_context.detach(token)
                for apply, queued in together.items():
                    changed += self._apply_together(session, apply, queued, outcomes)
                session.commit()
        except Exception as exc:
            if len(batch) > 1:
                log.warning("group commit of %d failed (%s); retrying one by one", len(batch), exc)
                for item in batch:
                    self._execute([item])
            else:
                batch[0][1].settle(None, exc)
            return
        self.batches += 1
        self.items += len(batch)
        if changed:
            try:
                self.after_commit(changed)
            except Exception:
                log.exception("after-commit hook failed")
        for pending, result, error in outcomes:
            pending.settle(result, error)

    def _apply_together(self, session: Session, apply: Callable[[Any, list], list], queued: list,
                        outcomes: list) -> list:
        token = otel_context.attach(queued[0][2])  # the set's own work is traced in its first request's trace
        try:
            uow = self.make_uow(session)
            results = apply(uow, [item for item, _pending, _ctx in queued])
        finally:
            otel_context.detach(token)
        if len(results) != len(queued):
            raise RuntimeError(f"{apply!r} returned {len(results)} outcomes for {len(queued)} items")
        for (_item, pending, _ctx), result in zip(queued, results, strict=True):
            if isinstance(result, ServiceError):
                outcomes.append((pending, None, result))
            else:
                outcomes.append((pending, result, None))
        return uow.changed
