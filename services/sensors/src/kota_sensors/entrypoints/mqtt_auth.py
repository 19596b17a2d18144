"""amqtt plugins for the embedded broker: devices connect with username = device id and password = its
credential (checked against the registry; revoked or unknown devices are refused at CONNECT), and may only
publish to `<prefix>/<own id>/readings` and subscribe to `<prefix>/<own id>/acks`. The sensors service's own
subscriber connects with a per-process random secret."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

SERVICE_USER = "kota-sensors"
# Set by MqttIngest before the broker starts (one embedded broker per process).
STATE: dict = {"pipeline": None, "service_secret": "", "prefix": "kota/devices"}


def _is_service(session) -> bool:
    return (session.username == SERVICE_USER and bool(STATE["service_secret"])
            and hmac.compare_digest(str(session.password or ""), STATE["service_secret"]))


class DeviceAuthPlugin(BaseAuthPlugin):
    @dataclass
    class Config:
        pass

    async def authenticate(self, *, session) -> bool:
        if _is_service(session):
            return True
        pipeline = STATE["pipeline"]
        if pipeline is None or not session.username:
            return False
        return pipeline.authenticate(session.username, str(session.password or "")) is not None


class DeviceTopicPlugin(BaseTopicPlugin):
    @dataclass
    class Config:
        pass

    async def topic_filtering(self, *, session=None, topic=None, action=None) -> bool:
        if session is None or _is_service(session):
            return True
        prefix = STATE["prefix"]
        if action == Action.PUBLISH:
            return topic == f"{prefix}/{session.username}/readings"
        if action in (Action.SUBSCRIBE, Action.RECEIVE):
            return topic == f"{prefix}/{session.username}/acks"
        return False
