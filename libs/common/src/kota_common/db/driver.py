"""Statements run straight on the driver for hot paths, with the columns' bind and result processors applied
here. They read SQLAlchemy's compiled statements (positiontup, binds, insert_prefetch, escaped_bind_names):
tests/integration/test_driver_statements.py fails loudly if a SQLAlchemy release changes what they read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import UTCDateTime


def bind_processor(column_type, dialect) -> Callable | None:
    """What SQLAlchemy does to a parameter of `column_type` before the driver gets it. For a UTC timestamp on
    SQLite, the same text written directly: SQLAlchemy's formats it through a dict, and intake binds about
    fifteen timestamps a submission (a test holds the two equal)."""
    if dialect.name == "sqlite" and isinstance(column_type, UTCDateTime):
        return _sqlite_utc_text
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"a timestamp must be a datetime with timezone information, not {value!r}")
    if value.tzinfo is not timezone.utc:  # Kota makes them in UTC: most need no conversion
        value = value.astimezone(timezone.utc)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


_INSERT_PLANS: dict[tuple, tuple[str, tuple[str, ...] | None, dict[str, Callable]] | None] = {}


def insert_many(conn: Connection, table: Table, rows: list[dict]) -> None:
    """Inserts rows that all have the same keys, as one executemany of a statement compiled once per table and
    key set, each value converted by its column's bind processor here. `conn.execute(insert(table), rows)`
    rebuilds every row's parameters through the compiler: per row, that cost more than SQLite's own work."""
    keys = tuple(rows[0])
    plan_key = (conn.dialect.name, conn.dialect.driver, table, keys)
    if plan_key not in _INSERT_PLANS:
        _INSERT_PLANS[plan_key] = _insert_plan(conn.dialect, table, keys)
    plan = _INSERT_PLANS[plan_key]
    if plan is None:  # a column default the statement computes, or escaped names: SQLAlchemy's way
        conn.execute(insert(table), rows)
        return
    sql, positions, processors = plan
    if processors:
        rows = [{**row, **{k: p(row[k]) for k, p in processors.items()}} for row in rows]
    if positions is None:
        conn.exec_driver_sql(sql, rows)
    else:
        conn.exec_driver_sql(sql, [tuple(row[k] for k in positions) for row in rows])


def _insert_plan(dialect, table: Table, keys: tuple[str, ...]):
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    positions = tuple(compiled.positiontup) if compiled.positiontup is not None else None
    if compiled.insert_prefetch or compiled.escaped_bind_names or sorted(positions or compiled.binds) != sorted(keys):
        return None
    processors = {key: p for key in keys if (p := bind_processor(table.c[key].type, dialect)) is not None}
    return str(compiled), positions, processors


class DriverStatement:
    """A Core statement compiled once per dialect and run straight on the driver's cursor of the caller's
    connection (so inside its transaction), with the columns' bind and result processors applied here. For a
    statement on a hot path: SQLAlchemy's per-execution work (building the statement, its cache key, the
    parameters, the result object) cost more than SQLite's own for an indexed lookup or a one-row update."""

    def __init__(self, statement):
        self.statement = statement
        self._plans: dict[tuple[str, str], list] = {}

    def rows(self, conn: Connection, params: dict) -> list[tuple]:
        """The rows a SELECT finds."""
        cursor, plan = self._execute(conn, params)
        try:
            found = cursor.fetchall()
            result_processors = plan[4]
            if result_processors is None:  # the driver's column types are known once a query has run
                result_processors = plan[4] = self._result_processors(conn.dialect, cursor.description)
        finally:
            cursor.close()
        if result_processors:
            found = [tuple(p(v) if p else v for p, v in zip(result_processors, row, strict=True)) for row in found]
        return found

    def execute(self, conn: Connection, params: dict) -> int:
        """Runs an INSERT, UPDATE or DELETE; the number of rows it changed."""
        cursor, _plan = self._execute(conn, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def _execute(self, conn: Connection, params: dict):
        dialect = conn.dialect
        plan = self._plans.get((dialect.name, dialect.driver)) or self._plan(dialect)
        sql, positions, fixed, bind_processors, _result_processors = plan
        values = dict(fixed)
        for key, value in params.items():
            processor = bind_processors.get(key)
            values[key] = processor(value) if processor else value
        dbapi_connection = conn.connection.dbapi_connection
        if dbapi_connection is None:  # invalidated, or closed underneath
            raise RuntimeError("the connection has no driver connection to run the statement on")
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(sql, values if positions is None else tuple(values[k] for k in positions))
        except BaseException:
            cursor.close()
            raise
        return cursor, plan

    def _plan(self, dialect) -> list:
        compiled = self.statement.compile(dialect=dialect)
        bind_processors, fixed = {}, {}
        for name, bind in compiled.binds.items():
            processor = bind_processor(bind.type, dialect)
            if bind.required:
                if processor is not None:
                    bind_processors[name] = processor
            else:  # a literal: its value is part of the statement
                fixed[name] = processor(bind.value) if processor else bind.value
        positions = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        plan = self._plans[(dialect.name, dialect.driver)] = [str(compiled), positions, fixed, bind_processors, None]
        return plan

    def _result_processors(self, dialect, description) -> list:
        processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, column_description[1])
            for column, column_description in zip(self.statement.selected_columns, description, strict=True)
        ]
        return processors if any(processors) else []
