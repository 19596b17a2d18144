import json
import queue
import threading
import uuid
from pathlib import Path

import grpc
import pytest

from kota.complaints.v1 import complaints_pb2_grpc as pb_grpc
from kota_common.testing import ServiceProcess, free_port, stop_all

REFERENCE = Path(__file__).resolve().parents[1] / "src" / "kota_complaints" / "reference" / "jakarta.json"


@pytest.fixture
def start_complaints(database_url, kafka_bootstrap, tmp_path):
    """Starts the complaints service as a process on a free port; returns (process, stub)."""
    started: list[ServiceProcess] = []
    channels: list[grpc.Channel] = []

    def start(reference_overrides: dict | None = None, **env) -> tuple[ServiceProcess, pb_grpc.ComplaintsServiceStub]:
        address = f"127.0.0.1:{free_port()}"
        settings = {
            "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "KOTA_COMPLAINTS_DATABASE_URL": database_url,
            "KOTA_COMPLAINTS_GRPC_ADDRESS": address,
            "KOTA_COMPLAINTS_CONSUMER_GROUP": f"test-{uuid.uuid4().hex[:8]}",
            "KOTA_LOG_LEVEL": "INFO",
        }
        if reference_overrides:
            doc = json.loads(REFERENCE.read_text())
            for category in doc["categories"]:
                category.update(reference_overrides.get(category["code"], {}))
            path = tmp_path / "reference.json"
            path.write_text(json.dumps(doc))
            settings["KOTA_COMPLAINTS_REFERENCE_FILE"] = str(path)
        settings.update(env)
        proc = ServiceProcess("kota_complaints", settings, address, tmp_path / f"complaints-{len(started)}.log").start()
        started.append(proc)
        channel = grpc.insecure_channel(address)
        channels.append(channel)
        return proc, pb_grpc.ComplaintsServiceStub(channel)

    yield start
    for c in channels:
        c.close()
    stop_all(started)


@pytest.fixture
def staff_token():
    from kota_common.auth import issue_token
    from kota_common.settings import CommonSettings

    def make(agency: str, roles=("staff",)) -> str:
        return issue_token(CommonSettings().auth_secret, "petugas-uji", agency, list(roles))

    return make


@pytest.fixture
def watch():
    """watch(stub, WatchComplaintsRequest) -> a queue of the stream's updates, pumped by a thread; every stream
    is cancelled at the end of the test."""
    streams = []

    def start(stub, request) -> queue.Queue:
        updates: queue.Queue = queue.Queue()
        stream = stub.WatchComplaints(request)
        streams.append(stream)

        def pump():
            try:
                for update in stream:
                    updates.put(update)
            except grpc.RpcError:  # cancelled at the end of the test
                pass

        threading.Thread(target=pump, daemon=True).start()
        return updates

    yield start
    for stream in streams:
        stream.cancel()
