"""Inter-city collaboration in the gateway: /api/v1/collab over a real collab service (its own process, real gRPC,
seeded with Jakarta's partners by its demo and a few records of the test's own) and the portal's "Kerja sama kota"
page in Chromium, drawn without the internet."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlparse

import grpc
import pytest

from kota.collab.v1 import collab_pb2 as pb
from kota.collab.v1 import collab_pb2_grpc as pb_grpc
from kota_common.auth import issue_token
from kota_common.settings import CommonSettings
from kota_common.testing import ServiceProcess, free_port
from kota_gateway.testing import start_gateway

pytestmark = pytest.mark.integration
API = "/api/v1/collab"
ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts" / "gateway"
# what the public API must never show: who granted or revoked an agreement and why, a partner's endpoint
PRIVATE_KEYS = {"granted_by", "revoked_by", "revoke_reason", "endpoint", "granted_at", "revoked_at"}


class Seeded:
    def __init__(self, base_url: str, collab_address: str):
        self.base_url, self.collab_address = base_url, collab_address
        self.ids: dict[str, str] = {}


def _seed(address: str) -> dict[str, str]:
    """Jakarta's partners (the service's demo), then what the demo has no dates for, with dates of the test's own:
    a workshop with Seoul, Makassar as a second Kota city with a proposal, agreements with Tokyo (one revoked)."""
    from kota_collab import demo

    demo.seed(address)
    admin = [("authorization", f"Bearer {issue_token(CommonSettings().auth_secret, 'uji', 'KSD', ['admin'])}")]
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.CollabServiceStub(channel)
        partnerships = stub.ListPartnerships(pb.ListPartnershipsRequest(), metadata=admin, timeout=10).partnerships
        ids = {p.parties[1].city_id: p.id for p in partnerships if len(p.parties) == 2 and p.kind == pb.PARTNERSHIP_KIND_SISTER_CITY}
        ids["tokyo-tech"] = next(p.id for p in partnerships if p.kind == pb.PARTNERSHIP_KIND_TECHNICAL_COOPERATION
                                 and any(x.city_id == "tokyo" for x in p.parties))
        stub.RecordActivity(pb.RecordActivityRequest(
            partnership_id=ids["seoul"], kind=pb.ACTIVITY_KIND_WORKSHOP, title="Lokakarya transportasi cerdas Seoul",
            starts_on="2024-05-20", ends_on="2024-05-22", participants=35, outcomes="Rencana uji coba bus listrik"),
            metadata=admin, timeout=10)
        stub.RecordActivity(pb.RecordActivityRequest(
            partnership_id=ids["berlin"], kind=pb.ACTIVITY_KIND_SHARED_SOLUTION, title="Berbagi sistem pengaduan warga"),
            metadata=admin, timeout=10)
        granted = stub.GrantAgreement(pb.GrantAgreementRequest(
            partnership_id=ids["tokyo-tech"], city_id="tokyo", dataset_ids=["kualitas-udara-ispu"],
            streams=["air-quality-alerts"], valid_until="2099-12-31"), metadata=admin, timeout=10).agreement
        revoked = stub.GrantAgreement(pb.GrantAgreementRequest(
            partnership_id=ids["tokyo-tech"], city_id="tokyo", streams=["flood-alerts"]), metadata=admin, timeout=10).agreement
        stub.RevokeAgreement(pb.RevokeAgreementRequest(id=revoked.id, reason="alasan internal petugas"), metadata=admin,
                             timeout=10)
        ids["granted"], ids["revoked"] = granted.id, revoked.id
    return ids


@pytest.fixture(scope="module")
def collab(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gateway-collab")
    address = f"127.0.0.1:{free_port()}"
    service = ServiceProcess("kota_collab", {
        "KOTA_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "KOTA_COLLAB_DATABASE_URL": f"sqlite:///{tmp / 'collab.db'}",
        "KOTA_COLLAB_GRPC_ADDRESS": address,
        "KOTA_COLLAB_FEDERATION_ADDRESS": f"127.0.0.1:{free_port()}",
        "KOTA_COLLAB_TLS_DIR": str(tmp / "no-certs"),
        "KOTA_COLLAB_CATALOGUE_INTERVAL_S": "0",
        "KOTA_COLLAB_OPENDATA_ADDRESS": f"127.0.0.1:{free_port()}",
    }, address, tmp / "collab.log").start()
    gateway = None
    try:
        ids = _seed(address)
        gateway = start_gateway(tmp, stack.complaints_address, stack.kafka_bootstrap, name="gateway-collab",
                                health_path="/readyz", KOTA_GATEWAY_COLLAB_ADDRESS=address)
        seeded = Seeded(gateway.base_url, address)
        seeded.ids = ids
        yield seeded
    finally:
        if gateway:
            gateway.stop()
        service.stop()


@pytest.fixture
def api(collab):
    import httpx

    with httpx.Client(base_url=collab.base_url, timeout=30) as c:
        yield c


def keys_in(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_in(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_in(v)}
    return set()


def test_the_map_has_this_city_and_every_partner_where_it_is_with_its_partnerships(api):
    cities = api.get(f"{API}/cities").json()
    by_id = {c["id"]: c for c in cities}
    assert len(cities) == 35 and all(c["lat"] is not None and c["lon"] is not None for c in cities)
    jakarta = by_id["jakarta"]
    assert jakarta["home"] and (round(jakarta["lat"], 1), round(jakarta["lon"], 1)) == (-6.2, 106.8)
    assert len(jakarta["partnerships"]) == 11  # a party to every one
    seoul = by_id["seoul"]
    assert (seoul["lat"], seoul["lon"], seoul["country"], seoul["home"]) == (37.5665, 126.978, "KR", False)
    assert [(p["kind"], p["status"]) for p in seoul["partnerships"]] == [("sister_city", "active")]
    assert sorted(p["kind"] for p in by_id["tokyo"]["partnerships"]) == ["sister_city", "technical_cooperation"]
    assert not keys_in(cities) & PRIVATE_KEYS
    ascn = api.get(f"{API}/cities", params={"ascn_member": "true"}).json()
    assert len(ascn) == 26 and all(c["ascn_member"] for c in ascn)
    assert [c["id"] for c in api.get(f"{API}/cities", params={"country": "JP"}).json()] == ["tokyo"]


def test_partnerships_carry_their_state_history_and_parties_by_name(api, collab):
    sisters = api.get(f"{API}/partnerships", params={"kind": "sister_city"}).json()
    assert len(sisters) == 6 and {p["status"] for p in sisters} == {"active"}
    first = next(p for p in sisters if p["id"] == collab.ids["jeddah"])
    assert [(h["seq"], h["status"], h["city_id"], h["actor"]) for h in first["history"]] == [(1, "active", "jakarta", "admin")]
    assert first["history"][0]["note"] == "Jakarta's first sister city; ties since 1979"
    assert first["signed_on"] is None and first["scope"] == "foreign"  # no invented dates
    assert [x["city_name"] for x in first["parties"]] == ["Provinsi DKI Jakarta", "Jeddah"]
    of_tokyo = api.get(f"{API}/partnerships", params={"city_id": "tokyo", "status": "active"}).json()
    assert {p["kind"] for p in of_tokyo} == {"sister_city", "technical_cooperation"}
    detail = api.get(f"{API}/partnerships/{collab.ids['tokyo-tech']}").json()
    assert [(a["state"], a["streams"]) for a in detail["agreements"]] == [
        ("in_force", ["air-quality-alerts"]), ("revoked", ["flood-alerts"])]
    assert not keys_in(detail) & PRIVATE_KEYS and "alasan internal" not in str(detail)


def test_the_agreements_summary_says_what_partners_may_read_and_nothing_secret(api, collab):
    summary = api.get(f"{API}/agreements").json()
    assert (summary["in_force"], summary["expired"], summary["revoked"]) == (1, 0, 1)
    granted = next(a for a in summary["agreements"] if a["id"] == collab.ids["granted"])
    assert (granted["city_id"], granted["dataset_ids"], granted["valid_until"]) == ("tokyo", ["kualitas-udara-ispu"], "2099-12-31")
    assert len(granted["granted_on"]) == 10
    assert not keys_in(summary) & PRIVATE_KEYS and "alasan internal" not in str(summary)
    assert api.get(f"{API}/agreements", params={"city_id": "seoul"}).json()["agreements"] == []


def test_the_timeline_lists_activities_as_they_happened_with_their_partnership_and_cities(api, collab):
    timeline = api.get(f"{API}/activities").json()
    assert [(a["title"], a["starts_on"]) for a in timeline] == [
        ("Kunjungan virtual delegasi Kalimantan Utara ke Jakarta Smart City", "2022-03-17"),
        ("Lokakarya transportasi cerdas Seoul", "2024-05-20"),
        ("Berbagi sistem pengaduan warga", None)]  # undated last
    seoul = timeline[1]
    assert (seoul["kind"], seoul["participants"], seoul["partnership"]["id"]) == ("workshop", 35, collab.ids["seoul"])
    assert [c["name"] for c in seoul["cities"]] == ["Provinsi DKI Jakarta", "Seoul"]
    assert [a["title"] for a in api.get(f"{API}/activities", params={"city_id": "seoul"}).json()] == [
        "Lokakarya transportasi cerdas Seoul"]
    assert [a["kind"] for a in api.get(f"{API}/activities", params={"kind": "visit_virtual"}).json()] == ["visit_virtual"]


@pytest.mark.parametrize("path, params", [
    ("/cities", {"country": "jp"}),
    ("/cities", {"ascn_member": "mungkin"}),
    ("/partnerships", {"city_id": "Bad City"}),
    ("/partnerships", {"kind": "twin_town"}),
    ("/partnerships", {"status": "pending"}),
    ("/activities", {"kind": "party"}),
    ("/activities", {"partnership_id": "x" * 65}),
    ("/agreements", {"partnership_id": "a/b"}),
])
def test_bad_query_parameters_are_refused_naming_the_parameter(api, path, params):
    response = api.get(API + path, params=params)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["query", next(iter(params))]]


def test_unknown_partnerships_and_cities_are_404_with_the_field(api):
    response = api.get(f"{API}/partnerships/{uuid.uuid4()}")
    assert response.status_code == 404 and response.json()["errors"] == [{"field": "id", "description": "not found"}]
    response = api.get(f"{API}/activities", params={"city_id": "atlantis"})
    assert response.status_code == 404 and response.json()["errors"] == [{"field": "city_id", "description": "not found"}]
    response = api.get(f"{API}/agreements", params={"city_id": "atlantis"})
    assert response.status_code == 404, response.text


def test_without_the_collab_service_the_api_answers_503(client):
    """The session's gateway is told of no collab service (kota_gateway.testing points it nowhere)."""
    response = client.get(f"{API}/cities")
    assert response.status_code == 503 and "collab" in response.json()["detail"]
    assert response.headers["retry-after"]


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_server_errors_from_the_collab_api(collab, mode):
    """As test_openapi_fuzz.py does for the rest of the gateway: schemathesis's valid and invalid requests for every
    collab operation; none may answer 5xx."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(collab.base_url + "/openapi.json")
    operations = [op for op in (r.ok() for r in schema.get_all_operations()) if op.path.startswith(API)]
    assert len(operations) == 5
    session = requests.Session()

    def make_check(op):
        @settings(max_examples=15, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(GenerationMode(mode)))
        def check(case):
            response = case.call(base_url=collab.base_url, session=session, timeout=60)
            assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"

        return check

    for op in operations:
        try:
            make_check(op)()
        except Unsatisfiable:
            continue


def test_the_page_shows_partner_cities_on_an_offline_world_map_and_the_timeline(collab, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1300, "height": 1100})
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    gateway_host = urlparse(collab.base_url).netloc

    def only_the_gateway(route):
        if urlparse(route.request.url).netloc != gateway_host:
            outside.append(route.request.url)
            return route.abort()
        return route.continue_()

    page.route("**/*", only_the_gateway)  # nothing from the internet: a tile or CDN request would be recorded
    page.goto(collab.base_url + "/#/kerjasama")
    assert page.locator("nav a[href='#/kerjasama']").inner_text() == "Kerja sama kota"

    def wait(condition: str) -> None:
        """Waits for `condition` (JavaScript); on timeout fails with what the page showed."""
        try:
            page.wait_for_function(condition, timeout=30_000)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "collab-failure.png"), full_page=True)
            shown = page.evaluate("({flash: document.getElementById('flash').textContent, "
                                  "markers: document.querySelectorAll('#kk-map path.kk-marker').length, "
                                  "paths: document.querySelectorAll('#kk-map path').length, "
                                  "count: document.getElementById('kk-count').textContent})")
            raise AssertionError(f"{condition} did not become true; the page showed {shown}, errors {errors}, "
                                 f"requests refused {outside}") from None

    wait("document.querySelectorAll('#kk-map path.kk-marker').length === 35")
    # the world's outline is drawn (Natural Earth, vendored): far more country shapes than markers
    wait("document.querySelectorAll('#kk-map path:not(.kk-marker):not(.kk-link)').length > 150")
    assert page.locator("#kk-map path.kk-home").count() == 1
    assert page.locator("#kk-map path.kk-city-seoul").count() == 1
    page.locator("#kk-map path.kk-city-seoul").click(force=True)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "Seoul" in popup.inner_text() and "Aktif" in popup.inner_text()

    timeline = page.locator("#kk-timeline li.kk-activity")
    timeline.first.wait_for()
    texts = timeline.all_inner_texts()
    assert len(texts) == 3
    assert "17 Maret 2022" in texts[0] and "Kunjungan virtual" in texts[0]
    assert "Lokakarya transportasi cerdas Seoul" in texts[1] and "35 peserta" in texts[1]
    assert "Tanggal belum dicatat" in texts[2]
    assert "1 berlaku" in page.inner_text("#kk-agreements-summary")
    assert page.locator("#kk-partnerships tr").count() == 11
    page.screenshot(path=str(ARTIFACTS / "collab-01-map-timeline.png"), full_page=True)

    # ASCN members only: the sister cities outside ASEAN leave the map
    page.check("#kk-ascn")
    wait("document.querySelectorAll('#kk-map path.kk-marker').length === 26")
    assert page.locator("#kk-map path.kk-city-berlin").count() == 0

    # a partnership's own page: parties, history, agreements in summary
    page.click(f"#kk-partnerships tr[data-id='{collab.ids['tokyo-tech']}'] a")
    page.wait_for_selector("#kk-detail:not([hidden]) #kk-d-history li")
    assert "Tokyo" in page.inner_text("#kk-d-parties")
    assert page.locator("#kk-d-agreements li[data-state='revoked']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "collab-02-partnership.png"), full_page=True)
    assert outside == [] and errors == []
    context.close()
