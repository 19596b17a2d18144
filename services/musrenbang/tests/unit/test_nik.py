"""NIK: structure checks with a specific reason each, the keyed hash, and a NIK that never shows in a repr."""

from datetime import date

import pytest

from kota_musrenbang.domain.errors import InvalidNik
from kota_musrenbang.domain.nik import NikHasher, nik_matches_kelurahan, parse_nik, resident_ref

TODAY = date(2026, 12, 7)
# Jakarta Pusat (31.71), Gambir (01), born 15 August 1990, serial 0012.
MAN = "3171011508900012"
# The same, a woman: day + 40.
WOMAN = "3171015508900012"


def refusal(raw: str) -> str:
    with pytest.raises(InvalidNik) as err:
        parse_nik(raw, today=TODAY)
    assert err.value.field == "nik"
    return str(err.value)


class TestParse:
    def test_a_man(self):
        nik = parse_nik(MAN, today=TODAY)
        assert (nik.province_code, nik.kota_code, nik.kecamatan_code) == ("31", "31.71", "31.71.01")
        assert nik.birth_date == date(1990, 8, 15) and not nik.female

    def test_a_womans_day_has_forty_added(self):
        nik = parse_nik(WOMAN, today=TODAY)
        assert nik.birth_date == date(1990, 8, 15) and nik.female

    def test_grouping_characters_are_tolerated(self):
        assert parse_nik("317101 150890 0012", today=TODAY).value == MAN

    def test_the_century_is_the_latest_that_is_not_in_the_future(self):
        assert parse_nik("3171010101100001", today=TODAY).birth_date == date(2010, 1, 1)
        assert parse_nik("3171010101300001", today=TODAY).birth_date == date(1930, 1, 1)

    def test_29_february_2000_is_a_date(self):
        assert parse_nik("3171012902000001", today=TODAY).birth_date == date(2000, 2, 29)

    def test_current_papua_province_codes_are_known(self):
        for code in ("91", "92", "93", "94", "95", "96"):
            assert parse_nik(code + MAN[2:], today=TODAY).province_code == code


class TestRefusals:
    @pytest.mark.parametrize("raw", ["317101150890001", "31710115089000123", "31710115089000a2", ""])
    def test_not_sixteen_digits(self, raw):
        assert "16 angka" in refusal(raw)

    @pytest.mark.parametrize("province", ["00", "10", "20", "37", "54", "77", "90", "97"])
    def test_unknown_province(self, province):
        assert f"kode provinsi {province}" in refusal(province + MAN[2:])

    def test_kota_00(self):
        assert "kabupaten/kota" in refusal("3100011508900012")

    def test_kecamatan_00(self):
        assert "kecamatan" in refusal("3171001508900012")

    @pytest.mark.parametrize("ddmmyy", ["000190", "320190", "400190", "720190", "011390", "010090"])
    def test_day_or_month_out_of_range(self, ddmmyy):
        assert "tidak valid" in refusal("317101" + ddmmyy + "0012")

    @pytest.mark.parametrize("ddmmyy", ["310490", "300290", "290201", "710490"])
    def test_a_date_that_does_not_exist(self, ddmmyy):
        # 31 April, 30 February, 29 February 2001 (and 1901), a woman's 31 April
        assert "bukan tanggal yang ada" in refusal("317101" + ddmmyy + "0012")

    def test_serial_0000(self):
        assert "0000" in refusal("3171011508900000")


class TestPrivacy:
    def test_repr_and_str_mask_the_number(self):
        nik = parse_nik(MAN, today=TODAY)
        for shown in (repr(nik), str(nik), f"{nik}", repr([nik])):
            assert MAN not in shown and "1508900012" not in shown
        assert repr(nik) == "Nik(3171************)"

    def test_the_hash_is_keyed_and_stable(self):
        nik = parse_nik(MAN, today=TODAY)
        one, other = NikHasher(b"k" * 32), NikHasher(b"j" * 32)
        assert one.hash(nik) == one.hash(MAN) == one.hash("3171 0115 0890 0012")
        assert one.hash(nik) != other.hash(nik)
        assert len(one.hash(nik)) == 64 and MAN not in one.hash(nik)

    def test_resident_ref_is_short_opaque_and_not_the_hash(self):
        digest = NikHasher(b"k" * 32).hash(MAN)
        ref = resident_ref(digest)
        assert ref.startswith("w-") and len(ref) == 12 and ref[2:] not in digest
        assert resident_ref(digest) == ref


def test_nik_matches_the_kelurahans_kecamatan():
    nik = parse_nik(MAN, today=TODAY)
    assert nik_matches_kelurahan(nik, "31.71.01.1001")
    assert not nik_matches_kelurahan(nik, "31.71.02.1001")
    assert not nik_matches_kelurahan(nik, "31.71.011.1001")
