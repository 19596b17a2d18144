"""The planning cycle: Jakarta's calendar, open and closed stages named in the refusal, and which action belongs to
which stage."""

from datetime import date, datetime, timedelta, timezone

import pytest

from kota_musrenbang.domain.cycle import ACTION_STAGES, JAKARTA, Action, Level, PlanningCycle, StageWindow
from kota_musrenbang.domain.errors import DomainError, OutsideStageWindow

CYCLE = PlanningCycle.jakarta(2027)


def wib(*args) -> datetime:
    return datetime(*args, tzinfo=JAKARTA)


class TestJakartaCalendar:
    @pytest.mark.parametrize(
        "level, first, last",
        [
            (Level.RW, date(2027, 1, 1), date(2027, 1, 21)),
            (Level.KELURAHAN, date(2027, 1, 22), date(2027, 2, 7)),
            (Level.KECAMATAN, date(2027, 2, 8), date(2027, 2, 21)),
            (Level.KOTA, date(2027, 3, 22), date(2027, 3, 31)),
            (Level.PROVINSI, date(2027, 4, 8), date(2027, 4, 14)),
        ],
    )
    def test_stage_days_in_jakarta_time(self, level, first, last):
        window = CYCLE.stage(level)
        assert (window.first_day, window.last_day) == (first, last)

    def test_windows_are_utc_and_open_at_midnight_in_jakarta(self):
        window = CYCLE.stage(Level.KECAMATAN)
        assert window.opens == datetime(2027, 2, 7, 17, 0, tzinfo=timezone.utc)
        assert window.opens.utcoffset() == timedelta(0)

    def test_the_plan_is_for_the_next_year(self):
        assert CYCLE.plan_year == 2028

    def test_display_names(self):
        assert [lv.display_name for lv in Level] == [
            "Rembuk RW", "Musrenbang Kelurahan", "Musrenbang Kecamatan", "Musrenbang Kota", "Musrenbang Provinsi",
        ]


class TestOpenAndClosed:
    def test_inside_the_window(self):
        assert CYCLE.require_open(Level.KECAMATAN, wib(2027, 2, 8, 0, 0)).level is Level.KECAMATAN
        assert CYCLE.require_open(Level.KECAMATAN, wib(2027, 2, 21, 23, 59)).level is Level.KECAMATAN

    @pytest.mark.parametrize("at", [wib(2027, 2, 7, 23, 59), wib(2027, 2, 22, 0, 0), wib(2027, 6, 1)])
    def test_outside_names_the_stage_and_its_window(self, at):
        with pytest.raises(OutsideStageWindow) as err:
            CYCLE.require_open(Level.KECAMATAN, at)
        assert str(err.value) == "tahap Musrenbang Kecamatan dibuka 2027-02-08 s.d. 2027-02-21; sekarang di luar jadwal"
        assert err.value.stage is Level.KECAMATAN

    def test_active_stages(self):
        assert [s.level for s in CYCLE.active_stages(wib(2027, 1, 25))] == [Level.KELURAHAN]
        assert CYCLE.active_stages(wib(2027, 3, 1)) == []


class TestActions:
    def test_supports_during_kelurahan_and_kecamatan(self):
        assert CYCLE.require_action_open(Action.SUPPORT, wib(2027, 1, 25)).level is Level.KELURAHAN
        assert CYCLE.require_action_open(Action.SUPPORT, wib(2027, 2, 10)).level is Level.KECAMATAN

    def test_an_action_out_of_its_stages_names_them(self):
        with pytest.raises(OutsideStageWindow) as err:
            CYCLE.require_action_open(Action.SUBMIT, wib(2027, 2, 10))
        assert "Rembuk RW dibuka 2027-01-01 s.d. 2027-01-21" in str(err.value)
        assert "Musrenbang Kelurahan dibuka 2027-01-22 s.d. 2027-02-07" in str(err.value)
        assert err.value.stage is Level.RW

    def test_realisation_is_not_bound_to_a_stage(self):
        assert ACTION_STAGES[Action.REALISE] == ()
        assert CYCLE.require_action_open(Action.REALISE, wib(2028, 9, 1)) is None

    def test_every_action_has_its_stages(self):
        assert set(ACTION_STAGES) == set(Action)

    def test_submission_level_follows_the_stage(self):
        assert CYCLE.submission_level(wib(2027, 1, 5)) is Level.RW
        assert CYCLE.submission_level(wib(2027, 1, 30)) is Level.KELURAHAN


class TestDemo:
    def test_submit_support_and_verify_are_open_now(self):
        now = datetime(2026, 12, 7, 16, 20, tzinfo=timezone.utc)
        cycle = PlanningCycle.demo(now)
        for action in (Action.SUBMIT, Action.SUPPORT, Action.VERIFY):
            assert cycle.require_action_open(action, now).level is Level.KELURAHAN
        assert cycle.require_action_open(Action.SELECT, now + timedelta(days=12)).level is Level.KECAMATAN


class TestValidation:
    T = datetime(2027, 1, 1, tzinfo=timezone.utc)

    def test_opens_before_closes(self):
        with pytest.raises(DomainError):
            StageWindow(Level.RW, self.T, self.T)

    def test_aware_times_only(self):
        with pytest.raises(DomainError):
            StageWindow(Level.RW, datetime(2027, 1, 1), datetime(2027, 1, 2))

    def test_one_window_per_level(self):
        w = StageWindow(Level.RW, self.T, self.T + timedelta(days=1))
        with pytest.raises(DomainError, match="satu jadwal"):
            PlanningCycle(2027, (w, w))

    def test_windows_in_level_order(self):
        rw = StageWindow(Level.RW, self.T + timedelta(days=5), self.T + timedelta(days=6))
        kel = StageWindow(Level.KELURAHAN, self.T, self.T + timedelta(days=1))
        with pytest.raises(DomainError):
            PlanningCycle(2027, (kel, rw))
        with pytest.raises(DomainError, match="sebelum"):
            PlanningCycle(2027, (rw, kel))
