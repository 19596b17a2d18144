"""The chat and SMS webhooks' rules, free of HTTP: whether a call comes from the platform (its signature or its
secret), and which citizens' messages it carries. See docs/channels.md for the platforms' side.

    WhatsApp Cloud API   X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with the app secret>;
                         the subscription handshake answers hub.challenge when hub.verify_token matches
    Telegram Bot API     X-Telegram-Bot-Api-Secret-Token: the secret_token given to setWebhook
    SMS gateway          X-Kota-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the shared secret>

A call without its credential is refused with 401, one with a wrong credential with 403; every comparison takes
constant time. What a verified call carries becomes InboundMessages; what is not a citizen's message (WhatsApp's
delivery statuses, an edited Telegram message, a bot's own post) is left out."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

MAX_TEXT = 4000


class Unverified(Exception):
    """The call does not prove it comes from the platform: `status` 401 (no credential) or 403 (a wrong one)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class InboundMessage:
    channel: str  # whatsapp, telegram, sms
    sender: str  # a phone number or a Telegram chat id: passed to notifications, never logged
    message_id: str  # the platform's id: a delivery made again is recognised by it
    text: str
    sender_name: str = ""
    language: str = ""
    attachments: tuple[str, ...] = ()


# -- verification ------------------------------------------------------------------------------------------------
def verify_hmac_sha256(secret: str, body: bytes, header: str | None, name: str) -> None:
    """`header` is `sha256=<hex>` of the raw body keyed with `secret` (WhatsApp's X-Hub-Signature-256; the SMS
    gateway's X-Kota-Signature)."""
    if not header:
        raise Unverified(401, f"{name} is missing")
    algorithm, _, digest = header.strip().partition("=")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if algorithm.lower() != "sha256" or not hmac.compare_digest(digest.strip().lower().encode(), expected.encode()):
        raise Unverified(403, f"{name} does not match the body")


def verify_secret(expected: str, given: str | None, name: str) -> None:
    """A shared secret sent as is (Telegram's X-Telegram-Bot-Api-Secret-Token)."""
    if not given:
        raise Unverified(401, f"{name} is missing")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unverified(403, f"{name} is not this gateway's")


def subscription_challenge(verify_token: str, mode: str | None, token: str | None, challenge: str | None) -> str:
    """WhatsApp's GET handshake when the webhook is configured: the challenge back if the verify token is ours."""
    if mode != "subscribe" or not token or challenge is None:
        raise Unverified(401, "not a subscription request (hub.mode=subscribe, hub.verify_token, hub.challenge)")
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        raise Unverified(403, "hub.verify_token is not this gateway's")
    return challenge


# -- what the platforms send -------------------------------------------------------------------------------------
def whatsapp_messages(payload: Any) -> list[InboundMessage]:
    """The citizens' messages of a Cloud API webhook (entry[].changes[].value.messages[]); delivery statuses and
    other fields are no messages."""
    found: list[InboundMessage] = []
    if not isinstance(payload, dict):
        return found
    for entry in _list(payload.get("entry")):
        for change in _list(_dict(entry).get("changes")):
            value = _dict(_dict(change).get("value"))
            names = {_dict(c).get("wa_id"): _dict(_dict(c).get("profile")).get("name", "") for c in _list(value.get("contacts"))}
            for m in _list(value.get("messages")):
                m = _dict(m)
                sender, message_id = str(m.get("from", "")), str(m.get("id", ""))
                if not sender or not message_id:
                    continue
                kind = str(m.get("type", "text"))
                text, attachments = _whatsapp_text(m, kind)
                found.append(InboundMessage("whatsapp", sender, message_id, text[:MAX_TEXT], str(names.get(sender) or ""),
                                            attachments=attachments))
    return found


def _whatsapp_text(m: dict, kind: str) -> tuple[str, tuple[str, ...]]:
    if kind == "text":
        return str(_dict(m.get("text")).get("body", "")), ()
    if kind in ("image", "video", "audio", "document", "sticker"):
        media = _dict(m.get(kind))
        return str(media.get("caption", "")), (_whatsapp_attachment(kind, media),)
    if kind == "interactive":
        reply = _dict(m.get("interactive"))
        chosen = _dict(reply.get("button_reply") or reply.get("list_reply"))
        return str(chosen.get("title", "")), ()
    if kind == "button":
        return str(_dict(m.get("button")).get("text", "")), ()
    if kind == "location":
        place = _dict(m.get("location"))
        return " ".join(str(place.get(k, "")) for k in ("name", "address") if place.get(k)), ()
    return "", ()


def _whatsapp_attachment(kind: str, media: dict) -> str:
    """A photo (or an image sent as a document) as `whatsapp-media:<media id>`, which notifications fetches from the
    Cloud API and keeps; any other media by its name or kind, for staff."""
    media_id = str(media.get("id") or "")
    is_image = kind == "image" or (kind == "document" and str(media.get("mime_type", "")).startswith("image/"))
    if is_image and media_id:
        return "whatsapp-media:" + media_id
    return str(media.get("filename") or kind)


def _telegram_attachments(message: dict) -> tuple[str, ...]:
    """A photo as `telegram-file:<file_id>` of its largest size (Telegram sends several; notifications fetches it
    with getFile), an image sent as a document likewise; any other media by its kind, for staff."""
    found = []
    sizes = [s for s in _list(message.get("photo")) if isinstance(s, dict) and s.get("file_id")]
    if sizes:
        largest = max(sizes, key=lambda s: (s.get("file_size") or 0, s.get("width") or 0))
        found.append("telegram-file:" + str(largest["file_id"]))
    document = _dict(message.get("document"))
    if document.get("file_id") and str(document.get("mime_type", "")).startswith("image/"):
        found.append("telegram-file:" + str(document["file_id"]))
    elif document:
        found.append("document")
    found += [kind for kind in ("video", "voice") if message.get(kind)]
    if message.get("photo") and not sizes:
        found.append("photo")
    return tuple(found)


def telegram_message(update: Any) -> InboundMessage | None:
    """The citizen's message of a Telegram Update (a new message to the bot), named by the update_id (unique per
    bot, and what Telegram sends again when it retries); None for any other update."""
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return None
    message = _dict(update.get("message"))
    chat, author = _dict(message.get("chat")), _dict(message.get("from"))
    if not chat.get("id") or author.get("is_bot"):
        return None
    text = str(message.get("text") or message.get("caption") or "")
    attachments = _telegram_attachments(message)
    name = " ".join(str(author.get(k, "")) for k in ("first_name", "last_name") if author.get(k))
    return InboundMessage("telegram", str(chat["id"]), str(update["update_id"]), text[:MAX_TEXT], name,
                          str(author.get("language_code") or ""), attachments)


def sms_message(form: dict[str, str]) -> InboundMessage | None:
    """The SMS gateway's generic form: from (the sender's number), text, id (the gateway's message id)."""
    sender, message_id = form.get("from", "").strip(), form.get("id", "").strip()
    if not sender or not message_id:
        return None
    return InboundMessage("sms", sender, message_id, form.get("text", "")[:MAX_TEXT])


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
