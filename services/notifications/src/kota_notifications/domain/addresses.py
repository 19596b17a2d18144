"""Citizens' addresses (e-mail, phone, chat id): checked, normalised, masked for staff, and hashed for the opt-out
list, which keeps no address. An opt-out token names an address by its keyed hash, signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from kota_notifications.domain.model import Channel, DomainError

EMAIL = re.compile(r"^[\w.+-]+@[\w-]+(?:\.[\w-]+)+$")
PHONE = re.compile(r"^\+?\d{8,15}$")
CHAT_ID = re.compile(r"^-?\d{1,20}$")


class InvalidAddress(DomainError):
    pass


def normalise(channel: Channel, address: str) -> str:
    a = address.strip()
    if channel is Channel.EMAIL:
        if not EMAIL.match(a):
            raise InvalidAddress("not an e-mail address", "address")
        local, _, domain = a.rpartition("@")
        return f"{local}@{domain.lower()}"
    if channel in (Channel.WHATSAPP, Channel.SMS):
        digits = re.sub(r"[ .()-]", "", a)
        if digits.startswith("0"):  # a national number: Indonesia's country code
            digits = "+62" + digits[1:]
        elif not digits.startswith("+"):
            digits = "+" + digits
        if not PHONE.match(digits):
            raise InvalidAddress("not a phone number", "address")
        return digits
    if not CHAT_ID.match(a):
        raise InvalidAddress("not a Telegram chat id", "address")
    return a


def mask(channel: Channel | str, address: str) -> str:
    """Enough for staff to tell two citizens apart and to recognise one who calls, not to write to them."""
    if str(channel) == Channel.EMAIL and "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    return f"{address[:3]}{'*' * max(len(address) - 7, 1)}{address[-4:]}" if len(address) > 7 else "***"


def address_hash(key: bytes, channel: Channel | str, address: str) -> str:
    return hmac.new(key, f"{channel}:{address}".encode(), hashlib.sha256).hexdigest()


def opt_out_token(key: bytes, channel: Channel | str, address: str) -> str:
    """`<channel>.<address hash>.<signature>`: the holder may stop messages to that address, nothing more."""
    payload = f"{channel}.{address_hash(key, channel, address)}"
    return f"{payload}.{_sign(key, payload)}"


def read_opt_out_token(key: bytes, token: str) -> tuple[Channel, str]:
    """(channel, address hash) of a token this service issued; InvalidAddress otherwise."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] not in {c.value for c in Channel}:
        raise InvalidAddress("not an opt-out token of this service", "token")
    payload = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(parts[2], _sign(key, payload)):
        raise InvalidAddress("not an opt-out token of this service", "token")
    return Channel(parts[0]), parts[1]


def _sign(key: bytes, payload: str) -> str:
    digest = hmac.new(key, b"opt-out:" + payload.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
