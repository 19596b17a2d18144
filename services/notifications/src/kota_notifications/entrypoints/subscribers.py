"""The notifications service's subscribers, declared once: the running service (entrypoints.app) registers them
from here, and so does the AsyncAPI document (`kota asyncapi`, through the `kota.subscribers` entry point)."""

from __future__ import annotations

from kota_common.eventbus import EventBus, RecordHandler
from kota_common.events import complaints as complaint_events
from kota_notifications.config import NotificationsSettings

TOPICS = (complaint_events.TOPIC,)
BATCH = 200  # events a transaction at most


def subscribe(bus: EventBus, handler: RecordHandler, settings: NotificationsSettings) -> None:
    bus.subscribe_batch(handler, *TOPICS, group_id=settings.consumer_group, max_records=BATCH,
                        description="Tells each citizen who gave a channel to answer on what changed on their complaint "
                        "(acknowledged, routed, in progress, resolved, rejected, staff notes, SLA escalations, merges).")


def document(bus: EventBus) -> None:
    """For the AsyncAPI document: the subscribers with the default settings (not this machine's environment)."""
    from kota_common.asyncapi import never_called

    subscribe(bus, never_called, NotificationsSettings.model_construct())
