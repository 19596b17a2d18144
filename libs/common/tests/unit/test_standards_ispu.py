import pytest

from kota_common.standards import ispu


@pytest.mark.parametrize(
    ("pollutant", "conc", "expected"),
    [
        # exactly at each breakpoint of the regulation's table
        ("pm25", 15.5, 50), ("pm25", 55.4, 100), ("pm25", 150.4, 200), ("pm25", 250.4, 300), ("pm25", 500, 500),
        ("pm10", 50, 50), ("pm10", 150, 100), ("pm10", 350, 200), ("pm10", 420, 300), ("pm10", 500, 500),
        ("so2", 52, 50), ("so2", 180, 100), ("so2", 400, 200), ("so2", 800, 300), ("so2", 1200, 500),
        ("co", 4000, 50), ("co", 8000, 100), ("co", 15000, 200), ("co", 30000, 300), ("co", 45000, 500),
        ("o3", 120, 50), ("o3", 235, 100), ("o3", 400, 200), ("o3", 800, 300), ("o3", 1000, 500),
        ("no2", 80, 50), ("no2", 200, 100), ("no2", 1130, 200), ("no2", 2260, 300), ("no2", 3000, 500),
        ("hc", 45, 50), ("hc", 100, 100), ("hc", 215, 200), ("hc", 432, 300), ("hc", 648, 500),
        # hand-worked between breakpoints: I = (Ia-Ib)/(Xa-Xb)*(Xx-Xb)+Ib
        ("pm25", 0, 0),
        ("pm25", 7.75, 25),  # 50/15.5*7.75 = 25
        ("pm25", 35.45, 75),  # 50/39.9*19.95+50 = 75
        ("pm25", 102.9, 150),  # 100/95*47.5+100 = 150
        ("pm25", 200.4, 250),  # 100/100*50+200 = 250
        ("pm25", 375.2, 400),  # 200/249.6*124.8+300 = 400
        ("pm10", 100, 75),  # 50/100*50+50
        ("pm10", 385, 250),  # 100/70*35+200
        ("co", 11500, 150),  # 100/7000*3500+100
        ("so2", 600, 250),  # 100/400*200+200
        ("pm25", 15.6, 50),  # 50/39.9*0.1+50 = 50.125 -> 50
        ("pm25", 55.5, 100),  # 100/95*0.1+100 = 100.105 -> 100
        ("pm25", 56.0, 101),  # 100/95*0.6+100 = 100.63 -> 101
        ("pm25", 900, 500),  # above the table: capped
    ],
)
def test_index_hand_worked(pollutant, conc, expected):
    assert ispu.index(pollutant, conc) == expected


@pytest.mark.parametrize(
    ("value", "name"),
    [(0, "Baik"), (50, "Baik"), (51, "Sedang"), (100, "Sedang"), (101, "Tidak Sehat"), (200, "Tidak Sehat"),
     (201, "Sangat Tidak Sehat"), (300, "Sangat Tidak Sehat"), (301, "Berbahaya"), (500, "Berbahaya")],
)
def test_categories_at_bounds(value, name):
    assert ispu.category(value).name == name


def test_rejects_unknown_pollutant_and_negative():
    with pytest.raises(ValueError):
        ispu.index("pm1", 3)
    with pytest.raises(ValueError):
        ispu.index("pm25", -1)
    with pytest.raises(ValueError):
        ispu.index("pm25", float("nan"))


def test_tracker_raises_at_once_and_falls_back_only_past_the_margin():
    t = ispu.CategoryTracker(margin=5)
    assert t.update(40) == ("", "Baik")
    assert t.update(45) is None
    assert t.update(101) == ("Baik", "Tidak Sehat")  # worse: at once, even skipping Sedang
    assert t.update(99) is None  # inside the margin below 101: stays
    assert t.update(102) is None
    assert t.update(96) is None  # 101-1-5 = 95 is the first value that falls back
    assert t.update(95) == ("Tidak Sehat", "Sedang")
    assert t.update(101) == ("Sedang", "Tidak Sehat")


def test_tracker_does_not_flap_on_a_hovering_index():
    t = ispu.CategoryTracker(margin=5)
    t.update(30)
    changes = [c for v in [100, 101, 100, 101, 99, 102, 98, 101] if (c := t.update(v))]
    assert changes == [("Baik", "Sedang"), ("Sedang", "Tidak Sehat")]
