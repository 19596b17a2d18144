"""Gateway benchmark: Open311 GET and POST through the gateway (HTTP -> gRPC -> complaints -> SQLite/Kafka) at
increasing concurrency on loopback, beside a bare HTTP baseline (a bare uvicorn ASGI app answering a constant
body) measured in the same run with the same client.

Prints, per endpoint and concurrency: requests, throughput, p50/p99 latency and errors; the same lookup made
straight to the complaints service over gRPC shows what the HTTP layer adds.

    .venv/bin/python bench/gateway.py [--seconds 5] [--concurrency 1,8,32,64]

Uses KOTA_KAFKA_BOOTSTRAP if set, otherwise starts the embedded broker on a free port. Every process (broker,
complaints, gateway, baseline, this load generator) shares the machine's cores. Never run as a test.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlencode

import httpx

from kota_common.testing import ServiceProcess, bench_workdir, free_port
from kota_gateway.testing import OPEN311_KEY, HttpServiceProcess, start_gateway

CODES = ["waste", "street_light", "illegal_parking", "traffic", "public_order", "drainage"]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run_threads(concurrency: int, worker) -> float:
    """Runs worker(0..concurrency-1) on as many threads until they return; gives the elapsed seconds."""
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def report(name: str, concurrency: int, latencies: list[float], elapsed: float, errors: int) -> None:
    n = len(latencies)
    print(f"{name:<34} c={concurrency:<4} {n:>7} req {n / elapsed:>8.0f}/s   p50 {pct(latencies, 50):>7.2f} ms"
          f"   p99 {pct(latencies, 99):>7.2f} ms   errors {errors}", flush=True)


def run(name: str, concurrency: int, seconds: float, base_url: str, make_request) -> None:
    """`concurrency` threads, each with its own keep-alive HTTP/1.1 connection (http.client is far lighter than
    an async client with a shared pool, so the client is less of the bottleneck), closed loop for `seconds`."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(w: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine: list[float] = []
        failed = 0
        i = 0
        while time.perf_counter() < deadline:
            method, path, body = make_request(w, i)
            i += 1
            headers = {"content-type": "application/x-www-form-urlencoded"} if body else {}
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status < 400
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                ok = False
            if ok:
                mine.append((time.perf_counter() - t0) * 1000)
            else:
                failed += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += failed

    report(name, concurrency, latencies, run_threads(concurrency, worker), errors)


def run_grpc(name: str, concurrency: int, seconds: float, address: str, seeded: list[str]) -> None:
    """The same lookup straight to the complaints service over gRPC: what the gateway adds is the difference."""
    import grpc

    from kota.complaints.v1 import complaints_pb2 as pb
    from kota.complaints.v1 import complaints_pb2_grpc as pb_grpc

    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    channel = grpc.insecure_channel(address)
    stub = pb_grpc.ComplaintsServiceStub(channel)

    def worker(w: int) -> None:
        mine, i = [], 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            stub.GetComplaint(pb.GetComplaintRequest(id=seeded[(w * 7919 + i) % len(seeded)]), timeout=30)
            mine.append((time.perf_counter() - t0) * 1000)
            i += 1
        with lock:
            latencies.extend(mine)

    elapsed = run_threads(concurrency, worker)
    channel.close()
    report(name, concurrency, latencies, elapsed, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    parser.add_argument("--concurrency", default="1,8,32,64", help="comma-separated concurrency levels")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    tmp = bench_workdir("kota-bench-gateway-")
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
            return "GET", "/open311/v2/requests/X.json", None

        def get_one(w, i):
            return "GET", f"/open311/v2/requests/{seeded[(w * 7919 + i) % len(seeded)]}.json", None

        def get_services(w, i):
            return "GET", "/open311/v2/services.json", None

        def post_request(w, i):
            return "POST", "/open311/v2/requests.json", urlencode({
                "api_key": OPEN311_KEY, "service_code": CODES[i % len(CODES)], "description": f"bench {w}-{i} " + "x" * 60,
                "lat": str(-6.30 + random.random() * 0.2), "long": str(106.70 + random.random() * 0.25)})

        print(f"gateway bench: {args.seconds:.0f} s per row, {os.cpu_count()} CPUs shared by every process\n", flush=True)
        for c in levels:
            run("baseline: bare uvicorn GET", c, args.seconds, baseline.base_url, baseline_get)
            run_grpc("direct gRPC GetComplaint (no HTTP)", c, args.seconds, address, seeded)
            run("Open311 GET requests/{id}.json", c, args.seconds, g, get_one)
            run("Open311 GET services.json", c, args.seconds, g, get_services)
            run("Open311 POST requests.json", c, args.seconds, g, post_request)
            print(flush=True)
    finally:
        for proc in reversed(started):
            proc.stop()
        if broker is not None:
            broker.terminate()
            broker.wait(10)


if __name__ == "__main__":
    main()
