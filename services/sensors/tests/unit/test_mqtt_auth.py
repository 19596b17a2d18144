"""The embedded MQTT broker's plugins without a broker: a session is bound to the credential it connected with."""

import asyncio
from types import SimpleNamespace

import pytest
from amqtt.contexts import Action

from kota_sensors.domain.devices import DeviceInfo, hash_token
from kota_sensors.entrypoints import mqtt_auth
from kota_sensors.entrypoints.mqtt_ingest import connect_address


class FakePipeline:
    def __init__(self, token: str):
        self.devices = {"G-1": self.device(token)}
        self.refused_batches = 0

    @staticmethod
    def device(token: str | None) -> DeviceInfo:
        return DeviceInfo("G-1", "gauge", "water_level", -6.2, 106.8, "", "", hash_token(token) if token else None)

    def authenticate(self, device_id, token):
        d = self.devices.get(device_id)
        return d if d is not None and d.accepts(token) else None


@pytest.fixture
def pipeline(monkeypatch):
    p = FakePipeline("kdt_a")
    monkeypatch.setattr(mqtt_auth, "STATE", {"pipeline": p, "service_secret": "s3cret", "prefix": "kota/devices", "broker": None})
    return p


def plugins():
    context = SimpleNamespace(config=None, logger=None)
    auth = mqtt_auth.DeviceAuthPlugin.__new__(mqtt_auth.DeviceAuthPlugin)
    topics = mqtt_auth.DeviceTopicPlugin.__new__(mqtt_auth.DeviceTopicPlugin)
    auth.context = topics.context = context
    return auth, topics


@pytest.mark.parametrize("change", ["new", "revoked"])
def test_a_session_is_refused_once_its_credential_is_replaced_or_revoked(pipeline, change):
    auth, topics = plugins()
    session = SimpleNamespace(username="G-1", password="kdt_a", client_id="dev-G-1")

    async def run():
        assert await auth.authenticate(session=session)
        assert await topics.topic_filtering(session=session, topic="kota/devices/G-1/readings", action=Action.PUBLISH)
        assert not await topics.topic_filtering(session=session, topic="kota/devices/G-2/readings", action=Action.PUBLISH)
        pipeline.devices = {"G-1": FakePipeline.device("kdt_b" if change == "new" else None)}
        for action, topic in [(Action.PUBLISH, "readings"), (Action.SUBSCRIBE, "acks"), (Action.RECEIVE, "acks")]:
            assert not await topics.topic_filtering(session=session, topic=f"kota/devices/G-1/{topic}", action=action)
        assert pipeline.refused_batches == 1  # the refused publish
        assert not await auth.authenticate(session=session)  # and the old credential does not connect again
        session.password = "kdt_b"
        if change == "new":  # the new credential does, on the same (resumed) session
            assert await auth.authenticate(session=session)
            assert await topics.topic_filtering(session=session, topic="kota/devices/G-1/readings", action=Action.PUBLISH)

    asyncio.run(run())


def test_the_service_subscriber_is_not_a_device(pipeline):
    auth, topics = plugins()
    service = SimpleNamespace(username=mqtt_auth.SERVICE_USER, password="s3cret", client_id="svc")
    assert asyncio.run(auth.authenticate(session=service))
    assert asyncio.run(topics.topic_filtering(session=service, topic="kota/devices/G-1/readings", action=Action.RECEIVE))
    assert not asyncio.run(auth.authenticate(session=SimpleNamespace(username=mqtt_auth.SERVICE_USER, password="x", client_id="c")))


def test_a_wildcard_listen_address_is_reached_on_loopback():
    assert connect_address("0.0.0.0:1883") == "127.0.0.1:1883"
    assert connect_address("[::]:1883") == "[::1]:1883"
    assert connect_address("mosquitto:1883") == "mosquitto:1883"
