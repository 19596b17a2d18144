"""SensorThings `$filter` with geospatial functions over 1M observations: the plan run as SQL, next to the same
question asked in raw SQL, in the same run.

Loads N observations (default 1,000,000) of 100 devices spread over Jakarta (the 14 seeded ones and 86 more)
into a fresh database (SQLite by default, `--database-url` for PostgreSQL), then times each query `--repeat`
times (after one warm-up) at three levels:

  1. raw SQL: the same question written by hand (SQLAlchemy text, the driver's rows, nothing else);
  2. plan: the gateway's parser -> the plan (JSON) -> sensors' SQL compiler -> rows as SensorThings dicts;
  3. HTTP (`--end-to-end`, default on): GET /sta/v1.1/... on a real gateway over a real sensors service (gRPC,
     the same database), with an embedded broker: what a client sees.

Prints p50/p95/max per query and level, and whether the p95 of the geospatial filter is within 100 ms.

    flock /tmp/kota-cpu.lock .venv/bin/python bench/sta_filter.py [--observations 1000000] [--repeat 50]
        [--database-url URL | --postgres] [--no-end-to-end]

Never run as a test.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime, timezone

from sqlalchemy import text
from sqlmodel import Session

from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.testing import bench_broker, bench_workdir
from kota_gateway.domain import odata
from kota_sensors.adapters.orm import DeviceRow
from kota_sensors.adapters.repository import store_observations, upsert_datastreams
from kota_sensors.adapters.seed import jakarta_devices
from kota_sensors.adapters.sta_sql import run_plan
from kota_sensors.entrypoints.app import MIGRATIONS

DEVICES = 100
T0 = 1_790_000_000_000
# central Jakarta (Menteng, Gambir, Tanah Abang): a rectangle, so that the raw SQL's bounding box is the exact test
BOX = (106.80, -6.21, 106.84, -6.17)
POLYGON = (f"geography'POLYGON(({BOX[0]} {BOX[1]}, {BOX[2]} {BOX[1]}, {BOX[2]} {BOX[3]}, {BOX[0]} {BOX[3]}, "
           f"{BOX[0]} {BOX[1]}))'")
PENTAGON = "geography'POLYGON((106.78 -6.25, 106.90 -6.24, 106.93 -6.16, 106.84 -6.12, 106.76 -6.17, 106.78 -6.25))'"
MONAS = (106.8272, -6.1754)


def load(url: str, observations: int) -> None:
    upgrade_to_head(url, MIGRATIONS)
    engine = make_engine(url)
    rng = random.Random(7)
    devices = jakarta_devices()
    for i in range(DEVICES - len(devices)):
        devices.append(dict(id=f"BENCH{i:03d}", name=f"bench station {i}", kind="air_quality",
                            lat=rng.uniform(-6.35, -6.10), lon=rng.uniform(106.70, 106.97),
                            location_description=f"bench site {i}", owner_agency="DLH", kota_code="31.71",
                            sensor_model="bench", thresholds={}))
    quantity = {d["id"]: ("water_level" if d["kind"] == "water_level" else "pm25") for d in devices}
    per_device = observations // len(devices)
    with Session(engine) as s:
        for d in devices:
            s.add(DeviceRow(**{**d, "thresholds": json.dumps(d["thresholds"])}, created_at=datetime.now(timezone.utc)))
        s.commit()
        chunk: list[tuple[str, str, int, float]] = []
        for n in range(per_device):  # time-major, as they arrive
            ts = T0 + n * 60_000
            for d in devices:
                chunk.append((d["id"], quantity[d["id"]], ts, round(rng.uniform(5, 200), 1)))
            if len(chunk) >= 50_000:
                store_observations(s, chunk)
                s.commit()
                chunk = []
        store_observations(s, chunk)
        upsert_datastreams(s, {(d["id"], quantity[d["id"]]): (T0, T0 + (per_device - 1) * 60_000, 0.0) for d in devices})
        s.commit()
        if engine.dialect.name == "postgresql":
            s.execute(text("ANALYZE"))
        else:
            s.execute(text("ANALYZE"))
        s.commit()
    engine.dispose()


def since(n_minutes_before_end: int, observations: int) -> str:
    end = T0 + (observations // DEVICES - 1) * 60_000
    at = datetime.fromtimestamp((end - n_minutes_before_end * 60_000) / 1000, timezone.utc)
    return at.isoformat().replace("+00:00", "Z")


def queries(observations: int) -> list[tuple[str, str, dict, str, dict]]:
    """(name, path, params, raw SQL, its parameters)."""
    in_box = "lon >= :x0 AND lon <= :x1 AND lat >= :y0 AND lat <= :y1"
    box = dict(x0=BOX[0], x1=BOX[2], y0=BOX[1], y1=BOX[3])
    t = since(600, observations)
    t_ms = int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)
    return [
        ("geo.intersects, newest 100", "Observations",
         {"$filter": f"geo.intersects(FeatureOfInterest/feature, {POLYGON})", "$top": "100"},
         f"SELECT o.device_id, o.quantity, o.ts_ms, o.value FROM observations o JOIN devices d ON d.id = o.device_id "
         f"WHERE {in_box} ORDER BY o.ts_ms DESC, o.device_id, o.quantity LIMIT 100", box),
        ("st_within + result + time, by result desc", "Observations",
         {"$filter": f"st_within(FeatureOfInterest/feature, {POLYGON}) and result gt 150 and phenomenonTime ge {t}",
          "$orderby": "result desc", "$top": "100"},
         f"SELECT o.device_id, o.quantity, o.ts_ms, o.value FROM observations o JOIN devices d ON d.id = o.device_id "
         f"WHERE {in_box} AND o.value > 150 AND o.ts_ms >= :t ORDER BY o.value DESC, o.device_id, o.quantity, o.ts_ms "
         f"LIMIT 100", {**box, "t": t_ms}),
        ("geo.distance < 0.05 deg of Monas, pentagon, newest 100", "Observations",
         {"$filter": f"geo.distance(FeatureOfInterest/feature, geography'POINT({MONAS[0]} {MONAS[1]})') lt 0.05 "
                     f"and geo.intersects(FeatureOfInterest/feature, {PENTAGON})", "$top": "100"},
         "SELECT o.device_id, o.quantity, o.ts_ms, o.value FROM observations o JOIN devices d ON d.id = o.device_id "
         "WHERE (d.lon - :mx) * (d.lon - :mx) + (d.lat - :my) * (d.lat - :my) < 0.0025 "
         "ORDER BY o.ts_ms DESC, o.device_id, o.quantity LIMIT 100", {"mx": MONAS[0], "my": MONAS[1]}),
        ("geo.intersects, $count of all", "Observations",
         {"$filter": f"geo.intersects(FeatureOfInterest/feature, {POLYGON})", "$top": "1", "$count": "true"},
         f"SELECT count(*) FROM observations o JOIN devices d ON d.id = o.device_id WHERE {in_box}", box),
    ]


def summary(samples: list[float]) -> str:
    ms = sorted(x * 1000 for x in samples)
    p95 = ms[max(0, int(round(0.95 * len(ms))) - 1)]
    return f"p50 {statistics.median(ms):7.1f} ms  p95 {p95:7.1f} ms  max {ms[-1]:7.1f} ms"


def p95_of(samples: list[float]) -> float:
    ms = sorted(x * 1000 for x in samples)
    return ms[max(0, int(round(0.95 * len(ms))) - 1)]


def timed(fn, repeat: int) -> tuple[list[float], object]:
    result = fn()  # warm-up
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t)
    return out, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--observations", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster (Debian's packages)")
    ap.add_argument("--no-end-to-end", action="store_true")
    args = ap.parse_args()
    work = bench_workdir("kota-sta-bench-")
    if args.postgres:
        from kota_common.testing import _fresh_postgres_database, throwaway_postgres

        with throwaway_postgres() as server:
            return run(args, work, _fresh_postgres_database(server))
    return run(args, work, args.database_url or f"sqlite:///{work / 'sensors.db'}")


def run(args, work, url: str) -> int:
    t = time.perf_counter()
    load(url, args.observations)
    print(f"loaded {args.observations:,} observations of {DEVICES} devices into {url.split(':')[0].split('+')[0]} "
          f"in {time.perf_counter() - t:.0f} s")
    engine = make_engine(url)
    plans = queries(args.observations)
    results: dict[tuple[str, str], list[float]] = {}
    with Session(engine) as s:
        for name, path, params, raw, raw_params in plans:
            sql = text(raw)
            raw_t, raw_rows = timed(lambda sql=sql, raw_params=raw_params: s.execute(sql, raw_params).all(), args.repeat)
            query = odata.parse(path, params)

            def plan(query=query):
                return run_plan(s, json.loads(json.dumps(query.plan())))

            plan_t, plan_rows = timed(plan, args.repeat)
            got = plan_rows["value"]  # type: ignore[index]
            if params.get("$count"):
                same = plan_rows["count"] == raw_rows[0][0]  # type: ignore[index]
            else:
                same = [r["@iot.id"] for r in got] == [f"{a}:{b}:{c}" for a, b, c, _ in raw_rows]
            results[(name, "raw")], results[(name, "plan")] = raw_t, plan_t
            print(f"{name}: {len(got)} rows, plan and raw SQL agree: {same}")
            print(f"  raw SQL   {summary(raw_t)}")
            print(f"  plan      {summary(plan_t)}")
    engine.dispose()
    if not args.no_end_to_end:
        end_to_end(url, work, plans, args.repeat, results)
    geo = results.get(("geo.intersects, newest 100", "http")) or results[("geo.intersects, newest 100", "plan")]
    print(f"\np95 of the geospatial $filter (geo.intersects, newest 100, {'HTTP' if ('geo.intersects, newest 100', 'http') in results else 'plan'}): "
          f"{p95_of(geo):.1f} ms; target <= 100 ms: {'met' if p95_of(geo) <= 100 else 'NOT met'}")
    return 0


def end_to_end(url: str, work, plans, repeat: int, results: dict) -> None:
    import httpx

    from kota_common.testing import ServiceProcess, free_port
    from kota_gateway.testing import start_gateway

    with bench_broker(work) as bootstrap:
        address = f"127.0.0.1:{free_port()}"
        sensors = ServiceProcess("kota_sensors", {
            "KOTA_KAFKA_BOOTSTRAP": bootstrap, "KOTA_SENSORS_DATABASE_URL": url, "KOTA_SENSORS_GRPC_ADDRESS": address,
            "KOTA_SENSORS_HTTP_ENABLED": "false", "KOTA_SENSORS_MQTT_ENABLED": "false", "KOTA_SENSORS_SEED": "false",
            "KOTA_SENSORS_EVALUATE": "false", "KOTA_SENSORS_INGEST_PROCESSES": "1",
        }, address, work / "sensors.log").start()
        gateway = None
        try:
            gateway = start_gateway(work, f"127.0.0.1:{free_port()}", bootstrap, KOTA_GATEWAY_SENSORS_ADDRESS=address,
                                    KOTA_GATEWAY_RPC_TIMEOUT_S="30")
            with httpx.Client(base_url=gateway.base_url, timeout=60) as client:
                print(f"\nthrough HTTP (gateway {gateway.base_url} -> sensors gRPC {address}):")
                for name, path, params, _raw, _ in plans:
                    def get(path=path, params=params):
                        r = client.get(f"/sta/v1.1/{path}", params=params)
                        r.raise_for_status()
                        return r

                    http_t, _ = timed(get, repeat)
                    results[(name, "http")] = http_t
                    print(f"  {name:55s} {summary(http_t)}")
        finally:
            if gateway is not None:
                gateway.stop()
            sensors.stop()


if __name__ == "__main__":
    sys.exit(main())
