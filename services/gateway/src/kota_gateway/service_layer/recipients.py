"""Where a citizen who reported through the portal or the app hears back: the contact they gave, on the channel
they chose, registered with the notifications service once the complaint exists. The complaint stands whether or
not that succeeds; the answer says which. The contact is passed on, never logged."""

from __future__ import annotations

import logging

from kota_gateway.adapters.errors import RpcFailure, ServiceUnavailable
from kota_gateway.adapters.notifications import NotificationsClient

log = logging.getLogger(__name__)
CHANNELS = ("email", "whatsapp", "sms")


def address_for(channel: str, email: str, phone: str) -> str:
    """The contact field the channel writes to: the e-mail address, or the phone number for WhatsApp and SMS."""
    return email.strip() if channel == "email" else phone.strip()


async def register(notifications: NotificationsClient | None, complaint_id: str, channel: str, address: str,
                   language: str) -> bool:
    """True once notifications knows where to answer about the complaint."""
    if notifications is None or channel not in CHANNELS or not address:
        return False
    try:
        await notifications.register_recipient(complaint_id, channel, address, language)
    except (ServiceUnavailable, RpcFailure) as exc:
        log.warning("the citizen's %s contact for complaint %s could not be registered: %s", channel, complaint_id,
                    type(exc).__name__)
        return False
    return True
