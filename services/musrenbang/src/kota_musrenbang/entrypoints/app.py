"""Wires the musrenbang service (cosmicpython's bootstrap) as components of one ServiceHost: database, outbox
relay, the evidence subscribers, and the gRPC server."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kota_common.clock import now_utc
from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.eventbus import EventBus, IdempotentHandler
from kota_common.events import musrenbang as mb_events
from kota_common.group_commit import GroupCommitWriter
from kota_common.metrics import observe_outbox
from kota_common.outbox import OutboxRelay
from kota_common.reference import AreaDirectory
from kota_common.relay_process import RelayProcess
from kota_common.runtime import Events, GrpcServer, Hook, ServiceHost
from kota_musrenbang.config import MusrenbangSettings
from kota_musrenbang.domain import scoring
from kota_musrenbang.domain.cycle import PlanningCycle
from kota_musrenbang.domain.nik import NikHasher
from kota_musrenbang.entrypoints import subscribers
from kota_musrenbang.entrypoints.grpc_api import MusrenbangServicer, register
from kota_musrenbang.service_layer import services
from kota_musrenbang.service_layer.unit_of_work import UnitOfWork
from kota_musrenbang.service_layer.watchers import WatchHub

log = logging.getLogger(__name__)
SERVICE_NAME = "kota.musrenbang.v1.MusrenbangService"
MIGRATIONS = Path(__file__).resolve().parent.parent / "adapters" / "migrations"
DEMO_GRID = timedelta(days=10)


def planning_cycle(s: MusrenbangSettings, now: datetime) -> PlanningCycle:
    """Jakarta's calendar for this year, or the demo cycle: its kelurahan stage opens on a ten-day grid of the
    year, so that it is open now and stays where it is across restarts."""
    if s.calendar == "jakarta":
        return PlanningCycle.jakarta(now.year, s.support_limit)
    new_year = datetime(now.year, 1, 1, tzinfo=timezone.utc)
    anchor = new_year + DEMO_GRID * ((now - new_year) // DEMO_GRID)
    return PlanningCycle.demo(anchor + timedelta(hours=1), s.support_limit)


def context(s: MusrenbangSettings, clock: Callable[[], datetime] = now_utc, cycle: PlanningCycle | None = None
            ) -> services.Context:
    C = scoring.Criterion
    weights = scoring.Weights({C.URGENCY: s.weight_urgency, C.BENEFICIARIES: s.weight_beneficiaries,
                               C.ALIGNMENT: s.weight_alignment, C.EVIDENCE: s.weight_evidence, C.SUPPORTS: s.weight_supports})
    return services.Context(
        cycle=cycle or planning_cycle(s, clock()), areas=AreaDirectory.load_jakarta(), hasher=NikHasher(s.nik_key.encode()),
        weights=weights, duplicate_radius_km=s.duplicate_radius_km, duplicate_min_similarity=s.duplicate_min_similarity,
        clock=clock,
    )


def bootstrap(s: MusrenbangSettings, *, ctx: services.Context | None = None) -> ServiceHost:
    """The service as its components, in start-up order (they stop in reverse): the database, the outbox relay,
    the topics and the evidence subscriber (when the broker answers; the API never waits for it), and last the
    gRPC server. `ctx`: the use cases' context (tests give their own clock and cycle)."""
    upgrade_to_head(s.database_url, MIGRATIONS)
    engine = make_engine(s.database_url, pool_size=min(s.grpc_workers, 20))
    observe_outbox(engine, "musrenbang")
    ctx = ctx or context(s)
    relay: RelayProcess | OutboxRelay
    if s.outbox_relay == "process":  # every support is an event: relaying them takes a core's share of its own
        relay = RelayProcess("musrenbang-relay", s.database_url, linger_ms=s.outbox_linger_ms)
        # the broker this service was given, which need not be in the environment (tests and benches pass settings)
        relay.env["KOTA_KAFKA_BOOTSTRAP"] = s.common.kafka_bootstrap
    else:
        relay = OutboxRelay(engine, s.common.kafka_bootstrap, linger=s.outbox_linger_ms / 1000)
    hub = WatchHub()

    def after_commit(changed: list[tuple[str, str]]) -> None:
        relay.notify()
        hub.publish(changed)

    def uow() -> UnitOfWork:
        return UnitOfWork(engine, after_commit, catalogue=ctx.catalogue)

    # Supports come in bursts (a whole RW at the same meeting): one transaction, and on SQLite one hold of the
    # write lock, serves many of them, applied as a set (services.apply_supports; bench/musrenbang_supports.py).
    writer = GroupCommitWriter(engine, lambda session: UnitOfWork(session=session, catalogue=ctx.catalogue), after_commit,
                               max_batch=s.support_batch, commit_delay=s.commit_delay_ms / 1000)
    evidence = Evidence(ctx)
    bus = EventBus(s.common.kafka_bootstrap, "musrenbang")
    if s.consume_events:
        handler = IdempotentHandler(engine, s.consumer_group, {
            subscribers.TOPICS[0]: evidence.on_complaint, subscribers.TOPICS[1]: evidence.on_alert})
        subscribers.subscribe(bus, handler, s)
    apply_supports = functools.partial(services.apply_supports, ctx)  # one object: the batch groups by it

    def supports(wish: services.SupportWish) -> tuple[int, int, bool]:
        return writer.run_together(apply_supports, wish)

    servicer = MusrenbangServicer(uow, writer.run, supports, ctx, hub, s.common.auth_secret)
    log.info("planning cycle %d: %s", ctx.cycle.year, "; ".join(w.describe() for w in ctx.cycle.stages))
    return ServiceHost("musrenbang", [
        Hook("database", on_stop=engine.dispose),
        relay,
        writer,
        Events(bus, [mb_events.TOPIC, *subscribers.TOPICS], replication_factor=s.common.kafka_replication_factor),
        GrpcServer(s.grpc_address, register(servicer), [SERVICE_NAME], max_workers=s.grpc_workers),
    ])


class Evidence:
    """Complaints and sensor alerts, recorded in the handler's transaction (with the event's id)."""

    def __init__(self, ctx: services.Context):
        self.ctx = ctx

    def on_complaint(self, session, event, payload) -> None:
        if payload.ce_type != "kota.complaints.submitted.v1":
            return
        services.record_complaint(UnitOfWork(session=session), payload.complaint_id, payload.location.kelurahan_code,
                                  payload.service_code, payload.requested_at)

    def on_alert(self, session, event, payload) -> None:
        services.record_alert(self.ctx, UnitOfWork(session=session), payload.alert_id, payload.kind, payload.severity,
                              payload.level, payload.station_name, payload.lat, payload.lon, payload.observed_at)
