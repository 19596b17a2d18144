"""The partnership's lifecycle, its history, and the merge that keeps two cities' registries in step."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from kota_collab.domain.errors import DomainError, HistoriesDiverge, InvalidTransition, NotPermitted
from kota_collab.domain.model import City, Decision, FocusArea, Kind, Partnership, Status

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
JAKARTA = City("jakarta", "Provinsi DKI Jakarta", "ID", "DKI Jakarta", ascn_member=True, home=True)
MAKASSAR = City("makassar", "Kota Makassar", "ID", "Sulawesi Selatan", ascn_member=True, endpoint="127.0.0.1:50156")
SEOUL = City("seoul", "Seoul", "KR")


def proposal(partner: City = MAKASSAR, **kw) -> Partnership:
    return Partnership.start("p-1", kw.pop("kind", Kind.TECHNICAL_COOPERATION), "Berbagi sistem pengaduan",
                             (FocusArea.CIVIC_SOCIAL,), JAKARTA, [partner], actor="staff:DISKOMINFOTIK", at=T0, **kw)


def test_a_proposal_starts_the_history_with_the_proposing_city():
    p = proposal()
    assert p.status is Status.PROPOSED and p.proposer == "jakarta" and p.federated
    assert [(h.seq, h.status, h.city_id) for h in p.history] == [(1, Status.PROPOSED, "jakarta")]
    assert p.scope == "domestic" and [c.entry.seq for c in p.changes] == [1]


def test_the_whole_lifecycle_is_recorded_step_by_step():
    p = proposal()
    p.decide(Decision.ACCEPT, city_id="makassar", actor="admin", at=T0 + timedelta(days=1))
    p.decide(Decision.SIGN, city_id="jakarta", actor="admin", at=T0 + timedelta(days=2), signed_on=date(2026, 12, 3),
             document_url="https://jakarta.go.id/mou.pdf", valid_until=date(2029, 12, 3))
    p.decide(Decision.ACTIVATE, city_id="jakarta", actor="admin", at=T0 + timedelta(days=3))
    p.decide(Decision.RENEW, city_id="makassar", actor="admin", at=T0 + timedelta(days=4), valid_until=date(2032, 1, 1))
    p.decide(Decision.END, city_id="makassar", actor="admin", at=T0 + timedelta(days=5), note="selesai")
    assert [h.status.value for h in p.history] == ["proposed", "negotiating", "signed", "active", "renewed", "ended"]
    assert p.signed_on == date(2026, 12, 3) and p.valid_until == date(2032, 1, 1)
    assert p.document_url == "https://jakarta.go.id/mou.pdf"


def test_the_proposer_cannot_accept_its_own_proposal():
    with pytest.raises(NotPermitted):
        proposal().decide(Decision.ACCEPT, city_id="jakarta", actor="admin", at=T0)


def test_a_partners_answer_outside_the_federation_is_recorded_by_this_citys_staff():
    p = proposal(SEOUL, kind=Kind.MOU)
    p.decide(Decision.ACCEPT, city_id="jakarta", actor="admin", at=T0, note="Seoul agreed by letter")
    assert p.status is Status.NEGOTIATING and not p.federated


def test_a_city_outside_the_partnership_cannot_decide():
    with pytest.raises(NotPermitted):
        proposal().decide(Decision.ACCEPT, city_id="surabaya", actor="admin", at=T0)


@pytest.mark.parametrize("decision", [Decision.SIGN, Decision.ACTIVATE, Decision.RENEW, Decision.END, Decision.EXPIRE])
def test_a_proposal_cannot_skip_acceptance(decision):
    with pytest.raises(InvalidTransition):
        proposal().decide(decision, city_id="makassar", actor="admin", at=T0, signed_on=date(2026, 1, 1),
                          valid_until=date(2030, 1, 1))


def test_a_declined_partnership_is_over():
    p = proposal()
    p.decide(Decision.DECLINE, city_id="makassar", actor="admin", at=T0, note="belum prioritas")
    with pytest.raises(InvalidTransition):
        p.decide(Decision.ACCEPT, city_id="makassar", actor="admin", at=T0)


def test_signing_needs_its_date_and_renewal_its_end_date():
    p = proposal()
    p.decide(Decision.ACCEPT, city_id="makassar", actor="admin", at=T0)
    with pytest.raises(DomainError) as refused:
        p.decide(Decision.SIGN, city_id="jakarta", actor="admin", at=T0)
    assert refused.value.field == "signed_on"
    p.decide(Decision.SIGN, city_id="jakarta", actor="admin", at=T0, signed_on=date(2026, 12, 2))
    p.decide(Decision.ACTIVATE, city_id="jakarta", actor="admin", at=T0)
    with pytest.raises(DomainError) as refused:
        p.decide(Decision.RENEW, city_id="jakarta", actor="admin", at=T0)
    assert refused.value.field == "valid_until"


def test_an_existing_sister_city_is_recorded_as_it_stands_with_unknown_dates_left_empty():
    p = Partnership.start("p-2", Kind.SISTER_CITY, "Jakarta - Seoul", (), JAKARTA, [SEOUL], actor="admin", at=T0,
                          status=Status.ACTIVE)
    assert p.status is Status.ACTIVE and p.scope == "foreign" and p.signed_on is None and not p.federated


def test_a_sister_city_is_foreign_and_a_federated_partnership_starts_as_a_proposal():
    with pytest.raises(DomainError) as refused:
        proposal(kind=Kind.SISTER_CITY)
    assert refused.value.field == "kind"
    with pytest.raises(DomainError) as refused:
        proposal(status=Status.ACTIVE)
    assert refused.value.field == "status"


def test_bad_input_names_its_field():
    with pytest.raises(DomainError) as refused:
        Partnership.start("p", Kind.MOU, " ", (), JAKARTA, [SEOUL], actor="admin", at=T0)
    assert refused.value.field == "title"
    with pytest.raises(DomainError) as refused:
        Partnership.start("p", Kind.MOU, "x", (), JAKARTA, [JAKARTA], actor="admin", at=T0)
    assert refused.value.field == "partner_city_ids"
    with pytest.raises(DomainError) as refused:
        City("Bad City", "x", "ID")
    assert refused.value.field == "id"


# -- federation: two registries converge --------------------------------------------------------------------
def test_the_partner_records_a_proposal_and_both_converge_on_its_acceptance():
    ours = proposal()
    theirs = Partnership.received(ours, "jakarta", "makassar")
    assert theirs.history == ours.history and [c.origin for c in theirs.changes] == ["partner"]
    theirs.decide(Decision.ACCEPT, city_id="makassar", actor="admin", at=T0 + timedelta(hours=1))
    ours.changes.clear()
    assert ours.merge(theirs, "makassar") is True
    assert ours.history == theirs.history and ours.status is Status.NEGOTIATING
    assert [(c.entry.seq, c.origin) for c in ours.changes] == [(2, "partner")]


def test_a_repeated_or_late_message_changes_nothing():
    ours = proposal()
    theirs = Partnership.received(ours, "jakarta", "makassar")
    stale = replace(theirs, history=list(theirs.history))
    theirs.decide(Decision.ACCEPT, city_id="makassar", actor="admin", at=T0)
    ours.merge(theirs, "makassar")
    before = list(ours.history)
    ours.changes.clear()
    assert ours.merge(theirs, "makassar") is False
    assert ours.merge(stale, "makassar") is False
    assert ours.history == before and ours.changes == []


def test_diverging_histories_are_refused():
    ours = proposal()
    theirs = Partnership.received(ours, "jakarta", "makassar")
    theirs.decide(Decision.DECLINE, city_id="makassar", actor="admin", at=T0)
    other = Partnership.received(proposal(), "jakarta", "makassar")
    other.decide(Decision.ACCEPT, city_id="makassar", actor="admin", at=T0)
    ours.merge(theirs, "makassar")
    with pytest.raises(HistoriesDiverge):
        ours.merge(other, "makassar")


def test_a_city_speaks_only_for_itself():
    ours = proposal()
    forged = Partnership.received(ours, "jakarta", "makassar")
    forged.decide(Decision.ACCEPT, city_id="makassar", actor="admin", at=T0)
    with pytest.raises(NotPermitted):
        Partnership.received(ours, "makassar", "jakarta")  # makassar sending jakarta's proposal as its own
    with pytest.raises(NotPermitted):
        ours.merge(forged, "bandung")


def test_an_activity_cannot_end_before_it_starts_or_end_without_a_start():
    from kota_collab.domain.model import Activity, ActivityKind

    Activity("a", "p-1", ActivityKind.VISIT_VIRTUAL, "Kunjungan virtual", date(2022, 3, 17), date(2022, 3, 17))
    with pytest.raises(DomainError) as refused:
        Activity("a", "p-1", ActivityKind.WORKSHOP, "Lokakarya", date(2022, 3, 17), date(2022, 3, 16))
    assert refused.value.field == "ends_on"
    with pytest.raises(DomainError) as refused:
        Activity("a", "p-1", ActivityKind.WORKSHOP, "Lokakarya", None, date(2022, 3, 16))
    assert refused.value.field == "starts_on"
