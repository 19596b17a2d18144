"""Kota's sensors as SensorThings v1.1 JSON. Pure: the sensors service's rows (an entity's properties, its
expansions nested) and a base URL in, SensorThings documents out: self and navigation links, $select, nested
$expand with their counts and next links, and the Data Array format.

The mapping (the sensors service's, docs/sensors.md): a device is a Thing with one Location, one Sensor and one
FeatureOfInterest (its location); each of its quantities is a Datastream ("<device>:<quantity>") of an
ObservedProperty (the quantity code); readings are Observations ("<datastream>:<epoch ms>").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone
from urllib.parse import quote, urlencode

from kota_common.standards.sensorthings import NAVIGATION
from kota_gateway.domain.odata import Expand, Options, StaQuery

STA = "/sta/v1.1"
CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/batch-request/batch-request",
]
MQTT_CONFORMANCE = "http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates"
DATA_ARRAY_COMPONENTS = ("id", "phenomenonTime", "resultTime", "result")


def iso(ts) -> str | None:
    """A protobuf Timestamp as ISO 8601 UTC to the millisecond; None when unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def link(base: str, entity_set: str, key: str) -> str:
    escaped = quote(key.replace("'", "''"), safe=":")
    return f"{base}{STA}/{entity_set}('{escaped}')"


def service_root(base: str, entity_sets: tuple[str, ...], mqtt_endpoints: tuple[str, ...] = ()) -> dict:
    settings: dict = {"conformance": CONFORMANCE + ([MQTT_CONFORMANCE] if mqtt_endpoints else [])}
    if mqtt_endpoints:
        settings[MQTT_CONFORMANCE] = {"endpoints": list(mqtt_endpoints)}
    return {"value": [{"name": s, "url": f"{base}{STA}/{s}"} for s in entity_sets], "serverSettings": settings}


@dataclass(frozen=True)
class Page:
    """One page of a collection: its entities, how many there are in all, and whether more follow."""

    items: list[dict]
    total: int
    more: bool

    @classmethod
    def of(cls, everything: list[dict], top: int, skip: int) -> Page:
        """The page [skip, skip + top) of a collection held whole."""
        return cls(everything[skip : skip + top], len(everything), skip + top < len(everything))


def observation_id(key: str) -> tuple[str, int] | None:
    """`DKI1:pm25:1700000000000` -> (`DKI1:pm25`, 1700000000000); None when it is not an observation's id."""
    ds_id, _, ms = key.rpartition(":")
    if not ds_id or not ms.isdigit():
        return None
    return ds_id, int(ms)


def next_link(base: str, path: str, params: Mapping[str, str], top: int, skip: int) -> str:
    """The URL of the page after [skip, skip + top): the request's own options with $top and $skip moved on."""
    following = {k: v for k, v in params.items() if k not in ("$skip", "$top")}
    following.update({"$top": str(top), "$skip": str(skip + top)})
    return f"{base}{path}?{urlencode(following)}"


def entity(entity_set: str, row: Mapping, base: str, options: Options) -> dict:
    """One entity: its properties, self link and navigation links, cut to $select, with its expansions."""
    self_link = link(base, entity_set, str(row["@iot.id"]))
    navigation = NAVIGATION[entity_set]
    full: dict = {"@iot.id": row["@iot.id"], "@iot.selfLink": self_link}
    full.update({k: v for k, v in row.items() if k != "@iot.id" and k not in navigation})
    full.update({f"{nav}@iot.navigationLink": f"{self_link}/{nav}" for nav in navigation})
    if options.select:
        wanted = set(options.select)
        full = {k: v for k, v in full.items() if k in wanted or k.removesuffix("@iot.navigationLink") in wanted}
    for item in options.expand:
        full.update(expansion(item, row.get(item.nav), base, self_link))
    return full


def expansion(item: Expand, found, base: str, parent_link: str) -> dict:
    """An expanded navigation property: the entity (or null) of a to-one, the page of a to-many with its count
    and, when more follow, a link to the rest (18-088 9.3.2.1: nested options apply per parent)."""
    if not item.to_many:
        return {item.nav: None if found is None else entity(item.target, found, base, item.options)}
    found = found or {"value": [], "count": None, "more": False}
    out: dict = {}
    if item.options.count and found.get("count") is not None:
        out[f"{item.nav}@iot.count"] = found["count"]
    out[item.nav] = [entity(item.target, r, base, item.options) for r in found["value"]]
    if found.get("more"):
        params = {"$top": str(item.options.top), "$skip": str(item.options.skip + item.options.top)}
        out[f"{item.nav}@iot.nextLink"] = f"{parent_link}/{item.nav}?{urlencode(params)}"
    return out


def collection(query: StaQuery, result: Mapping, base: str, path: str, params: Mapping[str, str]) -> dict:
    """A collection page: @iot.count when asked, the entities, @iot.nextLink when more follow."""
    options, entity_set = query.options, query.path.entity_set
    body: dict = {}
    if options.count and result.get("count") is not None:
        body["@iot.count"] = result["count"]
    if query.path.ref:
        body["value"] = [{"@iot.selfLink": link(base, entity_set, str(r["@iot.id"]))} for r in result["value"]]
    else:
        body["value"] = [entity(entity_set, r, base, options) for r in result["value"]]
    if result.get("more") and options.top > 0:
        body["@iot.nextLink"] = next_link(base, path, params, options.top, options.skip)
    return body


def data_array(query: StaQuery, result: Mapping, base: str, path: str, params: Mapping[str, str]) -> dict:
    """Observations in the Data Array format (18-088 14.3): one array per Datastream, its components named once."""
    components = [("id" if s == "@iot.id" else s) for s in query.options.select] or list(DATA_ARRAY_COMPONENTS)
    groups: dict[str, list[list]] = {}
    for row in result["value"]:
        stream = str(row["@iot.id"]).rpartition(":")[0]
        groups.setdefault(stream, []).append([row.get("@iot.id" if c == "id" else c) for c in components])
    body: dict = {}
    if query.options.count and result.get("count") is not None:
        body["@iot.count"] = result["count"]
    body["value"] = [
        {"Datastream@iot.navigationLink": link(base, "Datastreams", stream), "components": components,
         "dataArray@iot.count": len(rows), "dataArray": rows}
        for stream, rows in groups.items()
    ]
    if result.get("more") and query.options.top > 0:
        body["@iot.nextLink"] = next_link(base, path, params, query.options.top, query.options.skip)
    return body
