"""Musrenbang service settings (prefix KOTA_MUSRENBANG_); shared ones come from kota_common (prefix KOTA_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kota_common.settings import CommonSettings, address_field, metrics_address_field, refuse_placeholder


class MusrenbangSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOTA_MUSRENBANG_", extra="ignore")

    grpc_address: str = address_field("127.0.0.1:50054", "where its gRPC server listens")
    database_url: str = "sqlite:///var/musrenbang.db"
    consumer_group: str = "kota-musrenbang"
    consume_events: bool = Field(True, description="count complaints and sensor alerts as evidence for proposals")
    grpc_workers: int = Field(32, ge=2, le=512)
    support_batch: int = Field(128, ge=1, le=4096, description="supports written per group commit at most")
    commit_delay_ms: float = Field(1.0, ge=0, le=100, description="under load, how long a group commit waits for "
                                   "more supports before it writes a lone one")
    outbox_relay: Literal["process", "thread"] = Field(
        "process", description="where the outbox relay runs: a process of its own (on another core than the "
        "requests: Python computes on one core per process; every support is an event) or a thread of this one")
    outbox_linger_ms: float = Field(25.0, ge=0, le=1000, description="how long the relay gathers events after a "
                                    "commit before a pass (fewer, fuller passes under load)")
    nik_key: str = Field(
        "kota-dev-nik-key-change-me-in-production", min_length=16,
        description="HMAC key of the NIK hashes: residents' NIK are stored only as keyed hashes",
    )
    support_limit: int = Field(10, ge=1, le=1000, description="supports one resident may give in a cycle")
    calendar: str = Field("demo", pattern=r"^(demo|jakarta)$", description="demo: a cycle whose stages are open now "
                          "(for a live portal); jakarta: Jakarta's calendar for the current year")
    duplicate_radius_km: float = Field(0.5, gt=0, le=50, description="proposals this near are compared for duplicates")
    duplicate_min_similarity: float = Field(70.0, ge=0, le=100, description="text similarity (0-100) of a duplicate")
    # Scoring weights (urgency, beneficiaries, alignment, evidence, supports); each city sets its own.
    weight_urgency: float = Field(0.30, ge=0)
    weight_beneficiaries: float = Field(0.20, ge=0)
    weight_alignment: float = Field(0.20, ge=0)
    weight_evidence: float = Field(0.15, ge=0)
    weight_supports: float = Field(0.15, ge=0)
    metrics_address: str = metrics_address_field("127.0.0.1:9104")
    common: CommonSettings = Field(default_factory=CommonSettings)

    _nik_key_set = field_validator("nik_key")(refuse_placeholder)

    @model_validator(mode="after")
    def _relay_can_open_the_database(self) -> MusrenbangSettings:
        if self.outbox_relay == "process" and self.database_url.split("?")[0] in ("sqlite://", "sqlite:///:memory:"):
            raise ValueError("outbox_relay=process needs a database another process can open, not in-memory SQLite")
        return self
