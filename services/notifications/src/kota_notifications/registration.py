"""The notifications service's entry in the platform (entry point `kota.services`): how `kota up` runs it."""

from kota_common.registration import ServiceSpec
from kota_notifications.config import NotificationsSettings

SERVICE = ServiceSpec("notifications", NotificationsSettings, start_order=45)
