"""amqtt plugins for the embedded broker: devices connect with username = device id and password = its
credential (checked against the registry; revoked or unknown devices are refused at CONNECT), and may only
publish to `<prefix>/<own id>/readings` and subscribe to `<prefix>/<own id>/acks`. The sensors service's own
subscriber connects with a per-process random secret.

A session remembers the hash of the credential it authenticated with. Every publish, subscribe and delivery of
a device session is checked against the device's current credential in the ingest cache: once staff revoke it
or issue a new one (a compromised device), the old session is refused and dropped (its reconnect with the old
credential is then refused at CONNECT).

A client without a username is a SensorThings reader (the MQTT extension's read side, public as the HTTP API
is): it may subscribe to `v1.1/...` topics and receive on them, and nothing else; it never publishes."""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

log = logging.getLogger(__name__)

SERVICE_USER = "kota-sensors"
SESSION_TOKEN_HASH = "kota_token_hash"  # attribute set on an amqtt Session at CONNECT
# Set by MqttIngest before the broker starts (one embedded broker per process).
STATE: dict = {"pipeline": None, "service_secret": "", "prefix": "kota/devices", "broker": None,
               "sta_topics": set()}
STA_PREFIX = "v1.1/"  # SensorThings topics (18-088 14.2): v1.1/Datastreams('<id>')/Observations
_dropping: set[asyncio.Task] = set()


def _is_service(session) -> bool:
    return (session.username == SERVICE_USER and bool(STATE["service_secret"])
            and hmac.compare_digest(str(session.password or ""), STATE["service_secret"]))


def credential_current(session) -> bool:
    """Whether the credential this device session authenticated with is still the device's credential."""
    pipeline = STATE["pipeline"]
    authenticated_with = getattr(session, SESSION_TOKEN_HASH, None)
    if pipeline is None or not authenticated_with:
        return False
    device = pipeline.devices.get(session.username)
    return device is not None and device.token_hash is not None and hmac.compare_digest(device.token_hash, authenticated_with)


def drop(session) -> None:
    """Closes a device session's connection (as amqtt does on a take-over); its queued messages are not sent."""
    broker = STATE["broker"]
    entry = broker.sessions.get(session.client_id) if broker is not None and session.client_id else None
    if entry is None or entry[0] is not session or entry[1] is None:
        return
    handler = entry[1]

    async def close() -> None:
        try:
            await handler.handle_connection_closed()
        except Exception:
            log.exception("could not drop the MQTT session of %s", session.username)

    task = asyncio.get_running_loop().create_task(close())
    _dropping.add(task)
    task.add_done_callback(_dropping.discard)


class DeviceAuthPlugin(BaseAuthPlugin):
    @dataclass
    class Config:
        pass

    async def authenticate(self, *, session) -> bool:
        setattr(session, SESSION_TOKEN_HASH, None)  # a resumed session re-authenticates: forget the old credential
        if _is_service(session) or not session.username:  # no username: a SensorThings reader
            return True
        pipeline = STATE["pipeline"]
        if pipeline is None:
            return False
        device = pipeline.authenticate(session.username, str(session.password or ""))
        if device is None:
            return False
        setattr(session, SESSION_TOKEN_HASH, device.token_hash)
        return True


class DeviceTopicPlugin(BaseTopicPlugin):
    @dataclass
    class Config:
        pass

    async def topic_filtering(self, *, session=None, topic=None, action=None) -> bool:
        if session is None or _is_service(session):
            return True
        if not session.username:  # a SensorThings reader: subscribes to v1.1/... topics, never publishes
            if action in (Action.SUBSCRIBE, Action.RECEIVE) and topic is not None and topic.startswith(STA_PREFIX):
                if action == Action.SUBSCRIBE:
                    STATE["sta_topics"].add(topic)
                return True
            return False
        if not credential_current(session):
            log.warning("MQTT session of %s (client %s) used a credential that was revoked or replaced since it "
                        "connected: refused and dropped", session.username, session.client_id)
            pipeline = STATE["pipeline"]
            if action == Action.PUBLISH and pipeline is not None:
                pipeline.refused_batches += 1
            drop(session)
            return False
        prefix = STATE["prefix"]
        if action == Action.PUBLISH:
            return topic == f"{prefix}/{session.username}/readings"
        if action in (Action.SUBSCRIBE, Action.RECEIVE):
            return topic == f"{prefix}/{session.username}/acks"
        return False
