"""gRPC server plumbing: health (grpc.health.v1), reflection, and errors with google.rpc details."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from concurrent import futures
from datetime import datetime, timezone

import grpc
from google.protobuf import any_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from kota_common.errors import FailedPrecondition, ServiceError

log = logging.getLogger(__name__)

_RPC_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: code_pb2.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND: code_pb2.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION: code_pb2.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED: code_pb2.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED: code_pb2.UNAUTHENTICATED,
}


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def timestamp(value: datetime | None) -> Timestamp | None:
    """A datetime as a protobuf Timestamp (a naive one taken as UTC, as Kota stores them); None stays unset.
    Built from its offset to the epoch: Timestamp.FromDatetime is pure Python, a few times slower, and a
    complaint's view carries half a dozen."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    since_epoch = value - _EPOCH
    return Timestamp(seconds=since_epoch.days * 86_400 + since_epoch.seconds, nanos=since_epoch.microseconds * 1000)


def abort_with(context: grpc.ServicerContext, error: ServiceError):
    """Aborts the call with the error's code; field violations travel as google.rpc.BadRequest details."""
    status = status_pb2.Status(code=_RPC_CODES.get(error.code, code_pb2.UNKNOWN), message=error.message)
    if error.violations:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in error.violations
                ]
            )
        )
        status.details.append(detail)
    elif isinstance(error, FailedPrecondition):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.PreconditionFailure(
                violations=[error_details_pb2.PreconditionFailure.Violation(type="STATE", description=error.message)]
            )
        )
        status.details.append(detail)
    context.abort_with_status(rpc_status.to_status(status))


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """Client side: the BadRequest field violations carried by an error, if any."""
    status = rpc_status.from_call(error)
    found: list[tuple[str, str]] = []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [(v.field, v.description) for v in bad.field_violations]
    return found


def translate_errors(method: Callable) -> Callable:
    """Decorates a servicer method (unary or server-streaming) so that a ServiceError becomes the right status
    with details, and anything unexpected becomes INTERNAL: details stay in the log (with the trace id), the
    caller gets no internals."""

    def fail(context, exc: Exception):
        if isinstance(exc, ServiceError):
            abort_with(context, exc)
        log.exception("%s failed", method.__name__)
        context.abort(grpc.StatusCode.INTERNAL, "internal error; it has been logged")

    if inspect.isgeneratorfunction(method):

        def stream_wrapper(self, request, context):
            try:
                yield from method(self, request, context)
            except Exception as exc:
                fail(context, exc)

        wrapper = stream_wrapper
    else:

        def unary_wrapper(self, request, context):
            try:
                return method(self, request, context)
            except Exception as exc:
                fail(context, exc)

        wrapper = unary_wrapper
    return functools.wraps(method)(wrapper)


def build_server(
    address: str,
    register: Callable[[grpc.Server], Iterable[str]],
    *,
    max_workers: int = 32,
    max_concurrent_rpcs: int | None = None,
    reuse_port: bool = False,
) -> tuple[grpc.Server, health.HealthServicer, int]:
    """A server with health and reflection. `register` adds the servicers and returns their full names.
    max_concurrent_rpcs: calls beyond the workers wait in line up to this many in all (default 8 per worker);
    further ones are refused with RESOURCE_EXHAUSTED rather than queued without bound.
    reuse_port: several processes of one service share the port (SO_REUSEPORT); otherwise a taken port fails."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=[("grpc.so_reuseport", int(reuse_port)), ("grpc.max_receive_message_length", 8 * 1024 * 1024)],
        maximum_concurrent_rpcs=max_concurrent_rpcs or max_workers * 8,
    )
    names = list(register(server))
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in names:
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection(names + [health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"cannot listen on {address}")
    return server, health_servicer, port


def set_serving(health_servicer: health.HealthServicer, names: Iterable[str], serving: bool = True) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in [*names, ""]:
        health_servicer.set(name, status)
