"""`kota up --with-partner`: the platform and a second city (Makassar: its own collab service, database and
certificate from the same development CA) federated with the first, a proposal converging in both registries, and
everything stopped by Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import grpc
import pytest

from kota.collab.v1 import collab_pb2 as pb
from kota.collab.v1 import collab_pb2_grpc as pb_grpc
from kota_common.auth import issue_token
from kota_common.registration import installed_services
from kota_common.testing import free_port

pytestmark = pytest.mark.integration
SECRET = "up-with-partner-secret-0123456789-abcdef"


def _listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.timeout(900)  # every service starts, on a machine shared with other test runs
def test_kota_up_with_partner_starts_a_second_city_and_a_proposal_converges(kafka_bootstrap, tmp_path):
    env = {**os.environ, "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap, "KOTA_AUTH_SECRET": SECRET,
           "KOTA_COLLAB_TLS_DIR": str(tmp_path / "certs"), "COLUMNS": "200"}
    addresses = {}
    for spec in installed_services():  # free ports for everything `kota up` opens, as tests/integration/test_platform.py
        addresses[spec.name] = f"127.0.0.1:{free_port()}"
        env[spec.address_env] = addresses[spec.name]
        env[spec.metrics_env] = "off"
    for name in ("KOTA_SENSORS_HTTP_ADDRESS", "KOTA_SENSORS_MQTT_ADDRESS", "KOTA_COLLAB_FEDERATION_ADDRESS",
                 "KOTA_NOTIFICATIONS_SMTP_INTAKE_ADDRESS"):
        env[name] = f"127.0.0.1:{free_port()}"
    partner_staff, partner_federation = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kota_cli", "up", "--var-dir", str(tmp_path / "var"), "--no-simulate", "--no-demo",
             "--with-partner", "--partner-address", partner_staff, "--partner-federation-address", partner_federation],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600  # each service may take `kota up`'s full 60 s wait here
        while b"Kota is up" not in log_path.read_bytes():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)
        log = log_path.read_text()
        # (on a loaded machine another service may be slower to serve than `kota up` waits: not this test's point)
        status = {line.split()[0]: line for line in log.splitlines() if line.startswith("  ") and line.split()}
        assert " SERVING" in status["collab"] and "NOT SERVING" not in status["collab"], log
        assert " SERVING" in status["partner"] and "NOT SERVING" not in status["partner"], log
        assert "gave up" not in log, log
        flat = " ".join(log.split())  # (the console wraps long lines)
        assert "issued makassar" in flat and "both registries hold: 1. jakarta proposed, 2. makassar negotiating" in flat, log
        assert (tmp_path / "certs" / "makassar.pem").exists() and (tmp_path / "var" / "collab-makassar.db").exists()

        admin = [("authorization", f"Bearer {issue_token(SECRET, 'uji', '', ['admin'])}")]
        with grpc.insecure_channel(addresses["collab"]) as a, grpc.insecure_channel(partner_staff) as b:
            jakarta, makassar = pb_grpc.CollabServiceStub(a), pb_grpc.CollabServiceStub(b)
            home = next(c for c in makassar.ListCities(pb.ListCitiesRequest(), metadata=admin, timeout=10).cities if c.home)
            assert (home.id, home.endpoint, round(home.latitude, 2)) == ("makassar", partner_federation, -5.15)
            known = {c.id: c for c in jakarta.ListCities(pb.ListCitiesRequest(), metadata=admin, timeout=10).cities}
            assert known["makassar"].endpoint == partner_federation  # federated: Jakarta calls it over mutual TLS
            ours = jakarta.ListPartnerships(pb.ListPartnershipsRequest(city_id="makassar"), metadata=admin, timeout=10)
            theirs = makassar.ListPartnerships(pb.ListPartnershipsRequest(city_id="jakarta"), metadata=admin, timeout=10)
            assert [p.id for p in ours.partnerships] == [p.id for p in theirs.partnerships] and len(ours.partnerships) == 1
            assert [(h.seq, h.status, h.city_id) for h in theirs.partnerships[0].history] == [
                (1, "proposed", "jakarta"), (2, "negotiating", "makassar")]
            assert not ours.partnerships[0].sync_pending and ours.partnerships[0].federated
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(90)
    assert proc.returncode == 0, log_path.read_text()
    assert not _listening(partner_staff), "the partner city's collab service outlived `kota up`"
