"""Reading a topic for a partner's stream, from a position: `p0:o0,p1:o1` (the next offset of each partition; a
partition not named is read from its beginning). Each gRPC stream has one reader, polled between the messages it
sends; the reader's asyncio loop (aiokafka's) runs on a thread of its own, so that the next records are fetched
while the stream sends the last ones.

A partner's stream reads every record of a busy topic (bench/collab_stream.py), so the records are read as
CloudEvents here without the cloudevents library's per-attribute validation: Kota's producers write them in
binary mode with a JSON value (kota_common.envelope.encode); any other record goes through `envelope.decode`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import orjson

from kota_common import envelope
from kota_common.kafka import assign_all, topic_consumer

T = TypeVar("T")


class BadPosition(ValueError):
    pass


def parse_position(position: str) -> dict[int, int]:
    if not position:
        return {}
    try:
        pairs = [part.split(":") for part in position.split(",")]
        found = {int(p): int(o) for p, o in pairs}
    except ValueError:
        raise BadPosition(f"{position!r} is not a position (partition:offset,...)") from None
    if any(p < 0 or o < 0 for p, o in found.items()):
        raise BadPosition(f"{position!r} is not a position (partition:offset,...)")
    return found


def format_position(offsets: dict[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(offsets.items()))


@dataclass(frozen=True, slots=True)
class Read:
    position: str  # resumes after this event
    type: str
    time: datetime
    data: dict


_REQUIRED = ("ce_id", "ce_source", "ce_type")


def read_event(value: bytes | None, headers, key: bytes | None) -> tuple[str, datetime, dict] | None:
    """(type, time, data) of a record that is a CloudEvent with a JSON object for data; None for any other."""
    found = dict(headers)
    if found.get("content-type") == envelope.JSON_BYTES and found.get("ce_specversion") == b"1.0" and all(
            found.get(name) for name in _REQUIRED):
        try:
            data = orjson.loads(value or b"")
            raw_time = found.get("ce_time")
            time = datetime.fromisoformat(raw_time.decode()) if raw_time else datetime.now(timezone.utc)
        except ValueError:
            return None
        return (found["ce_type"].decode(), time, data) if isinstance(data, dict) else None
    try:  # written some other way (structured content type, no content type): the library's reading
        event = envelope.decode(value, list(headers), key)
    except envelope.EnvelopeError:
        return None
    return event.type, event.time, event.data


class TopicFollower:
    def __init__(self, bootstrap: str, topic: str, position: str):
        self.topic = topic
        self.offsets = parse_position(position)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"stream-reader-{topic}", daemon=True)
        self._thread.start()
        try:
            self._consumer = self._run(self._start(bootstrap))
        except BaseException:
            self._end_loop()
            raise

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _end_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _start(self, bootstrap: str):
        # Made on the loop it will run on, as aiokafka wants. A fetch returns after at most 50 ms when there is
        # nothing new (the broker may hold it that long even when there is): a partner sees an event soon.
        consumer = topic_consumer(bootstrap, fetch_max_wait_ms=50)
        await consumer.start()
        try:
            await assign_all(consumer, self.topic, from_beginning=True)
        except BaseException:
            await consumer.stop()
            raise
        for tp in consumer.assignment():
            if tp.partition in self.offsets:
                consumer.seek(tp, self.offsets[tp.partition])
        return consumer

    def poll(self, timeout_s: float, max_records: int = 2000) -> list[Read]:
        batches = self._run(self._consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=max_records))
        out = []
        offsets = self.offsets
        for tp, records in sorted(batches.items(), key=lambda kv: kv[0].partition):
            partition = tp.partition
            for r in records:
                offsets[partition] = r.offset + 1
                found = read_event(r.value, r.headers, r.key)
                if found is None:
                    continue  # not a CloudEvent: nothing a partner could be granted
                out.append(Read(format_position(offsets), *found))
        return out

    def close(self) -> None:
        try:
            self._run(self._consumer.stop())
        finally:
            self._end_loop()

