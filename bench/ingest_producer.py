"""Which producer for the sensors ingest path: librdkafka (confluent-kafka) against aiokafka, on records shaped like
the ingest's (a reading's JSON, its key and CloudEvents headers), same broker, same run.

The ingest must hold 250,000 readings/s end to end (bench/sensor_ingest.py --evaluator-only); its producer is
the one Kafka client on the platform that is not aiokafka, and this is the figure that keeps it so
(docs/architecture.md, Events). Each client produces N records as fast as it can and waits for every
acknowledgement (acks=all); aiokafka is given its fastest path (send without awaiting each record, large
batches, one gather at the end) and, separately, its batch API (create_batch / send_batch).

    .venv/bin/python bench/ingest_producer.py [--records 300000] [--compression lz4]

Uses KOTA_KAFKA_BOOTSTRAP if set, otherwise starts the embedded broker on a free port. Never run as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid

from aiokafka import AIOKafkaProducer
from sensor_ingest import raw_producer  # the same records, the same producer settings as the ingest bench

from kota_common.kafka import ensure_topics
from kota_common.testing import bench_broker, bench_workdir

STATIC_HEADERS = [("ce_specversion", b"1.0"), ("ce_source", b"/kota/sensors"), ("ce_subject", b"DEV-0001"),
                  ("ce_time", b"2026-11-23T05:00:00.000000+00:00"), ("content-type", b"application/json"),
                  ("ce_type", b"kota.sensors.reading.v1")]
KEY = b"DEV-0001"
PREFIX = '{"device_id":"DEV-0001","quantity":"pm25","unit":"ug/m3","value":'


def record(i: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    value = f'{PREFIX}{i % 97 + 0.5!r},"observed_at_ms":{1795400000000 + i}}}'.encode()
    return value, [("ce_id", f"DEV-0001/pm25/{i}".encode()), *STATIC_HEADERS]


async def aiokafka_send(bootstrap: str, topic: str, n: int, compression: str) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, compression_type=compression,
                                max_batch_size=1024 * 1024)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = []
        for i in range(n):
            value, headers = record(i)
            futures.append(await producer.send(topic, value=value, key=KEY, headers=headers))
        await asyncio.gather(*futures)
        return n / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def aiokafka_batches(bootstrap: str, topic: str, n: int, compression: str) -> float:
    """aiokafka's batch API: one batch of records a partition at a time (the key's partition)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=compression,
                                max_batch_size=1024 * 1024)
    await producer.start()
    try:
        partition = (await producer.partitions_for(topic)).pop()
        started = time.perf_counter()
        futures = []
        batch = producer.create_batch()
        for i in range(n):
            value, headers = record(i)
            if batch.append(key=KEY, value=value, timestamp=None, headers=headers) is None:
                batch.close()
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=KEY, value=value, timestamp=None, headers=headers)
        batch.close()
        futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
        return n / (time.perf_counter() - started)
    finally:
        await producer.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--compression", default="lz4", choices=["lz4", "gzip", "zstd", "snappy"])
    args = ap.parse_args()
    work = bench_workdir("kota-bench-producer-")
    with bench_broker(work) as bootstrap:
        topics = [f"bench.producer.{uuid.uuid4().hex[:6]}.{i}" for i in range(2)]
        ensure_topics(bootstrap, topics)
        results = [
            ("librdkafka (confluent-kafka), the ingest's producer", raw_producer(bootstrap, args.records, True, args.compression)),
            ("aiokafka send(), all in flight, one gather", asyncio.run(aiokafka_send(bootstrap, topics[0], args.records, args.compression))),
            ("aiokafka create_batch/send_batch", asyncio.run(aiokafka_batches(bootstrap, topics[1], args.records, args.compression))),
        ]
        print(f"records/s acknowledged (acks=all, {args.compression}), {args.records:,} reading-shaped records each:")
        for name, rate in results:
            print(f"  {name:<56} {rate:>10,.0f}/s")
        print("the ingest's target: 250,000 readings/s end to end (validation, encoding and gRPC included)")
        return 0


if __name__ == "__main__":
    sys.exit(main())
