"""The AsyncAPI document FastStream generates: every topic of the catalogue, its payloads as integrators read them,
and every service's subscribers (found through the `kota.subscribers` entry points)."""

import json
from pathlib import Path

import pytest

from kota_common.asyncapi import build_document
from kota_common.events import topics

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def document():
    return build_document()


def _resolve(document, node):
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name.replace("%2C", ",")]
    return node


def _name(ref) -> str:
    return ref["$ref"].rsplit("/", 1)[1].replace("%2C", ",")


def _payload_models(document, message_ref) -> dict[str, dict]:
    """The payload schemas one message may carry, by title."""
    payload = _resolve(document, _resolve(document, message_ref)["payload"])
    return {s["title"]: s for s in (_resolve(document, o) for o in payload.get("anyOf", [payload]))}


def test_the_document_is_asyncapi_3(document):
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == "Kota events"


def test_every_topic_has_a_channel_with_its_payloads_described_and_exemplified(document):
    by_address = {}
    for name, channel in document["channels"].items():
        by_address.setdefault(channel["address"], []).append(name)
    for name, spec in topics().items():
        assert name in by_address and spec.dlq in by_address, f"{name} or its dead letters undocumented"
        channel = document["channels"][name]
        assert spec.description in channel["description"] and "ce_specversion" in channel["description"]
        (message,) = channel["messages"].values()
        models = _payload_models(document, message)
        assert set(models) == {m.__name__ for m in spec.payloads}
        for model in spec.payloads:
            schema = models[model.__name__]
            assert model.model_fields["ce_type"].default in schema["description"]
            assert "ce_type" not in schema["properties"], "ce_type travels as a header, not in the payload"
            assert schema["examples"] and model.model_validate(schema["examples"][0])
            undescribed = [f for f, prop in schema["properties"].items() if not prop.get("description")]
            assert not undescribed, f"{model.__name__}: fields without a description: {undescribed}"
        send = [o for o in document["operations"].values()
                if o["action"] == "send" and o["channel"]["$ref"] == f"#/channels/{name}"]
        assert len(send) == 1


@pytest.mark.parametrize(("group", "topics_read"), [
    ("kota-complaints", {"sensors.alerts.v1"}),
    ("kota-opendata", {"complaints.events.v1", "sensors.alerts.v1", "sensors.readings.v1", "musrenbang.events.v1"}),
    ("kota-musrenbang", {"complaints.events.v1", "sensors.alerts.v1"}),
    ("kota-sensors-alerts", {"sensors.reading-summaries.v1", "sensors.vehicle-positions.v1"}),
    ("kota-sensors", {"sensors.readings.v1", "sensors.vehicle-positions.v1"}),
])
def test_each_services_subscribers_are_receive_operations_with_their_topics_payloads(document, group, topics_read):
    received = {}
    for operation in document["operations"].values():
        channel = document["channels"][_name(operation["channel"])]
        (message,) = channel["messages"].values()
        if operation["action"] == "receive" and _name(message).startswith(f"{group}:"):
            received[channel["address"]] = channel
    assert set(received) == topics_read
    for address, channel in received.items():
        (message,) = channel["messages"].values()
        assert set(_payload_models(document, message)) == {m.__name__ for m in topics()[address].payloads}
        assert channel["description"]


def test_the_committed_document_is_the_generated_one(document):
    """./scripts/lint says the same; this says it where the tests run."""
    committed = json.loads((ROOT / "docs/asyncapi/asyncapi.json").read_text())
    assert committed == document, "docs/asyncapi is stale: run kota asyncapi"
