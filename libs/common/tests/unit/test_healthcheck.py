"""The containers' health check (`python -m kota_common.healthcheck`) against a real gRPC server and a real HTTP
server on loopback: healthy only when the server says SERVING (or 200)."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading

import pytest

from kota_common.grpc_server import build_server, set_serving
from kota_common.healthcheck import main


@pytest.fixture
def grpc_server():
    server, health, port = build_server("127.0.0.1:0", lambda _server: ["kota.test.v1.Probe"])
    server.start()
    yield health, f"127.0.0.1:{port}"
    server.stop(None)


def test_grpc_target_is_healthy_only_while_serving(grpc_server, capsys):
    health, address = grpc_server
    assert main([address]) == 1, "a server that has not set SERVING yet is not healthy"
    assert "NOT_SERVING" in capsys.readouterr().err
    set_serving(health, ["kota.test.v1.Probe"])
    assert main([address]) == 0
    assert main([address, "--service", "kota.test.v1.Probe"]) == 0
    assert main([address, "--service", "kota.test.v1.Unknown"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_nothing_listening_is_unhealthy(capsys):
    import socket

    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main([f"127.0.0.1:{port}", "--timeout", "0.5"]) == 1
    seen = capsys.readouterr().err
    assert "UNAVAILABLE" in seen or "DEADLINE_EXCEEDED" in seen, seen


def test_http_target_needs_200():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/readyz" else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert main([f"{base}/readyz"]) == 0
        assert main([f"{base}/starting"]) == 1
    finally:
        server.shutdown()


def test_runs_as_a_module_with_its_exit_code(grpc_server):
    health, address = grpc_server
    set_serving(health, ["kota.test.v1.Probe"])
    done = subprocess.run([sys.executable, "-m", "kota_common.healthcheck", address], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "healthy" in done.stdout and "SERVING" in done.stdout
