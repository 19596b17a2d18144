"""The open data service as a process fed by real events: complaints (through the complaints service) and
sensor readings/alerts (published as the sensors service does), on SQLite and PostgreSQL."""

import json
import random
import uuid
from datetime import datetime, timezone

import pytest

from kota.complaints.v1 import complaints_pb2 as cpb
from kota.opendata.v1 import opendata_pb2 as pb
from kota_common.events.complaints import ComplaintRated
from kota_common.events.sensors import SensorAlert, SensorReading
from kota_common.reference import AreaDirectory
from kota_opendata.domain.anonymise import coarsen_point

pytestmark = pytest.mark.integration

COMPLAINTS = "pengaduan-warga"
COUNTS = "pengaduan-warga-harian"
AIR = "kualitas-udara-ispu-per-jam"


def test_complaints_appear_anonymised_with_suppressed_counts_and_replay_changes_nothing(
    start_opendata, start_complaints_process, topic_reader, publish, od_query, eventually, staff_token
):
    _, od = start_opendata()
    _, complaints = start_complaints_process()
    reader = topic_reader("complaints.events.v1")
    # A cell of this test's own: other tests file complaints in a kecamatan's first kelurahan (code ending .1001)
    # on the same broker, and their events may still be arriving while this test compares counts.
    kelurahan = random.choice([k for k in AreaDirectory.load_jakarta().kelurahan() if not k.code.endswith(".1001")])
    lat, lon = -6.2146 + random.random() * 0.01, 106.8451
    description = "Banjir setinggi lutut, hubungi 0812-1111-2222 atau siti.rahayu@contoh.id, NIK 3171234567890123"
    contact = cpb.Contact(first_name="Siti", last_name="Rahayu", email="siti.rahayu@contoh.id", phone="+62 812 1111 2222")
    first = complaints.SubmitComplaint(cpb.SubmitComplaintRequest(
        channel=cpb.CHANNEL_APP, service_code="flooding", description=description,
        location=cpb.Location(lat=lat, lon=lon, kelurahan_code=kelurahan.code), contact=contact), timeout=10).complaint
    cid = first.id

    rows = eventually(lambda: od_query(od, COMPLAINTS, {"complaint_id": cid, "status": "routed"})[0])
    assert len(rows) == 1, rows
    row = rows[0]
    text = json.dumps(row)
    for secret in ("Siti", "Rahayu", "siti.rahayu", "1111-2222", "3171234567890123", first.reporter_ref):
        assert secret not in text, f"{secret!r} is in open data"
    assert "[phone]" in row["description"] and "[email]" in row["description"] and "[nik]" in row["description"]
    assert (row["lat"], row["lon"]) == coarsen_point(lat, lon) and row["lat"] != round(lat, 6)
    assert row["agency_code"] == "DSDA" and row["submitted_at"].endswith(":00:00")
    kel, date = row["kelurahan_code"], row["submitted_date"]
    assert kel == kelurahan.code and row["kelurahan"] == kelurahan.name

    cell = {"date": date, "kelurahan_code": kel, "service_code": "flooding", "status": "routed"}
    counts = eventually(lambda: od_query(od, COUNTS, cell)[0])
    before_count = counts[0]["count"]
    # One or two complaints in a cell identify people: suppressed unless other tests already filled the cell.
    if before_count is None:
        assert counts[0]["suppressed"] is True and counts[0]["mean_resolution_hours"] is None
    # Two more in the same cell bring it to k=3 or more: the count becomes public.
    ids = [cid]
    for i in (1, 2):  # 300 m apart: not duplicates of each other
        ids.append(complaints.SubmitComplaint(cpb.SubmitComplaintRequest(
            channel=cpb.CHANNEL_WEB, service_code="flooding", description="Genangan lagi",
            location=cpb.Location(lat=lat + 0.003 * i, lon=lon, kelurahan_code=kelurahan.code)), timeout=10).complaint.id)
    counts = eventually(lambda: [r for r in od_query(od, COUNTS, cell)[0] if (r["count"] or 0) >= 3])
    assert counts and counts[0]["suppressed"] is False

    # Replay every event of the first complaint twice (same ce_ids), then a new event as a marker.
    mine = reader.wait_for(lambda rs: len(rs) >= 2, match=lambda m: m.key() == cid.encode())
    snapshot_records = od_query(od, COMPLAINTS, {"complaint_id": cid})[0]
    snapshot_counts = od_query(od, COUNTS, {"date": date, "kelurahan_code": kel})[0]
    for _ in range(2):
        for m in mine:
            publish.raw("complaints.events.v1", m.key(), m.value(), m.headers())
    publish("complaints.events.v1", cid, ComplaintRated(complaint_id=cid, agency_code="DSDA", rating=4,
                                                          rated_at=datetime.now(timezone.utc)))
    rated = eventually(lambda: [r for r in od_query(od, COMPLAINTS, {"complaint_id": cid})[0] if r["rating"] == 4])
    assert rated
    assert [{**r, "rating": None} for r in rated] == [{**r, "rating": None} for r in snapshot_records]
    assert od_query(od, COUNTS, {"date": date, "kelurahan_code": kel})[0] == snapshot_counts

    # Resolutions: the records get their resolution time, the complaints move to the "resolved" cell, whose mean
    # resolution time is published once the cell holds k of them.
    auth = [("authorization", f"Bearer {staff_token('DSDA')}")]
    resolved_cell = {**cell, "status": "resolved"}
    for n, complaint_id in enumerate(ids, start=1):
        complaints.UpdateComplaintStatus(cpb.UpdateComplaintStatusRequest(
            id=complaint_id, status=cpb.STATUS_RESOLVED, note="air sudah surut"), timeout=10, metadata=auth)
        got = eventually(lambda n=n: [r for r in od_query(od, COUNTS, resolved_cell)[0]
                                      if (r["count"] or 0) >= n or (r["suppressed"] and n < 3)])
        assert got
        if n < 3 and got[0]["count"] is None:
            assert got[0]["mean_resolution_hours"] is None
    done = eventually(lambda: [r for r in od_query(od, COUNTS, resolved_cell)[0] if (r["count"] or 0) >= 3])
    assert done and done[0]["mean_resolution_hours"] is not None and done[0]["mean_resolution_hours"] >= 0
    record = eventually(lambda: [r for r in od_query(od, COMPLAINTS, {"complaint_id": cid})[0] if r["status"] == "resolved"])
    assert record[0]["resolution_hours"] is not None and record[0]["resolved_at"].endswith(":00:00")

    dataset = od.GetDataset(pb.GetDatasetRequest(id=COMPLAINTS), timeout=10).dataset
    assert dataset.record_count >= 3 and dataset.spatial and dataset.temporal_start.seconds > 0


def test_readings_move_the_hourly_ispu_and_replays_change_nothing(start_opendata, publish, od_query, eventually,
                                                                   topic_reader):
    _, od = start_opendata()
    updates = topic_reader("opendata.events.v1")
    # An hour of its own so that other tests' readings don't mix in.
    hour = datetime(2025, 1 + uuid.uuid4().int % 12, 1 + uuid.uuid4().int % 28, uuid.uuid4().int % 24, tzinfo=timezone.utc)
    base_ms = int(hour.timestamp() * 1000)
    readings = [SensorReading(device_id="DKI1", quantity="pm25", unit="ug/m3", value=v, observed_at_ms=base_ms + i * 60_000)
                for i, v in enumerate((40.0, 50.0, 60.0))]
    sent = [publish("sensors.readings.v1", "DKI1", r, event_id=f"DKI1/pm25/{r.observed_at_ms}") for r in readings]
    key = {"station_id": "DKI1", "hour": hour.replace(tzinfo=None).isoformat()}
    rows = eventually(lambda: [r for r in od_query(od, AIR, key)[0] if r["samples"] == 3])
    assert rows, od_query(od, AIR, key)[0]
    row = rows[0]
    assert row["pm25"] == 50.0 and row["ispu"] == 93 and row["category"] == "Sedang"
    assert row["critical_parameter"] == "pm25" and row["station_name"].startswith("SPKU DKI1")

    for _ in range(2):  # the same events again, twice
        for event, reading in zip(sent, readings, strict=True):
            publish("sensors.readings.v1", "DKI1", reading, event_id=event.id)
    marker = SensorReading(device_id="DKI1", quantity="pm10", unit="ug/m3", value=100.0, observed_at_ms=base_ms + 600_000)
    publish("sensors.readings.v1", "DKI1", marker)
    after = eventually(lambda: [r for r in od_query(od, AIR, key)[0] if r["pm10"] is not None])
    assert after and after[0]["samples"] == 3 and after[0]["pm25"] == 50.0 and after[0]["pm10"] == 100.0
    assert after[0]["ispu"] == 93  # pm10 100 -> 75 < 93 (93.2, rounded half up)

    published = updates.wait_for(lambda rs: any(dict(m.headers())["ce_type"] == b"kota.opendata.dataset-updated.v1"
                                                and json.loads(m.value())["name"] == AIR for m in rs))
    assert published


def test_alerts_history_and_poison_messages_go_to_the_dlq(start_opendata, publish, od_query, eventually, topic_reader):
    _, od = start_opendata()
    dlq = topic_reader("sensors.alerts.v1.dlq")
    alert_id = f"flood-{uuid.uuid4().hex[:8]}"
    alert = SensorAlert(alert_id=alert_id, kind="flood", station_id="MANGGARAI", station_name="Pintu Air Manggarai",
                        lat=-6.2094, lon=106.85, level="siaga-2", previous_level="siaga-3", severity="warning",
                        value=900.0, unit="cm", observed_at=datetime.now(timezone.utc))
    publish.raw("sensors.alerts.v1", b"MANGGARAI", b"{not json", [("ce_specversion", b"1.0")])
    publish("sensors.alerts.v1", "MANGGARAI", alert)
    publish("sensors.alerts.v1", "MANGGARAI", alert)  # a resend with a new ce_id: same natural key
    rows = eventually(lambda: od_query(od, "riwayat-peringatan-sensor", {"alert_id": alert_id})[0])
    assert len(rows) == 1 and rows[0]["level"] == "siaga-2" and rows[0]["value"] == 900.0
    assert dlq.wait_for(lambda rs: any(m.value() == b"{not json" for m in rs))
