"""Projections on a real database (SQLite and PostgreSQL): batched and one-by-one application agree."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlmodel import Session

from kota_common import envelope
from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.eventbus import ProcessedEvent
from kota_common.events.sensors import SensorReading
from kota_opendata.entrypoints.app import MIGRATIONS
from kota_opendata.service_layer.catalog import ensure_catalog, prune_processed_events
from kota_opendata.service_layer.projections import Projector
from kota_opendata.service_layer.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration

H0 = datetime(2026, 3, 1, 7, tzinfo=timezone.utc)
EVENT = envelope.Event(type="kota.sensors.reading.v1", source="/test", subject="", data={})


def readings(device: str, quantity: str, values: list[float], step_s: int = 120) -> list[SensorReading]:
    return [SensorReading(device_id=device, quantity=quantity, unit="x", value=v,
                          observed_at_ms=int((H0 + timedelta(seconds=step_s * i)).timestamp() * 1000))
            for i, v in enumerate(values)]


def rows(engine, table, key_column, device):
    with engine.connect() as conn:
        found = conn.execute(select(table).where(table.c[key_column] == device).order_by(table.c._id)).mappings().all()
    return [{k: v for k, v in r.items() if k not in ("_id", "_key", "_text", key_column, "station_name", "gauge_name", "lat", "lon")}
            for r in found]


def test_batched_and_single_readings_give_the_same_records(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    tables = ensure_catalog(UnitOfWork(engine))
    ensure_catalog(UnitOfWork(engine))  # idempotent
    projector = Projector(tables)
    values = [float(v) for v in range(10, 400, 7)]  # 56 readings, 2 minutes apart: two hours, many 10-minute slots
    for device, batched in (("DKI1", False), ("DKI2", True)):
        series = readings(device, "pm25", values) + readings(device, "PM10", values) \
            + readings(f"{device}-G", "water_level", values)
        with Session(engine) as session:
            if batched:
                projector.begin_batch(session)
            for r in series:
                projector.on_reading(session, EVENT, r)
            if batched:
                projector.end_batch(session)
            session.commit()
    air, water = tables["kualitas-udara-ispu-per-jam"].table, tables["tinggi-muka-air-10-menit"].table
    single, batch = rows(engine, air, "station_id", "DKI1"), rows(engine, air, "station_id", "DKI2")
    assert single == batch and len(single) == 2
    first = single[0]
    assert first["samples"] == 30 and first["pm25"] == round(sum(values[:30]) / 30, 2) and first["pm10"] == first["pm25"]
    assert first["ispu"] is not None and first["critical_parameter"] == "pm25"
    w1, w2 = rows(engine, water, "gauge_id", "DKI1-G"), rows(engine, water, "gauge_id", "DKI2-G")
    assert w1 == w2 and len(w1) == 12 and w1[0]["samples"] == 5 and w1[0]["level_cm_max"] == values[4]
    engine.dispose()


def test_old_processed_event_ids_are_forgotten(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    engine = make_engine(database_url)
    now = datetime.now(timezone.utc)
    with Session(engine) as session:
        session.add(ProcessedEvent(consumer="c", event_id="old", processed_at=now - timedelta(hours=80)))
        session.add(ProcessedEvent(consumer="c", event_id="new", processed_at=now - timedelta(hours=1)))
        session.commit()
    assert prune_processed_events(UnitOfWork(engine), timedelta(hours=72)) == 1
    with Session(engine) as session:
        assert [p.event_id for p in session.exec(select(ProcessedEvent)).scalars()] == ["new"]
    engine.dispose()
