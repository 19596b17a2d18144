"""The JSON document simple devices send over HTTP and MQTT, and the answer they get. Both go through the
same IngestPipeline as the gRPC fast path.

    {"token": "kdt_...",                       (MQTT only; HTTP sends "Authorization: Device <token>")
     "readings": [{"quantity": "pm25", "unit": "ug/m3", "value": 41.2, "time": "2026-11-23T05:00:00Z"}, ...],
     "positions": [{"time_ms": 1795410000000, "lat": -6.2, "lon": 106.82, "bearing": 10, "speed_kmh": 30,
                    "route_id": "1"}]}      (route_id optional, the first position's counts; default: provisioned)

Each reading has "time" (RFC 3339) or "time_ms" (epoch milliseconds). Readings may come in any order; they are
sorted by time per quantity. The answer: {"accepted": n, "rejected": m, "rejections": [{"index": i, ...}]}
where index points into the document's readings (or positions) list.
"""

from __future__ import annotations

import json
import math
from datetime import datetime

from kota_sensors.service_layer.ingest import DESCRIPTIONS, PositionsIn, SeriesIn, Ticket

MAX_ITEMS = 10_000


class DocumentError(ValueError):
    """The document itself is malformed (not a reading rejection): HTTP 400."""


def _time_ms(item: dict, where: str) -> int:
    if "time_ms" in item:
        t = item["time_ms"]
        if not isinstance(t, int) or isinstance(t, bool):
            raise DocumentError(f"{where}.time_ms must be an integer (epoch milliseconds)")
        return t
    t = item.get("time")
    if not isinstance(t, str):
        raise DocumentError(f"{where} needs time (RFC 3339) or time_ms")
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError as exc:
        raise DocumentError(f"{where}.time is not an RFC 3339 timestamp") from exc
    if dt.tzinfo is None:
        raise DocumentError(f"{where}.time needs a UTC offset")
    return int(dt.timestamp() * 1000)


def _number(item: dict, key: str, where: str, default: float | None = None) -> float:
    v = item.get(key, default)
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        raise DocumentError(f"{where}.{key} must be a number")
    return float(v)


def parse(doc: object) -> tuple[list[SeriesIn], PositionsIn | None, dict[tuple[str, int], int]]:
    """Returns the series, positions and a map (quantity, index in series) -> index in the document."""
    if not isinstance(doc, dict):
        raise DocumentError("the body must be a JSON object")
    readings = doc.get("readings", [])
    positions = doc.get("positions", [])
    if not isinstance(readings, list) or not isinstance(positions, list):
        raise DocumentError("readings and positions must be lists")
    if not readings and not positions:
        raise DocumentError("nothing to ingest: send readings or positions")
    if len(readings) + len(positions) > MAX_ITEMS:
        raise DocumentError(f"at most {MAX_ITEMS} readings per document")
    grouped: dict[tuple[str, str], list[tuple[int, float, int]]] = {}
    for i, r in enumerate(readings):
        where = f"readings[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("quantity"), str) or not isinstance(r.get("unit"), str):
            raise DocumentError(f"{where} needs quantity and unit (strings)")
        grouped.setdefault((r["quantity"], r["unit"]), []).append((_time_ms(r, where), _number(r, "value", where), i))
    series, index_map = [], {}
    for (quantity, unit), items in grouped.items():
        items.sort(key=lambda x: x[0])
        for j, (_, _, i) in enumerate(items):
            index_map[(quantity, j)] = i
        series.append(SeriesIn(quantity, unit, [t for t, _, _ in items], [v for _, v, _ in items]))
    pos = None
    if positions:
        rows = []
        for i, p in enumerate(positions):
            where = f"positions[{i}]"
            if not isinstance(p, dict):
                raise DocumentError(f"{where} must be an object")
            rows.append((_time_ms(p, where), _number(p, "lat", where), _number(p, "lon", where),
                         _number(p, "bearing", where, 0.0), _number(p, "speed_kmh", where, 0.0), i))
        rows.sort(key=lambda x: x[0])
        for j, row in enumerate(rows):
            index_map[("position", j)] = row[5]
        route = positions[0].get("route_id", "")
        if not isinstance(route, str):
            raise DocumentError("positions[0].route_id must be a string")
        pos = PositionsIn(route, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                          [r[3] for r in rows], [r[4] for r in rows])
    return series, pos, index_map


def answer(ticket: Ticket, index_map: dict[tuple[str, int], int]) -> dict:
    rejections = [
        {"index": index_map.get((q, i), i), "quantity": q, "time_ms": ts, "reason": r, "description": DESCRIPTIONS.get(r, r)}
        for q, i, ts, r in ticket.rejections
    ]
    out = {"accepted": ticket.delivered if not ticket.refused else 0, "rejected": len(rejections), "rejections": rejections}
    if ticket.refused:
        out["refused"] = ticket.refused
    elif ticket.failed:
        out["refused"] = f"broker did not acknowledge {ticket.failed} reading(s): resend"
    return out


def loads(body: bytes) -> object:
    try:
        return json.loads(body, parse_constant=lambda c: math.nan)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DocumentError(f"body is not JSON: {exc}") from exc
