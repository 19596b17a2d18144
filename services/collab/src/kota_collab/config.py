"""Collab service settings (prefix KOTA_COLLAB_); shared ones come from kota_common (prefix KOTA_)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kota_common.settings import CommonSettings, address_field, backend_address_field, metrics_address_field


class CollabSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOTA_COLLAB_", extra="ignore", populate_by_name=True)

    grpc_address: str = address_field("127.0.0.1:50055", "where the staff gRPC server (bearer tokens) listens")
    federation_address: str = address_field("127.0.0.1:50155", "where the inter-city endpoint (mutual TLS) listens")
    database_url: str = "sqlite:///var/collab.db"
    grpc_workers: int = Field(16, ge=2, le=512)
    # This city, as its partners know it: the id is the one its certificate names.
    city_id: str = Field("jakarta", pattern=r"^[a-z][a-z0-9-]{1,39}$", description="this city's id in the federation")
    city_name: str = Field("Provinsi DKI Jakarta", min_length=1)
    city_country: str = Field("ID", pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    city_region: str = "DKI Jakarta"
    city_population: int = Field(0, ge=0, description="0: not recorded")
    city_ascn_member: bool = True
    city_latitude: float | None = Field(-6.1754, ge=-90, le=90, description="WGS84, for maps (with city_longitude)")
    city_longitude: float | None = Field(106.8272, ge=-180, le=180)
    tls_dir: str = Field("var/certs", description="ca.pem, <city_id>.pem, <city_id>-key.pem and, if any, crl.pem "
                         "(`kota certs`); without them the inter-city endpoint stays closed")
    opendata_address: str = backend_address_field("127.0.0.1:50053", "KOTA_COLLAB_OPENDATA_ADDRESS",
                                                  "KOTA_OPENDATA_GRPC_ADDRESS", "this city's open data service: "
                                                  "partners read the datasets their agreements grant through it")
    catalogue_interval_s: float = Field(60.0, ge=0, description="how often partnerships and activities are "
                                        "published as open datasets when they changed (0: never)")
    catalogue_organization: str = Field("KSD", pattern=r"^[A-Z0-9_-]{2,32}$", description="the open data "
                                        "organization (agency code) the datasets belong to: the cooperation bureau")
    stream_recheck_s: float = Field(1.0, gt=0, le=5, description="how often an open partner stream checks its grant")
    federation_retry_base_s: float = Field(0.5, gt=0, description="first retry delay of a delivery to a partner")
    federation_retry_max_s: float = Field(30.0, gt=0, description="longest retry delay of a delivery to a partner")
    federation_timeout_s: float = Field(5.0, gt=0, description="deadline of one call to a partner")
    metrics_address: str = metrics_address_field("127.0.0.1:9105")
    common: CommonSettings = Field(default_factory=CommonSettings)

    @model_validator(mode="after")
    def _location_whole(self) -> CollabSettings:
        if (self.city_latitude is None) != (self.city_longitude is None):
            raise ValueError("KOTA_COLLAB_CITY_LATITUDE and KOTA_COLLAB_CITY_LONGITUDE are set together")
        return self
