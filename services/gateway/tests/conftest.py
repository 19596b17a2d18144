"""The gateway's tests run through the real stack: broker, the complaints service and the gateway as processes."""

import uuid
from dataclasses import dataclass

import httpx
import pytest

from kota_common.testing import ServiceProcess, free_port
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
