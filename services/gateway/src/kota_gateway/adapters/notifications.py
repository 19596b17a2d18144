"""The notifications service, typed: the chat and SMS webhooks hand it their messages, and the portal tells it
where a citizen who reported there wants to hear back. The gateway calls as a system (a token of its own, signed
with the platform's shared secret)."""

from __future__ import annotations

import time

from kota.notifications.v1 import notifications_pb2 as pb
from kota.notifications.v1 import notifications_pb2_grpc
from kota_common.auth import issue_token
from kota_gateway.adapters.backends import Backend

CHANNELS = {"whatsapp": pb.CHANNEL_WHATSAPP, "telegram": pb.CHANNEL_TELEGRAM, "sms": pb.CHANNEL_SMS,
            "email": pb.CHANNEL_EMAIL}
TOKEN_REFRESH_S = 3600.0  # the token lives 12 hours; a fresh one every hour


class NotificationsClient:
    name = "notifications"

    def __init__(self, address: str, timeout: float, retries: int, auth_secret: str):
        self._backend = Backend(self.name, address, notifications_pb2_grpc.NotificationsServiceStub, timeout, retries)
        self._stub: notifications_pb2_grpc.NotificationsServiceStub = self._backend.stub
        self._secret = auth_secret
        self._token, self._token_at = "", 0.0

    def _system_token(self) -> str:
        if not self._token or time.monotonic() - self._token_at > TOKEN_REFRESH_S:
            self._token, self._token_at = issue_token(self._secret, "gateway", "", ["system"]), time.monotonic()
        return self._token

    async def receive(self, channel: str, sender: str, message_id: str, text: str, *, sender_name: str = "",
                      language: str = "", attachments: tuple[str, ...] = ()) -> pb.ReceiveChannelMessageResponse:
        """Safe to repeat: notifications recognises the message by its id."""
        request = pb.ReceiveChannelMessageRequest(channel=CHANNELS[channel], sender=sender, message_id=message_id,
                                                  text=text, sender_name=sender_name, language=language,
                                                  attachments=list(attachments))
        return await self._backend.unary(self._stub.ReceiveChannelMessage, request, safe=True, token=self._system_token())

    async def register_recipient(self, complaint_id: str, channel: str, address: str, language: str = "id") -> int:
        """Safe to repeat: the same address for the same complaint is registered once."""
        request = pb.RegisterRecipientRequest(complaint_id=complaint_id, channel=CHANNELS[channel], address=address,
                                              language=language)
        reply = await self._backend.unary(self._stub.RegisterRecipient, request, safe=True, token=self._system_token())
        return reply.queued

    async def healthy(self) -> bool:
        return await self._backend.healthy()

    async def close(self) -> None:
        await self._backend.close()
