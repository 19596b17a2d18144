"""e-Musrenbang supports benchmark: a burst of residents supporting proposals at once, through gRPC.

Starts the musrenbang service in this process (its ServiceHost, as the integration tests do: the embedded broker,
SQLite by default) with a planning cycle whose support stage is open, seeds N proposals in kelurahan Gambir
(31.71.01.1001), then sends, all at once from many client threads, 10,000 supports by distinct residents of
kecamatan Gambir (NIK 317101DDMMYYSSSS, spread over the proposals) plus 2,000 repeats (the same resident and the
same proposal again, shuffled among the first ones so that many race them). Prints

  1. the baseline: a raw INSERT of the same 12,000 (proposal, resident-hash) rows into a table with the same
     primary key, INSERT ... ON CONFLICT DO NOTHING, one row per transaction, the same number of threads, on the
     same kind of database (SQLAlchemy Core on the engine the service uses);
  2. the service: accepted supports/s (wall clock from the first send to the last answer), p50/p99 latency,
     and the CPU time the service's process spent meanwhile (all its threads), per attempt: on a shared
     machine the figure that does not depend on what else runs;
  3. the checks: the sum of support_count over the proposals (GetProposal) equals the distinct (resident,
     proposal) pairs, exactly one attempt of each pair was answered added=true and the others added=false
     (or refused), and mb_supports holds one row a pair.

    .venv/bin/python bench/musrenbang_supports.py [--proposals 50] [--residents 10000] [--repeats 2000]
        [--threads 64] [--clients process|thread] [--grpc-workers N] [--database-url URL | --postgres] [--target 2000]

--clients process (the default) runs the client threads in a child process, so that the service's Python does
not share its interpreter lock with the clients; --clients thread keeps them in this process.

Uses KOTA_KAFKA_BOOTSTRAP if set, otherwise starts the embedded broker on a free port. Never run as a test.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import multiprocessing
import os
import random
import resource
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import grpc
from sqlalchemy import text

from kota.musrenbang.v1 import musrenbang_pb2 as pb
from kota.musrenbang.v1 import musrenbang_pb2_grpc as pb_grpc

GAMBIR = "31.71.01.1001"
NIK_KEY = "kota-bench-nik-key-0123456789abcdef"
ACTIVITIES = ["DRN-01", "DRN-03", "JLN-01", "PJU-01", "SMP-01", "TMN-01", "SOS-01", "SOS-02", "EKO-01", "EKO-03"]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def resident_nik(i: int) -> str:
    """The i-th distinct resident of kecamatan Gambir: a real birth date (1 to 28, any month, 1970-1999) and a
    serial; 16,800 birth dates x 9,999 serials, so i < 10,000 never repeats."""
    day, month, yy = 1 + i % 28, 1 + (i // 28) % 12, 70 + (i // 336) % 30
    serial = 1 + i // 10080
    return f"317101{day:02d}{month:02d}{yy:02d}{serial:04d}"


def proposer_nik(i: int) -> str:
    """Proposers: born in March 1965, so never one of the residents above (born 1970-1999)."""
    return f"317101{1 + i % 28:02d}0365{1 + i:04d}"


def plan(proposal_ids: list[str], residents: int, repeats: int, seed: int) -> list[tuple[str, str, int]]:
    """(proposal id, NIK, pair index) for every attempt, shuffled: repeats are among the first attempts."""
    rng = random.Random(seed)
    pairs = [(proposal_ids[i % len(proposal_ids)], resident_nik(i), i) for i in range(residents)]
    jobs = pairs + [pairs[i] for i in rng.sample(range(residents), repeats)]
    rng.shuffle(jobs)
    return jobs


# -- the clients ----------------------------------------------------------------------------------------------
def drive(address: str, jobs: list[tuple[str, str, int]], threads: int) -> dict:
    """Sends every job from `threads` threads over one channel; returns what each was answered and when."""
    channel = grpc.insecure_channel(address)
    stub = pb_grpc.MusrenbangServiceStub(channel)
    grpc.channel_ready_future(channel).result(timeout=30)
    results: list[tuple[int, str, bool, float] | None] = [None] * len(jobs)  # (pair, outcome, added, ms)
    sent, done = [0.0] * len(jobs), [0.0] * len(jobs)
    start = threading.Barrier(threads + 1)
    counter = iter(range(len(jobs)))
    lock = threading.Lock()

    def worker() -> None:
        start.wait()
        while True:
            with lock:
                k = next(counter, None)
            if k is None:
                return
            proposal_id, nik, pair = jobs[k]
            t = time.perf_counter()
            sent[k] = t
            try:
                r = stub.SupportProposal(pb.SupportProposalRequest(proposal_id=proposal_id, nik=nik), timeout=120)
                outcome, added = "ok", r.added
            except grpc.RpcError as exc:
                outcome, added = exc.code().name, False
            done[k] = time.perf_counter()
            results[k] = (pair, outcome, added, (done[k] - t) * 1000)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for th in pool:
        th.start()
    start.wait()
    for th in pool:
        th.join()
    channel.close()
    return {"results": results, "wall": max(done) - min(sent)}


def drive_in_child(address: str, jobs: list[tuple[str, str, int]], threads: int, out) -> None:
    out.put(drive(address, jobs, threads))


def run_clients(address: str, jobs: list[tuple[str, str, int]], threads: int, mode: str) -> dict:
    if mode == "thread":
        return drive(address, jobs, threads)
    ctx = multiprocessing.get_context("spawn")  # never fork a process that runs a gRPC server
    out = ctx.Queue()
    child = ctx.Process(target=drive_in_child, args=(address, jobs, threads, out))
    child.start()
    answer = out.get(timeout=1800)
    child.join(60)
    return answer


# -- the baseline ---------------------------------------------------------------------------------------------
def baseline(database_url: str, jobs: list[tuple[str, str, int]], threads: int) -> tuple[int, int, float, list[float]]:
    """Raw INSERT ... ON CONFLICT DO NOTHING of every attempt's (proposal, resident hash), one row a
    transaction, from `threads` threads; returns (rows inserted, attempts, seconds, latencies in ms)."""
    from kota_common.db.engines import make_engine

    engine = make_engine(database_url, pool_size=min(threads, 20))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_supports"))
        conn.execute(text("CREATE TABLE bench_supports (proposal_id VARCHAR(36) NOT NULL, resident_hash VARCHAR(64) "
                          "NOT NULL, cycle_year INTEGER NOT NULL, created TIMESTAMP NOT NULL, "
                          "PRIMARY KEY (proposal_id, resident_hash))"))
    key = NIK_KEY.encode()
    rows = [(p, hmac.new(key, nik.encode(), hashlib.sha256).hexdigest()) for p, nik, _ in jobs]
    insert = text("INSERT INTO bench_supports (proposal_id, resident_hash, cycle_year, created) "
                  "VALUES (:p, :h, :y, :c) ON CONFLICT DO NOTHING")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    inserted, lat, lock = [0], [], threading.Lock()

    def one(row: tuple[str, str]) -> None:
        t = time.perf_counter()
        with engine.begin() as conn:
            n = conn.execute(insert, {"p": row[0], "h": row[1], "y": now.year, "c": now}).rowcount
        ms = (time.perf_counter() - t) * 1000
        with lock:
            inserted[0] += n
            lat.append(ms)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, rows))
    elapsed = time.perf_counter() - t0
    with engine.begin() as conn:
        stored = conn.execute(text("SELECT COUNT(*) FROM bench_supports")).scalar_one()
        conn.execute(text("DROP TABLE bench_supports"))
    engine.dispose()
    assert stored == inserted[0], (stored, inserted[0])
    return inserted[0], len(rows), elapsed, lat


# -- the run --------------------------------------------------------------------------------------------------
def run(args, database_url: str, bootstrap: str) -> bool:
    from kota_common.db.engines import make_engine
    from kota_common.group_commit import GroupCommitWriter
    from kota_common.settings import CommonSettings
    from kota_common.testing import free_port
    from kota_musrenbang.config import MusrenbangSettings
    from kota_musrenbang.domain.cycle import PlanningCycle
    from kota_musrenbang.entrypoints.app import bootstrap as boot
    from kota_musrenbang.entrypoints.app import context

    settings = MusrenbangSettings(
        database_url=database_url, grpc_address=f"127.0.0.1:{free_port()}", nik_key=NIK_KEY,
        consumer_group=f"bench-mb-{uuid.uuid4().hex[:8]}", support_limit=args.support_limit,
        **({"grpc_workers": args.grpc_workers} if args.grpc_workers else {}),
        common=CommonSettings(kafka_bootstrap=bootstrap),
    )
    now = datetime.now(timezone.utc).replace(microsecond=0)
    cycle = PlanningCycle.demo(now, support_limit=settings.support_limit)  # kelurahan stage: submit and support open
    host = boot(settings, ctx=context(settings, cycle=cycle))
    host.start()
    try:
        channel = grpc.insecure_channel(settings.grpc_address)
        stub = pb_grpc.MusrenbangServiceStub(channel)
        ids = []
        for i in range(args.proposals):
            loc = pb.Location(kelurahan_code=GAMBIR, rw=f"{1 + i % 12:03d}", rt=f"{1 + i % 9:03d}",
                              address=f"Jl. Tanah Abang II No. {i + 1}")
            p = stub.SubmitProposal(pb.SubmitProposalRequest(
                nik=proposer_nik(i), title=f"Usulan uji beban nomor {i + 1} untuk RW {1 + i % 12:03d}",
                activity_code=ACTIVITIES[i % len(ACTIVITIES)], volume=10 + i, location=loc,
                problem=f"Masalah lingkungan nomor {i + 1} yang perlu ditangani segera oleh kelurahan."),
                timeout=30).proposal
            ids.append(p.id)
        jobs = plan(ids, args.residents, args.repeats, args.seed)
        print(f"database {make_engine(database_url).url.get_backend_name()}, {len(ids)} proposals, "
              f"{args.residents} residents + {args.repeats} repeats = {len(jobs)} attempts, {args.threads} client "
              f"threads ({args.clients}), service grpc_workers {settings.grpc_workers}", flush=True)

        cpu = time.process_time()  # every thread of this process: the service (the clients are a child process)
        answer = run_clients(settings.grpc_address, jobs, args.threads, args.clients)
        cpu = time.process_time() - cpu
        writer = next(c for c in host.components if isinstance(c, GroupCommitWriter))
        results, wall = answer["results"], answer["wall"]
        outcomes = Counter(r[1] for r in results)
        added_by_pair = Counter(r[0] for r in results if r[2])
        accepted = sum(1 for r in results if r[2])
        ok_lat = [r[3] for r in results if r[1] == "ok"]
        counts = {i: stub.GetProposal(pb.GetProposalRequest(id=i), timeout=30).proposal.support_count for i in ids}
        channel.close()
        engine = make_engine(database_url)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT COUNT(*) FROM mb_supports")).scalar_one()
            distinct = conn.execute(text("SELECT COUNT(*) FROM (SELECT DISTINCT proposal_id, resident_hash "
                                         "FROM mb_supports) d")).scalar_one()
        engine.dispose()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the clients' process, ended by now
    finally:
        host.stop()
    # The service's own children (its outbox relay process, by default), reaped by the stop: their CPU as well.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    relay_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)

    rate = accepted / wall
    print(f"{'service: supports (gRPC)':<40} {len(results):>7} attempts in {wall:6.2f} s   accepted {accepted:>6} "
          f"= {rate:>7.0f} accepted/s   {len(results) / wall:>7.0f} answers/s   p50 {pct(ok_lat, 50):7.2f} ms   "
          f"p99 {pct(ok_lat, 99):7.2f} ms   outcomes {dict(outcomes)}")
    print(f"  group commits: {writer.items} writes in {writer.batches} batches ({writer.items / max(writer.batches, 1):.1f} "
          f"a batch, at most {settings.support_batch})")
    if args.clients == "process":
        print(f"  service CPU {cpu:.2f} s = {cpu / len(results) * 1000:.3f} ms an attempt (all its threads; at that "
              f"cost one core would answer {len(results) / cpu:.0f} attempts/s), its relay process {relay_cpu:.2f} s "
              f"in all (start to stop); load average {os.getloadavg()[0]:.1f}")
    pairs = args.residents
    checks = {
        "sum of support_count == distinct pairs": sum(counts.values()) == pairs,
        "exactly one added=true a pair": len(added_by_pair) == pairs and set(added_by_pair.values()) == {1},
        "repeats answered added=false or refused": len(results) - accepted == args.repeats,
        "refusals (if any) only among the repeats": sum(v for k, v in outcomes.items() if k != "ok") <= args.repeats,
        "mb_supports: one row a pair": stored == distinct == pairs,
    }
    print(f"  sum of support_count {sum(counts.values())}, distinct pairs {pairs}, mb_supports rows {stored}, "
          f"pairs with added=true {len(added_by_pair)} (max {max(added_by_pair.values(), default=0)} a pair)")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    held = rate >= args.target
    print(f"target >= {args.target} accepted supports/s: {'holds' if held else 'NOT met'} ({rate:.0f}/s)")
    return all(checks.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proposals", type=int, default=50)
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--clients", choices=["process", "thread"], default="process")
    parser.add_argument("--support-limit", type=int, default=10)
    parser.add_argument("--grpc-workers", type=int, default=0, help="the service's gRPC threads (default: its setting)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--target", type=float, default=2000.0, help="accepted supports/s the issue asks for")
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--postgres", action="store_true", help="run on a throwaway PostgreSQL cluster (needs initdb)")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    assert args.residents <= 10_080 * 9_999 and args.repeats <= args.residents

    from kota_common.testing import bench_broker, bench_workdir

    work = bench_workdir("kota-bench-musrenbang-")

    def with_database(url: str) -> bool:
        if not args.no_baseline:
            jobs = plan([f"U-bench-{i:04d}" for i in range(args.proposals)], args.residents, args.repeats, args.seed)
            n, attempts, seconds, lat = baseline(url, jobs, args.threads)
            print(f"{'baseline: raw INSERT ON CONFLICT':<40} {attempts:>7} attempts in {seconds:6.2f} s   inserted "
                  f"{n:>6} = {n / seconds:>7.0f} rows/s   {attempts / seconds:>7.0f} attempts/s   "
                  f"p50 {pct(lat, 50):7.2f} ms   p99 {pct(lat, 99):7.2f} ms")
        with bench_broker(work) as bootstrap:
            return run(args, url, bootstrap)

    if args.database_url:
        ok = with_database(args.database_url)
    elif args.postgres:
        from kota_common.testing import throwaway_postgres

        with throwaway_postgres() as url:
            ok = with_database(url)
    else:
        ok = with_database(f"sqlite:///{work / 'musrenbang.db'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
