"""Supports (who, how often) and finding proposals that ask for the same works."""

from datetime import datetime, timedelta, timezone

import pytest

from kota_musrenbang.domain.catalog import activity_by_code
from kota_musrenbang.domain.duplicates import find_similar, normalise
from kota_musrenbang.domain.errors import DomainError, InvalidTransition, SupportLimitReached
from kota_musrenbang.domain.model import Location, Proposal, Role, Staff
from kota_musrenbang.domain.supports import SupportPolicy, check_can_support, merge_supports

T0 = datetime(2027, 1, 25, 3, 0, tzinfo=timezone.utc)
LURAH = Staff("u-lurah", Role.LURAH, "31.71.01.1001")
HERE = Location("31.71.01.1001", "31.71.01", rw="3", lat=-6.1754, lon=106.8272)


def proposal(id="U-1", title="Perbaikan saluran air Jl. Kebon Kelapa",
             problem="Saluran tersumbat dan meluap setiap hujan deras", activity="DRN-01", location=HERE,
             cycle_year=2027) -> Proposal:
    return Proposal.submit_new(id=id, cycle_year=cycle_year, title=title, problem=problem,
                               activity=activity_by_code(activity), volume=50, location=location,
                               proposer_ref="w-0123456789", at=T0)


class TestSupports:
    policy = SupportPolicy(limit_per_cycle=10)

    def test_a_resident_of_the_area_with_supports_left(self):
        self.policy.check_can_support(proposal(), True, 9, False)

    def test_the_tenth_support_is_the_last(self):
        with pytest.raises(SupportLimitReached) as err:
            self.policy.check_can_support(proposal(), True, 10, False)
        assert err.value.limit == 10 and "10 usulan" in str(err.value)

    def test_once_per_proposal(self):
        with pytest.raises(DomainError, match="sudah mendukung"):
            self.policy.check_can_support(proposal(), True, 1, True)

    def test_only_residents_of_the_kecamatan(self):
        with pytest.raises(DomainError) as err:
            self.policy.check_can_support(proposal(), False, 0, False)
        assert err.value.field == "nik"

    def test_not_once_it_is_decided(self):
        p = proposal()
        p.reject(LURAH, "di luar kewenangan", T0)
        with pytest.raises(InvalidTransition):
            self.policy.check_can_support(p, True, 0, False)
        with pytest.raises(InvalidTransition):
            p.add_support(T0)

    def test_the_module_function_takes_the_limit(self):
        with pytest.raises(SupportLimitReached):
            check_can_support(proposal(), True, 3, False, limit=3)

    def test_withdrawal_needs_a_support(self):
        p = proposal()
        with pytest.raises(DomainError):
            p.withdraw_support(T0)
        p.add_support(T0)
        p.withdraw_support(T0 + timedelta(minutes=1))
        assert p.support_count == 0
        assert [e.support_count for e in p.events[1:]] == [1, 0]

    def test_merged_supporters_count_each_resident_once(self):
        assert merge_supports({"a", "b"}, {"b", "c"}) == {"a", "b", "c"}


class TestDuplicates:
    def test_normalisation(self):
        assert normalise("Perbaikan JL. Kebon-Kelapa, RT 05 di Gg. Mawar!") == "perbaikan jalan kebon kelapa gang mawar"

    def test_same_works_nearby_are_found_with_reasons(self):
        candidate = proposal("U-9", title="Saluran air tersumbat di Jalan Kebon Kelapa",
                             problem="Setiap hujan deras saluran meluap dan tersumbat",
                             location=Location("31.71.01.1002", "31.71.01", lat=-6.1760, lon=106.8275))
        found = find_similar(candidate, [proposal()])
        assert [s.proposal_id for s in found] == ["U-1"]
        (similar,) = found
        assert similar.similarity >= 70 and similar.distance_km is not None and similar.distance_km < 0.1
        assert any(r.startswith("berjarak") for r in similar.reasons)
        assert any(r.startswith("kegiatan sama") for r in similar.reasons)

    def test_far_away_is_not_a_duplicate(self):
        far = Location("31.74.01.1001", "31.74.01", lat=-6.30, lon=106.80)
        assert find_similar(proposal("U-9", location=far), [proposal()]) == []

    def test_the_same_kelurahan_counts_as_near_without_points(self):
        pointless = Location("31.71.01.1001", "31.71.01")
        found = find_similar(proposal("U-9", location=pointless), [proposal()])
        assert found[0].distance_km is None and found[0].reasons[0].startswith("kelurahan sama")

    def test_different_works_are_not_duplicates(self):
        other = proposal("U-2", title="Pelatihan UMKM untuk ibu-ibu PKK", problem="Banyak warga ingin memulai usaha kuliner",
                         activity="EKO-01")
        assert find_similar(proposal("U-9"), [other]) == []

    def test_most_similar_first_and_rejected_or_other_cycles_ignored(self):
        exact = proposal("U-2")
        looser = proposal("U-3", title="Saluran air Kebon Kelapa", problem="Saluran tersumbat, mohon dikeruk dan diperbaiki")
        rejected = proposal("U-4")
        rejected.reject(LURAH, "sudah ada", T0)
        last_year = proposal("U-5", cycle_year=2026)
        found = find_similar(proposal("U-9"), [looser, rejected, exact, last_year])
        assert [s.proposal_id for s in found] == ["U-2", "U-3"]
        assert found[0].similarity == 100
