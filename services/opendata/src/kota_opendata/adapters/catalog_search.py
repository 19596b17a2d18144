"""A package_search plan (domain/search_query.py) as SQL over od_datasets: its WHERE, ORDER BY, page and facets
run in the database, on SQLite and PostgreSQL alike.

Tags and groups are stored as JSON lists (text); an element is found by its JSON spelling (`"sensor"`, quotes
included), which is exact on both databases without a JSON index. Facets on them unnest the lists in SQL
(json_each on SQLite, json_array_elements_text on PostgreSQL)."""

from __future__ import annotations

import fnmatch
import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, String, and_, case, cast, false, func, literal, not_, or_, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from kota_opendata.adapters.orm import DatasetRow
from kota_opendata.domain import search_query as sq

TABLE = DatasetRow.__table__  # type: ignore[attr-defined]  # SQLModel puts the Table there
T = TABLE.c
FORMATS = ("CSV", "GeoJSON")  # every dataset has a CSV resource; GeoJSON when its records have lat/lon


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _glob_to_like(pattern: str) -> str:
    """A Solr wildcard (`*`, `?`, backslash escapes) as a LIKE pattern (escape character backslash)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(_like_escape(pattern[i + 1]))
            i += 2
            continue
        out.append("%" if c == "*" else "_" if c == "?" else _like_escape(c))
        i += 1
    return "".join(out)


def _lower(column) -> ColumnElement[Any]:
    return func.lower(column)


def _spatial() -> ColumnElement[bool]:
    """The dataset's records have lat and lon (as queries.resources_of decides from its fields' JSON)."""
    return and_(T.fields.like('%"id": "lat"%'), T.fields.like('%"id": "lon"%'))


def _haystack() -> ColumnElement[Any]:
    sep = literal(" ")
    return _lower(T.name + sep + T.title + sep + T.notes + sep + T.tags + sep + T.groups + sep + T.organization)


_KEYWORD_COLUMNS = {"id": T.id, "name": T.name, "organization": T.organization, "license_id": T.license_id,
                    "frequency": T.frequency, "source": T.source, "version": cast(T.version, String)}
_TEXT_COLUMNS = {"title": lambda: _lower(T.title), "notes": lambda: _lower(T.notes), "text": _haystack}
_DATE_COLUMNS = {"metadata_modified": T.metadata_modified, "metadata_created": T.metadata_created}


def condition(node: sq.Node) -> ColumnElement[bool]:
    match node:
        case sq.MatchAll():
            return true()
        case sq.MatchNone():
            return false()
        case sq.Not(operand):
            return not_(condition(operand))
        case sq.And(operands):
            return and_(*[condition(o) for o in operands])
        case sq.Or(operands):
            return or_(*[condition(o) for o in operands])
        case sq.Range():
            return _range(node)
        case sq.Match():
            return _match(node)
    raise TypeError(f"not a search node: {node!r}")


def _range(node: sq.Range) -> ColumnElement[bool]:
    column = _DATE_COLUMNS.get(node.field)
    if column is None:
        column = _lower(_KEYWORD_COLUMNS[node.field])
    low, high = _bound(node.low), _bound(node.high)
    parts = []
    if low is not None:
        parts.append(column >= low if node.include_low else column > low)
    if high is not None:
        parts.append(column <= high if node.include_high else column < high)
    return and_(true(), *parts)


def _bound(value: datetime | str | None) -> datetime | str | None:
    """Keywords compare in lower case; the plan's naive UTC datetimes are bound as aware ones (UTCDateTime)."""
    if isinstance(value, str):
        return value.lower()
    return value.replace(tzinfo=timezone.utc) if value is not None else None


def _match(node: sq.Match) -> ColumnElement[bool]:
    name, value, mode = node.field, node.value, node.mode
    if name is None or sq.FIELDS[name] == sq.TEXT:
        column = _TEXT_COLUMNS[name or "text"]()
        if mode == "any":
            return column != ""
        like = _glob_to_like(value.lower()) if mode == "pattern" else _like_escape(value.lower())
        return column.like(f"%{like}%", escape="\\")
    if name == "res_format":
        formats = [f for f in FORMATS if mode == "any" or (fnmatch.fnmatchcase(f.lower(), value.lower()) if
                                                           mode == "pattern" else f.lower() == value.lower())]
        return or_(false(), *[true() if f == "CSV" else _spatial() for f in formats])
    if name in ("tags", "groups"):
        column = _lower(T.tags if name == "tags" else T.groups)
        if mode == "any":
            return column != "[]"
        if mode == "pattern":
            return column.like('%"' + _glob_to_like(value.lower()) + '"%', escape="\\")
        return column.like("%" + _like_escape(json.dumps(value).lower()) + "%", escape="\\")
    column = _lower(_KEYWORD_COLUMNS[name])
    if mode == "any":
        return and_(column.is_not(None), column != "")
    if mode == "pattern":
        return column.like(_glob_to_like(value.lower()), escape="\\")
    return column == value.lower()


def score(words: tuple[str, ...]) -> ColumnElement[Any] | None:
    """Relevance of q's words: 3 each found in the name or title, 2 in the tags, 1 elsewhere (None: no words)."""
    if not words:
        return None
    title = _lower(T.name + literal(" ") + T.title)
    parts = []
    for word in words:
        like = f"%{_like_escape(word)}%"
        parts.append(case((title.like(like, escape="\\"), 3), (_lower(T.tags).like(like, escape="\\"), 2), else_=1))
    total: ColumnElement[Any] = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def _sort_column(name: str, relevance):
    return {"score": relevance, "id": T.id, "name": T.name, "title": _lower(T.title), "title_string": _lower(T.title),
            "license_id": T.license_id, "organization": _lower(T.organization), "frequency": T.frequency,
            "source": T.source, "version": T.version, "metadata_modified": T.metadata_modified,
            "metadata_created": T.metadata_created}[name]


def page_ids(conn: Connection, plan: sq.SearchPlan) -> tuple[int, list[str]]:
    """(number of matches, the ids of the plan's page in its order)."""
    where = condition(plan.where)
    count = conn.execute(select(func.count()).select_from(TABLE).where(where)).scalar_one()
    if plan.rows == 0:
        return count, []
    relevance = score(plan.score_words)
    order = []
    for name, descending in plan.sort:
        column = _sort_column(name, relevance)
        if column is None:  # score without words: every dataset scores the same
            continue
        order.append(column.desc() if descending else column.asc())
    stmt = select(T.id).where(where).order_by(*order).limit(plan.rows).offset(plan.start)
    return count, [r[0] for r in conn.execute(stmt)]


def facets(conn: Connection, plan: sq.SearchPlan) -> dict[str, list[tuple[str, int]]]:
    """Counts of each facet field's values over every match (not only the page), most frequent first."""
    where = condition(plan.where)
    limit = None if plan.facet_limit < 0 else plan.facet_limit
    out: dict[str, list[tuple[str, int]]] = {}
    for name in plan.facet_fields:
        if name == "res_format":
            total, spatial = conn.execute(
                select(func.count(), func.coalesce(func.sum(case((_spatial(), 1), else_=0)), 0)).where(where)).one()
            items = [(f, int(n)) for f, n in (("CSV", total), ("GeoJSON", spatial)) if n]
        else:
            if name in ("tags", "groups"):
                source = T.tags if name == "tags" else T.groups
                if conn.dialect.name == "postgresql":
                    elements = func.json_array_elements_text(cast(source, JSON)).table_valued("value").alias("e")
                else:
                    elements = func.json_each(source).table_valued("value").alias("e")
                value: ColumnElement[Any] = elements.c.value
                stmt = select(value, func.count()).select_from(TABLE).join(elements, true())
            else:
                value = _lower(T.organization) if name == "organization" else T[name]
                stmt = select(value, func.count()).select_from(TABLE)
            stmt = stmt.where(where).group_by(value).order_by(func.count().desc(), value)
            if limit is not None:
                stmt = stmt.limit(limit)
            items = [(str(v), int(n)) for v, n in conn.execute(stmt) if v not in (None, "")]
        out[name] = items[:limit] if limit is not None else items
    return out


def autocomplete(conn: Connection, text: str, limit: int) -> list[tuple[str, str, str]]:
    """(name, title, matched field) of datasets whose name or title contains `text`; name matches first, then
    shorter names first."""
    like = f"%{_like_escape(text.lower())}%"
    name_hit, title_hit = _lower(T.name).like(like, escape="\\"), _lower(T.title).like(like, escape="\\")
    stmt = (select(T.name, T.title, case((name_hit, "name"), else_="title"))
            .where(or_(name_hit, title_hit))
            .order_by(case((name_hit, 0), else_=1), func.length(T.name), T.name).limit(limit))
    return [(n, t, m) for n, t, m in conn.execute(stmt)]

