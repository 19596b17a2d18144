import pytest

from kota_common.standards import ispu, siaga


@pytest.mark.parametrize(
    "parameter,value,expected",
    [("pm25", 15.5, 50), ("pm25", 55.4, 100), ("PM2.5", 35.0, 74), ("pm10", 150, 100), ("co", 45000, 500),
     ("o3", 2000, 500), ("so2", 0, 0)],
)
def test_sub_index(parameter, value, expected):
    assert ispu.sub_index(parameter, value) == expected


def test_station_ispu_is_highest_sub_index():
    assert ispu.station_ispu({"pm25": 60.0, "pm10": 40.0}) == (ispu.sub_index("pm25", 60.0), "pm25")
    assert ispu.station_ispu({"temperature": 30.0}) == (None, "")


@pytest.mark.parametrize("index,name", [(50, "Baik"), (51, "Sedang"), (200, "Tidak Sehat"), (300, "Sangat Tidak Sehat"),
                                        (301, "Berbahaya")])
def test_category(index, name):
    assert ispu.category_name(index) == name


@pytest.mark.parametrize("gauge,level,expected", [("KATULAMPA", 80, 4), ("KATULAMPA", 81, 3), ("KATULAMPA", 201, 1),
                                                  ("PASAR_IKAN", 210, 2), ("KARET", 500, 3), ("KARET", 600, 2),
                                                  ("UNKNOWN", 10, None)])
def test_siaga(gauge, level, expected):
    assert siaga.siaga_level(gauge, level) == expected


def test_level_from_bounds_with_unpublished_bounds():
    katulampa = (80, 150, 200)
    assert [siaga.level_from_bounds(x, katulampa) for x in (80, 81, 150, 151, 200, 201)] == [4, 3, 3, 2, 2, 1]
    karet = (450, 550, None)  # Siaga 2/1 bounds unpublished: above 550 cm it is at least Siaga 2
    assert [siaga.level_from_bounds(x, karet) for x in (400, 500, 600)] == [4, 3, 2]
    assert siaga.level_from_bounds(100, ()) is None
