"""The complaints service as a process serves Prometheus /metrics: each gRPC method's calls by status code, and
its outbox's backlog."""

import re
import urllib.request

import grpc
import pytest

from kota.complaints.v1 import complaints_pb2 as pb
from kota_common.testing import free_port

pytestmark = pytest.mark.integration


def scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def calls(text: str, method: str, code: int) -> float:
    """The count of `method`'s calls that ended with status `code`, as scraped."""
    wanted = {"rpc_service": "kota.complaints.v1.ComplaintsService", "rpc_method": method,
              "rpc_grpc_status_code": str(code)}
    for line in text.splitlines():
        if line.startswith("rpc_server_duration_milliseconds_count{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if all(labels.get(k) == v for k, v in wanted.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_service_serves_its_grpc_calls_and_outbox_at_metrics(start_complaints):
    metrics_address = f"127.0.0.1:{free_port()}"
    _proc, stub = start_complaints(KOTA_COMPLAINTS_METRICS_ADDRESS=metrics_address)
    for _ in range(2):
        assert stub.ListAgencies(pb.ListAgenciesRequest(), timeout=10).agencies
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetComplaint(pb.GetComplaintRequest(id="00000000-0000-0000-0000-000000000000"), timeout=10)
    code = missing.value.code()
    text = scrape(metrics_address)
    assert calls(text, "ListAgencies", 0) == 2, text
    assert calls(text, "GetComplaint", code.value[0]) == 1, text
    assert re.search(r'^kota_outbox_backlog\{[^}]*kota_service="complaints"[^}]*\} \d', text, re.M), text
    assert 'service_name="kota-complaints"' in text
