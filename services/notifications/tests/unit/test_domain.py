"""The notifications domain without I/O: delivery states, backoff, rate limits, which events are told, templates,
addresses and opt-out tokens, reading a mail."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from kota_notifications.domain import addresses, templates
from kota_notifications.domain.intake import IntakeKind, ReadError, read_mail, strip_thread
from kota_notifications.domain.model import (
    Channel,
    DeliveryStatus,
    InvalidTransition,
    Message,
    Outcome,
    RetryPolicy,
    SendResult,
)
from kota_notifications.domain.policy import ComplaintUpdate, notice_for
from kota_notifications.domain.ratelimit import RateLimits, TokenBucket

T0 = datetime(2026, 3, 4, 7, 0, tzinfo=timezone.utc)
LEASE = timedelta(minutes=1)
NO_JITTER = RetryPolicy(max_attempts=3, base=timedelta(seconds=10), cap=timedelta(seconds=25), jitter=0)


def message(**kw) -> Message:
    fields = dict(id="m1", complaint_id="c1", channel=Channel.EMAIL, recipient_id="r1", kind="routed", language="id",
                  subject="s", body="b", event_id="e1", created_at=T0)
    return Message(**(fields | kw))


# -- delivery ---------------------------------------------------------------------------------------------------
def test_a_message_is_due_at_once_and_sent_on_the_first_good_attempt():
    m = message()
    assert m.due(T0)
    m.claim(T0, LEASE)
    assert m.status is DeliveryStatus.SENDING and not m.due(T0)
    m.record(SendResult(Outcome.OK), T0, NO_JITTER)
    assert (m.status, m.attempts, m.sent_at) == (DeliveryStatus.SENT, 1, T0)
    assert m.events == [("sent", {})]
    with pytest.raises(InvalidTransition):
        m.claim(T0 + timedelta(hours=1), LEASE)  # never sent twice


def test_transient_failures_back_off_exponentially_up_to_the_cap_then_the_message_fails():
    m = message()
    waits = []
    now = T0
    for _ in range(NO_JITTER.max_attempts):
        m.claim(now, LEASE)
        m.record(SendResult(Outcome.TRANSIENT, "421 try later"), now, NO_JITTER)
        if m.status is DeliveryStatus.PENDING:
            assert m.next_attempt_at is not None and not m.due(now)
            waits.append(m.next_attempt_at - now)
            now = m.next_attempt_at
    assert waits == [timedelta(seconds=10), timedelta(seconds=20)]
    assert (m.status, m.attempts, m.last_error) == (DeliveryStatus.FAILED, 3, "421 try later")
    assert m.events == [("failed", {"permanent": False})]
    assert NO_JITTER.delay(10) == timedelta(seconds=25)  # capped


def test_a_permanent_failure_fails_at_once_and_staff_can_queue_it_again():
    m = message()
    m.claim(T0, LEASE)
    m.record(SendResult(Outcome.PERMANENT, "550 no such user"), T0, NO_JITTER)
    assert (m.status, m.attempts) == (DeliveryStatus.FAILED, 1)
    assert m.events == [("failed", {"permanent": True})]
    m.retry(T0 + LEASE)
    assert (m.status, m.attempts, m.last_error) == (DeliveryStatus.PENDING, 0, "")
    assert m.due(T0 + LEASE)
    with pytest.raises(InvalidTransition):
        m.retry(T0)  # only a failed one


def test_jitter_keeps_the_backoff_within_its_spread():
    policy = RetryPolicy(base=timedelta(seconds=100), jitter=0.2)
    rng = random.Random(7)
    delays = {policy.delay(1, rng).total_seconds() for _ in range(50)}
    assert all(80 <= d <= 120 for d in delays) and len(delays) > 1


def test_a_sender_that_died_holding_a_message_gives_it_back_when_its_lease_runs_out():
    m = message()
    m.claim(T0, LEASE)
    assert not m.due(T0 + LEASE / 2)
    assert m.due(T0 + LEASE)


def test_an_opted_out_recipient_gets_nothing_more_but_what_was_sent_stays_sent():
    pending, sent = message(), message(id="m2")
    sent.claim(T0, LEASE)
    sent.record(SendResult(Outcome.OK), T0, NO_JITTER)
    pending.suppress()
    sent.suppress()
    assert (pending.status, sent.status) == (DeliveryStatus.SUPPRESSED, DeliveryStatus.SENT)
    assert not pending.due(T0 + timedelta(days=1))


# -- rate limits ------------------------------------------------------------------------------------------------
def test_a_bucket_lets_a_burst_through_then_its_rate():
    bucket = TokenBucket(rate=2, burst=5)
    assert bucket.take(0.0, 10) == 5
    assert bucket.take(0.0, 10) == 0
    assert bucket.take(1.0, 10) == 2
    assert bucket.take(100.0, 10) == 5  # never more than the burst


def test_each_channel_has_its_own_limit_and_an_unlimited_channel_takes_all():
    limits = RateLimits({"whatsapp": (1, 1), "email": (10, 10)})
    assert limits.take("whatsapp", 0.0, 3) == 1
    assert limits.take("email", 0.0, 3) == 3
    assert limits.take("sms", 0.0, 300) == 300


# -- which events are told ---------------------------------------------------------------------------------------
def update(ce_type: str, **data) -> ComplaintUpdate:
    return ComplaintUpdate("e1", "c1", f"kota.complaints.{ce_type}.v1", data)


@pytest.mark.parametrize("u, kind", [
    (update("submitted"), "acknowledged"),
    (update("routed", agency_code="DLH", unit="Sudin LH"), "routed"),
    (update("status-changed", to_status="in_progress", agency_code="DLH"), "in_progress"),
    (update("status-changed", to_status="resolved", agency_code="DLH", note="Sudah diangkut"), "resolved"),
    (update("status-changed", to_status="rejected", agency_code="DLH"), "rejected"),
    (update("note-added", actor="staff:DLH", note="Petugas di lokasi"), "note"),
    (update("sla-breached", agency_code="DLH", escalated_to="Kepala Dinas"), "sla_breached"),
    (update("duplicate-linked", duplicate_of="c0"), "duplicate"),
])
def test_the_changes_a_citizen_hears_of(u, kind):
    notice = notice_for(u, acknowledged=False, first_routing=True)
    assert notice is not None and notice.kind == kind and notice.facts["complaint_id"] == "c1"


@pytest.mark.parametrize("u", [
    update("status-changed", to_status="routed"), update("status-changed", to_status="closed"),
    update("note-added", actor="citizen", note="kapan?"), update("rated", rating=4), update("unknown"),
])
def test_what_a_citizen_is_not_told(u):
    assert notice_for(u, acknowledged=False, first_routing=True) is None


def test_a_channel_that_acknowledged_with_the_agency_is_not_told_the_submission_and_first_routing_again():
    assert notice_for(update("submitted"), acknowledged=True, first_routing=True) is None
    assert notice_for(update("routed", agency_code="DLH"), acknowledged=True, first_routing=True) is None
    rerouted = notice_for(update("routed", agency_code="DBM"), acknowledged=True, first_routing=False)
    assert rerouted is not None and rerouted.facts["agency"] == "DBM"


# -- templates ---------------------------------------------------------------------------------------------------
def test_messages_are_in_bahasa_indonesia_with_the_number_the_tracking_link_and_how_to_stop():
    r = templates.render("resolved", "id", {"complaint_id": "c1", "agency": "DLH", "note": "Sudah diangkut"},
                         portal_url="http://127.0.0.1:8080/")
    assert r.subject == "Laporan c1 selesai"
    assert "telah diselesaikan oleh DLH. Sudah diangkut" in r.body
    assert "http://127.0.0.1:8080/#/lacak/c1" in r.body and "BERHENTI" in r.body


def test_english_by_preference_and_unknown_languages_fall_back_to_indonesian():
    assert templates.render("routed", "en", {"complaint_id": "c1", "agency": "DLH"}).subject == "Report c1 sent to DLH"
    assert templates.render("routed", "fr", {"complaint_id": "c1", "agency": "DLH"}).subject == "Laporan c1 diteruskan ke DLH"
    assert templates.language_of("en-GB,en;q=0.9") == "en" and templates.language_of("") == "id"


def test_a_refusal_says_what_is_missing_in_the_citizens_language():
    assert "uraian masalahnya" in templates.render("intake_refused", "id", {"missing": ["description"]}).body
    assert "a description of the problem" in templates.render("intake_refused", "en", {"missing": ["description"]}).body


# -- addresses ---------------------------------------------------------------------------------------------------
def test_addresses_are_normalised_and_masked_for_staff():
    assert addresses.normalise(Channel.WHATSAPP, "0812-3456-7890") == "+6281234567890"
    assert addresses.normalise(Channel.EMAIL, "Warga@Contoh.ID") == "Warga@contoh.id"
    assert addresses.mask(Channel.EMAIL, "warga@contoh.id") == "w***@contoh.id"
    assert addresses.mask(Channel.SMS, "+6281234567890") == "+62*******7890"
    with pytest.raises(addresses.InvalidAddress):
        addresses.normalise(Channel.TELEGRAM, "@someone")


def test_an_opt_out_token_names_the_address_by_hash_and_cannot_be_forged():
    key = b"k" * 32
    token = addresses.opt_out_token(key, Channel.EMAIL, "warga@contoh.id")
    assert "warga" not in token
    assert addresses.read_opt_out_token(key, token) == (Channel.EMAIL, addresses.address_hash(key, "email", "warga@contoh.id"))
    with pytest.raises(addresses.InvalidAddress):
        addresses.read_opt_out_token(b"x" * 32, token)
    with pytest.raises(addresses.InvalidAddress):
        addresses.read_opt_out_token(key, token.replace("email", "sms"))


# -- reading a mail ----------------------------------------------------------------------------------------------
MAIL = (b"From: Warga Gambir <warga@contoh.id>\r\nTo: lapor@kota.example\r\nSubject: Sampah menumpuk\r\n"
        b"Message-ID: <abc@contoh.id>\r\nContent-Language: en\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Sampah menumpuk di TPS Gambir sejak tiga hari.\r\n\r\nOn Mon, 1 Mar 2026 someone wrote:\r\n> old\r\n"
        b"--XX\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename=tps.jpg\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--XX--\r\n")


def test_a_mail_is_read_without_its_quoted_thread_with_its_attachments_and_language():
    mail = read_mail(MAIL)
    assert (mail.sender, mail.sender_name, mail.subject, mail.message_id) == (
        "warga@contoh.id", "Warga Gambir", "Sampah menumpuk", "abc@contoh.id")
    assert mail.text == "Sampah menumpuk di TPS Gambir sejak tiga hari."
    assert [(a.filename, a.content_type) for a in mail.attachments] == [("tps.jpg", "image/jpeg")]
    assert mail.language == "en" and mail.kind is IntakeKind.COMPLAINT and not mail.auto_reply


def test_a_mail_with_no_description_is_refused_saying_so_and_stop_is_an_opt_out():
    empty = read_mail(b"From: warga@contoh.id\r\nSubject: tolong\r\n\r\n> quoted only\r\n")
    assert (empty.kind, empty.missing) == (IntakeKind.REFUSED, ["description"])
    assert read_mail(b"From: warga@contoh.id\r\nSubject: BERHENTI\r\n\r\n").kind is IntakeKind.OPT_OUT
    assert read_mail(b"From: warga@contoh.id\r\nSubject: Re: Laporan\r\n\r\nstop\r\n").kind is IntakeKind.OPT_OUT


def test_auto_replies_are_recognised_and_a_mail_without_a_sender_cannot_be_answered():
    assert read_mail(b"From: warga@contoh.id\r\nAuto-Submitted: auto-replied\r\n\r\nOut of office\r\n").auto_reply
    with pytest.raises(ReadError):
        read_mail(b"Subject: x\r\n\r\nhello there friend\r\n")


def test_signatures_are_cut():
    assert strip_thread("Jalan berlubang\n-- \nBudi\n0812") == "Jalan berlubang"


def test_sends_granted_but_not_made_are_given_back():
    limits = RateLimits({"sms": (1, 3)})
    assert limits.take("sms", 0.0, 3) == 3
    limits.give_back("sms", 2)  # only one was due
    assert limits.take("sms", 0.0, 3) == 2
