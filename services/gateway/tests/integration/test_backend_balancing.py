"""The gateway's channel to a service balances calls over every address of its target (gRPC round_robin), so that
with two complaints replicas behind one name a replica's death leaves the calls on the other. Two real gRPC
servers on loopback stand for the replicas; which one answered shows in its health reply."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kota_common.grpc_server import build_server
from kota_gateway.adapters.backends import Backend, channel_target

pytestmark = pytest.mark.integration
SERVING = health_pb2.HealthCheckResponse.SERVING


def replica(name: str):
    """A server whose health service knows `name` only: asking for "a" tells which replica answered."""
    server, health, port = build_server("127.0.0.1:0", lambda _server: [])
    health.set(name, SERVING)
    server.start()
    return server, port


def test_a_name_is_resolved_by_dns_unless_it_names_its_resolver():
    assert channel_target("complaints:50051") == "dns:///complaints:50051"
    assert channel_target("ipv4:127.0.0.1:1,127.0.0.1:2") == "ipv4:127.0.0.1:1,127.0.0.1:2"


def test_calls_take_turns_over_every_replica_and_stay_on_the_living_one():
    (first, port_a), (second, port_b) = replica("a"), replica("b")

    async def scenario() -> tuple[int, int, list]:
        backend = Backend("complaints", f"ipv4:127.0.0.1:{port_a},127.0.0.1:{port_b}", health_pb2_grpc.HealthStub,
                          timeout=5, retries=2)
        try:
            by_a = by_b = 0
            for _ in range(20):
                try:
                    await backend.stub.Check(health_pb2.HealthCheckRequest(service="a"), timeout=5, wait_for_ready=True)
                    by_a += 1
                except grpc.aio.AioRpcError as err:
                    assert err.code() == grpc.StatusCode.NOT_FOUND, err
                    by_b += 1
            first.stop(None)  # replica a dies: the calls after it reach b, none fails
            after = [await backend.unary(backend.stub.Check, health_pb2.HealthCheckRequest(service="b"), safe=True)
                     for _ in range(10)]
            return by_a, by_b, [r.status for r in after]
        finally:
            await backend.close()

    try:
        by_a, by_b, after = asyncio.run(scenario())
    finally:
        first.stop(None)
        second.stop(None)
    assert by_a > 0 and by_b > 0, f"all 20 calls went to one replica: {by_a} answered by a, {by_b} by b"
    assert after == [SERVING] * 10, after
