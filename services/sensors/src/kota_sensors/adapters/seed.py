"""Jakarta's devices, registered on the first start: DKI1-DKI5 air-quality stations, the flood gauges on the
Ciliwung and at the sea gates, and a few TransJakarta buses on Koridor 1 (Blok M - Kota).

Gauge thresholds are the published Siaga bounds (SYSTEM.md). Karet's Siaga 2 and 1 bounds are not published:
the values here are provisional configuration, to be replaced by Dinas SDA's (ProvisionDevice or the DB).
"""

from __future__ import annotations

STATIONS = [
    ("DKI1", "SPKU DKI1 Bundaran HI", -6.1950, 106.8230, "Bundaran HI, Jakarta Pusat", "31.71"),
    ("DKI2", "SPKU DKI2 Kelapa Gading", -6.1535, 106.9100, "Kelapa Gading, Jakarta Utara", "31.72"),
    ("DKI3", "SPKU DKI3 Jagakarsa", -6.3349, 106.8230, "Jagakarsa, Jakarta Selatan", "31.74"),
    ("DKI4", "SPKU DKI4 Lubang Buaya", -6.2903, 106.9050, "Lubang Buaya, Jakarta Timur", "31.75"),
    ("DKI5", "SPKU DKI5 Kebon Jeruk", -6.1930, 106.7690, "Kebon Jeruk, Jakarta Barat", "31.73"),
]

# id, name, lat, lon, description, kota_code, (siaga4_max, siaga3_max, siaga2_max)
GAUGES = [
    ("KATULAMPA", "Bendung Katulampa", -6.6331, 106.8370, "Ciliwung, Bogor (upstream)", "", (80, 150, 200)),
    ("DEPOK", "Pos Pantau Depok", -6.4000, 106.8310, "Ciliwung, Depok", "", (200, 270, 350)),
    ("MANGGARAI", "Pintu Air Manggarai", -6.2094, 106.8500, "Manggarai, Jakarta Selatan", "31.74", (750, 850, 950)),
    ("KARET", "Pintu Air Karet", -6.2020, 106.8150, "Karet, Jakarta Pusat (Siaga 2/1 provisional)", "31.71", (450, 550, 600)),
    ("PASAR_IKAN", "Pos Pasar Ikan", -6.1270, 106.8080, "Pasar Ikan, Jakarta Utara (tidal)", "31.72", (170, 200, 250)),
]

# Koridor 1 Blok M - Kota, roughly along Jl. Sudirman / Thamrin / Gajah Mada.
CORRIDOR_1 = [
    (-6.2433, 106.8003), (-6.2270, 106.8030), (-6.2150, 106.8170), (-6.2000, 106.8230), (-6.1870, 106.8230),
    (-6.1750, 106.8230), (-6.1630, 106.8180), (-6.1500, 106.8150), (-6.1376, 106.8145),
]
BUSES = [("TJ-1-001", "1"), ("TJ-1-002", "1"), ("TJ-1-003", "1"), ("TJ-1-004", "1")]


def jakarta_devices() -> list[dict]:
    devices: list[dict] = []
    for sid, name, lat, lon, desc, kota in STATIONS:
        devices.append(dict(id=sid, name=name, kind="air_quality", lat=lat, lon=lon, location_description=desc,
                            owner_agency="DLH", kota_code=kota, sensor_model="SPKU (PM2.5, PM10, SO2, CO, O3, NO2)",
                            thresholds={}))
    for gid, name, lat, lon, desc, kota, (s4, s3, s2) in GAUGES:
        devices.append(dict(id=gid, name=name, kind="water_level", lat=lat, lon=lon, location_description=desc,
                            owner_agency="DSDA", kota_code=kota, sensor_model="radar water level sensor",
                            thresholds={"siaga4_max": s4, "siaga3_max": s3, "siaga2_max": s2, "hysteresis_cm": 10}))
    lat, lon = CORRIDOR_1[0]
    for vid, route in BUSES:
        devices.append(dict(id=vid, name=f"TransJakarta {vid}", kind="vehicle", lat=lat, lon=lon,
                            location_description="Koridor 1 Blok M - Kota", owner_agency="DISHUB", kota_code="31.74",
                            sensor_model="GNSS AVL unit", route_id=route, thresholds={}))
    return devices
