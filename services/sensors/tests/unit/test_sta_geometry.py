"""The plane geometry behind SensorThings' geospatial functions, on literals (no database): the same tests the
SQL runs on stored points (ray casting, boundary, distance)."""

import math

import pytest

from kota_sensors.domain import sta

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]],
                                             [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]]]}  # with a hole
LINE = {"type": "LineString", "coordinates": [[0, 0], [3, 4]]}


def point(x: float, y: float) -> dict:
    return {"type": "Point", "coordinates": [x, y]}


@pytest.mark.parametrize(("p", "inside"), [((3, 3), True), ((1.5, 1.5), False), ((5, 1), False), ((0.5, 3.9), True)])
def test_a_point_is_inside_by_even_odd_ray_casting_holes_excluded(p, inside):
    assert sta.inside(p, SQUARE) is inside


def test_intersects_counts_the_boundary_and_disjoint_shapes_do_not():
    assert sta.intersects(point(4, 2), SQUARE) and sta.intersects(point(1.5, 1), SQUARE)  # outer and hole edges
    assert not sta.intersects(point(1.5, 1.5), SQUARE)
    assert sta.intersects(LINE, SQUARE) and sta.intersects(point(1.5, 2), LINE)
    assert not sta.intersects(point(9, 9), LINE)


def test_distance_and_length_in_plane_degrees():
    assert sta.length(LINE) == 5
    assert sta.distance(point(0, 0), point(3, 4)) == 5
    assert sta.distance(point(3, 0), LINE) == pytest.approx(12 / 5)  # to the segment's nearest point
    assert sta.distance(point(3, 3), SQUARE) == 0 and math.isclose(sta.distance(point(6, 2), SQUARE), 2)


def test_an_observation_id_is_its_datastream_and_time():
    assert sta.observation_key("DKI1:pm25:1700000000000") == ("DKI1", "pm25", 1700000000000)
    assert sta.observation_key("DKI1:pm25") is None and sta.observation_key("DKI1:pm25:" + "9" * 30) is None
