"""Indices computed from raw readings: ISPU (Indonesia's air pollution standard index) and the Siaga level of a
flood gauge. Plain functions, no I/O."""

from __future__ import annotations

# ISPU breakpoints (Permen LHK P.14/2020), µg/m³, for index 50/100/200/300/500.
ISPU_BREAKPOINTS = {
    "pm10": (50, 150, 350, 420, 500), "pm25": (15.5, 55.4, 150.4, 250.4, 500), "so2": (52, 180, 400, 800, 1200),
    "co": (4000, 8000, 15000, 30000, 45000), "o3": (120, 235, 400, 800, 1000), "no2": (80, 200, 1130, 2260, 3000),
    "hc": (45, 100, 215, 432, 648),
}
ISPU_INDEX = (50, 100, 200, 300, 500)


def ispu(quantity: str, value: float) -> float | None:
    """I = (Ia-Ib)/(Xa-Xb)*(Xx-Xb)+Ib between the bracketing breakpoints; capped at 500."""
    points = ISPU_BREAKPOINTS.get(quantity)
    if points is None or value < 0:
        return None
    lo_x, lo_i = 0.0, 0.0
    for x, i in zip(points, ISPU_INDEX, strict=True):
        if value <= x:
            return (i - lo_i) / (x - lo_x) * (value - lo_x) + lo_i
        lo_x, lo_i = x, i
    return 500.0


def ispu_category(index: float) -> str:
    if index <= 50:
        return "Baik"
    if index <= 100:
        return "Sedang"
    if index <= 200:
        return "Tidak Sehat"
    if index <= 300:
        return "Sangat Tidak Sehat"
    return "Berbahaya"


def siaga(level_cm: float, thresholds: dict[str, float]) -> int | None:
    """Siaga 4 (normal) to 1 (danger) from the gauge's configured thresholds."""
    if "siaga4_max" not in thresholds:
        return None
    for level, name in ((4, "siaga4_max"), (3, "siaga3_max"), (2, "siaga2_max")):
        if name in thresholds and level_cm <= thresholds[name]:
            return level
    return 1 if "siaga2_max" in thresholds else 2
