"""The simulator's readings pass validation and its rain event takes Katulampa through every Siaga level."""

from kota_common.standards.siaga import GaugeThresholds, SiagaTracker
from kota_sensors.adapters.seed import GAUGES, jakarta_devices
from kota_sensors.domain.devices import validate_device
from kota_sensors.domain.validation import Validator
from kota_sensors.simulate import Simulator, corridor_position

KINDS = {d["id"]: d["kind"] for d in jakarta_devices()}


def test_seeded_devices_are_valid():
    assert all(validate_device(d) == [] for d in jakarta_devices())


def test_a_simulated_event_passes_validation_and_raises_katulampa_to_siaga_1():
    sim = Simulator("127.0.0.1:1", "token", rate=400, event_minutes=1)
    sim.tokens = dict.fromkeys(KINDS, "t")
    validator = Validator()
    katulampa = next(g for g in GAUGES if g[0] == "KATULAMPA")[6]
    tracker = SiagaTracker(GaugeThresholds(*katulampa))
    levels = []
    start = int(sim.started * 1000)
    for second in range(60):
        now = start + second * 1000
        for req in sim.batches(now, sim.per_second()):
            for s in req.series:
                r = validator.validate_series(req.device_id, KINDS[req.device_id], s.quantity, s.unit, list(s.timestamps_ms),
                                              list(s.values), now + 1000)
                assert r.rejected == [], (req.device_id, s.quantity, r.rejected[:3])
                if req.device_id == "KATULAMPA":
                    levels += [c[1] for v in s.values if (c := tracker.update(v))]
            p = req.positions
            for i, ts in enumerate(p.timestamps_ms):
                assert validator.validate_position(req.device_id, ts, p.lats[i], p.lons[i], p.bearings[i], p.speeds_kmh[i], now + 1000) is None
    assert levels[:4] == [4, 3, 2, 1] and levels[-1] == 4  # up through each level, then back to normal


def test_buses_stay_on_the_corridor():
    for d in range(0, 30_000, 1000):
        lat, lon, bearing = corridor_position(d)
        assert -6.25 < lat < -6.13 and 106.79 < lon < 106.83 and 0 <= bearing < 360
