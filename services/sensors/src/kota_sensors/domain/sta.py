"""SensorThings over Kota's registry: the model's shape and the plane geometry its filters need. Pure.

The mapping (docs/sensors.md, "SensorThings"): a device is a Thing with one Location, one Sensor and one
FeatureOfInterest (its location: every observation of a station is of the place where it stands); each of its
quantities is a Datastream `<device>:<quantity>` of an ObservedProperty (the quantity code); each reading is an
Observation `<device>:<quantity>:<epoch ms>`. Devices do not move between locations: HistoricalLocations is empty.

Geometry is planar on (lon, lat) degrees, as PostGIS's `geometry` in EPSG:4326 and FROST's default: a distance
is in degrees.
"""

from __future__ import annotations

import math

ENCODING_GEOJSON = "application/geo+json"
OBSERVATION_TYPE = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


class PlanError(ValueError):
    """A plan this model cannot answer: unknown property, wrong types, an unsupported combination."""


def observation_key(key: str) -> tuple[str, str, int] | None:
    """`DKI1:pm25:1700000000000` -> (`DKI1`, `pm25`, 1700000000000); None when it is not an observation's id."""
    stream, _, ms = key.rpartition(":")
    device, _, quantity = stream.rpartition(":")
    if not device or not quantity or not ms.lstrip("-").isdigit() or len(ms) > 18:
        return None
    return device, quantity, int(ms)


# -- plane geometry on GeoJSON literals ----------------------------------------------------------------------------
Position = tuple[float, float]


def positions(geometry: dict) -> list[Position]:
    kind, coords = geometry["type"], geometry["coordinates"]
    if kind == "Point":
        return [(coords[0], coords[1])]
    if kind == "LineString":
        return [(x, y) for x, y in coords]
    return [(x, y) for ring in coords for x, y in ring]


def bbox(geometry: dict) -> tuple[float, float, float, float]:
    xs, ys = zip(*positions(geometry), strict=True)
    return min(xs), min(ys), max(xs), max(ys)


def edges(geometry: dict) -> list[tuple[Position, Position]]:
    """The segments of a LineString, or of every ring of a Polygon."""
    if geometry["type"] == "LineString":
        lines = [geometry["coordinates"]]
    elif geometry["type"] == "Polygon":
        lines = geometry["coordinates"]
    else:
        return []
    return [((a[0], a[1]), (b[0], b[1])) for line in lines for a, b in zip(line, line[1:], strict=False)]


def length(geometry: dict) -> float:
    return sum(math.dist(a, b) for a, b in edges(geometry))


def on_segment(p: Position, a: Position, b: Position) -> bool:
    cross = (p[0] - a[0]) * (b[1] - a[1]) - (p[1] - a[1]) * (b[0] - a[0])
    return cross == 0 and min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def inside(p: Position, polygon: dict) -> bool:
    """Even-odd ray casting over every ring (holes included): the same test the SQL runs."""
    crossings = 0
    for (x1, y1), (x2, y2) in edges(polygon):
        if y1 == y2:
            continue
        lo, hi = (y1, y2) if y1 < y2 else (y2, y1)
        if lo <= p[1] < hi and p[0] < x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1):
            crossings += 1
    return crossings % 2 == 1


def point_segment_distance(p: Position, a: Position, b: Position) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    if dx == dy == 0:
        return math.dist(p, a)
    t = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)))
    return math.dist(p, (a[0] + t * dx, a[1] + t * dy))


def distance(g1: dict, g2: dict) -> float:
    """Between two literals: points, lines, polygons (0 when they meet)."""
    if intersects(g1, g2):
        return 0.0
    if g1["type"] == "Point" and g2["type"] == "Point":
        return math.dist(positions(g1)[0], positions(g2)[0])
    candidates = []
    for a, b in (g1, g2), (g2, g1):
        for p in positions(a):
            for s, e in edges(b) or [(positions(b)[0], positions(b)[0])]:
                candidates.append(point_segment_distance(p, s, e))
    return min(candidates)


def _segments_cross(a: Position, b: Position, c: Position, d: Position) -> bool:
    def side(p: Position, q: Position, r: Position) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2, d3, d4 = side(c, d, a), side(c, d, b), side(a, b, c), side(a, b, d)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True
    return on_segment(a, c, d) or on_segment(b, c, d) or on_segment(c, a, b) or on_segment(d, a, b)


def intersects(g1: dict, g2: dict) -> bool:
    if g1["type"] == "Point" and g2["type"] == "Point":
        return positions(g1)[0] == positions(g2)[0]
    if g1["type"] == "Point" or g2["type"] == "Point":
        point, other = (g1, g2) if g1["type"] == "Point" else (g2, g1)
        p = positions(point)[0]
        return any(on_segment(p, a, b) for a, b in edges(other)) or (other["type"] == "Polygon" and inside(p, other))
    if any(_segments_cross(a, b, c, d) for a, b in edges(g1) for c, d in edges(g2)):
        return True
    return any(b["type"] == "Polygon" and inside(positions(a)[0], b) for a, b in ((g1, g2), (g2, g1)))
