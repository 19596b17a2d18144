"""Reading validation: one path for gRPC, HTTP and MQTT. Plain Python, no I/O.

A reading is one observation of one quantity by one device at one time. The rules:
- the quantity must be one the device's kind measures, in its canonical unit, within its physical range;
- the timestamp must not be in the future (beyond a small clock skew) nor older than the maximum age;
- per datastream (device, quantity) timestamps must increase: an equal timestamp is a duplicate, an older one
  is out of order. (The duplicate key is (device, quantity, timestamp); a station reports several quantities
  at the same instant.)

Batches are validated column-wise: when a whole series passes the cheap aggregate checks (min/max of values
and timestamps, monotonic timestamps) no per-reading Python work is done; otherwise each reading is checked and
the rejected ones are reported with their index and reason.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from itertools import islice

# Rejection reasons (stable codes, returned to devices and counted in metrics).
UNKNOWN_QUANTITY = "unknown_quantity"
WRONG_UNIT = "wrong_unit"
OUT_OF_RANGE = "out_of_range"
NOT_A_NUMBER = "not_a_number"
FUTURE_TIMESTAMP = "future_timestamp"
TOO_OLD = "too_old"
OUT_OF_ORDER = "out_of_order"
DUPLICATE = "duplicate"
LENGTH_MISMATCH = "length_mismatch"
REASONS = (
    UNKNOWN_QUANTITY, WRONG_UNIT, OUT_OF_RANGE, NOT_A_NUMBER, FUTURE_TIMESTAMP, TOO_OLD, OUT_OF_ORDER, DUPLICATE,
    LENGTH_MISMATCH,
)


@dataclass(frozen=True)
class Quantity:
    code: str
    name: str
    unit: str  # canonical unit (UCUM-like symbol)
    low: float
    high: float
    definition: str = ""


# Canonical quantities per device kind. Units are fixed: a device sending another unit is told so.
QUANTITIES: dict[str, Quantity] = {
    q.code: q
    for q in (
        Quantity("pm25", "PM2.5 mass concentration", "ug/m3", 0, 1000, "http://vocab.nerc.ac.uk/collection/P01/current/PMSMP025/"),
        Quantity("pm10", "PM10 mass concentration", "ug/m3", 0, 2000),
        Quantity("so2", "Sulphur dioxide concentration", "ug/m3", 0, 5000),
        Quantity("co", "Carbon monoxide concentration", "ug/m3", 0, 100000),
        Quantity("o3", "Ozone concentration", "ug/m3", 0, 3000),
        Quantity("no2", "Nitrogen dioxide concentration", "ug/m3", 0, 5000),
        Quantity("hc", "Hydrocarbon concentration", "ug/m3", 0, 3000),
        Quantity("temperature", "Air temperature", "Cel", -10, 60),
        Quantity("humidity", "Relative humidity", "%", 0, 100),
        Quantity("water_level", "River water level at the gauge", "cm", -200, 3000),
        Quantity("rainfall", "Rainfall in the last hour", "mm", 0, 500),
    )
}
KIND_QUANTITIES: dict[str, frozenset[str]] = {
    "air_quality": frozenset({"pm25", "pm10", "so2", "co", "o3", "no2", "hc", "temperature", "humidity"}),
    "water_level": frozenset({"water_level", "rainfall"}),
    "vehicle": frozenset(),
}
KINDS = tuple(KIND_QUANTITIES)


@dataclass(frozen=True)
class Rules:
    max_future_ms: int = 120_000  # clock skew tolerated
    max_age_ms: int = 7 * 24 * 3600 * 1000  # devices buffering through an outage may send late, not older


@dataclass
class SeriesResult:
    """Accepted columns (same order as sent) and rejections as (index in the series, reason)."""

    timestamps: list[int]
    values: list[float]
    rejected: list[tuple[int, str]] = field(default_factory=list)


_lt = operator.lt


class Validator:
    """Validates series of readings; remembers the last accepted timestamp per datastream. Not thread-safe
    per datastream: the caller serialises batches of one device (the ingest pipeline does, by a lock)."""

    def __init__(self, rules: Rules | None = None):
        self.rules = rules or Rules()
        self.last_ts: dict[tuple[str, str], int] = {}

    def validate_series(
        self, device_id: str, kind: str, quantity: str, unit: str, timestamps: list[int], values: list[float], now_ms: int
    ) -> SeriesResult:
        n = len(timestamps)
        if n != len(values):
            return SeriesResult([], [], [(i, LENGTH_MISMATCH) for i in range(max(n, len(values)))])
        q = QUANTITIES.get(quantity)
        if q is None or quantity not in KIND_QUANTITIES.get(kind, ()):
            return SeriesResult([], [], [(i, UNKNOWN_QUANTITY) for i in range(n)])
        if unit != q.unit:
            return SeriesResult([], [], [(i, WRONG_UNIT) for i in range(n)])
        if n == 0:
            return SeriesResult([], [])
        key = (device_id, quantity)
        last = self.last_ts.get(key, -1 << 62)
        newest_ok = now_ms + self.rules.max_future_ms
        oldest_ok = now_ms - self.rules.max_age_ms
        # Fast path: every check on the whole column at C speed.
        lo_ts, hi_ts = timestamps[0], timestamps[-1]
        if (
            lo_ts > last
            and lo_ts >= oldest_ok
            and hi_ts <= newest_ok
            and (n == 1 or all(map(_lt, timestamps, islice(timestamps, 1, None))))
        ):
            s = sum(values)
            if s == s and min(values) >= q.low and max(values) <= q.high:  # s == s: no NaN
                self.last_ts[key] = hi_ts
                return SeriesResult(timestamps, values)
        # Slow path: reading by reading.
        ok_ts: list[int] = []
        ok_vals: list[float] = []
        rejected: list[tuple[int, str]] = []
        for i, (ts, v) in enumerate(zip(timestamps, values, strict=True)):
            reason = None
            if v != v or math.isinf(v):
                reason = NOT_A_NUMBER
            elif v < q.low or v > q.high:
                reason = OUT_OF_RANGE
            elif ts > newest_ok:
                reason = FUTURE_TIMESTAMP
            elif ts < oldest_ok:
                reason = TOO_OLD
            elif ts == last:
                reason = DUPLICATE
            elif ts < last:
                reason = OUT_OF_ORDER
            if reason is None:
                ok_ts.append(ts)
                ok_vals.append(v)
                last = ts
            else:
                rejected.append((i, reason))
        if ok_ts:
            self.last_ts[key] = last
        return SeriesResult(ok_ts, ok_vals, rejected)

    def forget(self, device_id: str) -> None:
        """Drops a device's ordering state (after its batch failed to reach the broker, so a resend is taken)."""
        for key in [k for k in self.last_ts if k[0] == device_id]:
            self.last_ts.pop(key, None)

    def validate_position(
        self, vehicle_id: str, ts: int, lat: float, lon: float, bearing: float, speed_kmh: float, now_ms: int
    ) -> str | None:
        """Returns the rejection reason of one vehicle position, or None when it is accepted."""
        for v in (lat, lon, bearing, speed_kmh):
            if v != v or math.isinf(v):
                return NOT_A_NUMBER
        if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 <= bearing <= 360 and 0 <= speed_kmh <= 200):
            return OUT_OF_RANGE
        if ts > now_ms + self.rules.max_future_ms:
            return FUTURE_TIMESTAMP
        if ts < now_ms - self.rules.max_age_ms:
            return TOO_OLD
        key = (vehicle_id, "position")
        last = self.last_ts.get(key, -1 << 62)
        if ts == last:
            return DUPLICATE
        if ts < last:
            return OUT_OF_ORDER
        self.last_ts[key] = ts
        return None
