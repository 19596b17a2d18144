"""The send APIs' sender against a real HTTP/1.1 server: many posts over one kept-alive connection, the answers
classified (2xx ok, 429/5xx transient, other 4xx permanent, no answer transient), a connection the server closed
while idle replaced rather than failed on, and a proxy from the environment left to httpx."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from kota_common.testing import free_port
from kota_notifications.adapters.senders import WhatsAppSender
from kota_notifications.domain.model import Outcome

pytestmark = pytest.mark.integration


class Api:
    """Keeps each request (its connection's client port, headers, JSON body); answers the status the body's
    `to` asks for (`to` = "4290000" -> 429), 200 otherwise; closes connections idle `idle_s`."""

    def __init__(self, idle_s: float = 30.0) -> None:
        self.requests: list[tuple[int, dict, dict]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_s

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.requests.append((self.client_address[1], dict(self.headers), body))
                status = int(body["to"][:3]) if body["to"][:1] in "45" else 200
                payload = json.dumps({"messages": [{"id": "wamid.1"}]} if status == 200 else
                                     {"error": {"message": f"refused for +{body['to']}"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v21.0/123/messages?x=1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api():
    made: list[Api] = []

    def start(**kw) -> Api:
        made.append(Api(**kw))
        return made[-1]

    yield start
    for a in made:
        a.stop()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """This machine's proxy settings, if any, are not the tests': they set their own."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_posts_go_over_one_kept_alive_connection_and_answers_are_classified(api):
    server = api()
    with httpx.Client(timeout=10) as client:
        sender = WhatsAppSender(client, server.url, "token-1")
        assert sender._kept is not None
        try:
            assert sender.send("+628120001", "", "Laporan diterima", "m-1").outcome is Outcome.OK
            assert sender.send("+628120002", "", "Laporan diterima", "m-2").outcome is Outcome.OK
            busy = sender.send("+4290000", "", "x", "m-3")
            refused = sender.send("+4000000", "", "x", "m-4")
            down = sender.send("+5030000", "", "x", "m-5")
        finally:
            sender.close()
    assert busy.outcome is Outcome.TRANSIENT and busy.detail.startswith("429")
    assert refused.outcome is Outcome.PERMANENT and refused.detail.startswith("400")
    assert "4000000" not in refused.detail, "the address is scrubbed from what staff read"
    assert down.outcome is Outcome.TRANSIENT
    assert len({port for port, _h, _b in server.requests}) == 1, "one connection for every post"
    port, headers, body = server.requests[0]
    assert headers["Idempotency-Key"] == "m-1" and headers["Authorization"] == "Bearer token-1"
    assert headers["Content-Type"] == "application/json"
    assert body == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "628120001",
                    "type": "text", "text": {"preview_url": False, "body": "Laporan diterima"}}


def test_a_connection_the_server_closed_while_idle_is_replaced_and_no_server_is_transient(api):
    server = api(idle_s=0.3)
    with httpx.Client(timeout=5) as client:
        sender = WhatsAppSender(client, server.url)
        try:
            assert sender.send("+628120001", "", "satu", "m-1").outcome is Outcome.OK
            time.sleep(1.0)  # the server closed the connection meanwhile
            assert sender.send("+628120002", "", "dua", "m-2").outcome is Outcome.OK
        finally:
            sender.close()
        assert len(server.requests) == 2 and len({port for port, _h, _b in server.requests}) == 2
        nobody = WhatsAppSender(client, f"http://127.0.0.1:{free_port()}/messages")
        result = nobody.send("+628120003", "", "tiga", "m-3")
    assert result.outcome is Outcome.TRANSIENT and "ConnectionRefused" in result.detail


def test_with_a_proxy_in_the_environment_the_client_posts(api, monkeypatch):
    server = api()
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    with httpx.Client(timeout=5, trust_env=False) as client:  # the test's client goes straight to the server
        sender = WhatsAppSender(client, server.url)
        assert sender._kept is None
        assert sender.send("+628120001", "", "satu", "m-1").outcome is Outcome.OK
    assert len(server.requests) == 1
    monkeypatch.delenv("HTTP_PROXY")
    with httpx.Client() as client:
        assert WhatsAppSender(client, server.url)._kept is not None
        assert WhatsAppSender(client, server.url.replace("http://", "http://user:secret@"))._kept is None
