"""Following a proposal (service_layer.musrenbang.follow_proposal) against a fake musrenbang client: no network."""

import asyncio

from kota.musrenbang.v1 import musrenbang_pb2 as pb
from kota_gateway.adapters.errors import ServiceUnavailable
from kota_gateway.service_layer.complaints import WatchBudget
from kota_gateway.service_layer.musrenbang import Change, Quiet, follow_proposal


def proposal(supports: int, status: str = "submitted") -> pb.Proposal:
    return pb.Proposal(id="U-1", title="Saluran RW 05", status=status, support_count=supports)


class FakeMusrenbang:
    """WatchProposal yields `watched` (the first is the proposal as the watch began); GetProposal answers `now`."""

    def __init__(self, watched: list[pb.WatchProposalResponse], now: pb.Proposal, watch_down: bool = False):
        self.watched, self.now, self.watch_down, self.gets, self.watches = watched, now, watch_down, 0, 0

    async def watch(self, proposal_id):
        self.watches += 1
        if self.watch_down:
            raise ServiceUnavailable("musrenbang", "unavailable")
        for item in self.watched:
            yield item
        await asyncio.Event().wait()  # a watch stays open

    async def get_proposal(self, proposal_id):
        self.gets += 1
        return self.now


async def take(updates, n: int) -> list:
    got = []
    async for item in updates:
        got.append(item)
        if len(got) == n:
            break
    await updates.aclose()
    return got


def test_the_first_state_is_the_watchs_own_so_no_change_after_it_is_missed():
    stale = proposal(0)  # read before the watch was registered; a resident supported in between
    fake = FakeMusrenbang([pb.WatchProposalResponse(proposal=proposal(1)),
                           pb.WatchProposalResponse(proposal=proposal(2), change="kota.musrenbang.support-count-changed.v1")],
                          now=proposal(2))
    got = asyncio.run(take(follow_proposal(fake, "U-1", stale, poll_s=5, budget=WatchBudget(1)), 2))
    assert [(g.change, g.proposal.support_count) for g in got] == [
        ("snapshot", 1), ("kota.musrenbang.support-count-changed.v1", 2)]
    assert fake.gets == 0


def test_each_state_is_sent_once():
    same = pb.WatchProposalResponse(proposal=proposal(1), change="kota.musrenbang.status-changed.v1")
    fake = FakeMusrenbang([pb.WatchProposalResponse(proposal=proposal(1)), same, same,
                           pb.WatchProposalResponse(proposal=proposal(1, "verified"), change="kota.musrenbang.status-changed.v1")],
                          now=proposal(1, "verified"))
    got = asyncio.run(take(follow_proposal(fake, "U-1", proposal(1), poll_s=5, budget=WatchBudget(1)), 2))
    assert [(g.change, g.proposal.status) for g in got] == [("snapshot", "submitted"),
                                                            ("kota.musrenbang.status-changed.v1", "verified")]


def test_beyond_the_budget_of_streams_the_proposal_is_re_read_every_poll():
    fake = FakeMusrenbang([], now=proposal(3))
    budget = WatchBudget(0)
    got = asyncio.run(take(follow_proposal(fake, "U-1", proposal(0), poll_s=0.05, budget=budget), 3))
    assert isinstance(got[0], Change) and got[0].change == "snapshot" and got[0].proposal.support_count == 0
    assert isinstance(got[1], Change) and (got[1].change, got[1].proposal.support_count) == ("refresh", 3)
    assert isinstance(got[2], Quiet)  # nothing new since
    assert fake.watches == 0 and budget.open == 0


def test_a_watch_that_cannot_be_had_falls_back_to_the_snapshot_and_re_reads():
    fake = FakeMusrenbang([], now=proposal(4), watch_down=True)
    got = asyncio.run(take(follow_proposal(fake, "U-1", proposal(0), poll_s=0.05, budget=WatchBudget(1)), 2))
    assert [(g.change, g.proposal.support_count) for g in got] == [("snapshot", 0), ("refresh", 4)]
