"""Pytest fixtures for real parts: a Kafka-protocol broker, SQLite and PostgreSQL databases, service processes.

Broker: KOTA_KAFKA_BOOTSTRAP if set; else testcontainers' Kafka if a Docker engine answers; else the embedded
Tansu broker on a free port. PostgreSQL: KOTA_TEST_POSTGRES_URL if set; else a throwaway cluster started with
the machine's initdb/pg_ctl; else the PostgreSQL half is skipped (KOTA_TEST_REQUIRE_POSTGRES=1 makes that an
error, as in CI).
"""

from __future__ import annotations

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
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kota_common.kafka import assign_all, make_consumer, wait_for_broker

_PORTS_GIVEN: set[int] = set()
_EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A port nothing listens on, for a server that a test or a benchmark starts next. Chosen below the kernel's
    ephemeral range: a port from that range can be taken, before the server binds it, as the local port of any
    outgoing connection (a Kafka client's, a database's), and the server then fails with "Address already in
    use" (seen once in CI)."""
    low = int(_EPHEMERAL_PORTS.read_text().split()[0]) if _EPHEMERAL_PORTS.exists() else 32768
    for _ in range(1000):
        port = random.randint(max(1024, low - 12_000), low - 1)
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
    container: object | None = None

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


@dataclass
class TopicReader:
    """Reads a topic from the beginning without a consumer group, collecting records that match."""

    bootstrap: str
    topic: str
    records: list = field(default_factory=list)

    def __post_init__(self):
        self.consumer = make_consumer(self.bootstrap, f"kota-test-{uuid.uuid4()}")
        assign_all(self.consumer, self.topic, from_beginning=True)

    def wait_for(self, done: Callable[[list], bool], timeout: float = 30.0, match: Callable | None = None) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not done(self.records):
            for msg in self.consumer.consume(500, 0.2):
                if msg.error() is None and (match is None or match(msg)):
                    self.records.append(msg)
        return self.records

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def topic_reader(kafka_bootstrap) -> Iterator[Callable[[str], TopicReader]]:
    readers: list[TopicReader] = []

    def open_reader(topic: str) -> TopicReader:
        from kota_common.kafka import ensure_topics

        ensure_topics(kafka_bootstrap, [topic.removesuffix(".dlq")])
        reader = TopicReader(kafka_bootstrap, topic)
        readers.append(reader)
        return reader

    yield open_reader
    for r in readers:
        r.close()


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

    from kota_common.db import libpq_conninfo

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
    package = module.split()[0].split(".")[0]  # kota_gateway.baseline 8081 -> kota_gateway
    variable = f"KOTA_{package.removeprefix('kota_').upper()}_METRICS_ADDRESS"
    return {variable: "off", **env}


class ServiceProcess:
    """A Kota service started as its own OS process (`python -m <module>`), as it runs in production."""

    def __init__(self, module: str, env: dict[str, str], address: str, log_path: Path):
        self.module, self.env, self.address, self.log_path = module, without_metrics_endpoint(module, env), address, log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> ServiceProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module], env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
        )
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.module} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
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
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
