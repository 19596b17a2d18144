"""The SensorThings resource path and its OData query options ($filter, $orderby, $top, $skip, $count, $expand)
parsed into a typed request. Pure: text in, a `StaQuery` or an `ODataError` (the message the client reads) out.

What the sensors service can select on decides what $filter accepts: on Observations, comparisons of
phenomenonTime/resultTime/result joined by `and`; on Things, Locations, Sensors and Datastreams, `<property> eq
'<text>'` clauses joined by `and`. $orderby orders observations by time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

MAX_TOP = 1000
DEFAULT_TOP = 100
ENTITY_SETS = ("Things", "Locations", "HistoricalLocations", "Datastreams", "Sensors", "ObservedProperties",
               "Observations", "FeaturesOfInterest")
ALWAYS_EMPTY = ("HistoricalLocations", "FeaturesOfInterest")  # Kota's devices do not move between locations


class ODataError(Exception):
    """A request the SensorThings API refuses: `status` is the HTTP status, `message` what the client reads."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class ResourcePath:
    """`Things`, `Things('DKI1')` or `Things('DKI1')/Datastreams`."""

    entity_set: str
    key: str | None = None  # None: the whole collection
    navigation: str | None = None


@dataclass(frozen=True)
class ObservationFilter:
    """A half-open time window [time_from, time_to) and a closed value range; None: unbounded."""

    time_from: datetime | None = None
    time_to: datetime | None = None
    value_min: float | None = None
    value_max: float | None = None


@dataclass(frozen=True)
class StaQuery:
    path: ResourcePath
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False
    expand: tuple[str, ...] = ()
    where: Mapping[str, str] = field(default_factory=dict)  # the service's selector -> value (kind, id, ...)
    observations: ObservationFilter = ObservationFilter()
    ascending: bool = False  # observations: newest first unless $orderby asks for ascending time

    @property
    def is_collection(self) -> bool:
        return self.path.key is None


_SEGMENT = re.compile(r"^(?P<set>[A-Za-z]+)(?:\((?P<key>'(?:[^']|'')*'|[^()]*)\))?$")
_COMPARISON = re.compile(r"^\s*(phenomenonTime|resultTime|result)\s+(eq|ge|gt|le|lt)\s+(.+?)\s*$")
_EQ = re.compile(r"^\s*(?P<prop>[\w@./]+)\s+eq\s+'(?P<value>(?:[^']|'')*)'\s*$")
_ORDERBY = re.compile(r"^(phenomenonTime|resultTime|@iot\.id|id)(\s+(asc|desc))?$")
ENTITY_FILTERS = {
    "Things": {"properties/kind": "kind", "properties/owner_agency": "owner_agency", "@iot.id": "id", "id": "id"},
    "Locations": {"@iot.id": "id", "id": "id", "Things/properties/kind": "kind"},
    "Sensors": {"@iot.id": "id", "id": "id"},
    "Datastreams": {"ObservedProperty/@iot.id": "quantity", "Thing/@iot.id": "device_id"},
}


def parse(path: str, params: Mapping[str, str]) -> StaQuery:
    """The request for `path` (below /sta/v1.1/, without slashes at either end) with its query `params`."""
    segments = [s for s in path.split("/") if s]
    if not segments or len(segments) > 3:
        raise ODataError(404, f"no such resource path: {path!r}")
    parsed = [m for m in (_SEGMENT.match(s) for s in segments) if m is not None]
    if len(parsed) != len(segments):
        raise ODataError(404, f"no such resource path: {path!r}")
    head, key = parsed[0].group("set"), unquote_key(parsed[0].group("key"))
    if head not in ENTITY_SETS:
        raise ODataError(404, f"no entity set {head!r}")
    top, skip = top_skip(params)
    count, expand = count_option(params), expand_option(params)
    if len(segments) == 1 and key is None:
        resource = ResourcePath(head)
        if head in ALWAYS_EMPTY:
            return StaQuery(resource, top, skip, count, expand)
        if head == "Observations":
            return StaQuery(resource, top, skip, count, expand, ascending=orderby_ascending(params),
                            observations=observation_filter(params))
        return StaQuery(resource, top, skip, count, expand, where=entity_filter(params, head))
    if key is None or key == "":
        raise ODataError(404, f"{segments[0]} needs an id")
    if len(segments) == 1:
        return StaQuery(ResourcePath(head, key), top, skip, count, expand)
    if parsed[1].group("key") is not None:
        raise ODataError(404, "navigation by key is not supported")
    if len(segments) == 3:
        raise ODataError(404, f"no such resource path: {path!r}")
    resource = ResourcePath(head, key, parsed[1].group("set"))
    if head == "Datastreams" and resource.navigation == "Observations":
        return StaQuery(resource, top, skip, count, expand, ascending=orderby_ascending(params),
                        observations=observation_filter(params))
    return StaQuery(resource, top, skip, count, expand)


def unquote_key(raw: str | None) -> str | None:
    """`'DKI1'` -> `DKI1`, `'O''Brien'` -> `O'Brien`; an unquoted key as it is."""
    if raw is None:
        return None
    raw = raw.strip()
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return raw[1:-1].replace("''", "'")
    return raw


def top_skip(params: Mapping[str, str]) -> tuple[int, int]:
    try:
        top = int(params.get("$top", DEFAULT_TOP))
        skip = int(params.get("$skip", 0))
    except ValueError:
        raise ODataError(400, "$top and $skip must be integers") from None
    if top < 0 or skip < 0:
        raise ODataError(400, "$top and $skip must not be negative")
    return min(top, MAX_TOP), skip


def count_option(params: Mapping[str, str]) -> bool:
    raw = params.get("$count", "false").lower()
    if raw not in ("true", "false"):
        raise ODataError(400, "$count must be true or false")
    return raw == "true"


def expand_option(params: Mapping[str, str]) -> tuple[str, ...]:
    """The navigation properties to expand; nested options (`Datastreams($top=1)`, `Thing/Locations`) are ignored."""
    raw = params.get("$expand", "")
    return tuple(p.strip().split("(")[0].split("/")[0] for p in raw.split(",") if p.strip())


def orderby_ascending(params: Mapping[str, str]) -> bool:
    raw = params.get("$orderby", "").strip()
    if not raw:
        return False
    m = _ORDERBY.match(raw)
    if not m:
        raise ODataError(400, f"$orderby: unsupported {raw!r} (phenomenonTime asc|desc)")
    return (m.group(3) or "asc") == "asc"


def _time(value: str) -> datetime:
    value = value.strip().strip("'")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ODataError(400, f"$filter: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def observation_filter(params: Mapping[str, str]) -> ObservationFilter:
    """$filter on Observations. Times are kept to the millisecond: `gt t` starts 1 ms after t and `le t` ends 1 ms
    after it, so the window stays half-open; a later clause on the same bound replaces an earlier one."""
    raw = params.get("$filter", "").strip()
    if not raw:
        return ObservationFilter()
    time_from = time_to = value_min = value_max = None
    for clause in re.split(r"\s+and\s+", raw):
        m = _COMPARISON.match(clause.strip("() "))
        if not m:
            raise ODataError(400, f"$filter: unsupported expression {clause!r} (use phenomenonTime or result with "
                             "eq/ge/gt/le/lt, joined by and)")
        prop, op, value = m.groups()
        if prop in ("phenomenonTime", "resultTime"):
            at = _time(value)
            after = at + timedelta(milliseconds=1)
            if op in ("ge", "eq"):
                time_from = at
            if op == "gt":
                time_from = after
            if op == "lt":
                time_to = at
            if op in ("le", "eq"):
                time_to = after
        else:
            try:
                number = float(value)
            except ValueError:
                raise ODataError(400, f"$filter: result compares with a number, not {value!r}") from None
            if op in ("ge", "gt", "eq"):
                value_min = number
            if op in ("le", "lt", "eq"):
                value_max = number
    return ObservationFilter(time_from, time_to, value_min, value_max)


def entity_filter(params: Mapping[str, str], entity_set: str) -> dict[str, str]:
    """$filter on the other collections: the sensors service's selector (kind, owner_agency, id, quantity,
    device_id) -> the value asked for."""
    raw = params.get("$filter", "").strip()
    if not raw:
        return {}
    allowed = ENTITY_FILTERS.get(entity_set, {})
    found: dict[str, str] = {}
    for clause in re.split(r"\s+and\s+", raw):
        m = _EQ.match(clause.strip("() "))
        if not m or m.group("prop") not in allowed:
            names = ", ".join(allowed) or "nothing"
            raise ODataError(400, f"$filter on {entity_set}: unsupported expression {clause!r} (eq on: {names})")
        found[allowed[m.group("prop")]] = m.group("value").replace("''", "'")
    return found
