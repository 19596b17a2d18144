"""Kafka client helpers: topic creation and reading a topic outside any consumer group on aiokafka, as the event bus
is; `make_producer`, librdkafka via confluent-kafka; and how every one of these clients authenticates
(`client_security`, `rdkafka_security`, `faststream_security`, from KOTA_KAFKA_SECURITY_PROTOCOL and friends).

librdkafka stays only for `make_producer`: the sensors ingest producer (the hot path, 250k readings/s) and the
benchmarks' raw baseline, where it was measured to pay (see docs/architecture.md, Events).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from aiokafka.helpers import create_ssl_context
from confluent_kafka import Producer
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from kota_common.settings import CommonSettings

log = logging.getLogger(__name__)
# librdkafka's own log lines (connection refused while the broker is away, ...) go through Python logging,
# as JSON like everything else, instead of raw stderr.
_rdkafka_log = logging.getLogger("kota.rdkafka")


# -- authentication -----------------------------------------------------------------------------------------
def client_security(settings: CommonSettings | None = None) -> dict[str, Any]:
    """aiokafka's connection options for this process's Kafka credentials (none for PLAINTEXT): TLS with the
    cluster's CA and, for a KafkaUser of type tls, the client certificate; SASL with its mechanism and user."""
    s = settings or CommonSettings()
    options: dict[str, Any] = {}
    if s.kafka_security_protocol != "PLAINTEXT":
        options["security_protocol"] = s.kafka_security_protocol
    if s.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(cafile=s.kafka_ssl_cafile or None,
                                                    certfile=s.kafka_ssl_certfile or None,
                                                    keyfile=s.kafka_ssl_keyfile or None)
    if s.kafka_security_protocol.startswith("SASL"):
        options |= {"sasl_mechanism": s.kafka_sasl_mechanism, "sasl_plain_username": s.kafka_sasl_username,
                    "sasl_plain_password": s.kafka_sasl_password}
    return options


def rdkafka_security(settings: CommonSettings | None = None) -> dict[str, str]:
    """The same credentials in librdkafka's configuration properties."""
    s = settings or CommonSettings()
    config = {"security.protocol": s.kafka_security_protocol.lower()}
    for key, value in (("ssl.ca.location", s.kafka_ssl_cafile), ("ssl.certificate.location", s.kafka_ssl_certfile),
                       ("ssl.key.location", s.kafka_ssl_keyfile)):
        if value:
            config[key] = value
    if s.kafka_security_protocol.startswith("SASL"):
        config |= {"sasl.mechanisms": s.kafka_sasl_mechanism, "sasl.username": s.kafka_sasl_username,
                   "sasl.password": s.kafka_sasl_password}
    return config


def faststream_security(settings: CommonSettings | None = None) -> BaseSecurity | None:
    """The same credentials as FastStream's KafkaBroker takes them (it turns them back into aiokafka's options)."""
    s = settings or CommonSettings()
    if s.kafka_security_protocol == "PLAINTEXT":
        return None
    tls = s.kafka_security_protocol in ("SSL", "SASL_SSL")
    context = client_security(s).get("ssl_context")
    if not s.kafka_security_protocol.startswith("SASL"):
        return BaseSecurity(ssl_context=context, use_ssl=tls)
    sasl = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}[s.kafka_sasl_mechanism]
    return sasl(s.kafka_sasl_username, s.kafka_sasl_password, ssl_context=context, use_ssl=tls)


def make_producer(bootstrap: str, **overrides) -> Producer:
    config = {
        **rdkafka_security(),
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


def topic_consumer(bootstrap: str, **overrides) -> AIOKafkaConsumer:
    """An aiokafka consumer outside any consumer group (nothing committed, no rebalance wait), reading committed
    records only; give it its partitions with `assign_all`. For tools and tests."""
    config = {
        **client_security(),
        "bootstrap_servers": bootstrap,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
    }
    config.update(overrides)
    return AIOKafkaConsumer(**config)


async def assign_all(consumer: AIOKafkaConsumer, topic: str, from_beginning: bool = True, timeout: float = 10.0) -> None:
    """Gives a started consumer every partition of a topic, at its beginning or its end."""
    deadline = time.monotonic() + timeout
    while not consumer.partitions_for_topic(topic):
        if topic not in await consumer.topics():  # fetches the cluster's metadata again
            if time.monotonic() > deadline:
                raise KafkaError(f"no topic {topic} on the broker after {timeout} s")
            await asyncio.sleep(0.2)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    if from_beginning:
        await consumer.seek_to_beginning(*partitions)
    else:
        await consumer.seek_to_end(*partitions)


def ensure_topics(
    bootstrap: str, names: list[str], partitions: int = 3, timeout: float = 30.0, *, replication_factor: int = 1
) -> None:
    """Creates the topics that do not exist yet (and each one's .dlq); an existing topic is left as it is.
    Synchronous: services call it from their own threads, tests and tools from plain functions."""
    coroutine = _ensure_topics(bootstrap, names, partitions, timeout, replication_factor)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no event loop in this thread
        asyncio.run(coroutine)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # called from a coroutine: run on a thread of its own, not on that loop
        pool.submit(asyncio.run, coroutine).result()


async def _ensure_topics(bootstrap: str, names: list[str], partitions: int, timeout: float, replication_factor: int):
    wanted = set(names) | {f"{n}.dlq" for n in names if not n.endswith(".dlq")}
    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, **client_security())
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            break
        except KafkaError:
            await admin.close()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        missing = sorted(wanted - existing)
        if not missing:
            return
        response = await admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=replication_factor) for n in missing],
            timeout_ms=int(timeout * 1000),
        )
        for name, code, *_message in response.topic_errors:
            if code != 0 and for_code(code) is not TopicAlreadyExistsError:
                raise for_code(code)(f"creating topic {name}")
        log.info("created topics %s", ", ".join(missing))
    finally:
        await admin.close()


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
