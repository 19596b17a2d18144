"""Database access of the sensors service: registry, observation batches, read-side queries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from kota_common import envelope, outbox
from kota_common.db.tables import table_of
from kota_common.events.sensors import ALERTS_TOPIC
from kota_sensors.adapters.orm import AlertStateRow, DatastreamRow, DeviceRow, ObservationRow, VehiclePositionRow
from kota_sensors.adapters.sta_sql import run_plan
from kota_sensors.domain.devices import DeviceInfo


def device_info(row: DeviceRow) -> DeviceInfo:
    return DeviceInfo(
        id=row.id, name=row.name, kind=row.kind, lat=row.lat, lon=row.lon, kota_code=row.kota_code,
        route_id=row.route_id, token_hash=None if row.revoked_at else row.token_hash, thresholds=json.loads(row.thresholds),
    )


def load_devices(engine: Engine) -> dict[str, DeviceInfo]:
    with Session(engine) as s:
        return {row.id: device_info(row) for row in s.exec(select(DeviceRow))}


def latest_timestamps(engine: Engine) -> dict[tuple[str, str], int]:
    """The latest stored time per datastream (and per vehicle, as (id, "position")), to warm up validation."""
    with Session(engine) as s:
        out = {(r.device_id, r.quantity): r.latest_ms for r in s.exec(select(DatastreamRow))}
        out.update({(r.vehicle_id, "position"): r.ts_ms for r in s.exec(select(VehiclePositionRow))})
        return out


def _insert(bind: Engine | Connection, table: Table):
    return (postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert)(table)


def store_observations(session: Session, rows: list[tuple[str, str, int, float]]) -> None:
    """Bulk insert of (device, quantity, ms, value); one already stored (same device, quantity, time) is left
    as it is. Straight to the driver's executemany: SQLAlchemy's per-row parameter processing would cost more
    than the insert itself."""
    if not rows:
        return
    conn = session.connection()
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = (f"INSERT INTO observations (device_id, quantity, ts_ms, value) VALUES ({mark}, {mark}, {mark}, {mark}) "
           "ON CONFLICT DO NOTHING")
    conn.exec_driver_sql(sql, rows)


def upsert_datastreams(session: Session, latest: dict[tuple[str, str], tuple[int, int, float]]) -> None:
    """latest maps (device, quantity) to (first ms, latest ms, latest value) of the batch."""
    if not latest:
        return
    table = table_of(DatastreamRow)
    rows = [
        dict(id=f"{d}:{q}", device_id=d, quantity=q, first_ms=first, latest_ms=last, latest_value=v)
        for (d, q), (first, last, v) in latest.items()
    ]
    stmt = _insert(session.get_bind(), table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "latest_ms": func.max(stmt.excluded.latest_ms, table.c.latest_ms)
            if session.get_bind().dialect.name == "sqlite"
            else func.greatest(stmt.excluded.latest_ms, table.c.latest_ms),
            "latest_value": text("CASE WHEN excluded.latest_ms >= datastreams.latest_ms THEN excluded.latest_value "
                                 "ELSE datastreams.latest_value END"),
            "first_ms": func.min(stmt.excluded.first_ms, table.c.first_ms)
            if session.get_bind().dialect.name == "sqlite"
            else func.least(stmt.excluded.first_ms, table.c.first_ms),
        },
    )
    session.execute(stmt, rows)


def upsert_positions(session: Session, latest: dict[str, dict]) -> None:
    if not latest:
        return
    table = table_of(VehiclePositionRow)
    stmt = _insert(session.get_bind(), table)
    cols = ("route_id", "lat", "lon", "bearing", "speed_kmh", "ts_ms")
    newer = text("excluded.ts_ms > vehicle_positions.ts_ms")
    stmt = stmt.on_conflict_do_update(
        index_elements=["vehicle_id"], set_={c: getattr(stmt.excluded, c) for c in cols}, where=newer
    )
    session.execute(stmt, list(latest.values()))


def touch_devices(session: Session, last_seen: dict[str, int]) -> None:
    for device_id, ms in last_seen.items():
        session.execute(
            text("UPDATE devices SET last_seen_ms = :ms WHERE id = :id AND (last_seen_ms IS NULL OR last_seen_ms < :ms)"),
            {"ms": ms, "id": device_id},
        )


@dataclass
class ObservationQuery:
    datastream_id: str = ""
    device_id: str = ""
    quantity: str = ""
    from_ms: int | None = None
    to_ms: int | None = None
    value_min: float | None = None
    value_max: float | None = None
    ascending: bool = False
    offset: int = 0
    limit: int = 100
    include_total: bool = False


def query_observations(session: Session, q: ObservationQuery) -> tuple[list[ObservationRow], int | None]:
    stmt = select(ObservationRow)
    count = select(func.count()).select_from(ObservationRow)
    conds = []
    device, quantity = q.device_id, q.quantity
    if q.datastream_id:
        device, _, quantity = q.datastream_id.partition(":")
    if device:
        conds.append(ObservationRow.device_id == device)
    if quantity:
        conds.append(ObservationRow.quantity == quantity)
    if q.from_ms is not None:
        conds.append(ObservationRow.ts_ms >= q.from_ms)
    if q.to_ms is not None:
        conds.append(ObservationRow.ts_ms < q.to_ms)
    if q.value_min is not None:
        conds.append(ObservationRow.value >= q.value_min)
    if q.value_max is not None:
        conds.append(ObservationRow.value <= q.value_max)
    for c in conds:
        stmt = stmt.where(c)
        count = count.where(c)
    order = col(ObservationRow.ts_ms).asc() if q.ascending else col(ObservationRow.ts_ms).desc()
    tie = (ObservationRow.device_id, ObservationRow.quantity)
    stmt = stmt.order_by(order, *tie).offset(q.offset).limit(q.limit)
    rows = list(session.exec(stmt))
    total = session.exec(count).one() if q.include_total else None
    return rows, total


class DeviceRepository:
    """The device registry's rows."""

    def __init__(self, session: Session):
        self.session = session

    def get(self, device_id: str) -> DeviceRow | None:
        return self.session.get(DeviceRow, device_id)

    def ids(self) -> set[str]:
        return set(self.session.exec(select(DeviceRow.id)))

    def add(self, row: DeviceRow) -> None:
        self.session.add(row)

    def list(self, kind: str = "", owner_agency: str = "") -> list[DeviceRow]:
        """Every device of that kind and agency (either empty: any), by id."""
        stmt = select(DeviceRow)
        if kind:
            stmt = stmt.where(DeviceRow.kind == kind)
        if owner_agency:
            stmt = stmt.where(DeviceRow.owner_agency == owner_agency)
        return list(self.session.exec(stmt.order_by(DeviceRow.id)))


class ReadingRepository:
    """What devices measured: datastreams (latest values), observations and vehicle positions."""

    def __init__(self, session: Session):
        self.session = session

    def datastreams_of(self, device_ids: list[str]) -> dict[str, list[DatastreamRow]]:
        """The devices' datastreams by device id, each list by datastream id: one query for a page of devices."""
        streams: dict[str, list[DatastreamRow]] = {}
        if device_ids:
            stmt = select(DatastreamRow).where(col(DatastreamRow.device_id).in_(device_ids)).order_by(DatastreamRow.id)
            for d in self.session.exec(stmt):
                streams.setdefault(d.device_id, []).append(d)
        return streams

    def datastreams(self, device_id: str = "", quantity: str = "") -> list[DatastreamRow]:
        stmt = select(DatastreamRow)
        if device_id:
            stmt = stmt.where(DatastreamRow.device_id == device_id)
        if quantity:
            stmt = stmt.where(DatastreamRow.quantity == quantity)
        return list(self.session.exec(stmt.order_by(DatastreamRow.id)))

    def observations(self, q: ObservationQuery) -> tuple[list[ObservationRow], int | None]:
        return query_observations(self.session, q)

    def sensorthings(self, plan: dict) -> dict:
        """A SensorThings query plan run as SQL (adapters/sta_sql.py); PlanError when it cannot be answered."""
        return run_plan(self.session, plan)

    def vehicle_positions(self, route_id: str = "") -> list[VehiclePositionRow]:
        stmt = select(VehiclePositionRow)
        if route_id:
            stmt = stmt.where(VehiclePositionRow.route_id == route_id)
        return list(self.session.exec(stmt.order_by(VehiclePositionRow.vehicle_id)))


class HistoryRepository:
    """What the observation store writes for each batch: every observation, datastreams' latest values, vehicles'
    latest positions and devices' last-seen times (the SensorThings history)."""

    def __init__(self, session: Session):
        self.session = session

    def add_batch(self, observations: list[tuple[str, str, int, float]],
                  datastreams: dict[tuple[str, str], tuple[int, int, float]], positions: dict[str, dict],
                  last_seen: dict[str, int]) -> None:
        store_observations(self.session, observations)
        upsert_datastreams(self.session, datastreams)
        upsert_positions(self.session, positions)
        touch_devices(self.session, last_seen)

    def touch_devices(self, last_seen: dict[str, int]) -> None:
        touch_devices(self.session, last_seen)


class AlertRepository:
    """The alert levels last published per station and kind (alert_state), and the alerts staged in the outbox."""

    def __init__(self, session: Session):
        self.session = session
        self._added: dict[tuple[str, str], AlertStateRow] = {}  # not flushed yet: session.get does not see them

    def states(self) -> list[AlertStateRow]:
        return list(self.session.exec(select(AlertStateRow)))

    def last_seen(self) -> list[tuple[str, int | None]]:
        return list(self.session.exec(select(DeviceRow.id, DeviceRow.last_seen_ms)))

    def save_level(self, station_id: str, kind: str, level: str, at: datetime) -> None:
        row = self._added.get((station_id, kind)) or self.session.get(AlertStateRow, (station_id, kind))
        if row is None:
            row = self._added[(station_id, kind)] = AlertStateRow(station_id=station_id, kind=kind, level=level, updated_at=at)
            self.session.add(row)
        else:
            row.level, row.updated_at = level, at
            self.session.add(row)

    def publish(self, station_id: str, event: envelope.Event) -> None:
        outbox.add_event(self.session, ALERTS_TOPIC, station_id, event)
