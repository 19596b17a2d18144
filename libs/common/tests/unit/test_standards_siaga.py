import pytest

from kota_common.standards.siaga import GaugeThresholds, SiagaTracker, level_name

KATULAMPA = GaugeThresholds(80, 150, 200, hysteresis_cm=10)
DEPOK = GaugeThresholds(200, 270, 350)
MANGGARAI = GaugeThresholds(750, 850, 950)
PASAR_IKAN = GaugeThresholds(170, 200, 250)


@pytest.mark.parametrize(
    ("gauge", "cm", "level"),
    [
        (KATULAMPA, 0, 4), (KATULAMPA, 80, 4), (KATULAMPA, 81, 3), (KATULAMPA, 150, 3), (KATULAMPA, 151, 2),
        (KATULAMPA, 200, 2), (KATULAMPA, 201, 1),
        (DEPOK, 200, 4), (DEPOK, 201, 3), (DEPOK, 270, 3), (DEPOK, 271, 2), (DEPOK, 350, 2), (DEPOK, 351, 1),
        (MANGGARAI, 750, 4), (MANGGARAI, 751, 3), (MANGGARAI, 951, 1),
        (PASAR_IKAN, 170, 4), (PASAR_IKAN, 171, 3), (PASAR_IKAN, 250, 2), (PASAR_IKAN, 251, 1),
    ],
)
def test_levels_per_published_thresholds(gauge, cm, level):
    assert gauge.level(cm) == level


def test_thresholds_must_increase():
    with pytest.raises(ValueError):
        GaugeThresholds(150, 80, 200)


def test_rising_river_goes_through_each_level_once_and_falls_back_with_hysteresis():
    t = SiagaTracker(KATULAMPA)
    assert t.update(60) == (None, 4)
    seen = [c for cm in [70, 85, 90, 149, 152, 199, 201, 230, 205] if (c := t.update(cm))]
    assert seen == [(4, 3), (3, 2), (2, 1)]
    assert t.update(199) is None  # below 200 but within 10 cm: still Siaga 1
    assert t.update(191) is None
    assert t.update(190) == (1, 2)
    assert t.update(201) == (2, 1)  # rising again: at once


def test_hovering_at_a_bound_does_not_flap():
    t = SiagaTracker(KATULAMPA)
    t.update(100)
    changes = [c for cm in [150, 151, 150, 152, 149, 151, 145] if (c := t.update(cm))]
    assert changes == [(3, 2)]


def test_a_fast_fall_can_skip_levels():
    t = SiagaTracker(KATULAMPA)
    t.update(250)
    assert t.update(50) == (1, 4)
    assert level_name(4) == "siaga-4"


def test_evaluator_emits_each_gauge_change_once_and_skips_a_normal_baseline():
    from kota_sensors.domain.alerts import AlertEvaluator

    ev = AlertEvaluator()
    assert ev.water_level("KATULAMPA", KATULAMPA, [(1, 50.0), (2, 60.0)]) == []
    changes = ev.water_level("KATULAMPA", KATULAMPA, [(3, 120.0), (4, 210.0), (5, 205.0), (6, 199.0)])
    assert [(c.previous_level, c.level, c.severity) for c in changes] == [
        ("siaga-4", "siaga-3", "watch"), ("siaga-3", "siaga-1", "danger")]
    assert ev.water_level("KATULAMPA", KATULAMPA, [(7, 201.0)]) == []


def test_evaluator_restores_the_published_level():
    from kota_sensors.domain.alerts import AlertEvaluator

    ev = AlertEvaluator()
    ev.restore("KATULAMPA", "flood", "siaga-1", KATULAMPA)
    assert ev.water_level("KATULAMPA", KATULAMPA, [(1, 205.0)]) == []
    assert [c.level for c in ev.water_level("KATULAMPA", KATULAMPA, [(2, 100.0)])] == ["siaga-3"]


def test_pm25_hourly_average_drives_the_ispu_category():
    from kota_sensors.domain.alerts import HOUR_MS, AlertEvaluator

    ev = AlertEvaluator(ispu_margin=5)
    assert ev.pm25("DKI1", [(0, 10.0)]) is None  # Baik baseline
    # average of 10 and 100 = 55 -> ISPU 50/39.9*39.5+50 = 99.499 -> 99 (Sedang)
    c = ev.pm25("DKI1", [(60_000, 100.0)])
    assert (c.previous_level, c.level, c.value) == ("Baik", "Sedang", 99.0)
    # an hour later the old readings left the window: average 100 -> ISPU 147 (Tidak Sehat)
    c = ev.pm25("DKI1", [(HOUR_MS + 60_000, 100.0)])
    assert (c.level, c.severity) == ("Tidak Sehat", "warning")
