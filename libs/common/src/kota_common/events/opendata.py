"""opendata.events.v1 (key: dataset id). Catalogue changes; datasets hold only anonymised data."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from kota_common.events import EventPayload, TopicSpec, register_topic

TOPIC = "opendata.events.v1"
SOURCE = "/kota/opendata"


class DatasetPublished(EventPayload):
    """A dataset was created, or a new version of it was published (agency upload)."""

    ce_type: Literal["kota.opendata.dataset-published.v1"] = "kota.opendata.dataset-published.v1"
    dataset_id: str
    name: str
    title: str
    organization: str = Field(description="publishing agency code")
    version: int
    record_count: int
    rejected_count: int = 0
    source: Literal["events", "upload"]
    actor: str = Field(description="staff:<AGENCY> or system; never a person")
    published_at: datetime


class DatasetUpdated(EventPayload):
    """A live dataset's records changed (coalesced: at most one event per dataset per interval)."""

    ce_type: Literal["kota.opendata.dataset-updated.v1"] = "kota.opendata.dataset-updated.v1"
    dataset_id: str
    name: str
    version: int
    record_count: int
    changes: int = Field(description="records inserted or updated since the previous event for this dataset")
    updated_at: datetime


TOPIC_SPEC = register_topic(
    TopicSpec(
        name=TOPIC,
        key="dataset id",
        description="Open-data catalogue changes: datasets published (new or new version) and live datasets "
        "updated by platform events. Datasets carry only anonymised data.",
        payloads=(DatasetPublished, DatasetUpdated),
    )
)
