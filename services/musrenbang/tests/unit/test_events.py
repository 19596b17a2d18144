"""musrenbang.events.v1: every payload described and exemplified, and no personal data in any of them."""

from kota_common.events import EventPayload
from kota_common.events import musrenbang as ev


def test_the_topic_and_its_payloads():
    spec = ev.TOPIC_SPEC
    assert spec.name == ev.TOPIC == "musrenbang.events.v1" and spec.dlq == "musrenbang.events.v1.dlq"
    types = [m.model_fields["ce_type"].default for m in spec.payloads]
    assert len(set(types)) == len(types)
    assert all(t.startswith("kota.musrenbang.") and t.endswith(".v1") for t in types)
    for model in spec.payloads:
        assert spec.model_for(model.model_fields["ce_type"].default) is model


def test_every_example_validates_and_every_field_is_described():
    for model in ev.TOPIC_SPEC.payloads:
        example = model.model_config["json_schema_extra"]["examples"][0]
        assert isinstance(model.model_validate(example), EventPayload)
        undescribed = [name for name, f in model.model_fields.items() if name != "ce_type" and not f.description]
        assert not undescribed, f"{model.__name__}: {undescribed}"


def test_no_payload_has_a_field_for_a_person():
    personal = {"nik", "nik_hash", "proposer", "proposer_ref", "resident", "name", "phone", "email", "address", "rt", "actor_id"}
    for model in (*ev.TOPIC_SPEC.payloads, ev.LocationRef, ev.SelectionDecision):
        assert not personal & set(model.model_fields), model.__name__
