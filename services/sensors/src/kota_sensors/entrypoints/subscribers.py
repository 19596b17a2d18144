"""The sensors service's subscribers, declared once: a process of role `alerts` or `store` (entrypoints.app)
registers its consumer from here, and so does the AsyncAPI document (`kota asyncapi`, through the
`kota.subscribers` entry point), which lists both."""

from __future__ import annotations

from kota_common.eventbus import EventBus
from kota_sensors.config import SensorsSettings
from kota_sensors.service_layer.evaluator import AlertConsumer, BatchConsumer, ObservationStore, alerts_group

CONSUMERS: dict[str, type[BatchConsumer]] = {"alerts": AlertConsumer, "store": ObservationStore}
DESCRIPTIONS = {
    "alerts": "ISPU, Siaga and silence alerts from the batch summaries and vehicle positions.",
    "store": "The SensorThings history: every observation, latest values and vehicle positions.",
}


def group_and_batch(settings: SensorsSettings) -> tuple[str, int]:
    """The consumer group and batch size of the consumer of a process of role `alerts` or `store`."""
    if settings.role == "alerts":
        return alerts_group(settings.consumer_group), settings.alert_batch
    return settings.consumer_group, settings.store_batch


def subscribe(bus: EventBus, handler: BatchConsumer, settings: SensorsSettings) -> None:
    handler.subscribe_to(bus, DESCRIPTIONS[settings.role])


def document(bus: EventBus) -> None:
    """For the AsyncAPI document: both roles' subscribers with the default settings (not this machine's
    environment), each with a consumer that never runs."""
    for role, consumer in CONSUMERS.items():
        settings = SensorsSettings.model_construct(role=role)
        group_id, batch_size = group_and_batch(settings)
        subscribe(bus, consumer(None, group_id, dict, batch_size=batch_size), settings)
