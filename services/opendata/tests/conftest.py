import json
import uuid

import grpc
import pytest
from google.protobuf import struct_pb2

from kota.complaints.v1 import complaints_pb2_grpc as complaints_grpc
from kota.opendata.v1 import opendata_pb2 as pb
from kota.opendata.v1 import opendata_pb2_grpc as pb_grpc
from kota_common import envelope
from kota_common.kafka import ensure_topics
from kota_common.testing import RecordProducer, ServiceProcess, free_port, stop_all, wait_until


@pytest.fixture
def start_opendata(database_url, kafka_bootstrap, tmp_path):
    """Starts the open data service as a process on a free port; returns (process, stub)."""
    started: list[ServiceProcess] = []
    channels: list[grpc.Channel] = []

    def start(**env) -> tuple[ServiceProcess, pb_grpc.OpenDataServiceStub]:
        address = f"127.0.0.1:{free_port()}"
        settings = {
            "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "KOTA_OPENDATA_DATABASE_URL": database_url,
            "KOTA_OPENDATA_GRPC_ADDRESS": address,
            "KOTA_OPENDATA_CONSUMER_GROUP": f"test-od-{uuid.uuid4().hex[:8]}",
            "KOTA_OPENDATA_UPDATE_EVENT_INTERVAL_S": "0",
            "KOTA_LOG_LEVEL": "INFO",
        } | env
        proc = ServiceProcess("kota_opendata", settings, address, tmp_path / f"opendata-{len(started)}.log").start()
        started.append(proc)
        channel = grpc.insecure_channel(address)
        channels.append(channel)
        return proc, pb_grpc.OpenDataServiceStub(channel)

    yield start
    for c in channels:
        c.close()
    stop_all(started)


@pytest.fixture
def start_complaints_process(kafka_bootstrap, tmp_path):
    """The complaints service as a process (its own SQLite database), as services/complaints/tests do."""
    started: list[ServiceProcess] = []
    channels: list[grpc.Channel] = []

    def start() -> tuple[ServiceProcess, complaints_grpc.ComplaintsServiceStub]:
        address = f"127.0.0.1:{free_port()}"
        settings = {
            "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "KOTA_COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp_path / 'complaints.db'}",
            "KOTA_COMPLAINTS_GRPC_ADDRESS": address,
            "KOTA_COMPLAINTS_CONSUMER_GROUP": f"test-{uuid.uuid4().hex[:8]}",
            "KOTA_COMPLAINTS_CONSUME_ALERTS": "false",
        }
        proc = ServiceProcess("kota_complaints", settings, address, tmp_path / "complaints.log").start()
        started.append(proc)
        channel = grpc.insecure_channel(address)
        channels.append(channel)
        return proc, complaints_grpc.ComplaintsServiceStub(channel)

    yield start
    for c in channels:
        c.close()
    stop_all(started)


@pytest.fixture
def publish(kafka_bootstrap):
    """Publishes well-formed CloudEvents (binary mode) the way producers do; returns the records sent."""
    producer = RecordProducer(kafka_bootstrap)
    ensured: set[str] = set()

    def send(topic: str, key: str, payload, *, event_id: str | None = None) -> envelope.Event:
        if topic not in ensured:
            ensure_topics(kafka_bootstrap, [topic])
            ensured.add(topic)
        event = envelope.Event(type=payload.ce_type, source="/kota/test", subject=key, data=payload.to_data(),
                               **({"id": event_id} if event_id else {}))
        k, value, headers = envelope.encode(event, key)
        producer.produce(topic, key=k, value=value, headers=headers)
        producer.flush()
        return event

    def send_raw(topic: str, key: bytes | None, value: bytes, headers: list) -> None:
        producer.produce(topic, key=key, value=value, headers=headers)
        producer.flush()

    send.raw = send_raw
    yield send
    producer.close()


@pytest.fixture
def staff_token():
    from kota_common.auth import issue_token
    from kota_common.settings import CommonSettings

    def make(agency: str, roles=("staff",)) -> str:
        return issue_token(CommonSettings().auth_secret, "petugas-uji", agency, list(roles))

    return make


def _query(stub, resource, filters=None, **kw) -> tuple[list[dict], pb.QueryRecordsResponse]:
    request = pb.QueryRecordsRequest(resource_id=resource, **kw)
    if filters is not None:
        s = struct_pb2.Struct()
        s.update(filters)
        request.filters.CopyFrom(s)
    resp = stub.QueryRecords(request, timeout=10)
    return json.loads(resp.records_json), resp


@pytest.fixture
def od_query():
    """od_query(stub, resource_id, filters=None, **request_fields) -> (records, response)."""
    return _query


@pytest.fixture
def eventually():
    """eventually(fn, timeout) polls fn until it returns something truthy, and fails with what it last returned."""
    return wait_until
