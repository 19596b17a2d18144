"""Record storage: one table per dataset version with typed columns, indexes per dataset, a `_text` column
for full-text search. Works on SQLite and PostgreSQL (SQLAlchemy Core; tables are created at run time).

Table layout: `_id` integer primary key (insertion order), `_key` unique natural key (live datasets upsert
by it), `_text` lower-cased concatenation of the text fields, then one column per field:
int -> BIGINT, numeric -> DOUBLE, bool -> BOOLEAN, text/date/timestamp -> TEXT (ISO 8601, sorts correctly).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Connection

SQL_TYPES = {"int": BigInteger, "numeric": Float, "bool": Boolean, "text": Text, "date": Text, "timestamp": Text}
TEXT_TYPES = ("text",)
MAX_LIMIT = 32000


@dataclass(frozen=True)
class FieldDef:
    id: str
    type: str
    label: str = ""
    notes: str = ""

    @staticmethod
    def from_dict(d: dict) -> FieldDef:
        return FieldDef(d["id"], d["type"], d.get("label", ""), d.get("notes", ""))

    def as_dict(self) -> dict:
        return {"id": self.id, "type": self.type, "label": self.label, "notes": self.notes}


def fields_from_json(text: str) -> list[FieldDef]:
    return [FieldDef.from_dict(d) for d in json.loads(text)]


def fields_to_json(fields: Iterable[FieldDef]) -> str:
    return json.dumps([f.as_dict() for f in fields])


_metadata = MetaData()
_tables: dict[str, Table] = {}
_lock = threading.Lock()


def table_for(name: str, fields: Sequence[FieldDef], indexes: Sequence[Sequence[str]] = ()) -> Table:
    """The SQLAlchemy Table of a records table (cached per name; indexes only matter at creation)."""
    with _lock:
        found = _tables.get(name)
        if found is not None:
            return found
        columns: list[Column[Any]] = [
            Column("_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
            Column("_key", String(300), nullable=True, unique=True),
            Column("_text", Text, nullable=True),
        ]
        columns += [Column(f.id, SQL_TYPES[f.type](), nullable=True) for f in fields]
        table = Table(name, _metadata, *columns)
        for i, cols in enumerate(indexes):
            # _id last: the index then also serves the tie-break of every sort (see search), on PostgreSQL too
            Index(f"ix_{name}_{i}", *[table.c[c] for c in cols], table.c._id)
        _tables[name] = table
        return table


def create_table(conn: Connection, table: Table, full_text: bool = True) -> None:
    """Creates the records table, its indexes and its full-text index (idempotent). For a bulk load, pass
    full_text=False and call create_full_text_index after inserting: building it once is much faster."""
    table.create(conn, checkfirst=True)
    if full_text:
        create_full_text_index(conn, table)


def fts_name(table: Table) -> str:
    return f"{table.name}_fts"


def create_full_text_index(conn: Connection, table: Table) -> None:
    """SQLite: an FTS5 external-content table over `_text`, kept in sync by triggers. PostgreSQL: a GIN index
    on to_tsvector('simple', _text). Both give word-prefix matching without scanning the table."""
    name, fts = table.name, fts_name(table)
    if conn.dialect.name == "sqlite":
        exists = conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = ?", (fts,)).first()
        if exists:
            return
        conn.exec_driver_sql(f'CREATE VIRTUAL TABLE "{fts}" USING fts5(_text, content="{name}", content_rowid="_id")')
        conn.exec_driver_sql(f'CREATE TRIGGER "{name}_ai" AFTER INSERT ON "{name}" BEGIN '
                             f'INSERT INTO "{fts}"(rowid, _text) VALUES (new._id, new._text); END')
        conn.exec_driver_sql(f'CREATE TRIGGER "{name}_ad" AFTER DELETE ON "{name}" BEGIN '
                             f'INSERT INTO "{fts}"("{fts}", rowid, _text) VALUES (\'delete\', old._id, old._text); END')
        conn.exec_driver_sql(f'CREATE TRIGGER "{name}_au" AFTER UPDATE ON "{name}" BEGIN '
                             f'INSERT INTO "{fts}"("{fts}", rowid, _text) VALUES (\'delete\', old._id, old._text); '
                             f'INSERT INTO "{fts}"(rowid, _text) VALUES (new._id, new._text); END')
        conn.exec_driver_sql(f'INSERT INTO "{fts}"("{fts}") VALUES (\'rebuild\')')
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f'CREATE INDEX IF NOT EXISTS "{name}_fts" ON "{name}" '
                             f"USING gin (to_tsvector('simple', coalesce(_text, '')))")


def _full_text(table: Table, words: list[str], dialect: str):
    """Every word must start a word of the record's text fields (case-insensitive)."""
    if dialect == "sqlite":
        match = " ".join(f'"{w}"*' for w in words)
        return table.c._id.in_(
            select(literal_column("rowid")).select_from(text(f'"{fts_name(table)}"'))
            .where(text(f'"{fts_name(table)}" MATCH :fts_query').bindparams(fts_query=match))
        )
    if dialect == "postgresql":
        tsquery = " & ".join(f"{w}:*" for w in words)
        return text("to_tsvector('simple', coalesce(_text, '')) @@ to_tsquery('simple', :ts_query)").bindparams(
            ts_query=tsquery)
    clauses = []
    for word in words:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(table.c._text.like(f"%{escaped}%", escape="\\"))
    return and_(*clauses)


def _field_words(column, words: list[str]):
    """Every word starts a word of the column's text (case-insensitive): CKAN's q given as {field: text}."""
    lowered, clauses = func.lower(column), []
    for word in words:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(or_(lowered.like(f"{escaped}%", escape="\\"), lowered.like(f"% {escaped}%", escape="\\"),
                           lowered.like(f"%-{escaped}%", escape="\\")))
    return and_(*clauses)


def text_of(fields: Sequence[FieldDef], row: dict) -> str:
    return " ".join(str(row[f.id]) for f in fields if f.type in TEXT_TYPES and row.get(f.id)).lower()


def record_key(row: dict, key_fields: Sequence[str]) -> str:
    return "|".join("" if row.get(k) is None else str(row[k]) for k in key_fields)[:300]


def upsert(conn: Connection, table: Table, fields: Sequence[FieldDef], key: str, row: dict) -> bool:
    """Inserts or updates the record with natural key `key`; returns True when it was inserted."""
    values = {f.id: row.get(f.id) for f in fields if f.id in row}
    found = conn.execute(select(table.c._id).where(table.c._key == key)).first()
    if found is None:
        full = {f.id: row.get(f.id) for f in fields}
        conn.execute(table.insert().values(_key=key, _text=text_of(fields, full), **full))
        return True
    current = conn.execute(select(table).where(table.c._id == found[0])).mappings().first()
    if current is None:  # found by its key just now, on the same connection
        raise LookupError(f"record {key!r} of {table.name} vanished while being updated")
    merged = {f.id: current[f.id] for f in fields} | values
    conn.execute(table.update().where(table.c._id == found[0]).values(_text=text_of(fields, merged), **values))
    return False


def get(conn: Connection, table: Table, key: str) -> dict | None:
    found = conn.execute(select(table).where(table.c._key == key)).mappings().first()
    return dict(found) if found else None


def find(conn: Connection, table: Table, equals: dict[str, Any]) -> list[dict]:
    """Every record whose fields equal `equals` (few: for replacing a group of records at once)."""
    stmt = select(table).where(and_(*[table.c[name] == value for name, value in equals.items()]))
    return [dict(r) for r in conn.execute(stmt.order_by(table.c._id)).mappings()]


def delete(conn: Connection, table: Table, key: str) -> bool:
    return conn.execute(table.delete().where(table.c._key == key)).rowcount > 0


def insert_many(conn: Connection, table: Table, fields: Sequence[FieldDef], rows: Iterable[dict], chunk: int = 2000) -> int:
    batch, n = [], 0
    for row in rows:
        full = {f.id: row.get(f.id) for f in fields}
        full["_text"] = text_of(fields, full)
        batch.append(full)
        if len(batch) >= chunk:
            conn.execute(table.insert(), batch)
            n += len(batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
        n += len(batch)
    return n


@dataclass(frozen=True)
class Query:
    """A validated datastore query (see service_layer.records.validate_query)."""

    filters: dict[str, list]  # field -> accepted values (already typed)
    words: list[str]
    sort: list[tuple[str, bool]]  # (field, descending)
    limit: int
    offset: int
    fields: list[str]
    include_total: bool
    field_words: dict[str, list[str]] = field(default_factory=dict)  # text field -> words starting a word of it


def _where(table: Table, query: Query, dialect: str = ""):
    clauses = []
    for name, values in query.filters.items():
        col = table.c[name]
        non_null = [v for v in values if v is not None]
        parts = []
        if non_null:
            parts.append(col == non_null[0] if len(non_null) == 1 else col.in_(non_null))
        if len(non_null) != len(values):
            parts.append(col.is_(None))
        clauses.append(parts[0] if len(parts) == 1 else or_(*parts))
    if query.words:
        clauses.append(_full_text(table, query.words, dialect))
    for name, words in query.field_words.items():
        clauses.append(_field_words(table.c[name], words))
    return and_(*clauses) if clauses else None


def search(conn: Connection, table: Table, query: Query) -> tuple[list[dict], int]:
    """Returns (records, total); total is -1 when not asked for."""
    cols = [table.c._id] + [table.c[f] for f in query.fields if f != "_id"]
    stmt = select(*cols)
    where = _where(table, query, conn.dialect.name)
    if where is not None:
        stmt = stmt.where(where)
    order = [table.c[name].desc() if desc else table.c[name].asc() for name, desc in query.sort]
    if not any(name == "_id" for name, _ in query.sort):
        # stable paging; in the direction of the last key so that one index scan gives the whole order
        order.append(table.c._id.desc() if query.sort and query.sort[-1][1] else table.c._id.asc())
    stmt = stmt.order_by(*order).limit(query.limit).offset(query.offset)
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    total = -1
    if query.include_total:
        count = select(func.count()).select_from(table)
        if where is not None:
            count = count.where(where)
        total = conn.execute(count).scalar_one()
    return rows, total


def iterate(conn: Connection, table: Table, query: Query, batch: int = 5000) -> Iterable[list[dict]]:
    """All matching records in _id order, in batches (keyset paging, constant memory)."""
    last = 0
    where = _where(table, query, conn.dialect.name)
    while True:
        stmt = select(table).where(table.c._id > last)
        if where is not None:
            stmt = stmt.where(where)
        rows = [dict(r) for r in conn.execute(stmt.order_by(table.c._id).limit(batch)).mappings()]
        if not rows:
            return
        last = rows[-1]["_id"]
        yield rows


class SqlTimeout(Exception):
    """The statement ran longer than it was allowed to and was stopped."""


class SqlFailed(Exception):
    """The database refused the statement (an unknown column, a type error...); the message is the database's."""


def run_sql(conn: Connection, sql: str, max_rows: int, timeout_s: float) -> tuple[list[str], list[tuple], bool]:
    """Runs a checked SELECT (domain.sql_check) read-only, stopped after `timeout_s`, at most `max_rows` rows;
    (column names, rows, whether rows were cut). `conn` must not have run anything in its transaction yet.

    The checker already refuses everything but one SELECT; the database is told as well, so that a gap in the
    checker is a refused statement, not a write: PostgreSQL runs it in a READ ONLY transaction with a
    statement_timeout, SQLite with query_only and a progress handler that interrupts it at the deadline."""
    wrapped = f"SELECT * FROM ({sql}) AS kota_sql LIMIT {int(max_rows) + 1}"
    raw = conn.connection.dbapi_connection
    if raw is None:
        raise SqlFailed("no database connection")
    cursor = None
    try:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
            cursor = raw.cursor()
            cursor.execute(wrapped)  # no parameters: psycopg sends the text as it is ('%' included)
            rows = cursor.fetchall()
        else:
            deadline = time.monotonic() + timeout_s
            raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
            conn.exec_driver_sql("PRAGMA query_only = ON")
            try:
                cursor = raw.cursor()
                cursor.execute(wrapped)
                rows = cursor.fetchall()
            finally:
                raw.set_progress_handler(None, 0)
                conn.exec_driver_sql("PRAGMA query_only = OFF")
        names = [d[0] for d in cursor.description or ()]
    except Exception as exc:  # the DBAPI's errors: psycopg.Error, sqlite3.Error
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if type(exc).__name__ == "QueryCanceled" or message == "interrupted":
            raise SqlTimeout(f"stopped after {timeout_s:g} s") from None
        if not type(exc).__module__.startswith(("psycopg", "sqlite3")):
            raise
        raise SqlFailed(message) from None
    finally:
        if cursor is not None:
            cursor.close()
    return names, [tuple(r) for r in rows[:max_rows]], len(rows) > max_rows
