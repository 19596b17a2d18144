"""The sensors service serves Prometheus /metrics: readings by outcome and reason, and its gRPC calls; the alert
evaluator it starts as a process of its own serves its metrics (the outbox gauges among them) at port + 100."""

import re
import time
import urllib.error
import urllib.request

import pytest

from kota.sensors.v1 import sensors_pb2 as pb
from kota_common.testing import free_port

pytestmark = pytest.mark.integration


def scrape(address: str, until: str = "", timeout: float = 60.0) -> str:
    """/metrics at `address`, waiting until it answers with a line matching `until` (a child process starts after
    its parent is healthy, and registers its instruments as it starts)."""
    deadline = time.monotonic() + timeout
    seen = ""
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
                seen = response.read().decode()
            if re.search(until, seen, re.M):
                return seen
        except (urllib.error.URLError, OSError) as exc:
            seen = f"nothing answers: {exc}"
        if time.monotonic() > deadline:
            raise AssertionError(f"http://{address}/metrics has no line matching {until!r}:\n{seen}")
        time.sleep(0.3)


def sample(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{"):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_ingest_counts_readings_by_outcome_and_the_evaluator_serves_the_outbox_gauges(start_sensors, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("what is counted does not depend on the database")
    port = free_port()
    sensors = start_sensors(KOTA_SENSORS_METRICS_ADDRESS=f"127.0.0.1:{port}")
    device_id, token = sensors.provision("water_level")
    now = int(time.time() * 1000)
    request = pb.IngestReadingsRequest(sequence=1, device_id=device_id, device_token=token, series=[
        pb.Series(quantity="water_level", unit="cm", timestamps_ms=[now - 2000, now - 1000, now], values=[70.0, 71.0, -1e9])])
    [answer] = list(sensors.stub.IngestReadings(iter([request]), timeout=30))
    assert answer.accepted == 2

    text = scrape(f"127.0.0.1:{port}")
    assert sample(text, "kota_sensors_readings_total", outcome="accepted") == 2, text
    assert sample(text, "kota_sensors_readings_total", outcome="rejected", reason="out_of_range") == 1, text
    assert sample(text, "rpc_server_duration_milliseconds_count", rpc_method="IngestReadings", rpc_grpc_status_code="0") == 1
    evaluator = scrape(f"127.0.0.1:{port + 100}", until=r'^kota_outbox_backlog\{[^}]*kota_service="sensors"[^}]*\} \d')
    assert 'service_name="kota-sensors"' in evaluator
