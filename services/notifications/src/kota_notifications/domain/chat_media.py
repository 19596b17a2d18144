"""Photos sent through a chat platform, as the gateway's webhooks name them: a reference to the platform's media
(`whatsapp-media:<media id>`, `telegram-file:<file_id>`), fetched later from the platform's API by the intake
worker (adapters/chat_media.py) and replaced in the intake by the kept photo's URL, or by a note for staff when it
is refused or cannot be fetched. Pure: parsing the references, and what replaces them."""

from __future__ import annotations

from dataclasses import dataclass

PREFIXES = {"whatsapp-media:": "whatsapp", "telegram-file:": "telegram"}
PLATFORM_NAMES = {"whatsapp": "WhatsApp", "telegram": "Telegram"}
MAX_ID = 512


@dataclass(frozen=True)
class MediaRef:
    platform: str  # whatsapp, telegram
    media_id: str  # WhatsApp's media id, Telegram's file_id

    def __str__(self) -> str:
        return next(prefix for prefix, p in PREFIXES.items() if p == self.platform) + self.media_id


def parse(reference: str) -> MediaRef | None:
    """The platform media an intake's attachment reference names; None for anything else (a kept photo's URL, a
    file's name)."""
    for prefix, platform in PREFIXES.items():
        if reference.startswith(prefix):
            media_id = reference.removeprefix(prefix)
            if media_id and len(media_id) <= MAX_ID and media_id.isprintable() and " " not in media_id:
                return MediaRef(platform, media_id)
    return None


def pending(references: list[str]) -> bool:
    """Whether any attachment is still a platform's media to fetch."""
    return any(parse(r) is not None for r in references)


def refused_note(media: MediaRef, reason: str) -> str:
    """What staff read instead of a photo the checks refused (nothing of it is stored)."""
    return f"foto {PLATFORM_NAMES[media.platform]} ditolak: {reason}"


def not_fetched_note(media: MediaRef) -> str:
    """What staff read instead of a photo the platform did not give (after the last try): they may ask for it."""
    return f"foto {PLATFORM_NAMES[media.platform]} tidak dapat diambil"


class MediaUnavailable(Exception):
    """The platform did not answer now (down, slow, 5xx): try again later."""


class MediaRefused(Exception):
    """The media is not kept, for good: too large, not an image, unknown to the platform (expired). `reason`: what
    staff are told."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Resolved:
    """An intake's attachments after one round of fetching: `attachments` (URLs, notes, and references still to
    fetch) and whether a platform was unavailable (the intake waits and tries again)."""

    attachments: list[str]
    unavailable: str = ""


def resolve(references: list[str], fetch, give_up: bool) -> Resolved:
    """Each platform reference fetched with `fetch(media) -> url` (MediaRefused, MediaUnavailable); `give_up`: the
    last try, after which a media the platform does not give is a note for staff rather than a reason to wait."""
    out: list[str] = []
    unavailable = ""
    for reference in references:
        media = parse(reference)
        if media is None:
            out.append(reference)
            continue
        try:
            out.append(fetch(media))
        except MediaRefused as exc:
            out.append(refused_note(media, exc.reason))
        except MediaUnavailable as exc:
            if give_up:
                out.append(not_fetched_note(media))
            else:
                out.append(reference)
                unavailable = unavailable or str(exc) or "the platform did not answer"
    return Resolved(out, unavailable)
