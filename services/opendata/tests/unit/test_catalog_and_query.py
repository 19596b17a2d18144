from datetime import datetime, timezone

import pytest

from kota_common.errors import InvalidArgument
from kota_opendata.adapters.datastore import FieldDef
from kota_opendata.domain import catalog
from kota_opendata.service_layer.records import validate_query

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def entry(name, org, tags, modified_day=1, fmt=("CSV",)):
    return catalog.Entry(name=name, title=name.replace("-", " ").title(), notes="", organization=org, tags=tags,
                         groups=["lingkungan"], license_id="cc-by-4.0", frequency="hourly", source="events",
                         formats=list(fmt), metadata_created=T0, metadata_modified=T0.replace(day=modified_day))


ENTRIES = [
    entry("kualitas-udara", "DLH", ["kualitas udara", "sensor"], 3, ("CSV", "GeoJSON")),
    entry("tinggi-air", "DSDA", ["banjir", "sensor"], 2),
    entry("anggaran", "BAPPEDA", ["anggaran"], 5),
]


def names(result):
    return [e.name for e in result[0]]


def test_fq_filters_by_organization_and_quoted_tag():
    assert names(catalog.search(ENTRIES, fq='organization:dlh tags:"kualitas udara"')) == ["kualitas-udara"]
    assert names(catalog.search(ENTRIES, fq="tags:sensor -organization:dsda")) == ["kualitas-udara"]
    assert names(catalog.search(ENTRIES, fq="res_format:GeoJSON")) == ["kualitas-udara"]


def test_q_and_default_sort_by_modified():
    assert names(catalog.search(ENTRIES, q="*:*")) == ["anggaran", "kualitas-udara", "tinggi-air"]
    assert names(catalog.search(ENTRIES, q="air")) == ["tinggi-air"]
    assert names(catalog.search(ENTRIES, sort="name desc")) == ["tinggi-air", "kualitas-udara", "anggaran"]


def test_facets_count_over_all_matches():
    _, facets = catalog.search(ENTRIES, facet_fields=["tags", "organization"])
    assert facets["tags"][0] == ("sensor", 2)
    assert dict(facets["organization"]) == {"dlh": 1, "dsda": 1, "bappeda": 1}


@pytest.mark.parametrize("kw,field", [({"fq": "colour:red"}, "fq"), ({"sort": "size desc"}, "sort"),
                                       ({"facet_fields": ["x"]}, "facet_fields"), ({"fq": "tags:\"open"}, "fq")])
def test_bad_search_parameters_name_the_field(kw, field):
    with pytest.raises(catalog.SearchError) as err:
        catalog.search(ENTRIES, **kw)
    assert err.value.field == field


FIELDS = [FieldDef("station_id", "text"), FieldDef("ispu", "int"), FieldDef("pm25", "numeric"), FieldDef("ok", "bool")]


def test_query_validation_types_filters_and_parses_sort():
    q = validate_query(FIELDS, filters={"station_id": ["DKI1", "DKI2"], "ispu": 50.0, "ok": "true"}, q="Bundaran HI",
                       sort="ispu desc, station_id", limit=None, offset=0, select_fields=[], include_total=None)
    assert q.filters == {"station_id": ["DKI1", "DKI2"], "ispu": [50], "ok": [True]}
    assert q.sort == [("ispu", True), ("station_id", False)]
    assert q.limit == 100 and q.include_total and q.words == ["bundaran", "hi"]


def test_query_validation_collects_every_violation():
    with pytest.raises(InvalidArgument) as err:
        validate_query(FIELDS, filters={"nope": 1, "ispu": "high"}, q="", sort="pm25 sideways", limit=50000,
                       offset=-1, select_fields=["x"], include_total=None)
    fields = [f for f, _ in err.value.violations]
    assert fields == ["filters.nope", "filters.ispu", "sort", "limit", "offset", "fields"]
