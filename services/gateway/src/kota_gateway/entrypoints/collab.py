"""Inter-city collaboration in the portal's JSON API (/api/v1/collab), read only: this city and its partner cities
with where they are, partnerships with their state and history, the data-sharing agreements in summary and the
timeline of activities; the portal's "Kerja sama kota" page draws them.

Public: nothing here names a person or opens a door. Left out of the collab service's answers: who granted or
revoked an agreement and why, and a partner's inter-city endpoint (only whether it runs Kota: `federated`).
History entries name the city and the role that took a step ("admin", "staff:KSD"), never a person.

Errors are the portal's: {"detail": ...} with "errors": [{field, description}] when the service names the fields
(404 an unknown partnership or city), 422 with FastAPI's validation details for a malformed query, 503 when the
collab service is down."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from kota.collab.v1 import collab_pb2 as pb
from kota_gateway.adapters.collab import CollabClient
from kota_gateway.entrypoints.portal import PORTAL_ERRORS
from kota_gateway.service_layer import collab as use_cases
from kota_gateway.views import iso

router = APIRouter(prefix="/api/v1/collab", tags=["collab"], route_class=PORTAL_ERRORS)

CITY_ID = r"^[a-z][a-z0-9-]{1,39}$"
PartnershipId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$",
                                    description="the partnership's id")]
KindName = Literal["sister_city", "mou", "ascn_project", "technical_cooperation"]
StatusName = Literal["proposed", "negotiating", "signed", "active", "renewed", "expired", "ended", "declined"]
ActivityKindName = Literal["visit_in_person", "visit_virtual", "workshop", "shared_solution"]

KINDS: dict[pb.PartnershipKind, KindName] = {pb.PARTNERSHIP_KIND_SISTER_CITY: "sister_city", pb.PARTNERSHIP_KIND_MOU: "mou",
                              pb.PARTNERSHIP_KIND_ASCN_PROJECT: "ascn_project",
                              pb.PARTNERSHIP_KIND_TECHNICAL_COOPERATION: "technical_cooperation"}
KIND_VALUES = {name: value for value, name in KINDS.items()}
ACTIVITY_KINDS: dict[pb.ActivityKind, ActivityKindName] = {pb.ACTIVITY_KIND_VISIT_IN_PERSON: "visit_in_person",
                                               pb.ACTIVITY_KIND_VISIT_VIRTUAL: "visit_virtual",
                                               pb.ACTIVITY_KIND_WORKSHOP: "workshop",
                                               pb.ACTIVITY_KIND_SHARED_SOLUTION: "shared_solution"}
ACTIVITY_KIND_VALUES = {name: value for value, name in ACTIVITY_KINDS.items()}


# -- models ---------------------------------------------------------------------------------------------------


class PartnershipRef(BaseModel):
    id: str
    title: str
    kind: KindName | None
    status: str


class CityOut(BaseModel):
    id: str = Field(..., examples=["seoul"])
    name: str
    country: str = Field(..., description="ISO 3166-1 alpha-2", examples=["KR"])
    region: str
    population: int | None = Field(None, description="null when not recorded")
    ascn_member: bool = Field(..., description="a member of the ASEAN Smart Cities Network")
    federated: bool = Field(..., description="the city runs Kota: its registry and this one exchange partnerships")
    home: bool = Field(..., description="this city")
    lat: float | None = Field(None, description="WGS84; null when not recorded")
    lon: float | None = None
    partnerships: list[PartnershipRef]


class PartyOut(BaseModel):
    city_id: str
    city_name: str
    role: str = Field(..., description="proposer, partner, party, member, coordinator")
    since: str | None
    until: str | None


class HistoryOut(BaseModel):
    seq: int
    status: str
    at: str | None = Field(None, description="ISO 8601, UTC")
    city_id: str = Field(..., description="the city whose staff took the step")
    actor: str = Field(..., description='a role, "admin" or "staff:<agency>", never a person')
    note: str
    signed_on: str | None
    document_url: str
    valid_until: str | None


class PartnershipOut(BaseModel):
    id: str
    kind: KindName | None
    title: str
    scope: str = Field(..., description="domestic (Permendagri 22/2020) or foreign (Permendagri 25/2020)")
    focus_areas: list[str] = Field(..., description="ASEAN Smart Cities Network focus areas")
    parties: list[PartyOut]
    status: str
    signed_on: str | None
    document_url: str
    valid_until: str | None
    federated: bool
    sync_pending: bool = Field(..., description="a change has not yet reached the partner's registry")
    history: list[HistoryOut]


class AgreementOut(BaseModel):
    id: str
    partnership_id: str
    city_id: str = Field(..., description="the partner city it grants")
    dataset_ids: list[str] = Field(..., description="this city's open datasets the partner may read")
    streams: list[str] = Field(..., description="anonymised event streams the partner may follow")
    valid_until: str | None
    granted_on: str | None
    state: Literal["in_force", "expired", "revoked"]


class AgreementsOut(BaseModel):
    in_force: int
    expired: int
    revoked: int
    agreements: list[AgreementOut]


class ActivityOut(BaseModel):
    id: str
    partnership_id: str
    kind: ActivityKindName | None
    title: str
    starts_on: str | None
    ends_on: str | None
    participants: int = Field(..., description="0 when not recorded")
    outcomes: str


class CityRef(BaseModel):
    id: str
    name: str
    country: str


class TimelineEntryOut(ActivityOut):
    partnership: PartnershipRef | None
    cities: list[CityRef] = Field(..., description="the partnership's cities")


class PartnershipDetailOut(PartnershipOut):
    agreements: list[AgreementOut]
    activities: list[ActivityOut]


# -- views ----------------------------------------------------------------------------------------------------


def _date(value: str) -> str | None:
    return value or None


def partnership_ref(p: pb.Partnership) -> dict:
    return {"id": p.id, "title": p.title, "kind": KINDS.get(p.kind), "status": p.status}


def city_view(c: pb.City, partnerships: list[pb.Partnership]) -> dict:
    return {"id": c.id, "name": c.name, "country": c.country, "region": c.region, "population": c.population or None,
            "ascn_member": c.ascn_member, "federated": bool(c.endpoint) and not c.home, "home": c.home,
            "lat": c.latitude if c.has_location else None, "lon": c.longitude if c.has_location else None,
            "partnerships": [partnership_ref(p) for p in partnerships]}


def partnership_view(p: pb.Partnership, cities: dict[str, pb.City]) -> dict:
    return {
        "id": p.id, "kind": KINDS.get(p.kind), "title": p.title, "scope": p.scope, "focus_areas": list(p.focus_areas),
        "parties": [{"city_id": x.city_id, "city_name": cities[x.city_id].name if x.city_id in cities else x.city_id,
                     "role": x.role, "since": _date(x.since), "until": _date(x.until)} for x in p.parties],
        "status": p.status, "signed_on": _date(p.signed_on), "document_url": p.document_url,
        "valid_until": _date(p.valid_until), "federated": p.federated, "sync_pending": p.sync_pending,
        "history": [{"seq": h.seq, "status": h.status, "at": iso(h.at, h.HasField("at")), "city_id": h.city_id,
                     "actor": h.actor, "note": h.note, "signed_on": _date(h.signed_on), "document_url": h.document_url,
                     "valid_until": _date(h.valid_until)} for h in p.history],
    }


def agreement_view(a: pb.Agreement, today: date) -> dict:
    granted = iso(a.granted_at, a.HasField("granted_at"))
    return {"id": a.id, "partnership_id": a.partnership_id, "city_id": a.city_id, "dataset_ids": list(a.dataset_ids),
            "streams": list(a.streams), "valid_until": _date(a.valid_until), "granted_on": granted[:10] if granted else None,
            "state": use_cases.agreement_state(a, today)}


def activity_view(a: pb.Activity) -> dict:
    return {"id": a.id, "partnership_id": a.partnership_id, "kind": ACTIVITY_KINDS.get(a.kind), "title": a.title,
            "starts_on": _date(a.starts_on), "ends_on": _date(a.ends_on), "participants": a.participants,
            "outcomes": a.outcomes}


# -- routes ---------------------------------------------------------------------------------------------------


def collab(request: Request) -> CollabClient:
    return request.app.state.collab


@router.get("/cities", response_model=list[CityOut],
            summary="This city and its partner cities, where they are, and the partnerships each is a party to")
async def list_cities(
    request: Request,
    ascn_member: bool | None = Query(None, description="only members (true) or non-members (false) of the ASCN"),
    country: str = Query("", pattern=r"^([A-Z]{2})?$", description="ISO 3166-1 alpha-2", examples=["JP"]),
):
    found = await use_cases.partner_map(collab(request), ascn_member=ascn_member, country=country)
    return [city_view(f.city, f.partnerships) for f in found]


@router.get("/partnerships", response_model=list[PartnershipOut],
            summary="Partnerships with their parties, state and history, filtered by city, kind and status")
async def list_partnerships(
    request: Request,
    city_id: str = Query("", pattern=f"^({CITY_ID[1:-1]})?$", description="a party's id", examples=["tokyo"]),
    kind: KindName | None = Query(None),
    status: StatusName | None = Query(None),
):
    kind_value = KIND_VALUES[kind] if kind else pb.PARTNERSHIP_KIND_UNSPECIFIED
    partnerships, cities = await use_cases.partnerships_with_cities(collab(request), city_id, kind_value, status or "")
    return [partnership_view(p, cities) for p in partnerships]


@router.get("/partnerships/{partnership_id}", response_model=PartnershipDetailOut,
            summary="One partnership: parties, state, history, its agreements in summary and its activities")
async def get_partnership(request: Request, partnership_id: PartnershipId):
    found, cities = await use_cases.partnership_with_cities(collab(request), partnership_id)
    today = date.today()
    return {**partnership_view(found.partnership, cities),
            "agreements": [agreement_view(a, today) for a in found.agreements],
            "activities": [activity_view(a) for a in found.activities]}


@router.get("/agreements", response_model=AgreementsOut,
            summary="Data-sharing agreements in summary: what each partner may read, until when, and whether it is "
            "in force")
async def list_agreements(
    request: Request,
    partnership_id: str = Query("", max_length=64, pattern=r"^[A-Za-z0-9_\-]*$"),
    city_id: str = Query("", pattern=f"^({CITY_ID[1:-1]})?$", description="the partner city granted"),
):
    today = date.today()
    agreements = [agreement_view(a, today) for a in await collab(request).list_agreements(partnership_id, city_id)]
    counts = {state: sum(a["state"] == state for a in agreements) for state in ("in_force", "expired", "revoked")}
    return {**counts, "agreements": agreements}


@router.get("/activities", response_model=list[TimelineEntryOut],
            summary="The timeline: visits, workshops and shared solutions in the order they happened (undated last)")
async def list_activities(
    request: Request,
    city_id: str = Query("", pattern=f"^({CITY_ID[1:-1]})?$", description="activities of this city's partnerships"),
    partnership_id: str = Query("", max_length=64, pattern=r"^[A-Za-z0-9_\-]*$"),
    kind: ActivityKindName | None = Query(None),
):
    entries = await use_cases.timeline(collab(request), partnership_id=partnership_id, city_id=city_id,
                                       kind=ACTIVITY_KIND_VALUES[kind] if kind else pb.ACTIVITY_KIND_UNSPECIFIED)
    return [{**activity_view(e.activity),
             "partnership": partnership_ref(e.partnership) if e.partnership else None,
             "cities": [{"id": c.id, "name": c.name, "country": c.country} for c in e.cities]} for e in entries]
