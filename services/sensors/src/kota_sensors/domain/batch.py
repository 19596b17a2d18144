"""Cheap parsing of reading and position records, and per-batch aggregation for the alert evaluator (no I/O).

The consumers take records in batches of tens of thousands. Per record they only decode the JSON payload into
a typed struct (msgspec: C speed, types checked) and fold it into a few per-device aggregates; alert logic
then runs once per device and batch, not once per reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter

import msgspec

MINUTE_MS = 60_000


class Reading(msgspec.Struct, gc=False):
    """kota.sensors.reading.v1 (the unit is implied by the quantity and not needed here)."""

    device_id: str
    quantity: str
    value: float
    observed_at_ms: int


class Position(msgspec.Struct, gc=False):
    """kota.sensors.vehicle-position.v1."""

    vehicle_id: str
    lat: float
    lon: float
    observed_at_ms: int
    route_id: str = ""
    bearing: float = 0.0
    speed_kmh: float = 0.0


_device_quantity = attrgetter("device_id", "quantity")
_time = attrgetter("observed_at_ms")
_value = attrgetter("value")
_reading = msgspec.json.Decoder(Reading).decode
_position = msgspec.json.Decoder(Position).decode


def decode_readings(values: list) -> tuple[list[Reading], list[tuple[int, str]]]:
    """Decodes record values; returns the readings and (index, reason) of the ones that are not readings.
    The common case (every record well formed) is one C-level pass."""
    try:
        return list(map(_reading, values)), []
    except (msgspec.DecodeError, TypeError):
        return _decode_each(values, _reading, "kota.sensors.reading.v1")


def decode_positions(values: list) -> tuple[list[Position], list[tuple[int, str]]]:
    return _decode_each(values, _position, "kota.sensors.vehicle-position.v1")


def _decode_each(values: list, decode, payload_type: str) -> tuple[list, list[tuple[int, str]]]:
    out, bad = [], []
    for i, v in enumerate(values):
        try:
            out.append(decode(v))
        except (msgspec.DecodeError, TypeError) as exc:
            bad.append((i, f"not a {payload_type} payload: {exc}"[:500]))
    return out, bad


@dataclass
class BatchAggregate:
    """What the alert evaluator needs from one batch, per device:
    pm25: minute -> [sum, count] of PM2.5 readings (folded into the station's hourly average);
    pm25_last: the newest PM2.5 reading time (the hourly window ends there);
    levels: water-level readings as (time, cm), in time order (Siaga hysteresis looks at each);
    seen: the newest reading or position time (silence detection)."""

    pm25: dict[str, dict[int, list]] = field(default_factory=dict)
    pm25_last: dict[str, int] = field(default_factory=dict)
    levels: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def add_readings(self, readings: list[Reading]) -> None:
        """Folds readings in. A device's series arrives as a run of consecutive records (one batch, one key,
        one partition), so the work is done per run of (device, quantity), mostly by C-level builtins."""
        pm25, pm25_last, levels, seen = self.pm25, self.pm25_last, self.levels, self.seen
        for (d, q), group in groupby(readings, _device_quantity):
            run = list(group)
            tss = list(map(_time, run))
            last = max(tss)
            if last > seen.get(d, -1):
                seen[d] = last
            if q == "pm25":
                minutes = pm25.get(d)
                if minutes is None:
                    minutes = pm25[d] = {}
                m = min(tss) // MINUTE_MS
                if m == last // MINUTE_MS:  # the whole run in one minute: one sum
                    total, n = sum(map(_value, run)), len(run)
                    acc = minutes.get(m)
                    if acc is None:
                        minutes[m] = [total, n]
                    else:
                        acc[0] += total
                        acc[1] += n
                else:
                    for ts, v in zip(tss, map(_value, run), strict=True):
                        m = ts // MINUTE_MS
                        acc = minutes.get(m)
                        if acc is None:
                            minutes[m] = [v, 1]
                        else:
                            acc[0] += v
                            acc[1] += 1
                if last > pm25_last.get(d, -1):
                    pm25_last[d] = last
            elif q == "water_level":
                lv = levels.get(d)
                if lv is None:
                    lv = levels[d] = []
                lv.extend(zip(tss, map(_value, run), strict=True))
        for lv in levels.values():
            lv.sort()

    def add_positions(self, positions: list[Position]) -> None:
        seen = self.seen
        for p in positions:
            if p.observed_at_ms > seen.get(p.vehicle_id, -1):
                seen[p.vehicle_id] = p.observed_at_ms
