"""Citizens' photos over HTTP: served at /media/photos/{name} and taken by the portal at POST /api/v1/photos.

The checks, the cleaning (metadata stripped) and the store are kota_common.photos, shared with the e-mail channel;
Open311's `media` upload (entrypoints/open311.py) goes through `keep_upload` here as well. A stored name is the
SHA-256 of its bytes, so an answer never changes: browsers and proxies keep it for a year without asking again
(Cache-Control immutable), and a client that asks anyway with its ETag gets 304.

The portal uploads a photo as soon as the citizen picks it (as FixMyStreet does) and sends the report with the
answered URL in media_urls: the report itself stays a small JSON request.
"""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, HTTPException, Request, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as FormFile
from starlette.responses import JSONResponse, Response

from kota_common.photos import NAME, KeptPhoto, PhotoRejected, Photos
from kota_gateway.adapters.errors import ServiceUnavailable
from kota_gateway.entrypoints.errors import RETRY_LATER
from kota_gateway.entrypoints.portal import PORTAL_ERRORS
from kota_gateway.httputil import BodyLimitMiddleware

log = logging.getLogger(__name__)
IMMUTABLE = "public, max-age=31536000, immutable"
# Requests that may carry a photo, and so get the photo's size on top of the gateway's body limit.
UPLOAD_PATHS = re.compile(r"^(/open311/v2/requests\.(json|xml)|/api/v1/photos)$")

router = APIRouter(tags=["photos"])
upload_router = APIRouter(prefix="/api/v1", tags=["portal"], route_class=PORTAL_ERRORS)


def photos(request: Request) -> Photos:
    return request.app.state.photos


async def keep_upload(request: Request, upload: FormFile) -> KeptPhoto:
    """Check, clean and store an uploaded file (on a worker thread: decoding and encoding take the CPU for a
    while). PhotoRejected for a file that is not kept; nothing is stored then."""
    store = photos(request)
    data = await upload.read(store.settings.max_bytes + 1)
    return await in_store(store.keep, data, str(request.base_url))


async def in_store(work, *args):
    """A call to the photo store, on a worker thread. ServiceUnavailable (503, retry later) when the store fails
    (object storage down, a full disk); a refused photo (PhotoRejected) is the client's."""
    try:
        return await run_in_threadpool(work, *args)
    except PhotoRejected:
        raise
    except Exception as exc:
        log.warning("the photo store failed: %s", type(exc).__name__)
        raise ServiceUnavailable("photo store", type(exc).__name__) from None


@router.api_route("/media/photos/{name}", methods=["GET", "HEAD"], summary="A photo or its thumbnail (immutable)",
                  responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}, 304: {},
                             404: {}})
async def photo(request: Request, name: str) -> Response:
    if NAME.match(name) is None:
        raise HTTPException(404, "no such photo")
    etag = f'"{name.partition(".")[0]}{".thumb" if ".thumb." in name else ""}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if etag in [t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    try:
        stored = await in_store(photos(request).open, name)
    except ServiceUnavailable as exc:
        return JSONResponse({"detail": str(exc)}, 503, headers=RETRY_LATER)
    if stored is None:
        raise HTTPException(404, "no such photo")
    # nosniff and a CSP of nothing: what is served is an image, whatever a browser would guess it to be
    headers |= {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'"}
    return Response(stored.data, 200, headers=headers, media_type=stored.content_type)


@upload_router.post(
    "/photos", status_code=201, summary="Upload a photo for a report (JPEG, PNG or WebP; metadata removed)",
    responses={400: {"description": "not a JPEG, PNG or WebP image, damaged, or too many pixels"},
               413: {"description": "larger than the limit"}},
)
async def upload_photo(request: Request, photo: UploadFile) -> dict:
    """The stored photo's URL (give it in the report's media_urls) and its thumbnail's. The photo is re-encoded
    without its metadata (GPS position, device) and turned upright."""
    try:
        kept = await keep_upload(request, photo)
    except PhotoRejected as exc:
        raise HTTPException(exc.status, f"photo: {exc.reason}") from None
    return {"url": kept.url, "thumbnail_url": kept.thumbnail_url, "content_type": kept.content_type,
            "width": kept.width, "height": kept.height}


class BodyLimits:
    """The gateway's body limit, raised by a photo's size for the multipart requests that may carry one
    (UPLOAD_PATHS): every other request, a form-encoded Open311 request too, keeps the small limit."""

    def __init__(self, app, limit: int, photo_bytes: int):
        self.small = BodyLimitMiddleware(app, limit)
        self.upload = BodyLimitMiddleware(app, limit + photo_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and UPLOAD_PATHS.match(scope["path"]) and _multipart(scope):
            return await self.upload(scope, receive, send)
        return await self.small(scope, receive, send)


def _multipart(scope) -> bool:
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
    return content_type.split(b";")[0].strip().lower() == b"multipart/form-data"
