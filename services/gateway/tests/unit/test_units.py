"""Pure functions of the gateway: Open311 field names and tokens, XML, the token bucket."""

from xml.etree import ElementTree as ET

import pytest

from kota_gateway.entrypoints.open311 import id_from_token, open311_field, token_for
from kota_gateway.httputil import TokenBucket, to_xml


def test_open311_field_names():
    assert open311_field("location.lat") == "lat" and open311_field("location.lon") == "long"
    assert open311_field("media_urls[2]") == "media_url"
    assert open311_field("attributes.severity") == "attribute[severity]"
    assert open311_field("attributes[severity]") == "attribute[severity]"
    assert open311_field("description") == "description"


def test_open311_tokens_are_signed():
    token = token_for("secret-secret-secret", "ABC123")
    assert id_from_token("secret-secret-secret", token) == "ABC123"
    assert id_from_token("another-secret-value", token) is None
    assert id_from_token("secret-secret-secret", "ABC123.0000") is None and id_from_token("secret-secret-secret", "x") is None


def test_xml_nests_lists_and_omits_nulls():
    doc = ET.fromstring(to_xml("services", "service", [{"code": "a", "none": None, "attributes": [{"k": True}]}]))
    assert doc.find("service/code").text == "a" and doc.find("service/none").text is None
    assert doc.find("service/attributes/attribute/k").text == "true"


def test_token_bucket_refills():
    bucket = TokenBucket(rate=1.0, burst=2)
    assert bucket.take("ip", now=0.0) == 0 and bucket.take("ip", now=0.0) == 0
    wait = bucket.take("ip", now=0.0)
    assert wait == pytest.approx(1.0)
    assert bucket.take("ip", now=1.0) == 0
    assert bucket.take("other", now=1.0) == 0


def test_gateway_settings_refuse_placeholder_keys_and_take_trusted_proxies(monkeypatch):
    from pydantic import ValidationError

    from kota_gateway.config import GatewaySettings

    monkeypatch.setenv("KOTA_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8")
    assert GatewaySettings().trusted_proxies == "10.0.0.0/8"
    monkeypatch.setenv("KOTA_GATEWAY_OPEN311_API_KEYS", "REPLACE-ME-with-the-open311-clients-keys")
    with pytest.raises(ValidationError, match="placeholder"):
        GatewaySettings()


def test_the_asyncapi_page_renders_the_served_document_offline(tmp_path):
    import json

    from fastapi.testclient import TestClient

    from kota_gateway.config import GatewaySettings
    from kota_gateway.entrypoints.app import create_app

    document = {"asyncapi": "3.0.0", "info": {"title": "Kota events", "version": "1.0.0"}, "channels": {}}
    (tmp_path / "asyncapi.json").write_text(json.dumps(document))
    client = TestClient(create_app(GatewaySettings(asyncapi_document=tmp_path / "asyncapi.json")))
    page = client.get("/asyncapi")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '"/asyncapi.json"' in page.text and "https://" not in page.text, "the page loads nothing from the internet"
    for asset in ("/static/vendor/asyncapi-react-3.2.1-standalone.js", "/static/vendor/asyncapi-react-3.2.1.min.css"):
        assert asset in page.text and client.get(asset).status_code == 200
    served = client.get("/asyncapi.json")
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    assert served.json() == document
    missing = TestClient(create_app(GatewaySettings(asyncapi_document=tmp_path / "none.json"))).get("/asyncapi.json")
    assert missing.status_code == 404 and "kota asyncapi" in missing.text


def test_the_gateway_finds_musrenbang_by_its_own_variable_or_the_services(monkeypatch):
    from kota_gateway.config import GatewaySettings

    monkeypatch.delenv("KOTA_GATEWAY_MUSRENBANG_ADDRESS", raising=False)
    monkeypatch.delenv("KOTA_MUSRENBANG_GRPC_ADDRESS", raising=False)
    assert GatewaySettings().musrenbang_address == "127.0.0.1:50054"
    monkeypatch.setenv("KOTA_MUSRENBANG_GRPC_ADDRESS", "127.0.0.1:60054")  # as `kota up` leaves it to every process
    assert GatewaySettings().musrenbang_address == "127.0.0.1:60054"
    monkeypatch.setenv("KOTA_GATEWAY_MUSRENBANG_ADDRESS", "musrenbang:50054")  # compose, Kubernetes
    assert GatewaySettings().musrenbang_address == "musrenbang:50054"
