"""The portal's own JSON API (/api/v1): submit and track complaints, live updates, staff inbox, dashboard."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse

from kota.complaints.v1 import complaints_pb2 as pb
from kota_common.auth import InvalidToken, Principal, verify_token
from kota_gateway.adapters.backends import RpcFailure, ServiceUnavailable
from kota_gateway.httputil import dumps
from kota_gateway.service_layer.dashboard import summarise
from kota_gateway.views import STATUS_VALUES, complaint_view

router = APIRouter(prefix="/api/v1", tags=["portal"])
staff_router = APIRouter(prefix="/api/v1/staff", tags=["staff"])

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


class SubmittedOut(BaseModel):
    id: str
    tracking_code: str = Field(..., description="secret code to rate or reopen the complaint; shown once")
    complaint: dict


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


def complaints(request: Request):
    return request.app.state.complaints


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
    reply = await complaints(request).cached("ListServices", pb.ListServicesRequest())
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
        for s in reply.services
    ]


@router.get("/agencies", summary="Agencies (OPD) complaints are routed to")
async def list_agencies(request: Request) -> list[dict]:
    reply = await complaints(request).cached("ListAgencies", pb.ListAgenciesRequest())
    return [{"code": a.code, "name": a.name, "short_name": a.short_name} for a in reply.agencies]


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
    reply = await complaints(request).call("SubmitComplaint", message, safe=True)
    return {"id": reply.complaint.id, "tracking_code": reply.tracking_code, "complaint": complaint_view(reply.complaint)}


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
    reply = await complaints(request).call(
        "ListComplaints",
        pb.ListComplaintsRequest(
            statuses=[STATUS_VALUES[s] for s in status], service_code=service_code, agency_code=agency_code,
            kota_code=kota_code, page_size=page_size, page_token=page_token,
        ),
        safe=True,
    )
    return {"complaints": [complaint_view(c) for c in reply.complaints], "next_page_token": reply.next_page_token,
            "total_size": reply.total_size}


@router.get("/complaints/{complaint_id}", summary="One complaint with its history")
async def get_complaint(request: Request, complaint_id: ComplaintId) -> dict:
    reply = await complaints(request).call("GetComplaint", pb.GetComplaintRequest(id=complaint_id), safe=True)
    return complaint_view(reply.complaint)


@router.post("/complaints/{complaint_id}/rating", summary="Rate the resolution (needs the tracking code)")
async def rate_complaint(request: Request, complaint_id: ComplaintId, body: RatingIn) -> dict:
    reply = await complaints(request).call(
        "RateComplaint",
        pb.RateComplaintRequest(id=complaint_id, tracking_code=body.tracking_code, rating=body.rating, comment=body.comment),
        safe=False,
    )
    return complaint_view(reply.complaint)


@router.post("/complaints/{complaint_id}/reopen", summary="Reopen a resolved complaint (needs the tracking code)")
async def reopen_complaint(request: Request, complaint_id: ComplaintId, body: ReopenIn) -> dict:
    reply = await complaints(request).call(
        "ReopenComplaint",
        pb.ReopenComplaintRequest(id=complaint_id, tracking_code=body.tracking_code, reason=body.reason),
        safe=False,
    )
    return complaint_view(reply.complaint)


def _sse(event: str, data: dict, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {dumps(data)}\n\n"


async def _watch(request: Request, watch: pb.WatchComplaintsRequest, snapshot, token: str | None = None):
    """Server-sent events: the snapshot, then each update from WatchComplaints; a re-check every sse_poll_s
    covers a change made before the watch started or a watch that broke (the service restarted)."""
    backend = complaints(request)
    poll = request.app.state.settings.sse_poll_s
    queue: asyncio.Queue = asyncio.Queue(maxsize=1000)

    async def pump():
        try:
            async for update in backend.stream("WatchComplaints", watch, token=token):
                await queue.put((update.event_type, update.complaint))
        except (ServiceUnavailable, RpcFailure):
            pass

    state = request.app.state
    limit = state.settings.max_watch_streams

    def start():
        """A watch stream if one is free; otherwise this client is served by the periodic re-check alone."""
        if getattr(state, "watch_streams", 0) >= limit:
            return None
        state.watch_streams = getattr(state, "watch_streams", 0) + 1
        task = asyncio.create_task(pump())
        task.add_done_callback(lambda _: setattr(state, "watch_streams", state.watch_streams - 1))
        return task

    task = start()
    seen: dict[str, tuple] = {}

    def changed(c) -> bool:
        stamp = (c.updated_at.seconds, c.updated_at.nanos, c.status, len(c.history))
        if seen.get(c.id) == stamp:
            return False
        seen[c.id] = stamp
        return True

    try:
        if snapshot is not None:
            changed(snapshot)
            yield _sse("complaint", {"event_type": "snapshot", "complaint": complaint_view(snapshot)}, snapshot.id)
        else:
            yield ": watching\n\n"
        while True:
            try:
                event_type, c = await asyncio.wait_for(queue.get(), poll)
            except TimeoutError:
                if task is None or task.done():
                    task = start()
                if watch.id:
                    try:
                        c = (await backend.call("GetComplaint", pb.GetComplaintRequest(id=watch.id), safe=True)).complaint
                    except (ServiceUnavailable, RpcFailure):
                        yield ": service unavailable, retrying\n\n"
                        continue
                    if changed(c):
                        yield _sse("complaint", {"event_type": "refresh", "complaint": complaint_view(c)}, c.id)
                        continue
                yield ": keep-alive\n\n"
                continue
            if changed(c):
                yield _sse("complaint", {"event_type": event_type, "complaint": complaint_view(c)}, c.id)
    finally:
        if task is not None:
            task.cancel()


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get(
    "/complaints/{complaint_id}/events",
    summary="Live updates of one complaint (text/event-stream)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def complaint_events(request: Request, complaint_id: ComplaintId):
    first = await complaints(request).call("GetComplaint", pb.GetComplaintRequest(id=complaint_id), safe=True)
    generator = _watch(request, pb.WatchComplaintsRequest(id=complaint_id), first.complaint)
    return StreamingResponse(generator, media_type="text/event-stream", headers=_SSE_HEADERS)


# -- dashboard ------------------------------------------------------------------------------------------

_DASHBOARD_MAX = 5000
_DASHBOARD_TTL_S = 5.0


@router.get("/dashboard/summary", summary="City dashboard: complaints by category, kota, status; resolution times")
async def dashboard_summary(request: Request) -> dict:
    state = request.app.state
    cached = getattr(state, "dashboard_cache", None)
    if cached and time.monotonic() - cached[0] < _DASHBOARD_TTL_S:
        return cached[1]
    items, token = [], ""
    while len(items) < _DASHBOARD_MAX:
        reply = await state.complaints.call(
            "ListComplaints", pb.ListComplaintsRequest(page_size=500, page_token=token), safe=True
        )
        items += list(reply.complaints)
        token = reply.next_page_token
        if not token:
            break
    summary = summarise(items, datetime.now(timezone.utc))
    state.dashboard_cache = (time.monotonic(), summary)
    return summary


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
    agency = who.principal.agency
    if agency_code and agency_code != agency:
        if "admin" not in who.principal.roles:
            raise HTTPException(403, f"staff of {agency} cannot read the inbox of {agency_code}")
        agency = agency_code
    reply = await complaints(request).call(
        "ListComplaints",
        pb.ListComplaintsRequest(
            statuses=[STATUS_VALUES[s] for s in status], agency_code=agency, page_size=page_size, page_token=page_token
        ),
        safe=True,
        token=who.token,
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
    generator = _watch(request, pb.WatchComplaintsRequest(agency_code=who.principal.agency), None, token=who.token)
    return StreamingResponse(generator, media_type="text/event-stream", headers=_SSE_HEADERS)


@staff_router.post("/complaints/{complaint_id}/status", summary="Move a complaint through its lifecycle")
async def change_status(request: Request, complaint_id: ComplaintId, body: StatusIn, who: Staff = Depends(staff)) -> dict:
    reply = await complaints(request).call(
        "UpdateComplaintStatus",
        pb.UpdateComplaintStatusRequest(id=complaint_id, status=STATUS_VALUES[body.status], note=body.note),
        safe=False,
        token=who.token,
    )
    return complaint_view(reply.complaint)


@staff_router.post("/complaints/{complaint_id}/notes", summary="Add a note to a complaint's history")
async def add_note(request: Request, complaint_id: ComplaintId, body: NoteIn, who: Staff = Depends(staff)) -> dict:
    reply = await complaints(request).call(
        "AddComplaintNote", pb.AddComplaintNoteRequest(id=complaint_id, note=body.note), safe=False, token=who.token
    )
    return complaint_view(reply.complaint)
