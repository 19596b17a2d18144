"""The alert evaluator's batch path (no I/O): cheap decoding and per-device aggregation per batch."""

import json

from kota_sensors.domain.alerts import AlertEvaluator
from kota_sensors.domain.batch import (
    MINUTE_MS,
    BatchAggregate,
    decode_positions,
    decode_readings,
    decode_summaries,
    encode_summary,
    summarise,
)

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


def test_a_summary_sums_pm25_per_minute_and_keeps_every_water_level():
    pm25 = [T + 1000, T + 2000, T + MINUTE_MS, T + MINUTE_MS + 5, T + 3 * MINUTE_MS]
    s = summarise("S1", [("pm25", pm25, [10.0, 20.0, 40.0, 1.0, 2.0]), ("pm10", [T + 4 * MINUTE_MS], [99.0])])
    m = T // MINUTE_MS
    assert s.pm25 == [(m, 30.0, 2), (m + 1, 41.0, 2), (m + 3, 2.0, 1)] and s.water_level == []
    assert (s.last_ms, s.pm25_first_ms, s.pm25_last_ms) == (T + 4 * MINUTE_MS, T + 1000, T + 3 * MINUTE_MS)
    assert summarise("S2", [("pm25", [T, T + 1], [1.0, 2.0])]).pm25 == [(m, 3.0, 2)]  # one minute: one sum
    g = summarise("G1", [("water_level", [T + 4000, T + 5000], [80.0, 90.0])])
    assert g.water_level == [(T + 4000, 80.0), (T + 5000, 90.0)] and g.pm25 == [] and g.pm25_first_ms == 0
    # what the ingest path writes is what the evaluator reads
    (decoded,), bad = decode_summaries([encode_summary(s), encode_summary(g)[:-1]])
    assert decoded == s and bad[0][0] == 1 and "not a kota.sensors.reading-summary.v1 payload" in bad[0][1]


def test_summaries_fold_into_per_device_aggregates_once_each():
    m = T // MINUTE_MS
    s1 = summarise("S1", [("pm25", [T + 1000, T + MINUTE_MS + 1000], [10.0, 20.0])])
    g1 = summarise("G1", [("water_level", [T + 5000, T + 6000], [90.0, 95.0])])
    g0 = summarise("G1", [("water_level", [T + 4000], [80.0])])
    folded: dict = {}
    agg = BatchAggregate()
    agg.add_summaries([s1, g1, s1, g0], folded)  # s1 again: a batch resent after a lost answer adds nothing
    assert agg.pm25 == {"S1": {m: [10.0, 1], m + 1: [20.0, 1]}} and agg.pm25_last == {"S1": T + MINUTE_MS + 1000}
    assert agg.levels == {"G1": [(T + 5000, 90.0), (T + 6000, 95.0)]}  # g0 is older than what was folded
    assert agg.seen == {"S1": T + MINUTE_MS + 1000, "G1": T + 6000}
    # next batch: a resend overlapping what was folded adds only what is newer (PM2.5: the later minutes)
    overlap = summarise("S1", [("pm25", [T + MINUTE_MS + 1000, T + MINUTE_MS + 2000, T + 2 * MINUTE_MS], [20.0, 21.0, 30.0])])
    levels = summarise("G1", [("water_level", [T + 6000, T + 7000], [95.0, 99.0])])
    agg = BatchAggregate()
    agg.add_summaries([overlap, levels], folded)
    assert agg.pm25 == {"S1": {m + 2: [30.0, 1]}} and agg.levels == {"G1": [(T + 7000, 99.0)]}
    assert folded == {("S1", "pm25"): T + 2 * MINUTE_MS, ("G1", "water_level"): T + 7000}


def test_per_minute_sums_give_the_same_alerts_as_reading_by_reading():
    """pm25_minutes on batch summaries (the evaluator's path) and pm25 (reading by reading) agree."""
    series = [(T + i * 20_000, 10.0 + (i % 7) * 30) for i in range(400)]  # 2h13m of readings, rising and falling
    series += [(series[-1][0] + i * 500, 200.0 - i) for i in range(1, 200)]  # then many in each minute
    by_reading, by_minute = AlertEvaluator(), AlertEvaluator()
    a, b, folded = [], [], {}
    for start in range(0, len(series), 37):  # uneven batches
        chunk = series[start:start + 37]
        a.append(by_reading.pm25("S", chunk))
        agg = BatchAggregate()
        summary = summarise("S", [("pm25", [ts for ts, _ in chunk], [v for _, v in chunk])])
        agg.add_summaries(decode_summaries([encode_summary(summary)])[0], folded)
        b.append(by_minute.pm25_minutes("S", agg.pm25["S"], agg.pm25_last["S"]))
    assert a == b and any(a)
