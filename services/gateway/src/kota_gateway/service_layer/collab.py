"""Inter-city collaboration use cases behind the portal's API that are more than one call: the map of partner
cities (each city with the partnerships it is a party to), the timeline of activities (each with its partnership
and the cities in it) and an agreement's state as of today."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date

from kota.collab.v1 import collab_pb2 as pb
from kota_gateway.adapters.collab import CollabClient


@dataclass
class PartnerCity:
    city: pb.City
    partnerships: list[pb.Partnership] = field(default_factory=list)


async def partner_map(client: CollabClient, *, ascn_member: bool | None = None, country: str = "") -> list[PartnerCity]:
    """This city and its partners, each with the partnerships it is a party to (this city's: every one)."""
    cities, partnerships = await asyncio.gather(client.list_cities(), client.list_partnerships())
    found = []
    for c in cities:
        if (ascn_member is not None and c.ascn_member != ascn_member) or (country and c.country != country):
            continue
        found.append(PartnerCity(c, [p for p in partnerships if any(x.city_id == c.id for x in p.parties)]))
    return found


@dataclass
class TimelineEntry:
    activity: pb.Activity
    partnership: pb.Partnership | None  # None only if it vanished between the two reads
    cities: list[pb.City]  # the partnership's parties, as the registry knows them


async def timeline(client: CollabClient, *, partnership_id: str = "", city_id: str = "",
                   kind: pb.ActivityKind = pb.ACTIVITY_KIND_UNSPECIFIED) -> list[TimelineEntry]:
    """The activities in the order they happened (undated last), each with its partnership and cities."""
    activities, partnerships, cities = await asyncio.gather(
        client.list_activities(partnership_id, city_id), client.list_partnerships(), client.list_cities())
    by_id = {p.id: p for p in partnerships}
    city_by_id = {c.id: c for c in cities}
    entries = []
    for a in activities:
        if kind and a.kind != kind:
            continue
        p = by_id.get(a.partnership_id)
        parties = [city_by_id[x.city_id] for x in p.parties if x.city_id in city_by_id] if p else []
        entries.append(TimelineEntry(a, p, parties))
    return entries


async def partnerships_with_cities(client: CollabClient, city_id: str = "",
                                   kind: pb.PartnershipKind = pb.PARTNERSHIP_KIND_UNSPECIFIED, status: str = ""
                                   ) -> tuple[list[pb.Partnership], dict[str, pb.City]]:
    """The partnerships, and the cities by id (for the parties' names)."""
    partnerships, cities = await asyncio.gather(client.list_partnerships(city_id, kind, status), client.list_cities())
    return list(partnerships), {c.id: c for c in cities}


async def partnership_with_cities(client: CollabClient, partnership_id: str) -> tuple[pb.GetPartnershipResponse, dict[str, pb.City]]:
    found, cities = await asyncio.gather(client.get_partnership(partnership_id), client.list_cities())
    return found, {c.id: c for c in cities}


def agreement_state(a: pb.Agreement, today: date) -> str:
    """revoked, expired (its valid_until has passed) or in_force."""
    if a.HasField("revoked_at") and a.revoked_at.seconds:
        return "revoked"
    if a.valid_until and date.fromisoformat(a.valid_until) < today:
        return "expired"
    return "in_force"
