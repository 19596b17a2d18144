"""A flood gauge's alert level as the portal shows it: Siaga 4 (normal) to 1 (danger) from the gauge's
thresholds, which are configuration held by the sensors service, not code."""

from __future__ import annotations

from collections.abc import Mapping

from kota_common.standards import siaga

BOUND_NAMES = ("siaga4_max", "siaga3_max", "siaga2_max")


def siaga_level(level_cm: float | None, thresholds: Mapping[str, float]) -> int | None:
    """The Siaga level of the latest water level; None without a reading (the gauge's thresholds name the upper
    bounds of Siaga 4, 3 and 2 as siaga4_max, siaga3_max and siaga2_max)."""
    if level_cm is None:
        return None
    return siaga.level_from_bounds(level_cm, tuple(thresholds.get(k) for k in BOUND_NAMES))
