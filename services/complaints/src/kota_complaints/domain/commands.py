"""Commands of the complaints service: what a caller asks for, before any use case has looked at it.

Plain data (no I/O), so that the channel adapters and the entry points can build them without the service layer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 -]{6,18}$")


@dataclass(frozen=True)
class Contact:
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    device_id: str = ""

    @property
    def empty(self) -> bool:
        return not any((self.first_name, self.last_name, self.email, self.phone, self.device_id))


@dataclass(frozen=True)
class SubmitComplaint:
    channel: str
    service_code: str
    description: str
    lat: float | None = None
    lon: float | None = None
    address: str = ""
    kelurahan_code: str = ""
    media_urls: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    contact: Contact = Contact()
    anonymous: bool = False
    idempotency_key: str = ""
    external_ref: str = ""

    def stored_idempotency_key(self) -> str | None:
        """The caller's key with what was sent with it, both hashed: "k2:<key>:<content>". A retry of the same
        submission finds its complaint and tracking code again; the same key with other content is refused
        (as Stripe and the IETF Idempotency-Key draft do) and never reveals the complaint made with it."""
        if not self.idempotency_key:
            return None
        content = repr(replace(self, attributes=dict(sorted(self.attributes.items()))))
        return f"k2:{_digest(self.idempotency_key)}:{_digest(content)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]  # 128 bits
