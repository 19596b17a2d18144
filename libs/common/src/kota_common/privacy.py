"""Scrubbing of personal data from free text: phone numbers, e-mail addresses and 16-digit NIK."""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# NIK: Indonesian national identity number, 16 digits (possibly grouped).
NIK = re.compile(r"(?<!\d)\d{6}[ .-]?\d{6}[ .-]?\d{4}(?!\d)")
# Indonesian phone numbers: +62 / 62 / 0 followed by 8-13 digits, spaces or dashes allowed.
PHONE = re.compile(r"(?<![\w])(?:\+?62|0)[ -]?\d{2,4}(?:[ -]?\d{2,4}){2,4}(?!\d)")


def scrub(text: str) -> str:
    """Replaces personal identifiers in free text with placeholders."""
    if not text:
        return text
    if "@" in text:  # EMAIL tries every start of a word run: costly on long text, needless without an "@"
        text = EMAIL.sub("[email]", text)
    text = NIK.sub("[nik]", text)
    return PHONE.sub("[phone]", text)
