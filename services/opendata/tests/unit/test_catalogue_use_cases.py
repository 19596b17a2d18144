"""The catalogue's use cases against a fake unit of work: no database, broker or network."""

import json
from datetime import datetime, timezone

import pytest

from kota_common.auth import Principal
from kota_common.errors import InvalidArgument, NotFound, PermissionDenied
from kota_opendata.adapters import datastore
from kota_opendata.adapters.orm import DatasetRow, DatasetVersionRow, GroupRow, OrganizationRow
from kota_opendata.domain import catalog, search_query
from kota_opendata.service_layer import uploads
from kota_opendata.service_layer.queries import CatalogueQueries

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
POINT_FIELDS = datastore.fields_to_json([datastore.FieldDef("kind", "text", "Kind"), datastore.FieldDef("lat", "numeric", "Lat"),
                                         datastore.FieldDef("lon", "numeric", "Lon")])


class FakeCatalog:
    def __init__(self, datasets=(), versions=(), organizations=(), groups=()):
        self.rows = {d.id: d for d in datasets}
        self.version_rows = list(versions)
        self.orgs = {o.name: o for o in organizations}
        self.group_rows = {g.name: g for g in groups}
        self.version_queries = 0
        self.plans: list = []
        self.added: list = []

    def datasets(self):
        return list(self.rows.values())

    def dataset(self, dataset_id):
        return self.rows.get(dataset_id)

    def dataset_named(self, name):
        return next((d for d in self.rows.values() if d.name == name), None)

    def dataset_names(self):
        return [d.name for d in self.rows.values()]

    def tag_lists(self):
        return [d.tags for d in self.rows.values()]

    def organizations(self):
        return dict(self.orgs)

    def organization(self, code):
        return self.orgs.get(code)

    def groups(self):
        return dict(self.group_rows)

    def group(self, name):
        return self.group_rows.get(name)

    def search(self, plan):
        """The fake runs no SQL: every dataset by name, a facet on their organizations."""
        self.plans.append(plan)
        page = sorted(self.rows.values(), key=lambda d: d.name)[plan.start: plan.start + plan.rows]
        return len(self.rows), page, {"organization": [("dlh", 2), ("dsda", 1)]}

    def versions_of(self, dataset_ids):
        self.version_queries += 1
        ids = list(dataset_ids)
        return {i: sorted((v for v in self.version_rows if v.dataset_id == i), key=lambda v: v.number) for i in ids}

    def add(self, row):
        self.added.append(row)


class FakeUnitOfWork:
    def __init__(self, catalog_):
        self.catalog = catalog_
        self.completed = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def complete(self):
        self.completed += 1


def dataset(name, org="DLH", tags=("air",), groups=("environment",), fields=POINT_FIELDS, source="upload") -> DatasetRow:
    return DatasetRow(id=catalog.dataset_id(name), name=name, title=name.replace("-", " ").title(), organization=org,
                      tags=json.dumps(list(tags)), groups=json.dumps(list(groups)), source=source, fields=fields,
                      table_name=f"t_{name}", metadata_created=NOW, metadata_modified=NOW)


@pytest.fixture
def fake():
    datasets = [dataset("air-quality"), dataset("flood-reports", org="DSDA", tags=("flood",), groups=("disaster",)),
                dataset("waste-sites", tags=("waste", "air"))]
    versions = [DatasetVersionRow(dataset_id=d.id, number=n, table_name=d.table_name, fields=d.fields, created=NOW)
                for d in datasets for n in (1, 2)]
    orgs = [OrganizationRow(name="DLH", title="Dinas Lingkungan Hidup", created=NOW),
            OrganizationRow(name="DSDA", title="Dinas Sumber Daya Air", created=NOW)]
    groups = [GroupRow(name="environment", title="Lingkungan"), GroupRow(name="disaster", title="Bencana")]
    return FakeUnitOfWork(FakeCatalog(datasets, versions, orgs, groups))


def test_a_search_page_loads_the_versions_of_all_its_datasets_at_once(fake):
    found = CatalogueQueries(lambda: fake).search("", "tags:air", "name asc", ["organization"], 50, 0, 10)
    plan = fake.catalog.plans[0]
    assert str(plan.where) == str(search_query.Match("tags", "air")) and plan.sort[0] == ("name", False)
    assert found.count == 3 and [d.name for d in found.page.datasets] == ["air-quality", "flood-reports", "waste-sites"]
    assert fake.catalog.version_queries == 1
    assert all([v.number for v in found.page.versions[d.id]] == [1, 2] for d in found.page.datasets)
    assert dict(found.facets["organization"]) == {"dlh": 2, "dsda": 1}


@pytest.mark.parametrize("args,field", [(("", "", "", [], 50, -1, 10), "start"), (("", "", "", [], 50, 0, 1001), "rows"),
                                        (("", "colour:red", "", [], 50, 0, 10), "fq"), (("", "", "size", [], 50, 0, 10), "sort")])
def test_a_search_is_refused_naming_the_invalid_parameter_before_any_query(fake, args, field):
    with pytest.raises(InvalidArgument) as refused:
        CatalogueQueries(lambda: fake).search(*args)
    assert [f for f, _ in refused.value.violations] == [field] and not fake.catalog.plans


def test_a_dataset_is_found_by_name_or_by_one_of_its_resources(fake):
    queries = CatalogueQueries(lambda: fake)
    assert queries.dataset("flood-reports").datasets[0].organization == "DSDA"
    row, resource = queries.resource(catalog.resource_id("air-quality", "geojson"))
    assert row.name == "air-quality" and resource.format == "GeoJSON"
    with pytest.raises(NotFound):
        queries.dataset("no-such-dataset")


def test_organizations_count_their_datasets_and_sort_as_asked(fake):
    queries = CatalogueQueries(lambda: fake)
    assert [(o.row.name, o.dataset_count) for o in queries.organizations("package_count desc")] == [("DLH", 2), ("DSDA", 1)]
    with pytest.raises(InvalidArgument):
        queries.organizations("created asc")


def test_tags_are_listed_once_each_and_filtered_by_the_query(fake):
    assert CatalogueQueries(lambda: fake).tags("A") == ["air", "waste"]


def test_publishing_for_another_agency_is_refused_before_anything_is_written(fake):
    req = uploads.UploadRequest(name="taman", csv=b"nama,luas\nTaman A,1.5\n", organization="DSDA")
    with pytest.raises(PermissionDenied):
        uploads.upload(fake, Principal(subject="u", agency="DLH", roles=frozenset({"staff"})), req, 1_000_000)
    assert fake.completed == 0 and fake.catalog.added == []
