"""Database engines and Alembic migrations. SQLite files under var/ by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine

from kota_common.db.sqlite import WalCheckpointer, register_write_lock


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Statement parameters never appear in errors (hide_parameters): they can be a citizen's name or contact,
    and errors get logged."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        checkpointer = WalCheckpointer.for_database(parsed.database) if parsed.database not in (None, "", ":memory:") else None
        # SQLite connections are cheap; a pool smaller than the worker threads would only add waiting.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=64, max_overflow=64,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL: readers never block the writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if checkpointer is not None:  # the checkpointer thread does it, off the writers' path
                cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        register_write_lock(engine, parsed.database)
        return engine
    # Timestamps are stored as UTC without a zone: the session's zone must be UTC whatever the server's is.
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"},
        hide_parameters=True,
    )


def upgrade_to_head(url: str, migrations_dir: Path) -> None:
    """Runs the service's Alembic migrations up to head (idempotent; safe at every start)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(cfg, "head")
