"""The rules the gateway applies to what the services return: ISPU per station, Siaga per gauge, the dashboard's
complaint figures, whose inbox staff may read, and the SensorThings representation."""

from datetime import datetime, timezone

import pytest

from kota.complaints.v1 import complaints_pb2 as cpb
from kota_gateway.domain import sensorthings
from kota_gateway.domain.air_quality import StationIspu, station_ispu
from kota_gateway.domain.complaints import NotAllowed, inbox_agency
from kota_gateway.domain.dashboard import summarise
from kota_gateway.domain.flood import siaga_level


def test_a_station_shows_the_ispu_of_its_worst_pollutant():
    # 60 µg/m³ PM2.5: (200-100)/(150.4-55.4)*(60-55.4)+100 = 104.8; 100 µg/m³ PM10 is 50-100: below it
    assert station_ispu([("pm10", 100.0), ("pm25", 60.0), ("temperature", 31.0)]) == StationIspu(105, "pm25", "Tidak Sehat")
    assert station_ispu([("pm25", 10.0)]).category == "Baik"


def test_a_station_without_a_pollutant_reading_has_no_ispu():
    assert station_ispu([]) is None and station_ispu([("temperature", 31.0)]) is None


def test_a_gauge_shows_its_siaga_level_from_its_own_thresholds():
    katulampa = {"siaga4_max": 80.0, "siaga3_max": 150.0, "siaga2_max": 200.0}
    assert [siaga_level(cm, katulampa) for cm in (80, 81, 170, 201)] == [4, 3, 2, 1]
    karet = {"siaga4_max": 450.0, "siaga3_max": 550.0}  # its Siaga 2 and 1 bounds are not published
    assert siaga_level(600, karet) == 2
    assert siaga_level(None, katulampa) is None and siaga_level(100, {}) is None


def _complaint(cid, service, status, requested, resolved_after_h=None, kota="Jakarta Pusat", breached=False):
    c = cpb.Complaint(id=cid, service_name=service, status=status, agency_code="DLH", channel=cpb.CHANNEL_WEB,
                      sla_breached=breached)
    c.location.kota = kota
    c.requested_at.FromDatetime(requested)
    if resolved_after_h is not None:
        h = c.history.add(status=cpb.STATUS_RESOLVED)
        h.at.FromDatetime(requested.replace(hour=requested.hour + resolved_after_h))
    return c


def test_the_dashboard_counts_open_breaches_and_resolution_times():
    now = datetime(2026, 3, 14, 12, tzinfo=timezone.utc)
    day = datetime(2026, 3, 13, 8, tzinfo=timezone.utc)
    items = [
        _complaint("A", "Sampah", cpb.STATUS_RESOLVED, day, resolved_after_h=2),
        _complaint("B", "Sampah", cpb.STATUS_RESOLVED, day, resolved_after_h=4),
        _complaint("C", "Banjir", cpb.STATUS_ROUTED, day, kota="", breached=True),
        _complaint("D", "Banjir", cpb.STATUS_ROUTED, datetime(2026, 1, 1, tzinfo=timezone.utc)),
    ]
    s = summarise(items, now)
    assert (s["total"], s["open"], s["sla_breached"]) == (4, 2, 1)
    assert s["by_kota"] == {"Jakarta Pusat": 3, "(tanpa kota)": 1} and s["by_channel"] == {"web": 4}
    assert s["by_status"] == {"resolved": 2, "routed": 2}
    assert s["resolution_times"] == [{"category": "Sampah", "resolved": 2, "median_hours": 3.0, "mean_hours": 3.0}]
    assert len(s["per_day"]) == 14 and s["per_day"]["2026-03-13"] == 3, "January's complaint is outside the fortnight"


def test_staff_read_their_own_inbox_and_only_admins_another():
    assert inbox_agency("DLH", {"staff"}, "") == "DLH" and inbox_agency("DLH", {"staff"}, "DLH") == "DLH"
    assert inbox_agency("DLH", {"staff", "admin"}, "DSDA") == "DSDA"
    with pytest.raises(NotAllowed, match="staff of DLH cannot read the inbox of DSDA"):
        inbox_agency("DLH", {"staff"}, "DSDA")


def test_sensorthings_links_escape_keys_and_pages_know_whether_more_follow():
    assert sensorthings.link("http://h", "Things", "O'Brien x") == "http://h/sta/v1.1/Things('O%27%27Brien%20x')"
    page = sensorthings.Page.of([{"n": i} for i in range(5)], top=2, skip=2)
    assert page == sensorthings.Page([{"n": 2}, {"n": 3}], 5, True)
    assert not sensorthings.Page.of([{}] * 4, top=2, skip=2).more
    assert sensorthings.next_link("http://h", "/sta/v1.1/Things", {"$top": "2", "$count": "true"}, 2, 4) == \
        "http://h/sta/v1.1/Things?%24count=true&%24top=2&%24skip=6"
    assert sensorthings.observation_id("DKI1:pm25:1700000000000") == ("DKI1:pm25", 1700000000000)
    assert sensorthings.observation_id("DKI1:pm25:soon") is None
