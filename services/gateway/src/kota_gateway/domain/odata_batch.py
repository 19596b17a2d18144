"""OData batch requests as SensorThings 1.1 takes them (18-088 section 12, after OData 4.0 part 1 section 11.7): the
multipart format (`multipart/mixed`, each request an `application/http` part, writes grouped in change sets) and the
JSON format of OData 4.01 (`{"requests": [...]}`), read into one list of requests; the answers written back in the
format the client used. Parsing the MIME structure is the standard library's (`email`); this reads the HTTP
request line inside each part and nothing else (a read needs no body)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from http import HTTPStatus

from kota_gateway.domain.odata import ODataError

MAX_BATCH = 100
MULTIPART = "multipart/mixed"


@dataclass(frozen=True)
class BatchRequest:
    id: str
    method: str
    url: str
    # a change set's requests are one unit: the API is read-only, so a change set gets one refusal
    change_set: tuple[BatchRequest, ...] = ()
    problem: str = ""  # why the part is no request (answered 400)


@dataclass(frozen=True)
class BatchResponse:
    id: str
    status: int
    body: object  # a JSON value, or text (a $value)


def _bounded(requests: list[BatchRequest]) -> list[BatchRequest]:
    if len(requests) > MAX_BATCH:
        raise ODataError(400, f"a batch holds {MAX_BATCH} requests at most")
    return requests


def read_json(body: object) -> list[BatchRequest]:
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise ODataError(400, "a batch is {\"requests\": [{\"id\", \"method\", \"url\"}, ...]}")
    requests = []
    for n, item in enumerate(body["requests"]):
        item = item if isinstance(item, dict) else {}
        requests.append(BatchRequest(str(item.get("id", n + 1)), str(item.get("method", "")).upper(),
                                     str(item.get("url", ""))))
    return _bounded(requests)


def read_multipart(content_type: str, body: bytes) -> list[BatchRequest]:
    """The requests of a `multipart/mixed` batch body, in order; a change set as one request holding its own."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not isinstance(message, EmailMessage) or message.get_content_type() != MULTIPART \
            or not message.get_boundary():
        raise ODataError(400, "a multipart batch is multipart/mixed with a boundary")
    if not message.is_multipart():
        raise ODataError(400, "the batch body holds no part delimited by its boundary")
    requests = [_part_request(part, n) for n, part in enumerate(message.iter_parts(), start=1)]
    return _bounded(requests)


def _part_request(part: MIMEPart, n: int) -> BatchRequest:
    rid = " ".join(str(part.get("Content-ID") or n).split())  # written back as a header: one line
    kind = part.get_content_type()
    if kind == MULTIPART:
        inner = tuple(_part_request(p, m) for m, p in enumerate(part.iter_parts(), start=1))
        return BatchRequest(rid, "CHANGESET", "", inner)
    if kind != "application/http":
        return BatchRequest(rid, "", "", problem=f"a batch part is application/http, not {kind}")
    payload = part.get_payload(decode=True)
    line = (payload if isinstance(payload, bytes) else b"").lstrip(b"\r\n").split(b"\n", 1)[0]
    words = line.decode("latin-1").strip().split()
    if len(words) < 2:
        return BatchRequest(rid, "", "", problem=f"part {n} holds no HTTP request line")
    return BatchRequest(rid, words[0].upper(), words[1])


def write_json(responses: list[BatchResponse]) -> dict:
    return {"responses": [{"id": r.id, "status": r.status, "body": r.body} for r in responses]}


def write_multipart(responses: list[BatchResponse], boundary: str | None = None) -> tuple[str, bytes]:
    """The answer to a multipart batch: its content type (with the boundary) and body, one `application/http`
    part per request, in order, each an HTTP/1.1 response with its status and its JSON (or text) body."""
    boundary = boundary or f"batchresponse_{uuid.uuid4()}"
    out = bytearray()
    for r in responses:
        if isinstance(r.body, str):
            body, kind = r.body.encode(), "text/plain; charset=utf-8"
        else:
            body, kind = json.dumps(r.body, ensure_ascii=False).encode(), "application/json; charset=utf-8"
        reason = HTTPStatus(r.status).phrase if r.status in HTTPStatus._value2member_map_ else ""
        out += (f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                f"Content-ID: {r.id}\r\n\r\nHTTP/1.1 {r.status} {reason}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"{MULTIPART}; boundary={boundary}", bytes(out)
