"""The photo routes when the photo store fails (object storage down, a full disk): 503 to retry later, in each API's
format, rather than a 500; a refused file stays the client's 400."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kota_common.photos import Photos
from kota_common.photos_testing import camera_photo
from kota_gateway.config import GatewaySettings
from kota_gateway.entrypoints.app import create_app
from kota_gateway.testing import OPEN311_KEY


class BrokenStore:
    def put(self, name, data, content_type):
        raise ConnectionError("object storage is down")

    def get(self, name):
        raise ConnectionError("object storage is down")


def client_over_a_broken_store() -> TestClient:
    app = create_app(GatewaySettings(open311_api_keys=OPEN311_KEY, rate_limit_per_s=0))
    app.state.photos = Photos(BrokenStore())
    return TestClient(app)


def test_a_photo_store_that_fails_is_answered_503_in_each_apis_format():
    client = client_over_a_broken_store()
    r = client.post("/api/v1/photos", files={"photo": ("a.jpg", camera_photo(), "image/jpeg")})
    assert r.status_code == 503 and r.headers["retry-after"] and "photo store" in r.json()["detail"]
    r = client.post("/open311/v2/requests.json", data={"api_key": OPEN311_KEY, "service_code": "waste",
                                                        "description": "Sampah menumpuk", "address_string": "Gambir"},
                    files={"media": ("a.jpg", camera_photo(), "image/jpeg")})
    assert r.status_code == 503 and r.json()[0]["code"] == 503
    r = client.get("/media/photos/" + "a" * 64 + ".jpg")
    assert r.status_code == 503 and "photo store" in r.json()["detail"]


def test_a_bad_file_is_still_the_clients_when_the_store_is_down():
    r = client_over_a_broken_store().post("/api/v1/photos", files={"photo": ("a.txt", b"hello", "text/plain")})
    assert r.status_code == 400
