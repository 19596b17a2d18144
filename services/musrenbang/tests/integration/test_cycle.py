"""e-Musrenbang over its real parts: the service's components in this process (so that the test moves its clock
through the cycle's stages), gRPC over a socket, the real broker and the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import grpc
import pytest

from kota.musrenbang.v1 import musrenbang_pb2 as pb
from kota.musrenbang.v1 import musrenbang_pb2_grpc as pb_grpc
from kota_common import envelope
from kota_common.auth import issue_token
from kota_common.events import complaints as complaint_events
from kota_common.events import musrenbang as mb_events
from kota_common.grpc_server import field_violations
from kota_common.kafka import ensure_topics
from kota_common.settings import CommonSettings
from kota_common.testing import RecordProducer, free_port, wait_consumed, wait_until
from kota_musrenbang.config import MusrenbangSettings
from kota_musrenbang.domain.cycle import PlanningCycle
from kota_musrenbang.entrypoints.app import bootstrap, context

pytestmark = pytest.mark.integration

GAMBIR = "31.71.01.1001"  # kelurahan Gambir, kecamatan Gambir (31.71.01)
CIDENG = "31.71.01.1004"
DAY = timedelta(days=1)


def nik(serial: int, kecamatan: str = "317101") -> str:
    """A well-formed NIK of the kecamatan (born 12 January 1990, the serial makes it one person's)."""
    return f"{kecamatan}120190{serial:04d}"


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Musrenbang:
    stub: pb_grpc.MusrenbangServiceStub
    clock: Clock
    cycle: PlanningCycle
    secret: str
    group: str

    def token(self, role: str, area: str = "", agency: str = "") -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {issue_token(self.secret, f'uji-{role}', agency, [role], area=area)}")]

    def enter(self, level: str) -> None:
        """Moves the clock into a stage: an hour after it opens."""
        window = next(s for s in self.cycle.stages if s.level.value == level)
        self.clock.now = window.opens + timedelta(hours=1)

    def submit(self, serial: int = 1, kelurahan: str = GAMBIR, activity: str = "DRN-01", volume: int = 100,
               title: str = "Rehabilitasi saluran drainase RW 05", **location) -> pb.Proposal:
        loc = pb.Location(kelurahan_code=kelurahan, rw=location.pop("rw", "005"), address="Jl. Tanah Abang II", **location)
        return self.stub.SubmitProposal(pb.SubmitProposalRequest(
            nik=nik(serial), title=title, activity_code=activity, volume=volume, location=loc,
            problem="Saluran tersumbat dan dangkal; setiap hujan deras jalan tergenang setinggi 30 cm."), timeout=10).proposal


@pytest.fixture
def musrenbang(database_url, kafka_bootstrap):
    clock = Clock(datetime.now(timezone.utc).replace(microsecond=0))
    settings = MusrenbangSettings(
        database_url=database_url, grpc_address=f"127.0.0.1:{free_port()}", consumer_group=f"test-mb-{uuid.uuid4().hex[:8]}",
        support_limit=3, common=CommonSettings(kafka_bootstrap=kafka_bootstrap),
    )
    cycle = PlanningCycle.demo(clock.now, support_limit=settings.support_limit)
    host = bootstrap(settings, ctx=context(settings, clock=clock, cycle=cycle))
    host.start()
    channel = grpc.insecure_channel(settings.grpc_address)
    try:
        yield Musrenbang(pb_grpc.MusrenbangServiceStub(channel), clock, cycle, settings.common.auth_secret,
                         settings.consumer_group)
    finally:
        channel.close()
        host.stop()


def refused(call, code: grpc.StatusCode) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == code, caught.value.details()
    return caught.value


def test_a_proposal_goes_from_a_resident_through_every_forum_to_its_realisation(musrenbang, topic_reader):
    m = musrenbang
    events = topic_reader(mb_events.TOPIC)
    p = m.submit(serial=1)
    assert (p.status, p.cost, p.location.kecamatan_code) == ("submitted", 100 * 1_500_000, "31.71.01")
    for serial in (2, 3):
        m.stub.SupportProposal(pb.SupportProposalRequest(proposal_id=p.id, nik=nik(serial)), timeout=10)

    lurah = m.token("lurah", GAMBIR)
    m.stub.ReviewProposal(pb.ReviewProposalRequest(id=p.id, decision=pb.DECISION_VERIFY), metadata=lurah, timeout=10)

    m.enter("kecamatan")
    tim = m.token("tim_kecamatan", "31.71.01")
    assessed = m.stub.ReviewProposal(pb.ReviewProposalRequest(
        id=p.id, decision=pb.DECISION_ASSESS, assessment=pb.Assessment(urgency=5, beneficiaries=800, alignment=4)),
        metadata=tim, timeout=10).proposal
    assert assessed.score.total > 0 and {part.criterion for part in assessed.score.parts} == {
        "urgency", "beneficiaries", "alignment", "evidence", "supports"}
    assert any("2 dukungan" in part.explanation for part in assessed.score.parts)
    selection = m.stub.RunSelection(pb.RunSelectionRequest(kecamatan_code="31.71.01", budget=500_000_000, attendees=37),
                                    metadata=tim, timeout=30).selection
    assert selection.status == "optimal" and [d.proposal_id for d in selection.decisions if d.selected] == [p.id]
    assert all(d.reason for d in selection.decisions)
    pdf = m.stub.GetMinutes(pb.GetMinutesRequest(kecamatan_code="31.71.01"), timeout=30).pdf
    assert pdf.startswith(b"%PDF")

    m.enter("kota")
    dsda = m.token("agency_verifier", "31", agency="DSDA")
    m.stub.ReviewProposal(pb.ReviewProposalRequest(id=p.id, decision=pb.DECISION_VERIFY), metadata=dsda, timeout=10)
    m.enter("provinsi")
    bappeda = m.token("bappeda", "31")
    m.stub.ReviewProposal(pb.ReviewProposalRequest(id=p.id, decision=pb.DECISION_ACCEPT), metadata=bappeda, timeout=10)
    m.clock.now += 30 * DAY
    m.stub.ReviewProposal(pb.ReviewProposalRequest(id=p.id, decision=pb.DECISION_START_REALISATION), metadata=dsda,
                          timeout=10)
    for progress in (40, 100):
        m.stub.RecordMilestone(pb.RecordMilestoneRequest(proposal_id=p.id, milestone=pb.Milestone(
            title=f"Saluran terpasang {progress}%", progress_percent=progress, photo_url="https://foto.example/1.jpg")),
            metadata=dsda, timeout=10)
    done = m.stub.ReviewProposal(pb.ReviewProposalRequest(id=p.id, decision=pb.DECISION_FINISH), metadata=dsda,
                                 timeout=10).proposal

    assert done.status == "done" and done.progress_percent == 100 and done.support_count == 2
    assert [h.status for h in done.history] == ["draft", "submitted", "verified", "verified", "prioritised",
                                                 "prioritised", "accepted", "in_realisation", "in_realisation",
                                                 "in_realisation", "done"]
    assert {h.actor for h in done.history} >= {"warga", "lurah", "tim_kecamatan", "agency_verifier", "bappeda"}
    types = ["proposal-submitted", "support-count-changed", "support-count-changed", "status-changed", "status-changed",
             "selection-published", "status-changed", "status-changed", "status-changed", "milestone-recorded",
             "milestone-recorded", "status-changed"]
    ours = lambda r: p.id.encode() in (r.key() or b"") + r.value()  # noqa: E731  (the topic holds earlier tests' too)
    published = events.wait_for(lambda rs: len(rs) >= len(types), timeout=30, match=ours)
    assert sorted(dict(r.headers())["ce_type"].decode() for r in published) == sorted(
        f"kota.musrenbang.{t}.v1" for t in types)
    events.assert_quiet(1.0, match=ours)
    for record in published:  # no NIK, no keyed hash of one, on the topic
        assert nik(1).encode() not in record.value() and b"proposer" not in record.value()


def test_simultaneous_supports_count_once_per_resident_and_never_past_the_limit(musrenbang):
    m = musrenbang
    proposals = [m.submit(serial=100 + i, title=f"Penerangan jalan gang nomor {i} RW 05", activity="PJU-01", volume=2)
                 for i in range(5)]
    answers: list = []

    def support(pid: str, serial: int) -> None:
        try:
            answers.append(m.stub.SupportProposal(pb.SupportProposalRequest(proposal_id=pid, nik=nik(serial)), timeout=30))
        except grpc.RpcError as exc:
            answers.append(exc)

    # resident 7: ten times at once on the same proposal, and at once on all five (limit 3); 20 others once each
    burst = [(proposals[0].id, 7)] * 10 + [(p.id, 7) for p in proposals[1:]] + [(proposals[0].id, 200 + i) for i in range(20)]
    threads = [threading.Thread(target=support, args=args) for args in burst]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    refusals = [a for a in answers if isinstance(a, grpc.RpcError)]
    assert all(r.code() == grpc.StatusCode.FAILED_PRECONDITION for r in refusals), [r.details() for r in refusals]
    assert all(("nik", r.details()) in field_violations(r) for r in refusals)
    counts = {p.id: m.stub.GetProposal(pb.GetProposalRequest(id=p.id), timeout=10).proposal.support_count for p in proposals}
    assert counts[proposals[0].id] == 21  # resident 7 once, the 20 others once each
    assert sum(counts.values()) - 20 == 3  # resident 7: three supports in all, the limit
    check = m.stub.CheckResident(pb.CheckResidentRequest(nik=nik(7), kelurahan_code=GAMBIR), timeout=10)
    assert check.eligible and check.supports_left == 0


def test_refusals_name_the_field_the_stage_the_role_or_the_area(musrenbang):
    m = musrenbang
    e = refused(lambda: m.stub.SubmitProposal(pb.SubmitProposalRequest(
        nik="3171011201", title="Saluran air", problem="x", activity_code="DRN-01", volume=1,
        location=pb.Location(kelurahan_code=GAMBIR)), timeout=10), grpc.StatusCode.INVALID_ARGUMENT)
    assert [f for f, _ in field_violations(e)] == ["nik"]
    e = refused(lambda: m.stub.SubmitProposal(pb.SubmitProposalRequest(
        nik=nik(1, kecamatan="317102"), title="Saluran air di RW 05 Gambir", problem="Saluran tersumbat setiap hujan deras",
        activity_code="DRN-01", volume=1, location=pb.Location(kelurahan_code=GAMBIR)), timeout=10),
        grpc.StatusCode.PERMISSION_DENIED)
    assert "kecamatan" in e.details()
    e = refused(lambda: m.submit(activity="XXX-99"), grpc.StatusCode.INVALID_ARGUMENT)
    assert [f for f, _ in field_violations(e)] == ["activity_code"]

    p = m.submit()
    refused(lambda: m.stub.ReviewProposal(pb.ReviewProposalRequest(id=p.id, decision=pb.DECISION_VERIFY), timeout=10),
            grpc.StatusCode.UNAUTHENTICATED)
    e = refused(lambda: m.stub.ReviewProposal(pb.ReviewProposalRequest(id=p.id, decision=pb.DECISION_VERIFY),
                                              metadata=m.token("lurah", CIDENG), timeout=10), grpc.StatusCode.PERMISSION_DENIED)
    assert GAMBIR in e.details()
    e = refused(lambda: m.stub.ReviewProposal(pb.ReviewProposalRequest(id=p.id, decision=pb.DECISION_REJECT, reason="  "),
                                              metadata=m.token("lurah", GAMBIR), timeout=10), grpc.StatusCode.INVALID_ARGUMENT)
    assert [f for f, _ in field_violations(e)] == ["reason"]
    e = refused(lambda: m.stub.RunSelection(pb.RunSelectionRequest(kecamatan_code="31.71.01", budget=10**9),
                                            metadata=m.token("tim_kecamatan", "31.71.01"), timeout=10),
                grpc.StatusCode.FAILED_PRECONDITION)
    assert "Musrenbang Kecamatan" in e.details()

    m.enter("kota")  # the support stages are over
    e = refused(lambda: m.stub.SupportProposal(pb.SupportProposalRequest(proposal_id=p.id, nik=nik(2)), timeout=10),
                grpc.StatusCode.FAILED_PRECONDITION)
    assert "Musrenbang Kelurahan" in e.details()
    refused(lambda: m.stub.GetProposal(pb.GetProposalRequest(id="U-tidak-ada"), timeout=10), grpc.StatusCode.NOT_FOUND)


def test_complaints_filed_in_the_kelurahan_become_the_proposals_evidence(musrenbang, kafka_bootstrap):
    m = musrenbang
    p = m.submit()
    ensure_topics(kafka_bootstrap, [complaint_events.TOPIC])
    wait_consumed(kafka_bootstrap, m.group, complaint_events.TOPIC)  # what earlier tests filed is counted by now
    before = m.stub.GetProposal(pb.GetProposalRequest(id=p.id), timeout=10).proposal.evidence.complaint_count
    producer = RecordProducer(kafka_bootstrap)
    try:
        for n, (kelurahan, code) in enumerate([(GAMBIR, "flooding"), (GAMBIR, "drainage"), (GAMBIR, "waste"),
                                               (CIDENG, "flooding")]):
            payload = complaint_events.ComplaintSubmitted(
                complaint_id=str(uuid.uuid4()), channel="web", service_code=code, description="Genangan air",
                location=complaint_events.AreaRef(kelurahan_code=kelurahan), reporter_ref=f"r-{n}", anonymous=False,
                requested_at=m.clock.now - 30 * DAY)
            event = envelope.Event(type=payload.ce_type, source="/kota/test", subject=payload.complaint_id,
                                   data=payload.to_data())
            key, value, headers = envelope.encode(event, payload.complaint_id)
            producer.produce(complaint_events.TOPIC, key=key, value=value, headers=headers)
        producer.flush()
    finally:
        producer.close()

    def evidence() -> pb.Evidence | None:
        found = m.stub.GetProposal(pb.GetProposalRequest(id=p.id), timeout=10).proposal.evidence
        return found if found.complaint_count >= before + 2 else None

    found = wait_until(evidence, timeout=60)
    wait_consumed(kafka_bootstrap, m.group, complaint_events.TOPIC)  # the waste and Cideng's are handled too
    found = m.stub.GetProposal(pb.GetProposalRequest(id=p.id), timeout=10).proposal.evidence
    assert found.complaint_count == before + 2  # flooding and drainage in Gambir; not the waste, not Cideng's
    assert any("genangan" in s for s in found.summaries), list(found.summaries)


def test_a_duplicate_is_shown_on_submission_and_merging_keeps_each_residents_support_once(musrenbang):
    m = musrenbang
    first = m.submit(serial=1, lat=-6.1745, lon=106.8175, has_point=True)
    answer = m.stub.SubmitProposal(pb.SubmitProposalRequest(
        nik=nik(2), title="Perbaikan saluran drainase di RW 05", activity_code="DRN-01", volume=80,
        location=pb.Location(kelurahan_code=GAMBIR, rw="005", lat=-6.1747, lon=106.8177, has_point=True),
        problem="Saluran tersumbat dan dangkal, jalan tergenang setiap hujan deras."), timeout=10)
    assert [s.proposal_id for s in answer.similar] == [first.id]
    second = answer.proposal
    for pid in (first.id, second.id):
        m.stub.SupportProposal(pb.SupportProposalRequest(proposal_id=pid, nik=nik(3)), timeout=10)
    m.stub.SupportProposal(pb.SupportProposalRequest(proposal_id=second.id, nik=nik(4)), timeout=10)
    target = m.stub.MergeProposals(pb.MergeProposalsRequest(target_id=first.id, source_id=second.id),
                                   metadata=m.token("lurah", GAMBIR), timeout=10).target
    assert target.support_count == 2  # residents 3 (both) and 4
    merged = m.stub.GetProposal(pb.GetProposalRequest(id=second.id), timeout=10).proposal
    assert (merged.status, merged.merged_into) == ("merged", first.id)
