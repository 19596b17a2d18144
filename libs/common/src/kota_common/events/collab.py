"""collab.events.v1 (key: partnership id; a call from a city outside any partnership: `city:<id>`). The inter-city
collaboration registry's decisions and every call a partner city makes, as an audit trail: who (a city, and staff
by role, never by name), what, and under which partnership and agreement."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from kota_common.events import EventPayload, TopicSpec, register_topic

TOPIC = "collab.events.v1"
SOURCE = "/kota/collab"

PARTNERSHIP_ID = Field(description="the partnership's id (a UUID; also the record key), the same in every party's registry")
CITY_ID = Field(description="a city's id, e.g. jakarta, makassar, seoul; a federated city's certificate names it")
ACTOR = Field(description="who acted, by role: staff:<agency> or admin of the city named in `city_id`/`decided_by`, "
              "or a partner city's registry (city:<id>)")
AT = Field(description="when it happened (UTC)")


def _example(**values) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


class CityRegistered(EventPayload):
    """A partner city was added to the registry or its profile changed."""

    model_config = _example(city_id="makassar", name="Kota Makassar", country="ID", region="Sulawesi Selatan",
                            ascn_member=True, federated=True, actor="admin", at="2026-12-07T03:00:00Z")

    ce_type: Literal["kota.collab.city-registered.v1"] = "kota.collab.city-registered.v1"
    city_id: str = CITY_ID
    name: str = Field(description="the city's name")
    country: str = Field(description="ISO 3166-1 alpha-2 country code")
    region: str = Field("", description="province or region")
    ascn_member: bool = Field(description="a member of the ASEAN Smart Cities Network")
    federated: bool = Field(description="the city runs its own Kota inter-city endpoint")
    actor: str = ACTOR
    at: datetime = AT


class PartnershipChanged(EventPayload):
    """A step of a partnership's lifecycle (proposed, negotiating, signed, active, renewed, expired, ended, declined),
    taken here or received from the partner's registry; one event per history entry."""

    model_config = _example(
        partnership_id="5c0e7d6a-1f0b-4a57-9d43-7a3a4e7c2b11", kind="technical_cooperation", scope="domestic",
        title="Berbagi sistem pengaduan warga", focus_areas=["civic_social"], party_city_ids=["jakarta", "makassar"],
        status="negotiating", previous_status="proposed", seq=2, decided_by="jakarta", actor="staff:DISKOMINFOTIK",
        note="", origin="local", federated=True, signed_on="", document_url="", at="2026-12-07T03:00:00Z",
    )

    ce_type: Literal["kota.collab.partnership-changed.v1"] = "kota.collab.partnership-changed.v1"
    partnership_id: str = PARTNERSHIP_ID
    kind: str = Field(description="sister_city, mou, ascn_project, technical_cooperation")
    scope: str = Field(description="domestic (Permendagri 22/2020) or foreign (Permendagri 25/2020)")
    title: str = Field(description="the partnership's title")
    focus_areas: list[str] = Field(description="ASCN focus areas: civic_social, health_wellbeing, safety_security, "
                                   "quality_environment, built_infrastructure, industry_innovation")
    party_city_ids: list[str] = Field(description="the cities that are parties")
    status: str = Field(description="the status this step led to")
    previous_status: str = Field("", description="the status before (empty for the first step)")
    seq: int = Field(description="the step's number in the partnership's history, from 1")
    decided_by: str = Field(description="the city whose staff took the step")
    actor: str = ACTOR
    note: str = Field("", description="the decision's note")
    origin: Literal["local", "partner"] = Field(description="local: taken here; partner: received from the partner's registry")
    federated: bool = Field(description="both registries hold the partnership")
    signed_on: str = Field("", description="the date it was signed (ISO 8601), empty if not signed or not known")
    document_url: str = Field("", description="the signed document, if published")
    at: datetime = AT


class AgreementGranted(EventPayload):
    """A data-sharing agreement: what a partner city may read, until when."""

    model_config = _example(agreement_id="a6d9f9a0-2c4b-4d0b-8b1e-3f1d2e4c5b6a",
                            partnership_id="5c0e7d6a-1f0b-4a57-9d43-7a3a4e7c2b11", city_id="makassar",
                            dataset_ids=["kualitas-udara-ispu"], streams=["flood-alerts"], valid_until="2027-12-31",
                            actor="staff:DISKOMINFOTIK", at="2026-12-07T03:00:00Z")

    ce_type: Literal["kota.collab.agreement-granted.v1"] = "kota.collab.agreement-granted.v1"
    agreement_id: str = Field(description="the agreement's id (a UUID)")
    partnership_id: str = PARTNERSHIP_ID
    city_id: str = CITY_ID
    dataset_ids: list[str] = Field(description="open datasets of this city the partner may read")
    streams: list[str] = Field(description="anonymised event streams the partner may subscribe to")
    valid_until: str = Field("", description="last day of the grant (ISO 8601); empty: until revoked")
    actor: str = ACTOR
    at: datetime = AT


class AgreementRevoked(EventPayload):
    """A data-sharing agreement was revoked: the partner's open streams under it end."""

    model_config = _example(agreement_id="a6d9f9a0-2c4b-4d0b-8b1e-3f1d2e4c5b6a",
                            partnership_id="5c0e7d6a-1f0b-4a57-9d43-7a3a4e7c2b11", city_id="makassar",
                            reason="perjanjian diperbarui", actor="admin", at="2026-12-07T03:00:00Z")

    ce_type: Literal["kota.collab.agreement-revoked.v1"] = "kota.collab.agreement-revoked.v1"
    agreement_id: str = Field(description="the agreement's id (a UUID)")
    partnership_id: str = PARTNERSHIP_ID
    city_id: str = CITY_ID
    reason: str = Field("", description="why")
    actor: str = ACTOR
    at: datetime = AT


class ActivityRecorded(EventPayload):
    """A visit, workshop or shared solution between partners."""

    model_config = _example(activity_id="0d5b1c9e-8f7a-4e3b-a2c1-6b5d4e3f2a10",
                            partnership_id="5c0e7d6a-1f0b-4a57-9d43-7a3a4e7c2b11", kind="visit_virtual",
                            title="Kunjungan virtual delegasi Kalimantan Utara ke Jakarta Smart City",
                            starts_on="2022-03-17", ends_on="2022-03-17", participants=0, outcomes="",
                            actor="admin", at="2026-12-07T03:00:00Z")

    ce_type: Literal["kota.collab.activity-recorded.v1"] = "kota.collab.activity-recorded.v1"
    activity_id: str = Field(description="the activity's id (a UUID)")
    partnership_id: str = PARTNERSHIP_ID
    kind: str = Field(description="visit_in_person, visit_virtual, workshop, shared_solution")
    title: str = Field(description="what it was")
    starts_on: str = Field("", description="first day (ISO 8601), empty if not known")
    ends_on: str = Field("", description="last day (ISO 8601), empty if not known")
    participants: int = Field(0, description="how many took part (0: not recorded)")
    outcomes: str = Field("", description="what came of it")
    actor: str = ACTOR
    at: datetime = AT


class PartnerCalled(EventPayload):
    """A partner city called the inter-city endpoint: who, what, the outcome, and the agreement that allowed it."""

    model_config = _example(call_id="3b2a1c0d-9e8f-4a7b-b6c5-d4e3f2a1b0c9", city_id="makassar",
                            method="SubscribeSharedEvents", outcome="ok", detail="stream flood-alerts from the start",
                            partnership_id="5c0e7d6a-1f0b-4a57-9d43-7a3a4e7c2b11",
                            agreement_id="a6d9f9a0-2c4b-4d0b-8b1e-3f1d2e4c5b6a", at="2026-12-07T03:00:00Z")

    ce_type: Literal["kota.collab.partner-called.v1"] = "kota.collab.partner-called.v1"
    call_id: str = Field(description="the call's id (a UUID)")
    city_id: str = Field(description="the calling city, as its certificate names it")
    method: str = Field(description="the inter-city method: SyncPartnership, ListSharedDatasets, SubscribeSharedEvents")
    outcome: Literal["ok", "denied", "ended"] = Field(
        description="ok: served (a stream: opened); denied: refused (unknown city, revoked certificate, no grant); "
        "ended: a stream ended (revoked or expired grant, or the partner left)")
    detail: str = Field("", description="what was asked and, when refused, why")
    partnership_id: str = Field("", description="the partnership the call concerned or was allowed by")
    agreement_id: str = Field("", description="the agreement that granted it, if any")
    at: datetime = AT


TOPIC_SPEC = register_topic(
    TopicSpec(
        name=TOPIC,
        key="partnership id (a call outside any partnership: city:<id>)",
        description="The inter-city collaboration registry's audit trail: partner cities, every step of each "
        "partnership's lifecycle (here or received from a partner's registry), data-sharing agreements granted and "
        "revoked, activities, and every call a partner city makes. Ordered per partnership.",
        payloads=(CityRegistered, PartnershipChanged, AgreementGranted, AgreementRevoked, ActivityRecorded, PartnerCalled),
    )
)
