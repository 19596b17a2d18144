"""opendata.events.v1 (key: dataset id). Catalogue changes; datasets hold only anonymised data."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from kota_common.events import EventPayload, TopicSpec, register_topic

TOPIC = "opendata.events.v1"
SOURCE = "/kota/opendata"


DATASET_ID = Field(description="the dataset's id (also the record key and ce_subject)")
DATASET_NAME = Field(description="the dataset's URL name in the CKAN catalogue")
VERSION = Field(description="the dataset's version, 1 for a new one, one more each publication")
RECORD_COUNT = Field(description="records the dataset holds now")


def _example(**values) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


class DatasetPublished(EventPayload):
    """A dataset was created, or a new version of it was published (agency upload)."""

    model_config = _example(dataset_id="3c6e0b8a-2f4d-4e1b-9c7a-5d8e1f2a3b4c", name="kualitas-udara-ispu-harian",
                            title="Kualitas Udara (ISPU) Harian", organization="DLH", version=2, record_count=1830,
                            rejected_count=0, source="upload", actor="staff:DLH", published_at="2025-03-04T03:00:00Z")

    ce_type: Literal["kota.opendata.dataset-published.v1"] = "kota.opendata.dataset-published.v1"
    dataset_id: str = DATASET_ID
    name: str = DATASET_NAME
    title: str = Field(description="the dataset's title as the portal shows it")
    organization: str = Field(description="publishing agency code")
    version: int = VERSION
    record_count: int = RECORD_COUNT
    rejected_count: int = Field(0, description="uploaded rows refused (invalid, or holding personal data)")
    source: Literal["events", "upload"] = Field(description="events: a live dataset fed by platform events; "
                                                "upload: a file uploaded by an agency")
    actor: str = Field(description="staff:<AGENCY> or system; never a person")
    published_at: datetime = Field(description="when it was published (UTC)")


class DatasetUpdated(EventPayload):
    """A live dataset's records changed (coalesced: at most one event per dataset per interval)."""

    model_config = _example(dataset_id="9b2f7c1e-4a6d-4d3b-8e5f-0a1c2d3e4f5a", name="pengaduan-warga", version=1,
                            record_count=48211, changes=37, updated_at="2025-03-04T07:20:00Z")

    ce_type: Literal["kota.opendata.dataset-updated.v1"] = "kota.opendata.dataset-updated.v1"
    dataset_id: str = DATASET_ID
    name: str = DATASET_NAME
    version: int = VERSION
    record_count: int = RECORD_COUNT
    changes: int = Field(description="records inserted or updated since the previous event for this dataset")
    updated_at: datetime = Field(description="when the last of those changes was made (UTC)")


TOPIC_SPEC = register_topic(
    TopicSpec(
        name=TOPIC,
        key="dataset id",
        description="Open-data catalogue changes: datasets published (new or new version) and live datasets "
        "updated by platform events. Datasets carry only anonymised data.",
        payloads=(DatasetPublished, DatasetUpdated),
    )
)
