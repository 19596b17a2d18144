"""Musrenbang use cases behind the portal's API that are more than one call: following a proposal live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from kota.musrenbang.v1 import musrenbang_pb2 as pb
from kota_gateway.adapters.errors import RpcFailure, ServiceUnavailable
from kota_gateway.adapters.musrenbang import MusrenbangClient
from kota_gateway.service_layer.complaints import Quiet, WatchBudget

__all__ = ["Change", "Quiet", "follow_proposal"]


class Change:
    """The proposal as it now is; `change` is the musrenbang event's type (ce_type), "snapshot" first, or
    "refresh" when the periodic re-check found it changed."""

    __slots__ = ("change", "proposal")

    def __init__(self, change: str, proposal: pb.Proposal):
        self.change, self.proposal = change, proposal


async def follow_proposal(client: MusrenbangClient, proposal_id: str, snapshot: pb.Proposal, *, poll_s: float,
                          budget: WatchBudget) -> AsyncGenerator[Change | Quiet, None]:
    """The proposal now, then after each change WatchProposal reports, each state once. A re-check every `poll_s`
    covers a watch that broke and clients beyond the budget of open streams (each holds a worker of the musrenbang
    service).

    The first state is the watch's own first message when the watch answers within `poll_s`: the service sends it
    once the watch is registered, so a change made after the client saw it is never missed. `snapshot` (read
    before the stream began, to answer 404 as a status) stands in when the watch cannot be had."""
    queue: asyncio.Queue[tuple[str, pb.Proposal]] = asyncio.Queue(maxsize=1000)

    async def pump():
        try:
            async for update in client.watch(proposal_id):
                await queue.put((update.change or "refresh", update.proposal))
        except (ServiceUnavailable, RpcFailure):
            pass

    task = budget.start(pump)
    last = b""

    def changed(p: pb.Proposal) -> bool:
        nonlocal last
        state = p.SerializeToString(deterministic=True)
        if state == last:
            return False
        last = state
        return True

    try:
        first = await _first_of(queue, task, poll_s) if task is not None else None
        snapshot = first or snapshot
        changed(snapshot)
        yield Change("snapshot", snapshot)
        while True:
            try:
                change, proposal = await asyncio.wait_for(queue.get(), poll_s)
            except TimeoutError:
                if task is None or task.done():
                    task = budget.start(pump)
                try:
                    proposal = await client.get_proposal(proposal_id)
                except (ServiceUnavailable, RpcFailure):
                    yield Quiet("service unavailable, retrying")
                    continue
                if changed(proposal):
                    yield Change("refresh", proposal)
                else:
                    yield Quiet("keep-alive")
                continue
            if changed(proposal):
                yield Change(change, proposal)
    finally:
        if task is not None:
            task.cancel()


async def _first_of(queue: asyncio.Queue[tuple[str, pb.Proposal]], pump: asyncio.Task, timeout: float) -> pb.Proposal | None:
    """The watch's first message, or None if the watch ended or stayed silent for `timeout` seconds."""
    getter = asyncio.ensure_future(queue.get())
    done, _ = await asyncio.wait({getter, pump}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        return getter.result()[1]
    getter.cancel()
    return None
