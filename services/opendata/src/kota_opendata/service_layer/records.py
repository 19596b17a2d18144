"""datastore_search: validating a query against a dataset's fields (BadRequest field violations) and running it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from kota_common.errors import InvalidArgument
from kota_opendata.adapters import datastore
from kota_opendata.adapters.datastore import FieldDef, Query

DEFAULT_LIMIT = 100


def _coerce(field: FieldDef, value):
    if value is None:
        return None
    if field.type == "int":
        if isinstance(value, bool):
            raise ValueError("expected an integer")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError("expected an integer")
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,18}", value.strip()):
            return int(value)
        raise ValueError("expected an integer")
    if field.type == "numeric":
        if isinstance(value, bool):
            raise ValueError("expected a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a number") from None
    if field.type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError("expected true or false")
    if isinstance(value, (dict, list)):
        raise ValueError("expected a text value")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def validate_query(
    fields: Sequence[FieldDef],
    *,
    filters: dict | None,
    q: str,
    sort: str,
    limit: int | None,
    offset: int,
    select_fields: Sequence[str],
    include_total: bool | None,
    field_q: dict[str, str] | None = None,
) -> Query:
    by_id = {f.id: f for f in fields} | {"_id": FieldDef("_id", "int")}
    violations: list[tuple[str, str]] = []
    typed: dict[str, list] = {}
    for name, raw in (filters or {}).items():
        field = by_id.get(name)
        if field is None:
            violations.append((f"filters.{name}", f"unknown field {name!r}"))
            continue
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            violations.append((f"filters.{name}", "an empty list matches nothing"))
            continue
        try:
            typed[name] = [_coerce(field, v) for v in values]
        except ValueError as exc:
            violations.append((f"filters.{name}", f"{exc} for {field.type} field {name!r}"))
    order: list[tuple[str, bool]] = []
    for clause in (sort or "").split(","):
        bits = clause.strip().strip('"').split()
        if not bits:
            continue
        name = bits[0].strip('"')
        direction = bits[1].lower() if len(bits) > 1 else "asc"
        if name not in by_id:
            violations.append(("sort", f"unknown field {name!r}"))
        elif len(bits) > 2 or direction not in ("asc", "desc"):
            violations.append(("sort", f"expected 'field [asc|desc]', got {clause.strip()!r}"))
        else:
            order.append((name, direction == "desc"))
    if limit is None:
        limit = DEFAULT_LIMIT
    if limit < 0 or limit > datastore.MAX_LIMIT:
        violations.append(("limit", f"must be between 0 and {datastore.MAX_LIMIT}"))
    if offset < 0:
        violations.append(("offset", "must not be negative"))
    chosen = list(select_fields) or [f.id for f in fields]
    for name in chosen:
        if name not in by_id:
            violations.append(("fields", f"unknown field {name!r}"))
    if len(q) > 500:
        violations.append(("q", "at most 500 characters"))
    field_words: dict[str, list[str]] = {}
    for name, text in (field_q or {}).items():
        field = by_id.get(name)
        if field is None or field.type != "text":
            violations.append((f"q.{name}", f"unknown text field {name!r}" if field is None else
                               f"{name!r} is a {field.type} field: search text fields, filter the others"))
        elif len(text) > 500:
            violations.append((f"q.{name}", "at most 500 characters"))
        elif words := [w.lower() for w in re.findall(r"\w+", text)][:10]:
            field_words[name] = words
    if violations:
        raise InvalidArgument("invalid datastore query", violations)
    words = [w.lower() for w in re.findall(r"\w+", q)][:10]
    return Query(
        filters=typed,
        words=words,
        sort=order or [("_id", False)],
        limit=limit,
        offset=offset,
        fields=[n for n in chosen if n != "_id"],
        include_total=True if include_total is None else include_total,
        field_words=field_words,
    )
