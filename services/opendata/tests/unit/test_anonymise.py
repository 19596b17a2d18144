from datetime import datetime, timezone

import pytest

from kota_common.events.complaints import AreaRef, ComplaintSubmitted
from kota_opendata.domain import anonymise
from kota_opendata.domain.anonymise import coarsen_point, suppress_cell, suppress_count


def test_scrub_removes_phone_email_and_nik():
    text = "Hubungi saya 0812-3456-7890 atau +62 812 3456 7890, budi.s@example.co.id, NIK 3171234567890123"
    out = anonymise.scrub_text(text)
    assert "3456" not in out and "example" not in out and "3171234567890123" not in out
    assert out.count("[phone]") == 2 and "[email]" in out and "[nik]" in out


def test_scrub_keeps_ordinary_text_and_collapses_whitespace():
    assert anonymise.scrub_text("Jalan   berlubang di RT 05\n RW 03") == "Jalan berlubang di RT 05 RW 03"
    assert anonymise.scrub_text(None) == ""


@pytest.mark.parametrize("lat,lon", [(-6.175392, 106.827153), (-6.2088, 106.8456), (0.00001, 0.00001)])
def test_coarsened_point_is_within_a_cell_of_the_original(lat, lon):
    clat, clon = coarsen_point(lat, lon, 100)
    dy = abs(clat - lat) * anonymise.METRES_PER_DEGREE_LAT
    dx = abs(clon - lon) * anonymise.METRES_PER_DEGREE_LAT * 0.99
    assert dy <= 50.01 and dx <= 51
    assert (clat, clon) != (lat, lon)


def test_neighbours_in_the_same_cell_publish_the_same_point():
    a = coarsen_point(-6.1754000, 106.8271000)
    b = coarsen_point(-6.1754100, 106.8271200)  # about 2 m away
    assert a == b


def test_points_far_apart_stay_apart():
    assert coarsen_point(-6.1754, 106.8271) != coarsen_point(-6.1774, 106.8271)  # ~220 m


def test_invalid_coordinates_are_dropped():
    assert coarsen_point(None, 106.8) == (None, None)
    assert coarsen_point(-95.0, 106.8) == (None, None)
    assert coarsen_point(float("nan"), 1.0) == (None, None)


@pytest.mark.parametrize("count,k,expected", [(0, 3, 0), (1, 3, None), (2, 3, None), (3, 3, 3), (10, 5, 10), (4, 5, None)])
def test_small_counts_are_suppressed(count, k, expected):
    assert suppress_count(count, k) == expected


def test_negative_count_is_an_error():
    with pytest.raises(ValueError):
        suppress_count(-1)


def test_suppressed_cell_hides_derived_statistics_too():
    assert suppress_cell(2, {"mean": 5.5}, 3) == (None, {"mean": None}, True)
    assert suppress_cell(3, {"mean": 5.5}, 3) == (3, {"mean": 5.5}, False)


def test_public_complaint_keeps_no_identity_and_coarsens():
    payload = ComplaintSubmitted(
        complaint_id="C-1", channel="app", service_code="jalan-rusak",
        description="Lubang besar, telp 081234567890", location=AreaRef(lat=-6.175392, lon=106.827153,
        kelurahan_code="31.71.01.1001", kelurahan="Gambir"), reporter_ref="rep-secret-ref", anonymous=False,
        requested_at=datetime(2026, 1, 2, 3, 45, 12, tzinfo=timezone.utc), media_urls=["https://x/photo.jpg"],
        attributes={"plat": "B 1234 XYZ"},
    )
    row = anonymise.public_complaint(payload)
    flat = repr(row)
    assert "rep-secret-ref" not in flat and "photo" not in flat and "B 1234" not in flat
    assert "081234567890" not in row["description"]
    assert row["submitted_at"] == "2026-01-02T03:00:00" and row["submitted_date"] == "2026-01-02"
    assert (row["lat"], row["lon"]) == coarsen_point(-6.175392, 106.827153)
    assert row["lat"] != -6.175392
