"""The packaged Jakarta area reference data and its loader."""

from __future__ import annotations

import re

import pytest

from kota_common.reference import AreaDirectory, Kecamatan, Kelurahan, Kota, haversine_km


@pytest.fixture(scope="module")
def jakarta() -> AreaDirectory:
    return AreaDirectory.load_jakarta()


def test_counts(jakarta: AreaDirectory) -> None:
    assert jakarta.counts() == {"kota": 6, "kecamatan": 44, "kelurahan": 267}
    assert len(jakarta.kota()) == 6
    assert sum(1 for _ in jakarta.kecamatan()) == 44
    assert sum(1 for _ in jakarta.kelurahan()) == 267


def test_load_is_cached(jakarta: AreaDirectory) -> None:
    assert AreaDirectory.load_jakarta() is jakarta


def test_kota_kinds_and_codes(jakarta: AreaDirectory) -> None:
    by_code = {k.code: k for k in jakarta.kota()}
    assert set(by_code) == {"31.01", "31.71", "31.72", "31.73", "31.74", "31.75"}
    assert by_code["31.01"].kind == "kabupaten"
    assert by_code["31.01"].name == "Kepulauan Seribu"
    assert {k.kind for c, k in by_code.items() if c != "31.01"} == {"kota"}
    assert by_code["31.71"].name == "Jakarta Pusat"
    assert jakarta.province_code == "31"


def test_codes_nest(jakarta: AreaDirectory) -> None:
    seen: set[str] = set()
    for kota in jakarta.kota():
        assert re.fullmatch(r"31\.\d{2}", kota.code)
        for kec in kota.kecamatan:
            assert kec.kota_code == kota.code
            assert re.fullmatch(re.escape(kota.code) + r"\.\d{2}", kec.code)
            assert kec.kelurahan, kec.code
            for kel in kec.kelurahan:
                assert kel.kecamatan_code == kec.code
                assert kel.kota_code == kota.code
                assert re.fullmatch(re.escape(kec.code) + r"\.\d{4}", kel.code)
                assert kel.postcode is not None and re.fullmatch(r"1\d{4}", kel.postcode)
                assert kel.code not in seen
                seen.add(kel.code)
    assert len(seen) == 267


def test_centroids_in_jakarta(jakarta: AreaDirectory) -> None:
    for kec in jakarta.kecamatan():
        assert -6.40 < kec.lat < -5.10 and 106.40 < kec.lon < 107.00, kec
    for kota in jakarta.kota():
        if kota.kind == "kota":
            assert -6.40 < kota.lat < -6.05 and 106.65 < kota.lon < 106.98, kota


def test_find_by_code(jakarta: AreaDirectory) -> None:
    gambir = jakarta.find_kecamatan("31.71.01")
    assert isinstance(gambir, Kecamatan) and gambir.name == "Gambir"
    kel = jakarta.find_kelurahan("31.71.01.1001")
    assert isinstance(kel, Kelurahan) and kel.name == "Gambir" and kel.postcode == "10110"
    kota = jakarta.find_kota("31.72")
    assert isinstance(kota, Kota) and kota.name == "Jakarta Utara"
    assert jakarta.find_kota("32.01") is None
    assert jakarta.find_kecamatan("31.71.99") is None
    assert jakarta.find_kelurahan("nope") is None


def test_kelurahan_by_name(jakarta: AreaDirectory) -> None:
    [kg] = jakarta.kelurahan_by_name("kelapa gading timur")
    assert kg.kecamatan_code == "31.72.06" and kg.kota_code == "31.72"
    assert jakarta.kelurahan_by_name("  KELAPA   GADING  TIMUR ") == (kg,)
    # areaid's alternative spelling resolves to the Kemendagri entry
    [suk] = jakarta.kelurahan_by_name("Sukabumi Utara (Ilir)")
    assert suk.code == "31.73.05.1002" and suk.name == "Sukabumi Utara"
    assert jakarta.kelurahan_by_name("Atlantis") == ()


def test_nearest_kecamatan_monas_is_jakarta_pusat(jakarta: AreaDirectory) -> None:
    kec = jakarta.nearest_kecamatan(-6.1754, 106.8272)
    assert kec.kota_code == "31.71"
    kota = jakarta.find_kota(kec.kota_code)
    assert kota is not None and kota.name == "Jakarta Pusat"


def test_nearest_kecamatan_other_corners(jakarta: AreaDirectory) -> None:
    # Pulau Pramuka (Kepulauan Seribu Utara), Halim airport (Jakarta Timur), Ancol (Jakarta Utara)
    assert jakarta.nearest_kecamatan(-5.745, 106.614).code == "31.01.01"
    assert jakarta.nearest_kecamatan(-6.266, 106.891).kota_code == "31.75"
    assert jakarta.nearest_kecamatan(-6.125, 106.842).kota_code == "31.72"


def test_haversine() -> None:
    assert haversine_km(-6.0, 106.0, -6.0, 106.0) == 0.0
    # one degree of latitude is about 111 km
    assert 110.5 < haversine_km(-6.0, 106.0, -7.0, 106.0) < 111.5
