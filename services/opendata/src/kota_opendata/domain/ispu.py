"""ISPU (Indeks Standar Pencemar Udara, Permen LHK P.14/2020) from concentrations in µg/m³."""

from __future__ import annotations

import math

INDEX_BREAKPOINTS = (0, 50, 100, 200, 300, 500)
# Concentration breakpoints for indices 50/100/200/300/500 (the lower end is 0).
CONCENTRATION_BREAKPOINTS: dict[str, tuple[float, ...]] = {
    "pm10": (50, 150, 350, 420, 500),
    "pm25": (15.5, 55.4, 150.4, 250.4, 500),
    "so2": (52, 180, 400, 800, 1200),
    "co": (4000, 8000, 15000, 30000, 45000),
    "o3": (120, 235, 400, 800, 1000),
    "no2": (80, 200, 1130, 2260, 3000),
    "hc": (45, 100, 215, 432, 648),
}
PARAMETERS = tuple(CONCENTRATION_BREAKPOINTS)
_ALIASES = {"pm2.5": "pm25", "pm2_5": "pm25", "pm_25": "pm25", "pm_10": "pm10"}


def normalise_parameter(name: str) -> str:
    key = name.strip().lower().replace(" ", "")
    return _ALIASES.get(key, key)


def sub_index(parameter: str, concentration: float) -> int | None:
    """I = (Ia-Ib)/(Xa-Xb)*(Xx-Xb)+Ib, rounded up; None for an unknown parameter or a negative value."""
    bps = CONCENTRATION_BREAKPOINTS.get(normalise_parameter(parameter))
    if bps is None or concentration is None or concentration < 0 or math.isnan(concentration):
        return None
    xb, ib = 0.0, 0
    for xa, ia in zip(bps, INDEX_BREAKPOINTS[1:], strict=True):
        if concentration <= xa:
            return math.ceil((ia - ib) / (xa - xb) * (concentration - xb) + ib)
        xb, ib = xa, ia
    return 500


def category(index: int | None) -> str:
    if index is None:
        return ""
    if index <= 50:
        return "Baik"
    if index <= 100:
        return "Sedang"
    if index <= 200:
        return "Tidak Sehat"
    if index <= 300:
        return "Sangat Tidak Sehat"
    return "Berbahaya"


def ispu(concentrations: dict[str, float]) -> tuple[int | None, str]:
    """The station's ISPU is the highest sub-index; returns (ISPU, critical parameter)."""
    best: tuple[int | None, str] = (None, "")
    for parameter, value in concentrations.items():
        index = sub_index(parameter, value)
        if index is not None and (best[0] is None or index > best[0]):
            best = (index, normalise_parameter(parameter))
    return best
