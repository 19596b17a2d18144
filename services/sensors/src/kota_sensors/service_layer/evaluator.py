"""The two consumers of what the ingest path produces, each its own consumer group (and, in the service, its own
process), so that neither slows the other or the ingest:

- AlertConsumer (group `<consumer_group>-alerts`, on sensors.reading-summaries.v1 and
  sensors.vehicle-positions.v1): the lean path that must keep up with ingest. It reads one summary per
  ingested batch (PM2.5 sums per minute, water levels, newest time), not every reading, so its cost follows the
  number of batches, not of readings. It folds them into per-device aggregates, evaluates ISPU, Siaga and
  silence once per device, and touches the database only when an alert changes (alert_state + outbox, one
  transaction) and, at most once a second, for devices' last-seen times. Offsets are committed after that.
- ObservationStore (group `<consumer_group>`, on sensors.readings.v1 and sensors.vehicle-positions.v1): the
  SensorThings history (every observation, datastreams' latest values, latest vehicle positions, last-seen
  times) in one transaction per batch. It is bounded by the database's insert rate, so under a burst faster
  than that it lags and catches up afterwards; alerts do not wait for it.

Replays are harmless: observations are keyed by (device, quantity, time), alert levels are kept in
alert_state, and the evaluator folds a datastream's readings only once (by time). A record that cannot be
parsed goes to `<topic>.dlq` with the reason in headers (each group dead-letters it under its own name); the
batch goes on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from aiokafka import ConsumerRecord
from sqlalchemy.engine import Engine

from kota_common import envelope
from kota_common.eventbus import count_handled
from kota_common.events.sensors import POSITIONS_TOPIC, READINGS_TOPIC, SOURCE, SUMMARIES_TOPIC, SensorAlert
from kota_sensors.domain.alerts import AlertChange, AlertEvaluator
from kota_sensors.domain.batch import BatchAggregate, decode_positions, decode_readings, decode_summaries
from kota_sensors.domain.devices import DeviceInfo
from kota_sensors.service_layer import metrics
from kota_sensors.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

ALERTS_GROUP_SUFFIX = "-alerts"
RELOAD_MIN_INTERVAL_S = 0.2  # a batch from an unknown device re-reads the registry at most this often
# Batches of tens of thousands of records: fetch in large chunks, so one batch is one or two fetches. The
# batch wait is the bus's (kota_common.eventbus.BATCH_WAIT_MS): under load no fetch is empty, and a quiet
# gauge's alert is not held back.
SUBSCRIBER_TUNING = {
    "fetch_max_bytes": 64 * 1024 * 1024,
    "max_partition_fetch_bytes": 16 * 1024 * 1024,
}

Poison = list[tuple[ConsumerRecord, str]]


def alerts_group(consumer_group: str) -> str:
    return consumer_group + ALERTS_GROUP_SUFFIX


class BatchConsumer:
    """A batch subscriber's handler (see kota_common.eventbus.EventBus.subscribe_batch): `process(records)` in one
    call, returning the records that do not parse (for the dead-letter topic); the bus commits the offsets after."""

    name = "consumer"
    topics: tuple[str, ...] = ()

    def __init__(self, engine: Engine | None, group_id: str, devices: Callable[..., Any], *, batch_size: int = 20000):
        """`engine` None: a consumer that only describes its subscription (the AsyncAPI document's), never runs."""
        self._engine = engine
        self.group_id = group_id
        self.devices = devices  # () -> dict[str, DeviceInfo]
        self.batch_size = batch_size
        self.consumed = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # one DB writer in this consumer: batches and its clock

    def uow(self) -> UnitOfWork:
        """A unit of work on this consumer's database: one transaction, committed under the write lock."""
        if self._engine is None:
            raise RuntimeError(f"{self.name} was made without a database: it only describes its subscription")
        return UnitOfWork(self._engine)

    def __call__(self, records: list[ConsumerRecord]) -> Poison:
        poison = self.process(records)
        self.consumed += len(records)
        count_handled(records, poison, self.group_id)
        return poison

    def subscribe_to(self, bus, description: str) -> None:
        bus.subscribe_batch(self, *self.topics, group_id=self.group_id, max_records=self.batch_size,
                            description=description, listener=_OnAssign(self.on_assign), **SUBSCRIBER_TUNING)

    def start(self) -> None:
        """Starts this consumer's own clocks, if any (the records come through the bus)."""

    def _spawn(self, target, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def on_assign(self) -> None:
        pass

    def process(self, records: list[ConsumerRecord]) -> Poison:
        raise NotImplementedError


class _OnAssign:
    """aiokafka's rebalance listener: runs `on_assign` (database reads) off the event loop after each assignment."""

    def __init__(self, on_assign: Callable[..., Any]):
        self.on_assign = on_assign

    async def on_partitions_revoked(self, revoked) -> None:
        pass

    async def on_partitions_assigned(self, assigned) -> None:
        import asyncio

        await asyncio.to_thread(self.on_assign)


class ObservationStore(BatchConsumer):
    """Every observation, datastreams' latest values, vehicles' latest positions and devices' last-seen times,
    one transaction per batch."""

    name = "observation-store"
    topics = (READINGS_TOPIC, POSITIONS_TOPIC)

    def split(self, msgs: list[ConsumerRecord]) -> tuple[list, list, Poison]:
        """Decodes a batch into (readings, positions, records that do not parse). The common case, a batch of
        readings only, costs one C-level decode per record: a record's topic is looked at only when it does
        not decode as a reading."""
        readings, bad = decode_readings([m.value for m in msgs])
        if not bad:
            return readings, [], []
        poison: Poison = []
        p_msgs = []
        for i, reason in bad:
            m = msgs[i]
            if m.topic == READINGS_TOPIC:
                poison.append((m, reason))
            else:
                p_msgs.append(m)
        positions, bad = decode_positions([m.value for m in p_msgs])
        poison += [(p_msgs[i], reason) for i, reason in bad]
        return readings, positions, poison

    def process(self, msgs: list[ConsumerRecord]) -> Poison:
        readings, positions, poison = self.split(msgs)
        obs = [(r.device_id, r.quantity, r.observed_at_ms, r.value) for r in readings]
        streams: dict[tuple[str, str], list] = {}
        seen: dict[str, int] = {}
        for r in readings:
            k = (r.device_id, r.quantity)
            ts = r.observed_at_ms
            st = streams.get(k)
            if st is None:
                streams[k] = [ts, ts, r.value]
            else:
                if ts < st[0]:
                    st[0] = ts
                if ts >= st[1]:
                    st[1], st[2] = ts, r.value
        for (d, _q), st in streams.items():
            if st[1] > seen.get(d, -1):
                seen[d] = st[1]
        latest: dict[str, dict] = {}
        for p in positions:
            old = latest.get(p.vehicle_id)
            if old is None or p.observed_at_ms > old["ts_ms"]:
                latest[p.vehicle_id] = dict(vehicle_id=p.vehicle_id, route_id=p.route_id, lat=p.lat, lon=p.lon,
                                            bearing=p.bearing, speed_kmh=p.speed_kmh, ts_ms=p.observed_at_ms)
            if p.observed_at_ms > seen.get(p.vehicle_id, -1):
                seen[p.vehicle_id] = p.observed_at_ms
        with self._lock, self.uow() as uow:
            uow.history.add_batch(obs, {k: tuple(v) for k, v in streams.items()}, latest, seen)
            uow.commit()
        return poison


class AlertConsumer(BatchConsumer):
    """ISPU, Siaga and silence alerts from batch summaries and positions, staged in the outbox (published by the
    relay)."""

    name = "alert-evaluator"
    topics = (SUMMARIES_TOPIC, POSITIONS_TOPIC)

    def __init__(self, engine: Engine | None, group_id: str, devices: Callable[..., Any], *, ispu_margin: int = 5,
                 batch_size: int = 50000, silent_after_s: float = 900, silent_check_interval_s: float = 30,
                 touch_interval_s: float = 1.0, on_alerts: Callable[..., Any] = lambda: None, reload_devices: Callable[[], Any] | None = None):
        super().__init__(engine, group_id, devices, batch_size=batch_size)
        self.reload_devices = reload_devices  # re-reads the registry (devices provisioned by another process)
        self._last_reload = -RELOAD_MIN_INTERVAL_S
        self.silent_after_ms = int(silent_after_s * 1000)
        self.silent_check_interval_s = silent_check_interval_s
        self.touch_interval_s = touch_interval_s
        self.on_alerts = on_alerts
        self.evaluator = AlertEvaluator(ispu_margin)
        self.last_seen: dict[str, int] = {}
        self.folded: dict[tuple[str, str], int] = {}  # newest reading time folded per (device, quantity)
        self.silent: set[str] = set()
        self.alerts = 0
        self._untouched: dict[str, int] = {}  # last-seen times not yet written to devices
        self._last_touch = 0.0

    def start(self) -> None:
        self._spawn(self._silence_clock, "silence-clock")

    def on_assign(self) -> None:
        """On every (re)assignment the levels come again from alert_state: after a rebalance between replicas
        a station's next change is computed from what was last published, not from stale memory."""
        devices = self.devices()
        with self._lock, self.uow() as uow:
            for row in uow.alerts.states():
                if row.kind == "device_silent":
                    if row.level == "silent":
                        self.silent.add(row.station_id)
                    continue
                d = devices.get(row.station_id)
                self.evaluator.restore(row.station_id, row.kind, row.level, d.gauge_thresholds() if d else None)
            for d_id, ms in uow.alerts.last_seen():
                if ms is not None and ms > self.last_seen.get(d_id, 0):
                    self.last_seen[d_id] = ms

    def process(self, msgs: list[ConsumerRecord]) -> Poison:
        by_topic: dict[str, list] = {SUMMARIES_TOPIC: [], POSITIONS_TOPIC: []}
        for m in msgs:
            by_topic[m.topic].append(m)
        poison: Poison = []
        agg = BatchAggregate()
        if summary_records := by_topic[SUMMARIES_TOPIC]:
            summaries, bad = decode_summaries([m.value for m in summary_records])
            poison += [(summary_records[i], reason) for i, reason in bad]
            agg.add_summaries(summaries, self.folded)
        if position_records := by_topic[POSITIONS_TOPIC]:
            positions, bad = decode_positions([m.value for m in position_records])
            poison += [(position_records[i], reason) for i, reason in bad]
            agg.add_positions(positions)
        self.apply(agg)
        return poison

    def apply(self, agg: BatchAggregate) -> list[AlertChange]:
        """Evaluates one batch's aggregates; stages the changes (if any) in one transaction."""
        devices = self.devices()
        if (self.reload_devices is not None and time.monotonic() - self._last_reload >= RELOAD_MIN_INTERVAL_S
                and any(d not in devices for d in agg.seen)):  # registered since the last refresh
            self._last_reload = time.monotonic()
            self.reload_devices()
            devices = self.devices()
        changes: list[AlertChange] = []
        for device_id, minutes in agg.pm25.items():
            d = devices.get(device_id)
            if d is not None and d.kind == "air_quality":
                c = self.evaluator.pm25_minutes(device_id, minutes, agg.pm25_last[device_id])
                if c:
                    changes.append(c)
        for device_id, levels in agg.levels.items():
            d = devices.get(device_id)
            if d is not None and (t := d.gauge_thresholds()) is not None:
                changes.extend(self.evaluator.water_level(device_id, t, levels))
        with self._lock:
            seen = agg.seen
            for d in [d for d in seen if d in self.silent]:
                self.silent.discard(d)
                changes.append(AlertChange(d, "device_silent", "ok", "silent", "normal", None, "", seen[d]))
            last_seen, untouched = self.last_seen, self._untouched
            for d, ms in seen.items():
                if ms > last_seen.get(d, 0):
                    last_seen[d] = ms
                    untouched[d] = ms
            touch = untouched and (changes or time.monotonic() - self._last_touch >= self.touch_interval_s)
            if changes or touch:
                with self.uow() as uow:
                    if touch:
                        uow.history.touch_devices(untouched)
                    self._stage_alerts(uow, changes, devices)
                    uow.commit()
                if touch:
                    untouched.clear()
                    self._last_touch = time.monotonic()
        if changes:
            self._count(changes)
            self.on_alerts()
        return changes

    def _stage_alerts(self, uow: UnitOfWork, changes: list[AlertChange], devices: dict[str, DeviceInfo]) -> None:
        now = datetime.now(timezone.utc)
        for c in changes:
            d = devices.get(c.station_id)
            alert = SensorAlert(
                alert_id=str(uuid.uuid4()), kind=c.kind, station_id=c.station_id, station_name=d.name if d else c.station_id,
                lat=d.lat if d else None, lon=d.lon if d else None, kota_code=d.kota_code if d else "", level=c.level,
                previous_level=c.previous_level, severity=c.severity, value=c.value, unit=c.unit,
                observed_at=datetime.fromtimestamp(c.observed_ms / 1000, timezone.utc),
            )
            event = envelope.Event(type=alert.ce_type, source=SOURCE, subject=c.station_id, data=alert.to_data(), id=alert.alert_id)
            uow.alerts.publish(c.station_id, event)
            uow.alerts.save_level(c.station_id, c.kind, c.level, now)
            log.info("alert %s %s: %s -> %s", c.kind, c.station_id, c.previous_level or "-", c.level)

    def _count(self, changes: list[AlertChange]) -> None:
        """Alerts raised, once their transaction committed."""
        self.alerts += len(changes)
        for c in changes:
            metrics.ALERTS_RAISED.add(1, metrics.alert_attributes(c.kind, c.level))

    def check_silence(self, now_ms: int | None = None) -> int:
        """Raises device_silent for devices that reported before but not for silent_after; returns how many."""
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        devices = self.devices()
        with self._lock:
            quiet = [d for d, ms in self.last_seen.items()
                     if d not in self.silent and now_ms - ms > self.silent_after_ms and d in devices]
            if not quiet:
                return 0
            changes = [AlertChange(d, "device_silent", "silent", "ok", "warning", None, "", self.last_seen[d]) for d in quiet]
            with self.uow() as uow:
                self._stage_alerts(uow, changes, devices)
                uow.commit()
            self.silent.update(quiet)
        self._count(changes)
        self.on_alerts()
        return len(changes)

    def _silence_clock(self) -> None:
        while not self._stop.wait(self.silent_check_interval_s):
            try:
                self.check_silence()
            except Exception:
                log.exception("silence check failed")
