"""Configuration from the environment (pydantic-settings); a bad value stops the process at start-up."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER = "REPLACE-ME"  # what the deployment examples ship in place of secrets
ADDRESS_PATTERN = r"^[\w.\-\[\]:]+:\d+$"  # host:port (a name, IPv4 or [IPv6])
METRICS_ADDRESS_PATTERN = r"^(|off|[\w.\-\[\]:]+:\d+)$"
# another service: host:port, or gRPC's list of replicas' addresses (ipv4:10.0.0.5:50051,10.0.0.6:50051)
BACKEND_ADDRESS_PATTERN = r"^([\w.\-\[\]:]+:\d+|ipv[46]:[\w.\-\[\]:]+:\d+(,[\w.\-\[\]:]+:\d+)*)$"


def refuse_placeholder(value: str) -> str:
    """A secret still set to the deployment examples' placeholder is public knowledge: refuse to start with it."""
    if PLACEHOLDER.lower() in value.lower():
        raise ValueError(f"still the placeholder from the deployment example ({PLACEHOLDER}...): set a long random secret")
    return value


def address_field(default: str, description: str = ""):
    """A host:port setting (where a server listens, or another service's address)."""
    return Field(default, pattern=ADDRESS_PATTERN, description=description or "host:port")


def backend_address_field(default: str, own_env: str, service_env: str, description: str = ""):
    """Where another service is: the setting's own variable (`own_env`, e.g. KOTA_GATEWAY_COMPLAINTS_ADDRESS) or,
    when that is not set, the variable the service itself listens on (`service_env`, KOTA_COMPLAINTS_GRPC_ADDRESS):
    `kota up` sets only the latter, so every service finds the others wherever they were put."""
    return Field(default, pattern=BACKEND_ADDRESS_PATTERN, validation_alias=AliasChoices(own_env, service_env),
                 description=description or f"host:port of the service, or its replicas' as ipv4:host:port,host:port "
                 f"({own_env}, else {service_env})")


def metrics_address_field(default: str):
    """A service's `metrics_address` field (KOTA_<NAME>_METRICS_ADDRESS): where it serves Prometheus `/metrics`;
    "" or "off": nowhere (the metrics are still counted)."""
    return Field(default, pattern=METRICS_ADDRESS_PATTERN,
                 description='host:port of the Prometheus /metrics endpoint ("off": none; see docs/architecture.md)')


class CommonSettings(BaseSettings):
    """Settings every Kota process shares (prefix KOTA_)."""

    model_config = SettingsConfigDict(env_prefix="KOTA_", extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    kafka_replication_factor: int = Field(
        1, ge=-1, le=16,
        description="replicas of each topic a service creates (3 on a production cluster, so that losing a broker "
        "loses no event and acks=all holds under min.insync.replicas=2); -1: the cluster's default",
    )
    # How every Kafka client of the process (FastStream's broker, aiokafka's admin and readers, librdkafka's
    # producer) authenticates: plain inside a development machine; on a Strimzi cluster each service is a KafkaUser,
    # with a client certificate (SSL, the `tls` listener) or SCRAM (SASL_SSL), and its ACLs (kota_common.kafka).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_ssl_cafile: str = Field("", description="PEM CA the brokers' certificates are checked against "
                                  "(Strimzi: <cluster>-cluster-ca-cert, ca.crt); empty: the system's CAs")
    kafka_ssl_certfile: str = Field("", description="PEM client certificate (Strimzi KafkaUser type tls: user.crt)")
    kafka_ssl_keyfile: str = Field("", description="PEM key of the client certificate (user.key)")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
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

    _auth_secret_set = field_validator("auth_secret")(refuse_placeholder)

    @field_validator("kafka_replication_factor")
    @classmethod
    def _replicas(cls, n: int) -> int:
        if n == 0:
            raise ValueError("a topic needs at least one replica (or -1 for the cluster's default)")
        return n

    @model_validator(mode="after")
    def _kafka_credentials_complete(self) -> CommonSettings:
        tls = self.kafka_security_protocol in ("SSL", "SASL_SSL")
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            raise ValueError("kafka_ssl_certfile and kafka_ssl_keyfile go together (a client certificate and its key)")
        if not tls and (self.kafka_ssl_cafile or self.kafka_ssl_certfile):
            raise ValueError(f"kafka_ssl_* are set but kafka_security_protocol is {self.kafka_security_protocol}: "
                             "no TLS would be used (SSL or SASL_SSL)")
        for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ValueError(f"{name}: no file {path}")
        sasl = self.kafka_security_protocol.startswith("SASL")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(f"kafka_security_protocol {self.kafka_security_protocol} needs kafka_sasl_username and "
                             "kafka_sasl_password")
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password):
            raise ValueError("kafka_sasl_username/password are set but kafka_security_protocol is not SASL_*")
        return self

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
        # A shared setting (CommonSettings, built inside the service's settings) is named with its own prefix.
        model = CommonSettings if exc.title == CommonSettings.__name__ else cls
        prefix = model.model_config.get("env_prefix", "")
        lines = [f"invalid configuration for {cls.__name__}:"]
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            given = "(hidden)" if any(w in field for w in ("secret", "key", "password", "url")) else repr(err.get("input"))
            lines.append(f"  {prefix}{field.upper()}: {err['msg']} (got {given})")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
