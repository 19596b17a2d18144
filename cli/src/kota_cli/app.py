"""The `kota` command line: run the platform, run one service, tail topics, issue staff tokens, docs."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from kota_common.registration import ServiceSpec, installed_services

app = typer.Typer(help="Kota smart-city platform", no_args_is_help=True, add_completion=False)
events_app = typer.Typer(help="Inspect Kafka topics", no_args_is_help=True)
app.add_typer(events_app, name="events")
console = Console(stderr=True)


@cache
def _services() -> list[ServiceSpec]:
    """The installed services, in start order (each registers itself: kota_common.registration)."""
    return installed_services()


def _service(name: str) -> ServiceSpec:
    services = _services()
    for spec in services:
        if spec.name == name:
            return spec
    raise typer.BadParameter(f"unknown service {name!r}; known: {', '.join(s.name for s in services)}")


def _metrics_url(spec: ServiceSpec) -> str:
    """Where the service serves Prometheus metrics, as `kota up` starts it (its environment or the default)."""
    address = spec.metrics_address()
    return "off" if address.strip().lower() in ("", "off") else f"http://{address}/metrics"


def _port_open(address: str) -> bool:
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_healthy(address: str, service: str = "", timeout: float = 60.0) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return True
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    return False


def _wait_http_healthy(url: str, timeout: float = 60.0) -> bool:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


@app.command()
def up(
    var_dir: Path = typer.Option(Path("var"), help="where databases and logs go"),
    demo: bool = typer.Option(True, help="seed demonstration data"),
    simulate: bool = typer.Option(True, help="keep the platform alive with simulated activity, where available"),
    with_partner: bool = typer.Option(False, help="also start a second city (Makassar: its own collab service, "
                                      "database and certificate) federated with this one, and watch a proposal converge"),
    partner_address: str = typer.Option("127.0.0.1:50065", help="the partner's staff gRPC address (--with-partner)"),
    partner_federation_address: str = typer.Option("127.0.0.1:50165", help="the partner's inter-city endpoint "
                                                   "(mutual TLS; --with-partner)"),
    replicas: list[str] = typer.Option([], help="NAME=N: N processes of a service on one database (PostgreSQL, "
                                       "from the environment), e.g. complaints=2: each on a port of its own, and the "
                                       "gateway taking turns over them (gRPC round_robin)"),
) -> None:
    """Start the whole platform: embedded broker and every service as its own process, supervised."""
    from kota_common.broker import start_embedded_broker
    from kota_common.events import topics
    from kota_common.process import StopSignal
    from kota_common.runtime import ChildProcess
    from kota_common.settings import CommonSettings

    # Ctrl-C (or SIGTERM) from now on stops everything, once started: one arriving while "Kota is up" was being
    # printed, before the wait began, ended the process without stopping its children
    stop = StopSignal()
    # The supervisor says through logging when it restarts a process that died.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    var_dir.mkdir(parents=True, exist_ok=True)
    logs = var_dir / "log"
    logs.mkdir(exist_ok=True)
    common = CommonSettings()
    broker = None
    if _port_open(common.kafka_bootstrap.split(",")[0]):
        console.print(f"[yellow]using the Kafka broker already at {common.kafka_bootstrap}[/]")
    else:
        console.print(f"starting embedded broker (Tansu) on {common.kafka_bootstrap}")
        broker = start_embedded_broker(common.kafka_bootstrap.split(",")[0], logs / "broker.log")

    services = _services()
    copies = _replicas(replicas)  # each replicated service's addresses, the first its own
    gateway_env = {variable: "ipv4:" + ",".join(addresses) for name, addresses in copies.items()
                   if len(addresses) > 1 and (variable := _service("gateway").env(f"{name}_address")) not in os.environ}
    gateway_env.update(_sensorthings_mqtt_endpoints())
    partner = _prepare_partner(partner_address, partner_federation_address) if with_partner else None
    children: list[ChildProcess] = []  # each restarted when it dies, as Kubernetes would
    for spec in services:
        env = {}
        if spec.database_env and spec.database_env not in os.environ:
            env[spec.database_env] = f"sqlite:///{(var_dir / f'{spec.name}.db').resolve()}"
        if "KOTA_PHOTOS_LOCAL_DIR" not in os.environ:  # one photo store for the gateway and notifications
            env["KOTA_PHOTOS_LOCAL_DIR"] = str((var_dir / "photos").resolve())
        if spec.companion:  # e.g. notifications' local sink: outgoing messages stay on this machine
            module, *args = (part.format(var_dir=var_dir) for part in spec.companion)
            children.append(ChildProcess(f"{spec.name} {module}", module, {}, log_path=logs / f"{module}.log",
                                         argv=[sys.executable, "-m", module, *args]))
            env.update({k: v for k, v in spec.companion_env.items() if k not in os.environ})
        env.update({k: v for k, v in gateway_env.items() if spec.name == "gateway"})
        children.append(ChildProcess(spec.name, spec.python_module, env, log_path=logs / f"{spec.name}.log"))
        for n, address in enumerate(copies.get(spec.name, [])[1:], start=2):  # its metrics endpoint on the first only
            children.append(ChildProcess(f"{spec.name}-{n}", spec.python_module,
                                         {**env, spec.address_env: address, spec.metrics_env: "off"},
                                         log_path=logs / f"{spec.name}-{n}.log"))
    for child in children:
        child.start()
    for spec in services:
        address, metrics = spec.address(), _metrics_url(spec)
        if spec.health_path:
            ok, kind = _wait_http_healthy(f"http://{address}{spec.health_path}"), "HTTP"
        else:
            ok, kind = _wait_healthy(address, spec.health_service), "gRPC"
        console.print(f"  {spec.name:<12} {kind} {address:<22} {'[green]SERVING[/]' if ok else '[red]NOT SERVING[/]'}"
                      f"  metrics {metrics}")
        for n, replica in enumerate(copies.get(spec.name, [])[1:], start=2):
            ok = _wait_healthy(replica, spec.health_service)
            console.print(f"  {f'{spec.name}-{n}':<12} gRPC {replica:<22} "
                          f"{'[green]SERVING[/]' if ok else '[red]NOT SERVING[/]'}")
    if demo:
        for spec in services:
            if spec.demo is not None:
                spec.demo(spec.address())
    if partner is not None:
        children.append(_start_partner(*partner, var_dir, logs))
    if simulate:  # gentle simulated activity (e.g. sensor readings), from the services that offer it
        for spec in services:
            if spec.simulate is not None:
                child = ChildProcess(f"{spec.name} simulator", "kota_cli", {},
                                     argv=[sys.executable, "-m", "kota_cli", "simulate", spec.name, "--quiet"],
                                     log_path=logs / f"{spec.name}-simulator.log")
                child.start()
                children.append(child)
    console.print("[bold]Kota is up.[/] Logs in " + str(logs) + ". Ctrl-C stops everything.")
    console.print(f"Watch events: [cyan]kota events tail {next(iter(topics()))}[/]")
    for spec in services:
        if spec.portal:
            console.print(f"[bold]Portal: http://{spec.address()}/[/]")

    stop.wait()
    console.print("stopping…")
    for child in reversed(children):  # all asked at once, then each waited for (killed if it does not stop)
        child.terminate()
    for child in children:
        child.stop()
    if broker is not None:
        broker.terminate()
        try:
            broker.wait(15)
        except subprocess.TimeoutExpired:
            broker.kill()


def _sensorthings_mqtt_endpoints() -> dict[str, str]:
    """The gateway's setting that advertises the sensors service's embedded MQTT broker to SensorThings clients
    (the MQTT extension in the service root), where a client on this machine reaches it; unless set already."""
    variable = _service("gateway").env("sensorthings_mqtt_endpoints")
    sensors = next((spec for spec in _services() if spec.name == "sensors"), None)
    if variable in os.environ or sensors is None:
        return {}
    settings: Any = sensors.settings()  # the sensors service's settings class, known here only by its spec
    if not (settings.mqtt_enabled and settings.mqtt_embedded_broker):
        return {}
    host, _, port = settings.mqtt_address.rpartition(":")
    reachable = "127.0.0.1" if host in ("0.0.0.0", "", "[::]") else host  # a wildcard listener: this machine
    return {variable: f"mqtt://{reachable}:{port}"}


def _replicas(options: list[str]) -> dict[str, list[str]]:
    """`--replicas complaints=2` as {"complaints": [its address, a free port beside it]}: a service the gateway
    calls over gRPC, on a PostgreSQL database its replicas share (not a SQLite file each)."""
    import ipaddress
    import socket

    copies: dict[str, list[str]] = {}
    for option in options:
        name, _, count = option.partition("=")
        spec = _service(name.strip())
        if not count.strip().isdigit() or int(count) < 1:
            raise typer.BadParameter(f"--replicas {option}: expected NAME=N, N at least 1")
        if f"{spec.name}_address" not in _service("gateway").settings.model_fields or spec.health_path:
            raise typer.BadParameter(f"--replicas: the gateway does not call {spec.name} over gRPC")
        if int(count) > 1 and not os.environ.get(spec.database_env or "", "").startswith("postgresql"):
            raise typer.BadParameter(f"--replicas: {spec.name}'s replicas share one PostgreSQL database: set "
                                     f"{spec.database_env}")
        host = spec.address().rpartition(":")[0]
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise typer.BadParameter(f"--replicas: {spec.address_env} must be an IPv4 address:port") from None
        addresses = [spec.address()]
        for _ in range(int(count) - 1):
            with socket.socket() as s:  # a port free now, for the replica to take
                s.bind((host, 0))
                addresses.append(f"{host}:{s.getsockname()[1]}")
        copies[spec.name] = addresses
    return copies


def _prepare_partner(staff_address: str, federation_address: str) -> tuple[Any, Any]:
    """Before any service starts (the collab service opens its inter-city endpoint only if its certificate is there
    when it starts): the development CA and both cities' certificates, made where missing."""
    from kota_collab.certs import development_set
    from kota_collab.config import CollabSettings
    from kota_collab.partner import PartnerCity
    from kota_common.settings import load_settings

    home = load_settings(CollabSettings)
    partner = PartnerCity(staff_address=staff_address, federation_address=federation_address)
    for line in development_set(Path(home.tls_dir), [home.city_id, partner.city_id]):
        console.print(f"  certs        {line}")
    return home, partner


def _start_partner(home, partner, var_dir: Path, logs: Path):
    """The partner city's collab service, supervised as the others are; the two registries introduced to each
    other, then a proposal from this city accepted by the partner's staff, printed as both registries converge."""
    from kota_collab.partner import GaveUp, introduce, propose_and_accept
    from kota_common.runtime import ChildProcess

    child = ChildProcess(f"collab ({partner.city_id})", "kota_collab",
                         partner.environment(var_dir, Path(home.tls_dir).resolve()),
                         log_path=logs / f"collab-{partner.city_id}.log")
    child.start()
    ok = _wait_healthy(partner.staff_address)
    console.print(f"  {'partner':<12} gRPC {partner.staff_address:<22} {'[green]SERVING[/]' if ok else '[red]NOT SERVING[/]'}"
                  f"  {partner.name}, inter-city endpoint {partner.federation_address}")
    try:
        first, second = introduce(home.grpc_address, partner.staff_address, home.common.auth_secret)
        console.print(f"  federation   {first} and {second} know each other as federated partners")
        both = propose_and_accept(home.grpc_address, partner.staff_address, partner.city_id, home.common.auth_secret,
                                  say=lambda line: console.print(f"  federation   {line}"))
        console.print(f"  federation   both registries hold: {', '.join(both)}")
    except GaveUp as exc:
        console.print(f"[red]  federation   {exc}; see {logs / f'collab-{partner.city_id}.log'}[/]")
    return child


@app.command()
def service(name: str = typer.Argument(..., help="an installed service: " + ", ".join(s.name for s in _services()))) -> None:
    """Run one service in the foreground (needs a broker address and a database URL from the environment)."""
    spec = _service(name)
    os.execv(sys.executable, [sys.executable, "-m", spec.python_module])


@app.command()
def broker(address: str = typer.Option("127.0.0.1:9092", help="host:port to listen on")) -> None:
    """Run the embedded Kafka-protocol broker (Tansu) in the foreground."""
    from kota_common.broker import start_embedded_broker

    if _port_open(address):
        console.print(f"[red]{address} is already in use: is a broker running there already?[/]")
        raise typer.Exit(1)
    proc = start_embedded_broker(address)
    console.print(f"Tansu listening on {address} (memory only). Ctrl-C stops it.")
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())  # don't leave the broker behind
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(10)


@events_app.command("tail")
def events_tail(
    topic: str = typer.Argument(..., help="e.g. complaints.events.v1 (or its .dlq)"),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="start at the oldest record"),
    max_messages: int = typer.Option(0, "--max", help="stop after this many records (0: never)"),
    timeout: float = typer.Option(0, help="stop after this many idle seconds (0: never)"),
    bootstrap: str = typer.Option(None, envvar="KOTA_KAFKA_BOOTSTRAP", help="Kafka bootstrap servers"),
) -> None:
    """Print each record of a topic as one JSON line: CloudEvents attributes, trace context, decoded payload."""
    import asyncio

    from kota_common.events import topics
    from kota_common.kafka import assign_all, topic_consumer

    known = topics().get(topic.removesuffix(".dlq"))

    async def tail() -> None:
        consumer = topic_consumer(bootstrap or "127.0.0.1:9092")
        await consumer.start()
        try:
            await assign_all(consumer, topic, from_beginning)
            seen, idle_since = 0, time.monotonic()
            while max_messages == 0 or seen < max_messages:
                batches = await consumer.getmany(timeout_ms=500, max_records=(max_messages - seen) if max_messages else None)
                records = [r for partition in batches.values() for r in partition]
                if not records:
                    if timeout and time.monotonic() - idle_since > timeout:
                        break
                    continue
                idle_since = time.monotonic()
                seen += len(records)
                for record in records:
                    print(json.dumps(_tail_line(record, known), ensure_ascii=False), flush=True)
        finally:
            await consumer.stop()

    try:
        asyncio.run(tail())
    except KeyboardInterrupt:
        pass


def _tail_line(msg, known) -> dict:
    """One record of `kota events tail`: where it is, its CloudEvent decoded (and validated against the topic's
    model when the type is known), or why it could not be; the dead-letter headers of a .dlq record."""
    from kota_common import envelope

    record = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset,
              "key": msg.key.decode() if msg.key else None}
    try:
        event = envelope.decode(msg.value, msg.headers, msg.key)
        record.update(id=event.id, type=event.type, source=event.source, subject=event.subject,
                      time=event.time.isoformat(), trace=event.trace, data=event.data)
        model = known.model_for(event.type) if known else None
        if model is not None:
            model.model_validate(event.data)
            record["valid"] = True
    except Exception as exc:
        record["undecodable"] = str(exc)
        record["raw"] = (msg.value or b"")[:500].decode(errors="replace")
    extra = {k: v.decode(errors="replace") for k, v in msg.headers if k.startswith("kota_dlq_")}
    if extra:
        record["dead_letter"] = extra
    return record


@app.command()
def token(
    agency: str = typer.Option(..., help="agency code, e.g. DSDA"),
    role: list[str] = typer.Option(["staff"], help="staff, admin; Musrenbang: rt_rw, lurah, tim_kecamatan, "
                                   "agency_verifier, bappeda"),
    subject: str = typer.Option("petugas", help="who the token is for"),
    hours: float = typer.Option(12, help="validity"),
    area: str = typer.Option("", help="the area a Musrenbang role acts for: kelurahan 31.71.01.1001 (RW: "
                             "31.71.01.1001/05), kecamatan 31.71.01 or kota 31.71"),
) -> None:
    """Issue a staff bearer token for an agency (signed with KOTA_AUTH_SECRET)."""
    from datetime import timedelta

    from kota_common.auth import issue_token
    from kota_common.settings import CommonSettings, load_settings

    print(issue_token(load_settings(CommonSettings).auth_secret, subject, agency, role, timedelta(hours=hours), area=area))


@app.command()
def certs(
    city: list[str] = typer.Option(["jakarta", "makassar"], help="cities to give a certificate (ids, e.g. jakarta)"),
    out: Path = typer.Option(Path("var/certs"), help="directory of the CA, the certificates and crl.pem "
                             "(KOTA_COLLAB_TLS_DIR)"),
    days: int = typer.Option(825, help="validity of each new city certificate, in days"),
    reissue: bool = typer.Option(False, help="issue new certificates even for cities that have one"),
    revoke: list[str] = typer.Option([], help="revoke this city's current certificate (added to crl.pem)"),
) -> None:
    """Development certificates for the inter-city endpoint (collab, mutual TLS): a CA made once, one certificate per
    city naming it in its subjectAltName, and the CA's revocation list."""
    from kota_collab.certs import development_set

    for line in development_set(out, city, days=days, reissue=reissue, revoke=tuple(revoke)):
        console.print(line)


@app.command()
def asyncapi(out: Path = typer.Option(Path("docs/asyncapi"), help="directory for asyncapi.json and asyncapi.yaml")) -> None:
    """Generate the AsyncAPI 3.0 document of every topic with FastStream, from the event models and the installed
    services' subscribers."""
    from kota_common.asyncapi import write_document

    for path in write_document(out):
        console.print(f"wrote {path}")


simulate_app = typer.Typer(help="Simulated activity", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")


for _spec in _services():  # `kota simulate <name>`, for each service that offers a simulator
    if _spec.simulate is not None:
        simulate_app.command(_spec.name)(_spec.simulate)


if __name__ == "__main__":
    app()
