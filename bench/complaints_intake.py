"""Complaint intake benchmark: concurrent gRPC submitters against the complaints service as its own process.

Prints throughput and p50/p99 latency for
  1. the baseline: raw insert (one SQLite/PostgreSQL transaction per row) + raw produce (librdkafka), no service;
  2. closed loop: N concurrent submitters as fast as the service answers (sustained throughput);
  3. open loop: a fixed arrival rate (default 500/s), the latency a citizen sees at that load;
and checks that every accepted submission reached complaints.events.v1.

    .venv/bin/python bench/complaints_intake.py [--seconds 10] [--concurrency 64] [--rate 500]
        [--database-url URL | --postgres] [--replicas N]

--replicas N runs N service processes sharing the port (SO_REUSEPORT, PostgreSQL only); the submitters then
spread over several connections, since the kernel balances connections, not calls.

Each service process starts its outbox relay as a process of its own (KOTA_COMPLAINTS_OUTBOX_RELAY=process);
it runs on the CPUs the service is not pinned to (the submitters' CPU), and its CPU is reported apart. `--relay thread`
runs it in the service process, as before.

Uses KOTA_KAFKA_BOOTSTRAP if set, otherwise starts the embedded broker on a free port. Never run as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

import grpc
from sqlalchemy import text

from kota.complaints.v1 import complaints_pb2 as pb
from kota.complaints.v1 import complaints_pb2_grpc as pb_grpc
from kota_common.db.engines import make_engine
from kota_common.kafka import ensure_topics, make_producer
from kota_common.testing import ServiceProcess, TopicReader, bench_workdir, child_pids, cpu_seconds, free_port

CODES = ["flooding", "waste", "street_light", "illegal_parking", "traffic", "public_order", "drainage"]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def row(name: str, count: int, seconds: float, lat_ms: list[float], errors: int = 0) -> str:
    return (f"{name:<34} {count:>8} {count / seconds:>10.0f}/s   p50 {pct(lat_ms, 50):>7.2f} ms"
            f"   p99 {pct(lat_ms, 99):>7.2f} ms   errors {errors}")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (Linux /proc/stat), to show what else ran during a run."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def request(i: int) -> pb.SubmitComplaintRequest:
    # Spread over Jakarta so that few submissions are duplicates of one another.
    return pb.SubmitComplaintRequest(
        channel=pb.CHANNEL_APP, service_code=random.choice(CODES), description=f"bench complaint {i} " + "x" * 80,
        location=pb.Location(lat=random.uniform(-6.35, -6.10), lon=random.uniform(106.70, 106.97)),
        contact=pb.Contact(email=f"warga{i}@contoh.id"),
    )


def baseline(database_url: str, bootstrap: str, seconds: float) -> tuple[int, float, list[float]]:
    """Raw insert + raw produce: the floor under what the service adds (validation, routing, outbox, gRPC)."""
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_raw (id VARCHAR(40) PRIMARY KEY, body TEXT NOT NULL)"))
    producer = make_producer(bootstrap)
    body = json.dumps({"description": "x" * 120, "lat": -6.2, "lon": 106.8})
    lat, n, start = [], 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        key = uuid.uuid4().hex
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO bench_raw (id, body) VALUES (:i, :b)"), {"i": key, "b": body})
        producer.produce("bench.raw", key=key, value=body.encode())
        producer.poll(0)
        lat.append((time.perf_counter() - t) * 1000)
        n += 1
    producer.flush(30)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return n, elapsed, lat


CONNECTIONS = 1  # --replicas sets one connection per 8 submitters


def open_stubs(address: str) -> tuple[list[grpc.aio.Channel], list[pb_grpc.ComplaintsServiceStub]]:
    # A local subchannel pool gives every channel its own connection (and so, with SO_REUSEPORT, its replica).
    channels = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(CONNECTIONS)]
    return channels, [pb_grpc.ComplaintsServiceStub(c) for c in channels]


async def closed_loop(address: str, concurrency: int, seconds: float) -> tuple[list[str], float, list[float], int]:
    channels, stubs = open_stubs(address)
    try:
        ids, lat, errors = [], [], 0
        deadline = time.perf_counter() + seconds

        async def worker(w: int) -> None:
            nonlocal errors
            stub = stubs[w % len(stubs)]
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                t = time.perf_counter()
                try:
                    resp = await stub.SubmitComplaint(request(w * 1_000_000 + i), timeout=10)
                    ids.append(resp.complaint.id)
                    lat.append((time.perf_counter() - t) * 1000)
                except grpc.aio.AioRpcError:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        return ids, time.perf_counter() - start, lat, errors
    finally:
        for channel in channels:
            await channel.close()


async def open_loop(address: str, rate: float, seconds: float) -> tuple[list[str], float, list[float], int]:
    channels, stubs = open_stubs(address)
    try:
        ids, lat, errors = [], [], 0

        async def one(i: int, scheduled: float) -> None:
            nonlocal errors
            try:
                resp = await stubs[i % len(stubs)].SubmitComplaint(request(i), timeout=10)
                ids.append(resp.complaint.id)
                lat.append((time.perf_counter() - scheduled) * 1000)  # from when it should have been sent
            except grpc.aio.AioRpcError:
                errors += 1

        tasks, start, i = [], time.perf_counter(), 0
        while (now := time.perf_counter()) - start < seconds:
            due = start + i / rate
            if now < due:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(one(i, due)))
            i += 1
        await asyncio.gather(*tasks)
        return ids, time.perf_counter() - start, lat, errors
    finally:
        for channel in channels:
            await channel.close()


def print_service_cpu(cpu: float, relay_cpu: float, count: int, seconds: float) -> None:
    print(f"{'':<34} service CPU {cpu / max(count, 1) * 1000:.2f} ms per submission "
          f"({cpu / seconds * 100:.0f}% of one core); relay process {relay_cpu / max(count, 1) * 1000:.2f} ms "
          f"({relay_cpu / seconds * 100:.0f}%)", flush=True)


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except FileNotFoundError:  # a relay restarted meanwhile
            pass
    return total


def count_on_topic(bootstrap: str, ids: set[bytes], timeout: float = 120) -> int:
    """How many of `ids` reached the topic: the bench reports a shortfall rather than failing on it."""
    reader = TopicReader(bootstrap, "complaints.events.v1")
    try:
        reader.wait_for(lambda rs: {m.key() for m in rs} >= ids, timeout, match=lambda m: m.key() in ids)
    except AssertionError:
        pass  # some never arrived: counted below
    finally:
        reader.close()
    return len({m.key() for m in reader.records(lambda m: m.key() in ids)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=500, help="open-loop arrival rate (0: skip the open loop)")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--postgres", action="store_true", help="run on a throwaway PostgreSQL cluster (needs initdb)")
    parser.add_argument("--replicas", type=int, default=1, help="service processes sharing the port (PostgreSQL)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the raw baseline (quick comparisons)")
    parser.add_argument("--no-pin", action="store_true",
                        help="let the scheduler move processes (default: the service on its own CPU, see KOTA_CPU_AFFINITY)")
    parser.add_argument("--workers", type=int, default=32, help="gRPC worker threads of each service process")
    parser.add_argument("--relay", choices=["process", "thread"], default="process",
                        help="the outbox relay in a process of its own (the default) or a thread of the service")
    args = parser.parse_args()
    if args.postgres and not args.database_url:
        from kota_common.testing import throwaway_postgres

        with throwaway_postgres() as url:
            args.database_url = url
            run(args)
    else:
        run(args)


def run(args: argparse.Namespace) -> None:
    global CONNECTIONS
    cpus = os.cpu_count() or 1
    pinned = not args.no_pin and cpus >= 2
    if pinned:  # this process (submitters, baseline) and the broker it starts on the last CPU
        os.sched_setaffinity(0, {cpus - 1})
    work = bench_workdir("kota-bench-")
    bootstrap = os.environ.get("KOTA_KAFKA_BOOTSTRAP")
    broker = None
    if not bootstrap:
        from kota_common.broker import start_embedded_broker

        bootstrap = f"127.0.0.1:{free_port()}"
        broker = start_embedded_broker(bootstrap, work / "broker.log")
    ensure_topics(bootstrap, ["complaints.events.v1", "bench.raw"])
    service_db = args.database_url or f"sqlite:///{work / 'complaints.db'}"
    baseline_db = args.database_url or f"sqlite:///{work / 'baseline.db'}"
    address = f"127.0.0.1:{free_port()}"
    if args.replicas > 1:
        CONNECTIONS = max(args.replicas * 4, args.concurrency // 8)
    services = [
        ServiceProcess(
            "kota_complaints",
            {"KOTA_KAFKA_BOOTSTRAP": bootstrap, "KOTA_COMPLAINTS_DATABASE_URL": service_db,
             "KOTA_COMPLAINTS_GRPC_ADDRESS": address, "KOTA_LOG_LEVEL": "WARNING",
             "KOTA_COMPLAINTS_GRPC_WORKERS": str(args.workers), "KOTA_COMPLAINTS_CONSUME_ALERTS": "false",
             "KOTA_COMPLAINTS_GRPC_REUSE_PORT": str(args.replicas > 1).lower(),
             "KOTA_COMPLAINTS_OUTBOX_RELAY": args.relay,
             **({"KOTA_CPU_AFFINITY": f"[{n % (cpus - 1)}]"} if pinned else {})},
            address, work / f"complaints-{n}.log",
        )
        for n in range(args.replicas)
    ]
    try:
        print(f"database: {service_db.split('://')[0]}   broker: {bootstrap}   cpus: {os.cpu_count()}   "
              f"python {sys.version.split()[0]}   service processes: {args.replicas}   relay: {args.relay}   "
              f"{f'pinned: service on CPU 0, relay, submitters and broker on CPU {cpus - 1}' if pinned else 'not pinned'}",
              flush=True)
        if not args.no_baseline:
            n, secs, lat = baseline(baseline_db, bootstrap, args.seconds)
            print(row("baseline raw insert + raw produce", n, secs, lat), flush=True)
        for service in services:
            service.start()
        # The services' children, their outbox relays, run on the CPUs the services are not pinned to.
        relays = [pid for s in services for pid in child_pids(s.proc.pid)]
        service_pids = [s.proc.pid for s in services]
        asyncio.run(closed_loop(address, 8, 2))  # warm-up
        cpu0, relay0 = cpu_of(service_pids), cpu_of(relays)
        busy0, own0 = machine_busy_seconds(), time.process_time()
        broker0 = cpu_seconds(broker.pid) if broker else 0.0
        ids, secs, lat, errors = asyncio.run(closed_loop(address, args.concurrency, args.seconds))
        cpu, relay_cpu = cpu_of(service_pids) - cpu0, cpu_of(relays) - relay0
        busy, own = machine_busy_seconds() - busy0, time.process_time() - own0
        broker_cpu = cpu_seconds(broker.pid) - broker0 if broker else 0.0
        print(row(f"closed loop, {args.concurrency} concurrent", len(ids), secs, lat, errors), flush=True)
        print_service_cpu(cpu, relay_cpu, len(ids), secs)
        print(f"{'':<34} machine busy {busy / secs * 100:.0f}% of {os.cpu_count()} cores: service "
              f"{cpu / secs * 100:.0f}%, relay {relay_cpu / secs * 100:.0f}%, bench client {own / secs * 100:.0f}%, "
              f"broker {broker_cpu / secs * 100:.0f}%, "
              f"anything else {(busy - cpu - relay_cpu - own - broker_cpu) / secs * 100:.0f}%", flush=True)
        ids2: list[str] = []
        if args.rate > 0:
            time.sleep(5)  # the relay publishes the closed loop's backlog first, not during the open loop
            cpu0, relay0 = cpu_of(service_pids), cpu_of(relays)
            ids2, secs2, lat2, errors2 = asyncio.run(open_loop(address, args.rate, args.seconds))
            cpu, relay_cpu = cpu_of(service_pids) - cpu0, cpu_of(relays) - relay0
            print(row(f"open loop at {args.rate:.0f}/s", len(ids2), secs2, lat2, errors2), flush=True)
            print_service_cpu(cpu, relay_cpu, len(ids2), secs2)
        wanted = {i.encode() for i in ids + ids2}
        landed = count_on_topic(bootstrap, wanted)
        print(f"on complaints.events.v1: {landed} of {len(wanted)} accepted submissions", flush=True)
    finally:
        for service in services:
            service.stop()
        if broker:
            broker.terminate()


if __name__ == "__main__":
    main()
