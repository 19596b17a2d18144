"""Configuration from the environment (pydantic-settings); a bad value stops the process at start-up."""

from __future__ import annotations

import os
import sys
from typing import TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Settings every Kota process shares (prefix KOTA_)."""

    model_config = SettingsConfigDict(env_prefix="KOTA_", extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    log_json: bool = True
    auth_secret: str = Field(
        "kota-dev-secret-change-me-in-production",
        min_length=16,
        description="HMAC secret for staff bearer tokens",
    )
    var_dir: str = Field("var", description="where SQLite files and local state live by default")
    cpu_affinity: set[int] = Field(
        default_factory=set,
        description="CPUs this process runs on, e.g. [0] (JSON list). A Python service is bound by one core "
        "(the GIL): pinned to one, its threads hand the interpreter over without moving between caches",
    )

    @field_validator("cpu_affinity")
    @classmethod
    def _known_cpus(cls, cpus: set[int]) -> set[int]:
        unknown = sorted(c for c in cpus if c < 0 or c >= (os.cpu_count() or 1))
        if unknown:
            raise ValueError(f"no such CPU {unknown}; this machine has {os.cpu_count()}")
        return cpus


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides) -> S:
    """Builds settings or exits with a readable list of what is wrong (fail fast on bad config)."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        lines = [f"invalid configuration for {cls.__name__}:"]
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {prefix}{field.upper()}: {err['msg']} (got {err.get('input')!r})")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
