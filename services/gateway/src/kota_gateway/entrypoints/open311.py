"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2/) over the complaints gRPC API.

JSON or XML by the path's suffix; errors as Open311's array of {code, description} with the matching HTTP
status. Kota's statuses map to Open311's two: received/routed/in_progress are open, the rest closed.

A request may carry a photo as GeoReport v2's `media` file (multipart/form-data): it is checked, stripped of its
metadata and stored (entrypoints/media.py, kota_common.photos), and the request's `media_url` is where the gateway
serves it. A file that is not a photo is answered 400 (413 when too large) and nothing is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from kota.complaints.v1 import complaints_pb2 as pb
from kota_common.photos import PhotoRejected
from kota_gateway.adapters.complaints import ComplaintsClient
from kota_gateway.adapters.errors import FailureCode, RpcFailure, ServiceUnavailable
from kota_gateway.domain.complaints import CLOSED, OPEN
from kota_gateway.entrypoints.errors import RETRY_LATER, answering, service_failed
from kota_gateway.entrypoints.media import keep_upload
from kota_gateway.httputil import error_for_path, open311_errors, to_xml
from kota_gateway.service_layer import complaints as use_cases
from kota_gateway.views import open311_request

Format = Annotated[str, Path(pattern="^(json|xml)$", description="json or xml")]
MAX_REQUESTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")

# complaints' field names -> Open311's parameter names
_FIELDS = {
    "location.lat": "lat",
    "location.lon": "long",
    "location": "lat/long, address_string or address_id",
    "location.address": "address_string",
    "location.kelurahan_code": "address_id",
    "media_urls": "media_url",
    "contact.email": "email",
    "contact.phone": "phone",
    "contact.first_name": "first_name",
    "contact.last_name": "last_name",
    "contact.device_id": "device_id",
}
_HTTP = {
    FailureCode.INVALID_ARGUMENT: 400,
    FailureCode.NOT_FOUND: 404,
    FailureCode.PERMISSION_DENIED: 403,
    FailureCode.UNAUTHENTICATED: 401,
    FailureCode.FAILED_PRECONDITION: 400,
    FailureCode.ALREADY_EXISTS: 400,
    FailureCode.RESOURCE_EXHAUSTED: 429,
}


class Open311Error(Exception):
    def __init__(self, status: int, *descriptions: str):
        self.status, self.descriptions = status, list(descriptions)


def open311_field(name: str) -> str:
    m = re.match(r"^media_urls\[\d+\]$", name)
    if m:
        return "media_url"
    m = re.match(r"^attributes?\[?\.?([^\]]*)\]?$", name)
    if name.startswith("attributes") and m:
        return f"attribute[{m.group(1)}]" if m.group(1) else "attribute"
    return _FIELDS.get(name, name)


def failure_to_open311(err: RpcFailure) -> Open311Error:
    status = _HTTP.get(err.code, 502)
    if status == 502:
        return Open311Error(502, service_failed(err, status).message)
    if err.violations:
        return Open311Error(status, *[f"{open311_field(f)}: {d}" for f, d in err.violations])
    return Open311Error(status, err.message)


# -- errors: Open311's array of {code, description}, as JSON or XML like the request ------------------------


def _xml(request: Request) -> bool:
    return request.url.path.endswith(".xml")


def _error(request: Request, exc: Open311Error) -> Response:
    return open311_errors(exc.status, [(exc.status, d) for d in exc.descriptions], _xml(request))


def _invalid(request: Request, exc: RequestValidationError) -> Response:
    path = request.url.path
    if any(e.get("loc", [None])[0] == "path" for e in exc.errors()):
        return open311_errors(404, [(404, f"no such resource: {path}")], _xml(request))
    return open311_errors(400, [(400, f"{e['loc'][-1]}: {e['msg']}") for e in exc.errors()], _xml(request))


OPEN311_ERRORS = answering({
    Open311Error: _error,
    RpcFailure: lambda request, exc: _error(request, failure_to_open311(exc)),
    ServiceUnavailable: lambda request, exc: open311_errors(503, [(503, str(exc))], _xml(request), RETRY_LATER),
    RequestValidationError: _invalid,
    HTTPException: lambda request, exc: error_for_path(request.url.path, exc.status_code, str(exc.detail),
                                                       getattr(exc, "headers", None)),
})
router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"], route_class=OPEN311_ERRORS)


def complaints(request: Request) -> ComplaintsClient:
    return request.app.state.complaints


def render(request: Request, fmt: str, root: str, item: str, rows: list[dict], status: int = 200) -> Response:
    if fmt == "xml":
        return Response(to_xml(root, item, rows), status, media_type="text/xml; charset=utf-8")
    return JSONResponse(rows, status)


def _check_jurisdiction(request: Request, jurisdiction_id: str | None) -> None:
    if jurisdiction_id and jurisdiction_id != request.app.state.settings.jurisdiction_id:
        raise Open311Error(404, f"jurisdiction_id: unknown jurisdiction {jurisdiction_id!r}")


def token_for(secret: str, complaint_id: str) -> str:
    mac = hmac.new(secret.encode(), f"open311-token:{complaint_id}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"{complaint_id}.{mac}"


def id_from_token(secret: str, token: str) -> str | None:
    complaint_id, _, _ = token.rpartition(".")
    if complaint_id and hmac.compare_digest(token_for(secret, complaint_id), token):
        return complaint_id
    return None


def _parse_datetime(name: str, value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        raise Open311Error(400, f"{name}: not a W3C date-time such as 2026-11-20T00:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


# -- discovery ------------------------------------------------------------------------------------------

discovery_router = APIRouter(prefix="/open311", tags=["Open311 GeoReport v2"], route_class=OPEN311_ERRORS)


@discovery_router.get("/discovery.{fmt}", summary="Open311 service discovery")
async def discovery(request: Request, fmt: Format):
    base = str(request.base_url).rstrip("/")
    doc = {
        "changeset": "2026-11-01T00:00:00Z",
        "contact": "Kota — Jakarta Smart City",
        "key_service": "api_key: ask the city's integration desk (KOTA_GATEWAY_OPEN311_API_KEYS)",
        "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": f"{base}/open311/v2",
                       "changeset": "2026-11-01T00:00:00Z", "type": "production",
                       "formats": ["application/json", "text/xml"]}],
    }
    if fmt == "xml":
        body = to_xml("root", "discovery", [doc]).replace(b"<root>", b"", 1).replace(b"</root>", b"", 1)
        return Response(body, 200, media_type="text/xml; charset=utf-8")
    return JSONResponse(doc)


# -- services -------------------------------------------------------------------------------------------


@router.get("/services.{fmt}", summary="Service list (complaint categories)")
async def service_list(request: Request, fmt: Format, jurisdiction_id: str | None = None):
    _check_jurisdiction(request, jurisdiction_id)
    services = await complaints(request).list_services()
    rows = [
        {
            "service_code": s.service_code,
            "service_name": s.service_name,
            "description": s.description,
            "metadata": bool(s.attributes),
            "type": "realtime",
            "keywords": ",".join(s.keywords),
            "group": s.group,
        }
        for s in services
    ]
    return render(request, fmt, "services", "service", rows)


@router.get("/services/{service_code}.{fmt}", summary="Service definition (attributes of one category)")
async def service_definition(request: Request, service_code: str, fmt: Format, jurisdiction_id: str | None = None):
    _check_jurisdiction(request, jurisdiction_id)
    for s in await complaints(request).list_services():
        if s.service_code == service_code:
            definition = {
                "service_code": s.service_code,
                "attributes": [
                    {
                        "variable": True,
                        "code": a.code,
                        "datatype": a.datatype or "string",
                        "required": a.required,
                        "datatype_description": None,
                        "order": a.order,
                        "description": a.description,
                        "values": [{"key": v, "name": v} for v in a.values],
                    }
                    for a in sorted(s.attributes, key=lambda a: a.order)
                ],
            }
            if fmt == "xml":
                return Response(_definition_xml(definition), 200, media_type="text/xml; charset=utf-8")
            return JSONResponse(definition)
    raise Open311Error(404, f"service_code: unknown service {service_code!r}")


def _definition_xml(definition: dict) -> bytes:
    body = to_xml("root", "service_definition", [definition])
    # unwrap <root>…</root>: service_definition is the document element
    return body.replace(b"<root>", b"", 1).replace(b"</root>", b"", 1)


# -- requests -------------------------------------------------------------------------------------------


@router.get("/requests.{fmt}", summary="Get service requests (filters: ids, service_code, dates, status)")
async def get_requests(
    request: Request,
    fmt: Format,
    service_request_id: str | None = Query(None, description="comma-separated ids; other filters are then ignored"),
    service_code: str | None = Query(None, description="comma-separated service codes"),
    start_date: str | None = Query(None, description="W3C date-time: requests after it"),
    end_date: str | None = Query(None, description="W3C date-time: requests before it"),
    status: str | None = Query(None, description="open, closed or open,closed"),
    jurisdiction_id: str | None = None,
):
    _check_jurisdiction(request, jurisdiction_id)
    if service_request_id:
        ids = [i.strip() for i in service_request_id.split(",") if i.strip()]
        if len(ids) > MAX_REQUESTS:
            raise Open311Error(400, f"service_request_id: at most {MAX_REQUESTS} ids")
        rows = [open311_request(c) for c in await use_cases.requests_by_id(complaints(request), ids)]
        return render(request, fmt, "service_requests", "request", rows)
    start, end = _parse_datetime("start_date", start_date), _parse_datetime("end_date", end_date)
    if start and end and start > end:
        raise Open311Error(400, "start_date: must not be after end_date")
    if start is None and end is None:
        start = datetime.now(timezone.utc) - DEFAULT_WINDOW
    statuses: list[pb.Status] = []
    for s in (status or "").split(","):
        s = s.strip().lower()
        if s == "open":
            statuses += sorted(OPEN)
        elif s == "closed":
            statuses += CLOSED
        elif s:
            raise Open311Error(400, f"status: must be open or closed, not {s!r}")
    codes = [c.strip() for c in (service_code or "").split(",") if c.strip()] or [""]
    rows = []
    for code in codes:
        found = await use_cases.requests_between(complaints(request), statuses, code, start, end, MAX_REQUESTS)
        rows += [open311_request(c) for c in found]
    rows.sort(key=lambda r: r["requested_datetime"] or "", reverse=True)
    return render(request, fmt, "service_requests", "request", rows[:MAX_REQUESTS])


@router.get("/requests/{service_request_id}.{fmt}", summary="Get one service request")
async def get_request(request: Request, service_request_id: str, fmt: Format, jurisdiction_id: str | None = None):
    _check_jurisdiction(request, jurisdiction_id)
    complaint = await complaints(request).get_complaint(service_request_id)
    return render(request, fmt, "service_requests", "request", [open311_request(complaint)])


@router.get("/tokens/{token}.{fmt}", summary="Service request id from a token")
async def get_token(request: Request, token: str, fmt: Format, jurisdiction_id: str | None = None):
    _check_jurisdiction(request, jurisdiction_id)
    complaint_id = id_from_token(request.app.state.settings.common.auth_secret, token)
    if complaint_id is None:
        raise Open311Error(404, "token: unknown token")
    complaint = await complaints(request).get_complaint(complaint_id)
    rows = [{"service_request_id": complaint.id, "token": token}]
    return render(request, fmt, "service_requests", "request", rows)


_REQUEST_FIELDS = {
    "api_key": {"type": "string"},
    "jurisdiction_id": {"type": "string"},
    "service_code": {"type": "string"},
    "lat": {"type": "number"},
    "long": {"type": "number"},
    "address_string": {"type": "string"},
    "address_id": {"type": "string", "description": "a kelurahan code, e.g. 31.71.01.1001"},
    "email": {"type": "string"},
    "device_id": {"type": "string"},
    "account_id": {"type": "string"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "phone": {"type": "string"},
    "description": {"type": "string"},
    "media_url": {"type": "string"},
}
_MEDIA = {"type": "string", "format": "binary",
          "description": "a photo (JPEG, PNG or WebP): stored without its metadata; the request's media_url serves it"}


@router.post(
    "/requests.{fmt}",
    summary="Create a service request (form-encoded, with api_key; multipart/form-data with a media photo)",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "required": ["api_key", "service_code"], "properties": _REQUEST_FIELDS}
                },
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["api_key", "service_code"],
                               "properties": {**_REQUEST_FIELDS, "media": _MEDIA}}
                },
            },
            "required": True,
        }
    },
)
async def post_request(request: Request, fmt: Format):
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise Open311Error(400, "the request must be form-encoded (application/x-www-form-urlencoded)")
    try:
        form = await request.form(max_files=1, max_fields=200)
    except Exception as exc:  # multipart parser errors are the client's
        raise Open311Error(400, f"malformed form body: {exc}") from None
    fields: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    media: UploadFile | None = None
    for key, value in form.multi_items():
        if not isinstance(value, str):
            if key == "media" and media is None:
                media = value
            continue
        m = _ATTRIBUTE.match(key)
        if m:
            attributes.setdefault(m.group(1), []).append(value)
        else:
            fields.setdefault(key, value)
    settings = request.app.state.settings
    _check_jurisdiction(request, fields.get("jurisdiction_id"))
    api_key = fields.get("api_key", "")
    if not api_key:
        raise Open311Error(403, "api_key: is required")
    if api_key not in settings.api_keys:
        raise Open311Error(403, "api_key: not a valid key")
    problems = []
    if not fields.get("service_code"):
        problems.append("service_code: is required")
    coords = {}
    for name in ("lat", "long"):
        raw = fields.get(name, "").strip()
        if raw:
            try:
                coords[name] = float(raw)
            except ValueError:
                problems.append(f"{name}: must be a number")
    if bool(fields.get("lat", "").strip()) != bool(fields.get("long", "").strip()):
        problems.append("lat/long: give both or neither")
    if problems:
        raise Open311Error(400, *problems)
    media_urls = [fields["media_url"]] if fields.get("media_url") else []
    if media is not None and (media.filename or media.size):
        try:
            media_urls.insert(0, (await keep_upload(request, media)).url)
        except PhotoRejected as exc:
            raise Open311Error(exc.status, f"media: {exc.reason}") from None
    location = pb.Location(address=fields.get("address_string", ""), kelurahan_code=fields.get("address_id", ""))
    if "lat" in coords and "long" in coords:
        location.lat, location.lon = coords["lat"], coords["long"]
    message = pb.SubmitComplaintRequest(
        channel=pb.CHANNEL_OPEN311,
        service_code=fields.get("service_code", ""),
        description=fields.get("description", ""),
        location=location,
        media_urls=media_urls,
        attributes=[pb.Attribute(code=k, value=",".join(v)) for k, v in sorted(attributes.items())],
        contact=pb.Contact(
            first_name=fields.get("first_name", ""),
            last_name=fields.get("last_name", ""),
            email=fields.get("email", ""),
            phone=fields.get("phone", ""),
            device_id=fields.get("device_id", ""),
        ),
        # the idempotency key makes a retry after UNAVAILABLE safe: the same key returns the same complaint
        idempotency_key=request.headers.get("idempotency-key", "")[:128] or f"open311:{uuid.uuid4()}",
    )
    c = (await complaints(request).submit(message)).complaint
    notice = f"Diteruskan ke {c.agency_name}" if c.agency_name else None
    if c.duplicate_of:
        notice = f"Digabung dengan laporan {c.duplicate_of}"
    row = {
        "service_request_id": c.id,
        "token": token_for(settings.common.auth_secret, c.id),
        "service_notice": notice,
        "account_id": fields.get("account_id") or None,
    }
    return render(request, fmt, "service_requests", "request", [row], status=201)
