"""Event handlers that maintain the live datasets. Each runs inside the IdempotentConsumer's transaction
(with the record of the event id), so an event replayed twice changes nothing; the handlers are also
idempotent on their own for the per-record data (upserts by natural key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlmodel import Session, select

from kota_common import envelope
from kota_common.consumer import PoisonMessage
from kota_common.events import complaints as cev
from kota_common.events.sensors import SensorAlert, SensorReading
from kota_opendata.adapters import datastore
from kota_opendata.adapters.orm import AggregateRow, ComplaintFactRow
from kota_opendata.domain import anonymise, catalog, ispu, siaga, stations
from kota_opendata.service_layer.catalog import LiveTable, touch

CLOSED_FOR_RESOLUTION = ("resolved", "rejected", "closed")


@dataclass
class Projector:
    tables: dict[str, LiveTable]
    k: int = anonymise.DEFAULT_K
    grid_m: float = anonymise.DEFAULT_GRID_M
    announce_interval: float = 30.0

    def _touch(self, session: Session, name: str, **kw) -> None:
        touch(session, self.tables[name].dataset_id, announce_interval=self.announce_interval, **kw)

    # ---- complaints --------------------------------------------------------------------------------------
    def on_complaint(self, session: Session, event: envelope.Event, payload) -> None:
        lt = self.tables[catalog.COMPLAINTS.name]
        conn = session.connection()
        if isinstance(payload, cev.ComplaintSubmitted):
            row = anonymise.public_complaint(payload, self.grid_m)
            existing = datastore.get(conn, lt.table, payload.complaint_id)
            if existing is None:
                row |= {"status": "received", "supporters_count": 0, "sla_breached": False}
            inserted = datastore.upsert(conn, lt.table, lt.fields, payload.complaint_id, row)
            self._touch(session, lt.definition.name, inserted=int(inserted), time_value=row["submitted_at"],
                        lat=row["lat"], lon=row["lon"])
            fact = session.get(ComplaintFactRow, payload.complaint_id)
            old_cell = _cell(fact) if fact else None
            if fact is None:
                fact = ComplaintFactRow(complaint_id=payload.complaint_id, status="received")
            loc = payload.location
            fact.date = row["submitted_date"]
            fact.kelurahan_code, fact.kelurahan = loc.kelurahan_code, loc.kelurahan
            fact.kecamatan, fact.kota = loc.kecamatan, loc.kota
            fact.service_code = payload.service_code
            fact.submitted_at = payload.requested_at
            session.add(fact)
            session.flush()
            self._recount(session, {old_cell, _cell(fact)} - {None})
            return
        updates: dict = {}
        if isinstance(payload, cev.ComplaintRouted):
            updates = {"agency_code": payload.agency_code}
        elif isinstance(payload, cev.ComplaintStatusChanged):
            updates = {"status": payload.to_status, "agency_code": payload.agency_code}
            if payload.to_status in ("resolved", "rejected"):
                updates["resolved_at"] = anonymise.iso(anonymise.truncate_to_hour(payload.changed_at))
                if payload.resolution_seconds is not None:
                    updates["resolution_hours"] = round(payload.resolution_seconds / 3600, 2)
            fact = session.get(ComplaintFactRow, payload.complaint_id)
            if fact is not None:
                old_cell = _cell(fact)
                fact.status = payload.to_status
                if payload.resolution_seconds is not None:
                    fact.resolution_seconds = payload.resolution_seconds
                session.add(fact)
                session.flush()
                self._recount(session, {old_cell, _cell(fact)})
        elif isinstance(payload, cev.ComplaintRated):
            updates = {"rating": payload.rating}
        elif isinstance(payload, cev.ComplaintDuplicateLinked):
            updates = {"duplicate_of": payload.duplicate_of}
            if datastore.get(conn, lt.table, payload.duplicate_of) is not None:
                datastore.upsert(conn, lt.table, lt.fields, payload.duplicate_of,
                                 {"supporters_count": payload.supporters_count})
        elif isinstance(payload, cev.ComplaintSlaBreached):
            updates = {"sla_breached": True}
        else:  # notes are staff free text about a person's case: never published
            return
        if datastore.get(conn, lt.table, payload.complaint_id) is None:
            return  # submitted before this service existed (or not yet seen): nothing public to update
        datastore.upsert(conn, lt.table, lt.fields, payload.complaint_id, updates)
        self._touch(session, lt.definition.name)

    def _recount(self, session: Session, cells: set[tuple]) -> None:
        lt = self.tables[catalog.COMPLAINT_COUNTS.name]
        conn = session.connection()
        for cell in cells:
            date, kel, service, status = cell
            facts = session.exec(
                select(ComplaintFactRow).where(
                    ComplaintFactRow.date == date, ComplaintFactRow.kelurahan_code == kel,
                    ComplaintFactRow.service_code == service, ComplaintFactRow.status == status,
                )
            ).all()
            key = datastore.record_key({"d": date, "k": kel, "s": service, "t": status}, ("d", "k", "s", "t"))
            if not facts:
                if datastore.delete(conn, lt.table, key):
                    self._touch(session, lt.definition.name, deleted=1)
                continue
            times = [f.resolution_seconds for f in facts if f.resolution_seconds is not None]
            mean = round(sum(times) / len(times) / 3600, 2) if times else None
            count, values, suppressed = anonymise.suppress_cell(len(facts), {"mean_resolution_hours": mean}, self.k)
            first = facts[0]
            # Complaints located only by coordinates have no kelurahan: they share one city-wide cell per day.
            kecamatan, kota = (first.kecamatan, first.kota) if kel else ("", "")
            row = {
                "date": date, "kelurahan_code": kel, "kelurahan": first.kelurahan, "kecamatan": kecamatan,
                "kota": kota, "service_code": service, "status": status, "count": count,
                "mean_resolution_hours": values["mean_resolution_hours"], "suppressed": suppressed,
            }
            inserted = datastore.upsert(conn, lt.table, lt.fields, key, row)
            self._touch(session, lt.definition.name, inserted=int(inserted), time_value=date)

    # ---- sensors -----------------------------------------------------------------------------------------
    def on_reading(self, session: Session, event: envelope.Event, payload: SensorReading) -> None:
        quantity = ispu.normalise_parameter(payload.quantity)
        observed = datetime.fromtimestamp(payload.observed_at_ms / 1000, tz=timezone.utc)
        name, lat, lon = stations.describe(payload.device_id)
        if quantity in ispu.PARAMETERS:
            self._air_quality(session, payload, quantity, observed, name, lat, lon)
        elif quantity == "water_level":
            self._water_level(session, payload, observed, name, lat, lon)
        # other quantities (temperature, humidity, rainfall) are not in a dataset yet

    def _accumulate(self, session: Session, dataset: str, key: str, parameter: str, value: float) -> AggregateRow:
        agg = session.get(AggregateRow, (dataset, key, parameter))
        if agg is None:
            agg = AggregateRow(dataset=dataset, record_key=key, parameter=parameter, total=0.0, n=0, maximum=None)
        agg.total += value
        agg.n += 1
        agg.maximum = value if agg.maximum is None else max(agg.maximum, value)
        session.add(agg)
        session.flush()
        return agg

    def _air_quality(self, session, payload, quantity, observed, name, lat, lon) -> None:
        if payload.value < 0:
            raise PoisonMessage(f"negative concentration {payload.value} for {quantity}")
        lt = self.tables[catalog.AIR_QUALITY.name]
        hour = anonymise.iso(observed.replace(minute=0, second=0, microsecond=0))
        key = datastore.record_key({"station_id": payload.device_id, "hour": hour}, lt.definition.key)
        self._accumulate(session, lt.definition.name, key, quantity, payload.value)
        aggs = session.exec(
            select(AggregateRow).where(AggregateRow.dataset == lt.definition.name, AggregateRow.record_key == key)
        ).all()
        means = {a.parameter: round(a.total / a.n, 2) for a in aggs if a.n}
        index, critical = ispu.ispu(means)
        row = {"station_id": payload.device_id, "station_name": name, "hour": hour, "lat": lat, "lon": lon,
               "ispu": index, "critical_parameter": critical, "category": ispu.category(index),
               "samples": max((a.n for a in aggs), default=0)}
        row |= {p: means.get(p) for p in ispu.PARAMETERS}
        inserted = datastore.upsert(session.connection(), lt.table, lt.fields, key, row)
        self._touch(session, lt.definition.name, inserted=int(inserted), time_value=hour, lat=lat, lon=lon)

    def _water_level(self, session, payload, observed, name, lat, lon) -> None:
        lt = self.tables[catalog.WATER_LEVELS.name]
        start = observed.replace(minute=observed.minute - observed.minute % 10, second=0, microsecond=0)
        interval = anonymise.iso(start)
        key = datastore.record_key({"gauge_id": payload.device_id, "interval_start": interval}, lt.definition.key)
        agg = self._accumulate(session, lt.definition.name, key, "water_level", payload.value)
        mean = round(agg.total / agg.n, 1)
        row = {"gauge_id": payload.device_id, "gauge_name": name, "interval_start": interval,
               "level_cm_mean": mean, "level_cm_max": agg.maximum, "samples": agg.n,
               "siaga": siaga.siaga_level(payload.device_id, agg.maximum), "lat": lat, "lon": lon}
        inserted = datastore.upsert(session.connection(), lt.table, lt.fields, key, row)
        self._touch(session, lt.definition.name, inserted=int(inserted), time_value=interval, lat=lat, lon=lon)

    def on_alert(self, session: Session, event: envelope.Event, payload: SensorAlert) -> None:
        lt = self.tables[catalog.ALERTS.name]
        row = payload.model_dump(exclude={"ce_type"})
        row["observed_at"] = anonymise.iso(payload.observed_at)
        key = datastore.record_key(row, lt.definition.key)
        inserted = datastore.upsert(session.connection(), lt.table, lt.fields, key, row)
        self._touch(session, lt.definition.name, inserted=int(inserted), time_value=row["observed_at"],
                    lat=payload.lat, lon=payload.lon)


def _cell(fact: ComplaintFactRow) -> tuple:
    return (fact.date, fact.kelurahan_code, fact.service_code, fact.status)

