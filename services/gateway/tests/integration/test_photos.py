"""Citizens' photos through the real gateway and the complaints service (gRPC): Open311's `media` upload, the
portal's /api/v1/photos, the photos served with cache headers, and bad files refused in each API's error format
with nothing stored."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import httpx
import pytest

from kota_common.photos_testing import GPS_IFD, IDENTIFYING, bomb_png, camera_photo, read_back
from kota_gateway.testing import OPEN311_KEY, start_gateway

pytestmark = pytest.mark.integration

MAX_BYTES = 256 * 1024  # small, so that "too large" needs no big upload
REQUEST = {"api_key": OPEN311_KEY, "service_code": "waste", "description": "Sampah menumpuk di depan pasar",
           "address_string": "Jl. Pasar Baru, depan pasar"}


@pytest.fixture(scope="module")
def photo_gateway(stack, tmp_path_factory):
    """A gateway of its own over the stack's complaints service, keeping photos in a directory the tests read."""
    tmp = tmp_path_factory.mktemp("photo-gateway")
    photos_dir = tmp / "photos"
    gateway = start_gateway(tmp, stack.complaints_address, stack.kafka_bootstrap, name="gateway-photos",
                            KOTA_PHOTOS_LOCAL_DIR=str(photos_dir), KOTA_PHOTOS_MAX_BYTES=str(MAX_BYTES))
    try:
        yield gateway, photos_dir
    finally:
        gateway.stop()


@pytest.fixture
def client(photo_gateway):
    with httpx.Client(base_url=photo_gateway[0].base_url, timeout=60) as c:
        yield c


def stored(photos_dir) -> set[str]:
    return {p.name for p in photos_dir.rglob("*") if p.is_file()} if photos_dir.exists() else set()


def test_an_open311_request_with_a_media_photo_is_kept_without_metadata_and_served_immutable(client, photo_gateway):
    _, photos_dir = photo_gateway
    source = camera_photo(size=(120, 80))
    r = client.post("/open311/v2/requests.json", data=REQUEST,
                    files={"media": ("IMG_20261207_101500.jpg", source, "image/jpeg")})
    assert r.status_code == 201, r.text
    [created] = r.json()

    [request] = client.get(f"/open311/v2/requests/{created['service_request_id']}.json").json()
    url = request["media_url"]
    assert url.startswith(str(client.base_url).rstrip("/") + "/media/photos/") and url.endswith(".jpg")
    name = url.rsplit("/", 1)[1]
    assert name in stored(photos_dir)

    photo = client.get(url)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert photo.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert photo.headers["etag"] == f'"{name.split(".")[0]}"'
    assert photo.headers["x-content-type-options"] == "nosniff"
    image = read_back(photo.content)
    assert image.size == (120, 80) and dict(image.getexif()) == {} and image.getexif().get_ifd(GPS_IFD) == {}
    assert not any(needle in photo.content for needle in IDENTIFYING)

    again = client.get(url, headers={"If-None-Match": photo.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == photo.headers["etag"]

    thumbnail = client.get(url.replace(".jpg", ".thumb.jpg"))
    assert thumbnail.status_code == 200 and thumbnail.headers["cache-control"].endswith("immutable")
    assert max(read_back(thumbnail.content).size) <= 320

    # XML answers carry it too
    root = ET.fromstring(client.get(f"/open311/v2/requests/{created['service_request_id']}.xml").content)
    assert root.findtext("request/media_url") == url


def test_a_media_upload_beside_a_media_url_keeps_both(client):
    r = client.post("/open311/v2/requests.json", data={**REQUEST, "media_url": "https://example.org/lubang.jpg"},
                    files={"media": ("lubang.png", camera_photo(fmt="PNG"), "image/png")})
    assert r.status_code == 201, r.text
    [created] = r.json()
    complaint = client.get(f"/api/v1/complaints/{created['service_request_id']}").json()
    [kept, link] = complaint["media_urls"]
    assert "/media/photos/" in kept and kept.endswith(".png") and link == "https://example.org/lubang.jpg"


@pytest.mark.parametrize(("filename", "data", "status", "reason"), [
    ("laporan.pdf", b"%PDF-1.7\n1 0 obj <<>> endobj\n", 400, "media: not a JPEG, PNG or WebP image"),
    ("bomb.png", bomb_png(), 400, "media: the image has too many pixels"),
    ("big.jpg", camera_photo() + b"\x00" * MAX_BYTES, 413, "media: the file is larger than"),
])
def test_a_bad_media_file_is_refused_in_open311s_error_array_and_not_stored(client, photo_gateway, filename, data,
                                                                           status, reason):
    _, photos_dir = photo_gateway
    before = stored(photos_dir)
    r = client.post("/open311/v2/requests.json", data=REQUEST, files={"media": (filename, data, "image/jpeg")})
    assert r.status_code == status, r.text
    [error] = r.json()
    assert error["code"] == status and error["description"].startswith(reason)
    assert stored(photos_dir) == before

    r = client.post("/open311/v2/requests.xml", data=REQUEST, files={"media": (filename, data, "image/jpeg")})
    assert r.status_code == status
    root = ET.fromstring(r.content)
    assert root.tag == "errors" and root.findtext("error/description").startswith(reason)
    assert stored(photos_dir) == before


def test_a_body_far_beyond_a_photos_size_is_refused_before_it_is_read(client):
    r = client.post("/open311/v2/requests.json", data=REQUEST,
                    files={"media": ("huge.jpg", b"\xff" * (MAX_BYTES + 200 * 1024), "image/jpeg")})
    assert r.status_code == 413
    assert r.json()[0]["code"] == 413


def test_the_portal_uploads_a_photo_then_reports_with_its_url(client, photo_gateway):
    _, photos_dir = photo_gateway
    r = client.post("/api/v1/photos", files={"photo": ("foto.webp", camera_photo(fmt="WEBP"), "image/webp")})
    assert r.status_code == 201, r.text
    kept = r.json()
    assert kept["content_type"] == "image/webp" and kept["url"].endswith(".webp")
    assert kept["thumbnail_url"].endswith(".thumb.jpg")
    assert {kept["url"].rsplit("/", 1)[1], kept["thumbnail_url"].rsplit("/", 1)[1]} <= stored(photos_dir)

    report = {"service_code": "waste", "description": "Sampah tidak diangkut seminggu", "kelurahan_code": "31.71.01.1001",
              "media_urls": [kept["url"]], "anonymous": True}
    r = client.post("/api/v1/complaints", json=report)
    assert r.status_code == 201, r.text
    assert r.json()["complaint"]["media_urls"] == [kept["url"]]
    assert client.get(kept["url"]).headers["content-type"] == "image/webp"


def test_the_portal_is_told_why_a_file_is_refused(client, photo_gateway):
    _, photos_dir = photo_gateway
    before = stored(photos_dir)
    r = client.post("/api/v1/photos", files={"photo": ("x.gif", b"GIF89a" + b"\x00" * 64, "image/gif")})
    assert r.status_code == 400 and r.json() == {"detail": "photo: not a JPEG, PNG or WebP image"}
    r = client.post("/api/v1/photos", files={"photo": ("bomb.png", bomb_png(), "image/png")})
    assert r.status_code == 400 and "too many pixels" in r.json()["detail"]
    assert stored(photos_dir) == before


def test_an_unknown_or_malformed_photo_name_is_404(client):
    assert client.get("/media/photos/" + "0" * 64 + ".jpg").status_code == 404
    assert client.get("/media/photos/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.get("/media/photos/notahash.jpg").status_code == 404


def test_the_portals_report_form_uploads_a_photo_in_a_browser(photo_gateway, browser, tmp_path):
    gateway, photos_dir = photo_gateway
    page = browser.new_context(viewport={"width": 1200, "height": 1400}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(gateway.base_url + "/#/lapor")
    page.wait_for_function("document.querySelectorAll('#f-category option').length > 5")
    page.select_option("#f-category", "waste")
    page.fill("#f-description", "Tumpukan sampah di pinggir kali, bau menyengat")
    page.select_option("#f-kota", "31.71")
    page.select_option("#f-kecamatan", "31.71.01")
    page.select_option("#f-kelurahan", "31.71.01.1001")

    # a file that is not a photo: the citizen is told, nothing is kept
    page.set_input_files("#f-photos", files=[{"name": "surat.pdf", "mimeType": "application/pdf",
                                              "buffer": b"%PDF-1.7\n%%EOF\n"}])
    page.wait_for_selector("#flash.error")
    assert "surat.pdf" in page.inner_text("#flash") and "JPEG, PNG" in page.inner_text("#flash")
    assert page.locator("#f-photo-list figure").count() == 0

    page.set_input_files("#f-photos", files=[{"name": "IMG_0001.jpg", "mimeType": "image/jpeg",
                                              "buffer": camera_photo(size=(640, 480), orientation=6)}])
    page.wait_for_function("(() => { const i = document.querySelector('#f-photo-list figure img');"
                           " return i && i.complete && i.naturalWidth > 0; })()")
    url = page.get_attribute("#f-photo-list figure", "data-url")
    assert url and url.endswith(".jpg") and url.rsplit("/", 1)[1] in stored(photos_dir)
    # the thumbnail shows the photo turned upright (the camera's orientation 6): taller than wide
    assert page.evaluate("(() => { const i = document.querySelector('#f-photo-list figure img');"
                         " return i.naturalHeight > i.naturalWidth; })()")
    page.check("#f-anonymous")
    page.screenshot(path=str(tmp_path / "photo-report-form.png"), full_page=True)
    page.click("#f-submit")

    page.wait_for_selector("#report-result:not([hidden])")
    complaint_id = page.inner_text("#r-id").strip()
    with httpx.Client(base_url=gateway.base_url, timeout=30) as c:
        assert c.get(f"/api/v1/complaints/{complaint_id}").json()["media_urls"] == [url]
    page.click("#r-track")
    page.wait_for_function("(() => { const i = document.querySelector('#t-photos img');"
                           " return i && i.complete && i.naturalWidth > 0; })()")
    assert page.get_attribute("#t-photos a", "href") == url
    assert errors == []
