"""The GTFS-realtime VehiclePositions feed of the buses, over the sensors service; errors as {"detail": ...}."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from kota_gateway.adapters.errors import FailureCode, RpcFailure, ServiceUnavailable
from kota_gateway.entrypoints.errors import RETRY_LATER, answering, service_failed
from kota_gateway.entrypoints.sensorthings import sensors


def _failure(request: Request, exc: RpcFailure) -> JSONResponse:
    if exc.code == FailureCode.NOT_FOUND:
        return JSONResponse({"detail": exc.message}, 404)
    if exc.code == FailureCode.INVALID_ARGUMENT:
        return JSONResponse({"detail": "; ".join(f"{f}: {d}" for f, d in exc.violations) or exc.message}, 400)
    return JSONResponse({"detail": service_failed(exc, 502).message}, 502)


router = APIRouter(tags=["SensorThings API v1.1, GTFS-realtime"], route_class=answering({
    RpcFailure: _failure,
    ServiceUnavailable: lambda request, exc: JSONResponse({"detail": str(exc)}, 503, headers=RETRY_LATER),
    HTTPException: lambda request, exc: JSONResponse({"detail": exc.detail}, exc.status_code,
                                                     headers=getattr(exc, "headers", None)),
}))


@router.get(
    "/gtfs-rt/vehicle-positions.pb",
    summary="GTFS-realtime VehiclePositions feed (protobuf)",
    responses={200: {"content": {"application/x-protobuf": {}}}},
)
async def gtfs_vehicle_positions(request: Request, route_id: str = ""):
    positions = await sensors(request).list_vehicle_positions(route_id)
    return Response(feed(positions, int(time.time())), media_type="application/x-protobuf")


def feed(positions, now_s: int) -> bytes:
    """The positions as a full-dataset GTFS-realtime FeedMessage."""
    from google.transit import gtfs_realtime_pb2 as rt

    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.incrementality = rt.FeedHeader.FULL_DATASET
    message.header.timestamp = now_s
    for p in positions:
        entity = message.entity.add(id=p.vehicle_id)
        v = entity.vehicle
        v.vehicle.id = p.vehicle_id
        if p.route_id:
            v.trip.route_id = p.route_id
        v.position.latitude, v.position.longitude = p.lat, p.lon
        v.position.bearing = p.bearing
        v.position.speed = p.speed_kmh / 3.6  # GTFS-rt wants metres per second
        v.timestamp = p.observed_at.seconds
    return message.SerializeToString()
