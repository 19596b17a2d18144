"""The collab use cases against a fake unit of work: staff decisions, what a partner's registry may deliver, what a
partner may read, and the deliveries' retries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kota_collab.adapters.partners import PartnerUnreachable
from kota_collab.adapters.repository import Delivery
from kota_collab.domain.errors import DomainError
from kota_collab.domain.model import Activity, Agreement, City, Decision, Kind, Partnership, Status
from kota_collab.service_layer import catalogue, delivery, services
from kota_common.auth import Principal
from kota_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied


# -- cosmicpython's FakeUnitOfWork: repositories in dictionaries, events collected at complete() ------------
class FakeCities:
    def __init__(self):
        self.rows: dict[str, City] = {}

    def get(self, city_id):
        return self.rows.get(city_id)

    def all(self):
        return list(self.rows.values())

    def put(self, city, at):
        self.rows[city.id] = city


class FakePartnerships:
    def __init__(self):
        self.rows: dict[str, Partnership] = {}
        self.request_ids: dict[str, str] = {}

    def add(self, p, request_id=None):
        self.rows[p.id] = p
        if request_id:
            self.request_ids[request_id] = p.id

    def get(self, pid):
        return self.rows.get(pid)

    def by_request_id(self, request_id):
        pid = self.request_ids.get(request_id)
        return self.rows.get(pid) if pid else None

    def filtered(self, *, city_id="", kind: Kind | None = None, status: Status | None = None):
        return [p for p in self.rows.values() if (not city_id or p.has_party(city_id)) and
                (kind is None or p.kind is kind) and (status is None or p.status is status)]

    def in_force_by_ids(self, ids):
        return {i: self.rows[i] for i in ids if i in self.rows}


class FakeAgreements:
    def __init__(self):
        self.rows: dict[str, Agreement] = {}

    def add(self, a):
        self.rows[a.id] = a

    def get(self, aid):
        return self.rows.get(aid)

    def save_revocation(self, a):
        self.rows[a.id] = a

    def of_partnership(self, pid):
        return [a for a in self.rows.values() if a.partnership_id == pid]

    def of_city(self, city_id):
        return [a for a in self.rows.values() if a.city_id == city_id]

    def all(self):
        return list(self.rows.values())


class FakeActivities:
    def __init__(self):
        self.rows: list[Activity] = []

    def add(self, a, at):
        self.rows.append(a)

    def of_partnership(self, pid):
        return self.of_partnerships({pid})

    def of_partnerships(self, pids):
        chosen = [a for a in self.rows if pids is None or a.partnership_id in pids]
        return sorted(chosen, key=lambda a: (a.starts_on is None, a.starts_on or datetime.min.date()))


class FakeDeliveries:
    def __init__(self):
        self.rows: dict[tuple[str, str], Delivery] = {}

    def want(self, pid, city_id, seq, at):
        d = self.rows.get((pid, city_id))
        if d is None or seq > d.wanted_seq:
            self.rows[(pid, city_id)] = Delivery(pid, city_id, seq, d.delivered_seq if d else 0, 0, at, "")

    def due(self, at: datetime, limit=50):
        return [d for d in self.rows.values() if d.delivered_seq < d.wanted_seq and d.next_attempt_at <= at]

    def pending_for(self, pid):
        return any(d.delivered_seq < d.wanted_seq for (p, _), d in self.rows.items() if p == pid)

    def delivered(self, pid, city_id, seq):
        d = self.rows[(pid, city_id)]
        self.rows[(pid, city_id)] = Delivery(pid, city_id, d.wanted_seq, max(d.delivered_seq, seq), 0, d.next_attempt_at, "")

    def failed(self, pid, city_id, error, next_attempt_at):
        d = self.rows[(pid, city_id)]
        self.rows[(pid, city_id)] = Delivery(pid, city_id, d.wanted_seq, d.delivered_seq, d.attempts + 1, next_attempt_at,
                                             error)


class FakeUnitOfWork:
    """One shared store (as one database is): make a new FakeUnitOfWork per use case with `FakeStore.uow`."""

    def __init__(self, store: FakeStore):
        self.store = store
        self.cities, self.partnerships, self.agreements = store.cities, store.partnerships, store.agreements
        self.activities, self.deliveries = store.activities, store.deliveries
        self._published: list = []
        self.committed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._published = []

    def publish(self, key, payload):
        self._published.append((key, payload))

    def complete(self):
        for p in self.partnerships.rows.values():
            self.store.events += [(p.id, change) for change in p.changes]
            p.changes.clear()
        self.store.events += self._published
        self._published = []
        self.committed = True


class FakeStore:
    def __init__(self):
        self.cities, self.partnerships, self.agreements = FakeCities(), FakePartnerships(), FakeAgreements()
        self.activities, self.deliveries = FakeActivities(), FakeDeliveries()
        self.events: list = []

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def calls(self):
        """The PartnerCalled audit events, as (city, method, outcome)."""
        return [(e.city_id, e.method, e.outcome) for _k, e in self.events if getattr(e, "ce_type", "").endswith("partner-called.v1")]


JAKARTA = City("jakarta", "Provinsi DKI Jakarta", "ID", home=True, endpoint="127.0.0.1:50155")
MAKASSAR = City("makassar", "Kota Makassar", "ID", endpoint="127.0.0.1:50156")
ADMIN = Principal("petugas", "DISKOMINFOTIK", frozenset({"admin"}))
READER = Principal("petugas", "DISKOMINFOTIK", frozenset({"staff"}))


class Clock:
    def __init__(self):
        self.now = datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def world():
    store, clock = FakeStore(), Clock()
    ctx = services.Context(home=JAKARTA, clock=clock)
    services.ensure_home(ctx, store.uow())
    store.cities.put(MAKASSAR, clock.now)
    return store, ctx, clock


def propose(store, ctx, request_id="") -> services.PartnershipView:
    return services.create_partnership(ctx, store.uow(), ADMIN, services.CreatePartnership(
        kind="technical_cooperation", title="Sistem pengaduan", focus_areas=["civic_social"],
        partner_city_ids=["makassar"], request_id=request_id))


def test_a_federated_proposal_is_queued_for_the_partner_once_per_request(world):
    store, ctx, _ = world
    first = propose(store, ctx, request_id="r-1")
    again = propose(store, ctx, request_id="r-1")
    assert again.partnership.id == first.partnership.id and len(store.partnerships.rows) == 1
    assert store.deliveries.pending_for(first.partnership.id)
    assert [(k, c.entry.status) for k, c in store.events if hasattr(c, "entry")] == [(first.partnership.id, Status.PROPOSED)]


def test_changes_need_the_collab_or_admin_role(world):
    store, ctx, _ = world
    with pytest.raises(PermissionDenied):
        services.create_partnership(ctx, store.uow(), READER, services.CreatePartnership(
            kind="mou", title="x", focus_areas=[], partner_city_ids=["makassar"]))


def test_an_unknown_kind_or_partner_names_the_field(world):
    store, ctx, _ = world
    with pytest.raises(InvalidArgument) as refused:
        services.create_partnership(ctx, store.uow(), ADMIN, services.CreatePartnership(
            kind="alliance", title="x", focus_areas=[], partner_city_ids=["makassar"]))
    assert refused.value.violations[0][0] == "kind"
    with pytest.raises(InvalidArgument) as refused:
        services.create_partnership(ctx, store.uow(), ADMIN, services.CreatePartnership(
            kind="mou", title="x", focus_areas=[], partner_city_ids=["atlantis"]))
    assert refused.value.violations == [("partner_city_ids[0]", "not registered")]


def test_a_city_that_is_no_partner_is_refused_and_the_call_recorded(world):
    store, ctx, _ = world
    with pytest.raises(PermissionDenied):
        services.known_partner(ctx, store.uow, "bogor", "ListSharedDatasets")
    assert store.calls() == [("bogor", "ListSharedDatasets", "denied")]


def test_a_partners_proposal_is_recorded_once_however_often_it_arrives(world):
    store, ctx, clock = world
    theirs = Partnership.start("p-9", services.Kind.MOU, "Dari Makassar", (), MAKASSAR,
                               [JAKARTA], actor="admin", at=clock.now)
    view, applied = services.receive_partnership(ctx, store.uow, MAKASSAR, theirs)
    assert applied and view.partnership.federated and view.partnership.status is Status.PROPOSED
    _, applied_again = services.receive_partnership(ctx, store.uow, MAKASSAR, theirs)
    assert not applied_again and len(store.partnerships.rows["p-9"].history) == 1
    assert store.calls() == [("makassar", "SyncPartnership", "ok")] * 2


def test_a_diverging_history_is_refused_and_recorded(world):
    store, ctx, clock = world
    ours = propose(store, ctx).partnership
    declined, accepted = (Partnership.received(ours, "jakarta", "makassar") for _ in range(2))
    declined.decide(Decision.DECLINE, city_id="makassar", actor="admin", at=clock.now)
    accepted.decide(Decision.ACCEPT, city_id="makassar", actor="admin", at=clock.now)
    services.receive_partnership(ctx, store.uow, MAKASSAR, declined)
    with pytest.raises(FailedPrecondition):
        services.receive_partnership(ctx, store.uow, MAKASSAR, accepted)
    assert store.calls()[-1] == ("makassar", "SyncPartnership", "denied")


def test_a_stream_outside_the_grants_is_refused_by_name_and_recorded(world):
    store, ctx, _ = world
    with pytest.raises(PermissionDenied) as refused:
        services.stream_grant(ctx, store.uow, MAKASSAR, "flood-alerts")
    assert refused.value.violations[0][0] == "stream flood-alerts"
    assert store.calls() == [("makassar", "SubscribeSharedEvents", "denied")]


class FlakyPartner:
    """A partner registry that is unreachable for the first `failures` calls, then holds what it is sent."""

    def __init__(self, failures: int):
        self.failures = failures
        self.received: list[Partnership] = []

    def sync(self, partner, partnership, sender):
        if self.failures:
            self.failures -= 1
            raise PartnerUnreachable("UNAVAILABLE: connection refused")
        self.received.append(partnership)
        return Partnership.received(partnership, sender.id, partner.id)


def test_a_delivery_is_retried_with_backoff_until_the_partner_confirms_it(world):
    store, ctx, clock = world
    pid = propose(store, ctx).partnership.id
    partner = FlakyPartner(failures=2)
    backoff = delivery.Backoff(base_s=1, max_s=10)
    assert delivery.deliver_due(ctx, store.uow, partner, backoff) == 0
    assert delivery.deliver_due(ctx, store.uow, partner, backoff) == 0  # not due yet: it waits its backoff
    assert store.deliveries.rows[(pid, "makassar")].attempts == 1
    clock.now += timedelta(seconds=10)
    assert delivery.deliver_due(ctx, store.uow, partner, backoff) == 0
    clock.now += timedelta(seconds=10)
    assert delivery.deliver_due(ctx, store.uow, partner, backoff) == 1
    assert not store.deliveries.pending_for(pid) and [p.id for p in partner.received] == [pid]
    clock.now += timedelta(seconds=60)
    assert delivery.deliver_due(ctx, store.uow, partner, backoff) == 0  # nothing more to send


class RecordingCatalogue:
    def __init__(self):
        self.published: list[catalogue.Table] = []

    def publish(self, table):
        self.published.append(table)


def test_partnerships_and_activities_are_published_as_open_data_when_they_change(world):
    store, ctx, _ = world
    target = RecordingCatalogue()
    publisher = catalogue.CataloguePublisher(store.uow, target)
    assert publisher.run() == 0  # nothing to publish yet
    pid = propose(store, ctx).partnership.id
    services.record_activity(ctx, store.uow(), ADMIN, services.RecordActivity(
        partnership_id=pid, kind="visit_virtual", title="Kunjungan virtual", starts_on="2022-03-17",
        ends_on="2022-03-17"))
    assert publisher.run() == 2 and publisher.run() == 0
    rows = target.published[0].csv.decode().splitlines()
    assert rows[0].startswith("id,jenis,lingkup,judul,mitra") and "Kota Makassar" in rows[1]
    assert "2022-03-17" in target.published[1].csv.decode()
    services.create_partnership(ctx, store.uow(), ADMIN, services.CreatePartnership(
        kind="mou", title="Kedua", focus_areas=[], partner_city_ids=["makassar"]))
    assert publisher.run() == 1 and target.published[-1].name == catalogue.PARTNERSHIPS


def test_the_timeline_lists_activities_as_they_happened_narrowed_to_a_city_or_a_partnership(world):
    store, ctx, _ = world
    store.cities.put(City("seoul", "Seoul", "KR"), ctx.clock())
    with_makassar = propose(store, ctx).partnership.id
    with_seoul = services.create_partnership(ctx, store.uow(), ADMIN, services.CreatePartnership(
        kind="sister_city", title="Jakarta - Seoul", focus_areas=[], partner_city_ids=["seoul"], status="active")
    ).partnership.id

    def record(pid, title, starts_on=""):
        services.record_activity(ctx, store.uow(), ADMIN, services.RecordActivity(
            partnership_id=pid, kind="workshop", title=title, starts_on=starts_on))

    record(with_seoul, "undated")
    record(with_makassar, "later", "2024-05-01")
    record(with_seoul, "earlier", "2022-03-17")
    assert [a.title for a in services.list_activities(store.uow())] == ["earlier", "later", "undated"]
    assert [a.title for a in services.list_activities(store.uow(), city_id="seoul")] == ["earlier", "undated"]
    assert [a.title for a in services.list_activities(store.uow(), partnership_id=with_makassar)] == ["later"]
    assert services.list_activities(store.uow(), partnership_id=with_makassar, city_id="seoul") == []
    with pytest.raises(NotFound):
        services.list_activities(store.uow(), city_id="atlantis")
    with pytest.raises(NotFound):
        services.list_activities(store.uow(), partnership_id="no-such-partnership")


def test_agreements_are_listed_for_a_partnership_or_the_city_they_grant(world):
    store, ctx, _ = world
    store.cities.put(City("seoul", "Seoul", "KR"), ctx.clock())
    pid = services.create_partnership(ctx, store.uow(), ADMIN, services.CreatePartnership(
        kind="sister_city", title="Jakarta - Seoul", focus_areas=[], partner_city_ids=["seoul"], status="active")
    ).partnership.id
    granted = services.grant_agreement(ctx, store.uow(), ADMIN, services.GrantAgreement(
        partnership_id=pid, city_id="seoul", dataset_ids=["kualitas-udara-ispu"], streams=["flood-alerts"]))
    assert [a.id for a in services.list_agreements(store.uow())] == [granted.id]
    assert [a.id for a in services.list_agreements(store.uow(), partnership_id=pid, city_id="seoul")] == [granted.id]
    assert services.list_agreements(store.uow(), city_id="makassar") == []
    with pytest.raises(NotFound):
        services.list_agreements(store.uow(), city_id="atlantis")


def test_a_city_is_located_by_both_coordinates_within_their_ranges():
    assert City("seoul", "Seoul", "KR", latitude=37.5665, longitude=126.978).latitude == 37.5665
    for latitude, longitude, field in [(37.5, None, "latitude"), (91.0, 0.0, "latitude"), (0.0, 180.5, "longitude")]:
        with pytest.raises(DomainError) as refused:
            City("seoul", "Seoul", "KR", latitude=latitude, longitude=longitude)
        assert refused.value.field == field
