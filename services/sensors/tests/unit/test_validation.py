import math

import pytest

from kota_sensors.domain import validation as v

NOW = 1_780_000_000_000


@pytest.fixture
def val():
    return v.Validator(v.Rules(max_future_ms=60_000, max_age_ms=3_600_000))


def test_a_clean_series_passes_whole(val):
    ts = [NOW - 3000, NOW - 2000, NOW - 1000]
    r = val.validate_series("DKI1", "air_quality", "pm25", "ug/m3", ts, [10.0, 11.5, 12.0], NOW)
    assert r.timestamps == ts and r.values == [10.0, 11.5, 12.0] and r.rejected == []


@pytest.mark.parametrize(
    ("quantity", "unit", "value", "reason"),
    [
        ("water_level", "cm", 100.0, v.UNKNOWN_QUANTITY),  # a station does not measure water level
        ("pm1", "ug/m3", 1.0, v.UNKNOWN_QUANTITY),
        ("pm25", "mg/m3", 1.0, v.WRONG_UNIT),
        ("pm25", "ug/m3", -1.0, v.OUT_OF_RANGE),
        ("pm25", "ug/m3", 1000.1, v.OUT_OF_RANGE),
        ("pm25", "ug/m3", math.nan, v.NOT_A_NUMBER),
        ("pm25", "ug/m3", math.inf, v.NOT_A_NUMBER),
    ],
)
def test_unit_and_range_per_kind(val, quantity, unit, value, reason):
    r = val.validate_series("DKI1", "air_quality", quantity, unit, [NOW], [value], NOW)
    assert r.rejected == [(0, reason)] and r.values == []


def test_timestamps_future_and_too_old(val):
    r = val.validate_series(
        "G1", "water_level", "water_level", "cm",
        [NOW - 3_600_001, NOW - 10, NOW + 60_000, NOW + 60_001], [1.0, 2.0, 3.0, 4.0], NOW,
    )
    assert r.rejected == [(0, v.TOO_OLD), (3, v.FUTURE_TIMESTAMP)]
    assert r.timestamps == [NOW - 10, NOW + 60_000]


def test_duplicates_and_out_of_order_per_datastream(val):
    val.validate_series("G1", "water_level", "water_level", "cm", [NOW - 100], [1.0], NOW)
    r = val.validate_series("G1", "water_level", "water_level", "cm", [NOW - 100, NOW - 200, NOW - 50, NOW - 50], [1.0] * 4, NOW)
    assert r.rejected == [(0, v.DUPLICATE), (1, v.OUT_OF_ORDER), (3, v.DUPLICATE)]
    assert r.timestamps == [NOW - 50]
    # another quantity of the same device, or another device, has its own order
    assert not val.validate_series("G1", "water_level", "rainfall", "mm", [NOW - 100], [1.0], NOW).rejected
    assert not val.validate_series("G2", "water_level", "water_level", "cm", [NOW - 100], [1.0], NOW).rejected


def test_one_bad_reading_does_not_spoil_the_batch(val):
    r = val.validate_series("DKI2", "air_quality", "pm10", "ug/m3", [NOW - 3, NOW - 2, NOW - 1], [5.0, -3.0, 7.0], NOW)
    assert r.rejected == [(1, v.OUT_OF_RANGE)] and r.values == [5.0, 7.0]


def test_length_mismatch(val):
    r = val.validate_series("DKI2", "air_quality", "pm10", "ug/m3", [NOW], [5.0, 6.0], NOW)
    assert r.rejected and r.rejected[0][1] == v.LENGTH_MISMATCH


def test_vehicle_positions(val):
    assert val.validate_position("B1", NOW - 5, -6.2, 106.8, 90, 30, NOW) is None
    assert val.validate_position("B1", NOW - 5, -6.2, 106.8, 90, 30, NOW) == v.DUPLICATE
    assert val.validate_position("B1", NOW - 6, -6.2, 106.8, 90, 30, NOW) == v.OUT_OF_ORDER
    assert val.validate_position("B1", NOW, 95, 106.8, 90, 30, NOW) == v.OUT_OF_RANGE
    assert val.validate_position("B1", NOW, -6.2, 106.8, 90, 300, NOW) == v.OUT_OF_RANGE
    assert val.validate_position("B1", NOW + 61_000, -6.2, 106.8, 0, 0, NOW) == v.FUTURE_TIMESTAMP
    assert val.validate_position("B1", NOW, math.nan, 106.8, 0, 0, NOW) == v.NOT_A_NUMBER
