"""Flood alert levels (Siaga 4 normal .. Siaga 1 danger) per gauge, with thresholds as configuration.

A gauge's thresholds are the upper bounds, in cm of water level, of Siaga 4, 3 and 2 (Katulampa: 80, 150, 200
means 4: <=80, 3: 81-150, 2: 151-200, 1: >200). Hysteresis: a higher level is taken at once; a lower one only
when the water has fallen `hysteresis_cm` below the bound that was crossed, so a level hovering at a bound
does not flap.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITY = {4: "normal", 3: "watch", 2: "warning", 1: "danger"}


@dataclass(frozen=True)
class GaugeThresholds:
    siaga4_max: float
    siaga3_max: float
    siaga2_max: float
    hysteresis_cm: float = 10.0

    def __post_init__(self):
        if not (self.siaga4_max < self.siaga3_max < self.siaga2_max):
            raise ValueError("thresholds must increase: siaga4_max < siaga3_max < siaga2_max")
        if self.hysteresis_cm < 0:
            raise ValueError("hysteresis must not be negative")

    @property
    def bounds(self) -> tuple[float, float, float]:
        return (self.siaga4_max, self.siaga3_max, self.siaga2_max)

    def level(self, cm: float) -> int:
        """The Siaga level (4..1) of a water level without hysteresis."""
        for lvl, bound in zip((4, 3, 2), self.bounds, strict=True):
            if cm <= bound:
                return lvl
        return 1

    def upper_bound(self, lvl: int) -> float:
        return self.bounds[4 - lvl]


def level_name(lvl: int) -> str:
    return f"siaga-{lvl}"


@dataclass
class SiagaTracker:
    thresholds: GaugeThresholds
    current: int | None = None

    def update(self, cm: float) -> tuple[int | None, int] | None:
        """Returns (previous, new) when the level changes (previous None for the first reading), else None."""
        raw = self.thresholds.level(cm)
        if self.current is None:
            self.current = raw
            return None, raw
        if raw < self.current:  # more dangerous: at once
            previous, self.current = self.current, raw
            return previous, raw
        if raw > self.current:  # calmer: only past the hysteresis band below the bound of the current level
            new = self.thresholds.level(cm + self.thresholds.hysteresis_cm)
            if new > self.current:
                previous, self.current = self.current, new
                return previous, new
        return None


# Published thresholds of Jakarta's gauges (SYSTEM.md): upper bounds of Siaga 4, 3 and 2 in cm. Karet's Siaga 2
# and 1 bounds are not published: None. Each deployment configures its own; these are the defaults.
JAKARTA_THRESHOLDS: dict[str, tuple[float | None, float | None, float | None]] = {
    "katulampa": (80, 150, 200),
    "depok": (200, 270, 350),
    "manggarai": (750, 850, 950),
    "pasar ikan": (170, 200, 250),
    "karet": (450, 550, None),
}


def level_from_bounds(cm: float, bounds: tuple[float | None, ...]) -> int | None:
    """Siaga level of a water level against (siaga4_max, siaga3_max, siaga2_max) bounds, some possibly unknown
    (None or missing): above the last known bound the level is the next one down, as far as it is known."""
    known = [b for b in bounds if b is not None]
    if not known:
        return None
    for lvl, bound in zip((4, 3, 2), known, strict=False):
        if cm <= bound:
            return lvl
    return 4 - len(known)


def thresholds_for(gauge: str, table=JAKARTA_THRESHOLDS):
    key = gauge.lower().replace("-", " ").replace("_", " ")
    for name, bounds in table.items():
        if name in key:
            return bounds
    return None


def siaga_level(gauge: str, cm: float | None, table=JAKARTA_THRESHOLDS) -> int | None:
    """Siaga level of a named gauge (matched by name) for a water level, or None when unknown."""
    bounds = thresholds_for(gauge, table)
    if bounds is None or cm is None:
        return None
    return level_from_bounds(cm, bounds)
