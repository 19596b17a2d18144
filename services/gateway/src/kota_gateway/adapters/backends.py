"""The gRPC plumbing under every typed client: one channel per service, deadlines, retries only where safe, trace
context and bearer tokens in metadata, and the one place where gRPC errors become the gateway's.

Every failure becomes ServiceUnavailable (the service is down or too slow) or RpcFailure (the service answered
with an error status, with its google.rpc BadRequest field violations if any); see adapters/errors.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import grpc
from google.rpc import error_details_pb2, status_pb2
from opentelemetry import propagate

from kota_gateway.adapters.errors import FailureCode, RpcFailure, ServiceUnavailable

log = logging.getLogger(__name__)

_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})
_DOWN = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_CODES = {status: FailureCode[status.name] for status in grpc.StatusCode if status.name in FailureCode.__members__}


def violations_of(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """The BadRequest field violations carried in the error's `grpc-status-details-bin` trailer."""
    found: list[tuple[str, str]] = []
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except Exception:  # a malformed trailer is not worth failing the request over
            return found
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                found += [(v.field, v.description) for v in bad.field_violations]
    return found


def failure_of(service: str, error: grpc.aio.AioRpcError) -> RpcFailure:
    code = error.code()
    return RpcFailure(service, _CODES.get(code, FailureCode.INTERNAL), error.details() or code.name, violations_of(error))


def outgoing_metadata(token: str | None = None) -> tuple[tuple[str, str], ...]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)  # W3C traceparent of the current (gateway server) span
    md = [(k.lower(), v) for k, v in carrier.items()]
    if token:
        md.append(("authorization", f"Bearer {token}"))
    return tuple(md)


def channel_target(address: str) -> str:
    """The gRPC target for a configured host:port: resolved by DNS (every A/AAAA record, not only the first) unless
    it already names its resolver (dns:, ipv4:, ipv6:, unix:)."""
    if address.startswith(("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:")):
        return address
    return f"dns:///{address}"


class Backend:
    """One service's gRPC channel (grpc.aio) and stub, created inside the running event loop. The typed clients
    (ComplaintsClient, SensorsClient, OpenDataClient) call through it; nothing else touches grpc."""

    def __init__(self, name: str, address: str, stub_class, timeout: float, retries: int):
        self.name, self.address, self.timeout, self.retries = name, address, timeout, retries
        self.channel = grpc.aio.insecure_channel(
            channel_target(address),
            options=[
                # Every address the name resolves to gets a connection and calls take turns over them: with two
                # complaints replicas behind one DNS name (compose's service name, a headless Service), the death of
                # one leaves calls on the other instead of on a dead connection. The name is resolved again when a
                # connection fails, at most every 5 s, so replicas that come later join.
                ("grpc.lb_policy_name", "round_robin"),
                ("grpc.dns_min_time_between_resolutions_ms", 5_000),
                ("grpc.max_receive_message_length", 32 * 1024 * 1024),
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 2_000),
            ],
        )
        self.stub = stub_class(self.channel)
        self._cache: dict[tuple[int, bytes], tuple[float, object]] = {}

    async def unary(self, rpc, request, *, safe: bool, token: str | None = None, timeout: float | None = None):
        """A unary call of `rpc` (a method of self.stub). `safe`: repeating it cannot change anything twice
        (reads, or writes with an idempotency key)."""
        attempts = 1 + (self.retries if safe else 0)
        for attempt in range(attempts):
            try:
                return await rpc(request, timeout=timeout or self.timeout, metadata=outgoing_metadata(token))
            except grpc.aio.AioRpcError as err:
                code = err.code()
                if code in _RETRYABLE and attempt + 1 < attempts:
                    await asyncio.sleep(0.05 * 2**attempt)
                    continue
                if code in _DOWN:
                    log.warning("a call to %s failed: %s", self.name, code.name)
                    raise ServiceUnavailable(self.name, code.name.lower()) from None
                raise failure_of(self.name, err) from None
        raise AssertionError("unreachable")

    async def cached(self, rpc, request, ttl: float = 10.0):
        """A safe, public, rarely changing read (categories, agencies) answered from memory for `ttl` seconds."""
        key = (id(rpc), request.SerializeToString())
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        reply = await self.unary(rpc, request, safe=True)
        self._cache[key] = (now, reply)
        return reply

    async def stream(self, rpc, request, *, token: str | None = None) -> AsyncIterator:
        """A server stream of `rpc` without a deadline; the caller cancels it. Errors as in `unary`."""
        call = rpc(request, metadata=outgoing_metadata(token))
        try:
            async for item in call:
                yield item
        except grpc.aio.AioRpcError as err:
            code = err.code()
            if code in _DOWN:
                raise ServiceUnavailable(self.name, code.name.lower()) from None
            if code == grpc.StatusCode.CANCELLED:
                return
            raise failure_of(self.name, err) from None
        finally:
            call.cancel()

    async def healthy(self, timeout: float = 1.0) -> bool:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        try:
            reply = await health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    async def close(self) -> None:
        await self.channel.close()
