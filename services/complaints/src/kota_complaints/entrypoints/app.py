"""Wires the complaints service: database, reference data, gRPC server, outbox relay, alert consumer, SLA clock,
and (on PostgreSQL) the listener that passes other replicas' changes to this one's WatchComplaints streams."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from kota.complaints.v1 import complaints_pb2_grpc as pb_grpc
from kota_common.db import NotificationListener, make_engine, upgrade_to_head
from kota_common.errors import NotFound
from kota_common.eventbus import EventBus, IdempotentHandler
from kota_common.events import complaints as complaint_events
from kota_common.events.sensors import ALERTS_TOPIC
from kota_common.group_commit import GroupCommitWriter
from kota_common.grpc_server import build_server, set_serving
from kota_common.kafka import ensure_topics
from kota_common.metrics import observe_outbox
from kota_common.outbox import OutboxRelay, events_since
from kota_common.process import collect_garbage_less_often
from kota_common.reference import AreaDirectory
from kota_common.relay_process import RelayProcess
from kota_complaints.adapters.reference_data import read_reference, seed_reference
from kota_complaints.adapters.repository import load_routing_table
from kota_complaints.config import ComplaintsSettings
from kota_complaints.domain.model import Policy
from kota_complaints.entrypoints import subscribers
from kota_complaints.entrypoints.grpc_api import ComplaintsServicer, complaint_to_pb
from kota_complaints.service_layer import services
from kota_complaints.service_layer.unit_of_work import UnitOfWork
from kota_complaints.service_layer.updates import UPDATES_CHANNEL, ChangeNotice, Update, UpdateHub

log = logging.getLogger(__name__)
SERVICE_NAME = "kota.complaints.v1.ComplaintsService"
MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"
GC_YOUNG_THRESHOLD = 100_000
# Catching up after the update listener reconnects reaches back this far before the connection was last seen
# alive: replicas' clocks differ a little, and an event is stamped when staged, before its transaction commits.
CATCH_UP_MARGIN = timedelta(seconds=10)


def load_context(engine, s: ComplaintsSettings) -> services.Context:
    """The city's reference data (seeded on first start) and the policies the use cases apply."""
    doc = read_reference(s.reference_file)
    if seed_reference(engine, doc):
        log.info("seeded reference data for %s", doc.get("city", "the city"))
    with Session(engine) as session:
        routing = load_routing_table(session, doc.get("default_agency", "other"))
    return services.Context(
        routing=routing,
        areas=AreaDirectory.load_jakarta(),
        policy=Policy(
            duplicate_radius_m=s.duplicate_radius_m,
            duplicate_window=timedelta(hours=s.duplicate_window_hours),
            reopen_window=timedelta(days=s.reopen_window_days),
        ),
        secret=s.common.auth_secret,
    )


class ComplaintsApp:
    def __init__(self, settings: ComplaintsSettings):
        self.settings = settings
        self._stop = threading.Event()
        self.events: EventBus | None = None
        self.alerts: IdempotentHandler | None = None
        self.listener: NotificationListener | None = None
        self._alert_changes: list = []  # what the alert being handled changed, announced once it is committed

    def start(self) -> int:
        s = self.settings
        upgrade_to_head(s.database_url, MIGRATIONS)
        self.engine = make_engine(s.database_url, pool_size=min(s.grpc_workers, 20))
        observe_outbox(self.engine, "complaints")  # kota.outbox.backlog and .oldest_age at /metrics
        self.ctx = load_context(self.engine, s)
        # A group commit keeps its requests' objects alive until it commits; the default threshold spent about
        # 4% of intake's CPU in the collector (perf), and p99 at 500/s halved without it.
        collect_garbage_less_often(GC_YOUNG_THRESHOLD)
        self.hub = UpdateHub()
        if self.engine.dialect.name == "postgresql":
            self.listener = NotificationListener(
                s.database_url, UPDATES_CHANNEL, self._on_notice, on_reconnect=self._catch_up_watchers
            ).start()
        if s.outbox_relay == "process":
            self.relay = RelayProcess("complaints-relay", s.database_url, linger_ms=s.outbox_linger_ms).start()
        else:
            self.relay = OutboxRelay(self.engine, s.common.kafka_bootstrap, linger=s.outbox_linger_ms / 1000)
            self.relay.start()
        self.writer = GroupCommitWriter(self.engine, lambda session: UnitOfWork(None, session=session), self._after_commit,
                                        commit_delay=s.commit_delay_ms / 1000)
        self.writer.start()
        servicer = ComplaintsServicer(self.uow, self.writer.run, self.ctx, self.hub, s.common.auth_secret)

        def register(server):
            pb_grpc.add_ComplaintsServiceServicer_to_server(servicer, server)
            return [SERVICE_NAME]

        self.server, self.health, port = build_server(
            s.grpc_address, register, max_workers=s.grpc_workers, max_concurrent_rpcs=s.grpc_max_concurrent_rpcs,
            reuse_port=s.grpc_reuse_port,
        )
        self.server.start()
        set_serving(self.health, [SERVICE_NAME])
        threading.Thread(target=self._kafka_setup, name="kafka-setup", daemon=True).start()
        threading.Thread(target=self._sla_clock, name="sla-clock", daemon=True).start()
        log.info("complaints service listening on %s", s.grpc_address)
        return port

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self._after_commit)

    def _after_commit(self, changed) -> None:
        self.relay.notify()
        if self.hub.has_subscribers():
            for complaint, ce_type in changed:
                self._announce(complaint, complaint.agency_code, ce_type)

    def _on_notice(self, payload: str) -> None:
        """A change committed by another replica: its watchers here get the complaint as it now stands."""
        notice = ChangeNotice.decode(payload)
        if notice.from_elsewhere and self.hub.watched(notice.complaint_id, notice.agency_code):
            self._announce(services.get_complaint(notice.complaint_id, self.uow()), notice.agency_code, notice.event_type)

    def _catch_up_watchers(self, since: datetime) -> None:
        """After the listener lost the database: each complaint changed meanwhile (by any replica; a watcher here
        may get one of its own again) goes to this replica's watchers once, as it now stands, with its latest
        change's type. The outbox keeps every event, so it knows what changed."""
        if not self.hub.has_subscribers():
            return
        latest: dict[str, str] = {}
        for complaint_id, ce_type in events_since(self.engine, complaint_events.TOPIC, since - CATCH_UP_MARGIN):
            latest.pop(complaint_id, None)  # re-inserted: the order is that of each complaint's last change
            latest[complaint_id] = ce_type
        log.info("caught up %d complaint(s) changed while not listening", len(latest))
        if not self.hub.watches_agencies():  # then only complaints watched by id need loading
            latest = {cid: ce_type for cid, ce_type in latest.items() if self.hub.watched(cid, "")}
        for complaint_id, ce_type in latest.items():
            try:
                complaint = services.get_complaint(complaint_id, self.uow())
            except NotFound:
                continue
            if self.hub.watched(complaint.id, complaint.agency_code):
                self._announce(complaint, complaint.agency_code, ce_type)

    def _announce(self, complaint, agency_code: str, ce_type: str) -> None:
        self.hub.publish(Update(complaint.id, agency_code, ce_type, complaint_to_pb(complaint, self.ctx)))

    def _kafka_setup(self) -> None:
        """Topics and the alert consumer come up when the broker does; intake never waits for it."""
        bootstrap = self.settings.common.kafka_bootstrap
        while not self._stop.is_set():
            try:
                ensure_topics(bootstrap, [complaint_events.TOPIC, ALERTS_TOPIC], timeout=10,
                              replication_factor=self.settings.common.kafka_replication_factor)
                break
            except Exception as exc:
                log.warning("broker not ready (%s); retrying", exc)
                self._stop.wait(2)
        if self._stop.is_set() or not self.settings.consume_alerts:
            return
        self.alerts = IdempotentHandler(self.engine, self.settings.consumer_group,
                                        dict.fromkeys(subscribers.TOPICS, self._on_alert),
                                        on_handled=self._on_alert_committed)
        self.events = EventBus(bootstrap, "complaints", health=self.health)
        subscribers.subscribe(self.events, self.alerts, self.settings)
        self.events.start()

    def _on_alert(self, session, event, payload) -> None:
        uow = UnitOfWork(None, session=session)
        self._alert_changes = uow.changed
        services.handle_sensor_alert(payload, uow, self.ctx)

    def _on_alert_committed(self) -> None:
        changed, self._alert_changes = self._alert_changes, []
        if changed:
            self._after_commit(changed)
        else:
            self.relay.notify()

    def _sla_clock(self) -> None:
        while not self._stop.wait(self.settings.sla_check_interval_s):
            try:
                n = services.enforce_slas(self.uow, self.ctx)
                if n:
                    log.info("escalated %d overdue complaints", n)
            except Exception:
                log.exception("SLA check failed")

    def stop(self, grace: float = 5.0) -> None:
        self._stop.set()
        set_serving(self.health, [SERVICE_NAME], serving=False)
        self.server.stop(grace).wait()
        self.writer.stop()
        if self.events:
            self.events.stop()
        if self.listener:
            self.listener.stop()
        self.relay.stop()
        self.engine.dispose()
