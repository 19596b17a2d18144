"""Sensor ingest benchmark: gRPC stream -> validation -> Kafka, end to end, beside the raw producer.

Prints, from one run against the same broker:
  1. raw librdkafka (confluent-kafka) producer rate for records of the same shape (key, ~110-byte JSON value,
     CloudEvents headers) and for bare records (key + value only), acked by the broker (flush);
  2. end to end: concurrent gRPC IngestReadings streams (one connection each) of columnar batches into the
     sensors service (its own processes: --ingest-processes share the port), counting what lands on
     sensors.readings.v1 exactly, and the readings the service acknowledged. Work is handed out by device in
     chunks of batches, so a stream on a busier process takes fewer and a device's batches stay in order;
  3. with --evaluate: the alert evaluator's consumer-group lag on sensors.reading-summaries.v1 (one summary per
     accepted batch, which is what it reads) sampled every 0.5 s during the run (max, at the last ack, when
     caught up) and the observation store's lag on the readings and its catch-up time; with --evaluator-only
     instead, the alert evaluator in its own process (role alerts) and no observation store: ingest with an alert
     consumer keeping up, as when the history is written on another machine;
  4. with --drain: the alert evaluator alone (its own process, after the run) draining the summaries that landed:
     the rate it keeps up with when nothing else competes for the CPU.

    .venv/bin/python bench/sensor_ingest.py [--readings 2000000] [--batch 5000] [--streams 4] [--devices 40]
        [--ingest-processes 2] [--evaluate | --evaluator-only] [--drain]

Uses KOTA_KAFKA_BOOTSTRAP if set, otherwise starts the embedded broker on a free port. Never run as a test.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import grpc
from confluent_kafka import Consumer, TopicPartition

from kota.sensors.v1 import sensors_pb2 as pb
from kota.sensors.v1 import sensors_pb2_grpc as pb_grpc
from kota_common.auth import issue_token
from kota_common.kafka import ensure_topics, make_producer
from kota_common.settings import CommonSettings
from kota_common.testing import ServiceProcess, bench_workdir, cpu_seconds, free_port

TOPIC = "sensors.readings.v1"
SUMMARIES = "sensors.reading-summaries.v1"  # one per accepted batch: what the alert evaluator reads


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def count_records(bootstrap: str, topic: str, start: dict[int, int], idle: float = 3.0) -> int:
    """Reads the topic from the given offsets until nothing more comes for `idle` seconds; returns the count."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}", "enable.auto.commit": False,
                  "fetch.max.bytes": 64 * 1024 * 1024})
    c.assign([TopicPartition(topic, p, o) for p, o in start.items()])
    n, last = 0, time.monotonic()
    while time.monotonic() - last < idle:
        msgs = c.consume(100_000, 0.5)
        got = sum(1 for m in msgs if m.error() is None)
        if got:
            n += got
            last = time.monotonic()
    c.close()
    return n


def raw_producer(bootstrap: str, n: int, with_headers: bool, compression: str) -> float:
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    ensure_topics(bootstrap, [topic])
    p = make_producer(bootstrap, **{"linger.ms": 20, "compression.type": compression, "batch.num.messages": 100_000,
                                    "batch.size": 4 * 1024 * 1024, "queue.buffering.max.messages": 2_000_000,
                                    "queue.buffering.max.kbytes": 1024 * 1024})
    static = [("ce_specversion", b"1.0"), ("ce_source", b"/kota/sensors"), ("ce_subject", b"DEV-0001"),
              ("ce_time", b"2026-11-23T05:00:00.000000+00:00"), ("content-type", b"application/json")]
    key = b"DEV-0001"
    prefix = '{"device_id":"DEV-0001","quantity":"pm25","unit":"ug/m3","value":'
    delivered = [0]

    def cb(err, _msg):
        if err is None:
            delivered[0] += 1

    t0 = time.perf_counter()
    for i in range(n):
        value = f'{prefix}{i % 97 + 0.5!r},"observed_at_ms":{1795400000000 + i}}}'
        while True:
            try:
                if with_headers:
                    p.produce(topic, value, key, on_delivery=cb,
                              headers=[("ce_id", f"DEV-0001/pm25/{i}"), ("ce_type", b"kota.sensors.reading.v1"), *static])
                else:
                    p.produce(topic, value, key, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.005)
        if i & 0x3FFF == 0:
            p.poll(0)
    p.flush(120)
    elapsed = time.perf_counter() - t0
    assert delivered[0] == n, f"only {delivered[0]} of {n} delivered"
    return n / elapsed


def role_cpu(service_pid: int) -> dict[str, float]:
    """CPU seconds so far of the service process (`all`) and each of its child processes, by role."""
    out = {"all": cpu_seconds(service_pid)}
    for task in Path(f"/proc/{service_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            role = next((e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"KOTA_SENSORS_ROLE=")), child)
            out[role] = out.get(role, 0.0) + cpu_seconds(int(child))
    return out


def wait_evaluator_ready(bootstrap: str, stub, admin: list, group: str, timeout: float = 120.0) -> float:
    """Sends one batch from a warm-up station and waits until the alert evaluator (group `group`) has committed
    its summary, so that its start-up (imports, joining the group) is not counted as lag; returns the wait."""
    t0 = time.perf_counter()
    dev = pb.Device(id="BENCH-WARMUP", name="warm-up station", kind="air_quality", owner_agency="DLH",
                    location=pb.Location(lat=-6.3, lon=106.7))
    token = stub.ProvisionDevice(pb.ProvisionDeviceRequest(device=dev), metadata=admin).device_token
    readings_before = sum(end_offsets(bootstrap, TOPIC).values())
    start = int(time.time() * 1000) - 60_000
    # One reading: Tansu reports a partition's end offset as the last record batch's first offset + 1, so only a
    # batch of one record is counted exactly in the end offsets the run starts from.
    ack = list(stub.IngestReadings(iter([pb.IngestReadingsRequest(device_id=dev.id, device_token=token, series=[
        pb.Series(quantity="pm25", unit="ug/m3", timestamps_ms=[start], values=[10.0])])])))
    assert ack and ack[0].accepted == 1, ack
    end = end_offsets(bootstrap, SUMMARIES)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(SUMMARIES, p) for p in end]
        while time.perf_counter() - t0 < timeout:
            # and the warm-up readings are all counted in the topic's end offsets, which the run starts from
            if (all(tp.offset >= end[tp.partition] for tp in c.committed(tps, timeout=10) if end[tp.partition] > 0)
                    and sum(end_offsets(bootstrap, TOPIC).values()) > readings_before):
                return time.perf_counter() - t0
            time.sleep(0.2)
        raise TimeoutError(f"the alert evaluator did not commit its first summary within {timeout:.0f} s")
    finally:
        c.close()


def start_evaluator(env: dict[str, str], tmp: Path, group: str) -> subprocess.Popen:
    """The alert evaluator as its own process (role alerts), in consumer group `<group>-alerts`."""
    return subprocess.Popen([sys.executable, "-m", "kota_sensors"],
                            env={**os.environ, **env, "KOTA_SENSORS_ROLE": "alerts", "KOTA_SENSORS_CONSUMER_GROUP": group},
                            stdout=open(tmp / f"{group}.log", "ab"), stderr=subprocess.STDOUT)


def drain(bootstrap: str, env: dict[str, str], tmp: Path, group_lag, tps: list, landed: int, per_summary: int) -> None:
    """The alert evaluator alone (role alerts, its own process, a new consumer group) on the summaries the run left
    on their topic (`landed`, each of `per_summary` readings): how long from its start until its lag is 0, and its
    CPU (start-up included: the summaries of a whole run take it a batch or two)."""
    group = env["KOTA_SENSORS_CONSUMER_GROUP"] + "-drain"
    proc = start_evaluator(env, tmp, group)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group + "-alerts"})
    try:
        t0 = time.perf_counter()
        first = None  # (time, lag) at the first commit: start-up and the first batch's fetch are not counted
        lag = landed
        while time.perf_counter() - t0 < 300 and proc.poll() is None:
            lag = group_lag(c, tps)
            now = time.perf_counter()
            if first is None and lag < landed:
                first = (now, lag)
            if lag <= 0:
                break
            time.sleep(0.05)
        if first is None or lag > 0:
            print(f"  alert evaluator alone: did not drain (lag {lag:,}; see {tmp / (group + '.log')})")
            return
        cpu = cpu_seconds(proc.pid)
        print(f"  alert evaluator alone, draining the summaries     {landed:,} summaries ({landed * per_summary:,} readings) "
              f"drained {now - t0:.2f} s after its start; {cpu:.2f} s of CPU over its whole life, start-up included "
              f"(≤{cpu / (landed * per_summary) * 1e6:.2f} µs per reading)")
    finally:
        c.close()
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=2_000_000)
    ap.add_argument("--batch", type=int, default=5000, help="readings per IngestReadings batch")
    ap.add_argument("--streams", type=int, default=4, help="concurrent gRPC streams")
    ap.add_argument("--devices", type=int, default=40)
    ap.add_argument("--raw", type=int, default=1_000_000, help="records for the raw producer baseline")
    ap.add_argument("--compression", default="lz4")
    ap.add_argument("--delivery-reports", choices=["each", "last"], default="each",
                    help="each: a delivery report per reading; last: one per series")
    ap.add_argument("--evaluate", action="store_true",
                    help="also run the alert evaluator and the observation store and report their lag")
    ap.add_argument("--evaluator-only", action="store_true",
                    help="like --evaluate, but the alert evaluator alone (its own process) and no observation store")
    ap.add_argument("--drain", action="store_true",
                    help="after the run, start the alert evaluator alone on the summaries that landed and report how long "
                    "it takes to drain them and its CPU")
    ap.add_argument("--ingest-processes", type=int, default=2, help="gRPC ingest processes sharing the port")
    ap.add_argument("--chunk", type=int, default=4, help="batches of one device handed to a stream at a time")
    ap.add_argument("--ingest-nice", type=int, default=5,
                    help="KOTA_SENSORS_INGEST_NICE (the service's default, 5, gives the alert evaluator CPU priority "
                    "over ingest; 0: ingest first)")
    ap.add_argument("--rate", type=float, default=0, help="offered readings/s (0: as fast as the service takes them)")
    args = ap.parse_args()
    consumers = args.evaluate or args.evaluator_only

    proc_broker = None
    bootstrap = os.environ.get("KOTA_KAFKA_BOOTSTRAP")
    tmp = bench_workdir("kota-bench-sensors-")
    if not bootstrap:
        from kota_common.broker import start_embedded_broker

        bootstrap = f"127.0.0.1:{free_port()}"
        proc_broker = start_embedded_broker(bootstrap, tmp / "broker.log")
    print(f"broker {bootstrap}; {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    ensure_topics(bootstrap, [TOPIC, SUMMARIES, "sensors.vehicle-positions.v1", "sensors.alerts.v1"])

    raw_h = raw_producer(bootstrap, args.raw, True, args.compression)
    raw_b = raw_producer(bootstrap, args.raw, False, args.compression)
    print(f"raw confluent-kafka producer, CE-shaped records  {raw_h:>10,.0f} records/s  ({args.raw:,}, {args.compression})")
    print(f"raw confluent-kafka producer, bare records       {raw_b:>10,.0f} records/s")

    address = f"127.0.0.1:{free_port()}"
    env = {
        "KOTA_KAFKA_BOOTSTRAP": bootstrap, "KOTA_SENSORS_GRPC_ADDRESS": address,
        "KOTA_SENSORS_DATABASE_URL": f"sqlite:///{tmp / 'sensors.db'}", "KOTA_SENSORS_HTTP_ENABLED": "false",
        "KOTA_SENSORS_MQTT_ENABLED": "false", "KOTA_SENSORS_SEED": "false",
        "KOTA_SENSORS_EVALUATE": "true" if args.evaluate else "false", "KOTA_SENSORS_PRODUCE_COMPRESSION": args.compression,
        "KOTA_SENSORS_DELIVERY_REPORTS": args.delivery_reports,
        "KOTA_SENSORS_INGEST_PROCESSES": str(args.ingest_processes), "KOTA_SENSORS_INGEST_NICE": str(args.ingest_nice),
        "KOTA_SENSORS_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:6]}", "KOTA_LOG_LEVEL": "WARNING",
    }
    service = ServiceProcess("kota_sensors", env, address, tmp / "sensors.log").start()
    evaluator = None
    try:
        def open_channel() -> grpc.Channel:  # its own connection (no shared subchannel), so SO_REUSEPORT spreads them
            return grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 * 1024 * 1024),
                                                           ("grpc.use_local_subchannel_pool", 1)])

        channel = open_channel()
        stub = pb_grpc.SensorsServiceStub(channel)
        admin = [("authorization", "Bearer " + issue_token(CommonSettings().auth_secret, "bench", "DLH", ["admin"]))]
        tokens = {}
        for d in range(args.devices):
            dev = pb.Device(id=f"BENCH-{d:04d}", name=f"bench station {d}", kind="air_quality", owner_agency="DLH",
                            location=pb.Location(lat=-6.2 + d * 1e-3, lon=106.8))
            tokens[dev.id] = stub.ProvisionDevice(pb.ProvisionDeviceRequest(device=dev), metadata=admin).device_token

        # Pre-built batches (a gateway would build them as readings arrive): per device increasing timestamps.
        per_batch = args.batch
        n_batches = max(1, args.readings // per_batch)
        start_ms = int(time.time() * 1000) - 86_400_000
        devices = list(tokens)
        work: dict[str, collections.deque] = {d: collections.deque() for d in devices}
        cursor = dict.fromkeys(devices, start_ms)
        values = [float(10 + (i * 7) % 90) for i in range(per_batch)]
        for b in range(n_batches):
            dev = devices[b % len(devices)]
            t = cursor[dev]
            cursor[dev] = t + per_batch
            work[dev].append(pb.IngestReadingsRequest(
                sequence=b, device_id=dev, device_token=tokens[dev],
                series=[pb.Series(quantity="pm25", unit="ug/m3", timestamps_ms=range(t, t + per_batch), values=values)]))
        total = n_batches * per_batch
        if args.evaluator_only:
            evaluator = start_evaluator(env, tmp, env["KOTA_SENSORS_CONSUMER_GROUP"])
        if consumers:
            warmup_s = wait_evaluator_ready(bootstrap, stub, admin, f"{env['KOTA_SENSORS_CONSUMER_GROUP']}-alerts")
            print(f"alert evaluator ready (committed a warm-up batch's summary) after {warmup_s:.1f} s")
        before_offsets = end_offsets(bootstrap, TOPIC)
        before_summaries = end_offsets(bootstrap, SUMMARIES)
        acked = [0] * args.streams
        refused = [0] * args.streams
        ready = collections.deque(d for d in devices if work[d])
        left = [sum(len(q) for q in work.values())]  # batches not yet handed out
        cond = threading.Condition()
        inflight = [collections.deque() for _ in range(args.streams)]  # (device, sequence of its chunk's last batch)

        def requests(i: int):
            """Hands this stream a device's next chunk whenever it has fewer than two chunks in flight."""
            while True:
                with cond:
                    while left[0] and (not ready or len(inflight[i]) >= 2):
                        cond.wait(1)
                    if not left[0]:
                        return
                    dev = ready.popleft()
                    q = work[dev]
                    chunk = [q.popleft() for _ in range(min(args.chunk, len(q)))]
                    left[0] -= len(chunk)
                    handed = n_batches - left[0]
                if args.rate and (pause := t0 + handed * per_batch / args.rate - time.perf_counter()) > 0:
                    time.sleep(pause)  # open loop at the offered rate (a chunk is sent when its time comes)
                with cond:
                    inflight[i].append((dev, chunk[-1].sequence))
                yield from chunk

        def stream(i: int) -> None:
            ch = open_channel()
            for ans in pb_grpc.SensorsServiceStub(ch).IngestReadings(requests(i)):
                acked[i] += ans.accepted
                refused[i] += ans.rejected + (1 if ans.refused_reason else 0)
                with cond:
                    if inflight[i] and inflight[i][0][1] == ans.sequence:
                        dev, _seq = inflight[i].popleft()
                        if work[dev]:
                            ready.append(dev)
                    cond.notify_all()
            ch.close()

        lag_samples: list[tuple[float, int]] = []
        sampling = threading.Event()
        alerts = f"{env['KOTA_SENSORS_CONSUMER_GROUP']}-alerts"

        def group_lag(c: Consumer, tps: list) -> int:
            # Committed offsets first, then the end: read the other way round, a commit in between showed as
            # negative lag.
            start = before_summaries if tps[0].topic == SUMMARIES else before_offsets
            done = {tp.partition: max(tp.offset, start.get(tp.partition, 0))
                    for tp in c.committed(tps, timeout=10)}
            # Per partition and never below 0: a partition's end can be reported a moment behind its commit.
            return sum(max(c.get_watermark_offsets(tp, timeout=10, cached=False)[1] - done[tp.partition], 0)
                       for tp in tps)

        def sample_lag() -> None:
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": alerts})
            tps = [TopicPartition(SUMMARIES, p) for p in before_summaries]
            while not sampling.is_set():
                lag_samples.append((time.perf_counter() - t0, group_lag(c, tps)))
                sampling.wait(0.5)
            c.close()

        if consumers:  # the store starts from the earliest offset: let it reach the end first
            time.sleep(2)
        threads = [threading.Thread(target=stream, args=(i,)) for i in range(args.streams)]
        cpu_before = role_cpu(service.proc.pid)
        if evaluator is not None:
            cpu_before["alerts"] = cpu_seconds(evaluator.pid)
        t0 = time.perf_counter()
        sampler = threading.Thread(target=sample_lag)
        if consumers:
            sampler.start()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        t_acked = time.perf_counter() - t0
        cpu_now = role_cpu(service.proc.pid) | ({"alerts": cpu_seconds(evaluator.pid)} if evaluator is not None else {})
        cpu_run = {role: cpu - cpu_before.get(role, 0.0) for role, cpu in cpu_now.items()}
        lag_at_ack = lag_samples[-1][1] if lag_samples else 0
        # Every acknowledged reading is on the topic (the service acks after the broker did); count them exactly.
        if consumers:  # first watch the alert evaluator drain, then count (the count competes for CPU)
            while time.perf_counter() - t0 < t_acked + 120 and (not lag_samples or lag_samples[-1][1] > 0
                                                                 or lag_samples[-1][0] < t_acked):
                time.sleep(0.2)
            sampling.set()
            sampler.join()
        landed = count_records(bootstrap, TOPIC, before_offsets)
        print(f"end to end gRPC -> validation -> topic (acked)    {sum(acked) / t_acked:>10,.0f} readings/s  "
              f"({sum(acked):,} of {total:,} acknowledged in {t_acked:.2f} s; batches of {per_batch}, {args.streams} "
              f"streams, {args.devices} devices, {args.ingest_processes} ingest processes, delivery reports: "
              f"{args.delivery_reports}{', evaluator and store running' if args.evaluate else ''}"
              f"{', evaluator (its own process) running, no store' if args.evaluator_only else ''}"
              f", ingest nice {args.ingest_nice}{f', offered {args.rate:,.0f}/s' if args.rate else ''})")
        print(f"  records on {TOPIC} after the run          {landed:>10,}   ({sum(refused)} rejected/refused)")
        print(f"  end to end / raw CE-shaped producer              {sum(acked) / t_acked / raw_h:>10.0%}")
        print(f"  end to end / raw bare producer                   {sum(acked) / t_acked / raw_b:>10.0%}")
        print("  service CPU during the run, by process role      "
              + ", ".join(f"{role} {cpu:.1f} s ({cpu / t_acked:.0%} of a core, {cpu / max(sum(acked), 1) * 1e6:.2f} µs/reading)"
                          for role, cpu in sorted(cpu_run.items())))
        if consumers:
            during = [lag for t, lag in lag_samples if t <= t_acked]
            caught = next((t for t, lag in lag_samples if t >= t_acked and lag <= 0), None)
            print(f"  alert evaluator lag, sampled every 0.5 s          max {max(during or [0]):,} summaries "
                  f"({max(during or [0]) * per_batch:,} readings), {lag_at_ack:,} at the last ack, "
                  f"{max(lag_samples[-1][1], 0):,} at the end "
                  f"({'caught up %.2f s after the last ack' % (caught - t_acked) if caught is not None else 'not caught up'})")
            print("  alert evaluator lag over the run (s: summaries)   "
                  + ", ".join(f"{t:.1f}: {lag:,}" for t, lag in lag_samples[:: max(1, len(lag_samples) // 12)]))
        if args.evaluate:
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": env["KOTA_SENSORS_CONSUMER_GROUP"]})
            tps = [TopicPartition(TOPIC, p) for p in before_offsets]
            lag = group_lag(c, tps)
            print(f"  observation store lag after the count             {lag:,} records at {time.perf_counter() - t0:.1f} s")
            while lag > 0 and time.perf_counter() - t0 < t_acked + 300:
                time.sleep(0.5)
                lag = group_lag(c, tps)
            t_store = time.perf_counter() - t0
            print(f"  observation store (SQLite) caught up at            {t_store:.1f} s: "
                  f"{total / t_store:,.0f} records/s on average (lag now {max(lag, 0):,})")
            c.close()
        if args.drain:
            summaries = count_records(bootstrap, SUMMARIES, before_summaries)
            drain(bootstrap, env, tmp, group_lag, [TopicPartition(SUMMARIES, p) for p in before_summaries], summaries,
                  per_batch)
        channel.close()
    finally:
        if evaluator is not None:
            evaluator.terminate()
            evaluator.wait(10)
        service.stop()
        if proc_broker is not None:
            proc_broker.terminate()
            proc_broker.wait(10)


if __name__ == "__main__":
    main()
