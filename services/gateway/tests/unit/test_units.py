"""Pure functions of the gateway: ISPU, Siaga, Open311 field names and tokens, XML, the token bucket."""

from xml.etree import ElementTree as ET

import pytest

from kota_gateway.domain.indices import ispu, ispu_category, siaga
from kota_gateway.entrypoints.open311 import id_from_token, open311_field, token_for
from kota_gateway.httputil import TokenBucket, to_xml


@pytest.mark.parametrize(
    ("quantity", "value", "expected"),
    [("pm25", 15.5, 50), ("pm25", 55.4, 100), ("pm25", 0, 0), ("pm10", 150, 100), ("pm10", 100, 75),
     ("co", 45000, 500), ("o3", 2000, 500), ("pm25", 60, 104.84)],
)
def test_ispu_breakpoints(quantity, value, expected):
    assert ispu(quantity, value) == pytest.approx(expected, abs=0.01)


def test_ispu_unknowns_and_categories():
    assert ispu("temperature", 30) is None and ispu("pm25", -1) is None
    assert [ispu_category(i) for i in (10, 50, 51, 150, 250, 301)] == [
        "Baik", "Baik", "Sedang", "Tidak Sehat", "Sangat Tidak Sehat", "Berbahaya"]


def test_siaga_from_thresholds():
    katulampa = {"siaga4_max": 80, "siaga3_max": 150, "siaga2_max": 200}
    assert [siaga(x, katulampa) for x in (80, 81, 150, 151, 200, 201)] == [4, 3, 3, 2, 2, 1]
    karet = {"siaga4_max": 450, "siaga3_max": 550}  # Siaga 2/1 bounds unpublished
    assert [siaga(x, karet) for x in (400, 500, 600)] == [4, 3, 2]
    assert siaga(100, {}) is None


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
