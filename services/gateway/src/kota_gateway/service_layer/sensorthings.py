"""SensorThings reads: a parsed `StaQuery` answered from the sensors service, as SensorThings JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from kota.sensors.v1 import sensors_pb2 as pb
from kota_gateway.adapters.errors import FailureCode, RpcFailure
from kota_gateway.adapters.sensors import SensorsClient
from kota_gateway.domain import sensorthings as views
from kota_gateway.domain.odata import ALWAYS_EMPTY, DEFAULT_TOP, ENTITY_SETS, ODataError, StaQuery
from kota_gateway.domain.sensorthings import DEVICE_VIEWS, Page


@dataclass(frozen=True)
class StaRequest:
    """What a SensorThings read needs besides the sensors service: the query, and where the client asked it
    (its base URL for self links, its path and options for @iot.nextLink)."""

    query: StaQuery
    base_url: str
    path: str  # /sta/v1.1/...
    params: Mapping[str, str] = field(default_factory=dict)


def service_root(base_url: str) -> dict:
    return views.service_root(base_url, ENTITY_SETS)


async def read(sensors: SensorsClient, request: StaRequest) -> dict:
    """The entity, collection or navigation target the query names; ODataError when there is none."""
    resource = request.query.path
    if resource.key is None:
        return await _collection_of(sensors, request)
    if resource.navigation is None:
        return await _entity(sensors, request, resource.entity_set, resource.key)
    return await _navigate(sensors, request)


def _body(request: StaRequest, page: Page) -> dict:
    q = request.query
    body: dict = {}
    if q.count:
        body["@iot.count"] = page.total
    body["value"] = page.items
    if page.more:
        body["@iot.nextLink"] = views.next_link(request.base_url, request.path, request.params, q.top, q.skip)
    return body


def _timestamp(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at.astimezone(timezone.utc))
    return ts


async def _observations(sensors: SensorsClient, q: StaQuery, **selector) -> tuple[list, int, bool]:
    flt = q.observations
    message = pb.ListObservationsRequest(page_size=max(1, q.top), skip=q.skip, include_total=q.count,
                                         ascending=q.ascending, **selector)
    if flt.time_from is not None:
        message.time_from.CopyFrom(_timestamp(flt.time_from))
    if flt.time_to is not None:
        message.time_to.CopyFrom(_timestamp(flt.time_to))
    if flt.value_min is not None:
        message.value_min, message.has_value_min = flt.value_min, True
    if flt.value_max is not None:
        message.value_max, message.has_value_max = flt.value_max, True
    reply = await sensors.list_observations(message)
    items = list(reply.observations)[: q.top]
    more = bool(reply.next_page_token) or (q.count and q.skip + len(items) < reply.total_size)
    return items, reply.total_size, more and q.top > 0


async def _collection_of(sensors: SensorsClient, request: StaRequest) -> dict:
    q, base = request.query, request.base_url
    head, top, skip = q.path.entity_set, q.top, q.skip
    if head in ALWAYS_EMPTY:
        return _body(request, Page([], 0, False))
    if head == "Observations":
        items, total, more = await _observations(sensors, q)
        return _body(request, Page([views.observation(o, base) for o in items], total, more))
    if head == "Datastreams":
        streams = list(await sensors.list_datastreams(device_id=q.where.get("device_id", ""), quantity=q.where.get("quantity", "")))
        values = [await _expanded_datastream(sensors, base, ds, q.expand) for ds in streams[skip : skip + top]]
        return _body(request, Page(values, len(streams), skip + top < len(streams)))
    if head == "ObservedProperties":
        first_of: dict[str, object] = {}
        for ds in await sensors.list_datastreams():
            first_of.setdefault(ds.quantity, ds)
        return _body(request, Page.of([views.observed_property(ds, base) for _, ds in sorted(first_of.items())], top, skip))
    if "id" in q.where:
        try:
            devices, total = [await sensors.get_device(q.where["id"])], 1
        except RpcFailure as err:
            if err.code != FailureCode.NOT_FOUND:
                raise
            devices, total = [], 0
        devices = devices[skip : skip + top]
    else:
        reply = await sensors.list_devices(skip=skip, page_size=max(1, top), kind=q.where.get("kind", ""),
                                           owner_agency=q.where.get("owner_agency", ""))
        devices, total = list(reply.devices)[:top], reply.total_size
    render = DEVICE_VIEWS[head]
    values = []
    for d in devices:
        value = render(d, base)
        if head == "Things":
            _expand_thing(base, d, value, q.expand)
        values.append(value)
    return _body(request, Page(values, total, skip + len(devices) < total and top > 0))


def _expand_thing(base: str, d, value: dict, expand: tuple[str, ...]) -> None:
    if "Datastreams" in expand:
        value["Datastreams"] = [views.datastream(ds, base) for ds in d.datastreams]
    if "Locations" in expand:
        value["Locations"] = [views.location(d, base)]


async def _expanded_datastream(sensors: SensorsClient, base: str, ds, expand: tuple[str, ...]) -> dict:
    value = views.datastream(ds, base)
    if "Thing" in expand or "Sensor" in expand:
        d = await sensors.get_device(ds.device_id)
        if "Thing" in expand:
            value["Thing"] = views.thing(d, base)
        if "Sensor" in expand:
            value["Sensor"] = views.sensor(d, base)
    if "ObservedProperty" in expand:
        value["ObservedProperty"] = views.observed_property(ds, base)
    if "Observations" in expand:
        reply = await sensors.list_observations(pb.ListObservationsRequest(datastream_id=ds.id, page_size=DEFAULT_TOP))
        value["Observations"] = [views.observation(o, base) for o in reply.observations]
    return value


async def _find_datastream(sensors: SensorsClient, key: str):
    device_id, _, quantity = key.partition(":")
    if not quantity:
        raise ODataError(404, f"no datastream {key!r}")
    for ds in await sensors.list_datastreams(device_id=device_id, quantity=quantity):
        if ds.id == key:
            return ds
    raise ODataError(404, f"no datastream {key!r}")


async def _entity(sensors: SensorsClient, request: StaRequest, head: str, key: str) -> dict:
    base, expand = request.base_url, request.query.expand
    if head in DEVICE_VIEWS:
        d = await sensors.get_device(key)
        value = DEVICE_VIEWS[head](d, base)
        if head == "Things":
            _expand_thing(base, d, value, expand)
        return value
    if head == "Datastreams":
        return await _expanded_datastream(sensors, base, await _find_datastream(sensors, key), expand)
    if head == "ObservedProperties":
        found = await sensors.list_datastreams(quantity=key)
        if not found:
            raise ODataError(404, f"no observed property {key!r}")
        return views.observed_property(found[0], base)
    if head == "Observations":
        parts = views.observation_id(key)
        if parts is None:
            raise ODataError(404, f"no observation {key!r}")
        ds_id, ms = parts
        at, until = Timestamp(), Timestamp()
        at.FromMilliseconds(ms)
        until.FromMilliseconds(ms + 1)
        reply = await sensors.list_observations(pb.ListObservationsRequest(datastream_id=ds_id, time_from=at,
                                                                           time_to=until, page_size=1))
        if not reply.observations:
            raise ODataError(404, f"no observation {key!r}")
        return views.observation(reply.observations[0], base)
    raise ODataError(404, f"no {head} {key!r}")


async def _navigate(sensors: SensorsClient, request: StaRequest) -> dict:
    q, base = request.query, request.base_url
    head, key, nav = q.path.entity_set, q.path.key or "", q.path.navigation
    if head == "Things" and nav == "Datastreams":
        d = await sensors.get_device(key)
        return _body(request, Page.of([views.datastream(ds, base) for ds in d.datastreams], q.top, q.skip))
    if head == "Things" and nav == "Locations":
        return _body(request, Page([views.location(await sensors.get_device(key), base)], 1, False))
    if head in ("Locations", "Sensors") and nav in ("Things", "Datastreams"):
        d = await sensors.get_device(key)
        items = [views.thing(d, base)] if nav == "Things" else [views.datastream(ds, base) for ds in d.datastreams]
        return _body(request, Page(items, len(items), False))
    if head == "Datastreams":
        ds = await _find_datastream(sensors, key)
        if nav == "Observations":
            items, total, more = await _observations(sensors, q, datastream_id=ds.id)
            return _body(request, Page([views.observation(o, base) for o in items], total, more))
        if nav == "Thing":
            return views.thing(await sensors.get_device(ds.device_id), base)
        if nav == "Sensor":
            return views.sensor(await sensors.get_device(ds.device_id), base)
        if nav == "ObservedProperty":
            return views.observed_property(ds, base)
    if head == "ObservedProperties" and nav == "Datastreams":
        items = [views.datastream(ds, base) for ds in await sensors.list_datastreams(quantity=key)]
        return _body(request, Page(items, len(items), False))
    if head == "Observations" and nav == "Datastream":
        return views.datastream(await _find_datastream(sensors, key.rpartition(":")[0]), base)
    raise ODataError(404, f"{head} has no navigation property {nav!r}")


