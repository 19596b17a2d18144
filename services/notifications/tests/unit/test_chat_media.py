"""Chat photos as the intake names them, what replaces them once fetched, where the platforms' media APIs are,
and the limits of RegisterRecipient. No I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kota_notifications.adapters.chat_media import telegram_urls, whatsapp_graph_url
from kota_notifications.domain import chat_media
from kota_notifications.domain.chat_media import MediaRef, MediaRefused, MediaUnavailable
from kota_notifications.domain.ratelimit import RegistrationLimits


def test_only_platform_media_references_are_fetched():
    assert chat_media.parse("whatsapp-media:1234567890") == MediaRef("whatsapp", "1234567890")
    assert chat_media.parse("telegram-file:AgACAgUAAxkBAAIB") == MediaRef("telegram", "AgACAgUAAxkBAAIB")
    assert str(MediaRef("telegram", "x1")) == "telegram-file:x1"
    for other in ("https://kota/media/photos/ab.jpg", "surat.pdf", "video", "whatsapp-media:", "telegram-file:a b"):
        assert chat_media.parse(other) is None
    assert chat_media.pending(["a.pdf", "telegram-file:x"]) and not chat_media.pending(["a.pdf", "http://x/y.jpg"])


def fetcher(**outcomes):
    def fetch(media: MediaRef) -> str:
        outcome = outcomes[media.media_id]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    return fetch


def test_fetched_photos_become_urls_and_refused_ones_notes_for_staff():
    fetch = fetcher(ok="http://kota/media/photos/a.jpg", pdf=MediaRefused("not a JPEG, PNG or WebP image"))
    resolved = chat_media.resolve(["whatsapp-media:ok", "surat.pdf", "whatsapp-media:pdf"], fetch, give_up=False)
    assert resolved.attachments == ["http://kota/media/photos/a.jpg", "surat.pdf",
                                    "foto WhatsApp ditolak: not a JPEG, PNG or WebP image"]
    assert resolved.unavailable == ""


def test_a_platform_that_does_not_answer_keeps_the_reference_until_the_last_try():
    fetch = fetcher(ok="http://kota/media/photos/a.jpg", down=MediaUnavailable("Telegram: HTTP 502"))
    waiting = chat_media.resolve(["telegram-file:ok", "telegram-file:down"], fetch, give_up=False)
    assert waiting.attachments == ["http://kota/media/photos/a.jpg", "telegram-file:down"]
    assert waiting.unavailable == "Telegram: HTTP 502"
    last = chat_media.resolve(waiting.attachments, fetch, give_up=True)
    assert last.attachments == ["http://kota/media/photos/a.jpg", "foto Telegram tidak dapat diambil"]
    assert last.unavailable == ""


@pytest.mark.parametrize("send_url, graph", [
    ("https://graph.facebook.com/v21.0/1234567890/messages", "https://graph.facebook.com/v21.0"),
    ("http://127.0.0.1:8025/whatsapp/messages", "http://127.0.0.1:8025"), ("", "")])
def test_the_graph_api_root_is_found_beside_the_messages_url(send_url, graph):
    assert whatsapp_graph_url(send_url) == graph


def test_the_bot_api_roots_are_found_beside_send_message():
    assert telegram_urls("https://api.telegram.org/bot123:ABC/sendMessage") == (
        "https://api.telegram.org/bot123:ABC", "https://api.telegram.org/file/bot123:ABC")
    assert telegram_urls("http://127.0.0.1:8025/telegram/sendMessage") == (
        "http://127.0.0.1:8025/telegram", "http://127.0.0.1:8025/file/telegram")
    assert telegram_urls("") == ("", "")


T0 = datetime(2026, 3, 4, 7, 0, tzinfo=timezone.utc)


def test_a_contact_is_registered_to_a_few_complaints_an_hour_and_a_day():
    limits = RegistrationLimits(per_contact_hour=3, per_contact_day=5)
    assert limits.contact_refusal([T0 - timedelta(minutes=m) for m in (5, 10)], T0) == ""
    assert "last hour" in limits.contact_refusal([T0 - timedelta(minutes=m) for m in (5, 10, 50)], T0)
    assert limits.contact_refusal([T0 - timedelta(minutes=m) for m in (61, 70, 80, 90)], T0) == ""
    assert "today" in limits.contact_refusal([T0 - timedelta(hours=h) for h in (2, 3, 4, 5, 6)], T0)
    assert limits.contact_refusal([T0 - timedelta(hours=h) for h in (25, 26, 27, 28, 29)], T0) == ""


def test_a_client_gets_its_burst_then_its_rate_and_others_are_not_held_back():
    limits = RegistrationLimits(per_client_rate=0.5, per_client_burst=3, max_clients=2)
    assert [limits.client_allowed("a", 100.0) for _ in range(4)] == [True, True, True, False]
    assert limits.client_allowed("b", 100.0), "another client has its own bucket"
    assert not limits.client_allowed("a", 101.0) and limits.client_allowed("a", 103.0), "one more every two seconds"
    limits.client_allowed("c", 103.0)
    assert set(limits._clients) == {"a", "c"}, "the least recently seen client is forgotten first"
    caller = RegistrationLimits(per_client_burst=1, per_caller_burst=5)
    assert sum(caller.client_allowed("caller:gateway", 0.0) for _ in range(10)) == 5, "a caller has its own ceiling"


class Call:
    def __init__(self, *metadata: tuple[str, str]):
        self.metadata = metadata

    def invocation_metadata(self):
        return self.metadata


def test_the_gateway_registers_for_a_citizen_or_as_itself():
    from kota_common.auth import Principal
    from kota_notifications.entrypoints.grpc_api import registering_client

    gateway = Principal("gateway", "", frozenset({"system"}))
    assert registering_client(gateway, Call(("x-kota-client", "h:3f9a"))) == "client:h:3f9a"
    assert registering_client(gateway, Call()) == "caller:gateway"
