import json
from datetime import datetime, timezone

import pytest

from kota_common import envelope
from kota_common.events import topic, topics
from kota_common.privacy import scrub


def test_binary_mode_round_trip_with_trace_context():
    event = envelope.Event(
        type="kota.complaints.submitted.v1", source="/kota/complaints", subject="C1", data={"a": 1},
        time=datetime(2026, 1, 1, tzinfo=timezone.utc),
        trace={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    key, value, headers = envelope.encode(event, "C1")
    names = dict(headers)
    assert key == b"C1" and names["ce_specversion"] == b"1.0" and names["ce_type"] == b"kota.complaints.submitted.v1"
    assert names["content-type"] == b"application/json" and names["ce_time"] == b"2026-01-01T00:00:00Z"
    assert names["traceparent"].startswith(b"00-0af7")
    back = envelope.decode(value, headers, key)
    assert back.id == event.id and back.data == {"a": 1} and back.trace == event.trace and back.subject == "C1"


@pytest.mark.parametrize(
    "event",
    [
        envelope.Event(type="kota.x.v1", source="/kota/x", subject="S", data={"a": 1, "b": "é", "c": [1.5, None]}),
        envelope.Event(type="kota.x.v1", source="/kota/x", subject="S2", data={}, time=datetime(2026, 1, 1, tzinfo=timezone.utc),
                       trace={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "other": "x"}),
        envelope.Event(type="kota.x.v1", source="/kota/x", subject="S", data={"at": datetime(2026, 5, 1, 7, 30)}),
        envelope.Event(type="kota.x.v1", source="/kota/x", subject="S", data={"at": datetime(2026, 5, 1, 7, 30, 1, 5, tzinfo=timezone.utc)}),
    ],
)
def test_direct_encoding_is_the_cloudevents_library_encoding(event):
    key, value, headers = envelope.encode(event, "K")
    library_key, library_value, library_headers = envelope.encode_with_library(event, "K")
    assert (key, headers) == (library_key, library_headers)
    assert json.loads(value) == json.loads(library_value)  # the same JSON, written more compactly


def test_an_empty_subject_is_left_out():
    _key, _value, headers = envelope.encode(envelope.Event(type="kota.x.v1", source="/kota/x", subject="", data={}))
    assert "ce_subject" not in dict(headers)


@pytest.mark.parametrize(
    "value, headers, why",
    [
        (b"{}", [], "missing CloudEvents headers"),
        (b"{}", [("ce_specversion", b"0.3"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t")], "specversion"),
        (b"not json", [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t"),
                       ("content-type", b"application/json")], "undecodable"),
        (b"[1]", [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t"),
                  ("content-type", b"application/json")], "JSON object"),
    ],
)
def test_malformed_records_are_rejected_with_a_reason(value, headers, why):
    with pytest.raises(envelope.EnvelopeError, match=why):
        envelope.decode(value, headers)


def test_every_topic_has_a_dlq_and_known_types():
    spec = topic("complaints.events.v1")
    assert spec.dlq == "complaints.events.v1.dlq"
    assert spec.model_for("kota.complaints.submitted.v1").__name__ == "ComplaintSubmitted"
    assert spec.model_for("nope") is None
    assert "sensors.alerts.v1" in topics()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("telp 0812-3456-7890 ya", "telp [phone] ya"),
        ("WA +62 812 3456 7890", "WA [phone]"),
        ("email budi.s@contoh.co.id", "email [email]"),
        ("NIK 3174012345678901", "NIK [nik]"),
        ("jalan rusak 3 meter di RT 05", "jalan rusak 3 meter di RT 05"),
    ],
)
def test_scrub(text, expected):
    assert scrub(text) == expected
