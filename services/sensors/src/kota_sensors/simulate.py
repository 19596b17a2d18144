"""`kota simulate sensors` (`command`): a realistic generator for Jakarta's devices, sent over the gRPC ingest stream.

- Air-quality stations DKI1-DKI5: diurnal PM2.5 (morning and evening rush-hour peaks on a 30 ug/m3 base, a
  little noise, each station its own offset), PM10 ~1.7x PM2.5, NO2/CO following traffic, O3 peaking at noon.
- Flood gauges: a rain event on the Ciliwung. Katulampa rises through Siaga 3, 2 and 1 and falls back; Depok
  follows a little later, Manggarai later still; the sea gates follow the tide. The event lasts
  --event-minutes (time-compressed) and repeats.
- TransJakarta buses along Koridor 1 (Blok M - Kota), back and forth, with bearing and speed.

It needs a staff/admin token (signed with KOTA_AUTH_SECRET) to issue the devices' credentials, as an installer
would. --rate is readings per second in all (each device samples faster to reach it).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import typer

from kota.sensors.v1 import sensors_pb2 as pb
from kota.sensors.v1 import sensors_pb2_grpc as pb_grpc
from kota_sensors.adapters.seed import BUSES, CORRIDOR_1, GAUGES, STATIONS

AIR_QUANTITIES = ("pm25", "pm10", "no2", "co", "o3", "so2")


def pm25_at(hour: float, offset: float, rng: random.Random) -> float:
    rush = 28 * math.exp(-((hour - 7.5) ** 2) / 2.0) + 22 * math.exp(-((hour - 18.5) ** 2) / 3.0)
    night = 8 * math.exp(-((hour - 2) ** 2) / 6.0)  # inversion layer before dawn
    return max(1.0, 30 + offset + rush + night + rng.gauss(0, 2.5))


def air_values(hour: float, offset: float, rng: random.Random) -> dict[str, float]:
    pm25 = pm25_at(hour, offset, rng)
    traffic = 1 + 0.8 * math.exp(-((hour - 7.5) ** 2) / 2.0) + 0.6 * math.exp(-((hour - 18.5) ** 2) / 3.0)
    return {
        "pm25": round(pm25, 1),
        "pm10": round(pm25 * 1.7 + rng.gauss(0, 3), 1),
        "no2": round(max(1.0, 40 * traffic + rng.gauss(0, 4)), 1),
        "co": round(max(100.0, 1500 * traffic + rng.gauss(0, 100)), 0),
        "o3": round(max(1.0, 20 + 90 * math.exp(-((hour - 12.5) ** 2) / 6.0) + rng.gauss(0, 5)), 1),
        "so2": round(max(1.0, 15 + rng.gauss(0, 2)), 1),
    }


def rain_event(phase: float) -> float:
    """0..1 flood wave shape over the event (phase 0..1): a fast rise and a slower fall."""
    if phase <= 0 or phase >= 1:
        return 0.0
    return math.sin(math.pi * phase**0.6) ** 2


# base level (cm), peak rise (cm), delay of the wave (fraction of the event)
GAUGE_WAVES = {
    "KATULAMPA": (40.0, 200.0, 0.0),  # peaks at 240 cm: Siaga 1 (> 200)
    "DEPOK": (150.0, 230.0, 0.12),  # peaks at 380 cm: Siaga 1 (> 350)
    "MANGGARAI": (650.0, 260.0, 0.25),  # peaks at 910 cm: Siaga 2
    "KARET": (380.0, 150.0, 0.3),
    "PASAR_IKAN": (150.0, 30.0, 0.0),  # tidal
}


def corridor_position(distance_m: float) -> tuple[float, float, float]:
    """Position and bearing at a distance along Koridor 1, going back and forth."""
    segs = []
    total = 0.0
    for (a_lat, a_lon), (b_lat, b_lon) in zip(CORRIDOR_1, CORRIDOR_1[1:], strict=False):
        d = math.hypot((b_lat - a_lat) * 111_000, (b_lon - a_lon) * 110_500)
        segs.append((a_lat, a_lon, b_lat, b_lon, d))
        total += d
    d = distance_m % (2 * total)
    back = d > total
    d = 2 * total - d if back else d
    for a_lat, a_lon, b_lat, b_lon, seg in segs:
        if d <= seg:
            f = min(1.0, d / seg) if seg else 0.0
            lat, lon = a_lat + (b_lat - a_lat) * f, a_lon + (b_lon - a_lon) * f
            bearing = math.degrees(math.atan2((b_lon - a_lon) * 110_500, (b_lat - a_lat) * 111_000)) % 360
            return lat, lon, (bearing + 180) % 360 if back else bearing
        d -= seg
    lat, lon = CORRIDOR_1[-1]
    return lat, lon, 0.0


@dataclass
class Stats:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    refused: int = 0


class Simulator:
    def __init__(self, address: str, admin_token: str, rate: float, event_minutes: float = 10.0, seed: int = 7):
        self.channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.SensorsServiceStub(self.channel)
        self.admin = [("authorization", f"Bearer {admin_token}")]
        self.rate = max(1.0, rate)
        self.event_s = event_minutes * 60
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.latest: dict[str, float] = {}
        self.tokens: dict[str, str] = {}
        self._stop = threading.Event()
        self.started = time.time()

    def issue_credentials(self) -> None:
        for device_id in [s[0] for s in STATIONS] + [g[0] for g in GAUGES] + [b[0] for b in BUSES]:
            r = self.stub.IssueDeviceCredential(pb.IssueDeviceCredentialRequest(device_id=device_id), metadata=self.admin, timeout=10)
            self.tokens[device_id] = r.device_token

    def per_second(self) -> int:
        """Samples per device per second so that the total reaches the rate."""
        per_sample = len(STATIONS) * len(AIR_QUANTITIES) + len(GAUGES) + len(BUSES)
        return max(1, min(1000, round(self.rate / per_sample)))

    def batches(self, second_ms: int, n: int) -> list[pb.IngestReadingsRequest]:
        """All devices' readings for one second, n samples each, as one batch per device."""
        rng = self.rng
        step = 1000 // n
        times = [second_ms + i * step for i in range(n)]
        elapsed = second_ms / 1000 - self.started
        local_hour = ((second_ms / 1000 / 3600) + 7) % 24  # WIB = UTC+7
        out = []
        for i, (sid, *_rest) in enumerate(STATIONS):
            cols: dict[str, list[float]] = {q: [] for q in AIR_QUANTITIES}
            for _ in times:
                for q, v in air_values(local_hour, (i - 2) * 4.0, rng).items():
                    cols[q].append(v)
            self.latest[sid] = cols["pm25"][-1]
            series = [pb.Series(quantity=q, unit="ug/m3", timestamps_ms=times, values=cols[q]) for q in AIR_QUANTITIES]
            out.append(pb.IngestReadingsRequest(device_id=sid, device_token=self.tokens[sid], series=series))
        phase_base = (elapsed % self.event_s) / self.event_s
        for gid, *_rest in GAUGES:
            base, rise, delay = GAUGE_WAVES[gid]
            if gid == "PASAR_IKAN":
                level = base + rise * math.sin(2 * math.pi * elapsed / (self.event_s / 2))
            else:
                level = base + rise * rain_event(phase_base - delay)
            values = [round(level + rng.gauss(0, 1.0), 1) for _ in times]
            self.latest[gid] = values[-1]
            out.append(pb.IngestReadingsRequest(device_id=gid, device_token=self.tokens[gid], series=[
                pb.Series(quantity="water_level", unit="cm", timestamps_ms=times, values=values)]))
        for k, (vid, route) in enumerate(BUSES):
            speed = 22 + 6 * math.sin(elapsed / 60 + k)
            lats, lons, bearings = [], [], []
            for t in times:
                lat, lon, bearing = corridor_position((t / 1000 - self.started) * speed / 3.6 + k * 2500)
                lats.append(lat)
                lons.append(lon)
                bearings.append(round(bearing, 1))
            out.append(pb.IngestReadingsRequest(device_id=vid, device_token=self.tokens[vid], positions=pb.PositionSeries(
                route_id=route, timestamps_ms=times, lats=lats, lons=lons, bearings=bearings, speeds_kmh=[round(speed, 1)] * n)))
        return out

    def requests(self) -> Iterator[pb.IngestReadingsRequest]:
        n = self.per_second()
        next_tick = time.time()
        seq = 0
        while not self._stop.is_set():
            now = time.time()
            if now < next_tick:
                self._stop.wait(next_tick - now)
                continue
            second_ms = int(next_tick * 1000)
            for req in self.batches(second_ms, n):
                seq += 1
                req.sequence = seq
                self.stats.sent += sum(len(s.values) for s in req.series) + len(req.positions.timestamps_ms)
                yield req
            next_tick += 1.0

    def run(self, duration: float = 0) -> None:
        if duration:
            threading.Timer(duration, self._stop.set).start()
        while not self._stop.is_set():
            try:
                for ack in self.stub.IngestReadings(self.requests()):
                    self.stats.accepted += ack.accepted
                    self.stats.rejected += ack.rejected
                    self.stats.refused += 1 if ack.refused_reason else 0
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    break
                time.sleep(2)  # the service restarts: carry on
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    continue

    def stop(self) -> None:
        self._stop.set()
        self.channel.close()


def run_with_progress(sim: Simulator, duration: float, quiet: bool) -> Stats:
    """Runs the simulator with a rich live display (or quietly, for `kota up`)."""
    worker = threading.Thread(target=sim.run, args=(duration,), daemon=True)
    worker.start()
    if quiet:
        try:
            while worker.is_alive():
                worker.join(1)
        except KeyboardInterrupt:
            sim.stop()
        return sim.stats
    from rich.live import Live
    from rich.table import Table

    def view() -> Table:
        s = sim.stats
        elapsed = max(1e-6, time.time() - sim.started)
        t = Table(title=f"kota simulate sensors: {sim.rate:.0f} readings/s target", show_header=True)
        t.add_column("sent")
        t.add_column("accepted")
        t.add_column("rejected")
        t.add_column("rate/s")
        t.add_column("PM2.5 DKI1..5")
        t.add_column("Katulampa / Depok / Manggarai cm")
        pm = " ".join(f"{sim.latest.get(x[0], 0):.0f}" for x in STATIONS)
        lv = " / ".join(f"{sim.latest.get(g, 0):.0f}" for g in ("KATULAMPA", "DEPOK", "MANGGARAI"))
        t.add_row(f"{s.sent:,}", f"{s.accepted:,}", f"{s.rejected:,}", f"{s.accepted / elapsed:,.0f}", pm, lv)
        return t

    try:
        with Live(view(), refresh_per_second=4) as live:
            while worker.is_alive():
                worker.join(0.25)
                live.update(view())
    except KeyboardInterrupt:
        sim.stop()
    return sim.stats


def command(
    rate: float = typer.Option(50, help="readings per second in all"),
    duration: float = typer.Option(0, help="stop after this many seconds (0: never)"),
    event_minutes: float = typer.Option(10, help="length of the (time-compressed) rain event that raises the gauges"),
    address: str = typer.Option("127.0.0.1:50052", envvar="KOTA_SENSORS_GRPC_ADDRESS", help="sensors gRPC address"),
    quiet: bool = typer.Option(False, help="no live display"),
) -> None:
    """Diurnal PM2.5 at DKI1-DKI5, a rain event raising the gauges through the Siaga levels, buses on Koridor 1."""
    from rich.console import Console

    from kota_common.auth import issue_token
    from kota_common.settings import CommonSettings, load_settings

    token = issue_token(load_settings(CommonSettings).auth_secret, "simulator", "DSDA", ["admin"])
    sim = Simulator(address, token, rate, event_minutes)
    sim.issue_credentials()
    stats = run_with_progress(sim, duration, quiet)
    Console(stderr=True).print(f"sent {stats.sent:,}, accepted {stats.accepted:,}, rejected {stats.rejected:,}, "
                               f"refused batches {stats.refused}")
