"""NIK (Nomor Induk Kependudukan), the 16-digit identity number a resident gives to propose or support.

Layout: province(2) kabupaten/kota(2) kecamatan(2), birth date DDMMYY (day + 40 for women), serial(4). The
codes are those the number was issued under (the resident may have moved since).

The NIK itself is never stored: the service keeps `NikHasher.hash(nik)` (a keyed HMAC, so that a leaked table
cannot be reversed by hashing every plausible NIK, of which there are only a few billion) and shows others only
`resident_ref(hash)`. `Nik`'s repr masks all but the province and kota digits, so a NIK that reaches a log line
by accident is still not there.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date

from kota_musrenbang.domain.errors import InvalidNik

# Kemendagri province codes. 91-96: Papua's six provinces since 2022 (Papua 91, Papua Barat 92, Papua Selatan 93,
# Papua Tengah 94, Papua Pegunungan 95, Papua Barat Daya 96); NIKs issued before then carry the old codes
# (Papua 94, Papua Barat 91), which are in the same range.
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15", "16", "17", "18", "19",
        "21",
        "31", "32", "33", "34", "35", "36",
        "51", "52", "53",
        "61", "62", "63", "64", "65",
        "71", "72", "73", "74", "75", "76",
        "81", "82",
        "91", "92", "93", "94", "95", "96",
    }
)  # fmt: skip

FEMALE_DAY_OFFSET = 40


@dataclass(frozen=True)
class Nik:
    value: str = field(repr=False)
    province_code: str  # "31"
    kota_code: str  # "31.71"
    kecamatan_code: str  # "31.71.01"
    birth_date: date
    female: bool

    def masked(self) -> str:
        return self.value[:4] + "*" * 12

    def __repr__(self) -> str:
        return f"Nik({self.masked()})"

    __str__ = __repr__


def parse_nik(raw: str, *, today: date) -> Nik:
    """Checks a NIK's structure; raises `InvalidNik(field="nik")` naming what is wrong.

    Spaces, dots and dashes between digit groups are tolerated. The two-digit birth year takes the latest century
    in which the date is not after `today`."""
    value = "".join(ch for ch in raw.strip() if ch not in " .-")
    if len(value) != 16 or not value.isascii() or not value.isdigit():
        raise InvalidNik("NIK harus terdiri dari 16 angka", "nik")
    province, kota, kecamatan = value[0:2], value[2:4], value[4:6]
    if province not in PROVINCE_CODES:
        raise InvalidNik(f"kode provinsi {province} pada NIK tidak dikenal", "nik")
    if kota == "00":
        raise InvalidNik("kode kabupaten/kota pada NIK tidak boleh 00", "nik")
    if kecamatan == "00":
        raise InvalidNik("kode kecamatan pada NIK tidak boleh 00", "nik")
    day, month, yy = int(value[6:8]), int(value[8:10]), int(value[10:12])
    female = day > FEMALE_DAY_OFFSET
    if female:
        day -= FEMALE_DAY_OFFSET
    if not 1 <= day <= 31 or not 1 <= month <= 12:
        raise InvalidNik("tanggal lahir pada NIK (digit 7-12) tidak valid (DDMMYY, tanggal + 40 untuk perempuan)", "nik")
    birth = _birth_date(day, month, yy, today)
    if birth is None:
        raise InvalidNik("tanggal lahir pada NIK (digit 7-12) bukan tanggal yang ada", "nik")
    if value[12:] == "0000":
        raise InvalidNik("nomor urut 0000 pada NIK tidak valid", "nik")
    return Nik(
        value=value,
        province_code=province,
        kota_code=f"{province}.{kota}",
        kecamatan_code=f"{province}.{kota}.{kecamatan}",
        birth_date=birth,
        female=female,
    )


def _birth_date(day: int, month: int, yy: int, today: date) -> date | None:
    for century in (today.year // 100 * 100, today.year // 100 * 100 - 100):
        try:
            candidate = date(century + yy, month, day)
        except ValueError:
            continue  # 29 February of a year that was not a leap year in this century
        if candidate <= today:
            return candidate
    return None


def nik_matches_kelurahan(nik: Nik, kelurahan_code: str) -> bool:
    """The NIK was issued in the kecamatan the kelurahan belongs to (its first six digits are that kecamatan)."""
    return kelurahan_code.startswith(nik.kecamatan_code + ".")


class NikHasher:
    """Keyed hash of a NIK (HMAC-SHA256, hex). The key is the service's secret; the same NIK always hashes the
    same under one key, which is what makes "one support per resident" checkable without keeping the NIK."""

    def __init__(self, key: bytes):
        if not key:
            raise ValueError("the NIK hashing key must not be empty")
        self._key = key

    def hash(self, nik: Nik | str) -> str:
        value = nik.value if isinstance(nik, Nik) else "".join(ch for ch in nik if ch.isdigit())
        return hmac.new(self._key, value.encode("ascii"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "NikHasher(<key hidden>)"


def resident_ref(nik_hash: str) -> str:
    """A short opaque reference ("w-" and 10 hex digits) for showing a resident on topics and pages.

    Derived from the keyed hash by a further hash, so the reference cannot be matched to the stored hash column."""
    return "w-" + hashlib.sha256(b"kota-musrenbang-resident:" + nik_hash.encode("ascii")).hexdigest()[:10]
