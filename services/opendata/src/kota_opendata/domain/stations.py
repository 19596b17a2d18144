"""Public facts about Jakarta's monitoring stations and gauges (names, coordinates) to label sensor readings,
which carry only a device id. Unknown devices are published under their id without coordinates."""

from __future__ import annotations

STATIONS: dict[str, tuple[str, float, float]] = {
    "DKI1": ("SPKU DKI1 Bundaran HI", -6.1950, 106.8230),
    "DKI2": ("SPKU DKI2 Kelapa Gading", -6.1535, 106.9100),
    "DKI3": ("SPKU DKI3 Jagakarsa", -6.3349, 106.8230),
    "DKI4": ("SPKU DKI4 Lubang Buaya", -6.2903, 106.9050),
    "DKI5": ("SPKU DKI5 Kebon Jeruk", -6.1930, 106.7690),
    "KATULAMPA": ("Bendung Katulampa", -6.6331, 106.8370),
    "DEPOK": ("Pos Pantau Depok", -6.4000, 106.8310),
    "MANGGARAI": ("Pintu Air Manggarai", -6.2094, 106.8500),
    "KARET": ("Pintu Air Karet", -6.2020, 106.8150),
    "PASAR_IKAN": ("Pos Pasar Ikan", -6.1270, 106.8080),
}


def describe(device_id: str) -> tuple[str, float | None, float | None]:
    found = STATIONS.get(device_id.upper())
    if found is None:
        return device_id, None, None
    return found
