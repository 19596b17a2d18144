"""Notifications over its real parts: the service's components in this process, the complaints service as its own
process, gRPC over sockets, the real broker, SQLite and PostgreSQL, a real SMTP server (aiosmtpd) as the mail
provider and a real HTTP server as the WhatsApp, Telegram and SMS send APIs."""

from __future__ import annotations

import json
import logging
import re
import smtplib
import threading
import uuid
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from aiosmtpd.controller import Controller

from kota.complaints.v1 import complaints_pb2 as cpb
from kota.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from kota.notifications.v1 import notifications_pb2 as pb
from kota.notifications.v1 import notifications_pb2_grpc as pb_grpc
from kota_common.auth import issue_token
from kota_common.events import notifications as nt_events
from kota_common.privacy import EMAIL
from kota_common.settings import CommonSettings
from kota_common.testing import ServiceProcess, free_port, wait_until
from kota_notifications.config import NotificationsSettings
from kota_notifications.entrypoints.app import bootstrap
from kota_notifications.entrypoints.dispatcher import DispatcherProcess

pytestmark = pytest.mark.integration

CITIZEN = "warga.gambir@contoh.id"
PHONE_NUMBER = "081234567890"


# -- the providers: a real SMTP server and a real HTTP server --------------------------------------------------
class MailSink:
    """An SMTP server that keeps what it is given; addresses starting with `tidak-ada` are refused (550)."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("tidak-ada"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        mail = message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        return "250 OK"

    def to(self, address: str, subject: str = "") -> list[EmailMessage]:
        return [m for m in self.mails if m["To"] == address and subject in str(m["Subject"])]


class SendApis:
    """WhatsApp, Telegram and SMS send APIs on one local HTTP server: every call is kept; `answers[path]` is the
    list of statuses to answer in turn (then 200)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, dict]] = []
        self.answers: dict[str, list[int]] = {}
        apis = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                apis.calls.append((self.path, dict(self.headers), body))
                queue = apis.answers.get(self.path, [])
                status = queue.pop(0) if queue else 200
                payload = json.dumps({"ok": status == 200, "messages": [{"id": "wamid.1"}]} if status == 200
                                     else {"error": {"message": "provider says no"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def to(self, path: str) -> list[tuple[str, dict, dict]]:
        return [c for c in self.calls if c[0] == path]


@pytest.fixture
def providers():
    sink, apis = MailSink(), SendApis()
    sink.controller.start()
    yield sink, apis
    sink.controller.stop()
    apis.server.shutdown()


# -- the services ------------------------------------------------------------------------------------------------
@pytest.fixture
def complaints_at(kafka_bootstrap, tmp_path):
    """Starts the complaints service as a process on a given address (its own SQLite)."""
    started: list[ServiceProcess] = []

    def start(address: str) -> cpb_grpc.ComplaintsServiceStub:
        env = {"KOTA_KAFKA_BOOTSTRAP": kafka_bootstrap, "KOTA_COMPLAINTS_GRPC_ADDRESS": address,
               "KOTA_COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp_path}/complaints-{len(started)}.db",
               "KOTA_COMPLAINTS_CONSUMER_GROUP": f"test-{uuid.uuid4().hex[:8]}"}
        started.append(ServiceProcess("kota_complaints", env, address, tmp_path / "complaints.log").start(timeout=180))
        return cpb_grpc.ComplaintsServiceStub(grpc.insecure_channel(address))

    yield start
    for p in started:
        p.stop()


class Notifications:
    def __init__(self, settings: NotificationsSettings):
        self.settings = settings
        self.host = bootstrap(settings)
        self.host.start()
        self.channel = grpc.insecure_channel(settings.grpc_address)
        self.stub = pb_grpc.NotificationsServiceStub(self.channel)
        self.staff = [("authorization", "Bearer " + issue_token(settings.common.auth_secret, "petugas", "DLH", ["staff"]))]

    def mail(self, subject: str, body: str, sender: str = CITIZEN, message_id: str = "") -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = f"Warga <{sender}>", "lapor@kota.local", subject
        mail["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@contoh.id>"
        mail.set_content(body)
        host, _, port = self.settings.smtp_intake_address.rpartition(":")
        with smtplib.SMTP(host, int(port), timeout=10) as smtp:
            smtp.send_message(mail)

    def messages(self, **request) -> list[pb.Message]:
        return list(self.stub.ListMessages(pb.ListMessagesRequest(**request), metadata=self.staff, timeout=10).messages)

    def intake(self, status=pb.INTAKE_STATUS_UNSPECIFIED) -> list[pb.Intake]:
        return list(self.stub.ListIntake(pb.ListIntakeRequest(status=status), metadata=self.staff, timeout=10).intake)

    def stop(self) -> None:
        self.channel.close()
        self.host.stop()


@pytest.fixture
def start_notifications(database_url, kafka_bootstrap, providers):
    sink, apis = providers
    started: list[Notifications] = []

    def start(complaints_address: str, **overrides) -> Notifications:
        settings = NotificationsSettings(
            database_url=database_url, grpc_address=f"127.0.0.1:{free_port()}",
            smtp_intake_address=f"127.0.0.1:{free_port()}", smtp_port=sink.controller.port,
            complaints_address=complaints_address, consumer_group=f"test-nt-{uuid.uuid4().hex[:8]}",
            whatsapp_url=f"{apis.url}/wa/messages", whatsapp_token="wa-token", telegram_url=f"{apis.url}/tg/sendMessage",
            sms_url=f"{apis.url}/sms/send", max_attempts=3, retry_base_s=0.2, retry_cap_s=1, intake_retry_cap_s=1,
            dispatch_interval_s=0.1, portal_url="http://portal.kota.local",
            common=CommonSettings(kafka_bootstrap=kafka_bootstrap), **overrides,
        )
        n = Notifications(settings)
        started.append(n)
        return n

    yield start
    for n in started:
        n.stop()


def assert_no_contact_on(records) -> None:
    """No e-mail address at all, and none of the citizens' addresses, numbers, chat ids or names, in any record's
    key, headers or payload. (The phone pattern would match digits of timestamps: the numbers are named.)"""
    for r in records:
        text = " ".join([(r.key() or b"").decode(), (r.value() or b"").decode(),
                         " ".join(f"{k}={v.decode(errors='replace')}" for k, v in r.headers())])
        assert not EMAIL.search(text), text
        for contact in (CITIZEN, "tidak-ada", PHONE_NUMBER, PHONE_NUMBER[1:], "987654321", "Warga"):
            assert contact not in text, (contact, text)


def ce_types(records) -> list[str]:
    return [dict(r.headers())["ce_type"].decode() for r in records]


def code_in(mail: EmailMessage) -> str:
    found = re.search(r"Kode rahasia Anda: (\S+) ", mail.get_content())
    assert found, mail.get_content()
    return found[1]


# -- e-mail in, answers out ------------------------------------------------------------------------------------
def test_a_mail_becomes_a_complaint_and_its_sender_hears_back_on_every_change_once(
        start_notifications, complaints_at, providers, topic_reader, caplog):
    caplog.set_level(logging.DEBUG)
    sink, _ = providers
    address = f"127.0.0.1:{free_port()}"
    complaints = complaints_at(address)
    n = start_notifications(address)
    events = topic_reader(nt_events.TOPIC)
    n.mail("Sampah menumpuk", "Sampah menumpuk di TPS Gambir sejak tiga hari, baunya menyengat.\n\n-- \nWarga",
           message_id="<laporan-1@contoh.id>")
    [ack] = wait_until(lambda: sink.to(CITIZEN, "diterima"), 60, what="the acknowledgement")
    complaint_id = str(ack["Subject"]).split()[1]
    secret = code_in(ack)
    assert f"http://portal.kota.local/#/lacak/{complaint_id}" in ack.get_content()
    assert ack["Auto-Submitted"] == "auto-generated" and ack["Reply-To"] == "lapor@kota.local"
    complaint = complaints.GetComplaint(cpb.GetComplaintRequest(id=complaint_id), timeout=10).complaint
    assert complaint.channel == cpb.CHANNEL_EMAIL and complaint.service_code == "waste"
    assert complaint.location.kelurahan == "Gambir"

    # The same mail again (an SMTP client's retry): no second complaint, no second answer.
    n.mail("Sampah menumpuk", "Sampah menumpuk di TPS Gambir sejak tiga hari, baunya menyengat.",
           message_id="<laporan-1@contoh.id>")
    # Staff start work: the citizen hears of it, once.
    staff = [("authorization", "Bearer " + issue_token(CommonSettings().auth_secret, "petugas", complaint.agency_code, ["staff"]))]
    complaints.UpdateComplaintStatus(cpb.UpdateComplaintStatusRequest(
        id=complaint_id, status=cpb.STATUS_IN_PROGRESS, note="Truk dijadwalkan besok pagi"), metadata=staff, timeout=10)
    [started] = wait_until(lambda: sink.to(CITIZEN, "sedang dikerjakan"), 60, what="the in-progress message")
    assert "Truk dijadwalkan besok pagi" in started.get_content()

    mine = lambda r: json.loads(r.value()).get("complaint_id") == complaint_id  # noqa: E731
    records = events.wait_for(lambda rs: ce_types(rs).count("kota.notifications.message-sent.v1") >= 2, 30, match=mine)
    events.assert_quiet(2, match=mine)
    assert sorted(ce_types(records)) == ["kota.notifications.intake-submitted.v1",
                                         "kota.notifications.message-sent.v1", "kota.notifications.message-sent.v1"]
    assert_no_contact_on(events.records())
    assert len(sink.to(CITIZEN)) == 2 and len(n.intake()) == 1

    sent = n.messages(complaint_id=complaint_id)
    assert sorted(m.kind for m in sent) == ["acknowledged", "in_progress"]
    assert all(m.status == pb.DELIVERY_STATUS_SENT and m.recipient_masked == "w***@contoh.id" for m in sent)
    assert not any(secret in m.body for m in sent), "staff never read the citizen's secret code"
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("tests"))
    assert CITIZEN not in logged and secret not in logged, "no contact and no secret code in the logs"


def test_a_mail_that_says_nothing_is_answered_with_what_is_missing(start_notifications, providers, topic_reader):
    sink, _ = providers
    n = start_notifications(f"127.0.0.1:{free_port()}")  # complaints is never asked
    events = topic_reader(nt_events.TOPIC)
    n.mail("tolong", "> pesan lama yang dikutip\n")
    [reply] = wait_until(lambda: sink.to(CITIZEN, "belum dapat kami proses"), 30, what="the refusal")
    assert "uraian masalahnya" in reply.get_content()
    [refused] = n.intake(pb.INTAKE_STATUS_REFUSED)
    assert list(refused.missing) == ["description"] and refused.sender_masked == "w***@contoh.id"
    records = events.wait_for(lambda rs: len(rs) >= 1, 30, match=lambda r: r.key() == refused.id.encode())
    assert ce_types(records) == ["kota.notifications.intake-refused.v1"]
    assert_no_contact_on(events.records())


@pytest.mark.parametrize("dispatcher", ["process", "thread"])
def test_a_message_queued_while_the_dispatcher_process_is_down_goes_once_it_is_back(
        start_notifications, providers, dispatcher):
    """The dispatcher runs in a child process by default (a thread of the service with dispatcher=thread): killed,
    it is started again, and sends what was queued meanwhile, once."""
    sink, _ = providers
    n = start_notifications(f"127.0.0.1:{free_port()}", dispatcher=dispatcher)  # complaints is never asked
    [child] = [c for c in n.host.components if isinstance(c, DispatcherProcess)] or [None]
    assert (child is not None) == (dispatcher == "process")
    if child is not None:
        child.proc.kill()
        wait_until(lambda: child.proc.poll() is not None, 30, what="the dispatcher process killed")
    n.mail("tolong", "> pesan lama yang dikutip\n")
    [reply] = wait_until(lambda: sink.to(CITIZEN, "belum dapat kami proses"), 60, what="the refusal")
    [message] = wait_until(lambda: [m for m in n.messages() if m.status == pb.DELIVERY_STATUS_SENT], 30,
                           what="the refusal recorded as sent")
    assert message.attempts == 1 and len(sink.to(CITIZEN)) == 1
    if child is not None:
        assert child.restarts == 1 and child.healthy()


def test_mail_that_came_while_complaints_was_down_is_submitted_once_it_is_back(
        start_notifications, complaints_at, providers):
    sink, _ = providers
    address = f"127.0.0.1:{free_port()}"
    n = start_notifications(address)
    n.mail("Sampah", "Sampah menumpuk di TPS Cideng sejak kemarin, belum diangkut.")
    waiting = wait_until(lambda: [i for i in n.intake(pb.INTAKE_STATUS_PENDING) if i.attempts >= 2], 30,
                         what="the intake retried while complaints is down")
    assert "UNAVAILABLE" in waiting[0].last_error and not sink.mails
    complaints_at(address)
    [ack] = wait_until(lambda: sink.to(CITIZEN, "diterima"), 60, what="the acknowledgement once complaints is back")
    [submitted] = n.intake(pb.INTAKE_STATUS_SUBMITTED)
    assert submitted.complaint_id in str(ack["Subject"]) and submitted.attempts >= 3
    wait_until(lambda: len(n.messages(complaint_id=submitted.complaint_id)) == 1, 10)
    assert len(sink.to(CITIZEN)) == 1


def test_a_mail_complaints_refuses_is_answered_with_what_the_category_needs(start_notifications, complaints_at, providers):
    sink, _ = providers
    address = f"127.0.0.1:{free_port()}"
    complaints_at(address)
    n = start_notifications(address)
    n.mail("Jalan berlubang", "Jalan berlubang besar di depan SDN Cideng 01, berbahaya untuk motor.")
    [reply] = wait_until(lambda: sink.to(CITIZEN, "belum dapat kami proses"), 60, what="the refusal")
    assert "tingkat keparahannya" in reply.get_content()
    [refused] = n.intake(pb.INTAKE_STATUS_REFUSED)
    assert list(refused.missing) == ["severity"] and not refused.complaint_id


# -- the send APIs -----------------------------------------------------------------------------------------------
def test_a_failing_provider_is_retried_then_marked_failed_for_staff_and_a_refusal_fails_at_once(
        start_notifications, complaints_at, providers, topic_reader):
    sink, apis = providers
    address = f"127.0.0.1:{free_port()}"
    complaints = complaints_at(address)
    n = start_notifications(address)
    events = topic_reader(nt_events.TOPIC)
    apis.answers["/wa/messages"] = [500, 503] * 3  # down for the three attempts of both messages
    apis.answers["/tg/sendMessage"] = [403, 403]  # the citizen blocked the bot
    complaint = complaints.SubmitComplaint(cpb.SubmitComplaintRequest(
        channel=cpb.CHANNEL_WEB, service_code="flooding", description="Genangan 30 cm di jalan",
        location=cpb.Location(lat=-6.2146, lon=106.8451)), timeout=10).complaint
    register = lambda channel, addr, lang="id": n.stub.RegisterRecipient(pb.RegisterRecipientRequest(  # noqa: E731
        complaint_id=complaint.id, channel=channel, address=addr, language=lang), metadata=n.staff, timeout=10)
    register(pb.CHANNEL_WHATSAPP, PHONE_NUMBER)
    register(pb.CHANNEL_TELEGRAM, "987654321", "en")
    register(pb.CHANNEL_EMAIL, "tidak-ada@contoh.id")

    def all_failed() -> list[pb.Message]:
        found = n.messages(complaint_id=complaint.id)
        return found if len(found) == 6 and all(m.status == pb.DELIVERY_STATUS_FAILED for m in found) else []

    def seen() -> str:
        return f"every message failed; seen {[(m.channel, m.kind, m.status, m.attempts) for m in n.messages(complaint_id=complaint.id)]}"

    failed = [m for m in wait_until(all_failed, 60, what=seen) if m.kind == "acknowledged"]
    by_channel = {m.channel: m for m in failed}
    assert by_channel[pb.CHANNEL_WHATSAPP].attempts == 3 and by_channel[pb.CHANNEL_WHATSAPP].last_error[:3] in ("500", "503")
    assert by_channel[pb.CHANNEL_TELEGRAM].attempts == 1 and by_channel[pb.CHANNEL_TELEGRAM].last_error.startswith("403")
    assert by_channel[pb.CHANNEL_EMAIL].attempts == 1 and "550" in by_channel[pb.CHANNEL_EMAIL].last_error
    assert by_channel[pb.CHANNEL_WHATSAPP].recipient_masked == "+62*******7890"
    wa = apis.to("/wa/messages")
    assert wa and all(c[1]["Authorization"] == "Bearer wa-token" and c[2]["to"] == "6281234567890" for c in wa)
    assert len({c[1]["Idempotency-Key"] for c in wa}) == 2  # two messages (acknowledged, routed), retried
    assert apis.to("/tg/sendMessage")[0][2]["chat_id"] == "987654321"
    assert all("Reply STOP" in c[2]["text"] for c in apis.to("/tg/sendMessage"))  # English, by preference

    # Staff queue the WhatsApp acknowledgement again once the provider is back: it goes.
    retried = n.stub.RetryMessage(pb.RetryMessageRequest(id=by_channel[pb.CHANNEL_WHATSAPP].id), metadata=n.staff,
                                  timeout=10).message
    assert retried.status == pb.DELIVERY_STATUS_PENDING
    wait_until(lambda: n.stub.GetMessage(pb.GetMessageRequest(id=retried.id), metadata=n.staff, timeout=10)
               .message.status == pb.DELIVERY_STATUS_SENT, 30)
    mine = lambda r: json.loads(r.value()).get("complaint_id") == complaint.id  # noqa: E731
    records = events.wait_for(lambda rs: "kota.notifications.message-sent.v1" in ce_types(rs), 30, match=mine)
    assert ce_types(records).count("kota.notifications.message-failed.v1") >= 6
    assert_no_contact_on(events.records())
    with pytest.raises(grpc.RpcError) as refused:
        n.stub.ListMessages(pb.ListMessagesRequest(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
