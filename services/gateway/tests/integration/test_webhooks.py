"""The chat and SMS webhooks over the real stack: HTTP to the gateway process, gRPC to the notifications process
(its own SQLite), the complaints process, the real broker, and a local HTTP server as the WhatsApp, Telegram and SMS
send APIs the replies go to. Signatures and secrets refused, duplicate deliveries creating nothing, a conversation
asking for what is missing, SMS taken while complaints is down and submitted once it is back, and a portal
report whose citizen hears back on WhatsApp."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import grpc
import httpx
import pytest

from kota.complaints.v1 import complaints_pb2 as cpb
from kota.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from kota.notifications.v1 import notifications_pb2 as npb
from kota.notifications.v1 import notifications_pb2_grpc as npb_grpc
from kota_common.auth import issue_token
from kota_common.events import notifications as nt_events
from kota_common.settings import CommonSettings
from kota_common.testing import ServiceProcess, free_port, wait_until
from kota_gateway.testing import start_gateway

pytestmark = pytest.mark.integration

APP_SECRET, VERIFY_TOKEN, TELEGRAM_SECRET, SMS_SECRET = "wa-app-secret", "wa-verify", "tg-secret-token", "sms-secret"
WA_NUMBER, SMS_NUMBER, PORTAL_NUMBER, CHAT_ID = "6281298765432", "+6281311112222", "081355556666", "424242"


class SendApis:
    """The providers' send APIs on one local HTTP server: every call kept as (path, JSON body)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        apis = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                apis.calls.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
                payload = b'{"ok": true, "messages": [{"id": "wamid.out"}]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self, path: str, to: str) -> list[str]:
        key = "chat_id" if path == "/tg" else "to"
        return [b["text"]["body"] if path == "/wa" else b["text"] for p, b in self.calls if p == path and str(b[key]) == to]


class Stack:
    def __init__(self, tmp, kafka_bootstrap: str):
        self.tmp, self.kafka_bootstrap = tmp, kafka_bootstrap
        self.complaints_address = f"127.0.0.1:{free_port()}"
        self.complaints: ServiceProcess | None = None
        self.apis = SendApis()
        address = f"127.0.0.1:{free_port()}"
        self.notifications = ServiceProcess("kota_notifications", {
            "KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap, "KOTA_NOTIFICATIONS_GRPC_ADDRESS": address,
            "KOTA_NOTIFICATIONS_DATABASE_URL": f"sqlite:///{tmp / 'notifications.db'}",
            "KOTA_NOTIFICATIONS_CONSUMER_GROUP": f"test-nt-{uuid.uuid4().hex[:8]}",
            "KOTA_NOTIFICATIONS_COMPLAINTS_ADDRESS": self.complaints_address,
            "KOTA_NOTIFICATIONS_SMTP_INTAKE_ADDRESS": "off", "KOTA_NOTIFICATIONS_SMTP_PORT": str(free_port()),
            "KOTA_NOTIFICATIONS_WHATSAPP_URL": f"{self.apis.url}/wa", "KOTA_NOTIFICATIONS_TELEGRAM_URL": f"{self.apis.url}/tg",
            "KOTA_NOTIFICATIONS_SMS_URL": f"{self.apis.url}/sms", "KOTA_NOTIFICATIONS_DISPATCH_INTERVAL_S": "0.2",
            "KOTA_NOTIFICATIONS_INTAKE_RETRY_CAP_S": "1",
        }, address, tmp / "notifications.log").start(timeout=180)
        self.gateway = start_gateway(
            tmp, self.complaints_address, kafka_bootstrap, name="gateway-webhooks",
            KOTA_GATEWAY_NOTIFICATIONS_ADDRESS=address, KOTA_GATEWAY_WHATSAPP_APP_SECRET=APP_SECRET,
            KOTA_GATEWAY_WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN, KOTA_GATEWAY_TELEGRAM_SECRET_TOKEN=TELEGRAM_SECRET,
            KOTA_GATEWAY_SMS_WEBHOOK_SECRET=SMS_SECRET)
        self.http = httpx.Client(base_url=self.gateway.base_url, timeout=30)
        self.channel = grpc.insecure_channel(address)
        self.staff = [("authorization", "Bearer " + issue_token(CommonSettings().auth_secret, "petugas", "DLH", ["staff"]))]
        self.stub = npb_grpc.NotificationsServiceStub(self.channel)

    def complaints_up(self) -> cpb_grpc.ComplaintsServiceStub:
        if self.complaints is None:
            self.complaints = ServiceProcess("kota_complaints", {
                "KOTA_KAFKA_BOOTSTRAP": self.kafka_bootstrap, "KOTA_COMPLAINTS_GRPC_ADDRESS": self.complaints_address,
                "KOTA_COMPLAINTS_DATABASE_URL": f"sqlite:///{self.tmp / 'complaints.db'}",
                "KOTA_COMPLAINTS_CONSUMER_GROUP": f"test-{uuid.uuid4().hex[:8]}",
            }, self.complaints_address, self.tmp / "complaints.log").start(timeout=180)
        return cpb_grpc.ComplaintsServiceStub(grpc.insecure_channel(self.complaints_address))

    def complaints_down(self) -> None:
        if self.complaints is not None:
            self.complaints.stop()
            self.complaints = None

    def intake(self, channel) -> list[npb.Intake]:
        found = self.stub.ListIntake(npb.ListIntakeRequest(page_size=200), metadata=self.staff, timeout=10).intake
        return [i for i in found if i.channel == channel]

    def messages(self, **request) -> list[npb.Message]:
        return list(self.stub.ListMessages(npb.ListMessagesRequest(page_size=200, **request), metadata=self.staff,
                                           timeout=10).messages)

    def stop(self) -> None:
        self.http.close()
        self.channel.close()
        self.gateway.stop()
        self.notifications.stop()
        if self.complaints:
            self.complaints.stop()
        self.apis.server.shutdown()


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, tmp_path_factory):
    """Notifications and the gateway; complaints only once a test brings it up (the first test needs it down)."""
    s = Stack(tmp_path_factory.mktemp("webhooks"), kafka_bootstrap)
    yield s
    s.stop()


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def whatsapp(stack: Stack, wamid: str, text: str, *, signature: str | None = "") -> httpx.Response:
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "1"},
        "contacts": [{"profile": {"name": "Budi"}, "wa_id": WA_NUMBER}],
        "messages": [{"from": WA_NUMBER, "id": wamid, "timestamp": "1700000000", "type": "text", "text": {"body": text}}],
    }}]}]}).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature or signed(APP_SECRET, body)
    return stack.http.post("/webhooks/whatsapp", content=body, headers=headers)


def telegram(stack: Stack, update_id: int, text: str, secret: str | None = TELEGRAM_SECRET) -> httpx.Response:
    update = {"update_id": update_id, "message": {"message_id": update_id % 1000, "date": 1700000000, "text": text,
              "chat": {"id": int(CHAT_ID), "type": "private"},
              "from": {"id": int(CHAT_ID), "is_bot": False, "first_name": "Siti", "language_code": "en"}}}
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    return stack.http.post("/webhooks/telegram", json=update, headers=headers)


def sms(stack: Stack, sms_id: str, text: str, secret: str = SMS_SECRET) -> httpx.Response:
    body = urlencode({"from": SMS_NUMBER, "text": text, "id": sms_id}).encode()
    return stack.http.post("/webhooks/sms", content=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Kota-Signature": signed(secret, body)})


# -- SMS first, while complaints is down ------------------------------------------------------------------------
def test_an_sms_taken_while_complaints_is_down_is_submitted_once_it_is_back_and_answered_once(stack):
    stack.complaints_down()  # (when another test of this worker brought it up first)
    text = "LAPOR#sampah#Cideng#Sampah menumpuk di pinggir jalan sejak kemarin"
    assert sms(stack, "sms-1", text, secret="not-the-secret").status_code == 403
    assert stack.intake(npb.CHANNEL_SMS) == [], "a forged SMS is not kept"
    assert sms(stack, "sms-1", text).json() == {"ok": True, "received": 1}
    waiting = wait_until(lambda: [i for i in stack.intake(npb.CHANNEL_SMS) if i.attempts >= 2], 60,
                         what="the SMS retried while complaints is down")
    assert waiting[0].status == npb.INTAKE_STATUS_PENDING and "UNAVAILABLE" in waiting[0].last_error
    assert sms(stack, "sms-1", text).status_code == 200, "the gateway's retry of the same SMS"
    assert len(stack.intake(npb.CHANNEL_SMS)) == 1

    complaints = stack.complaints_up()
    [ack] = wait_until(lambda: stack.apis.texts("/sms", SMS_NUMBER), 90, what="the acknowledgement by SMS")
    assert "Laporan Anda kami terima" in ack or "diterima" in ack, ack
    [submitted] = wait_until(lambda: [i for i in stack.intake(npb.CHANNEL_SMS) if i.status == npb.INTAKE_STATUS_SUBMITTED],
                             30, what="the intake submitted")
    complaint = complaints.GetComplaint(cpb.GetComplaintRequest(id=submitted.complaint_id), timeout=10).complaint
    assert complaint.channel == cpb.CHANNEL_SMS and complaint.service_code == "waste"
    assert complaint.location.kelurahan == "Cideng"
    assert [m.kind for m in stack.messages(complaint_id=submitted.complaint_id)] == ["acknowledged"]


# -- WhatsApp ----------------------------------------------------------------------------------------------------
def test_whatsapp_handshake_and_signatures_are_checked(stack):
    hub = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    answer = stack.http.get("/webhooks/whatsapp", params=hub | {"hub.verify_token": VERIFY_TOKEN})
    assert answer.status_code == 200 and answer.text == "1158201444"
    assert stack.http.get("/webhooks/whatsapp", params=hub | {"hub.verify_token": "guess"}).status_code == 403
    assert stack.http.get("/webhooks/whatsapp", params=hub).status_code == 401
    assert whatsapp(stack, "wamid.forged", "Sampah menumpuk di Gambir tiga hari", signature=None).status_code == 401
    assert whatsapp(stack, "wamid.forged", "Sampah menumpuk di Gambir tiga hari",
                    signature=signed("another-secret", b"{}")).status_code == 403
    assert not stack.apis.texts("/wa", WA_NUMBER), "nothing of a refused call reached notifications"


def test_a_whatsapp_conversation_asks_for_what_is_missing_then_submits_once(stack, topic_reader):
    complaints = stack.complaints_up()
    events = topic_reader(nt_events.TOPIC)
    assert whatsapp(stack, "wamid.1", "halo").status_code == 200
    [ask] = wait_until(lambda: stack.apis.texts("/wa", WA_NUMBER), 30, what="the question for a description")
    assert "Ceritakan masalahnya" in ask
    before = len(stack.messages(channel=npb.CHANNEL_WHATSAPP))
    assert whatsapp(stack, "wamid.1", "halo").status_code == 200, "WhatsApp delivers the same message again"
    assert len(stack.messages(channel=npb.CHANNEL_WHATSAPP)) == before, "a duplicate delivery creates nothing new"

    assert whatsapp(stack, "wamid.2", "Sampah menumpuk di depan rumah sudah tiga hari").status_code == 200
    wait_until(lambda: len(stack.apis.texts("/wa", WA_NUMBER)) == 2, 30, what="the question for the kelurahan")
    assert "Di kelurahan mana" in stack.apis.texts("/wa", WA_NUMBER)[1]
    assert whatsapp(stack, "wamid.3", "Gambir").status_code == 200
    ack = wait_until(lambda: [t for t in stack.apis.texts("/wa", WA_NUMBER) if "Laporan Anda kami terima" in t], 60,
                     what="the acknowledgement on WhatsApp")[0]
    assert whatsapp(stack, "wamid.3", "Gambir").status_code == 200, "the last message delivered again"
    [intake] = [i for i in stack.intake(npb.CHANNEL_WHATSAPP) if i.status == npb.INTAKE_STATUS_SUBMITTED]
    assert intake.complaint_id in ack
    complaint = complaints.GetComplaint(cpb.GetComplaintRequest(id=intake.complaint_id), timeout=10).complaint
    assert (complaint.channel, complaint.service_code, complaint.location.kelurahan) == (cpb.CHANNEL_WHATSAPP, "waste", "Gambir")
    assert "Sampah menumpuk di depan rumah" in complaint.description
    assert len(stack.intake(npb.CHANNEL_WHATSAPP)) == 1, "one report, however often its messages came"

    events.wait_for(lambda rs: any(r.key() == intake.id.encode() for r in rs), 30)
    for r in events.records():
        text = (r.value() or b"").decode() + " ".join(v.decode(errors="replace") for _, v in r.headers())
        assert WA_NUMBER not in text and WA_NUMBER[2:] not in text and "Budi" not in text
    logs = stack.gateway.log() + stack.notifications.log()
    assert WA_NUMBER[2:] not in logs and SMS_NUMBER[3:] not in logs, "no citizen's number in the logs"


# -- Telegram ----------------------------------------------------------------------------------------------------
def test_a_telegram_report_is_verified_submitted_and_answered_in_english(stack):
    complaints = stack.complaints_up()
    text = "Banjir setinggi lutut di Kelapa Gading Barat sejak pagi"
    assert telegram(stack, 7001, text, secret=None).status_code == 401
    assert telegram(stack, 7001, text, secret="wrong").status_code == 403
    assert telegram(stack, 7001, text).status_code == 200
    [ack] = wait_until(lambda: stack.apis.texts("/tg", CHAT_ID), 60, what="the acknowledgement on Telegram")
    assert "We received your report" in ack
    assert telegram(stack, 7001, text).status_code == 200, "Telegram retries the update"
    [intake] = stack.intake(npb.CHANNEL_TELEGRAM)
    complaint = complaints.GetComplaint(cpb.GetComplaintRequest(id=intake.complaint_id), timeout=10).complaint
    assert complaint.service_code == "flooding" and complaint.location.kelurahan == "Kelapa Gading Barat"


# -- the portal --------------------------------------------------------------------------------------------------
def test_a_citizen_who_reports_on_the_portal_hears_back_on_whatsapp(stack):
    stack.complaints_up()
    report = {"service_code": "waste", "description": "Sampah tidak diangkut di depan sekolah",
              "kelurahan_code": "31.71.01.1001", "contact": {"first_name": "Rina", "phone": PORTAL_NUMBER},
              "notify_by": "whatsapp", "language": "id"}
    missing = stack.http.post("/api/v1/complaints", json=report | {"notify_by": "email"})
    assert missing.status_code == 422, "e-mail chosen without an e-mail address"
    submitted = stack.http.post("/api/v1/complaints", json=report)
    assert submitted.status_code == 201 and submitted.json()["notify"] is True
    complaint_id = submitted.json()["id"]
    number = "62" + PORTAL_NUMBER[1:]
    [ack] = wait_until(lambda: [t for t in stack.apis.texts("/wa", number) if "Laporan Anda kami terima" in t], 90,
                       what=lambda: f"the portal citizen's acknowledgement; notifications has "
                       f"{[(m.kind, m.status, m.last_error) for m in stack.messages(complaint_id=complaint_id)]}")
    assert complaint_id in ack
    [message] = [m for m in stack.messages(complaint_id=complaint_id) if m.kind == "acknowledged"]
    assert message.recipient_masked.endswith("6666") and PORTAL_NUMBER[1:] not in message.recipient_masked


# -- notifications away ------------------------------------------------------------------------------------------
def test_a_webhook_is_answered_503_while_notifications_is_down_and_its_redelivery_is_taken(stack):
    stack.notifications.stop()
    try:
        refused = sms(stack, "sms-while-down", "halo")
        assert refused.status_code == 503 and refused.headers["Retry-After"]
    finally:
        stack.notifications.start(timeout=180)
    asked = len(stack.apis.texts("/sms", SMS_NUMBER))

    def delivered_again() -> httpx.Response | None:
        """The SMS gateway delivers again, as it does after a 503, until the answer is not one (the gateway's
        channel to the restarted service may still be in its reconnect backoff for a moment)."""
        answer = sms(stack, "sms-while-down", "halo")
        return None if answer.status_code == 503 else answer

    answer = wait_until(delivered_again, 60, interval=1, what="the redelivered SMS to be taken")
    assert answer.json() == {"ok": True, "received": 1}, "the SMS gateway delivers again"
    wait_until(lambda: len(stack.apis.texts("/sms", SMS_NUMBER)) == asked + 1, 30, what="the question by SMS")
    assert "Ceritakan masalahnya" in stack.apis.texts("/sms", SMS_NUMBER)[-1]


def test_the_portals_form_lets_a_citizen_choose_to_hear_back_on_whatsapp(stack, browser):
    stack.complaints_up()
    page = browser.new_context(viewport={"width": 1200, "height": 1000}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(stack.gateway.base_url + "/#/lapor")
    page.wait_for_function("document.querySelectorAll('#f-category option').length > 5")
    page.select_option("#f-category", "waste")
    page.fill("#f-description", "Sampah menumpuk di depan pasar sejak kemarin")
    page.select_option("#f-kota", "31.71")
    page.select_option("#f-kecamatan", "31.71.01")
    page.select_option("#f-kelurahan", "31.71.01.1001")
    page.fill("#f-first", "Dewi")
    page.fill("#f-phone", "081377778888")
    page.select_option("#f-notify", "whatsapp")
    page.click("#f-submit")
    page.wait_for_selector("#report-result:not([hidden])")
    complaint_id = page.inner_text("#r-id").strip()
    [ack] = wait_until(lambda: [t for t in stack.apis.texts("/wa", "6281377778888") if "Laporan Anda kami terima" in t],
                       90, what=lambda: "the acknowledgement on WhatsApp of a report filed in the browser; notifications "
                       f"has {[(m.kind, m.status) for m in stack.messages(complaint_id=complaint_id)]}")
    assert complaint_id in ack and not errors
