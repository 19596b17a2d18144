"""Test helper: the gateway (or any HTTP service) started as its own OS process, healthy when a URL answers 200."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

OPEN311_KEY = "test-open311-key"


class HttpServiceProcess:
    """`python -m <module>` with `env`; `start()` returns once `health_url` answers 200."""

    def __init__(self, module: str, env: dict[str, str], base_url: str, log_path: Path, health_path: str = "/readyz"):
        from kota_common.testing import without_metrics_endpoint

        self.module, self.env, self.base_url, self.log_path = module, without_metrics_endpoint(module, env), base_url.rstrip("/"), log_path
        self.health_url = self.base_url + health_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> HttpServiceProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module], env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                with urllib.request.urlopen(self.health_url, timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"{self.module} not healthy at {self.health_url}:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_gateway(
    tmp_path, complaints_address: str, kafka_bootstrap: str, name: str = "gateway", health_path: str = "/healthz", **env
) -> HttpServiceProcess:
    from kota_common.testing import free_port

    port = free_port()
    nowhere = f"127.0.0.1:{free_port()}"  # services a test does not start are down, not someone else's
    settings = {
        "KOTA_GATEWAY_SENSORS_ADDRESS": nowhere,
        "KOTA_GATEWAY_OPENDATA_ADDRESS": nowhere,
        "KOTA_GATEWAY_MUSRENBANG_ADDRESS": nowhere,
        "KOTA_GATEWAY_COLLAB_ADDRESS": nowhere,
        "KOTA_GATEWAY_NOTIFICATIONS_ADDRESS": nowhere,
        "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "KOTA_GATEWAY_HTTP_ADDRESS": f"127.0.0.1:{port}",
        "KOTA_GATEWAY_COMPLAINTS_ADDRESS": complaints_address,
        "KOTA_GATEWAY_OPEN311_API_KEYS": OPEN311_KEY,
        "KOTA_GATEWAY_RATE_LIMIT_PER_S": "0",
        "KOTA_GATEWAY_SSE_POLL_S": "1",
        "KOTA_GATEWAY_RPC_TIMEOUT_S": "5",
    }
    settings.update(env)
    base_url = f"http://127.0.0.1:{port}"
    return HttpServiceProcess("kota_gateway", settings, base_url, tmp_path / f"{name}.log", health_path).start()
