"""ISPU (Indeks Standar Pencemar Udara) per Permen LHK P.14/2020.

Breakpoints in µg/m³ for index values 50/100/200/300/500; between breakpoints the index is linear:
I = (Ia - Ib) / (Xa - Xb) * (Xx - Xb) + Ib, where Xb/Ib are the lower and Xa/Ia the upper breakpoint
concentration/index. Below the first breakpoint the lower point is (0, 0). Above the last breakpoint the index is
capped at 500 (the regulation's table ends there). The index is rounded to the nearest integer (half up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INDEX_BREAKPOINTS = (0, 50, 100, 200, 300, 500)

# µg/m³ at index 50, 100, 200, 300, 500 (SYSTEM.md, Permen LHK P.14/2020 Lampiran I).
CONCENTRATION_BREAKPOINTS: dict[str, tuple[float, ...]] = {
    "pm10": (0, 50, 150, 350, 420, 500),
    "pm25": (0, 15.5, 55.4, 150.4, 250.4, 500),
    "so2": (0, 52, 180, 400, 800, 1200),
    "co": (0, 4000, 8000, 15000, 30000, 45000),
    "o3": (0, 120, 235, 400, 800, 1000),
    "no2": (0, 80, 200, 1130, 2260, 3000),
    "hc": (0, 45, 100, 215, 432, 648),
}


@dataclass(frozen=True)
class Category:
    name: str  # as published: Baik, Sedang, Tidak Sehat, Sangat Tidak Sehat, Berbahaya
    low: int
    high: int
    severity: str  # normal | watch | warning | danger (SensorAlert.severity)


CATEGORIES = (
    Category("Baik", 0, 50, "normal"),
    Category("Sedang", 51, 100, "watch"),
    Category("Tidak Sehat", 101, 200, "warning"),
    Category("Sangat Tidak Sehat", 201, 300, "danger"),
    Category("Berbahaya", 301, 10_000, "danger"),
)
CATEGORY_ORDER = {c.name: i for i, c in enumerate(CATEGORIES)}


def index(pollutant: str, concentration: float) -> int:
    """The ISPU sub-index of one pollutant for a concentration in µg/m³ (PM2.5/PM10: 24 h or hourly average)."""
    points = CONCENTRATION_BREAKPOINTS.get(pollutant)
    if points is None:
        raise ValueError(f"no ISPU breakpoints for {pollutant!r}; known: {', '.join(CONCENTRATION_BREAKPOINTS)}")
    if concentration < 0 or math.isnan(concentration):
        raise ValueError("concentration must be a non-negative number")
    if concentration >= points[-1]:
        return INDEX_BREAKPOINTS[-1]
    for i in range(1, len(points)):
        xa, xb = points[i], points[i - 1]
        if concentration <= xa:
            ia, ib = INDEX_BREAKPOINTS[i], INDEX_BREAKPOINTS[i - 1]
            value = (ia - ib) / (xa - xb) * (concentration - xb) + ib
            return int(math.floor(value + 0.5))
    return INDEX_BREAKPOINTS[-1]  # pragma: no cover (loop always returns)


def category(ispu: int) -> Category:
    for c in CATEGORIES:
        if ispu <= c.high:
            return c
    return CATEGORIES[-1]


@dataclass
class CategoryTracker:
    """Category of one station with hysteresis: a worse category is taken at once; a better one only when the
    index has fallen `margin` points below the current category's lower bound, so an index hovering at a
    boundary does not flap."""

    margin: int = 5
    current: str | None = None

    def update(self, ispu: int) -> tuple[str, str] | None:
        """Returns (previous, new) when the category changes, else None. The first value sets the baseline
        and is reported as a change from ""."""
        new = category(ispu)
        if self.current is None:
            self.current = new.name
            return ("", new.name)
        if new.name == self.current:
            return None
        cur = CATEGORIES[CATEGORY_ORDER[self.current]]
        if CATEGORY_ORDER[new.name] < CATEGORY_ORDER[cur.name] and ispu > cur.low - 1 - self.margin:
            return None
        previous, self.current = self.current, new.name
        return previous, new.name


# -- tolerant helpers for read models (open data, dashboards): unknown input gives None, never an error -------
PARAMETERS = tuple(CONCENTRATION_BREAKPOINTS)
_ALIASES = {"pm2.5": "pm25", "pm2_5": "pm25", "pm_25": "pm25", "pm_10": "pm10"}


def normalise_parameter(name: str) -> str:
    key = name.strip().lower().replace(" ", "")
    return _ALIASES.get(key, key)


def sub_index(parameter: str, concentration: float | None) -> int | None:
    """Like index(), but None for an unknown pollutant or a missing, negative or NaN concentration."""
    parameter = normalise_parameter(parameter)
    if parameter not in CONCENTRATION_BREAKPOINTS or concentration is None:
        return None
    if concentration < 0 or math.isnan(concentration):
        return None
    return index(parameter, concentration)


def station_ispu(concentrations: dict[str, float]) -> tuple[int | None, str]:
    """A station's ISPU is its highest sub-index: returns (ISPU, critical pollutant), or (None, "")."""
    best: tuple[int | None, str] = (None, "")
    for parameter, value in concentrations.items():
        value_index = sub_index(parameter, value)
        if value_index is not None and (best[0] is None or value_index > best[0]):
            best = (value_index, normalise_parameter(parameter))
    return best


def category_name(ispu: int | float | None) -> str:
    return "" if ispu is None else category(int(math.floor(ispu + 0.5))).name
