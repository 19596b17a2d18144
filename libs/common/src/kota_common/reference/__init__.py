"""Reference data: Jakarta's administrative areas (kota / kecamatan / kelurahan).

The data lives in ``jakarta_areas.json`` beside this module: DKI Jakarta's 5 kota administrasi plus
Kabupaten Kepulauan Seribu, their kecamatan and kelurahan, with Kemendagri codes
(``31.71`` / ``31.71.01`` / ``31.71.01.1001``) and postcodes. Kota and kecamatan carry approximate
centroids, good enough for nearest-area guessing and map placement only (see the file's ``notes``).

    >>> d = AreaDirectory.load_jakarta()
    >>> d.find_kecamatan("31.71.01").name
    'Gambir'

Plain Python, standard library only.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

__all__ = ["AreaDirectory", "Kecamatan", "Kelurahan", "Kota", "haversine_km"]

_DATA_FILE = "jakarta_areas.json"
_EARTH_RADIUS_KM = 6371.0088

KotaKind = Literal["kota", "kabupaten"]


@dataclass(frozen=True, slots=True)
class Kelurahan:
    code: str
    name: str
    postcode: str | None
    kecamatan_code: str
    kota_code: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Kecamatan:
    code: str
    name: str
    lat: float
    lon: float
    kota_code: str
    kelurahan: tuple[Kelurahan, ...]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Kota:
    code: str
    name: str
    kind: KotaKind
    lat: float
    lon: float
    kecamatan: tuple[Kecamatan, ...]
    official_name: str = ""


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _norm_name(name: str) -> str:
    return " ".join(name.split()).casefold()


class AreaDirectory:
    """Read-only lookups over a kota -> kecamatan -> kelurahan tree."""

    def __init__(
        self,
        kota: tuple[Kota, ...],
        *,
        province_code: str = "",
        province_name: str = "",
        source: str = "",
    ) -> None:
        self.province_code = province_code
        self.province_name = province_name
        self.source = source
        self._kota = kota
        self._kota_by_code: dict[str, Kota] = {k.code: k for k in kota}
        self._kec_by_code: dict[str, Kecamatan] = {}
        self._kel_by_code: dict[str, Kelurahan] = {}
        self._kel_by_name: dict[str, list[Kelurahan]] = {}
        for k in kota:
            for kec in k.kecamatan:
                self._kec_by_code[kec.code] = kec
                for kel in kec.kelurahan:
                    self._kel_by_code[kel.code] = kel
                    for n in {_norm_name(kel.name), *map(_norm_name, kel.aliases)}:
                        self._kel_by_name.setdefault(n, []).append(kel)
        self._kecamatan_list = tuple(self._kec_by_code.values())

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AreaDirectory:
        kota: list[Kota] = []
        for k in doc["kota"]:
            kecs: list[Kecamatan] = []
            for c in k["kecamatan"]:
                kels = tuple(
                    Kelurahan(
                        code=v["code"],
                        name=v["name"],
                        postcode=v.get("postcode"),
                        kecamatan_code=c["code"],
                        kota_code=k["code"],
                        aliases=tuple(v.get("aliases", ())),
                    )
                    for v in c["kelurahan"]
                )
                kecs.append(
                    Kecamatan(
                        code=c["code"],
                        name=c["name"],
                        lat=float(c["lat"]),
                        lon=float(c["lon"]),
                        kota_code=k["code"],
                        kelurahan=kels,
                        aliases=tuple(c.get("aliases", ())),
                    )
                )
            kind = k["kind"]
            if kind not in ("kota", "kabupaten"):
                raise ValueError(f"unknown kind {kind!r} for {k['code']}")
            kota.append(
                Kota(
                    code=k["code"],
                    name=k["name"],
                    kind=kind,
                    lat=float(k["lat"]),
                    lon=float(k["lon"]),
                    kecamatan=tuple(kecs),
                    official_name=k.get("official_name", ""),
                )
            )
        prov = doc.get("province", {})
        return cls(
            tuple(kota),
            province_code=prov.get("code", ""),
            province_name=prov.get("name", ""),
            source=doc.get("source", ""),
        )

    @classmethod
    @functools.cache
    def load_jakarta(cls) -> AreaDirectory:
        """The packaged DKI Jakarta directory (read once, then cached)."""
        text = resources.files(__package__).joinpath(_DATA_FILE).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    # -- lookups ------------------------------------------------------------------------------

    def kota(self) -> tuple[Kota, ...]:
        return self._kota

    def kecamatan(self) -> Iterator[Kecamatan]:
        for k in self._kota:
            yield from k.kecamatan

    def kelurahan(self) -> Iterator[Kelurahan]:
        for kec in self.kecamatan():
            yield from kec.kelurahan

    def find_kota(self, code: str) -> Kota | None:
        return self._kota_by_code.get(code)

    def find_kecamatan(self, code: str) -> Kecamatan | None:
        return self._kec_by_code.get(code)

    def find_kelurahan(self, code: str) -> Kelurahan | None:
        return self._kel_by_code.get(code)

    def kelurahan_by_name(self, name: str) -> tuple[Kelurahan, ...]:
        """Kelurahan whose name (or a known alternative spelling) matches, ignoring case and
        extra whitespace. Empty if none; more than one only if a name repeats across kecamatan."""
        return tuple(self._kel_by_name.get(_norm_name(name), ()))

    def nearest_kecamatan(self, lat: float, lon: float) -> Kecamatan:
        """The kecamatan whose approximate centroid is closest. A guess, not a point-in-polygon test.
        Compared on an equirectangular projection (exact enough across one city, and this runs on every
        complaint submission); use haversine_km for the distance itself."""
        scale = math.cos(math.radians(lat)) ** 2
        best, best_d = None, math.inf
        for k in self._kecamatan_list:
            d = (k.lat - lat) ** 2 + scale * (k.lon - lon) ** 2
            if d < best_d:
                best, best_d = k, d
        if best is None:
            raise LookupError("the area directory has no kecamatan")
        return best

    def counts(self) -> dict[str, int]:
        return {
            "kota": len(self._kota_by_code),
            "kecamatan": len(self._kec_by_code),
            "kelurahan": len(self._kel_by_code),
        }
