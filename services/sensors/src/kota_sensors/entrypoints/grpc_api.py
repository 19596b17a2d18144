"""gRPC kota.sensors.v1: ingest stream, registry, and the read side for SensorThings and GTFS-realtime."""

from __future__ import annotations

import json
import queue
import threading

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlmodel import Session, select

from kota.sensors.v1 import sensors_pb2 as pb
from kota.sensors.v1 import sensors_pb2_grpc as pb_grpc
from kota_common.auth import InvalidToken, Principal, bearer_from_metadata, verify_token
from kota_common.errors import InvalidArgument, NotFound, Unauthenticated
from kota_common.grpc_server import timestamp, translate_errors
from kota_sensors.adapters.orm import DatastreamRow, DeviceRow, VehiclePositionRow
from kota_sensors.adapters.repository import ObservationQuery, query_observations
from kota_sensors.domain.validation import QUANTITIES
from kota_sensors.service_layer.ingest import DESCRIPTIONS, MAX_REJECTIONS_REPORTED, IngestPipeline, PositionsIn, SeriesIn, Ticket
from kota_sensors.service_layer.registry import Registry

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


def device_to_pb(row: DeviceRow, datastreams: list[DatastreamRow] = ()) -> pb.Device:
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
    def __init__(self, engine, pipeline: IngestPipeline, registry: Registry, secret: str):
        self.engine = engine
        self.pipeline = pipeline
        self.registry = registry
        self.secret = secret

    def _principal(self, context) -> Principal:
        token = bearer_from_metadata(context.invocation_metadata())
        if not token:
            raise Unauthenticated("a staff bearer token is required")
        try:
            return verify_token(self.secret, token)
        except InvalidToken as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc

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
        with Session(self.engine) as s:
            row = s.get(DeviceRow, request.id)
            if row is None:
                raise NotFound(f"no device {request.id!r}")
            streams = list(s.exec(select(DatastreamRow).where(DatastreamRow.device_id == row.id).order_by(DatastreamRow.id)))
            return pb.GetDeviceResponse(device=device_to_pb(row, streams))

    @translate_errors
    def ListDevices(self, request, context):
        size = request.page_size or 100
        if not 0 < size <= 1000:
            raise InvalidArgument("page_size out of range", [("page_size", "1..1000")])
        offset = _page(request.page_token, request.skip)
        with Session(self.engine) as s:
            stmt = select(DeviceRow)
            if request.kind:
                stmt = stmt.where(DeviceRow.kind == request.kind)
            if request.owner_agency:
                stmt = stmt.where(DeviceRow.owner_agency == request.owner_agency)
            rows = list(s.exec(stmt.order_by(DeviceRow.id)))
            page = rows[offset : offset + size]
            ids = [r.id for r in page]
            streams: dict[str, list] = {}
            if ids:
                for d in s.exec(select(DatastreamRow).where(DatastreamRow.device_id.in_(ids)).order_by(DatastreamRow.id)):
                    streams.setdefault(d.device_id, []).append(d)
            nxt = str(offset + size) if offset + size < len(rows) else ""
            return pb.ListDevicesResponse(
                devices=[device_to_pb(r, streams.get(r.id, [])) for r in page], next_page_token=nxt, total_size=len(rows)
            )

    @translate_errors
    def ListDatastreams(self, request, context):
        with Session(self.engine) as s:
            stmt = select(DatastreamRow)
            if request.device_id:
                stmt = stmt.where(DatastreamRow.device_id == request.device_id)
            if request.quantity:
                stmt = stmt.where(DatastreamRow.quantity == request.quantity)
            return pb.ListDatastreamsResponse(datastreams=[datastream_to_pb(r) for r in s.exec(stmt.order_by(DatastreamRow.id))])

    @translate_errors
    def ListObservations(self, request, context):
        size = request.page_size or 100
        if not 0 < size <= 10000:
            raise InvalidArgument("page_size out of range", [("page_size", "1..10000")])
        if request.datastream_id and ":" not in request.datastream_id:
            raise InvalidArgument("invalid datastream id", [("datastream_id", "<device_id>:<quantity>")])
        q = ObservationQuery(
            datastream_id=request.datastream_id, device_id=request.device_id, quantity=request.quantity,
            from_ms=request.time_from.ToMilliseconds() if request.HasField("time_from") else None,
            to_ms=request.time_to.ToMilliseconds() if request.HasField("time_to") else None,
            value_min=request.value_min if request.has_value_min else None,
            value_max=request.value_max if request.has_value_max else None,
            ascending=request.ascending, offset=_page(request.page_token, request.skip), limit=size + 1,
            include_total=request.include_total,
        )
        with Session(self.engine) as s:
            rows, total = query_observations(s, q)
        more = len(rows) > size
        rows = rows[:size]
        return pb.ListObservationsResponse(
            observations=[
                pb.Observation(
                    id=f"{r.device_id}:{r.quantity}:{r.ts_ms}", datastream_id=f"{r.device_id}:{r.quantity}",
                    device_id=r.device_id, quantity=r.quantity, value=r.value,
                    unit=QUANTITIES[r.quantity].unit if r.quantity in QUANTITIES else "", phenomenon_time=_ts_ms(r.ts_ms),
                )
                for r in rows
            ],
            next_page_token=str(q.offset + size) if more else "",
            total_size=total or 0,
        )

    @translate_errors
    def ListVehiclePositions(self, request, context):
        with Session(self.engine) as s:
            stmt = select(VehiclePositionRow)
            if request.route_id:
                stmt = stmt.where(VehiclePositionRow.route_id == request.route_id)
            return pb.ListVehiclePositionsResponse(
                positions=[
                    pb.VehiclePositionView(vehicle_id=r.vehicle_id, route_id=r.route_id, lat=r.lat, lon=r.lon, bearing=r.bearing,
                                           speed_kmh=r.speed_kmh, observed_at=_ts_ms(r.ts_ms))
                    for r in s.exec(stmt.order_by(VehiclePositionRow.vehicle_id))
                ]
            )

    @translate_errors
    def GetIngestStats(self, request, context):
        p = self.pipeline
        return pb.GetIngestStatsResponse(
            accepted=p.accepted, refused_batches=p.refused_batches,
            rejected=[pb.ReasonCount(reason=r, count=c) for r, c in sorted(p.rejected.items())],
        )
