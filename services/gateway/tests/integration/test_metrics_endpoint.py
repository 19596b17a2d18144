"""The gateway as a process serves Prometheus /metrics: HTTP requests per route template, method and status
(opentelemetry-instrumentation-asgi's http.server.duration), and the Host header is not a label."""

import re
import urllib.request

import httpx
import pytest

from kota_common.testing import free_port
from kota_gateway.testing import start_gateway

pytestmark = pytest.mark.integration


def test_the_gateway_serves_its_requests_per_route_at_metrics(stack, tmp_path):
    metrics_address = f"127.0.0.1:{free_port()}"
    gateway = start_gateway(tmp_path, stack.complaints_address, stack.kafka_bootstrap, name="gateway-metrics",
                            KOTA_GATEWAY_METRICS_ADDRESS=metrics_address)
    try:
        with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
            for _ in range(2):
                assert client.get("/open311/v2/services.json", headers={"host": "anything.example"}).status_code == 200
            assert client.get("/open311/v2/requests/no-such-request.json").status_code == 404
        with urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        gateway.stop()

    def requests(target: str, status: int) -> float:
        wanted = {"http_method": "GET", "http_status_code": str(status), "http_target": target}
        for line in text.splitlines():
            if line.startswith("http_server_duration_milliseconds_count{"):
                labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
                if all(labels.get(k) == v for k, v in wanted.items()):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    assert requests("/open311/v2/services.{fmt}", 200) == 2, text
    assert requests("/open311/v2/requests/{service_request_id}.{fmt}", 404) == 1, text
    assert "anything.example" not in text  # client-chosen values make no series
