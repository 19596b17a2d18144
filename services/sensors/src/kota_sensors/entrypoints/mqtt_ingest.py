"""MQTT ingest: devices publish the JSON document (device_json) with their "token" to
`<prefix>/<device_id>/readings` (QoS 1); the answer (counts, rejections, or {"refused": "unauthenticated"})
is published to `<prefix>/<device_id>/acks` once the broker acknowledged the readings.

The MQTT broker is either amqtt, started inside this process on KOTA_SENSORS_MQTT_ADDRESS, where devices connect
with username = device id and password = credential (see mqtt_auth: checked at CONNECT and against the device's
current credential at every message) and "token" may be left out, on its plain listener and, when a certificate
is configured, on a TLS listener (MQTT over TLS, 8883 by convention) for devices on public networks; or external
(KOTA_SENSORS_MQTT_EMBEDDED_BROKER=false; the document must then carry the device's "token", which every
subscriber to the topics can read: development only). An external broker that cannot be reached is retried in
the background; the rest of the service serves meanwhile.

With the embedded broker and a Kafka bootstrap, the broker also carries the SensorThings MQTT extension's read
side (mqtt_sensorthings.ObservationFeed): new observations on `v1.1/Datastreams('<id>')/Observations`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from dataclasses import dataclass

from kota_sensors.entrypoints import device_json
from kota_sensors.entrypoints.mqtt_auth import SERVICE_USER
from kota_sensors.entrypoints.mqtt_sensorthings import ObservationFeed
from kota_sensors.service_layer.ingest import IngestPipeline

log = logging.getLogger(__name__)
RETRY_MIN_S = 1.0  # reconnecting to an external broker: first delay, doubled up to RETRY_MAX_S
RETRY_MAX_S = 30.0


def connect_address(address: str) -> str:
    """Where to connect to a broker listening on address: a wildcard bind (0.0.0.0, [::], as in a container)
    is reached on the loopback interface."""
    host, _, port = address.rpartition(":")
    if host in ("", "0.0.0.0"):
        return f"127.0.0.1:{port}"
    if host in ("::", "[::]"):
        return f"[::1]:{port}"
    return address


@dataclass(frozen=True)
class TlsListener:
    """The embedded broker's MQTT-over-TLS listener: where it binds, its certificate chain and key (PEM)."""

    address: str
    certfile: str
    keyfile: str

    def config(self) -> dict:
        return {"type": "tcp", "bind": self.address, "ssl": True, "certfile": self.certfile, "keyfile": self.keyfile}


class MqttIngest:
    name = "MQTT ingest"

    def __init__(
        self,
        address: str,
        pipeline: IngestPipeline,
        *,
        embedded_broker: bool,
        prefix: str = "kota/devices",
        tls_listener: TlsListener | None = None,
        sta_feed: tuple[str, str] | None = None,
    ):
        """`sta_feed`: (Kafka bootstrap, consumer group prefix) of the SensorThings feed (embedded broker only)."""
        self.address = address
        self.tls_listener = tls_listener
        self.pipeline = pipeline
        self.embedded = embedded_broker
        self.prefix = prefix.rstrip("/")
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.received = 0
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="mqtt-ingest", daemon=True)
        self.error: BaseException | None = None
        self._attempted = threading.Event()  # set after the first attempt to subscribe (or when the thread ends)
        self._failures = 0
        self.service_secret = secrets.token_urlsafe(24)
        self._client = None  # the service's own client, once subscribed
        self.feed: ObservationFeed | None = None
        if sta_feed is not None and embedded_broker:
            from kota_sensors.entrypoints import mqtt_auth

            self.feed = ObservationFeed(*sta_feed, subscribed=lambda: mqtt_auth.STATE["sta_topics"],
                                        publish=self._publish_sta)

    def start(self, timeout: float = 30.0) -> None:
        """Returns once subscribed. An embedded broker that cannot start raises; an external broker that cannot
        be reached is logged and retried in the background (gRPC and HTTP ingest serve meanwhile)."""
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        self._thread.start()
        self._attempted.wait(timeout)
        if self.error is not None or (self.embedded and not self.ready.is_set()):
            raise RuntimeError(f"MQTT ingest not ready on {self.address}: {self.error!r}")
        if not self.ready.is_set():
            log.error("MQTT broker %s not reachable at start; device MQTT ingest is down until it is (retrying "
                      "in the background; gRPC and HTTP ingest serve meanwhile)", self.address)
        if self.feed is not None:
            self.feed.start()

    def stop(self) -> None:
        if self.feed is not None:
            self.feed.stop()
        if self._stopping is not None:
            self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:
            self.error = exc
            log.exception("MQTT ingest stopped")
        finally:
            self._attempted.set()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        broker = None
        if self.embedded:
            from amqtt.broker import Broker

            from kota_sensors.entrypoints import mqtt_auth

            mqtt_auth.STATE.update(pipeline=self.pipeline, service_secret=self.service_secret, prefix=self.prefix)
            listeners = {"default": {"type": "tcp", "bind": self.address}}
            if self.tls_listener is not None:
                listeners["tls"] = self.tls_listener.config()
            broker = Broker(
                {
                    "listeners": listeners,
                    "plugins": {
                        "kota_sensors.entrypoints.mqtt_auth.DeviceAuthPlugin": {},
                        "kota_sensors.entrypoints.mqtt_auth.DeviceTopicPlugin": {},
                    },
                }
            )
            await broker.start()
            mqtt_auth.STATE["broker"] = broker
        try:
            delay = RETRY_MIN_S
            while not self._stopping.is_set():
                client = await self._connect()
                if client is None:  # logged; try again later
                    try:
                        await asyncio.wait_for(self._stopping.wait(), delay)
                    except TimeoutError:
                        pass
                    delay = min(delay * 2, RETRY_MAX_S)
                    continue
                delay = RETRY_MIN_S
                try:
                    self._client = client
                    await self._consume(client)
                finally:
                    self._client = None
                    self.ready.clear()
                    try:
                        await client.disconnect()
                    except Exception:  # already gone
                        pass
        finally:
            if broker is not None:
                await broker.shutdown()

    def _publish_sta(self, messages: list[tuple[str, bytes]]) -> None:
        """From the feed's thread: the messages published by the service's client, in order, at QoS 0."""
        client = self._client
        if client is None:
            return

        async def send() -> None:
            for topic, payload in messages:
                await client.publish(topic, payload, qos=0)

        asyncio.run_coroutine_threadsafe(send(), self.loop)

    async def _connect(self):
        """One attempt to connect and subscribe; None (logged) if the broker cannot be reached."""
        from amqtt.client import MQTTClient

        client = MQTTClient(client_id=f"kota-sensors-{id(self)}", config={"auto_reconnect": False})
        user = f"{SERVICE_USER}:{self.service_secret}@" if self.embedded else ""
        try:
            await client.connect(f"mqtt://{user}{connect_address(self.address)}/")
            await client.subscribe([(f"{self.prefix}/+/readings", 1)])
        except Exception as exc:
            self._failures += 1
            if self._failures == 1 or self._failures % 10 == 0:
                log.error("cannot subscribe to MQTT broker %s (%s; %d attempt(s)); retrying", self.address,
                          exc or type(exc).__name__, self._failures)
            self._attempted.set()
            return None
        where = " (embedded amqtt broker" + (f"; devices over TLS on {self.tls_listener.address})" if self.tls_listener else ")")
        log.info("MQTT ingest subscribed to %s/+/readings on %s%s", self.prefix, self.address,
                 where if self.embedded else "")
        self._failures = 0
        self.ready.set()
        self._attempted.set()
        return client

    async def _consume(self, client) -> None:
        """Handles messages until stopped (returns) or the connection is lost (logged; returns)."""
        stopping = self._stopping
        if stopping is None:
            raise RuntimeError("_consume runs within _main, which makes the stop event")
        while not stopping.is_set():
            if not client.session.transitions.is_connected():
                log.error("lost the connection to MQTT broker %s; reconnecting", self.address)
                return
            try:
                msg = await client.deliver_message(timeout_duration=0.5)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling():  # this task is being cancelled, not the client's delivery
                    raise
                continue  # the client cancelled its delivery: the connection closed (seen above)
            except Exception as exc:
                log.error("lost the connection to MQTT broker %s (%s); reconnecting", self.address, exc)
                return
            if msg is None:
                continue
            self.received += 1
            try:
                await self._handle(client, msg.topic, bytes(msg.data or b""))
            except Exception:
                log.exception("MQTT message on %s not handled", msg.topic)

    async def _handle(self, client, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        device_id = parts[-2] if len(parts) >= 2 else ""
        ack_topic = f"{self.prefix}/{device_id}/acks"
        try:
            doc = device_json.loads(payload)
            token = doc.get("token", "") if isinstance(doc, dict) else ""
            series, positions, index_map = device_json.parse(doc)
        except device_json.DocumentError as exc:
            await client.publish(ack_topic, json.dumps({"error": {"reason": "invalid_document", "message": str(exc)}}).encode(), qos=1)
            return
        token = token if isinstance(token, str) else ""
        if not token and self.embedded:
            # The embedded broker authenticated the publisher as this device at CONNECT and lets it publish only
            # to its own topic; a credential revoked since then is refused here.
            ticket = self.pipeline.submit_authenticated(device_id, series, positions)
        else:
            ticket = self.pipeline.submit(device_id, token, series, positions)
        if not ticket.refused:
            await self.loop.run_in_executor(None, self.pipeline.settle, ticket)
        await client.publish(ack_topic, json.dumps(device_json.answer(ticket, index_map)).encode(), qos=1)
