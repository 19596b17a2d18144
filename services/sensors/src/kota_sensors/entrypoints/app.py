"""Wires the sensors service: database and registry, ingest (gRPC, HTTP, MQTT) -> Kafka, the read side, and
as child processes (role `all`, the default) the alert evaluator with the outbox relay, the observation store and
any further ingest processes. Each role can also run alone (KOTA_SENSORS_ROLE), e.g. as its own deployment."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from kota.sensors.v1 import sensors_pb2_grpc as pb_grpc
from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.eventbus import EventBus
from kota_common.events.sensors import ALERTS_TOPIC, POSITIONS_TOPIC, READINGS_TOPIC, SUMMARIES_TOPIC
from kota_common.kafka import make_producer
from kota_common.metrics import observe_outbox
from kota_common.outbox import OutboxRelay
from kota_common.process import collect_garbage_less_often
from kota_common.runtime import ChildProcess, Events, GrpcServer, Hook, Periodic, ServiceHost
from kota_sensors.adapters.repository import latest_timestamps, load_devices
from kota_sensors.adapters.seed import jakarta_devices
from kota_sensors.config import SensorsSettings
from kota_sensors.domain.validation import Rules, Validator
from kota_sensors.entrypoints import subscribers
from kota_sensors.entrypoints.grpc_api import SensorsServicer
from kota_sensors.service_layer.evaluator import AlertConsumer, BatchConsumer, ObservationStore
from kota_sensors.service_layer.ingest import IngestPipeline
from kota_sensors.service_layer.registry import Registry
from kota_sensors.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
SERVICE_NAME = "kota.sensors.v1.SensorsService"
MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"
REGISTRY_REFRESH_S = 10.0
CHILD_RESTART_S = 2.0
BATCH_GC_THRESHOLD = 100_000


def ingest_producer(bootstrap: str, settings: SensorsSettings):
    """librdkafka tuned for many small records: large batches, short linger, acks from all replicas."""
    return make_producer(
        bootstrap,
        **{
            "linger.ms": settings.produce_linger_ms,
            "compression.type": settings.produce_compression,
            "batch.num.messages": 100_000,
            "batch.size": 4 * 1024 * 1024,
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 1024 * 1024,
            "message.timeout.ms": 120_000,
        },
    )


class Sensors:
    """What the components of a sensors process share: its database and the device registry it keeps fresh."""

    def __init__(self, engine):
        self.engine = engine
        self.devices = load_devices(engine)
        self.pipeline: IngestPipeline | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def reload_devices(self) -> None:
        """Picks up registrations and revocations made by other processes and replicas."""
        self.devices = load_devices(self.engine)
        if self.pipeline is not None:
            self.pipeline.devices = self.devices


def bootstrap(s: SensorsSettings) -> ServiceHost:
    """A sensors process of its role as components, in start-up order (they stop in reverse). Role `all`: the
    alert evaluator's and the observation store's processes first (so that they do not inherit the ingest's
    priority), then ingest (gRPC, further ingest processes sharing its port, HTTP, MQTT). Role `alerts`: the outbox
    relay and the alert subscriber; `store`: the observation subscriber; `ingest`: a further gRPC ingest process."""
    upgrade_to_head(s.database_url, MIGRATIONS)
    # A consumed batch (the observation store's) is tens of thousands of GC-tracked objects (records, readings)
    # alive until it is handled: the default threshold cost about a quarter of the alert evaluator's CPU
    # when it still read every reading.
    collect_garbage_less_often(BATCH_GC_THRESHOLD)
    engine = make_engine(s.database_url, pool_size=min(s.grpc_workers, 20))
    if s.role == "alerts":  # the outbox relay's process: kota.outbox.backlog and .oldest_age at /metrics
        observe_outbox(engine, "sensors")
    sensors = Sensors(engine)
    host = ServiceHost(f"sensors-{s.role}", [Hook("database", on_stop=engine.dispose)])
    if s.role == "all" and s.evaluate:
        for role in ("alerts", "store"):
            host.add(child(role, {"KOTA_SENSORS_ROLE": role}))
    # Before this process starts threads: on Linux a thread inherits its priority from the one creating it.
    host.add(Hook("priority", on_start=lambda: lower_priority({"alerts": 0, "store": s.store_nice}.get(s.role, s.ingest_nice))))
    if s.parent_pid:
        host.add(Periodic("parent-watch", 1.0, lambda: stop_without_parent(s.parent_pid)))
    host.add(Periodic("registry-refresh", REGISTRY_REFRESH_S, sensors.reload_devices))
    bus = EventBus(s.common.kafka_bootstrap, f"sensors-{s.role}")
    if s.role in subscribers.CONSUMERS:
        add_consumer(host, bus, sensors, s)
    host.add(Events(bus, [READINGS_TOPIC, SUMMARIES_TOPIC, POSITIONS_TOPIC, ALERTS_TOPIC],
                    replication_factor=s.common.kafka_replication_factor))
    if s.role in ("all", "ingest"):
        add_ingest(host, sensors, s)
    return host


def add_consumer(host: ServiceHost, bus: EventBus, sensors: Sensors, s: SensorsSettings) -> None:
    group_id, batch_size = subscribers.group_and_batch(s)
    consumer: BatchConsumer
    if s.role == "alerts":
        relay = host.add(OutboxRelay(sensors.engine, s.common.kafka_bootstrap))
        consumer = AlertConsumer(
            sensors.engine, group_id, lambda: sensors.devices,
            ispu_margin=s.ispu_margin, batch_size=batch_size, silent_after_s=s.silent_after_s,
            silent_check_interval_s=s.silent_check_interval_s, on_alerts=relay.notify,
            reload_devices=sensors.reload_devices,
        )
    else:
        consumer = ObservationStore(sensors.engine, group_id, lambda: sensors.devices, batch_size=batch_size)
    subscribers.subscribe(bus, consumer, s)
    host.add(consumer)


def add_ingest(host: ServiceHost, sensors: Sensors, s: SensorsSettings) -> None:
    registry = Registry(sensors.uow, sensors.reload_devices)
    if s.role == "all" and s.seed and (n := registry.seed(jakarta_devices())):
        log.info("registered %d Jakarta devices", n)
    validator = Validator(Rules(max_future_ms=int(s.max_future_s * 1000), max_age_ms=int(s.max_age_s * 1000)))
    # Ordering survives a restart for what the store has seen (resends of the rest are deduplicated downstream).
    validator.last_ts.update(latest_timestamps(sensors.engine))
    pipeline = IngestPipeline(ingest_producer(s.common.kafka_bootstrap, s), validator, sensors.devices,
                              report_each=s.delivery_reports == "each")
    pipeline.reload_devices = sensors.reload_devices
    sensors.pipeline = pipeline
    host.add(Hook("ingest producer", on_stop=pipeline.close))
    servicer = SensorsServicer(sensors.uow, pipeline, registry, s.common.auth_secret)

    def register(server):
        pb_grpc.add_SensorsServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    grpc_server = GrpcServer(s.grpc_address, register, [SERVICE_NAME], max_workers=s.grpc_workers,
                             reuse_port=s.ingest_processes > 1 or s.role == "ingest")
    if s.role == "ingest":
        host.add(grpc_server)
        if s.ready_fd >= 0:
            host.add(Hook("ready", on_start=lambda: say_ready(s.ready_fd)))
        return
    # Further ingest processes share the port; serving is announced once every one of them listens, so that
    # clients spread over all of them.
    address = f"{s.grpc_address.rpartition(':')[0]}:{grpc_server.port}"
    ready = []
    for i in range(1, s.ingest_processes):
        r, w = os.pipe()
        host.add(child(f"ingest-{i}", {"KOTA_SENSORS_ROLE": "ingest", "KOTA_SENSORS_GRPC_ADDRESS": address},
                       first_start_env={"KOTA_SENSORS_READY_FD": str(w)}, pass_fds=(w,)))
        ready.append((r, w))
    if ready:
        host.add(Hook("ingest processes ready", on_start=lambda: wait_ready(ready)))
    if s.http_enabled:
        from kota_sensors.entrypoints.http_ingest import HttpIngest

        host.add(HttpIngest(s.http_address, pipeline))
    if s.mqtt_enabled:
        from kota_sensors.entrypoints.mqtt_ingest import MqttIngest, TlsListener

        tls = TlsListener(s.mqtt_tls_address, s.mqtt_tls_certfile, s.mqtt_tls_keyfile) if s.mqtt_tls_address else None
        host.add(MqttIngest(s.mqtt_address, pipeline, embedded_broker=s.mqtt_embedded_broker,
                            prefix=s.mqtt_topic_prefix, tls_listener=tls,
                            sta_feed=(s.common.kafka_bootstrap, s.consumer_group)))
    host.add(grpc_server)


def child(role_name: str, env: dict[str, str], **options) -> ChildProcess:
    """A child process of a role (in env), restarted if it dies (the platform restarts this one); it inherits this
    process's priority (nice) and stops when this process is gone."""
    env = {**env, "KOTA_SENSORS_PARENT_PID": str(os.getpid()), "KOTA_SENSORS_SEED": "false",
           "KOTA_SENSORS_HTTP_ENABLED": "false", "KOTA_SENSORS_MQTT_ENABLED": "false"}
    return ChildProcess(role_name, "kota_sensors", env, restart_after_s=CHILD_RESTART_S, **options)


def lower_priority(target: int) -> None:
    if target > (current := os.nice(0)):
        os.nice(target - current)


def stop_without_parent(parent_pid: int) -> None:
    if os.getppid() != parent_pid:
        log.warning("parent process gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)


def say_ready(fd: int) -> None:
    os.write(fd, b"1")
    os.close(fd)


def wait_ready(pipes: list[tuple[int, int]], timeout: float = 60.0) -> None:
    """Waits until every ingest process said it listens (or died: the pipe closes)."""
    import select

    for _r, w in pipes:
        os.close(w)  # the children hold the write ends now
    deadline = time.monotonic() + timeout
    pending = [r for r, _w in pipes]
    while pending and (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(pending, [], [], left)
        for fd in readable:
            os.read(fd, 1)  # b"1", or b"" if the process died first
            os.close(fd)
            pending.remove(fd)
    for fd in pending:
        log.warning("an ingest process did not start in %.0f s", timeout)
        os.close(fd)
