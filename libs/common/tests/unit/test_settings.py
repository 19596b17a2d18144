import os
import ssl

import pytest
from pydantic import ValidationError

from kota_common.settings import CommonSettings


def test_cpu_affinity_names_cpus_of_this_machine():
    assert CommonSettings(cpu_affinity={0}).cpu_affinity == {0}
    with pytest.raises(ValidationError, match="no such CPU"):
        CommonSettings(cpu_affinity={os.cpu_count()})


def test_cpu_affinity_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("KOTA_CPU_AFFINITY", "[0]")
    assert CommonSettings().cpu_affinity == {0}


def test_the_placeholder_secret_is_refused(monkeypatch):
    monkeypatch.setenv("KOTA_AUTH_SECRET", "REPLACE-ME-with-a-long-random-secret")
    with pytest.raises(ValidationError, match="placeholder"):
        CommonSettings()
    monkeypatch.setenv("KOTA_AUTH_SECRET", "8c1f0a9e4b7d2c6f5a3e1b0d9c8f7a6e")
    assert CommonSettings().auth_secret.startswith("8c1f")


def test_the_replication_factor_is_bounded(monkeypatch):
    monkeypatch.setenv("KOTA_KAFKA_REPLICATION_FACTOR", "3")
    assert CommonSettings().kafka_replication_factor == 3
    monkeypatch.setenv("KOTA_KAFKA_REPLICATION_FACTOR", "0")
    with pytest.raises(ValidationError):
        CommonSettings()


def test_a_bad_shared_setting_is_named_as_the_operator_set_it_and_secrets_are_not_echoed(monkeypatch, capsys):
    from pydantic import Field
    from pydantic_settings import BaseSettings, SettingsConfigDict

    from kota_common.settings import load_settings

    class DemoSettings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="KOTA_DEMO_")
        common: CommonSettings = Field(default_factory=CommonSettings)

    monkeypatch.setenv("KOTA_LOG_LEVEL", "info")
    with pytest.raises(SystemExit):
        load_settings(DemoSettings)
    assert "  KOTA_LOG_LEVEL:" in capsys.readouterr().err
    monkeypatch.delenv("KOTA_LOG_LEVEL")
    monkeypatch.setenv("KOTA_AUTH_SECRET", "too-short")
    with pytest.raises(SystemExit):
        load_settings(DemoSettings)
    err = capsys.readouterr().err
    assert "KOTA_AUTH_SECRET" in err and "too-short" not in err


def test_a_backend_address_is_its_own_variable_else_the_variable_the_service_listens_on(monkeypatch):
    from pydantic_settings import BaseSettings, SettingsConfigDict

    from kota_common.settings import backend_address_field

    class Caller(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="KOTA_CALLER_")
        complaints_address: str = backend_address_field("127.0.0.1:50051", "KOTA_CALLER_COMPLAINTS_ADDRESS",
                                                        "KOTA_COMPLAINTS_GRPC_ADDRESS")

    assert Caller().complaints_address == "127.0.0.1:50051"
    monkeypatch.setenv("KOTA_COMPLAINTS_GRPC_ADDRESS", "10.0.0.5:6000")  # where `kota up` put complaints
    assert Caller().complaints_address == "10.0.0.5:6000"
    monkeypatch.setenv("KOTA_CALLER_COMPLAINTS_ADDRESS", "complaints:50051")
    assert Caller().complaints_address == "complaints:50051"


def test_kafka_credentials_must_be_complete_and_their_files_present(tmp_path, monkeypatch):
    cert, key = tmp_path / "user.crt", tmp_path / "user.key"
    cert.write_text("x")
    key.write_text("x")
    refused = [
        ({"KOTA_KAFKA_SECURITY_PROTOCOL": "SSL", "KOTA_KAFKA_SSL_CERTFILE": str(cert)}, "go together"),
        ({"KOTA_KAFKA_SSL_CAFILE": str(cert)}, "no TLS would be used"),
        ({"KOTA_KAFKA_SECURITY_PROTOCOL": "SSL", "KOTA_KAFKA_SSL_CAFILE": str(tmp_path / "nope.pem")}, "no file"),
        ({"KOTA_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KOTA_KAFKA_SASL_USERNAME": "complaints"}, "needs"),
        ({"KOTA_KAFKA_SASL_USERNAME": "complaints", "KOTA_KAFKA_SASL_PASSWORD": "p"}, "not SASL_"),
        ({"KOTA_KAFKA_SECURITY_PROTOCOL": "TLS"}, "PLAINTEXT"),
    ]
    for env, why in refused:
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            with pytest.raises(ValidationError, match=why):
                CommonSettings()


def test_kafka_credentials_reach_every_client_library_in_its_own_terms(tmp_path, monkeypatch):
    from faststream.security import BaseSecurity, SASLScram512

    from kota_common.kafka import client_security, faststream_security, rdkafka_security

    assert client_security() == {} and faststream_security() is None
    assert rdkafka_security() == {"security.protocol": "plaintext"}
    monkeypatch.setenv("KOTA_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KOTA_KAFKA_SASL_USERNAME", "complaints")
    monkeypatch.setenv("KOTA_KAFKA_SASL_PASSWORD", "s3cret-from-the-kafkauser")
    aiokafka = client_security()
    assert aiokafka["security_protocol"] == "SASL_SSL" and aiokafka["sasl_mechanism"] == "SCRAM-SHA-512"
    assert aiokafka["ssl_context"].verify_mode == ssl.CERT_REQUIRED and aiokafka["ssl_context"].check_hostname
    assert rdkafka_security() == {"security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512",
                                  "sasl.username": "complaints", "sasl.password": "s3cret-from-the-kafkauser"}
    security = faststream_security()
    assert isinstance(security, SASLScram512) and security.use_ssl and security.username == "complaints"
    monkeypatch.setenv("KOTA_KAFKA_SECURITY_PROTOCOL", "SSL")
    for name in ("KOTA_KAFKA_SASL_USERNAME", "KOTA_KAFKA_SASL_PASSWORD"):
        monkeypatch.delenv(name)
    security = faststream_security()
    assert type(security) is BaseSecurity and security.use_ssl
