"""Photos sent on WhatsApp and Telegram, over the real stack: the gateway's webhooks, the notifications process
(its intake worker fetches the media from the platforms' APIs, keeps it through kota_common.photos), the complaints
process (the complaint's media_urls) and the gateway serving the kept photo; one local HTTP server plays the
WhatsApp Cloud API (GET /<media id> with the bearer token, then the media's url) and the Telegram Bot API (getFile,
then /file/bot<token>/<file_path>), and their send APIs."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest

from kota.complaints.v1 import complaints_pb2 as cpb
from kota.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from kota.notifications.v1 import notifications_pb2 as npb
from kota.notifications.v1 import notifications_pb2_grpc as npb_grpc
from kota_common.auth import issue_token
from kota_common.photos_testing import GPS_IFD, IDENTIFYING, camera_photo, read_back
from kota_common.settings import CommonSettings
from kota_common.testing import ServiceProcess, free_port, wait_until
from kota_gateway.testing import start_gateway

pytestmark = pytest.mark.integration

APP_SECRET, TELEGRAM_SECRET, WA_TOKEN, BOT = "wa-app-secret", "tg-secret-token", "wa-token", "bot123:TOKEN"
MAX_BYTES = 200_000
HUGE = 64 * 1024 * 1024


class Platforms:
    """The Cloud API and the Bot API on one local HTTP server. `hold`: the WhatsApp download of media `held` waits
    for it (the webhook must have answered meanwhile); `flaky`: media ids answered 503 that many times first."""

    def __init__(self) -> None:
        self.photo = camera_photo(size=(300, 200))
        self.calls: Counter[str] = Counter()
        self.sent: list[tuple[str, dict]] = []
        self.huge_written = 0
        self.hold = threading.Event()
        self.flaky = Counter({"wa-flaky": 2})
        me = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # a body without Content-Length ends with the connection

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                me.sent.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
                self._send(200, b'{"ok": true, "messages": [{"id": "wamid.out"}], "result": {"message_id": 1}}')

            def do_GET(self):
                url = urlsplit(self.path)
                me.calls[url.path] += 1
                parts = url.path.strip("/").split("/")
                base = f"http://127.0.0.1:{self.server.server_port}"
                if parts[0] in ("v21.0", "cdn") and self.headers.get("Authorization") != f"Bearer {WA_TOKEN}":
                    return self._send(401, b'{"error": {"message": "no token"}}')
                if parts[0] == "v21.0" and len(parts) == 2:  # GET /<media id>
                    media_id = parts[1]
                    if me.flaky[media_id] > 0:
                        me.flaky[media_id] -= 1
                        return self._send(503, b'{"error": {"message": "try later"}}')
                    if media_id == "wa-expired":
                        return self._send(404, b'{"error": {"message": "unknown media"}}')
                    return self._send(200, json.dumps({"url": f"{base}/cdn/{media_id}", "mime_type": "image/jpeg",
                                                       "id": media_id}).encode())
                if parts[0] == "cdn":
                    media_id = parts[1]
                    if media_id == "wa-held":
                        me.hold.wait(120)
                    if media_id == "wa-huge":  # no Content-Length, and far more than a photo may be
                        return self._stream_huge()
                    if media_id == "wa-pdf":
                        return self._send(200, b"%PDF-1.7\n" + b"0" * 2000 + b"\n%%EOF\n", "image/jpeg")
                    return self._send(200, me.photo, "image/jpeg")
                if url.path == f"/bot{BOT}/getFile":
                    file_id = parse_qs(url.query)["file_id"][0]
                    return self._send(200, json.dumps({"ok": True, "result": {
                        "file_id": file_id, "file_size": len(me.photo), "file_path": f"photos/{file_id}.jpg"}}).encode())
                if url.path.startswith(f"/file/bot{BOT}/photos/"):
                    return self._send(200, me.photo, "image/jpeg")
                return self._send(404, b"{}")

            def _stream_huge(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.end_headers()
                chunk = b"\xff" * 65536
                try:
                    while me.huge_written < HUGE:
                        self.wfile.write(chunk)
                        me.huge_written += len(chunk)
                except OSError:  # the reader stopped at its limit and closed the connection
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webhook-photos")
    platforms = Platforms()
    photos_dir = tmp / "photos"
    complaints_address, notifications_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    complaints = ServiceProcess("kota_complaints", {
        "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap, "KOTA_COMPLAINTS_GRPC_ADDRESS": complaints_address,
        "KOTA_COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp / 'complaints.db'}",
        "KOTA_COMPLAINTS_CONSUMER_GROUP": f"test-{uuid.uuid4().hex[:8]}",
    }, complaints_address, tmp / "complaints.log")
    notifications = gateway = None
    try:
        complaints.start(timeout=180)
        gateway = start_gateway(
            tmp, complaints_address, kafka_bootstrap, name="gateway-photos", KOTA_PHOTOS_LOCAL_DIR=str(photos_dir),
            KOTA_GATEWAY_NOTIFICATIONS_ADDRESS=notifications_address, KOTA_GATEWAY_WHATSAPP_APP_SECRET=APP_SECRET,
            KOTA_GATEWAY_TELEGRAM_SECRET_TOKEN=TELEGRAM_SECRET)
        notifications = ServiceProcess("kota_notifications", {
            "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap, "KOTA_NOTIFICATIONS_GRPC_ADDRESS": notifications_address,
            "KOTA_NOTIFICATIONS_DATABASE_URL": f"sqlite:///{tmp / 'notifications.db'}",
            "KOTA_NOTIFICATIONS_CONSUMER_GROUP": f"test-nt-{uuid.uuid4().hex[:8]}",
            "KOTA_NOTIFICATIONS_COMPLAINTS_ADDRESS": complaints_address, "KOTA_NOTIFICATIONS_PORTAL_URL": gateway.base_url,
            "KOTA_NOTIFICATIONS_SMTP_INTAKE_ADDRESS": "off", "KOTA_NOTIFICATIONS_SMTP_PORT": str(free_port()),
            # the media APIs are found beside the send APIs: the Graph API's root, the bot's root and its files
            "KOTA_NOTIFICATIONS_WHATSAPP_URL": f"{platforms.url}/v21.0/1234567890/messages",
            "KOTA_NOTIFICATIONS_WHATSAPP_TOKEN": WA_TOKEN,
            "KOTA_NOTIFICATIONS_TELEGRAM_URL": f"{platforms.url}/bot{BOT}/sendMessage",
            "KOTA_NOTIFICATIONS_DISPATCH_INTERVAL_S": "0.2", "KOTA_NOTIFICATIONS_INTAKE_RETRY_CAP_S": "1",
            "KOTA_PHOTOS_LOCAL_DIR": str(photos_dir), "KOTA_PHOTOS_MAX_BYTES": str(MAX_BYTES),
        }, notifications_address, tmp / "notifications.log").start(timeout=180)
        yield gateway, complaints_address, notifications_address, platforms, photos_dir
    finally:
        platforms.hold.set()
        for process in (notifications, gateway, complaints):
            if process is not None:
                process.stop()
        platforms.server.shutdown()


def whatsapp_image(gateway, number: str, wamid: str, media_id: str, caption: str) -> httpx.Response:
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "contacts": [{"profile": {"name": "Budi"}, "wa_id": number}],
                  "messages": [{"from": number, "id": wamid, "timestamp": "1700000000", "type": "image",
                                "image": {"id": media_id, "mime_type": "image/jpeg", "caption": caption}}]}}]}]}).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(f"{gateway.base_url}/webhooks/whatsapp", content=body, timeout=30,
                      headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})


def complaint_of(notifications_address: str, complaints_address: str, channel: int, sender: str) -> cpb.Complaint:
    """The complaint the report of `sender` (each test's own) became, once it is submitted."""
    staff = [("authorization", "Bearer " + issue_token(CommonSettings().auth_secret, "petugas", "DLH", ["staff"]))]
    with grpc.insecure_channel(notifications_address) as ch:
        stub = npb_grpc.NotificationsServiceStub(ch)

        def submitted():
            found = stub.ListIntake(npb.ListIntakeRequest(page_size=200), metadata=staff, timeout=10).intake
            return [i for i in found if i.channel == channel and i.sender_masked.endswith(sender[-4:]) and i.complaint_id]
        [intake] = wait_until(submitted, 120, what=f"the report of ...{sender[-4:]} submitted")
    with grpc.insecure_channel(complaints_address) as ch:
        return cpb_grpc.ComplaintsServiceStub(ch).GetComplaint(cpb.GetComplaintRequest(id=intake.complaint_id),
                                                               timeout=10).complaint


def test_a_whatsapp_photo_is_fetched_after_the_webhook_answered_and_kept_without_its_metadata(stack):
    gateway, complaints_address, notifications_address, platforms, photos_dir = stack
    answer = whatsapp_image(gateway, "6281200000001", "wamid.P1", "wa-held",
                            "LAPOR#sampah#Gambir#Sampah menumpuk di depan sekolah sejak tiga hari")
    # answered while the platform still holds the photo's download: fetching is no part of the webhook's answer
    assert answer.status_code == 200 and answer.json() == {"ok": True, "received": 1}
    wait_until(lambda: platforms.calls["/cdn/wa-held"], 60, what="the intake worker asking for the photo")
    platforms.hold.set()

    complaint = complaint_of(notifications_address, complaints_address, npb.CHANNEL_WHATSAPP, "6281200000001")
    assert complaint.channel == cpb.CHANNEL_WHATSAPP and complaint.service_code == "waste"
    [url] = complaint.media_urls
    assert url.startswith(gateway.base_url + "/media/photos/") and url.endswith(".jpg")
    name = url.rsplit("/", 1)[1]
    assert any(p.name == name for p in photos_dir.rglob("*"))
    photo = httpx.get(url, timeout=30)  # served by the gateway from the store notifications wrote to
    assert photo.status_code == 200
    image = read_back(photo.content)
    assert image.size == (300, 200) and dict(image.getexif()) == {} and image.getexif().get_ifd(GPS_IFD) == {}
    assert not any(needle in photo.content for needle in IDENTIFYING)


def test_a_platform_that_does_not_answer_is_asked_again_and_the_photo_arrives(stack):
    gateway, complaints_address, notifications_address, platforms, _ = stack
    assert whatsapp_image(gateway, "6281200000002", "wamid.P2", "wa-flaky",
                          "LAPOR#sampah#Gambir#Sampah menumpuk di jalan depan pasar").status_code == 200
    complaint = complaint_of(notifications_address, complaints_address, npb.CHANNEL_WHATSAPP, "6281200000002")
    assert platforms.calls["/v21.0/wa-flaky"] == 3, "two 503s, then the media's description"
    assert len(complaint.media_urls) == 1 and "foto" not in complaint.description


@pytest.mark.parametrize("media_id, number, reason", [("wa-huge", "6281200000003", "larger than"),
                                                      ("wa-pdf", "6281200000004", "foto WhatsApp ditolak"),
                                                      ("wa-expired", "6281200000005", "HTTP 404")])
def test_a_refused_photo_is_named_for_staff_and_not_stored(stack, media_id, number, reason):
    gateway, complaints_address, notifications_address, platforms, photos_dir = stack
    before = sorted(p.name for p in photos_dir.rglob("*") if p.is_file()) if photos_dir.exists() else []
    assert whatsapp_image(gateway, number, f"wamid.{media_id}", media_id,
                          "LAPOR#sampah#Gambir#Sampah menumpuk di depan sekolah").status_code == 200
    complaint = complaint_of(notifications_address, complaints_address, npb.CHANNEL_WHATSAPP, number)
    assert list(complaint.media_urls) == []
    assert "foto WhatsApp" in complaint.description and reason in complaint.description, complaint.description
    assert sorted(p.name for p in photos_dir.rglob("*") if p.is_file()) == before, "nothing of it stored"
    if media_id == "wa-huge":
        assert platforms.huge_written < HUGE, "the download stopped at the limit, not at the end of the stream"


def test_a_telegram_photo_is_fetched_by_getfile_and_the_report_is_a_telegram_complaint(stack):
    gateway, complaints_address, notifications_address, platforms, _ = stack
    sizes = [{"file_id": "tg-small", "file_unique_id": "s", "file_size": 1200, "width": 90, "height": 60},
             {"file_id": "tg-large", "file_unique_id": "l", "file_size": 9000, "width": 300, "height": 200}]
    update = {"update_id": 88001, "message": {"message_id": 1, "date": 1700000000, "photo": sizes,
              "caption": "LAPOR#sampah#Gambir#Sampah menumpuk di pinggir kali",
              "chat": {"id": 5550009001, "type": "private"}, "from": {"id": 5550009001, "is_bot": False, "first_name": "Siti"}}}
    answer = httpx.post(f"{gateway.base_url}/webhooks/telegram", json=update, timeout=30,
                        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    assert answer.status_code == 200
    complaint = complaint_of(notifications_address, complaints_address, npb.CHANNEL_TELEGRAM, "5550009001")
    assert complaint.channel == cpb.CHANNEL_TELEGRAM, "recorded as Telegram, not as the app"
    assert len(complaint.media_urls) == 1
    assert platforms.calls[f"/file/bot{BOT}/photos/tg-large.jpg"] == 1 and not platforms.calls[f"/file/bot{BOT}/photos/tg-small.jpg"]
