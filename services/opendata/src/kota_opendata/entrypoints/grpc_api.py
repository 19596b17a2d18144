"""gRPC servicer of kota.opendata.v1.OpenDataService (see proto/kota/opendata/v1/opendata.proto)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from kota.opendata.v1 import opendata_pb2 as pb
from kota.opendata.v1 import opendata_pb2_grpc as pb_grpc
from kota_common.auth import InvalidToken, bearer_from_metadata, verify_token
from kota_common.errors import InvalidArgument, NotFound, Unauthenticated
from kota_common.grpc_server import abort_with, timestamp, translate_errors
from kota_opendata.adapters import datastore
from kota_opendata.adapters.orm import DatasetRow, DatasetVersionRow, GroupRow, OrganizationRow
from kota_opendata.domain import catalog
from kota_opendata.service_layer import exports, records, uploads

log = logging.getLogger(__name__)
CKAN_VERSION = "2.10.4"


def ts(value: datetime | str | None) -> Timestamp | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value if "T" in value else value + "T00:00:00")
    return timestamp(value)


def iso_z(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat()


@dataclass
class Stats:
    applied: Callable[[], int] = lambda: 0
    dead_lettered: Callable[[], int] = lambda: 0


def resources_of(row: DatasetRow) -> list[tuple[str, str, str, str, bool, int]]:
    """(id, format, mimetype, url, datastore_active, export format) of a dataset's resources."""
    out = [(catalog.resource_id(row.name, "csv"), "CSV", "text/csv", f"/dataset/{row.name}/download/{row.name}.csv", True,
            pb.EXPORT_FORMAT_CSV)]
    if {"lat", "lon"} <= {f.id for f in datastore.fields_from_json(row.fields)}:
        out.append((catalog.resource_id(row.name, "geojson"), "GeoJSON", "application/geo+json",
                    f"/dataset/{row.name}/download/{row.name}.geojson", False, pb.EXPORT_FORMAT_GEOJSON))
    return out


class OpenDataServicer(pb_grpc.OpenDataServiceServicer):
    def __init__(self, engine: Engine, settings, stats: Stats | None = None):
        self.engine = engine
        self.settings = settings
        self.stats = stats or Stats()
        self._resource_index: dict[str, tuple[str, str]] = {}

    # ---- helpers -----------------------------------------------------------------------------------------
    def _catalogue(self, session: Session):
        datasets = session.exec(select(DatasetRow)).all()
        orgs = {o.name: o for o in session.exec(select(OrganizationRow)).all()}
        groups = {g.name: g for g in session.exec(select(GroupRow)).all()}
        return datasets, orgs, groups

    def _org_pb(self, org: OrganizationRow | None, code: str, count: int = 0) -> pb.Organization:
        if org is None:
            return pb.Organization(id=catalog.organization_id(code), name=code.lower(), title=code)
        return pb.Organization(id=catalog.organization_id(org.name), name=org.name.lower(), title=org.title,
                               description=org.description, package_count=count, created=ts(org.created))

    def _dataset_pb(self, row: DatasetRow, orgs, groups, versions: list[DatasetVersionRow] | None = None) -> pb.Dataset:
        title, url = catalog.LICENSES.get(row.license_id, (row.license_id, ""))
        fields = datastore.fields_from_json(row.fields)
        group_names = json.loads(row.groups)
        extras = json.loads(row.extras or "{}")
        d = pb.Dataset(
            id=row.id, name=row.name, title=row.title, notes=row.notes,
            organization=self._org_pb(orgs.get(row.organization), row.organization),
            tags=json.loads(row.tags),
            groups=[pb.Group(id=catalog.group_id(g), name=g, title=groups[g].title if g in groups else g) for g in group_names],
            license_id=row.license_id, license_title=title, license_url=url,
            temporal_start=ts(row.temporal_start), temporal_end=ts(row.temporal_end),
            spatial=exports.bbox_polygon(row.bbox), frequency=row.frequency, version=str(row.version),
            fields=[pb.DataField(id="_id", type="int", label="Row id")] + [
                pb.DataField(id=f.id, type=f.type, label=f.label, notes=f.notes) for f in fields],
            record_count=row.record_count, metadata_created=ts(row.metadata_created),
            metadata_modified=ts(row.metadata_modified), source=row.source,
            maintainer=orgs[row.organization].title if row.organization in orgs else row.organization,
            state="active", extras={str(k): str(v) for k, v in extras.items()},
        )
        for rid, fmt, mime, url_, active, export in resources_of(row):
            d.resources.append(self._resource_pb(row, rid, fmt, mime, url_, active, export))
        for v in versions or []:
            d.versions.append(pb.DatasetVersion(number=v.number, created=ts(v.created), record_count=v.record_count,
                                                rejected_count=v.rejected_count, actor=v.actor, note=v.note))
        return d

    def _resource_pb(self, row, rid, fmt, mime, url, active, export) -> pb.Resource:
        return pb.Resource(
            id=rid, package_id=row.id, name=f"{row.title} ({fmt})",
            description=f"{row.title}: all records as {fmt}" + (" (datastore)" if active else ""),
            format=fmt, mimetype=mime, url=url, datastore_active=active, created=ts(row.metadata_created),
            last_modified=ts(row.metadata_modified), export_format=export,
        )

    def _find(self, session: Session, ident: str, field: str = "id") -> tuple[DatasetRow, str | None]:
        """A dataset by id, name or one of its resource ids; returns (row, resource format or None)."""
        if not ident:
            raise InvalidArgument(f"{field} is required", [(field, "required")])
        row = session.get(DatasetRow, ident)
        if row is None:
            row = session.exec(select(DatasetRow).where(DatasetRow.name == ident)).first()
        if row is not None:
            return row, None
        hit = self._resource_index.get(ident)
        if hit is None:
            self._resource_index = {
                rid: (r.id, fmt) for r in session.exec(select(DatasetRow)).all() for rid, fmt, *_ in resources_of(r)
            }
            hit = self._resource_index.get(ident)
        if hit is not None:
            row = session.get(DatasetRow, hit[0])
            if row is not None:
                return row, hit[1]
        raise NotFound(f"no dataset or resource {ident!r}")

    def _versions(self, session: Session, dataset_id: str) -> list[DatasetVersionRow]:
        return list(session.exec(select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == dataset_id)
                                 .order_by(DatasetVersionRow.number)).all())

    def _table(self, session: Session, row: DatasetRow, version: int):
        if version and version != row.version:
            v = session.get(DatasetVersionRow, (row.id, version))
            if v is None:
                raise InvalidArgument("unknown version", [("version", f"dataset {row.name} has no version {version}")])
            fields = datastore.fields_from_json(v.fields)
            return datastore.table_for(v.table_name, fields), fields
        fields = datastore.fields_from_json(row.fields)
        return datastore.table_for(row.table_name, fields), fields

    # ---- catalogue -----------------------------------------------------------------------------------------
    @translate_errors
    def ListDatasets(self, request, context):
        if request.limit < 0 or request.offset < 0:
            raise InvalidArgument("invalid paging", [("limit" if request.limit < 0 else "offset", "must not be negative")])
        with Session(self.engine) as session:
            names = sorted(session.exec(select(DatasetRow.name)).all())
        names = names[request.offset:]
        if request.limit:
            names = names[: request.limit]
        return pb.ListDatasetsResponse(names=names)

    @translate_errors
    def SearchDatasets(self, request, context):
        rows = request.rows if request.HasField("rows") else 10
        violations = []
        if rows < 0 or rows > 1000:
            violations.append(("rows", "must be between 0 and 1000"))
        if request.start < 0:
            violations.append(("start", "must not be negative"))
        facet_limit = request.facet_limit if request.HasField("facet_limit") else 50
        if violations:
            raise InvalidArgument("invalid search", violations)
        with Session(self.engine) as session:
            datasets, orgs, groups = self._catalogue(session)
            by_name = {d.name: d for d in datasets}
            entries = [
                catalog.Entry(
                    name=d.name, title=d.title, notes=d.notes, organization=d.organization, tags=json.loads(d.tags),
                    groups=json.loads(d.groups), license_id=d.license_id, frequency=d.frequency, source=d.source,
                    formats=[r[1] for r in resources_of(d)], metadata_created=d.metadata_created,
                    metadata_modified=d.metadata_modified,
                )
                for d in datasets
            ]
            try:
                matches, facets = catalog.search(entries, request.q, request.fq, request.sort, list(request.facet_fields),
                                                 facet_limit if facet_limit > 0 else 50)
            except catalog.SearchError as exc:
                raise InvalidArgument("invalid search", [(exc.field, str(exc))]) from None
            page = matches[request.start: request.start + rows]
            results = [self._dataset_pb(by_name[e.name], orgs, groups, self._versions(session, by_name[e.name].id))
                       for e in page]
        out = pb.SearchDatasetsResponse(count=len(matches), results=results)
        for name, items in facets.items():
            facet = out.facets.add(field=name, title=catalog.FACET_TITLES.get(name, name))
            for value, count in items:
                display = orgs[value.upper()].title if name == "organization" and value.upper() in orgs else (
                    groups[value].title if name == "groups" and value in groups else value)
                facet.items.add(name=value, display_name=display, count=count)
        return out

    @translate_errors
    def GetDataset(self, request, context):
        with Session(self.engine) as session:
            row, _ = self._find(session, request.id)
            _, orgs, groups = self._catalogue(session)
            return pb.GetDatasetResponse(dataset=self._dataset_pb(row, orgs, groups, self._versions(session, row.id)))

    @translate_errors
    def ListOrganizations(self, request, context):
        with Session(self.engine) as session:
            datasets, orgs, _ = self._catalogue(session)
        counts: dict[str, int] = {}
        for d in datasets:
            counts[d.organization] = counts.get(d.organization, 0) + 1
        items = [self._org_pb(o, o.name, counts.get(o.name, 0)) for o in orgs.values()]
        sort = (request.sort or "name asc").strip().lower()
        keys = {"name asc": (lambda o: o.name, False), "name desc": (lambda o: o.name, True),
                "title asc": (lambda o: o.title.lower(), False), "package_count desc": (lambda o: o.package_count, True)}
        if sort not in keys:
            raise InvalidArgument("invalid sort", [("sort", f"one of: {', '.join(keys)}")])
        key, reverse = keys[sort]
        items.sort(key=key, reverse=reverse)
        items = items[request.offset:]
        if request.limit:
            items = items[: request.limit]
        return pb.ListOrganizationsResponse(organizations=items)

    @translate_errors
    def GetOrganization(self, request, context):
        if not request.id:
            raise InvalidArgument("id is required", [("id", "required")])
        with Session(self.engine) as session:
            datasets, orgs, groups = self._catalogue(session)
            code = request.id.upper()
            org = orgs.get(code) or next((o for o in orgs.values() if catalog.organization_id(o.name) == request.id), None)
            if org is None:
                raise NotFound(f"no organization {request.id!r}")
            mine = [d for d in datasets if d.organization == org.name]
            out = pb.GetOrganizationResponse(organization=self._org_pb(org, org.name, len(mine)))
            if request.include_datasets:
                out.datasets.extend(self._dataset_pb(d, orgs, groups) for d in sorted(mine, key=lambda d: d.name))
            return out

    @translate_errors
    def ListGroups(self, request, context):
        with Session(self.engine) as session:
            datasets, _, groups = self._catalogue(session)
        counts: dict[str, int] = {}
        for d in datasets:
            for g in json.loads(d.groups):
                counts[g] = counts.get(g, 0) + 1
        return pb.ListGroupsResponse(groups=[
            pb.Group(id=catalog.group_id(g.name), name=g.name, title=g.title, description=g.description,
                     package_count=counts.get(g.name, 0)) for g in sorted(groups.values(), key=lambda g: g.name)])

    @translate_errors
    def ListTags(self, request, context):
        with Session(self.engine) as session:
            tags = {t for tags in session.exec(select(DatasetRow.tags)).all() for t in json.loads(tags)}
        query = request.query.lower()
        return pb.ListTagsResponse(tags=sorted(t for t in tags if query in t.lower()))

    @translate_errors
    def GetResource(self, request, context):
        with Session(self.engine) as session:
            row, fmt = self._find(session, request.id)
            if fmt is None:
                raise NotFound(f"no resource {request.id!r}")
            for rid, f, mime, url, active, export in resources_of(row):
                if rid == request.id:
                    return pb.GetResourceResponse(resource=self._resource_pb(row, rid, f, mime, url, active, export))
        raise NotFound(f"no resource {request.id!r}")

    # ---- records -------------------------------------------------------------------------------------------
    @translate_errors
    def QueryRecords(self, request, context):
        filters = json_format.MessageToDict(request.filters) if request.HasField("filters") else {}
        with Session(self.engine) as session:
            row, _ = self._find(session, request.resource_id, "resource_id")
            table, fields = self._table(session, row, request.version)
            query = records.validate_query(
                fields, filters=filters, q=request.q, sort=request.sort,
                limit=request.limit if request.HasField("limit") else None, offset=request.offset,
                select_fields=list(request.fields),
                include_total=request.include_total if request.HasField("include_total") else None,
            )
            rows, total = datastore.search(session.connection(), table, query)
        by_id = {f.id: f for f in fields}
        out_fields = [pb.DataField(id="_id", type="int")] + [
            pb.DataField(id=n, type=by_id[n].type, label=by_id[n].label) for n in query.fields]
        return pb.QueryRecordsResponse(
            resource_id=catalog.resource_id(row.name, "csv"), fields=out_fields,
            records_json=json.dumps(rows, ensure_ascii=False, default=str), total=total,
            limit=query.limit, offset=query.offset,
        )

    def ExportDataset(self, request, context):
        try:
            filters = json_format.MessageToDict(request.filters) if request.HasField("filters") else {}
            fmt = request.format or pb.EXPORT_FORMAT_CSV
            with Session(self.engine) as session:
                row, res_fmt = self._find(session, request.id)
                if (res_fmt or "").lower() == "geojson" and not request.format:
                    fmt = pb.EXPORT_FORMAT_GEOJSON
                table, fields = self._table(session, row, request.version)
            if fmt == pb.EXPORT_FORMAT_GEOJSON and not {"lat", "lon"} <= {f.id for f in fields}:
                raise InvalidArgument("not spatial", [("format", f"dataset {row.name} has no lat/lon: GeoJSON unavailable")])
            if fmt not in (pb.EXPORT_FORMAT_CSV, pb.EXPORT_FORMAT_GEOJSON):
                raise InvalidArgument("unknown format", [("format", "CSV or GEOJSON")])
            query = records.validate_query(fields, filters=filters, q="", sort="", limit=None, offset=0,
                                           select_fields=[], include_total=False)
        except (InvalidArgument, NotFound) as err:
            abort_with(context, err)
            return
        with self.engine.connect() as conn:
            batches = datastore.iterate(conn, table, query)
            if fmt == pb.EXPORT_FORMAT_GEOJSON:
                chunks, ctype, ext = exports.geojson_chunks(fields, batches), "application/geo+json", "geojson"
            else:
                chunks, ctype, ext = exports.csv_chunks(fields, batches), "text/csv; charset=utf-8", "csv"
            first = True
            for chunk in chunks:
                if not context.is_active():
                    return
                if first:
                    yield pb.ExportDatasetResponse(content_type=ctype, filename=f"{row.name}.{ext}", chunk=chunk)
                    first = False
                else:
                    yield pb.ExportDatasetResponse(chunk=chunk)

    # ---- service -------------------------------------------------------------------------------------------
    @translate_errors
    def GetStatus(self, request, context):
        with Session(self.engine) as session:
            datasets = session.exec(select(DatasetRow)).all()
        live = [d.metadata_modified for d in datasets if d.source == "events" and d.record_count]
        return pb.GetStatusResponse(
            ckan_version=CKAN_VERSION, site_title=self.settings.site_title,
            site_description="One anonymised open-data catalogue fed live by the city's platform events.",
            extensions=["datastore", "dcat", "kota_live"], dataset_count=len(datasets),
            last_update=ts(max(live)) if live else None, events_applied=self.stats.applied(),
            events_dead_lettered=self.stats.dead_lettered(),
        )

    @translate_errors
    def GetCatalog(self, request, context):
        base = request.base_url or "http://127.0.0.1:8080"
        if not base.startswith(("http://", "https://")):
            raise InvalidArgument("invalid base_url", [("base_url", "an absolute http(s) URL")])
        with Session(self.engine) as session:
            datasets, orgs, groups = self._catalogue(session)
        docs = []
        for d in sorted(datasets, key=lambda d: d.name):
            lic = catalog.LICENSES.get(d.license_id, ("", ""))
            org = orgs.get(d.organization)
            docs.append({
                "id": d.id, "name": d.name, "title": d.title, "notes": d.notes,
                "organization": (d.organization, org.title if org else d.organization),
                "tags": json.loads(d.tags), "groups": json.loads(d.groups), "license_url": lic[1],
                "temporal_start": d.temporal_start, "temporal_end": d.temporal_end,
                "spatial": exports.bbox_polygon(d.bbox), "frequency": d.frequency,
                "created": iso_z(d.metadata_created), "modified": iso_z(d.metadata_modified),
                "resources": [(fmt, mime, url) for _, fmt, mime, url, _, _ in resources_of(d)],
            })
        return pb.GetCatalogResponse(jsonld=exports.dcat_catalog(base, self.settings.site_title,
                                                                 "Kota open data catalogue", docs))

    def WatchDatasets(self, request, context):
        wanted = set(request.ids)
        last: dict[str, tuple] = {}
        first = True
        while context.is_active():
            with Session(self.engine) as session:
                rows = session.exec(select(DatasetRow.id, DatasetRow.name, DatasetRow.version, DatasetRow.record_count,
                                           DatasetRow.metadata_modified)).all()
            for ds_id, name, version, count, modified in rows:
                if wanted and ds_id not in wanted and name not in wanted:
                    continue
                state = (version, count, modified)
                before = last.get(ds_id)
                last[ds_id] = state
                if first:
                    if request.send_initial:
                        yield pb.WatchDatasetsResponse(dataset_id=ds_id, name=name, change=pb.DATASET_CHANGE_CURRENT,
                                                       version=version, record_count=count, at=ts(modified))
                    continue
                if before == state:
                    continue
                if before is None:
                    change = pb.DATASET_CHANGE_CREATED
                elif version != before[0]:
                    change = pb.DATASET_CHANGE_VERSION_PUBLISHED
                elif count != before[1]:
                    change = pb.DATASET_CHANGE_RECORDS_CHANGED
                else:
                    change = pb.DATASET_CHANGE_RECORDS_CHANGED
                yield pb.WatchDatasetsResponse(dataset_id=ds_id, name=name, change=change, version=version,
                                               record_count=count, at=ts(modified))
            first = False
            time.sleep(0.25)

    # ---- uploads -------------------------------------------------------------------------------------------
    @translate_errors
    def UploadDataset(self, request, context):
        token = bearer_from_metadata(context.invocation_metadata())
        if not token:
            raise Unauthenticated("a staff bearer token is required (metadata authorization: Bearer ...)")
        try:
            principal = verify_token(self.settings.common.auth_secret, token)
        except InvalidToken as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        req = uploads.UploadRequest(
            name=request.name, csv=request.csv, title=request.title, notes=request.notes,
            organization=request.organization, tags=list(request.tags), groups=list(request.groups),
            license_id=request.license_id, frequency=request.frequency,
            fields=[(f.id, f.type, f.label) for f in request.fields], validate_only=request.validate_only,
            version_note=request.version_note,
        )
        result = uploads.upload(self.engine, principal, req, self.settings.upload_max_bytes)
        out = pb.UploadDatasetResponse(
            version=result.version,
            fields=[pb.DataField(id=f.id, type=f.type, label=f.label) for f in result.fields],
            accepted_rows=result.accepted, rejected_rows=result.rejected,
            errors=[pb.RowError(row_number=e.row_number, field=e.field, reason=e.reason) for e in result.errors],
        )
        if result.dataset_id:
            with Session(self.engine) as session:
                row = session.get(DatasetRow, result.dataset_id)
                _, orgs, groups = self._catalogue(session)
                out.dataset.CopyFrom(self._dataset_pb(row, orgs, groups, self._versions(session, row.id)))
        return out
