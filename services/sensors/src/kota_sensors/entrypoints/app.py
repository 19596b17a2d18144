"""Wires the sensors service: database and registry, ingest (gRPC, HTTP, MQTT) -> Kafka, the readings consumer
(observation store + alert evaluator), the outbox relay for alerts, and the read side."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from kota.sensors.v1 import sensors_pb2_grpc as pb_grpc
from kota_common.db import make_engine, upgrade_to_head
from kota_common.events.sensors import ALERTS_TOPIC, POSITIONS_TOPIC, READINGS_TOPIC
from kota_common.grpc_server import build_server, set_serving
from kota_common.kafka import ensure_topics, make_producer
from kota_common.outbox import OutboxRelay
from kota_sensors.adapters.repository import latest_timestamps, load_devices
from kota_sensors.adapters.seed import jakarta_devices
from kota_sensors.config import SensorsSettings
from kota_sensors.domain.validation import Rules, Validator
from kota_sensors.entrypoints.grpc_api import SensorsServicer
from kota_sensors.service_layer.evaluator import ReadingsConsumer
from kota_sensors.service_layer.ingest import IngestPipeline
from kota_sensors.service_layer.registry import Registry

log = logging.getLogger(__name__)
SERVICE_NAME = "kota.sensors.v1.SensorsService"
MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"
REGISTRY_REFRESH_S = 10.0


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
        self.consumer: ReadingsConsumer | None = None
        self.http = None
        self.mqtt = None

    def start(self) -> int:
        s = self.settings
        upgrade_to_head(s.database_url, MIGRATIONS)
        self.engine = make_engine(s.database_url, pool_size=min(s.grpc_workers, 20))
        self.devices = load_devices(self.engine)
        self.registry = Registry(self.engine, self.reload_devices)
        if s.seed and (n := self.registry.seed(jakarta_devices())):
            log.info("registered %d Jakarta devices", n)
        validator = Validator(Rules(max_future_ms=int(s.max_future_s * 1000), max_age_ms=int(s.max_age_s * 1000)))
        # Ordering survives a restart for what the store has seen (resends of the rest are deduplicated downstream).
        validator.last_ts.update(latest_timestamps(self.engine))
        self.pipeline = IngestPipeline(ingest_producer(s.common.kafka_bootstrap, s), validator, self.devices,
                                       report_each=s.delivery_reports == "each")
        self.relay = OutboxRelay(self.engine, s.common.kafka_bootstrap)
        self.relay.start()
        servicer = SensorsServicer(self.engine, self.pipeline, self.registry, s.common.auth_secret)

        def register(server):
            pb_grpc.add_SensorsServiceServicer_to_server(servicer, server)
            return [SERVICE_NAME]

        self.server, self.health, port = build_server(s.grpc_address, register, max_workers=s.grpc_workers)
        self.server.start()
        if s.http_enabled:
            from kota_sensors.entrypoints.http_ingest import HttpIngest

            self.http = HttpIngest(s.http_address, self.pipeline)
            self.http.start()
            log.info("HTTP ingest on %s", s.http_address)
        if s.mqtt_enabled:
            from kota_sensors.entrypoints.mqtt_ingest import MqttIngest

            self.mqtt = MqttIngest(s.mqtt_address, self.pipeline, embedded_broker=s.mqtt_embedded_broker,
                                   prefix=s.mqtt_topic_prefix)
            self.mqtt.start()
        threading.Thread(target=self._kafka_setup, name="kafka-setup", daemon=True).start()
        threading.Thread(target=self._refresh_registry, name="registry-refresh", daemon=True).start()
        set_serving(self.health, [SERVICE_NAME])
        log.info("sensors service listening on %s", s.grpc_address)
        return port

    def reload_devices(self) -> None:
        self.devices = load_devices(self.engine)
        if getattr(self, "pipeline", None) is not None:
            self.pipeline.devices = self.devices

    def _refresh_registry(self) -> None:
        """Picks up registrations and revocations made by other replicas."""
        while not self._stop.wait(REGISTRY_REFRESH_S):
            try:
                self.reload_devices()
            except Exception:
                log.exception("registry refresh failed")

    def _kafka_setup(self) -> None:
        s = self.settings
        while not self._stop.is_set():
            try:
                ensure_topics(s.common.kafka_bootstrap, [READINGS_TOPIC, POSITIONS_TOPIC, ALERTS_TOPIC], timeout=10)
                break
            except Exception as exc:
                log.warning("broker not ready (%s); retrying", exc)
                self._stop.wait(2)
        if self._stop.is_set() or not s.evaluate:
            return
        self.consumer = ReadingsConsumer(
            self.engine, s.common.kafka_bootstrap, s.consumer_group, lambda: self.devices, ispu_margin=s.ispu_margin,
            batch_size=s.store_batch, silent_after_s=s.silent_after_s, silent_check_interval_s=s.silent_check_interval_s,
            on_alerts=self.relay.notify,
        )
        self.consumer.start()

    def stop(self, grace: float = 5.0) -> None:
        self._stop.set()
        set_serving(self.health, [SERVICE_NAME], serving=False)
        if self.http:
            self.http.stop()
        if self.mqtt:
            self.mqtt.stop()
        self.server.stop(grace).wait()
        self.pipeline.close()
        if self.consumer:
            self.consumer.stop()
        self.relay.stop()
        self.engine.dispose()
