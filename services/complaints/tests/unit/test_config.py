import pytest
from pydantic import ValidationError

from kota_complaints.config import ComplaintsSettings


def test_replicas_sharing_a_port_need_postgresql():
    with pytest.raises(ValidationError, match="needs a PostgreSQL"):
        ComplaintsSettings(grpc_reuse_port=True, database_url="sqlite:///var/complaints.db")
    settings = ComplaintsSettings(grpc_reuse_port=True, database_url="postgresql+psycopg://kota@db/kota")
    assert settings.grpc_reuse_port
