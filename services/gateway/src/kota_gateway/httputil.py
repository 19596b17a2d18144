"""HTTP plumbing shared by every API: error bodies in each standard's format, rate limiting, body limits."""

from __future__ import annotations

import json
import math
import time
from xml.etree import ElementTree as ET

from starlette.responses import JSONResponse, Response

# -- error bodies per standard ----------------------------------------------------------------------------


def to_xml(root: str, item: str, rows: list[dict]) -> bytes:
    """Open311's XML: <root><item><field>value</field>...</item>...</root>; lists of dicts nest the same way."""
    top = ET.Element(root)
    for row in rows:
        _fill(ET.SubElement(top, item), row)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")


_PLURALS = {"attributes": "attribute", "values": "value", "errors": "error", "keywords": "keyword",
            "endpoints": "endpoint", "formats": "format"}


def _fill(elem: ET.Element, row: dict) -> None:
    for key, value in row.items():
        child = ET.SubElement(elem, key)
        if isinstance(value, dict):
            _fill(child, value)
        elif isinstance(value, list):
            for v in value:
                sub = ET.SubElement(child, _PLURALS.get(key, "item"))
                if isinstance(v, dict):
                    _fill(sub, v)
                else:
                    sub.text = _text(v)
        elif value is not None:
            child.text = _text(value)


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def open311_errors(status: int, errors: list[tuple[int, str]] | list[str], xml: bool, headers: dict | None = None) -> Response:
    rows = [{"code": e[0], "description": e[1]} if isinstance(e, tuple) else {"code": status, "description": e} for e in errors]
    if xml:
        return Response(to_xml("errors", "error", rows), status, media_type="text/xml; charset=utf-8", headers=headers)
    return JSONResponse(rows, status, headers=headers)


def ckan_error(status: int, message: str, kind: str | None = None, headers: dict | None = None) -> Response:
    kind = kind or {409: "Validation Error", 403: "Authorization Error", 404: "Not Found Error"}.get(status, "Error")
    body = {"help": "", "success": False, "error": {"__type": kind, "message": message}}
    return JSONResponse(body, status, headers=headers)


def error_for_path(path: str, status: int, message: str, headers: dict | None = None) -> Response:
    """An error in the format of the API the path belongs to (used where no route has run yet)."""
    if path.startswith("/open311/"):
        return open311_errors(status, [message], path.endswith(".xml"), headers)
    if path.startswith(("/api/3/", "/api/action/")):
        return ckan_error(status, message, headers=headers)
    if path.startswith("/sta/"):
        return JSONResponse({"code": status, "type": "error", "message": message}, status, headers=headers)
    return JSONResponse({"detail": message}, status, headers=headers)


# -- middlewares (pure ASGI: they must not buffer server-sent event streams) ------------------------------

PUBLIC_PREFIXES = ("/open311/", "/api/v1/", "/api/3/", "/api/action/", "/sta/", "/gtfs-rt/", "/catalog", "/dataset/")


class TokenBucket:
    """Per-key token buckets: `rate` tokens a second up to `burst`; memory bounded by dropping idle buckets."""

    def __init__(self, rate: float, burst: int, max_keys: int = 50_000):
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float | None = None) -> float:
        """Takes one token; returns 0 if allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        tokens, last = self.buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            if len(self.buckets) > self.max_keys:
                self._evict(now)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _evict(self, now: float) -> None:
        full_after = self.burst / self.rate
        for key in [k for k, (_, last) in self.buckets.items() if now - last > full_after]:
            del self.buckets[key]


class RateLimitMiddleware:
    def __init__(self, app, rate: float, burst: int):
        self.app = app
        self.bucket = TokenBucket(rate, burst) if rate > 0 else None

    async def __call__(self, scope, receive, send):
        if self.bucket is None or scope["type"] != "http" or not scope["path"].startswith(PUBLIC_PREFIXES):
            return await self.app(scope, receive, send)
        client = scope.get("client") or ("unknown", 0)
        wait = self.bucket.take(client[0])
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            response = error_for_path(scope["path"], 429, f"too many requests; retry after {retry} s", {"Retry-After": retry})
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Reads request bodies up to `limit` bytes; a larger one gets 413 in the API's format, never a 5xx."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        too_big = error_for_path(scope["path"], 413, f"request body larger than {self.limit} bytes")
        if declared is not None:
            try:
                if int(declared) > self.limit:
                    return await too_big(scope, receive, send)
            except ValueError:
                return await error_for_path(scope["path"], 400, "malformed Content-Length")(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await too_big(scope, receive, send)
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
