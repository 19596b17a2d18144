"""The portal's own JSON API (/api/v1): submit and track complaints, live updates, staff inbox, dashboard.

Errors are JSON: {"detail": ...} (with "errors": [{field, description}] when a service names the fields), 422
with FastAPI's validation details for a malformed request."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, StreamingResponse

from kota.complaints.v1 import complaints_pb2 as pb
from kota_common.auth import InvalidToken, Principal, verify_token
from kota_gateway.adapters.complaints import ComplaintsClient
from kota_gateway.adapters.errors import RpcFailure, ServiceUnavailable
from kota_gateway.adapters.sensors import SensorsClient
from kota_gateway.domain.complaints import STATUS_VALUES, NotAllowed
from kota_gateway.entrypoints.errors import HTTP_STATUS_OF, RETRY_LATER, answering, service_failed
from kota_gateway.httputil import dumps
from kota_gateway.service_layer import complaints as use_cases
from kota_gateway.service_layer import dashboard, recipients
from kota_gateway.views import complaint_view


def _failure(request: Request, exc: RpcFailure) -> JSONResponse:
    status = HTTP_STATUS_OF.get(exc.code, 502)
    exc = service_failed(exc, status)
    return JSONResponse({"detail": exc.message, "errors": [{"field": f, "description": d} for f, d in exc.violations]}, status)


def _jsonable(errors: list[dict]) -> list[dict]:
    return [{k: (v if k != "ctx" else {ck: str(cv) for ck, cv in v.items()}) for k, v in e.items() if k != "url"} for e in errors]


PORTAL_ERRORS = answering({
    RpcFailure: _failure,
    ServiceUnavailable: lambda request, exc: JSONResponse({"detail": str(exc)}, 503, headers=RETRY_LATER),
    RequestValidationError: lambda request, exc: JSONResponse({"detail": _jsonable(exc.errors())}, 422),
    StarletteHTTPException: lambda request, exc: JSONResponse({"detail": exc.detail}, exc.status_code,
                                                              headers=getattr(exc, "headers", None)),
    NotAllowed: lambda request, exc: JSONResponse({"detail": str(exc)}, 403),
})
router = APIRouter(prefix="/api/v1", tags=["portal"], route_class=PORTAL_ERRORS)
staff_router = APIRouter(prefix="/api/v1/staff", tags=["staff"], route_class=PORTAL_ERRORS)

ComplaintId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
StatusName = Literal["received", "routed", "in_progress", "resolved", "rejected", "closed"]


# -- models ---------------------------------------------------------------------------------------------


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_name: str = Field("", max_length=100)
    last_name: str = Field("", max_length=100)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=32)


class ComplaintIn(BaseModel):
    """A complaint from the portal or the app. Location: a kelurahan code, a point, an address, or several."""

    model_config = ConfigDict(extra="forbid")
    service_code: str = Field(..., min_length=1, max_length=64, examples=["flooding"])
    description: str = Field(..., min_length=1, max_length=4000)
    kelurahan_code: str = Field("", max_length=32, examples=["31.71.01.1001"])
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    address: str = Field("", max_length=500)
    media_urls: list[str] = Field(default_factory=list, max_length=10)
    attributes: dict[str, str] = Field(default_factory=dict, max_length=50)
    contact: ContactIn | None = None
    anonymous: bool = False
    channel: Literal["web", "app"] = "web"
    notify_by: Literal["none", "email", "whatsapp", "sms"] = Field(
        "none", description="hear back on every change, at the contact's e-mail (email) or phone (whatsapp, sms); "
        "the contact then goes to the notifications service, even for an anonymous report")
    language: Literal["id", "en"] = Field("id", description="the language of those messages")

    @model_validator(mode="after")
    def _contact_for_notify(self) -> ComplaintIn:
        contact = self.contact or ContactIn()
        if self.notify_by != "none" and not recipients.address_for(self.notify_by, contact.email, contact.phone):
            field = "email" if self.notify_by == "email" else "phone"
            raise ValueError(f"notify_by {self.notify_by} needs contact.{field}")
        return self


class SubmittedOut(BaseModel):
    id: str
    tracking_code: str = Field(..., description="secret code to rate or reopen the complaint; shown once")
    complaint: dict
    notify: bool = Field(False, description="the citizen will hear back at the contact they chose")


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracking_code: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")
    rating: int = Field(..., ge=1, le=5)
    comment: str = Field("", max_length=2000)


class ReopenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracking_code: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")
    reason: str = Field(..., min_length=1, max_length=2000)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: StatusName
    note: str = Field("", max_length=4000)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(..., min_length=1, max_length=4000)


class ComplaintPage(BaseModel):
    complaints: list[dict]
    next_page_token: str
    total_size: int


# -- helpers --------------------------------------------------------------------------------------------


def complaints(request: Request) -> ComplaintsClient:
    return request.app.state.complaints


def sensors(request: Request) -> SensorsClient:
    client = request.app.state.sensors
    if client is None:
        raise ServiceUnavailable("sensors", "not configured in this gateway")
    return client


bearer = HTTPBearer(auto_error=False, description="a staff token from `kota token --agency <CODE>`")


class Staff:
    def __init__(self, principal: Principal, token: str):
        self.principal, self.token = principal, token


def staff(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Staff:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "a staff bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    try:
        principal = verify_token(request.app.state.settings.common.auth_secret, credentials.credentials)
    except InvalidToken as exc:
        raise HTTPException(401, f"invalid bearer token: {exc}", headers={"WWW-Authenticate": "Bearer"}) from None
    if not principal.roles & {"staff", "admin"}:
        raise HTTPException(403, "the token carries no staff role")
    return Staff(principal, credentials.credentials)


def page_size_param(page_size: int = Query(50, ge=1, le=500)) -> int:
    return page_size


# -- reference ------------------------------------------------------------------------------------------


@router.get("/services", summary="Complaint categories with their attributes")
async def list_services(request: Request) -> list[dict]:
    return [
        {
            "code": s.service_code,
            "name": s.service_name,
            "description": s.description,
            "group": s.group,
            "agency_code": s.agency_code,
            "sla_hours": s.sla_hours,
            "attributes": [
                {"code": a.code, "datatype": a.datatype, "required": a.required, "description": a.description,
                 "values": list(a.values)}
                for a in s.attributes
            ],
        }
        for s in await complaints(request).list_services()
    ]


@router.get("/agencies", summary="Agencies (OPD) complaints are routed to")
async def list_agencies(request: Request) -> list[dict]:
    return [{"code": a.code, "name": a.name, "short_name": a.short_name} for a in await complaints(request).list_agencies()]


@router.get("/areas", summary="Kota, kecamatan and kelurahan of the city (for the kelurahan picker)")
async def list_areas(request: Request) -> list[dict]:
    return request.app.state.areas_tree


# -- complaints (public) --------------------------------------------------------------------------------


@router.post("/complaints", status_code=201, summary="Submit a complaint", response_model=SubmittedOut)
async def submit_complaint(
    request: Request,
    body: ComplaintIn,
    idempotency_key: str | None = Header(None, max_length=128, description="retrying with the same key is safe"),
):
    if (body.lat is None) != (body.lon is None):
        raise HTTPException(422, [{"loc": ["body", "lat"], "msg": "lat and lon must be given together", "type": "value_error"}])
    contact = body.contact or ContactIn()
    location = pb.Location(address=body.address, kelurahan_code=body.kelurahan_code)
    if body.lat is not None and body.lon is not None:
        location.lat, location.lon = body.lat, body.lon
    message = pb.SubmitComplaintRequest(
        channel=pb.CHANNEL_APP if body.channel == "app" else pb.CHANNEL_WEB,
        service_code=body.service_code,
        description=body.description,
        location=location,
        media_urls=body.media_urls,
        attributes=[pb.Attribute(code=k, value=v) for k, v in sorted(body.attributes.items())],
        contact=pb.Contact() if body.anonymous else pb.Contact(**contact.model_dump()),
        anonymous=body.anonymous,
        idempotency_key=idempotency_key or f"portal:{uuid.uuid4()}",
    )
    reply = await complaints(request).submit(message)
    notify = await recipients.register(
        getattr(request.app.state, "notifications", None), reply.complaint.id, body.notify_by,
        recipients.address_for(body.notify_by, contact.email, contact.phone), body.language)
    return {"id": reply.complaint.id, "tracking_code": reply.tracking_code, "complaint": complaint_view(reply.complaint),
            "notify": notify}


@router.get("/complaints", summary="List complaints (public view)", response_model=ComplaintPage)
async def list_complaints(
    request: Request,
    status: list[StatusName] = Query(default_factory=list),
    service_code: str = Query("", max_length=64),
    agency_code: str = Query("", max_length=64),
    kota_code: str = Query("", max_length=32),
    page_size: int = Depends(page_size_param),
    page_token: str = Query("", max_length=32, pattern=r"^\d*$"),
):
    reply = await complaints(request).list_complaints(
        pb.ListComplaintsRequest(
            statuses=[STATUS_VALUES[s] for s in status], service_code=service_code, agency_code=agency_code,
            kota_code=kota_code, page_size=page_size, page_token=page_token,
        )
    )
    return {"complaints": [complaint_view(c) for c in reply.complaints], "next_page_token": reply.next_page_token,
            "total_size": reply.total_size}


@router.get("/complaints/{complaint_id}", summary="One complaint with its history")
async def get_complaint(request: Request, complaint_id: ComplaintId) -> dict:
    return complaint_view(await complaints(request).get_complaint(complaint_id))


@router.post("/complaints/{complaint_id}/rating", summary="Rate the resolution (needs the tracking code)")
async def rate_complaint(request: Request, complaint_id: ComplaintId, body: RatingIn) -> dict:
    rated = await complaints(request).rate(complaint_id, body.tracking_code, body.rating, body.comment)
    return complaint_view(rated)


@router.post("/complaints/{complaint_id}/reopen", summary="Reopen a resolved complaint (needs the tracking code)")
async def reopen_complaint(request: Request, complaint_id: ComplaintId, body: ReopenIn) -> dict:
    return complaint_view(await complaints(request).reopen(complaint_id, body.tracking_code, body.reason))


def _sse(event: str, data: dict, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {dumps(data)}\n\n"


async def _events(request: Request, watch: pb.WatchComplaintsRequest, snapshot, token: str | None = None):
    """Server-sent events of use_cases.follow: each update as a `complaint` event, quiet spells as comments."""
    state = request.app.state
    updates = use_cases.follow(complaints(request), watch, snapshot, poll_s=state.settings.sse_poll_s,
                               budget=state.watch_budget, token=token)
    try:
        async for item in updates:
            if isinstance(item, use_cases.Quiet):
                yield f": {item.reason}\n\n"
            else:
                yield _sse("complaint", {"event_type": item.event_type, "complaint": complaint_view(item.complaint)},
                           item.complaint.id)
    finally:
        await updates.aclose()


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get(
    "/complaints/{complaint_id}/events",
    summary="Live updates of one complaint (text/event-stream)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def complaint_events(request: Request, complaint_id: ComplaintId):
    first = await complaints(request).get_complaint(complaint_id)
    generator = _events(request, pb.WatchComplaintsRequest(id=complaint_id), first)
    return StreamingResponse(generator, media_type="text/event-stream", headers=_SSE_HEADERS)


# -- dashboard ------------------------------------------------------------------------------------------

@router.get("/dashboard/summary", summary="City dashboard: complaints by category, kota, status; resolution times")
async def dashboard_summary(request: Request) -> dict:
    return await request.app.state.complaint_summary()


@router.get("/air-quality", summary="Latest ISPU per air-quality station")
async def air_quality(request: Request) -> list[dict]:
    return await dashboard.air_quality(sensors(request))


@router.get("/flood-gauges", summary="Latest water level, Siaga level and recent curve per flood gauge")
async def flood_gauges(request: Request, points: int = 36) -> list[dict]:
    return await dashboard.flood_gauges(sensors(request), max(1, min(points, 500)))


# -- staff ----------------------------------------------------------------------------------------------


@staff_router.get("/me", summary="Who the bearer token belongs to")
async def me(who: Staff = Depends(staff)) -> dict:
    p = who.principal
    return {"subject": p.subject, "agency": p.agency, "roles": sorted(p.roles)}


@staff_router.get("/inbox", summary="The agency's complaints, newest first", response_model=ComplaintPage)
async def inbox(
    request: Request,
    who: Staff = Depends(staff),
    status: list[StatusName] = Query(default_factory=list),
    agency_code: str = Query("", max_length=64, description="admins only: another agency"),
    page_size: int = Depends(page_size_param),
    page_token: str = Query("", max_length=32, pattern=r"^\d*$"),
):
    reply = await use_cases.inbox(
        complaints(request), agency=who.principal.agency, roles=frozenset(who.principal.roles), asked_agency=agency_code,
        statuses=[STATUS_VALUES[s] for s in status], page_size=page_size, page_token=page_token, token=who.token,
    )
    return {"complaints": [complaint_view(c) for c in reply.complaints], "next_page_token": reply.next_page_token,
            "total_size": reply.total_size}


@staff_router.get(
    "/events",
    summary="Live updates of every complaint of the staff's agency (text/event-stream)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def agency_events(request: Request, who: Staff = Depends(staff)):
    generator = _events(request, pb.WatchComplaintsRequest(agency_code=who.principal.agency), None, token=who.token)
    return StreamingResponse(generator, media_type="text/event-stream", headers=_SSE_HEADERS)


@staff_router.post("/complaints/{complaint_id}/status", summary="Move a complaint through its lifecycle")
async def change_status(request: Request, complaint_id: ComplaintId, body: StatusIn, who: Staff = Depends(staff)) -> dict:
    changed = await complaints(request).update_status(complaint_id, STATUS_VALUES[body.status], body.note, token=who.token)
    return complaint_view(changed)


@staff_router.post("/complaints/{complaint_id}/notes", summary="Add a note to a complaint's history")
async def add_note(request: Request, complaint_id: ComplaintId, body: NoteIn, who: Staff = Depends(staff)) -> dict:
    return complaint_view(await complaints(request).add_note(complaint_id, body.note, token=who.token))
