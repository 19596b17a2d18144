"""The records store on a real database (SQLite and PostgreSQL): upserts, filters, full text, sort, paging."""

import uuid

import pytest

from kota_common.db.engines import make_engine
from kota_opendata.adapters import datastore
from kota_opendata.adapters.datastore import FieldDef
from kota_opendata.service_layer.records import validate_query

pytestmark = pytest.mark.integration

FIELDS = [FieldDef("kode", "text"), FieldDef("judul", "text"), FieldDef("nilai", "int"), FieldDef("aktif", "bool")]


def run(conn, table, **kw):
    params = dict(filters=None, q="", sort="", limit=None, offset=0, select_fields=[], include_total=None) | kw
    return datastore.search(conn, table, validate_query(FIELDS, **params))


def test_upsert_filters_full_text_sort_and_paging(database_url):
    engine = make_engine(database_url)
    table = datastore.table_for(f"t_{uuid.uuid4().hex[:8]}", FIELDS, [("kode",), ("nilai",)])
    with engine.begin() as conn:
        datastore.create_table(conn, table)
        datastore.create_table(conn, table)  # idempotent
        datastore.insert_many(conn, table, FIELDS, [
            {"kode": "A", "judul": "Jalan berlubang di Menteng", "nilai": 3, "aktif": True},
            {"kode": "B", "judul": "Banjir di Kampung Melayu", "nilai": 1, "aktif": False},
            {"kode": "C", "judul": "Pohon tumbang, jalan tertutup", "nilai": None, "aktif": True},
        ])
        assert datastore.upsert(conn, table, FIELDS, "k-1", {"kode": "D", "judul": "Lampu jalan mati", "nilai": 7})
        assert not datastore.upsert(conn, table, FIELDS, "k-1", {"judul": "Lampu taman mati"})
    with engine.connect() as conn:
        rows, total = run(conn, table, q="jalan")
        assert total == 2 and {r["kode"] for r in rows} == {"A", "C"}  # D's text no longer says jalan
        rows, total = run(conn, table, q="Lamp TAMAN")  # every word, as a prefix, any case
        assert total == 1 and rows[0]["kode"] == "D" and rows[0]["nilai"] == 7
        rows, total = run(conn, table, q="alan")  # not a word prefix
        assert total == 0
        rows, total = run(conn, table, filters={"nilai": [1, 7, None]}, sort="kode desc", limit=2)
        assert total == 3 and [r["kode"] for r in rows] == ["D", "C"]
        rows, total = run(conn, table, filters={"nilai": None})
        assert total == 1 and rows[0]["kode"] == "C"
        rows, total = run(conn, table, filters={"aktif": True}, sort="kode desc", limit=1, offset=1,
                          select_fields=["kode"])
        assert total == 2 and rows == [{"_id": 1, "kode": "A"}]
        rows, total = run(conn, table, include_total=False, limit=0)
        assert rows == [] and total == -1
        batches = list(datastore.iterate(conn, table, validate_query(
            FIELDS, filters={"aktif": True}, q="", sort="", limit=None, offset=0, select_fields=[], include_total=False),
            batch=1))
        assert [b[0]["kode"] for b in batches] == ["A", "C"]
    with engine.begin() as conn:
        assert datastore.delete(conn, table, "k-1")
    with engine.connect() as conn:
        assert run(conn, table, q="lampu")[1] == 0
    engine.dispose()
