"""What ingest counts in `kota.sensors.readings` (read through Prometheus): accepted once the broker
acknowledged, rejected by reason, failed when the broker did not acknowledge; and the alerts counter."""

import re
import time

import pytest
from prometheus_client import generate_latest

from kota_common.metrics import configure_metrics
from kota_sensors.domain.devices import DeviceInfo, hash_token
from kota_sensors.domain.validation import Validator
from kota_sensors.service_layer import metrics
from kota_sensors.service_layer.ingest import IngestPipeline, SeriesIn


class Producer:
    """Takes records; reports their delivery when told (`deliver`)."""

    def __init__(self):
        self.pending = []

    def produce(self, topic, value, key, on_delivery=None, headers=None):
        if on_delivery is not None:
            self.pending.append(on_delivery)

    def poll(self, timeout):
        time.sleep(min(timeout, 0.01))

    def deliver(self, err=None):
        for cb in self.pending:
            cb(err, None)
        self.pending.clear()

    def flush(self, timeout):
        return 0


@pytest.fixture(scope="module", autouse=True)
def provider():
    configure_metrics("kota-sensors-test", "off")  # once a process: a no-op if already done


@pytest.fixture
def pipeline():
    devices = {"DKI1": DeviceInfo("DKI1", "DKI1", "air_quality", -6.19, 106.82, "31.71", "", hash_token("secret"))}
    p = IngestPipeline(Producer(), Validator(), devices)
    yield p
    p.close(0)


def readings(**labels) -> float:
    total = 0.0
    for line in generate_latest().decode().splitlines():
        if line.startswith("kota_sensors_readings_total{"):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_readings_are_counted_accepted_when_acknowledged_and_rejected_by_reason(pipeline):
    before = {o: readings(outcome=o) for o in ("accepted", "failed")}
    before_range = readings(outcome="rejected", reason="out_of_range")
    before_auth = readings(outcome="rejected", reason="unauthenticated")
    now = int(time.time() * 1000) - 60_000
    ticket = pipeline.submit("DKI1", "secret", [SeriesIn("pm25", "ug/m3", [now, now + 1, now + 2], [10.0, 11.0, -5.0])])
    assert readings(outcome="accepted") == before["accepted"]  # not before the broker acknowledged them
    pipeline.producer.deliver()
    pipeline.settle(ticket, 5)
    assert readings(outcome="accepted") - before["accepted"] == 2
    assert readings(outcome="rejected", reason="out_of_range") - before_range == 1

    failing = pipeline.submit("DKI1", "secret", [SeriesIn("pm25", "ug/m3", [now + 10], [12.0])])
    pipeline.producer.deliver(err="broker away")
    pipeline.settle(failing, 5)
    assert readings(outcome="failed") - before["failed"] == 1
    assert readings(outcome="accepted") - before["accepted"] == 2

    pipeline.submit("DKI1", "wrong", [SeriesIn("pm25", "ug/m3", [now + 20, now + 21], [1.0, 2.0])])
    assert readings(outcome="rejected", reason="unauthenticated") - before_auth == 2


def test_alerts_raised_are_counted_by_kind_and_level():
    def alerts() -> float:
        text = generate_latest().decode()
        found = re.search(r'^kota_sensors_alerts_total\{[^}]*kind="flood"[^}]*level="siaga-2"[^}]*\} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    before = alerts()
    metrics.ALERTS_RAISED.add(2, metrics.alert_attributes("flood", "siaga-2"))
    assert alerts() - before == 2
