import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Series(_message.Message):
    __slots__ = ("quantity", "unit", "timestamps_ms", "values")
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_MS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    quantity: str
    unit: str
    timestamps_ms: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, quantity: _Optional[str] = ..., unit: _Optional[str] = ..., timestamps_ms: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class PositionSeries(_message.Message):
    __slots__ = ("route_id", "timestamps_ms", "lats", "lons", "bearings", "speeds_kmh")
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_MS_FIELD_NUMBER: _ClassVar[int]
    LATS_FIELD_NUMBER: _ClassVar[int]
    LONS_FIELD_NUMBER: _ClassVar[int]
    BEARINGS_FIELD_NUMBER: _ClassVar[int]
    SPEEDS_KMH_FIELD_NUMBER: _ClassVar[int]
    route_id: str
    timestamps_ms: _containers.RepeatedScalarFieldContainer[int]
    lats: _containers.RepeatedScalarFieldContainer[float]
    lons: _containers.RepeatedScalarFieldContainer[float]
    bearings: _containers.RepeatedScalarFieldContainer[float]
    speeds_kmh: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, route_id: _Optional[str] = ..., timestamps_ms: _Optional[_Iterable[int]] = ..., lats: _Optional[_Iterable[float]] = ..., lons: _Optional[_Iterable[float]] = ..., bearings: _Optional[_Iterable[float]] = ..., speeds_kmh: _Optional[_Iterable[float]] = ...) -> None: ...

class IngestReadingsRequest(_message.Message):
    __slots__ = ("sequence", "device_id", "device_token", "series", "positions")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    device_id: str
    device_token: str
    series: _containers.RepeatedCompositeFieldContainer[Series]
    positions: PositionSeries
    def __init__(self, sequence: _Optional[int] = ..., device_id: _Optional[str] = ..., device_token: _Optional[str] = ..., series: _Optional[_Iterable[_Union[Series, _Mapping]]] = ..., positions: _Optional[_Union[PositionSeries, _Mapping]] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("quantity", "index", "timestamp_ms", "reason", "description")
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    quantity: str
    index: int
    timestamp_ms: int
    reason: str
    description: str
    def __init__(self, quantity: _Optional[str] = ..., index: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., reason: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class IngestReadingsResponse(_message.Message):
    __slots__ = ("sequence", "accepted", "rejected", "rejections", "refused_reason")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    REFUSED_REASON_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    accepted: int
    rejected: int
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    refused_reason: str
    def __init__(self, sequence: _Optional[int] = ..., accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ..., refused_reason: _Optional[str] = ...) -> None: ...

class Location(_message.Message):
    __slots__ = ("lat", "lon", "description")
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    lat: float
    lon: float
    description: str
    def __init__(self, lat: _Optional[float] = ..., lon: _Optional[float] = ..., description: _Optional[str] = ...) -> None: ...

class Datastream(_message.Message):
    __slots__ = ("id", "device_id", "quantity", "name", "unit", "definition", "latest_value", "latest_time", "first_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    LATEST_VALUE_FIELD_NUMBER: _ClassVar[int]
    LATEST_TIME_FIELD_NUMBER: _ClassVar[int]
    FIRST_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    device_id: str
    quantity: str
    name: str
    unit: str
    definition: str
    latest_value: float
    latest_time: _timestamp_pb2.Timestamp
    first_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., device_id: _Optional[str] = ..., quantity: _Optional[str] = ..., name: _Optional[str] = ..., unit: _Optional[str] = ..., definition: _Optional[str] = ..., latest_value: _Optional[float] = ..., latest_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Threshold(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("id", "name", "kind", "location", "owner_agency", "kota_code", "sensor_model", "thresholds", "credential_active", "datastreams", "created_at", "last_seen_at", "route_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    OWNER_AGENCY_FIELD_NUMBER: _ClassVar[int]
    KOTA_CODE_FIELD_NUMBER: _ClassVar[int]
    SENSOR_MODEL_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    DATASTREAMS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    kind: str
    location: Location
    owner_agency: str
    kota_code: str
    sensor_model: str
    thresholds: _containers.RepeatedCompositeFieldContainer[Threshold]
    credential_active: bool
    datastreams: _containers.RepeatedCompositeFieldContainer[Datastream]
    created_at: _timestamp_pb2.Timestamp
    last_seen_at: _timestamp_pb2.Timestamp
    route_id: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., owner_agency: _Optional[str] = ..., kota_code: _Optional[str] = ..., sensor_model: _Optional[str] = ..., thresholds: _Optional[_Iterable[_Union[Threshold, _Mapping]]] = ..., credential_active: _Optional[bool] = ..., datastreams: _Optional[_Iterable[_Union[Datastream, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., route_id: _Optional[str] = ...) -> None: ...

class ProvisionDeviceRequest(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: Device
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ...) -> None: ...

class ProvisionDeviceResponse(_message.Message):
    __slots__ = ("device", "device_token")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    device: Device
    device_token: str
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., device_token: _Optional[str] = ...) -> None: ...

class IssueDeviceCredentialRequest(_message.Message):
    __slots__ = ("device_id",)
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    def __init__(self, device_id: _Optional[str] = ...) -> None: ...

class IssueDeviceCredentialResponse(_message.Message):
    __slots__ = ("device", "device_token")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    device: Device
    device_token: str
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ..., device_token: _Optional[str] = ...) -> None: ...

class RevokeDeviceCredentialRequest(_message.Message):
    __slots__ = ("device_id",)
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    def __init__(self, device_id: _Optional[str] = ...) -> None: ...

class RevokeDeviceCredentialResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: Device
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ...) -> None: ...

class GetDeviceRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetDeviceResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: Device
    def __init__(self, device: _Optional[_Union[Device, _Mapping]] = ...) -> None: ...

class ListDevicesRequest(_message.Message):
    __slots__ = ("kind", "owner_agency", "page_size", "page_token", "skip")
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_AGENCY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SKIP_FIELD_NUMBER: _ClassVar[int]
    kind: str
    owner_agency: str
    page_size: int
    page_token: str
    skip: int
    def __init__(self, kind: _Optional[str] = ..., owner_agency: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., skip: _Optional[int] = ...) -> None: ...

class ListDevicesResponse(_message.Message):
    __slots__ = ("devices", "next_page_token", "total_size")
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    next_page_token: str
    total_size: int
    def __init__(self, devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListDatastreamsRequest(_message.Message):
    __slots__ = ("device_id", "quantity")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    quantity: str
    def __init__(self, device_id: _Optional[str] = ..., quantity: _Optional[str] = ...) -> None: ...

class ListDatastreamsResponse(_message.Message):
    __slots__ = ("datastreams",)
    DATASTREAMS_FIELD_NUMBER: _ClassVar[int]
    datastreams: _containers.RepeatedCompositeFieldContainer[Datastream]
    def __init__(self, datastreams: _Optional[_Iterable[_Union[Datastream, _Mapping]]] = ...) -> None: ...

class ListObservationsRequest(_message.Message):
    __slots__ = ("datastream_id", "device_id", "quantity", "time_from", "time_to", "value_min", "has_value_min", "value_max", "has_value_max", "ascending", "page_size", "page_token", "skip", "include_total")
    DATASTREAM_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TIME_FROM_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIELD_NUMBER: _ClassVar[int]
    VALUE_MIN_FIELD_NUMBER: _ClassVar[int]
    HAS_VALUE_MIN_FIELD_NUMBER: _ClassVar[int]
    VALUE_MAX_FIELD_NUMBER: _ClassVar[int]
    HAS_VALUE_MAX_FIELD_NUMBER: _ClassVar[int]
    ASCENDING_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SKIP_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    datastream_id: str
    device_id: str
    quantity: str
    time_from: _timestamp_pb2.Timestamp
    time_to: _timestamp_pb2.Timestamp
    value_min: float
    has_value_min: bool
    value_max: float
    has_value_max: bool
    ascending: bool
    page_size: int
    page_token: str
    skip: int
    include_total: bool
    def __init__(self, datastream_id: _Optional[str] = ..., device_id: _Optional[str] = ..., quantity: _Optional[str] = ..., time_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., time_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value_min: _Optional[float] = ..., has_value_min: _Optional[bool] = ..., value_max: _Optional[float] = ..., has_value_max: _Optional[bool] = ..., ascending: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., skip: _Optional[int] = ..., include_total: _Optional[bool] = ...) -> None: ...

class Observation(_message.Message):
    __slots__ = ("id", "datastream_id", "device_id", "quantity", "value", "unit", "phenomenon_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    DATASTREAM_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PHENOMENON_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    datastream_id: str
    device_id: str
    quantity: str
    value: float
    unit: str
    phenomenon_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., datastream_id: _Optional[str] = ..., device_id: _Optional[str] = ..., quantity: _Optional[str] = ..., value: _Optional[float] = ..., unit: _Optional[str] = ..., phenomenon_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListObservationsResponse(_message.Message):
    __slots__ = ("observations", "next_page_token", "total_size")
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    observations: _containers.RepeatedCompositeFieldContainer[Observation]
    next_page_token: str
    total_size: int
    def __init__(self, observations: _Optional[_Iterable[_Union[Observation, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListVehiclePositionsRequest(_message.Message):
    __slots__ = ("route_id",)
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    route_id: str
    def __init__(self, route_id: _Optional[str] = ...) -> None: ...

class VehiclePositionView(_message.Message):
    __slots__ = ("vehicle_id", "route_id", "lat", "lon", "bearing", "speed_kmh", "observed_at")
    VEHICLE_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    BEARING_FIELD_NUMBER: _ClassVar[int]
    SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    vehicle_id: str
    route_id: str
    lat: float
    lon: float
    bearing: float
    speed_kmh: float
    observed_at: _timestamp_pb2.Timestamp
    def __init__(self, vehicle_id: _Optional[str] = ..., route_id: _Optional[str] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., bearing: _Optional[float] = ..., speed_kmh: _Optional[float] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListVehiclePositionsResponse(_message.Message):
    __slots__ = ("positions",)
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[VehiclePositionView]
    def __init__(self, positions: _Optional[_Iterable[_Union[VehiclePositionView, _Mapping]]] = ...) -> None: ...

class GetIngestStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReasonCount(_message.Message):
    __slots__ = ("reason", "count")
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    count: int
    def __init__(self, reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class GetIngestStatsResponse(_message.Message):
    __slots__ = ("accepted", "rejected", "refused_batches")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: _containers.RepeatedCompositeFieldContainer[ReasonCount]
    refused_batches: int
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[ReasonCount, _Mapping]]] = ..., refused_batches: _Optional[int] = ...) -> None: ...

class QuerySensorThingsRequest(_message.Message):
    __slots__ = ("plan_json",)
    PLAN_JSON_FIELD_NUMBER: _ClassVar[int]
    plan_json: str
    def __init__(self, plan_json: _Optional[str] = ...) -> None: ...

class QuerySensorThingsResponse(_message.Message):
    __slots__ = ("result_json",)
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    result_json: str
    def __init__(self, result_json: _Optional[str] = ...) -> None: ...
