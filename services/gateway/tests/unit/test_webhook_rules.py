"""The webhooks' rules without HTTP: signatures and secrets (401 without, 403 wrong), the subscription handshake,
and what each platform's payload carries (the citizens' messages only)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from kota_gateway.service_layer.webhooks import (
    Unverified,
    sms_message,
    subscription_challenge,
    telegram_message,
    verify_hmac_sha256,
    verify_secret,
    whatsapp_messages,
)

BODY = b'{"object":"whatsapp_business_account"}'


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_body_signed_with_the_secret_passes_and_anything_else_is_refused():
    verify_hmac_sha256("s3cret", BODY, sign("s3cret", BODY), "X-Hub-Signature-256")
    verify_hmac_sha256("s3cret", BODY, sign("s3cret", BODY).upper().replace("SHA256", "sha256"), "X")  # hex case
    cases = [(None, 401), ("", 401), (sign("other", BODY), 403), (sign("s3cret", BODY + b" "), 403),
             ("sha1=" + hmac.new(b"s3cret", BODY, hashlib.sha1).hexdigest(), 403), ("garbage", 403)]
    for header, status in cases:
        with pytest.raises(Unverified) as refused:
            verify_hmac_sha256("s3cret", BODY, header, "X-Hub-Signature-256")
        assert refused.value.status == status, header


def test_telegrams_secret_token_and_whatsapps_handshake():
    verify_secret("tg-token", "tg-token", "X-Telegram-Bot-Api-Secret-Token")
    for given, status in ((None, 401), ("tg-tokeN", 403)):
        with pytest.raises(Unverified) as refused:
            verify_secret("tg-token", given, "X-Telegram-Bot-Api-Secret-Token")
        assert refused.value.status == status
    assert subscription_challenge("v", "subscribe", "v", "12345") == "12345"
    for mode, token, status in (("subscribe", "x", 403), ("unsubscribe", "v", 401), ("subscribe", None, 401)):
        with pytest.raises(Unverified) as refused:
            subscription_challenge("v", mode, token, "12345")
        assert refused.value.status == status


def test_whatsapp_payloads_give_the_messages_and_leave_statuses_out():
    payload = {"entry": [{"changes": [
        {"value": {"contacts": [{"wa_id": "628111", "profile": {"name": "Budi"}}], "messages": [
            {"from": "628111", "id": "wamid.A", "type": "text", "text": {"body": "Banjir di Gambir"}},
            {"from": "628111", "id": "wamid.B", "type": "image", "image": {"caption": "lihat fotonya", "id": "m1"}},
            {"from": "628111", "id": "wamid.C", "type": "interactive",
             "interactive": {"type": "button_reply", "button_reply": {"id": "2", "title": "Sampah"}}},
            {"from": "628111", "type": "text", "text": {"body": "no id: left out"}},
        ]}},
        {"value": {"statuses": [{"id": "wamid.OUT", "status": "delivered"}]}},
    ]}]}
    found = whatsapp_messages(payload)
    assert [(m.message_id, m.text, m.attachments, m.sender_name) for m in found] == [
        ("wamid.A", "Banjir di Gambir", (), "Budi"), ("wamid.B", "lihat fotonya", ("whatsapp-media:m1",), "Budi"),
        ("wamid.C", "Sampah", (), "Budi")]
    assert whatsapp_messages({"entry": "not a list"}) == [] and whatsapp_messages(None) == []


def test_telegram_updates_give_new_messages_to_the_bot_only():
    update = {"update_id": 99, "message": {"message_id": 5, "text": "Banjir di Gambir", "chat": {"id": 4242},
                                           "from": {"id": 4242, "is_bot": False, "first_name": "Siti", "language_code": "en"}}}
    m = telegram_message(update)
    assert m is not None and (m.sender, m.message_id, m.text, m.language, m.sender_name) == \
        ("4242", "99", "Banjir di Gambir", "en", "Siti")
    assert telegram_message({"update_id": 100, "edited_message": update["message"]}) is None
    assert telegram_message({"update_id": 101, "message": {**update["message"], "from": {"id": 1, "is_bot": True}}}) is None
    photo = telegram_message({"update_id": 102, "message": {**update["message"], "text": None, "caption": "ini", "photo": [{}]}})
    assert photo is not None and (photo.text, photo.attachments) == ("ini", ("photo",))


def test_chat_photos_are_named_by_the_platform_media_notifications_fetches():
    wa = whatsapp_messages({"entry": [{"changes": [{"value": {"messages": [
        {"from": "628111", "id": "wamid.D", "type": "document",
         "document": {"id": "m2", "mime_type": "image/jpeg", "filename": "foto.jpg"}},
        {"from": "628111", "id": "wamid.E", "type": "document",
         "document": {"id": "m3", "mime_type": "application/pdf", "filename": "surat.pdf"}},
        {"from": "628111", "id": "wamid.F", "type": "video", "video": {"id": "m4"}},
    ]}}]}]})
    assert [m.attachments for m in wa] == [("whatsapp-media:m2",), ("surat.pdf",), ("video",)]
    sizes = [{"file_id": "small", "file_size": 1200, "width": 90}, {"file_id": "large", "file_size": 98000, "width": 1280},
             {"file_id": "medium", "file_size": 22000, "width": 320}]
    tg = telegram_message({"update_id": 103, "message": {"chat": {"id": 4242}, "from": {"id": 4242}, "caption": "ini",
                                                         "photo": sizes}})
    assert tg is not None and tg.attachments == ("telegram-file:large",)
    doc = telegram_message({"update_id": 104, "message": {"chat": {"id": 4242}, "from": {"id": 4242},
                                                          "document": {"file_id": "d1", "mime_type": "image/png"}}})
    assert doc is not None and doc.attachments == ("telegram-file:d1",)


def test_the_sms_form_needs_a_sender_and_an_id():
    m = sms_message({"from": "+62811", "text": "LAPOR#banjir#Gambir#Air naik", "id": "sms-1"})
    assert m is not None and (m.channel, m.sender, m.message_id) == ("sms", "+62811", "sms-1")
    assert sms_message({"text": "halo", "id": "x"}) is None and sms_message({"from": "+62811", "text": "halo"}) is None
