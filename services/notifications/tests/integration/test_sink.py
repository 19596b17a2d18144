"""The local sink of ./scripts/run: mail and send-API calls from the service's own senders land in one log."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from kota_common.testing import free_port, wait_until
from kota_notifications.adapters.senders import SmtpSender, WhatsAppSender
from kota_notifications.domain.model import Outcome

pytestmark = pytest.mark.integration


def test_the_local_sink_keeps_every_mail_and_api_call_in_a_log_a_newcomer_can_read(tmp_path):
    smtp_port, http_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kota_notifications.sink", "--smtp-port", str(smtp_port),
                             "--http-port", str(http_port), "--dir", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert "outbox.log" in (proc.stdout.readline() if proc.stdout else "")
        mail = SmtpSender("127.0.0.1", smtp_port, "Kota CRM <no-reply@kota.local>")
        assert mail.send("warga@contoh.id", "Laporan X diterima", "Terima kasih.", "m-1").outcome is Outcome.OK
        with httpx.Client() as client:
            wa = WhatsAppSender(client, f"http://127.0.0.1:{http_port}/whatsapp/messages", "t")
            assert wa.send("+6281234567890", "", "Laporan X diterima", "m-2").outcome is Outcome.OK
        log = tmp_path / "outbox.log"
        lines = wait_until(lambda: log.exists() and log.read_text().splitlines() if log.exists() else [], 10)
        entries = [json.loads(line) for line in lines]
        assert {e["channel"] for e in entries} == {"email", "whatsapp"}
        assert [e["subject"] for e in entries if e["channel"] == "email"] == ["Laporan X diterima"]
        assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_local_sink_stands_in_for_the_platforms_media_apis_so_chat_photos_work_locally(tmp_path):
    from kota_common.photos import PhotoSettings, photos_from_settings
    from kota_notifications.config import NotificationsSettings
    from kota_notifications.domain.chat_media import MediaRef
    from kota_notifications.entrypoints.app import chat_media
    from kota_notifications.registration import SERVICE

    http_port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kota_notifications.sink", "--smtp-port", str(free_port()),
                             "--http-port", str(http_port), "--dir", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert "outbox.log" in (proc.stdout.readline() if proc.stdout else "")
        # the send URLs `kota up` gives the service, on this test's port: the media APIs are derived from them
        env = {k: v.replace(":8025", f":{http_port}") for k, v in SERVICE.companion_env.items()}
        settings = NotificationsSettings(whatsapp_url=env["KOTA_NOTIFICATIONS_WHATSAPP_URL"],
                                         telegram_url=env["KOTA_NOTIFICATIONS_TELEGRAM_URL"], portal_url="http://portal",
                                         photos=PhotoSettings(local_dir=str(tmp_path / "photos")))
        with httpx.Client(timeout=30) as client:
            media = chat_media(settings, photos_from_settings(settings.photos), client)
            urls = [media.keep(MediaRef("whatsapp", "1234567890")), media.keep(MediaRef("telegram", "AgACAgUAAx"))]
        assert all(u.startswith("http://portal/media/photos/") and u.endswith(".jpg") for u in urls)
        assert len({p.name for p in (tmp_path / "photos").rglob("*.jpg")}) == 2, "one photo and its thumbnail"
        lines = (tmp_path / "outbox.log").read_text().splitlines()
        assert [json.loads(line)["channel"] for line in lines if "media" in json.loads(line)] == ["whatsapp", "telegram"]
    finally:
        proc.terminate()
        proc.wait(10)
