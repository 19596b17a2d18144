"""Event handlers that maintain the live datasets. Each runs inside the IdempotentConsumer's transaction
(with the record of the event id), so an event replayed twice changes nothing; the handlers are also
idempotent on their own for the per-record data (upserts by natural key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlmodel import Session, select

from kota_common import envelope
from kota_common.eventbus import PoisonMessage
from kota_common.events import complaints as cev
from kota_common.events import musrenbang as mev
from kota_common.events.sensors import SensorAlert, SensorReading
from kota_common.reference import AreaDirectory
from kota_common.standards import ispu, siaga
from kota_opendata.adapters import datastore
from kota_opendata.adapters.orm import AggregateRow, ComplaintFactRow, MusrenbangProposalRow
from kota_opendata.domain import anonymise, catalog, stations
from kota_opendata.domain import musrenbang as mus
from kota_opendata.service_layer.catalog import LiveTable, touch

CLOSED_FOR_RESOLUTION = ("resolved", "rejected", "closed")
PENDING = "kota_opendata.pending_readings"
BATCH = "kota_opendata.in_batch"


@dataclass
class Projector:
    tables: dict[str, LiveTable]
    k: int = anonymise.DEFAULT_K
    grid_m: float = anonymise.DEFAULT_GRID_M
    announce_interval: float = 30.0
    areas: AreaDirectory = field(default_factory=AreaDirectory.load_jakarta)

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
                fact = ComplaintFactRow(complaint_id=payload.complaint_id, date=row["submitted_date"], status="received")
            loc = payload.location
            fact.date = row["submitted_date"]
            fact.kelurahan_code, fact.kelurahan = loc.kelurahan_code, loc.kelurahan
            fact.kecamatan, fact.kota = loc.kecamatan, loc.kota
            fact.service_code = payload.service_code
            fact.submitted_at = payload.requested_at
            session.add(fact)
            session.flush()
            self._recount(session, {_cell(fact)} if old_cell is None else {old_cell, _cell(fact)})
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
        """Buffers the reading in the session; the records are written by flush_readings, at once or (in a
        batch) once per touched record before the batch commits."""
        quantity = ispu.normalise_parameter(payload.quantity)
        if quantity in ispu.PARAMETERS:
            if payload.value < 0:
                raise PoisonMessage(f"negative concentration {payload.value} for {quantity}")
            dataset = catalog.AIR_QUALITY
        elif quantity == "water_level":
            dataset = catalog.WATER_LEVELS
        else:
            return  # other quantities (temperature, humidity, rainfall) are not in a dataset yet
        observed = datetime.fromtimestamp(payload.observed_at_ms / 1000, tz=timezone.utc)
        if dataset is catalog.AIR_QUALITY:
            start = observed.replace(minute=0, second=0, microsecond=0)
            key = datastore.record_key({"station_id": payload.device_id, "hour": anonymise.iso(start)}, dataset.key)
        else:
            start = observed.replace(minute=observed.minute - observed.minute % 10, second=0, microsecond=0)
            key = datastore.record_key({"gauge_id": payload.device_id, "interval_start": anonymise.iso(start)}, dataset.key)
        pending = session.info.setdefault(PENDING, {})
        record = pending.setdefault((dataset.name, key), {"device": payload.device_id, "start": start, "sums": {}})
        total, n, maximum = record["sums"].get(quantity, (0.0, 0, None))
        record["sums"][quantity] = (total + payload.value, n + 1,
                                    payload.value if maximum is None else max(maximum, payload.value))
        if not session.info.get(BATCH):
            self.flush_readings(session)

    def flush_readings(self, session: Session) -> None:
        """Writes the buffered readings: running sums (od_aggregates) and one upsert per touched record."""
        pending = session.info.pop(PENDING, {})
        for (dataset_name, key), record in pending.items():
            aggs = {a.parameter: a for a in session.exec(select(AggregateRow).where(
                AggregateRow.dataset == dataset_name, AggregateRow.record_key == key)).all()}
            for parameter, (total, n, maximum) in record["sums"].items():
                agg = aggs.get(parameter)
                if agg is None:
                    agg = aggs[parameter] = AggregateRow(dataset=dataset_name, record_key=key, parameter=parameter,
                                                         total=0.0, n=0, maximum=None)
                agg.total += total
                agg.n += n
                agg.maximum = maximum if agg.maximum is None else max(agg.maximum, maximum)
                session.add(agg)
            device, start = record["device"], record["start"]
            name, lat, lon = stations.describe(device)
            if dataset_name == catalog.AIR_QUALITY.name:
                means = {a.parameter: round(a.total / a.n, 2) for a in aggs.values() if a.n}
                index, critical = ispu.station_ispu(means)
                time_value = anonymise.iso(start)
                row = {"station_id": device, "station_name": name, "hour": time_value, "lat": lat, "lon": lon,
                       "ispu": index, "critical_parameter": critical, "category": ispu.category_name(index),
                       "samples": max((a.n for a in aggs.values()), default=0)}
                row |= {p: means.get(p) for p in ispu.PARAMETERS}
            else:
                agg = aggs["water_level"]
                time_value = anonymise.iso(start)
                row = {"gauge_id": device, "gauge_name": name, "interval_start": time_value,
                       "level_cm_mean": round(agg.total / agg.n, 1), "level_cm_max": agg.maximum, "samples": agg.n,
                       "siaga": siaga.siaga_level(device, agg.maximum), "lat": lat, "lon": lon}
            lt = self.tables[dataset_name]
            inserted = datastore.upsert(session.connection(), lt.table, lt.fields, key, row)
            self._touch(session, dataset_name, inserted=int(inserted), time_value=time_value, lat=lat, lon=lon)
        session.flush()

    def begin_batch(self, session: Session) -> None:
        session.info[BATCH] = True

    def end_batch(self, session: Session) -> None:
        """Called by the batching consumer before it commits a batch."""
        self.flush_readings(session)
        session.info.pop(BATCH, None)

    def on_alert(self, session: Session, event: envelope.Event, payload: SensorAlert) -> None:
        lt = self.tables[catalog.ALERTS.name]
        row = payload.model_dump(exclude={"ce_type"})
        row["observed_at"] = anonymise.iso(payload.observed_at)
        key = datastore.record_key(row, lt.definition.key)
        inserted = datastore.upsert(session.connection(), lt.table, lt.fields, key, row)
        self._touch(session, lt.definition.name, inserted=int(inserted), time_value=row["observed_at"],
                    lat=payload.lat, lon=payload.lon)

    # ---- musrenbang -----------------------------------------------------------------------------------
    def on_musrenbang(self, session: Session, event: envelope.Event, payload) -> None:
        """Folds the event into the proposal's state (domain/musrenbang.py says how order is kept) and rewrites
        the proposal's public rows from it; a selection replaces its kecamatan's decisions for the cycle."""
        try:
            if isinstance(payload, mev.SelectionPublished):
                self._publish_selection(session, payload)
                return
            if isinstance(payload, mev.ProposalSubmitted):
                submission = mus.public_submission(payload, self.areas, self.grid_m)
                self._change_proposal(session, payload.proposal_id, lambda st: mus.submit(st, submission))
            elif isinstance(payload, mev.ProposalStatusChanged):
                self._change_proposal(session, payload.proposal_id, lambda st: mus.change_status(st, payload))
            elif isinstance(payload, mev.ProposalSupportCountChanged):
                self._change_proposal(session, payload.proposal_id,
                                      lambda st: mus.count_supports(st, payload.support_count, payload.changed_at))
            elif isinstance(payload, mev.ProposalsMerged):
                self._change_proposal(session, payload.proposal_id, lambda st: mus.merge_away(st, payload))
                self._change_proposal(session, payload.merged_into,
                                      lambda st: mus.count_supports(st, payload.support_count, payload.merged_at))
            elif isinstance(payload, mev.MilestoneRecorded):
                self._change_proposal(session, payload.proposal_id, lambda st: mus.record_milestone(st, payload))
        except mus.InvalidMusrenbangEvent as exc:
            raise PoisonMessage(str(exc)) from exc

    def _change_proposal(self, session: Session, proposal_id: str, change) -> None:
        row = session.get(MusrenbangProposalRow, proposal_id)
        state = mus.ProposalState.from_json(row.state) if row else mus.ProposalState(proposal_id)
        change(state)
        if row is None:
            row = MusrenbangProposalRow(proposal_id=proposal_id, state="")
        row.state = state.to_json()
        session.add(row)
        proposal = mus.proposal_row(state)
        self._put(session, catalog.MUSRENBANG_PROPOSALS.name, proposal_id, proposal,
                  time_value=proposal["submitted_date"] if proposal else None)
        realisation = mus.realisation_row(state)
        self._put(session, catalog.MUSRENBANG_REALISATION.name, proposal_id, realisation,
                  time_value=realisation["last_change_date"] if realisation else None)

    def _put(self, session: Session, name: str, key: str, row: dict | None, time_value: str | None = None) -> None:
        """Makes the record `key` equal `row` (None: absent); a record that is already so is not touched, so a
        repeated event changes neither the records nor the dataset's metadata."""
        lt = self.tables[name]
        conn = session.connection()
        current = datastore.get(conn, lt.table, key)
        if row is None:
            if current is not None and datastore.delete(conn, lt.table, key):
                self._touch(session, name, deleted=1)
            return
        if current is not None and all(current.get(f.id) == row.get(f.id) for f in lt.fields):
            return
        inserted = datastore.upsert(conn, lt.table, lt.fields, key, row)
        self._touch(session, name, inserted=int(inserted), time_value=time_value, lat=row.get("lat"), lon=row.get("lon"))

    def _publish_selection(self, session: Session, payload: mev.SelectionPublished) -> None:
        lt = self.tables[catalog.MUSRENBANG_SELECTIONS.name]
        rows = mus.decision_rows(payload, self.areas)
        conn = session.connection()
        earlier = datastore.find(conn, lt.table, {"cycle_year": payload.cycle_year,
                                                  "kecamatan_code": payload.kecamatan_code})
        published_at = anonymise.iso(payload.published_at)
        if any((r["published_at"] or "") > (published_at or "") for r in earlier):
            return  # a later selection of this forum is already published
        keys = set()
        for row in rows:
            key = datastore.record_key(row, lt.definition.key)
            keys.add(key)
            self._put(session, lt.definition.name, key, row, time_value=published_at)
        for r in earlier:
            if r["_key"] not in keys:
                self._put(session, lt.definition.name, r["_key"], None)


def _cell(fact: ComplaintFactRow) -> tuple:
    return (fact.date, fact.kelurahan_code, fact.service_code, fact.status)

