"""MQTT ingest: devices publish the JSON document (device_json) with their "token" to
`<prefix>/<device_id>/readings` (QoS 1); the answer (counts, rejections, or {"refused": "unauthenticated"})
is published to `<prefix>/<device_id>/acks` once the broker acknowledged the readings.

The MQTT broker is either external (KOTA_SENSORS_MQTT_EMBEDDED_BROKER=false; the document must then carry the
device's "token") or amqtt, started inside this process on KOTA_SENSORS_MQTT_ADDRESS, where devices connect
with username = device id and password = credential (see mqtt_auth) and "token" may be left out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading

from kota_sensors.entrypoints import device_json
from kota_sensors.entrypoints.mqtt_auth import SERVICE_USER
from kota_sensors.service_layer.ingest import IngestPipeline

log = logging.getLogger(__name__)


class MqttIngest:
    def __init__(self, address: str, pipeline: IngestPipeline, *, embedded_broker: bool, prefix: str = "kota/devices"):
        self.address = address
        self.pipeline = pipeline
        self.embedded = embedded_broker
        self.prefix = prefix.rstrip("/")
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.received = 0
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="mqtt-ingest", daemon=True)
        self.error: BaseException | None = None
        self.service_secret = secrets.token_urlsafe(24)

    def start(self, timeout: float = 30.0) -> None:
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        self._thread.start()
        if not self.ready.wait(timeout):
            raise RuntimeError(f"MQTT ingest not ready on {self.address}: {self.error!r}")

    def stop(self) -> None:
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

    async def _main(self) -> None:
        from amqtt.client import MQTTClient

        self._stopping = asyncio.Event()
        broker = None
        if self.embedded:
            from amqtt.broker import Broker

            from kota_sensors.entrypoints import mqtt_auth

            mqtt_auth.STATE.update(pipeline=self.pipeline, service_secret=self.service_secret, prefix=self.prefix)
            broker = Broker(
                {
                    "listeners": {"default": {"type": "tcp", "bind": self.address}},
                    "plugins": {
                        "kota_sensors.entrypoints.mqtt_auth.DeviceAuthPlugin": {},
                        "kota_sensors.entrypoints.mqtt_auth.DeviceTopicPlugin": {},
                    },
                }
            )
            await broker.start()
        client = MQTTClient(client_id=f"kota-sensors-{id(self)}", config={"auto_reconnect": True})
        user = f"{SERVICE_USER}:{self.service_secret}@" if self.embedded else ""
        await client.connect(f"mqtt://{user}{self.address}/")
        await client.subscribe([(f"{self.prefix}/+/readings", 1)])
        log.info("MQTT ingest subscribed to %s/+/readings on %s%s", self.prefix, self.address,
                 " (embedded amqtt broker)" if broker else "")
        self.ready.set()
        try:
            while not self._stopping.is_set():
                try:
                    msg = await client.deliver_message(timeout_duration=0.5)
                except TimeoutError:
                    continue
                if msg is None:
                    continue
                self.received += 1
                try:
                    await self._handle(client, msg.topic, bytes(msg.data or b""))
                except Exception:
                    log.exception("MQTT message on %s not handled", msg.topic)
        finally:
            try:
                await client.disconnect()
            finally:
                if broker is not None:
                    await broker.shutdown()

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
