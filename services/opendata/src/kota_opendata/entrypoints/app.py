"""Wires the open data service: database, catalogue seeding, gRPC server, outbox relay, event consumers."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

from kota.opendata.v1 import opendata_pb2_grpc as pb_grpc
from kota_common.db import make_engine, upgrade_to_head
from kota_common.eventbus import EventBus, IdempotentBatchHandler
from kota_common.events import complaints as complaint_events
from kota_common.events import opendata as od_events
from kota_common.events.sensors import ALERTS_TOPIC, READINGS_TOPIC
from kota_common.grpc_server import build_server, set_serving
from kota_common.kafka import ensure_topics
from kota_common.metrics import observe_outbox
from kota_common.outbox import OutboxRelay
from kota_opendata.config import OpenDataSettings
from kota_opendata.entrypoints import subscribers
from kota_opendata.entrypoints.grpc_api import OpenDataServicer, Stats
from kota_opendata.service_layer import catalog as catalog_service
from kota_opendata.service_layer.projections import Projector

log = logging.getLogger(__name__)
SERVICE_NAME = "kota.opendata.v1.OpenDataService"
MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"


class OpenDataApp:
    def __init__(self, settings: OpenDataSettings):
        self.settings = settings
        self._stop = threading.Event()
        self.events: EventBus | None = None
        self.consumer: IdempotentBatchHandler | None = None

    def start(self) -> int:
        s = self.settings
        upgrade_to_head(s.database_url, MIGRATIONS)
        self.engine = make_engine(s.database_url, pool_size=min(s.grpc_workers, 20))
        observe_outbox(self.engine, "opendata")  # kota.outbox.backlog and .oldest_age at /metrics
        tables = catalog_service.ensure_catalog(self.engine)
        self.projector = Projector(tables, k=s.k_anonymity, grid_m=s.coordinate_grid_m,
                                   announce_interval=s.update_event_interval_s)
        self.relay = OutboxRelay(self.engine, s.common.kafka_bootstrap)
        self.relay.start()
        stats = Stats(applied=lambda: self.consumer.handled if self.consumer else 0,
                      dead_lettered=lambda: self.events.dead_letters.count if self.events else 0)
        servicer = OpenDataServicer(self.engine, s, stats)

        def register(server):
            pb_grpc.add_OpenDataServiceServicer_to_server(servicer, server)
            return [SERVICE_NAME]

        self.server, self.health, port = build_server(s.grpc_address, register, max_workers=s.grpc_workers)
        self.server.start()
        set_serving(self.health, [SERVICE_NAME])
        threading.Thread(target=self._kafka_setup, name="kafka-setup", daemon=True).start()
        threading.Thread(target=self._announcer, name="announcer", daemon=True).start()
        log.info("opendata service listening on %s", s.grpc_address)
        return port

    def _handlers(self) -> dict:
        handlers = {
            complaint_events.TOPIC: self.projector.on_complaint,
            ALERTS_TOPIC: self.projector.on_alert,
            READINGS_TOPIC: self.projector.on_reading,
        }
        assert set(handlers) == set(subscribers.TOPICS), "a handler for each topic subscribed to"
        return handlers

    def _kafka_setup(self) -> None:
        """Topics and consumers come up when the broker does; the read API never waits for it."""
        bootstrap = self.settings.common.kafka_bootstrap
        handlers = self._handlers()
        while not self._stop.is_set():
            try:
                ensure_topics(bootstrap, [od_events.TOPIC, *handlers], timeout=10,
                              replication_factor=self.settings.common.kafka_replication_factor)
                break
            except Exception as exc:
                log.warning("broker not ready (%s); retrying", exc)
                self._stop.wait(2)
        if self._stop.is_set() or not self.settings.consume_events:
            return
        self.consumer = IdempotentBatchHandler(self.engine, self.settings.consumer_group, handlers,
                                               on_handled=self.relay.notify, begin_batch=self.projector.begin_batch,
                                               end_batch=self.projector.end_batch)
        self.events = EventBus(bootstrap, "opendata", health=self.health)
        subscribers.subscribe(self.events, self.consumer, self.settings)
        self.events.start()

    def _announcer(self) -> None:
        """Announces coalesced dataset updates; about every ten minutes, forgets old processed event ids."""
        interval = self.settings.update_event_interval_s
        retention = timedelta(hours=self.settings.processed_retention_hours)
        last_prune = 0.0
        while not self._stop.wait(max(interval / 2, 1.0)):
            try:
                if catalog_service.flush_announcements(self.engine, interval):
                    self.relay.notify()
                if time.monotonic() - last_prune > 600:
                    last_prune = time.monotonic()
                    removed = catalog_service.prune_processed_events(self.engine, retention)
                    if removed:
                        log.info("forgot %d processed event ids older than %s", removed, retention)
            except Exception:
                log.exception("announcing dataset updates failed")

    def stop(self, grace: float = 5.0) -> None:
        self._stop.set()
        set_serving(self.health, [SERVICE_NAME], serving=False)
        self.server.stop(grace).wait()
        if self.events:
            self.events.stop()
        self.relay.stop()
        self.engine.dispose()
