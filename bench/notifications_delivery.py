"""Notification delivery benchmark: complaint events on `complaints.events.v1` -> the notifications service (its
subscriber queues a message per recipient in its delivery outbox; its dispatcher claims, sends and records) -> a
local SMTP server (aiosmtpd) and a local mock of the WhatsApp Cloud API send endpoint (a real HTTP/1.1 server).

Prints, in one run:
  1. the baselines: raw sends from this process to the same sinks, no service: smtplib one connection a mail (as
     a naive sender), smtplib one connection for all, httpx posts on one keep-alive connection;
  2. the service: --messages recipients registered (half e-mail, half WhatsApp; RegisterRecipient over gRPC), then
     one `routed` event per complaint produced to the topic; delivered/s from the first event produced to the last
     message at the sinks, and between the first and last arrival at the sinks;
and checks at the sinks, counting per message id (Message-ID; the Idempotency-Key header), that every message
arrived and none twice.

The per-channel rate limits are raised for the run (KOTA_NOTIFICATIONS_EMAIL_RATE, ..._WHATSAPP_RATE, --rate):
the bench measures what the delivery path carries, not a provider's allowance.

    .venv/bin/python bench/notifications_delivery.py [--messages 4000] [--rate 100000] [--dispatcher thread]

The service's CPU counts its dispatcher process's (--dispatcher process, the default; thread: in the service's).

The sinks run as a process of their own (this script with --serve-sinks). Uses KOTA_KAFKA_BOOTSTRAP if set,
otherwise starts the embedded broker on a free port. Never run as a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import httpx

from kota.notifications.v1 import notifications_pb2 as pb
from kota.notifications.v1 import notifications_pb2_grpc as pb_grpc
from kota_common import envelope
from kota_common.auth import issue_token
from kota_common.events import notifications as nt_events
from kota_common.events.complaints import SOURCE, TOPIC, ComplaintRouted
from kota_common.kafka import ensure_topics, make_producer
from kota_common.testing import ServiceProcess, bench_broker, bench_workdir, child_pids, cpu_seconds, free_port, wait_until

SECRET = "notifications-bench-secret-0123456789"
STAFF = [("authorization", f"Bearer {issue_token(SECRET, 'petugas', 'DISKOMINFOTIK', ['staff'])}")]
MESSAGE_ID = re.compile(rb"^Message-ID: <([^@>]+)@", re.MULTILINE | re.IGNORECASE)


# -- the sinks (a process of their own) ------------------------------------------------------------------------
class Sinks:
    """Counts what arrives per message id and channel, with the wall-clock time of the first and last arrival."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, Counter] = {"email": Counter(), "whatsapp": Counter()}
        self.first = self.last = 0.0

    def arrived(self, channel: str, message_id: str) -> None:
        now = time.time()
        with self.lock:
            self.counts[channel][message_id] += 1
            self.first = self.first or now
            self.last = now

    def report(self) -> bytes:
        with self.lock:
            return json.dumps({"counts": self.counts, "first": self.first, "last": self.last}).encode()

    def reset(self) -> None:
        with self.lock:
            self.counts = {"email": Counter(), "whatsapp": Counter()}
            self.first = self.last = 0.0


def serve_sinks(smtp_port: int, http_port: int) -> None:
    from aiosmtpd.controller import Controller

    sinks = Sinks()

    class Mail:
        async def handle_DATA(self, server, session, env) -> str:
            found = MESSAGE_ID.search(env.content)
            sinks.arrived("email", found[1].decode() if found else "?")
            return "250 OK"

    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the Cloud API
        wbufsize = -1  # the head and the body in one write (flushed after each request), and no Nagle delay:
        disable_nagle_algorithm = True  # otherwise every answer waits for the client's delayed ACK

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = json.loads(body)
            ok = request.get("messaging_product") == "whatsapp" and request.get("text", {}).get("body")
            sinks.arrived("whatsapp", self.headers.get("Idempotency-Key", "?"))
            self._answer(200 if ok else 400, b'{"messaging_product":"whatsapp","messages":[{"id":"wamid.bench"}]}')

        def do_GET(self) -> None:
            if self.path == "/reset":
                sinks.reset()
            self._answer(200, sinks.report())

        def _answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    smtp = Controller(Mail(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", http_port), Api)
    http.daemon_threads = True
    print("sinks ready", flush=True)
    try:
        http.serve_forever()
    finally:
        smtp.stop()


class SinkProcess:
    def __init__(self) -> None:
        self.smtp_port, self.http_port = free_port(), free_port()
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-sinks", str(self.smtp_port), str(self.http_port)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "sinks ready":
            raise RuntimeError("the sinks did not start")
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.http_port}", timeout=30)

    @property
    def whatsapp_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v21.0/1234567890/messages"

    def report(self, reset: bool = False) -> dict:
        return self.client.get("/reset" if reset else "/").json()

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)


# -- the baselines: raw sends to the same sinks ----------------------------------------------------------------
def mail(n: int) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "Kota CRM <no-reply@kota.local>", f"warga{n}@contoh.id", "Pengaduan Anda"
    m["Message-ID"] = f"<raw-{n}-{uuid.uuid4().hex}@kota.local>"
    m.set_content("Pengaduan Anda telah diteruskan ke Suku Dinas SDA Jakarta Pusat. " * 3)
    return m


def raw_smtp(port: int, n: int, reuse: bool) -> float:
    started = time.perf_counter()
    if reuse:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            for i in range(n):
                smtp.send_message(mail(i))
    else:
        for i in range(n):
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.send_message(mail(i))
    return n / (time.perf_counter() - started)


def raw_http(url: str, n: int) -> float:
    started = time.perf_counter()
    with httpx.Client(timeout=10) as client:
        for i in range(n):
            client.post(url, headers={"Idempotency-Key": f"raw-{i}", "Authorization": "Bearer bench"}, json={
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": f"62812{i:07d}", "type": "text",
                "text": {"preview_url": False, "body": "Pengaduan Anda telah diteruskan. " * 3}}).raise_for_status()
    return n / (time.perf_counter() - started)


class QueueWatch:
    """When the delivery outbox (nt_messages) first held `wanted` messages: how fast the subscriber queued them,
    apart from how fast the dispatcher sent them (the database read from this process, SQLite's WAL allows it)."""

    def __init__(self, path, wanted: int):
        self.path, self.wanted = path, wanted
        self.all_at = 0.0
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        import sqlite3

        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if db.execute("SELECT count(*) FROM nt_messages").fetchone()[0] >= self.wanted:
                self.all_at = time.time()
                break
            time.sleep(0.05)
        db.close()


def _cpu_with_children(pid: int) -> float:
    """The service's CPU with its child processes' (the dispatcher process, by default)."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in child_pids(pid))


def _load() -> str:
    """The 1, 5 and 15 minute load averages: figures from a busy machine are not comparable with a quiet one's."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


# -- the service -----------------------------------------------------------------------------------------------
def routed(complaint_id: str) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    payload = ComplaintRouted(complaint_id=complaint_id, service_code="banjir", agency_code="DSDA",
                              unit="Sudin SDA Jakarta Pusat", due_at=None, routed_at=datetime.now(timezone.utc))
    event = envelope.Event(type=payload.ce_type, source=SOURCE, subject=complaint_id, data=payload.to_data())
    return envelope.encode(event, complaint_id)


def register(stub: pb_grpc.NotificationsServiceStub, complaints: list[str]) -> None:
    for n, complaint_id in enumerate(complaints):
        if n % 2:
            request = pb.RegisterRecipientRequest(complaint_id=complaint_id, channel=pb.CHANNEL_WHATSAPP,
                                                  address=f"+62812{n:07d}")
        else:
            request = pb.RegisterRecipientRequest(complaint_id=complaint_id, channel=pb.CHANNEL_EMAIL,
                                                  address=f"warga{n}@contoh.id")
        stub.RegisterRecipient(request, metadata=STAFF, timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=4000, help="complaints, each with one recipient (half e-mail)")
    ap.add_argument("--baseline", type=int, default=2000, help="messages each raw baseline sends")
    ap.add_argument("--rate", type=float, default=100_000, help="each channel's rate limit for the run (messages/s)")
    ap.add_argument("--dispatcher", choices=("process", "thread"), default="process",
                    help="where the service runs its dispatcher (KOTA_NOTIFICATIONS_DISPATCHER)")
    ap.add_argument("--serve-sinks", nargs=2, type=int, metavar=("SMTP_PORT", "HTTP_PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_sinks:
        serve_sinks(*args.serve_sinks)
        return 0

    work = bench_workdir("kota-bench-notifications-")
    sinks = SinkProcess()
    service: ServiceProcess | None = None
    channel: grpc.Channel | None = None
    try:
        with bench_broker(work) as bootstrap:
            ensure_topics(bootstrap, [TOPIC, nt_events.TOPIC])
            print(f"broker {bootstrap}   cpus {os.cpu_count()}   load {_load()}   dispatcher {args.dispatcher}   python {sys.version.split()[0]}   sinks: SMTP "
                  f"127.0.0.1:{sinks.smtp_port}, WhatsApp API {sinks.whatsapp_url} (a process of their own)", flush=True)

            print(f"\nbaselines, {args.baseline:,} messages each, no service:")
            for name, send in (("raw smtplib, one connection a mail", lambda: raw_smtp(sinks.smtp_port, args.baseline, False)),
                               ("raw smtplib, one connection for all", lambda: raw_smtp(sinks.smtp_port, args.baseline, True)),
                               ("raw httpx, one keep-alive connection", lambda: raw_http(sinks.whatsapp_url, args.baseline))):
                rate = send()
                counts = sinks.report()["counts"]
                sinks.report(reset=True)
                arrived = sum(sum(c.values()) for c in counts.values())
                print(f"  {name:<52} {rate:>8,.0f}/s   {arrived} arrived", flush=True)

            address = f"127.0.0.1:{free_port()}"
            service = ServiceProcess("kota_notifications", {
                "KOTA_KAFKA_BOOTSTRAP": bootstrap, "KOTA_AUTH_SECRET": SECRET, "KOTA_LOG_LEVEL": "WARNING",
                "KOTA_NOTIFICATIONS_GRPC_ADDRESS": address,
                "KOTA_NOTIFICATIONS_DATABASE_URL": f"sqlite:///{work / 'notifications.db'}",
                "KOTA_NOTIFICATIONS_SMTP_INTAKE_ADDRESS": "off", "KOTA_NOTIFICATIONS_COMPLAINTS_ADDRESS": "127.0.0.1:1",
                "KOTA_NOTIFICATIONS_SMTP_PORT": str(sinks.smtp_port), "KOTA_NOTIFICATIONS_WHATSAPP_URL": sinks.whatsapp_url,
                "KOTA_NOTIFICATIONS_WHATSAPP_TOKEN": "bench-token", "KOTA_NOTIFICATIONS_CONSUMER_GROUP": "bench-notifications",
                "KOTA_NOTIFICATIONS_EMAIL_RATE": str(args.rate), "KOTA_NOTIFICATIONS_WHATSAPP_RATE": str(args.rate),
                "KOTA_NOTIFICATIONS_DISPATCHER": args.dispatcher,
            }, address, work / "notifications.log")
            service.start(timeout=120)
            pid = service.proc.pid  # type: ignore[union-attr]
            channel = grpc.insecure_channel(address)
            stub = pb_grpc.NotificationsServiceStub(channel)
            complaints = [f"bench-{uuid.uuid4().hex[:12]}" for _ in range(args.messages)]
            started = time.perf_counter()
            register(stub, complaints)
            print(f"\n{args.messages:,} recipients registered (RegisterRecipient, one call each) in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)

            records = [routed(c) for c in complaints]
            queued = QueueWatch(work / "notifications.db", args.messages)
            producer = make_producer(bootstrap)
            cpu0, own0, sinks0 = _cpu_with_children(pid), cpu_seconds(pid), cpu_seconds(sinks.proc.pid)
            produced_at = time.time()
            for key, value, headers in records:
                producer.produce(TOPIC, value=value, key=key, headers=headers)
                producer.poll(0)
            producer.flush(60)
            print(f"{args.messages:,} routed events on {TOPIC} in {time.time() - produced_at:.1f} s", flush=True)

            def delivered() -> int:
                return sum(len(c) for c in sinks.report()["counts"].values())

            try:
                wait_until(lambda: delivered() >= args.messages, 600, interval=0.5,
                           what=f"{args.messages} messages at the sinks")
            except AssertionError as exc:
                print(f"  not all delivered: {exc}", flush=True)
            cpu, own = _cpu_with_children(pid) - cpu0, cpu_seconds(pid) - own0
            sinks_cpu = cpu_seconds(sinks.proc.pid) - sinks0
            report = sinks.report()
            counts = report["counts"]
            total = sum(sum(c.values()) for c in counts.values())
            distinct = sum(len(c) for c in counts.values())
            twice = sum(1 for c in counts.values() for k in c.values() if k > 1)
            end_to_end = report["last"] - produced_at
            at_sinks = report["last"] - report["first"]
            print(f"\nthe service, {args.messages:,} messages ({len(counts['email']):,} e-mail, "
                  f"{len(counts['whatsapp']):,} WhatsApp):")
            if queued.all_at:
                print(f"  {'events produced -> all queued in the delivery outbox':<52} "
                      f"{args.messages / (queued.all_at - produced_at):>8,.0f}/s   ({queued.all_at - produced_at:.1f} s)")
            print(f"  {'events produced -> last message at the sinks':<52} {distinct / end_to_end:>8,.0f}/s   "
                  f"({end_to_end:.1f} s)", flush=True)
            print(f"  {'first -> last message at the sinks':<52} {distinct / max(at_sinks, 1e-9):>8,.0f}/s   "
                  f"service CPU {cpu / max(distinct, 1) * 1000:.2f} ms/message (its own process "
                  f"{own / max(distinct, 1) * 1000:.2f}); the sinks' {sinks_cpu / max(distinct, 1) * 1000:.2f}", flush=True)
            print(f"  arrived {total:,}, distinct {distinct:,} of {args.messages:,}; duplicated: "
                  f"{twice or 'none'}   (load {_load()}: the machine's other work slows every figure here)", flush=True)
            return 0 if distinct == args.messages and not twice else 1
    finally:
        if channel is not None:
            channel.close()
        if service is not None:
            service.stop()
        sinks.stop()


if __name__ == "__main__":
    sys.exit(main())
