"""Alert evaluation state per station and gauge (plain Python): PM2.5 hourly average -> ISPU category,
water level -> Siaga level, silence. Emits (station, kind, previous, new, value) changes."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from kota_common.standards import ispu
from kota_common.standards.siaga import SEVERITY, GaugeThresholds, SiagaTracker, level_name

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class AlertChange:
    station_id: str
    kind: str  # flood | air_quality | device_silent
    level: str
    previous_level: str
    severity: str
    value: float | None
    unit: str
    observed_ms: int


MINUTE_MS = 60_000


@dataclass
class HourlyAverage:
    """Mean of the readings in the last hour, kept in per-minute buckets (bounded memory at any rate)."""

    buckets: deque = field(default_factory=deque)  # [minute, sum, count], oldest first

    def add(self, ts: int, value: float) -> None:
        self.add_minute(ts // MINUTE_MS, value, 1)

    def add_minute(self, minute: int, total: float, count: int) -> None:
        """Adds `count` readings summing to `total` taken in one minute (the consumer pre-sums per batch)."""
        b = self.buckets
        if b and b[-1][0] == minute:
            last = b[-1]
            last[1] += total
            last[2] += count
        elif not b or b[-1][0] < minute:
            b.append([minute, total, count])
        else:  # late readings: into their bucket if still kept
            for bucket in b:
                if bucket[0] == minute:
                    bucket[1] += total
                    bucket[2] += count
                    break

    def mean(self, now_ms: int) -> float | None:
        b = self.buckets
        oldest = now_ms // MINUTE_MS - HOUR_MS // MINUTE_MS
        while b and b[0][0] <= oldest:
            b.popleft()
        n = sum(x[2] for x in b)
        return sum(x[1] for x in b) / n if n else None


ISPU_SEVERITY = {c.name: c.severity for c in ispu.CATEGORIES}


class AlertEvaluator:
    def __init__(self, ispu_margin: int = 5):
        self.margin = ispu_margin
        self.air: dict[str, tuple[HourlyAverage, ispu.CategoryTracker]] = {}
        self.gauges: dict[str, SiagaTracker] = {}

    def restore(self, station_id: str, kind: str, level: str, thresholds: GaugeThresholds | None = None) -> None:
        """Sets the last published level (from the database) so a restart neither repeats nor misses a change."""
        if kind == "air_quality":
            self.air[station_id] = (HourlyAverage(), ispu.CategoryTracker(self.margin, level))
        elif kind == "flood" and thresholds is not None and level.startswith("siaga-"):
            self.gauges[station_id] = SiagaTracker(thresholds, int(level.removeprefix("siaga-")))

    def pm25(self, station_id: str, readings: list[tuple[int, float]]) -> AlertChange | None:
        """Adds a batch of PM2.5 readings of one station (time order) and checks the hourly average once."""
        minutes: dict[int, list] = {}
        for ts, v in readings:
            acc = minutes.setdefault(ts // MINUTE_MS, [0.0, 0])
            acc[0] += v
            acc[1] += 1
        return self.pm25_minutes(station_id, minutes, readings[-1][0])

    def pm25_minutes(self, station_id: str, minutes: dict[int, list], last: int) -> AlertChange | None:
        """Adds a batch of PM2.5 readings of one station, pre-summed per minute ({minute: [sum, count]}),
        and checks the hourly average ending at `last` (the batch's newest reading) once."""
        avg, tracker = self.air.get(station_id) or self.air.setdefault(
            station_id, (HourlyAverage(), ispu.CategoryTracker(self.margin))
        )
        for minute in sorted(minutes):
            total, count = minutes[minute]
            avg.add_minute(minute, total, count)
        mean = avg.mean(last)
        if mean is None:
            return None
        index = ispu.index("pm25", mean)
        change = tracker.update(index)
        if change is None:
            return None
        previous, new = change
        if previous == "" and ISPU_SEVERITY[new] == "normal":
            return None  # a first, normal baseline is not news
        return AlertChange(station_id, "air_quality", new, previous, ISPU_SEVERITY[new], float(index), "ISPU", last)

    def water_level(self, gauge_id: str, thresholds: GaugeThresholds, readings: list[tuple[int, float]]) -> list[AlertChange]:
        tracker = self.gauges.get(gauge_id)
        if tracker is None or tracker.thresholds != thresholds:
            current = tracker.current if tracker else None
            tracker = self.gauges[gauge_id] = SiagaTracker(thresholds, current)
        changes = []
        for ts, cm in readings:
            change = tracker.update(cm)
            if change is None:
                continue
            previous, new = change
            if previous is None and new == 4:
                continue
            changes.append(AlertChange(gauge_id, "flood", level_name(new), level_name(previous) if previous else "",
                                       SEVERITY[new], cm, "cm", ts))
        return changes
