import random
import string
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from kota.sensors.v1 import sensors_pb2 as pb
from kota.sensors.v1 import sensors_pb2_grpc as pb_grpc
from kota_common.testing import ServiceProcess, _fresh_postgres_database, free_port, stop_all


@dataclass
class Sensors:
    process: ServiceProcess
    stub: pb_grpc.SensorsServiceStub
    http: str
    mqtt: str
    admin: list

    def provision(self, kind: str = "water_level", **fields) -> tuple[str, str]:
        """Registers a fresh device of a kind; returns (device id, token)."""
        # letters only: a hex id with a run of digits ("0845975c") reads as a phone number to the privacy scrubber,
        # and tests that find a ticket by the device id in its public description then do not find it
        device_id = fields.pop("id", f"T-{kind[:3].upper()}-{''.join(random.choices(string.ascii_lowercase, k=8))}")
        thresholds = fields.pop("thresholds", {"siaga4_max": 80, "siaga3_max": 150, "siaga2_max": 200} if kind == "water_level" else {})
        device = pb.Device(
            id=device_id, name=f"test {kind} {device_id}", kind=kind, owner_agency=fields.pop("owner_agency", "DSDA"),
            location=pb.Location(lat=-6.2094, lon=106.8500, description="test site"),
            thresholds=[pb.Threshold(name=k, value=v) for k, v in thresholds.items()], **fields,
        )
        r = self.stub.ProvisionDevice(pb.ProvisionDeviceRequest(device=device), metadata=self.admin, timeout=10)
        return device_id, r.device_token


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def start_sensors(database_url, kafka_bootstrap, tmp_path):
    """Starts the sensors service as a process on free ports (gRPC, HTTP, embedded MQTT broker)."""
    from kota_common.auth import issue_token
    from kota_common.settings import CommonSettings

    started: list[ServiceProcess] = []
    channels: list[grpc.Channel] = []

    def start(**env) -> Sensors:
        address, http, mqtt = (f"127.0.0.1:{free_port()}" for _ in range(3))
        settings = {
            "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "KOTA_SENSORS_DATABASE_URL": database_url,
            "KOTA_SENSORS_GRPC_ADDRESS": address,
            "KOTA_SENSORS_HTTP_ADDRESS": http,
            "KOTA_SENSORS_MQTT_ADDRESS": mqtt,
            "KOTA_SENSORS_CONSUMER_GROUP": f"test-{uuid.uuid4().hex[:8]}",
            "KOTA_LOG_LEVEL": "INFO",
        }
        settings.update(env)
        proc = ServiceProcess("kota_sensors", settings, address, tmp_path / f"sensors-{len(started)}.log").start()
        started.append(proc)
        channel = grpc.insecure_channel(address)
        channels.append(channel)
        admin = [("authorization", "Bearer " + issue_token(CommonSettings().auth_secret, "uji", "DSDA", ["admin"]))]
        return Sensors(proc, pb_grpc.SensorsServiceStub(channel), http, mqtt, admin)

    yield start
    for c in channels:
        c.close()
    stop_all(started)


@pytest.fixture
def other_database_url(database_url, tmp_path, request) -> str:
    """A second database of the same kind, for another service in the same test."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'other.db'}"
    return _fresh_postgres_database(request.getfixturevalue("postgres_server_url"))


@pytest.fixture
def start_complaints(other_database_url, kafka_bootstrap, tmp_path):
    """The complaints service as a process (it consumes sensors.alerts.v1 and opens incident tickets)."""
    from kota.complaints.v1 import complaints_pb2_grpc

    procs: list[ServiceProcess] = []
    channels: list[grpc.Channel] = []

    def start():
        address = f"127.0.0.1:{free_port()}"
        env = {
            "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "KOTA_COMPLAINTS_DATABASE_URL": other_database_url,
            "KOTA_COMPLAINTS_GRPC_ADDRESS": address,
            "KOTA_COMPLAINTS_CONSUMER_GROUP": f"test-{uuid.uuid4().hex[:8]}",
        }
        procs.append(ServiceProcess("kota_complaints", env, address, Path(tmp_path) / "complaints.log").start())
        channel = grpc.insecure_channel(address)
        channels.append(channel)
        return complaints_pb2_grpc.ComplaintsServiceStub(channel)

    yield start
    for c in channels:
        c.close()
    stop_all(procs)
