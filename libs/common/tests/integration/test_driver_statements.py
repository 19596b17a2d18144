"""The hot-path statements that skip SQLAlchemy's per-execution work store and read exactly what it would."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, bindparam, insert, literal, select
from sqlmodel.sql.sqltypes import UTCDateTime

from kota_common.db.driver import DriverStatement, insert_many
from kota_common.db.engines import make_engine

pytestmark = pytest.mark.integration

metadata = MetaData()
things = Table(
    "things", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(40), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("size", Float),
    Column("active", Boolean, nullable=False),
    Column("at", UTCDateTime(), nullable=True),
)
JAKARTA = timezone(timedelta(hours=7))


def rows(prefix: str) -> list[dict]:
    start = datetime(2026, 11, 24, 9, 30, 15, 123456, tzinfo=JAKARTA)
    return [
        {"name": f"{prefix}{i}", "kind": ("open", "closed", "other")[i % 3], "size": i / 3 if i % 4 else None,
         "active": bool(i % 2), "at": start + timedelta(minutes=i) if i % 5 else None}
        for i in range(30)
    ] + [{"name": f"{prefix}whole", "kind": "open", "size": 1.0, "active": True,
          "at": datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)}]  # no microseconds: still written with them


def test_insert_many_stores_what_sqlalchemy_stores(database_url):
    engine = make_engine(database_url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        insert_many(conn, things, rows("fast"))
        conn.execute(insert(things), rows("core"))
        stored = conn.execute(select(things).order_by(things.c.id)).all()
    fast = [r[1:] for r in stored if r.name.startswith("fast")]
    core = [r[1:] for r in stored if r.name.startswith("core")]
    assert len(fast) == len(core) == 31
    assert [(n.removeprefix("fast"), *rest) for n, *rest in fast] == [(n.removeprefix("core"), *rest) for n, *rest in core]
    assert fast[1][4] == datetime(2026, 11, 24, 2, 31, 15, 123456, tzinfo=timezone.utc)  # stored in UTC
    if engine.dialect.name == "sqlite":  # timestamps are text there, compared as text: the same text exactly
        with engine.connect() as conn:
            raw = conn.exec_driver_sql("SELECT name, at FROM things ORDER BY id").all()
        assert [at for name, at in raw if name.startswith("fast")] == [at for name, at in raw if name.startswith("core")]
    engine.dispose()


def test_utc_timestamps_are_bound_as_sqlalchemy_binds_them():
    from sqlalchemy.dialects import sqlite

    from kota_common.db.driver import bind_processor

    dialect = sqlite.dialect()
    ours, theirs = bind_processor(UTCDateTime(), dialect), UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    for value in (None, datetime(2026, 11, 24, 9, 30, tzinfo=JAKARTA), datetime(2026, 1, 1, tzinfo=timezone.utc),
                  datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=JAKARTA)):
        assert ours(value) == theirs(value), value
    for wrong in (datetime(2026, 1, 1), "2026-01-01"):
        with pytest.raises(ValueError):
            ours(wrong)


def test_insert_many_refuses_a_naive_timestamp_as_sqlalchemy_does(database_url):
    engine = make_engine(database_url)
    metadata.create_all(engine)
    with engine.begin() as conn, pytest.raises(ValueError, match="timezone"):
        insert_many(conn, things, [{"name": "x", "kind": "open", "size": 1.0, "active": True, "at": datetime(2026, 1, 1)}])
    engine.dispose()


def test_a_driver_query_reads_what_sqlalchemy_reads_inside_the_callers_transaction(database_url):
    engine = make_engine(database_url)
    metadata.create_all(engine)
    statement = select(things.c.name, things.c.size, things.c.active, things.c.at).where(
        things.c.kind.in_([literal("open"), literal("closed")]),
        things.c.at >= bindparam("since"),
        things.c.size.between(bindparam("low"), bindparam("high")),
    ).order_by(things.c.name)
    query = DriverStatement(statement)
    since = datetime(2026, 11, 24, 9, 40, tzinfo=JAKARTA)
    with engine.begin() as conn:
        insert_many(conn, things, rows("t"))  # not committed: the query must see it in this transaction
        params = {"since": since, "low": 2.0, "high": 8.0}
        fast = query.rows(conn, params)
        core = [tuple(r) for r in conn.execute(statement, params).all()]
    assert fast == core
    assert len(fast) >= 5
    assert all(at.tzinfo is not None and at >= since for _, _, _, at in fast)
    engine.dispose()
