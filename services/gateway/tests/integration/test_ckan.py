"""CKAN Action API, DCAT and downloads through the gateway, driven by the real ckanapi client (unmodified),
against the opendata service as a process fed by the complaints service's events."""

import csv
import io
import time

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ckan_stack(full_stack):
    return full_stack.base_url


@pytest.fixture(scope="module")
def ckan(ckan_stack):
    import ckanapi

    with ckanapi.RemoteCKAN(ckan_stack, user_agent="kota-tests") as remote:
        yield remote


def test_catalogue_actions_with_ckanapi(ckan):
    status = ckan.action.status_show()
    assert status["ckan_version"] and status["site_title"]
    names = ckan.action.package_list()
    assert "pengaduan-warga" in names and names == sorted(names)

    found = ckan.action.package_search(q="pengaduan", rows=5, **{"facet.field": ["organization", "tags"]})
    assert found["count"] >= 1 and any(p["name"] == "pengaduan-warga" for p in found["results"])
    assert "organization" in found["search_facets"] and "organization" in found["facets"]
    assert ckan.action.package_search(q="*:*", rows=1)["count"] == len(names)

    package = ckan.action.package_show(id="pengaduan-warga")
    assert package["name"] == "pengaduan-warga" and package["organization"]["name"]
    formats = {r["format"] for r in package["resources"]}
    assert "CSV" in formats
    datastore = next(r for r in package["resources"] if r["datastore_active"])
    assert ckan.action.resource_show(id=datastore["id"])["package_id"] == package["id"]

    orgs = ckan.action.organization_list()
    assert package["organization"]["name"] in orgs
    detailed = ckan.action.organization_list(all_fields=True)
    assert all("title" in o and "package_count" in o for o in detailed)
    org = ckan.action.organization_show(id=package["organization"]["name"], include_datasets=True)
    assert "pengaduan-warga" in [p["name"] for p in org["packages"]]
    assert ckan.action.group_list() and all(isinstance(g, str) for g in ckan.action.group_list())
    assert ckan.action.tag_list()


def test_datastore_search_sees_a_new_complaint(ckan, ckan_stack):
    with httpx.Client(base_url=ckan_stack, timeout=30) as c:
        created = c.post("/api/v1/complaints", json={"service_code": "waste", "description": "Sampah untuk data terbuka",
                                                      "kelurahan_code": "31.72.01.1001", "anonymous": True}).json()
    cid = created["id"]
    deadline = time.monotonic() + 60
    result = {}
    while time.monotonic() < deadline:
        result = ckan.action.datastore_search(resource_id="pengaduan-warga", filters={"complaint_id": cid})
        if result["records"]:
            break
        time.sleep(0.5)
    assert result["records"] and result["records"][0]["complaint_id"] == cid
    assert result["total"] == 1 and result["fields"][0]["id"] == "_id"

    # the CSV download has it too
    with httpx.Client(base_url=ckan_stack, timeout=30) as c:
        r = c.get("/dataset/pengaduan-warga/download/pengaduan-warga.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert cid in {row["complaint_id"] for row in rows}
        geo = c.get("/dataset/pengaduan-warga/download/pengaduan-warga.geojson")
        assert geo.status_code == 200 and geo.json()["type"] == "FeatureCollection"


def test_errors_in_ckan_format(ckan, ckan_stack):
    import ckanapi

    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="no-such-dataset")
    with pytest.raises(ckanapi.NotFound):
        ckan.action.resource_show(id="no-such-resource")
    with pytest.raises(ckanapi.ValidationError) as err:
        ckan.action.datastore_search(resource_id="pengaduan-warga", sort="no_such_field desc")
    assert "sort" in err.value.error_dict
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.package_show()
    with pytest.raises(ckanapi.CKANAPIError):
        ckan.action.package_destroy(id="pengaduan-warga")

    with httpx.Client(base_url=ckan_stack, timeout=30) as c:
        for prefix in ("/api/3/action", "/api/action"):
            r = c.get(f"{prefix}/package_show", params={"id": "no-such-dataset"})
            assert r.status_code == 404
            body = r.json()
            assert body["success"] is False and body["error"]["__type"] == "Not Found Error"
            ok = c.get(f"{prefix}/package_list").json()
            assert ok["success"] is True and "pengaduan-warga" in ok["result"]
        r = c.post("/api/3/action/package_search", content=b"[1,2]", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["success"] is False
        r = c.get("/api/3/action/package_search", params={"rows": "many"})
        assert r.status_code == 409 and r.json()["error"]["rows"]
        assert c.get("/dataset/no-such-dataset/download/x.csv").status_code == 404


def test_dcat_catalogue(ckan_stack):
    with httpx.Client(base_url=ckan_stack, timeout=30) as c:
        r = c.get("/catalog.jsonld")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    doc = r.json()
    assert "dcat" in doc["@context"] and "Catalog" in str(doc.get("@type"))
    assert "pengaduan-warga" in r.text
