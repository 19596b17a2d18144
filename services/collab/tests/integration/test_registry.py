"""The registry for this city's staff over its real parts: the service's components in this process, gRPC over a
socket, the real broker and the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import grpc
import pytest

from kota.collab.v1 import collab_pb2 as pb
from kota.collab.v1 import collab_pb2_grpc as pb_grpc
from kota_collab import demo
from kota_collab.config import CollabSettings
from kota_collab.entrypoints.app import bootstrap
from kota_common.auth import issue_token
from kota_common.events import collab as ev
from kota_common.grpc_server import field_violations
from kota_common.settings import CommonSettings
from kota_common.testing import free_port

pytestmark = pytest.mark.integration
SECRET = "collab-test-secret-0123456789-abcdefgh"


@pytest.fixture
def registry(database_url, kafka_bootstrap, tmp_path):
    settings = CollabSettings(database_url=database_url, grpc_address=f"127.0.0.1:{free_port()}",
                              tls_dir=str(tmp_path / "no-certs"), metrics_address="off", catalogue_interval_s=0,
                              common=CommonSettings(kafka_bootstrap=kafka_bootstrap, auth_secret=SECRET))
    host = bootstrap(settings)
    host.start()
    channel = grpc.insecure_channel(settings.grpc_address)
    yield pb_grpc.CollabServiceStub(channel), settings
    channel.close()
    host.stop()


def staff(*roles: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {issue_token(SECRET, 'petugas-1', 'DISKOMINFOTIK', list(roles))}")]


ADMIN = staff("admin")


def payloads(records, ce_type: str) -> list[dict]:
    return [json.loads(r.value()) for r in records if dict(r.headers()).get("ce_type") == ce_type.encode()]


def test_a_partnership_lives_its_lifecycle_with_every_step_on_the_topic(registry, topic_reader):
    stub, _ = registry
    reader = topic_reader(ev.TOPIC)
    stub.RegisterCity(pb.RegisterCityRequest(city=pb.City(id="seoul", name="Seoul", country="KR")), metadata=ADMIN)
    p = stub.CreatePartnership(pb.CreatePartnershipRequest(
        kind=pb.PARTNERSHIP_KIND_MOU, title="Smart mobility MoU", partner_city_ids=["seoul"],
        focus_areas=["built_infrastructure"]), metadata=ADMIN).partnership
    assert (p.status, p.scope, p.federated) == ("proposed", "foreign", False)
    stub.DecidePartnership(pb.DecidePartnershipRequest(id=p.id, decision=pb.DECISION_DECLINE, note="ditunda"),
                           metadata=ADMIN)
    with pytest.raises(grpc.RpcError) as refused:
        stub.DecidePartnership(pb.DecidePartnershipRequest(id=p.id, decision=pb.DECISION_SIGN, signed_on="2026-12-01"),
                               metadata=ADMIN)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    got = stub.GetPartnership(pb.GetPartnershipRequest(id=p.id), metadata=staff("staff")).partnership
    assert [(h.seq, h.status, h.city_id, h.actor) for h in got.history] == [
        (1, "proposed", "jakarta", "admin"), (2, "declined", "jakarta", "admin")]
    steps = reader.wait_for(lambda found: len(found) >= 2, match=lambda r: r.key() == p.id.encode())
    changed = payloads(steps, "kota.collab.partnership-changed.v1")
    assert [(c["seq"], c["status"], c["previous_status"], c["decided_by"], c["actor"]) for c in changed] == [
        (1, "proposed", "", "jakarta", "admin"), (2, "declined", "proposed", "jakarta", "admin")]
    reader.assert_quiet(1.0, match=lambda r: r.key() == p.id.encode())


def test_agreements_and_activities_are_recorded_and_announced(registry, topic_reader):
    stub, _ = registry
    reader = topic_reader(ev.TOPIC)
    stub.RegisterCity(pb.RegisterCityRequest(city=pb.City(id="berlin", name="Berlin", country="DE")), metadata=ADMIN)
    p = stub.CreatePartnership(pb.CreatePartnershipRequest(kind=pb.PARTNERSHIP_KIND_SISTER_CITY, title="Jakarta - Berlin",
                                                           partner_city_ids=["berlin"], status="active"),
                               metadata=ADMIN).partnership
    a = stub.GrantAgreement(pb.GrantAgreementRequest(partnership_id=p.id, city_id="berlin", streams=["flood-alerts"],
                                                     dataset_ids=["kualitas-udara"], valid_until="2099-12-31"),
                            metadata=ADMIN).agreement
    stub.RevokeAgreement(pb.RevokeAgreementRequest(id=a.id, reason="diganti"), metadata=ADMIN)
    stub.RecordActivity(pb.RecordActivityRequest(partnership_id=p.id, kind=pb.ACTIVITY_KIND_WORKSHOP, title="Lokakarya",
                                                 starts_on="2026-11-02", participants=40), metadata=ADMIN)
    got = stub.GetPartnership(pb.GetPartnershipRequest(id=p.id), metadata=ADMIN)
    assert got.agreements[0].revoked_at.seconds > 0 and got.activities[0].participants == 40
    found = reader.wait_for(lambda r: len(r) >= 4, match=lambda r: r.key() == p.id.encode())
    types = [dict(r.headers())["ce_type"].decode() for r in found]
    assert types == ["kota.collab.partnership-changed.v1", "kota.collab.agreement-granted.v1",
                     "kota.collab.agreement-revoked.v1", "kota.collab.activity-recorded.v1"]


def test_bad_input_is_answered_with_field_violations(registry):
    stub, _ = registry
    with pytest.raises(grpc.RpcError) as refused:
        stub.RegisterCity(pb.RegisterCityRequest(city=pb.City(id="Bad City", name="x", country="ID")), metadata=ADMIN)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(refused.value)] == ["city.id"]
    with pytest.raises(grpc.RpcError) as refused:
        stub.CreatePartnership(pb.CreatePartnershipRequest(kind=pb.PARTNERSHIP_KIND_MOU, title="x",
                                                           partner_city_ids=["atlantis"]), metadata=ADMIN)
    assert field_violations(refused.value) == [("partner_city_ids[0]", "not registered")]
    with pytest.raises(grpc.RpcError) as refused:
        stub.CreatePartnership(pb.CreatePartnershipRequest(title="x"), metadata=ADMIN)
    assert [f for f, _ in field_violations(refused.value)] == ["kind"]
    with pytest.raises(grpc.RpcError) as refused:
        stub.RecordActivity(pb.RecordActivityRequest(partnership_id="x", kind=pb.ACTIVITY_KIND_WORKSHOP, title="x",
                                                     starts_on="17 Maret 2022"), metadata=ADMIN)
    assert [f for f, _ in field_violations(refused.value)] == ["starts_on"]


def test_staff_need_a_token_and_changes_need_the_collab_role(registry):
    stub, _ = registry
    with pytest.raises(grpc.RpcError) as refused:
        stub.ListCities(pb.ListCitiesRequest())
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as refused:
        stub.RegisterCity(pb.RegisterCityRequest(city=pb.City(id="seoul", name="Seoul", country="KR")),
                          metadata=staff("staff"))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    stub.RegisterCity(pb.RegisterCityRequest(city=pb.City(id="seoul", name="Seoul", country="KR")),
                      metadata=staff("collab"))


def test_the_demo_seeds_jakartas_real_partners_once_without_invented_dates(registry, monkeypatch):
    stub, settings = registry
    monkeypatch.setenv("KOTA_AUTH_SECRET", SECRET)
    demo.seed(settings.grpc_address)
    demo.seed(settings.grpc_address)  # seeds only what is missing
    cities = {c.id: c for c in stub.ListCities(pb.ListCitiesRequest(), metadata=ADMIN).cities}
    assert cities["jakarta"].home and sum(c.ascn_member for c in cities.values()) == 26
    partnerships = stub.ListPartnerships(pb.ListPartnershipsRequest(), metadata=ADMIN).partnerships
    sisters = [p for p in partnerships if p.kind == pb.PARTNERSHIP_KIND_SISTER_CITY]
    assert len(partnerships) == 11 and len(sisters) == 6
    assert all(p.signed_on == "" for p in partnerships)
    ascn = next(p for p in partnerships if p.kind == pb.PARTNERSHIP_KIND_ASCN_PROJECT)
    assert len(ascn.parties) == 26 and len(ascn.focus_areas) == 6
    kaltara = next(p for p in partnerships if any(x.city_id == "kalimantan-utara" for x in p.parties))
    visit = stub.GetPartnership(pb.GetPartnershipRequest(id=kaltara.id), metadata=ADMIN).activities[0]
    assert (visit.kind, visit.starts_on, kaltara.scope) == (pb.ACTIVITY_KIND_VISIT_VIRTUAL, "2022-03-17", "domestic")
    assert all(c.has_location for c in cities.values()), [c.id for c in cities.values() if not c.has_location]
    assert (cities["seoul"].latitude, cities["seoul"].longitude) == (37.5665, 126.978)
    timeline = stub.ListActivities(pb.ListActivitiesRequest(), metadata=staff("staff")).activities
    assert [(a.partnership_id, a.starts_on) for a in timeline] == [(kaltara.id, "2022-03-17")]


def test_activities_and_agreements_are_listed_across_partnerships(registry):
    stub, _ = registry
    reader = staff("staff")
    stub.RegisterCity(pb.RegisterCityRequest(city=pb.City(id="tokyo", name="Tokyo", country="JP", latitude=35.6762,
                                                          longitude=139.6503, has_location=True)), metadata=ADMIN)
    stub.RegisterCity(pb.RegisterCityRequest(city=pb.City(id="rotterdam", name="Rotterdam", country="NL")), metadata=ADMIN)
    tokyo = {c.id: c for c in stub.ListCities(pb.ListCitiesRequest(), metadata=reader).cities}["tokyo"]
    assert (tokyo.has_location, tokyo.latitude, tokyo.longitude) == (True, 35.6762, 139.6503)
    ids = {}
    for city in ("tokyo", "rotterdam"):
        ids[city] = stub.CreatePartnership(pb.CreatePartnershipRequest(
            kind=pb.PARTNERSHIP_KIND_SISTER_CITY, title=f"Jakarta - {city}", partner_city_ids=[city], status="active"),
            metadata=ADMIN).partnership.id
    for city, title, starts_on in [("tokyo", "Lokakarya mobilitas", "2025-02-10"), ("rotterdam", "Tanpa tanggal", ""),
                                   ("rotterdam", "Kunjungan pompa air", "2023-09-01")]:
        stub.RecordActivity(pb.RecordActivityRequest(partnership_id=ids[city], kind=pb.ACTIVITY_KIND_WORKSHOP,
                                                     title=title, starts_on=starts_on), metadata=ADMIN)
    grant = stub.GrantAgreement(pb.GrantAgreementRequest(partnership_id=ids["tokyo"], city_id="tokyo",
                                                         streams=["air-quality-alerts"]), metadata=ADMIN).agreement
    every = stub.ListActivities(pb.ListActivitiesRequest(), metadata=reader).activities
    assert [a.title for a in every] == ["Kunjungan pompa air", "Lokakarya mobilitas", "Tanpa tanggal"]
    of_rotterdam = stub.ListActivities(pb.ListActivitiesRequest(city_id="rotterdam"), metadata=reader).activities
    assert [a.title for a in of_rotterdam] == ["Kunjungan pompa air", "Tanpa tanggal"]
    agreements = stub.ListAgreements(pb.ListAgreementsRequest(city_id="tokyo"), metadata=reader).agreements
    assert [(a.id, list(a.streams)) for a in agreements] == [(grant.id, ["air-quality-alerts"])]
    assert stub.ListAgreements(pb.ListAgreementsRequest(partnership_id=ids["rotterdam"]), metadata=reader).agreements == []
    with pytest.raises(grpc.RpcError) as refused:
        stub.ListActivities(pb.ListActivitiesRequest(city_id="atlantis"), metadata=reader)
    assert (refused.value.code(), field_violations(refused.value)) == (grpc.StatusCode.NOT_FOUND, [("city_id", "not found")])
    with pytest.raises(grpc.RpcError) as refused:
        stub.ListAgreements(pb.ListAgreementsRequest())
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as refused:
        stub.RegisterCity(pb.RegisterCityRequest(city=pb.City(id="nowhere", name="Nowhere", country="ID", latitude=95,
                                                              longitude=0, has_location=True)), metadata=ADMIN)
    assert [f for f, _ in field_violations(refused.value)] == ["city.latitude"]
