"""Complaint use cases behind Open311 and the portal's API: submit, read, follow, and staff work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime, timezone

from kota.complaints.v1 import complaints_pb2 as pb
from kota_gateway.adapters.complaints import ComplaintsClient
from kota_gateway.adapters.errors import RpcFailure, ServiceUnavailable
from kota_gateway.domain.complaints import inbox_agency

PAGE = 500


async def requests_by_id(complaints: ComplaintsClient, ids: list[str]) -> list[pb.Complaint]:
    reply = await complaints.list_complaints(pb.ListComplaintsRequest(ids=ids, page_size=min(PAGE, len(ids) or 1)))
    return list(reply.complaints)


async def requests_between(complaints: ComplaintsClient, statuses: list[pb.Status], service_code: str,
                           start: datetime | None, end: datetime | None, limit: int) -> list[pb.Complaint]:
    """Newest first, up to `limit`, requested within [start, end] (the complaints service filters; the window is
    checked again here, and paging stops at the first complaint older than start)."""
    found: list[pb.Complaint] = []
    token = ""
    while len(found) < limit:
        message = pb.ListComplaintsRequest(statuses=statuses, service_code=service_code, page_size=PAGE, page_token=token)
        if start:
            message.start_date.FromDatetime(start)
        if end:
            message.end_date.FromDatetime(end)
        reply = await complaints.list_complaints(message)
        for c in reply.complaints:
            at = c.requested_at.ToDatetime(tzinfo=timezone.utc)
            if start and at < start:
                return found
            if end and at > end:
                continue
            found.append(c)
        token = reply.next_page_token
        if not token:
            break
    return found[:limit]


async def inbox(complaints: ComplaintsClient, *, agency: str, roles: frozenset[str], asked_agency: str,
                statuses: list[pb.Status], page_size: int, page_token: str, token: str) -> pb.ListComplaintsResponse:
    """A page of an agency's complaints, newest first; NotAllowed when staff ask for another agency's."""
    message = pb.ListComplaintsRequest(statuses=statuses, agency_code=inbox_agency(agency, roles, asked_agency),
                                       page_size=page_size, page_token=page_token)
    return await complaints.list_complaints(message, token=token)


class WatchBudget:
    """How many WatchComplaints streams the gateway holds open at once: each holds a worker of the complaints
    service, so clients beyond `limit` are served by the periodic re-check alone."""

    def __init__(self, limit: int):
        self.limit, self.open = limit, 0

    def start(self, pump) -> asyncio.Task | None:
        if self.open >= self.limit:
            return None
        self.open += 1
        task = asyncio.create_task(pump())
        task.add_done_callback(self._ended)
        return task

    def _ended(self, _task) -> None:
        self.open -= 1


@dataclass(frozen=True)
class Update:
    event_type: str  # snapshot, refresh, or the complaints service's event type
    complaint: pb.Complaint


@dataclass(frozen=True)
class Quiet:
    """Nothing new: a comment to keep the connection open (`reason` says why)."""

    reason: str


async def follow(complaints: ComplaintsClient, watch: pb.WatchComplaintsRequest, snapshot: pb.Complaint | None, *,
                 poll_s: float, budget: WatchBudget, token: str | None = None) -> AsyncGenerator[Update | Quiet, None]:
    """The snapshot, then each change from WatchComplaints, each complaint state once. A re-check every `poll_s`
    covers a change made before the watch started or a watch that broke (the service restarted)."""
    queue: asyncio.Queue = asyncio.Queue(maxsize=1000)

    async def pump():
        try:
            async for update in complaints.watch(watch, token=token):
                await queue.put((update.event_type, update.complaint))
        except (ServiceUnavailable, RpcFailure):
            pass

    task = budget.start(pump)
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
            yield Update("snapshot", snapshot)
        else:
            yield Quiet("watching")
        while True:
            try:
                event_type, c = await asyncio.wait_for(queue.get(), poll_s)
            except TimeoutError:
                if task is None or task.done():
                    task = budget.start(pump)
                if watch.id:
                    try:
                        c = await complaints.get_complaint(watch.id)
                    except (ServiceUnavailable, RpcFailure):
                        yield Quiet("service unavailable, retrying")
                        continue
                    if changed(c):
                        yield Update("refresh", c)
                        continue
                yield Quiet("keep-alive")
                continue
            if changed(c):
                yield Update(event_type, c)
    finally:
        if task is not None:
            task.cancel()
