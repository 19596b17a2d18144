"""Cheap parsing of reading, position and summary records, the summary of an ingested batch, and per-batch
aggregation for the alert evaluator (no I/O).

The observation store takes readings in batches of tens of thousands. Per record it only decodes the JSON
payload into a typed struct (msgspec: C speed, types checked). The alert evaluator reads one summary per
ingested batch instead (`summarise`, written by the ingest path): PM2.5 summed per minute, water levels,
newest time; it folds summaries into a few per-device aggregates, and alert logic runs once per device and
consumed batch, not once per reading.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

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


class Summary(msgspec.Struct, gc=False):
    """kota.sensors.reading-summary.v1 (see kota_common.events.sensors.ReadingSummary)."""

    device_id: str
    last_ms: int
    pm25: list[tuple[int, float, int]] = []
    pm25_first_ms: int = 0
    pm25_last_ms: int = 0
    water_level: list[tuple[int, float]] = []


_reading = msgspec.json.Decoder(Reading).decode
_position = msgspec.json.Decoder(Position).decode
_summary = msgspec.json.Decoder(Summary).decode
encode_summary = msgspec.json.Encoder().encode


def summarise(device_id: str, series: list[tuple[str, list[int], list[float]]]) -> Summary:
    """The summary of one device's accepted batch: (quantity, timestamps, values) per series, each series in
    strictly increasing time (as validation leaves it). Costs a few C-level passes per series."""
    summary = Summary(device_id, max(tss[-1] for _q, tss, _v in series))
    for quantity, tss, vals in series:
        if quantity == "pm25":
            summary.pm25 = _per_minute(tss, vals)
            summary.pm25_first_ms, summary.pm25_last_ms = tss[0], tss[-1]
        elif quantity == "water_level":
            summary.water_level = list(zip(tss, vals, strict=True))
    return summary


def _per_minute(tss: list[int], vals: list[float]) -> list[tuple[int, float, int]]:
    """[minute, sum, count] per minute of a series in time order: one sum() per minute it spans."""
    minute = tss[0] // MINUTE_MS
    if minute == tss[-1] // MINUTE_MS:
        return [(minute, sum(vals), len(vals))]
    out, i, n = [], 0, len(tss)
    while i < n:
        minute = tss[i] // MINUTE_MS
        j = bisect_left(tss, (minute + 1) * MINUTE_MS, i)
        out.append((minute, sum(vals[i:j]), j - i))
        i = j
    return out


def decode_summaries(values: list) -> tuple[list[Summary], list[tuple[int, str]]]:
    return _decode_each(values, _summary, "kota.sensors.reading-summary.v1")


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
    """What the alert evaluator needs from one consumed batch (of summaries and positions), per device:
    pm25: minute -> [sum, count] of PM2.5 readings (folded into the station's hourly average);
    pm25_last: the newest PM2.5 reading time (the hourly window ends there);
    levels: water-level readings as (time, cm), in time order (Siaga hysteresis looks at each);
    seen: the newest reading or position time (silence detection)."""

    pm25: dict[str, dict[int, list]] = field(default_factory=dict)
    pm25_last: dict[str, int] = field(default_factory=dict)
    levels: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def add_summaries(self, summaries: list[Summary], newest: dict[tuple[str, str], int]) -> None:
        """Folds batch summaries in. `newest` (the caller's, kept across batches) holds the newest time folded
        per (device, quantity): a summary of readings already folded (a batch resent after a lost answer) adds
        nothing, and of one that overlaps them only what is newer (PM2.5: the minutes after the newest)."""
        pm25, pm25_last, levels, seen = self.pm25, self.pm25_last, self.levels, self.seen
        for s in summaries:
            d = s.device_id
            if s.last_ms > seen.get(d, -1):
                seen[d] = s.last_ms
            if s.pm25:
                folded = newest.get((d, "pm25"), -1)
                if s.pm25_last_ms > folded:
                    newest[(d, "pm25")] = s.pm25_last_ms
                    after = folded // MINUTE_MS if s.pm25_first_ms <= folded else None
                    minutes = pm25.get(d)
                    if minutes is None:
                        minutes = pm25[d] = {}
                    for m, total, n in s.pm25:
                        if after is not None and m <= after:
                            continue
                        acc = minutes.get(m)
                        if acc is None:
                            minutes[m] = [total, n]
                        else:
                            acc[0] += total
                            acc[1] += n
                    if s.pm25_last_ms > pm25_last.get(d, -1):
                        pm25_last[d] = s.pm25_last_ms
            if s.water_level:
                folded = newest.get((d, "water_level"), -1)
                points = s.water_level if s.water_level[0][0] > folded else [p for p in s.water_level if p[0] > folded]
                if points:
                    newest[(d, "water_level")] = points[-1][0]
                    lv = levels.get(d)
                    if lv is None:
                        lv = levels[d] = []
                    lv.extend(points)
        for lv in levels.values():
            lv.sort()

    def add_positions(self, positions: list[Position]) -> None:
        seen = self.seen
        for p in positions:
            if p.observed_at_ms > seen.get(p.vehicle_id, -1):
                seen[p.vehicle_id] = p.observed_at_ms
