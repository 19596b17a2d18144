"""Kota's sensors as SensorThings v1.1 entities. Pure: sensors-service messages and a base URL in, JSON-able
dicts out.

The mapping: a device is a Thing with one Location and one Sensor; each of its quantities is a Datastream
("<device>:<quantity>") of an ObservedProperty (the quantity code); readings are Observations
("<datastream>:<epoch ms>").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone
from urllib.parse import quote, urlencode

STA = "/sta/v1.1"
CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
]


def iso(ts) -> str | None:
    """A protobuf Timestamp as ISO 8601 UTC to the millisecond; None when unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def link(base: str, entity_set: str, key: str) -> str:
    escaped = quote(key.replace("'", "''"), safe=":")
    return f"{base}{STA}/{entity_set}('{escaped}')"


def thing(d, base: str) -> dict:
    self_link = link(base, "Things", d.id)
    return {
        "@iot.id": d.id, "@iot.selfLink": self_link, "name": d.name, "description": d.location.description or d.name,
        "properties": {"kind": d.kind, "owner_agency": d.owner_agency, "kota_code": d.kota_code, "route_id": d.route_id or None,
                       "last_seen_at": iso(d.last_seen_at)},
        "Datastreams@iot.navigationLink": self_link + "/Datastreams",
        "Locations@iot.navigationLink": self_link + "/Locations",
    }


def location(d, base: str) -> dict:
    self_link = link(base, "Locations", d.id)
    return {"@iot.id": d.id, "@iot.selfLink": self_link, "name": d.location.description or d.name,
            "description": d.location.description or d.name, "encodingType": "application/geo+json",
            "location": {"type": "Point", "coordinates": [d.location.lon, d.location.lat]},
            "Things@iot.navigationLink": self_link + "/Things"}


def sensor(d, base: str) -> dict:
    self_link = link(base, "Sensors", d.id)
    return {"@iot.id": d.id, "@iot.selfLink": self_link, "name": d.sensor_model or d.name,
            "description": f"{d.kind} sensor of {d.name}", "encodingType": "text/plain", "metadata": d.sensor_model,
            "Datastreams@iot.navigationLink": self_link + "/Datastreams"}


DEVICE_VIEWS = {"Things": thing, "Locations": location, "Sensors": sensor}


def observed_property(ds, base: str) -> dict:
    self_link = link(base, "ObservedProperties", ds.quantity)
    return {"@iot.id": ds.quantity, "@iot.selfLink": self_link, "name": ds.name or ds.quantity,
            "definition": ds.definition or f"urn:kota:quantity:{ds.quantity}", "description": ds.name or ds.quantity,
            "Datastreams@iot.navigationLink": self_link + "/Datastreams"}


def datastream(ds, base: str) -> dict:
    self_link = link(base, "Datastreams", ds.id)
    first, latest = iso(ds.first_time), iso(ds.latest_time)
    return {
        "@iot.id": ds.id, "@iot.selfLink": self_link, "name": f"{ds.device_id} {ds.name or ds.quantity}",
        "description": f"{ds.name or ds.quantity} at {ds.device_id}",
        "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        "unitOfMeasurement": {"name": ds.unit, "symbol": ds.unit, "definition": f"urn:kota:unit:{ds.unit}"},
        "phenomenonTime": f"{first}/{latest}" if first and latest else None,
        "properties": {"latest_value": ds.latest_value if latest else None, "latest_time": latest},
        "Thing@iot.navigationLink": self_link + "/Thing", "Sensor@iot.navigationLink": self_link + "/Sensor",
        "ObservedProperty@iot.navigationLink": self_link + "/ObservedProperty",
        "Observations@iot.navigationLink": self_link + "/Observations",
    }


def observation(o, base: str) -> dict:
    self_link = link(base, "Observations", o.id)
    at = iso(o.phenomenon_time)
    return {"@iot.id": o.id, "@iot.selfLink": self_link, "phenomenonTime": at, "resultTime": at, "result": o.value,
            "Datastream@iot.navigationLink": self_link + "/Datastream"}


def service_root(base: str, entity_sets: tuple[str, ...]) -> dict:
    return {"value": [{"name": s, "url": f"{base}{STA}/{s}"} for s in entity_sets],
            "serverSettings": {"conformance": CONFORMANCE}}


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
