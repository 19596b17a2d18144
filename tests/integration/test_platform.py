"""`kota up` (what ./scripts/run calls): every service as its own process, healthy, demo data seeded, clean stop."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest

from kota.complaints.v1 import complaints_pb2 as pb
from kota.complaints.v1 import complaints_pb2_grpc as pb_grpc
from kota.musrenbang.v1 import musrenbang_pb2 as mb
from kota.musrenbang.v1 import musrenbang_pb2_grpc as mb_grpc
from kota_common.registration import installed_services
from kota_common.testing import free_port
from kota_gateway.domain.sensorthings import MQTT_CONFORMANCE

pytestmark = pytest.mark.integration
SERVICES = installed_services()


async def subscribed(endpoint: str, topic: str) -> bool:
    """Whether the broker at `endpoint` grants an anonymous client's subscription to `topic`."""
    from amqtt.client import MQTTClient

    client = MQTTClient(client_id=f"sta-{os.getpid()}", config={"auto_reconnect": False})
    await client.connect(endpoint + "/")
    try:
        return_codes = await client.subscribe([(topic, 0)])
    finally:
        await client.disconnect()
    return return_codes == [0]


def test_kota_up_starts_every_service_and_seeds_demo_data(kafka_bootstrap, tmp_path):
    env = {**os.environ, "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap, "KOTA_LOG_JSON": "true"}
    addresses = {}
    for spec in SERVICES:
        addresses[spec.name] = f"127.0.0.1:{free_port()}"
        env[spec.address_env] = addresses[spec.name]
        env[spec.metrics_env] = f"127.0.0.1:{free_port()}"  # not the defaults (9100...), maybe taken here
    # the other listeners services open (sensors' device HTTP ingest and MQTT broker)
    env["KOTA_SENSORS_HTTP_ADDRESS"] = f"127.0.0.1:{free_port()}"
    env["KOTA_SENSORS_MQTT_ADDRESS"] = f"127.0.0.1:{free_port()}"
    env["KOTA_COLLAB_FEDERATION_ADDRESS"] = f"127.0.0.1:{free_port()}"
    env["KOTA_NOTIFICATIONS_SMTP_INTAKE_ADDRESS"] = f"127.0.0.1:{free_port()}"
    out = open(tmp_path / "up.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kota_cli", "up", "--var-dir", str(tmp_path / "var"), "--no-simulate"],
        env=env, stdout=out, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while b"Kota is up" not in (tmp_path / "up.log").read_bytes():
            assert proc.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.5)
        log = (tmp_path / "up.log").read_text()
        assert "NOT SERVING" not in log, log
        for spec in SERVICES:  # each one's metrics address is printed, and answers
            metrics_url = f"http://{env[spec.metrics_env]}/metrics"
            assert metrics_url in log, log
            with urllib.request.urlopen(metrics_url, timeout=10) as response:
                assert b"target_info{" in response.read()
        with grpc.insecure_channel(addresses["complaints"]) as channel:
            stub = pb_grpc.ComplaintsServiceStub(channel)
            assert stub.ListComplaints(pb.ListComplaintsRequest(page_size=1), timeout=10).total_size >= 10
            assert len(stub.ListAgencies(pb.ListAgenciesRequest(), timeout=10).agencies) >= 10
        with grpc.insecure_channel(addresses["musrenbang"]) as channel:  # the portal's Musrenbang pages are alive
            musrenbang = mb_grpc.MusrenbangServiceStub(channel)
            proposals = musrenbang.ListProposals(mb.ListProposalsRequest(order_by="supports"), timeout=10).proposals
            assert len(proposals) >= 4 and proposals[0].support_count > 0
        # SensorThings clients are told where to subscribe (the MQTT extension): the sensors service's broker,
        # which takes a subscriber without credentials to the v1.1/ topics
        with urllib.request.urlopen(f"http://{addresses['gateway']}/sta/v1.1", timeout=10) as response:
            settings = json.loads(response.read())["serverSettings"]
        assert MQTT_CONFORMANCE in settings["conformance"], settings
        assert settings[MQTT_CONFORMANCE]["endpoints"] == [f"mqtt://{env['KOTA_SENSORS_MQTT_ADDRESS']}"], settings
        assert asyncio.run(subscribed(settings[MQTT_CONFORMANCE]["endpoints"][0], "v1.1/Observations"))
        # outgoing messages stay on the machine: notifications' local sink runs beside it
        assert (tmp_path / "var" / "outbox" / "mail").is_dir(), log
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert proc.returncode == 0, (tmp_path / "up.log").read_text()
