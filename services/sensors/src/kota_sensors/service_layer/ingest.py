"""The one ingest path: authenticate the device, validate its batch, produce accepted readings to Kafka.

gRPC, HTTP and MQTT all call `IngestPipeline.submit`. Readings do not go through the database: each accepted
reading becomes one record on sensors.readings.v1 (key: device id), produced with librdkafka (idempotent,
acks=all, batched by linger), and the batch one record on sensors.reading-summaries.v1 (what the alert
evaluator needs of it). The caller gets a Ticket that completes when the broker has acknowledged every record
of the batch, summary included; only then is the device told its readings were accepted. A device that gets
no answer resends; the records' ce_id is deterministic (<device>/<quantity>/<ms>), so consumers drop the
resends (the evaluator drops summaries of readings it has already folded).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from kota_common.events.sensors import POSITIONS_TOPIC, READINGS_TOPIC, SOURCE, SUMMARIES_TOPIC
from kota_sensors.domain.batch import encode_summary, summarise
from kota_sensors.domain.devices import ROUTE_ID_RULE, DeviceInfo, valid_route_id
from kota_sensors.domain.validation import Validator
from kota_sensors.service_layer import metrics

log = logging.getLogger(__name__)

H_SPEC = ("ce_specversion", b"1.0")
H_SOURCE = ("ce_source", SOURCE.encode())
H_CONTENT_TYPE = ("content-type", b"application/json")  # optional in the CE Kafka binding: not on readings
H_READING = ("ce_type", b"kota.sensors.reading.v1")
H_POSITION = ("ce_type", b"kota.sensors.vehicle-position.v1")
H_SUMMARY = ("ce_type", b"kota.sensors.reading-summary.v1")
UNAUTHENTICATED = "unauthenticated"
MAX_REJECTIONS_REPORTED = 1000
RELOAD_MIN_INTERVAL_S = 1.0  # an unknown device or a wrong credential re-reads the registry at most this often

DESCRIPTIONS = {
    "unknown_quantity": "this device's kind does not measure that quantity",
    "wrong_unit": "unit must be the quantity's canonical unit",
    "out_of_range": "value outside the quantity's physical range",
    "not_a_number": "value is NaN or infinite",
    "future_timestamp": "timestamp is in the future beyond the tolerated clock skew",
    "too_old": "timestamp is older than the maximum accepted age",
    "out_of_order": "timestamp is older than the datastream's latest accepted reading",
    "duplicate": "a reading with this device, quantity and timestamp was already accepted",
    "length_mismatch": "timestamps and values differ in length",
    "invalid_route_id": f"route_id must be {ROUTE_ID_RULE} (or empty: the vehicle's provisioned route)",
}


@dataclass
class SeriesIn:
    quantity: str
    unit: str
    timestamps: list[int]
    values: list[float]


@dataclass
class PositionsIn:
    route_id: str
    timestamps: list[int]
    lats: list[float]
    lons: list[float]
    bearings: list[float]
    speeds: list[float]


@dataclass
class Ticket:
    """One batch in flight: done when the broker acknowledged (or failed) each accepted record."""

    sequence: int = 0
    device_id: str = ""
    accepted: int = 0
    rejections: list[tuple[str, int, int, str]] = field(default_factory=list)  # quantity, index, ts, reason
    refused: str = ""
    failed: int = 0
    summary_failed: bool = False
    _outstanding: int = 0
    _event: threading.Event = field(default_factory=threading.Event)

    def on_delivery(self, err, _msg) -> None:
        if err is not None:
            self.failed += 1
        self._outstanding -= 1
        if self._outstanding == 0:
            self._event.set()

    def on_summary_delivery(self, err, _msg) -> None:
        """The batch's summary: without it the alert evaluator would not see the batch, so its loss fails the
        whole batch (settle), which the device then resends."""
        if err is not None:
            self.summary_failed = True
        self.on_delivery(None, _msg)

    def _arm(self, n: int) -> None:
        self._outstanding = n
        if n == 0:
            self._event.set()

    @staticmethod
    def _produced_before_full(timestamps: list[int], failed_ts: int) -> int:
        """Index of the reading whose produce raised BufferError (timestamps are strictly increasing)."""
        import bisect

        return bisect.bisect_left(timestamps, failed_ts)

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    @property
    def done(self) -> bool:
        return self._event.is_set()

    @property
    def delivered(self) -> int:
        return self.accepted - self.failed


class IngestPipeline:
    def __init__(self, producer, validator: Validator, devices: dict[str, DeviceInfo], *, report_each: bool = True):
        """report_each: a delivery report per record (any failure is seen); False: one per series, its last
        record, relying on librdkafka's in-order, gap-free delivery per partition (idempotent producer)."""
        self.producer = producer
        self.report_each = report_each
        self.validator = validator
        self.devices = devices  # replaced wholesale on registry changes (atomic reference swap)
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.refused_batches = 0
        self.reload_devices: Callable[[], None] | None = None  # re-reads the registry (set by the app; other processes register)
        self._last_reload = -RELOAD_MIN_INTERVAL_S
        self._reload_lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="ingest-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    def close(self, timeout: float = 10.0) -> None:
        self.producer.flush(timeout)
        self._stop.set()
        self._poller.join(2)

    def _lock(self, device_id: str) -> threading.Lock:
        lock = self._locks.get(device_id)
        if lock is None:
            with self._locks_guard:
                lock = self._locks.setdefault(device_id, threading.Lock())
        return lock

    def authenticate(self, device_id: str, token: str) -> DeviceInfo | None:
        device = self.devices.get(device_id)
        if device is not None and device.accepts(token):
            return device
        if self.reload_devices is None:
            return None
        # Provisioned (or issued a new credential) in another process or replica since the last refresh? Re-read
        # the registry, at most once a second; callers that arrive during a reload wait for it and look again.
        with self._reload_lock:
            device = self.devices.get(device_id)
            if (device is None or not device.accepts(token)) and time.monotonic() - self._last_reload >= RELOAD_MIN_INTERVAL_S:
                self._last_reload = time.monotonic()
                self.reload_devices()
                device = self.devices.get(device_id)
        return device if device is not None and device.accepts(token) else None

    def submit_authenticated(self, device_id: str, series: list[SeriesIn], positions: PositionsIn | None = None) -> Ticket:
        """For a transport that authenticated the device itself (the embedded MQTT broker at CONNECT, which also
        refuses and drops a session whose credential was revoked or replaced since: see mqtt_auth). Here, as a
        second line, refused if the device is unknown or has no credential any more."""
        device = self.devices.get(device_id)
        if device is None or device.token_hash is None:
            return self.refuse(Ticket(device_id=device_id), UNAUTHENTICATED, _count(series, positions))
        return self.submit(device_id, "", series, positions, _device=device)

    def refuse(self, ticket: Ticket, reason: str, readings: int = 0) -> Ticket:
        """Refuses a whole batch (of `readings` readings and positions, counted as rejected for `reason`)."""
        ticket.refused = reason
        self.refused_batches += 1
        if readings:
            metrics.READINGS.add(readings, metrics.rejected(reason))
        ticket._arm(0)
        return ticket

    def submit(
        self,
        device_id: str,
        token: str,
        series: list[SeriesIn],
        positions: PositionsIn | None = None,
        *,
        sequence: int = 0,
        _device: DeviceInfo | None = None,
    ) -> Ticket:
        """Validates and produces one batch of one device; returns at once with a Ticket to wait on."""
        ticket = Ticket(sequence=sequence, device_id=device_id)
        device = _device or self.authenticate(device_id, token)
        if device is None:
            return self.refuse(ticket, UNAUTHENTICATED, _count(series, positions))
        now_ms = int(time.time() * 1000)
        produce = self.producer.produce
        cb = ticket.on_delivery
        key = device_id.encode()
        rejections = ticket.rejections
        batches: list[tuple[str, list[int], list[float]]] = []
        with self._lock(device_id):
            for s in series:
                r = self.validator.validate_series(device_id, device.kind, s.quantity, s.unit, s.timestamps, s.values, now_ms)
                if r.rejected:
                    for i, reason in r.rejected:
                        ts = s.timestamps[i] if i < len(s.timestamps) else 0
                        rejections.append((s.quantity, i, ts, reason))
                if r.timestamps:
                    batches.append((s.quantity, r.timestamps, r.values))
            pos_rows = self._validate_positions(device, positions, now_ms, rejections) if positions else []
            n = sum(len(b[1]) for b in batches) + len(pos_rows)
            ticket.accepted = n
            summaries = 1 if batches else 0
            if self.report_each:
                ticket._arm(n + summaries)
            else:  # one delivery report per series: its last record (same key, same partition, in order)
                ticket._arm(len(batches) + (1 if pos_rows else 0) + summaries)
            # Hot loop: per reading one string format, one small list and one produce call. Only the four
            # required CloudEvents attributes travel as headers (each header costs both here and in the broker;
            # content-type is optional in the CE Kafka binding and the payload is always JSON).
            h_spec, h_src, h_ct = H_SPEC, H_SOURCE, H_CONTENT_TYPE
            for quantity, tss, vals in batches:
                h_type = H_READING
                unit = QUANTITY_UNITS[quantity]
                prefix = f'{{"device_id":"{device_id}","quantity":"{quantity}","unit":"{unit}","value":'
                id_prefix = f"{device_id}/{quantity}/"
                each = cb if self.report_each else None
                last = len(tss) - 1
                try:
                    for ts, v in zip(tss[:last], vals[:last], strict=True):
                        produce(READINGS_TOPIC, f'{prefix}{v!r},"observed_at_ms":{ts}}}', key, on_delivery=each,
                                headers=[h_spec, ("ce_id", f"{id_prefix}{ts}"), h_src, h_type])
                    done = last
                except BufferError:  # local queue full (broker slow or away): finish this series slowly
                    done = ticket._produced_before_full(tss, ts)
                    for ts2, v2 in zip(tss[done:last], vals[done:last], strict=True):
                        self._produce_blocking(READINGS_TOPIC, f'{prefix}{v2!r},"observed_at_ms":{ts2}}}', key, each,
                                               [h_spec, ("ce_id", f"{id_prefix}{ts2}"), h_src, h_type])
                ts, v = tss[last], vals[last]
                self._produce_blocking(READINGS_TOPIC, f'{prefix}{v!r},"observed_at_ms":{ts}}}', key, cb,
                                       [h_spec, ("ce_id", f"{id_prefix}{ts}"), h_src, h_type])
            if batches:
                summary = summarise(device_id, batches)
                ce_id = f"{device_id}/summary/{min(b[1][0] for b in batches)}/{summary.last_ms}"
                self._produce_blocking(SUMMARIES_TOPIC, encode_summary(summary), key, ticket.on_summary_delivery,
                                       [h_spec, ("ce_id", ce_id), h_src, H_SUMMARY, h_ct])
            for i, (ts, value) in enumerate(pos_rows):
                self._produce_blocking(POSITIONS_TOPIC, value, key,
                                       cb if self.report_each or i == len(pos_rows) - 1 else None,
                                       [h_spec, ("ce_id", f"{device_id}/position/{ts}"), h_src, H_POSITION, h_ct])
        self.accepted += n
        if rejections:
            by_reason = Counter(r[3] for r in rejections)
            self.rejected.update(by_reason)
            for reason, count in by_reason.items():
                metrics.READINGS.add(count, metrics.rejected(reason))
        return ticket

    def _produce_blocking(self, topic: str, value: str | bytes, key: bytes, cb, headers: list) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, on_delivery=cb, headers=headers)
                return
            except BufferError:
                time.sleep(0.005)

    def settle(self, ticket: Ticket, timeout: float = 130.0) -> Ticket:
        """Waits until the broker acknowledged the batch (a little over message.timeout.ms at most). If some
        readings did not make it, the device's ordering state is dropped so that its resend is accepted."""
        if not ticket.wait(timeout):
            ticket.failed = ticket.accepted
        if (ticket.failed and not self.report_each) or ticket.summary_failed:
            ticket.failed = ticket.accepted  # a failed series report or summary stands for the whole batch
        if ticket.failed:
            log.warning("broker did not acknowledge %d reading(s) of %s", ticket.failed, ticket.device_id)
            self.validator.forget(ticket.device_id)
            self.accepted -= ticket.failed
            metrics.READINGS.add(ticket.failed, metrics.FAILED)
        if ticket.delivered:  # what the device is told was accepted
            metrics.READINGS.add(ticket.delivered, metrics.ACCEPTED)
        return ticket

    def _validate_positions(self, device: DeviceInfo, p: PositionsIn, now_ms: int, rejections: list) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        n = len(p.timestamps)
        if device.kind != "vehicle":
            rejections.extend(("position", i, p.timestamps[i], "unknown_quantity") for i in range(n))
            return out
        # The route id is pasted into the record below as is: anything outside the provisioning pattern (a quote,
        # a backslash, a control character) could forge fields or break the JSON, so the batch's positions are
        # rejected (the provisioned one is checked too: rows written before provisioning used fullmatch).
        route = (p.route_id or device.route_id) if isinstance(p.route_id, str) else None
        if route is None or not valid_route_id(route):
            rejections.extend(("position", i, p.timestamps[i], "invalid_route_id") for i in range(n))
            return out
        if not (len(p.lats) == len(p.lons) == n) or len(p.bearings) not in (0, n) or len(p.speeds) not in (0, n):
            rejections.extend(("position", i, p.timestamps[i], "length_mismatch") for i in range(n))
            return out
        for i, ts in enumerate(p.timestamps):
            lat, lon = p.lats[i], p.lons[i]
            bearing = p.bearings[i] if p.bearings else 0.0
            speed = p.speeds[i] if p.speeds else 0.0
            reason = self.validator.validate_position(device.id, ts, lat, lon, bearing, speed, now_ms)
            if reason:
                rejections.append(("position", i, ts, reason))
                continue
            out.append((ts, f'{{"vehicle_id":"{device.id}","route_id":"{route}","lat":{lat!r},"lon":{lon!r},'
                            f'"bearing":{bearing!r},"speed_kmh":{speed!r},"observed_at_ms":{ts}}}'))
        return out


def _count(series: list[SeriesIn], positions: PositionsIn | None) -> int:
    """Readings and positions in a batch."""
    return sum(len(s.timestamps) for s in series) + (len(positions.timestamps) if positions else 0)


def _units() -> dict[str, str]:
    from kota_sensors.domain.validation import QUANTITIES

    return {code: q.unit for code, q in QUANTITIES.items()}


QUANTITY_UNITS = _units()
