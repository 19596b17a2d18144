"""Channel adapters: turn a raw message from any intake channel into one SubmitComplaint.

Jakarta's CRM takes complaints from fourteen channels; most arrive as free text. The adapters here are pure
(no I/O): they pick the category from keywords, the kelurahan from the text, the sender's contact (kept in
the complaints service only) and the channel's own reference, and say what could not be worked out.
SMS and chat also accept the structured form `LAPOR#<category or keyword>#<kelurahan>#<text>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kota_common.reference import AreaDirectory
from kota_complaints.domain.commands import EMAIL, PHONE, Contact, SubmitComplaint
from kota_complaints.domain.model import Channel, ServiceCategory

STRUCTURED = re.compile(r"^\s*(?:LAPOR|ADUAN)\s*#(?P<category>[^#]*)#(?P<place>[^#]*)#(?P<text>.+)$", re.I | re.S)
FALLBACK_CATEGORY = "other"
MAX_TEXT = 4000


@dataclass(frozen=True)
class RawMessage:
    channel: Channel
    text: str
    sender: str = ""
    sender_name: str = ""
    subject: str = ""
    external_ref: str = ""
    media_urls: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class Normalised:
    command: SubmitComplaint
    guessed_category: bool
    found_place: str


class ChannelNormaliser:
    def __init__(self, categories: dict[str, ServiceCategory], areas: AreaDirectory):
        self.categories = categories
        self.areas = areas
        # Longest names first, so that "Kelapa Gading Barat" wins over "Kelapa Gading".
        names = []
        for kel in areas.kelurahan():
            for name in (kel.name, *kel.aliases):
                names.append((name.lower(), kel.code))
        self._places = sorted(names, key=lambda n: -len(n[0]))
        self._keywords = sorted(
            ((kw.lower(), c.code) for c in categories.values() for kw in (*c.keywords, c.code, c.name.lower())),
            key=lambda k: -len(k[0]),
        )

    def category_for(self, text: str) -> str | None:
        lowered = text.lower()
        for keyword, code in self._keywords:
            if keyword and re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", lowered):
                return code
        return None

    def place_in(self, text: str) -> str | None:
        lowered = text.lower()
        for name, code in self._places:
            if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", lowered):
                return code
        return None

    def normalise(self, msg: RawMessage) -> Normalised:
        text, subject = msg.text.strip(), msg.subject.strip()
        category_hint, place_hint = "", ""
        structured = STRUCTURED.match(text) if msg.channel in (Channel.SMS, Channel.WHATSAPP, Channel.TELEGRAM) else None
        if structured:
            category_hint = structured["category"].strip()
            place_hint = structured["place"].strip()
            text = structured["text"].strip()
        if subject and subject.lower() not in text.lower():
            text = f"{subject}: {text}"
        code = (
            (category_hint if category_hint in self.categories else None)
            or (self.category_for(category_hint) if category_hint else None)
            or self.category_for(text)
        )
        kelurahan = (self.place_in(place_hint) if place_hint else None) or self.place_in(text) or ""
        return Normalised(
            command=SubmitComplaint(
                channel=msg.channel.value,
                service_code=code or FALLBACK_CATEGORY,
                description=text[:MAX_TEXT],
                lat=msg.lat,
                lon=msg.lon,
                address=place_hint if place_hint and not kelurahan else "",
                kelurahan_code=kelurahan,
                media_urls=msg.media_urls,
                contact=contact_from_sender(msg.sender, msg.sender_name, chat_id=msg.channel is Channel.TELEGRAM),
                external_ref=msg.external_ref,
                # The same channel message delivered twice (webhook retries) is one complaint.
                idempotency_key=f"{msg.channel.value}:{msg.external_ref}" if msg.external_ref else "",
            ),
            guessed_category=code is None,
            found_place=kelurahan,
        )


def contact_from_sender(sender: str, name: str = "", *, chat_id: bool = False) -> Contact:
    """`chat_id`: the sender is a Telegram chat id, which may look like a phone number but is none."""
    sender = sender.strip()
    first, _, last = name.strip().partition(" ")
    if chat_id and sender:
        return Contact(first_name=first, last_name=last, device_id=sender)
    if EMAIL.match(sender):
        return Contact(first_name=first, last_name=last, email=sender)
    if PHONE.match(sender):
        return Contact(first_name=first, last_name=last, phone=sender)
    if sender:  # a social-media handle or device id
        return Contact(first_name=first, last_name=last, device_id=sender)
    return Contact(first_name=first, last_name=last)


def reply_text(complaint_id: str, tracking_code: str, agency: str, duplicate_of: str | None) -> str:
    """The acknowledgement sent back on the citizen's channel."""
    if duplicate_of:
        return (f"Terima kasih. Laporan {complaint_id} digabung dengan laporan {duplicate_of} yang sedang "
                f"ditangani {agency}. Kode pelacakan: {tracking_code}.")
    return f"Terima kasih. Laporan {complaint_id} diteruskan ke {agency}. Kode pelacakan: {tracking_code}."
