"""Timestamps in gRPC views: the same as protobuf's FromDatetime, faster."""

from datetime import datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from kota_common.grpc_server import timestamp


def from_datetime(value: datetime) -> Timestamp:
    reference = Timestamp()
    reference.FromDatetime(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    return reference


def test_a_timestamp_is_what_protobuf_makes_of_the_datetime():
    jakarta = timezone(timedelta(hours=7))
    for value in (
        datetime(2026, 11, 24, 3, 4, 5, 678901, tzinfo=timezone.utc),
        datetime(2026, 11, 24, 10, 4, 5, 1, tzinfo=jakarta),  # another zone: the same instant in UTC
        datetime(2026, 11, 24, 3, 4, 5),  # naive: taken as UTC, as Kota stores timestamps
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=timezone.utc),  # before the epoch
        datetime(1970, 1, 1, tzinfo=timezone.utc),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    ):
        assert timestamp(value) == from_datetime(value), value
    assert timestamp(None) is None
