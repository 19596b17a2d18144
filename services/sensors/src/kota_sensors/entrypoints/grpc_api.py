"""gRPC kota.sensors.v1: ingest stream, registry, and the read side for SensorThings and GTFS-realtime."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Sequence

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from kota.sensors.v1 import sensors_pb2 as pb
from kota.sensors.v1 import sensors_pb2_grpc as pb_grpc
from kota_common.auth import Principal, principal_from_metadata
from kota_common.errors import InvalidArgument
from kota_common.grpc_server import timestamp, translate_errors
from kota_sensors.adapters.orm import DatastreamRow, DeviceRow
from kota_sensors.adapters.repository import ObservationQuery
from kota_sensors.domain.validation import QUANTITIES
from kota_sensors.service_layer import queries
from kota_sensors.service_layer.ingest import DESCRIPTIONS, MAX_REJECTIONS_REPORTED, IngestPipeline, PositionsIn, SeriesIn, Ticket
from kota_sensors.service_layer.registry import Registry
from kota_sensors.service_layer.unit_of_work import UnitOfWork

ACK_TIMEOUT_S = 130.0  # a little over the producer's message.timeout.ms


def _ts_ms(ms: int | None) -> Timestamp | None:
    if ms is None:
        return None
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def datastream_to_pb(row: DatastreamRow) -> pb.Datastream:
    q = QUANTITIES.get(row.quantity)
    return pb.Datastream(
        id=row.id, device_id=row.device_id, quantity=row.quantity, name=q.name if q else row.quantity,
        unit=q.unit if q else "", definition=q.definition if q else "", latest_value=row.latest_value,
        latest_time=_ts_ms(row.latest_ms), first_time=_ts_ms(row.first_ms),
    )


def device_to_pb(row: DeviceRow, datastreams: Sequence[DatastreamRow] = ()) -> pb.Device:
    thresholds = json.loads(row.thresholds or "{}")
    return pb.Device(
        id=row.id, name=row.name, kind=row.kind,
        location=pb.Location(lat=row.lat or 0, lon=row.lon or 0, description=row.location_description),
        owner_agency=row.owner_agency, kota_code=row.kota_code, sensor_model=row.sensor_model,
        thresholds=[pb.Threshold(name=k, value=float(v)) for k, v in sorted(thresholds.items())],
        credential_active=row.token_hash is not None and row.revoked_at is None,
        datastreams=[datastream_to_pb(d) for d in datastreams],
        created_at=timestamp(row.created_at), last_seen_at=_ts_ms(row.last_seen_ms), route_id=row.route_id,
    )


def ticket_to_pb(t: Ticket) -> pb.IngestReadingsResponse:
    refused = t.refused
    if not refused and t.failed:
        refused = f"broker did not acknowledge {t.failed} reading(s): resend the batch"
    return pb.IngestReadingsResponse(
        sequence=t.sequence,
        accepted=t.delivered if not t.refused else 0,
        rejected=len(t.rejections),
        rejections=[
            pb.Rejection(quantity=q, index=i, timestamp_ms=ts, reason=r, description=DESCRIPTIONS.get(r, r))
            for q, i, ts, r in t.rejections[:MAX_REJECTIONS_REPORTED]
        ],
        refused_reason=refused,
    )


def _page(page_token: str, skip: int) -> int:
    if skip < 0:
        raise InvalidArgument("skip must not be negative", [("skip", "must be >= 0")])
    if not page_token:
        return skip
    if not page_token.isdigit():
        raise InvalidArgument("invalid page token", [("page_token", "use next_page_token from a previous page")])
    return int(page_token)


class SensorsServicer(pb_grpc.SensorsServiceServicer):
    def __init__(self, make_uow: Callable[[], UnitOfWork], pipeline: IngestPipeline, registry: Registry, secret: str):
        self.make_uow = make_uow
        self.pipeline = pipeline
        self.registry = registry
        self.secret = secret

    def _principal(self, context) -> Principal:
        principal = principal_from_metadata(self.secret, context.invocation_metadata())
        assert principal is not None  # required: refused above otherwise
        return principal

    # -- ingest ----------------------------------------------------------------------------------------
    def IngestReadings(self, request_iterator, context):
        """Reads batches on a helper thread (validate + produce), answers them in order as the broker acks."""
        tickets: queue.Queue = queue.Queue(maxsize=64)
        end = object()
        pipeline = self.pipeline

        def read() -> None:
            try:
                for req in request_iterator:
                    series = [SeriesIn(s.quantity, s.unit, list(s.timestamps_ms), list(s.values)) for s in req.series]
                    positions = None
                    if req.HasField("positions"):
                        p = req.positions
                        positions = PositionsIn(p.route_id, list(p.timestamps_ms), list(p.lats), list(p.lons),
                                                list(p.bearings), list(p.speeds_kmh))
                    tickets.put(pipeline.submit(req.device_id, req.device_token, series, positions,
                                                sequence=req.sequence))
            except grpc.RpcError:
                pass  # the client went away
            except Exception as exc:  # never leave the answering side waiting
                tickets.put(exc)
            finally:
                tickets.put(end)

        threading.Thread(target=read, name="ingest-stream", daemon=True).start()
        while True:
            item = tickets.get()
            if item is end:
                return
            if isinstance(item, Exception):
                raise item
            yield ticket_to_pb(pipeline.settle(item, ACK_TIMEOUT_S))

    # -- registry --------------------------------------------------------------------------------------
    @translate_errors
    def ProvisionDevice(self, request, context):
        d = request.device
        fields = dict(
            id=d.id, name=d.name, kind=d.kind, lat=d.location.lat if d.HasField("location") else None,
            lon=d.location.lon if d.HasField("location") else None,
            location_description=d.location.description, owner_agency=d.owner_agency, kota_code=d.kota_code,
            sensor_model=d.sensor_model, route_id=d.route_id, thresholds={t.name: t.value for t in d.thresholds},
        )
        row, token = self.registry.provision(self._principal(context), fields)
        return pb.ProvisionDeviceResponse(device=device_to_pb(row), device_token=token)

    @translate_errors
    def IssueDeviceCredential(self, request, context):
        row, token = self.registry.issue_credential(self._principal(context), request.device_id)
        return pb.IssueDeviceCredentialResponse(device=device_to_pb(row), device_token=token)

    @translate_errors
    def RevokeDeviceCredential(self, request, context):
        row = self.registry.revoke_credential(self._principal(context), request.device_id)
        return pb.RevokeDeviceCredentialResponse(device=device_to_pb(row))

    # -- read side -------------------------------------------------------------------------------------
    @translate_errors
    def GetDevice(self, request, context):
        row, streams = queries.get_device(request.id, self.make_uow())
        return pb.GetDeviceResponse(device=device_to_pb(row, streams))

    @translate_errors
    def ListDevices(self, request, context):
        page = queries.list_devices(request.kind, request.owner_agency, _page(request.page_token, request.skip),
                                    request.page_size or 100, self.make_uow())
        return pb.ListDevicesResponse(
            devices=[device_to_pb(r, page.datastreams.get(r.id, [])) for r in page.devices],
            next_page_token="" if page.next_offset is None else str(page.next_offset), total_size=page.total,
        )

    @translate_errors
    def ListDatastreams(self, request, context):
        rows = queries.list_datastreams(request.device_id, request.quantity, self.make_uow())
        return pb.ListDatastreamsResponse(datastreams=[datastream_to_pb(r) for r in rows])

    @translate_errors
    def ListObservations(self, request, context):
        q = ObservationQuery(
            datastream_id=request.datastream_id, device_id=request.device_id, quantity=request.quantity,
            from_ms=request.time_from.ToMilliseconds() if request.HasField("time_from") else None,
            to_ms=request.time_to.ToMilliseconds() if request.HasField("time_to") else None,
            value_min=request.value_min if request.has_value_min else None,
            value_max=request.value_max if request.has_value_max else None,
            ascending=request.ascending, offset=_page(request.page_token, request.skip), limit=request.page_size or 100,
            include_total=request.include_total,
        )
        page = queries.list_observations(q, self.make_uow())
        return pb.ListObservationsResponse(
            observations=[
                pb.Observation(
                    id=f"{r.device_id}:{r.quantity}:{r.ts_ms}", datastream_id=f"{r.device_id}:{r.quantity}",
                    device_id=r.device_id, quantity=r.quantity, value=r.value,
                    unit=QUANTITIES[r.quantity].unit if r.quantity in QUANTITIES else "", phenomenon_time=_ts_ms(r.ts_ms),
                )
                for r in page.observations
            ],
            next_page_token="" if page.next_offset is None else str(page.next_offset),
            total_size=page.total or 0,
        )

    @translate_errors
    def ListVehiclePositions(self, request, context):
        return pb.ListVehiclePositionsResponse(
            positions=[
                pb.VehiclePositionView(vehicle_id=r.vehicle_id, route_id=r.route_id, lat=r.lat, lon=r.lon, bearing=r.bearing,
                                       speed_kmh=r.speed_kmh, observed_at=_ts_ms(r.ts_ms))
                for r in queries.list_vehicle_positions(request.route_id, self.make_uow())
            ]
        )

    @translate_errors
    def QuerySensorThings(self, request, context):
        return pb.QuerySensorThingsResponse(result_json=queries.sensorthings(request.plan_json, self.make_uow()))

    @translate_errors
    def GetIngestStats(self, request, context):
        p = self.pipeline
        return pb.GetIngestStatsResponse(
            accepted=p.accepted, refused_batches=p.refused_batches,
            rejected=[pb.ReasonCount(reason=r, count=c) for r, c in sorted(p.rejected.items())],
        )
