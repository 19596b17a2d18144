"""The gateway's use cases against fake clients (no network): what they ask the services and what they make of it."""

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from kota.complaints.v1 import complaints_pb2 as cpb
from kota.sensors.v1 import sensors_pb2 as spb
from kota_gateway.adapters.errors import FailureCode, RpcFailure
from kota_gateway.domain.complaints import NotAllowed
from kota_gateway.service_layer import complaints, dashboard

T0 = datetime(2026, 3, 14, 12, tzinfo=timezone.utc)


class FakeComplaints:
    """ListComplaints newest first in pages of `page`, like the complaints service; records every request."""

    def __init__(self, items: list[cpb.Complaint], page: int = 2):
        self.items, self.page, self.requests = items, page, []

    async def list_complaints(self, request, *, token=None):
        self.requests.append((request, token))
        start = int(request.page_token or 0)
        chunk = self.items[start : start + self.page]
        more = start + self.page < len(self.items)
        return cpb.ListComplaintsResponse(complaints=chunk, next_page_token=str(start + self.page) if more else "",
                                          total_size=len(self.items))


def complaint(cid: str, hours_ago: int) -> cpb.Complaint:
    c = cpb.Complaint(id=cid, status=cpb.STATUS_ROUTED, service_code="waste")
    c.requested_at.FromDatetime(T0 - timedelta(hours=hours_ago))
    return c


def test_open311_listing_stops_paging_at_the_first_request_older_than_the_window():
    fake = FakeComplaints([complaint(str(h), h) for h in range(10)])
    found = asyncio.run(complaints.requests_between(fake, [], "", T0 - timedelta(hours=3, minutes=30),
                                                    T0 - timedelta(hours=1), limit=1000))
    assert [c.id for c in found] == ["1", "2", "3"]
    assert len(fake.requests) == 3, "the page holding hour 4 is the last one read"
    assert fake.requests[0][0].HasField("start_date") and fake.requests[0][0].HasField("end_date")


def test_open311_listing_returns_at_most_the_limit():
    fake = FakeComplaints([complaint(str(h), h) for h in range(10)], page=4)
    assert len(asyncio.run(complaints.requests_between(fake, [], "", None, None, limit=5))) == 5


def test_the_inbox_asks_for_the_staffs_agency_with_their_token_and_refuses_another():
    fake = FakeComplaints([])
    asyncio.run(complaints.inbox(fake, agency="DLH", roles=frozenset({"staff"}), asked_agency="", statuses=[],
                                 page_size=50, page_token="", token="tok"))
    request, token = fake.requests[0]
    assert (request.agency_code, token) == ("DLH", "tok")
    with pytest.raises(NotAllowed):
        asyncio.run(complaints.inbox(fake, agency="DLH", roles=frozenset({"staff"}), asked_agency="DSDA", statuses=[],
                                     page_size=50, page_token="", token="tok"))
    assert len(fake.requests) == 1, "a refused inbox asks the service nothing"


def test_the_dashboard_summary_is_computed_once_per_ttl_over_at_most_the_limit():
    fake = FakeComplaints([complaint(str(h), h) for h in range(10)], page=3)
    clock = [100.0]
    summary = dashboard.ComplaintSummary(fake, ttl_s=5.0, limit=6, clock=lambda: clock[0], now=lambda: T0)
    first = asyncio.run(summary())
    assert first["total"] == 6 and len(fake.requests) == 2
    clock[0] += 4.9
    assert asyncio.run(summary()) is first and len(fake.requests) == 2
    clock[0] += 0.2
    asyncio.run(summary())
    assert len(fake.requests) == 4


class FakeSensors:
    def __init__(self, devices: list[spb.Device], observations: list[spb.Observation] = ()):
        self.devices = {d.id: d for d in devices}
        self.observations = list(observations)
        self.observation_requests: list[spb.ListObservationsRequest] = []

    async def get_device(self, device_id):
        if device_id not in self.devices:
            raise RpcFailure("sensors", FailureCode.NOT_FOUND, f"no device {device_id}")
        return self.devices[device_id]

    async def list_devices(self, *, skip=0, page_size, kind="", owner_agency=""):
        found = [d for d in self.devices.values() if not kind or d.kind == kind]
        return spb.ListDevicesResponse(devices=found[skip : skip + page_size], total_size=len(found))

    async def list_datastreams(self, *, device_id="", quantity=""):
        return [ds for d in self.devices.values() for ds in d.datastreams
                if (not device_id or ds.device_id == device_id) and (not quantity or ds.quantity == quantity)]

    async def list_observations(self, request):
        self.observation_requests.append(request)
        return spb.ListObservationsResponse(observations=self.observations[: request.page_size])


def device(device_id: str, kind: str, **latest: float) -> spb.Device:
    d = spb.Device(id=device_id, name=device_id, kind=kind)
    for quantity, value in latest.items():
        ds = d.datastreams.add(id=f"{device_id}:{quantity}", device_id=device_id, quantity=quantity, latest_value=value)
        ds.latest_time.FromDatetime(T0)
    return d


def test_air_quality_shows_each_stations_worst_pollutant_and_none_without_readings():
    quiet = spb.Device(id="DKI2", kind="air_quality")
    quiet.datastreams.add(id="DKI2:pm25", quantity="pm25", latest_value=300.0)  # never reported: latest_time unset
    fake = FakeSensors([device("DKI1", "air_quality", pm25=60.0, pm10=100.0), quiet, device("KATULAMPA", "water_level")])
    stations = {s["id"]: s for s in asyncio.run(dashboard.air_quality(fake))}
    assert set(stations) == {"DKI1", "DKI2"}
    assert (stations["DKI1"]["ispu"], stations["DKI1"]["pollutant"], stations["DKI1"]["category"]) == (105, "pm25", "Tidak Sehat")
    assert stations["DKI2"]["ispu"] is None


def test_flood_gauges_show_the_siaga_level_and_the_recent_curve_oldest_first():
    gauge = device("KATULAMPA", "water_level", water_level=170.0)
    gauge.thresholds.add(name="siaga4_max", value=80.0)
    gauge.thresholds.add(name="siaga3_max", value=150.0)
    gauge.thresholds.add(name="siaga2_max", value=200.0)
    newest_first = [spb.Observation(id=f"o{v}", value=v) for v in (170.0, 120.0, 70.0)]
    fake = FakeSensors([gauge], newest_first)
    (katulampa,) = asyncio.run(dashboard.flood_gauges(fake, points=3))
    assert (katulampa["level_cm"], katulampa["siaga"]) == (170.0, 2)
    assert [p["level_cm"] for p in katulampa["recent"]] == [70.0, 120.0, 170.0]
    assert fake.observation_requests[0].datastream_id == "KATULAMPA:water_level"
