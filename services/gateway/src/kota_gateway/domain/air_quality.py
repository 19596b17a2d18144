"""A station's air quality as the portal shows it: the ISPU of its worst pollutant (Permen LHK P.14/2020)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kota_common.standards import ispu


@dataclass(frozen=True)
class StationIspu:
    index: int  # rounded for display
    pollutant: str
    category: str  # Baik, Sedang, Tidak Sehat, Sangat Tidak Sehat, Berbahaya


def station_ispu(latest: Iterable[tuple[str, float]]) -> StationIspu | None:
    """The highest sub-index among the station's latest (quantity, concentration) readings; quantities without
    an ISPU breakpoint table are ignored, and a station with none has no ISPU (None). The first of equal highest
    sub-indices names the pollutant."""
    best: tuple[float, str] | None = None
    for quantity, value in latest:
        index = ispu.sub_index(quantity, value)
        if index is not None and (best is None or index > best[0]):
            best = (index, quantity)
    if best is None:
        return None
    return StationIspu(round(best[0]), best[1], ispu.category_name(best[0]))
