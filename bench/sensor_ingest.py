"""Sensor ingest benchmark: gRPC stream -> validation -> Kafka, end to end, beside the raw producer.

Prints, from one run against the same broker:
  1. raw librdkafka (confluent-kafka) producer rate for records of the same shape (key, ~110-byte JSON value,
     CloudEvents headers) and for bare records (key + value only), acked by the broker (flush);
  2. end to end: concurrent gRPC IngestReadings streams of columnar batches into the sensors service (its own
     process), counting what lands on sensors.readings.v1 (sum of partition high watermarks), and the
     readings the service acknowledged;
  3. with --evaluate: the readings consumer (observation store + alert evaluator) lag after the run.

    .venv/bin/python bench/sensor_ingest.py [--readings 2000000] [--batch 5000] [--streams 4] [--devices 40]

Uses KOTA_KAFKA_BOOTSTRAP if set, otherwise starts the embedded broker on a free port. Never run as a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
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
from kota_common.testing import ServiceProcess, free_port

TOPIC = "sensors.readings.v1"


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
    ap.add_argument("--evaluate", action="store_true", help="also run the readings consumer and report its lag")
    args = ap.parse_args()

    proc_broker = None
    bootstrap = os.environ.get("KOTA_KAFKA_BOOTSTRAP")
    tmp = Path(tempfile.mkdtemp(prefix="kota-bench-sensors-"))
    if not bootstrap:
        from kota_common.broker import start_embedded_broker

        bootstrap = f"127.0.0.1:{free_port()}"
        proc_broker = start_embedded_broker(bootstrap, tmp / "broker.log")
    print(f"broker {bootstrap}; {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    ensure_topics(bootstrap, [TOPIC, "sensors.vehicle-positions.v1", "sensors.alerts.v1"])

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
        "KOTA_SENSORS_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:6]}", "KOTA_LOG_LEVEL": "WARNING",
    }
    service = ServiceProcess("kota_sensors", env, address, tmp / "sensors.log").start()
    try:
        channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)])
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
        batches: list[list[pb.IngestReadingsRequest]] = [[] for _ in range(args.streams)]
        cursor = dict.fromkeys(devices, start_ms)
        values = [float(10 + (i * 7) % 90) for i in range(per_batch)]
        for b in range(n_batches):
            dev = devices[b % len(devices)]
            t = cursor[dev]
            cursor[dev] = t + per_batch
            batches[b % args.streams].append(pb.IngestReadingsRequest(
                sequence=b, device_id=dev, device_token=tokens[dev],
                series=[pb.Series(quantity="pm25", unit="ug/m3", timestamps_ms=range(t, t + per_batch), values=values)]))
        total = n_batches * per_batch
        before_offsets = end_offsets(bootstrap, TOPIC)
        acked = [0] * args.streams
        refused = [0] * args.streams

        def stream(i: int) -> None:
            for ans in stub.IngestReadings(iter(batches[i])):
                acked[i] += ans.accepted
                refused[i] += ans.rejected + (1 if ans.refused_reason else 0)

        threads = [threading.Thread(target=stream, args=(i,)) for i in range(args.streams)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        ack_times = [0.0] * args.streams

        def joined() -> None:
            for i, th in enumerate(threads):
                th.join()
                ack_times[i] = time.perf_counter() - t0

        joined()
        t_acked = max(ack_times)
        # Every acknowledged reading is on the topic (the service acks after the broker did); count them exactly.
        landed = count_records(bootstrap, TOPIC, before_offsets)
        print(f"end to end gRPC -> validation -> topic (acked)    {sum(acked) / t_acked:>10,.0f} readings/s  "
              f"({sum(acked):,} of {total:,} acknowledged in {t_acked:.2f} s; batches of {per_batch}, {args.streams} "
              f"streams, {args.devices} devices, delivery reports: {args.delivery_reports})")
        print(f"  records on {TOPIC} after the run          {landed:>10,}   ({sum(refused)} rejected/refused)")
        print(f"  end to end / raw CE-shaped producer              {sum(acked) / t_acked / raw_h:>10.0%}")
        if args.evaluate:
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": env["KOTA_SENSORS_CONSUMER_GROUP"]})
            parts = c.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
            tps = [TopicPartition(TOPIC, p) for p in parts]
            high = sum(c.get_watermark_offsets(tp, timeout=10)[1] for tp in tps)
            lag_at_end, lag = None, None
            while time.perf_counter() - t0 < t_acked + 300:
                done = sum(max(tp.offset, 0) for tp in c.committed(tps, timeout=10))
                lag = high - done
                if lag_at_end is None:
                    lag_at_end = lag
                if lag <= 0:
                    break
                time.sleep(0.5)
            t_caught_up = time.perf_counter() - t0
            print(f"  readings consumer lag when the last ack came      {lag_at_end:>10,} records")
            print(f"  readings consumer (store + alerts) caught up at   {t_caught_up:>10.2f} s: "
                  f"{(high - sum(before_offsets.values())) / t_caught_up:,.0f} records/s on average (lag now {max(lag, 0):,})")
            c.close()
        channel.close()
    finally:
        service.stop()
        if proc_broker is not None:
            proc_broker.terminate()
            proc_broker.wait(10)


if __name__ == "__main__":
    main()
