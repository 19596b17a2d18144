"""A bare uvicorn app (no FastAPI, no middleware, no gRPC): the HTTP baseline bench/gateway.py compares with.

    python -m kota_gateway.baseline 127.0.0.1:8099
"""

from __future__ import annotations

import sys

BODY = b'[{"service_request_id":"BASELINE","status":"open"}]'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    import uvicorn

    host, _, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8099").rpartition(":")
    uvicorn.run(app, host=host, port=int(port), log_level="warning", access_log=False)
