"""Alerts through the outbox (and the complaints service turning them into tickets), the DLQ, the read side."""

import uuid

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from kota.complaints.v1 import complaints_pb2 as cpb
from kota.sensors.v1 import sensors_pb2 as pb
from kota_common import envelope
from kota_common.events.sensors import ALERTS_TOPIC, READINGS_TOPIC, SUMMARIES_TOPIC, SensorAlert
from kota_common.testing import RecordProducer, wait_consumed, wait_until

from ..conftest import now_ms
from .test_ingest import grpc_batches, level_series

pytestmark = pytest.mark.integration


def alerts_for(records, station: str, kind: str | None = None) -> list[SensorAlert]:
    out = []
    for m in records:
        if m.key() == station.encode():
            alert = SensorAlert.model_validate(envelope.decode(m.value(), m.headers(), m.key()).data)
            if kind is None or alert.kind == kind:
                out.append(alert)
    return out


def test_a_gauge_crossing_into_siaga_1_raises_one_alert_and_one_incident_ticket(start_sensors, start_complaints, topic_reader):
    complaints = start_complaints()
    s = start_sensors()
    gauge, token = s.provision("water_level")
    reader = topic_reader(ALERTS_TOPIC)
    t = now_ms() - 60_000
    # normal, then Siaga 3, then over 200 cm (Siaga 1), hovering there: one batch per reading, as a gauge sends
    for i, cm in enumerate([60.0, 70.0, 120.0, 210.0, 205.0, 215.0, 198.0]):
        ack = grpc_batches(s.stub, [pb.IngestReadingsRequest(sequence=i, device_id=gauge, device_token=token,
                                                            series=[level_series([cm], t + i * 1000)])])[0]
        assert ack.accepted == 1
    reader.wait_for(lambda r: len(alerts_for(r, gauge)) >= 2, match=lambda m: m.key() == gauge.encode())
    reader.assert_quiet(3, match=lambda m: m.key() == gauge.encode())
    alerts = alerts_for(reader.records(), gauge, "flood")
    assert [(a.previous_level, a.level, a.severity) for a in alerts] == [("siaga-4", "siaga-3", "watch"), ("siaga-3", "siaga-1", "danger")]
    assert alerts[1].value == 210.0 and alerts[1].unit == "cm" and alerts[1].station_name.startswith("test water_level")

    def tickets():
        found = complaints.ListComplaints(cpb.ListComplaintsRequest(channel=cpb.CHANNEL_SENSOR, page_size=500), timeout=10).complaints
        return [c for c in found if gauge in c.description]

    opened = wait_until(tickets)
    assert len(opened) == 1 and "siaga-1" in opened[0].description and opened[0].service_code == "disaster"

    # the river falls back below 190 cm: Siaga 2 (still severe), then normal: the ticket is resolved
    for i, cm in enumerate([185.0, 60.0]):
        grpc_batches(s.stub, [pb.IngestReadingsRequest(sequence=10 + i, device_id=gauge, device_token=token,
                                                      series=[level_series([cm], t + (10 + i) * 1000)])])
    resolved = wait_until(lambda: [c for c in tickets() if c.status == cpb.STATUS_RESOLVED])
    assert len(tickets()) == 1 and "siaga-4" in resolved[0].status_notes


def test_a_poison_record_goes_to_the_dlq_and_the_consumer_carries_on(start_sensors, kafka_bootstrap, topic_reader):
    s = start_sensors()
    key = f"poison-{uuid.uuid4().hex[:8]}".encode()
    with RecordProducer(kafka_bootstrap) as producer:
        producer.produce(READINGS_TOPIC, key=key, value=b"\x00not json", headers=[("ce_specversion", b"1.0")])
    dlq = topic_reader(READINGS_TOPIC + ".dlq")
    # Only this process's consumer counts: another consumer of the topic alive on the shared broker (open data)
    # dead-letters the same record with its own reason.
    group = s.process.env["KOTA_SENSORS_CONSUMER_GROUP"].encode()
    records = dlq.wait_for(
        lambda r: len(r) >= 1, timeout=120,
        match=lambda m: m.key() == key and dict(m.headers()).get("kota_dlq_consumer") == group,
    )
    headers = dict(records[0].headers())
    assert records[0].value() == b"\x00not json" and b"not a kota.sensors.reading.v1 payload" in headers["kota_dlq_reason"]
    assert headers["kota_dlq_topic"] == READINGS_TOPIC.encode()
    # and good readings behind it are still stored
    gauge, token = s.provision("water_level")
    grpc_batches(s.stub, [pb.IngestReadingsRequest(device_id=gauge, device_token=token, series=[level_series([42.0], now_ms() - 1000)])])
    obs = wait_until(lambda: s.stub.ListObservations(pb.ListObservationsRequest(device_id=gauge)).observations)
    assert obs[0].value == 42.0


def test_a_silent_device_raises_an_alert_and_clears_it_when_it_reports(start_sensors, topic_reader):
    s = start_sensors(KOTA_SENSORS_SILENT_AFTER_S="2", KOTA_SENSORS_SILENT_CHECK_INTERVAL_S="0.5")
    device, token = s.provision("air_quality", owner_agency="DLH")
    reader = topic_reader(ALERTS_TOPIC)

    def send(value: float) -> None:
        grpc_batches(s.stub, [pb.IngestReadingsRequest(device_id=device, device_token=token, series=[
            pb.Series(quantity="pm25", unit="ug/m3", timestamps_ms=[now_ms()], values=[value])])])

    send(10.0)
    reader.wait_for(lambda r: alerts_for(r, device, "device_silent"), match=lambda m: m.key() == device.encode())
    send(11.0)
    reader.wait_for(lambda r: len(alerts_for(r, device, "device_silent")) >= 2, match=lambda m: m.key() == device.encode())
    assert [a.level for a in alerts_for(reader.records(), device, "device_silent")][:2] == ["silent", "ok"]


def test_observations_datastreams_and_vehicle_positions_are_queryable(start_sensors):
    s = start_sensors()
    gauge, token = s.provision("water_level")
    t0 = now_ms() - 100_000
    values = [float(v) for v in range(10, 30)]
    grpc_batches(s.stub, [pb.IngestReadingsRequest(device_id=gauge, device_token=token, series=[level_series(values, t0)])])
    bus, bus_token = s.provision("vehicle", owner_agency="DISHUB", route_id="1")
    grpc_batches(s.stub, [pb.IngestReadingsRequest(device_id=bus, device_token=bus_token, positions=pb.PositionSeries(
        timestamps_ms=[t0, t0 + 5000], lats=[-6.24, -6.23], lons=[106.80, 106.801], bearings=[0, 5], speeds_kmh=[20, 25]))])

    wait_until(lambda: s.stub.ListObservations(pb.ListObservationsRequest(datastream_id=f"{gauge}:water_level", include_total=True)).total_size == 20)
    page = s.stub.ListObservations(pb.ListObservationsRequest(datastream_id=f"{gauge}:water_level", page_size=5, include_total=True))
    assert [o.value for o in page.observations] == [29.0, 28.0, 27.0, 26.0, 25.0] and page.total_size == 20
    nxt = s.stub.ListObservations(pb.ListObservationsRequest(datastream_id=f"{gauge}:water_level", page_size=5, page_token=page.next_page_token))
    assert [o.value for o in nxt.observations] == [24.0, 23.0, 22.0, 21.0, 20.0]
    frm = Timestamp()
    frm.FromMilliseconds(t0 + 5000)
    asc = s.stub.ListObservations(pb.ListObservationsRequest(device_id=gauge, ascending=True, time_from=frm, has_value_max=True,
                                                             value_max=17.0, skip=1, include_total=True))
    assert [o.value for o in asc.observations] == [16.0, 17.0] and asc.total_size == 3 and not asc.next_page_token
    assert asc.observations[0].id == f"{gauge}:water_level:{t0 + 6000}" and asc.observations[0].unit == "cm"

    device = s.stub.GetDevice(pb.GetDeviceRequest(id=gauge)).device
    (ds,) = device.datastreams
    assert (ds.id, ds.latest_value, ds.unit, ds.latest_time.ToMilliseconds()) == (f"{gauge}:water_level", 29.0, "cm", t0 + 19_000)
    assert device.last_seen_at.ToMilliseconds() == t0 + 19_000

    positions = wait_until(lambda: [p for p in s.stub.ListVehiclePositions(pb.ListVehiclePositionsRequest(route_id="1")).positions
                                    if p.vehicle_id == bus])
    assert (positions[0].lat, positions[0].speed_kmh, positions[0].observed_at.ToMilliseconds()) == (-6.23, 25.0, t0 + 5000)

    import grpc

    with pytest.raises(grpc.RpcError) as err:
        s.stub.ListObservations(pb.ListObservationsRequest(page_size=100_000))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_pm25_hourly_average_crossing_into_tidak_sehat_raises_one_air_quality_alert(start_sensors, topic_reader, kafka_bootstrap):
    s = start_sensors()
    station, token = s.provision("air_quality", owner_agency="DLH")
    reader = topic_reader(ALERTS_TOPIC)
    t = now_ms() - 600_000

    def send(values, start):
        ack = grpc_batches(s.stub, [pb.IngestReadingsRequest(device_id=station, device_token=token, series=[
            pb.Series(quantity="pm25", unit="ug/m3", timestamps_ms=[start + i * 1000 for i in range(len(values))], values=values)])])
        assert ack[0].accepted == len(values)

    send([10.0], t)  # Baik: a baseline, no alert
    # the evaluator saw it (it reads the batches' summaries)
    wait_consumed(kafka_bootstrap, s.process.env["KOTA_SENSORS_CONSUMER_GROUP"] + "-alerts", SUMMARIES_TOPIC)
    wait_until(lambda: s.stub.GetDevice(pb.GetDeviceRequest(id=station)).device.datastreams)
    send([100.0, 100.0, 100.0, 100.0, 100.0], t + 60_000)  # hourly average 85 -> ISPU 131: Tidak Sehat
    reader.wait_for(lambda r: any(a.level == "Tidak Sehat" for a in alerts_for(r, station)), match=lambda m: m.key() == station.encode())
    reader.assert_quiet(3, match=lambda m: m.key() == station.encode())
    alerts = alerts_for(reader.records(), station, "air_quality")
    assert [a.level for a in alerts][-1] == "Tidak Sehat" and [a.level for a in alerts].count("Tidak Sehat") == 1
    assert alerts[0].previous_level == "Baik" and all(a.unit == "ISPU" for a in alerts)
    assert alerts[-1].severity == "warning" and 101 <= alerts[-1].value <= 131  # depends on how the consumer batched
