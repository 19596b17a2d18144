"""Open data service settings (prefix KOTA_OPENDATA_); shared ones come from kota_common (prefix KOTA_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kota_common.settings import CommonSettings, address_field, metrics_address_field


class OpenDataSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOTA_OPENDATA_", extra="ignore")

    grpc_address: str = address_field("127.0.0.1:50053", "where its gRPC server listens")
    database_url: str = "sqlite:///var/opendata.db"
    consumer_group: str = "kota-opendata"
    consume_events: bool = True
    processed_retention_hours: float = Field(
        72.0, gt=0, description="how long event ids are remembered for deduplication (readings: one row each)")
    consumer_batch_size: int = Field(500, ge=1, le=10000, description="records applied per transaction")
    grpc_workers: int = Field(32, ge=2, le=512)
    # Anonymisation (see docs/opendata-anonymisation.md).
    k_anonymity: int = Field(3, ge=1, le=100, description="counts below this (and above 0) are suppressed")
    coordinate_grid_m: float = Field(100.0, ge=10, le=10000, description="coordinates snapped to this grid")
    # Live datasets announce record changes on opendata.events.v1 at most once per interval.
    update_event_interval_s: float = Field(30.0, ge=0)
    upload_max_bytes: int = Field(8 * 1024 * 1024 - 64 * 1024, ge=1024, description="below the 8 MiB gRPC message limit")
    # datastore_search_sql (analysts' read-only SQL over published resources).
    sql_max_rows: int = Field(32000, ge=1, le=1_000_000, description="rows a statement returns at most (CKAN's rows_max)")
    sql_timeout_s: float = Field(10.0, gt=0, le=600, description="a statement running longer is stopped")
    site_title: str = "Kota Satu Data"
    metrics_address: str = metrics_address_field("127.0.0.1:9103")
    common: CommonSettings = Field(default_factory=CommonSettings)
