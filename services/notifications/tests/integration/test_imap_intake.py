"""IMAP polling against a real socket: a small IMAP4rev1 server (the commands imaplib sends for a poll, answered as
a mail server answers them: CAPABILITY, LOGIN, SELECT, UID SEARCH, UID FETCH BODY.PEEK[], UID STORE, LOGOUT) with
a mailbox of its own. Dovecot is not on this machine; the server speaks the protocol's wire form, literals and all.
A mail is marked seen only once the intake kept it; the poller wired into the service turns mail into intake."""

from __future__ import annotations

import re
import socketserver
import threading
import uuid
from email.message import EmailMessage

import grpc
import pytest

from kota.notifications.v1 import notifications_pb2 as pb
from kota.notifications.v1 import notifications_pb2_grpc as pb_grpc
from kota_common.auth import issue_token
from kota_common.settings import CommonSettings
from kota_common.testing import free_port, wait_until
from kota_notifications.config import NotificationsSettings
from kota_notifications.domain.intake import IncomingMail
from kota_notifications.entrypoints.app import bootstrap
from kota_notifications.entrypoints.imap_intake import ImapAccount, ImapIntake

pytestmark = pytest.mark.integration
USER, PASSWORD = "lapor@kota.local", "rahasia"


class Mailbox:
    def __init__(self) -> None:
        self.mails: dict[int, bytes] = {}
        self.seen: set[int] = set()
        self.commands: list[str] = []

    def add(self, subject: str, body: str, sender: str = "warga@contoh.id") -> int:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = sender, USER, subject
        mail["Message-ID"] = f"<{uuid.uuid4().hex}@contoh.id>"
        mail.set_content(body)
        uid = len(self.mails) + 1
        self.mails[uid] = mail.as_bytes().replace(b"\n", b"\r\n")
        return uid


class ImapServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mailbox: Mailbox):
        self.mailbox = mailbox
        super().__init__(("127.0.0.1", free_port()), ImapHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class ImapHandler(socketserver.StreamRequestHandler):
    def send(self, line: bytes | str) -> None:
        self.wfile.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def handle(self) -> None:
        box: Mailbox = self.server.mailbox  # type: ignore[attr-defined]
        self.send("* OK [CAPABILITY IMAP4rev1] Kota test IMAP ready")
        authenticated = False
        while line := self.rfile.readline():
            tag, _, rest = line.decode().strip().partition(" ")
            command = rest.upper()
            box.commands.append(command)
            if command == "CAPABILITY":
                self.send("* CAPABILITY IMAP4rev1")
            elif command.startswith("LOGIN"):
                authenticated = [a.strip('"') for a in rest.split()[1:]] == [USER, PASSWORD]
                if not authenticated:
                    self.send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials")
                    continue
            elif not authenticated:
                self.send(f"{tag} BAD log in first")
                continue
            elif command.startswith("SELECT"):
                self.send(f"* {len(box.mails)} EXISTS")
                self.send("* FLAGS (\\Seen)")
                self.send(f"{tag} OK [READ-WRITE] SELECT completed")
                continue
            elif command.startswith("UID SEARCH"):
                self.send("* SEARCH " + " ".join(str(u) for u in box.mails if u not in box.seen))
            elif command.startswith("UID FETCH"):
                uid = int(rest.split()[2])
                raw = box.mails[uid]
                self.send(f"* {uid} FETCH (UID {uid} BODY[] {{{len(raw)}}}".encode())
                self.wfile.write(raw)
                self.send(")")
            elif command.startswith("UID STORE"):
                uid = int(rest.split()[2])
                assert re.search(r"\+FLAGS \(\\SEEN\)", command), command
                box.seen.add(uid)
                self.send(f"* {uid} FETCH (UID {uid} FLAGS (\\Seen))")
            elif command == "LOGOUT":
                self.send("* BYE logging out")
                self.send(f"{tag} OK LOGOUT completed")
                return
            self.send(f"{tag} OK {command.split()[0]} completed")


@pytest.fixture
def mailbox():
    box = Mailbox()
    server = ImapServer(box)
    yield box, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_mail_is_marked_seen_only_once_the_intake_kept_it(mailbox):
    box, port = mailbox
    first = box.add("Sampah menumpuk", "Sampah menumpuk di TPS Gambir sejak tiga hari.")
    kept: list[IncomingMail] = []
    failing = [True]

    def receive(mail: IncomingMail) -> None:
        if failing[0]:
            raise RuntimeError("the database is away")
        kept.append(mail)

    poller = ImapIntake(ImapAccount("127.0.0.1", port, tls=False, username=USER, password=PASSWORD), receive,
                        wake=lambda: None)
    assert poller.poll_once() == 0
    assert box.seen == set() and not any(c.startswith("UID STORE") for c in box.commands), \
        "a mail the intake could not keep stays unseen"
    assert any("BODY.PEEK[]" in c for c in box.commands), "fetched without setting \\Seen"

    failing[0] = False
    second = box.add("Jalan rusak", "Jalan berlubang di depan SDN Cideng 01.", sender="budi@contoh.id")
    assert poller.poll_once() == 2
    assert box.seen == {first, second}
    assert [(m.sender, m.subject) for m in kept] == [("warga@contoh.id", "Sampah menumpuk"), ("budi@contoh.id", "Jalan rusak")]
    assert poller.poll_once() == 0 and len(kept) == 2, "a mail seen is not read again"


def test_wrong_credentials_leave_the_mailbox_untouched(mailbox):
    box, port = mailbox
    box.add("Sampah", "Sampah menumpuk di TPS Gambir sejak tiga hari.")
    poller = ImapIntake(ImapAccount("127.0.0.1", port, tls=False, username=USER, password="salah"), lambda m: None,
                        wake=lambda: None)
    with pytest.raises(Exception, match="invalid credentials"):
        poller.poll_once()
    assert box.seen == set()


def test_the_service_polls_its_mailbox_into_intake(mailbox, database_url, kafka_bootstrap):
    box, port = mailbox
    box.add("Sampah menumpuk", "Sampah menumpuk di TPS Gambir sejak tiga hari, baunya menyengat.")
    settings = NotificationsSettings(
        database_url=database_url, grpc_address=f"127.0.0.1:{free_port()}", smtp_intake_address="off",
        complaints_address=f"127.0.0.1:{free_port()}",  # complaints is down: the mail waits as pending intake
        consumer_group=f"test-nt-{uuid.uuid4().hex[:8]}", imap_host="127.0.0.1", imap_port=port, imap_tls=False,
        imap_username=USER, imap_password=PASSWORD, imap_poll_s=0.2, intake_retry_cap_s=1,
        common=CommonSettings(kafka_bootstrap=kafka_bootstrap))
    host = bootstrap(settings)
    host.start()
    try:
        staff = [("authorization", "Bearer " + issue_token(settings.common.auth_secret, "petugas", "DLH", ["staff"]))]
        with grpc.insecure_channel(settings.grpc_address) as channel:
            stub = pb_grpc.NotificationsServiceStub(channel)
            [intake] = wait_until(lambda: stub.ListIntake(pb.ListIntakeRequest(), metadata=staff, timeout=10).intake, 30,
                                  what="the polled mail as intake")
            assert intake.channel == pb.CHANNEL_EMAIL and intake.status == pb.INTAKE_STATUS_PENDING
            assert intake.sender_masked == "w***@contoh.id"
            wait_until(lambda: box.seen == {1}, 10, what="the mail marked seen")
    finally:
        host.stop()
