"""The sensors service, typed: devices, datastreams, observations, vehicle positions, and SensorThings query
plans run where the data is."""

from __future__ import annotations

import json
from collections.abc import Sequence

from kota.sensors.v1 import sensors_pb2 as pb
from kota.sensors.v1 import sensors_pb2_grpc
from kota_gateway.adapters.backends import Backend


class SensorsClient:
    name = "sensors"

    def __init__(self, address: str, timeout: float, retries: int):
        self._backend = Backend(self.name, address, sensors_pb2_grpc.SensorsServiceStub, timeout, retries)
        self._stub: sensors_pb2_grpc.SensorsServiceStub = self._backend.stub

    async def get_device(self, device_id: str) -> pb.Device:
        return (await self._backend.unary(self._stub.GetDevice, pb.GetDeviceRequest(id=device_id), safe=True)).device

    async def list_devices(self, *, skip: int = 0, page_size: int, kind: str = "", owner_agency: str = "") -> pb.ListDevicesResponse:
        request = pb.ListDevicesRequest(skip=skip, page_size=page_size, kind=kind, owner_agency=owner_agency)
        return await self._backend.unary(self._stub.ListDevices, request, safe=True)

    async def list_datastreams(self, *, device_id: str = "", quantity: str = "") -> Sequence[pb.Datastream]:
        request = pb.ListDatastreamsRequest(device_id=device_id, quantity=quantity)
        return (await self._backend.unary(self._stub.ListDatastreams, request, safe=True)).datastreams

    async def list_observations(self, request: pb.ListObservationsRequest) -> pb.ListObservationsResponse:
        return await self._backend.unary(self._stub.ListObservations, request, safe=True)

    async def query_sensorthings(self, plan: dict) -> dict:
        """A SensorThings query plan (domain/odata.py's, as JSON) executed as SQL by the sensors service."""
        request = pb.QuerySensorThingsRequest(plan_json=json.dumps(plan, separators=(",", ":")))
        reply = await self._backend.unary(self._stub.QuerySensorThings, request, safe=True)
        return json.loads(reply.result_json)

    async def list_vehicle_positions(self, route_id: str = "") -> Sequence[pb.VehiclePositionView]:
        request = pb.ListVehiclePositionsRequest(route_id=route_id)
        return (await self._backend.unary(self._stub.ListVehiclePositions, request, safe=True)).positions

    async def healthy(self) -> bool:
        return await self._backend.healthy()

    async def close(self) -> None:
        await self._backend.close()
