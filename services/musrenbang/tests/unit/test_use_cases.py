"""The use cases against a fake unit of work (cosmicpython's FakeUnitOfWork): no database, broker or network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from kota_common.auth import Principal
from kota_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from kota_common.events import musrenbang as ev
from kota_common.reference import AreaDirectory
from kota_musrenbang.adapters.repository import Assessment, ProposalFilter, StoredProposal, SupportsAdded
from kota_musrenbang.domain.cycle import PlanningCycle
from kota_musrenbang.domain.evidence import Evidence
from kota_musrenbang.domain.nik import NikHasher
from kota_musrenbang.service_layer import services

NOW = datetime(2027, 1, 25, 3, 0, tzinfo=timezone.utc)
GAMBIR = "31.71.01.1001"


def nik(serial: int, kecamatan: str = "317101") -> str:
    return f"{kecamatan}120190{serial:04d}"


class FakeProposals:
    """The repository's contract in memory: a support once per (proposal, resident), within the limit."""

    def __init__(self) -> None:
        self.rows: dict[str, StoredProposal] = {}
        self.seen: dict[str, StoredProposal] = {}
        self.supports: set[tuple[str, str]] = set()
        self.used: dict[str, int] = {}
        self.selections: list[dict] = []
        self.complaints: list[tuple] = []
        self.counted: dict[str, int] = {}

    def brief(self, proposal_id):
        stored = self.rows.get(proposal_id)
        return None if stored is None else (stored.proposal.status.value, stored.proposal.location.kelurahan_code)

    def support_count(self, proposal_id):
        return self.rows[proposal_id].proposal.support_count

    def add(self, proposal, proposer_hash, request_id=None):
        self.seen[proposal.id] = self.rows[proposal.id] = StoredProposal(proposal, proposer_hash, None, 1)
        self.rows[proposal.id].request_id = request_id  # type: ignore[attr-defined]

    def get(self, proposal_id):
        stored = self.rows.get(proposal_id)
        if stored is not None:
            self.seen[proposal_id] = stored
        return stored

    def by_request_id(self, request_id):
        return next((s for s in self.rows.values() if getattr(s, "request_id", None) == request_id), None)

    def search(self, f: ProposalFilter, *, offset, limit):
        found = [s for s in self.rows.values() if s.proposal.cycle_year == f.cycle_year
                 and (not f.kecamatan_code or s.proposal.location.kecamatan_code == f.kecamatan_code)
                 and (not f.statuses or s.proposal.status in f.statuses)]
        return found[offset:offset + limit], len(found)

    def nearby(self, cycle_year, kecamatan_code, exclude):
        return [s.proposal for s in self.rows.values() if s.proposal.id != exclude]

    def set_assessment(self, proposal_id, assessment, score):
        self.rows[proposal_id].assessment = assessment
        self.rows[proposal_id].proposal.score = score

    def flush_changes(self):
        pass

    def support_states(self, proposal_ids):
        return {pid: (self.rows[pid].proposal.status.value, self.rows[pid].proposal.support_count)
                for pid in proposal_ids if pid in self.rows}

    def add_supports(self, wishes, cycle_year, limit, at):
        added, counts = [], {}
        for proposal_id, resident_hash in wishes:
            if (proposal_id, resident_hash) in self.supports:
                added.append(False)
            elif self.used.get(resident_hash, 0) >= limit:
                added.append(None)
            else:
                self.supports.add((proposal_id, resident_hash))
                self.used[resident_hash] = self.used.get(resident_hash, 0) + 1
                self.rows[proposal_id].proposal.support_count += 1
                counts[proposal_id] = self.rows[proposal_id].proposal.support_count
                added.append(True)
        return SupportsAdded(added, counts, dict(self.used))

    def remove_support(self, proposal_id, resident_hash, cycle_year):
        if (proposal_id, resident_hash) not in self.supports:
            return False
        self.supports.discard((proposal_id, resident_hash))
        self.used[resident_hash] -= 1
        self.rows[proposal_id].proposal.support_count -= 1
        self.counted[proposal_id] = self.rows[proposal_id].proposal.support_count
        return True

    def supports_used(self, cycle_year, resident_hash):
        return self.used.get(resident_hash, 0)

    def evidence(self, kelurahan_code, kecamatan_code, service_codes, alert_kinds, since):
        counted = [c for c in self.complaints if c[0] == kelurahan_code and c[1] in service_codes and c[2] >= since]
        return Evidence({code: sum(1 for c in counted if c[1] == code) for code in {c[1] for c in counted}}, {})

    def record_complaint(self, complaint_id, kelurahan_code, service_code, at):
        self.complaints.append((kelurahan_code, service_code, at))

    def add_selection(self, selection_id, cycle_year, kecamatan_code, document, at):
        self.selections.append(document)

    def latest_selection(self, cycle_year, kecamatan_code):
        return next((d for d in reversed(self.selections) if d["kecamatan_code"] == kecamatan_code), None)


class FakeUnitOfWork:
    def __init__(self, proposals: FakeProposals):
        self.proposals = proposals
        self.committed = 0
        self.published: list = []
        self.events: list = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proposals.seen = {}

    def begin_writing(self):
        pass

    def publish(self, key, payload, trace=None):
        self.published.append((key, payload))

    def complete(self):
        for stored in self.proposals.seen.values():
            self.events += stored.proposal.events
            stored.proposal.events.clear()
        self.events += [p for _, p in self.published]
        self.published = []
        self.committed += 1


@dataclass
class World:
    ctx: services.Context
    uow: FakeUnitOfWork

    def write(self, work):
        """The group commit's contract: the work runs on a unit of work joined to the batch."""
        return work(self.uow)

    def supports(self, wish):
        """run_together's contract, for a batch of one: the outcome, or its refusal raised."""
        [outcome] = services.apply_supports(self.ctx, self.uow, [wish])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def staff(self, role: str, area: str, agency: str = "") -> Principal:
        return Principal(subject=f"uji-{role}", agency=agency, roles=frozenset({role}), area=area)

    def submit(self, serial: int = 1, **fields) -> services.ProposalView:
        cmd = services.SubmitProposal(**({
            "nik": nik(serial), "title": "Rehabilitasi saluran drainase RW 05", "activity_code": "DRN-01", "volume": 100,
            "problem": "Saluran tersumbat dan dangkal; jalan tergenang setiap hujan deras.", "kelurahan_code": GAMBIR,
            "rw": "005"} | fields))
        return services.submit_proposal(self.ctx, self.uow, cmd)[0]


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def world() -> World:
    clock = Clock(NOW)
    ctx = services.Context(cycle=PlanningCycle.demo(NOW, support_limit=2), areas=AreaDirectory.load_jakarta(),
                           hasher=NikHasher(b"unit-test-key-0123456789"), clock=clock)
    return World(ctx, FakeUnitOfWork(FakeProposals()))


def test_a_submission_is_stored_under_the_nik_hash_and_announced_without_it(world):
    view = world.submit()
    stored = world.uow.proposals.rows[view.proposal.id]
    assert stored.proposer_hash == world.ctx.hasher.hash(nik(1)) and nik(1) not in stored.proposer_hash
    assert [type(e) for e in world.uow.events] == [ev.ProposalSubmitted]
    assert nik(1) not in world.uow.events[0].model_dump_json() and stored.proposer_hash not in world.uow.events[0].model_dump_json()
    assert view.proposal.cost == 100 * view.proposal.activity.unit_cost


def test_a_retried_submission_with_the_same_request_id_files_once(world):
    first = world.submit(request_id="r-1")
    again = world.submit(request_id="r-1")
    assert again.proposal.id == first.proposal.id and len(world.uow.proposals.rows) == 1


@pytest.mark.parametrize(("fields", "error", "field"), [
    ({"nik": "12345"}, InvalidArgument, "nik"),
    ({"nik": nik(1, kecamatan="317102")}, PermissionDenied, "nik"),
    ({"kelurahan_code": "31.71.01.9999"}, InvalidArgument, "kelurahan_code"),
    ({"activity_code": "XXX-99"}, InvalidArgument, "activity_code"),
    ({"volume": 0}, InvalidArgument, "volume"),
    ({"title": "pendek"}, InvalidArgument, "title"),
    ({"photo_url": "ftp://foto"}, InvalidArgument, "photo_url"),
])
def test_bad_submissions_are_refused_naming_the_field_and_nothing_is_stored(world, fields, error, field):
    with pytest.raises(error) as refused:
        world.submit(**fields)
    assert [f for f, _ in refused.value.violations] == [field]
    assert not world.uow.proposals.rows and not world.uow.events


def test_supports_count_once_per_resident_and_stop_at_the_limit(world):
    ids = [world.submit(serial=s, title=f"Saluran drainase gang nomor {s} RW 05").proposal.id for s in (1, 2, 3)]
    assert services.support(world.ctx, world.uow, world.supports, ids[0], nik(9)) == (1, 1, True)
    assert services.support(world.ctx, world.uow, world.supports, ids[0], nik(9)) == (1, 1, False)  # again: nothing changes
    assert services.support(world.ctx, world.uow, world.supports, ids[1], nik(9)) == (1, 0, True)
    with pytest.raises(FailedPrecondition) as refused:
        services.support(world.ctx, world.uow, world.supports, ids[2], nik(9))
    assert "paling banyak 2" in refused.value.message
    assert services.withdraw_support(world.ctx, world.uow, world.write, ids[0], nik(9)) == (0, 1)
    assert services.support(world.ctx, world.uow, world.supports, ids[2], nik(9)) == (1, 0, True)
    counts = [e.support_count for e in world.uow.events if isinstance(e, ev.ProposalSupportCountChanged)]
    assert counts == [1, 1, 0, 1]


def test_supports_are_refused_outside_their_stages(world):
    pid = world.submit().proposal.id
    world.ctx.clock.now = world.ctx.cycle.stages[-2].opens + timedelta(hours=1)  # the kota stage
    with pytest.raises(FailedPrecondition) as refused:
        services.support(world.ctx, world.uow, world.supports, pid, nik(9))
    assert "Musrenbang Kelurahan" in refused.value.message


def test_staff_act_only_with_their_role_and_in_their_area(world):
    pid = world.submit().proposal.id
    review = services.Review(pid, "verify")
    with pytest.raises(PermissionDenied):
        services.review(world.ctx, world.uow, world.staff("lurah", "31.71.01.1004"), review)
    with pytest.raises(PermissionDenied):
        services.review(world.ctx, world.uow, Principal("x", "DSDA", frozenset({"staff"})), review)
    view = services.review(world.ctx, world.uow, world.staff("lurah", GAMBIR), review)
    assert view.proposal.status.value == "verified"


def test_the_forum_selects_within_its_pagu_and_gives_every_proposal_a_reason(world):
    ids = [world.submit(serial=s, title=f"Saluran drainase gang nomor {s} RW 05", volume=100).proposal.id
           for s in (1, 2, 3)]
    for pid in ids:
        services.review(world.ctx, world.uow, world.staff("lurah", GAMBIR), services.Review(pid, "verify"))
    world.ctx.clock.now = world.ctx.cycle.stages[2].opens + timedelta(hours=1)
    tim = world.staff("tim_kecamatan", "31.71.01")
    for urgency, pid in zip((5, 3, 1), ids, strict=True):
        services.review(world.ctx, world.uow, tim, services.Review(pid, "assess", assessment=Assessment(urgency, 500, 3)))
    doc = services.run_selection(world.ctx, world.uow, tim, services.RunSelection("31.71.01", 2 * 150_000_000, {}, {}))
    chosen = [d["proposal_id"] for d in doc["decisions"] if d["selected"]]
    assert doc["status"] == "optimal" and sorted(chosen) == sorted(ids[:2])  # the two most urgent fit the pagu
    assert all(d["reason"] for d in doc["decisions"])
    assert {world.uow.proposals.rows[p].proposal.status.value for p in chosen} == {"prioritised"}
    assert any(isinstance(e, ev.SelectionPublished) for e in world.uow.events)
    with pytest.raises(FailedPrecondition):  # one selection per forum and cycle
        services.run_selection(world.ctx, world.uow, tim, services.RunSelection("31.71.01", 10**9, {}, {}))


def test_a_selection_waits_until_every_verified_proposal_is_assessed(world):
    pid = world.submit().proposal.id
    services.review(world.ctx, world.uow, world.staff("lurah", GAMBIR), services.Review(pid, "verify"))
    world.ctx.clock.now = world.ctx.cycle.stages[2].opens + timedelta(hours=1)
    with pytest.raises(FailedPrecondition) as refused:
        services.run_selection(world.ctx, world.uow, world.staff("tim_kecamatan", "31.71.01"),
                               services.RunSelection("31.71.01", 10**9, {}, {}))
    assert pid in refused.value.message


def test_evidence_counts_matching_complaints_of_the_last_twelve_months(world):
    pid = world.submit().proposal.id
    for code, age in (("flooding", 30), ("drainage", 200), ("flooding", 400), ("waste", 10)):
        services.record_complaint(world.uow, f"c-{code}-{age}", GAMBIR, code, NOW - timedelta(days=age))
    view = services.get_proposal(world.ctx, world.uow, pid)
    assert view.evidence.complaint_count == 2
    assert any("genangan" in line for line in view.evidence.summaries())


def test_an_unknown_proposal_is_not_found(world):
    with pytest.raises(NotFound):
        services.get_proposal(world.ctx, world.uow, "U-tidak-ada")


def test_the_rt_rw_submits_a_residents_draft_for_the_rembuk(world):
    draft = world.submit(draft=True).proposal
    assert draft.status.value == "draft" and not any(isinstance(e, ev.ProposalSubmitted) for e in world.uow.events)
    with pytest.raises(PermissionDenied):  # another RW's
        services.review(world.ctx, world.uow, world.staff("rt_rw", f"{GAMBIR}/007"), services.Review(draft.id, "submit"))
    view = services.review(world.ctx, world.uow, world.staff("rt_rw", f"{GAMBIR}/005"), services.Review(draft.id, "submit"))
    assert view.proposal.status.value == "submitted"
    assert any(isinstance(e, ev.ProposalSubmitted) for e in world.uow.events)
