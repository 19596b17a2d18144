"""Kafka client helpers (librdkafka via confluent-kafka): producers, consumers, topic creation."""

from __future__ import annotations

import logging
import socket
import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

log = logging.getLogger(__name__)
# librdkafka's own log lines (connection refused while the broker is away, ...) go through Python logging,
# as JSON like everything else, instead of raw stderr.
_rdkafka_log = logging.getLogger("kota.rdkafka")


def make_producer(bootstrap: str, **overrides) -> Producer:
    config = {
        "bootstrap.servers": bootstrap,
        # librdkafka's idempotent producer works against Tansu (aiokafka's does not): no duplicates from retries.
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "gzip",
        # An outage longer than this is handled by the outbox: the row stays unpublished and is sent again.
        "message.timeout.ms": 120_000,
        "socket.keepalive.enable": True,
        "logger": _rdkafka_log,
    }
    config.update(overrides)
    return Producer(config)


def make_consumer(bootstrap: str, group_id: str, **overrides) -> Consumer:
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        # A group forms in about half the session timeout on Tansu; 6 s is also Kafka's default minimum.
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "logger": _rdkafka_log,
    }
    config.update(overrides)
    return Consumer(config)


def assign_all(consumer: Consumer, topic: str, from_beginning: bool = True, timeout: float = 10.0) -> None:
    """Reads every partition of a topic without joining a group (no rebalance wait): for tools and tests."""
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TopicPartition

    metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
    if metadata.error is not None:
        raise KafkaException(metadata.error)
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, start) for p in sorted(metadata.partitions)])


def ensure_topics(
    bootstrap: str, names: list[str], partitions: int = 3, timeout: float = 30.0, *, replication_factor: int = 1
) -> None:
    """Creates the topics that do not exist yet (and each one's .dlq); an existing topic is left as it is."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": _rdkafka_log})
    wanted = set(names) | {f"{n}.dlq" for n in names if not n.endswith(".dlq")}
    deadline = time.monotonic() + timeout
    while True:
        try:
            existing = set(admin.list_topics(timeout=5).topics)
            break
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    missing = sorted(wanted - existing)
    if not missing:
        return
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=replication_factor) for n in missing])
    for _name, future in futures.items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    log.info("created topics %s", ", ".join(missing))


def wait_for_broker(bootstrap: str, timeout: float = 30.0) -> None:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no Kafka broker answering at {bootstrap}") from None
            time.sleep(0.2)
