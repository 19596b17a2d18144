"""A national portal harvesting this one as ckanext-harvest's CKAN harvester does, against a real gateway and
opendata service (SQLite and PostgreSQL): the first run pages package_search by start/rows with `sort=id asc`;
after datasets change, the next run asks only for `fq=metadata_modified:[<last run> TO *]` and must find
exactly the changed datasets."""

import uuid
from datetime import datetime, timezone

import grpc
import httpx
import pytest

from kota.opendata.v1 import opendata_pb2 as pb
from kota.opendata.v1 import opendata_pb2_grpc as pb_grpc
from kota_common.testing import ServiceProcess, free_port
from kota_gateway.testing import start_gateway

pytestmark = pytest.mark.integration


@pytest.fixture
def harvested(database_url, kafka_bootstrap, tmp_path):
    """(gateway base URL, opendata stub): opendata consumes no events, so only the test's uploads change it."""
    address = f"127.0.0.1:{free_port()}"
    opendata = ServiceProcess("kota_opendata", {
        "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap, "KOTA_OPENDATA_DATABASE_URL": database_url,
        "KOTA_OPENDATA_GRPC_ADDRESS": address, "KOTA_OPENDATA_CONSUME_EVENTS": "false",
        "KOTA_OPENDATA_CONSUMER_GROUP": f"test-od-{uuid.uuid4().hex[:8]}"}, address, tmp_path / "opendata.log").start()
    gateway = None
    try:
        gateway = start_gateway(tmp_path, f"127.0.0.1:{free_port()}", kafka_bootstrap, name="gateway-harvest",
                                KOTA_GATEWAY_OPENDATA_ADDRESS=address)
        with grpc.insecure_channel(address) as channel:
            yield gateway.base_url, pb_grpc.OpenDataServiceStub(channel)
    finally:
        if gateway:
            gateway.stop()
        opendata.stop()


def search_for_datasets(base_url: str, fq_terms: list[str], rows: int) -> list[dict]:
    """ckanext-harvest's CKANHarvester._search_for_datasets: page by start/rows sorted by id until a page comes back
    empty, dropping a dataset seen twice (datasets added while paging shift the pages)."""
    params = {"rows": str(rows), "start": "0", "sort": "id asc"}
    if fq_terms:
        params["fq"] = " ".join(fq_terms)
    found, seen = [], set()
    with httpx.Client(base_url=base_url, timeout=30) as http:
        while True:
            reply = http.get("/api/3/action/package_search", params=params)
            assert reply.status_code == 200, reply.text
            page = reply.json()["result"]["results"]
            if not page:
                return found
            for package in page:
                if package["id"] not in seen:
                    seen.add(package["id"])
                    found.append(package)
            params["start"] = str(int(params["start"]) + int(params["rows"]))


def upload(stub, token, name, csv, **kw):
    return stub.UploadDataset(pb.UploadDatasetRequest(name=name, csv=csv.encode(), **kw),
                              metadata=[("authorization", f"Bearer {token}")], timeout=30)


def since(moment: datetime) -> str:
    # the harvester writes (gather_started - 1 hour).isoformat() + "Z"; here the last run's own start
    last_run = moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
    return f"metadata_modified:[{last_run}Z TO *]"


def test_a_ckan_harvester_gets_everything_first_then_exactly_what_changed(harvested, staff_token):
    base_url, od = harvested
    parks, markets, rivers = (f"{kind}-{uuid.uuid4().hex[:6]}" for kind in ("taman", "pasar", "sungai"))
    upload(od, staff_token("DPHK"), parks, "Nama,Luas\nSuropati,16322\nMenteng,3000\n", title="Taman kota")
    upload(od, staff_token("DPHK"), markets, "Nama,Kios\nTanah Abang,3000\n", title="Pasar")

    first_run = datetime.now(timezone.utc)
    everything = search_for_datasets(base_url, [], rows=3)
    with httpx.Client(base_url=base_url, timeout=30) as http:
        names = http.get("/api/3/action/package_list").json()["result"]
    assert sorted(p["name"] for p in everything) == sorted(names) and len(names) >= 10
    assert [p["id"] for p in everything] == sorted(p["id"] for p in everything)  # one pass in id order, none twice

    upload(od, staff_token("DPHK"), parks, "Nama,Luas\nSuropati,16322\n", version_note="Menteng moved")
    upload(od, staff_token("DSDA"), rivers, "Nama,Panjang\nCiliwung,119\n", title="Sungai")

    changed = search_for_datasets(base_url, [since(first_run)], rows=3)
    assert sorted(p["name"] for p in changed) == sorted([parks, rivers])
    assert {p["name"]: p["version"] for p in changed}[parks] == "2"
    # the harvester's organization filters, joined to the date filter as it joins them
    assert [p["name"] for p in search_for_datasets(base_url, ["-organization:dsda", since(first_run)], 100)] == [parks]
    only = search_for_datasets(base_url, ["organization:dsda OR organization:dlh", since(first_run)], 100)
    assert [p["name"] for p in only] == [rivers]
    # a run right after finds nothing new
    assert search_for_datasets(base_url, [since(datetime.now(timezone.utc))], 100) == []
