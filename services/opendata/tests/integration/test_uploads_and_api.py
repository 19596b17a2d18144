"""Agency uploads, the query API, exports, catalogue calls, health and reflection, on a running process."""

import json
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from kota.opendata.v1 import opendata_pb2 as pb
from kota_common.grpc_server import field_violations

pytestmark = pytest.mark.integration

CSV_V1 = (
    "Nama Taman,Kecamatan,Luas (m2),Dibuka,Lat,Lon,Kontak\n"
    "Taman Suropati,Menteng,16322,1920-01-01,-6.1995,106.8324,pengelola 0812-9999-8888\n"
    "Taman Menteng,Menteng,luas sekali,2007-04-28,-6.1960,106.8290,\n"
    "Taman Langsat,Kebayoran Baru,14000,1970-01-01,-6.2400,106.8000\n"
    "Taman Ayodya,Kebayoran Baru,7000,2009-06-01,-6.2420,106.7990,taman@contoh.id\n"
    "Taman Cattleya,Palmerah,27000,2013-01-01,-6.1900,106.7960,\n"
)


def upload(stub, token, csv, **kw):
    metadata = [("authorization", f"Bearer {token}")] if token else []
    return stub.UploadDataset(pb.UploadDatasetRequest(csv=csv.encode(), **kw), metadata=metadata, timeout=30)


def test_csv_upload_reports_bad_rows_publishes_the_rest_and_keeps_versions(start_opendata, staff_token, topic_reader,
                                                                           od_query):
    _, od = start_opendata()
    events = topic_reader("opendata.events.v1")
    token = staff_token("DPHK")
    name = f"taman-kota-{uuid.uuid4().hex[:6]}"  # the broker outlives the test: events of other runs are there too
    resp = upload(od, token, CSV_V1, name=name, title="Taman kota", tags=["taman", "ruang hijau"],
                  groups=["lingkungan"], license_id="cc-by-4.0")
    assert [(e.row_number, e.field) for e in resp.errors] == [(3, "luas_m2"), (4, "")]
    assert "expected an integer" in resp.errors[0].reason and "columns" in resp.errors[1].reason
    assert (resp.accepted_rows, resp.rejected_rows, resp.version) == (3, 2, 1)
    assert {f.id: f.type for f in resp.fields} == {"nama_taman": "text", "kecamatan": "text", "luas_m2": "int",
                                                    "dibuka": "date", "lat": "numeric", "lon": "numeric", "kontak": "text"}
    ds = resp.dataset
    assert ds.organization.name == "dphk" and ds.record_count == 3 and ds.source == "upload"
    assert [r.format for r in ds.resources] == ["CSV", "GeoJSON"] and ds.spatial

    records, r = od_query(od, name, sort="luas_m2 desc")
    assert [x["nama_taman"] for x in records] == ["Taman Cattleya", "Taman Suropati", "Taman Ayodya"]
    assert r.total == 3 and "[phone]" in records[1]["kontak"] and records[2]["kontak"] == "[email]"

    v2 = upload(od, token, "Nama Taman,Luas (m2)\nTaman Baru,500\n", name=name, version_note="update")
    assert v2.version == 2 and v2.rejected_rows == 0 and [v.number for v in v2.dataset.versions] == [1, 2]
    assert od_query(od, name)[1].total == 1
    assert od_query(od, name, version=1)[1].total == 3

    published = events.wait_for(lambda rs: len([m for m in rs if json.loads(m.value()).get("name") == name]) >= 2)
    mine = [json.loads(m.value()) for m in published if json.loads(m.value()).get("name") == name]
    assert [(e["version"], e["record_count"], e["rejected_count"], e["actor"]) for e in mine] == [
        (1, 3, 2, "staff:DPHK"), (2, 1, 0, "staff:DPHK")]

    only_report = upload(od, token, CSV_V1, name="taman-uji", validate_only=True)
    assert only_report.rejected_rows == 2 and not only_report.HasField("dataset")
    with pytest.raises(grpc.RpcError) as err:
        od.GetDataset(pb.GetDatasetRequest(id="taman-uji"), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_upload_needs_the_organizations_staff_token_and_valid_input(start_opendata, staff_token):
    _, od = start_opendata()
    with pytest.raises(grpc.RpcError) as err:
        upload(od, None, CSV_V1, name="taman-x")
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as err:
        upload(od, staff_token("DLH"), CSV_V1, name="taman-x", organization="DSDA")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        upload(od, staff_token("DLH"), CSV_V1, name="pengaduan-warga")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:
        upload(od, staff_token("DLH"), "", name="Bad Name!", license_id="proprietary", groups=["nope"])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(err.value)} == {"name", "csv", "license_id"}


def test_catalogue_search_exports_and_errors(start_opendata, staff_token, od_query):
    proc, od = start_opendata()
    upload(od, staff_token("DPHK"), CSV_V1, name="taman-kota", tags=["taman"], groups=["lingkungan"])
    names = od.ListDatasets(pb.ListDatasetsRequest(), timeout=5).names
    assert {"pengaduan-warga", "kualitas-udara-ispu-per-jam", "taman-kota"} <= set(names)
    found = od.SearchDatasets(pb.SearchDatasetsRequest(fq="organization:dphk", facet_fields=["tags", "groups"]), timeout=5)
    assert found.count == 1 and found.results[0].name == "taman-kota"
    assert {f.field for f in found.facets} == {"tags", "groups"}
    page = od.SearchDatasets(pb.SearchDatasetsRequest(q="*:*", rows=2, start=1, sort="name asc"), timeout=5)
    assert page.count == len(names) and [d.name for d in page.results] == sorted(names)[1:3]
    org = od.GetOrganization(pb.GetOrganizationRequest(id="dphk", include_datasets=True), timeout=5)
    assert org.organization.package_count == 1 and org.datasets[0].name == "taman-kota"
    assert "taman" in od.ListTags(pb.ListTagsRequest(), timeout=5).tags
    assert "lingkungan" in [g.name for g in od.ListGroups(pb.ListGroupsRequest(), timeout=5).groups]
    ds = od.GetDataset(pb.GetDatasetRequest(id="taman-kota"), timeout=5).dataset
    res = od.GetResource(pb.GetResourceRequest(id=ds.resources[1].id), timeout=5).resource
    assert res.format == "GeoJSON" and res.package_id == ds.id

    records, r = od_query(od, ds.resources[0].id, {"kecamatan": ["Menteng", "Palmerah"]}, q="taman", sort="nama_taman",
                          limit=1, offset=1, fields=["nama_taman"])
    assert r.total == 2 and records == [{"_id": records[0]["_id"], "nama_taman": "Taman Suropati"}]
    assert [f.id for f in r.fields] == ["_id", "nama_taman"]

    csv_body = b"".join(m.chunk for m in od.ExportDataset(pb.ExportDatasetRequest(id="taman-kota"), timeout=10)).decode()
    assert csv_body.splitlines()[0] == "_id,nama_taman,kecamatan,luas_m2,dibuka,lat,lon,kontak"
    assert len(csv_body.splitlines()) == 4
    chunks = list(od.ExportDataset(pb.ExportDatasetRequest(id=ds.resources[1].id), timeout=10))
    assert chunks[0].content_type == "application/geo+json" and chunks[0].filename == "taman-kota.geojson"
    geo = json.loads(b"".join(m.chunk for m in chunks))
    assert len(geo["features"]) == 3 and geo["features"][0]["geometry"]["type"] == "Point"

    dcat = json.loads(od.GetCatalog(pb.GetCatalogRequest(base_url="https://data.kota.test"), timeout=5).jsonld)
    assert dcat["@type"] == "dcat:Catalog"
    taman = next(d for d in dcat["dcat:dataset"] if d["@id"].endswith("/taman-kota"))
    assert taman["dcat:distribution"][0]["dcat:downloadURL"]["@id"].startswith("https://data.kota.test/dataset/taman-kota/")
    status = od.GetStatus(pb.GetStatusRequest(), timeout=5)
    assert status.dataset_count == len(names) and "datastore" in status.extensions

    with pytest.raises(grpc.RpcError) as err:
        od_query(od, "taman-kota", {"luas_m2": "big", "warna": "hijau"}, sort="luas_m2 up", limit=-1)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(err.value)} == {"filters.luas_m2", "filters.warna", "sort", "limit"}
    with pytest.raises(grpc.RpcError) as err:
        od_query(od, "no-such-dataset")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        od.SearchDatasets(pb.SearchDatasetsRequest(fq="colour:red"), timeout=5)
    assert dict(field_violations(err.value)).keys() == {"fq"}
    with pytest.raises(grpc.RpcError) as err:
        list(od.ExportDataset(pb.ExportDatasetRequest(id="pengaduan-warga-harian", format=pb.EXPORT_FORMAT_GEOJSON),
                              timeout=5))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    with grpc.insecure_channel(proc.address) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="kota.opendata.v1.OpenDataService"), timeout=5)
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        responses = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        services = {s.name for r in responses for s in r.list_services_response.service}
    assert {"kota.opendata.v1.OpenDataService", "grpc.health.v1.Health"} <= services


def test_watch_streams_dataset_changes(start_opendata, staff_token):
    _, od = start_opendata()
    upload(od, staff_token("DPHK"), "a,b\n1,2\n", name="taman-watch")
    known = len(od.ListDatasets(pb.ListDatasetsRequest(), timeout=5).names)
    stream = od.WatchDatasets(pb.WatchDatasetsRequest(send_initial=True), timeout=60)
    initial = [next(stream) for _ in range(known)]
    assert {c.change for c in initial} == {pb.DATASET_CHANGE_CURRENT}
    assert ("taman-watch", 1, 1) in [(c.name, c.version, c.record_count) for c in initial]
    # Datasets built from other tests' events (the broker is shared) may change meanwhile: look at ours only.
    ours = lambda name: next(c for c in stream if c.name == name)  # noqa: E731
    upload(od, staff_token("DPHK"), "a,b\n1,2\n3,4\n", name="taman-watch")
    change = ours("taman-watch")
    assert (change.name, change.change, change.version, change.record_count) == (
        "taman-watch", pb.DATASET_CHANGE_VERSION_PUBLISHED, 2, 2)
    upload(od, staff_token("DPHK"), "a\n1\n", name="taman-watch-2")
    change = ours("taman-watch-2")
    assert (change.name, change.change, change.version) == ("taman-watch-2", pb.DATASET_CHANGE_CREATED, 1)
    stream.cancel()
