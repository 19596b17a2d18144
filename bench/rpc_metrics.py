"""What the gRPC metrics interceptor (kota_common.grpc_server.MetricsInterceptor) adds to one call: CPU per call
of the interceptor's lookup plus the wrapped handler (two clock reads and a histogram record into the
OpenTelemetry SDK, read by the Prometheus reader), against the bare handler, in one process and one thread.

    .venv/bin/python bench/rpc_metrics.py [--calls 200000]
"""

from __future__ import annotations

import argparse
import time

import grpc


class Context:
    """What the wrapper asks of grpc.ServicerContext: the status code set so far (None: OK)."""

    def code(self):
        return None


class Details:
    def __init__(self, method: str):
        self.method = method


def per_call_ns(fn, calls: int, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time_ns()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time_ns() - start) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()

    from kota_common.grpc_server import MetricsInterceptor
    from kota_common.metrics import configure_metrics

    configure_metrics("kota-bench", "off")
    interceptor = MetricsInterceptor()
    request, context = object(), Context()
    handler = grpc.unary_unary_rpc_method_handler(lambda req, ctx: req)
    methods = [Details(f"/kota.complaints.v1.ComplaintsService/M{i}") for i in range(8)]  # a few series, as live
    details = methods[0]

    def continuation(_details):
        return handler

    def bare():
        return continuation(details).unary_unary(request, context)

    def intercepted():
        return interceptor.intercept_service(continuation, details).unary_unary(request, context)

    for d in methods:  # warm: every method's wrapper and series exist
        interceptor.intercept_service(continuation, d).unary_unary(request, context)
    base = per_call_ns(bare, args.calls)
    with_metrics = per_call_ns(intercepted, args.calls)
    print(f"bare handler call:              {base / 1000:6.2f} µs CPU")
    print(f"with the metrics interceptor:   {with_metrics / 1000:6.2f} µs CPU")
    print(f"interceptor cost per call:      {(with_metrics - base) / 1000:6.2f} µs CPU "
          f"({(with_metrics - base) / 9000:.2f}% of a 0.9 ms submission)")


if __name__ == "__main__":
    main()
