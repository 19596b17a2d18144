"""The proposal's lifecycle: each step by whom, where and from which status; refusals; history and events."""

from datetime import date, datetime, timedelta, timezone

import pytest

from kota_common.events import musrenbang as ev
from kota_common.reference import AreaDirectory
from kota_musrenbang.domain.catalog import JAKARTA_ACTIVITIES, activity_by_code
from kota_musrenbang.domain.cycle import Level
from kota_musrenbang.domain.errors import DomainError, InvalidTransition, NotPermitted
from kota_musrenbang.domain.model import TRANSITIONS, Location, Milestone, Proposal, Role, Staff, Status

T0 = datetime(2027, 1, 25, 3, 0, tzinfo=timezone.utc)
DRAINAGE = activity_by_code("DRN-01")
GAMBIR = Location("31.71.01.1001", "31.71.01", rw="3", rt="5", address="Jl. Kebon Kelapa No. 7", lat=-6.1754, lon=106.8272)

RT_RW = Staff("u-rw", Role.RT_RW, "31.71.01.1001", rw="003")
LURAH = Staff("u-lurah", Role.LURAH, "31.71.01.1001")
OTHER_LURAH = Staff("u-lurah2", Role.LURAH, "31.71.01.1002")
TIM = Staff("u-tim", Role.TIM_KECAMATAN, "31.71.01")
DSDA = Staff("u-dsda", Role.AGENCY_VERIFIER, "31", agency_code="DSDA")
DBM = Staff("u-dbm", Role.AGENCY_VERIFIER, "31", agency_code="DBM")
BAPPEDA = Staff("u-bappeda", Role.BAPPEDA, "31")


def new(id="U-1", location=GAMBIR, level=Level.KELURAHAN, **kw) -> Proposal:
    values = dict(
        id=id, cycle_year=2027, title="Perbaikan saluran air Jl. Kebon Kelapa",
        problem="Saluran tersumbat dan meluap setiap hujan deras, air masuk rumah warga", activity=DRAINAGE, volume=120,
        location=location, proposer_ref="w-0123456789", at=T0, level=level,
    )
    values.update(kw)
    return Proposal.submit_new(**values)


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def prioritised(**kw) -> Proposal:
    p = new(**kw)
    p.verify(LURAH, at(1), "lokasi dicek")
    p.prioritise(TIM, Level.KECAMATAN, 1, at(15))
    return p


def accepted(**kw) -> Proposal:
    p = prioritised(**kw)
    p.verify(DSDA, at(40), "layak")
    p.accept(BAPPEDA, at(75))
    return p


class TestCreation:
    def test_submission_records_history_and_event(self):
        p = new()
        assert p.status is Status.SUBMITTED and p.level is Level.KELURAHAN
        assert p.cost == 120 * 1_500_000
        assert [h.status for h in p.history] == [Status.DRAFT, Status.SUBMITTED]
        assert [type(e).__name__ for e in p.events] == ["ProposalSubmitted"]

    def test_a_draft_is_private(self):
        p = Proposal.draft(id="U-2", cycle_year=2027, title="Perbaikan saluran air", problem="Saluran tersumbat setiap hujan",
                           activity=DRAINAGE, volume=10, location=GAMBIR, proposer_ref="w-0123456789", at=T0)
        assert p.status is Status.DRAFT and p.events == []

    def test_the_submitted_event_names_no_one_and_goes_no_finer_than_the_rw(self):
        p = new(problem="Saluran meluap; hubungi saya 0812-3456-7890 atau NIK 3171011508900012")
        event = p.events[0]
        data = event.to_data()
        text = str(data)
        assert "proposer" not in text and "w-0123456789" not in text
        assert "Kebon Kelapa No. 7" not in text and "rt" not in data["location"]
        assert data["location"] == {"kelurahan_code": "31.71.01.1001", "kecamatan_code": "31.71.01", "kota_code": "31.71",
                                    "rw": "003", "lat": -6.1754, "lon": 106.8272}
        assert "0812" not in event.problem and "3171011508900012" not in event.problem

    @pytest.mark.parametrize(
        "change, field",
        [
            ({"title": "Saluran"}, "title"),
            ({"title": "x" * 121}, "title"),
            ({"problem": "banjir"}, "problem"),
            ({"volume": 0}, "volume"),
            ({"volume": -5}, "volume"),
            ({"volume": 2.5}, "volume"),
            ({"photo_url": "ftp://files.example/a.jpg"}, "photo_url"),
            ({"photo_url": "javascript:alert(1)"}, "photo_url"),
            ({"proposer_ref": "3171011508900012"}, "proposer_ref"),
            ({"level": Level.KECAMATAN}, "level"),
        ],
    )
    def test_refused_inputs_name_their_field(self, change, field):
        with pytest.raises(DomainError) as err:
            new(**change)
        assert err.value.field == field

    def test_an_https_photo_is_kept(self):
        assert new(photo_url="https://files.example/a.jpg").photo_url == "https://files.example/a.jpg"

    def test_location_codes_must_nest(self):
        with pytest.raises(DomainError) as err:
            Location("31.71.01.1001", "31.71.02")
        assert err.value.field == "location.kecamatan_code"
        with pytest.raises(DomainError):
            Location("3171011001", "31.71.01")

    def test_an_unknown_kelurahan_is_refused_given_the_area_directory(self):
        areas = AreaDirectory.load_jakarta()
        kelurahan = next(iter(areas.kelurahan()))
        known = Location(kelurahan.code, kelurahan.kecamatan_code)
        assert new(location=known, areas=areas).location.kelurahan_code == kelurahan.code
        with pytest.raises(DomainError, match="tidak dikenal"):
            new(location=Location("31.71.01.9999", "31.71.01"), areas=areas)

    def test_only_the_proposer_submits_their_draft(self):
        p = Proposal.draft(id="U-2", cycle_year=2027, title="Perbaikan saluran air", problem="Saluran tersumbat setiap hujan",
                           activity=DRAINAGE, volume=10, location=GAMBIR, proposer_ref="w-0123456789", at=T0)
        with pytest.raises(NotPermitted):
            p.submit("w-9999999999", T0)
        p.submit(RT_RW, T0, Level.RW)
        assert p.status is Status.SUBMITTED and p.level is Level.RW


class TestTheForums:
    def test_the_whole_path_to_done(self):
        p = new(level=Level.RW)
        p.verify(RT_RW, at(0), "disepakati rembuk RW")
        assert (p.status, p.level) == (Status.SUBMITTED, Level.KELURAHAN)
        p.verify(LURAH, at(1), "lokasi dicek")
        assert (p.status, p.level) == (Status.VERIFIED, Level.KECAMATAN)
        p.add_support(at(2))
        p.prioritise(TIM, Level.KECAMATAN, 3, at(15))
        assert (p.status, p.level, p.ranks) == (Status.PRIORITISED, Level.KOTA, {Level.KECAMATAN: 3})
        p.verify(DSDA, at(40), "layak teknis")
        p.prioritise(BAPPEDA, Level.KOTA, 12, at(58))
        assert p.level is Level.PROVINSI and p.technically_verified
        p.accept(BAPPEDA, at(75))
        p.start_realisation(DSDA, at(400))
        p.record_milestone(DSDA, Milestone("Galian", 40, date(2028, 5, 1)), at(470))
        p.record_milestone(DSDA, Milestone("Selesai", 100, date(2028, 6, 1), photo_url="https://f.example/p.jpg"), at(500))
        p.finish(DSDA, at(501))
        assert p.status is Status.DONE
        assert [h.status for h in p.history] == [
            Status.DRAFT, Status.SUBMITTED, Status.SUBMITTED, Status.VERIFIED, Status.PRIORITISED,
            Status.PRIORITISED, Status.PRIORITISED, Status.ACCEPTED, Status.IN_REALISATION, Status.IN_REALISATION,
            Status.IN_REALISATION, Status.DONE,
        ]
        kinds = [type(e).__name__ for e in p.events]
        assert kinds.count("MilestoneRecorded") == 2 and kinds.count("ProposalSupportCountChanged") == 1
        changes = [e for e in p.events if isinstance(e, ev.ProposalStatusChanged)]
        assert all(e.actor_role in {r.value for r in Role} for e in changes)
        assert not any("u-" in str(e.to_data()) for e in p.events)  # staff appear by role, never by id

    def test_the_lurah_acts_only_in_their_kelurahan(self):
        p = new()
        with pytest.raises(NotPermitted) as err:
            p.verify(OTHER_LURAH, at(1))
        assert err.value.needed_area == "31.71.01.1001"

    def test_the_rt_rw_acts_only_in_their_rw_and_only_at_the_rw(self):
        p = new(level=Level.RW)
        with pytest.raises(NotPermitted):
            p.verify(Staff("u-rw9", Role.RT_RW, "31.71.01.1001", rw="9"), at(0))
        q = new(id="U-2")
        with pytest.raises(InvalidTransition):
            q.verify(RT_RW, at(0))

    def test_the_kecamatan_team_acts_in_its_kecamatan_only(self):
        p = new()
        p.verify(LURAH, at(1))
        with pytest.raises(NotPermitted):
            p.prioritise(Staff("u-tim2", Role.TIM_KECAMATAN, "31.71.02"), Level.KECAMATAN, 1, at(15))

    def test_the_agency_verifies_only_its_own_works(self):
        p = prioritised()
        with pytest.raises(NotPermitted) as err:
            p.verify(DBM, at(40))
        assert "DSDA" in str(err.value)
        p.verify(DSDA, at(40))
        with pytest.raises(InvalidTransition):
            p.verify(DSDA, at(41))

    @pytest.mark.parametrize("staff", [LURAH, TIM, DSDA, RT_RW])
    def test_only_bappeda_accepts(self, staff):
        p = prioritised()
        p.verify(DSDA, at(40))
        with pytest.raises(NotPermitted) as err:
            p.accept(staff, at(75))
        assert err.value.needed_roles == ("bappeda",)

    def test_acceptance_needs_the_agencys_technical_verification(self):
        p = prioritised()
        with pytest.raises(InvalidTransition, match="verifikasi teknis|diverifikasi teknis"):
            p.accept(BAPPEDA, at(75))

    def test_the_lurah_cannot_prioritise(self):
        p = new()
        p.verify(LURAH, at(1))
        with pytest.raises(NotPermitted):
            p.prioritise(LURAH, Level.KECAMATAN, 1, at(15))

    def test_bappeda_ranks_only_at_kota_and_provinsi(self):
        p = new()
        p.verify(LURAH, at(1))
        with pytest.raises(NotPermitted):
            p.prioritise(BAPPEDA, Level.KECAMATAN, 1, at(15))

    def test_a_submitted_proposal_cannot_skip_verification(self):
        with pytest.raises(InvalidTransition):
            new().prioritise(TIM, Level.KECAMATAN, 1, at(15))


class TestRefusalsNeedReasons:
    @pytest.mark.parametrize("reason", ["", "   ", "\n"])
    def test_rejection_needs_a_reason(self, reason):
        p = new()
        with pytest.raises(DomainError) as err:
            p.reject(LURAH, reason, at(1))
        assert err.value.field == "reason"
        assert p.status is Status.SUBMITTED

    def test_rejection_records_why(self):
        p = new()
        p.reject(LURAH, "lahan milik swasta", at(1))
        assert p.status is Status.REJECTED and p.history[-1].reason == "lahan milik swasta"
        assert p.events[-1].reason == "lahan milik swasta" and p.events[-1].actor_role == "lurah"

    def test_the_forum_deciding_rejects(self):
        p = new()
        p.verify(LURAH, at(1))
        with pytest.raises(NotPermitted):
            p.reject(LURAH, "terlambat", at(15))
        p.reject(TIM, "tidak masuk pagu", at(15))

    def test_a_rejected_proposal_stays_rejected(self):
        p = new()
        p.reject(LURAH, "lahan milik swasta", at(1))
        with pytest.raises(InvalidTransition):
            p.verify(LURAH, at(2))

    def test_not_realised_needs_a_reason(self):
        p = accepted()
        with pytest.raises(DomainError):
            p.mark_not_realised(DSDA, " ", at(400))
        p.mark_not_realised(DSDA, "anggaran dipotong", at(400))
        assert p.status is Status.NOT_REALISED


class TestRealisation:
    def test_finishing_needs_a_last_milestone_at_100(self):
        p = accepted()
        p.start_realisation(BAPPEDA, at(400))
        with pytest.raises(InvalidTransition):
            p.finish(DSDA, at(401))
        p.record_milestone(DSDA, Milestone("Galian", 60, date(2028, 5, 1)))
        with pytest.raises(InvalidTransition):
            p.finish(DSDA, at(402))

    def test_progress_does_not_go_back(self):
        p = accepted()
        p.start_realisation(DSDA, at(400))
        p.record_milestone(DSDA, Milestone("Galian", 60, date(2028, 5, 1)))
        with pytest.raises(DomainError):
            p.record_milestone(DSDA, Milestone("Ulang", 50, date(2028, 5, 2)))

    def test_milestones_only_while_works_run(self):
        with pytest.raises(InvalidTransition):
            accepted().record_milestone(DSDA, Milestone("Galian", 10, date(2028, 5, 1)))

    @pytest.mark.parametrize("percent", [-1, 101])
    def test_progress_is_a_percentage(self, percent):
        with pytest.raises(DomainError):
            Milestone("Galian", percent, date(2028, 5, 1))


class TestMerging:
    def test_the_source_follows_the_target(self):
        target, source = new(id="U-1"), new(id="U-2")
        source.merge_into(target, LURAH, at(3), support_count=7)
        assert source.status is Status.MERGED and source.merged_into == "U-1"
        assert target.support_count == 7 and target.history[-1].reason == "menerima gabungan U-2"
        merged = source.events[-1]
        assert isinstance(merged, ev.ProposalsMerged) and merged.support_count == 7

    def test_merging_across_kelurahan_needs_the_kecamatan_team(self):
        target = new(id="U-1")
        source = new(id="U-2", location=Location("31.71.01.1002", "31.71.01"))
        with pytest.raises(NotPermitted):
            source.merge_into(target, LURAH, at(3))
        source.merge_into(target, TIM, at(3))

    def test_not_into_itself_nor_into_a_rejected_one(self):
        p = new()
        with pytest.raises(DomainError):
            p.merge_into(p, LURAH, at(3))
        rejected = new(id="U-3")
        rejected.reject(LURAH, "duplikat lama", at(1))
        with pytest.raises(InvalidTransition):
            new(id="U-4").merge_into(rejected, LURAH, at(3))


def test_every_status_has_its_transitions():
    assert set(TRANSITIONS) == set(Status)


def test_the_catalogue_is_consistent():
    codes = [a.code for a in JAKARTA_ACTIVITIES]
    assert len(codes) == len(set(codes)) and len(codes) >= 15
    assert all(a.unit_cost > 0 for a in JAKARTA_ACTIVITIES)


@pytest.mark.parametrize("raw, normal", [("3", "003"), ("03", "003"), ("RW 003", "003"), ("", "")])
def test_rw_numbers_are_normalised(raw, normal):
    assert Location("31.71.01.1001", "31.71.01", rw=raw).rw == normal


@pytest.mark.parametrize("change, field", [({"rw": "0"}, "location.rw"), ({"rt": "1234"}, "location.rt"), ({"rt": "x"}, "location.rt")])
def test_bad_rw_or_rt_names_its_field(change, field):
    with pytest.raises(DomainError) as err:
        Location("31.71.01.1001", "31.71.01", **change)
    assert err.value.field == field
