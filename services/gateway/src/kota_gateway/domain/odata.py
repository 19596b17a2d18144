"""The SensorThings resource path and its OData query options parsed into a query plan. Pure: text in, a
`StaQuery` (whose expressions are an AST) or an `ODataError` out; a syntax error names its position.

The grammar is OData 4.0's subset that SensorThings v1.1 uses (OGC 18-088, 9.3 "Requesting data"):
- `$filter`: `or`, `and`, `not`; `eq ne gt ge lt le`; `add sub mul div mod` and unary `-`; parentheses;
  literals (strings, numbers, `true`/`false`/`null`, ISO 8601 date-times, dates and times, `duration'P1D'`,
  `geography'POINT(106.8 -6.2)'`/LINESTRING/POLYGON in WKT); property paths (`Datastream/ObservedProperty/name`,
  `properties/kind`); the functions of FUNCTIONS (string, date, math and geospatial).
- `$orderby`: expressions with `asc`/`desc`; `$select`; `$expand` with nested options (`Datastreams($top=1;
  $select=name;$expand=Observations($filter=result gt 3))`, `Thing/Locations`); `$top`, `$skip`, `$count`,
  `$resultFormat=dataArray`.
Precedence, loosest first: or, and, not, comparisons, add/sub, mul/div/mod, unary minus. `not` binds looser than a
comparison (`not name eq 'x'` is `not (name eq 'x')`, as people write it), a deviation from OData's table where
`not` is unary: the strict reading only ever gives a type error there.

The plan travels to the sensors service as JSON (`plan_json`): the service turns it into SQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

from kota_common.standards.sensorthings import MAX_EXPAND_DEPTH, MAX_TOP, NAVIGATION

DEFAULT_TOP = 100
MAX_NESTING = 64  # operators and parentheses nested in one expression: deeper is refused, not a stack overflow

PROPERTIES: dict[str, tuple[str, ...]] = {
    "Things": ("name", "description", "properties"),
    "Locations": ("name", "description", "encodingType", "location", "properties"),
    "HistoricalLocations": ("time",),
    "Datastreams": ("name", "description", "unitOfMeasurement", "observationType", "observedArea", "phenomenonTime",
                    "resultTime", "properties"),
    "Sensors": ("name", "description", "encodingType", "metadata", "properties"),
    "ObservedProperties": ("name", "definition", "description", "properties"),
    "Observations": ("phenomenonTime", "resultTime", "result", "resultQuality", "validTime", "parameters"),
    "FeaturesOfInterest": ("name", "description", "encodingType", "feature", "properties"),
}

# name -> (fewest, most) arguments. OData 4.0 URL conventions 5.1.1.4-5.1.1.11 and SensorThings 18-088 table 15.
FUNCTIONS: dict[str, tuple[int, int]] = {
    # string
    "substringof": (2, 2), "contains": (2, 2), "startswith": (2, 2), "endswith": (2, 2), "length": (1, 1),
    "indexof": (2, 2), "substring": (2, 3), "tolower": (1, 1), "toupper": (1, 1), "trim": (1, 1), "concat": (2, 2),
    # date and time
    "year": (1, 1), "month": (1, 1), "day": (1, 1), "hour": (1, 1), "minute": (1, 1), "second": (1, 1),
    "fractionalseconds": (1, 1), "date": (1, 1), "time": (1, 1), "totaloffsetminutes": (1, 1), "now": (0, 0),
    "mindatetime": (0, 0), "maxdatetime": (0, 0),
    # math
    "round": (1, 1), "floor": (1, 1), "ceiling": (1, 1),
    # geospatial
    "geo.distance": (2, 2), "geo.length": (1, 1), "geo.intersects": (2, 2),
    "st_equals": (2, 2), "st_disjoint": (2, 2), "st_touches": (2, 2), "st_within": (2, 2), "st_overlaps": (2, 2),
    "st_crosses": (2, 2), "st_intersects": (2, 2), "st_contains": (2, 2), "st_relate": (3, 3),
}
COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
ADDITIVE = ("add", "sub")
MULTIPLICATIVE = ("mul", "div", "mod")


class ODataError(Exception):
    """A request the SensorThings API refuses: `status` is the HTTP status, `message` what the client reads."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


# -- the expression AST ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    """`type`: string, int, float, bool, null, datetime (value: epoch ms, UTC), date (days since 1970-01-01),
    time (ms since midnight), duration (ms), geo (GeoJSON geometry: Point, LineString, Polygon)."""

    value: Any
    type: str


@dataclass(frozen=True)
class Property:
    """A property path from the entity the expression is about: ("Datastream", "ObservedProperty", "name")."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class Operation:
    """A logical, comparison or arithmetic operator (`neg` for unary minus) on its operands."""

    op: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Function:
    name: str
    args: tuple[Expr, ...]


Expr = Literal | Property | Operation | Function


def to_json(node: Expr) -> dict:
    """The node as the plan's JSON: {"lit", "type"}, {"prop": [...]}, {"op", "args"}, {"fn", "args"}."""
    if isinstance(node, Literal):
        return {"lit": node.value, "type": node.type}
    if isinstance(node, Property):
        return {"prop": list(node.path)}
    if isinstance(node, Operation):
        return {"op": node.op, "args": [to_json(a) for a in node.args]}
    return {"fn": node.name, "args": [to_json(a) for a in node.args]}


# -- the query plan -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OrderBy:
    expr: Expr
    descending: bool = False


@dataclass(frozen=True)
class Options:
    """The query options of a collection (or of one level of $expand)."""

    filter: Expr | None = None
    orderby: tuple[OrderBy, ...] = ()
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False
    select: tuple[str, ...] = ()  # empty: every property
    expand: tuple[Expand, ...] = ()

    def to_json(self) -> dict:
        return {
            "filter": None if self.filter is None else to_json(self.filter),
            "orderby": [{"expr": to_json(o.expr), "desc": o.descending} for o in self.orderby],
            "top": self.top, "skip": self.skip, "count": self.count, "select": list(self.select),
            "expand": [e.to_json() for e in self.expand],
        }


@dataclass(frozen=True)
class Expand:
    """`nav` from the entity set `source` to `target`, with its own options."""

    nav: str
    target: str
    to_many: bool
    options: Options = Options(top=DEFAULT_TOP)

    def to_json(self) -> dict:
        return {"nav": self.nav, **self.options.to_json()}


@dataclass(frozen=True)
class Step:
    """One segment of a resource path: an entity set or a navigation property, perhaps with a key."""

    name: str
    key: str | None = None


@dataclass(frozen=True)
class ResourcePath:
    """`Things`, `Things('DKI1')`, `Datastreams('DKI1:pm25')/Thing/Locations`, `Things('DKI1')/name/$value`."""

    steps: tuple[Step, ...]
    entity_set: str  # the set the path ends in
    single: bool  # an entity (or a property of one), not a collection
    property_name: str | None = None  # `/name`: that property of the entity
    raw_value: bool = False  # `/name/$value`: its value as text
    ref: bool = False  # `/$ref`: links only

    @property
    def key(self) -> str | None:
        return self.steps[-1].key if self.single else None


@dataclass(frozen=True)
class StaQuery:
    path: ResourcePath
    options: Options = Options()
    data_array: bool = False  # $resultFormat=dataArray

    @property
    def is_collection(self) -> bool:
        return not self.path.single

    def plan(self) -> dict:
        """What the sensors service executes: the path's steps and the options, JSON-able."""
        return {"path": [{"name": s.name, "key": s.key} for s in self.path.steps], **self.options.to_json()}


# -- the lexer -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # string, number, datetime, date, time, duration, geo, name, "(", ")", ",", "-", end
    text: str
    pos: int  # 1-based position in the option's text, as people count


_TOKENS = [
    ("space", r"\s+"),
    ("geo", r"(?:geography|geometry)'(?:[^']|'')*'"),
    ("duration", r"duration'(?:[^']|'')*'"),
    ("string", r"'(?:[^']|'')*'"),
    ("datetime", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?"),
    ("date", r"\d{4}-\d{2}-\d{2}(?![\d:])"),
    ("time", r"\d{2}:\d{2}:\d{2}(?:\.\d+)?"),
    ("number", r"(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)[LlDdFfMm]?"),
    ("name", r"[A-Za-z_@$][\w@.$]*(?:/[A-Za-z_@$][\w@.$]*)*"),
    ("punct", r"[(),\-]"),
]
_LEXER = re.compile("|".join(f"(?P<{k}>{p})" for k, p in _TOKENS))


def tokenize(text: str, option: str = "$filter") -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _LEXER.match(text, pos)
        if m is None:
            raise ODataError(400, f"{option}: unexpected {text[pos]!r} at position {pos + 1}")
        kind = m.lastgroup or ""
        if kind != "space":
            tokens.append(Token(m.group() if kind == "punct" else kind, m.group(), pos + 1))
        pos = m.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


# -- literals ------------------------------------------------------------------------------------------------------
def epoch_ms(at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    delta = at - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_DURATION = re.compile(r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def _literal(tok: Token, option: str) -> Literal:
    text, kind = tok.text, tok.kind
    where = f"at position {tok.pos}"
    try:
        if kind == "string":
            return Literal(text[1:-1].replace("''", "'"), "string")
        if kind == "number":
            body = text.rstrip("LlDdFfMm")
            if re.fullmatch(r"\d+", body):
                if int(body) >= 2**63:
                    raise ValueError("beyond a 64-bit integer")
                return Literal(int(body), "int")
            if not math.isfinite(float(body)):
                raise ValueError("not a finite number")
            return Literal(float(body), "float")
        if kind == "datetime":
            return Literal(epoch_ms(datetime.fromisoformat(text.replace("Z", "+00:00"))), "datetime")
        if kind == "date":
            return Literal((date.fromisoformat(text) - date(1970, 1, 1)).days, "date")
        if kind == "time":
            t = time.fromisoformat(text)
            return Literal(((t.hour * 60 + t.minute) * 60 + t.second) * 1000 + t.microsecond // 1000, "time")
        if kind == "duration":
            m = _DURATION.match(text[len("duration'"):-1])
            if m is None or text[len("duration'"):-1] in ("P", "-P", "PT", "-PT"):
                raise ValueError("not an ISO 8601 duration such as P1DT2H30M")
            days, hours, minutes, seconds = (float(g or 0) for g in m.groups()[1:])
            ms = round((((days * 24 + hours) * 60 + minutes) * 60 + seconds) * 1000)
            return Literal(-ms if m.group(1) else ms, "duration")
        if kind == "geo":
            return Literal(parse_wkt(text[text.index("'") + 1:-1].replace("''", "'")), "geo")
    except ValueError as exc:
        raise ODataError(400, f"{option}: invalid {kind} literal {text!r} {where}: {exc}") from None
    raise ODataError(400, f"{option}: unexpected {text!r} {where}")


_WKT = re.compile(r"^\s*(?:SRID=\d+;)?\s*(POINT|LINESTRING|POLYGON)\s*(\(.*\))\s*$", re.IGNORECASE | re.DOTALL)


def _positions(text: str) -> list[list[float]]:
    out = []
    for pair in text.split(","):
        numbers = pair.split()
        if len(numbers) != 2:
            raise ValueError(f"a position is two numbers, not {pair.strip()!r}")
        x, y = float(numbers[0]), float(numbers[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError("coordinates must be finite")
        out.append([x, y])
    return out


def parse_wkt(text: str) -> dict:
    """WKT POINT, LINESTRING or POLYGON (lon lat order, as GeoJSON) as a GeoJSON geometry."""
    m = _WKT.match(text)
    if m is None:
        raise ValueError("WKT POINT(x y), LINESTRING(x y, ...) or POLYGON((x y, ...)) expected")
    kind, body = m.group(1).upper(), m.group(2).strip()
    if kind == "POINT":
        (point,) = _positions(body[1:-1]) or [[]]
        return {"type": "Point", "coordinates": point}
    if kind == "LINESTRING":
        line = _positions(body[1:-1])
        if len(line) < 2:
            raise ValueError("a LINESTRING has two positions or more")
        return {"type": "LineString", "coordinates": line}
    rings = re.findall(r"\(([^()]*)\)", body[1:-1])
    if not rings:
        raise ValueError("a POLYGON has at least one ring")
    polygon = [_positions(r) for r in rings]
    for ring in polygon:
        if len(ring) < 4 or ring[0] != ring[-1]:
            raise ValueError("a POLYGON ring has four positions or more and ends where it starts")
    return {"type": "Polygon", "coordinates": polygon}


# -- the expression parser (recursive descent, one method per precedence level) ---------------------------------------
class _Parser:
    def __init__(self, text: str, option: str):
        self.option = option
        self.tokens = tokenize(text, option)
        self.i = 0
        self.nesting = 0
        self.depths: dict[int, int] = {}  # id(node) -> how deep its tree is

    def enter(self, tok: Token | None = None) -> None:
        """One level deeper into parentheses, `not`, `-` or a function's arguments (the parser recurses there)."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.fail(f"nested deeper than {MAX_NESTING} parentheses, operators or functions", tok)

    def node(self, made: Operation | Function) -> Operation | Function:
        """`made`, refused when it nests deeper than MAX_NESTING (the plan is walked recursively downstream)."""
        depth = 1 + max((self.depths.get(id(a), 0) for a in made.args), default=0)
        if depth > MAX_NESTING:
            raise self.fail(f"nested deeper than {MAX_NESTING} operators or functions")
        self.depths[id(made)] = depth
        return made

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, what: str, tok: Token | None = None) -> ODataError:
        tok = tok or self.tok
        found = "the end" if tok.kind == "end" else repr(tok.text)
        return ODataError(400, f"{self.option}: {what}, found {found} at position {tok.pos}")

    def word(self, *words: str) -> str | None:
        if self.tok.kind == "name" and self.tok.text in words:
            self.i += 1
            return self.tokens[self.i - 1].text
        return None

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise self.fail(f"{what} expected")
        self.i += 1
        return self.tokens[self.i - 1]

    def expression(self) -> Expr:
        left = self.conjunction()
        while self.word("or"):
            left = self.node(Operation("or", (left, self.conjunction())))
        return left

    def conjunction(self) -> Expr:
        left = self.negation()
        while self.word("and"):
            left = self.node(Operation("and", (left, self.negation())))
        return left

    def negation(self) -> Expr:
        if self.word("not"):
            self.enter()
            operand = self.negation()
            self.nesting -= 1
            return self.node(Operation("not", (operand,)))
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.additive()
        op = self.word(*COMPARISONS)
        if op is None:
            return left
        right = self.additive()
        if self.tok.kind == "name" and self.tok.text in COMPARISONS:
            raise self.fail("comparisons do not chain: use and")
        return self.node(Operation(op, (left, right)))

    def additive(self) -> Expr:
        left = self.multiplicative()
        while (op := self.word(*ADDITIVE)) is not None:
            left = self.node(Operation(op, (left, self.multiplicative())))
        return left

    def multiplicative(self) -> Expr:
        left = self.unary()
        while (op := self.word(*MULTIPLICATIVE)) is not None:
            left = self.node(Operation(op, (left, self.unary())))
        return left

    def unary(self) -> Expr:
        if self.tok.kind == "-":
            self.i += 1
            self.enter()
            operand = self.unary()
            self.nesting -= 1
            if isinstance(operand, Literal) and operand.type in ("int", "float", "duration"):
                return Literal(-operand.value, operand.type)
            return self.node(Operation("neg", (operand,)))
        return self.primary()

    def primary(self) -> Expr:
        tok = self.tok
        if tok.kind == "(":
            self.i += 1
            self.enter(tok)
            inner = self.expression()
            self.expect(")", "')'")
            self.nesting -= 1
            return inner
        if tok.kind in ("string", "number", "datetime", "date", "time", "duration", "geo"):
            self.i += 1
            return _literal(tok, self.option)
        if tok.kind != "name":
            raise self.fail("a value, property or function expected")
        self.i += 1
        if self.tok.kind == "(":
            return self.call(tok)
        if tok.text in ("true", "false"):
            return Literal(tok.text == "true", "bool")
        if tok.text == "null":
            return Literal(None, "null")
        if tok.text in COMPARISONS + ADDITIVE + MULTIPLICATIVE + ("and", "or", "not"):
            raise self.fail("a value, property or function expected", tok)
        return Property(tuple(tok.text.split("/")))

    def call(self, name: Token) -> Function:
        fn = name.text.lower()
        if fn not in FUNCTIONS:
            raise ODataError(400, f"{self.option}: unknown function {name.text!r} at position {name.pos}")
        self.expect("(", "'('")
        self.enter(name)
        args: list[Expr] = []
        if self.tok.kind != ")":
            args.append(self.expression())
            while self.tok.kind == ",":
                self.i += 1
                args.append(self.expression())
        self.expect(")", "',' or ')'")
        self.nesting -= 1
        fewest, most = FUNCTIONS[fn]
        if not fewest <= len(args) <= most:
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise ODataError(400, f"{self.option}: {fn} takes {wanted} argument(s), not {len(args)} "
                             f"(at position {name.pos})")
        return self.node(Function(fn, tuple(args)))  # type: ignore[return-value]

    def done(self) -> None:
        if self.tok.kind != "end":
            raise self.fail("an operator or the end expected")


def parse_filter(text: str, option: str = "$filter") -> Expr:
    p = _Parser(text, option)
    if p.tok.kind == "end":
        raise p.fail("an expression expected")
    expr = p.expression()
    p.done()
    return expr


def parse_orderby(text: str, option: str = "$orderby") -> tuple[OrderBy, ...]:
    p = _Parser(text, option)
    out = []
    while True:
        expr = p.expression()
        direction = p.word("asc", "desc")
        out.append(OrderBy(expr, direction == "desc"))
        if p.tok.kind != ",":
            break
        p.i += 1
    p.done()
    return tuple(out)


# -- the resource path ---------------------------------------------------------------------------------------------
_SEGMENT = re.compile(r"^(?P<name>[A-Za-z$][\w$]*)(?:\((?P<key>'(?:[^']|'')*'|[^()']*)\))?$")


def unquote_key(raw: str | None) -> str | None:
    """`'DKI1'` -> `DKI1`, `'O''Brien'` -> `O'Brien`; an unquoted key as it is."""
    if raw is None:
        return None
    raw = raw.strip()
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return raw[1:-1].replace("''", "'")
    return raw


def parse_path(path: str) -> ResourcePath:
    """`path` below /sta/v1.1/, without slashes at either end."""
    segments = [s for s in path.split("/") if s]
    if not segments:
        raise ODataError(404, f"no such resource path: {path!r}")
    matches = [_SEGMENT.match(s) for s in segments]
    first = matches[0]
    if first is None or first.group("name") not in NAVIGATION:
        raise ODataError(404, f"no entity set {segments[0].split('(')[0]!r}")
    steps = [Step(first.group("name"), unquote_key(first.group("key")))]
    entity_set, single = first.group("name"), first.group("key") is not None
    if single and not steps[0].key:
        raise ODataError(404, f"{segments[0]} needs an id")
    rest = list(zip(segments[1:], matches[1:], strict=True))
    for n, (segment, m) in enumerate(rest):
        last = n == len(rest) - 1
        if segment == "$ref" and last:
            return ResourcePath(tuple(steps), entity_set, single, ref=True)
        if m is None or not single:
            raise ODataError(404, f"no such resource path: {path!r} (at {segment!r})")
        name, key = m.group("name"), m.group("key")
        if name in NAVIGATION[entity_set]:
            entity_set, to_many = NAVIGATION[entity_set][name]
            steps.append(Step(name, unquote_key(key)))
            single = not to_many or key is not None
            continue
        if name in PROPERTIES[entity_set] or name in ("id", "@iot.id"):
            if key is not None:
                break
            tail = rest[n + 1:]
            if not tail:
                return ResourcePath(tuple(steps), entity_set, True, property_name=name)
            if len(tail) == 1 and tail[0][0] == "$value":
                return ResourcePath(tuple(steps), entity_set, True, property_name=name, raw_value=True)
            break
        raise ODataError(404, f"{entity_set} has no property or navigation property {name!r}")
    else:
        return ResourcePath(tuple(steps), entity_set, single)
    raise ODataError(404, f"no such resource path: {path!r}")


# -- the query options ---------------------------------------------------------------------------------------------
def _int_option(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ODataError(400, f"{name} must be an integer, not {raw!r}") from None
    if value < 0:
        raise ODataError(400, f"{name} must not be negative")
    if value >= 2**53:
        raise ODataError(400, f"{name} is too large")
    return value


def _bool_option(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name, "false").strip().lower()
    if raw not in ("true", "false"):
        raise ODataError(400, f"{name} must be true or false")
    return raw == "true"


def parse_select(text: str, entity_set: str) -> tuple[str, ...]:
    """`$select=id,name,Datastreams`: properties and navigation properties (their links) of `entity_set`."""
    known = {"id", "@iot.id", "@iot.selfLink", *PROPERTIES[entity_set], *NAVIGATION[entity_set]}
    out: list[str] = []
    pos = 0
    for part in text.split(","):
        name = part.strip()
        at = pos + len(part) - len(part.lstrip()) + 1
        pos += len(part) + 1
        if name not in known:
            raise ODataError(400, f"$select: {entity_set} has no property {name!r} (at position {at})")
        out.append("@iot.id" if name == "id" else name)
    return tuple(dict.fromkeys(out))


def _split_top_level(text: str, sep: str, option: str) -> list[tuple[str, int]]:
    """Pieces of `text` between `sep` outside parentheses and quotes, each with its 0-based start."""
    out, depth, start, quoted = [], 0, 0, False
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ODataError(400, f"{option}: unbalanced ')' at position {i + 1}")
        elif ch == sep and depth == 0:
            out.append((text[start:i], start))
            start = i + 1
    if depth != 0 or quoted:
        raise ODataError(400, f"{option}: unbalanced parentheses or quotes")
    out.append((text[start:], start))
    return out


def parse_options(params: Mapping[str, str], entity_set: str, *, depth: int = 0) -> Options:
    """The options of a collection of `entity_set`: those of the request, or those nested in an $expand item."""
    unknown = [k for k in params if k.startswith("$") and k not in
               ("$filter", "$orderby", "$top", "$skip", "$count", "$select", "$expand", "$resultFormat")]
    if unknown:
        raise ODataError(400, f"unknown query option {unknown[0]!r}")
    top = min(_int_option(params, "$top", DEFAULT_TOP), MAX_TOP)
    skip = _int_option(params, "$skip", 0)
    raw_filter = params.get("$filter", "").strip()
    raw_orderby = params.get("$orderby", "").strip()
    raw_select = params.get("$select", "").strip()
    raw_expand = params.get("$expand", "").strip()
    return Options(
        filter=parse_filter(raw_filter) if raw_filter else None,
        orderby=parse_orderby(raw_orderby) if raw_orderby else (),
        top=top, skip=skip, count=_bool_option(params, "$count"),
        select=parse_select(raw_select, entity_set) if raw_select else (),
        expand=parse_expand(raw_expand, entity_set, depth) if raw_expand else (),
    )


_EXPAND_ITEM = re.compile(r"^\s*(?P<path>[A-Za-z]\w*(?:/[A-Za-z]\w*)*)\s*(?:\((?P<options>.*)\))?\s*$", re.DOTALL)


def parse_expand(text: str, entity_set: str, depth: int = 0) -> tuple[Expand, ...]:
    """`Datastreams($top=2;$expand=Observations),Locations`, `Thing/Locations` (= Thing($expand=Locations))."""
    if depth >= MAX_EXPAND_DEPTH:
        raise ODataError(400, f"$expand: nested deeper than {MAX_EXPAND_DEPTH} levels")
    merged: dict[str, Expand] = {}
    for item, start in _split_top_level(text, ",", "$expand"):
        m = _EXPAND_ITEM.match(item)
        if m is None:
            raise ODataError(400, f"$expand: cannot read {item.strip()!r} (at position {start + 1})")
        names = m.group("path").split("/")
        inner: dict[str, str] = {}
        if m.group("options") is not None:
            for option, _ in _split_top_level(m.group("options"), ";", "$expand"):
                key, eq, value = option.partition("=")
                if not eq:
                    raise ODataError(400, f"$expand: {option.strip()!r} is not $option=value (in {names[0]!r})")
                inner[key.strip()] = value.strip()
        head = names[0]
        if head not in NAVIGATION[entity_set]:
            raise ODataError(400, f"$expand: {entity_set} has no navigation property {head!r} (at position {start + 1})")
        target, to_many = NAVIGATION[entity_set][head]
        if len(names) > 1:  # Thing/Locations: the options belong to the last one
            tail = "/".join(names[1:]) + (f"({m.group('options')})" if m.group("options") is not None else "")
            options = parse_options({"$expand": tail}, target, depth=depth + 1)
        else:
            options = parse_options(inner, target, depth=depth + 1)
        if head in merged:  # Thing/Locations,Thing/Datastreams: one Thing, both expanded
            before = merged[head].options
            options = Options(before.filter, before.orderby, before.top, before.skip, before.count, before.select,
                              before.expand + options.expand)
        merged[head] = Expand(head, target, to_many, options)
    return tuple(merged.values())


def parse(path: str, params: Mapping[str, str]) -> StaQuery:
    """The request for `path` (below /sta/v1.1/, without slashes at either end) with its query `params`."""
    resource = parse_path(path)
    result_format = params.get("$resultFormat", "").strip()
    if result_format and result_format.lower() not in ("dataarray", "default"):
        raise ODataError(400, f"$resultFormat: unknown format {result_format!r} (dataArray)")
    data_array = result_format.lower() == "dataarray"
    if data_array and (resource.entity_set != "Observations" or resource.single):
        raise ODataError(400, "$resultFormat=dataArray applies to a collection of Observations")
    return StaQuery(resource, parse_options(params, resource.entity_set), data_array)


__all__ = ["ODataError", "StaQuery", "parse", "Options", "Expand", "ResourcePath", "Step", "Literal", "Property",
           "Operation", "Function", "OrderBy", "to_json", "parse_filter", "parse_orderby", "epoch_ms"]
