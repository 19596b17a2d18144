"""Faults against the stack `kota up` starts, with citizens' requests flowing through the gateway (Open311) all the
while: every service killed in turn (kill -9; kota up's supervisor restarts it), a complaints replica with two
running, the outbox relay, the broker frozen for 10 s, poison on every consumed topic.

What must hold: every request the gateway accepted is readable and its event is on the topic exactly once by ce_id
(one ce_id per request; a copy the relay sends again after a kill carries the same ce_id); no consumer applies an
event twice (copies of events already applied, as a relay killed before marking them sent publishes, are skipped by
every consumer group and change nothing public); with two complaints replicas, no citizen is refused while one
dies; poison goes to the topic's DLQ with a reason and each consumer carries on past it.

One stack for the module (it takes a while to start on a busy machine); each test checks the whole record of
requests accepted so far, so the tests hold in any order."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kota.complaints.v1 import complaints_pb2 as pb
from kota.complaints.v1 import complaints_pb2_grpc as pb_grpc
from kota_common.asyncapi import documentation_bus
from kota_common.events import complaints as complaint_events
from kota_common.kafka import ensure_topics
from kota_common.registration import ServiceSpec, installed_services
from kota_common.testing import (
    RecordProducer,
    TopicReader,
    _fresh_postgres_database,
    child_pids,
    free_port,
    wait_consumed,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]  # a stack to start, services to restart
SERVICES = {spec.name: spec for spec in installed_services()}
TOPIC = complaint_events.TOPIC
SUBMITTED = b"kota.complaints.submitted.v1"
API_KEY = "kota-open311-demo"


# -- the stack ----------------------------------------------------------------------------------------------
def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except FileNotFoundError:
        return []


@dataclass
class Stack:
    proc: subprocess.Popen
    env: dict[str, str]
    var: Path
    replicas: int  # of complaints

    @property
    def bootstrap(self) -> str:
        return self.env["KOTA_KAFKA_BOOTSTRAP"]

    @property
    def gateway(self) -> str:
        return f"http://{SERVICES['gateway'].address(self.env)}"

    def log(self) -> str:
        text = (self.var / "up.log").read_text(errors="replace")
        return text[-3000:]

    def pids(self, module: str) -> list[int]:
        """kota up's children running `python -m <module>` (a service's processes: its replicas)."""
        return [pid for pid in child_pids(self.proc.pid) if command_line(pid)[1:3] == ["-m", module]]

    def broker_pid(self) -> int:
        [pid] = [pid for pid in child_pids(self.proc.pid) if "--listener-url" in command_line(pid)]
        return pid

    def address_of(self, spec: ServiceSpec, pid: int) -> str:
        """Where one of the service's processes listens (a replica's own address), from its environment."""
        environ = dict(line.split("=", 1) for line in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in line)
        return environ.get(spec.address_env, spec.address(self.env))

    def gateway_connected_to(self, address: str) -> bool:
        """The gateway holds an established TCP connection to `address` (its channel to a replica is up)."""
        [gateway] = self.pids(SERVICES["gateway"].python_module)
        sockets = set()
        for fd in Path(f"/proc/{gateway}/fd").iterdir():
            try:
                sockets.add(os.readlink(fd))
            except OSError:
                continue
        port = f"{int(address.rpartition(':')[2]):04X}"
        for table in ("tcp", "tcp6"):  # gRPC's sockets are IPv6 ones, IPv4 addresses mapped
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[2].endswith(f":{port}") and fields[3] == "01" and f"socket:[{fields[9]}]" in sockets:
                    return True
        return False

    def healthy(self, spec: ServiceSpec, address: str = "") -> bool:
        address = address or spec.address(self.env)
        if spec.health_path:
            try:
                with urllib.request.urlopen(f"http://{address}{spec.health_path}", timeout=2) as response:
                    return response.status == 200
            except (urllib.error.URLError, OSError):
                return False
        with grpc.insecure_channel(address) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=spec.health_service), timeout=2)
            except grpc.RpcError:
                return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def kill_and_wait_restarted(self, name: str, pids: list[int]) -> list[int]:
        """kill -9 the given processes of a service; waits until kota up has started as many again and it serves.
        Returns the new processes."""
        spec = SERVICES[name]
        before = set(self.pids(spec.python_module))
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not set(pids) & set(self.pids(spec.python_module)), timeout=30,
                   what=f"{name} processes {pids} to be gone")

        def restarted() -> list[int]:
            now = set(self.pids(spec.python_module))
            return sorted(now - before) if len(now) == len(before) and not now & set(pids) else []

        new = wait_until(
            restarted, timeout=120, what=lambda: f"kota up to restart {name} (had {sorted(before)}, now "
                                      f"{self.pids(spec.python_module)}); {self.log()}")
        for pid in new:
            address = self.address_of(spec, pid)
            wait_until(lambda: self.healthy(spec, address), timeout=120,  # noqa: B023
                       what=f"{name} to serve again on {address} after its restart")
        return new


@dataclass
class Traffic:
    """Citizens submitting through the gateway's Open311 API, one request after another, on a thread: each accepted
    request's id, each refusal (anything but 201), with when."""

    base: str
    accepted: list[tuple[float, str]] = field(default_factory=list)
    refused: list[tuple[float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    paused: threading.Event = field(default_factory=threading.Event)
    idle: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            if self.paused.is_set():
                self.idle.set()
                self.stop.wait(0.1)
                continue
            self.idle.clear()
            i += 1
            form = urllib.parse.urlencode({
                "api_key": API_KEY, "service_code": "street_light", "description": f"lampu mati nomor {i}",
                "lat": f"{-6.30 + (i % 400) * 0.0007:.5f}", "long": f"{106.70 + (i // 400) * 0.0007:.5f}",
                "email": f"warga{i}@example.org",
            }).encode()
            started = time.monotonic()
            try:
                request = urllib.request.Request(f"{self.base}/open311/v2/requests.json", data=form)
                with urllib.request.urlopen(request, timeout=20) as response:
                    body = json.loads(response.read())
                self.accepted.append((started, body[0]["service_request_id"]))
            except urllib.error.HTTPError as exc:
                self.refused.append((started, f"{exc.code} {exc.read()[:200]!r}"))
            except (urllib.error.URLError, OSError) as exc:
                self.refused.append((started, repr(exc)))
            self.stop.wait(0.1)  # a citizen's pace, not a load test

    def ids(self) -> list[str]:
        return [cid for _, cid in self.accepted]

    def accepted_since(self, t: float) -> int:
        return sum(1 for started, _ in self.accepted if started >= t)

    def flowing(self, n: int = 5, timeout: float = 120) -> None:
        """Waits until `n` more requests have been accepted from now."""
        since = time.monotonic()
        wait_until(lambda: self.accepted_since(since) >= n, timeout=timeout,
                   what=lambda: f"{n} requests accepted; refused lately: {self.refused[-3:]}")

    def hold(self) -> None:
        """Stops submitting (until `resume`) once the request in flight has its answer."""
        self.paused.set()
        wait_until(self.idle.is_set, timeout=60, what="the traffic to pause")

    def resume(self) -> None:
        self.paused.clear()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres_server_url) -> Iterator[Stack]:
    var = tmp_path_factory.mktemp("faults")
    env = {**os.environ, "KOTA_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}", "KOTA_LOG_JSON": "true",
           "KOTA_GATEWAY_RATE_LIMIT_PER_S": "0"}  # every citizen here is one client IP
    for spec in SERVICES.values():
        env[spec.address_env] = f"127.0.0.1:{free_port()}"
        env[spec.metrics_env] = f"127.0.0.1:{free_port()}"
    for listener in ("KOTA_SENSORS_HTTP_ADDRESS", "KOTA_SENSORS_MQTT_ADDRESS", "KOTA_COLLAB_FEDERATION_ADDRESS",
                     "KOTA_NOTIFICATIONS_SMTP_INTAKE_ADDRESS"):
        env[listener] = f"127.0.0.1:{free_port()}"
    replicas = 1
    if postgres_server_url is not None:  # two complaints replicas share one PostgreSQL database
        env["KOTA_COMPLAINTS_DATABASE_URL"] = _fresh_postgres_database(postgres_server_url)
        replicas = 2
    out = open(var / "up.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kota_cli", "up", "--var-dir", str(var / "var"), "--no-simulate", "--no-demo",
         "--replicas", f"complaints={replicas}"],
        env=env, stdout=out, stderr=subprocess.STDOUT,
    )
    stack = Stack(proc, env, var, replicas)
    try:
        wait_until(lambda: b"Kota is up" in (var / "up.log").read_bytes() or proc.poll() is not None, timeout=300,
                   interval=0.5, what=stack.log)
        assert proc.poll() is None, stack.log()
        for spec in SERVICES.values():  # kota up waits 60 s for each: on a busy machine that may be too short
            for pid in stack.pids(spec.python_module):
                address = stack.address_of(spec, pid)
                wait_until(lambda: stack.healthy(spec, address), timeout=180,  # noqa: B023
                           what=lambda: f"{spec.name} to serve on {address}: {stack.log()}")  # noqa: B023
        yield stack
    finally:
        try:
            os.kill(stack.broker_pid(), signal.SIGCONT)
        except (ValueError, ProcessLookupError):
            pass
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        out.close()


@pytest.fixture(scope="module")
def traffic(stack) -> Iterator[Traffic]:
    traffic = Traffic(stack.gateway)
    thread = threading.Thread(target=traffic.run, name="citizens", daemon=True)
    thread.start()
    traffic.flowing()
    yield traffic
    traffic.stop.set()
    thread.join(30)


# -- what must hold after any fault ---------------------------------------------------------------------------
def assert_nothing_accepted_is_lost(stack: Stack, traffic: Traffic) -> None:
    """Every request accepted so far is readable through the gateway, and on the topic exactly once: one submitted
    event per request, and no ce_id twice on the whole topic."""
    ids = traffic.ids()
    unreadable = []
    with grpc.insecure_channel(SERVICES["complaints"].address(stack.env)) as channel:
        complaints = pb_grpc.ComplaintsServiceStub(channel)
        for cid in ids:
            try:
                if complaints.GetComplaint(pb.GetComplaintRequest(id=cid), timeout=20).complaint.id != cid:
                    unreadable.append(cid)
            except grpc.RpcError as exc:
                unreadable.append(f"{cid}: {exc.code()}")
    assert not unreadable, f"{len(unreadable)} of {len(ids)} accepted requests not readable: {unreadable[:10]}"

    wanted = {cid.encode() for cid in ids}
    submitted = lambda m: m.key() in wanted and dict(m.headers()).get("ce_type") == SUBMITTED  # noqa: E731
    reader = TopicReader(stack.bootstrap, TOPIC)
    try:
        reader.wait_for(lambda rs: {m.key() for m in rs} >= wanted, timeout=180, match=submitted)
        reader.assert_quiet(2, match=submitted)  # what is published twice shows up now
        # The relay publishes at least once: killed between the broker's ack and marking the row sent, it sends the
        # same event again, with the same ce_id (which consumers deduplicate by). What must not happen is a second
        # event for one request, or two events sharing a ce_id.
        ce_ids_per_request: dict[bytes | None, set] = {}
        for m in reader.records(submitted):
            ce_ids_per_request.setdefault(m.key(), set()).add(dict(m.headers()).get("ce_id"))
        twice = {k: v for k, v in ce_ids_per_request.items() if len(v) > 1}
        assert not twice, f"requests with more than one submitted event (ce_ids) on {TOPIC}: {twice}"
        keys_per_ce_id: dict[bytes | None, set] = {}
        for m in reader.records():
            keys_per_ce_id.setdefault(dict(m.headers()).get("ce_id"), set()).add((m.key(), dict(m.headers()).get("ce_type")))
        shared = {k: v for k, v in keys_per_ce_id.items() if len(v) > 1}
        assert not shared, f"ce_ids naming different events on {TOPIC}: {shared}"
    finally:
        reader.close()


# -- the faults -----------------------------------------------------------------------------------------------
def test_a_complaints_replica_dies_and_no_citizen_is_refused(stack, traffic):
    if stack.replicas < 2:
        pytest.skip("two complaints replicas need a PostgreSQL database (KOTA_TEST_POSTGRES_URL or initdb)")
    module = SERVICES["complaints"].python_module
    replicas = stack.pids(module)
    assert len(replicas) == 2, replicas
    start = time.monotonic()
    spec = SERVICES["complaints"]
    for pid in list(replicas):  # each in turn, the other serving
        [restarted] = stack.kill_and_wait_restarted("complaints", [pid])
        address = stack.address_of(spec, restarted)
        wait_until(lambda: stack.gateway_connected_to(address), timeout=60,  # noqa: B023
                   what=f"the gateway to connect to the restarted replica at {address}")
        traffic.flowing()
    refused = [(round(t - start, 1), why) for t, why in traffic.refused if t >= start]
    assert traffic.accepted_since(start) >= 10
    assert not refused, f"refused while a replica died (s after the first kill, why): {refused}"
    assert_nothing_accepted_is_lost(stack, traffic)


def test_every_service_and_the_relay_killed_in_turn_lose_nothing_accepted(stack, traffic):
    for name, spec in SERVICES.items():
        stack.kill_and_wait_restarted(name, stack.pids(spec.python_module))
        traffic.flowing()
    for replica in stack.pids(SERVICES["complaints"].python_module):  # the outbox relay, a child of each replica
        relays = child_pids(replica)
        assert relays, f"complaints replica {replica} has no relay process"
        for relay in relays:
            os.kill(relay, signal.SIGKILL)
        wait_until(lambda: [pid for pid in child_pids(replica) if pid not in relays], timeout=60,  # noqa: B023
                   what=f"complaints replica {replica} to restart its relay")
    traffic.flowing()
    assert_nothing_accepted_is_lost(stack, traffic)


def test_a_frozen_broker_loses_nothing_accepted(stack, traffic):
    broker = stack.broker_pid()
    start = time.monotonic()
    os.kill(broker, signal.SIGSTOP)
    try:
        time.sleep(10)  # the fault itself: the broker answers nothing for 10 s
    finally:
        os.kill(broker, signal.SIGCONT)
    assert traffic.accepted_since(start) >= 5, f"intake stopped with the broker; refused: {traffic.refused[-5:]}"
    traffic.flowing()
    assert_nothing_accepted_is_lost(stack, traffic)


def consumed_topics() -> dict[str, set[str]]:
    """Each topic a service consumes, with the consumer groups that read it (from the installed services' own
    subscriber declarations)."""
    groups: dict[str, set[str]] = {}
    subscriber: Any  # FastStream's Kafka subscribers: topic_names and group_id
    for subscriber in documentation_bus().broker.subscribers:
        for topic in subscriber.topic_names:
            groups.setdefault(topic, set()).add(subscriber.group_id)
    return groups


def event_counts(stack: Stack, group: str, topic: str) -> dict[str, float]:
    """What a consumer group's service counted for `topic` since it started, from its /metrics: events applied
    (kota_events_handled) and events skipped as already applied (kota_events_deduplicated)."""
    spec = SERVICES[group.removeprefix("kota-")]
    address = spec.metrics_address(stack.env)
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts = {}
    for name in ("kota_events_handled", "kota_events_deduplicated"):
        pattern = re.compile(rf"^{name}_total{{([^}}]*)}} (\S+)$", re.M)
        counts[name] = sum(float(value) for labels, value in pattern.findall(text)
                           if f'topic="{topic}"' in labels and f'group="{group}"' in labels)
    return counts


def ckan_package(stack: Stack, name: str) -> dict:
    with urllib.request.urlopen(f"{stack.gateway}/api/3/action/package_show?id={name}", timeout=20) as response:
        return json.loads(response.read())["result"]


def test_a_replayed_event_is_applied_by_no_consumer_twice(stack, traffic):
    """Copies of events every consumer has applied, published again as a relay killed between the broker's ack and
    marking its rows sent publishes them: each consumer group reads every copy, applies none (its deduplicated
    count rises by exactly the copies, its applied count not at all) and the public record does not change."""
    groups = consumed_topics()[TOPIC]
    assert {"kota-opendata", "kota-notifications", "kota-musrenbang"} <= groups, groups
    traffic.hold()
    try:
        for group in groups:
            wait_consumed(stack.bootstrap, group, TOPIC, timeout=120)
        reader = TopicReader(stack.bootstrap, TOPIC)
        try:
            submitted = lambda m: dict(m.headers()).get("ce_type") == SUBMITTED  # noqa: E731
            reader.wait_for(lambda rs: len(rs) >= 5, timeout=60, match=submitted)
            reader.read_to_end()
            reader.assert_quiet(2)  # the complaints' own follow-up events are all out: what changes next is ours
            applied = reader.records(submitted)[-20:]
        finally:
            reader.close()
        before = {group: event_counts(stack, group, TOPIC) for group in groups}
        dataset_before = ckan_package(stack, "pengaduan-warga")
        with RecordProducer(stack.bootstrap) as producer:
            for record in applied:
                producer.produce(TOPIC, record.value(), key=record.key(), headers=record.headers())
        for group in groups:  # every copy read, and committed past
            wait_consumed(stack.bootstrap, group, TOPIC, timeout=120)

        def counted_every_copy() -> dict:
            now = {group: event_counts(stack, group, TOPIC) for group in groups}
            done = all(now[g]["kota_events_deduplicated"] - before[g]["kota_events_deduplicated"] >= len(applied)
                       for g in groups)
            return now if done else {}

        after = wait_until(counted_every_copy, timeout=60, what=lambda: f"every group to count {len(applied)} "
                           f"copies as deduplicated; before {before}, now "
                           f"{ {g: event_counts(stack, g, TOPIC) for g in groups} }")
        changes = {g: {name: after[g][name] - before[g][name] for name in before[g]} for g in groups}
        assert changes == {g: {"kota_events_handled": 0, "kota_events_deduplicated": len(applied)} for g in groups}
        dataset_after = ckan_package(stack, "pengaduan-warga")
        assert dataset_after["metadata_modified"] == dataset_before["metadata_modified"], "a copy changed open data"
    finally:
        traffic.resume()
    traffic.flowing()


def test_poison_on_every_consumed_topic_goes_to_its_dlq_and_every_consumer_carries_on(stack, traffic):
    consumed = consumed_topics()
    assert TOPIC in consumed and len(consumed) >= 4, consumed
    ensure_topics(stack.bootstrap, sorted(consumed))
    key = f"poison-{uuid.uuid4().hex[:8]}".encode()
    dlqs = {topic: TopicReader(stack.bootstrap, f"{topic}.dlq") for topic in consumed}
    try:
        with RecordProducer(stack.bootstrap) as producer:
            for topic in consumed:
                producer.produce(topic, b"\x00not a cloudevent", key=key)
                producer.produce(topic, b'{"complaint_id": 7}', key=key,  # CloudEvents headers, a payload it is not
                                 headers=[("ce_id", str(uuid.uuid4())), ("ce_type", "kota.unknown.v1"),
                                          ("ce_source", "/faults"), ("ce_specversion", "1.0")])
        for topic, groups in consumed.items():
            dead = dlqs[topic].wait_for(lambda rs: len({dict(m.headers())["kota_dlq_consumer"] for m in rs}) >= len(groups),  # noqa: B023
                                        timeout=120, match=lambda m: m.key() == key)
            for record in dead:
                headers = {k: v.decode() for k, v in record.headers()}
                assert headers["kota_dlq_topic"] == topic and headers["kota_dlq_reason"].strip(), headers
            assert {dict(m.headers())["kota_dlq_consumer"].decode() for m in dead} == groups
        traffic.flowing()  # good records after the poison, on the complaints topic
        for topic, groups in consumed.items():  # each consumer has handled (and committed) past the poison
            for group in groups:
                wait_consumed(stack.bootstrap, group, topic, timeout=120)
    finally:
        for reader in dlqs.values():
            reader.close()
