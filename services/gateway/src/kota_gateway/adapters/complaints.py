"""The complaints service, typed: one method per RPC the gateway uses, protobuf messages in and out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from kota.complaints.v1 import complaints_pb2 as pb
from kota.complaints.v1 import complaints_pb2_grpc
from kota_gateway.adapters.backends import Backend


class ComplaintsClient:
    name = "complaints"

    def __init__(self, address: str, timeout: float, retries: int):
        self._backend = Backend(self.name, address, complaints_pb2_grpc.ComplaintsServiceStub, timeout, retries)
        self._stub: complaints_pb2_grpc.ComplaintsServiceStub = self._backend.stub

    async def list_services(self) -> Sequence[pb.Service]:
        """The categories with their attributes; public and rarely changing, so answered from a short cache."""
        return (await self._backend.cached(self._stub.ListServices, pb.ListServicesRequest())).services

    async def list_agencies(self) -> Sequence[pb.Agency]:
        return (await self._backend.cached(self._stub.ListAgencies, pb.ListAgenciesRequest())).agencies

    async def submit(self, request: pb.SubmitComplaintRequest) -> pb.SubmitComplaintResponse:
        # the idempotency key makes a retry after UNAVAILABLE safe: the same key returns the same complaint
        return await self._backend.unary(self._stub.SubmitComplaint, request, safe=True)

    async def get_complaint(self, complaint_id: str) -> pb.Complaint:
        reply = await self._backend.unary(self._stub.GetComplaint, pb.GetComplaintRequest(id=complaint_id), safe=True)
        return reply.complaint

    async def list_complaints(self, request: pb.ListComplaintsRequest, *, token: str | None = None) -> pb.ListComplaintsResponse:
        return await self._backend.unary(self._stub.ListComplaints, request, safe=True, token=token)

    async def rate(self, complaint_id: str, tracking_code: str, rating: int, comment: str) -> pb.Complaint:
        request = pb.RateComplaintRequest(id=complaint_id, tracking_code=tracking_code, rating=rating, comment=comment)
        return (await self._backend.unary(self._stub.RateComplaint, request, safe=False)).complaint

    async def reopen(self, complaint_id: str, tracking_code: str, reason: str) -> pb.Complaint:
        request = pb.ReopenComplaintRequest(id=complaint_id, tracking_code=tracking_code, reason=reason)
        return (await self._backend.unary(self._stub.ReopenComplaint, request, safe=False)).complaint

    async def update_status(self, complaint_id: str, status: pb.Status, note: str, *, token: str) -> pb.Complaint:
        request = pb.UpdateComplaintStatusRequest(id=complaint_id, status=status, note=note)
        return (await self._backend.unary(self._stub.UpdateComplaintStatus, request, safe=False, token=token)).complaint

    async def add_note(self, complaint_id: str, note: str, *, token: str) -> pb.Complaint:
        request = pb.AddComplaintNoteRequest(id=complaint_id, note=note)
        return (await self._backend.unary(self._stub.AddComplaintNote, request, safe=False, token=token)).complaint

    def watch(self, request: pb.WatchComplaintsRequest, *, token: str | None = None) -> AsyncIterator[pb.WatchComplaintsResponse]:
        """Updates as they happen, until the caller stops iterating."""
        return self._backend.stream(self._stub.WatchComplaints, request, token=token)

    async def healthy(self) -> bool:
        return await self._backend.healthy()

    async def close(self) -> None:
        await self._backend.close()
