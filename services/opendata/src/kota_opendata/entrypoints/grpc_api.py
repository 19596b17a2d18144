"""gRPC servicer of kota.opendata.v1.OpenDataService (see proto/kota/opendata/v1/opendata.proto): requests to use
cases (service_layer.queries, service_layer.uploads) and their answers to messages."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from kota.opendata.v1 import opendata_pb2 as pb
from kota.opendata.v1 import opendata_pb2_grpc as pb_grpc
from kota_common.auth import principal_from_metadata
from kota_common.errors import InvalidArgument, NotFound
from kota_common.grpc_server import abort_with, timestamp, translate_errors
from kota_opendata.adapters import datastore
from kota_opendata.adapters.orm import DatasetRow, OrganizationRow
from kota_opendata.domain import catalog
from kota_opendata.service_layer import exports, uploads
from kota_opendata.service_layer.queries import Catalogue, CatalogueQueries, Resource, resources_of
from kota_opendata.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
CKAN_VERSION = "2.10.4"
EXPORT_FORMATS = {pb.EXPORT_FORMAT_CSV: "csv", pb.EXPORT_FORMAT_GEOJSON: "geojson"}


def ts(value: datetime | str | None) -> Timestamp | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value if "T" in value else value + "T00:00:00")
    return timestamp(value)


@dataclass
class Stats:
    applied: Callable[[], int] = lambda: 0
    dead_lettered: Callable[[], int] = lambda: 0


def org_pb(org: OrganizationRow | None, code: str, count: int = 0) -> pb.Organization:
    if org is None:
        return pb.Organization(id=catalog.organization_id(code), name=code.lower(), title=code)
    return pb.Organization(id=catalog.organization_id(org.name), name=org.name.lower(), title=org.title,
                           description=org.description, package_count=count, created=ts(org.created))


def resource_pb(row: DatasetRow, r: Resource) -> pb.Resource:
    return pb.Resource(
        id=r.id, package_id=row.id, name=f"{row.title} ({r.format})",
        description=f"{row.title}: all records as {r.format}" + (" (datastore)" if r.datastore_active else ""),
        format=r.format, mimetype=r.mimetype, url=r.url, datastore_active=r.datastore_active,
        created=ts(row.metadata_created), last_modified=ts(row.metadata_modified),
        export_format=pb.EXPORT_FORMAT_GEOJSON if r.format == "GeoJSON" else pb.EXPORT_FORMAT_CSV,
    )


def dataset_pb(row: DatasetRow, c: Catalogue) -> pb.Dataset:
    orgs, groups = c.organizations, c.groups
    title, url = catalog.LICENSES.get(row.license_id, (row.license_id, ""))
    fields = datastore.fields_from_json(row.fields)
    extras = json.loads(row.extras or "{}")
    d = pb.Dataset(
        id=row.id, name=row.name, title=row.title, notes=row.notes,
        organization=org_pb(orgs.get(row.organization), row.organization),
        tags=json.loads(row.tags),
        groups=[pb.Group(id=catalog.group_id(g), name=g, title=groups[g].title if g in groups else g)
                for g in json.loads(row.groups)],
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
    d.resources.extend(resource_pb(row, r) for r in resources_of(row))
    for v in c.versions.get(row.id, []):
        d.versions.append(pb.DatasetVersion(number=v.number, created=ts(v.created), record_count=v.record_count,
                                            rejected_count=v.rejected_count, actor=v.actor, note=v.note))
    return d


class OpenDataServicer(pb_grpc.OpenDataServiceServicer):
    def __init__(self, make_uow: Callable[[], UnitOfWork], settings, stats: Stats | None = None):
        self.make_uow = make_uow
        self.queries = CatalogueQueries(make_uow)
        self.settings = settings
        self.stats = stats or Stats()

    # ---- catalogue -----------------------------------------------------------------------------------------
    @translate_errors
    def ListDatasets(self, request, context):
        return pb.ListDatasetsResponse(names=self.queries.dataset_names(request.offset, request.limit))

    @translate_errors
    def SearchDatasets(self, request, context):
        found = self.queries.search(
            request.q, request.fq, request.sort, list(request.facet_fields),
            request.facet_limit if request.HasField("facet_limit") else 50, request.start,
            request.rows if request.HasField("rows") else 10,
        )
        orgs, groups = found.page.organizations, found.page.groups
        out = pb.SearchDatasetsResponse(count=found.count, results=[dataset_pb(d, found.page) for d in found.page.datasets])
        for name, items in found.facets.items():
            facet = out.facets.add(field=name, title=catalog.FACET_TITLES.get(name, name))
            for value, count in items:
                display = orgs[value.upper()].title if name == "organization" and value.upper() in orgs else (
                    groups[value].title if name == "groups" and value in groups else value)
                facet.items.add(name=value, display_name=display, count=count)
        return out

    @translate_errors
    def GetDataset(self, request, context):
        c = self.queries.dataset(request.id)
        return pb.GetDatasetResponse(dataset=dataset_pb(c.datasets[0], c))

    @translate_errors
    def ListOrganizations(self, request, context):
        items = [org_pb(o.row, o.row.name, o.dataset_count) for o in self.queries.organizations(request.sort)]
        items = items[request.offset:]
        if request.limit:
            items = items[: request.limit]
        return pb.ListOrganizationsResponse(organizations=items)

    @translate_errors
    def GetOrganization(self, request, context):
        org, theirs = self.queries.organization(request.id)
        out = pb.GetOrganizationResponse(organization=org_pb(org.row, org.row.name, org.dataset_count))
        if request.include_datasets:
            out.datasets.extend(dataset_pb(d, theirs) for d in theirs.datasets)
        return out

    @translate_errors
    def ListGroups(self, request, context):
        return pb.ListGroupsResponse(groups=[
            pb.Group(id=catalog.group_id(g.name), name=g.name, title=g.title, description=g.description,
                     package_count=count) for g, count in self.queries.groups()])

    @translate_errors
    def ListTags(self, request, context):
        return pb.ListTagsResponse(tags=self.queries.tags(request.query))

    @translate_errors
    def AutocompleteDatasets(self, request, context):
        matches = self.queries.autocomplete(request.q, request.limit if request.HasField("limit") else 10)
        return pb.AutocompleteDatasetsResponse(matches=[pb.DatasetMatch(name=name, title=title, match_field=matched)
                                                        for name, title, matched in matches])

    @translate_errors
    def ListLicenses(self, request, context):
        return pb.ListLicensesResponse(licenses=[pb.License(id=i, title=title, url=url, open=True)
                                                 for i, title, url in self.queries.licenses()])

    @translate_errors
    def ListDatasetActivity(self, request, context):
        row, activities = self.queries.activity(request.id, request.offset,
                                                request.limit if request.HasField("limit") else 31)
        return pb.ListDatasetActivityResponse(activities=[pb.Activity(
            id=a.id, dataset_id=row.id, activity_type=a.activity_type, timestamp=ts(a.at), version=a.version,
            record_count=a.record_count, changes=a.changes, actor=a.actor, note=a.note, event_type=a.event_type)
            for a in activities])

    @translate_errors
    def GetResource(self, request, context):
        row, resource = self.queries.resource(request.id)
        return pb.GetResourceResponse(resource=resource_pb(row, resource))

    # ---- records -------------------------------------------------------------------------------------------
    @translate_errors
    def QueryRecords(self, request, context):
        row, fields, query, rows, total = self.queries.records(
            request.resource_id, request.version,
            json_format.MessageToDict(request.filters) if request.HasField("filters") else {},
            request.q, request.sort, request.limit if request.HasField("limit") else None, request.offset,
            list(request.fields), request.include_total if request.HasField("include_total") else None,
            dict(request.q_fields),
        )
        by_id = {f.id: f for f in fields}
        out_fields = [pb.DataField(id="_id", type="int")] + [
            pb.DataField(id=n, type=by_id[n].type, label=by_id[n].label) for n in query.fields]
        return pb.QueryRecordsResponse(
            resource_id=catalog.resource_id(row.name, "csv"), fields=out_fields,
            records_json=json.dumps(rows, ensure_ascii=False, default=str), total=total,
            limit=query.limit, offset=query.offset,
        )

    @translate_errors
    def SearchSql(self, request, context):
        result = self.queries.sql(request.sql, self.settings.sql_max_rows, self.settings.sql_timeout_s)
        return pb.SearchSqlResponse(
            fields=[pb.DataField(id=name, type=kind) for name, kind in zip(result.columns, result.column_types(), strict=True)],
            records_json=json.dumps(result.records(), ensure_ascii=False, default=str),
            records_truncated=result.truncated,
        )

    def ExportDataset(self, request, context):
        try:
            filters = json_format.MessageToDict(request.filters) if request.HasField("filters") else {}
            fmt = EXPORT_FORMATS.get(request.format, "unknown") if request.format else ""
            export = self.queries.export(request.id, request.version, filters, fmt)
        except (InvalidArgument, NotFound) as err:
            abort_with(context, err)
            return
        name = export.dataset.name
        ctype, ext = ("application/geo+json", "geojson") if export.geojson else ("text/csv; charset=utf-8", "csv")
        first = True
        try:
            for chunk in export.chunks:
                if not context.is_active():
                    return
                if first:
                    yield pb.ExportDatasetResponse(content_type=ctype, filename=f"{name}.{ext}", chunk=chunk)
                    first = False
                else:
                    yield pb.ExportDatasetResponse(chunk=chunk)
        finally:
            export.chunks.close()

    # ---- service -------------------------------------------------------------------------------------------
    @translate_errors
    def GetStatus(self, request, context):
        datasets = self.queries.datasets()
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
        return pb.GetCatalogResponse(jsonld=self.queries.dcat(request.base_url or "http://127.0.0.1:8080",
                                                              self.settings.site_title))

    def WatchDatasets(self, request, context):
        wanted = set(request.ids)
        last: dict[str, tuple] = {}
        first = True
        while context.is_active():
            rows = self.queries.dataset_states()
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
        principal = principal_from_metadata(self.settings.common.auth_secret, context.invocation_metadata())
        req = uploads.UploadRequest(
            name=request.name, csv=request.csv, title=request.title, notes=request.notes,
            organization=request.organization, tags=list(request.tags), groups=list(request.groups),
            license_id=request.license_id, frequency=request.frequency,
            fields=[(f.id, f.type, f.label) for f in request.fields], validate_only=request.validate_only,
            version_note=request.version_note,
        )
        result = uploads.upload(self.make_uow(), principal, req, self.settings.upload_max_bytes)
        out = pb.UploadDatasetResponse(
            version=result.version,
            fields=[pb.DataField(id=f.id, type=f.type, label=f.label) for f in result.fields],
            accepted_rows=result.accepted, rejected_rows=result.rejected,
            errors=[pb.RowError(row_number=e.row_number, field=e.field, reason=e.reason) for e in result.errors],
        )
        if result.dataset_id:
            c = self.queries.dataset(result.dataset_id)
            out.dataset.CopyFrom(dataset_pb(c.datasets[0], c))
        return out
