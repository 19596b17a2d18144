"""Sensors service settings (prefix KOTA_SENSORS_); shared ones come from kota_common (prefix KOTA_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kota_common.settings import ADDRESS_PATTERN, CommonSettings, metrics_address_field


class SensorsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOTA_SENSORS_", extra="ignore")

    grpc_address: str = Field("127.0.0.1:50052", pattern=ADDRESS_PATTERN)
    http_address: str = Field("127.0.0.1:8052", pattern=ADDRESS_PATTERN, description="HTTP ingest for simple devices")
    http_enabled: bool = True
    mqtt_enabled: bool = Field(True, description="subscribe to an MQTT broker for device readings")
    mqtt_address: str = Field("127.0.0.1:1883", pattern=ADDRESS_PATTERN, description="with the embedded broker: where it "
                              "listens (0.0.0.0:1883 in a container, so that devices reach it); otherwise: the "
                              "external MQTT broker to subscribe to")
    mqtt_embedded_broker: bool = Field(True, description="start an MQTT broker (amqtt) inside this process; it "
                                       "authenticates devices at CONNECT. false: subscribe to an external broker, "
                                       "where each device document carries its credential in plain text (any "
                                       "subscriber to the topics would collect them): development only")
    mqtt_topic_prefix: str = Field("kota/devices", pattern=r"^[\w\-/]+$")
    mqtt_tls_address: str = Field("", pattern="^$|" + ADDRESS_PATTERN, description="the embedded broker's MQTT over "
                                  "TLS listener (0.0.0.0:8883 in a container): devices send their credential at "
                                  "CONNECT, so those on public networks should reach the broker only here (expose "
                                  "this port to them, not MQTT_ADDRESS's)")
    mqtt_tls_certfile: str = Field("", description="PEM server certificate (chain) of the TLS listener")
    mqtt_tls_keyfile: str = Field("", description="PEM private key of the TLS listener")
    database_url: str = "sqlite:///var/sensors.db"
    seed: bool = Field(True, description="register Jakarta's stations, gauges and buses on first start")
    max_future_s: float = Field(120, ge=0, description="clock skew tolerated on reading timestamps")
    max_age_s: float = Field(7 * 24 * 3600, gt=0, description="older readings are rejected")
    silent_after_s: float = Field(900, gt=0, description="a device with no reading for this long raises an alert")
    silent_check_interval_s: float = Field(30, gt=0)
    ispu_margin: int = Field(5, ge=0, le=50, description="hysteresis of ISPU category changes, in index points")
    role: str = Field("all", pattern=r"^(all|ingest|alerts|store)$", description="all: the service, which starts "
                      "the other roles as child processes; ingest: one more gRPC ingest process on the same port; "
                      "alerts: the alert evaluator (and the outbox relay); store: the observation store")
    evaluate: bool = Field(True, description="start the alert evaluator and the observation store (each its own "
                           "process, each its own consumer group)")
    ingest_processes: int = Field(1, ge=1, le=16, description="gRPC ingest processes sharing the port (SO_REUSEPORT)")
    parent_pid: int = Field(0, ge=0, description="set for child processes: they stop when this process is gone")
    ready_fd: int = Field(-1, description="set for child ingest processes: written to once they listen")
    consumer_group: str = Field("kota-sensors", description="the observation store's group; the alert "
                                "evaluator's is this plus '-alerts'")
    store_batch: int = Field(20000, ge=1, description="records per observation-store batch (one DB transaction)")
    alert_batch: int = Field(50000, ge=1, description="records per alert-evaluator batch")
    ingest_nice: int = Field(5, ge=0, le=19, description="CPU priority (nice) of the ingest processes (this one "
                             "included): above 0 the alert evaluator comes first when CPU is short, so its lag stays "
                             "bounded and ingest slows instead; 0: the most ingest throughput, the evaluator may lag")
    store_nice: int = Field(10, ge=0, le=19, description="CPU priority of the observation store process (nice): "
                            "it may lag and catch up; ingest and the alert evaluator come first")
    grpc_workers: int = Field(32, ge=2, le=512)
    produce_linger_ms: int = Field(20, ge=0, le=1000)
    delivery_reports: str = Field("each", pattern=r"^(each|last)$", description="each: a delivery report per "
                                  "reading; last: one per series (its last record; same partition, in order)")
    produce_compression: str = Field("lz4", pattern=r"^(none|gzip|snappy|lz4|zstd)$")
    metrics_address: str = metrics_address_field("127.0.0.1:9102")
    common: CommonSettings = Field(default_factory=CommonSettings)

    @model_validator(mode="after")
    def _mqtt_tls_complete(self) -> SensorsSettings:
        """Fails at start, not at a device's first connection: a TLS listener needs its certificate and key."""
        if self.mqtt_tls_address:
            if not self.mqtt_embedded_broker:
                raise ValueError("mqtt_tls_address is the embedded broker's listener; an external broker has its own")
            for name in ("mqtt_tls_certfile", "mqtt_tls_keyfile"):
                path = getattr(self, name)
                if not path:
                    raise ValueError(f"mqtt_tls_address is set: {name} is required")
                if not Path(path).is_file():
                    raise ValueError(f"{name}: no such file {path!r}")
        elif self.mqtt_tls_certfile or self.mqtt_tls_keyfile:
            raise ValueError("mqtt_tls_certfile/keyfile are set but mqtt_tls_address is not: no TLS listener would start")
        return self
