"""Pytest fixtures for real parts: a Kafka-protocol broker, SQLite and PostgreSQL databases, service processes.

Broker: KOTA_KAFKA_BOOTSTRAP if set; else testcontainers' Kafka if a Docker engine answers; else the embedded
Tansu broker on a free port. PostgreSQL: KOTA_TEST_POSTGRES_URL if set; else a throwaway cluster started with
the machine's initdb/pg_ctl; else the PostgreSQL half is skipped (KOTA_TEST_REQUIRE_POSTGRES=1 makes that an
error, as in CI).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from kota_common.kafka import assign_all, client_security, ensure_topics, topic_consumer, wait_for_broker
from kota_common.runtime import die_with_parent

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

T = TypeVar("T")
_PORTS_GIVEN: set[int] = set()
_EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")


def xdist_worker() -> tuple[int, int]:
    """(this worker's index, how many workers) when pytest-xdist runs the suite (./scripts/test does); (0, 1)
    otherwise."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    return (int(name.removeprefix("gw")) if name.startswith("gw") else 0), max(workers, 1)


def free_port() -> int:
    """A port nothing listens on, for a server that a test or a benchmark starts next. Chosen below the kernel's
    ephemeral range: a port from that range can be taken, before the server binds it, as the local port of any
    outgoing connection (a Kafka client's, a database's), and the server then fails with "Address already in
    use" (seen once in CI)."""
    low = int(_EPHEMERAL_PORTS.read_text().split()[0]) if _EPHEMERAL_PORTS.exists() else 32768
    worker, workers = xdist_worker()
    for _ in range(1000):
        # each pytest-xdist worker draws from its own residue class: two workers never hand out the same port
        port = random.randrange(max(1024, low - 12_000) + worker, low, workers)
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # in use
                continue
        _PORTS_GIVEN.add(port)
        return port
    with socket.socket() as s:  # nothing free below the range: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- broker ---------------------------------------------------------------------------------------------
@dataclass
class BrokerHandle:
    bootstrap: str
    kind: str  # external | testcontainers | embedded
    process: subprocess.Popen | None = None
    container: DockerContainer | None = None

    def pause(self) -> None:
        """Freezes the broker (SIGSTOP, or docker pause): connections stay open but nothing answers."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)
        elif self.container is not None:
            self.container.get_wrapped_container().pause()
        else:
            pytest.skip("cannot pause an external broker")

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
        elif self.container is not None:
            self.container.get_wrapped_container().unpause()


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[BrokerHandle]:
    external = os.environ.get("KOTA_KAFKA_BOOTSTRAP")
    if external:
        wait_for_broker(external, 30)
        yield BrokerHandle(external, "external")
        return
    if os.environ.get("KOTA_TEST_TESTCONTAINERS", "1") == "1" and _docker_answers():
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:
            from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield BrokerHandle(container.get_bootstrap_server(), "testcontainers", container=container)
        return
    from kota_common.broker import start_embedded_broker

    address = f"127.0.0.1:{free_port()}"
    log = Path(tempfile.gettempdir()) / f"kota-test-broker-{address.replace(':', '-')}.log"
    proc = start_embedded_broker(address, log)
    try:
        yield BrokerHandle(address, "embedded", process=proc)
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: BrokerHandle) -> str:
    return kafka_broker.bootstrap


# -- Kafka from synchronous tests ---------------------------------------------------------------------------
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _on_background_loop(coroutine: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
    """Runs a coroutine on one event loop on a daemon thread, shared by the helpers below: aiokafka's clients are
    asyncio, the tests using them are not (and some run loops of their own, on which these could not run)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="kota-test-kafka", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(coroutine, _loop).result(timeout)


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


@dataclass(frozen=True)
class Record:
    """A record a `TopicReader` read. Its parts are methods (`m.key()`, `m.value()`, `m.headers()`), the shape every
    test's `match` and assertions are written in."""

    raw: ConsumerRecord

    def key(self) -> bytes | None:
        return self.raw.key

    def value(self) -> bytes | None:
        return self.raw.value

    def headers(self) -> list[tuple[str, bytes]]:
        return list(self.raw.headers)

    def describe(self) -> str:
        ce_type = dict(self.raw.headers).get("ce_type", b"no ce_type").decode(errors="replace")
        return f"{self.raw.key!r} {ce_type} @{self.raw.partition}/{self.raw.offset}"


def describe_records(records: list[Record], limit: int = 10) -> str:
    shown = "; ".join(r.describe() for r in records[-limit:])
    return f"(the last {limit}) {shown}" if len(records) > limit else shown


class TopicReader:
    """Reads a topic from its beginning outside any consumer group, keeping every record read.

    `wait_for` reads until the matching records satisfy a condition and fails, with what it read, if they do not in
    time; `assert_quiet` fails if a (matching) record arrives within a window: "nothing more" is its own assertion."""

    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic
        self._read: list[Record] = []
        self._consumer = _on_background_loop(self._start())

    async def _start(self) -> AIOKafkaConsumer:
        consumer = topic_consumer(self.bootstrap)  # made on the loop it will run on, as aiokafka wants
        await consumer.start()
        try:
            await assign_all(consumer, self.topic, from_beginning=True)
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    def _poll(self, seconds: float) -> list[Record]:
        """What arrives within `seconds` (returned as soon as something does), kept with the rest."""
        batches = _on_background_loop(self._consumer.getmany(timeout_ms=max(1, int(seconds * 1000)), max_records=5000))
        new = [Record(r) for records in batches.values() for r in records]
        self._read.extend(new)
        return new

    def records(self, match: Callable[[Record], bool] | None = None) -> list[Record]:
        """The records read so far (that match)."""
        return [r for r in self._read if match is None or match(r)]

    def wait_for(self, done: Callable[[list[Record]], bool], timeout: float = 30.0,
                 match: Callable[[Record], bool] | None = None) -> list[Record]:
        """Reads until `done(matching records)` holds, and returns the matching records; AssertionError after
        `timeout` seconds with how many matched and which."""
        matching = self.records(match)
        deadline = time.monotonic() + timeout
        while not done(matching):
            left = deadline - time.monotonic()
            if left <= 0:
                seen = (f": {describe_records(matching)}" if matching
                        else f"; the last read: {describe_records(self._read, 5)}" if self._read else "")
                raise AssertionError(f"{self.topic}: not done in {timeout} s; {len(matching)} matching record(s) of "
                                     f"{len(self._read)} read{seen}")
            matching += [r for r in self._poll(min(0.2, left)) if match is None or match(r)]
        return matching

    def read_to_end(self, timeout: float = 60.0) -> list[Record]:
        """Reads every record on the topic at the call (to its end offsets then); returns all read so far."""
        ends = _on_background_loop(self._consumer.end_offsets(list(self._consumer.assignment())))
        deadline = time.monotonic() + timeout
        while not self._read_up_to(ends):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.topic}: could not read to its end {ends} in {timeout} s")
            self._poll(0.2)
        return self.records()

    def assert_quiet(self, seconds: float, match: Callable[[Record], bool] | None = None) -> None:
        """Fails if a (matching) record arrives that was not read before: reads to the topic's end as it is now,
        then on for `seconds`."""
        ends = _on_background_loop(self._consumer.end_offsets(list(self._consumer.assignment())))
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 or not self._read_up_to(ends):
            if left < -60:
                raise AssertionError(f"{self.topic}: could not read to its end {ends} in {seconds + 60} s")
            arrived = [r for r in self._poll(min(0.2, max(left, 0.05))) if match is None or match(r)]
            if arrived:
                raise AssertionError(f"{self.topic}: expected nothing more, but {len(arrived)} more matching "
                                     f"record(s) arrived: {describe_records(arrived)}")

    def _read_up_to(self, ends: dict[TopicPartition, int]) -> bool:
        async def caught_up() -> bool:
            return all([await self._consumer.position(tp) >= end for tp, end in ends.items()])

        return _on_background_loop(caught_up())

    def close(self) -> None:
        _on_background_loop(self._consumer.stop())


@pytest.fixture
def topic_reader(kafka_bootstrap) -> Iterator[Callable[[str], TopicReader]]:
    readers: list[TopicReader] = []

    def open_reader(topic: str) -> TopicReader:
        ensure_topics(kafka_bootstrap, [topic.removesuffix(".dlq")])
        reader = TopicReader(kafka_bootstrap, topic)
        readers.append(reader)
        return reader

    yield open_reader
    for r in readers:
        r.close()


class RecordProducer:
    """Produces records from a synchronous test as another service would (aiokafka, acks from all replicas):
    `produce` queues one, `flush` waits until the broker has acknowledged every one queued, or raises."""

    def __init__(self, bootstrap: str):
        async def start() -> AIOKafkaProducer:
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **client_security())
            await producer.start()
            return producer

        self._producer = _on_background_loop(start())
        self._pending: list[asyncio.Future] = []

    def produce(self, topic: str, value: str | bytes | None, key: str | bytes | None = None,
                headers: Sequence[tuple[str, str | bytes]] = ()) -> None:
        send = self._producer.send(topic, _bytes(value), _bytes(key), headers=[(k, _bytes(v)) for k, v in headers])
        self._pending.append(_on_background_loop(send))

    def flush(self, timeout: float = 30.0) -> None:
        pending, self._pending = self._pending, []

        async def acknowledged() -> None:
            await asyncio.wait_for(asyncio.gather(*pending), timeout)

        _on_background_loop(acknowledged(), None)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            _on_background_loop(self._producer.stop())

    def __enter__(self) -> RecordProducer:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def wait_consumed(bootstrap: str, group: str, topic: str, timeout: float = 60.0) -> None:
    """Waits until a consumer group has committed every record now on a topic (e.g. a consumer has seen a baseline
    before the next record is sent); fails with the partitions it has not caught up on."""

    async def ends() -> dict[TopicPartition, int]:
        consumer = topic_consumer(bootstrap, isolation_level="read_uncommitted")  # the high watermarks
        await consumer.start()
        try:
            await assign_all(consumer, topic)
            return await consumer.end_offsets(list(consumer.assignment()))
        finally:
            await consumer.stop()

    async def behind(ends: dict[TopicPartition, int]) -> dict[int, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_security())
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets(group, partitions=list(ends))
        finally:
            await admin.close()
        offset = lambda tp: committed[tp].offset if tp in committed else -1  # noqa: E731
        return {tp.partition: f"committed {offset(tp)} of {end}" for tp, end in ends.items() if end and offset(tp) < end}

    now_on_topic = _on_background_loop(ends())
    wait_until(lambda: not _on_background_loop(behind(now_on_topic)), timeout,
               what=lambda: f"group {group} to commit all of {topic}; behind: {_on_background_loop(behind(now_on_topic))}")


def wait_until(check: Callable[[], T], timeout: float = 60.0, interval: float = 0.2,
               what: str | Callable[[], str] = "") -> T:
    """Calls `check` until it returns something truthy, and returns that; AssertionError after `timeout` seconds
    with what it last returned (and `what`, a description or a function giving one, of what was awaited)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            awaited = what() if callable(what) else what
            last = repr(value)
            last = last if len(last) <= 2000 else last[:2000] + "..."
            raise AssertionError(f"{awaited or 'condition'}: not met in {timeout} s; last saw {last}")
        time.sleep(interval)


# -- databases ------------------------------------------------------------------------------------------
def _postgres_bindir() -> str | None:
    initdb = shutil.which("initdb")
    if initdb:
        return str(Path(os.path.realpath(initdb)).parent)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return str(Path(found[-1]).parent) if found else None


def child_pids(pid: int) -> list[int]:
    """The processes a process started (Linux /proc): a service's relay process, for tests and benchmarks."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()]


def bench_workdir(prefix: str) -> Path:
    """A temporary directory for a benchmark's databases and logs, removed when the benchmark exits: a run's
    SQLite write-ahead log alone can reach hundreds of megabytes."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    return work


@contextlib.contextmanager
def bench_broker(work: Path) -> Iterator[str]:
    """A benchmark's broker: KOTA_KAFKA_BOOTSTRAP if set, otherwise the embedded broker on a free port (logging to
    `work`), stopped when the benchmark is done. Yields the bootstrap address."""
    bootstrap = os.environ.get("KOTA_KAFKA_BOOTSTRAP")
    if bootstrap:
        yield bootstrap
        return
    from kota_common.broker import start_embedded_broker

    bootstrap = f"127.0.0.1:{free_port()}"
    broker = start_embedded_broker(bootstrap, work / "broker.log")
    try:
        yield bootstrap
    finally:
        broker.terminate()
        broker.wait(10)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL cluster in a temporary directory (as the `postgres` user when running as root)."""
    bindir = _postgres_bindir()
    if bindir is None:
        raise FileNotFoundError("no initdb found")
    base = tempfile.mkdtemp(prefix="kota-pg-")
    os.chmod(base, 0o755)
    data = os.path.join(base, "data")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(base, "postgres")
    port = free_port()
    run = lambda *args: subprocess.run(prefix + list(args), check=True, capture_output=True)  # noqa: E731
    run(f"{bindir}/initdb", "-D", data, "-U", "kota", "--auth=trust", "-E", "UTF8", "--no-sync")
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    run(f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(base, "log"), "-w", "start")
    try:
        yield f"postgresql+psycopg://kota@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str | None]:
    url = os.environ.get("KOTA_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        with throwaway_postgres() as url:
            yield url
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        if os.environ.get("KOTA_TEST_REQUIRE_POSTGRES") == "1":
            raise RuntimeError(f"PostgreSQL is required here but could not start: {exc}") from exc
        yield None


def _fresh_postgres_database(server_url: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    from kota_common.db.notify import libpq_conninfo

    name = f"kota_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_conninfo(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh, empty database of each kind: every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server = request.getfixturevalue("postgres_server_url")
    if server is None:
        pytest.skip("no PostgreSQL available (set KOTA_TEST_POSTGRES_URL or install postgresql)")
    return _fresh_postgres_database(server)


# -- service processes ----------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to report CPU per request beside wall-clock rates."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def without_metrics_endpoint(module: str, env: dict[str, str]) -> dict[str, str]:
    """`env` for `python -m <module>` with its /metrics endpoint off unless the test chose an address: tests
    start many services at once, and each would take its default metrics port (e.g. 127.0.0.1:9101)."""
    package = module.split()[0].split(".")[0]  # kota_<name>.baseline 8081 -> kota_<name>
    variable = f"KOTA_{package.removeprefix('kota_').upper()}_METRICS_ADDRESS"
    return {variable: "off", **env}


class ServiceProcess:
    """A Kota service started as its own OS process (`python -m <module>`), as it runs in production."""

    def __init__(self, module: str, env: dict[str, str], address: str, log_path: Path):
        self.module, self.env, self.address, self.log_path = module, without_metrics_endpoint(module, env), address, log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> ServiceProcess:
        """Launches the service and waits until it serves; one that does not in time is stopped, not left running
        (and loading the machine) after its test has failed."""
        self.launch()
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def launch(self) -> ServiceProcess:
        """Starts the process without waiting for it to serve (`wait_healthy` does): several services launched
        before any is waited for start side by side (see `start_all`)."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(  # ends with the test run however that ends (an interrupted xdist worker)
            [sys.executable, "-m", self.module], env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        return self

    def _started(self) -> subprocess.Popen:
        if self.proc is None:
            raise RuntimeError(f"{self.module} was not started")
        return self.proc

    def wait_healthy(self, timeout: float) -> None:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        proc = self._started()
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"{self.module} exited with {proc.returncode}:\n{self.log()[-4000:]}")
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"{self.module} not healthy on {self.address}:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        """kill -9: no shutdown hooks run."""
        proc = self._started()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_all(processes: Sequence[ServiceProcess], timeout: float = 60.0) -> list[ServiceProcess]:
    """Starts services side by side (all launched, then each waited for): a service's start-up is mostly its
    imports and its broker's group join, which need not queue behind another's. If one fails, all are stopped."""
    try:
        for process in processes:
            process.launch()
        for process in processes:
            process.wait_healthy(timeout)
    except BaseException:
        stop_all(processes)
        raise
    return list(processes)


def stop_all(processes: Iterable[ServiceProcess]) -> None:
    """Stops services together: each is asked (SIGTERM) before any is waited for, since one by one each graceful
    stop (its gRPC grace, its relay's last flush, its consumers leaving their groups) would add to the next."""
    running = [p for p in processes if p.proc is not None and p.proc.poll() is None]
    for process in running:
        process._started().terminate()
    for process in running:
        process.stop()
