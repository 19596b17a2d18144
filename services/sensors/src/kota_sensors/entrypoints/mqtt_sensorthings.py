"""The SensorThings MQTT extension, read side (OGC 18-088, 14.2 "Receive updates via MQTT"): each new observation,
as SensorThings JSON, on `v1.1/Datastreams('<id>')/Observations` (also written `v1.1/Datastreams(<id>)/...`)
and `v1.1/Observations` of the embedded broker, for clients that subscribed there.

New observations are the accepted readings on `sensors.readings.v1`, whichever ingest process took them: this
feed reads the topic in its own consumer group per process (every broker replica sees every reading), from the
end at its start; it decodes a batch only when someone subscribed to a SensorThings topic, so an idle feed costs
the broker's fetches and nothing more."""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

from kota_common.events.sensors import READINGS_TOPIC
from kota_sensors.domain.batch import decode_readings

log = logging.getLogger(__name__)
POLL_S = 0.5


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def observation_json(device_id: str, quantity: str, ms: int, value: float) -> bytes:
    """The observation as the HTTP API shows it (without links: the broker does not know the API's address)."""
    at = _iso(ms)
    return json.dumps({"@iot.id": f"{device_id}:{quantity}:{ms}", "phenomenonTime": at, "resultTime": at,
                       "result": value}, separators=(",", ":")).encode()


def topics_of(device_id: str, quantity: str) -> tuple[str, ...]:
    stream = f"{device_id}:{quantity}"
    return (f"v1.1/Datastreams('{stream}')/Observations", f"v1.1/Datastreams({stream})/Observations", "v1.1/Observations")


class ObservationFeed:
    name = "SensorThings MQTT feed"

    def __init__(self, bootstrap: str, group_prefix: str, subscribed: Callable[[], set[str]],
                 publish: Callable[[list[tuple[str, bytes]]], None]):
        self.bootstrap = bootstrap
        self.group_id = f"{group_prefix}-sta-mqtt-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.subscribed = subscribed
        self.publish = publish
        self.published = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sta-mqtt-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group_id,
                             "auto.offset.reset": "latest", "enable.auto.commit": False, "log_level": 3})
        consumer.subscribe([READINGS_TOPIC])
        try:
            while not self._stop.is_set():
                try:
                    records = consumer.consume(num_messages=1000, timeout=POLL_S)
                except Exception:
                    log.exception("SensorThings MQTT feed: cannot read %s", READINGS_TOPIC)
                    self._stop.wait(1.0)
                    continue
                wanted = self.subscribed()
                if not records or not wanted:
                    continue
                self._forward([r.value() for r in records if r.error() is None], wanted)
        finally:
            consumer.close()

    def _forward(self, values: list, wanted: set[str]) -> None:
        readings, _bad = decode_readings(values)  # the store dead-letters what does not parse
        any_topic = any("#" in t or "+" in t for t in wanted)  # let the broker match wildcard subscriptions
        out: list[tuple[str, bytes]] = []
        for r in readings:
            topics = [t for t in topics_of(r.device_id, r.quantity) if any_topic or t in wanted]
            if topics:
                payload = observation_json(r.device_id, r.quantity, r.observed_at_ms, r.value)
                out.extend((t, payload) for t in topics)
        if out:
            self.published += len(out)
            self.publish(out)
