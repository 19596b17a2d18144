"""The complaints service as a process: real gRPC socket, real broker, SQLite and PostgreSQL."""

import json

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from kota.complaints.v1 import complaints_pb2 as pb
from kota_common import envelope
from kota_common.grpc_server import field_violations

pytestmark = pytest.mark.integration

CONTACT = pb.Contact(first_name="Siti", last_name="Rahayu", email="siti.rahayu@contoh.id", phone="+62 812 1111 2222")


def submit(stub, lat=-6.2146, lon=106.8451, code="flooding", **kw):
    request = pb.SubmitComplaintRequest(
        channel=kw.pop("channel", pb.CHANNEL_APP), service_code=code, description=kw.pop("description", "Genangan 30 cm"),
        location=pb.Location(lat=lat, lon=lon), **kw,
    )
    return stub.SubmitComplaint(request, timeout=10)


def test_submission_reaches_the_topic_once_with_cloudevents_headers_and_no_personal_data(start_complaints, topic_reader):
    proc, stub = start_complaints()
    reader = topic_reader("complaints.events.v1")
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    resp = stub.SubmitComplaint(
        pb.SubmitComplaintRequest(
            channel=pb.CHANNEL_APP, service_code="flooding", description="Banjir, telepon saya 0812-1111-2222",
            location=pb.Location(lat=-6.2146, lon=106.8451), contact=CONTACT,
        ),
        timeout=10,
        metadata=[("traceparent", f"00-{caller_trace}-00f067aa0ba902b7-01")],
    )
    cid = resp.complaint.id
    assert resp.complaint.status == pb.STATUS_ROUTED and resp.complaint.agency_code == "DSDA"
    assert resp.tracking_code
    # What the citizen typed is kept, but leaves the service scrubbed, as on the topic.
    for view in (resp.complaint, stub.GetComplaint(pb.GetComplaintRequest(id=resp.complaint.id), timeout=10).complaint):
        assert view.description == "Banjir, telepon saya [phone]"

    mine = lambda m: m.key() == cid.encode()  # noqa: E731
    records = reader.wait_for(lambda rs: len(rs) >= 2, timeout=30, match=mine)
    reader.assert_quiet(2, match=mine)
    types = [dict(m.headers())["ce_type"].decode() for m in records]
    assert types.count("kota.complaints.submitted.v1") == 1, types
    assert types.count("kota.complaints.status-changed.v1") == 1, types
    ids = [dict(m.headers())["ce_id"] for m in records]
    assert len(ids) == len(set(ids))

    submitted = next(m for m in records if dict(m.headers())["ce_type"] == b"kota.complaints.submitted.v1")
    headers = dict(submitted.headers())
    for name in ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type", "traceparent"):
        assert name in headers, name
    assert headers["ce_specversion"] == b"1.0" and headers["ce_source"] == b"/kota/complaints"
    assert headers["traceparent"].decode().split("-")[1] == caller_trace, "the caller's trace continues on the event"
    event = envelope.decode(submitted.value(), submitted.headers(), submitted.key())
    assert event.data["complaint_id"] == cid and event.data["reporter_ref"] == resp.complaint.reporter_ref

    raw = b"".join((m.value() or b"") + b"".join(v for _, v in m.headers()) for m in records).decode()
    for secret in ("Siti", "Rahayu", "siti.rahayu@contoh.id", "812 1111 2222", "0812-1111-2222"):
        assert secret not in raw, f"{secret!r} leaked onto the topic"
    for secret in ("siti.rahayu@contoh.id", "1111 2222", "1111-2222"):
        assert secret not in proc.log(), f"{secret!r} leaked into the logs"


def test_invalid_arguments_get_field_violations(start_complaints):
    _, stub = start_complaints()
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitComplaint(
            pb.SubmitComplaintRequest(
                channel=pb.CHANNEL_SMS, service_code="no-such", description="",
                location=pb.Location(lat=95, lon=106.8), media_urls=["ftp://x"],
                contact=pb.Contact(email="not-an-email"),
            ),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = dict(field_violations(err.value))
    assert {"service_code", "description", "location.lat", "media_urls[0]", "contact.email"} <= set(fields)
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitComplaint(pb.SubmitComplaintRequest(service_code="flooding", description="x"), timeout=10)
    assert dict(field_violations(err.value)).keys() == {"channel"}
    with pytest.raises(grpc.RpcError) as err:  # longer than the columns: refused up front, not failed at commit
        stub.SubmitComplaint(
            pb.SubmitComplaintRequest(channel=pb.CHANNEL_WEB, service_code="flooding", description="banjir",
                                      location=pb.Location(address="Jl. " + "x" * 600),
                                      contact=pb.Contact(first_name="S" * 101, email="a" * 200 + "@contoh.id")),
            timeout=10,
        )
    assert dict(field_violations(err.value)).keys() == {"location.address", "contact.first_name", "contact.email"}
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitComplaint(
            pb.SubmitComplaintRequest(channel=pb.CHANNEL_WEB, service_code="road_damage", description="lubang",
                                      location=pb.Location(address="Jl. Sudirman")),
            timeout=10,
        )
    assert ("attributes.severity" in dict(field_violations(err.value)))
    with pytest.raises(grpc.RpcError) as err:
        stub.GetComplaint(pb.GetComplaintRequest(id="NOPE"), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stub.ListComplaints(pb.ListComplaintsRequest(page_size=10_000, page_token="abc"), timeout=10)
    assert set(dict(field_violations(err.value))) == {"page_size", "page_token"}


def test_lifecycle_with_staff_roles_rating_reopen_and_watch(start_complaints, staff_token, watch):
    _, stub = start_complaints()
    resp = submit(stub, lat=-6.1751, lon=106.8650, code="road_damage",
                  attributes=[pb.Attribute(code="severity", value="berat")], description="Lubang besar")
    cid, code = resp.complaint.id, resp.tracking_code
    assert resp.complaint.agency_code == "DBM" and resp.complaint.due_at.seconds > 0

    updates = watch(stub, pb.WatchComplaintsRequest(id=cid))

    move = pb.UpdateComplaintStatusRequest(id=cid, status=pb.STATUS_IN_PROGRESS)
    with pytest.raises(grpc.RpcError) as err:
        stub.UpdateComplaintStatus(move, timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as err:
        stub.UpdateComplaintStatus(move, timeout=10, metadata=[("authorization", f"Bearer {staff_token('DSDA')}")])
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    auth = [("authorization", f"Bearer {staff_token('DBM')}")]
    stub.UpdateComplaintStatus(move, timeout=10, metadata=auth)
    with pytest.raises(grpc.RpcError) as err:
        stub.UpdateComplaintStatus(pb.UpdateComplaintStatusRequest(id=cid, status=pb.STATUS_ROUTED), timeout=10, metadata=auth)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    stub.AddComplaintNote(pb.AddComplaintNoteRequest(id=cid, note="tim menuju lokasi, pelapor: 0812-3456-7890"),
                          timeout=10, metadata=auth)
    done = stub.UpdateComplaintStatus(
        pb.UpdateComplaintStatusRequest(id=cid, status=pb.STATUS_RESOLVED, note="ditambal"), timeout=10, metadata=auth
    ).complaint
    assert done.status == pb.STATUS_RESOLVED
    notes = [h.note for h in done.history if h.note]
    assert "tim menuju lokasi, pelapor: [phone]" in notes and not any("3456" in n for n in notes)

    seen = [updates.get(timeout=10).complaint.status for _ in range(3)]
    assert seen[-1] == pb.STATUS_RESOLVED and pb.STATUS_IN_PROGRESS in seen

    with pytest.raises(grpc.RpcError) as err:
        stub.RateComplaint(pb.RateComplaintRequest(id=cid, tracking_code="WRONGCODE123", rating=5), timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        stub.RateComplaint(pb.RateComplaintRequest(id=cid, tracking_code="kode-ñ-☂", rating=5), timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        stub.RateComplaint(pb.RateComplaintRequest(id=cid, tracking_code=code, rating=9), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stub.RateComplaint(pb.RateComplaintRequest(id=cid, tracking_code=code, rating=4), timeout=10).complaint.rating == 4
    reopened = stub.ReopenComplaint(pb.ReopenComplaintRequest(id=cid, tracking_code=code, reason="lubang muncul lagi"), timeout=10)
    assert reopened.complaint.status == pb.STATUS_ROUTED
    history = [(h.kind, pb.Status.Name(h.status)) for h in stub.GetComplaint(pb.GetComplaintRequest(id=cid)).complaint.history]
    assert ("note", "STATUS_IN_PROGRESS") in history and ("rating", "STATUS_RESOLVED") in history


def test_duplicates_are_linked_and_follow_the_master(start_complaints, staff_token):
    _, stub = start_complaints()
    master = submit(stub, lat=-6.2001, lon=106.8001, code="waste", description="sampah menumpuk").complaint
    dup = submit(stub, lat=-6.2004, lon=106.8003, code="waste", description="sampah bau", channel=pb.CHANNEL_TWITTER).complaint
    other = submit(stub, lat=-6.2101, lon=106.8001, code="waste", description="sampah jauh").complaint
    assert dup.duplicate_of == master.id and other.duplicate_of == ""
    assert stub.GetComplaint(pb.GetComplaintRequest(id=master.id)).complaint.supporters_count == 1
    auth = [("authorization", f"Bearer {staff_token(master.agency_code)}")]
    stub.UpdateComplaintStatus(pb.UpdateComplaintStatusRequest(id=master.id, status=pb.STATUS_RESOLVED, note="diangkut"),
                               timeout=10, metadata=auth)
    assert stub.GetComplaint(pb.GetComplaintRequest(id=dup.id)).complaint.status == pb.STATUS_RESOLVED
    page = stub.ListComplaints(pb.ListComplaintsRequest(service_code="waste", statuses=[pb.STATUS_RESOLVED], page_size=1))
    assert page.total_size == 2 and len(page.complaints) == 1 and page.next_page_token
    rest = stub.ListComplaints(pb.ListComplaintsRequest(service_code="waste", statuses=[pb.STATUS_RESOLVED],
                                                        page_size=1, page_token=page.next_page_token))
    assert {page.complaints[0].id, rest.complaints[0].id} == {master.id, dup.id}


def test_idempotency_key_returns_the_same_complaint(start_complaints):
    _, stub = start_complaints()
    first = submit(stub, idempotency_key="wa-msg-778")
    again = submit(stub, idempotency_key="wa-msg-778")
    assert first.complaint.id == again.complaint.id and first.tracking_code == again.tracking_code
    # The same key with other content is refused with a field violation, and never reveals that complaint.
    with pytest.raises(grpc.RpcError) as err:
        submit(stub, idempotency_key="wa-msg-778", description="Genangan 50 cm di jalan lain")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(field_violations(err.value)).keys() == {"idempotency_key"}
    assert first.complaint.id not in err.value.details() and first.tracking_code not in err.value.details()
    assert submit(stub, idempotency_key="wa-msg-779", description="Genangan 50 cm di jalan lain").complaint.id != first.complaint.id


def test_sla_breach_emits_an_event_and_escalates(start_complaints, topic_reader):
    _, stub = start_complaints(reference_overrides={"fire_hazard": {"sla_hours": 0}}, KOTA_COMPLAINTS_SLA_CHECK_INTERVAL_S="0.5")
    reader = topic_reader("complaints.events.v1")
    cid = submit(stub, code="fire_hazard", description="kabel listrik terbakar").complaint.id
    breached = reader.wait_for(
        lambda rs: rs, timeout=30,
        match=lambda m: m.key() == cid.encode() and dict(m.headers())["ce_type"] == b"kota.complaints.sla-breached.v1",
    )
    data = json.loads(breached[0].value())
    assert data["escalation_level"] == 1 and data["escalated_to"].startswith("Kepala ")
    c = stub.GetComplaint(pb.GetComplaintRequest(id=cid)).complaint
    assert c.sla_breached and c.escalation_level >= 1


def test_health_and_reflection(start_complaints):
    proc, _ = start_complaints()
    with grpc.insecure_channel(proc.address) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="kota.complaints.v1.ComplaintsService"), timeout=5
        )
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        responses = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert {"kota.complaints.v1.ComplaintsService", "grpc.health.v1.Health"} <= names


def test_channel_message_is_normalised_routed_and_answered(start_complaints):
    _, stub = start_complaints()
    resp = stub.SubmitChannelMessage(
        pb.SubmitChannelMessageRequest(channel=pb.CHANNEL_WHATSAPP, text="LAPOR#banjir#Gambir#Air setinggi lutut di jalan",
                                       sender="+62 813 9999 0000", external_ref="wamid.1"),
        timeout=10,
    )
    c = resp.complaint
    assert c.channel == pb.CHANNEL_WHATSAPP and c.service_code == "flooding" and c.agency_code == "DSDA"
    assert c.location.kelurahan == "Gambir" and c.location.kota == "Jakarta Pusat"
    assert resp.tracking_code in resp.reply and c.id in resp.reply
    again = stub.SubmitChannelMessage(
        pb.SubmitChannelMessageRequest(channel=pb.CHANNEL_WHATSAPP, text="LAPOR#banjir#Gambir#Air setinggi lutut di jalan",
                                       sender="+62 813 9999 0000", external_ref="wamid.1"),
        timeout=10,
    )
    assert again.complaint.id == c.id, "a webhook retry is the same complaint"
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitChannelMessage(pb.SubmitChannelMessageRequest(channel=pb.CHANNEL_SENSOR, text=""), timeout=10)
    assert set(dict(field_violations(err.value))) == {"channel", "text"}


def test_list_filters_by_date_area_and_channel(start_complaints):
    from datetime import datetime, timedelta, timezone

    from google.protobuf.timestamp_pb2 import Timestamp

    _, stub = start_complaints()
    cid = submit(stub, channel=pb.CHANNEL_EMAIL, lat=-6.1754, lon=106.8272).complaint.id
    now = datetime.now(timezone.utc)

    def ts(dt):
        t = Timestamp()
        t.FromDatetime(dt)
        return t

    def ids(**kw):
        return [c.id for c in stub.ListComplaints(pb.ListComplaintsRequest(**kw), timeout=10).complaints]

    assert cid in ids(start_date=ts(now - timedelta(minutes=5)), end_date=ts(now + timedelta(minutes=5)))
    assert cid not in ids(start_date=ts(now + timedelta(minutes=5)))
    assert cid not in ids(end_date=ts(now - timedelta(minutes=5)))
    assert cid in ids(kota_code="31.71", channel=pb.CHANNEL_EMAIL)
    assert cid not in ids(kota_code="31.72")
    assert ids(ids=[cid]) == [cid]
