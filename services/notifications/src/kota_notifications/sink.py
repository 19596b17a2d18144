"""`python -m kota_notifications.sink`: where outgoing messages go on a developer's machine (./scripts/run), never
the internet. An SMTP catcher keeps every mail as an .eml file, and a mock of the send APIs (WhatsApp, Telegram,
SMS: any POST) answers 200; both write one line per message to `<dir>/outbox.log`, which a newcomer can read:

    tail -f var/outbox/outbox.log

Point the service at it with KOTA_NOTIFICATIONS_SMTP_PORT=1025 (the default) and, for the send APIs,
KOTA_NOTIFICATIONS_WHATSAPP_URL=http://127.0.0.1:8025/whatsapp/messages, ..._TELEGRAM_URL=http://127.0.0.1:8025/telegram/sendMessage,
..._SMS_URL=http://127.0.0.1:8025/sms/send.

It also stands in for the platforms' media APIs beside those URLs, so that a photo "sent" on WhatsApp or Telegram is
fetched locally: WhatsApp's `GET /<media id>` (then the `url` it answers) and Telegram's `GET /telegram/getFile`
(then `/file/telegram/<file_path>`) give one small JPEG picture, whatever the id."""

from __future__ import annotations

import argparse
import itertools
import json
import threading
from datetime import datetime, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

from kota_common.process import StopSignal


class Outbox:
    def __init__(self, directory: Path):
        self.dir = directory
        (self.dir / "mail").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)

    def next_number(self) -> int:
        with self._lock:
            return next(self._numbers)

    def log(self, entry: dict) -> None:
        line = json.dumps({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **entry}, ensure_ascii=False)
        with self._lock, open(self.dir / "outbox.log", "a", encoding="utf-8") as f:
            f.write(line + "\n")


class MailCatcher:
    def __init__(self, outbox: Outbox):
        self.outbox = outbox

    async def handle_DATA(self, server, session, envelope) -> str:
        number = self.outbox.next_number()
        path = self.outbox.dir / "mail" / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{number:05d}.eml"
        path.write_bytes(envelope.content)
        mail = message_from_bytes(envelope.content, policy=default_policy)
        self.outbox.log({"channel": "email", "to": list(envelope.rcpt_tos), "subject": str(mail.get("Subject", "")),
                         "file": str(path)})
        return "250 OK (kept by the local sink)"


def sample_photo() -> bytes:
    """The picture every media id stands for here: a small JPEG (a grey street under a blue sky)."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (320, 240), (110, 160, 220))
    ImageDraw.Draw(picture).rectangle((0, 150, 320, 240), fill=(90, 90, 90))
    out = BytesIO()
    picture.save(out, "JPEG", quality=80)
    return out.getvalue()


def api_server(outbox: Outbox, host: str, port: int) -> ThreadingHTTPServer:
    photo = sample_photo()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, content: bytes, content_type: str = "application/json", status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def do_GET(self) -> None:
            """The platforms' media APIs: a description of the media, then its bytes."""
            url = urlsplit(self.path)
            parts = [p for p in url.path.split("/") if p]
            base = f"http://{self.headers.get('Host') or f'{host}:{port}'}"
            if parts[:2] in (["media", "whatsapp"], ["file", "telegram"]) and len(parts) > 2:
                outbox.log({"channel": parts[1], "path": url.path, "media": "downloaded"})
                self._answer(photo, "image/jpeg")
            elif parts == ["telegram", "getFile"]:
                file_id = (parse_qs(url.query).get("file_id") or ["photo"])[0]
                self._answer(json.dumps({"ok": True, "result": {"file_id": file_id, "file_size": len(photo),
                                                                "file_path": f"photos/{file_id}.jpg"}}).encode())
            elif len(parts) == 1:  # WhatsApp's GET /<media id>
                self._answer(json.dumps({"url": f"{base}/media/whatsapp/{parts[0]}", "mime_type": "image/jpeg",
                                         "file_size": len(photo), "id": parts[0]}).encode())
            else:
                self._answer(b'{"error": "not found"}', status=404)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"raw": raw.decode(errors="replace")}
            number = outbox.next_number()
            outbox.log({"channel": self.path.strip("/").split("/")[0] or "api", "path": self.path, "request": body})
            answer = json.dumps({"ok": True, "messages": [{"id": f"sink-{number}"}],
                                 "result": {"message_id": number}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path("var/outbox"))
    args = parser.parse_args(argv)
    stop = StopSignal()  # before the servers start: a stop while starting is not lost
    outbox = Outbox(args.dir)
    smtp = Controller(MailCatcher(outbox), hostname=args.host, port=args.smtp_port)
    smtp.start()
    http = api_server(outbox, args.host, args.http_port)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    print(f"outgoing messages: SMTP {args.host}:{args.smtp_port}, send APIs http://{args.host}:{args.http_port}/<channel>/...; "
          f"read them in {args.dir / 'outbox.log'}", flush=True)
    stop.wait()
    http.shutdown()
    smtp.stop()


if __name__ == "__main__":
    main()
