"""The musrenbang service, typed: the planning cycle, proposals, supports, staff reviews and the forum's selection.

Residents' calls carry a NIK; staff calls a bearer token, passed on in metadata. A NIK leaves the gateway only
inside the request message: failures are scrubbed of any 16-digit run before they reach a log or an answer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence

from kota.musrenbang.v1 import musrenbang_pb2 as pb
from kota.musrenbang.v1 import musrenbang_pb2_grpc
from kota_gateway.adapters.backends import Backend
from kota_gateway.adapters.errors import RpcFailure

_NIK_LIKE = re.compile(r"\d{16}")


def _scrubbed(failure: RpcFailure) -> RpcFailure:
    """The failure with anything shaped like a NIK masked (the service never echoes one; this keeps it so)."""
    mask = lambda text: _NIK_LIKE.sub("****************", text)  # noqa: E731
    return RpcFailure(failure.service, failure.code, mask(failure.message),
                      [(field, mask(description)) for field, description in failure.violations])


class MusrenbangClient:
    name = "musrenbang"

    def __init__(self, address: str, timeout: float, retries: int):
        self._backend = Backend(self.name, address, musrenbang_pb2_grpc.MusrenbangServiceStub, timeout, retries)
        self._stub: musrenbang_pb2_grpc.MusrenbangServiceStub = self._backend.stub

    async def _call(self, rpc, request, *, safe: bool, token: str | None = None, timeout: float | None = None):
        try:
            return await self._backend.unary(rpc, request, safe=safe, token=token, timeout=timeout)
        except RpcFailure as failure:
            raise _scrubbed(failure) from None

    # -- public --------------------------------------------------------------------------------------------

    async def get_cycle(self, year: int = 0) -> pb.Cycle:
        return (await self._call(self._stub.GetCycle, pb.GetCycleRequest(year=year), safe=True)).cycle

    async def list_activities(self) -> Sequence[pb.Activity]:
        """The activity catalogue: public and fixed while the service runs, so answered from a short cache."""
        return (await self._backend.cached(self._stub.ListActivities, pb.ListActivitiesRequest(), ttl=60.0)).activities

    async def check_resident(self, nik: str, kelurahan_code: str) -> pb.CheckResidentResponse:
        request = pb.CheckResidentRequest(nik=nik, kelurahan_code=kelurahan_code)
        return await self._call(self._stub.CheckResident, request, safe=True)

    async def submit(self, request: pb.SubmitProposalRequest) -> pb.SubmitProposalResponse:
        # with a request_id a retry after UNAVAILABLE returns the first answer: safe
        return await self._call(self._stub.SubmitProposal, request, safe=bool(request.request_id))

    async def get_proposal(self, proposal_id: str) -> pb.Proposal:
        return (await self._call(self._stub.GetProposal, pb.GetProposalRequest(id=proposal_id), safe=True)).proposal

    async def list_proposals(self, request: pb.ListProposalsRequest) -> pb.ListProposalsResponse:
        return await self._call(self._stub.ListProposals, request, safe=True)

    async def support(self, proposal_id: str, nik: str) -> pb.SupportProposalResponse:
        # one support per resident per proposal: repeating it changes nothing twice
        request = pb.SupportProposalRequest(proposal_id=proposal_id, nik=nik)
        return await self._call(self._stub.SupportProposal, request, safe=True)

    async def withdraw_support(self, proposal_id: str, nik: str) -> pb.WithdrawSupportResponse:
        request = pb.WithdrawSupportRequest(proposal_id=proposal_id, nik=nik)
        return await self._call(self._stub.WithdrawSupport, request, safe=False)

    async def get_selection(self, kecamatan_code: str, cycle_year: int = 0) -> pb.Selection:
        request = pb.GetSelectionRequest(kecamatan_code=kecamatan_code, cycle_year=cycle_year)
        return (await self._call(self._stub.GetSelection, request, safe=True)).selection

    async def get_minutes(self, kecamatan_code: str, cycle_year: int = 0) -> pb.GetMinutesResponse:
        request = pb.GetMinutesRequest(kecamatan_code=kecamatan_code, cycle_year=cycle_year)
        return await self._call(self._stub.GetMinutes, request, safe=True, timeout=max(self._backend.timeout, 30.0))

    def watch(self, proposal_id: str) -> AsyncIterator[pb.WatchProposalResponse]:
        """The proposal, then again after each change, until the caller stops iterating."""
        return self._backend.stream(self._stub.WatchProposal, pb.WatchProposalRequest(id=proposal_id))

    # -- staff (bearer token) ------------------------------------------------------------------------------

    async def review(self, request: pb.ReviewProposalRequest, *, token: str) -> pb.Proposal:
        return (await self._call(self._stub.ReviewProposal, request, safe=False, token=token)).proposal

    async def merge(self, target_id: str, source_id: str, *, token: str) -> pb.Proposal:
        request = pb.MergeProposalsRequest(target_id=target_id, source_id=source_id)
        return (await self._call(self._stub.MergeProposals, request, safe=False, token=token)).target

    async def record_milestone(self, proposal_id: str, milestone: pb.Milestone, *, token: str) -> pb.Proposal:
        request = pb.RecordMilestoneRequest(proposal_id=proposal_id, milestone=milestone)
        return (await self._call(self._stub.RecordMilestone, request, safe=False, token=token)).proposal

    async def run_selection(self, request: pb.RunSelectionRequest, *, token: str) -> pb.Selection:
        reply = await self._call(self._stub.RunSelection, request, safe=False, token=token,
                                 timeout=max(self._backend.timeout, 60.0))
        return reply.selection

    async def healthy(self) -> bool:
        return await self._backend.healthy()

    async def close(self) -> None:
        await self._backend.close()
