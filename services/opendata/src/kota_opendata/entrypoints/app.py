"""Wires the open data service (cosmicpython's bootstrap): database, catalogue seeding, outbox relay, event
subscribers, periodic tasks and the gRPC server, as components of one ServiceHost."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from kota.opendata.v1 import opendata_pb2_grpc as pb_grpc
from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.eventbus import EventBus, Handler, IdempotentBatchHandler
from kota_common.events import complaints as complaint_events
from kota_common.events import musrenbang as musrenbang_events
from kota_common.events import opendata as od_events
from kota_common.events.sensors import ALERTS_TOPIC, READINGS_TOPIC
from kota_common.metrics import observe_outbox
from kota_common.outbox import OutboxRelay
from kota_common.runtime import Events, GrpcServer, Hook, Periodic, ServiceHost
from kota_opendata.config import OpenDataSettings
from kota_opendata.entrypoints import subscribers
from kota_opendata.entrypoints.grpc_api import OpenDataServicer, Stats
from kota_opendata.service_layer import catalog as catalog_service
from kota_opendata.service_layer.projections import Projector
from kota_opendata.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
SERVICE_NAME = "kota.opendata.v1.OpenDataService"
MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"
PRUNE_EVERY_S = 600


def bootstrap(s: OpenDataSettings) -> ServiceHost:
    """The service as its components, in start-up order (they stop in reverse): the database, the outbox relay,
    the topics and subscribers (when the broker answers; the read API never waits for it), the announcer,
    the pruning of processed event ids, and last the gRPC server."""
    upgrade_to_head(s.database_url, MIGRATIONS)
    engine = make_engine(s.database_url, pool_size=min(s.grpc_workers, 20))
    observe_outbox(engine, "opendata")  # kota.outbox.backlog and .oldest_age at /metrics
    tables = catalog_service.ensure_catalog(UnitOfWork(engine))
    projector = Projector(tables, k=s.k_anonymity, grid_m=s.coordinate_grid_m, announce_interval=s.update_event_interval_s)
    relay = OutboxRelay(engine, s.common.kafka_bootstrap)
    bus = EventBus(s.common.kafka_bootstrap, "opendata")
    handlers: dict[str, Handler] = {
        complaint_events.TOPIC: projector.on_complaint,
        ALERTS_TOPIC: projector.on_alert,
        READINGS_TOPIC: projector.on_reading,
        musrenbang_events.TOPIC: projector.on_musrenbang,
    }
    assert set(handlers) == set(subscribers.TOPICS), "a handler for each topic subscribed to"
    consumer = IdempotentBatchHandler(engine, s.consumer_group, handlers, on_handled=relay.notify,
                                      begin_batch=projector.begin_batch, end_batch=projector.end_batch)
    if s.consume_events:
        subscribers.subscribe(bus, consumer, s)
    servicer = OpenDataServicer(lambda: UnitOfWork(engine), s, Stats(applied=lambda: consumer.handled,
                                                 dead_lettered=lambda: bus.dead_letters.count))

    def register(server):
        pb_grpc.add_OpenDataServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    def announce() -> None:
        if catalog_service.flush_announcements(UnitOfWork(engine), s.update_event_interval_s):
            relay.notify()

    retention = timedelta(hours=s.processed_retention_hours)

    def prune() -> None:
        if removed := catalog_service.prune_processed_events(UnitOfWork(engine), retention):
            log.info("forgot %d processed event ids older than %s", removed, retention)

    return ServiceHost("opendata", [
        Hook("database", on_stop=engine.dispose),
        relay,
        Events(bus, [od_events.TOPIC, *subscribers.TOPICS], replication_factor=s.common.kafka_replication_factor),
        Periodic("announcer", max(s.update_event_interval_s / 2, 1.0), announce),
        Periodic("processed-events-pruner", PRUNE_EVERY_S, prune),
        GrpcServer(s.grpc_address, register, [SERVICE_NAME], max_workers=s.grpc_workers),
    ])
