"""package_search plans run as SQL on SQLite and PostgreSQL: filters, ranges, sorts, paging and facets."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session

from kota_opendata.adapters import datastore
from kota_opendata.adapters.orm import DatasetRow
from kota_opendata.adapters.repository import CatalogRepository
from kota_opendata.domain import catalog
from kota_opendata.domain import search_query as sq

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 1, 8, 0, 0, 250000, tzinfo=timezone.utc)
POINTS = datastore.fields_to_json([datastore.FieldDef("kind", "text"), datastore.FieldDef("lat", "numeric"),
                                   datastore.FieldDef("lon", "numeric")])
PLAIN = datastore.fields_to_json([datastore.FieldDef("kind", "text")])


def row(name, org, tags, groups, modified_minutes, fields=PLAIN, title=None, license_id="cc-by-4.0"):
    return DatasetRow(id=catalog.dataset_id(name), name=name, title=title or name.replace("-", " ").title(),
                      notes=f"About {name}", organization=org, tags=json.dumps(tags), groups=json.dumps(groups),
                      license_id=license_id, source="upload", fields=fields, table_name=f"t_{name}",
                      metadata_created=T0, metadata_modified=T0 + timedelta(minutes=modified_minutes))


DATASETS = [
    row("kualitas-udara", "DLH", ["kualitas udara", "sensor"], ["lingkungan"], 3, POINTS, "Kualitas Udara ISPU"),
    row("tinggi-air", "DSDA", ["banjir", "sensor"], ["lingkungan"], 2, POINTS, "Tinggi Muka Air"),
    row("anggaran", "BAPPEDA", ["anggaran"], ["perencanaan"], 5, license_id="cc0-1.0"),
    row("pengaduan-udara", "DISKOMINFOTIK", ["pengaduan"], ["pengaduan"], 1, title="Pengaduan soal udara"),
]


@pytest.fixture
def repo(database_url):
    engine = create_engine(database_url)
    DatasetRow.__table__.create(engine)  # type: ignore[attr-defined]
    with Session(engine) as session:
        session.add_all([DatasetRow.model_validate(d.model_dump()) for d in DATASETS])
        session.commit()
        yield CatalogRepository(session)
    engine.dispose()


def names(repo, **kwargs):
    count, rows, _ = repo.search(sq.plan(**{"rows": 100, "sort": "name asc", **kwargs}))
    assert count == len(rows) or kwargs.get("rows") is not None
    return [r.name for r in rows]


def test_field_queries_phrases_negation_and_or(repo):
    assert names(repo, fq='organization:dlh tags:"kualitas udara"') == ["kualitas-udara"]
    assert names(repo, fq="tags:sensor -organization:dsda") == ["kualitas-udara"]
    assert names(repo, fq="organization:dlh OR organization:bappeda") == ["anggaran", "kualitas-udara"]
    assert names(repo, fq="NOT groups:lingkungan") == ["anggaran", "pengaduan-udara"]
    assert names(repo, fq="res_format:GeoJSON") == ["kualitas-udara", "tinggi-air"]
    assert names(repo, fq="res_format:csv license_id:cc0-1.0") == ["anggaran"]
    assert names(repo, fq="name:tinggi* OR title:\"soal udara\"") == ["pengaduan-udara", "tinggi-air"]
    assert names(repo, fq="tags:sens*") == ["kualitas-udara", "tinggi-air"]
    assert names(repo, fq="tags:udara") == []  # a tag is matched whole, not by a word of it
    assert names(repo, fq="state:deleted") == []
    assert names(repo, q="udara -tags:pengaduan") == ["kualitas-udara"]


def test_ranges_on_dates_and_keywords(repo):
    since = (T0 + timedelta(minutes=2)).replace(tzinfo=None).isoformat() + "Z"
    assert names(repo, fq=f"metadata_modified:[{since} TO *]") == ["anggaran", "kualitas-udara", "tinggi-air"]
    assert names(repo, fq=f"metadata_modified:{{{since} TO *]") == ["anggaran", "kualitas-udara"]
    assert names(repo, fq="metadata_modified:[* TO 2026-12-01T08:01:00.250Z]") == ["pengaduan-udara"]
    assert names(repo, fq="name:[b TO p]") == ["kualitas-udara"]


def test_sorts_on_any_indexed_field_and_pages_in_sql(repo):
    ids = sorted(d.id for d in DATASETS)
    assert [r.id for r in repo.search(sq.plan(sort="id asc", rows=100))[1]] == ids
    pages = [repo.search(sq.plan(sort="id asc", start=start, rows=3))[1] for start in (0, 3, 6)]
    assert [[r.id for r in page] for page in pages] == [ids[:3], ids[3:], []]
    assert names(repo, sort="metadata_modified desc") == ["anggaran", "kualitas-udara", "tinggi-air", "pengaduan-udara"]
    assert names(repo, sort="title_string desc")[0] == "tinggi-air"
    # relevance: "udara" in the name or title scores above "udara" in the tags only
    count, rows, _ = repo.search(sq.plan(q="udara", rows=10))
    assert count == 2 and {r.name for r in rows} == {"kualitas-udara", "pengaduan-udara"}


def test_facets_count_every_match_not_only_the_page(repo):
    plan = sq.plan(rows=1, facet_fields=["tags", "organization", "groups", "res_format", "license_id"], facet_limit=-1)
    count, rows, facets = repo.search(plan)
    assert count == 4 and len(rows) == 1
    assert facets["tags"][0] == ("sensor", 2) and dict(facets["tags"])["kualitas udara"] == 1
    assert dict(facets["organization"]) == {"dlh": 1, "dsda": 1, "bappeda": 1, "diskominfotik": 1}
    assert facets["groups"][0] == ("lingkungan", 2)
    assert dict(facets["res_format"]) == {"CSV": 4, "GeoJSON": 2}
    assert facets["license_id"] == [("cc-by-4.0", 3), ("cc0-1.0", 1)]
    assert repo.search(sq.plan(fq="tags:banjir", facet_fields=["tags"], facet_limit=1))[2]["tags"] == [("banjir", 1)]


def test_autocomplete_matches_names_before_titles(repo):
    assert repo.autocomplete("udara", 10) == [("kualitas-udara", "Kualitas Udara ISPU", "name"),
                                              ("pengaduan-udara", "Pengaduan soal udara", "name")]
    assert repo.autocomplete("muka", 10) == [("tinggi-air", "Tinggi Muka Air", "title")]
    assert repo.autocomplete("50%", 10) == []
