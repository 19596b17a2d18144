"""Configuration from the environment (pydantic-settings); a bad value stops the process at start-up."""

from __future__ import annotations

import sys
from typing import TypeVar

from pydantic import Field, ValidationError
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
