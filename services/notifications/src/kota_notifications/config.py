"""Notifications service settings (prefix KOTA_NOTIFICATIONS_); shared ones come from kota_common (prefix KOTA_).

Outgoing messages go where these say: by default a local SMTP server on 127.0.0.1:1025 and no send API at all
(WhatsApp, Telegram and SMS messages stay pending until their URL is set), never the internet by accident."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kota_common.photos import PhotoSettings
from kota_common.settings import CommonSettings, address_field, backend_address_field, metrics_address_field, refuse_placeholder


class NotificationsSettings(BaseSettings):
    # populate_by_name: complaints_address has aliases (its variable, else complaints' own); code and tests set it by name.
    model_config = SettingsConfigDict(env_prefix="KOTA_NOTIFICATIONS_", extra="ignore", populate_by_name=True)

    grpc_address: str = address_field("127.0.0.1:50056", "where its gRPC server listens")
    database_url: str = "sqlite:///var/notifications.db"
    consumer_group: str = "kota-notifications"
    consume_events: bool = Field(True, description="answer citizens on every change of their complaint")
    grpc_workers: int = Field(8, ge=2, le=256)
    complaints_address: str = backend_address_field("127.0.0.1:50051", "KOTA_NOTIFICATIONS_COMPLAINTS_ADDRESS",
                                                    "KOTA_COMPLAINTS_GRPC_ADDRESS", "the complaints service's gRPC address")
    portal_url: str = Field("http://127.0.0.1:8080", description="the portal's address, for tracking links")
    address_key: str = Field(
        "kota-dev-address-key-change-me-in-production", min_length=16,
        description="HMAC key of the opt-out list's address hashes and of the opt-out tokens",
    )
    # Channels in: e-mail.
    smtp_intake_address: str = Field("127.0.0.1:2525", pattern=r"^(|off|[\w.\-\[\]:]+:\d+)$",
                                     description='host:port of the SMTP intake ("off": none)')
    smtp_intake_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="largest mail accepted")
    # Channels in: e-mail by IMAP polling (production: the city's mailbox for lapor@...), instead of or beside SMTP.
    imap_host: str = Field("", description="IMAP server of the intake mailbox; empty: no polling")
    imap_port: int = Field(993, ge=1, le=65535)
    imap_tls: bool = Field(True, description="IMAP over TLS (port 993); false: plain, or STARTTLS if imap_starttls")
    imap_starttls: bool = False
    imap_username: str = ""
    imap_password: str = ""
    imap_mailbox: str = Field("INBOX", description="the folder polled for unseen mail")
    imap_poll_s: float = Field(30.0, gt=0, le=3600, description="seconds between two polls")
    # Channels in: chat and SMS (the gateway's webhooks hand their messages over gRPC).
    categories_refresh_s: float = Field(300.0, gt=0, description="how often the complaint categories (the "
                                        "conversation's vocabulary) are read again from complaints")
    # Answers out.
    smtp_host: str = Field("127.0.0.1", description="SMTP server that carries outgoing mail")
    smtp_port: int = Field(1025, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = Field("Kota CRM <no-reply@kota.local>", description="From of outgoing mail")
    mail_reply_to: str = Field("lapor@kota.local", description="Reply-To: the intake address (replies, BERHENTI)")
    whatsapp_url: str = Field("", description="WhatsApp Cloud API messages URL, "
                              "https://graph.facebook.com/v21.0/<phone-number-id>/messages; empty: not sent")
    whatsapp_token: str = ""
    telegram_url: str = Field("", description="Telegram sendMessage URL, https://api.telegram.org/bot<token>/sendMessage")
    sms_url: str = Field("", description="the SMS gateway's send URL (POST {to, text})")
    sms_token: str = ""
    # Channels in: photos sent on WhatsApp or Telegram, fetched from the platforms' media APIs before submission.
    whatsapp_media_url: str = Field("", description="the Graph API root media ids are read under, "
                                    "https://graph.facebook.com/v21.0 (token: whatsapp_token); empty: the root of "
                                    "whatsapp_url")
    telegram_bot_url: str = Field("", description="the bot's method root getFile is called under, "
                                  "https://api.telegram.org/bot<token>; empty: derived from telegram_url")
    telegram_file_url: str = Field("", description="the bot's file root files are downloaded from, "
                                   "https://api.telegram.org/file/bot<token>; empty: derived from telegram_url")
    chat_photo_tries: int = Field(5, ge=1, le=100, description="tries to fetch a chat photo while the platform does "
                                  "not answer; then the report goes without it (named for staff)")
    http_timeout_s: float = Field(10.0, gt=0, le=120)
    # RegisterRecipient's limits (the portal's report can name any contact: docs/channels.md).
    register_per_contact_hour: int = Field(3, ge=1, description="complaints a contact may be registered to an hour")
    register_per_contact_day: int = Field(10, ge=1, description="complaints a contact may be registered to a day")
    register_per_client_rate: float = Field(1.0, gt=0, description="registrations a second per client (on average)")
    register_per_client_burst: int = Field(30, ge=1, description="registrations a client may make at once")
    register_per_caller_rate: float = Field(20.0, gt=0, description="registrations a second by a caller that names "
                                            "no client (x-kota-client): the gateway as a whole")
    register_per_caller_burst: int = Field(200, ge=1)
    # Delivery.
    max_attempts: int = Field(6, ge=1, le=50, description="attempts before a message is recorded as failed")
    retry_base_s: float = Field(30.0, gt=0, description="wait after the first failed attempt; doubled each time")
    retry_cap_s: float = Field(3600.0, gt=0)
    intake_retry_cap_s: float = Field(300.0, gt=0, description="longest wait between tries to reach complaints")
    update_retention_days: float = Field(30, gt=0, description="how long a complaint's updates are kept for a "
                                         "recipient registered later")
    dispatch_interval_s: float = Field(0.5, gt=0, le=60)
    dispatcher: Literal["process", "thread"] = Field(
        "process",
        description="where the dispatcher (claim, send, record) runs: a process of its own (on another core than "
        "the intake of events and requests: Python computes on one core per process) or a thread of this one",
    )
    # Per-channel rate limits: messages per second (and the burst).
    email_rate: float = Field(20.0, gt=0)
    whatsapp_rate: float = Field(20.0, gt=0, description="the Cloud API allows 80/s per number; stay below")
    telegram_rate: float = Field(25.0, gt=0, description="Telegram allows about 30 messages/s per bot")
    sms_rate: float = Field(5.0, gt=0)
    metrics_address: str = metrics_address_field("127.0.0.1:9106")
    common: CommonSettings = Field(default_factory=CommonSettings)
    photos: PhotoSettings = Field(default_factory=PhotoSettings)  # KOTA_PHOTOS_*: the store the gateway serves

    _address_key_set = field_validator("address_key")(refuse_placeholder)

    @model_validator(mode="after")
    def _processes_can_share_the_database(self) -> NotificationsSettings:
        if self.dispatcher == "process" and self.database_url.split("?")[0] in ("sqlite://", "sqlite:///:memory:"):
            raise ValueError("dispatcher=process needs a database another process can open, not in-memory SQLite")
        return self
