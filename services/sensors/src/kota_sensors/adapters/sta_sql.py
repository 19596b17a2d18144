"""A SensorThings query plan (the gateway's OData AST, as JSON) turned into SQL and run in the database.

Each entity set is a table (or a view of one) under an alias: Things, Locations, Sensors, FeaturesOfInterest and
HistoricalLocations over `devices`, Datastreams over `datastreams`, ObservedProperties over the distinct
quantities of `datastreams`, Observations over `observations`. A property path in $filter or $orderby walks
navigation properties: to-one steps become LEFT JOINs of the query; a path through a to-many step
(`Things?$filter=Datastreams/ObservedProperty/@iot.id eq 'pm25'`) makes the whole filter a semi-join
(`pk IN (SELECT pk ... JOIN ... WHERE filter)`), so an entity is listed once however many of its datastreams match.
$expand runs one query per level for the whole page, with ROW_NUMBER() per parent for the nested $top/$skip.

Functions are SQL expressions that SQLite and PostgreSQL both run, except where noted per dialect (substringof:
instr/strpos; year/month/day: strftime/extract). Geospatial functions on points (every Location and
FeatureOfInterest here is a point) are plain arithmetic on the `lat`/`lon` columns: a bounding-box test first
(cheap, and an index could serve it), then the exact even-odd ray cast against the literal's edges; PostGIS is not
needed and not used.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.sql import ColumnElement, FromClause
from sqlmodel import Session

from kota_common.db.tables import table_of
from kota_common.standards.sensorthings import MAX_EXPAND_DEPTH, MAX_TOP, NAVIGATION
from kota_sensors.adapters.orm import DatastreamRow, DeviceRow, ObservationRow
from kota_sensors.domain import sta
from kota_sensors.domain.sta import PlanError
from kota_sensors.domain.validation import QUANTITIES

DEVICES = table_of(DeviceRow)
DATASTREAMS = table_of(DatastreamRow)
OBSERVATIONS = table_of(ObservationRow)
DAY_MS = 86_400_000


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _quantity_case(column, attribute: str, prefix: str = "") -> ColumnElement:
    """The quantity's name, unit or definition from QUANTITIES, as a CASE on the quantity column."""
    whens = {code: prefix + (getattr(q, attribute) or (f"urn:kota:quantity:{code}" if attribute == "definition" else ""))
             for code, q in QUANTITIES.items()}
    fallback = column if attribute == "name" else literal(prefix + "urn:kota:unknown") if attribute == "definition" else literal("")
    return case(whens, value=column, else_=fallback)


# -- typed SQL values ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Value:
    """A compiled expression and its type: string, number, bool, datetime (epoch ms), date (days), time (ms of
    day), duration (ms), interval (`sql` the start, `end` the end; epoch ms), point (`sql` lon, `end` lat),
    geo (a literal: `geometry`), null."""

    sql: Any
    type: str
    end: Any = None
    geometry: dict | None = None
    constant: Any = None  # the Python value of a literal (for literal-only functions)
    is_literal: bool = False


def _lit(value: Any, kind: str) -> Value:
    if kind == "null":
        return Value(null(), "null", is_literal=True)
    if kind == "geo":
        return Value(None, "geo", geometry=value, constant=value, is_literal=True)
    types = {"string": String(), "int": BigInteger(), "float": Float(), "bool": None, "datetime": BigInteger(),
             "date": Integer(), "time": BigInteger(), "duration": BigInteger()}
    if kind not in types:
        raise PlanError(f"unknown literal type {kind!r}")
    if kind in ("int", "datetime", "date", "time", "duration") and not (isinstance(value, int) and -2**63 < value < 2**63):
        raise PlanError(f"{value!r} is out of range for a {kind}")
    if kind == "float" and not (isinstance(value, int | float) and math.isfinite(value)):
        raise PlanError(f"{value!r} is not a finite number")
    sql = (true() if value else false()) if kind == "bool" else literal(value, types[kind])
    kind = {"int": "number", "float": "number"}.get(kind, kind)
    return Value(sql, kind, constant=value, is_literal=True)


# -- entity sets ---------------------------------------------------------------------------------------------------
@dataclass
class EntitySet:
    """How one entity set reads from its table: properties as SQL on its alias, its key, its rows as JSON."""

    name: str
    table: Callable[[], FromClause]
    key_columns: Callable[[Any], list]
    id_of: Callable[[Any], Value]
    properties: Callable[[Any], dict[str, Value]]
    render: Callable[[Any], dict]
    always: Callable[[Any], ColumnElement] = lambda a: true()
    default_order: Callable[[Any], list] = lambda a: []


def _concat(*parts) -> ColumnElement:
    out = parts[0]
    for p in parts[1:]:
        out = out.op("||")(p)
    return out


def _description(d) -> ColumnElement:
    return func.coalesce(func.nullif(d.c.location_description, ""), d.c.name)


def _device_props(d) -> dict[str, Value]:
    return {"@iot.id": Value(d.c.id, "string"), "id": Value(d.c.id, "string")}


def _thing_props(d) -> dict[str, Value]:
    return {**_device_props(d), "name": Value(d.c.name, "string"), "description": Value(_description(d), "string"),
            "properties/kind": Value(d.c.kind, "string"), "properties/owner_agency": Value(d.c.owner_agency, "string"),
            "properties/kota_code": Value(d.c.kota_code, "string"), "properties/route_id": Value(d.c.route_id, "string"),
            "properties/last_seen_at": Value(d.c.last_seen_ms, "datetime")}


def _place_props(d, geometry_name: str) -> dict[str, Value]:
    return {**_device_props(d), "name": Value(_description(d), "string"), "description": Value(_description(d), "string"),
            "encodingType": Value(literal(sta.ENCODING_GEOJSON), "string"), geometry_name: Value(d.c.lon, "point", d.c.lat)}


def _sensor_props(d) -> dict[str, Value]:
    return {**_device_props(d), "name": Value(func.coalesce(func.nullif(d.c.sensor_model, ""), d.c.name), "string"),
            "description": Value(_concat(d.c.kind, literal(" sensor of "), d.c.name), "string"),
            "encodingType": Value(literal("text/plain"), "string"), "metadata": Value(d.c.sensor_model, "string")}


def _datastream_props(ds) -> dict[str, Value]:
    name = _quantity_case(ds.c.quantity, "name")
    unit = _quantity_case(ds.c.quantity, "unit")
    return {"@iot.id": Value(ds.c.id, "string"), "id": Value(ds.c.id, "string"),
            "name": Value(_concat(ds.c.device_id, literal(" "), name), "string"),
            "description": Value(_concat(name, literal(" at "), ds.c.device_id), "string"),
            "unitOfMeasurement/name": Value(unit, "string"), "unitOfMeasurement/symbol": Value(unit, "string"),
            "unitOfMeasurement/definition": Value(_concat(literal("urn:kota:unit:"), unit), "string"),
            "observationType": Value(literal(sta.OBSERVATION_TYPE), "string"),
            "phenomenonTime": Value(ds.c.first_ms, "interval", ds.c.latest_ms),
            "properties/latest_value": Value(ds.c.latest_value, "number"),
            "properties/latest_time": Value(ds.c.latest_ms, "datetime")}


def _observed_property_props(op) -> dict[str, Value]:
    name = _quantity_case(op.c.quantity, "name")
    return {"@iot.id": Value(op.c.quantity, "string"), "id": Value(op.c.quantity, "string"), "name": Value(name, "string"),
            "description": Value(name, "string"), "definition": Value(_quantity_case(op.c.quantity, "definition"), "string")}


def _observation_id(o) -> ColumnElement:
    return _concat(o.c.device_id, literal(":"), o.c.quantity, literal(":"), cast(o.c.ts_ms, String))


def _observation_props(o) -> dict[str, Value]:
    return {"@iot.id": Value(_observation_id(o), "string"), "id": Value(_observation_id(o), "string"),
            "phenomenonTime": Value(o.c.ts_ms, "datetime"), "resultTime": Value(o.c.ts_ms, "datetime"),
            "result": Value(o.c.value, "number")}


def _point(row) -> dict | None:
    if row.lat is None or row.lon is None:
        return None
    return {"type": "Point", "coordinates": [row.lon, row.lat]}


def _place(row, geometry_name: str) -> dict:
    description = row.location_description or row.name
    return {"@iot.id": row.id, "name": description, "description": description, "encodingType": sta.ENCODING_GEOJSON,
            geometry_name: _point(row)}


def _datastream_row(row) -> dict:
    q = QUANTITIES.get(row.quantity)
    name, unit = (q.name, q.unit) if q else (row.quantity, "")
    first, latest = _iso(row.first_ms), _iso(row.latest_ms)
    return {"@iot.id": row.id, "name": f"{row.device_id} {name}", "description": f"{name} at {row.device_id}",
            "observationType": sta.OBSERVATION_TYPE,
            "unitOfMeasurement": {"name": unit, "symbol": unit, "definition": f"urn:kota:unit:{unit}"},
            "phenomenonTime": f"{first}/{latest}" if first and latest else None, "resultTime": None,
            "observedArea": None, "properties": {"latest_value": row.latest_value, "latest_time": latest}}


def _observed_property_row(row) -> dict:
    q = QUANTITIES.get(row.quantity)
    name = q.name if q else row.quantity
    return {"@iot.id": row.quantity, "name": name, "description": name,
            "definition": (q.definition if q and q.definition else f"urn:kota:quantity:{row.quantity}")}


def _observed_properties():
    return select(DATASTREAMS.c.quantity).distinct().subquery()


ENTITY_SETS: dict[str, EntitySet] = {
    "Things": EntitySet(
        "Things", lambda: DEVICES, lambda d: [d.c.id], lambda d: Value(d.c.id, "string"), _thing_props,
        lambda r: {"@iot.id": r.id, "name": r.name, "description": r.location_description or r.name,
                   "properties": {"kind": r.kind, "owner_agency": r.owner_agency, "kota_code": r.kota_code,
                                  "route_id": r.route_id or None, "last_seen_at": _iso(r.last_seen_ms)}}),
    "Locations": EntitySet(
        "Locations", lambda: DEVICES, lambda d: [d.c.id], lambda d: Value(d.c.id, "string"),
        lambda d: _place_props(d, "location"), lambda r: _place(r, "location"), lambda d: d.c.lat.is_not(None)),
    "FeaturesOfInterest": EntitySet(
        "FeaturesOfInterest", lambda: DEVICES, lambda d: [d.c.id], lambda d: Value(d.c.id, "string"),
        lambda d: _place_props(d, "feature"), lambda r: _place(r, "feature"), lambda d: d.c.lat.is_not(None)),
    "HistoricalLocations": EntitySet(  # devices do not move: always empty
        "HistoricalLocations", lambda: DEVICES, lambda d: [d.c.id], lambda d: Value(d.c.id, "string"),
        lambda d: {**_device_props(d), "time": Value(d.c.last_seen_ms, "datetime")},
        lambda r: {"@iot.id": r.id, "time": None}, lambda d: false()),
    "Sensors": EntitySet(
        "Sensors", lambda: DEVICES, lambda d: [d.c.id], lambda d: Value(d.c.id, "string"), _sensor_props,
        lambda r: {"@iot.id": r.id, "name": r.sensor_model or r.name, "description": f"{r.kind} sensor of {r.name}",
                   "encodingType": "text/plain", "metadata": r.sensor_model}),
    "Datastreams": EntitySet(
        "Datastreams", lambda: DATASTREAMS, lambda ds: [ds.c.id], lambda ds: Value(ds.c.id, "string"),
        _datastream_props, _datastream_row),
    "ObservedProperties": EntitySet(
        "ObservedProperties", _observed_properties, lambda op: [op.c.quantity],
        lambda op: Value(op.c.quantity, "string"), _observed_property_props, _observed_property_row),
    "Observations": EntitySet(
        "Observations", lambda: OBSERVATIONS, lambda o: [o.c.device_id, o.c.quantity, o.c.ts_ms],
        lambda o: Value(_observation_id(o), "string"), _observation_props,
        lambda r: {"@iot.id": f"{r.device_id}:{r.quantity}:{r.ts_ms}", "phenomenonTime": _iso(r.ts_ms),
                   "resultTime": _iso(r.ts_ms), "result": r.value, "resultQuality": None, "validTime": None,
                   "parameters": None},
        default_order=lambda o: [o.c.ts_ms.desc()]),
}


def navigation_condition(source: str, nav: str, a, b) -> ColumnElement:
    """How the entity under alias `a` (of `source`) relates to the one under `b` by `nav`."""
    target, _ = NAVIGATION[source][nav]
    if target == "HistoricalLocations":
        return false()
    if source == "Datastreams":
        if nav in ("Thing", "Sensor"):
            return b.c.id == a.c.device_id
        if nav == "ObservedProperty":
            return b.c.quantity == a.c.quantity
        return and_(b.c.device_id == a.c.device_id, b.c.quantity == a.c.quantity)
    if source == "Observations":
        if nav == "Datastream":
            return and_(b.c.device_id == a.c.device_id, b.c.quantity == a.c.quantity)
        return b.c.id == a.c.device_id
    if source == "ObservedProperties":
        return b.c.quantity == a.c.quantity
    # from a device-based set (Things, Locations, Sensors, FeaturesOfInterest, HistoricalLocations)
    if target == "Datastreams":
        return b.c.device_id == a.c.id
    if target == "Observations":
        return b.c.device_id == a.c.id
    return b.c.id == a.c.id


# -- compiling expressions -----------------------------------------------------------------------------------------
@dataclass
class Scope:
    """The aliases an expression joins, by property-path prefix; whether one of them is to-many."""

    entity_set: str
    alias: Any
    dialect: str
    joins: dict[tuple[str, ...], tuple[Any, ColumnElement]] = field(default_factory=dict)
    to_many: bool = False
    now_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    _properties: dict[int, dict[str, Value]] = field(default_factory=dict)

    def properties_of(self, entity_set: str, alias) -> dict[str, Value]:
        """The entity's properties on `alias`, built once per alias (the CASE expressions cost)."""
        if id(alias) not in self._properties:
            self._properties[id(alias)] = ENTITY_SETS[entity_set].properties(alias)
        return self._properties[id(alias)]

    def property(self, path: list[str]) -> Value:
        current, alias = self.entity_set, self.alias
        prefix: tuple[str, ...] = ()
        i = 0
        while i < len(path) and path[i] in NAVIGATION[current]:
            nav = path[i]
            target, many = NAVIGATION[current][nav]
            prefix = (*prefix, nav)
            if prefix not in self.joins:
                joined = ENTITY_SETS[target].table().alias()
                on = and_(navigation_condition(current, nav, alias, joined), ENTITY_SETS[target].always(joined))
                self.joins[prefix] = (joined, on)
            self.to_many = self.to_many or many
            alias, current = self.joins[prefix][0], target
            i += 1
        name = "/".join(path[i:])
        props = self.properties_of(current, alias)
        if not name:
            raise PlanError(f"{'/'.join(path)} is an entity, not a value: name one of its properties")
        if name not in props:
            known = ", ".join(sorted(k for k in props if k != "id"))
            raise PlanError(f"{current} has no property {name!r} that can be filtered on (known: {known})")
        return props[name]


_COMPARE = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
            "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}


def _as_time(v: Value, wanted: str) -> Value:
    """A string literal where a time is expected, read as ISO 8601 ('2026-01-01T00:00:00Z')."""
    if v.is_literal and v.type == "string" and wanted in ("datetime", "interval"):
        try:
            at = datetime.fromisoformat(str(v.constant).replace("Z", "+00:00"))
        except ValueError:
            raise PlanError(f"not an ISO 8601 time: {v.constant!r}") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        return _lit(int(at.timestamp() * 1000), "datetime")
    return v


class Compiler:
    def __init__(self, scope: Scope):
        self.scope = scope

    def boolean(self, node: dict) -> ColumnElement:
        v = self.value(node)
        if v.type != "bool":
            raise PlanError(f"a filter must be true or false, not a {v.type}")
        return v.sql

    def value(self, node: dict) -> Value:
        if "lit" in node:
            return _lit(node["lit"], node.get("type", ""))
        if "prop" in node:
            return self.scope.property([str(p) for p in node["prop"]])
        if "op" in node:
            return self.operation(node["op"], [self.value(a) for a in node.get("args", [])], node)
        if "fn" in node:
            return self.function(node["fn"], [self.value(a) for a in node.get("args", [])])
        raise PlanError(f"not an expression: {node!r}")

    # operators
    def operation(self, op: str, args: list[Value], node: dict) -> Value:
        if op in ("and", "or"):
            a, b = (self._bool(x) for x in args)
            return Value((and_ if op == "and" else or_)(a, b), "bool")
        if op == "not":
            return Value(not_(self._bool(args[0])), "bool")
        if op == "neg":
            if args[0].type not in ("number", "duration"):
                raise PlanError(f"cannot negate a {args[0].type}")
            return Value(-args[0].sql, args[0].type)
        if op in _COMPARE:
            return self.compare(op, args[0], args[1], node)
        if op in ("add", "sub", "mul", "div", "mod"):
            return self.arithmetic(op, args[0], args[1])
        raise PlanError(f"unknown operator {op!r}")

    @staticmethod
    def _bool(v: Value) -> ColumnElement:
        if v.type != "bool":
            raise PlanError(f"and/or/not take true or false, not a {v.type}")
        return v.sql

    def compare(self, op: str, a: Value, b: Value, node: dict) -> Value:
        a, b = _as_time(a, b.type), _as_time(b, a.type)
        if b.type == "null" or a.type == "null":
            other = a if b.type == "null" else b
            if op not in ("eq", "ne") or other.type in ("point", "geo"):
                raise PlanError(f"{op} null: only eq and ne compare with null")
            sql = other.sql.is_(None) if op == "eq" else other.sql.is_not(None)
            return Value(sql, "bool")
        if "interval" in (a.type, b.type):
            return self._compare_interval(op, a, b)
        if a.type == "point" or b.type == "point" or "geo" in (a.type, b.type):
            raise PlanError("geometries compare through st_equals or geo.intersects, not " + op)
        comparable = {("number", "number"), ("string", "string"), ("bool", "bool"), ("datetime", "datetime"),
                      ("date", "date"), ("time", "time"), ("duration", "duration")}
        if (a.type, b.type) not in comparable:
            raise PlanError(f"cannot compare a {a.type} with a {b.type}")
        if a.type == "string" and op == "eq" and self.scope.entity_set == "Observations":
            split = self._observation_id_eq(a, b)
            if split is not None:
                return split
        return Value(_COMPARE[op](a.sql, b.sql), "bool")

    def _observation_id_eq(self, a: Value, b: Value) -> Value | None:
        """`@iot.id eq 'DKI1:pm25:1700000000000'` on the primary key's columns, not on their concatenation."""
        for column, other in (a, b), (b, a):
            ids = {"@iot.id", "id"}
            if other.is_literal and any(column.sql is v.sql for k, v in self._own_ids().items() if k in ids):
                parts = sta.observation_key(str(other.constant))
                o = self.scope.alias
                if parts is None:
                    return Value(false(), "bool")
                return Value(and_(o.c.device_id == parts[0], o.c.quantity == parts[1], o.c.ts_ms == parts[2]), "bool")
        return None

    def _own_ids(self) -> dict[str, Value]:
        props = self.scope.properties_of(self.scope.entity_set, self.scope.alias)
        return {k: v for k, v in props.items() if k in ("@iot.id", "id")}

    def _compare_interval(self, op: str, a: Value, b: Value) -> Value:
        """An interval against a time (or another interval): gt/ge on its start, lt/le on its end, eq both."""
        if a.type != "interval":
            flipped = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}.get(op, op)
            return self._compare_interval(flipped, b, a)
        if b.type not in ("datetime", "interval"):
            raise PlanError(f"cannot compare a time interval with a {b.type}")
        b_start, b_end = b.sql, (b.end if b.type == "interval" else b.sql)
        start, end = a.sql, a.end
        sql = {"gt": start > b_end, "ge": start >= b_end, "lt": end < b_start, "le": end <= b_start,
               "eq": and_(start == b_start, end == b_end), "ne": or_(start != b_start, end != b_end)}[op]
        return Value(sql, "bool")

    def arithmetic(self, op: str, a: Value, b: Value) -> Value:
        kinds = (a.type, b.type)
        if kinds == ("number", "number"):
            if op == "mod":
                if self.scope.dialect == "postgresql":
                    return Value(func.mod(cast(a.sql, _numeric()), cast(b.sql, _numeric())), "number")
                return Value(a.sql.op("%")(b.sql), "number")
            if op == "div":
                return Value(a.sql.op("/")(b.sql), "number")
            return Value({"add": a.sql + b.sql, "sub": a.sql - b.sql, "mul": a.sql * b.sql}[op], "number")
        if op in ("add", "sub") and a.type == "datetime" and b.type == "duration":
            return Value(a.sql + b.sql if op == "add" else a.sql - b.sql, "datetime")
        if op == "add" and a.type == "duration" and b.type == "datetime":
            return Value(a.sql + b.sql, "datetime")
        if op == "sub" and kinds == ("datetime", "datetime"):
            return Value(a.sql - b.sql, "duration")
        if op in ("add", "sub") and kinds == ("duration", "duration"):
            return Value(a.sql + b.sql if op == "add" else a.sql - b.sql, "duration")
        raise PlanError(f"{op} does not apply to a {a.type} and a {b.type}")

    # functions
    def function(self, name: str, args: list[Value]) -> Value:
        handler = getattr(self, "fn_" + name.replace(".", "_"), None)
        if handler is None:
            raise PlanError(f"unknown function {name!r}")
        return handler(*args)

    def _strings(self, name: str, *args: Value) -> list:
        for a in args:
            if a.type != "string":
                raise PlanError(f"{name} takes strings, not a {a.type}")
        return [a.sql for a in args]

    def _position(self, haystack, needle) -> ColumnElement:
        """1-based position of needle in haystack, 0 when absent."""
        if self.scope.dialect == "postgresql":
            return func.strpos(haystack, needle)
        return func.instr(haystack, needle)

    def fn_substringof(self, needle: Value, haystack: Value) -> Value:
        n, h = self._strings("substringof", needle, haystack)
        return Value(self._position(h, n) > 0, "bool")

    def fn_contains(self, haystack: Value, needle: Value) -> Value:
        return self.fn_substringof(needle, haystack)

    def fn_startswith(self, s: Value, prefix: Value) -> Value:
        s_, p = self._strings("startswith", s, prefix)
        return Value(func.substr(s_, 1, func.length(p)) == p, "bool")

    def fn_endswith(self, s: Value, suffix: Value) -> Value:
        s_, p = self._strings("endswith", s, suffix)
        return Value(and_(func.length(s_) >= func.length(p),
                          func.substr(s_, func.length(s_) - func.length(p) + 1) == p), "bool")

    def fn_length(self, s: Value) -> Value:
        return Value(func.length(*self._strings("length", s)), "number")

    def fn_indexof(self, s: Value, t: Value) -> Value:
        s_, t_ = self._strings("indexof", s, t)
        return Value(self._position(s_, t_) - 1, "number")

    def fn_substring(self, s: Value, start: Value, count: Value | None = None) -> Value:
        (s_,) = self._strings("substring", s)
        if start.type != "number" or (count is not None and count.type != "number"):
            raise PlanError("substring takes a string and numbers")
        args = [s_, cast(start.sql + 1, Integer)] + ([cast(count.sql, Integer)] if count is not None else [])
        return Value(func.substr(*args), "string")

    def fn_tolower(self, s: Value) -> Value:
        return Value(func.lower(*self._strings("tolower", s)), "string")

    def fn_toupper(self, s: Value) -> Value:
        return Value(func.upper(*self._strings("toupper", s)), "string")

    def fn_trim(self, s: Value) -> Value:
        return Value(func.trim(*self._strings("trim", s)), "string")

    def fn_concat(self, a: Value, b: Value) -> Value:
        return Value(_concat(*self._strings("concat", a, b)), "string")

    # dates and times: epoch milliseconds; hour, minute and second are arithmetic, year, month and day the
    # dialect's calendar
    def _ms(self, name: str, v: Value) -> Any:
        if v.type in ("datetime", "interval"):
            return v.sql
        if v.type == "date":
            return v.sql * DAY_MS
        raise PlanError(f"{name} takes a date-time, not a {v.type}")

    def _calendar(self, part: str, v: Value) -> Value:
        ms = self._ms(part, v)
        if self.scope.dialect == "postgresql":
            at = func.timezone("UTC", func.to_timestamp(ms / 1000.0))
            return Value(cast(func.date_part(part, at), Integer), "number")
        fmt = {"year": "%Y", "month": "%m", "day": "%d"}[part]
        return Value(cast(func.strftime(fmt, ms.op("/")(1000), "unixepoch"), Integer), "number")

    def fn_year(self, v: Value) -> Value:
        return self._calendar("year", v)

    def fn_month(self, v: Value) -> Value:
        return self._calendar("month", v)

    def fn_day(self, v: Value) -> Value:
        return self._calendar("day", v)

    def _part(self, name: str, v: Value, unit_ms: int, modulo: int) -> Value:
        ms = v.sql if v.type == "time" else self._ms(name, v)
        return Value(ms.op("/")(unit_ms).op("%")(modulo), "number")

    def fn_hour(self, v: Value) -> Value:
        return self._part("hour", v, 3_600_000, 24)

    def fn_minute(self, v: Value) -> Value:
        return self._part("minute", v, 60_000, 60)

    def fn_second(self, v: Value) -> Value:
        return self._part("second", v, 1000, 60)

    def fn_fractionalseconds(self, v: Value) -> Value:
        ms = v.sql if v.type == "time" else self._ms("fractionalseconds", v)
        return Value(ms.op("%")(1000) / 1000.0, "number")

    def fn_date(self, v: Value) -> Value:
        return Value(self._ms("date", v).op("/")(DAY_MS), "date")

    def fn_time(self, v: Value) -> Value:
        return Value(self._ms("time", v).op("%")(DAY_MS), "time")

    def fn_totaloffsetminutes(self, v: Value) -> Value:
        self._ms("totaloffsetminutes", v)
        return _lit(0, "int")  # every time here is UTC

    def fn_now(self) -> Value:
        return _lit(self.scope.now_ms, "datetime")

    def fn_mindatetime(self) -> Value:
        return _lit(-62_135_596_800_000, "datetime")  # 0001-01-01T00:00:00Z

    def fn_maxdatetime(self) -> Value:
        return _lit(253_402_300_799_999, "datetime")  # 9999-12-31T23:59:59.999Z

    # math
    def _number(self, name: str, v: Value):
        if v.type != "number":
            raise PlanError(f"{name} takes a number, not a {v.type}")
        return v.sql

    def fn_round(self, v: Value) -> Value:
        """Half away from zero, as OData's round: PostgreSQL rounds a double half to even, a numeric away."""
        x = self._number("round", v)
        if self.scope.dialect == "postgresql":
            return Value(cast(func.round(cast(x, _numeric())), Float), "number")
        return Value(func.round(x), "number")

    def fn_floor(self, v: Value) -> Value:
        return Value(func.floor(self._number("floor", v)), "number")

    def fn_ceiling(self, v: Value) -> Value:
        x = self._number("ceiling", v)
        return Value(func.ceiling(x) if self.scope.dialect == "postgresql" else func.ceil(x), "number")

    # geospatial: one side a point column (a Location's or FeatureOfInterest's), the other a literal; or two
    # literals, answered here
    def _geo(self, name: str, a: Value, b: Value) -> tuple[Value, dict] | None:
        if a.type == "geo" and b.type == "geo":
            return None
        if a.type == "point" and b.type == "geo":
            return a, b.geometry or {}
        if a.type == "geo" and b.type == "point":
            return b, a.geometry or {}
        if a.type == "point" and b.type == "point":
            raise PlanError(f"{name}: one side must be a geography literal (two stored locations are not compared)")
        raise PlanError(f"{name} takes geometries, not a {a.type} and a {b.type}")

    def fn_geo_distance(self, a: Value, b: Value) -> Value:
        found = self._geo("geo.distance", a, b)
        if found is None:
            return _lit(sta.distance(a.constant, b.constant), "float")
        point, geometry = found
        x, y = point.sql, point.end
        if geometry["type"] == "Point":
            gx, gy = sta.positions(geometry)[0]
            return Value(func.sqrt((x - gx) * (x - gx) + (y - gy) * (y - gy)), "number")
        segments = [_segment_distance(x, y, s, e) for s, e in sta.edges(geometry)]
        nearest = segments[0] if len(segments) == 1 else (func.min if self.scope.dialect == "sqlite" else func.least)(*segments)
        if geometry["type"] == "Polygon":
            return Value(case((_inside(x, y, geometry), 0.0), else_=nearest), "number")
        return Value(nearest, "number")

    def fn_geo_length(self, g: Value) -> Value:
        if g.type == "point":
            return _lit(0.0, "float")
        if g.type != "geo":
            raise PlanError(f"geo.length takes a geometry, not a {g.type}")
        return _lit(sta.length(g.constant), "float")

    def fn_geo_intersects(self, a: Value, b: Value) -> Value:
        found = self._geo("geo.intersects", a, b)
        if found is None:
            return Value(true() if sta.intersects(a.constant, b.constant) else false(), "bool")
        point, geometry = found
        return Value(_intersects(point.sql, point.end, geometry), "bool")

    fn_st_intersects = fn_geo_intersects

    def fn_st_disjoint(self, a: Value, b: Value) -> Value:
        return Value(not_(self.fn_geo_intersects(a, b).sql), "bool")

    def fn_st_equals(self, a: Value, b: Value) -> Value:
        found = self._geo("st_equals", a, b)
        if found is None:
            return Value(true() if a.constant == b.constant else false(), "bool")
        point, geometry = found
        if geometry["type"] != "Point":
            return Value(false(), "bool")
        gx, gy = sta.positions(geometry)[0]
        return Value(and_(point.sql == gx, point.end == gy), "bool")

    def _within(self, point: Value, geometry: dict) -> ColumnElement:
        """A point is within a polygon when inside it and not on its boundary; within a point when equal."""
        x, y = point.sql, point.end
        if geometry["type"] == "Polygon":
            return and_(_inside(x, y, geometry), not_(_on_boundary(x, y, geometry)))
        if geometry["type"] == "Point":
            gx, gy = sta.positions(geometry)[0]
            return and_(x == gx, y == gy)
        return _on_boundary(x, y, geometry)

    def fn_st_within(self, a: Value, b: Value) -> Value:
        if a.type == "geo" and b.type == "geo":
            return Value(true() if sta.intersects(a.constant, b.constant) else false(), "bool")
        if a.type != "point" or b.type != "geo":
            if a.type == "geo" and b.type == "point":  # a literal within a point: only an equal point
                return self.fn_st_equals(a, b)
            raise PlanError("st_within takes a location and a geography literal")
        return Value(self._within(a, b.geometry or {}), "bool")

    def fn_st_contains(self, a: Value, b: Value) -> Value:
        return self.fn_st_within(b, a)

    def fn_st_touches(self, a: Value, b: Value) -> Value:
        found = self._geo("st_touches", a, b)
        if found is None:
            raise PlanError("st_touches between two literals is not supported")
        point, geometry = found
        if geometry["type"] == "Point":
            return Value(false(), "bool")
        return Value(_on_boundary(point.sql, point.end, geometry), "bool")

    def fn_st_overlaps(self, a: Value, b: Value) -> Value:
        self._geo("st_overlaps", a, b)
        return Value(false(), "bool")  # a point overlaps nothing: overlap needs the same dimension, not equal

    def fn_st_crosses(self, a: Value, b: Value) -> Value:
        self._geo("st_crosses", a, b)
        return Value(false(), "bool")  # a point crosses nothing

    def fn_st_relate(self, a: Value, b: Value, pattern: Value) -> Value:
        raise PlanError("st_relate (DE-9IM patterns) is not supported")


def _numeric():
    from sqlalchemy import Numeric

    return Numeric()


def _segment_distance(x, y, a: tuple[float, float], b: tuple[float, float]) -> ColumnElement:
    dx, dy = b[0] - a[0], b[1] - a[1]
    if dx == dy == 0:
        return func.sqrt((x - a[0]) * (x - a[0]) + (y - a[1]) * (y - a[1]))
    t = ((x - a[0]) * dx + (y - a[1]) * dy) / (dx * dx + dy * dy)
    t = case((t < 0, 0.0), (t > 1, 1.0), else_=t)
    px, py = a[0] + t * dx, a[1] + t * dy
    return func.sqrt((x - px) * (x - px) + (y - py) * (y - py))


def _in_bbox(x, y, geometry: dict) -> ColumnElement:
    minx, miny, maxx, maxy = sta.bbox(geometry)
    return and_(x >= minx, x <= maxx, y >= miny, y <= maxy)


def _inside(x, y, polygon: dict) -> ColumnElement:
    """Even-odd ray casting against the polygon's edges, each a CASE of constants (sta.inside in SQL)."""
    crossings = []
    for (x1, y1), (x2, y2) in sta.edges(polygon):
        if y1 == y2:
            continue
        lo, hi = (y1, y2) if y1 < y2 else (y2, y1)
        slope = (x2 - x1) / (y2 - y1)
        crossings.append(case((and_(y >= lo, y < hi, x < x1 + (y - y1) * slope), 1), else_=0))
    if not crossings:
        return false()
    total: ColumnElement = crossings[0]
    for c in crossings[1:]:
        total = total + c
    return and_(_in_bbox(x, y, polygon), total.op("%")(2) == 1)


def _on_boundary(x, y, geometry: dict) -> ColumnElement:
    tests = []
    for (x1, y1), (x2, y2) in sta.edges(geometry):
        cross = (x - x1) * (y2 - y1) - (y - y1) * (x2 - x1)
        tests.append(and_(cross == 0, x >= min(x1, x2), x <= max(x1, x2), y >= min(y1, y2), y <= max(y1, y2)))
    return and_(_in_bbox(x, y, geometry), or_(*tests)) if tests else false()


def _intersects(x, y, geometry: dict) -> ColumnElement:
    if geometry["type"] == "Point":
        gx, gy = sta.positions(geometry)[0]
        return and_(x == gx, y == gy)
    if geometry["type"] == "Polygon":
        return or_(_inside(x, y, geometry), _on_boundary(x, y, geometry))
    return _on_boundary(x, y, geometry)


def _null_rejecting(node) -> bool:
    """Whether a filter is false wherever a to-one path's entity is missing (its properties null): no `or`, `not`
    or null literal can then make it true. Conservative: anything else is treated as not null-rejecting."""
    if not isinstance(node, dict):
        return False
    if node.get("op") in ("or", "not") or node.get("type") == "null":
        return False
    return all(_null_rejecting(a) for a in node.get("args", []))


def _key_in(columns: list, keys) -> ColumnElement:
    """The key (one column or several) among `keys`: a list of tuples or a SELECT of the key's columns."""
    if len(columns) == 1:
        return columns[0].in_(keys if not isinstance(keys, list) else [k[0] for k in keys])
    return tuple_(*columns).in_(keys)


# -- running a plan ------------------------------------------------------------------------------------------------
def _int(plan: dict, name: str, default: int, most: int | None = None) -> int:
    value = plan.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53:
        raise PlanError(f"{name} must be a non-negative integer below 2^53")
    return min(value, most) if most is not None else value


class PlanRunner:
    """Runs one plan in one session; `run` returns {"count", "value"} with expansions nested in each row."""

    def __init__(self, session: Session):
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def run(self, plan: dict) -> dict:
        steps = plan.get("path") or []
        if not steps:
            raise PlanError("a plan needs a path")
        sets = [str(steps[0].get("name"))]
        if sets[0] not in ENTITY_SETS:
            raise PlanError(f"no entity set {sets[0]!r}")
        for step in steps[1:]:
            nav = str(step.get("name"))
            if nav not in NAVIGATION[sets[-1]]:
                raise PlanError(f"{sets[-1]} has no navigation property {nav!r}")
            sets.append(NAVIGATION[sets[-1]][nav][0])
        entity = ENTITY_SETS[sets[-1]]
        alias = entity.table().alias()
        conditions = [entity.always(alias)]
        froms: list[tuple[Any, ColumnElement]] = []
        current = alias
        for i in range(len(steps) - 1, -1, -1):
            key = steps[i].get("key")
            if key is not None:
                conditions.append(self._key_condition(sets[i], current, str(key)))
            if i > 0:
                parent = ENTITY_SETS[sets[i - 1]].table().alias()
                froms.append((parent, and_(navigation_condition(sets[i - 1], steps[i]["name"], parent, current),
                                          ENTITY_SETS[sets[i - 1]].always(parent))))
                current = parent
        stmt = select(alias).select_from(alias)
        for parent, on in froms:
            stmt = stmt.join(parent, on)
        stmt = stmt.where(*conditions)
        return self._collection(entity, alias, stmt, plan, depth=0)

    def _key_condition(self, entity_set: str, alias, key: str) -> ColumnElement:
        if entity_set == "Observations":
            parts = sta.observation_key(key)
            if parts is None:
                return false()
            return and_(alias.c.device_id == parts[0], alias.c.quantity == parts[1], alias.c.ts_ms == parts[2])
        return ENTITY_SETS[entity_set].id_of(alias).sql == key

    def _filtered(self, entity: EntitySet, alias, stmt, plan: dict, *, inner: bool = False):
        """The statement with the plan's filter, and the scope whose to-one joins ordering may add to. To-one
        paths are LEFT JOINs (a missing entity leaves its properties null); `inner` makes them INNER JOINs, the
        same rows when the filter is false wherever they are null (`_null_rejecting`)."""
        scope = Scope(entity.name, alias, self.dialect)
        node = plan.get("filter")
        if node is None:
            return stmt, scope
        condition = Compiler(scope).boolean(node)
        if scope.to_many:  # once per entity however many related rows match: a semi-join on the key
            inner_alias = entity.table().alias()
            inner_scope = Scope(entity.name, inner_alias, self.dialect, now_ms=scope.now_ms)
            inner_condition = Compiler(inner_scope).boolean(node)
            keys = select(*entity.key_columns(inner_alias)).select_from(inner_alias)
            for joined, on in inner_scope.joins.values():
                keys = keys.outerjoin(joined, on)
            stmt = stmt.where(_key_in(entity.key_columns(alias), keys.where(inner_condition)))
            return stmt, Scope(entity.name, alias, self.dialect)
        for joined, on in scope.joins.values():
            stmt = stmt.join(joined, on) if inner else stmt.outerjoin(joined, on)
        return stmt.where(condition), Scope(entity.name, alias, self.dialect, joins=dict(scope.joins))

    def _ordering(self, entity: EntitySet, alias, scope: Scope, plan: dict) -> tuple[list, dict]:
        """ORDER BY terms (the key last, so pages are stable) and the joins they need beyond the filter's."""
        before = dict(scope.joins)
        terms = []
        for item in plan.get("orderby") or []:
            value = Compiler(scope).value(item.get("expr") or {})
            if value.type in ("point", "geo"):
                raise PlanError("$orderby: a geometry has no order (order by geo.distance(...) instead)")
            if scope.to_many:
                raise PlanError("$orderby: a path through a to-many navigation property has no single value")
            sql = value.end if value.type == "interval" and item.get("desc") else value.sql
            terms.append(sql.desc() if item.get("desc") else sql.asc())
        if not plan.get("orderby"):
            terms.extend(entity.default_order(alias))
        terms.extend(c.asc() for c in entity.key_columns(alias))
        added = {k: v for k, v in scope.joins.items() if k not in before}
        return terms, added

    def _collection(self, entity: EntitySet, alias, stmt, plan: dict, depth: int) -> dict:
        top = _int(plan, "top", 100, MAX_TOP)
        skip = _int(plan, "skip", 0)
        unfiltered = stmt
        stmt, scope = self._filtered(entity, alias, stmt, plan)
        count = None
        if plan.get("count"):
            # Counting all that match, not the first page: there a LEFT JOIN makes SQLite walk the rows in time
            # order and stop early, here INNER JOINs let it start from the few matching devices.
            counted, _ = self._filtered(entity, alias, unfiltered, plan, inner=_null_rejecting(plan.get("filter")))
            count = self.session.execute(select(func.count()).select_from(counted.subquery())).scalar_one()
        terms, joins = self._ordering(entity, alias, scope, plan)
        for joined, on in joins.values():
            stmt = stmt.outerjoin(joined, on)
        rows = list(self.session.execute(stmt.order_by(*terms).offset(skip).limit(top + 1)))
        more = len(rows) > top
        values = [entity.render(r) for r in rows[:top]]
        key_names = [c.name for c in entity.key_columns(alias)]
        self._expand(entity, [tuple(getattr(r, n) for n in key_names) for r in rows[:top]], values,
                     plan.get("expand") or [], depth)
        return {"count": count, "value": values, "more": more}

    def _expand(self, entity: EntitySet, keys: list[tuple], values: list[dict], expands: list[dict], depth: int) -> None:
        if not expands or not values:
            return
        if depth >= MAX_EXPAND_DEPTH:
            raise PlanError("$expand nested too deep")
        for item in expands:
            nav = str(item.get("nav"))
            if nav not in NAVIGATION[entity.name]:
                raise PlanError(f"{entity.name} has no navigation property {nav!r}")
            target_name, to_many = NAVIGATION[entity.name][nav]
            target = ENTITY_SETS[target_name]
            child = target.table().alias()
            parent = entity.table().alias()
            parent_keys = entity.key_columns(parent)
            stmt = (select(child, *[k.label(f"_p{i}") for i, k in enumerate(parent_keys)])
                    .select_from(child).join(parent, navigation_condition(entity.name, nav, parent, child))
                    .where(target.always(child), _key_in(parent_keys, keys)))
            stmt, scope = self._filtered(target, child, stmt, item)
            terms, joins = self._ordering(target, child, scope, item)
            for joined, on in joins.values():
                stmt = stmt.outerjoin(joined, on)
            top = _int(item, "top", 100, MAX_TOP) if to_many else 1
            skip = _int(item, "skip", 0) if to_many else 0
            partition = [c for c in stmt.selected_columns if c.name.startswith("_p")]
            numbered = stmt.add_columns(
                func.row_number().over(partition_by=partition, order_by=terms).label("_rn"),
                func.count().over(partition_by=partition).label("_n"),
            ).subquery()
            rows = self.session.execute(
                select(numbered).where(numbered.c._rn > skip, numbered.c._rn <= skip + top + 1)
                .order_by(*[numbered.c[c.name] for c in partition], numbered.c._rn))
            by_parent: dict[tuple, list] = {}
            totals: dict[tuple, int] = {}
            for r in rows:
                pk = tuple(getattr(r, f"_p{i}") for i in range(len(parent_keys)))
                by_parent.setdefault(pk, []).append(r)
                totals[pk] = r._n
            child_keys: list[tuple] = []
            child_values: list[dict] = []
            for key, value in zip(keys, values, strict=True):
                found = by_parent.get(tuple(key), [])
                page = found[:top]
                rendered = [target.render(r) for r in page]
                child_keys.extend(tuple(getattr(r, c.name) for c in target.key_columns(child)) for r in page)
                child_values.extend(rendered)
                if to_many:
                    value[nav] = {"count": totals.get(tuple(key), 0) if item.get("count") else None,
                                  "value": rendered, "more": len(found) > top}
                else:
                    value[nav] = rendered[0] if rendered else None
            self._expand(target, child_keys, child_values, item.get("expand") or [], depth + 1)


def run_plan(session: Session, plan: dict) -> dict:
    """The plan's rows (see PlanRunner.run); PlanError when the plan asks what the model cannot answer."""
    from sqlalchemy.exc import DataError

    if not isinstance(plan, dict):
        raise PlanError("a plan is a JSON object")
    try:
        return PlanRunner(session).run(plan)
    except (KeyError, TypeError, IndexError) as exc:
        raise PlanError(f"malformed plan: {exc}") from None
    except RecursionError:  # the gateway's parser refuses deeper than 64 levels; another client might not
        raise PlanError("the plan nests too deep") from None
    except DataError as exc:  # what the values make impossible: a division by zero (PostgreSQL), an overflow
        session.rollback()
        raise PlanError(f"the database cannot evaluate this query: {str(exc.orig).splitlines()[0]}") from None


__all__ = ["run_plan", "PlanError"]
