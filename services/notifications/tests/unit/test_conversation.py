"""The chat conversation without I/O: what it asks for, in what order, how it reads the answers (as complaints'
normaliser reads a message), when it gives up asking, and what it hands to complaints."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kota_common.reference import AreaDirectory
from kota_notifications.domain.conversation import (
    IDLE,
    MAX_ASKS,
    Category,
    Conversation,
    StepKind,
    Vocabulary,
    cancelled,
    question,
)

T0 = datetime(2026, 3, 4, 7, 0, tzinfo=timezone.utc)
CATEGORIES = [
    Category("flooding", "Banjir / genangan", ("banjir", "genangan", "tergenang")),
    Category("waste", "Sampah tidak terangkut", ("sampah", "tps")),
    Category("road_damage", "Jalan rusak / berlubang", ("jalan rusak", "berlubang", "lubang")),
    Category("other", "Lainnya"),
]


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary(CATEGORIES, [(k.name, k.aliases) for k in AreaDirectory.load_jakarta().kelurahan()])


def talk(vocabulary: Vocabulary, *texts: str, language: str = "id") -> tuple[Conversation, list]:
    c = Conversation("whatsapp", "+6281234567890", T0, T0, language=language)
    return c, [c.hear(t, vocabulary, T0 + timedelta(minutes=i)) for i, t in enumerate(texts)]


def test_a_complete_message_is_submitted_at_once_with_nothing_added(vocabulary):
    c, [step] = talk(vocabulary, "Sampah menumpuk di TPS Gambir sudah tiga hari")
    assert step.kind is StepKind.SUBMIT
    assert (c.category, c.kelurahan) == ("waste", "Gambir")
    assert step.report == "Sampah menumpuk di TPS Gambir sudah tiga hari"


def test_a_greeting_is_asked_for_the_description_then_the_category_then_the_kelurahan(vocabulary):
    c, steps = talk(vocabulary, "halo", "ada masalah di depan rumah saya", "2", "Cideng")
    assert [s.kind for s in steps] == [StepKind.ASK, StepKind.ASK, StepKind.ASK, StepKind.SUBMIT]
    assert steps[0].missing == ("description", "category", "kelurahan")
    assert steps[1].missing == ("category", "kelurahan")
    assert steps[2].missing == ("kelurahan",)
    assert (c.category, c.kelurahan) == ("waste", "Cideng")
    # The category picked by its number is named in the text, as complaints' normaliser will read it.
    assert steps[3].report == "halo\nada masalah di depan rumah saya\nCideng\nKategori: Sampah tidak terangkut"
    assert vocabulary.category_for(steps[3].report) == "waste" and vocabulary.place_in(steps[3].report) == "Cideng"


def test_a_category_may_be_answered_by_a_keyword_and_a_kelurahan_by_an_alias_or_in_a_sentence(vocabulary):
    c, steps = talk(vocabulary, "tolong diperbaiki segera ya pak", "jalan rusak", "lokasinya di kelurahan Kebon Kacang dekat pasar")
    assert [s.kind for s in steps] == [StepKind.ASK, StepKind.ASK, StepKind.SUBMIT]
    assert (c.category, c.kelurahan) == ("road_damage", "Kebon Kacang")
    assert "dekat pasar" in steps[2].report, "what the citizen said beyond the answer is kept for staff"


def test_an_answer_it_does_not_understand_is_asked_again_then_given_up_after_max_asks(vocabulary):
    answers = ["ada masalah di depan rumah saya"] + ["entahlah"] * MAX_ASKS + ["di dekat masjid"] * MAX_ASKS
    c, steps = talk(vocabulary, *answers)
    asked = [s.missing[0] for s in steps if s.kind is StepKind.ASK]
    assert asked == ["category"] * MAX_ASKS + ["kelurahan"] * MAX_ASKS
    assert steps[-1].kind is StepKind.SUBMIT and not c.category and not c.kelurahan
    assert "Maaf" in question(Conversation("sms", "x", T0, T0, asking="category", asked={"category": 2}), vocabulary)


def test_the_structured_lapor_form_names_category_and_kelurahan(vocabulary):
    c, [step] = talk(vocabulary, "LAPOR#banjir#Kelapa Gading Barat#Air setinggi lutut di jalan utama")
    assert step.kind is StepKind.SUBMIT and (c.category, c.kelurahan) == ("flooding", "Kelapa Gading Barat")
    assert step.report.startswith("Air setinggi lutut di jalan utama")


def test_stop_opts_out_and_batal_drops_the_report_being_written(vocabulary):
    c, steps = talk(vocabulary, "ada sampah menumpuk di sini", "BATAL", "STOP")
    assert [s.kind for s in steps] == [StepKind.ASK, StepKind.CANCELLED, StepKind.OPT_OUT]
    assert c.text == "" and c.asked == {}
    assert "batalkan" in cancelled("id") and "dropped" in cancelled("en")


def test_a_conversation_left_idle_starts_over(vocabulary):
    c, _ = talk(vocabulary, "ada sampah menumpuk di sini")
    step = c.hear("Banjir di Gambir setinggi lutut", vocabulary, T0 + IDLE + timedelta(minutes=1))
    assert step.kind is StepKind.SUBMIT and c.category == "flooding"
    assert step.report == "Banjir di Gambir setinggi lutut", "the stale half-report is not mixed in"


def test_without_categories_from_complaints_only_the_kelurahan_is_asked(vocabulary):
    bare = Vocabulary([], [(k.name, k.aliases) for k in AreaDirectory.load_jakarta().kelurahan()])
    c = Conversation("telegram", "12345", T0, T0)
    step = c.hear("ada masalah di depan rumah saya", bare, T0)
    assert step.kind is StepKind.ASK and step.missing == ("kelurahan",)
    assert c.hear("Gambir", bare, T0).kind is StepKind.SUBMIT


def test_the_questions_speak_the_citizens_language_and_list_the_categories(vocabulary):
    c, _ = talk(vocabulary, "ada masalah di depan rumah saya")
    text = question(c, vocabulary)
    assert "Terima kasih" in text and "1. Banjir / genangan" in text and "4. Lainnya" in text and "BERHENTI" in text
    c, _ = talk(vocabulary, "there is a problem near my house", language="en")
    assert "What kind of problem" in question(c, vocabulary) and "STOP" in question(c, vocabulary)
