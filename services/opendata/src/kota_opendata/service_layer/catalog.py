"""Catalogue state: seeding the organizations, groups and live datasets, and recording dataset changes
(record counts, temporal and spatial coverage, coalesced opendata.events.v1 announcements)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Table
from sqlmodel import Session

from kota_common import envelope
from kota_common.clock import now_utc
from kota_common.errors import NotFound
from kota_common.events import opendata as od_events
from kota_common.outbox import add_event
from kota_common.telemetry import current_trace_headers
from kota_opendata.adapters import datastore
from kota_opendata.adapters.orm import DatasetActivityRow, DatasetRow, DatasetVersionRow, GroupRow, OrganizationRow
from kota_opendata.domain import catalog
from kota_opendata.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)



def live_table_name(name: str) -> str:
    return "od_rec_" + name.replace("-", "_")


@dataclass
class LiveTable:
    definition: catalog.LiveDataset
    dataset_id: str
    table: Table
    fields: list[datastore.FieldDef]


def live_tables() -> dict[str, LiveTable]:
    out = {}
    for d in catalog.LIVE_DATASETS:
        fields = [datastore.FieldDef(fid, ftype, label) for fid, ftype, label in d.fields]
        table = datastore.table_for(live_table_name(d.name), fields, d.indexes)
        out[d.name] = LiveTable(d, catalog.dataset_id(d.name), table, fields)
    return out


def ensure_catalog(uow: UnitOfWork) -> dict[str, LiveTable]:
    """Seeds organizations, groups and the live datasets (idempotent; safe at every start)."""
    tables = live_tables()
    now = now_utc()
    with uow:
        for code, (title, description) in catalog.ORGANIZATIONS.items():
            if uow.catalog.organization(code) is None:
                uow.catalog.add(OrganizationRow(name=code, title=title, description=description, created=now))
        for name, (title, description) in catalog.GROUPS.items():
            if uow.catalog.group(name) is None:
                uow.catalog.add(GroupRow(name=name, title=title, description=description))
        uow.complete()
        for lt in tables.values():
            uow.begin_writing()  # the records table is created before the commit
            datastore.create_table(uow.session.connection(), lt.table)
            d = lt.definition
            if uow.catalog.dataset(lt.dataset_id) is None:
                fields_json = datastore.fields_to_json(lt.fields)
                uow.catalog.add(
                    DatasetRow(
                        id=lt.dataset_id, name=d.name, title=d.title, notes=d.notes, organization=d.organization,
                        tags=json.dumps(list(d.tags)), groups=json.dumps(list(d.groups)),
                        license_id=catalog.DEFAULT_LICENSE, frequency=d.frequency, source="events",
                        extras=json.dumps(d.extras), version=1, fields=fields_json, table_name=lt.table.name,
                        time_field=d.time_field, metadata_created=now, metadata_modified=now,
                    )
                )
                uow.catalog.add(
                    DatasetVersionRow(dataset_id=lt.dataset_id, number=1, table_name=lt.table.name, fields=fields_json,
                                      created=now, actor="system", note="live dataset fed by platform events")
                )
                add_dataset_event(uow.session, lt.dataset_id, published_event(
                    lt.dataset_id, d.name, d.title, d.organization, 1, 0, 0, "events", "system", now),
                    NEW_PACKAGE, at=now, version=1, record_count=0, note="live dataset fed by platform events")
            uow.complete()
    return tables


NEW_PACKAGE, CHANGED_PACKAGE = "new package", "changed package"  # CKAN's activity types


def add_dataset_event(session: Session, dataset_id: str, event: envelope.Event, activity_type: str, *, at: datetime,
                      version: int, record_count: int, changes: int = 0, actor: str = "system", note: str = "") -> None:
    """Writes an opendata.events.v1 event to the outbox and records it in the dataset's activity stream
    (package_activity_list), in the caller's transaction: the stream is the history of the dataset's events."""
    add_event(session, od_events.TOPIC, dataset_id, event)
    session.add(DatasetActivityRow(id=event.id, dataset_id=dataset_id, activity_type=activity_type, event_type=event.type,
                                   at=at, version=version, record_count=record_count, changes=changes, actor=actor,
                                   note=note[:500]))


def published_event(dataset_id, name, title, organization, version, records, rejected, source, actor, at) -> envelope.Event:
    payload = od_events.DatasetPublished(
        dataset_id=dataset_id, name=name, title=title, organization=organization, version=version,
        record_count=records, rejected_count=rejected, source=source, actor=actor, published_at=at,
    )
    return envelope.Event(type=payload.ce_type, source=od_events.SOURCE, subject=dataset_id, data=payload.to_data(),
                          trace=current_trace_headers())


def touch(
    session: Session,
    dataset_id: str,
    *,
    inserted: int = 0,
    deleted: int = 0,
    changed: int = 1,
    time_value: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    announce_interval: float = 30.0,
    at: datetime | None = None,
) -> DatasetRow:
    """Records a change of a live dataset's records and announces it on opendata.events.v1 (coalesced)."""
    row = session.get(DatasetRow, dataset_id)
    if row is None:
        raise NotFound(f"no dataset {dataset_id!r}")
    at = at or now_utc()
    row.record_count += inserted - deleted
    row.metadata_modified = at
    if time_value:
        if row.temporal_start is None or time_value < row.temporal_start:
            row.temporal_start = time_value
        if row.temporal_end is None or time_value > row.temporal_end:
            row.temporal_end = time_value
    if lat is not None and lon is not None:
        box = json.loads(row.bbox) if row.bbox else [lon, lat, lon, lat]
        new = [min(box[0], lon), min(box[1], lat), max(box[2], lon), max(box[3], lat)]
        if new != box or not row.bbox:
            row.bbox = json.dumps(new)
    row.pending_changes += changed
    last = row.last_event_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)
    if last is None or at - last >= timedelta(seconds=announce_interval):
        announce(session, row, at)
    session.add(row)
    return row


def announce(session: Session, row: DatasetRow, at: datetime) -> None:
    payload = od_events.DatasetUpdated(
        dataset_id=row.id, name=row.name, version=row.version, record_count=row.record_count,
        changes=row.pending_changes, updated_at=at,
    )
    event = envelope.Event(type=payload.ce_type, source=od_events.SOURCE, subject=row.id, data=payload.to_data(),
                           trace=current_trace_headers())
    add_dataset_event(session, row.id, event, CHANGED_PACKAGE, at=at, version=row.version, record_count=row.record_count,
                      changes=row.pending_changes)
    row.pending_changes = 0
    row.last_event_at = at


def flush_announcements(uow: UnitOfWork, interval: float) -> int:
    """Announces live datasets whose changes have waited at least `interval` seconds (run periodically)."""
    at = now_utc()
    n = 0
    with uow:
        for row in uow.catalog.with_pending_changes():
            last = row.last_event_at
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=timezone.utc)
            if last is None or at - last >= timedelta(seconds=interval):
                announce(uow.session, row, at)
                uow.catalog.add(row)
                n += 1
        uow.complete()
    return n


def prune_processed_events(uow: UnitOfWork, retention: timedelta) -> int:
    """Forgets event ids older than the retention (a duplicate arriving later than that would count twice)."""
    with uow:
        removed = uow.catalog.forget_events_before(now_utc() - retention)
        uow.complete()
    return removed
