"""The registry and read-side use cases against a fake unit of work: no database, broker or network."""

from datetime import datetime, timezone

import pytest

from kota_common.auth import Principal
from kota_common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from kota_sensors.adapters.orm import DatastreamRow, DeviceRow
from kota_sensors.domain.devices import hash_token
from kota_sensors.service_layer import queries
from kota_sensors.service_layer.registry import Registry


class FakeDevices:
    def __init__(self, rows=()):
        self.rows = {r.id: r for r in rows}

    def get(self, device_id):
        return self.rows.get(device_id)

    def ids(self):
        return set(self.rows)

    def add(self, row):
        self.rows[row.id] = row

    def list(self, kind="", owner_agency=""):
        return sorted((r for r in self.rows.values() if (not kind or r.kind == kind)
                       and (not owner_agency or r.owner_agency == owner_agency)), key=lambda r: r.id)


class FakeReadings:
    def __init__(self, streams=()):
        self.streams = list(streams)
        self.queries = 0

    def datastreams_of(self, device_ids):
        self.queries += 1
        out = {}
        for s in sorted(self.streams, key=lambda s: s.id):
            if s.device_id in device_ids:
                out.setdefault(s.device_id, []).append(s)
        return out

    def datastreams(self, device_id="", quantity=""):
        return [s for s in self.streams if (not device_id or s.device_id == device_id) and (not quantity or s.quantity == quantity)]


class FakeUnitOfWork:
    def __init__(self, devices=(), streams=()):
        self.devices = FakeDevices(devices)
        self.readings = FakeReadings(streams)
        self.committed = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def complete(self):
        self.committed += 1


def device(id, kind="water_level", agency="DSDA", **kw) -> DeviceRow:
    return DeviceRow(id=id, name=id, kind=kind, owner_agency=agency, created_at=datetime.now(timezone.utc), **kw)


def stream(device_id, quantity) -> DatastreamRow:
    return DatastreamRow(id=f"{device_id}:{quantity}", device_id=device_id, quantity=quantity, first_ms=1, latest_ms=2,
                         latest_value=1.5)


GAUGE = {"id": "pa-1", "name": "Pintu Air 1", "kind": "water_level", "owner_agency": "DSDA", "lat": -6.2, "lon": 106.8,
         "thresholds": {"siaga4_max": 150, "siaga3_max": 200, "siaga2_max": 250}}
STAFF = Principal(subject="u1", roles=frozenset({"staff"}), agency="DSDA")
OTHER_STAFF = Principal(subject="u2", roles=frozenset({"staff"}), agency="DLH")


@pytest.fixture
def changes():
    return []


def registry(uow, changes) -> Registry:
    return Registry(lambda: uow, lambda: changes.append("reload"))


def test_provisioning_registers_the_device_with_a_credential_and_reloads_the_cache(changes):
    uow = FakeUnitOfWork()
    row, token = registry(uow, changes).provision(STAFF, GAUGE)
    assert uow.devices.get("pa-1") is row and row.token_hash == hash_token(token)
    assert uow.committed == 1 and changes == ["reload"]


def test_a_device_is_provisioned_once(changes):
    uow = FakeUnitOfWork([device("pa-1")])
    with pytest.raises(FailedPrecondition):
        registry(uow, changes).provision(STAFF, {**GAUGE, "name": "again"})
    assert uow.committed == 0 and changes == []


def test_only_staff_of_the_owner_agency_revoke_a_credential(changes):
    uow = FakeUnitOfWork([device("pa-1", token_hash="h")])
    with pytest.raises(PermissionDenied):
        registry(uow, changes).revoke_credential(OTHER_STAFF, "pa-1")
    assert uow.devices.get("pa-1").revoked_at is None
    row = registry(uow, changes).revoke_credential(STAFF, "pa-1")
    assert row.revoked_at is not None and uow.committed == 1


def test_seeding_adds_only_the_devices_not_there_yet(changes):
    uow = FakeUnitOfWork([device("pa-1")])
    added = registry(uow, changes).seed([{"id": "pa-1", "name": "x", "kind": "water_level"},
                                         {"id": "aq-1", "name": "y", "kind": "air_quality"}])
    assert added == 1 and uow.devices.ids() == {"pa-1", "aq-1"} and changes == ["reload"]


def test_a_page_of_devices_comes_with_its_datastreams_in_one_query():
    uow = FakeUnitOfWork([device("a"), device("b"), device("c"), device("d", kind="air_quality")],
                         [stream("a", "water_level"), stream("b", "water_level"), stream("c", "water_level")])
    page = queries.list_devices("water_level", "", 1, 1, uow)
    assert [d.id for d in page.devices] == ["b"] and page.total == 3 and page.next_offset == 2
    assert [s.id for s in page.datastreams["b"]] == ["b:water_level"] and uow.readings.queries == 1
    assert queries.list_devices("water_level", "", 2, 1, uow).next_offset is None


def test_a_missing_device_is_not_found_and_page_sizes_are_bounded():
    with pytest.raises(NotFound):
        queries.get_device("nope", FakeUnitOfWork())
    with pytest.raises(InvalidArgument):
        queries.list_devices("", "", 0, 1001, FakeUnitOfWork())
