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
