"""A mail to the intake address, read: who sent it, what it says (without the quoted thread and the signature),
its attachments, the language the sender prefers, and whether it is a complaint, an opt-out, or not enough to act
on. Pure: the bytes as the SMTP server received them in, a reading out."""

from __future__ import annotations

import email
import email.policy
import email.utils
import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from kota_notifications.domain.model import RetryPolicy
from kota_notifications.domain.templates import language_of

OPT_OUT_WORDS = {"stop", "berhenti", "unsubscribe", "unsub"}
MAX_TEXT = 4000
# Where a reply's quoted thread starts: "On ... wrote:", "Pada ... menulis:", "-----Original Message-----".
QUOTE_HEADER = re.compile(r"^(on .+ wrote:|pada .+ menulis:|-{2,}\s*original message\s*-{2,})\s*$", re.I)


class IntakeKind(enum.StrEnum):
    COMPLAINT = "complaint"
    OPT_OUT = "opt_out"
    REFUSED = "refused"  # nothing to act on: the sender is told what is missing


PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    content: bytes = field(default=b"", repr=False, compare=False)
    photo_url: str = ""  # where it is served once kept as a photo (adapters/photos.py)

    @property
    def may_be_photo(self) -> bool:
        """Worth handing to the photo checks: an image by its type or its name (mail clients often say
        application/octet-stream); the checks decide from the bytes."""
        return self.content_type.startswith("image/") or self.filename.lower().endswith(PHOTO_SUFFIXES)

    @property
    def reference(self) -> str:
        """What the intake keeps of it: the kept photo's URL, else its name (staff can ask for it)."""
        return self.photo_url or self.filename or self.content_type


@dataclass(frozen=True)
class IncomingMail:
    sender: str
    sender_name: str
    subject: str
    text: str
    message_id: str
    language: str
    attachments: tuple[Attachment, ...] = ()
    auto_reply: bool = False  # an out-of-office or a bounce: never answered (mail loops)

    @property
    def kind(self) -> IntakeKind:
        subject = re.sub(r"^\s*((re|fwd?|aw)\s*:\s*)+", "", self.subject, flags=re.I).strip().lower()
        first_line = self.text.strip().split("\n", 1)[0].strip(" .!").lower()
        if subject in OPT_OUT_WORDS or first_line in OPT_OUT_WORDS:
            return IntakeKind.OPT_OUT
        return IntakeKind.REFUSED if self.missing else IntakeKind.COMPLAINT

    @property
    def missing(self) -> list[str]:
        """What a complaint needs that the mail does not say. A mail with a subject only says too little: the
        description is what staff act on."""
        return [] if len(self.text.split()) >= 3 else ["description"]


@dataclass
class ReadError(Exception):
    reason: str
    details: list[str] = field(default_factory=list)


def read_mail(raw: bytes, envelope_from: str = "") -> IncomingMail:
    """The mail's parts that matter here. ReadError when it has no sender to answer."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    name, address = email.utils.parseaddr(str(msg.get("Reply-To") or msg.get("From") or envelope_from))
    if not address or "@" not in address:
        raise ReadError("the mail has no sender address")
    body = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        content = body.get_content()
        text = _html_to_text(content) if body.get_content_type() == "text/html" else content
    attachments = tuple(
        Attachment(part.get_filename() or "", part.get_content_type(), len(content), content)
        for part in msg.iter_attachments()
        for payload in [part.get_payload(decode=True)]
        for content in [payload if isinstance(payload, bytes) else b""]
    )
    auto = str(msg.get("Auto-Submitted", "no")).lower() != "no" or bool(msg.get("X-Autoreply")) or \
        str(msg.get("Precedence", "")).lower() in ("bulk", "junk", "auto_reply") or \
        address.lower().startswith(("mailer-daemon@", "postmaster@"))
    return IncomingMail(
        sender=address, sender_name=name, subject=str(msg.get("Subject", "")).strip()[:300],
        text=strip_thread(text)[:MAX_TEXT], message_id=str(msg.get("Message-ID", "")).strip().strip("<>")[:200],
        language=language_of(str(msg.get("Content-Language") or msg.get("Accept-Language") or "")),
        attachments=attachments, auto_reply=auto,
    )


def photos_and_others(references: list[str]) -> tuple[list[str], list[str]]:
    """An intake's attachment references split into the kept photos' URLs and the names of the rest."""
    photos = [r for r in references if r.startswith(("http://", "https://"))]
    return photos, [r for r in references if r not in photos]


def strip_thread(text: str) -> str:
    """The sender's own words: quoted lines, the quoted thread and the signature (after "-- ") removed."""
    kept = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.rstrip() == "--" or QUOTE_HEADER.match(line.strip()):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _html_to_text(html: str) -> str:
    text = re.sub(r"(?is)<(script|style).*?</\1>", " ", html)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


class IntakeStatus(enum.StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    REFUSED = "refused"
    OPT_OUT = "opt_out"


@dataclass
class Intake:
    """A channel message on its way to the complaints service: pending until it is taken (retried with backoff
    while complaints is away, never given up: a citizen's report is not lost), or refused by the intake's rules."""

    id: str
    channel: str
    sender: str
    received_at: datetime
    sender_name: str = ""
    subject: str = ""
    text: str = ""
    external_ref: str = ""
    language: str = "id"
    attachments: list[str] = field(default_factory=list)
    status: IntakeStatus = IntakeStatus.PENDING
    missing: list[str] = field(default_factory=list)
    complaint_id: str = ""
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str = ""

    def submitted(self, complaint_id: str) -> None:
        if self.status is not IntakeStatus.PENDING:
            raise ValueError(f"intake {self.id} is {self.status}")
        self.attempts += 1
        self.status, self.complaint_id, self.next_attempt_at, self.last_error = IntakeStatus.SUBMITTED, complaint_id, None, ""
        self.text = ""  # complaints holds it now; this service keeps no copy of the report

    def refused(self, missing: list[str]) -> None:
        self.status, self.missing, self.next_attempt_at, self.text = IntakeStatus.REFUSED, list(missing), None, ""

    def not_taken(self, detail: str, now: datetime, policy: RetryPolicy) -> None:
        """Complaints did not answer: the next try after a backoff (capped), however long it is away."""
        self.attempts += 1
        self.last_error = detail[:500]
        self.next_attempt_at = now + policy.delay(self.attempts)


@dataclass(frozen=True)
class Submitted:
    """What the complaints service answered a channel message with."""

    complaint_id: str
    tracking_code: str
    agency: str
    missing: tuple[str, ...] = ()  # what it could not work out (it still took the complaint)


class ComplaintsUnavailable(Exception):
    """Complaints did not take the message now (down, slow, overloaded): try again later."""


class ComplaintRefused(Exception):
    """Complaints refused the message for good; `missing`: the fields it named."""

    def __init__(self, message: str, missing: list[str]):
        super().__init__(message)
        self.missing = missing
