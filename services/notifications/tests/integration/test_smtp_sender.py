"""The SMTP sender against a real SMTP server (aiosmtpd): one connection carries many mails; a refusal about one
mail leaves it usable; a connection the server closed while idle is replaced, not failed on."""

from __future__ import annotations

import time

import pytest
from aiosmtpd.controller import Controller

from kota_common.testing import free_port
from kota_notifications.adapters.senders import SmtpSender
from kota_notifications.domain.model import Outcome

pytestmark = pytest.mark.integration


class Server:
    """Keeps each mail with the client's address and port (one per connection); `tidak-ada...` is refused."""

    def __init__(self, idle_timeout: float = 300) -> None:
        self.mails: list[tuple[tuple, bytes]] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port(), timeout=idle_timeout)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("tidak-ada"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mails.append((session.peer, envelope.content))
        return "250 OK"

    def connections(self) -> int:
        return len({peer for peer, _ in self.mails})


@pytest.fixture
def server():
    made: list[Server] = []

    def start(**kw) -> Server:
        s = Server(**kw)
        s.controller.start()
        made.append(s)
        return s

    yield start
    for s in made:
        s.controller.stop()


def test_many_mails_go_over_one_connection_and_a_refusal_does_not_end_it(server):
    smtp = server()
    sender = SmtpSender("127.0.0.1", smtp.controller.port, "Kota CRM <no-reply@kota.local>")
    try:
        for n in range(3):
            assert sender.send(f"warga{n}@contoh.id", "Laporan diterima", "Terima kasih.", f"m-{n}").outcome is Outcome.OK
        refused = sender.send("tidak-ada@contoh.id", "Laporan diterima", "Terima kasih.", "m-x")
        assert refused.outcome is Outcome.PERMANENT and "550" in refused.detail
        assert sender.send("warga9@contoh.id", "Laporan diterima", "Terima kasih.", "m-9").outcome is Outcome.OK
    finally:
        sender.close()
    assert len(smtp.mails) == 4 and smtp.connections() == 1
    assert all(b"Message-ID: <m-" in content for _, content in smtp.mails)


def test_a_connection_the_server_closed_while_idle_is_replaced(server):
    smtp = server(idle_timeout=0.5)  # the server drops a connection idle for half a second
    sender = SmtpSender("127.0.0.1", smtp.controller.port, "Kota CRM <no-reply@kota.local>", idle_check_s=0.2)
    try:
        assert sender.send("warga1@contoh.id", "Satu", "Terima kasih.", "m-1").outcome is Outcome.OK
        time.sleep(1.5)
        assert sender.send("warga2@contoh.id", "Dua", "Terima kasih.", "m-2").outcome is Outcome.OK
    finally:
        sender.close()
    assert len(smtp.mails) == 2 and smtp.connections() == 2


def _as_send_message_writes(sender: SmtpSender, address: str, subject: str, body: str, message_id: str,
                            date: str) -> bytes:
    import io
    from email.generator import BytesGenerator

    mail = sender._mail(address, subject, body, message_id)
    mail.replace_header("Date", date)
    out = io.BytesIO()
    BytesGenerator(out).flatten(mail, linesep="\r\n")  # as smtplib.send_message does
    return out.getvalue()


def test_a_mail_written_directly_is_the_one_the_email_package_writes():
    from kota_notifications.domain import templates

    date = "Mon, 07 Dec 2026 23:29:16 -0000"
    facts = {"complaint_id": "JKT-2026-000123", "agency": "Dinas Sumber Daya Air", "unit": "Sudin SDA Jakarta Pusat",
             "note": "Saluran sudah dibersihkan.", "escalated_to": "Wali Kota", "duplicate_of": "JKT-2026-000100",
             "missing": ["location", "category"], "tracking_code": "RAHASIA1", "ask": ["category"]}
    bodies = [templates.render(kind, language, facts, portal_url="https://kota.example/laporan")
              for kind in ("acknowledged", "routed", "in_progress", "resolved", "rejected", "note", "sla_breached",
                           "duplicate", "intake_refused", "opted_out") for language in ("id", "en")]
    cases = [(f"warga{n}@contoh.id", r.subject, r.body) for n, r in enumerate(bodies)] + [
        ("a.b+c_d-e@sub.contoh.co.id", "x" * 69, "short"),
        ("warga@contoh.id", "Laporan", "baris\n" * 30),
        ("warga@contoh.id", "Laporan", ("kata " * 40 + "\n") * 12),  # long lines, more than ten: quoted-printable
        ("warga@contoh.id", "Laporan", "a=b " * 50),
        ("warga@contoh.id", "Laporan", "ends without a newline\r\nand CRLF\rand CR"),
        ("warga@contoh.id", "Laporan", ""),
        ("warga@contoh.id", "Laporan", ".leading dot\n.\nFrom the start\n"),
        ("warga@contoh.id", "Laporan", "\x01\x02\x03\x04\x05\x06\x07\x0e\x0f" * 40),  # base64 is shorter
        ("warga@contoh.id", "Pengaduan: Café", "non-ASCII subject"),
        ("wärga@contoh.id", "Laporan", "non-ASCII address"),
        ("warga@contoh.id", "Laporan", "Terima kasih — non-ASCII body"),
        ("warga@contoh.id", "x" * 70, "a subject too long for one line"),
        ("warga@contoh.id", "two  spaces", "body"),
        ("warga@contoh.id", "=?utf-8?q?encoded?=", "body"),
    ]
    for from_address, reply_to in (("Kota CRM <no-reply@kota.local>", "lapor@kota.local"),
                                   ("no-reply@kota.local", ""), ("Pemkot Kota Bahagia Sejahtera <no-reply@kota.local>", "")):
        sender = SmtpSender("127.0.0.1", 1, from_address, reply_to)
        direct = 0
        for n, (address, subject, body) in enumerate(cases):
            message_id = f"0f8c2b6e-1a2b-4c3d-9e8f-{n:012d}"
            written = sender.compose(address, subject, body, message_id, date)
            if written is not None:
                direct += 1
                assert written == _as_send_message_writes(sender, address, subject, body, message_id, date), (
                    from_address, address, subject, body)
        assert direct >= len(bodies) + 6  # every template's mail, and the plain cases
    assert sender.compose("wärga@contoh.id", "Laporan", "x", "m-1", date) is None
    assert sender.compose("warga@contoh.id", "Laporan", "é", "m-1", date) is None
