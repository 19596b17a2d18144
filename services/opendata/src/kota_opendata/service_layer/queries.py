"""Read-side use cases of the catalogue (CKAN's action API and DCAT): what each answer needs, loaded in a few
queries whatever the number of datasets on a page; the entrypoint turns it into its messages."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import Table

from kota_common.errors import InvalidArgument, NotFound
from kota_opendata.adapters import datastore
from kota_opendata.adapters.orm import DatasetActivityRow, DatasetRow, DatasetVersionRow, GroupRow, OrganizationRow
from kota_opendata.domain import catalog, search_query, sql_check
from kota_opendata.service_layer import exports, records
from kota_opendata.service_layer.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Resource:
    """One of a dataset's downloads: all records as CSV (and as GeoJSON when it has lat/lon)."""

    id: str
    format: str  # CSV | GeoJSON
    mimetype: str
    url: str
    datastore_active: bool


def resources_of(row: DatasetRow) -> list[Resource]:
    out = [Resource(catalog.resource_id(row.name, "csv"), "CSV", "text/csv", f"/dataset/{row.name}/download/{row.name}.csv",
                    True)]
    if {"lat", "lon"} <= {f.id for f in datastore.fields_from_json(row.fields)}:
        out.append(Resource(catalog.resource_id(row.name, "geojson"), "GeoJSON", "application/geo+json",
                            f"/dataset/{row.name}/download/{row.name}.geojson", False))
    return out


@dataclass
class Catalogue:
    """Datasets with what describing them needs: organizations and groups by name, versions by dataset id."""

    datasets: list[DatasetRow]
    organizations: dict[str, OrganizationRow]
    groups: dict[str, GroupRow]
    versions: dict[str, list[DatasetVersionRow]] = field(default_factory=dict)


@dataclass
class SearchPage:
    count: int
    page: Catalogue
    facets: dict[str, list[tuple[str, int]]]


def _number(value: Decimal) -> int | float:
    """PostgreSQL's numeric (sum of bigints, avg) as a JSON number: whole ones stay integers."""
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class SqlResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool

    def records(self) -> list[dict]:
        return [dict(zip(self.columns, (_number(v) if isinstance(v, Decimal) else v for v in row), strict=True))
                for row in self.rows]

    def column_types(self) -> list[str]:
        """Each column's datastore type, from its first value that is not null ("text" when all are)."""
        out = []
        for i in range(len(self.columns)):
            value = next((r[i] for r in self.rows if r[i] is not None), None)
            out.append("bool" if isinstance(value, bool) else "int" if isinstance(value, int) else
                       "numeric" if isinstance(value, float | Decimal) else "timestamp" if isinstance(value, datetime)
                       else "text")
        return out


@dataclass
class Organization:
    row: OrganizationRow
    dataset_count: int


@dataclass
class Export:
    dataset: DatasetRow
    fields: list[datastore.FieldDef]
    geojson: bool
    chunks: Iterator[bytes]


class CatalogueQueries:
    """The read-side use cases; each opens a unit of work of its own. Remembers resource ids (made from dataset
    names) so that finding a dataset by one of its resources needs no scan of the catalogue after the first."""

    def __init__(self, make_uow: Callable[[], UnitOfWork]):
        self.make_uow = make_uow
        self._resource_index: dict[str, tuple[str, str]] = {}

    def find(self, uow: UnitOfWork, ident: str, field_name: str = "id") -> tuple[DatasetRow, str | None]:
        """A dataset by id, name or one of its resource ids; (row, resource format or None)."""
        if not ident:
            raise InvalidArgument(f"{field_name} is required", [(field_name, "required")])
        row = uow.catalog.dataset(ident) or uow.catalog.dataset_named(ident)
        if row is not None:
            return row, None
        hit = self._resource_index.get(ident)
        if hit is None:
            self._resource_index = {r.id: (d.id, r.format) for d in uow.catalog.datasets() for r in resources_of(d)}
            hit = self._resource_index.get(ident)
        if hit is not None:
            row = uow.catalog.dataset(hit[0])
            if row is not None:
                return row, hit[1]
        raise NotFound(f"no dataset or resource {ident!r}")

    def dataset_names(self, offset: int, limit: int) -> list[str]:
        if limit < 0 or offset < 0:
            raise InvalidArgument("invalid paging", [("limit" if limit < 0 else "offset", "must not be negative")])
        with self.make_uow() as uow:
            names = sorted(uow.catalog.dataset_names())
        names = names[offset:]
        return names[:limit] if limit else names

    def search(self, q: str, fq: str, sort: str, facet_fields: list[str], facet_limit: int, start: int,
               rows: int) -> SearchPage:
        """CKAN package_search: the parameters become a plan (domain.search_query) the repository runs as SQL."""
        try:
            plan = search_query.plan(q, fq, sort, start, rows, facet_fields, facet_limit)
        except search_query.QueryError as exc:
            raise InvalidArgument("invalid search", [(exc.field, str(exc))]) from None
        with self.make_uow() as uow:
            count, page, facets = uow.catalog.search(plan)
            orgs, groups = uow.catalog.organizations(), uow.catalog.groups()
            versions = uow.catalog.versions_of(d.id for d in page)
        return SearchPage(count, Catalogue(page, orgs, groups, versions), facets)

    def autocomplete(self, text: str, limit: int) -> list[tuple[str, str, str]]:
        """(name, title, matched field) of datasets whose name or title contains `text` (CKAN package_autocomplete)."""
        if not 1 <= limit <= 100:
            raise InvalidArgument("invalid limit", [("limit", "must be between 1 and 100")])
        if not text.strip():
            return []
        with self.make_uow() as uow:
            return uow.catalog.autocomplete(text.strip(), limit)

    def sql(self, sql: str, max_rows: int, timeout_s: float) -> SqlResult:
        """CKAN datastore_search_sql: one read-only SELECT over the current version of published resources (each
        named by its datastore resource id), checked by domain.sql_check before the database sees it."""
        with self.make_uow() as uow:
            resources = {catalog.resource_id(d.name, "csv"): sql_check.PublishedTable(
                d.table_name, ("_id", *(f.id for f in datastore.fields_from_json(d.fields)))) for d in uow.catalog.datasets()}
            dialect = "postgres" if uow.catalog.dialect() == "postgresql" else "sqlite"
        try:
            checked = sql_check.check(sql, resources, dialect)
        except sql_check.SqlRefused as exc:
            raise InvalidArgument("sql refused", [("sql", str(exc))]) from None
        try:
            with self.make_uow() as uow:
                names, rows, truncated = uow.catalog.run_sql(checked, max_rows, timeout_s)
        except datastore.SqlTimeout:
            raise InvalidArgument("sql too slow", [("sql", f"Search took too long (more than {timeout_s:g} s)")]) from None
        except datastore.SqlFailed as exc:
            raise InvalidArgument("sql failed", [("sql", str(exc))]) from None
        return SqlResult(names, rows, truncated)

    def activity(self, ident: str, offset: int, limit: int) -> tuple[DatasetRow, list[DatasetActivityRow]]:
        """A dataset's activity stream, newest first (CKAN package_activity_list)."""
        violations = [(name, message) for name, bad, message in (
            ("offset", offset < 0, "must not be negative"), ("limit", not 1 <= limit <= 100, "must be between 1 and 100"))
            if bad]
        if violations:
            raise InvalidArgument("invalid paging", violations)
        with self.make_uow() as uow:
            row, _ = self.find(uow, ident)
            return row, uow.catalog.activity(row.id, offset, limit)

    @staticmethod
    def licenses() -> list[tuple[str, str, str]]:
        """(id, title, url) of each license a dataset can carry (CKAN license_list)."""
        return [(license_id, title, url) for license_id, (title, url) in catalog.LICENSES.items()]

    def dataset(self, ident: str) -> Catalogue:
        """One dataset (by id, name or resource id) as a catalogue of one, with its versions."""
        with self.make_uow() as uow:
            row, _ = self.find(uow, ident)
            return Catalogue([row], uow.catalog.organizations(), uow.catalog.groups(), uow.catalog.versions_of([row.id]))

    def organizations(self, sort: str) -> list[Organization]:
        with self.make_uow() as uow:
            datasets, orgs = uow.catalog.datasets(), uow.catalog.organizations()
        counts: dict[str, int] = {}
        for d in datasets:
            counts[d.organization] = counts.get(d.organization, 0) + 1
        items = [Organization(o, counts.get(o.name, 0)) for o in orgs.values()]
        sort = (sort or "name asc").strip().lower()
        keys = {"name asc": (lambda o: o.row.name.lower(), False), "name desc": (lambda o: o.row.name.lower(), True),
                "title asc": (lambda o: o.row.title.lower(), False),
                "package_count desc": (lambda o: o.dataset_count, True)}
        if sort not in keys:
            raise InvalidArgument("invalid sort", [("sort", f"one of: {', '.join(keys)}")])
        key, reverse = keys[sort]
        return sorted(items, key=key, reverse=reverse)

    def organization(self, ident: str) -> tuple[Organization, Catalogue]:
        """An organization (by code or id) and its datasets by name."""
        if not ident:
            raise InvalidArgument("id is required", [("id", "required")])
        with self.make_uow() as uow:
            datasets, orgs, groups = uow.catalog.datasets(), uow.catalog.organizations(), uow.catalog.groups()
        org = orgs.get(ident.upper()) or next((o for o in orgs.values() if catalog.organization_id(o.name) == ident), None)
        if org is None:
            raise NotFound(f"no organization {ident!r}")
        mine = sorted((d for d in datasets if d.organization == org.name), key=lambda d: d.name)
        return Organization(org, len(mine)), Catalogue(mine, orgs, groups)

    def groups(self) -> list[tuple[GroupRow, int]]:
        """Every group by name, with its number of datasets."""
        with self.make_uow() as uow:
            datasets, groups = uow.catalog.datasets(), uow.catalog.groups()
        counts: dict[str, int] = {}
        for d in datasets:
            for g in json.loads(d.groups):
                counts[g] = counts.get(g, 0) + 1
        return [(g, counts.get(g.name, 0)) for g in sorted(groups.values(), key=lambda g: g.name)]

    def tags(self, query: str) -> list[str]:
        with self.make_uow() as uow:
            tags = {t for tag_list in uow.catalog.tag_lists() for t in json.loads(tag_list)}
        query = query.lower()
        return sorted(t for t in tags if query in t.lower())

    def resource(self, resource_id: str) -> tuple[DatasetRow, Resource]:
        with self.make_uow() as uow:
            row, fmt = self.find(uow, resource_id)
        if fmt is not None:
            for r in resources_of(row):
                if r.id == resource_id:
                    return row, r
        raise NotFound(f"no resource {resource_id!r}")

    def records(self, resource_id: str, version: int, filters: dict, q: str, sort: str, limit: int | None, offset: int,
                select_fields: list[str], include_total: bool | None, field_q: dict[str, str] | None = None):
        """(dataset, its fields, the validated query, the records, their total)."""
        with self.make_uow() as uow:
            row, _ = self.find(uow, resource_id, "resource_id")
            table, fields = _table(uow, row, version)
            query = records.validate_query(fields, filters=filters, q=q, sort=sort, limit=limit, offset=offset,
                                           select_fields=select_fields, include_total=include_total, field_q=field_q)
            found, total = uow.catalog.records(table, query)
        return row, fields, query, found, total

    def export(self, ident: str, version: int, filters: dict, fmt: str) -> Export:
        """A dataset's records as "csv" or "geojson" chunks (read when iterated); `fmt` empty: as the resource asked
        for (a GeoJSON resource id), else CSV."""
        with self.make_uow() as uow:
            row, res_fmt = self.find(uow, ident)
            if not fmt:
                fmt = "geojson" if (res_fmt or "").lower() == "geojson" else "csv"
            table, fields = _table(uow, row, version)
        if fmt == "geojson" and not {"lat", "lon"} <= {f.id for f in fields}:
            raise InvalidArgument("not spatial", [("format", f"dataset {row.name} has no lat/lon: GeoJSON unavailable")])
        if fmt not in ("csv", "geojson"):
            raise InvalidArgument("unknown format", [("format", "CSV or GEOJSON")])
        query = records.validate_query(fields, filters=filters, q="", sort="", limit=None, offset=0, select_fields=[],
                                       include_total=False)
        geojson = fmt == "geojson"
        return Export(row, fields, geojson, self._chunks(table, fields, query, geojson))

    def _chunks(self, table: Table, fields, query, geojson: bool) -> Iterator[bytes]:
        with self.make_uow() as uow:
            batches = uow.catalog.record_batches(table, query)
            yield from (exports.geojson_chunks if geojson else exports.csv_chunks)(fields, batches)

    def catalogue(self) -> Catalogue:
        """Every dataset, by name."""
        with self.make_uow() as uow:
            return Catalogue(sorted(uow.catalog.datasets(), key=lambda d: d.name), uow.catalog.organizations(),
                             uow.catalog.groups())

    def datasets(self) -> list[DatasetRow]:
        with self.make_uow() as uow:
            return uow.catalog.datasets()

    def dataset_states(self) -> list[tuple[str, str, int, int, datetime]]:
        with self.make_uow() as uow:
            return uow.catalog.dataset_states()

    def dcat(self, base_url: str, site_title: str) -> str:
        """The catalogue as DCAT (JSON-LD)."""
        if not base_url.startswith(("http://", "https://")):
            raise InvalidArgument("invalid base_url", [("base_url", "an absolute http(s) URL")])
        c = self.catalogue()
        docs = []
        for d in c.datasets:
            lic = catalog.LICENSES.get(d.license_id, ("", ""))
            org = c.organizations.get(d.organization)
            docs.append({
                "id": d.id, "name": d.name, "title": d.title, "notes": d.notes,
                "organization": (d.organization, org.title if org else d.organization),
                "tags": json.loads(d.tags), "groups": json.loads(d.groups), "license_url": lic[1],
                "temporal_start": d.temporal_start, "temporal_end": d.temporal_end,
                "spatial": exports.bbox_polygon(d.bbox), "frequency": d.frequency,
                "created": iso_z(d.metadata_created), "modified": iso_z(d.metadata_modified),
                "resources": [(r.format, r.mimetype, r.url) for r in resources_of(d)],
            })
        return exports.dcat_catalog(base_url, site_title, "Kota open data catalogue", docs)


def _table(uow: UnitOfWork, row: DatasetRow, version: int) -> tuple[Table, list[datastore.FieldDef]]:
    """The records table of the dataset's current version, or of `version`."""
    if version and version != row.version:
        v = uow.catalog.version(row.id, version)
        if v is None:
            raise InvalidArgument("unknown version", [("version", f"dataset {row.name} has no version {version}")])
        fields = datastore.fields_from_json(v.fields)
        return datastore.table_for(v.table_name, fields), fields
    fields = datastore.fields_from_json(row.fields)
    return datastore.table_for(row.table_name, fields), fields


def iso_z(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat()
