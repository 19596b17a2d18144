"""Wires the complaints service (cosmicpython's bootstrap) as components of one ServiceHost: database, reference
data, gRPC server, outbox relay, group-commit writer, alert subscriber, SLA clock, and (on PostgreSQL) the listener that passes other replicas' changes to this one's WatchComplaints streams."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from kota.complaints.v1 import complaints_pb2_grpc as pb_grpc
from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.db.notify import NotificationListener
from kota_common.errors import NotFound
from kota_common.eventbus import EventBus, IdempotentHandler
from kota_common.events import complaints as complaint_events
from kota_common.group_commit import GroupCommitWriter
from kota_common.metrics import observe_outbox
from kota_common.outbox import OutboxRelay, events_since
from kota_common.process import collect_garbage_less_often
from kota_common.reference import AreaDirectory
from kota_common.relay_process import RelayProcess
from kota_common.runtime import Events, GrpcServer, Hook, Periodic, ServiceHost
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


def bootstrap(s: ComplaintsSettings) -> ServiceHost:
    """The service as its components, in start-up order (they stop in reverse): the database, on PostgreSQL the
    listener for other replicas' changes, the outbox relay, the group-commit writer, the topics and the alert
    subscriber (when the broker answers; intake never waits for it), the SLA clock, and last the gRPC server."""
    upgrade_to_head(s.database_url, MIGRATIONS)
    engine = make_engine(s.database_url, pool_size=min(s.grpc_workers, 20))
    observe_outbox(engine, "complaints")  # kota.outbox.backlog and .oldest_age at /metrics
    # A group commit keeps its requests' objects alive until it commits; the default threshold spent about
    # 4% of intake's CPU in the collector (perf), and p99 at 500/s halved without it.
    collect_garbage_less_often(GC_YOUNG_THRESHOLD)
    relay: RelayProcess | OutboxRelay
    if s.outbox_relay == "process":
        relay = RelayProcess("complaints-relay", s.database_url, linger_ms=s.outbox_linger_ms)
    else:
        relay = OutboxRelay(engine, s.common.kafka_bootstrap, linger=s.outbox_linger_ms / 1000)
    complaints = Complaints(engine, load_context(engine, s), relay)
    components: list = [Hook("database", on_stop=engine.dispose)]
    if engine.dialect.name == "postgresql":
        components.append(NotificationListener(s.database_url, UPDATES_CHANNEL, complaints.on_notice,
                                               on_reconnect=complaints.catch_up_watchers))
    writer = GroupCommitWriter(engine, lambda session: UnitOfWork(session=session), complaints.after_commit,
                               commit_delay=s.commit_delay_ms / 1000)
    bus = EventBus(s.common.kafka_bootstrap, "complaints")
    if s.consume_alerts:
        alerts = IdempotentHandler(engine, s.consumer_group, dict.fromkeys(subscribers.TOPICS, complaints.on_alert),
                                   on_handled=complaints.on_alert_committed)
        subscribers.subscribe(bus, alerts, s)
    servicer = ComplaintsServicer(complaints.uow, writer.run, complaints.ctx, complaints.hub, s.common.auth_secret)

    def register(server):
        pb_grpc.add_ComplaintsServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return ServiceHost("complaints", [
        *components,
        relay,
        writer,
        Events(bus, [complaint_events.TOPIC, *subscribers.TOPICS], replication_factor=s.common.kafka_replication_factor),
        Periodic("sla-clock", s.sla_check_interval_s, complaints.enforce_slas),
        GrpcServer(s.grpc_address, register, [SERVICE_NAME], max_workers=s.grpc_workers,
                   max_concurrent_rpcs=s.grpc_max_concurrent_rpcs, reuse_port=s.grpc_reuse_port),
    ])


class Complaints:
    """What the components share: the unit of work, announcing committed changes to WatchComplaints streams (this
    replica's and, through the listener, other replicas'), the alert handler and the SLA clock's task."""

    def __init__(self, engine, ctx: services.Context, relay):
        self.engine = engine
        self.ctx = ctx
        self.relay = relay
        self.hub = UpdateHub()
        self._alert_changes: list = []  # what the alert being handled changed, announced once it is committed

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.after_commit)

    def after_commit(self, changed) -> None:
        self.relay.notify()
        if self.hub.has_subscribers():
            for complaint, ce_type in changed:
                self._announce(complaint, complaint.agency_code, ce_type)

    def on_notice(self, payload: str) -> None:
        """A change committed by another replica: its watchers here get the complaint as it now stands."""
        notice = ChangeNotice.decode(payload)
        if notice.from_elsewhere and self.hub.watched(notice.complaint_id, notice.agency_code):
            self._announce(services.get_complaint(notice.complaint_id, self.uow()), notice.agency_code, notice.event_type)

    def catch_up_watchers(self, since: datetime) -> None:
        """After the listener lost the database: each complaint changed meanwhile (by any replica; a watcher here
        may get one of its own again) goes to this replica's watchers once, as it now stands, with its latest
        change's type. The outbox keeps every event, so it knows what changed."""
        if not self.hub.has_subscribers():
            return
        latest: dict[str, str] = {}
        for complaint_id, ce_type in events_since(self.engine, complaint_events.TOPIC, since - CATCH_UP_MARGIN):
            if complaint_id is None:  # keyless: not a complaint's event (each has its complaint's id as key)
                continue
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

    def on_alert(self, session, event, payload) -> None:
        uow = UnitOfWork(session=session)
        self._alert_changes = uow.changed
        services.handle_sensor_alert(payload, uow, self.ctx)

    def on_alert_committed(self) -> None:
        changed, self._alert_changes = self._alert_changes, []
        if changed:
            self.after_commit(changed)
        else:
            self.relay.notify()

    def enforce_slas(self) -> None:
        if n := services.enforce_slas(self.uow, self.ctx):
            log.info("escalated %d overdue complaints", n)
