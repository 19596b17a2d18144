"""e-Musrenbang through the gateway: /api/v1/musrenbang and the portal's Musrenbang pages in Chromium, over a gateway
process and a real musrenbang service. The service's components run in this process (as in
services/musrenbang/tests/integration/test_cycle.py) so that the tests move its clock through the cycle's stages;
gRPC over a socket, the real broker, a SQLite database (the gateway owns no data)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from kota_common.auth import issue_token
from kota_common.settings import CommonSettings
from kota_common.testing import free_port
from kota_gateway.testing import start_gateway

pytestmark = pytest.mark.integration

API = "/api/v1/musrenbang"
GAMBIR = "31.71.01.1001"  # kelurahan Gambir, kecamatan Gambir (31.71.01)
KEBON_KELAPA = "31.71.01.1005"
SENEN = "31.71.04.1001"  # kelurahan Senen, kecamatan Senen (31.71.04): the full cycle's own kecamatan


def nik(serial: int, kecamatan: str = "317101") -> str:
    """A well-formed NIK of the kecamatan (born 12 January 1990; the serial makes it one person's)."""
    return f"{kecamatan}120190{serial:04d}"


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Musrenbang:
    """The gateway's base URL, the service's clock and cycle, and staff tokens."""

    def __init__(self, base_url: str, clock: Clock, cycle, secret: str, gateway):
        self.base_url, self.clock, self.cycle, self.secret, self.gateway = base_url, clock, cycle, secret, gateway

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60)

    def token(self, role: str, area: str = "", agency: str = "") -> dict:
        return {"authorization": f"Bearer {issue_token(self.secret, f'uji-{role}', agency, [role], area=area)}"}

    def enter(self, level: str) -> None:
        """Moves the service's clock an hour into a stage."""
        window = next(s for s in self.cycle.stages if s.level.value == level)
        self.clock.now = window.opens + timedelta(hours=1)


@pytest.fixture(scope="module")
def mb(kafka_bootstrap, tmp_path_factory):
    from kota_musrenbang.config import MusrenbangSettings
    from kota_musrenbang.domain.cycle import PlanningCycle
    from kota_musrenbang.entrypoints.app import bootstrap, context

    tmp = tmp_path_factory.mktemp("gateway-musrenbang")
    clock = Clock(datetime.now(timezone.utc).replace(microsecond=0))
    settings = MusrenbangSettings(
        database_url=f"sqlite:///{tmp / 'musrenbang.db'}", grpc_address=f"127.0.0.1:{free_port()}",
        consumer_group=f"test-gw-mb-{uuid.uuid4().hex[:8]}", consume_events=False, support_limit=3,
        common=CommonSettings(kafka_bootstrap=kafka_bootstrap),
    )
    cycle = PlanningCycle.demo(clock.now, support_limit=settings.support_limit)
    host = bootstrap(settings, ctx=context(settings, clock=clock, cycle=cycle))
    host.start()
    gateway = None
    try:
        gateway = start_gateway(tmp, f"127.0.0.1:{free_port()}", kafka_bootstrap, name="gateway-musrenbang",
                                KOTA_GATEWAY_MUSRENBANG_ADDRESS=settings.grpc_address)
        yield Musrenbang(gateway.base_url, clock, cycle, settings.common.auth_secret, gateway)
    finally:
        if gateway:
            gateway.stop()
        host.stop()


@pytest.fixture
def api(mb):
    mb.enter("kelurahan")  # residents submit and support, the lurah verifies
    with mb.client() as c:
        yield c


def submit(api, serial: int, kelurahan: str = GAMBIR, expect: int = 201, **overrides) -> dict:
    body = {"nik": nik(serial, kelurahan[:2] + kelurahan[3:5] + kelurahan[6:8]), "title": "Rehabilitasi saluran drainase RW 05",
            "problem": "Saluran tersumbat dan dangkal; setiap hujan deras jalan tergenang setinggi 30 cm.",
            "activity_code": "DRN-01", "volume": 100, "kelurahan_code": kelurahan, "rw": "005",
            "address": "Jl. Tanah Abang II", **overrides}
    r = api.post(f"{API}/proposals", json=body)
    assert r.status_code == expect, r.text
    return r.json()


def test_the_cycle_and_the_activity_catalogue_are_public(api):
    cycle = api.get(f"{API}/cycle").json()
    assert cycle["support_limit"] == 3
    assert [s["level"] for s in cycle["stages"]] == ["rw", "kelurahan", "kecamatan", "kota", "provinsi"]
    assert [s["name"] for s in cycle["stages"] if s["open_now"]] == ["Musrenbang Kelurahan"]
    activities = {a["code"]: a for a in api.get(f"{API}/activities").json()}
    assert activities["DRN-01"]["unit_cost"] == 1_500_000 and activities["DRN-01"]["agency_code"]
    assert api.get(f"{API}/cycle", params={"year": 1999}).status_code == 404


def test_a_resident_checks_their_nik_submits_is_listed_supports_and_withdraws(api):
    check = api.post(f"{API}/check-resident", json={"nik": nik(11), "kelurahan_code": GAMBIR}).json()
    assert check == {"eligible": True, "reason": "", "supports_left": 3}
    elsewhere = api.post(f"{API}/check-resident", json={"nik": nik(11, "317102"), "kelurahan_code": GAMBIR}).json()
    assert not elsewhere["eligible"] and "kecamatan" in elsewhere["reason"]

    created = submit(api, 11, title="Lampu jalan di gang buntu RW 07", activity_code="PJU-01", volume=3,
                     lat=-6.1702, lon=106.8226)
    p = created["proposal"]
    unit_cost = {a["code"]: a["unit_cost"] for a in api.get(f"{API}/activities").json()}["PJU-01"]
    assert (p["status"], p["cost"], p["support_count"]) == ("submitted", 3 * unit_cost, 0)
    assert p["location"]["kecamatan"] == "Gambir" and (p["location"]["lat"], p["location"]["lon"]) == (-6.1702, 106.8226)
    assert [h["actor"] for h in p["history"]] == ["warga", "warga"] and nik(11) not in json.dumps(created)

    listed = api.get(f"{API}/proposals", params={"kelurahan_code": GAMBIR, "q": "gang buntu", "page_size": 5}).json()
    assert p["id"] in [x["id"] for x in listed["proposals"]] and listed["total"] >= 1
    assert api.get(f"{API}/proposals/{p['id']}").json()["title"] == "Lampu jalan di gang buntu RW 07"

    supported = api.post(f"{API}/proposals/{p['id']}/support", json={"nik": nik(12)}).json()
    assert supported == {"support_count": 1, "supports_left": 2, "added": True}
    again = api.post(f"{API}/proposals/{p['id']}/support", json={"nik": nik(12)}).json()
    assert again == {"support_count": 1, "supports_left": 2, "added": False}
    withdrawn = api.request("DELETE", f"{API}/proposals/{p['id']}/support", json={"nik": nik(12)}).json()
    assert withdrawn == {"support_count": 0, "supports_left": 3, "added": None}


def test_similar_proposals_nearby_come_back_with_a_submission_and_staff_merge_them(mb, api):
    first = submit(api, 21, kelurahan=KEBON_KELAPA, title="Pengerukan saluran air Jalan Kebon Kelapa Raya")["proposal"]
    second = submit(api, 22, kelurahan=KEBON_KELAPA, title="Pengerukan saluran air di Jalan Kebon Kelapa Raya")
    assert first["id"] in [s["proposal_id"] for s in second["similar"]]
    similar = next(s for s in second["similar"] if s["proposal_id"] == first["id"])
    assert similar["similarity"] > 50 and similar["reasons"]

    duplicate = second["proposal"]["id"]
    for serial, targets in ((23, (first["id"], duplicate)), (24, (duplicate,))):
        for pid in targets:
            assert api.post(f"{API}/proposals/{pid}/support", json={"nik": nik(serial)}).status_code == 200
    merge = {"target_id": first["id"], "source_id": duplicate}
    assert api.post(f"{API}/merge", json=merge, headers=mb.token("lurah", GAMBIR)).status_code == 403  # not his kelurahan
    r = api.post(f"{API}/merge", json=merge, headers=mb.token("tim_kecamatan", "31.71.01"))
    assert r.status_code == 200, r.text
    assert r.json()["support_count"] == 2  # resident 23 once, resident 24
    folded = api.get(f"{API}/proposals/{duplicate}").json()
    assert folded["status"] == "merged" and folded["merged_into"] == first["id"]


def test_bad_input_is_answered_with_field_errors_and_never_echoes_the_nik(mb, api):
    short = "3171011201"  # ten digits
    r = api.post(f"{API}/proposals", json={"nik": short, "title": "Saluran", "problem": "x", "activity_code": "DRN-01",
                                           "volume": 1, "kelurahan_code": GAMBIR})
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["nik"]
    r = api.post(f"{API}/proposals", json={"nik": nik(31), "title": "Saluran air", "problem": "Saluran tersumbat",
                                           "activity_code": "XXX-99", "volume": 1, "kelurahan_code": GAMBIR})
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["activity_code"]
    # malformed for the gateway itself: FastAPI's details, without the values sent
    for body, field in [({"nik": nik(32), "problem": "x", "activity_code": "DRN-01", "volume": 1, "kelurahan_code": GAMBIR}, "title"),
                        ({"nik": nik(32), "title": "t", "problem": "x", "activity_code": "DRN-01", "volume": 0,
                          "kelurahan_code": GAMBIR}, "volume"),
                        ({"nik": nik(32), "title": "t", "problem": "x", "activity_code": "DRN-01", "volume": 1,
                          "kelurahan_code": GAMBIR, "lat": -6.2}, "lat"),
                        ({"nik": nik(32), "title": "t", "problem": "x", "activity_code": "DRN-01", "volume": 1,
                          "kelurahan_code": GAMBIR, "nama": "Budi"}, "nama")]:
        r = api.post(f"{API}/proposals", json=body)
        assert r.status_code == 422, r.text
        assert field in [e["loc"][-1] for e in r.json()["detail"]] and nik(32) not in r.text
    r = api.post(f"{API}/check-resident", json={"nik": nik(33), "kelurahan_code": GAMBIR, "extra": nik(33)})
    assert r.status_code == 422 and nik(33) not in r.text
    r = api.post(f"{API}/proposals/NOSUCH/support", json={"nik": "31710112019000019"})  # 17 digits
    assert r.status_code in (400, 404) and "31710112019000019" not in r.text
    assert not any(n in mb.gateway.log() for n in (nik(31), nik(32), nik(33), "31710112019000019"))


def test_refusals_pass_through_with_their_http_status(mb, api):
    r = api.post(f"{API}/proposals", json={"nik": nik(41, "317102"), "title": "Saluran air RW 05",
                                           "problem": "Saluran tersumbat setiap hujan deras", "activity_code": "DRN-01",
                                           "volume": 1, "kelurahan_code": GAMBIR})
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "nik"  # a resident of another kecamatan
    r = api.get(f"{API}/proposals/NOSUCH")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "id"

    proposals = [submit(api, 42 + i, title=f"Penerangan jalan gang nomor {i} RW 09", activity_code="PJU-01",
                        volume=2)["proposal"] for i in range(4)]
    for p in proposals[:3]:
        assert api.post(f"{API}/proposals/{p['id']}/support", json={"nik": nik(49)}).status_code == 200
    r = api.post(f"{API}/proposals/{proposals[3]['id']}/support", json={"nik": nik(49)})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "nik"  # past the cycle's support limit of 3

    target = proposals[3]["id"]
    assert api.post(f"{API}/proposals/{target}/review", json={"decision": "verify"}).status_code == 401
    r = api.post(f"{API}/proposals/{target}/review", json={"decision": "verify"},
                 headers={"authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    r = api.post(f"{API}/proposals/{target}/review", json={"decision": "verify"}, headers=mb.token("lurah", KEBON_KELAPA))
    assert r.status_code == 403  # the lurah of another kelurahan
    r = api.post(f"{API}/proposals/{target}/review", json={"decision": "reject"}, headers=mb.token("lurah", GAMBIR))
    assert r.status_code == 400 and r.json()["errors"]  # a rejection needs its reason
    r = api.post(f"{API}/proposals/{target}/review", json={"decision": "promote"}, headers=mb.token("lurah", GAMBIR))
    assert r.status_code == 422

    mb.enter("kota")  # submissions closed: the stage is named
    r = api.post(f"{API}/proposals", json={"nik": nik(50), "title": "Saluran air", "problem": "Saluran tersumbat",
                                           "activity_code": "DRN-01", "volume": 1, "kelurahan_code": GAMBIR})
    assert r.status_code == 409 and "Kelurahan" in r.json()["detail"], r.text
    r = api.post(f"{API}/selections", json={"kecamatan_code": "31.71.01", "budget": 10**9},
                 headers=mb.token("tim_kecamatan", "31.71.01"))
    assert r.status_code == 409 and "Kecamatan" in r.json()["detail"]


def test_staff_carry_a_proposal_through_the_forums_and_the_selection_to_its_realisation(mb, api):
    p = submit(api, 61, kelurahan=SENEN, title="Normalisasi saluran Jalan Kramat Bunder")["proposal"]
    other = submit(api, 62, kelurahan=SENEN, title="Pelatihan menjahit bagi ibu rumah tangga", activity_code="EKO-02",
                   volume=20)["proposal"]
    lurah = mb.token("lurah", SENEN)
    for proposal in (p, other):
        r = api.post(f"{API}/proposals/{proposal['id']}/review", json={"decision": "verify"}, headers=lurah)
        assert r.status_code == 200 and r.json()["status"] == "verified", r.text
    assert api.get(f"{API}/me", headers=lurah).json()["area"] == SENEN

    mb.enter("kecamatan")
    tim = mb.token("tim_kecamatan", "31.71.04")
    for proposal, urgency in ((p, 5), (other, 2)):
        r = api.post(f"{API}/proposals/{proposal['id']}/review", headers=tim, json={
            "decision": "assess", "assessment": {"urgency": urgency, "beneficiaries": 800, "alignment": 4}})
        assert r.status_code == 200, r.text
    assessed = r.json()
    assert {part["criterion"] for part in assessed["score"]["parts"]} == {
        "urgency", "beneficiaries", "alignment", "evidence", "supports"}
    budget = p["cost"] + 1  # room for the drain only
    r = api.post(f"{API}/selections", headers=tim, json={"kecamatan_code": "31.71.04", "budget": budget, "attendees": 41})
    assert r.status_code == 201, r.text
    selection = r.json()
    assert selection["status"] == "optimal" and selection["attendees"] == 41
    assert {d["proposal_id"]: d["selected"] for d in selection["decisions"]} == {p["id"]: True, other["id"]: False}
    assert all(d["reason"] for d in selection["decisions"])
    assert api.get(f"{API}/selections/31.71.04").json()["id"] == selection["id"]
    pdf = api.get(selection["minutes_url"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert api.get(f"{API}/selections/31.71.07").status_code == 404

    mb.enter("kota")
    agency = mb.token("agency_verifier", "31", agency=p["activity"]["agency_code"])
    assert api.post(f"{API}/proposals/{p['id']}/review", json={"decision": "verify"}, headers=agency).status_code == 200
    mb.enter("provinsi")
    bappeda = mb.token("bappeda", "31")
    assert api.post(f"{API}/proposals/{p['id']}/review", json={"decision": "accept"}, headers=bappeda).status_code == 200
    mb.clock.now += timedelta(days=30)
    r = api.post(f"{API}/proposals/{p['id']}/review", json={"decision": "start_realisation"}, headers=agency)
    assert r.status_code == 200, r.text
    r = api.post(f"{API}/proposals/{p['id']}/milestones", headers=agency, json={
        "title": "Saluran tergali 60%", "progress_percent": 60, "photo_url": "https://foto.example/1.jpg"})
    assert r.status_code == 200 and r.json()["progress_percent"] == 60, r.text
    r = api.post(f"{API}/proposals/{p['id']}/review", json={"decision": "not_realised"}, headers=agency)
    assert r.status_code == 400  # not realised needs its reason
    r = api.post(f"{API}/proposals/{p['id']}/review", json={"decision": "finish"}, headers=agency)
    assert r.status_code == 409 and "100%" in r.json()["detail"]  # not while the works are at 60%
    r = api.post(f"{API}/proposals/{p['id']}/milestones", headers=agency, json={
        "title": "Saluran selesai", "progress_percent": 100, "at": "2026-12-01T09:00:00+07:00", "note": "diserahterimakan"})
    assert r.status_code == 200 and r.json()["milestones"][-1]["at"] == "2026-12-01T02:00:00+00:00", r.text
    done = api.post(f"{API}/proposals/{p['id']}/review", json={"decision": "finish"}, headers=agency).json()
    assert done["status"] == "done" and [m["progress_percent"] for m in done["milestones"]] == [60, 100]
    assert {h["actor"].split()[0] for h in done["history"]} >= {"warga", "lurah", "tim_kecamatan", "agency_verifier",
                                                                "bappeda"}


def test_a_resident_following_a_proposal_sees_each_change_live(mb, api):
    p = submit(api, 71, title="Perbaikan saluran lingkungan RW 02")["proposal"]
    events: list[dict] = []
    opened = threading.Event()

    def follow():
        with httpx.Client(base_url=mb.base_url, timeout=30) as c, c.stream("GET", f"{API}/proposals/{p['id']}/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    opened.set()
                    if len(events) == 2:
                        return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert opened.wait(20), "no first event"
    assert events[0]["change"] == "snapshot" and events[0]["proposal"]["support_count"] == 0
    assert api.post(f"{API}/proposals/{p['id']}/support", json={"nik": nik(72)}).status_code == 200
    reader.join(10)
    assert len(events) == 2, events
    assert events[1]["proposal"]["support_count"] == 1
    assert events[1]["change"] == "kota.musrenbang.support-count-changed.v1"  # from WatchProposal, not the re-check
    assert api.get(f"{API}/proposals/NOSUCH/events").status_code == 404


def test_the_openapi_document_describes_the_musrenbang_api(api):
    doc = api.get("/openapi.json").json()
    paths = doc["paths"]
    for path, method in [("/cycle", "get"), ("/activities", "get"), ("/check-resident", "post"), ("/proposals", "get"),
                         ("/proposals", "post"), ("/proposals/{proposal_id}", "get"),
                         ("/proposals/{proposal_id}/support", "post"), ("/proposals/{proposal_id}/support", "delete"),
                         ("/proposals/{proposal_id}/events", "get"), ("/proposals/{proposal_id}/review", "post"),
                         ("/merge", "post"), ("/proposals/{proposal_id}/milestones", "post"), ("/selections", "post"),
                         ("/selections/{kecamatan_code}", "get"), ("/selections/{kecamatan_code}/berita-acara.pdf", "get")]:
        operation = paths[API + path][method]
        assert operation["summary"], (path, method)
    assert "application/pdf" in paths[f"{API}/selections/{{kecamatan_code}}/berita-acara.pdf"]["get"]["responses"]["200"]["content"]
    schemas = doc["components"]["schemas"]
    assert {"ProposalIn", "ProposalOut", "SelectionOut", "ProposalSubmittedOut", "ReviewIn"} <= set(schemas)
    assert "NIK" in schemas["ProposalIn"]["properties"]["nik"]["description"]


# -- the portal's pages, in Chromium --------------------------------------------------------------------------

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts" / "gateway"  # screenshots (Playwright makes the folder)
# `browser` is the shared fixture of tests/conftest.py (Debian's chromium driven by Playwright)


def page_of(browser, errors: list[str], **context):
    ctx = browser.new_context(viewport={"width": 1200, "height": 1000}, **context)
    ctx.route("**/tile.openstreetmap.org/**", lambda route: route.abort())  # no internet here: the map draws without tiles
    page = ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


def test_a_resident_submits_with_a_nik_sees_it_listed_supports_it_and_follows_it_live(mb, api, browser):
    errors: list[str] = []
    page = page_of(browser, errors, permissions=["geolocation"], geolocation={"latitude": -6.1545, "longitude": 106.8330})
    page.goto(mb.base_url + "/#/musrenbang")
    assert page.locator("nav a[href='#/musrenbang']").inner_text() == "Musrenbang"
    page.wait_for_function("document.getElementById('mb-cycle').textContent.includes('Musrenbang Kelurahan')")

    page.click("#mb-subnav a[data-view='ajukan']")
    page.wait_for_function("document.querySelectorAll('#mb-activity option').length > 5")
    page.select_option("#mb-kota", "31.71")
    page.select_option("#mb-kecamatan", "31.71.02")
    page.select_option("#mb-kelurahan", "31.71.02.1001")
    page.fill("#mb-nik", nik(81, "317101"))  # a resident of Gambir, not of Sawah Besar
    page.click("#mb-check")
    page.wait_for_selector("#mb-check-result[data-eligible='false']")
    assert "kecamatan" in page.inner_text("#mb-check-result")
    page.fill("#mb-nik", nik(81, "317102"))
    page.click("#mb-check")
    page.wait_for_selector("#mb-check-result[data-eligible='true']")
    assert "3 dukungan" in page.inner_text("#mb-check-result")
    page.select_option("#mb-activity", "DRN-01")
    page.fill("#mb-volume", "40")
    assert page.inner_text("#mb-cost").replace("\xa0", " ") == "Rp 60.000.000"  # 40 meter × Rp 1.500.000, live
    page.fill("#mb-title", "Saluran drainase Jalan Pasar Baru Timur")
    page.fill("#mb-problem", "Air meluap ke jalan setiap hujan deras karena saluran dangkal dan tersumbat.")
    page.fill("#mb-rw", "03")
    page.fill("#mb-address", "Jl. Pasar Baru Timur")
    page.click("#mb-geo")
    page.wait_for_function("document.getElementById('mb-lat').value !== ''")
    page.screenshot(path=str(ARTIFACTS / "mb-01-submit-form.png"), full_page=True)
    page.click("#mb-submit")
    page.wait_for_selector("#mb-submitted:not([hidden])")
    proposal_id = page.inner_text("#mb-s-id").strip()
    assert proposal_id and "60.000.000" in page.inner_text("#mb-s-cost")

    page.click("#mb-subnav a[data-view='list']")
    row = page.locator(f"#mb-list li[data-id='{proposal_id}']")
    row.wait_for()
    assert row.locator(".mb-count").inner_text() == "0"
    page.wait_for_function("document.querySelectorAll('#mb-map path.leaflet-interactive').length >= 1")  # its point
    page.screenshot(path=str(ARTIFACTS / "mb-02-list-and-map.png"), full_page=True)

    row.locator("a").click()
    page.wait_for_selector("#mb-d-status[data-status='submitted']")
    assert page.inner_text("#mb-d-title") == "Saluran drainase Jalan Pasar Baru Timur"
    assert page.inner_text("#mb-d-supports") == "0" and "60.000.000" in page.inner_text("#mb-d-cost")
    assert page.input_value("#mb-support-nik") == nik(81, "317102")  # the NIK checked a moment ago, kept in memory only
    page.fill("#mb-support-nik", nik(82, "317102"))
    page.click("#mb-support")
    page.wait_for_function("document.getElementById('mb-d-supports').textContent === '1'")
    assert "Sisa dukungan Anda: 2" in page.inner_text("#mb-support-result")
    with mb.client() as c:
        assert c.get(f"{API}/proposals/{proposal_id}").json()["support_count"] == 1
    page.click("#mb-follow")  # ikuti: every change from now on, live
    page.wait_for_selector("#mb-live.on")

    # another resident supports it elsewhere, and the lurah verifies it: the page follows without a reload
    assert api.post(f"{API}/proposals/{proposal_id}/support", json={"nik": nik(83, "317102")}).status_code == 200
    page.wait_for_function("document.getElementById('mb-d-supports').textContent === '2'", timeout=15_000)
    staff = page_of(browser, errors)
    staff.goto(mb.base_url + "/#/musrenbang/petugas")
    lurah = mb.token("lurah", "31.71.02.1001")["authorization"].removeprefix("Bearer ")
    staff.fill("#mb-staff-token", lurah)
    staff.click("#mb-staff-login button[type=submit]")
    staff_row = staff.locator(f"#mb-staff-rows tr[data-id='{proposal_id}']")
    staff_row.wait_for()
    assert "lurah" in staff.inner_text("#mb-staff-who")
    # another proposal is no musrenbang matter: refused without a reason, then with one
    other = submit(api, 84, kelurahan="31.71.02.1001", title="Pengecatan ulang pagar rumah pribadi", activity_code="JLN-02",
                   volume=5)["proposal"]
    staff.click("#mb-staff-refresh")
    other_row = staff.locator(f"#mb-staff-rows tr[data-id='{other['id']}']")
    other_row.wait_for()
    other_row.locator("button.mb-reject").click()
    staff.wait_for_selector("#flash.error")
    assert "alasan" in staff.inner_text("#flash").lower()
    other_row.locator("input.mb-reason").fill("Bukan fasilitas umum: pagar rumah pribadi")
    other_row.locator("button.mb-reject").click()
    staff.wait_for_selector("#flash.info")
    rejected = api.get(f"{API}/proposals/{other['id']}").json()
    assert rejected["status"] == "rejected" and rejected["history"][-1]["reason"] == "Bukan fasilitas umum: pagar rumah pribadi"
    staff.evaluate("document.getElementById('flash').className = ''")
    staff_row = staff.locator(f"#mb-staff-rows tr[data-id='{proposal_id}']")
    staff_row.locator("button.mb-verify").click()
    staff.wait_for_selector("#flash.info")
    staff.screenshot(path=str(ARTIFACTS / "mb-03-staff-verified.png"), full_page=True)
    page.wait_for_selector("#mb-d-status[data-status='verified']", timeout=15_000)
    assert "lurah" in page.inner_text("#mb-d-history")
    page.screenshot(path=str(ARTIFACTS / "mb-04-proposal-live.png"), full_page=True)
    assert errors == []
    for p in (page, staff):
        p.context.close()


def test_the_kecamatan_forum_runs_its_selection_and_everyone_reads_the_reasons_and_the_minutes(mb, api, browser):
    kelurahan = "31.71.03.1001"  # Kemayoran
    ids = []
    for serial, (title, activity, volume) in enumerate([("Sumur resapan di RW 01", "DRN-03", 10),
                                                        ("Pelatihan UMKM warga RW 02", "EKO-01", 30),
                                                        ("Motor sampah roda tiga untuk RW 04", "SMP-02", 2)], 91):
        p = submit(api, serial, kelurahan=kelurahan, title=title, activity_code=activity, volume=volume)["proposal"]
        verified = api.post(f"{API}/proposals/{p['id']}/review", json={"decision": "verify"}, headers=mb.token("lurah", kelurahan))
        assert verified.status_code == 200, verified.text
        ids.append(p["id"])
    mb.enter("kecamatan")
    tim = mb.token("tim_kecamatan", "31.71.03")
    for pid, urgency in zip(ids, (5, 3, 4), strict=True):
        r = api.post(f"{API}/proposals/{pid}/review", headers=tim, json={
            "decision": "assess", "assessment": {"urgency": urgency, "beneficiaries": 300, "alignment": 4}})
        assert r.status_code == 200, r.text

    errors: list[str] = []
    page = page_of(browser, errors)
    page.goto(mb.base_url + "/#/musrenbang/petugas")  # the forum's staff sign in once for the session
    page.fill("#mb-staff-token", tim["authorization"].removeprefix("Bearer "))
    page.click("#mb-staff-login button[type=submit]")
    page.wait_for_selector("#mb-staff-table:not([hidden])")
    page.click("#mb-subnav a[data-view='forum']")
    page.select_option("#mb-f-kota", "31.71")
    page.select_option("#mb-f-kecamatan", "31.71.03")
    page.click("#mb-forum-form button[type=submit]")
    page.wait_for_selector("#mb-f-empty:not([hidden])")
    assert "belum menetapkan" in page.inner_text("#mb-f-empty")
    page.fill("#mb-run-budget", "150000000")  # Rp 150 juta: not all three fit
    page.fill("#mb-run-attendees", "37")
    page.click("#mb-run")
    page.wait_for_selector("#mb-f-result:not([hidden])")
    rows = page.locator("#mb-f-rows tr")
    assert rows.count() == 3
    assert all(page.locator(f"#mb-f-rows tr[data-id='{pid}'] td.reason").inner_text() for pid in ids)
    assert page.locator("#mb-f-rows tr.selected").count() >= 1 and page.locator("#mb-f-rows tr.not-selected").count() >= 1
    assert "terbukti optimal" in page.inner_text("#mb-f-summary") and "37 peserta" in page.inner_text("#mb-f-summary")
    page.screenshot(path=str(ARTIFACTS / "mb-05-forum-selection.png"), full_page=True)
    pdf = page.request.get(mb.base_url + page.get_attribute("#mb-f-pdf", "href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    assert errors == []
    page.context.close()


# -- the forum staff's forms: merge, milestones, a selection with minimums and ceilings; English -----------------

MENTENG = "31.71.06.1001"  # kecamatan Menteng (31.71.06): the selection with a ceiling
CEMPAKA_PUTIH = "31.71.05.1001"  # kecamatan Cempaka Putih (31.71.05): the proposal in realisation
GELORA = "31.71.07.1001"  # kecamatan Tanah Abang (31.71.07): the duplicates


def resident(serial: int, kelurahan: str) -> str:
    return nik(serial, kelurahan[:2] + kelurahan[3:5] + kelurahan[6:8])


def verified(mb, api, kelurahan: str, proposals: list[tuple[int, str, str, int]]) -> list[dict]:
    """Proposals (serial, title, activity, volume) submitted in the kelurahan stage and verified by its lurah."""
    mb.enter("kelurahan")
    out = []
    for serial, title, activity, volume in proposals:
        p = submit(api, serial, kelurahan=kelurahan, title=title, activity_code=activity, volume=volume)["proposal"]
        r = api.post(f"{API}/proposals/{p['id']}/review", json={"decision": "verify"}, headers=mb.token("lurah", kelurahan))
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def assessed(mb, api, kecamatan: str, proposals: list[dict], urgencies: list[int]) -> None:
    mb.enter("kecamatan")
    for p, urgency in zip(proposals, urgencies, strict=True):
        r = api.post(f"{API}/proposals/{p['id']}/review", headers=mb.token("tim_kecamatan", kecamatan), json={
            "decision": "assess", "assessment": {"urgency": urgency, "beneficiaries": 400, "alignment": 4}})
        assert r.status_code == 200, r.text


def in_realisation(mb, api, serial: int) -> tuple[dict, dict]:
    """A drain in Cempaka Putih carried through the forums to its realisation; with its agency's token."""
    (p,) = verified(mb, api, CEMPAKA_PUTIH, [(serial, "Normalisasi saluran Jalan Cempaka Putih Tengah", "DRN-01", 30)])
    assessed(mb, api, "31.71.05", [p], [5])
    r = api.post(f"{API}/selections", headers=mb.token("tim_kecamatan", "31.71.05"),
                 json={"kecamatan_code": "31.71.05", "budget": p["cost"] * 2})
    assert r.status_code == 201, r.text
    agency = mb.token("agency_verifier", "31", agency=p["activity"]["agency_code"])
    mb.enter("kota")
    assert api.post(f"{API}/proposals/{p['id']}/review", json={"decision": "verify"}, headers=agency).status_code == 200
    mb.enter("provinsi")
    r = api.post(f"{API}/proposals/{p['id']}/review", json={"decision": "accept"}, headers=mb.token("bappeda", "31"))
    assert r.status_code == 200, r.text
    mb.clock.now += timedelta(days=30)
    r = api.post(f"{API}/proposals/{p['id']}/review", json={"decision": "start_realisation"}, headers=agency)
    assert r.status_code == 200 and r.json()["status"] == "in_realisation", r.text
    return r.json(), agency


def signed_in(browser, mb, errors: list[str], headers: dict, path: str = "/#/musrenbang/petugas"):
    """A page where a staff member has signed in with their token, as the forum's staff do."""
    page = page_of(browser, errors)
    page.goto(mb.base_url + "/#/musrenbang/petugas")
    page.fill("#mb-staff-token", headers["authorization"].removeprefix("Bearer "))
    page.click("#mb-staff-login button[type=submit]")
    page.wait_for_selector("#mb-staff-table:not([hidden])")
    if path != "/#/musrenbang/petugas":
        page.goto(mb.base_url + path)
    return page


def test_staff_actions_refuse_bad_input_with_the_portals_errors(mb, api):
    tim = mb.token("tim_kecamatan", "31.71.07")
    a, b = (submit(api, serial, kelurahan=GELORA, title=f"Perbaikan trotoar Jalan Gelora blok {serial}",
                   activity_code="JLN-02", volume=10)["proposal"] for serial in (111, 112))
    # merge: the token first, then the body, then the service's refusals
    assert api.post(f"{API}/merge", json={"target_id": a["id"], "source_id": b["id"]}).status_code == 401
    for body, where in [({"target_id": a["id"], "source_id": a["id"]}, "body"),  # one proposal is no duplicate of itself
                        ({"target_id": a["id"]}, "source_id"),
                        ({"target_id": "a b/../c", "source_id": b["id"]}, "target_id"),
                        ({"target_id": a["id"], "source_id": b["id"], "keep_supports": False}, "keep_supports")]:
        r = api.post(f"{API}/merge", json=body, headers=tim)
        assert r.status_code == 422 and where in [e["loc"][-1] for e in r.json()["detail"]], (body, r.text)
    r = api.post(f"{API}/merge", json={"target_id": a["id"], "source_id": "NOSUCH"}, headers=tim)
    assert r.status_code == 404 and r.json()["errors"], r.text

    # milestones
    milestone = {"title": "Tahap pertama", "progress_percent": 30}
    assert api.post(f"{API}/proposals/{a['id']}/milestones", json=milestone).status_code == 401
    agency = mb.token("agency_verifier", "31", agency="DBM")
    for body, where in [({"title": "Tahap", "progress_percent": 101}, "progress_percent"),
                        ({"title": "", "progress_percent": 10}, "title"),
                        ({"progress_percent": 10}, "title"),
                        ({"title": "Tahap", "progress_percent": 10, "at": "kemarin"}, "at"),
                        ({"title": "Tahap", "progress_percent": 10, "nik": nik(113)}, "nik")]:
        r = api.post(f"{API}/proposals/{a['id']}/milestones", json=body, headers=agency)
        assert r.status_code == 422 and where in [e["loc"][-1] for e in r.json()["detail"]], (body, r.text)
    assert api.post(f"{API}/proposals/NOSUCH/milestones", json=milestone, headers=agency).status_code == 404
    r = api.post(f"{API}/proposals/{a['id']}/milestones", json=milestone, headers=agency)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "status", r.text  # not being built yet

    # the selection
    run = {"kecamatan_code": "31.71.07", "budget": 10**9}
    assert api.post(f"{API}/selections", json=run).status_code == 401
    for body, where in [({**run, "budget": 0}, "budget"),
                        ({**run, "kecamatan_code": "31.71"}, "kecamatan_code"),
                        ({**run, "field_minimums": {"olahraga": 5}}, "olahraga"),
                        ({**run, "field_minimums": {"ekonomi": -1}}, "ekonomi"),
                        ({**run, "agency_ceilings": {"DSDA": -5}}, "DSDA"),
                        ({**run, "agency_ceilings": {"": 5}}, "agency_ceilings"),
                        ({**run, "attendees": -1}, "attendees")]:
        r = api.post(f"{API}/selections", json=body, headers=tim)
        assert r.status_code == 422, (body, r.text)
        assert where in [str(part) for e in r.json()["detail"] for part in e["loc"]], (body, r.text)
    mb.enter("kecamatan")
    r = api.post(f"{API}/selections", json=run, headers=mb.token("lurah", GELORA))
    assert r.status_code == 403 and r.json()["errors"], r.text  # a lurah does not run the kecamatan's forum
    r = api.post(f"{API}/selections", json={**run, "kecamatan_code": "31.71.04"}, headers=tim)
    assert r.status_code == 403, r.text  # another kecamatan's team


def test_staff_merge_two_proposals_in_the_portal(mb, api, browser):
    first = submit(api, 121, kelurahan="31.71.07.1002", title="Pengerukan saluran Jalan Bendungan Hilir Raya",
                   activity_code="DRN-02", volume=200)["proposal"]
    duplicate = submit(api, 122, kelurahan="31.71.07.1002", title="Pengerukan saluran di Jalan Bendungan Hilir Raya",
                       activity_code="DRN-02", volume=180)["proposal"]
    for serial, targets in ((123, (first["id"], duplicate["id"])), (124, (duplicate["id"],))):
        for pid in targets:
            r = api.post(f"{API}/proposals/{pid}/support", json={"nik": resident(serial, "31.71.07.1002")})
            assert r.status_code == 200, r.text

    errors: list[str] = []
    page = signed_in(browser, mb, errors, mb.token("tim_kecamatan", "31.71.07"))
    page.locator(f"#mb-staff-rows tr[data-id='{duplicate['id']}']").wait_for()
    assert page.is_visible("#mb-merge-form") and page.is_visible("#mb-milestone-form")
    page.fill("#mb-merge-target", first["id"])
    page.fill("#mb-merge-source", duplicate["id"])
    page.screenshot(path=str(ARTIFACTS / "mb-06-merge-form.png"), full_page=True)
    page.click("#mb-merge")
    page.wait_for_selector("#flash.info, #flash.error")
    assert page.inner_text("#flash") == "Usulan digabung.", page.inner_text("#flash")
    page.wait_for_selector(f"#mb-merge-result[data-target='{first['id']}']")
    assert "kini 2 dukungan" in page.inner_text("#mb-merge-result")  # resident 123 once, resident 124
    page.locator(f"#mb-staff-rows tr[data-id='{duplicate['id']}']").wait_for(state="detached")  # no longer submitted
    folded = api.get(f"{API}/proposals/{duplicate['id']}").json()
    assert folded["status"] == "merged" and folded["merged_into"] == first["id"]
    assert api.get(f"{API}/proposals/{first['id']}").json()["support_count"] == 2

    page.fill("#mb-merge-target", first["id"])  # again: the duplicate is merged already, the service says so
    page.fill("#mb-merge-source", duplicate["id"])
    page.click("#mb-merge")
    page.wait_for_selector("#flash.error")
    assert "merged" in page.inner_text("#flash")
    assert errors == []
    page.context.close()


def test_staff_record_a_realisation_milestone_in_the_portal(mb, api, browser):
    p, agency = in_realisation(mb, api, 131)
    errors: list[str] = []
    page = signed_in(browser, mb, errors, agency)
    page.select_option("#mb-staff-status", "in_realisation")  # the works being built, the drain among them
    page.locator(f"#mb-staff-rows tr[data-id='{p['id']}']").wait_for()
    page.fill("#mb-ms-id", p["id"])
    page.fill("#mb-ms-title", "Saluran tergali 40%")
    page.fill("#mb-ms-progress", "40")
    page.fill("#mb-ms-date", "2026-11-20")
    page.fill("#mb-ms-photo", "https://foto.example/cempaka-40.jpg")
    page.fill("#mb-ms-note", "galian sisi utara")
    page.screenshot(path=str(ARTIFACTS / "mb-07-milestone-form.png"), full_page=True)
    page.click("#mb-ms-save")
    page.wait_for_selector("#mb-ms-result[data-progress='40']")
    after = api.get(f"{API}/proposals/{p['id']}").json()
    assert after["progress_percent"] == 40
    (m,) = after["milestones"]
    assert (m["title"], m["note"], m["photo_url"]) == ("Saluran tergali 40%", "galian sisi utara", "https://foto.example/cempaka-40.jpg")
    assert m["at"] == "2026-11-20T05:00:00+00:00"  # midday in Jakarta

    page.fill("#mb-ms-progress", "20")  # progress never goes back: the service's field error is shown
    page.click("#mb-ms-save")
    page.wait_for_selector("#flash.error")
    assert "progress_percent" in page.inner_text("#flash")
    page.click("#mb-ms-result a")  # the proposal's page shows the milestone
    page.wait_for_selector("#mb-d-status[data-status='in_realisation']")
    assert "Saluran tergali 40%" in page.inner_text("#mb-d-milestones") and page.inner_text("#mb-d-progress-text") == "40%"
    assert errors == []
    page.context.close()


def test_the_forum_runs_a_selection_with_a_field_minimum_and_an_agency_ceiling_in_the_portal(mb, api, browser):
    drain, wells, training = verified(mb, api, MENTENG, [
        (141, "Saluran drainase Jalan Teuku Umar", "DRN-01", 20),  # Rp 30 juta, DSDA
        (142, "Sumur resapan di taman RW 03", "DRN-03", 5),  # Rp 30 juta, DSDA
        (143, "Pelatihan UMKM kuliner RW 06", "EKO-01", 10)])  # Rp 15 juta, DPPKUKM (ekonomi)
    assessed(mb, api, "31.71.06", [drain, wells, training], [5, 4, 1])
    errors: list[str] = []
    page = signed_in(browser, mb, errors, mb.token("tim_kecamatan", "31.71.06"), "/#/musrenbang/forum/31.71.06")
    page.wait_for_selector("#mb-f-empty:not([hidden])")
    page.wait_for_selector("#mb-run-form:not([hidden])")
    page.fill("#mb-run-budget", "1000000000")  # room for all three but for the ceiling
    page.fill("#mb-run-attendees", "52")
    page.fill("#mb-run-min-ekonomi", "10000000")
    page.click("#mb-run-add-ceiling")
    page.select_option("#mb-ceiling-rows .mb-ceiling-agency", "DSDA")
    page.fill("#mb-ceiling-rows .mb-ceiling-amount", "40000000")  # Rp 40 juta: one of the two DSDA works
    page.screenshot(path=str(ARTIFACTS / "mb-08-selection-form.png"), full_page=True)
    page.click("#mb-run")
    page.wait_for_selector("#mb-f-result:not([hidden])")
    selected = {page.get_attribute(f"#mb-f-rows tr.selected >> nth={i}", "data-id")
                for i in range(page.locator("#mb-f-rows tr.selected").count())}
    assert training["id"] in selected and len(selected & {drain["id"], wells["id"]}) == 1, selected
    left_out = ({drain["id"], wells["id"]} - selected).pop()
    assert page.inner_text(f"#mb-f-rows tr[data-id='{left_out}'] td.reason")
    limits = page.inner_text("#mb-f-limits").replace("\xa0", " ")
    assert "DSDA: Rp 40.000.000" in limits and "Ekonomi: Rp 10.000.000" in limits
    assert "52 peserta" in page.inner_text("#mb-f-summary")
    page.screenshot(path=str(ARTIFACTS / "mb-09-selection-result.png"), full_page=True)
    published = api.get(f"{API}/selections/31.71.06").json()
    assert published["agency_ceilings"] == {"DSDA": 40_000_000} and published["field_minimums"] == {"ekonomi": 10_000_000}
    assert {d["proposal_id"] for d in published["decisions"] if d["selected"]} == selected
    pdf = page.request.get(mb.base_url + page.get_attribute("#mb-f-pdf", "href"))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    assert errors == []
    page.context.close()


def test_the_musrenbang_pages_in_english(mb, api, browser):
    submit(api, 151, kelurahan="31.71.07.1003", title="Lampu jalan Karet Tengsin RW 02", activity_code="PJU-01", volume=2)
    errors: list[str] = []
    page = page_of(browser, errors)
    page.goto(mb.base_url + "/#/musrenbang")
    page.wait_for_selector("#mb-list li")
    assert page.inner_text("#mb-subnav a[data-view='list']") == "Daftar & peta"  # Bahasa Indonesia by default
    page.click("#lang-en")
    page.wait_for_function("document.getElementById('mb-cycle').textContent.startsWith('Cycle ')")
    assert "open stage: Kelurahan Musrenbang" in page.inner_text("#mb-cycle")
    assert page.get_attribute("#page-musrenbang", "lang") == "en"
    assert page.inner_text("#page-musrenbang h1") == "Musrenbang — residents' development proposals"
    assert [page.inner_text(f"#mb-subnav a >> nth={i}") for i in range(4)] == [
        "List & map", "Propose", "Kecamatan forum results", "Staff"]
    page.wait_for_function("document.getElementById('mb-count').textContent.endsWith(' proposals')")
    assert "Submitted" in page.inner_text("#mb-list")
    assert page.get_attribute("#mb-q", "placeholder") == "words in the title or problem"
    page.screenshot(path=str(ARTIFACTS / "mb-10-english-list.png"), full_page=True)

    page.click("#mb-subnav a[data-view='petugas']")
    page.fill("#mb-staff-token", mb.token("tim_kecamatan", "31.71.07")["authorization"].removeprefix("Bearer "))
    page.click("#mb-staff-login button[type=submit]")
    page.wait_for_selector("#mb-merge-form:not([hidden])")
    assert page.inner_text("#mb-staff-who").startswith("Signed in as")
    assert page.inner_text("#mb-merge-form h3") == "Merge duplicate proposals"
    assert page.inner_text("#mb-milestone-form h3") == "Record a realisation milestone"
    page.goto(mb.base_url + "/#/musrenbang/forum/31.71.07")
    page.wait_for_selector("#mb-run-form:not([hidden])")
    assert page.inner_text("#mb-run-add-ceiling") == "Add an agency ceiling"
    assert page.inner_text("#mb-run-minimums legend") == "Minimum per field (Rp, optional)"
    page.screenshot(path=str(ARTIFACTS / "mb-11-english-forum.png"), full_page=True)

    page.click("#lang-id")  # and back
    page.wait_for_function("document.getElementById('mb-run-add-ceiling').textContent === 'Tambah batas dinas'")
    assert page.inner_text("#mb-subnav a[data-view='list']") == "Daftar & peta"
    assert page.get_attribute("#page-musrenbang", "lang") == "id"
    assert errors == []
    page.context.close()


# -- no server errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_server_errors_from_the_musrenbang_api(mb, api, mode):
    """As test_openapi_fuzz.py does for the rest of the gateway: schemathesis's valid and invalid requests for every
    musrenbang operation (but the stream), staff ones with a Bappeda token in positive mode; none may answer 5xx."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(mb.base_url + "/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith(API) and not op.path.endswith("/events")]
    assert len(operations) >= 14
    session = requests.Session()
    staff = mb.token("bappeda", "31")

    def make_check(op):
        @settings(max_examples=15, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(GenerationMode(mode)))
        def check(case):
            headers = staff if mode == "positive" and op.method.upper() != "GET" else None
            response = case.call(base_url=mb.base_url, session=session, headers=headers, timeout=60)
            assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"

        return check

    for op in operations:
        try:
            make_check(op)()
        except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
            continue
