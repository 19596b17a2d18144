"""Two Kota cities federated: Jakarta and Makassar, each its own collab process and database (Jakarta on SQLite,
Makassar on PostgreSQL when there is one), talking gRPC over mutual TLS with certificates from `kota certs`' CA,
and the real broker."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import pytest

from kota.collab.v1 import collab_pb2 as pb
from kota.collab.v1 import collab_pb2_grpc as pb_grpc
from kota_collab.certs import Authority, CityCertificate, development_set, host_name, load_revoked_serials, save_revocation_list
from kota_common import envelope
from kota_common.auth import issue_token
from kota_common.events import collab as ev
from kota_common.events.sensors import ALERTS_TOPIC, SensorAlert
from kota_common.grpc_server import error_info, field_violations
from kota_common.kafka import ensure_topics
from kota_common.testing import RecordProducer, ServiceProcess, _fresh_postgres_database, free_port, wait_until

pytestmark = pytest.mark.integration
SECRET = "collab-federation-test-secret-0123456789"
ADMIN = [("authorization", f"Bearer {issue_token(SECRET, 'petugas', 'DISKOMINFOTIK', ['admin'])}")]


@dataclass
class CityProcess:
    city_id: str
    process: ServiceProcess
    staff_address: str
    federation_address: str

    @property
    def staff(self) -> pb_grpc.CollabServiceStub:
        return pb_grpc.CollabServiceStub(grpc.insecure_channel(self.staff_address))

    def profile(self) -> pb.City:
        return pb.City(id=self.city_id, name=self.city_id.title(), country="ID", endpoint=self.federation_address)


@dataclass
class Federation:
    jakarta: CityProcess
    makassar: CityProcess
    certs: Path
    bootstrap: str

    def partner_stub(self, cert: CityCertificate | None, target: CityProcess) -> pb_grpc.FederationServiceStub:
        """A partner's client of `target`'s inter-city endpoint, presenting `cert` (or none)."""
        ca = (self.certs / "ca.pem").read_bytes()
        creds = grpc.ssl_channel_credentials(ca, cert.key_pem if cert else None, cert.cert_pem if cert else None)
        channel = grpc.secure_channel(target.federation_address, creds,
                                      options=[("grpc.ssl_target_name_override", host_name(target.city_id))])
        return pb_grpc.FederationServiceStub(channel)


def start_open_data(bootstrap: str, work: Path, started: list[ServiceProcess]) -> ServiceProcess:
    """Jakarta's open data service with one dataset, the one the agreement grants."""
    from kota.opendata.v1 import opendata_pb2 as od
    from kota.opendata.v1 import opendata_pb2_grpc as od_grpc

    address = f"127.0.0.1:{free_port()}"
    process = ServiceProcess("kota_opendata", {
        "KOTA_OPENDATA_GRPC_ADDRESS": address, "KOTA_OPENDATA_DATABASE_URL": f"sqlite:///{work / 'opendata.db'}",
        "KOTA_OPENDATA_CONSUME_EVENTS": "false", "KOTA_KAFKA_BOOTSTRAP": bootstrap, "KOTA_AUTH_SECRET": SECRET,
    }, address, work / "opendata.log")
    started.append(process)
    process.start()
    csv = b"station,observed_on,ispu\nDKI1 Bundaran HI,2026-12-01,72\nDKI2 Kelapa Gading,2026-12-01,88\n"
    token = [("authorization", f"Bearer {issue_token(SECRET, 'petugas', 'DLH', ['staff'])}")]
    od_grpc.OpenDataServiceStub(grpc.insecure_channel(address)).UploadDataset(od.UploadDatasetRequest(
        name="kualitas-udara-ispu", title="ISPU harian", csv=csv), metadata=token, timeout=30)
    fed_open_data[0] = address
    return process


fed_open_data = [""]  # the open data service's address, for the catalogue test


def start_city(city_id: str, database_url: str, certs: Path, bootstrap: str, log_dir: Path,
               started: list[ServiceProcess], opendata_address: str = "127.0.0.1:1", catalogue_interval_s: float = 0) -> CityProcess:
    staff, federation = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {
        "KOTA_COLLAB_GRPC_ADDRESS": staff, "KOTA_COLLAB_FEDERATION_ADDRESS": federation,
        "KOTA_COLLAB_DATABASE_URL": database_url, "KOTA_COLLAB_CITY_ID": city_id,
        "KOTA_COLLAB_CITY_NAME": city_id.title(), "KOTA_COLLAB_TLS_DIR": str(certs),
        "KOTA_COLLAB_FEDERATION_RETRY_BASE_S": "0.2", "KOTA_COLLAB_FEDERATION_RETRY_MAX_S": "1",
        "KOTA_COLLAB_STREAM_RECHECK_S": "1", "KOTA_KAFKA_BOOTSTRAP": bootstrap, "KOTA_AUTH_SECRET": SECRET,
        "KOTA_LOG_JSON": "false", "KOTA_COLLAB_OPENDATA_ADDRESS": opendata_address,
        "KOTA_COLLAB_CATALOGUE_INTERVAL_S": str(catalogue_interval_s),
    }
    process = ServiceProcess("kota_collab", env, staff, log_dir / f"{city_id}.log")
    started.append(process)
    process.start()
    return CityProcess(city_id, process, staff, federation)


@pytest.fixture(scope="module")
def federation(kafka_bootstrap, postgres_server_url, tmp_path_factory) -> Iterator[Federation]:
    work = tmp_path_factory.mktemp("federation")
    certs = work / "certs"
    development_set(certs, ["jakarta", "makassar", "surabaya", "bogor"], revoke=("surabaya",))
    ensure_topics(kafka_bootstrap, [ev.TOPIC, ALERTS_TOPIC])
    makassar_db = (_fresh_postgres_database(postgres_server_url) if postgres_server_url
                   else f"sqlite:///{work / 'makassar.db'}")
    started: list[ServiceProcess] = []  # stopped whatever happens, a failed start of a later one included
    try:
        open_data = start_open_data(kafka_bootstrap, work, started)
        jakarta = start_city("jakarta", f"sqlite:///{work / 'jakarta.db'}", certs, kafka_bootstrap, work, started,
                             open_data.address, catalogue_interval_s=1)
        makassar = start_city("makassar", makassar_db, certs, kafka_bootstrap, work, started)
        fed = Federation(jakarta, makassar, certs, kafka_bootstrap)
        jakarta.staff.RegisterCity(pb.RegisterCityRequest(city=makassar.profile()), metadata=ADMIN)
        makassar.staff.RegisterCity(pb.RegisterCityRequest(city=jakarta.profile()), metadata=ADMIN)
        # Surabaya is a partner whose certificate has been revoked; Bogor has a valid one but is no partner.
        jakarta.staff.RegisterCity(pb.RegisterCityRequest(city=pb.City(id="surabaya", name="Surabaya", country="ID",
                                                                       endpoint="127.0.0.1:1")), metadata=ADMIN)
        yield fed
    finally:
        for process in reversed(started):
            process.stop()


def history(stub: pb_grpc.CollabServiceStub, partnership_id: str) -> list[tuple[int, str, str]]:
    try:
        p = stub.GetPartnership(pb.GetPartnershipRequest(id=partnership_id), metadata=ADMIN, timeout=5).partnership
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return []
        raise
    return [(h.seq, h.status, h.city_id) for h in p.history]


def propose(fed: Federation, title: str) -> str:
    return fed.jakarta.staff.CreatePartnership(pb.CreatePartnershipRequest(
        kind=pb.PARTNERSHIP_KIND_TECHNICAL_COOPERATION, title=title, partner_city_ids=["makassar"],
        focus_areas=["civic_social"], request_id=uuid.uuid4().hex), metadata=ADMIN).partnership.id


def decide(city: CityProcess, pid: str, decision: int, **kw) -> pb.Partnership:
    return city.staff.DecidePartnership(pb.DecidePartnershipRequest(id=pid, decision=decision, **kw),
                                        metadata=ADMIN).partnership


def test_a_proposal_and_its_acceptance_converge_in_both_registries(federation, topic_reader):
    fed = federation
    reader = topic_reader(ev.TOPIC)
    pid = propose(fed, "Makassar adopts the complaint system")
    wait_until(lambda: history(fed.makassar.staff, pid) == [(1, "proposed", "jakarta")], 30,
               what="Makassar to receive the proposal")
    decide(fed.makassar, pid, pb.DECISION_ACCEPT, note="setuju")
    expected = [(1, "proposed", "jakarta"), (2, "negotiating", "makassar")]
    wait_until(lambda: history(fed.jakarta.staff, pid) == expected, 30, what="Jakarta to learn of the acceptance")
    assert history(fed.makassar.staff, pid) == expected
    jakarta_copy = fed.jakarta.staff.GetPartnership(pb.GetPartnershipRequest(id=pid), metadata=ADMIN).partnership
    makassar_copy = fed.makassar.staff.GetPartnership(pb.GetPartnershipRequest(id=pid), metadata=ADMIN).partnership
    assert list(jakarta_copy.history) == list(makassar_copy.history) and jakarta_copy.federated
    wait_until(lambda: not fed.jakarta.staff.GetPartnership(pb.GetPartnershipRequest(id=pid), metadata=ADMIN)
               .partnership.sync_pending, 30, what="Jakarta's delivery to be confirmed")
    # Each registry announced each step once: proposed (Jakarta local, Makassar from its partner), accepted likewise.
    steps = reader.wait_for(lambda found: len(found) >= 4, match=lambda r: r.key() == pid.encode() and
                            dict(r.headers())["ce_type"] == b"kota.collab.partnership-changed.v1")
    seen = sorted((p["seq"], p["decided_by"], p["origin"]) for p in (json.loads(r.value()) for r in steps))
    assert seen == [(1, "jakarta", "local"), (1, "jakarta", "partner"), (2, "makassar", "local"), (2, "makassar", "partner")]


def test_a_handshake_applied_twice_changes_nothing(federation):
    fed = federation
    pid = propose(fed, "Satu data banjir")
    wait_until(lambda: len(history(fed.makassar.staff, pid)) == 1, 30, what="Makassar to receive the proposal")
    as_jakarta = development_cert(fed, "jakarta")
    copy = fed.jakarta.staff.GetPartnership(pb.GetPartnershipRequest(id=pid), metadata=ADMIN).partnership
    stub = fed.partner_stub(as_jakarta, fed.makassar)
    again = stub.SyncPartnership(pb.SyncPartnershipRequest(partnership=copy, sender=fed.jakarta.profile()), timeout=5)
    assert not again.applied and [h.seq for h in again.partnership.history] == [1]
    assert history(fed.makassar.staff, pid) == [(1, "proposed", "jakarta")]


def development_cert(fed: Federation, city: str) -> CityCertificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate((fed.certs / f"{city}.pem").read_bytes())
    key = serialization.load_pem_private_key((fed.certs / f"{city}-key.pem").read_bytes(), None)
    return CityCertificate(city, cert, key)  # type: ignore[arg-type]


def test_a_partner_that_was_down_receives_the_decision_once_it_is_back(federation):
    fed = federation
    pid = propose(fed, "Sister programme for smart mobility")
    wait_until(lambda: len(history(fed.makassar.staff, pid)) == 1, 30, what="Makassar to receive the proposal")
    fed.jakarta.process.kill()  # the network between them is lost: Jakarta is gone
    decide(fed.makassar, pid, pb.DECISION_DECLINE, note="belum prioritas")
    pending = fed.makassar.staff.GetPartnership(pb.GetPartnershipRequest(id=pid), metadata=ADMIN).partnership
    assert pending.sync_pending
    time.sleep(2)  # a few failed attempts, with backoff
    fed.jakarta.process.start()
    wait_until(lambda: history(fed.jakarta.staff, pid) == [(1, "proposed", "jakarta"), (2, "declined", "makassar")],
               30, what="Jakarta to receive the decline after its restart")
    wait_until(lambda: not fed.makassar.staff.GetPartnership(pb.GetPartnershipRequest(id=pid), metadata=ADMIN)
               .partnership.sync_pending, 30, what="Makassar's delivery to be confirmed")


def test_certificates_that_are_missing_foreign_or_expired_fail_the_handshake(federation):
    """gRPC's Python server either requires a verified client certificate or never asks for one, so these three
    never reach a call: the caller sees UNAVAILABLE and the reason is in this city's log."""
    fed = federation
    other_ca = Authority.create().issue("makassar")
    expired = Authority.load(fed.certs).issue("makassar", days=1,
                                              not_before=datetime.now(timezone.utc) - timedelta(days=3))
    for cert in (None, other_ca, expired):
        with pytest.raises(grpc.RpcError) as refused:
            fed.partner_stub(cert, fed.jakarta).ListSharedDatasets(pb.ListSharedDatasetsRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    log = fed.jakarta.process.log()
    assert "certificate has expired" in log or "CERTIFICATE_VERIFY_FAILED" in log or "PEER_DID_NOT_RETURN" in log


def refusal_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, str]:
    """A refused call's status code, ErrorInfo reason and message."""
    with pytest.raises(grpc.RpcError) as refused:
        call()
    info = error_info(refused.value)
    return refused.value.code(), info.reason if info else "", refused.value.details()


def audited(reader, city: str, reason: str) -> dict:
    """The audit record of a refusal of `city`'s call for `reason` (waits for it on collab.events.v1)."""
    def refused(r) -> bool:
        return r.key() == f"city:{city}".encode() and json.loads(r.value()).get("detail", "").startswith(reason + ":")
    return json.loads(reader.wait_for(lambda found: len(found) >= 1, match=refused)[0].value())


def test_a_revoked_certificate_and_an_unknown_city_are_refused_and_recorded(federation, topic_reader):
    fed = federation
    reader = topic_reader(ev.TOPIC)
    code, reason, message = refusal_of(lambda: fed.partner_stub(development_cert(fed, "surabaya"), fed.jakarta)
                                       .ListSharedDatasets(pb.ListSharedDatasetsRequest(), timeout=5))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "CERTIFICATE_REVOKED") and "revoked" in message
    code, reason, message = refusal_of(lambda: fed.partner_stub(development_cert(fed, "bogor"), fed.jakarta)
                                       .ListSharedDatasets(pb.ListSharedDatasetsRequest(), timeout=5))
    assert (code, reason, message) == (grpc.StatusCode.UNAUTHENTICATED, "UNKNOWN_CITY",
                                       "city 'bogor' is not a partner of jakarta")
    call = audited(reader, "surabaya", "CERTIFICATE_REVOKED")
    assert (call["city_id"], call["method"], call["outcome"]) == ("surabaya", "ListSharedDatasets", "denied")
    denied = reader.wait_for(lambda found: len(found) >= 1, match=lambda r: r.key() == b"city:bogor")
    call = json.loads(denied[0].value())
    assert (call["city_id"], call["method"], call["outcome"]) == ("bogor", "ListSharedDatasets", "denied")


def test_a_connection_does_not_outlive_its_certificate(federation, topic_reader):
    fed = federation
    reader = topic_reader(ev.TOPIC)
    started = datetime.now(timezone.utc)
    short = Authority.load(fed.certs).issue("makassar", not_before=started - timedelta(minutes=5),
                                            valid_for=timedelta(minutes=5, seconds=15))
    stub = fed.partner_stub(short, fed.jakarta)  # one channel: one connection, its handshake while still valid
    stub.ListSharedDatasets(pb.ListSharedDatasetsRequest(), timeout=10)
    assert datetime.now(timezone.utc) < short.cert.not_valid_after_utc, "the first call came after the expiry"
    wait_until(lambda: datetime.now(timezone.utc) > short.cert.not_valid_after_utc + timedelta(seconds=1), 60,
               what="the certificate's end")
    code, reason, message = refusal_of(lambda: stub.ListSharedDatasets(pb.ListSharedDatasetsRequest(), timeout=5))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "CERTIFICATE_EXPIRED"), message
    call = audited(reader, "makassar", "CERTIFICATE_EXPIRED")
    assert (call["method"], call["outcome"]) == ("ListSharedDatasets", "denied")


@pytest.fixture(scope="module")
def agreement(federation) -> tuple[str, str]:
    """An active partnership between Jakarta and Makassar under which Jakarta grants Makassar a dataset and the
    flood alerts: (partnership id, agreement id)."""
    fed = federation
    pid = propose(fed, "Berbagi data banjir dan kualitas udara")
    wait_until(lambda: len(history(fed.makassar.staff, pid)) == 1, 30, what="Makassar to receive the proposal")
    decide(fed.makassar, pid, pb.DECISION_ACCEPT)
    wait_until(lambda: len(history(fed.jakarta.staff, pid)) == 2, 30, what="Jakarta to learn of the acceptance")
    decide(fed.jakarta, pid, pb.DECISION_SIGN, signed_on="2026-12-07")
    decide(fed.jakarta, pid, pb.DECISION_ACTIVATE)
    granted = fed.jakarta.staff.GrantAgreement(pb.GrantAgreementRequest(
        partnership_id=pid, city_id="makassar", dataset_ids=["kualitas-udara-ispu"], streams=["flood-alerts"],
        valid_until="2099-12-31"), metadata=ADMIN).agreement
    wait_until(lambda: [s for _, s, _ in history(fed.makassar.staff, pid)][-1:] == ["active"], 30,
               what="Makassar to hold the signed, active partnership")
    return pid, granted.id


def test_a_partner_reads_what_its_agreement_grants_and_nothing_else(federation, agreement):
    fed = federation
    stub = fed.partner_stub(development_cert(fed, "makassar"), fed.jakarta)
    shared = stub.ListSharedDatasets(pb.ListSharedDatasetsRequest(), timeout=5).datasets
    assert [(d.dataset_id, d.agreement_id, d.valid_until) for d in shared] == [
        ("kualitas-udara-ispu", agreement[1], "2099-12-31")]
    with pytest.raises(grpc.RpcError) as refused:
        next(iter(stub.SubscribeSharedEvents(pb.SubscribeSharedEventsRequest(stream="air-quality-alerts"), timeout=5)))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "no agreement grants makassar the stream air-quality-alerts" in refused.value.details()


def alert(station: str, kind: str, n: int) -> SensorAlert:
    return SensorAlert(alert_id=str(uuid.uuid4()), kind=kind, station_id=station, station_name=f"Pos {station}",  # type: ignore[arg-type]
                       kota_code="31.74", level=f"siaga-{4 - n % 4}", severity="watch", value=100.0 + n, unit="cm",
                       observed_at=datetime.now(timezone.utc))


def send_alerts(bootstrap: str, alerts: list[SensorAlert]) -> None:
    with RecordProducer(bootstrap) as producer:
        for a in alerts:
            key, value, headers = envelope.encode(envelope.Event(type=a.ce_type, source="/kota/sensors",
                                                                 subject=a.station_id, data=a.to_data()), a.station_id)
            producer.produce(ALERTS_TOPIC, value, key, headers)


def test_bad_input_from_a_partner_is_answered_with_field_violations(federation, agreement):
    fed = federation
    stub = fed.partner_stub(development_cert(fed, "makassar"), fed.jakarta)
    for request, field in ((pb.SubscribeSharedEventsRequest(stream="everything"), "stream"),
                           (pb.SubscribeSharedEventsRequest(stream="flood-alerts", position="zero"), "position")):
        with pytest.raises(grpc.RpcError) as refused:
            next(iter(stub.SubscribeSharedEvents(request, timeout=5)))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in field_violations(refused.value)] == [field]
    broken = pb.Partnership(id=str(uuid.uuid4()), kind=pb.PARTNERSHIP_KIND_MOU, title="x",
                            history=[pb.HistoryEntry(seq=2, status="proposed", city_id="makassar")])
    with pytest.raises(grpc.RpcError) as refused:
        stub.SyncPartnership(pb.SyncPartnershipRequest(partnership=broken), timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(refused.value)] == ["partnership.history"]


def test_a_partner_reads_a_granted_dataset_through_open_data_and_no_other(federation, agreement):
    from kota.opendata.v1 import opendata_pb2 as od

    fed = federation
    stub = fed.partner_stub(development_cert(fed, "makassar"), fed.jakarta)
    got = stub.GetSharedDataset(pb.GetSharedDatasetRequest(dataset_id="kualitas-udara-ispu"), timeout=10)
    assert (got.dataset.name, got.agreement_id) == ("kualitas-udara-ispu", agreement[1])
    answer = stub.QuerySharedDataset(pb.QuerySharedDatasetRequest(
        query=od.QueryRecordsRequest(resource_id="kualitas-udara-ispu", q="Kelapa")), timeout=10)
    assert [r["station"] for r in json.loads(answer.result.records_json)] == ["DKI2 Kelapa Gading"]
    with pytest.raises(grpc.RpcError) as refused:
        stub.QuerySharedDataset(pb.QuerySharedDatasetRequest(query=od.QueryRecordsRequest(resource_id="pengaduan-warga")),
                                timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "no agreement grants makassar the dataset pengaduan-warga" in refused.value.details()


def test_partnerships_and_activities_are_datasets_in_the_catalogue(federation, agreement):
    from kota.opendata.v1 import opendata_pb2 as od
    from kota.opendata.v1 import opendata_pb2_grpc as od_grpc

    fed = federation
    fed.jakarta.staff.RecordActivity(pb.RecordActivityRequest(
        partnership_id=agreement[0], kind=pb.ACTIVITY_KIND_WORKSHOP, title="Lokakarya data banjir",
        starts_on="2026-12-07", participants=12), metadata=ADMIN)
    open_data = od_grpc.OpenDataServiceStub(grpc.insecure_channel(fed_open_data[0]))

    def titles(name: str) -> list[str]:
        try:
            answer = open_data.QueryRecords(od.QueryRecordsRequest(resource_id=name, limit=1000), timeout=5)
        except grpc.RpcError:
            return []
        return [r["judul"] for r in json.loads(answer.records_json)]

    wait_until(lambda: "Berbagi data banjir dan kualitas udara" in titles("kerja-sama-kota"), 30,
               what="the partnerships dataset")
    wait_until(lambda: "Lokakarya data banjir" in titles("kegiatan-kerja-sama-kota"), 30, what="the activities dataset")


def test_a_batched_stream_carries_the_same_events_and_resumes_from_any_of_them(federation, agreement):
    fed = federation
    station = f"gauge-{uuid.uuid4().hex[:6]}"
    send_alerts(fed.bootstrap, [alert(station, "flood", n) for n in range(4)] + [alert(station, "air_quality", 9)])
    stub = fed.partner_stub(development_cert(fed, "makassar"), fed.jakarta)

    def read(position: str, wanted: int) -> list[pb.SharedEvent]:
        call = stub.SubscribeSharedEvents(pb.SubscribeSharedEventsRequest(stream="flood-alerts", position=position,
                                                                          max_batch=2), timeout=30)
        found: list[pb.SharedEvent] = []
        for response in call:
            assert len(response.events) <= 2 and not response.data_json
            assert (response.stream, response.agreement_id) == ("flood-alerts", agreement[1])
            found += [e for e in response.events if json.loads(e.data_json)["station_id"] == station]
            if len(found) >= wanted:
                break
        call.cancel()
        return found

    everything = read("", 4)
    assert [json.loads(e.data_json)["value"] for e in everything] == [100.0, 101.0, 102.0, 103.0]
    assert all(e.type == "kota.sensors.alert-changed.v1" and e.time.seconds for e in everything)
    after_second = read(everything[1].position, 2)  # audited "in batches": the last test counts its own streams
    assert [json.loads(e.data_json)["alert_id"] for e in after_second] == [
        json.loads(e.data_json)["alert_id"] for e in everything[2:]]


def revoke_certificate(fed: Federation, serial: int) -> None:
    """What `kota certs --revoke <city>` does to the CA's list, for a certificate that is not the city's file."""
    authority = Authority.load(fed.certs)
    revoked = load_revoked_serials(fed.certs / "crl.pem", authority.cert) | {serial}
    save_revocation_list(authority.revocation_list(sorted(revoked)), fed.certs / "crl.pem")


def test_revoking_a_city_certificate_ends_its_open_stream(federation, agreement, topic_reader):
    fed = federation
    audit = topic_reader(ev.TOPIC)
    second = Authority.load(fed.certs).issue("makassar")  # Makassar's own stays valid for the other tests
    station = f"gauge-{uuid.uuid4().hex[:6]}"
    send_alerts(fed.bootstrap, [alert(station, "flood", 0)])
    call = fed.partner_stub(second, fed.jakarta).SubscribeSharedEvents(  # batched: the last test counts its own
        pb.SubscribeSharedEventsRequest(stream="flood-alerts", max_batch=1), timeout=60)
    for response in call:  # the stream is open once it has carried our alert
        if any(json.loads(e.data_json)["station_id"] == station for e in response.events):
            break
    revoke_certificate(fed, second.cert.serial_number)
    revoked_at = time.monotonic()
    with pytest.raises(grpc.RpcError) as ended:
        for _ in call:
            pass
    took = time.monotonic() - revoked_at
    info = error_info(ended.value)
    assert (ended.value.code(), info.reason if info else "") == (grpc.StatusCode.UNAUTHENTICATED,
                                                                 "CERTIFICATE_REVOKED"), ended.value.details()
    print(f"the revoked city's stream ended {took:.1f} s after the revocation list changed")
    denied = audited(audit, "makassar", "CERTIFICATE_REVOKED")
    assert (denied["method"], denied["outcome"]) == ("SubscribeSharedEvents", "denied")
    closed = audit.wait_for(lambda found: len(found) >= 1, match=lambda r: r.key() == agreement[0].encode() and
                            json.loads(r.value()).get("outcome") == "ended" and "certificate" in json.loads(r.value())["detail"])
    assert json.loads(closed[0].value())["detail"].startswith("stream flood-alerts: the client certificate")


# Last: it revokes the module's agreement.
def test_the_shared_stream_resumes_without_loss_and_ends_when_the_grant_is_revoked(federation, agreement, topic_reader):
    fed = federation
    audit = topic_reader(ev.TOPIC)
    station = f"gauge-{uuid.uuid4().hex[:6]}"
    mine = lambda r: json.loads(r.data_json)["station_id"] == station  # noqa: E731
    send_alerts(fed.bootstrap, [alert(station, "flood", n) for n in range(3)] + [alert(station, "air_quality", 9)])
    stub = fed.partner_stub(development_cert(fed, "makassar"), fed.jakarta)
    first_call = stub.SubscribeSharedEvents(pb.SubscribeSharedEventsRequest(stream="flood-alerts"), timeout=30)
    first: list[pb.SubscribeSharedEventsResponse] = []
    for response in first_call:
        if mine(response):
            first.append(response)
        if len(first) == 2:
            break
    first_call.cancel()  # the partner goes away after two of its three
    data = json.loads(first[0].data_json)
    assert data["kind"] == "flood" and first[0].agreement_id == agreement[1]
    assert set(data) <= {"alert_id", "kind", "station_id", "station_name", "lat", "lon", "kota_code", "level",
                         "previous_level", "severity", "value", "unit", "observed_at"}
    send_alerts(fed.bootstrap, [alert(station, "flood", n) for n in range(3, 5)])
    resumed_call = stub.SubscribeSharedEvents(
        pb.SubscribeSharedEventsRequest(stream="flood-alerts", position=first[-1].position), timeout=60)
    resumed = []
    for response in resumed_call:
        if mine(response):
            resumed.append(response)
        if len(resumed) == 3:
            break
    values = [json.loads(r.data_json)["value"] for r in first + resumed]
    assert values == [100.0, 101.0, 102.0, 103.0, 104.0]  # none lost, none twice, no air-quality alert
    fed.jakarta.staff.RevokeAgreement(pb.RevokeAgreementRequest(id=agreement[1], reason="uji"), metadata=ADMIN)
    revoked_at = time.monotonic()
    with pytest.raises(grpc.RpcError) as ended:
        for _ in resumed_call:
            pass
    assert ended.value.code() == grpc.StatusCode.PERMISSION_DENIED and "revoked" in ended.value.details()
    assert time.monotonic() - revoked_at < 5
    streams = [json.loads(r.value()) for r in audit.wait_for(
        lambda found: any(json.loads(r.value()).get("outcome") == "ended" and "revoked" in json.loads(r.value())["detail"]
                          and "certificate" not in json.loads(r.value())["detail"] for r in found),
        match=lambda r: r.key() == agreement[0].encode() and b"partner-called" in dict(r.headers())["ce_type"])]
    opened = [c for c in streams if c["method"] == "SubscribeSharedEvents" and c["outcome"] == "ok"
              and "in batches" not in c["detail"]]  # the batched test's streams are not this test's
    assert len(opened) == 2 and all(c["agreement_id"] == agreement[1] and c["city_id"] == "makassar" for c in opened)
