"""The SensorThings MQTT extension, read side (OGC 18-088 14.2, req/receive-updates-via-mqtt), against the
service's real embedded broker: a client subscribed to a Datastream's Observations receives each new observation
as SensorThings JSON; it may not publish, nor read device topics."""

import asyncio
import json
import time

import pytest

from kota.sensors.v1 import sensors_pb2 as pb

from ..conftest import now_ms
from .test_ingest import grpc_batches, level_series

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url(tmp_path):  # the broker is what is tested here: one database kind is enough
    return f"sqlite:///{tmp_path / 'test.db'}"


def test_a_subscriber_to_a_datastreams_observations_receives_each_new_one_as_sensorthings_json(start_sensors):
    from amqtt.client import MQTTClient

    s = start_sensors()
    gauge, token = s.provision("water_level")
    other, other_token = s.provision("water_level")
    topic = f"v1.1/Datastreams('{gauge}:water_level')/Observations"
    start = now_ms() - 60_000
    sequence = iter(range(1, 1000))

    def ingest(device: str, credential: str, values: list[float], at_ms: int) -> None:
        (ack,) = grpc_batches(s.stub, [pb.IngestReadingsRequest(sequence=next(sequence), device_id=device,
                                                                device_token=credential,
                                                                series=[level_series(values, at_ms)])])
        assert ack.accepted == len(values), ack

    async def run() -> list[dict]:
        client = MQTTClient(client_id="sta-reader", config={"auto_reconnect": False})
        await client.connect(f"mqtt://{s.mqtt}/")  # no username: a SensorThings reader
        await client.subscribe([(topic, 0)])
        # the feed reads the readings topic from its end at the service's start: until a first observation comes
        # through, send one each second (a probe), then the three whose arrival is checked
        seen: list[dict] = []
        deadline = time.monotonic() + 60
        probe_ms = start
        while not seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"no observation on {topic} within 60 s of probes")
            await asyncio.to_thread(ingest, gauge, token, [50.0], probe_ms)
            probe_ms += 1000
            try:
                msg = await client.deliver_message(timeout_duration=1.0)
            except TimeoutError:
                continue
            seen.append(json.loads(bytes(msg.data)))
        while True:  # drain late probes
            try:
                await client.deliver_message(timeout_duration=2.0)
            except TimeoutError:
                break
        await asyncio.to_thread(ingest, other, other_token, [99.0], start + 30_000)  # another datastream: not here
        await asyncio.to_thread(ingest, gauge, token, [61.0, 62.0, 63.0], start + 40_000)
        got = []
        while len(got) < 3:
            msg = await client.deliver_message(timeout_duration=30)
            got.append(json.loads(bytes(msg.data)))
        try:
            extra = await client.deliver_message(timeout_duration=3.0)
        except TimeoutError:
            extra = None
        assert extra is None, f"nothing more was expected on {topic}, got {bytes(extra.data)!r}"
        await client.disconnect()
        return got

    got = asyncio.run(run())
    assert [o["result"] for o in got] == [61.0, 62.0, 63.0]
    first = got[0]
    assert first["@iot.id"] == f"{gauge}:water_level:{start + 40_000}"
    assert first["phenomenonTime"] == first["resultTime"] and first["phenomenonTime"].endswith("Z")


def test_a_sensorthings_reader_can_neither_publish_nor_read_device_topics(start_sensors):
    from amqtt.client import MQTTClient

    s = start_sensors()
    gauge, token = s.provision("water_level")

    async def run() -> None:
        reader = MQTTClient(client_id="sta-reader", config={"auto_reconnect": False})
        await reader.connect(f"mqtt://{s.mqtt}/")
        granted = await reader.subscribe([(f"kota/devices/{gauge}/acks", 1), ("v1.1/Observations", 0)])
        assert granted == [0x80, 0], granted  # the device's topic refused, the SensorThings one granted
        doc = {"readings": [{"quantity": "water_level", "unit": "cm", "value": 10.0, "time_ms": now_ms() - 1000}]}
        await reader.publish(f"kota/devices/{gauge}/readings", json.dumps(doc).encode(), qos=1)
        await reader.disconnect()

    asyncio.run(run())
    time.sleep(2)
    stats = s.stub.GetIngestStats(pb.GetIngestStatsRequest(), timeout=10)
    assert stats.accepted == 0, "a reader's publish reached ingest"
