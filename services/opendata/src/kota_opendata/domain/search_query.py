"""CKAN package_search's query language, parsed into a plan the catalogue's repository runs as SQL.

CKAN hands `q` and `fq` to Solr; harvesters and front-ends send the Lucene syntax Solr reads. This module reads
the part of it they use: field queries (`tags:sensor`, `title:"kualitas udara"`, `name:tinggi*`, `tags:*`),
ranges (`metadata_modified:[2026-01-01T00:00:00Z TO *]`, `{...}` exclusive, Solr date math such as
`NOW-1DAY` and `NOW/DAY`), `AND`/`&&`, `OR`/`||`, `NOT`/`!`, a leading `-` (must not) or `+` (must), parentheses
and `field:(a OR b)`; bare words search the text of a dataset (name, title, notes, tags, organization).

Juxtaposed clauses are all required (CKAN runs Solr with q.op=AND) and bind looser than an explicit OR, so the
CKAN harvester's `organization:a OR organization:b metadata_modified:[... TO *]` means (a or b) and modified
since. Field names and values are checked here; nothing below the plan sees text a caller wrote unparsed.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

# how each searchable field matches (the repository maps each to its columns)
KEYWORD, TEXT, LIST, DATE = "keyword", "text", "list", "date"
FIELDS = {
    "id": KEYWORD, "name": KEYWORD, "organization": KEYWORD, "license_id": KEYWORD, "frequency": KEYWORD,
    "source": KEYWORD, "version": KEYWORD,
    "title": TEXT, "notes": TEXT, "text": TEXT,
    "tags": LIST, "groups": LIST, "res_format": LIST,
    "metadata_modified": DATE, "metadata_created": DATE,
}
# fields every dataset here has the same value of: a query on them is true or false before any SQL
CONSTANTS = {"state": "active", "dataset_type": "dataset", "type": "dataset", "capacity": "public",
             "private": "false", "entity_type": "package"}
SORT_FIELDS = ("score", "id", "name", "title", "title_string", "license_id", "organization", "frequency", "source",
               "version", "metadata_modified", "metadata_created")
FACET_FIELDS = ("organization", "tags", "groups", "license_id", "res_format", "frequency", "source")
DEFAULT_SORT = "score desc, metadata_modified desc"
MAX_ROWS = 1000  # CKAN's ckan.search.rows_max
MAX_CLAUSES = 200  # a query longer than this is an attack or a mistake, not a search


class QueryError(ValueError):
    """A parameter the plan cannot be made from; `field` names the request parameter (q, fq, sort, ...)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


# ---- the plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchAll:
    pass


@dataclass(frozen=True)
class MatchNone:
    pass


@dataclass(frozen=True)
class Match:
    """`field` (None: the dataset's text) matches `value`: mode "exact" (a keyword or list element equal to it,
    case-insensitive; for text, every word of it contained), "phrase" (text containing it), "pattern" (`*` any
    characters, `?` one), or "any" (the field has a value)."""

    field: str | None
    value: str
    mode: str = "exact"


@dataclass(frozen=True)
class Range:
    """`field` between `low` and `high` (None: open); datetimes for date fields (naive UTC), text otherwise."""

    field: str
    low: datetime | str | None
    high: datetime | str | None
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = MatchAll | MatchNone | Match | Range | Not | And | Or


@dataclass(frozen=True)
class SearchPlan:
    where: Node
    sort: tuple[tuple[str, bool], ...]  # (field, descending), "id" last as the tie-break
    start: int = 0
    rows: int = 10
    facet_fields: tuple[str, ...] = ()
    facet_limit: int = 50  # -1: all
    score_words: tuple[str, ...] = field(default=())  # q's wanted free-text words, for "score"


# ---- tokens -------------------------------------------------------------------------------------------

_FIELD_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*):(.*)$", re.S)
_SPECIAL = set('()"[]{}')


@dataclass(frozen=True)
class _Token:
    kind: str  # LP RP AND OR NOT MUST MUST_NOT FIELD WORD PHRASE RANGE
    text: str = ""


def tokenize(text: str, param: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            tokens.append(_Token("LP" if c == "(" else "RP"))
            i += 1
        elif c == '"':
            j, out = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(text[j])
                j += 1
            if j >= n:
                raise QueryError(param, f"unbalanced quotes in {param}")
            tokens.append(_Token("PHRASE", "".join(out)))
            i = j + 1
        elif c in "[{":
            close = text.find("]" if c == "[" else "}", i)
            other = text.find("}" if c == "[" else "]", i)
            end = min(x for x in (close, other) if x >= 0) if max(close, other) >= 0 else -1
            if end < 0:
                raise QueryError(param, f"unclosed range in {param}: {text[i:i + 40]!r}")
            tokens.append(_Token("RANGE", text[i:end + 1]))
            i = end + 1
        elif c in "+-!" and (i + 1 < n and not text[i + 1].isspace()):
            tokens.append(_Token({"+": "MUST", "-": "MUST_NOT", "!": "NOT"}[c]))
            i += 1
        else:
            j, out = i, []
            while j < n and not text[j].isspace() and text[j] not in "()":
                if text[j] == "\\" and j + 1 < n:
                    out.append("\\" + text[j + 1])  # kept escaped: a literal * or ? is not a wildcard
                    j += 2
                    continue
                if text[j] in '"[{' and out and out[-1].endswith(":"):
                    break  # field:"phrase", field:[range
                out.append(text[j])
                j += 1
            word = "".join(out)
            i = j
            upper = word.upper() if word in ("AND", "OR", "NOT", "&&", "||") else ""
            if upper:
                tokens.append(_Token({"AND": "AND", "&&": "AND", "OR": "OR", "||": "OR", "NOT": "NOT"}[upper]))
                continue
            m = _FIELD_RE.match(word)
            if m and word != "*:*":
                tokens.append(_Token("FIELD", m.group(1)))
                if m.group(2):
                    tokens.append(_Token("WORD", m.group(2)))
                elif i >= n or text[i].isspace():
                    raise QueryError(param, f"{m.group(1)}: has no value in {param}")
            else:
                tokens.append(_Token("WORD", word))
    return tokens


# ---- parser -------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, param: str, now: datetime):
        self.param, self.now = param, now
        self.tokens = tokenize(text, param)
        if len(self.tokens) > MAX_CLAUSES * 3:
            raise QueryError(param, f"{param} is too long (at most {MAX_CLAUSES} clauses)")
        self.pos = 0
        self.score_words: list[str] = []

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise QueryError(self.param, f"{self.param} ends too early")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.sequence(None, negated=False)
        if self.peek() is not None:
            raise QueryError(self.param, f"unexpected {self.describe(self.peek())} in {self.param}")
        return node

    def describe(self, token: _Token | None) -> str:
        return {"LP": "'('", "RP": "')'"}.get(token.kind, repr(token.text or token.kind)) if token else "end"

    def sequence(self, fld: str | None, negated: bool) -> Node:
        """Juxtaposed clauses, all required; stops at ')' or the end."""
        parts = []
        while (token := self.peek()) is not None and token.kind != "RP":
            parts.append(self.disjunction(fld, negated))
        if not parts:
            return MatchAll()
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def disjunction(self, fld: str | None, negated: bool) -> Node:
        parts = [self.conjunction(fld, negated)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            parts.append(self.conjunction(fld, negated))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def conjunction(self, fld: str | None, negated: bool) -> Node:
        parts = [self.unary(fld, negated)]
        while (token := self.peek()) is not None and token.kind == "AND":
            self.take()
            parts.append(self.unary(fld, negated))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self, fld: str | None, negated: bool) -> Node:
        token = self.take()
        if token.kind in ("NOT", "MUST_NOT"):
            return Not(self.unary(fld, not negated))
        if token.kind == "MUST":
            return self.unary(fld, negated)
        if token.kind == "LP":
            inner = self.sequence(fld, negated)
            if self.take().kind != "RP":
                raise QueryError(self.param, f"missing ')' in {self.param}")
            return inner
        if token.kind == "FIELD":
            if fld is not None:
                raise QueryError(self.param, f"{token.text}: a field inside {fld}:(...) in {self.param}")
            return self.fielded(token.text, negated)
        if token.kind in ("WORD", "PHRASE", "RANGE"):
            return self.value(fld, token, negated)
        raise QueryError(self.param, f"unexpected {self.describe(token)} in {self.param}")

    def fielded(self, name: str, negated: bool) -> Node:
        if name not in FIELDS and name not in CONSTANTS:
            known = ", ".join(sorted([*FIELDS, *CONSTANTS]))
            raise QueryError(self.param, f"unknown field {name!r} in {self.param}; fields: {known}")
        token = self.take()
        if token.kind == "LP":
            inner = self.sequence(name, negated)
            if self.take().kind != "RP":
                raise QueryError(self.param, f"missing ')' in {self.param}")
            return inner
        if token.kind not in ("WORD", "PHRASE", "RANGE"):
            raise QueryError(self.param, f"{name}: expected a value, got {self.describe(token)} in {self.param}")
        return self.value(name, token, negated)

    def value(self, fld: str | None, token: _Token, negated: bool) -> Node:
        if token.kind == "WORD" and token.text == "*:*":
            return MatchAll()
        if fld in CONSTANTS:
            if token.kind == "RANGE":
                raise QueryError(self.param, f"{fld}: cannot take a range")
            wanted = _unescape(token.text).lower()
            return MatchAll() if wanted in ("*", CONSTANTS[fld]) else MatchNone()
        kind = FIELDS[fld] if fld else TEXT
        if token.kind == "RANGE":
            return self.range(fld, kind, token.text)
        if token.kind == "PHRASE":
            text = " ".join(token.text.split())
            if kind == DATE and fld:
                return self.date_equals(fld, text)
            if not fld:
                self.add_score_words(text, negated)
            return Match(fld, text, "phrase" if kind == TEXT else "exact")
        raw = token.text
        if raw == "*":
            return Match(fld, "", "any") if fld else MatchAll()
        if _has_wildcard(raw):
            if kind == DATE:
                raise QueryError(self.param, f"{fld}: wildcards need a range on a date")
            return Match(fld, raw, "pattern")
        text = _unescape(raw)
        if kind == DATE and fld:
            return self.date_equals(fld, text)
        if kind == TEXT:
            words = _words(text)
            if not words:
                return MatchAll()
            if not fld:
                self.add_score_words(text, negated)
            if len(words) > 1:
                return And(tuple(Match(fld, w) for w in words))
            return Match(fld, words[0])
        return Match(fld, text)

    def add_score_words(self, text: str, negated: bool) -> None:
        if self.param == "q" and not negated:
            self.score_words.extend(_words(text))

    def range(self, fld: str | None, kind: str, raw: str) -> Range:
        if not fld:
            raise QueryError(self.param, f"a range needs a field in {self.param}: {raw!r}")
        if kind in (TEXT, LIST):
            raise QueryError(self.param, f"{fld}: cannot take a range")
        body = raw[1:-1].strip()
        parts = re.split(r"\s+TO\s+", body)
        if len(parts) != 2:
            raise QueryError(self.param, f"{fld}: a range is [low TO high], got {raw!r}")
        low, high = (p.strip().strip('"') for p in parts)
        include_low, include_high = raw[0] == "[", raw[-1] == "]"
        if kind == DATE:
            return Range(fld, None if low == "*" else self.date(fld, low), None if high == "*" else self.date(fld, high),
                         include_low, include_high)
        return Range(fld, None if low == "*" else _unescape(low), None if high == "*" else _unescape(high),
                     include_low, include_high)

    def date(self, fld: str, text: str) -> datetime:
        try:
            return parse_date(text, self.now)
        except ValueError as exc:
            raise QueryError(self.param, f"{fld}: {exc}") from None

    def date_equals(self, fld: str, text: str) -> Range:
        at = self.date(fld, text)
        return Range(fld, at, at)


def _has_wildcard(raw: str) -> bool:
    return bool(re.search(r"(?<!\\)[*?]", raw))


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw)


def _words(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"\w+", text)]


def parse(text: str, param: str = "q", now: datetime | None = None) -> tuple[Node, list[str]]:
    """One parameter (q or fq) -> (its condition, q's free-text words for scoring)."""
    if not text or not text.strip() or text.strip() == "*:*":
        return MatchAll(), []
    parser = _Parser(text, param, _utc_naive(now or datetime.now(timezone.utc)))
    node = parser.parse()
    return node, parser.score_words


# ---- Solr dates ---------------------------------------------------------------------------------------

_DATE_RE = re.compile(r"^(NOW|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?)"
                      r"((?:[+-]\d+[A-Z]+|/[A-Z]+)*)$")
_UNITS = {"YEAR": "years", "YEARS": "years", "MONTH": "months", "MONTHS": "months", "DAY": "days", "DAYS": "days",
          "DATE": "days", "HOUR": "hours", "HOURS": "hours", "MINUTE": "minutes", "MINUTES": "minutes",
          "SECOND": "seconds", "SECONDS": "seconds", "MILLI": "millis", "MILLIS": "millis",
          "MILLISECOND": "millis", "MILLISECONDS": "millis"}


def parse_date(text: str, now: datetime) -> datetime:
    """A Solr date (ISO 8601 in UTC, `NOW`) with date math (`+1DAY`, `-2HOURS`, `/DAY`) -> naive UTC."""
    m = _DATE_RE.match(text.strip().upper())
    if not m:
        raise ValueError(f"not a date: {text!r} (e.g. 2026-01-01T00:00:00Z, NOW-1DAY)")
    base, math = m.group(1), m.group(2)
    if base == "NOW":
        at = _utc_naive(now)
    else:
        iso = base.replace(" ", "T").replace("Z", "+00:00")
        frac = re.search(r"\.(\d+)", iso)
        if frac and len(frac.group(1)) > 6:  # Python reads at most microseconds
            iso = iso.replace(frac.group(0), "." + frac.group(1)[:6])
        try:
            at = _utc_naive(datetime.fromisoformat(iso))
        except ValueError:
            raise ValueError(f"not a date: {text!r}") from None
    for op, amount, unit in re.findall(r"([+-/])(\d*)([A-Z]+)", math):
        if unit not in _UNITS:
            raise ValueError(f"unknown date unit {unit!r} in {text!r}")
        at = _round(at, _UNITS[unit]) if op == "/" else _shift(at, _UNITS[unit], int(amount) * (1 if op == "+" else -1))
    return at


def _utc_naive(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def _shift(at: datetime, unit: str, n: int) -> datetime:
    if unit in ("years", "months"):
        months = at.month - 1 + n * (12 if unit == "years" else 1)
        year, month = at.year + months // 12, months % 12 + 1
        return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))
    if unit == "millis":
        return at + timedelta(milliseconds=n)
    return at + timedelta(**{unit: n})


def _round(at: datetime, unit: str) -> datetime:
    if unit == "years":
        return datetime(at.year, 1, 1)
    if unit == "months":
        return datetime(at.year, at.month, 1)
    if unit == "days":
        return datetime(at.year, at.month, at.day)
    if unit == "hours":
        return at.replace(minute=0, second=0, microsecond=0)
    if unit == "minutes":
        return at.replace(second=0, microsecond=0)
    if unit == "seconds":
        return at.replace(microsecond=0)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


# ---- sort, facets, the whole plan ---------------------------------------------------------------------


def parse_sort(sort: str) -> tuple[tuple[str, bool], ...]:
    """`field asc|desc, ...` -> ((field, descending), ...), with `id` added as the final tie-break."""
    out: list[tuple[str, bool]] = []
    for clause in (sort.strip() or DEFAULT_SORT).split(","):
        bits = clause.split()
        if not bits:
            continue
        if bits[0] not in SORT_FIELDS or len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
            raise QueryError("sort", f"cannot sort by {clause.strip()!r}; `field asc|desc` with fields: "
                             f"{', '.join(SORT_FIELDS)}")
        out.append((bits[0], len(bits) == 2 and bits[1].lower() == "desc"))
    if not any(name == "id" for name, _ in out):
        out.append(("id", False))
    return tuple(out)


def plan(q: str = "", fq: str | list[str] = "", sort: str = "", start: int = 0, rows: int = 10,
         facet_fields: list[str] | tuple[str, ...] = (), facet_limit: int = 50, now: datetime | None = None) -> SearchPlan:
    """package_search's parameters -> the plan; QueryError names the first parameter at fault."""
    if not 0 <= rows <= MAX_ROWS:
        raise QueryError("rows", f"rows must be between 0 and {MAX_ROWS}")
    if start < 0:
        raise QueryError("start", "start must not be negative")
    for f in facet_fields:
        if f not in FACET_FIELDS:
            raise QueryError("facet.field", f"cannot facet on {f!r}; fields: {', '.join(FACET_FIELDS)}")
    where, words = parse(q, "q", now)
    filters = [fq] if isinstance(fq, str) else list(fq)
    conditions = [where] + [parse(f, "fq", now)[0] for f in filters]
    conditions = [c for c in conditions if not isinstance(c, MatchAll)]
    combined: Node = MatchAll() if not conditions else conditions[0] if len(conditions) == 1 else And(tuple(conditions))
    return SearchPlan(combined, parse_sort(sort), start, rows, tuple(dict.fromkeys(facet_fields)),
                      facet_limit if facet_limit >= 0 else -1, tuple(dict.fromkeys(words)))
