import pytest
from pydantic import ValidationError

from kota_complaints.config import ComplaintsSettings


def test_replicas_sharing_a_port_need_postgresql():
    with pytest.raises(ValidationError, match="needs a PostgreSQL"):
        ComplaintsSettings(grpc_reuse_port=True, database_url="sqlite:///var/complaints.db")
    settings = ComplaintsSettings(grpc_reuse_port=True, database_url="postgresql+psycopg://kota@db/kota")
    assert settings.grpc_reuse_port


def test_a_relay_process_needs_a_database_it_can_open_too():
    for in_memory in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(ValidationError, match="outbox_relay=process"):
            ComplaintsSettings(database_url=in_memory)
        assert ComplaintsSettings(database_url=in_memory, outbox_relay="thread").outbox_relay == "thread"
    assert ComplaintsSettings(database_url="sqlite:///var/complaints.db").outbox_relay == "process"
