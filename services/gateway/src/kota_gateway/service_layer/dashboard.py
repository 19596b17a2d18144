"""The city dashboard's use cases: complaint figures, air quality per station, water level per flood gauge."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

from kota.complaints.v1 import complaints_pb2 as cpb
from kota.sensors.v1 import sensors_pb2 as spb
from kota_gateway.adapters.complaints import ComplaintsClient
from kota_gateway.adapters.sensors import SensorsClient
from kota_gateway.domain.air_quality import station_ispu
from kota_gateway.domain.dashboard import summarise
from kota_gateway.domain.flood import siaga_level
from kota_gateway.domain.sensorthings import iso

ALL_DEVICES = 1000  # the sensors service's largest page


class ComplaintSummary:
    """The dashboard's complaint figures over the newest `limit` complaints, computed at most once every `ttl_s`
    seconds however many browsers ask (each computation reads up to `limit` complaints)."""

    def __init__(self, complaints: ComplaintsClient, *, ttl_s: float = 5.0, limit: int = 5000,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.complaints, self.ttl_s, self.limit, self.clock, self.now = complaints, ttl_s, limit, clock, now
        self._cached: tuple[float, dict] | None = None

    async def __call__(self) -> dict:
        if self._cached and self.clock() - self._cached[0] < self.ttl_s:
            return self._cached[1]
        items: list = []
        token = ""
        while len(items) < self.limit:
            reply = await self.complaints.list_complaints(cpb.ListComplaintsRequest(page_size=500, page_token=token))
            items += list(reply.complaints)
            token = reply.next_page_token
            if not token:
                break
        summary = summarise(items, self.now())
        self._cached = (self.clock(), summary)
        return summary


async def air_quality(sensors: SensorsClient) -> list[dict]:
    """Each air-quality station with the ISPU of its worst pollutant among its latest readings."""
    reply = await sensors.list_devices(page_size=ALL_DEVICES, kind="air_quality")
    out = []
    for d in list(reply.devices)[:ALL_DEVICES]:
        found = station_ispu((ds.quantity, ds.latest_value) for ds in d.datastreams if ds.latest_time.seconds != 0)
        out.append({"id": d.id, "name": d.name, "lat": d.location.lat, "lon": d.location.lon,
                    "ispu": found.index if found else None, "pollutant": found.pollutant if found else None,
                    "category": found.category if found else None, "last_seen_at": iso(d.last_seen_at)})
    return out


async def flood_gauges(sensors: SensorsClient, points: int) -> list[dict]:
    """Each flood gauge with its latest level, its Siaga level and its last `points` readings, oldest first."""
    reply = await sensors.list_devices(page_size=ALL_DEVICES, kind="water_level")
    out = []
    for d in list(reply.devices)[:ALL_DEVICES]:
        stream = next((ds for ds in d.datastreams if ds.quantity == "water_level"), None)
        level = stream.latest_value if stream is not None and stream.latest_time.seconds else None
        recent = []
        if stream is not None and level is not None:
            observations = await sensors.list_observations(spb.ListObservationsRequest(datastream_id=stream.id, page_size=points))
            recent = [{"at": iso(o.phenomenon_time), "level_cm": o.value} for o in reversed(observations.observations)]
        thresholds = {t.name: t.value for t in d.thresholds}
        out.append({"id": d.id, "name": d.name, "lat": d.location.lat, "lon": d.location.lon, "level_cm": level,
                    "siaga": siaga_level(level, thresholds), "thresholds": thresholds, "recent": recent})
    return out
