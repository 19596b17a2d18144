"""The gateway's tests run through the real stack: broker, the complaints service and the gateway as processes."""

import os
import shutil
import time
import uuid
from dataclasses import dataclass

import grpc
import httpx
import pytest

from kota_common.auth import issue_token
from kota_common.settings import CommonSettings
from kota_common.testing import ServiceProcess, free_port, start_all, stop_all
from kota_gateway.testing import HttpServiceProcess, start_gateway


@dataclass
class Stack:
    base_url: str
    complaints_address: str
    gateway: HttpServiceProcess
    complaints: ServiceProcess
    kafka_bootstrap: str

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)


@pytest.fixture(scope="session")
def stack(kafka_bootstrap, tmp_path_factory):
    """Complaints (SQLite; the gateway owns no data, so the database kind does not matter here) and the gateway."""
    tmp = tmp_path_factory.mktemp("gateway-stack")
    address = f"127.0.0.1:{free_port()}"
    complaints = ServiceProcess(
        "kota_complaints",
        {
            "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "KOTA_COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp / 'complaints.db'}",
            "KOTA_COMPLAINTS_GRPC_ADDRESS": address,
            "KOTA_COMPLAINTS_CONSUMER_GROUP": f"test-{uuid.uuid4().hex[:8]}",
        },
        address,
        tmp / "complaints.log",
    ).start()
    gateway = None
    try:
        gateway = start_gateway(tmp, address, kafka_bootstrap, health_path="/readyz")
        yield Stack(gateway.base_url, address, gateway, complaints, kafka_bootstrap)
    finally:
        if gateway:
            gateway.stop()
        complaints.stop()


def _service(module: str, env: dict, tmp, name: str) -> ServiceProcess:
    """The service as a process, not started yet."""
    address = f"127.0.0.1:{free_port()}"
    prefix = f"KOTA_{name.upper()}_"
    settings = {prefix + "GRPC_ADDRESS": address, prefix + "DATABASE_URL": f"sqlite:///{tmp / (name + '.db')}",
                prefix + "CONSUMER_GROUP": f"test-{name}-{uuid.uuid4().hex[:8]}", **env}
    return ServiceProcess(module, settings, address, tmp / f"{name}.log")


def ingest_demo_readings(address: str) -> None:
    """Three minutes of PM2.5 at DKI1, water levels at Katulampa and one bus position, through IngestReadings."""
    from kota.sensors.v1 import sensors_pb2 as pb
    from kota.sensors.v1 import sensors_pb2_grpc as pb_grpc

    now = int(time.time() * 1000)
    admin = issue_token(CommonSettings().auth_secret, "test", "DLH", ["admin"])
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.SensorsServiceStub(channel)

        def credential(device_id):
            return stub.IssueDeviceCredential(pb.IssueDeviceCredentialRequest(device_id=device_id),
                                              metadata=[("authorization", f"Bearer {admin}")], timeout=10).device_token

        minutes = [now - (3 - i) * 60_000 for i in range(3)]
        batches = [
            pb.IngestReadingsRequest(sequence=1, device_id="DKI1", device_token=credential("DKI1"), series=[
                pb.Series(quantity="pm25", unit="ug/m3", timestamps_ms=minutes, values=[20.0, 35.0, 60.0])]),
            pb.IngestReadingsRequest(sequence=2, device_id="KATULAMPA", device_token=credential("KATULAMPA"), series=[
                pb.Series(quantity="water_level", unit="cm", timestamps_ms=minutes, values=[70.0, 120.0, 170.0])]),
            pb.IngestReadingsRequest(sequence=3, device_id="TJ-1-001", device_token=credential("TJ-1-001"),
                                     positions=pb.PositionSeries(route_id="1", timestamps_ms=[now - 1000], lats=[-6.2],
                                                                 lons=[106.82], bearings=[90.0], speeds_kmh=[36.0])),
        ]
        answers = list(stub.IngestReadings(iter(batches), timeout=30))
        assert [a.accepted for a in answers] == [3, 3, 1], answers
        deadline = time.monotonic() + 60  # the observation store consumes the readings topic
        while time.monotonic() < deadline:
            got = stub.ListObservations(pb.ListObservationsRequest(device_id="KATULAMPA"), timeout=5).observations
            if len(got) == 3 and stub.ListVehiclePositions(pb.ListVehiclePositionsRequest(), timeout=5).positions:
                return
            time.sleep(0.5)
        raise TimeoutError("readings did not reach the observation store")


@pytest.fixture(scope="session")
def full_stack(stack, tmp_path_factory):
    """A gateway over complaints, opendata and sensors, each a process, with a few sensor readings ingested."""
    tmp = tmp_path_factory.mktemp("full-stack")
    broker = {"KOTA_KAFKA_BOOTSTRAP": stack.kafka_bootstrap}
    opendata = _service("kota_opendata", {**broker, "KOTA_OPENDATA_UPDATE_EVENT_INTERVAL_S": "0"}, tmp, "opendata")
    sensors = _service("kota_sensors", {**broker, "KOTA_SENSORS_HTTP_ENABLED": "false",
                                        "KOTA_SENSORS_MQTT_ENABLED": "false"}, tmp, "sensors")
    started = start_all([opendata, sensors])
    gateway = None
    try:
        ingest_demo_readings(sensors.address)
        gateway = start_gateway(tmp, stack.complaints_address, stack.kafka_bootstrap, name="gateway-full",
                                health_path="/readyz", KOTA_GATEWAY_OPENDATA_ADDRESS=opendata.address,
                                KOTA_GATEWAY_SENSORS_ADDRESS=sensors.address)
        yield Stack(gateway.base_url, stack.complaints_address, gateway, stack.complaints, stack.kafka_bootstrap)
    finally:
        if gateway:
            gateway.stop()
        stop_all(started)


CHROMIUM = os.environ.get("KOTA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (never a downloaded browser); skipped where there is none."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def client(stack):
    with stack.client() as c:
        yield c


@pytest.fixture
def staff_token():
    from kota_common.auth import issue_token
    from kota_common.settings import CommonSettings

    def make(agency: str, roles=("staff",)) -> str:
        return issue_token(CommonSettings().auth_secret, "petugas-uji", agency, list(roles))

    return make
