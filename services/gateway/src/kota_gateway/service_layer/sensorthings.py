"""SensorThings reads: a parsed `StaQuery` (its plan executed as SQL by the sensors service) answered as
SensorThings JSON, and JSON batch requests of such reads."""

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

MAX_BATCH = 100


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


async def batch(sensors: SensorThingsSource, body: object, base_url: str) -> dict:
    """A JSON batch (OData 4.01 JSON batch format, which SensorThings 1.1 accepts): each GET request answered in
    order, each with its own status; other methods are refused one by one (this API is read-only)."""
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise ODataError(400, "a batch is {\"requests\": [{\"id\", \"method\", \"url\"}, ...]}")
    requests = body["requests"]
    if len(requests) > MAX_BATCH:
        raise ODataError(400, f"a batch holds {MAX_BATCH} requests at most")
    responses = []
    for n, item in enumerate(requests):
        item = item if isinstance(item, dict) else {}
        rid = str(item.get("id", n + 1))
        status, payload = await _batch_item(sensors, item, base_url)
        responses.append({"id": rid, "status": status, "body": payload})
    return {"responses": responses}


async def _batch_item(sensors: SensorThingsSource, item: dict, base_url: str) -> tuple[int, object]:
    method, url = str(item.get("method", "")).upper(), str(item.get("url", ""))
    if method != "GET":
        return 405, {"code": 405, "type": "error", "message": f"{method or 'no method'}: this API is read-only"}
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return 400, {"code": 400, "type": "error", "message": f"not a URL: {exc}"}
    path = parts.path
    for prefix in (f"{views.STA}/", views.STA, "/"):
        if path.startswith(prefix):
            path = path[len(prefix):]
            break
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    try:
        if not path.strip("/"):
            return 200, service_root(base_url)
        query = odata.parse(path.strip("/"), params)
        answer = await read(sensors, StaRequest(query, base_url, f"{views.STA}/{path.strip('/')}", params))
    except ODataError as err:
        return err.status, {"code": err.status, "type": "error", "message": err.message}
    except RpcFailure as err:
        status = 404 if err.code == FailureCode.NOT_FOUND else 502
        return status, {"code": status, "type": "error", "message": err.message}
    if isinstance(answer, RawValue):
        return 200, answer.text
    return 200, answer
