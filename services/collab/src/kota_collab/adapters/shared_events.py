"""Reading a topic for a partner's stream, from a position: `p0:o0,p1:o1` (the next offset of each partition; a
partition not named is read from its beginning). The reader runs its own asyncio loop (aiokafka's) in the calling
thread: each gRPC stream has one reader, polled between the messages it sends."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kota_common import envelope
from kota_common.kafka import assign_all, topic_consumer


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


@dataclass(frozen=True)
class Read:
    position: str  # resumes after this event
    event: envelope.Event


class TopicFollower:
    def __init__(self, bootstrap: str, topic: str, position: str):
        self.topic = topic
        self.offsets = parse_position(position)
        self._loop = asyncio.new_event_loop()
        try:
            self._consumer = self._loop.run_until_complete(self._start(bootstrap))
        except BaseException:
            self._loop.close()
            raise

    async def _start(self, bootstrap: str):
        consumer = topic_consumer(bootstrap)  # made on the loop it will run on, as aiokafka wants
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

    def poll(self, timeout_s: float) -> list[Read]:
        batches = self._loop.run_until_complete(self._consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=500))
        out = []
        for tp, records in sorted(batches.items(), key=lambda kv: kv[0].partition):
            for r in records:
                self.offsets[tp.partition] = r.offset + 1
                try:
                    event = envelope.decode(r.value, list(r.headers), r.key)
                except envelope.EnvelopeError:
                    continue  # not a CloudEvent: nothing a partner could be granted
                out.append(Read(format_position(self.offsets), event))
        return out

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._consumer.stop())
        finally:
            self._loop.close()

