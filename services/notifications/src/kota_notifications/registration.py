"""The notifications service's entry in the platform (entry point `kota.services`): how `kota up` runs it."""

from kota_common.registration import ServiceSpec
from kota_notifications.config import NotificationsSettings

SINK = "http://127.0.0.1:8025"

# Under `kota up` every message goes to the local sink (mails as .eml, API calls logged in var/outbox/outbox.log),
# never to the internet.
SERVICE = ServiceSpec(
    "notifications", NotificationsSettings, start_order=45,
    companion=("kota_notifications.sink", "--dir", "{var_dir}/outbox"),
    companion_env={
        "KOTA_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "KOTA_NOTIFICATIONS_SMTP_PORT": "1025",
        "KOTA_NOTIFICATIONS_WHATSAPP_URL": f"{SINK}/whatsapp/messages",
        "KOTA_NOTIFICATIONS_TELEGRAM_URL": f"{SINK}/telegram/sendMessage",
        "KOTA_NOTIFICATIONS_SMS_URL": f"{SINK}/sms/send",
    },
)
