"""The alert evaluator's batch path (no I/O): cheap decoding and per-device aggregation per batch."""

import json

from kota_sensors.domain.alerts import AlertEvaluator
from kota_sensors.domain.batch import MINUTE_MS, BatchAggregate, decode_positions, decode_readings

T = 1_780_000_000_000 // MINUTE_MS * MINUTE_MS  # a minute boundary


def reading(device: str, quantity: str, value: float, ts: int) -> bytes:
    # the exact shape the ingest pipeline produces
    return (f'{{"device_id":"{device}","quantity":"{quantity}","unit":"x","value":{value!r},'
            f'"observed_at_ms":{ts}}}').encode()


def test_a_clean_batch_decodes_in_one_pass_and_a_bad_record_is_reported_by_index():
    values = [reading("A", "pm25", 12.5, T), reading("A", "pm25", 13, T + 1)]
    readings, bad = decode_readings(values)
    assert bad == [] and [(r.device_id, r.quantity, r.value, r.observed_at_ms) for r in readings] == [
        ("A", "pm25", 12.5, T), ("A", "pm25", 13.0, T + 1)]
    readings, bad = decode_readings([values[0], b"\x00not json", None, b'{"device_id":"A"}', values[1]])
    assert [r.observed_at_ms for r in readings] == [T, T + 1]
    assert [i for i, _ in bad] == [1, 2, 3] and all("not a kota.sensors.reading.v1 payload" in r for _, r in bad)
    # a value of the wrong type is not a reading either
    assert decode_readings([reading("A", "pm25", 1, T).replace(b"1,", b'"1",', 1)])[1][0][0] == 0


def test_positions_decode_with_defaults():
    doc = {"vehicle_id": "TJ-1", "lat": -6.2, "lon": 106.8, "observed_at_ms": T}
    (p,), bad = decode_positions([json.dumps(doc).encode()])
    assert bad == [] and (p.vehicle_id, p.route_id, p.speed_kmh, p.observed_at_ms) == ("TJ-1", "", 0.0, T)
    assert decode_positions([json.dumps({"vehicle_id": "TJ-1"}).encode()])[1][0][0] == 0


def test_aggregate_sums_pm25_per_minute_keeps_levels_in_time_order_and_last_seen():
    readings, _ = decode_readings([
        reading("S1", "pm25", 10.0, T + 1000), reading("S1", "pm25", 20.0, T + 2000),
        reading("S1", "pm25", 40.0, T + MINUTE_MS), reading("S1", "pm10", 99.0, T + 3 * MINUTE_MS),
        reading("G1", "water_level", 90.0, T + 5000), reading("G1", "water_level", 80.0, T + 4000),
        reading("S2", "pm25", 5.0, T), reading("S1", "pm25", 1.0, T + MINUTE_MS + 5), reading("S1", "pm25", 2.0, T + MINUTE_MS + 6),
    ])
    agg = BatchAggregate()
    agg.add_readings(readings)
    assert agg.pm25 == {"S1": {T // MINUTE_MS: [30.0, 2], T // MINUTE_MS + 1: [43.0, 3]}, "S2": {T // MINUTE_MS: [5.0, 1]}}
    assert agg.pm25_last == {"S1": T + MINUTE_MS + 6, "S2": T}
    assert agg.levels == {"G1": [(T + 4000, 80.0), (T + 5000, 90.0)]}
    assert agg.seen == {"S1": T + 3 * MINUTE_MS, "G1": T + 5000, "S2": T}


def test_per_minute_sums_give_the_same_alerts_as_reading_by_reading():
    """pm25_minutes (the consumer's batch path) and pm25 (reading by reading) agree on the hourly average."""
    series = [(T + i * 20_000, 10.0 + (i % 7) * 30) for i in range(400)]  # 2h13m of readings, rising and falling
    series += [(series[-1][0] + i * 500, 200.0 - i) for i in range(1, 200)]  # then many in each minute
    by_reading, by_minute = AlertEvaluator(), AlertEvaluator()
    a, b = [], []
    for start in range(0, len(series), 37):  # uneven batches
        chunk = series[start:start + 37]
        a.append(by_reading.pm25("S", chunk))
        agg = BatchAggregate()
        agg.add_readings(decode_readings([reading("S", "pm25", v, ts) for ts, v in chunk])[0])
        b.append(by_minute.pm25_minutes("S", agg.pm25["S"], agg.pm25_last["S"]))
    assert a == b and any(a)
