import os

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
