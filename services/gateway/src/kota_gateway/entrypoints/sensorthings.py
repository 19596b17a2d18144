"""OGC SensorThings API v1.1 (read side), the GTFS-realtime vehicle positions feed and the dashboard's sensor
views, over the sensors gRPC API.

SensorThings mapping: a device is a Thing with one Location and one Sensor; each of its quantities is a
Datastream ("<device>:<quantity>") of an ObservedProperty (the quantity code); readings are Observations.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import grpc
from fastapi import APIRouter, Request
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.responses import JSONResponse, Response

from kota_common.standards import ispu, siaga
from kota_gateway.adapters.backends import RpcFailure, ServiceUnavailable

router = APIRouter(tags=["SensorThings API v1.1, GTFS-realtime"])
dashboard_router = APIRouter(prefix="/api/v1", tags=["portal"])

STA = "/sta/v1.1"
MAX_TOP = 1000
DEFAULT_TOP = 100
ENTITY_SETS = ("Things", "Locations", "HistoricalLocations", "Datastreams", "Sensors", "ObservedProperties",
               "Observations", "FeaturesOfInterest")


class StaError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


def sta_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "type": "error", "message": message}, status)


def _pb():
    from kota.sensors.v1 import sensors_pb2

    return sensors_pb2


def _backend(request: Request):
    backend = getattr(request.app.state, "sensors", None)
    if backend is None:
        raise ServiceUnavailable("sensors", "not configured in this gateway")
    return backend


async def _call(request: Request, method: str, message):
    try:
        return await _backend(request).call(method, message, safe=True)
    except RpcFailure as err:
        if err.code == grpc.StatusCode.NOT_FOUND:
            raise StaError(404, err.message) from None
        if err.code == grpc.StatusCode.INVALID_ARGUMENT:
            raise StaError(400, "; ".join(f"{f}: {d}" for f, d in err.violations) or err.message) from None
        raise StaError(502, "the sensors service failed") from None


def _iso(ts) -> str | None:
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- entity views ---------------------------------------------------------------------------------------


def _link(base: str, entity_set: str, key: str) -> str:
    escaped = quote(key.replace("'", "''"), safe=":")
    return f"{base}{STA}/{entity_set}('{escaped}')"


def thing(d, base: str) -> dict:
    self_link = _link(base, "Things", d.id)
    return {
        "@iot.id": d.id, "@iot.selfLink": self_link, "name": d.name, "description": d.location.description or d.name,
        "properties": {"kind": d.kind, "owner_agency": d.owner_agency, "kota_code": d.kota_code, "route_id": d.route_id or None,
                       "last_seen_at": _iso(d.last_seen_at)},
        "Datastreams@iot.navigationLink": self_link + "/Datastreams",
        "Locations@iot.navigationLink": self_link + "/Locations",
    }


def location(d, base: str) -> dict:
    self_link = _link(base, "Locations", d.id)
    return {"@iot.id": d.id, "@iot.selfLink": self_link, "name": d.location.description or d.name,
            "description": d.location.description or d.name, "encodingType": "application/geo+json",
            "location": {"type": "Point", "coordinates": [d.location.lon, d.location.lat]},
            "Things@iot.navigationLink": self_link + "/Things"}


def sensor(d, base: str) -> dict:
    self_link = _link(base, "Sensors", d.id)
    return {"@iot.id": d.id, "@iot.selfLink": self_link, "name": d.sensor_model or d.name,
            "description": f"{d.kind} sensor of {d.name}", "encodingType": "text/plain", "metadata": d.sensor_model,
            "Datastreams@iot.navigationLink": self_link + "/Datastreams"}


def observed_property(ds, base: str) -> dict:
    self_link = _link(base, "ObservedProperties", ds.quantity)
    return {"@iot.id": ds.quantity, "@iot.selfLink": self_link, "name": ds.name or ds.quantity,
            "definition": ds.definition or f"urn:kota:quantity:{ds.quantity}", "description": ds.name or ds.quantity,
            "Datastreams@iot.navigationLink": self_link + "/Datastreams"}


def datastream(ds, base: str) -> dict:
    self_link = _link(base, "Datastreams", ds.id)
    first, latest = _iso(ds.first_time), _iso(ds.latest_time)
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
    self_link = _link(base, "Observations", o.id)
    at = _iso(o.phenomenon_time)
    return {"@iot.id": o.id, "@iot.selfLink": self_link, "phenomenonTime": at, "resultTime": at, "result": o.value,
            "Datastream@iot.navigationLink": self_link + "/Datastream"}


# -- query options --------------------------------------------------------------------------------------

_PATH = re.compile(r"^(?P<set>[A-Za-z]+)(?:\((?P<key>'(?:[^']|'')*'|[^()]*)\))?$")
_CMP = re.compile(r"^\s*(phenomenonTime|resultTime|result)\s+(eq|ge|gt|le|lt)\s+(.+?)\s*$")


def _key(raw: str | None) -> str | None:
    if raw is None:
        return None
    raw = raw.strip()
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return raw[1:-1].replace("''", "'")
    return raw


def _top_skip(q) -> tuple[int, int]:
    try:
        top = int(q.get("$top", DEFAULT_TOP))
        skip = int(q.get("$skip", 0))
    except ValueError:
        raise StaError(400, "$top and $skip must be integers") from None
    if top < 0 or skip < 0:
        raise StaError(400, "$top and $skip must not be negative")
    return min(top, MAX_TOP), skip


def _count(q) -> bool:
    raw = q.get("$count", "false").lower()
    if raw not in ("true", "false"):
        raise StaError(400, "$count must be true or false")
    return raw == "true"


def _expand(q) -> list[str]:
    raw = q.get("$expand", "")
    return [p.strip().split("(")[0].split("/")[0] for p in raw.split(",") if p.strip()]


def _timestamp(value: str) -> Timestamp:
    value = value.strip().strip("'")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise StaError(400, f"$filter: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    ts = Timestamp()
    ts.FromDatetime(parsed.astimezone(timezone.utc))
    return ts


def _observation_filter(q, message) -> None:
    """$filter on Observations: comparisons of phenomenonTime/resultTime/result joined by `and`."""
    raw = q.get("$filter", "").strip()
    if not raw:
        return
    for clause in re.split(r"\s+and\s+", raw):
        m = _CMP.match(clause.strip("() "))
        if not m:
            raise StaError(400, f"$filter: unsupported expression {clause!r} (use phenomenonTime or result with eq/ge/gt/le/lt, joined by and)")
        prop, op, value = m.groups()
        if prop in ("phenomenonTime", "resultTime"):
            ts = _timestamp(value)
            after = Timestamp(seconds=ts.seconds, nanos=ts.nanos)
            bump = Timestamp()
            bump.FromDatetime(ts.ToDatetime(tzinfo=timezone.utc) + timedelta(milliseconds=1))
            if op in ("ge", "eq"):
                message.time_from.CopyFrom(after)
            if op == "gt":
                message.time_from.CopyFrom(bump)
            if op == "lt":
                message.time_to.CopyFrom(after)
            if op in ("le", "eq"):
                message.time_to.CopyFrom(bump)
        else:
            try:
                number = float(value)
            except ValueError:
                raise StaError(400, f"$filter: result compares with a number, not {value!r}") from None
            if op in ("ge", "gt", "eq"):
                message.value_min, message.has_value_min = number, True
            if op in ("le", "lt", "eq"):
                message.value_max, message.has_value_max = number, True


_EQ = re.compile(r"^\s*(?P<prop>[\w@./]+)\s+eq\s+'(?P<value>(?:[^']|'')*)'\s*$")
_ENTITY_FILTERS = {
    "Things": {"properties/kind": "kind", "properties/owner_agency": "owner_agency", "@iot.id": "id", "id": "id"},
    "Locations": {"@iot.id": "id", "id": "id", "Things/properties/kind": "kind"},
    "Sensors": {"@iot.id": "id", "id": "id"},
    "Datastreams": {"ObservedProperty/@iot.id": "quantity", "Thing/@iot.id": "device_id"},
}


def _entity_filter(q, head: str) -> dict[str, str]:
    """$filter on the other collections: `<property> eq '<text>'` clauses joined by `and`, for the properties
    the sensors service can select on (kind, owner agency, id; a datastream's quantity and device)."""
    raw = q.get("$filter", "").strip()
    if not raw or head == "Observations":
        return {}
    allowed = _ENTITY_FILTERS.get(head, {})
    found: dict[str, str] = {}
    for clause in re.split(r"\s+and\s+", raw):
        m = _EQ.match(clause.strip("() "))
        if not m or m.group("prop") not in allowed:
            names = ", ".join(allowed) or "nothing"
            raise StaError(400, f"$filter on {head}: unsupported expression {clause!r} (eq on: {names})")
        found[allowed[m.group("prop")]] = m.group("value").replace("''", "'")
    return found


def _orderby_ascending(q) -> bool:
    raw = q.get("$orderby", "").strip()
    if not raw:
        return False
    m = re.match(r"^(phenomenonTime|resultTime|@iot\.id|id)(\s+(asc|desc))?$", raw)
    if not m:
        raise StaError(400, f"$orderby: unsupported {raw!r} (phenomenonTime asc|desc)")
    return (m.group(3) or "asc") == "asc"


def _next_link(request: Request, base: str, path: str, top: int, skip: int) -> str:
    params = {k: v for k, v in request.query_params.items() if k not in ("$skip", "$top")}
    params.update({"$top": str(top), "$skip": str(skip + top)})
    return f"{base}{path}?{urlencode(params)}"


def _collection(request, base, path, items, total, top, skip, count, more) -> dict:
    body: dict = {}
    if count:
        body["@iot.count"] = total
    body["value"] = items
    if more:
        body["@iot.nextLink"] = _next_link(request, base, path, top, skip)
    return body


# -- data access ----------------------------------------------------------------------------------------


async def _devices(request: Request, skip: int = 0, top: int = MAX_TOP, kind: str = "", owner_agency: str = "") -> tuple[list, int]:
    message = _pb().ListDevicesRequest(skip=skip, page_size=max(1, top), kind=kind, owner_agency=owner_agency)
    reply = await _call(request, "ListDevices", message)
    return list(reply.devices)[:top], reply.total_size


async def _device(request: Request, device_id: str):
    return (await _call(request, "GetDevice", _pb().GetDeviceRequest(id=device_id))).device


async def _datastreams(request: Request, device_id: str = "", quantity: str = "") -> list:
    reply = await _call(request, "ListDatastreams", _pb().ListDatastreamsRequest(device_id=device_id, quantity=quantity))
    return list(reply.datastreams)


async def _observations(request: Request, q, top: int, skip: int, count: bool, **flt) -> tuple[list, int, bool]:
    message = _pb().ListObservationsRequest(page_size=max(1, top), skip=skip, include_total=count,
                                            ascending=_orderby_ascending(q), **flt)
    _observation_filter(q, message)
    reply = await _call(request, "ListObservations", message)
    items = list(reply.observations)[:top]
    more = bool(reply.next_page_token) or (count and skip + len(items) < reply.total_size)
    return items, reply.total_size, more and top > 0


# -- routes ---------------------------------------------------------------------------------------------


@router.get(STA, summary="SensorThings service root")
@router.get(STA + "/", include_in_schema=False)
async def sta_root(request: Request):
    base = str(request.base_url).rstrip("/")
    return {"value": [{"name": s, "url": f"{base}{STA}/{s}"} for s in ENTITY_SETS],
            "serverSettings": {"conformance": ["http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
                                               "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
                                               "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data"]}}


@router.get(STA + "/{path:path}", summary="SensorThings entities: Things, Locations, Datastreams, Sensors, "
            "ObservedProperties, Observations (with $filter, $top, $skip, $orderby, $expand, $count)")
async def sta_resource(request: Request, path: str):
    base = str(request.base_url).rstrip("/")
    try:
        return JSONResponse(await _resolve(request, base, path.strip("/")))
    except StaError as err:
        return sta_error(err.status, err.message)


async def _resolve(request: Request, base: str, path: str):
    q = request.query_params
    segments = [s for s in path.split("/") if s]
    if not segments or len(segments) > 3:
        raise StaError(404, f"no such resource path: {path!r}")
    parsed = [_PATH.match(s) for s in segments]
    if not all(parsed):
        raise StaError(404, f"no such resource path: {path!r}")
    head, key = parsed[0].group("set"), _key(parsed[0].group("key"))
    if head not in ENTITY_SETS:
        raise StaError(404, f"no entity set {head!r}")
    top, skip = _top_skip(q)
    count, expand = _count(q), _expand(q)
    full_path = f"{STA}/{path}"

    if len(segments) == 1 and key is None:  # a collection
        return await _collection_of(request, base, head, q, top, skip, count, expand, full_path)
    if key is None or key == "":
        raise StaError(404, f"{segments[0]} needs an id")
    entity = await _entity(request, base, head, key, expand, q)
    if len(segments) == 1:
        return entity
    nav = parsed[1].group("set")
    if parsed[1].group("key") is not None:
        raise StaError(404, "navigation by key is not supported")
    if len(segments) == 3:
        raise StaError(404, f"no such resource path: {path!r}")
    return await _navigate(request, base, head, key, nav, q, top, skip, count, expand, full_path)


async def _collection_of(request, base, head, q, top, skip, count, expand, full_path):
    if head in ("HistoricalLocations", "FeaturesOfInterest"):
        return _collection(request, base, full_path, [], 0, top, skip, count, False)
    flt = _entity_filter(q, head)
    if head == "Observations":
        items, total, more = await _observations(request, q, top, skip, count)
        return _collection(request, base, full_path, [observation(o, base) for o in items], total, top, skip, count, more)
    if head == "Datastreams":
        all_ds = await _datastreams(request, device_id=flt.get("device_id", ""), quantity=flt.get("quantity", ""))
        page = all_ds[skip : skip + top]
        values = [await _expand_datastream(request, base, ds, expand) for ds in page]
        return _collection(request, base, full_path, values, len(all_ds), top, skip, count, skip + top < len(all_ds))
    if head == "ObservedProperties":
        seen: dict[str, object] = {}
        for ds in await _datastreams(request):
            seen.setdefault(ds.quantity, ds)
        props = [observed_property(ds, base) for _, ds in sorted(seen.items())]
        return _collection(request, base, full_path, props[skip : skip + top], len(props), top, skip, count, skip + top < len(props))
    if "id" in flt:
        try:
            devices, total = [await _device(request, flt["id"])], 1
        except StaError:
            devices, total = [], 0
        devices = devices[skip : skip + top]
    else:
        devices, total = await _devices(request, skip, top, kind=flt.get("kind", ""), owner_agency=flt.get("owner_agency", ""))
    render = {"Things": thing, "Locations": location, "Sensors": sensor}[head]
    values = []
    for d in devices:
        value = render(d, base)
        if head == "Things":
            await _expand_thing(request, base, d, value, expand)
        values.append(value)
    return _collection(request, base, full_path, values, total, top, skip, count, skip + len(devices) < total and top > 0)


async def _expand_thing(request, base, d, value: dict, expand: list[str]) -> None:
    if "Datastreams" in expand:
        value["Datastreams"] = [datastream(ds, base) for ds in d.datastreams]
    if "Locations" in expand:
        value["Locations"] = [location(d, base)]


async def _expand_datastream(request, base, ds, expand: list[str]) -> dict:
    value = datastream(ds, base)
    if "Thing" in expand or "Sensor" in expand:
        d = await _device(request, ds.device_id)
        if "Thing" in expand:
            value["Thing"] = thing(d, base)
        if "Sensor" in expand:
            value["Sensor"] = sensor(d, base)
    if "ObservedProperty" in expand:
        value["ObservedProperty"] = observed_property(ds, base)
    if "Observations" in expand:
        reply = await _call(request, "ListObservations", _pb().ListObservationsRequest(datastream_id=ds.id, page_size=DEFAULT_TOP))
        value["Observations"] = [observation(o, base) for o in reply.observations]
    return value


async def _find_datastream(request, key: str):
    device_id, _, quantity = key.partition(":")
    if not quantity:
        raise StaError(404, f"no datastream {key!r}")
    for ds in await _datastreams(request, device_id=device_id, quantity=quantity):
        if ds.id == key:
            return ds
    raise StaError(404, f"no datastream {key!r}")


async def _entity(request, base, head, key, expand, q):
    if head in ("Things", "Locations", "Sensors"):
        d = await _device(request, key)
        value = {"Things": thing, "Locations": location, "Sensors": sensor}[head](d, base)
        if head == "Things":
            await _expand_thing(request, base, d, value, expand)
        return value
    if head == "Datastreams":
        return await _expand_datastream(request, base, await _find_datastream(request, key), expand)
    if head == "ObservedProperties":
        found = await _datastreams(request, quantity=key)
        if not found:
            raise StaError(404, f"no observed property {key!r}")
        return observed_property(found[0], base)
    if head == "Observations":
        ds_id, _, ms = key.rpartition(":")
        if not ds_id or not ms.isdigit():
            raise StaError(404, f"no observation {key!r}")
        at = Timestamp()
        at.FromMilliseconds(int(ms))
        until = Timestamp()
        until.FromMilliseconds(int(ms) + 1)
        reply = await _call(request, "ListObservations", _pb().ListObservationsRequest(
            datastream_id=ds_id, time_from=at, time_to=until, page_size=1))
        if not reply.observations:
            raise StaError(404, f"no observation {key!r}")
        return observation(reply.observations[0], base)
    raise StaError(404, f"no {head} {key!r}")


async def _navigate(request, base, head, key, nav, q, top, skip, count, expand, full_path):
    if head == "Things" and nav == "Datastreams":
        d = await _device(request, key)
        items = [datastream(ds, base) for ds in d.datastreams]
        return _collection(request, base, full_path, items[skip : skip + top], len(items), top, skip, count, skip + top < len(items))
    if head == "Things" and nav == "Locations":
        return _collection(request, base, full_path, [location(await _device(request, key), base)], 1, top, skip, count, False)
    if head in ("Locations", "Sensors") and nav in ("Things", "Datastreams"):
        d = await _device(request, key)
        items = [thing(d, base)] if nav == "Things" else [datastream(ds, base) for ds in d.datastreams]
        return _collection(request, base, full_path, items, len(items), top, skip, count, False)
    if head == "Datastreams":
        ds = await _find_datastream(request, key)
        if nav == "Observations":
            items, total, more = await _observations(request, q, top, skip, count, datastream_id=ds.id)
            return _collection(request, base, full_path, [observation(o, base) for o in items], total, top, skip, count, more)
        if nav == "Thing":
            return thing(await _device(request, ds.device_id), base)
        if nav == "Sensor":
            return sensor(await _device(request, ds.device_id), base)
        if nav == "ObservedProperty":
            return observed_property(ds, base)
    if head == "ObservedProperties" and nav == "Datastreams":
        items = [datastream(ds, base) for ds in await _datastreams(request, quantity=key)]
        return _collection(request, base, full_path, items, len(items), top, skip, count, False)
    if head == "Observations" and nav == "Datastream":
        ds_id = key.rpartition(":")[0]
        return datastream(await _find_datastream(request, ds_id), base)
    raise StaError(404, f"{head} has no navigation property {nav!r}")


# -- GTFS-realtime --------------------------------------------------------------------------------------


@router.get(
    "/gtfs-rt/vehicle-positions.pb",
    summary="GTFS-realtime VehiclePositions feed (protobuf)",
    responses={200: {"content": {"application/x-protobuf": {}}}},
)
async def gtfs_vehicle_positions(request: Request, route_id: str = ""):
    from google.transit import gtfs_realtime_pb2 as rt

    reply = await _call_plain(request, "ListVehiclePositions", _pb().ListVehiclePositionsRequest(route_id=route_id))
    feed = rt.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.incrementality = rt.FeedHeader.FULL_DATASET
    feed.header.timestamp = int(time.time())
    for p in reply.positions:
        entity = feed.entity.add(id=p.vehicle_id)
        v = entity.vehicle
        v.vehicle.id = p.vehicle_id
        if p.route_id:
            v.trip.route_id = p.route_id
        v.position.latitude, v.position.longitude = p.lat, p.lon
        v.position.bearing = p.bearing
        v.position.speed = p.speed_kmh / 3.6  # GTFS-rt wants metres per second
        v.timestamp = p.observed_at.seconds
    return Response(feed.SerializeToString(), media_type="application/x-protobuf")


async def _call_plain(request: Request, method: str, message):
    try:
        return await _call(request, method, message)
    except StaError as err:
        raise RpcFailure("sensors", grpc.StatusCode.INVALID_ARGUMENT if err.status == 400 else grpc.StatusCode.NOT_FOUND
                         if err.status == 404 else grpc.StatusCode.INTERNAL, err.message) from None


# -- dashboard views ------------------------------------------------------------------------------------

@dashboard_router.get("/air-quality", summary="Latest ISPU per air-quality station")
async def air_quality(request: Request) -> list[dict]:
    devices, _ = await _devices(request, kind="air_quality")
    out = []
    for d in devices:
        best: tuple[float, str] | None = None
        for ds in d.datastreams:
            if ds.latest_time.seconds == 0:
                continue
            index = ispu.sub_index(ds.quantity, ds.latest_value)
            if index is not None and (best is None or index > best[0]):
                best = (index, ds.quantity)
        out.append({"id": d.id, "name": d.name, "lat": d.location.lat, "lon": d.location.lon,
                    "ispu": round(best[0]) if best else None, "pollutant": best[1] if best else None,
                    "category": ispu.category_name(best[0]) if best else None, "last_seen_at": _iso(d.last_seen_at)})
    return out


@dashboard_router.get("/flood-gauges", summary="Latest water level, Siaga level and recent curve per flood gauge")
async def flood_gauges(request: Request, points: int = 36) -> list[dict]:
    points = max(1, min(points, 500))
    devices, _ = await _devices(request, kind="water_level")
    out = []
    for d in devices:
        stream = next((ds for ds in d.datastreams if ds.quantity == "water_level"), None)
        level = stream.latest_value if stream is not None and stream.latest_time.seconds else None
        recent = []
        if stream is not None and level is not None:
            reply = await _call(request, "ListObservations", _pb().ListObservationsRequest(datastream_id=stream.id, page_size=points))
            recent = [{"at": _iso(o.phenomenon_time), "level_cm": o.value} for o in reversed(reply.observations)]
        thresholds = {t.name: t.value for t in d.thresholds}
        out.append({"id": d.id, "name": d.name, "lat": d.location.lat, "lon": d.location.lon, "level_cm": level,
                    "siaga": siaga.level_from_bounds(level, tuple(thresholds.get(k) for k in ("siaga4_max", "siaga3_max", "siaga2_max"))) if level is not None else None, "thresholds": thresholds,
                    "recent": recent})
    return out


def install_error_handlers(app) -> None:
    @app.exception_handler(StaError)
    async def _sta(request: Request, exc: StaError):
        return sta_error(exc.status, exc.message)
