"""The collab service, typed: this city's partner cities, partnerships with their history, data-sharing agreements
and activities, read for the portal's "Kerja sama kota" page.

The collab service answers reads to any staff token. The portal's visitors carry none, so the gateway reads as
itself: a short-lived token it signs with the platform's secret (subject `kota-gateway`, no agency, no role that
may change anything), renewed before it expires. What the answers hold that the public should not see (who
granted an agreement, a partner's endpoint) is left out by the entrypoint's views, not here."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta

from kota.collab.v1 import collab_pb2 as pb
from kota.collab.v1 import collab_pb2_grpc
from kota_common.auth import issue_token
from kota_gateway.adapters.backends import Backend

TOKEN_TTL = timedelta(minutes=10)


class CollabClient:
    name = "collab"

    def __init__(self, address: str, timeout: float, retries: int, auth_secret: str):
        self._backend = Backend(self.name, address, collab_pb2_grpc.CollabServiceStub, timeout, retries)
        self._stub: collab_pb2_grpc.CollabServiceStub = self._backend.stub
        self._secret = auth_secret
        self._token, self._renew_at = "", 0.0

    def _reader_token(self) -> str:
        now = time.monotonic()
        if now >= self._renew_at:
            self._token = issue_token(self._secret, "kota-gateway", "", ["reader"], TOKEN_TTL)
            self._renew_at = now + TOKEN_TTL.total_seconds() / 2
        return self._token

    async def _read(self, rpc, request):
        return await self._backend.unary(rpc, request, safe=True, token=self._reader_token())

    async def list_cities(self) -> Sequence[pb.City]:
        return (await self._read(self._stub.ListCities, pb.ListCitiesRequest())).cities

    async def list_partnerships(self, city_id: str = "", kind: pb.PartnershipKind = pb.PARTNERSHIP_KIND_UNSPECIFIED,
                                status: str = "") -> Sequence[pb.Partnership]:
        request = pb.ListPartnershipsRequest(city_id=city_id, kind=kind, status=status)
        return (await self._read(self._stub.ListPartnerships, request)).partnerships

    async def get_partnership(self, partnership_id: str) -> pb.GetPartnershipResponse:
        return await self._read(self._stub.GetPartnership, pb.GetPartnershipRequest(id=partnership_id))

    async def list_activities(self, partnership_id: str = "", city_id: str = "") -> Sequence[pb.Activity]:
        request = pb.ListActivitiesRequest(partnership_id=partnership_id, city_id=city_id)
        return (await self._read(self._stub.ListActivities, request)).activities

    async def list_agreements(self, partnership_id: str = "", city_id: str = "") -> Sequence[pb.Agreement]:
        request = pb.ListAgreementsRequest(partnership_id=partnership_id, city_id=city_id)
        return (await self._read(self._stub.ListAgreements, request)).agreements

    async def healthy(self) -> bool:
        return await self._backend.healthy()

    async def close(self) -> None:
        await self._backend.close()
