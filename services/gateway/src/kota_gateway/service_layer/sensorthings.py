"""SensorThings reads: a parsed `StaQuery` (its plan executed as SQL by the sensors service) answered as
SensorThings JSON, and batch requests of such reads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from kota_common.standards.sensorthings import ENTITY_SETS
from kota_gateway.adapters.errors import FailureCode, RpcFailure
from kota_gateway.domain import odata
from kota_gateway.domain import sensorthings as views
from kota_gateway.domain.odata import ODataError, StaQuery
from kota_gateway.domain.odata_batch import BatchRequest, BatchResponse


class SensorThingsSource(Protocol):
    async def query_sensorthings(self, plan: dict) -> dict: ...


@dataclass(frozen=True)
class StaRequest:
    """What a SensorThings read needs besides the sensors service: the query, and where the client asked it
    (its base URL for self links, its path and options for @iot.nextLink)."""

    query: StaQuery
    base_url: str
    path: str  # /sta/v1.1/...
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RawValue:
    """`.../property/$value`: the value as text/plain."""

    text: str


def service_root(base_url: str, mqtt_endpoints: tuple[str, ...] = ()) -> dict:
    return views.service_root(base_url, ENTITY_SETS, mqtt_endpoints)


async def _run(sensors: SensorThingsSource, query: StaQuery) -> dict:
    try:
        return await sensors.query_sensorthings(query.plan())
    except RpcFailure as err:
        if err.code == FailureCode.INVALID_ARGUMENT:  # the plan asks what the model cannot answer
            raise ODataError(400, err.message) from None
        raise


async def read(sensors: SensorThingsSource, request: StaRequest) -> dict | RawValue:
    """The entity, collection, property or navigation target the query names; ODataError when there is none."""
    q, base = request.query, request.base_url
    result = await _run(sensors, q)
    if not q.path.single:
        if q.data_array:
            return views.data_array(q, result, base, request.path, request.params)
        return views.collection(q, result, base, request.path, request.params)
    if not result["value"]:
        step = q.path.steps[-1]
        raise ODataError(404, f"no {q.path.entity_set} {step.key!r}" if step.key else f"nothing at {request.path}")
    found = views.entity(q.path.entity_set, result["value"][0], base, q.options)
    name = q.path.property_name
    if name is None:
        return found
    key = "@iot.id" if name in ("id", "@iot.id") else name
    value = result["value"][0].get(key)
    if q.path.raw_value:
        return RawValue("" if value is None else value if isinstance(value, str) else json.dumps(value))
    return {key: value}


async def batch(sensors: SensorThingsSource, requests: list[BatchRequest], base_url: str,
                mqtt_endpoints: tuple[str, ...] = ()) -> list[BatchResponse]:
    """A batch's reads answered in order, each with its own status; a write (alone or a change set) is refused
    as such (this API is read-only); the batch's format is the entrypoint's (domain/odata_batch.py)."""
    return [BatchResponse(r.id, *await _batch_item(sensors, r, base_url, mqtt_endpoints)) for r in requests]


def _error(status: int, message: str) -> tuple[int, dict]:
    return status, {"code": status, "type": "error", "message": message}


async def _batch_item(sensors: SensorThingsSource, item: BatchRequest, base_url: str,
                      mqtt_endpoints: tuple[str, ...]) -> tuple[int, object]:
    if item.problem:
        return _error(400, item.problem)
    if item.change_set:
        return _error(405, "a change set writes: this API is read-only")
    if item.method != "GET":
        return _error(405, f"{item.method or 'no method'}: this API is read-only")
    url = item.url
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return _error(400, f"not a URL: {exc}")
    path = parts.path
    for prefix in (f"{views.STA}/", views.STA, "/"):
        if path.startswith(prefix):
            path = path[len(prefix):]
            break
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    try:
        if not path.strip("/"):
            return 200, service_root(base_url, mqtt_endpoints)
        query = odata.parse(path.strip("/"), params)
        answer = await read(sensors, StaRequest(query, base_url, f"{views.STA}/{path.strip('/')}", params))
    except ODataError as err:
        return _error(err.status, err.message)
    except RpcFailure as err:
        return _error(404 if err.code == FailureCode.NOT_FOUND else 502, err.message)
    if isinstance(answer, RawValue):
        return 200, answer.text
    return 200, answer
