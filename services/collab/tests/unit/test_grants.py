"""Data-sharing agreements: what a partner may read, until when, and what it is told when it may not."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from kota_collab.domain.errors import DomainError, InvalidTransition, NotGranted
from kota_collab.domain.model import (
    Agreement,
    City,
    Decision,
    Kind,
    Partnership,
    Status,
    Stream,
    grant_for_dataset,
    grant_for_stream,
    shared_datasets,
)

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
JAKARTA = City("jakarta", "Provinsi DKI Jakarta", "ID", home=True)
MAKASSAR = City("makassar", "Kota Makassar", "ID", endpoint="127.0.0.1:50156")


def active_partnership() -> Partnership:
    p = Partnership.start("p-1", Kind.TECHNICAL_COOPERATION, "Data banjir", (), JAKARTA, [MAKASSAR], actor="admin", at=T0)
    p.decide(Decision.ACCEPT, city_id="makassar", actor="admin", at=T0)
    p.decide(Decision.SIGN, city_id="jakarta", actor="admin", at=T0, signed_on=date(2026, 12, 1))
    p.decide(Decision.ACTIVATE, city_id="jakarta", actor="admin", at=T0)
    return p


def agreement(p: Partnership, until: date | None = date(2026, 12, 31), **kw) -> Agreement:
    return Agreement.grant("a-1", p, "makassar", kw.pop("datasets", ["kualitas-udara"]),
                           kw.pop("streams", [Stream.FLOOD_ALERTS]), until, actor="admin", at=T0)


def test_a_granted_stream_names_its_agreement_until_its_last_day():
    p = active_partnership()
    a = agreement(p)
    on_last_day = datetime(2026, 12, 31, 23, 0, tzinfo=timezone.utc)
    grant = grant_for_stream([a], {p.id: p}, "makassar", Stream.FLOOD_ALERTS, on_last_day)
    assert (grant.agreement_id, grant.partnership_id) == ("a-1", "p-1")
    with pytest.raises(NotGranted) as refused:
        grant_for_stream([a], {p.id: p}, "makassar", Stream.FLOOD_ALERTS, on_last_day + timedelta(hours=2))
    assert "expired on 2026-12-31" in refused.value.message


def test_a_stream_not_granted_is_refused_by_name():
    p = active_partnership()
    with pytest.raises(NotGranted) as refused:
        grant_for_stream([agreement(p)], {p.id: p}, "makassar", Stream.AIR_QUALITY_ALERTS, T0)
    assert refused.value.field == "stream air-quality-alerts"
    assert "no agreement grants makassar the stream air-quality-alerts" in refused.value.message


def test_another_city_cannot_use_a_partners_agreement():
    p = active_partnership()
    with pytest.raises(NotGranted):
        grant_for_dataset([agreement(p)], {p.id: p}, "bandung", "kualitas-udara", T0)


def test_revoking_ends_the_grant_and_says_so():
    p = active_partnership()
    a = agreement(p)
    a.revoke(actor="admin", at=T0, reason="diperbarui")
    with pytest.raises(NotGranted) as refused:
        grant_for_dataset([a], {p.id: p}, "makassar", "kualitas-udara", T0)
    assert "revoked" in refused.value.message
    with pytest.raises(InvalidTransition):
        a.revoke(actor="admin", at=T0)


def test_a_partnership_that_ended_ends_its_grants():
    p = active_partnership()
    a = agreement(p, until=None)
    p.decide(Decision.END, city_id="makassar", actor="admin", at=T0)
    assert shared_datasets([a], {p.id: p}, "makassar", T0) == []
    with pytest.raises(NotGranted) as refused:
        grant_for_stream([a], {p.id: p}, "makassar", Stream.FLOOD_ALERTS, T0)
    assert "ended" in refused.value.message


def test_grants_need_a_partnership_in_force_and_something_to_grant():
    p = Partnership.start("p-2", Kind.MOU, "x", (), JAKARTA, [MAKASSAR], actor="admin", at=T0)
    assert p.status is Status.PROPOSED
    with pytest.raises(InvalidTransition):
        agreement(p)
    with pytest.raises(DomainError) as refused:
        agreement(active_partnership(), datasets=[], streams=[])
    assert refused.value.field == "dataset_ids"
    with pytest.raises(DomainError) as refused:
        agreement(active_partnership(), until=date(2020, 1, 1))
    assert refused.value.field == "valid_until"


def test_shared_datasets_lists_each_once_with_the_longest_grant():
    p = active_partnership()
    short = agreement(p, datasets=["kualitas-udara", "banjir"])
    long = Agreement.grant("a-2", p, "makassar", ["banjir"], [], None, actor="admin", at=T0)
    shared = shared_datasets([short, long], {p.id: p}, "makassar", T0)
    assert [(d, g.agreement_id) for d, g in shared] == [("banjir", "a-2"), ("kualitas-udara", "a-1")]
