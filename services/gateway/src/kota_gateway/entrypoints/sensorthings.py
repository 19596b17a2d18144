"""OGC SensorThings API v1.1 (read side) over the sensors service: the path and its OData options are parsed
into a query plan (domain/odata.py), run by the sensors service as SQL and answered as JSON
(service_layer/sensorthings.py); batch requests at `$batch` (multipart or JSON, domain/odata_batch.py); errors as {"code", "type": "error", "message"}
with the matching HTTP status."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, PlainTextResponse, Response

from kota_gateway.adapters.errors import FailureCode, RpcFailure, ServiceUnavailable
from kota_gateway.adapters.sensors import SensorsClient
from kota_gateway.domain import odata
from kota_gateway.domain import odata_batch as batches
from kota_gateway.domain.sensorthings import STA
from kota_gateway.entrypoints.errors import RETRY_LATER, answering, service_failed, validation_messages
from kota_gateway.service_layer import sensorthings as use_cases


def sta_error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"code": status, "type": "error", "message": message}, status, headers=headers)


def _failure(request: Request, exc: RpcFailure) -> JSONResponse:
    if exc.code == FailureCode.NOT_FOUND:
        return sta_error(404, exc.message)
    if exc.code == FailureCode.INVALID_ARGUMENT:
        return sta_error(400, "; ".join(f"{f}: {d}" for f, d in exc.violations) or exc.message)
    return sta_error(502, service_failed(exc, 502).message)


router = APIRouter(tags=["SensorThings API v1.1, GTFS-realtime"], route_class=answering({
    odata.ODataError: lambda request, exc: sta_error(exc.status, exc.message),
    RpcFailure: _failure,
    ServiceUnavailable: lambda request, exc: sta_error(503, str(exc), RETRY_LATER),
    RequestValidationError: lambda request, exc: sta_error(400, validation_messages(exc.errors())),
    HTTPException: lambda request, exc: sta_error(exc.status_code, str(exc.detail), getattr(exc, "headers", None)),
}))


def sensors(request: Request) -> SensorsClient:
    client = request.app.state.sensors
    if client is None:
        raise ServiceUnavailable("sensors", "not configured in this gateway")
    return client


@router.get(STA, summary="SensorThings service root")
@router.get(STA + "/", include_in_schema=False)
async def sta_root(request: Request):
    return use_cases.service_root(str(request.base_url).rstrip("/"), request.app.state.settings.mqtt_endpoints)


@router.post(STA + "/$batch", summary="SensorThings batch of reads: multipart/mixed (OData 4.0) or JSON "
             "({\"requests\": [...]}, OData 4.01), answered in the same format")
async def sta_batch(request: Request):
    content_type = request.headers.get("content-type", "")
    multipart = content_type.split(";")[0].strip().lower() == batches.MULTIPART
    if multipart:
        requests = batches.read_multipart(content_type, await request.body())
    else:
        try:
            body = await request.json()
        except ValueError:
            raise odata.ODataError(400, "a batch is multipart/mixed or a JSON document") from None
        requests = batches.read_json(body)
    responses = await use_cases.batch(sensors(request), requests, str(request.base_url).rstrip("/"),
                                      request.app.state.settings.mqtt_endpoints)
    if multipart:
        media_type, content = batches.write_multipart(responses)
        return Response(content, media_type=media_type)
    return JSONResponse(batches.write_json(responses))


@router.get(STA + "/{path:path}", summary="SensorThings entities: Things, Locations, HistoricalLocations, "
            "Datastreams, Sensors, ObservedProperties, Observations, FeaturesOfInterest (with $filter, $select, "
            "$expand, $orderby, $top, $skip, $count, $resultFormat=dataArray)")
async def sta_resource(request: Request, path: str):
    path = path.strip("/")
    params = dict(request.query_params)
    query = odata.parse(path, params)
    sta = use_cases.StaRequest(query, str(request.base_url).rstrip("/"), f"{STA}/{path}", params)
    answer = await use_cases.read(sensors(request), sta)
    if isinstance(answer, use_cases.RawValue):
        return PlainTextResponse(answer.text)
    return JSONResponse(answer)
