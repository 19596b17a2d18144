"""HTTP ingest for simple devices: POST /v1/devices/{device_id}/readings with "Authorization: Device <token>".

Answers 200 with counts and per-reading rejections once the broker has acknowledged the accepted readings;
422 when every reading was rejected; 400 for a malformed document; 401 for a missing, wrong or revoked
credential; 503 when the broker did not acknowledge (resend). Errors: {"error": {"code", "reason", "message"}}.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kota_sensors.entrypoints import device_json
from kota_sensors.service_layer.ingest import UNAUTHENTICATED, IngestPipeline

log = logging.getLogger(__name__)
PATH = re.compile(r"^/v1/devices/([A-Za-z0-9][A-Za-z0-9_.\-]{0,63})/readings/?$")
MAX_BODY = 4 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    pipeline: IngestPipeline
    protocol_version = "HTTP/1.1"
    server_version = "kota-sensors"

    def log_message(self, fmt, *args):  # no access log with device addresses
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if code == 401:
            self.send_header("WWW-Authenticate", 'Device realm="kota-sensors"')
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, reason: str, message: str) -> None:
        self._send(code, {"error": {"code": code, "reason": reason, "message": message}})

    def do_GET(self):
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        else:
            self._error(404, "not_found", "POST readings to /v1/devices/{device_id}/readings")

    def do_POST(self):
        m = PATH.match(self.path.split("?")[0])
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._error(413, "too_large", f"at most {MAX_BODY} bytes")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        if not m:
            self._error(404, "not_found", "POST readings to /v1/devices/{device_id}/readings")
            return
        auth = self.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("device", "bearer") or not token.strip():
            self._error(401, UNAUTHENTICATED, "send the device credential as 'Authorization: Device <token>'")
            return
        try:
            series, positions, index_map = device_json.parse(device_json.loads(body))
        except device_json.DocumentError as exc:
            self._error(400, "invalid_document", str(exc))
            return
        ticket = self.pipeline.submit(m.group(1), token.strip(), series, positions)
        if ticket.refused:
            self._error(401, UNAUTHENTICATED, "unknown device, wrong or revoked credential")
            return
        self.pipeline.settle(ticket)
        out = device_json.answer(ticket, index_map)
        if ticket.failed:
            self._send(503, out)
        elif out["accepted"] == 0 and out["rejected"]:
            self._send(422, out)
        else:
            self._send(200, out)


class HttpIngest:
    name = "HTTP ingest"

    def __init__(self, address: str, pipeline: IngestPipeline):
        host, _, port = address.rpartition(":")
        handler = type("Handler", (_Handler,), {"pipeline": pipeline})
        self.server = ThreadingHTTPServer((host, int(port)), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="http-ingest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
