"""Versioned event payload models for every topic, and the catalogue that maps topic and ce_type to a model.

The catalogue is the single source for AsyncAPI generation, for `kota events tail` and for consumers that
validate payloads before handling them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


class EventPayload(BaseModel):
    """Base of every payload: unknown fields are rejected so that schema drift is caught at the consumer.

    Every field carries a description and every model an example (`model_config`'s `json_schema_extra`): the
    AsyncAPI page integrators read (`kota asyncapi`) is generated from them."""

    model_config = ConfigDict(extra="forbid")
    ce_type: str = ""  # set per subclass as a class attribute (ClassVar-like default, excluded on dump)

    def to_data(self) -> dict:
        return self.model_dump(mode="json", exclude={"ce_type"})

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler) -> dict[str, Any]:
        """The payload as it travels: `ce_type` is the `ce_type` header, not a field of the JSON (see `to_data`)."""
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema.get("properties", {}).pop("ce_type", None)
        ce_type = cls.model_fields["ce_type"].default
        if ce_type:
            intro = schema.get("description", "")
            schema["description"] = f"{intro}\n\nHeader `ce_type`: `{ce_type}`.".strip()
        return schema


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    description: str
    payloads: tuple[type[EventPayload], ...]

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    def model_for(self, ce_type: str) -> type[EventPayload] | None:
        for model in self.payloads:
            if model.model_fields["ce_type"].default == ce_type:
                return model
        return None


_TOPICS: dict[str, TopicSpec] = {}


def register_topic(spec: TopicSpec) -> TopicSpec:
    _TOPICS[spec.name] = spec
    return spec


_discovered = False


def topics() -> dict[str, TopicSpec]:
    # Import every module of this package (each registers its topic) so the catalogue is complete whoever asks
    # first, and a service's topic added later is in it without a list to keep here. Once a process: every
    # record's parsing asks (pkgutil's walk cost 7 % of a subscriber's CPU).
    global _discovered
    if not _discovered:
        import importlib
        import pkgutil

        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")
        _discovered = True
    return dict(_TOPICS)


def topic(name: str) -> TopicSpec:
    found = _TOPICS.get(name) if _discovered else topics().get(name)
    if found is None:
        raise KeyError(f"unknown topic {name!r}; known: {', '.join(sorted(topics()))}")
    return found


# Topic names fixed by SYSTEM.md, including those whose producers come later.
ALL_TOPIC_NAMES = (
    "complaints.events.v1",
    "sensors.readings.v1",
    "sensors.alerts.v1",
    "sensors.vehicle-positions.v1",
    "musrenbang.events.v1",
    "collab.events.v1",
    "opendata.events.v1",
    "notifications.events.v1",
)
