"""The unit of work every service's use cases run in: one database transaction, written under the write lock.

A unit of work either owns its transaction (made with an engine: it opens a session on entering and closes it
on leaving) or is joined to one that another owns (made with that `session`: the group-commit writer's batch,
an event handler's transaction, which commits the use cases' work with the event's id). Use cases end with
`complete()`, which does what each can: the owner commits; a joined unit of work stages its writes into the
owner's transaction and leaves the commit to it. `commit()` on a joined unit of work raises: it cannot commit
what it does not own.

A service's unit of work extends SqlUnitOfWork: `_open(session)` makes its repositories, `stage()` writes what
the repositories hold (and their events) into the transaction."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Self

from sqlalchemy.engine import Engine
from sqlmodel import Session

from kota_common.db.sqlite import holding_write_lock


class JoinedTransaction(RuntimeError):
    """commit() was called on a unit of work joined to a transaction it does not own."""


class SqlUnitOfWork:
    """Writes happen at complete() only: the session does not autoflush (a query would otherwise start a write
    before the write lock is held), and objects stay readable after the commit (expire_on_commit=False)."""

    def __init__(self, engine: Engine | None = None, *, session: Session | None = None):
        if (engine is None) == (session is None):
            raise TypeError("a unit of work takes an engine (it owns its transaction) or a session (it joins one)")
        self.engine = engine
        self.joined = session is not None
        self.changed: list[Any] = []  # what completed use cases changed, for what runs once it is committed
        self._writing: AbstractContextManager | None = None
        if session is not None:
            self.session = session
            self._open(session)

    def __enter__(self) -> Self:
        if not self.joined:
            self.session = Session(self.engine, expire_on_commit=False, autoflush=False)
            self._open(self.session)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.joined:
            try:
                # close() rolls back what was not committed, and leaves what was read readable: a rollback
                # would expire the rows a read-only use case returns.
                self.session.close()
            finally:
                self._stop_writing()

    def begin_writing(self) -> None:
        """For a use case that writes as it goes (a table created and loaded before the commit): takes the
        connection and the write lock now, as commit() would, and holds them until the commit or the end. A joined
        unit of work's owner holds them already."""
        if not self.joined and self._writing is None:
            self._writing = holding_write_lock(self.session)
            self._writing.__enter__()

    def complete(self) -> None:
        """Ends the use case's writes: commits them if this unit of work owns its transaction; otherwise stages
        them into the owner's transaction (and `changed`), which the owner commits."""
        if self.joined:
            self.changed += self.stage()
        else:
            self.commit()

    def commit(self) -> None:
        """Takes the session's connection, then the database's write lock (in that order: see
        kota_common.db.sqlite.write_lock), stages and commits; then `after_commit(changed)` if anything changed."""
        if self.joined:
            raise JoinedTransaction("this unit of work is joined to a transaction its owner commits: use complete()")
        self.begin_writing()
        try:
            changed = self.stage()
            self.session.commit()
        finally:
            self._stop_writing()
        if changed:
            self.after_commit(changed)

    def rollback(self) -> None:
        if self.joined:
            raise JoinedTransaction("this unit of work is joined to a transaction its owner rolls back")
        self.session.rollback()

    def _stop_writing(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.__exit__(None, None, None)

    def _open(self, session: Session) -> None:
        """Makes the repositories on `session`."""

    def stage(self) -> list[Any]:
        """Writes what the repositories hold into the open transaction without committing; what changed."""
        return []

    def after_commit(self, changed: list[Any]) -> None:
        """Runs once the owner's commit has made `changed` durable."""
