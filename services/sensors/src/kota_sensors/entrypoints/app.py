"""Wires the sensors service: database and registry, ingest (gRPC, HTTP, MQTT) -> Kafka, the read side, and
as child processes (role `all`, the default) the alert evaluator with the outbox relay, the observation store and
any further ingest processes. Each role can also run alone (KOTA_SENSORS_ROLE), e.g. as its own deployment."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kota.sensors.v1 import sensors_pb2_grpc as pb_grpc
from kota_common.db import make_engine, upgrade_to_head
from kota_common.eventbus import EventBus
from kota_common.events.sensors import ALERTS_TOPIC, POSITIONS_TOPIC, READINGS_TOPIC, SUMMARIES_TOPIC
from kota_common.grpc_server import build_server, set_serving
from kota_common.kafka import ensure_topics, make_producer
from kota_common.metrics import observe_outbox
from kota_common.outbox import OutboxRelay
from kota_common.process import collect_garbage_less_often
from kota_sensors.adapters.repository import latest_timestamps, load_devices
from kota_sensors.adapters.seed import jakarta_devices
from kota_sensors.config import SensorsSettings
from kota_sensors.domain.validation import Rules, Validator
from kota_sensors.entrypoints import subscribers
from kota_sensors.entrypoints.grpc_api import SensorsServicer
from kota_sensors.service_layer.evaluator import AlertConsumer, ObservationStore
from kota_sensors.service_layer.ingest import IngestPipeline
from kota_sensors.service_layer.registry import Registry

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


class SensorsApp:
    def __init__(self, settings: SensorsSettings):
        self.settings = settings
        self._stop = threading.Event()
        self.consumer: AlertConsumer | ObservationStore | None = None
        self.events: EventBus | None = None
        self.relay: OutboxRelay | None = None
        self.server = None
        self.health = None  # the gRPC server's health servicer (roles that serve gRPC)
        self.pipeline: IngestPipeline | None = None
        self.http = None
        self.mqtt = None
        self._children: dict[str, subprocess.Popen] = {}
        self._child_env: dict[str, dict[str, str]] = {}

    def start(self) -> int:
        s = self.settings
        upgrade_to_head(s.database_url, MIGRATIONS)
        if s.role == "all" and s.evaluate:  # first, so that they do not inherit the ingest's priority below
            self._spawn("alerts", {"KOTA_SENSORS_ROLE": "alerts"})
            self._spawn("store", {"KOTA_SENSORS_ROLE": "store"})
        # A consumed batch (the observation store's) is tens of thousands of GC-tracked objects (records, readings)
        # alive until it is handled: the default threshold cost about a quarter of the alert evaluator's CPU
        # when it still read every reading.
        collect_garbage_less_often(BATCH_GC_THRESHOLD)
        # Before this process starts threads: on Linux a thread inherits its priority from the one creating it.
        target = {"alerts": 0, "store": s.store_nice}.get(s.role, s.ingest_nice)
        if target > (current := os.nice(0)):
            os.nice(target - current)
        self.engine = make_engine(s.database_url, pool_size=min(s.grpc_workers, 20))
        if s.role == "alerts":  # the outbox relay's process: kota.outbox.backlog and .oldest_age at /metrics
            observe_outbox(self.engine, "sensors")
        self.devices = load_devices(self.engine)
        if s.parent_pid:
            threading.Thread(target=self._watch_parent, name="parent-watch", daemon=True).start()
        port = 0
        if s.role in ("all", "ingest"):
            port = self._start_ingest()
        threading.Thread(target=self._kafka_setup, name="kafka-setup", daemon=True).start()
        threading.Thread(target=self._refresh_registry, name="registry-refresh", daemon=True).start()
        if s.role == "ingest" and s.ready_fd >= 0:
            os.write(s.ready_fd, b"1")
            os.close(s.ready_fd)
        if s.role == "all":
            host = s.grpc_address.rpartition(":")[0]
            ready = []
            for i in range(1, s.ingest_processes):
                r, w = os.pipe()
                self._spawn(f"ingest-{i}", {"KOTA_SENSORS_ROLE": "ingest", "KOTA_SENSORS_GRPC_ADDRESS": f"{host}:{port}",
                                            "KOTA_SENSORS_READY_FD": str(w)}, pass_fds=(w,))
                os.close(w)
                ready.append(r)
            self._wait_ready(ready)
            if self._children:
                threading.Thread(target=self._supervise, name="children", daemon=True).start()
        if self.server is not None:
            set_serving(self.health, [SERVICE_NAME])
            log.info("sensors service (%s) listening on %s", s.role, s.grpc_address)
        return port

    def _start_ingest(self) -> int:
        s = self.settings
        self.registry = Registry(self.engine, self.reload_devices)
        if s.role == "all" and s.seed and (n := self.registry.seed(jakarta_devices())):
            log.info("registered %d Jakarta devices", n)
        validator = Validator(Rules(max_future_ms=int(s.max_future_s * 1000), max_age_ms=int(s.max_age_s * 1000)))
        # Ordering survives a restart for what the store has seen (resends of the rest are deduplicated downstream).
        validator.last_ts.update(latest_timestamps(self.engine))
        self.pipeline = IngestPipeline(ingest_producer(s.common.kafka_bootstrap, s), validator, self.devices,
                                       report_each=s.delivery_reports == "each")
        self.pipeline.reload_devices = self.reload_devices
        servicer = SensorsServicer(self.engine, self.pipeline, self.registry, s.common.auth_secret)

        def register(server):
            pb_grpc.add_SensorsServiceServicer_to_server(servicer, server)
            return [SERVICE_NAME]

        shared = s.ingest_processes > 1 or s.role == "ingest"
        self.server, self.health, port = build_server(s.grpc_address, register, max_workers=s.grpc_workers,
                                                      reuse_port=shared)
        self.server.start()
        if s.role != "all":
            return port
        if s.http_enabled:
            from kota_sensors.entrypoints.http_ingest import HttpIngest

            self.http = HttpIngest(s.http_address, self.pipeline)
            self.http.start()
            log.info("HTTP ingest on %s", s.http_address)
        if s.mqtt_enabled:
            from kota_sensors.entrypoints.mqtt_ingest import MqttIngest, TlsListener

            tls = TlsListener(s.mqtt_tls_address, s.mqtt_tls_certfile, s.mqtt_tls_keyfile) if s.mqtt_tls_address else None
            self.mqtt = MqttIngest(s.mqtt_address, self.pipeline, embedded_broker=s.mqtt_embedded_broker,
                                   prefix=s.mqtt_topic_prefix, tls_listener=tls)
            self.mqtt.start()
        return port

    # -- child processes (role all) ----------------------------------------------------------------------
    def _spawn(self, name: str, env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> None:
        """Starts a child process of a role (in env); it inherits this process's priority (nice)."""
        full = {**os.environ, **env, "KOTA_SENSORS_PARENT_PID": str(os.getpid()), "KOTA_SENSORS_SEED": "false",
                "KOTA_SENSORS_HTTP_ENABLED": "false", "KOTA_SENSORS_MQTT_ENABLED": "false"}
        self._children[name] = subprocess.Popen([sys.executable, "-m", "kota_sensors"], env=full, pass_fds=pass_fds)
        self._child_env[name] = {k: v for k, v in env.items() if k != "KOTA_SENSORS_READY_FD"}
        log.info("started %s process (pid %d)", name, self._children[name].pid)

    @staticmethod
    def _wait_ready(fds: list[int], timeout: float = 60.0) -> None:
        """Serving is announced once every ingest process listens, so that clients spread over all of them."""
        import select

        deadline = time.monotonic() + timeout
        pending = list(fds)
        while pending and (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select(pending, [], [], left)
            for fd in readable:
                os.read(fd, 1)  # b"1", or b"" if the process died first
                os.close(fd)
                pending.remove(fd)
        for fd in pending:
            log.warning("an ingest process did not start in %.0f s", timeout)
            os.close(fd)

    def _supervise(self) -> None:
        """Restarts a child process that died (the platform restarts this one); it inherits this process's
        priority (see ingest_nice)."""
        while not self._stop.wait(CHILD_RESTART_S):
            for name, proc in list(self._children.items()):
                if proc.poll() is not None and not self._stop.is_set():
                    log.warning("%s process exited with %s; restarting it", name, proc.returncode)
                    self._spawn(name, self._child_env[name])

    def _watch_parent(self) -> None:
        while not self._stop.wait(1.0):
            if os.getppid() != self.settings.parent_pid:
                log.warning("parent process gone; stopping")
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def reload_devices(self) -> None:
        self.devices = load_devices(self.engine)
        if self.pipeline is not None:
            self.pipeline.devices = self.devices

    def _refresh_registry(self) -> None:
        """Picks up registrations and revocations made by other processes and replicas."""
        while not self._stop.wait(REGISTRY_REFRESH_S):
            try:
                self.reload_devices()
            except Exception:
                log.exception("registry refresh failed")

    def _kafka_setup(self) -> None:
        s = self.settings
        while not self._stop.is_set():
            try:
                ensure_topics(s.common.kafka_bootstrap, [READINGS_TOPIC, SUMMARIES_TOPIC, POSITIONS_TOPIC, ALERTS_TOPIC],
                              timeout=10, replication_factor=s.common.kafka_replication_factor)
                break
            except Exception as exc:
                log.warning("broker not ready (%s); retrying", exc)
                self._stop.wait(2)
        if self._stop.is_set():
            return
        if s.role not in subscribers.CONSUMERS:
            return
        group_id, batch_size = subscribers.group_and_batch(s)
        if s.role == "alerts":
            self.relay = OutboxRelay(self.engine, s.common.kafka_bootstrap)
            self.relay.start()
            self.consumer = AlertConsumer(
                self.engine, group_id, lambda: self.devices,
                ispu_margin=s.ispu_margin, batch_size=batch_size, silent_after_s=s.silent_after_s,
                silent_check_interval_s=s.silent_check_interval_s, on_alerts=self.relay.notify,
                reload_devices=self.reload_devices,
            )
        else:
            self.consumer = ObservationStore(self.engine, group_id, lambda: self.devices, batch_size=batch_size)
        self.events = EventBus(s.common.kafka_bootstrap, f"sensors-{s.role}", health=self.health)
        subscribers.subscribe(self.events, self.consumer, s)
        self.consumer.start()
        self.events.start()

    def stop(self, grace: float = 5.0) -> None:
        self._stop.set()
        for proc in self._children.values():
            if proc.poll() is None:
                proc.terminate()
        if self.server is not None:
            set_serving(self.health, [SERVICE_NAME], serving=False)
        if self.http:
            self.http.stop()
        if self.mqtt:
            self.mqtt.stop()
        if self.server is not None:
            self.server.stop(grace).wait()
        if self.pipeline is not None:
            self.pipeline.close()
        if self.events:
            self.events.stop()
        if self.consumer:
            self.consumer.stop()
        if self.relay:
            self.relay.stop()
        for name, proc in self._children.items():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                log.warning("%s process did not stop; killing it", name)
                proc.kill()
        self.engine.dispose()
