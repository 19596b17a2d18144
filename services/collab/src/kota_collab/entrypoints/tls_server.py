"""The inter-city endpoint's server: kota_common's gRPC server (health, reflection, per-method metrics) on a
mutual-TLS port. kota_common.grpc_server.build_server binds an insecure port only; until it takes credentials,
this builds the same server with a secure one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from kota_common.grpc_server import MetricsInterceptor, set_serving


class MutualTlsGrpcServer:
    def __init__(self, address: str, register: Callable[[grpc.Server], Iterable[str]],
                 credentials: grpc.ServerCredentials, *, max_workers: int = 16, grace: float = 5.0):
        self.name = f"grpc+mtls {address}"
        self.grace = grace
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc-mtls"),
                                  maximum_concurrent_rpcs=max_workers * 8, interceptors=[MetricsInterceptor()])
        self.service_names = list(register(self.server))
        self.health = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        for name in self.service_names:
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        reflection.enable_server_reflection(self.service_names + [health.SERVICE_NAME, reflection.SERVICE_NAME], self.server)
        self.port = self.server.add_secure_port(address, credentials)
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {address}")

    def start(self) -> None:
        self.server.start()
        set_serving(self.health, self.service_names, True)

    def set_health(self, name: str, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse
        self.health.set(name, status.SERVING if serving else status.NOT_SERVING)

    def stop(self) -> None:
        set_serving(self.health, self.service_names, False)
        self.server.stop(self.grace).wait()
