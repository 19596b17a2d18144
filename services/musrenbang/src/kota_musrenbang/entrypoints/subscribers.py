"""The musrenbang service's subscribers, declared once: the running service (entrypoints.app) registers them
from here, and so does the AsyncAPI document (`kota asyncapi`, through the `kota.subscribers` entry point)."""

from __future__ import annotations

from kota_common.eventbus import EventBus, RecordHandler
from kota_common.events import complaints as complaint_events
from kota_common.events.sensors import ALERTS_TOPIC
from kota_musrenbang.config import MusrenbangSettings

TOPICS = (complaint_events.TOPIC, ALERTS_TOPIC)


def subscribe(bus: EventBus, handler: RecordHandler, settings: MusrenbangSettings) -> None:
    bus.subscribe(handler, *TOPICS, group_id=settings.consumer_group,
                  description="Counts complaints and sensor alerts (Siaga, ISPU) per area: the city's evidence "
                  "shown with each proposal and scored.")


def document(bus: EventBus) -> None:
    """For the AsyncAPI document: the subscribers with the default settings (not this machine's environment)."""
    from kota_common.asyncapi import never_called

    subscribe(bus, never_called, MusrenbangSettings.model_construct())
