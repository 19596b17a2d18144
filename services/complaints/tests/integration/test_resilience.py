"""Nothing accepted is lost: poison messages, a frozen broker, a killed service; replicas stay in step."""

import json
import os
import queue
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import grpc
import pytest

from kota.complaints.v1 import complaints_pb2 as pb
from kota.complaints.v1 import complaints_pb2_grpc as pb_grpc
from kota_common import envelope
from kota_common.events.sensors import ALERTS_TOPIC, SOURCE, SensorAlert
from kota_common.testing import RecordProducer, ServiceProcess, child_pids, wait_until

pytestmark = pytest.mark.integration


def alert(station: str, level: str, severity: str, value: float) -> envelope.Event:
    payload = SensorAlert(
        alert_id=str(uuid.uuid4()), kind="flood", station_id=station, station_name="Pintu Air Manggarai",
        lat=-6.2083, lon=106.8506, kota_code="31.74", level=level, previous_level="", severity=severity,
        value=value, unit="cm", observed_at=datetime.now(timezone.utc),
    )
    return envelope.Event(type=payload.ce_type, source=SOURCE, subject=station, data=payload.to_data())


def produce(bootstrap: str, records: list[tuple[bytes | None, bytes, list]]) -> None:
    with RecordProducer(bootstrap) as producer:
        for key, value, headers in records:
            producer.produce(ALERTS_TOPIC, key=key, value=value, headers=headers)


def sensor_tickets(stub, station: str) -> list:
    found = stub.ListComplaints(pb.ListComplaintsRequest(channel=pb.CHANNEL_SENSOR, page_size=100), timeout=10).complaints
    return [c for c in found if station in c.description]


def test_poison_messages_go_to_the_dlq_and_the_consumer_carries_on(start_complaints, kafka_bootstrap, topic_reader):
    _, stub = start_complaints()
    station = f"MANGGARAI-{uuid.uuid4().hex[:6]}"
    dlq = topic_reader(ALERTS_TOPIC + ".dlq")
    bad_payload = alert(station, "siaga-1", "danger", 990)
    bad_payload = envelope.Event(type=bad_payload.type, source=SOURCE, subject=station, data={"station_id": station})
    produce(kafka_bootstrap, [
        (station.encode(), b"\x00not a cloudevent", []),
        envelope.encode(bad_payload, station),
        envelope.encode(alert(station, "siaga-1", "danger", 990), station),
    ])
    dead = dlq.wait_for(lambda rs: len(rs) >= 2, timeout=60, match=lambda m: m.key() == station.encode())
    reasons = sorted(dict(m.headers())["kota_dlq_reason"].decode() for m in dead)
    assert len(dead) == 2
    assert any("missing CloudEvents headers" in r for r in reasons) and any("invalid" in r for r in reasons)
    assert all(dict(m.headers())["kota_dlq_topic"] == ALERTS_TOPIC.encode() for m in dead)

    # The valid alert behind the poison ones was handled: an incident ticket routed to BPBD.
    ticket = wait_until(lambda: sensor_tickets(stub, station))[0]
    assert ticket.agency_code == "BPBD" and ticket.status == pb.STATUS_ROUTED

    # Redelivery of the same event changes nothing; the level falling back resolves the ticket.
    same = alert(station, "siaga-1", "danger", 990)
    produce(kafka_bootstrap, [envelope.encode(same, station), envelope.encode(same, station)])
    produce(kafka_bootstrap, [envelope.encode(alert(station, "siaga-4", "normal", 700), station)])
    resolved = wait_until(
        lambda: [c for c in sensor_tickets(stub, station) if c.status == pb.STATUS_RESOLVED]
    )
    assert len(sensor_tickets(stub, station)) == 1 and "siaga-4" in resolved[0].status_notes


def test_submissions_are_accepted_while_the_broker_is_frozen(start_complaints, kafka_broker, topic_reader):
    _, stub = start_complaints()
    reader = topic_reader("complaints.events.v1")
    submit = lambda i: stub.SubmitComplaint(  # noqa: E731
        pb.SubmitComplaintRequest(channel=pb.CHANNEL_SMS, service_code="waste", description=f"sampah {i}",
                                  location=pb.Location(lat=-6.1 - i * 0.01, lon=106.7)),
        timeout=5,
    ).complaint.id
    kafka_broker.pause()
    try:
        started = time.monotonic()
        accepted = []
        while time.monotonic() - started < 10:
            accepted.append(submit(len(accepted)))
            time.sleep(0.2)
    finally:
        kafka_broker.resume()
    assert len(accepted) >= 20
    wanted = {cid.encode() for cid in accepted}
    records = reader.wait_for(
        lambda rs: {m.key() for m in rs} >= wanted, timeout=120,
        match=lambda m: m.key() in wanted and dict(m.headers())["ce_type"] == b"kota.complaints.submitted.v1",
    )
    keys = [m.key() for m in records]
    assert set(keys) == wanted and len(keys) == len(wanted), "each accepted complaint reaches the topic exactly once"


def test_no_accepted_complaint_is_lost_when_the_service_is_killed(start_complaints, topic_reader):
    proc, stub = start_complaints()
    accepted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                resp = stub.SubmitComplaint(
                    pb.SubmitComplaintRequest(channel=pb.CHANNEL_APP, service_code="street_light",
                                              description=f"lampu mati {worker}-{i}",
                                              location=pb.Location(lat=-6.3 + worker * 0.01 + i * 0.002, lon=106.9)),
                    timeout=5,
                )
            except grpc.RpcError:
                continue  # the service is gone: not accepted, nothing promised
            with lock:
                accepted.append(resp.complaint.id)

    with ThreadPoolExecutor(8) as pool:
        for w in range(8):
            pool.submit(load, w)
        wait_until(lambda: len(accepted) >= 150, timeout=60, interval=0.05)
        proc.kill()
        time.sleep(0.5)
        stop.set()
    proc.start()
    for cid in accepted:
        assert stub.GetComplaint(pb.GetComplaintRequest(id=cid), timeout=10).complaint.id == cid
    wanted = {cid.encode() for cid in accepted}
    reader = topic_reader("complaints.events.v1")
    records = reader.wait_for(
        lambda rs: {m.key() for m in rs} >= wanted, timeout=120,
        match=lambda m: m.key() in wanted and dict(m.headers())["ce_type"] == b"kota.complaints.submitted.v1",
    )
    assert {m.key() for m in records} == wanted
    data = [json.loads(m.value()) for m in records]
    assert all(d["complaint_id"].encode() in wanted for d in data)


def relay_processes(service: ServiceProcess) -> list[int]:
    """The service's child processes: its outbox relay (KOTA_COMPLAINTS_OUTBOX_RELAY=process, the default)."""
    return child_pids(service.proc.pid)


def has_ended(pid: int) -> bool:
    try:  # gone, or a zombie waiting for whoever adopted it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_the_relay_process_is_restarted_and_ends_with_its_service(start_complaints, topic_reader):
    proc, stub = start_complaints()
    [relay] = relay_processes(proc)

    def submit(text: str) -> bytes:
        return stub.SubmitComplaint(pb.SubmitComplaintRequest(
            channel=pb.CHANNEL_APP, service_code="waste", description=text,
            location=pb.Location(lat=-6.2 + len(text) * 0.001, lon=106.8),
        ), timeout=10).complaint.id.encode()

    def reach_the_topic(ids: set[bytes]) -> None:
        topic_reader("complaints.events.v1").wait_for(
            lambda rs: {m.key() for m in rs} >= ids, timeout=60, match=lambda m: m.key() in ids)

    os.kill(relay, signal.SIGKILL)
    while_down = {submit(f"sampah menumpuk {i}") for i in range(5)}  # committed while no relay runs
    wait_until(lambda: [pid for pid in relay_processes(proc) if pid != relay], timeout=30)
    reach_the_topic(while_down)

    [relay] = relay_processes(proc)
    proc.kill()  # its wake-up pipe closes: the relay stops too, and frees the outbox for the next one
    wait_until(lambda: has_ended(relay), timeout=30)
    proc.start()
    reach_the_topic({submit("sampah menumpuk lagi")})


def test_two_replicas_on_one_database_publish_each_event_once(start_complaints, database_url, topic_reader):
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database; SQLite is one process by construction")
    _, first = start_complaints()
    _, second = start_complaints()
    reader = topic_reader("complaints.events.v1")
    accepted = []
    for i in range(20):
        stub = first if i % 2 else second
        accepted.append(stub.SubmitComplaint(
            pb.SubmitComplaintRequest(channel=pb.CHANNEL_WEB, service_code="sidewalk", description=f"trotoar {i}",
                                      location=pb.Location(lat=-6.15 - i * 0.01, lon=106.75)),
            timeout=10,
        ).complaint.id)
    wanted = {cid.encode() for cid in accepted}
    submitted = lambda m: m.key() in wanted and dict(m.headers())["ce_type"] == b"kota.complaints.submitted.v1"  # noqa: E731
    records = reader.wait_for(lambda rs: {m.key() for m in rs} >= wanted, timeout=60, match=submitted)
    reader.assert_quiet(3, match=submitted)  # anything published twice would show up now
    assert sorted(m.key() for m in records) == sorted(wanted)


def next_update(updates: queue.Queue, match, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    passed_over = []
    while True:
        try:
            update = updates.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no matching update in {timeout} s; passed over: {passed_over}") from None
        if match(update):
            return update
        passed_over.append((update.event_type, update.complaint.status))


@dataclass
class WatchedAcrossReplicas:
    first: ServiceProcess  # where the watchers are
    second: pb_grpc.ComplaintsServiceStub  # where the changes are made
    complaint_id: str
    staff: list  # call metadata of the complaint's agency staff
    by_id: queue.Queue
    by_agency: queue.Queue


def watched_across_replicas(start_complaints, staff_token, watch) -> WatchedAcrossReplicas:
    """Two replicas on one database; a complaint submitted through the first and watched there (by id and by
    agency), noted through the second until the first's stream (registered asynchronously) passes an update on."""
    first_process, first = start_complaints()
    _, second = start_complaints()
    cid = first.SubmitComplaint(
        pb.SubmitComplaintRequest(channel=pb.CHANNEL_WEB, service_code="road_damage", description="Jalan berlubang",
                                  location=pb.Location(lat=-6.1751, lon=106.8650),
                                  attributes=[pb.Attribute(code="severity", value="berat")]),
        timeout=10,
    ).complaint.id
    by_id = watch(first, pb.WatchComplaintsRequest(id=cid))
    by_agency = watch(first, pb.WatchComplaintsRequest(agency_code="DBM"))
    staff = [("authorization", f"Bearer {staff_token('DBM')}")]
    deadline = time.monotonic() + 30
    while by_id.empty() and time.monotonic() < deadline:
        second.AddComplaintNote(pb.AddComplaintNoteRequest(id=cid, note="dicek"), timeout=10, metadata=staff)
        time.sleep(0.5)
    assert not by_id.empty()
    return WatchedAcrossReplicas(first_process, second, cid, staff, by_id, by_agency)


def in_progress(update) -> bool:
    return update.complaint.status == pb.STATUS_IN_PROGRESS


def test_a_watcher_on_one_replica_sees_changes_made_through_another(start_complaints, database_url, staff_token, watch):
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database; SQLite is one process by construction")
    w = watched_across_replicas(start_complaints, staff_token, watch)
    w.second.UpdateComplaintStatus(pb.UpdateComplaintStatusRequest(id=w.complaint_id, status=pb.STATUS_IN_PROGRESS),
                                   timeout=10, metadata=w.staff)
    assert next_update(w.by_id, in_progress).event_type == "kota.complaints.status-changed.v1"
    update = next_update(w.by_agency, in_progress)
    assert (update.complaint.id, update.complaint.agency_code) == (w.complaint_id, "DBM")


def test_a_watcher_gets_the_changes_made_while_its_replica_was_not_listening(
    start_complaints, database_url, staff_token, watch
):
    """PostgreSQL does not replay NOTIFYs sent while a listener was disconnected: the replica catches up from the
    outbox once it listens again."""
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database; SQLite is one process by construction")
    import psycopg

    from kota_common.db.notify import libpq_conninfo

    w = watched_across_replicas(start_complaints, staff_token, watch)
    with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as admin:
        cut = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert cut >= 2  # both replicas' listeners: each reconnects after 0.5 s
    w.second.UpdateComplaintStatus(pb.UpdateComplaintStatusRequest(id=w.complaint_id, status=pb.STATUS_IN_PROGRESS),
                                   timeout=10, metadata=w.staff)  # committed while no replica listens
    assert next_update(w.by_id, in_progress).event_type == "kota.complaints.status-changed.v1"
    assert next_update(w.by_agency, in_progress).complaint.id == w.complaint_id
    assert "while not listening" in w.first.log()


def test_an_agency_watcher_sees_the_incident_a_sensor_alert_opens(start_complaints, kafka_bootstrap, watch):
    _, stub = start_complaints()
    station = f"MANGGARAI-{uuid.uuid4().hex[:6]}"
    updates = watch(stub, pb.WatchComplaintsRequest(agency_code="BPBD"))
    time.sleep(1)  # the stream is registered asynchronously
    produce(kafka_bootstrap, [envelope.encode(alert(station, "siaga-1", "danger", 990), station)])
    update = next_update(updates, lambda u: station in u.complaint.description, timeout=60)
    assert update.complaint.channel == pb.CHANNEL_SENSOR and update.complaint.status == pb.STATUS_ROUTED
