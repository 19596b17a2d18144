"""Gateway settings (prefix KOTA_GATEWAY_); the services' addresses default to their own variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kota_common.photos import PhotoSettings
from kota_common.settings import ADDRESS_PATTERN, CommonSettings, backend_address_field, metrics_address_field, refuse_placeholder

# In a checkout (an editable install), the document `kota asyncapi` keeps in docs/.
REPOSITORY_ASYNCAPI = Path(__file__).resolve().parents[4] / "docs" / "asyncapi" / "asyncapi.json"


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOTA_GATEWAY_", extra="ignore", populate_by_name=True)

    http_address: str = Field("127.0.0.1:8080", pattern=ADDRESS_PATTERN)
    complaints_address: str = backend_address_field("127.0.0.1:50051", "KOTA_GATEWAY_COMPLAINTS_ADDRESS", "KOTA_COMPLAINTS_GRPC_ADDRESS")
    sensors_address: str = backend_address_field("127.0.0.1:50052", "KOTA_GATEWAY_SENSORS_ADDRESS", "KOTA_SENSORS_GRPC_ADDRESS")
    opendata_address: str = backend_address_field("127.0.0.1:50053", "KOTA_GATEWAY_OPENDATA_ADDRESS", "KOTA_OPENDATA_GRPC_ADDRESS")
    musrenbang_address: str = backend_address_field("127.0.0.1:50054", "KOTA_GATEWAY_MUSRENBANG_ADDRESS", "KOTA_MUSRENBANG_GRPC_ADDRESS")
    collab_address: str = backend_address_field("127.0.0.1:50055", "KOTA_GATEWAY_COLLAB_ADDRESS", "KOTA_COLLAB_GRPC_ADDRESS")
    notifications_address: str = backend_address_field("127.0.0.1:50056", "KOTA_GATEWAY_NOTIFICATIONS_ADDRESS",
                                                       "KOTA_NOTIFICATIONS_GRPC_ADDRESS")
    # Chat and SMS webhooks (docs/channels.md): each is offered only once its secret is set.
    whatsapp_app_secret: str = Field("", description="the Meta app's secret: X-Hub-Signature-256 of /webhooks/whatsapp")
    whatsapp_verify_token: str = Field("", description="hub.verify_token of the WhatsApp subscription handshake")
    telegram_secret_token: str = Field("", description="secret_token given to Telegram's setWebhook for /webhooks/telegram")
    sms_webhook_secret: str = Field("", description="HMAC key of X-Kota-Signature on /webhooks/sms")
    rpc_timeout_s: float = Field(5.0, gt=0, le=120, description="deadline of each unary gRPC call")
    rpc_retries: int = Field(2, ge=0, le=5, description="extra attempts of a safe call when a service is unavailable")
    rate_limit_per_s: float = Field(20.0, ge=0, description="public requests per second per client IP (0: no limit)")
    rate_limit_burst: int = Field(60, ge=1)
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    open311_api_keys: str = Field("kota-open311-demo", description="accepted Open311 api_key values, comma separated")
    trusted_proxies: str = Field(
        "127.0.0.1",
        description="addresses or CIDRs of reverse proxies (the ingress) whose X-Forwarded-For names the client: "
        "rate limits then apply per citizen, not to the proxy; comma separated, '*' trusts any",
    )
    jurisdiction_id: str = Field("jakarta.go.id", description="the Open311 jurisdiction this gateway serves")
    sse_poll_s: float = Field(10.0, gt=0, le=300, description="SSE keep-alive and re-check interval")
    max_watch_streams: int = Field(
        8, ge=0, le=1000,
        description="WatchComplaints streams the gateway holds open at once (each holds a worker of the complaints "
        "service); SSE clients beyond this are served by polling every sse_poll_s",
    )
    sensorthings_mqtt_endpoints: str = Field(
        "", pattern=r"^$|^(mqtts?|wss?)://[^\s,]+(,(mqtts?|wss?)://[^\s,]+)*$",
        description="where SensorThings clients subscribe to observations (the sensors service's MQTT broker as "
        "they reach it, e.g. mqtts://iot.kota.example.go.id:8883), comma separated: the service root lists them "
        "under the MQTT extension's conformance class; empty: the extension is not offered",
    )
    metrics_address: str = metrics_address_field("127.0.0.1:9100")
    asyncapi_document: Path = Field(
        REPOSITORY_ASYNCAPI,
        description="the AsyncAPI document served at /asyncapi.json (kota asyncapi writes it); the image sets its copy",
    )
    common: CommonSettings = Field(default_factory=CommonSettings)
    photos: PhotoSettings = Field(default_factory=PhotoSettings)  # KOTA_PHOTOS_*: the store notifications shares

    _api_keys_set = field_validator("open311_api_keys")(refuse_placeholder)

    @property
    def mqtt_endpoints(self) -> tuple[str, ...]:
        return tuple(e for e in self.sensorthings_mqtt_endpoints.split(",") if e)

    @property
    def api_keys(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.open311_api_keys.split(",") if k.strip())
