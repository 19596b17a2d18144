"""Kafka over mutual TLS, as a production cluster's `tls` listener asks (Strimzi: a KafkaUser of type tls per
service, its certificate in a Secret): every kind of Kafka client a service runs (FastStream's broker publishing and
subscribing, aiokafka's admin client and topic reader, librdkafka's producer) connects with the CA, certificate and
key of KOTA_KAFKA_SSL_*, and a client without a certificate gets nothing.

The broker is the embedded one (Tansu speaks plaintext), behind a TLS-terminating proxy that demands a client
certificate from the test CA and records whose it was; Tansu advertises the proxy's address, so every connection a
client makes after bootstrapping goes through TLS as well."""

from __future__ import annotations

import asyncio
import ssl
import threading
import uuid
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError

from kota_collab.certs import Authority
from kota_common.broker import start_embedded_broker
from kota_common.eventbus import EventBus
from kota_common.kafka import ensure_topics, make_producer, topic_consumer
from kota_common.testing import TopicReader, free_port, wait_until

pytestmark = pytest.mark.integration


class TlsProxy:
    """Accepts TLS on `port` with a client certificate from `ca` required, and relays the bytes to `upstream`.
    `clients`: the common name of each accepted client certificate."""

    def __init__(self, port: int, upstream: tuple[str, int], cert: Path, key: Path, ca: Path):
        self.port, self.upstream = port, upstream
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
        self.context.load_cert_chain(str(cert), str(key))
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.clients: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> TlsProxy:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)
        return self

    async def _serve(self):
        return await asyncio.start_server(self._relay, "127.0.0.1", self.port, ssl=self.context,
                                          ssl_handshake_timeout=5)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        self.clients.append(dict(x[0] for x in peer.get("subject", ())).get("commonName", ""))
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            relays = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in relays:
                task.cancel()
            await asyncio.gather(*relays, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def tls_broker(tmp_path, monkeypatch):
    """(the proxy's bootstrap address, the proxy, the certificates' directory); the process's Kafka settings are
    those of a service with its client certificate."""
    authority = Authority.create("Kafka test cluster CA")
    authority.save(tmp_path)
    broker_cert, broker_key = authority.issue("broker").save(tmp_path)
    client_cert, client_key = authority.issue("complaints").save(tmp_path)
    inner, outer = f"127.0.0.1:{free_port()}", free_port()
    broker = start_embedded_broker(inner, tmp_path / "broker.log", advertised=f"127.0.0.1:{outer}")
    proxy = TlsProxy(outer, ("127.0.0.1", int(inner.rpartition(":")[2])), broker_cert, broker_key,
                     tmp_path / "ca.pem").start()
    monkeypatch.setenv("KOTA_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("KOTA_KAFKA_SSL_CAFILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("KOTA_KAFKA_SSL_CERTFILE", str(client_cert))
    monkeypatch.setenv("KOTA_KAFKA_SSL_KEYFILE", str(client_key))
    try:
        yield f"127.0.0.1:{outer}", proxy
    finally:
        proxy.stop()
        broker.terminate()
        broker.wait(10)


def test_every_kafka_client_of_a_service_connects_with_its_certificate(tls_broker):
    bootstrap, proxy = tls_broker
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic], partitions=1)  # aiokafka's admin client
    seen: list[bytes] = []
    bus = EventBus(bootstrap, "tls-test")  # FastStream's KafkaBroker: a subscriber and the producer
    bus.subscribe(lambda records: seen.extend(r.value for r in records) or [], topic, group_id="tls-test")
    bus.start()
    try:
        assert bus.wait_started(60), bus.last_error
        bus.call(bus.broker.publish(b"from faststream", topic=topic, key=b"a"))
        producer = make_producer(bootstrap)  # librdkafka
        producer.produce(topic, b"from librdkafka", key=b"b")
        assert producer.flush(30) == 0, "librdkafka did not deliver over TLS"
        wait_until(lambda: len(seen) >= 2, timeout=60, what=lambda: f"the subscriber to get both records; got {seen}")
        assert sorted(seen) == [b"from faststream", b"from librdkafka"]
    finally:
        bus.stop()
    reader = TopicReader(bootstrap, topic)  # aiokafka's consumer outside a group
    try:
        records = reader.wait_for(lambda rs: len(rs) >= 2, timeout=30)
        assert sorted(r.value() for r in records) == [b"from faststream", b"from librdkafka"]
    finally:
        reader.close()
    assert proxy.clients and set(proxy.clients) == {"complaints"}, proxy.clients


def test_a_client_without_a_certificate_gets_nothing(tls_broker, monkeypatch):
    bootstrap, proxy = tls_broker
    monkeypatch.delenv("KOTA_KAFKA_SSL_CERTFILE")
    monkeypatch.delenv("KOTA_KAFKA_SSL_KEYFILE")

    async def connect() -> None:
        consumer = topic_consumer(bootstrap, request_timeout_ms=5000)
        try:
            await consumer.start()
        finally:
            await consumer.stop()

    with pytest.raises(KafkaConnectionError):
        asyncio.run(connect())
    assert proxy.clients == []  # no connection got past the handshake
