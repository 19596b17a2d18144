"""Rows and notifications queued in a session and written when it commits: one statement per table (and one
NOTIFY per channel) for everything a transaction queued, so a group commit of many use cases costs a few
statements, not a few per use case.

The hooks that write them are registered on the session that queues something (on the first queued row), not on
every Session of the process: a session that never defers anything never runs them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Table, event, text
from sqlalchemy.orm import Session

from kota_common.db.driver import insert_many

_DEFERRED = "kota_deferred_inserts"
_NOTIFY = "kota_deferred_notifications"
_HOOKED = "kota_deferred_hooks"


def defer_insert(session: Session, table: Table, rows: list[dict]) -> None:
    """Queues rows to be inserted when the session commits. Tables are written in the order they were first
    queued (parents before children). Rows of one table must have the same keys."""
    if rows:
        _hook(session)
        session.info.setdefault(_DEFERRED, {}).setdefault(table, []).extend(rows)


def deferred_rows(session: Session, table: Table) -> list[dict]:
    """Rows queued for `table` in this transaction and not yet written (reads that must see them look here)."""
    return session.info.get(_DEFERRED, {}).get(table, [])


def flush_deferred(session: Session) -> None:
    """Writes the queued rows now: before a statement that must see them (an UPDATE or a read of the table)."""
    pending = session.info.pop(_DEFERRED, None)
    if pending:
        conn = session.connection()
        for table, rows in pending.items():
            insert_many(conn, table, rows)


def defer_notify(session: Session, channel: str, payloads: Iterable[str]) -> None:
    """PostgreSQL: NOTIFY `channel` with each payload when the transaction commits (one statement for all), so
    that every process LISTENing on the database hears of the change once it is durable, and never of a change
    rolled back. Elsewhere (SQLite: one process) nothing happens and `payloads` is not even iterated."""
    if session.get_bind().dialect.name == "postgresql":
        _hook(session)
        session.info.setdefault(_NOTIFY, {}).setdefault(channel, []).extend(payloads)


def _hook(session: Session) -> None:
    """Registers the commit and rollback hooks on this session, once for its life."""
    if _HOOKED not in session.info:
        session.info[_HOOKED] = True
        event.listen(session, "before_commit", _write_deferred_before_commit)
        event.listen(session, "after_soft_rollback", _drop_deferred_on_rollback)


def _write_deferred_before_commit(session: Session) -> None:
    flush_deferred(session)
    notifications = session.info.pop(_NOTIFY, None)
    if notifications:
        conn = session.connection()
        for channel, payloads in notifications.items():
            if payloads:
                conn.execute(text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p"),
                             {"channel": channel, "payloads": payloads})


def _drop_deferred_on_rollback(session: Session, _previous_transaction) -> None:
    session.info.pop(_DEFERRED, None)
    session.info.pop(_NOTIFY, None)
