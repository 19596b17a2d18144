"""Sensors service settings (prefix KOTA_SENSORS_); shared ones come from kota_common (prefix KOTA_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kota_common.settings import CommonSettings

ADDRESS = r"^[\w.\-\[\]:]+:\d+$"


class SensorsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOTA_SENSORS_", extra="ignore")

    grpc_address: str = Field("127.0.0.1:50052", pattern=ADDRESS)
    http_address: str = Field("127.0.0.1:8052", pattern=ADDRESS, description="HTTP ingest for simple devices")
    http_enabled: bool = True
    mqtt_enabled: bool = Field(True, description="subscribe to an MQTT broker for device readings")
    mqtt_address: str = Field("127.0.0.1:1883", pattern=ADDRESS, description="MQTT broker to subscribe to")
    mqtt_embedded_broker: bool = Field(True, description="start an MQTT broker (amqtt) inside this process")
    mqtt_topic_prefix: str = Field("kota/devices", pattern=r"^[\w\-/]+$")
    database_url: str = "sqlite:///var/sensors.db"
    seed: bool = Field(True, description="register Jakarta's stations, gauges and buses on first start")
    max_future_s: float = Field(120, ge=0, description="clock skew tolerated on reading timestamps")
    max_age_s: float = Field(7 * 24 * 3600, gt=0, description="older readings are rejected")
    silent_after_s: float = Field(900, gt=0, description="a device with no reading for this long raises an alert")
    silent_check_interval_s: float = Field(30, gt=0)
    ispu_margin: int = Field(5, ge=0, le=50, description="hysteresis of ISPU category changes, in index points")
    evaluate: bool = Field(True, description="run the observation store and alert evaluator in this process")
    consumer_group: str = "kota-sensors"
    store_batch: int = Field(20000, ge=1, description="records per consumer batch (one DB transaction)")
    grpc_workers: int = Field(32, ge=2, le=512)
    produce_linger_ms: int = Field(20, ge=0, le=1000)
    delivery_reports: str = Field("each", pattern=r"^(each|last)$", description="each: a delivery report per "
                                  "reading; last: one per series (its last record; same partition, in order)")
    produce_compression: str = Field("lz4", pattern=r"^(none|gzip|snappy|lz4|zstd)$")
    common: CommonSettings = Field(default_factory=CommonSettings)
