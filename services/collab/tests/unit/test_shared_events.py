"""Reading a topic's records for a partner's stream: Kota's CloudEvents read without the library give what the
library gives; any other record is read by the library or skipped."""

from __future__ import annotations

from datetime import datetime, timezone

from kota_collab.adapters.shared_events import format_position, parse_position, read_event
from kota_common import envelope


def kota_record(**data) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    event = envelope.Event(type="kota.sensors.alert-changed.v1", source="/kota/sensors", subject="PA-1", data=data,
                           time=datetime(2026, 12, 7, 19, 0, 1, 250000, tzinfo=timezone.utc))
    return envelope.encode(event, "PA-1")


def test_a_kota_event_reads_as_the_library_reads_it():
    key, value, headers = kota_record(kind="flood", level="siaga-2", value=172.0)
    found = read_event(value, headers, key)
    reference = envelope.decode(value, headers, key)
    assert found == (reference.type, reference.time, reference.data)
    assert found[1] == datetime(2026, 12, 7, 19, 0, 1, 250000, tzinfo=timezone.utc)


def test_a_record_written_otherwise_goes_through_the_library_and_one_that_is_no_event_is_skipped():
    key, value, headers = kota_record(kind="flood")
    without_content_type = [(k, v) for k, v in headers if k != "content-type"]
    assert read_event(value, without_content_type, key) == (
        "kota.sensors.alert-changed.v1", datetime(2026, 12, 7, 19, 0, 1, 250000, tzinfo=timezone.utc), {"kind": "flood"})
    assert read_event(value, [(k, v) for k, v in headers if k != "ce_type"], key) is None
    assert read_event(b"[1, 2]", headers, key) is None  # data that is not an object
    assert read_event(b"{not json", headers, key) is None
    assert read_event(b"{}", [], key) is None


def test_a_position_round_trips():
    assert parse_position(format_position({2: 7, 0: 3})) == {0: 3, 2: 7}
    assert format_position({2: 7, 0: 3}) == "0:3,2:7"
