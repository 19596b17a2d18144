"""Read-side use cases: devices with their datastreams, observations and vehicle positions, a page at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from kota_common.errors import InvalidArgument, NotFound
from kota_sensors.adapters.orm import DatastreamRow, DeviceRow, ObservationRow, VehiclePositionRow
from kota_sensors.adapters.repository import ObservationQuery
from kota_sensors.domain.sta import PlanError
from kota_sensors.service_layer.unit_of_work import UnitOfWork


@dataclass
class DevicePage:
    devices: list[DeviceRow]
    datastreams: dict[str, list[DatastreamRow]] = field(default_factory=dict)  # by device id
    total: int = 0
    next_offset: int | None = None  # None on the last page


@dataclass
class ObservationPage:
    observations: list[ObservationRow]
    total: int | None
    next_offset: int | None


def get_device(device_id: str, uow: UnitOfWork) -> tuple[DeviceRow, list[DatastreamRow]]:
    with uow:
        row = uow.devices.get(device_id)
        if row is None:
            raise NotFound(f"no device {device_id!r}")
        return row, uow.readings.datastreams(device_id=row.id)


def list_devices(kind: str, owner_agency: str, offset: int, size: int, uow: UnitOfWork) -> DevicePage:
    if not 0 < size <= 1000:
        raise InvalidArgument("page_size out of range", [("page_size", "1..1000")])
    with uow:
        rows = uow.devices.list(kind, owner_agency)
        page = rows[offset: offset + size]
        return DevicePage(page, uow.readings.datastreams_of([r.id for r in page]), len(rows),
                          offset + size if offset + size < len(rows) else None)


def list_datastreams(device_id: str, quantity: str, uow: UnitOfWork) -> list[DatastreamRow]:
    with uow:
        return uow.readings.datastreams(device_id, quantity)


def list_observations(q: ObservationQuery, uow: UnitOfWork) -> ObservationPage:
    """`q.limit` observations at most, from `q.offset`; next_offset if there are more."""
    if not 0 < q.limit <= 10000:
        raise InvalidArgument("page_size out of range", [("page_size", "1..10000")])
    if q.datastream_id and ":" not in q.datastream_id:
        raise InvalidArgument("invalid datastream id", [("datastream_id", "<device_id>:<quantity>")])
    size = q.limit
    with uow:
        rows, total = uow.readings.observations(ObservationQuery(**{**vars(q), "limit": size + 1}))
    more = len(rows) > size
    return ObservationPage(rows[:size], total, q.offset + size if more else None)


def list_vehicle_positions(route_id: str, uow: UnitOfWork) -> list[VehiclePositionRow]:
    with uow:
        return uow.readings.vehicle_positions(route_id)


def sensorthings(plan_json: str, uow: UnitOfWork) -> str:
    """A SensorThings query plan (JSON) answered from the database, as JSON; InvalidArgument when the plan asks
    what the model cannot answer (an unknown property, a type mismatch), with the reason for the client."""
    try:
        plan = json.loads(plan_json)
    except ValueError:
        raise InvalidArgument("plan_json is not JSON", [("plan_json", "a JSON query plan")]) from None
    with uow:
        try:
            result = uow.readings.sensorthings(plan)
        except PlanError as exc:
            raise InvalidArgument(str(exc), [("plan_json", str(exc))]) from None
    return json.dumps(result, separators=(",", ":"))
