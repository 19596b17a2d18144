"""`python -m kota_common.healthcheck TARGET`: exits 0 when a Kota process answers healthy, 1 otherwise, printing
what it saw. The containers' health check (each Dockerfile's HEALTHCHECK, so compose's `depends_on: service_healthy`):
no grpc_health_probe binary is needed, only what every service image already has.

TARGET is host:port for a gRPC server (grpc.health.v1 answers SERVING for the server as a whole, or for
`--service NAME`), or an http:// URL that must answer 200 (the gateway's /readyz).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request


def check_grpc(address: str, service: str = "", timeout: float = 2.0) -> tuple[bool, str]:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                             timeout=timeout)
        except grpc.RpcError as err:
            return False, f"{address}: {err.code().name} {err.details() or ''}".rstrip()
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{address}: {status}"


def check_http(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, f"{url}: HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return False, f"{url}: HTTP {err.code}"
    except OSError as err:
        return False, f"{url}: {err}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kota_common.healthcheck", description=__doc__.split("\n")[0])
    parser.add_argument("target", help="host:port (gRPC health) or http://host:port/path (HTTP 200)")
    parser.add_argument("--service", default="", help="the gRPC service name to ask about (default: the server)")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.target.startswith(("http://", "https://")):
        ok, seen = check_http(args.target, args.timeout)
    else:
        ok, seen = check_grpc(args.target, args.service, args.timeout)
    print(("healthy " if ok else "unhealthy ") + seen, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
