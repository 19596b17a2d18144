"""Flood gauge Siaga levels (1 = danger ... 4 = normal) from water level in cm. Thresholds are configuration."""

from __future__ import annotations

# Upper bounds (cm) of Siaga 4, 3 and 2; above the last one is Siaga 1. None: bound not published.
DEFAULT_THRESHOLDS: dict[str, tuple[float | None, float | None, float | None]] = {
    "katulampa": (80, 150, 200),
    "depok": (200, 270, 350),
    "manggarai": (750, 850, 950),
    "pasar ikan": (170, 200, 250),
    "karet": (450, 550, None),
}


def thresholds_for(gauge: str, table=DEFAULT_THRESHOLDS):
    key = gauge.lower().replace("-", " ").replace("_", " ")
    for name, bounds in table.items():
        if name in key:
            return bounds
    return None


def siaga_level(gauge: str, level_cm: float | None, table=DEFAULT_THRESHOLDS) -> int | None:
    """Siaga level of a gauge for a water level, or None when the gauge or the bound is unknown."""
    bounds = thresholds_for(gauge, table)
    if bounds is None or level_cm is None:
        return None
    for siaga, bound in zip((4, 3, 2), bounds, strict=True):
        if bound is None:
            return None
        if level_cm <= bound:
            return siaga
    return 1
