"""Gateway benchmark: Open311 GET and POST through the gateway (HTTP -> gRPC -> complaints -> SQLite/Kafka) at
increasing concurrency on loopback, beside a bare HTTP baseline (a bare uvicorn ASGI app answering a constant
body) measured in the same run with the same client.

Prints, per endpoint and concurrency: requests, throughput, p50/p99 latency and errors.

    .venv/bin/python bench/gateway.py [--seconds 5] [--concurrency 1,8,32,64]

Uses KOTA_KAFKA_BOOTSTRAP if set, otherwise starts the embedded broker on a free port. Every process (broker,
complaints, gateway, baseline, this load generator) shares the machine's cores. Never run as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from kota_common.testing import ServiceProcess, free_port
from kota_gateway.testing import OPEN311_KEY, HttpServiceProcess, start_gateway

CODES = ["waste", "street_light", "illegal_parking", "traffic", "public_order", "drainage"]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def run(name: str, concurrency: int, seconds: float, make_request) -> None:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        deadline = time.perf_counter() + seconds

        async def worker(w: int):
            nonlocal errors
            i = 0
            while time.perf_counter() < deadline:
                method, url, kwargs = make_request(w, i)
                i += 1
                t0 = time.perf_counter()
                try:
                    r = await client.request(method, url, **kwargs)
                    ok = r.status_code < 400
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - t0
    n = len(latencies)
    print(f"{name:<34} c={concurrency:<4} {n:>7} req {n / elapsed:>8.0f}/s   p50 {pct(latencies, 50):>7.2f} ms"
          f"   p99 {pct(latencies, 99):>7.2f} ms   errors {errors}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    parser.add_argument("--concurrency", default="1,8,32,64", help="comma-separated concurrency levels")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="kota-bench-gateway-"))
    started: list = []
    broker = None
    try:
        bootstrap = os.environ.get("KOTA_KAFKA_BOOTSTRAP")
        if not bootstrap:
            from kota_common.broker import start_embedded_broker

            bootstrap = f"127.0.0.1:{free_port()}"
            broker = start_embedded_broker(bootstrap, tmp / "broker.log")
        address = f"127.0.0.1:{free_port()}"
        complaints = ServiceProcess("kota_complaints", {
            "KOTA_KAFKA_BOOTSTRAP": bootstrap, "KOTA_COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp / 'complaints.db'}",
            "KOTA_COMPLAINTS_GRPC_ADDRESS": address, "KOTA_COMPLAINTS_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:8]}",
            "KOTA_COMPLAINTS_CONSUME_ALERTS": "false", "KOTA_LOG_LEVEL": "WARNING",
        }, address, tmp / "complaints.log").start()
        started.append(complaints)
        gateway = start_gateway(tmp, address, bootstrap, health_path="/readyz", KOTA_LOG_LEVEL="WARNING")
        started.append(gateway)
        baseline_port = free_port()
        baseline = HttpServiceProcess(f"kota_gateway.baseline {baseline_port}", {}, f"http://127.0.0.1:{baseline_port}",
                                      tmp / "baseline.log", "/")
        baseline.proc = subprocess.Popen([sys.executable, "-m", "kota_gateway.baseline", f"127.0.0.1:{baseline_port}"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(baseline)
        for _ in range(100):
            try:
                httpx.get(baseline.base_url + "/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)

        g = gateway.base_url
        # a few requests to read back
        seeded = []
        for i in range(50):
            r = httpx.post(f"{g}/open311/v2/requests.json", data={
                "api_key": OPEN311_KEY, "service_code": random.choice(CODES), "description": f"bench seed {i}",
                "lat": str(-6.30 + random.random() * 0.2), "long": str(106.70 + random.random() * 0.25)}, timeout=30)
            r.raise_for_status()
            seeded.append(r.json()[0]["service_request_id"])

        def baseline_get(w, i):
            return "GET", f"{baseline.base_url}/open311/v2/requests/X.json", {}

        def get_one(w, i):
            return "GET", f"{g}/open311/v2/requests/{seeded[(w * 7919 + i) % len(seeded)]}.json", {}

        def get_services(w, i):
            return "GET", f"{g}/open311/v2/services.json", {}

        def post_request(w, i):
            return "POST", f"{g}/open311/v2/requests.json", {"data": {
                "api_key": OPEN311_KEY, "service_code": CODES[i % len(CODES)], "description": f"bench {w}-{i} " + "x" * 60,
                "lat": str(-6.30 + random.random() * 0.2), "long": str(106.70 + random.random() * 0.25)}}

        print(f"gateway bench: {args.seconds:.0f} s per row, {os.cpu_count()} CPUs shared by every process\n", flush=True)
        for c in levels:
            asyncio.run(run("baseline: bare uvicorn GET", c, args.seconds, baseline_get))
            asyncio.run(run("Open311 GET requests/{id}.json", c, args.seconds, get_one))
            asyncio.run(run("Open311 GET services.json", c, args.seconds, get_services))
            asyncio.run(run("Open311 POST requests.json", c, args.seconds, post_request))
            print(flush=True)
    finally:
        for proc in reversed(started):
            proc.stop()
        if broker is not None:
            broker.terminate()
            broker.wait(10)


if __name__ == "__main__":
    main()
