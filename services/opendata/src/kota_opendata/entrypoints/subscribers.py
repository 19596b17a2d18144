"""The open-data service's subscribers, declared once: the running service (entrypoints.app) registers them
from here, and so does the AsyncAPI document (`kota asyncapi`, through the `kota.subscribers` entry point)."""

from __future__ import annotations

from kota_common.eventbus import EventBus, RecordHandler
from kota_common.events import complaints as complaint_events
from kota_common.events import musrenbang as musrenbang_events
from kota_common.events.sensors import ALERTS_TOPIC, READINGS_TOPIC
from kota_opendata.config import OpenDataSettings

TOPICS = (complaint_events.TOPIC, ALERTS_TOPIC, READINGS_TOPIC, musrenbang_events.TOPIC)


def subscribe(bus: EventBus, handler: RecordHandler, settings: OpenDataSettings) -> None:
    bus.subscribe_batch(handler, *TOPICS, group_id=settings.consumer_group, max_records=settings.consumer_batch_size,
                        description="Projects complaints, alerts, readings and musrenbang proposals into the live datasets.")


def document(bus: EventBus) -> None:
    """For the AsyncAPI document: the subscribers with the default settings (not this machine's environment)."""
    from kota_common.asyncapi import never_called

    subscribe(bus, never_called, OpenDataSettings.model_construct())
