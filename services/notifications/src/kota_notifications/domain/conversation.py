"""A chat or SMS conversation with a citizen, until their report can be submitted.

A WhatsApp, Telegram or SMS message rarely says everything at once. The conversation keeps what the citizen said
and asks, one thing at a time, for what a report still lacks: a description (three words at least), its category
and its kelurahan. Each answer is read as the complaints service's channel normaliser reads a message (the same
keywords, the longest first, the same kelurahan names and aliases; `LAPOR#category#kelurahan#text` too), so that
what the conversation found is what complaints will find in the text it is finally given. A question asked
MAX_ASKS times without an answer is not asked again: the report goes with what is known (staff ask the rest).

    hear(text) --> Ask(what is missing)     (asking: the thing asked for)
               --> Submit(report)            (the conversation is over; the report goes to complaints)
               --> OptOut                    (STOP, BERHENTI)
               --> Cancelled                 (BATAL: the report being written is dropped)

Pure: the text in, the next step out; the caller keeps the conversation between messages."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kota_notifications.domain.intake import OPT_OUT_WORDS

ASKABLE = ("description", "category", "kelurahan")
MAX_ASKS = 3
MIN_WORDS = 3
MAX_TEXT = 4000
IDLE = timedelta(hours=24)  # a conversation left this long starts over: its half-report is stale
CANCEL_WORDS = {"batal", "cancel", "reset"}
STRUCTURED = re.compile(r"^\s*(?:LAPOR|ADUAN)\s*#(?P<category>[^#]*)#(?P<place>[^#]*)#(?P<text>.+)$", re.I | re.S)


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    keywords: tuple[str, ...] = ()


class Vocabulary:
    """The categories (from the complaints service) and the kelurahan (the shared area directory) a message is read
    against, matched as complaints' ChannelNormaliser matches them: whole words, longest first."""

    def __init__(self, categories: Sequence[Category], kelurahan: Iterable[tuple[str, Sequence[str]]]):
        self.categories = list(categories)
        self.by_code = {c.code: c for c in self.categories}
        self._keywords = sorted(((kw.lower(), c.code) for c in self.categories
                                 for kw in (*c.keywords, c.code, c.name.lower()) if kw),
                                key=lambda k: -len(k[0]))
        self._places = sorted(((alias.lower(), name) for name, aliases in kelurahan for alias in (name, *aliases)),
                              key=lambda p: -len(p[0]))

    @property
    def knows_categories(self) -> bool:
        """False until the categories were read from complaints: then the category is not asked (complaints guesses)."""
        return bool(self.categories)

    def category_for(self, text: str) -> str:
        lowered = text.lower()
        for keyword, code in self._keywords:
            if re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", lowered):
                return code
        return ""

    def place_in(self, text: str) -> str:
        """The kelurahan's name as the directory spells it, or ""."""
        lowered = text.lower()
        for alias, name in self._places:
            if re.search(rf"(?<!\w){re.escape(alias)}(?!\w)", lowered):
                return name
        return ""


class StepKind(enum.StrEnum):
    ASK = "ask"
    SUBMIT = "submit"
    OPT_OUT = "opt_out"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Step:
    kind: StepKind
    missing: tuple[str, ...] = ()  # ASK: everything still lacking, the one asked for first
    report: str = ""  # SUBMIT: the text for complaints (the citizen's words, the category and kelurahan named)


@dataclass
class Conversation:
    channel: str
    sender: str
    started_at: datetime
    updated_at: datetime
    language: str = "id"
    sender_name: str = ""
    text: str = ""
    category: str = ""
    kelurahan: str = ""
    asking: str = ""
    asked: dict[str, int] = field(default_factory=dict)
    attachments: list[str] = field(default_factory=list)

    def hear(self, text: str, vocabulary: Vocabulary, now: datetime, attachments: Sequence[str] = ()) -> Step:
        """The next step after the citizen wrote `text` (with media of `attachments`)."""
        said = text.strip()
        first_line = said.split("\n", 1)[0].strip(" .!").lower()
        if first_line in OPT_OUT_WORDS:
            return Step(StepKind.OPT_OUT)
        if first_line in CANCEL_WORDS:
            self._start_over(now)
            return Step(StepKind.CANCELLED)
        if now - self.updated_at > IDLE:
            self._start_over(now)
        self.updated_at = now
        self.attachments += [a for a in attachments if a][:10]
        if not self._menu_choice(said, vocabulary):
            self._take(said, vocabulary)
        if not self.category and vocabulary.knows_categories:
            self.category = vocabulary.category_for(self.text)
        if not self.kelurahan:
            self.kelurahan = vocabulary.place_in(self.text)
        missing = self.missing(vocabulary)
        asked = [m for m in missing if self.asked.get(m, 0) < MAX_ASKS]
        if asked:
            self.asking = asked[0]
            self.asked[self.asking] = self.asked.get(self.asking, 0) + 1
            return Step(StepKind.ASK, tuple(asked))
        self.asking = ""
        return Step(StepKind.SUBMIT, report=self.report(vocabulary))

    def missing(self, vocabulary: Vocabulary) -> list[str]:
        lacking = []
        if len(self.text.split()) < MIN_WORDS:
            lacking.append("description")
        if not self.category and vocabulary.knows_categories:
            lacking.append("category")
        if not self.kelurahan:
            lacking.append("kelurahan")
        return lacking

    def report(self, vocabulary: Vocabulary) -> str:
        """The citizen's words with the category and kelurahan named in them, as complaints' normaliser finds them
        (a category picked by its number in the menu appears by name)."""
        lines = [self.text]
        category = vocabulary.by_code.get(self.category)
        if category is not None and vocabulary.category_for(self.text) != category.code:
            lines.append(f"Kategori: {category.name}")
        if self.kelurahan and vocabulary.place_in(self.text) != self.kelurahan:
            lines.append(f"Kelurahan: {self.kelurahan}")
        return "\n".join(line for line in lines if line)[:MAX_TEXT]

    def _menu_choice(self, said: str, vocabulary: Vocabulary) -> bool:
        """True when `said` is a number picked from the category menu (nothing else to keep). Any other answer is
        kept with the report (a citizen's "sampah di pinggir jalan" says more than its category) and read with it."""
        if self.asking != "category":
            return False
        number = said.strip().rstrip(".)")
        if number.isdigit() and 1 <= int(number) <= len(vocabulary.categories):
            self.category = vocabulary.categories[int(number) - 1].code
            return True
        return False

    def _take(self, said: str, vocabulary: Vocabulary) -> None:
        structured = STRUCTURED.match(said)
        if structured:
            hint, place, said = structured["category"].strip(), structured["place"].strip(), structured["text"].strip()
            code = hint if hint in vocabulary.by_code else vocabulary.category_for(hint) if hint else ""
            self.category = self.category or code
            self.kelurahan = self.kelurahan or (vocabulary.place_in(place) if place else "")
        if said:
            self.text = f"{self.text}\n{said}".strip()[:MAX_TEXT]

    def _start_over(self, now: datetime) -> None:
        self.text, self.category, self.kelurahan, self.asking = "", "", "", ""
        self.asked, self.attachments = {}, []
        self.started_at = self.updated_at = now


# -- what the citizen is told ------------------------------------------------------------------------------------
_QUESTIONS = {
    "id": {
        "description": "Ceritakan masalahnya: apa yang terjadi dan di mana?",
        "category": "Masalah apa yang ingin Anda laporkan? Balas dengan nomornya:",
        "kelurahan": "Di kelurahan mana lokasinya? Balas dengan nama kelurahannya (misalnya: Gambir).",
    },
    "en": {
        "description": "Tell us about the problem: what happened, and where?",
        "category": "What kind of problem is it? Reply with its number:",
        "kelurahan": "In which kelurahan is it? Reply with the kelurahan's name (for example: Gambir).",
    },
}
_NOT_UNDERSTOOD = {"id": "Maaf, kami belum mengerti jawaban Anda.", "en": "Sorry, we did not understand that."}
_HELLO = {"id": "Terima kasih, laporan Anda kami catat.", "en": "Thank you, we are writing down your report."}
_FOOTER = {"id": "Balas BATAL untuk membatalkan laporan ini, BERHENTI untuk tidak lagi menerima pesan.",
           "en": "Reply CANCEL to drop this report, STOP to receive no more messages."}
_CANCELLED = {"id": "Laporan yang sedang Anda tulis kami batalkan. Kirim pesan baru kapan saja untuk melapor.",
              "en": "We dropped the report you were writing. Send a new message any time to report."}


def question(conversation: Conversation, vocabulary: Vocabulary) -> str:
    """The message asking for `conversation.asking`."""
    lang = conversation.language if conversation.language in _QUESTIONS else "id"
    lines = [_QUESTIONS[lang][conversation.asking]]
    if conversation.asked.get(conversation.asking, 0) > 1:
        lines.insert(0, _NOT_UNDERSTOOD[lang])
    elif sum(conversation.asked.values()) == 1:  # the first answer of the conversation
        lines.insert(0, _HELLO[lang])
    if conversation.asking == "category":
        lines.append("\n".join(f"{n}. {c.name}" for n, c in enumerate(vocabulary.categories, 1)))
    lines.append(_FOOTER[lang])
    return "\n\n".join(lines)


def cancelled(language: str) -> str:
    return _CANCELLED["en" if language == "en" else "id"]
