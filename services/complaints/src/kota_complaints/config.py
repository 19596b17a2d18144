"""Complaints service settings (prefix KOTA_COMPLAINTS_); shared ones come from kota_common (prefix KOTA_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kota_common.settings import CommonSettings, address_field, metrics_address_field


class ComplaintsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOTA_COMPLAINTS_", extra="ignore")

    grpc_address: str = address_field("127.0.0.1:50051", "where its gRPC server listens")
    database_url: str = "sqlite:///var/complaints.db"
    reference_file: str = Field("", description="city reference JSON (agencies, categories, routing); default Jakarta")
    duplicate_radius_m: float = Field(100.0, gt=0, le=5000)
    duplicate_window_hours: float = Field(72.0, gt=0)
    reopen_window_days: float = Field(7.0, ge=0)
    sla_check_interval_s: float = Field(30.0, gt=0)
    consume_alerts: bool = True
    consumer_group: str = "kota-complaints"
    grpc_workers: int = Field(32, ge=2, le=512)
    grpc_max_concurrent_rpcs: int = Field(256, ge=2, description="calls in service or waiting; more are refused")
    grpc_reuse_port: bool = Field(
        False, description="several replicas on one host share the port (SO_REUSEPORT); PostgreSQL only"
    )
    outbox_linger_ms: float = Field(
        25.0, ge=0, le=1000,
        description="how long the relay gathers events after a commit before a pass; each pass costs a query "
        "and an update whatever it carries, so a longer linger spends less CPU per event and adds latency",
    )
    commit_delay_ms: float = Field(
        4.0, ge=0, le=100,
        description="under load, how long the group-commit writer waits for more submissions before committing "
        "one alone (fuller batches, less CPU per submission; 0: never waits)",
    )
    outbox_relay: Literal["process", "thread"] = Field(
        "process",
        description="where the outbox relay runs: a process of its own (on another core than the requests: "
        "Python computes on one core per process) or a thread of this one",
    )
    metrics_address: str = metrics_address_field("127.0.0.1:9101")
    common: CommonSettings = Field(default_factory=CommonSettings)

    @model_validator(mode="after")
    def _processes_can_share_the_database(self) -> ComplaintsSettings:
        if self.grpc_reuse_port and self.database_url.startswith("sqlite"):
            raise ValueError("grpc_reuse_port needs a PostgreSQL database_url: SQLite has one writer process")
        if self.outbox_relay == "process" and self.database_url.split("?")[0] in ("sqlite://", "sqlite:///:memory:"):
            raise ValueError("outbox_relay=process needs a database another process can open, not in-memory SQLite")
        return self
