"""Senders: one message to one address through a provider, with its outcome classified (ok, transient: try again
later, permanent: never). E-mail over SMTP (smtplib); WhatsApp Cloud API, Telegram Bot API and an SMS gateway over
HTTP (httpx). Every detail kept from a provider is scrubbed of addresses: it is shown to staff and may be logged.

The provider sees the message's id each time (the Message-ID header; the send APIs' idempotency key header), so
that the one resend a crash can cause is recognisable on its side."""

from __future__ import annotations

import binascii
import http.client
import json
import re
import select
import smtplib
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from email import policy as email_policy
from email import quoprimime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from urllib.parse import urlsplit

import httpx

from kota_common.privacy import scrub
from kota_notifications.domain.model import Outcome, SendResult

TRANSIENT_HTTP = {408, 409, 425, 429}
# What SmtpSender.compose writes as it is: the email package would write these the same, unfolded, unencoded.
_ATOM_ADDRESS = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\Z")
_PLAIN_TEXT = re.compile(r"[!-~]+(?: [!-~]+)*\Z")
_ID = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\Z")
_SMTP_POLICY = email_policy.default.clone(linesep="\r\n")  # as smtplib.send_message flattens a mail
_FROM_LINE = re.compile(rb"^From ", re.MULTILINE)
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json",
                 "User-Agent": "kota-notifications"}
_MAX_LINE: int = email_policy.default.max_line_length or 78


def _encode_body(body: str) -> tuple[bytes, bytes] | None:
    """(Content-Transfer-Encoding, the body with \\n line ends) as EmailMessage.set_content chooses and writes them
    for ASCII text (email.contentmanager: 7bit when every line fits, else quoted-printable unless base64 is shorter);
    None for base64 (left to the email package)."""
    lines = body.encode("ascii").splitlines()
    if max((len(x) for x in lines), default=0) <= _MAX_LINE:
        return b"7bit", b"\n".join(lines) + b"\n"
    sniff = b"\n".join(lines[:10]) + b"\n"
    sniff_qp = quoprimime.body_encode(sniff.decode("latin-1"), _MAX_LINE)
    if len(sniff_qp) > len(binascii.b2a_base64(sniff)):
        return None
    if len(lines) <= 10:
        return b"quoted-printable", sniff_qp.encode("ascii")
    whole = b"\n".join(lines) + b"\n"
    return b"quoted-printable", quoprimime.body_encode(whole.decode("latin-1"), _MAX_LINE).encode("ascii")


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _clean(detail: str, address: str) -> str:
    return scrub(detail.replace(address, "[address]"))[:500]


@dataclass
class SmtpSender:
    """Hands mail to an SMTP server (the city's relay; the local sink in ./scripts/run). A 5xx answer for the
    recipient is permanent (no such mailbox); 4xx and a server that does not answer are transient.

    Connections are kept open and reused, one per send in flight (a mail costs its four commands, not a connection,
    a greeting and EHLO as well). One idle longer than `idle_check_s` is asked NOOP first (a server closes idle
    connections); one that failed in any other way than an answer about this mail is closed."""

    host: str
    port: int
    from_address: str
    reply_to: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = False
    timeout: float = 10.0
    idle_check_s: float = 5.0
    _idle: list[tuple[smtplib.SMTP, float]] = field(default_factory=list, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._domain = parseaddr(self.from_address)[1].rpartition("@")[2] or "kota.local"
        # What every mail's head says alike, folded once as the mail's own policy folds it.
        common = self._mail("", "", "", "")
        self._envelope_from = parseaddr(self.from_address)[1]
        self._plain = _ATOM_ADDRESS.match(self._envelope_from) is not None and all(
            v.isascii() for _n, v in common.raw_items())
        folded = [_SMTP_POLICY.fold_binary(n, v) for n, v in common.raw_items()]
        self._from_line, self._tail_lines = folded[0], b"".join(folded[1:])  # From; Auto-Submitted, Reply-To...

    def _mail(self, address: str, subject: str, body: str, message_id: str) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.from_address
        if address:
            mail["To"] = address
            mail["Subject"] = subject
            mail["Date"] = formatdate(localtime=False)
            mail["Message-ID"] = f"<{message_id}@{self._domain}>"
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: an auto-responder must not answer it
        if self.reply_to:
            mail["Reply-To"] = self.reply_to
            mail["List-Unsubscribe"] = f"<mailto:{self.reply_to}?subject=BERHENTI>"
        if address:
            mail.set_content(body)
        return mail

    def compose(self, address: str, subject: str, body: str, message_id: str, date: str = "") -> bytes | None:
        """The mail as send_message would put it on the wire (the same bytes), written directly where nothing in it
        needs the email package's folding or encoding: an ASCII address, a short ASCII subject and Message-ID, a
        body of ASCII text (7bit or quoted-printable). None otherwise (the EmailMessage is built and sent).

        EmailMessage parses every header it is given again (a couple of milliseconds a mail): at hundreds of mails
        a second that was most of the dispatcher's CPU."""
        if not (self._plain and _ATOM_ADDRESS.match(address) and _PLAIN_TEXT.match(subject) and "=?" not in subject
                and _ID.match(message_id) and len(subject) <= 69 and len(address) <= 74
                and len(message_id) + len(self._domain) <= 63 and body.isascii()):
            return None
        encoded = _encode_body(body)
        if encoded is None:
            return None
        cte, payload = encoded
        head = b"".join((
            self._from_line, b"To: ", address.encode(), b"\r\n", b"Subject: ", subject.encode(), b"\r\n",
            b"Date: ", (date or formatdate(localtime=False)).encode(), b"\r\n",
            b"Message-ID: <", message_id.encode(), b"@", self._domain.encode(), b">\r\n", self._tail_lines,
            b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: ', cte, b"\r\n",
            b"MIME-Version: 1.0\r\n\r\n"))
        # smtplib's generator mangles a line starting "From " (its default, mangle_from_): so does this
        return head + _FROM_LINE.sub(b">From ", payload).replace(b"\n", b"\r\n")

    def send(self, address: str, subject: str, body: str, message_id: str) -> SendResult:
        mail: bytes | EmailMessage | None = self.compose(address, subject, body, message_id)
        if mail is None:
            mail = self._mail(address, subject, body, message_id)
        smtp = None
        try:
            smtp = self._connection()
            refused = (smtp.sendmail(self._envelope_from, [address], mail) if isinstance(mail, bytes)
                       else smtp.send_message(mail))
        except smtplib.SMTPRecipientsRefused as exc:  # smtplib reset the transaction: the connection goes on
            self._give_back(smtp)
            code, text = next(iter(exc.recipients.values()), (550, b""))
            return SendResult(Outcome.PERMANENT if code >= 500 else Outcome.TRANSIENT,
                              _clean(f"{code} {_text(text)}", address))
        except smtplib.SMTPResponseException as exc:
            if isinstance(exc, (smtplib.SMTPSenderRefused, smtplib.SMTPDataError)):
                self._give_back(smtp)  # an answer about this mail, the transaction reset
            else:
                self._close(smtp)
            detail = _clean(f"{exc.smtp_code} {_text(exc.smtp_error)}", address)
            return SendResult(Outcome.PERMANENT if exc.smtp_code >= 500 else Outcome.TRANSIENT, detail)
        except (OSError, smtplib.SMTPException) as exc:
            self._close(smtp)
            return SendResult(Outcome.TRANSIENT, _clean(f"{type(exc).__name__}: {exc}", address))
        self._give_back(smtp)
        if refused:
            return SendResult(Outcome.PERMANENT, _clean(str(refused), address))
        return SendResult(Outcome.OK, "250 accepted", message_id)

    def _connection(self) -> smtplib.SMTP:
        while True:
            with self._lock:
                smtp, used = self._idle.pop() if self._idle else (None, 0.0)
            if smtp is None:
                return self._connect()
            if time.monotonic() - used < self.idle_check_s:
                return smtp
            try:
                if smtp.noop()[0] == 250:
                    return smtp
            except (OSError, smtplib.SMTPException):
                pass
            self._close(smtp)

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            self._close(smtp)
            raise
        return smtp

    def _give_back(self, smtp: smtplib.SMTP | None) -> None:
        if smtp is not None:
            with self._lock:
                self._idle.append((smtp, time.monotonic()))

    @staticmethod
    def _close(smtp: smtplib.SMTP | None) -> None:
        if smtp is not None:
            smtp.close()

    def close(self) -> None:
        """Says QUIT on every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for smtp, _used in idle:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


class KeptAlive:
    """POSTs to one origin over HTTP/1.1 connections kept open (http.client), one per request in flight, as
    httpx's pool keeps them: an idle one is reused unless it idled longer than `keepalive_s` or the server closed
    it meanwhile (readable while idle); one that failed in any way is closed. TLS verified as httpx verifies it.

    A send API's POST through httpx cost about a millisecond of CPU with the dispatcher's threads busy (its
    request and response models, h11), four times this; at hundreds of messages a second that mattered."""

    def __init__(self, url: str, timeout: float, keepalive_s: float = 5.0):
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http(s) URL: {u.scheme}://{u.hostname}")
        self.https = u.scheme == "https"
        self.host, self.port = u.hostname, u.port or (443 if self.https else 80)
        self.target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self.timeout, self.keepalive_s = timeout, keepalive_s
        self._tls = httpx.create_ssl_context() if self.https else None
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """(status, body) of the answer; OSError or http.client.HTTPException when there was none."""
        conn = self._connection()
        try:
            conn.request("POST", self.target, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.append((conn, time.monotonic()))
        return response.status, data

    def _connection(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                conn, used = self._idle.pop() if self._idle else (None, 0.0)
            if conn is None:
                if self._tls is not None:
                    return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._tls)
                return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            if time.monotonic() - used < self.keepalive_s and conn.sock is not None and not _readable(conn.sock):
                return conn
            conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _used in idle:
            conn.close()


def _readable(sock: socket.socket) -> bool:
    """An idle kept-alive connection that is readable was closed by the server (or broke): not reused."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _direct(url: str) -> bool:
    """Whether a POST to `url` goes straight to its host: no proxy from the environment applies (httpx's client
    honours HTTP(S)_PROXY, ALL_PROXY and NO_PROXY; those requests stay with it, as do URLs with credentials)."""
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname or u.username is not None:
        return False
    proxies = urllib.request.getproxies()
    wanted = proxies.get(u.scheme) or proxies.get("all")
    return not wanted or bool(urllib.request.proxy_bypass(u.hostname))


@dataclass
class HttpSender:
    """A send API over HTTP: 2xx accepted; 408/409/425/429 and 5xx transient; other 4xx permanent (a number
    not on WhatsApp, a chat that blocked the bot); no answer transient.

    Posts over connections of its own kept alive (KeptAlive), at the client's timeout; through `client` where
    a proxy applies (or `direct` is False)."""

    client: httpx.Client
    url: str
    token: str = field(default="", repr=False)
    direct: bool = True
    _kept: KeptAlive | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.direct and _direct(self.url):
            timeout = self.client.timeout
            self._kept = KeptAlive(self.url, max(timeout.connect or 0.0, timeout.read or 0.0) or 10.0)

    def request(self, address: str, subject: str, body: str) -> dict:
        raise NotImplementedError

    def send(self, address: str, subject: str, body: str, message_id: str) -> SendResult:
        headers = {"Idempotency-Key": message_id}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self._kept is not None:
            headers.update(_JSON_HEADERS)
            content = json.dumps(self.request(address, subject, body), ensure_ascii=False, separators=(",", ":"),
                                 allow_nan=False).encode()
            try:
                status, data = self._kept.post(content, headers)
            except (OSError, http.client.HTTPException) as exc:
                return SendResult(Outcome.TRANSIENT, _clean(f"{type(exc).__name__}: {exc}", address))
            text = data[:1200].decode(errors="replace")
        else:
            try:
                response = self.client.post(self.url, json=self.request(address, subject, body), headers=headers)
            except httpx.HTTPError as exc:
                return SendResult(Outcome.TRANSIENT, _clean(f"{type(exc).__name__}: {exc}", address))
            status, text = response.status_code, response.text
        detail = _clean(f"{status} {text[:300]}", address)
        if 200 <= status < 300:
            return SendResult(Outcome.OK, detail)
        if status in TRANSIENT_HTTP or status >= 500:
            return SendResult(Outcome.TRANSIENT, detail)
        return SendResult(Outcome.PERMANENT, detail)

    def close(self) -> None:
        """Closes its idle connections (the client is its owner's to close)."""
        if self._kept is not None:
            self._kept.close()


class WhatsAppSender(HttpSender):
    """WhatsApp Business Cloud API: POST {graph}/{phone-number-id}/messages, a text message. (Outside the 24-hour
    customer-service window the Cloud API takes template messages only: a city registers its templates and sets
    them here; this sends text.)"""

    def request(self, address: str, subject: str, body: str) -> dict:
        return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": address.lstrip("+"),
                "type": "text", "text": {"preview_url": False, "body": body}}


class TelegramSender(HttpSender):
    """Telegram Bot API: POST https://api.telegram.org/bot<token>/sendMessage (the token is in the URL; no bearer)."""

    def request(self, address: str, subject: str, body: str) -> dict:
        return {"chat_id": address, "text": body, "disable_web_page_preview": True}


class SmsSender(HttpSender):
    """An SMS gateway's generic send form: POST {to, text} as JSON with a bearer token."""

    def request(self, address: str, subject: str, body: str) -> dict:
        return {"to": address, "text": body}
