"""End to end in a real browser (Debian's chromium driven by Playwright; never a downloaded browser):
a citizen files a complaint, sees it routed, staff move it in their inbox, the citizen's page updates live."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts" / "gateway"  # screenshots (Playwright makes the folder)
# `browser` is the shared fixture of tests/conftest.py (Debian's chromium driven by Playwright)


def test_file_route_move_and_watch_live(full_stack, browser, staff_token):
    stack = full_stack
    citizen_context = browser.new_context(viewport={"width": 1200, "height": 1000}, permissions=["geolocation"],
                                          geolocation={"latitude": -6.1105, "longitude": 106.7720})
    # (a point no other test reports flooding at: a nearby open report would make this one its duplicate)
    citizen = citizen_context.new_page()
    errors: list[str] = []
    citizen.on("pageerror", lambda exc: errors.append(str(exc)))
    citizen.goto(stack.base_url + "/#/lapor")

    # Bahasa Indonesia by default
    assert citizen.locator("nav a[href='#/lapor']").inner_text() == "Lapor"
    citizen.wait_for_function("document.querySelectorAll('#f-category option').length > 5")
    citizen.select_option("#f-category", "flooding")
    citizen.fill("#f-attributes .f-attr[data-code='water_depth_cm']", "40")  # the category's own question
    citizen.fill("#f-description", "Genangan 40 cm di depan sekolah, air tidak surut")
    citizen.select_option("#f-kota", "31.71")
    citizen.select_option("#f-kecamatan", "31.71.01")
    citizen.select_option("#f-kelurahan", "31.71.01.1001")
    citizen.fill("#f-address", "Depan SDN 01")
    citizen.click("#f-geo")  # the browser's position, granted to this context
    citizen.wait_for_function("document.getElementById('f-lat').value !== ''")
    assert citizen.input_value("#f-lat") == "-6.110500"
    citizen.check("#f-anonymous")
    citizen.screenshot(path=str(ARTIFACTS / "01-report-form.png"), full_page=True)
    citizen.click("#f-submit")

    citizen.wait_for_selector("#report-result:not([hidden])")
    complaint_id = citizen.inner_text("#r-id").strip()
    assert len(complaint_id) >= 6 and citizen.inner_text("#r-code").strip()
    assert "Diteruskan ke" in citizen.inner_text("#r-routed")  # routed to an agency at once
    citizen.screenshot(path=str(ARTIFACTS / "02-submitted.png"), full_page=True)

    citizen.click("#r-track")
    citizen.wait_for_selector("#track-status[data-status='routed']")
    assert citizen.inner_text("#track-status") == "Diteruskan"
    agency_name = citizen.inner_text("#t-agency")
    assert agency_name and agency_name != "–"
    citizen.screenshot(path=str(ARTIFACTS / "03-tracking-routed.png"), full_page=True)

    # staff of the agency, in another browser context, move the ticket
    agency = stack_complaint_agency(stack, complaint_id)
    with stack.client() as c:
        assert c.get(f"/api/v1/complaints/{complaint_id}").json()["attributes"] == {"water_depth_cm": "40"}
    staff_context = browser.new_context(viewport={"width": 1300, "height": 900})
    staff = staff_context.new_page()
    staff.goto(stack.base_url + "/#/petugas")
    staff.fill("#s-token", staff_token(agency))
    staff.click("#staff-login button[type=submit]")
    row = staff.locator(f"tr[data-id='{complaint_id}']")
    row.wait_for()
    # a new complaint for the agency appears in the open inbox by itself (its live event stream)
    with stack.client() as c:
        other = c.post("/api/v1/complaints", json={"service_code": "flooding", "description": "Air masuk rumah warga",
                                                    "kelurahan_code": "31.71.01.1002", "anonymous": True}).json()
    assert other["complaint"]["agency_code"] == agency
    staff.wait_for_selector(f"tr[data-id='{other['id']}']", timeout=12_000)  # sooner than the 15 s reload
    row.locator("select.s-next").select_option("in_progress")
    row.locator("input.s-note").fill("Pompa mobile dikirim")
    row.locator("button.s-save").click()
    try:
        staff.wait_for_selector(f"tr[data-id='{complaint_id}'] .badge[data-status='in_progress']")
    except Exception:
        staff.screenshot(path=str(ARTIFACTS / "failure-staff.png"), full_page=True)
        raise AssertionError("flash: " + staff.inner_text("#flash")) from None
    staff.screenshot(path=str(ARTIFACTS / "04-staff-inbox.png"), full_page=True)

    # the citizen's page updates by itself (server-sent events), no reload
    citizen.wait_for_selector("#track-status[data-status='in_progress']", timeout=20_000)
    assert "Pompa mobile dikirim" in citizen.inner_text("#t-history")
    citizen.screenshot(path=str(ARTIFACTS / "05-tracking-live-update.png"), full_page=True)

    # staff resolve it; the citizen rates the resolution with the secret code the page kept
    row = staff.locator(f"tr[data-id='{complaint_id}']")
    row.locator("select.s-next").select_option("resolved")
    row.locator("button.s-save").click()  # refused: resolving needs a note, and the page says so
    staff.wait_for_selector("#flash.error")
    assert "note" in staff.inner_text("#flash")
    row.locator("input.s-note").fill("Genangan surut, saluran dibersihkan")
    row.locator("button.s-save").click()
    staff.wait_for_selector(f"tr[data-id='{complaint_id}'] .badge[data-status='resolved']")
    citizen.wait_for_selector("#track-status[data-status='resolved']", timeout=20_000)
    citizen.wait_for_selector("#t-feedback:not([hidden])")
    assert citizen.input_value("#t-code")
    citizen.select_option("#t-rating", "5")
    citizen.click("#t-rate")
    citizen.wait_for_selector("#flash.info")
    assert "Terima kasih" in citizen.inner_text("#flash")
    with stack.client() as c:
        assert c.get(f"/api/v1/complaints/{complaint_id}").json()["rating"] == 5
    citizen.screenshot(path=str(ARTIFACTS / "05b-rated.png"), full_page=True)

    # English switch
    citizen.click("#lang-en")
    assert citizen.locator("nav a[href='#/lacak']").inner_text() == "Track"
    assert citizen.inner_text("#track-status") == "Resolved"

    # the dashboard draws its charts from the summary
    citizen.goto(stack.base_url + "/#/dasbor")
    citizen.wait_for_function("Number(document.getElementById('k-total').textContent) >= 1")
    citizen.wait_for_function("window.Chart && Chart.getChart('c-category') !== undefined")
    # live sensors: ISPU per station coloured by category, flood gauges with their Siaga level and curve
    citizen.wait_for_selector("#ispu .tile")
    assert "SPKU DKI1" in citizen.inner_text("#ispu") and "Unhealthy" not in citizen.inner_text("#ispu")
    citizen.wait_for_selector("#gauges .tile")
    assert "Alert 2" in citizen.inner_text("#gauges")  # Katulampa at 170 cm, in English now
    citizen.wait_for_function("Chart.getChart('c-gauges') !== undefined")
    citizen.screenshot(path=str(ARTIFACTS / "06-dashboard.png"), full_page=True)

    # the open data catalogue: search, and a download link per resource
    citizen.goto(stack.base_url + "/#/data")
    citizen.fill("#d-q", "pengaduan")
    citizen.click("#data-form button")
    citizen.wait_for_selector("#d-results .dataset")
    link = citizen.locator("#d-results .dataset a.button").first.get_attribute("href")
    assert "/download/" in link
    citizen.screenshot(path=str(ARTIFACTS / "07-open-data.png"), full_page=True)
    assert errors == []
    staff_context.close()
    citizen_context.close()


def stack_complaint_agency(stack, complaint_id: str) -> str:
    with stack.client() as c:
        return c.get(f"/api/v1/complaints/{complaint_id}").json()["agency_code"]
