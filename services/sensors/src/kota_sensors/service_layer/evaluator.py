"""Consumes sensors.readings.v1 and sensors.vehicle-positions.v1 in large batches: stores observations and
latest values in the database, evaluates alerts, and stages alert events in the outbox, all in one
transaction per batch; offsets are committed after it. Replays are harmless: observations are keyed by
(device, quantity, time) and alert levels are kept in alert_state with the batch.

A record that cannot be parsed goes to `<topic>.dlq` with the reason in headers; the batch goes on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone

from confluent_kafka import KafkaError
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from kota_common import envelope, outbox
from kota_common.events.sensors import ALERTS_TOPIC, POSITIONS_TOPIC, READINGS_TOPIC, SOURCE, SensorAlert
from kota_common.kafka import make_consumer, make_producer
from kota_sensors.adapters import repository
from kota_sensors.adapters.orm import AlertStateRow
from kota_sensors.domain.alerts import AlertChange, AlertEvaluator
from kota_sensors.domain.devices import DeviceInfo

log = logging.getLogger(__name__)


class PoisonRecord(ValueError):
    pass


_decode = json.JSONDecoder().decode


def _reading(value: bytes | None) -> tuple[str, str, float, int]:
    try:
        d = _decode(value.decode())
        return d["device_id"], d["quantity"], float(d["value"]), int(d["observed_at_ms"])
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise PoisonRecord(f"not a kota.sensors.reading.v1 payload: {exc!r}"[:500]) from exc


def _position(value: bytes | None) -> dict:
    try:
        d = json.loads(value)
        return dict(vehicle_id=str(d["vehicle_id"]), route_id=str(d.get("route_id", "")), lat=float(d["lat"]),
                    lon=float(d["lon"]), bearing=float(d.get("bearing", 0)), speed_kmh=float(d.get("speed_kmh", 0)),
                    ts_ms=int(d["observed_at_ms"]))
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise PoisonRecord(f"not a kota.sensors.vehicle-position.v1 payload: {exc!r}"[:500]) from exc


class ReadingsConsumer:
    def __init__(self, engine: Engine, bootstrap: str, group_id: str, devices: callable, *, ispu_margin: int = 5,
                 batch_size: int = 20000, silent_after_s: float = 900, silent_check_interval_s: float = 30,
                 on_alerts: callable = lambda: None):
        self.engine = engine
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.devices = devices  # () -> dict[str, DeviceInfo]
        self.batch_size = batch_size
        self.silent_after_ms = int(silent_after_s * 1000)
        self.silent_check_interval_s = silent_check_interval_s
        self.on_alerts = on_alerts
        self.evaluator = AlertEvaluator(ispu_margin)
        self.last_seen: dict[str, int] = {}
        self.silent: set[str] = set()
        self.consumed = 0
        self.dead_lettered = 0
        self.alerts = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # one DB writer: batches and the silence check

    def start(self) -> None:
        self.consumer = make_consumer(self.bootstrap, self.group_id, **{"fetch.max.bytes": 64 * 1024 * 1024})
        self.dlq = make_producer(self.bootstrap)
        # On every (re)assignment the levels come again from alert_state: after a rebalance between replicas
        # a station's next change is computed from what was last published, not from stale memory.
        self.consumer.subscribe([READINGS_TOPIC, POSITIONS_TOPIC], on_assign=lambda _c, _p: self._restore())
        for target, name in ((self._run, "readings-consumer"), (self._silence_clock, "silence-clock")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)
        try:
            self.consumer.close()
        except Exception:
            pass
        self.dlq.flush(5)

    def _restore(self) -> None:
        devices = self.devices()
        with self._lock, Session(self.engine) as s:
            for row in s.exec(select(AlertStateRow)):
                if row.kind == "device_silent":
                    if row.level == "silent":
                        self.silent.add(row.station_id)
                    continue
                d = devices.get(row.station_id)
                self.evaluator.restore(row.station_id, row.kind, row.level, d.gauge_thresholds() if d else None)
            for d_id, ms in s.exec(select(repository.DeviceRow.id, repository.DeviceRow.last_seen_ms)):
                if ms is not None:
                    self.last_seen[d_id] = ms

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msgs = self.consumer.consume(self.batch_size, 0.5)
            except Exception:
                log.exception("consume failed")
                time.sleep(1)
                continue
            if not msgs:
                continue
            for attempt in range(1, 6):
                try:
                    self.process(msgs)
                    break
                except Exception:
                    log.exception("batch of %d records failed (attempt %d)", len(msgs), attempt)
                    if self._stop.wait(min(0.5 * 2**attempt, 10)):
                        return
            else:  # the database stays away: do not commit; the records come again after a restart
                continue
            self.consumer.commit(asynchronous=False)

    def process(self, msgs) -> None:
        """Handles one batch of records (readings and positions) in one transaction."""
        devices = self.devices()
        obs: list[tuple] = []
        streams: dict[tuple[str, str], list] = {}
        per_station: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
        positions: dict[str, dict] = {}
        seen: dict[str, int] = {}
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", err)
                continue
            try:
                if msg.topic() == READINGS_TOPIC:
                    device_id, quantity, value, ts = _reading(msg.value())
                    obs.append((device_id, quantity, ts, value))
                    k = (device_id, quantity)
                    st = streams.get(k)
                    if st is None:
                        streams[k] = [ts, ts, value]
                    else:
                        if ts < st[0]:
                            st[0] = ts
                        if ts >= st[1]:
                            st[1], st[2] = ts, value
                    if quantity == "pm25" or quantity == "water_level":
                        per_station[k].append((ts, value))
                else:
                    p = _position(msg.value())
                    device_id, ts = p["vehicle_id"], p["ts_ms"]
                    old = positions.get(device_id)
                    if old is None or ts > old["ts_ms"]:
                        positions[device_id] = p
            except PoisonRecord as exc:
                self._dead_letter(msg, str(exc))
                continue
            if ts > seen.get(device_id, 0):
                seen[device_id] = ts
        changes: list[AlertChange] = []
        for (device_id, quantity), readings in per_station.items():
            d = devices.get(device_id)
            if d is None:
                continue
            readings.sort()
            if quantity == "pm25" and d.kind == "air_quality":
                c = self.evaluator.pm25(device_id, readings)
                if c:
                    changes.append(c)
            elif quantity == "water_level" and (t := d.gauge_thresholds()) is not None:
                changes.extend(self.evaluator.water_level(device_id, t, readings))
        back = [d for d in seen if d in self.silent]
        with self._lock:
            for d in back:
                self.silent.discard(d)
                changes.append(AlertChange(d, "device_silent", "ok", "silent", "normal", None, "", seen[d]))
            with Session(self.engine) as s:
                repository.store_observations(s, obs)
                repository.upsert_datastreams(s, {k: tuple(v) for k, v in streams.items()})
                repository.upsert_positions(s, positions)
                repository.touch_devices(s, seen)
                self._stage_alerts(s, changes, devices)
                s.commit()
            for d, ms in seen.items():
                if ms > self.last_seen.get(d, 0):
                    self.last_seen[d] = ms
        self.consumed += len(msgs)
        if changes:
            self.alerts += len(changes)
            self.on_alerts()

    def _stage_alerts(self, s: Session, changes: list[AlertChange], devices: dict[str, DeviceInfo]) -> None:
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
            outbox.add_event(s, ALERTS_TOPIC, c.station_id, event)
            kind = "flood" if c.kind == "flood" else c.kind
            row = s.get(AlertStateRow, (c.station_id, kind))
            if row is None:
                s.add(AlertStateRow(station_id=c.station_id, kind=kind, level=c.level, updated_at=now))
            else:
                row.level, row.updated_at = c.level, now
                s.add(row)
            log.info("alert %s %s: %s -> %s", c.kind, c.station_id, c.previous_level or "-", c.level)

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
            with Session(self.engine) as s:
                self._stage_alerts(s, changes, devices)
                s.commit()
            self.silent.update(quiet)
        self.alerts += len(changes)
        self.on_alerts()
        return len(changes)

    def _silence_clock(self) -> None:
        while not self._stop.wait(self.silent_check_interval_s):
            try:
                self.check_silence()
            except Exception:
                log.exception("silence check failed")

    def _dead_letter(self, msg, reason: str) -> None:
        log.warning("dead-lettering record from %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), reason)
        headers = list(msg.headers() or []) + [
            ("kota_dlq_reason", reason[:2000].encode()),
            ("kota_dlq_topic", msg.topic().encode()),
            ("kota_dlq_partition", str(msg.partition()).encode()),
            ("kota_dlq_offset", str(msg.offset()).encode()),
            ("kota_dlq_consumer", self.group_id.encode()),
        ]
        self.dlq.produce(f"{msg.topic()}.dlq", key=msg.key(), value=msg.value(), headers=headers)
        self.dlq.flush(30)
        self.dead_lettered += 1
