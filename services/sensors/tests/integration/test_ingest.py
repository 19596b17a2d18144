"""The sensors service as a process: readings in through gRPC, HTTP and MQTT, out on the real broker."""

import asyncio
import json
import urllib.error
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kota.sensors.v1 import sensors_pb2 as pb
from kota_common import envelope
from kota_common.events.sensors import POSITIONS_TOPIC, READINGS_TOPIC, SensorReading, VehiclePosition
from kota_common.grpc_server import field_violations
from kota_common.testing import free_port, wait_until

from ..conftest import now_ms

pytestmark = pytest.mark.integration


def grpc_batches(stub, batches):
    return list(stub.IngestReadings(iter(batches), timeout=30))


def http_post(address: str, device_id: str, doc, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Device {token}"
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    req = urllib.request.Request(f"http://{address}/v1/devices/{device_id}/readings", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def mqtt_publish(address: str, device_id: str, doc: dict, token: str, *, cafile: str | None = None) -> dict:
    """Connects as the device (username = device id, password = credential; over TLS trusting `cafile` when
    given), publishes a document and returns the service's answer from the acks topic."""
    from amqtt.client import MQTTClient

    async def run():
        client = MQTTClient(client_id=f"dev-{device_id}", config={"auto_reconnect": False})
        scheme = "mqtts" if cafile else "mqtt"
        await client.connect(f"{scheme}://{device_id}:{token}@{address}/", cafile=cafile)
        await client.subscribe([(f"kota/devices/{device_id}/acks", 1)])
        await client.publish(f"kota/devices/{device_id}/readings", json.dumps(doc).encode(), qos=1)
        msg = await client.deliver_message(timeout_duration=30)
        await client.disconnect()
        return json.loads(bytes(msg.data))

    return asyncio.run(run())


def level_series(values, start_ms, step=1000):
    return pb.Series(quantity="water_level", unit="cm", timestamps_ms=[start_ms + i * step for i in range(len(values))], values=values)


def test_serves_health_and_lists_the_seeded_jakarta_devices(start_sensors):
    s = start_sensors()
    with grpc.insecure_channel(s.process.address) as ch:
        status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service="kota.sensors.v1.SensorsService"))
        assert status.status == health_pb2.HealthCheckResponse.SERVING
    ids = {d.id for d in s.stub.ListDevices(pb.ListDevicesRequest(page_size=1000)).devices}
    assert {"DKI1", "DKI2", "DKI3", "DKI4", "DKI5", "KATULAMPA", "DEPOK", "MANGGARAI", "KARET", "PASAR_IKAN"} <= ids
    gauge = s.stub.GetDevice(pb.GetDeviceRequest(id="MANGGARAI")).device
    assert {t.name: t.value for t in gauge.thresholds}["siaga2_max"] == 950
    assert not gauge.credential_active  # seeded devices get their credential when installed
    buses = s.stub.ListDevices(pb.ListDevicesRequest(kind="vehicle")).devices
    assert buses and all(b.route_id == "1" for b in buses)


def test_readings_from_grpc_http_and_mqtt_reach_the_topic_once(start_sensors, topic_reader):
    s = start_sensors()
    device, token = s.provision("air_quality", owner_agency="DLH")
    t = now_ms() - 60_000
    acks = grpc_batches(s.stub, [pb.IngestReadingsRequest(sequence=7, device_id=device, device_token=token, series=[
        pb.Series(quantity="pm25", unit="ug/m3", timestamps_ms=[t, t + 1000, t + 2000], values=[12.0, 13.5, 14.0])])])
    assert [(a.sequence, a.accepted, a.rejected, a.refused_reason) for a in acks] == [(7, 3, 0, "")]
    code, body = http_post(s.http, device, {"readings": [
        {"quantity": "pm10", "unit": "ug/m3", "value": 40.5, "time_ms": t + 3000},
        {"quantity": "pm25", "unit": "ug/m3", "value": 15.0, "time_ms": t + 4000}]}, token)
    assert (code, body["accepted"], body["rejected"]) == (200, 2, 0)
    answer = mqtt_publish(s.mqtt, device, {"readings": [
        {"quantity": "pm25", "unit": "ug/m3", "value": 16.0, "time_ms": t + 5000},
        {"quantity": "no2", "unit": "ug/m3", "value": 30.0, "time_ms": t + 6000}]}, token)
    assert (answer["accepted"], answer["rejected"]) == (2, 0)

    reader = topic_reader(READINGS_TOPIC)
    records = reader.wait_for(lambda r: len(r) >= 7, match=lambda m: m.key() == device.encode())
    reader.assert_quiet(2, match=lambda m: m.key() == device.encode())
    events = [envelope.decode(m.value(), m.headers(), m.key()) for m in records]
    assert len(events) == 7 and len({e.id for e in events}) == 7
    readings = [SensorReading.model_validate(e.data) for e in events]
    assert sorted((r.quantity, r.value) for r in readings) == sorted(
        [("pm25", 12.0), ("pm25", 13.5), ("pm25", 14.0), ("pm10", 40.5), ("pm25", 15.0), ("pm25", 16.0), ("no2", 30.0)])
    assert {e.type for e in events} == {"kota.sensors.reading.v1"}
    assert all(r.device_id == device for r in readings)


def test_devices_on_public_networks_publish_over_tls_with_their_credential_checked(start_sensors, topic_reader, tmp_path):
    """The embedded broker's MQTT-over-TLS listener: a device that trusts the city's CA publishes and is
    answered; its credential is checked as on the plain listener; a client speaking plain MQTT to it gets nowhere."""
    import trustme
    from amqtt.client import MQTTClient

    ca = trustme.CA()
    cert, key, ca_pem = tmp_path / "broker.pem", tmp_path / "broker.key", tmp_path / "ca.pem"
    issued = ca.issue_cert("127.0.0.1", "localhost")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    for extra in issued.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_pem))
    tls = f"127.0.0.1:{free_port()}"
    s = start_sensors(KOTA_SENSORS_MQTT_TLS_ADDRESS=tls, KOTA_SENSORS_MQTT_TLS_CERTFILE=str(cert),
                      KOTA_SENSORS_MQTT_TLS_KEYFILE=str(key))
    device, token = s.provision()
    t = now_ms() - 10_000
    answer = mqtt_publish(tls, device, {"readings": [
        {"quantity": "water_level", "unit": "cm", "value": 61.5, "time_ms": t}]}, token, cafile=str(ca_pem))
    assert (answer["accepted"], answer["rejected"]) == (1, 0)
    record = topic_reader(READINGS_TOPIC).wait_for(lambda r: len(r) >= 1, match=lambda m: m.key() == device.encode())[0]
    assert SensorReading.model_validate(envelope.decode(record.value(), record.headers(), record.key()).data).value == 61.5

    with pytest.raises(Exception, match="(?i)connect|refused|auth"):  # the credential is checked here too
        mqtt_publish(tls, device, {"readings": []}, "kdt_wrong", cafile=str(ca_pem))

    async def plain_to_tls_port():
        client = MQTTClient(client_id=f"dev-{device}", config={"auto_reconnect": False})
        await asyncio.wait_for(client.connect(f"mqtt://{device}:{token}@{tls}/"), 20)

    with pytest.raises(Exception):  # noqa: B017 - amqtt reports a failed handshake in several ways
        asyncio.run(plain_to_tls_port())
    assert "devices over TLS on " + tls in s.process.log()


def test_unauthenticated_and_revoked_devices_are_refused(start_sensors, topic_reader):
    s = start_sensors()
    device, token = s.provision()
    batch = lambda tok, t: pb.IngestReadingsRequest(sequence=1, device_id=device, device_token=tok,  # noqa: E731
                                                   series=[level_series([50.0], t)])
    assert grpc_batches(s.stub, [batch("kdt_wrong", now_ms())])[0].refused_reason == "unauthenticated"
    assert grpc_batches(s.stub, [pb.IngestReadingsRequest(device_id="NO-SUCH", device_token=token)])[0].refused_reason
    code, body = http_post(s.http, device, {"readings": [{"quantity": "water_level", "unit": "cm", "value": 1, "time_ms": now_ms()}]}, None)
    assert code == 401 and body["error"]["reason"] == "unauthenticated"
    assert grpc_batches(s.stub, [batch(token, now_ms() - 5000)])[0].accepted == 1

    s.stub.RevokeDeviceCredential(pb.RevokeDeviceCredentialRequest(device_id=device), metadata=s.admin)
    assert grpc_batches(s.stub, [batch(token, now_ms())])[0].refused_reason == "unauthenticated"
    code, body = http_post(s.http, device, {"readings": [{"quantity": "water_level", "unit": "cm", "value": 1, "time_ms": now_ms()}]}, token)
    assert code == 401
    with pytest.raises(Exception, match="(?i)connect|refused|auth"):  # the MQTT broker refuses the CONNECT
        mqtt_publish(s.mqtt, device, {"readings": [{"quantity": "water_level", "unit": "cm", "value": 1, "time_ms": now_ms()}]}, token)
    assert not s.stub.GetDevice(pb.GetDeviceRequest(id=device)).device.credential_active
    stats = s.stub.GetIngestStats(pb.GetIngestStatsRequest())
    assert stats.refused_batches >= 4
    with pytest.raises(Exception, match="(?i)connect|refused|auth"):  # a wrong credential is refused at CONNECT
        mqtt_publish(s.mqtt, device, {"readings": []}, "kdt_wrong")

    # only the one authenticated reading got through
    reader = topic_reader(READINGS_TOPIC)
    mine = lambda m: m.key() == device.encode()  # noqa: E731
    reader.wait_for(lambda r: len(r) >= 1, match=mine)
    reader.assert_quiet(3, match=mine)
    assert len(reader.records(mine)) == 1

    # registry calls need a staff token of the owner agency
    with pytest.raises(grpc.RpcError) as err:
        s.stub.IssueDeviceCredential(pb.IssueDeviceCredentialRequest(device_id=device))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    new = s.stub.IssueDeviceCredential(pb.IssueDeviceCredentialRequest(device_id=device), metadata=s.admin).device_token
    assert grpc_batches(s.stub, [batch(new, now_ms())])[0].accepted == 1


def test_bad_readings_get_a_clear_rejection_and_the_rest_is_taken(start_sensors):
    s = start_sensors()
    device, token = s.provision()
    t = now_ms() - 10_000
    ack = grpc_batches(s.stub, [pb.IngestReadingsRequest(sequence=3, device_id=device, device_token=token, series=[
        pb.Series(quantity="water_level", unit="cm", timestamps_ms=[t, t + 1, t + 2, t + 2, t + 10**9],
                  values=[100.0, -999.0, 120.0, 121.0, 130.0]),
        pb.Series(quantity="water_level", unit="m", timestamps_ms=[t + 5], values=[1.0]),
        pb.Series(quantity="pm25", unit="ug/m3", timestamps_ms=[t + 6], values=[1.0]),
    ])])[0]
    assert ack.accepted == 2 and ack.rejected == 5
    assert [(r.quantity, r.index, r.reason) for r in ack.rejections] == [
        ("water_level", 1, "out_of_range"), ("water_level", 3, "duplicate"), ("water_level", 4, "future_timestamp"),
        ("water_level", 0, "wrong_unit"), ("pm25", 0, "unknown_quantity")]
    assert all(r.description for r in ack.rejections)

    code, body = http_post(s.http, device, {"readings": [{"quantity": "water_level", "unit": "cm", "value": 1e9, "time_ms": t + 20}]}, token)
    assert code == 422 and body["rejections"][0]["reason"] == "out_of_range" and body["rejections"][0]["index"] == 0
    code, body = http_post(s.http, device, b"{not json", token)
    assert code == 400 and body["error"]["reason"] == "invalid_document"
    code, body = http_post(s.http, device, {"readings": [{"quantity": "water_level", "unit": "cm", "value": "high", "time_ms": t}]}, token)
    assert code == 400 and "value" in body["error"]["message"]
    answer = mqtt_publish(s.mqtt, device, {"readings": [
        {"quantity": "water_level", "unit": "cm", "value": 5, "time": "2001-01-01T00:00:00Z"}]}, token)
    assert answer["rejections"][0]["reason"] == "too_old"
    stats = {r.reason: r.count for r in s.stub.GetIngestStats(pb.GetIngestStatsRequest()).rejected}
    assert stats["out_of_range"] == 2 and stats["too_old"] == 1 and stats["duplicate"] == 1

    with pytest.raises(grpc.RpcError) as err:
        s.stub.ProvisionDevice(pb.ProvisionDeviceRequest(device=pb.Device(id="bad id!", kind="toaster")), metadata=s.admin)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {f for f, _ in field_violations(err.value)}
    assert {"device.id", "device.kind", "device.name", "device.location"} <= fields


def test_after_a_restart_a_resent_reading_is_still_a_duplicate(start_sensors):
    s = start_sensors()
    device, token = s.provision()
    t = now_ms() - 5000
    req = pb.IngestReadingsRequest(device_id=device, device_token=token, series=[level_series([50.0], t)])
    assert grpc_batches(s.stub, [req])[0].accepted == 1
    wait_until(lambda: s.stub.GetDevice(pb.GetDeviceRequest(id=device)).device.datastreams)
    s.process.stop()
    s2 = start_sensors()  # same database
    ack = grpc_batches(s2.stub, [req])[0]
    assert ack.accepted == 0 and [r.reason for r in ack.rejections] == ["duplicate"]


def test_a_route_id_that_would_forge_the_position_record_is_rejected(start_sensors, topic_reader):
    s = start_sensors()
    bus, token = s.provision("vehicle", owner_agency="DISHUB", route_id="1")
    t = now_ms() - 10_000
    forged = 'K1","vehicle_id":"TJ-999'
    code, body = http_post(s.http, bus, {"positions": [{"time_ms": t, "lat": -6.2, "lon": 106.82, "route_id": forged}]}, token)
    assert code == 422 and body["accepted"] == 0
    assert [(r["index"], r["reason"]) for r in body["rejections"]] == [(0, "invalid_route_id")]
    assert "route_id" in body["rejections"][0]["description"]
    ack = grpc_batches(s.stub, [pb.IngestReadingsRequest(sequence=2, device_id=bus, device_token=token, positions=pb.PositionSeries(
        route_id='K1"', timestamps_ms=[t + 1000, t + 2000], lats=[-6.2, -6.21], lons=[106.82, 106.82]))])[0]
    assert (ack.accepted, ack.refused_reason) == (0, "") and [r.reason for r in ack.rejections] == ["invalid_route_id"] * 2
    code, body = http_post(s.http, bus, {"positions": [{"time_ms": t + 3000, "lat": -6.2, "lon": 106.82, "route_id": "K1"}]}, token)
    assert (code, body["accepted"]) == (200, 1)
    stats = {r.reason: r.count for r in s.stub.GetIngestStats(pb.GetIngestStatsRequest()).rejected}
    assert stats["invalid_route_id"] == 3

    reader = topic_reader(POSITIONS_TOPIC)
    records = reader.wait_for(lambda r: len(r) >= 1, match=lambda m: m.key() == bus.encode())
    reader.assert_quiet(2, match=lambda m: m.key() == bus.encode())
    positions = [VehiclePosition.model_validate(envelope.decode(m.value(), m.headers(), m.key()).data) for m in records]
    assert [(p.vehicle_id, p.route_id, p.observed_at_ms) for p in positions] == [(bus, "K1", t + 3000)]


def test_an_mqtt_session_is_refused_once_its_device_gets_a_new_credential(start_sensors, topic_reader):
    from amqtt.client import MQTTClient
    from amqtt.errors import ConnectError


    port = free_port()  # the broker listens on every interface, as in a container (compose, Kubernetes)
    s = start_sensors(KOTA_SENSORS_MQTT_ADDRESS=f"0.0.0.0:{port}")
    s.mqtt = f"127.0.0.1:{port}"
    device, old = s.provision()
    t = now_ms() - 10_000
    readings, acks = f"kota/devices/{device}/readings", f"kota/devices/{device}/acks"

    def doc(i: int) -> bytes:
        return json.dumps({"readings": [{"quantity": "water_level", "unit": "cm", "value": 50.0 + i, "time_ms": t + i}]}).encode()

    async def run() -> str:
        client = MQTTClient(client_id=f"dev-{device}", config={"auto_reconnect": False})
        await client.connect(f"mqtt://{device}:{old}@{s.mqtt}/")
        await client.subscribe([(acks, 1)])
        await client.publish(readings, doc(0), qos=1)
        assert json.loads(bytes((await client.deliver_message(timeout_duration=30)).data))["accepted"] == 1
        # staff replace the credential (the device was compromised); the old session stays connected until it acts
        new = await asyncio.to_thread(lambda: s.stub.IssueDeviceCredential(
            pb.IssueDeviceCredentialRequest(device_id=device), metadata=s.admin, timeout=10).device_token)
        try:
            await client.publish(readings, doc(1), qos=1)
        except Exception:
            pass  # the broker may already have closed the connection
        try:  # refused: no answer, the broker drops the session
            answer = await client.deliver_message(timeout_duration=30)
        except asyncio.CancelledError:  # amqtt cancels a pending delivery when the connection closes
            answer = None
        assert answer is None and not client.session.transitions.is_connected()

        with pytest.raises(ConnectError):  # and the old credential no longer connects
            again = MQTTClient(client_id=f"dev-{device}", config={"auto_reconnect": False})
            await again.connect(f"mqtt://{device}:{old}@{s.mqtt}/")
        return new

    new = asyncio.run(run())
    assert mqtt_publish(s.mqtt, device, {"readings": [
        {"quantity": "water_level", "unit": "cm", "value": 52.0, "time_ms": t + 2}]}, new)["accepted"] == 1
    assert s.stub.GetIngestStats(pb.GetIngestStatsRequest()).refused_batches >= 1

    reader = topic_reader(READINGS_TOPIC)
    records = reader.wait_for(lambda r: len(r) >= 2, match=lambda m: m.key() == device.encode())
    reader.assert_quiet(2, match=lambda m: m.key() == device.encode())
    values = sorted(SensorReading.model_validate(envelope.decode(m.value(), m.headers(), m.key()).data).value for m in records)
    assert values == [50.0, 52.0]  # the reading sent on the old session never reached the topic


def test_an_unreachable_external_mqtt_broker_does_not_stop_the_service(start_sensors):
    """Sensors starts and serves gRPC/HTTP ingest while the external MQTT broker is down, and subscribes once it is up."""
    from amqtt.broker import Broker
    from amqtt.client import MQTTClient


    mqtt = f"127.0.0.1:{free_port()}"
    s = start_sensors(KOTA_SENSORS_MQTT_EMBEDDED_BROKER="false", KOTA_SENSORS_MQTT_ADDRESS=mqtt)
    device, token = s.provision()
    t = now_ms() - 10_000
    assert grpc_batches(s.stub, [pb.IngestReadingsRequest(device_id=device, device_token=token, series=[level_series([50.0], t)])])[0].accepted == 1
    assert "not reachable" in s.process.log()

    async def run() -> dict:
        broker = Broker({"listeners": {"default": {"type": "tcp", "bind": mqtt}},
                         "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}})
        await broker.start()
        try:
            await asyncio.to_thread(wait_until, lambda: "MQTT ingest subscribed" in s.process.log(), 90)
            client = MQTTClient(client_id=f"dev-{device}", config={"auto_reconnect": False})
            await client.connect(f"mqtt://{mqtt}/")
            await client.subscribe([(f"kota/devices/{device}/acks", 1)])
            doc = {"token": token, "readings": [{"quantity": "water_level", "unit": "cm", "value": 51.0, "time_ms": t + 1}]}
            await client.publish(f"kota/devices/{device}/readings", json.dumps(doc).encode(), qos=1)
            msg = await client.deliver_message(timeout_duration=30)
            await client.disconnect()
            return json.loads(bytes(msg.data))
        finally:
            await broker.shutdown()

    assert asyncio.run(run())["accepted"] == 1
    assert s.process.proc.poll() is None
