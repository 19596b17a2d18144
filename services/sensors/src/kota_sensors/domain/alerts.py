"""Alert evaluation state per station and gauge (plain Python): PM2.5 hourly average -> ISPU category,
water level -> Siaga level, silence. Emits (station, kind, previous, new, value) changes."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from kota_sensors.domain import ispu
from kota_sensors.domain.siaga import SEVERITY, GaugeThresholds, SiagaTracker, level_name

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


@dataclass
class HourlyAverage:
    window: deque = field(default_factory=deque)
    total: float = 0.0

    def add(self, ts: int, value: float) -> None:
        self.window.append((ts, value))
        self.total += value

    def mean(self, now_ms: int) -> float | None:
        w = self.window
        while w and w[0][0] <= now_ms - HOUR_MS:
            self.total -= w.popleft()[1]
        return self.total / len(w) if w else None


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
        avg, tracker = self.air.get(station_id) or self.air.setdefault(
            station_id, (HourlyAverage(), ispu.CategoryTracker(self.margin))
        )
        for ts, v in readings:
            avg.add(ts, v)
        last = readings[-1][0]
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
