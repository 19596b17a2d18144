"""The CKAN actions analysts and front-ends use beyond the basics, through the real ckanapi client and raw HTTP,
against the gateway and the opendata service as processes; bad input answered in CKAN's error format."""

import uuid

import grpc
import httpx
import pytest

from kota.opendata.v1 import opendata_pb2 as pb
from kota.opendata.v1 import opendata_pb2_grpc as pb_grpc
from kota_common.auth import issue_token
from kota_common.settings import CommonSettings
from kota_common.testing import ServiceProcess, free_port
from kota_gateway.testing import start_gateway

pytestmark = pytest.mark.integration
PARKS = ("Nama Taman,Kecamatan,Luas (m2)\nTaman Suropati,Menteng,16322\nTaman Menteng,Menteng,3000\n"
         "Taman Langsat,Kebayoran Baru,14000\nTaman Ayodya,Kebayoran Baru,7000\n")


@pytest.fixture(scope="module")
def site(kafka_bootstrap, tmp_path_factory):
    """(gateway base URL, the uploaded dataset's name, its datastore resource id)."""
    tmp = tmp_path_factory.mktemp("ckan-analyst")
    address = f"127.0.0.1:{free_port()}"
    opendata = ServiceProcess("kota_opendata", {
        "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap, "KOTA_OPENDATA_DATABASE_URL": f"sqlite:///{tmp / 'opendata.db'}",
        "KOTA_OPENDATA_GRPC_ADDRESS": address, "KOTA_OPENDATA_CONSUME_EVENTS": "false",
        "KOTA_OPENDATA_CONSUMER_GROUP": f"test-od-{uuid.uuid4().hex[:8]}"}, address, tmp / "opendata.log").start()
    gateway = None
    try:
        gateway = start_gateway(tmp, f"127.0.0.1:{free_port()}", kafka_bootstrap, name="gateway-analyst",
                                KOTA_GATEWAY_OPENDATA_ADDRESS=address)
        name = f"taman-{uuid.uuid4().hex[:6]}"
        token = issue_token(CommonSettings().auth_secret, "petugas-uji", "DPHK", ["staff"])
        with grpc.insecure_channel(address) as channel:
            reply = pb_grpc.OpenDataServiceStub(channel).UploadDataset(
                pb.UploadDatasetRequest(name=name, title="Taman kota Jakarta", csv=PARKS.encode(), tags=["taman"]),
                metadata=[("authorization", f"Bearer {token}")], timeout=30)
        resource = next(r.id for r in reply.dataset.resources if r.datastore_active)
        yield gateway.base_url, name, resource
    finally:
        if gateway:
            gateway.stop()
        opendata.stop()


@pytest.fixture(scope="module")
def ckan(site):
    import ckanapi

    with ckanapi.RemoteCKAN(site[0], user_agent="kota-tests") as remote:
        yield remote


def call(site, action: str, method: str = "POST", **params) -> tuple[int, dict]:
    with httpx.Client(base_url=site[0], timeout=30) as http:
        reply = (http.post(f"/api/3/action/{action}", json=params) if method == "POST"
                 else http.get(f"/api/3/action/{action}", params=params))
    return reply.status_code, reply.json()


def test_datastore_search_sql_aggregates_a_published_resource(ckan, site):
    _, _, resource = site
    result = ckan.action.datastore_search_sql(
        sql=f'SELECT kecamatan, count(*) AS taman, sum(luas_m2) AS luas FROM "{resource}" GROUP BY kecamatan '
            f"ORDER BY luas DESC")
    assert result["records"] == [{"kecamatan": "Menteng", "taman": 2, "luas": 19322},
                                 {"kecamatan": "Kebayoran Baru", "taman": 2, "luas": 21000}][::-1]
    assert [f["id"] for f in result["fields"]] == ["kecamatan", "taman", "luas"] and "records_truncated" not in result


@pytest.mark.parametrize("sql,reason", [
    ('DELETE FROM "{resource}"', "Only SELECT"),
    ('SELECT 1 FROM "{resource}"; DROP TABLE od_datasets', "not a single statement"),
    ("SELECT * FROM od_datasets", "Not a published datastore resource"),
    ("SELECT name FROM sqlite_master", "Not a published datastore resource"),
    ('SELECT pg_sleep(10) FROM "{resource}"', "Function not allowed"),
    ("PRAGMA query_only = OFF", "Only SELECT"),
    ('SELECT no_such_column FROM "{resource}"', "no_such_column"),
])
def test_sql_other_than_a_read_of_published_resources_is_a_ckan_validation_error(ckan, site, sql, reason):
    import ckanapi

    status, body = call(site, "datastore_search_sql", sql=sql.format(resource=site[2]))
    assert status == 409 and body["success"] is False and body["error"]["__type"] == "Validation Error"
    assert reason in body["error"]["query"][0]
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.datastore_search_sql(sql=sql.format(resource=site[2]))


def test_datastore_search_sql_needs_sql(site):
    status, body = call(site, "datastore_search_sql", "GET")
    assert status == 409 and body["error"]["sql"] == ["Missing value"]


def test_datastore_info_and_q_as_an_object(ckan, site):
    _, name, resource = site
    info = ckan.action.datastore_info(id=resource)
    assert info["meta"]["count"] == 4
    assert [(f["id"], f["type"]) for f in info["fields"]] == [("nama_taman", "text"), ("kecamatan", "text"),
                                                              ("luas_m2", "int")]
    found = ckan.action.datastore_search(resource_id=resource, q={"kecamatan": "kebayoran"})
    assert sorted(r["nama_taman"] for r in found["records"]) == ["Taman Ayodya", "Taman Langsat"]
    status, body = call(site, "datastore_search", "GET", resource_id=resource, q='{"nama_taman": "menteng"}')
    assert status == 200 and [r["nama_taman"] for r in body["result"]["records"]] == ["Taman Menteng"]
    status, body = call(site, "datastore_search", "GET", resource_id=resource, q='{"luas_m2": "7000"}')
    assert status == 409 and body["error"]["__type"] == "Validation Error" and "q.luas_m2" in body["error"]
    status, body = call(site, "datastore_search", "GET", resource_id=resource, q="{not json")
    assert status == 409 and body["error"]["q"] == ["Cannot parse JSON"]
    status, body = call(site, "datastore_info", "GET", id="no-such-resource")
    assert status == 404 and body["error"]["__type"] == "Not Found Error"


def test_autocomplete_current_packages_and_licenses(ckan, site):
    _, name, _ = site
    assert ckan.action.package_autocomplete(q="kota jakarta") == [
        {"name": name, "title": "Taman kota Jakarta", "match_field": "title",
         "match_displayed": f"Taman kota Jakarta ({name})"}]
    assert [m["name"] for m in ckan.action.package_autocomplete(q="pengaduan", limit=1)] == ["pengaduan-warga"]
    latest = ckan.action.current_package_list_with_resources(limit=2)
    assert len(latest) == 2 and latest[0]["name"] == name and latest[0]["resources"]
    assert latest[0]["metadata_modified"] >= latest[1]["metadata_modified"]
    licenses = ckan.action.license_list()
    assert {"cc-by-4.0", "odc-odbl"} <= {lic["id"] for lic in licenses} and all(lic["title"] for lic in licenses)


def test_package_activity_list_is_the_datasets_history(ckan, site):
    _, name, _ = site
    activity = ckan.action.package_activity_list(id=name)
    assert [(a["activity_type"], a["data"]["package"]["version"], a["user_id"]) for a in activity] == [
        ("new package", "1", "staff:DPHK")]
    status, body = call(site, "package_activity_list", "GET", id="no-such-dataset")
    assert status == 404 and body["success"] is False
    status, body = call(site, "package_activity_list", "GET")
    assert status == 409 and body["error"]["id"] == ["Missing value"]


def test_package_search_takes_what_front_ends_send_and_refuses_bad_queries_in_ckan_format(ckan, site):
    _, name, _ = site
    found = ckan.action.package_search(q="taman", fq_list=["organization:dphk", "tags:taman"], include_private=True,
                                       include_drafts=True, rows=5, sort="metadata_modified desc")
    assert [p["name"] for p in found["results"]] == [name]
    status, body = call(site, "package_search", "GET", **{"fq": "+dataset_type:dataset -organization:dphk",
                                                          "facet.field": '["organization","res_format"]'})
    assert status == 200 and "dphk" not in body["result"]["facets"]["organization"]
    assert body["result"]["facets"]["res_format"]["CSV"] == body["result"]["count"]
    for params, field in [({"fq": "colour:red"}, "fq"), ({"fq": "metadata_modified:[yesterday TO *]"}, "fq"),
                          ({"q": "tags:(a"}, "q"), ({"sort": "popularity desc"}, "sort"), ({"rows": "5000"}, "rows")]:
        status, body = call(site, "package_search", "GET", **params)
        assert status == 409 and body["error"]["__type"] == "Validation Error" and field in body["error"], body
