"""gRPC server plumbing: health (grpc.health.v1), reflection, errors with google.rpc details, and per-method
metrics (rpc.server.duration)."""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from datetime import datetime, timezone

import grpc
from google.protobuf import any_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from opentelemetry import metrics

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
    if error.reason:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=error.domain, metadata=error.metadata))
        status.details.append(detail)
    context.abort_with_status(rpc_status.to_status(status))


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """Client side: the google.rpc.ErrorInfo an error carries (its machine-readable reason), if any."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


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


# Buckets of rpc.server.duration (ms): a submission takes about a millisecond, a query tens, a stream minutes.
RPC_DURATION_BUCKETS_MS = (0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
_STATUS_CODES = {code: code.value[0] for code in grpc.StatusCode}


class MetricsInterceptor(grpc.ServerInterceptor):
    """Records every call's duration in the histogram `rpc.server.duration` (ms) with the attributes
    rpc.service, rpc.method and rpc.grpc.status_code: its count per status code gives requests and
    errors, its buckets latency (RED). Unary and streaming calls alike; a stream's duration runs until its last
    message or its cancellation. Cheap on purpose (intake serves ~1,000 calls/s per core): the wrapped handler
    and the attribute dicts are made once per method (and status code), not per call."""

    def __init__(self, meter: metrics.Meter | None = None):
        meter = meter or metrics.get_meter("kota.grpc")
        self._record = meter.create_histogram(
            "rpc.server.duration", unit="ms", description="duration of inbound gRPC calls",
            explicit_bucket_boundaries_advisory=list(RPC_DURATION_BUCKETS_MS),
        ).record
        self._handlers: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:  # no such method: gRPC answers UNIMPLEMENTED
            return None
        method = handler_call_details.method
        cached = self._handlers.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(method, handler)
        self._handlers[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        service, _, name = method.lstrip("/").rpartition("/")
        base = {"rpc.service": service, "rpc.method": name}
        by_code = {code: {**base, "rpc.grpc.status_code": number} for code, number in _STATUS_CODES.items()}
        ok, unknown = by_code[grpc.StatusCode.OK], by_code[grpc.StatusCode.UNKNOWN]
        cancelled = by_code[grpc.StatusCode.CANCELLED]
        record, clock = self._record, time.perf_counter

        def unary_response(behaviour):
            def call(request_or_iterator, context):
                start = clock()
                try:
                    response = behaviour(request_or_iterator, context)
                except BaseException:  # abort() raises too, after setting the code
                    record((clock() - start) * 1000, by_code.get(context.code(), unknown))
                    raise
                code = context.code()
                record((clock() - start) * 1000, ok if code is None else by_code.get(code, unknown))
                return response

            return call

        def stream_response(behaviour):
            def call(request_or_iterator, context) -> Iterator:
                start = clock()
                attributes = cancelled  # the client went away (the generator is closed unfinished)
                try:
                    yield from behaviour(request_or_iterator, context)
                    code = context.code()
                    if code is not None:
                        attributes = by_code.get(code, unknown)
                    elif context.is_active():  # else the client cancelled and the servicer ended the stream
                        attributes = ok
                except GeneratorExit:
                    raise
                except BaseException:
                    attributes = by_code.get(context.code(), unknown)
                    raise
                finally:
                    record((clock() - start) * 1000, attributes)

            return call

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary_response(handler.unary_unary),
                                                       handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(stream_response(handler.unary_stream),
                                                        handler.request_deserializer, handler.response_serializer)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(unary_response(handler.stream_unary),
                                                        handler.request_deserializer, handler.response_serializer)
        return grpc.stream_stream_rpc_method_handler(stream_response(handler.stream_stream),
                                                     handler.request_deserializer, handler.response_serializer)


def build_server(
    address: str,
    register: Callable[[grpc.Server], Iterable[str]],
    *,
    max_workers: int = 32,
    max_concurrent_rpcs: int | None = None,
    reuse_port: bool = False,
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.Server, health.HealthServicer, int]:
    """A server with health, reflection and per-method metrics (MetricsInterceptor). `register` adds the
    servicers and returns their full names.
    max_concurrent_rpcs: calls beyond the workers wait in line up to this many in all (default 8 per worker);
    further ones are refused with RESOURCE_EXHAUSTED rather than queued without bound.
    reuse_port: several processes of one service share the port (SO_REUSEPORT); otherwise a taken port fails.
    credentials: a TLS port (e.g. mutual TLS, requiring the client's certificate) instead of a plaintext one."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=[("grpc.so_reuseport", int(reuse_port)), ("grpc.max_receive_message_length", 8 * 1024 * 1024)],
        maximum_concurrent_rpcs=max_concurrent_rpcs or max_workers * 8,
        interceptors=[MetricsInterceptor()],
    )
    names = list(register(server))
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in names:
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection(names + [health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"cannot listen on {address}")
    return server, health_servicer, port


def set_serving(health_servicer: health.HealthServicer, names: Iterable[str], serving: bool = True) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in [*names, ""]:
        health_servicer.set(name, status)
