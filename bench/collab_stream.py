"""Shared-stream benchmark: `SubscribeSharedEvents` over mutual TLS, a partner city reading Jakarta's flood alerts.

Two collab processes (Jakarta and Makassar, each its own SQLite database) with certificates from the development CA
(`kota certs`' `development_set`) federate as the integration tests do: Jakarta proposes, Makassar accepts, Jakarta
signs, activates and grants Makassar the stream `flood-alerts`. The bench then reads `sensors.alerts.v1` as
Makassar (its client certificate, over TLS to Jakarta's inter-city port) and, as the baseline in the same run, with a
plain aiokafka consumer of the same topic:

  1. throughput: --events flood alerts already on the topic, read from the start (events/s from the first event to
     the last; every alert once, none twice);
  2. latency: alerts produced at an offered --rate (default 1,000/s) for --seconds, each timed from its produce()
     call (librdkafka, as services produce) to its arrival at the reader (p50/p95/p99).

The partner's stream is read by a synchronous gRPC client in this process; Jakarta's CPU per event is reported.

    .venv/bin/python bench/collab_stream.py [--events 100000] [--rate 1000] [--seconds 10]

Uses KOTA_KAFKA_BOOTSTRAP if set, otherwise starts the embedded broker on a free port. Never run as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import grpc

from kota.collab.v1 import collab_pb2 as pb
from kota.collab.v1 import collab_pb2_grpc as pb_grpc
from kota_collab.certs import development_set, host_name
from kota_common import envelope
from kota_common.auth import issue_token
from kota_common.events import collab as collab_events
from kota_common.events.sensors import ALERTS_TOPIC, SensorAlert
from kota_common.kafka import assign_all, ensure_topics, make_producer, topic_consumer
from kota_common.testing import ServiceProcess, bench_broker, bench_workdir, cpu_seconds, free_port, wait_until

SECRET = "collab-bench-secret-0123456789abcdef"
ADMIN = [("authorization", f"Bearer {issue_token(SECRET, 'petugas', 'DISKOMINFOTIK', ['admin'])}")]
STREAM = "flood-alerts"
STREAM_NAMES = {False: "SubscribeSharedEvents, mTLS, 1 event a message", True: "SubscribeSharedEvents, mTLS, max_batch {}"}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# -- two cities ------------------------------------------------------------------------------------------------
class City:
    def __init__(self, city_id: str, certs: Path, bootstrap: str, work: Path):
        self.id = city_id
        self.staff_address, self.federation_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        self.process = ServiceProcess("kota_collab", {
            "KOTA_COLLAB_GRPC_ADDRESS": self.staff_address, "KOTA_COLLAB_FEDERATION_ADDRESS": self.federation_address,
            "KOTA_COLLAB_DATABASE_URL": f"sqlite:///{work / (city_id + '.db')}", "KOTA_COLLAB_CITY_ID": city_id,
            "KOTA_COLLAB_CITY_NAME": city_id.title(), "KOTA_COLLAB_TLS_DIR": str(certs),
            "KOTA_COLLAB_FEDERATION_RETRY_BASE_S": "0.2", "KOTA_COLLAB_FEDERATION_RETRY_MAX_S": "1",
            "KOTA_KAFKA_BOOTSTRAP": bootstrap, "KOTA_AUTH_SECRET": SECRET, "KOTA_LOG_LEVEL": "WARNING",
            "KOTA_COLLAB_OPENDATA_ADDRESS": "127.0.0.1:1", "KOTA_COLLAB_CATALOGUE_INTERVAL_S": "0",
        }, self.staff_address, work / f"{city_id}.log")
        self.channel: grpc.Channel | None = None

    @property
    def staff(self) -> pb_grpc.CollabServiceStub:
        if self.channel is None:
            self.channel = grpc.insecure_channel(self.staff_address)
        return pb_grpc.CollabServiceStub(self.channel)

    def profile(self) -> pb.City:
        return pb.City(id=self.id, name=self.id.title(), country="ID", endpoint=self.federation_address)

    def statuses(self, pid: str) -> list[str]:
        try:
            found = self.staff.GetPartnership(pb.GetPartnershipRequest(id=pid), metadata=ADMIN, timeout=5)
        except grpc.RpcError:
            return []
        return [h.status for h in found.partnership.history]

    def decide(self, pid: str, decision: int, **kw) -> None:
        self.staff.DecidePartnership(pb.DecidePartnershipRequest(id=pid, decision=decision, **kw), metadata=ADMIN,
                                     timeout=10)

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
        self.process.stop()


def federate(jakarta: City, makassar: City) -> str:
    """An active partnership under which Jakarta grants Makassar the flood alerts; the agreement's id."""
    jakarta.staff.RegisterCity(pb.RegisterCityRequest(city=makassar.profile()), metadata=ADMIN, timeout=10)
    makassar.staff.RegisterCity(pb.RegisterCityRequest(city=jakarta.profile()), metadata=ADMIN, timeout=10)
    pid = jakarta.staff.CreatePartnership(pb.CreatePartnershipRequest(
        kind=pb.PARTNERSHIP_KIND_TECHNICAL_COOPERATION, title="Berbagi peringatan banjir", partner_city_ids=["makassar"],
        focus_areas=["safety_security"], request_id=uuid.uuid4().hex), metadata=ADMIN, timeout=10).partnership.id
    wait_until(lambda: makassar.statuses(pid) == ["proposed"], 60, what="Makassar to receive the proposal")
    makassar.decide(pid, pb.DECISION_ACCEPT)
    wait_until(lambda: len(jakarta.statuses(pid)) == 2, 60, what="Jakarta to learn of the acceptance")
    jakarta.decide(pid, pb.DECISION_SIGN, signed_on="2026-12-07")
    jakarta.decide(pid, pb.DECISION_ACTIVATE)
    return jakarta.staff.GrantAgreement(pb.GrantAgreementRequest(
        partnership_id=pid, city_id="makassar", streams=[STREAM], valid_until="2099-12-31"),
        metadata=ADMIN, timeout=10).agreement.id


def partner_stub(certs: Path, as_city: str, target: City) -> tuple[grpc.Channel, pb_grpc.FederationServiceStub]:
    creds = grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes(), (certs / f"{as_city}-key.pem").read_bytes(),
                                         (certs / f"{as_city}.pem").read_bytes())
    channel = grpc.secure_channel(target.federation_address, creds,
                                  options=[("grpc.ssl_target_name_override", host_name(target.id))])
    return channel, pb_grpc.FederationServiceStub(channel)


# -- the topic -------------------------------------------------------------------------------------------------
def alert_record(n: int) -> tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]:
    station = f"PA-{n % 40:02d}"
    a = SensorAlert(alert_id=str(uuid.uuid4()), kind="flood", station_id=station, station_name=f"Pos {station}",
                    lat=-6.2, lon=106.8, kota_code="31.74", level=f"siaga-{4 - n % 4}", severity="watch",
                    value=100.0 + n % 200, unit="cm", observed_at=datetime.now(timezone.utc))
    key, value, headers = envelope.encode(envelope.Event(type=a.ce_type, source="/kota/sensors", subject=station,
                                                         data=a.to_data()), station)
    return a.alert_id, key, value, headers


def produce_backlog(bootstrap: str, n: int) -> set[str]:
    producer = make_producer(bootstrap)
    ids = set()
    for i in range(n):
        alert_id, key, value, headers = alert_record(i)
        ids.add(alert_id)
        while True:
            try:
                producer.produce(ALERTS_TOPIC, value=value, key=key, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("the backlog was not all acknowledged")
    return ids


class PacedProducer:
    """Produces alerts at `rate` per second for `seconds` on a thread; `sent[alert_id]` is each one's produce()
    time (perf_counter)."""

    def __init__(self, bootstrap: str, rate: float, seconds: float):
        self.producer = make_producer(bootstrap)
        self.rate, self.seconds = rate, seconds
        self.sent: dict[str, float] = {}
        self.done = False
        self.records = [alert_record(i) for i in range(int(rate * seconds))]  # made ahead: only produce() is timed
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        start = time.perf_counter()
        for i, (alert_id, key, value, headers) in enumerate(self.records):
            due = start + i / self.rate
            while (now := time.perf_counter()) < due:
                self.producer.poll(min(due - now, 0.001))
            self.sent[alert_id] = time.perf_counter()
            self.producer.produce(ALERTS_TOPIC, value=value, key=key, headers=headers)
            self.producer.poll(0)
        self.producer.flush(60)
        self.done = True

    def join(self) -> None:
        self.thread.join()


# -- the baseline: a plain aiokafka consumer -------------------------------------------------------------------
async def raw_read(bootstrap: str, enough: Callable[[int], bool], from_beginning: bool,
                   arrived: dict[str, float] | None, timeout: float = 300, **options) -> tuple[int, float]:
    """Reads until `enough(records read)`; records arrival times by alert id when `arrived` is given (then each value is
    parsed for its alert id, as a reader must to use it). Returns (records read, seconds from first to last)."""
    consumer = topic_consumer(bootstrap, **options)
    await consumer.start()
    try:
        await assign_all(consumer, ALERTS_TOPIC, from_beginning=from_beginning)
        seen, first, last = 0, None, 0.0
        deadline = time.monotonic() + timeout
        while not enough(seen) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            now = time.perf_counter()
            for records in batches.values():
                first = first or now
                seen += len(records)
                if arrived is not None:
                    for r in records:
                        arrived[json.loads(r.value)["alert_id"]] = now
                last = now
        return seen, (last - first) if first else float("nan")
    finally:
        await consumer.stop()


# -- the partner's stream --------------------------------------------------------------------------------------
def stream_read(stub: pb_grpc.FederationServiceStub, position: str, enough: Callable[[int], bool],
                arrived: dict[str, float], max_batch: int = 0, timeout: float = 300) -> tuple[int, float, str]:
    """Reads the shared stream as the partner until `enough(events read)`, one event a response or (`max_batch`)
    batches of them; (events, seconds from first to last, the position after the last)."""
    call = stub.SubscribeSharedEvents(pb.SubscribeSharedEventsRequest(stream=STREAM, position=position,
                                                                      max_batch=max_batch), timeout=timeout)
    seen, first, last, after = 0, None, 0.0, position
    try:
        for response in call:
            now = time.perf_counter()
            first = first or now
            for event in response.events if max_batch else (response,):
                arrived[json.loads(event.data_json)["alert_id"]] = now
                seen += 1
                after = event.position
            last = now
            if enough(seen):
                break
    finally:
        call.cancel()
    return seen, (last - first) if first else float("nan"), after


def paced(bootstrap: str, args: argparse.Namespace, arrived: dict[str, float], read) -> PacedProducer:
    """Starts `read(enough)` on a thread, produces warm-up alerts until one has reached it (the reader is in place
    and warm), then produces at the offered rate; returns when every paced alert arrived or the reader gave up."""
    producer = PacedProducer(bootstrap, args.rate, args.seconds)
    reader = threading.Thread(target=read, args=(lambda _n: producer.done and producer.sent.keys() <= arrived.keys(),))
    reader.start()
    warm = make_producer(bootstrap)
    deadline = time.monotonic() + 120
    while not arrived:
        if time.monotonic() > deadline or not reader.is_alive():
            raise RuntimeError("no warm-up alert reached the reader in 120 s")
        _id, key, value, headers = alert_record(0)
        warm.produce(ALERTS_TOPIC, value=value, key=key, headers=headers)
        warm.flush(30)
        time.sleep(1)
    producer.start()
    producer.join()
    reader.join()
    return producer


def latencies(sent: dict[str, float], arrived: dict[str, float]) -> list[float]:
    return [(arrived[k] - t) * 1000 for k, t in sent.items() if k in arrived]


def end_position(bootstrap: str) -> str:
    async def ends() -> str:
        consumer = topic_consumer(bootstrap)
        await consumer.start()
        try:
            await assign_all(consumer, ALERTS_TOPIC, from_beginning=False)
            ends = {tp.partition: await consumer.position(tp) for tp in consumer.assignment()}
            return ",".join(f"{p}:{o}" for p, o in sorted(ends.items()))
        finally:
            await consumer.stop()

    return asyncio.run(ends())


def latency_row(name: str, sent: dict[str, float], arrived: dict[str, float], seconds: float) -> str:
    lat = latencies(sent, arrived)
    return (f"  {name:<46} {len(lat):>7} of {len(sent):<7} {len(lat) / seconds:>8,.0f}/s   p50 {pct(lat, 50):>7.1f} ms"
            f"   p95 {pct(lat, 95):>7.1f} ms   p99 {pct(lat, 99):>7.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="alerts on the topic for the throughput run")
    ap.add_argument("--rate", type=float, default=1000, help="offered alerts/s for the latency run")
    ap.add_argument("--seconds", type=float, default=10, help="length of the latency run")
    ap.add_argument("--batch", type=int, default=500, help="the batched stream's max_batch")
    args = ap.parse_args()

    work = bench_workdir("kota-bench-collab-")
    certs = work / "certs"
    development_set(certs, ["jakarta", "makassar"])
    with bench_broker(work) as bootstrap:
        ensure_topics(bootstrap, [ALERTS_TOPIC, collab_events.TOPIC])
        jakarta, makassar = City("jakarta", certs, bootstrap, work), City("makassar", certs, bootstrap, work)
        channel = None
        try:
            for city in (jakarta, makassar):
                city.process.start()
            agreement = federate(jakarta, makassar)
            channel, stub = partner_stub(certs, "makassar", jakarta)
            pid = jakarta.process.proc.pid  # type: ignore[union-attr]
            print(f"broker {bootstrap}   cpus {os.cpu_count()}   python {sys.version.split()[0]}   "
                  f"agreement {agreement}: makassar reads {STREAM} from jakarta over mutual TLS", flush=True)

            started = time.perf_counter()
            ids = produce_backlog(bootstrap, args.events)
            print(f"{args.events:,} flood alerts on {ALERTS_TOPIC} ({len(ids):,} distinct) in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)

            print(f"\nthroughput, {args.events:,} events from the start of the topic:")
            all_read = lambda n: n >= args.events  # noqa: E731
            seen, secs = asyncio.run(raw_read(bootstrap, all_read, True, None))
            print(f"  {'baseline: raw aiokafka getmany':<46} {seen:>7} {seen / secs:>10,.0f}/s", flush=True)
            arrived_raw: dict[str, float] = {}
            seen, secs = asyncio.run(raw_read(bootstrap, all_read, True, arrived_raw))
            print(f"  {'baseline: raw aiokafka getmany + json per event':<46} {seen:>7} {seen / secs:>10,.0f}/s",
                  flush=True)
            for max_batch in (0, args.batch):
                arrived: dict[str, float] = {}
                cpu0 = cpu_seconds(pid)
                seen, secs, _ = stream_read(stub, "", all_read, arrived, max_batch)
                cpu = cpu_seconds(pid) - cpu0
                once = len(arrived) == seen == args.events and set(arrived) == ids
                print(f"  {STREAM_NAMES[bool(max_batch)].format(max_batch):<46} {seen:>7} {seen / secs:>10,.0f}/s   "
                      f"jakarta CPU {cpu / max(seen, 1) * 1e6:.0f} us/event ({cpu / secs * 100:.0f}% of a core)   "
                      f"every alert once: {'yes' if once else 'NO'}", flush=True)

            print(f"\nlatency, produce() to arrival, offered {args.rate:,.0f}/s for {args.seconds:.0f} s:")
            for name, options in (("baseline: raw aiokafka consumer, defaults", {}),
                                  ("baseline: raw aiokafka, fetch_max_wait_ms=50", {"fetch_max_wait_ms": 50})):
                arrived_raw = {}
                producer = paced(bootstrap, args, arrived_raw, lambda enough, into=arrived_raw, options=options: asyncio.run(
                    raw_read(bootstrap, enough, False, into, args.seconds + 120, **options)))
                print(latency_row(name, producer.sent, arrived_raw, args.seconds), flush=True)
            for max_batch in (0, args.batch):
                cpu0 = cpu_seconds(pid)
                arrived = {}
                position = end_position(bootstrap)
                producer = paced(bootstrap, args, arrived, lambda enough, at=position, into=arrived, batch=max_batch: stream_read(
                    stub, at, enough, into, batch, args.seconds + 120))
                cpu = cpu_seconds(pid) - cpu0
                print(latency_row(STREAM_NAMES[bool(max_batch)].format(max_batch), producer.sent, arrived, args.seconds)
                      + f"   jakarta CPU {cpu / max(len(arrived), 1) * 1e6:.0f} us/event", flush=True)
            return 0
        finally:
            if channel is not None:
                channel.close()
            for city in (makassar, jakarta):
                city.stop()


if __name__ == "__main__":
    sys.exit(main())
