"""Chat and SMS webhooks (/webhooks/...): WhatsApp Cloud API, Telegram Bot API and a generic SMS gateway form.

Each call is verified first (service_layer/webhooks.py), then each message in it is handed to the notifications
service over gRPC, which keeps it before answering (a duplicate delivery is recognised there by the platform's
message id) and carries the conversation on through the same channel. The webhook answers 200 once every message
is kept, well within the platforms' deadlines (it waits for one database write, not for complaints); 503 when
notifications cannot take them now, so that the platform delivers again later. A webhook whose secret is not
configured is not offered (404). Citizens' numbers and chat ids are passed on, never logged."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from kota_gateway.adapters.errors import FailureCode, RpcFailure, ServiceUnavailable
from kota_gateway.adapters.notifications import NotificationsClient
from kota_gateway.service_layer.webhooks import (
    InboundMessage,
    Unverified,
    sms_message,
    subscription_challenge,
    telegram_message,
    verify_hmac_sha256,
    verify_secret,
    whatsapp_messages,
)

log = logging.getLogger(__name__)
# A message notifications refuses with these (a sender that is no phone number) would be refused again: it is
# acknowledged to the platform and dropped. Any other failure asks the platform to deliver it again.
REFUSED_FOR_GOOD = frozenset({FailureCode.INVALID_ARGUMENT, FailureCode.FAILED_PRECONDITION})
router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def _refused(exc: Unverified) -> JSONResponse:
    log.warning("a webhook call was refused: %s", exc.reason)
    return JSONResponse({"detail": exc.reason}, exc.status)


def _not_offered(channel: str) -> JSONResponse:
    return JSONResponse({"detail": f"the {channel} webhook is not configured on this gateway"}, 404)


async def _hand_over(request: Request, messages: list[InboundMessage]) -> JSONResponse:
    client: NotificationsClient = request.app.state.notifications
    received = 0
    for m in messages:
        try:
            await client.receive(m.channel, m.sender, m.message_id, m.text, sender_name=m.sender_name,
                                 language=m.language, attachments=m.attachments)
            received += 1
        except ServiceUnavailable:
            # The platform delivers again later; what was kept already is recognised then by its id.
            return JSONResponse({"detail": "the notifications service is unavailable; deliver again later"}, 503,
                                headers={"Retry-After": "30"})
        except RpcFailure as exc:
            if exc.code not in REFUSED_FOR_GOOD:  # its transaction failed (two messages of one sender at once)
                return JSONResponse({"detail": "the message could not be kept now; deliver again later"}, 503,
                                    headers={"Retry-After": "5"})
            log.warning("notifications refused a %s message: %s", m.channel, exc.code.value)
    return JSONResponse({"ok": True, "received": received})


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return None


# -- WhatsApp Cloud API ------------------------------------------------------------------------------------------
@router.get("/whatsapp", summary="WhatsApp Cloud API: the subscription handshake (answers hub.challenge)",
            response_class=PlainTextResponse)
async def whatsapp_subscribe(
    request: Request,
    mode: str | None = Query(None, alias="hub.mode"),
    verify_token: str | None = Query(None, alias="hub.verify_token"),
    challenge: str | None = Query(None, alias="hub.challenge", max_length=200),
):
    settings = request.app.state.settings
    if not settings.whatsapp_verify_token:
        return _not_offered("whatsapp")
    try:
        return PlainTextResponse(subscription_challenge(settings.whatsapp_verify_token, mode, verify_token, challenge))
    except Unverified as exc:
        return _refused(exc)


@router.post("/whatsapp", summary="WhatsApp Cloud API: messages (X-Hub-Signature-256 verified)")
async def whatsapp_webhook(request: Request):
    settings = request.app.state.settings
    if not settings.whatsapp_app_secret:
        return _not_offered("whatsapp")
    body = await request.body()
    try:
        verify_hmac_sha256(settings.whatsapp_app_secret, body, request.headers.get("X-Hub-Signature-256"),
                           "X-Hub-Signature-256")
    except Unverified as exc:
        return _refused(exc)
    return await _hand_over(request, whatsapp_messages(_json(body)))


# -- Telegram Bot API --------------------------------------------------------------------------------------------
@router.post("/telegram", summary="Telegram Bot API: updates (X-Telegram-Bot-Api-Secret-Token verified)")
async def telegram_webhook(request: Request):
    settings = request.app.state.settings
    if not settings.telegram_secret_token:
        return _not_offered("telegram")
    try:
        verify_secret(settings.telegram_secret_token, request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
                      "X-Telegram-Bot-Api-Secret-Token")
    except Unverified as exc:
        return _refused(exc)
    message = telegram_message(_json(await request.body()))
    return await _hand_over(request, [message] if message else [])


# -- a generic SMS gateway ---------------------------------------------------------------------------------------
@router.post("/sms", summary="SMS gateway: one SMS as form fields from, text, id (X-Kota-Signature verified)")
async def sms_webhook(request: Request):
    settings = request.app.state.settings
    if not settings.sms_webhook_secret:
        return _not_offered("sms")
    body = await request.body()
    try:
        verify_hmac_sha256(settings.sms_webhook_secret, body, request.headers.get("X-Kota-Signature"), "X-Kota-Signature")
    except Unverified as exc:
        return _refused(exc)
    message = sms_message(dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True)))
    if message is None:
        return JSONResponse({"detail": "the form needs the fields from, text and id"}, 422)
    return await _hand_over(request, [message])
