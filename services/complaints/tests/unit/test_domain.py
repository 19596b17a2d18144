"""Domain rules of complaints: routing, lifecycle, duplicates, SLA clock. No I/O."""

from datetime import datetime, timedelta, timezone

import pytest

from kota_complaints.domain.model import (
    Agency,
    Area,
    Assignment,
    AttributeDef,
    Channel,
    Complaint,
    DomainError,
    InvalidTransition,
    Policy,
    RoutingRule,
    RoutingTable,
    ServiceCategory,
    Status,
    distance_m,
    escalation_target,
    find_duplicate,
)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
FLOOD = ServiceCategory("flooding", "Banjir", "", "Air", "DSDA", sla_hours=24)
ROAD = ServiceCategory(
    "road_damage", "Jalan rusak", "", "Jalan", "DBM", sla_hours=72,
    attributes=(AttributeDef("severity", "singlevaluelist", True, "", ("ringan", "sedang", "berat")),),
)
OTHER = ServiceCategory("other", "Lainnya", "", "", "KOMINFO", sla_hours=120)
AGENCIES = {c: Agency(c, f"Dinas {c}", c) for c in ("DSDA", "DBM", "DLH", "KOMINFO")}
TABLE = RoutingTable(
    agencies=AGENCIES,
    categories={c.code: c for c in (FLOOD, ROAD, OTHER)},
    rules=[
        RoutingRule("flooding", "DSDA", "Suku Dinas SDA {kota}"),
        RoutingRule("flooding", "DLH", "Unit khusus Seribu", kota_code="31.01"),
        RoutingRule("road_damage", "DBM", "Satgas Jalan Kecamatan {kecamatan}"),
    ],
    default_agency="KOMINFO",
)
SELATAN = Area(lat=-6.2615, lon=106.8106, kecamatan="Cilandak", kota_code="31.74", kota="Jakarta Selatan")


def new(category=FLOOD, area=SELATAN, at=T0, id="C1", **kw) -> Complaint:
    return Complaint.submit(
        id=id, channel=Channel.APP, category=category, description="air setinggi lutut", area=area,
        reporter_ref="ref-1", anonymous=False, now=at, **kw,
    )


def routed(**kw) -> Complaint:
    c = new(**kw)
    c.route(TABLE.route(c.service_code, c.area), FLOOD.sla_hours, T0)
    return c


class TestRouting:
    def test_category_and_kota_to_the_kota_unit(self):
        assert TABLE.route("flooding", SELATAN) == Assignment("DSDA", "Suku Dinas SDA Jakarta Selatan")

    def test_kota_specific_rule_wins_over_general(self):
        seribu = Area(kota_code="31.01", kota="Kepulauan Seribu")
        assert TABLE.route("flooding", seribu) == Assignment("DLH", "Unit khusus Seribu")

    def test_unit_by_kecamatan(self):
        assert TABLE.route("road_damage", SELATAN).unit == "Satgas Jalan Kecamatan Cilandak"

    def test_unknown_area_goes_to_the_agency_headquarters(self):
        assert TABLE.route("flooding", Area(address="dekat masjid")) == Assignment("DSDA", "Suku Dinas SDA (pusat)")

    def test_category_without_rule_goes_to_its_agency(self):
        assert TABLE.route("other", SELATAN).agency_code == "KOMINFO"


class TestLifecycle:
    def test_submission_records_history_and_event(self):
        c = new()
        assert c.status is Status.RECEIVED
        assert [type(e).__name__ for e in c.events] == ["ComplaintSubmitted"]

    def test_routing_sets_agency_and_due_time(self):
        c = routed()
        assert c.status is Status.ROUTED and c.agency_code == "DSDA"
        assert c.due_at == T0 + timedelta(hours=24)

    def test_full_path_to_closed(self):
        c = routed()
        c.change_status(Status.IN_PROGRESS, "staff:DSDA", "", T0 + timedelta(hours=1))
        c.change_status(Status.RESOLVED, "staff:DSDA", "pompa dinyalakan", T0 + timedelta(hours=3))
        c.change_status(Status.CLOSED, "staff:DSDA", "", T0 + timedelta(hours=4))
        assert [h.status for h in c.history if h.kind == "status"] == [
            Status.RECEIVED, Status.ROUTED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED,
        ]
        resolved = [e for e in c.events if getattr(e, "to_status", "") == "resolved"][0]
        assert resolved.resolution_seconds == 3 * 3600

    @pytest.mark.parametrize(
        "path, bad",
        [((), Status.CLOSED), ((Status.IN_PROGRESS,), Status.ROUTED), ((Status.REJECTED, Status.CLOSED), Status.IN_PROGRESS)],
    )
    def test_illegal_transitions_are_refused(self, path, bad):
        c = routed()
        for step in path:
            c.change_status(step, "staff", "alasan", T0)
        with pytest.raises(InvalidTransition):
            c.change_status(bad, "staff", "alasan", T0)

    def test_resolving_needs_a_note(self):
        c = routed()
        with pytest.raises(DomainError) as err:
            c.change_status(Status.RESOLVED, "staff", " ", T0)
        assert err.value.field == "note"

    def test_reopen_within_window(self):
        c = routed()
        c.change_status(Status.RESOLVED, "staff", "selesai", T0 + timedelta(hours=1))
        c.reopen("masih banjir", T0 + timedelta(days=2), Policy(reopen_window=timedelta(days=7)))
        assert c.status is Status.ROUTED and c.resolved_at is None

    def test_reopen_after_window_is_refused(self):
        c = routed()
        c.change_status(Status.RESOLVED, "staff", "selesai", T0)
        with pytest.raises(InvalidTransition, match="window"):
            c.reopen("masih banjir", T0 + timedelta(days=8), Policy(reopen_window=timedelta(days=7)))

    def test_rating_only_once_and_only_when_resolved(self):
        c = routed()
        with pytest.raises(InvalidTransition):
            c.rate(5, T0)
        c.change_status(Status.RESOLVED, "staff", "selesai", T0)
        with pytest.raises(DomainError):
            c.rate(6, T0)
        c.rate(4, T0)
        with pytest.raises(InvalidTransition):
            c.rate(5, T0)

    def test_required_attribute(self):
        with pytest.raises(DomainError) as err:
            new(category=ROAD)
        assert err.value.field == "attributes.severity"
        with pytest.raises(DomainError):
            new(category=ROAD, attributes={"severity": "parah"})
        assert new(category=ROAD, attributes={"severity": "berat"}).attributes == {"severity": "berat"}

    def test_events_carry_no_contact_and_scrub_free_text(self):
        c = Complaint.submit(
            id="C9", channel=Channel.SMS, category=FLOOD, description="hubungi 0812-3456-7890 atau a@b.id",
            area=SELATAN, reporter_ref="opaque", anonymous=False, now=T0,
        )
        data = c.events[0].to_data()
        assert "0812" not in data["description"] and "a@b.id" not in data["description"]
        assert data["reporter_ref"] == "opaque"
        assert c.description.startswith("hubungi 0812")  # kept intact inside the service for the agency


class TestDuplicates:
    def near(self, meters_north: float) -> Area:
        return Area(lat=SELATAN.lat + meters_north / 111_320, lon=SELATAN.lon, kota="Jakarta Selatan", kota_code="31.74")

    def test_same_category_within_radius_and_window_is_linked(self):
        master = routed()
        dup = new(id="C2", area=self.near(80), at=T0 + timedelta(hours=5))
        assert find_duplicate(dup, [master], Policy(duplicate_radius_m=100)) is master
        dup.link_to(master, T0 + timedelta(hours=5))
        assert master.supporters_count == 1 and dup.duplicate_of == "C1" and dup.agency_code == "DSDA"

    def test_outside_radius_is_not_a_duplicate(self):
        assert distance_m(SELATAN.lat, SELATAN.lon, self.near(150).lat, SELATAN.lon) == pytest.approx(150, rel=0.01)
        assert find_duplicate(new(id="C2", area=self.near(150)), [routed()], Policy(duplicate_radius_m=100)) is None

    def test_outside_window_or_other_category_or_closed_is_not_a_duplicate(self):
        policy = Policy(duplicate_radius_m=100, duplicate_window=timedelta(hours=72))
        late = new(id="C2", area=self.near(10), at=T0 + timedelta(hours=73))
        assert find_duplicate(late, [routed()], policy) is None
        road = new(id="C3", category=ROAD, area=self.near(10), attributes={"severity": "ringan"})
        assert find_duplicate(road, [routed()], policy) is None
        done = routed()
        done.change_status(Status.RESOLVED, "staff", "ok", T0)
        assert find_duplicate(new(id="C4", area=self.near(10)), [done], policy) is None

    def test_nearest_open_complaint_wins(self):
        far, near = routed(id="A", area=self.near(90)), routed(id="B", area=self.near(20))
        assert find_duplicate(new(id="C5"), [far, near], Policy()) is near

    def test_duplicate_follows_master_status(self):
        master = routed()
        dup = new(id="C2", area=self.near(5))
        dup.link_to(master, T0)
        master.change_status(Status.RESOLVED, "staff", "selesai", T0 + timedelta(hours=2))
        dup.follow(master, T0 + timedelta(hours=2))
        assert dup.status is Status.RESOLVED and dup.resolved_at == master.resolved_at


class TestSlaClock:
    def test_not_overdue_before_due(self):
        c = routed()
        assert not c.is_overdue(T0 + timedelta(hours=23, minutes=59))
        assert c.is_overdue(T0 + timedelta(hours=24, seconds=1))

    def test_breach_escalates_and_sets_next_deadline(self):
        c = routed()
        at = T0 + timedelta(hours=25)
        c.breach_sla(at, "Kepala Dinas DSDA", 24, Policy(escalation_extension_ratio=0.5))
        assert c.sla_breached and c.escalation_level == 1
        assert c.due_at == at + timedelta(hours=12)
        assert c.events[-1].escalated_to == "Kepala Dinas DSDA"
        assert not c.is_overdue(at + timedelta(hours=1))

    def test_resolved_complaints_are_never_overdue(self):
        c = routed()
        c.change_status(Status.RESOLVED, "staff", "ok", T0 + timedelta(hours=1))
        assert not c.is_overdue(T0 + timedelta(days=30))
        with pytest.raises(DomainError):
            c.breach_sla(T0 + timedelta(days=30), "x", 24, Policy())

    def test_escalation_chain(self):
        assert escalation_target(1, AGENCIES["DSDA"], SELATAN) == "Kepala Dinas DSDA"
        assert escalation_target(2, AGENCIES["DSDA"], SELATAN) == "Wali Kota Jakarta Selatan"
        assert escalation_target(3, AGENCIES["DSDA"], SELATAN) == "Sekretaris Daerah Provinsi"


def test_a_changed_complaint_is_written_back_whole():
    """The repository's UPDATE sets every column it maps from the aggregate, so no change is left unwritten."""
    from kota_complaints.adapters.repository import UPDATED_COLUMNS, ComplaintRepository

    assert set(UPDATED_COLUMNS) == set(ComplaintRepository._columns(routed())) - {"id"}
