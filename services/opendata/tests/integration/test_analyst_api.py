"""What analysts and front-ends call besides search, on a running process (SQLite and PostgreSQL): read-only
SQL over published resources, q per field, autocomplete, licenses and a dataset's activity stream."""

import json
import uuid

import grpc
import pytest

from kota.opendata.v1 import opendata_pb2 as pb
from kota_common.grpc_server import field_violations
from kota_opendata.domain import catalog

pytestmark = pytest.mark.integration

PARKS = ("Nama Taman,Kecamatan,Luas (m2),Lat,Lon\n"
         "Taman Suropati,Menteng,16322,-6.1995,106.8324\n"
         "Taman Menteng,Menteng,3000,-6.1960,106.8290\n"
         "Taman Langsat,Kebayoran Baru,14000,-6.2400,106.8000\n"
         "Taman Ayodya,Kebayoran Baru,7000,-6.2420,106.7990\n")


def upload(stub, token, csv, **kw):
    return stub.UploadDataset(pb.UploadDatasetRequest(csv=csv.encode(), **kw),
                              metadata=[("authorization", f"Bearer {token}")], timeout=30)


def refused(call) -> dict[str, str]:
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    return dict(field_violations(err.value))


@pytest.fixture
def parks(start_opendata, staff_token):
    _, od = start_opendata(KOTA_OPENDATA_SQL_MAX_ROWS="3", KOTA_OPENDATA_SQL_TIMEOUT_S="1")
    name = f"taman-{uuid.uuid4().hex[:6]}"
    upload(od, staff_token("DPHK"), PARKS, name=name, title="Taman kota Jakarta", tags=["taman"])
    return od, name, catalog.resource_id(name, "csv")


def test_sql_aggregates_over_a_published_resource(parks):
    od, _, resource = parks
    reply = od.SearchSql(pb.SearchSqlRequest(sql=f'SELECT kecamatan, count(*) AS n, sum(luas_m2) AS luas '
                                                 f'FROM "{resource}" GROUP BY kecamatan ORDER BY kecamatan'), timeout=30)
    assert json.loads(reply.records_json) == [{"kecamatan": "Kebayoran Baru", "n": 2, "luas": 21000},
                                              {"kecamatan": "Menteng", "n": 2, "luas": 19322}]
    types = [(f.id, f.type) for f in reply.fields]
    assert types[:2] == [("kecamatan", "text"), ("n", "int")] and types[2] in [("luas", "int"), ("luas", "numeric")]
    assert not reply.records_truncated
    # at most KOTA_OPENDATA_SQL_MAX_ROWS rows, and the caller is told
    many = od.SearchSql(pb.SearchSqlRequest(sql=f'SELECT r."_id", nama_taman FROM "{resource}" r WHERE nama_taman '
                                                f"LIKE '%a%' ORDER BY 1"), timeout=30)
    assert len(json.loads(many.records_json)) == 3 and many.records_truncated


def test_sql_that_is_not_a_read_of_published_resources_is_refused_before_it_runs(parks):
    od, _, resource = parks
    for sql, reason in [
        (f'DELETE FROM "{resource}"', "Only SELECT"),
        ("SELECT * FROM od_datasets", "Not a published datastore resource"),
        ("SELECT * FROM od_complaint_facts", "Not a published datastore resource"),
        (f'SELECT 1 FROM "{resource}"; DROP TABLE od_datasets', "not a single statement"),
        ("SELECT pg_sleep(5)", "Function not allowed"),
        ("", "Missing value"),
    ]:
        assert reason in refused(lambda sql=sql: od.SearchSql(pb.SearchSqlRequest(sql=sql), timeout=30))["sql"]
    # the catalogue is intact
    assert od.ListDatasets(pb.ListDatasetsRequest(), timeout=10).names


def test_sql_the_database_refuses_or_stops_is_an_invalid_argument(parks):
    od, _, resource = parks
    assert refused(lambda: od.SearchSql(pb.SearchSqlRequest(sql=f'SELECT no_such_column FROM "{resource}"'),
                                        timeout=30))["sql"]
    endless = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
               "SELECT count(*) FROM n")
    assert "took too long" in refused(lambda: od.SearchSql(pb.SearchSqlRequest(sql=endless), timeout=60))["sql"]
    # the connection it ran on is usable and writable again (read-only mode and the timer were reset)
    assert od.SearchSql(pb.SearchSqlRequest(sql=f'SELECT count(*) AS n FROM "{resource}"'), timeout=30).records_json \
        == '[{"n": 4}]'


def test_q_per_field_matches_word_starts_of_that_field_only(parks, od_query):
    od, name, _ = parks
    records, _ = od_query(od, name, q_fields={"kecamatan": "kebay"})
    assert sorted(r["nama_taman"] for r in records) == ["Taman Ayodya", "Taman Langsat"]
    assert od_query(od, name, q_fields={"kecamatan": "baru", "nama_taman": "lang"})[1].total == 1
    assert od_query(od, name, q_fields={"nama_taman": "menteng"})[1].total == 1  # not the kecamatan Menteng
    assert "q.luas_m2" in refused(lambda: od_query(od, name, q_fields={"luas_m2": "7000"}))


def test_autocomplete_licenses_and_activity(parks, staff_token):
    od, name, _ = parks
    matches = od.AutocompleteDatasets(pb.AutocompleteDatasetsRequest(q="kota jakarta"), timeout=10).matches
    assert [(m.name, m.match_field) for m in matches] == [(name, "title")]
    assert "limit" in refused(lambda: od.AutocompleteDatasets(pb.AutocompleteDatasetsRequest(q="x", limit=0), timeout=10))
    licenses = od.ListLicenses(pb.ListLicensesRequest(), timeout=10).licenses
    assert "cc-by-4.0" in [lic.id for lic in licenses] and all(lic.title for lic in licenses)

    upload(od, staff_token("DPHK"), "Nama Taman,Luas (m2)\nTaman Baru,500\n", name=name, version_note="taman baru")
    activity = od.ListDatasetActivity(pb.ListDatasetActivityRequest(id=name), timeout=10).activities
    assert [(a.activity_type, a.version, a.record_count, a.actor) for a in activity] == [
        ("changed package", 2, 1, "staff:DPHK"), ("new package", 1, 4, "staff:DPHK")]
    assert activity[0].note == "taman baru" and activity[0].event_type == "kota.opendata.dataset-published.v1"
    # the live dataset is made at start-up, then changed by whatever complaint events the shared broker already holds
    live = od.ListDatasetActivity(pb.ListDatasetActivityRequest(id="pengaduan-warga"), timeout=10).activities
    assert live and live[-1].activity_type == "new package"
    assert {a.activity_type for a in live[:-1]} <= {"changed package"}
    newest = od.ListDatasetActivity(pb.ListDatasetActivityRequest(id="pengaduan-warga", limit=1), timeout=10).activities
    assert [a.activity_type for a in newest] == [live[0].activity_type]
    with pytest.raises(grpc.RpcError) as err:
        od.ListDatasetActivity(pb.ListDatasetActivityRequest(id="no-such-dataset"), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
