"""Agency uploads: a CSV becomes a new dataset or a new version of one (versions are kept, each in its own
table). Staff of the dataset's organization only; rows that do not fit are reported, the rest published."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from kota_common.auth import Principal
from kota_common.clock import now_utc
from kota_common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from kota_opendata.adapters import datastore
from kota_opendata.adapters.orm import DatasetRow, DatasetVersionRow, OrganizationRow
from kota_opendata.domain import anonymise, catalog, schema
from kota_opendata.service_layer.catalog import CHANGED_PACKAGE, NEW_PACKAGE, add_dataset_event, published_event
from kota_opendata.service_layer.unit_of_work import UnitOfWork

MAX_REPORTED_ERRORS = 1000


@dataclass
class UploadRequest:
    name: str
    csv: bytes
    title: str = ""
    notes: str = ""
    organization: str = ""
    tags: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    license_id: str = ""
    frequency: str = ""
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (id, type, label)
    validate_only: bool = False
    version_note: str = ""


@dataclass
class UploadResult:
    dataset_id: str | None
    version: int
    fields: list[schema.Field]
    accepted: int
    rejected: int
    errors: list[schema.RowError]


def _validate(req: UploadRequest, max_bytes: int) -> None:
    v: list[tuple[str, str]] = []
    if not catalog.NAME_RE.match(req.name or ""):
        v.append(("name", "2-100 characters: lower-case letters, digits, '-' and '_', starting with a letter or digit"))
    if not req.csv:
        v.append(("csv", "the CSV file is empty"))
    elif len(req.csv) > max_bytes:
        v.append(("csv", f"larger than {max_bytes} bytes"))
    if req.license_id and req.license_id not in catalog.LICENSES:
        v.append(("license_id", f"unknown license; known: {', '.join(catalog.LICENSES)}"))
    if len(req.title) > 300:
        v.append(("title", "at most 300 characters"))
    for i, tag in enumerate(req.tags):
        if not tag.strip() or len(tag) > 100:
            v.append((f"tags[{i}]", "1-100 characters"))
    for i, (fid, ftype, _label) in enumerate(req.fields):
        if ftype not in schema.TYPES:
            v.append((f"fields[{i}].type", f"unknown type {ftype!r}; types: {', '.join(schema.TYPES)}"))
        if not fid:
            v.append((f"fields[{i}].id", "required"))
    if v:
        raise InvalidArgument("invalid upload", v)


def upload(uow: UnitOfWork, principal: Principal, req: UploadRequest, max_bytes: int) -> UploadResult:
    _validate(req, max_bytes)
    org_code = (req.organization or principal.agency).upper()
    if not org_code:
        raise InvalidArgument("invalid upload", [("organization", "required (the token names no agency)")])
    if not principal.is_staff_of(org_code):
        raise PermissionDenied(f"publishing for {org_code} needs the staff role of {org_code}")
    try:
        parsed = schema.read_csv(req.csv, {fid: ftype for fid, ftype, _ in req.fields},
                                 {fid: label for fid, _, label in req.fields if label})
    except schema.CsvError as exc:
        raise InvalidArgument("invalid upload", [("csv", str(exc))]) from None
    known = {f.id for f in parsed.fields}
    unknown = [(f"fields[{i}].id", f"no column {fid!r} in the CSV") for i, (fid, _, _) in enumerate(req.fields)
               if fid not in known]
    if unknown:
        raise InvalidArgument("invalid upload", unknown)
    errors = parsed.errors[:MAX_REPORTED_ERRORS]
    with uow:
        existing = uow.catalog.dataset_named(req.name)
        if existing is not None and existing.source != "upload":
            raise FailedPrecondition(f"dataset {req.name!r} is maintained from platform events and cannot be uploaded")
        if existing is not None and existing.organization != org_code:
            raise PermissionDenied(f"dataset {req.name!r} belongs to {existing.organization}")
        for i, g in enumerate(req.groups):
            if uow.catalog.group(g) is None:
                raise InvalidArgument("invalid upload", [(f"groups[{i}]", f"unknown group {g!r}")])
        version = (existing.version + 1) if existing else 1
        if req.validate_only or not parsed.rows:
            return UploadResult(None, 0, parsed.fields, len(parsed.rows), parsed.rejected, errors)
        now = now_utc()
        if uow.catalog.organization(org_code) is None:
            uow.catalog.add(OrganizationRow(name=org_code, title=org_code, description="", created=now))
        ds_id = existing.id if existing else catalog.dataset_id(req.name)
        fields = [datastore.FieldDef(f.id, f.type, f.label) for f in parsed.fields]
        table_name = f"od_up_{ds_id.replace('-', '')[:12]}_v{version}"
        rows = [_scrub(fields, r) for r in parsed.rows]
        indexes = upload_indexes(fields, rows)
        table = datastore.table_for(table_name, fields, indexes)
        uow.begin_writing()  # the records table is created and loaded before the commit
        conn = uow.session.connection()
        datastore.create_table(conn, table, full_text=False)
        datastore.insert_many(conn, table, fields, rows)
        datastore.create_full_text_index(conn, table)
        fields_json = datastore.fields_to_json(fields)
        time_field = next((f.id for f in fields if f.type in ("timestamp", "date")), "")
        times = sorted(r[time_field] for r in rows if time_field and r.get(time_field))
        bbox = _bbox(rows) if {"lat", "lon"} <= {f.id for f in fields} else ""
        if existing is None:
            existing = DatasetRow(id=ds_id, name=req.name, title=req.title or req.name, notes=req.notes,
                                  organization=org_code, source="upload", fields=fields_json, table_name=table_name,
                                  metadata_created=now, metadata_modified=now)
        else:
            existing.title = req.title or existing.title
            existing.notes = req.notes or existing.notes
        existing.tags = json.dumps(sorted(set(req.tags))) if req.tags or version == 1 else existing.tags
        existing.groups = json.dumps(list(req.groups)) if req.groups or version == 1 else existing.groups
        existing.license_id = req.license_id or existing.license_id or catalog.DEFAULT_LICENSE
        existing.frequency = req.frequency or existing.frequency or "irregular"
        existing.version = version
        existing.fields = fields_json
        existing.table_name = table_name
        existing.time_field = time_field
        existing.record_count = len(rows)
        existing.temporal_start = times[0] if times else None
        existing.temporal_end = times[-1] if times else None
        existing.bbox = bbox
        existing.metadata_modified = now
        uow.catalog.add(existing)
        uow.catalog.add(DatasetVersionRow(dataset_id=ds_id, number=version, table_name=table_name, fields=fields_json,
                                          created=now, record_count=len(rows), rejected_count=parsed.rejected,
                                          actor=principal.actor, note=req.version_note[:500]))
        add_dataset_event(uow.session, ds_id, published_event(
            ds_id, req.name, existing.title, org_code, version, len(rows), parsed.rejected, "upload", principal.actor, now),
            NEW_PACKAGE if version == 1 else CHANGED_PACKAGE, at=now, version=version, record_count=len(rows),
            changes=len(rows), actor=principal.actor, note=req.version_note)
        uow.complete()
    return UploadResult(ds_id, version, parsed.fields, len(rows), parsed.rejected, errors)


def _scrub(fields: list[datastore.FieldDef], row: dict) -> dict:
    """Uploaded free text goes through the same scrubbing as everything else in the catalogue."""
    out = dict(row)
    for f in fields:
        if f.type == "text" and out.get(f.id):
            out[f.id] = anonymise.scrub_text(out[f.id], max_length=10_000)
    return out


def upload_indexes(fields: list[datastore.FieldDef], rows: list[dict]) -> list[tuple[str, ...]]:
    """Every column that filters or sorts usefully (all but long free text), plus (column, time) for the short
    text columns when the dataset has a time column: "one station / category, newest first" is the most
    common datastore_search, and the composite index serves both its filter and its sort."""
    out: list[tuple[str, ...]] = []
    time_field = next((f.id for f in fields if f.type in ("timestamp", "date")), None)
    for f in fields:
        if f.type == "text":
            values = [r[f.id] for r in rows[:1000] if r.get(f.id)]
            if values and sum(len(v) for v in values) / len(values) > 64:
                continue
            if time_field:
                out.append((f.id, time_field))
                continue
        out.append((f.id,))
    return out


def _bbox(rows: list[dict]) -> str:
    pts = [(r["lon"], r["lat"]) for r in rows if isinstance(r.get("lat"), float | int) and isinstance(r.get("lon"), float | int)]
    if not pts:
        return ""
    lons, lats = [p[0] for p in pts], [p[1] for p in pts]
    return json.dumps([min(lons), min(lats), max(lons), max(lats)])
