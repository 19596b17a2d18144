"""Metrics: one OpenTelemetry meter provider a process, read through Prometheus (prometheus_client's registry
and the /metrics endpoint); gRPC calls per method and status code; the outbox gauges."""

import re
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import generate_latest
from sqlalchemy import insert, update

from kota_common.grpc_server import build_server
from kota_common.metrics import configure_metrics, observe_outbox, serve_metrics
from kota_common.outbox import OutboxMessage
from kota_common.testing import free_port


@pytest.fixture(scope="module", autouse=True)
def provider():
    configure_metrics("kota-test", "off")  # once a process: a no-op if another test module did it first


def sample(name: str, **labels) -> float:
    """The value of one Prometheus sample as scraped now (0 if absent): `name` with at least `labels`."""
    total = 0.0
    for line in generate_latest().decode().splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == str(v) for k, v in labels.items()):
            total += float(match.group(3))
    return total


def test_a_second_configuration_changes_nothing():
    assert configure_metrics("kota-other", "off") is None
    assert isinstance(metrics.get_meter_provider(), MeterProvider)


def test_the_endpoint_serves_what_the_instruments_counted():
    counter = metrics.get_meter("kota.test").create_counter("kota.test.served", unit="{thing}")
    counter.add(3, {"kind": "endpoint"})
    address = f"127.0.0.1:{free_port()}"
    server = serve_metrics(address)
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert re.search(r'^kota_test_served_total\{[^}]*kind="endpoint"[^}]*\} 3\.0$', text, re.M), text
    # target_info: the resource of whichever test configured the process's provider first
    assert re.search(r'^target_info\{[^}]*service_name="kota-[^"]+"', text, re.M), text


def test_off_and_empty_serve_nothing():
    assert serve_metrics("off") is None and serve_metrics("") is None and serve_metrics(None) is None


def test_a_taken_port_stops_the_process_with_the_address():
    address = f"127.0.0.1:{free_port()}"
    server = serve_metrics(address)
    try:
        with pytest.raises(RuntimeError, match=address):
            serve_metrics(address)
    finally:
        server.shutdown()
        server.server_close()


def _echo_handlers():
    """A service of raw bytes: Echo (unary), Fail (raises: UNKNOWN to the caller), Count (a stream of 3)."""

    def fail(_request, _context):
        raise ValueError("broken on purpose")

    def count(request, _context):
        yield from (request for _ in range(3))

    return grpc.method_handlers_generic_handler("kota.test.v1.Echo", {
        "Echo": grpc.unary_unary_rpc_method_handler(lambda request, _context: request),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Count": grpc.unary_stream_rpc_method_handler(count),
    })


@pytest.fixture
def server_channel():
    def register(server):
        server.add_generic_rpc_handlers((_echo_handlers(),))
        return ["kota.test.v1.Known"]

    server, health, port = build_server("127.0.0.1:0", register)
    health.set("kota.test.v1.Known", health_pb2.HealthCheckResponse.SERVING)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield channel
    channel.close()
    server.stop(0)


CALLS = "rpc_server_duration_milliseconds_count"
HEALTH = "grpc.health.v1.Health"
ECHO = "kota.test.v1.Echo"


def calls(service: str, method: str, code: grpc.StatusCode) -> float:
    return sample(CALLS, rpc_service=service, rpc_method=method, rpc_grpc_status_code=code.value[0])


def test_each_grpc_call_is_counted_by_method_and_status_code(server_channel):
    codes = grpc.StatusCode
    before = {(m, c): calls(s, m, c) for s, m, c in [(HEALTH, "Check", codes.OK), (HEALTH, "Check", codes.NOT_FOUND),
                                                    (ECHO, "Echo", codes.OK), (ECHO, "Fail", codes.UNKNOWN),
                                                    (ECHO, "Count", codes.OK)]}
    health = health_pb2_grpc.HealthStub(server_channel)
    for _ in range(3):
        health.Check(health_pb2.HealthCheckRequest(service="kota.test.v1.Known"), timeout=5)
    with pytest.raises(grpc.RpcError) as refused:  # the servicer aborts
        health.Check(health_pb2.HealthCheckRequest(service="kota.test.v1.Unknown"), timeout=5)
    assert refused.value.code() == codes.NOT_FOUND
    assert server_channel.unary_unary(f"/{ECHO}/Echo")(b"hi", timeout=5) == b"hi"
    with pytest.raises(grpc.RpcError) as failed:  # the servicer raises
        server_channel.unary_unary(f"/{ECHO}/Fail")(b"hi", timeout=5)
    assert failed.value.code() == codes.UNKNOWN
    assert list(server_channel.unary_stream(f"/{ECHO}/Count")(b"n", timeout=5)) == [b"n"] * 3

    assert calls(HEALTH, "Check", codes.OK) - before["Check", codes.OK] == 3
    assert calls(HEALTH, "Check", codes.NOT_FOUND) - before["Check", codes.NOT_FOUND] == 1
    assert calls(ECHO, "Echo", codes.OK) - before["Echo", codes.OK] == 1
    assert calls(ECHO, "Fail", codes.UNKNOWN) - before["Fail", codes.UNKNOWN] == 1
    assert calls(ECHO, "Count", codes.OK) - before["Count", codes.OK] == 1
    text = generate_latest().decode()
    assert re.search(r'^rpc_server_duration_milliseconds_bucket\{[^}]*le="0.5"[^}]*rpc_method="Echo"', text, re.M)


def test_a_stream_the_client_cancels_is_counted_as_cancelled(server_channel):
    before = calls(HEALTH, "Watch", grpc.StatusCode.CANCELLED)
    stream = health_pb2_grpc.HealthStub(server_channel).Watch(health_pb2.HealthCheckRequest(service="kota.test.v1.Known"))
    assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
    stream.cancel()
    deadline = time.monotonic() + 10  # the server sees the cancellation on its own thread
    while calls(HEALTH, "Watch", grpc.StatusCode.CANCELLED) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    watch = [line for line in generate_latest().decode().splitlines() if CALLS in line and "Watch" in line]
    assert calls(HEALTH, "Watch", grpc.StatusCode.CANCELLED) - before == 1, watch


def test_the_outbox_gauges_count_unpublished_rows_and_the_oldest_ones_age(tmp_path):
    from kota_common.db.engines import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    OutboxMessage.__table__.create(engine)
    observe_outbox(engine, "outbox-test")
    assert sample("kota_outbox_backlog", kota_service="outbox-test") == 0
    assert sample("kota_outbox_oldest_age_seconds", kota_service="outbox-test") == 0
    now = datetime.now(timezone.utc)
    rows = [{"event_id": f"e{i}", "topic": "t", "key": "k", "ce_type": "x", "headers": "[]", "payload": b"{}",
             "created_at": now - timedelta(minutes=10 - i)} for i in range(3)]
    with engine.begin() as conn:
        conn.execute(insert(OutboxMessage.__table__), rows)
        conn.execute(update(OutboxMessage.__table__).where(OutboxMessage.__table__.c.event_id == "e0")
                     .values(published_at=now))
    assert sample("kota_outbox_backlog", kota_service="outbox-test") == 2
    # the oldest unpublished row (e1) was staged nine minutes before `now`
    assert 9 * 60 <= sample("kota_outbox_oldest_age_seconds", kota_service="outbox-test") < 10 * 60
    engine.dispose()
