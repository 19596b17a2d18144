"""Wires the collab service (cosmicpython's bootstrap) as components of one ServiceHost: database, outbox relay,
topic, the federation's deliveries, the inter-city endpoint (mutual TLS, when the city has its certificates) and
the staff gRPC server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from kota.collab.v1 import collab_pb2_grpc as pb_grpc
from kota_collab.adapters.opendata import OpenDataClient
from kota_collab.adapters.partners import GrpcPartnerClient
from kota_collab.adapters.tls import PeerIdentity, TlsFiles
from kota_collab.config import CollabSettings
from kota_collab.domain.model import City
from kota_collab.entrypoints.grpc_api import CollabServicer, FederationServicer
from kota_collab.service_layer import catalogue, delivery, services
from kota_collab.service_layer.unit_of_work import UnitOfWork
from kota_common.auth import issue_token
from kota_common.clock import now_utc
from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.eventbus import EventBus
from kota_common.events import collab as collab_events
from kota_common.metrics import observe_outbox
from kota_common.outbox import OutboxRelay
from kota_common.runtime import Events, GrpcServer, Hook, Periodic, ServiceHost

log = logging.getLogger(__name__)
SERVICE_NAME = "kota.collab.v1.CollabService"
FEDERATION_SERVICE_NAME = "kota.collab.v1.FederationService"
MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"


def home_city(s: CollabSettings) -> City:
    return City(s.city_id, s.city_name, s.city_country, s.city_region, s.city_population, s.city_ascn_member,
                s.federation_address, home=True, latitude=s.city_latitude, longitude=s.city_longitude)


class Deliveries:
    """Drains the federation's outbox on a thread: woken by a commit that wants a delivery, and every
    `interval_s` for the retries that come due."""

    name = "federation deliveries"

    def __init__(self, deliver: Callable[[], int], interval_s: float = 0.5):
        self.deliver = deliver
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="collab-deliveries", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.deliver()
            except Exception:
                log.exception("delivering to partner registries failed; retrying")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)


class OpenDataCatalogue:
    """The catalogue side of CataloguePublisher: uploads through the open data service as the cooperation bureau's
    staff (a short-lived token signed with the platform's secret)."""

    def __init__(self, s: CollabSettings):
        self.client = OpenDataClient(s.opendata_address, timeout_s=30)
        self.secret = s.common.auth_secret
        self.organization = s.catalogue_organization

    def publish(self, table: catalogue.Table) -> None:
        token = issue_token(self.secret, "kota-collab", self.organization, ["staff"], timedelta(minutes=5))
        version = self.client.upload_csv(table.name, table.title, table.notes, table.csv, token)
        log.info("published %s (version %d) to open data", table.name, version)


def catalogue_publisher(s: CollabSettings, uow: Callable[[], UnitOfWork]) -> Periodic:
    target = OpenDataCatalogue(s)
    publisher = catalogue.CataloguePublisher(uow, target)
    return Periodic("collab catalogue", s.catalogue_interval_s, publisher.run)


def bootstrap(s: CollabSettings, *, clock: Callable[[], datetime] = now_utc) -> ServiceHost:
    """The service as its components, in start-up order (they stop in reverse)."""
    upgrade_to_head(s.database_url, MIGRATIONS)
    engine = make_engine(s.database_url, pool_size=min(s.grpc_workers, 20))
    observe_outbox(engine, "collab")
    relay = OutboxRelay(engine, s.common.kafka_bootstrap)
    ctx = services.Context(home=home_city(s), clock=clock)
    tls = TlsFiles.in_directory(Path(s.tls_dir), s.city_id)
    deliveries: Deliveries | None = None

    def after_commit(changed: list[tuple[str, str]]) -> None:
        relay.notify()
        if deliveries is not None and any(t == "kota.collab.partnership-changed.v1" for _k, t in changed):
            deliveries.notify()

    def uow() -> UnitOfWork:
        return UnitOfWork(engine, after_commit, clock=clock)

    services.ensure_home(ctx, uow())
    components: list = [Hook("database", on_stop=engine.dispose), relay,
                        Events(EventBus(s.common.kafka_bootstrap, "collab"), [collab_events.TOPIC],
                               replication_factor=s.common.kafka_replication_factor)]
    if tls.present():
        client = GrpcPartnerClient(tls, s.federation_timeout_s)
        backoff = delivery.Backoff(s.federation_retry_base_s, s.federation_retry_max_s)
        deliveries = Deliveries(lambda: delivery.deliver_due(ctx, uow, client, backoff))
        open_data = OpenDataClient(s.opendata_address)
        federation = FederationServicer(uow, ctx, PeerIdentity(tls), s.common.kafka_bootstrap, s.stream_recheck_s,
                                        open_data=open_data)

        def register_federation(server) -> list[str]:
            pb_grpc.add_FederationServiceServicer_to_server(federation, server)
            return [FEDERATION_SERVICE_NAME]

        components += [Hook("partner channels", on_stop=client.close), Hook("open data channel", on_stop=open_data.close),
                       deliveries,
                       GrpcServer(s.federation_address, register_federation, [FEDERATION_SERVICE_NAME],
                                  max_workers=s.grpc_workers, credentials=tls.server_credentials())]
    else:
        log.warning("no certificates in %s for %s (`kota certs`): the inter-city endpoint stays closed and partner "
                    "registries are not called", s.tls_dir, s.city_id)
    if s.catalogue_interval_s > 0:
        components.append(catalogue_publisher(s, uow))
    servicer = CollabServicer(uow, ctx, s.common.auth_secret)

    def register(server) -> list[str]:
        pb_grpc.add_CollabServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    components.append(GrpcServer(s.grpc_address, register, [SERVICE_NAME], max_workers=s.grpc_workers))
    return ServiceHost("collab", components)
