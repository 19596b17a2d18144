"""The `kota` command line: run the platform, run one service, tail topics, issue staff tokens, docs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="Kota smart-city platform", no_args_is_help=True, add_completion=False)
events_app = typer.Typer(help="Inspect Kafka topics", no_args_is_help=True)
app.add_typer(events_app, name="events")
console = Console(stderr=True)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    address_env: str
    default_address: str
    database_env: str | None
    # An HTTP service (not gRPC) is healthy when GET http://<address><health_path> answers 200.
    health_path: str | None = None
    default_metrics_address: str = ""  # Prometheus /metrics (KOTA_<NAME>_METRICS_ADDRESS)

    @property
    def metrics_env(self) -> str:
        return f"KOTA_{self.name.upper()}_METRICS_ADDRESS"


# Every deployable service, in start order. Later services join this list as they are built.
SERVICES = [
    ServiceSpec("complaints", "kota_complaints", "KOTA_COMPLAINTS_GRPC_ADDRESS", "127.0.0.1:50051", "KOTA_COMPLAINTS_DATABASE_URL",
                default_metrics_address="127.0.0.1:9101"),
    ServiceSpec("sensors", "kota_sensors", "KOTA_SENSORS_GRPC_ADDRESS", "127.0.0.1:50052", "KOTA_SENSORS_DATABASE_URL",
                default_metrics_address="127.0.0.1:9102"),
    ServiceSpec("opendata", "kota_opendata", "KOTA_OPENDATA_GRPC_ADDRESS", "127.0.0.1:50053", "KOTA_OPENDATA_DATABASE_URL",
                default_metrics_address="127.0.0.1:9103"),
    ServiceSpec("gateway", "kota_gateway", "KOTA_GATEWAY_HTTP_ADDRESS", "127.0.0.1:8080", None, health_path="/readyz",
                default_metrics_address="127.0.0.1:9100"),
]


def _service(name: str) -> ServiceSpec:
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise typer.BadParameter(f"unknown service {name!r}; known: {', '.join(s.name for s in SERVICES)}")


def _metrics_url(spec: ServiceSpec) -> str:
    """Where the service serves Prometheus metrics, as `kota up` starts it (its environment or the default)."""
    address = os.environ.get(spec.metrics_env, spec.default_metrics_address)
    return "off" if address.strip().lower() in ("", "off") else f"http://{address}/metrics"


def _port_open(address: str) -> bool:
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_healthy(address: str, timeout: float = 60.0) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
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
) -> None:
    """Start the whole platform: embedded broker and every service as its own process, supervised."""
    from kota_common.broker import start_embedded_broker
    from kota_common.settings import CommonSettings

    var_dir.mkdir(parents=True, exist_ok=True)
    (var_dir / "log").mkdir(exist_ok=True)
    common = CommonSettings()
    children: dict[str, subprocess.Popen] = {}
    if _port_open(common.kafka_bootstrap.split(",")[0]):
        console.print(f"[yellow]using the Kafka broker already at {common.kafka_bootstrap}[/]")
    else:
        console.print(f"starting embedded broker (Tansu) on {common.kafka_bootstrap}")
        children["broker"] = start_embedded_broker(common.kafka_bootstrap.split(",")[0], var_dir / "log" / "broker.log")

    def launch(spec: ServiceSpec) -> subprocess.Popen:
        env = dict(os.environ)
        if spec.database_env and spec.database_env not in env:
            env[spec.database_env] = f"sqlite:///{(var_dir / f'{spec.name}.db').resolve()}"
        log = open(var_dir / "log" / f"{spec.name}.log", "ab")
        return subprocess.Popen([sys.executable, "-m", spec.module], env=env, stdout=log, stderr=subprocess.STDOUT)

    addresses = {}
    for spec in SERVICES:
        address = os.environ.get(spec.address_env, spec.default_address)
        addresses[spec.name] = address
        children[spec.name] = launch(spec)
    for spec in SERVICES:
        metrics = _metrics_url(spec)
        if spec.health_path:
            ok = _wait_http_healthy(f"http://{addresses[spec.name]}{spec.health_path}")
            console.print(f"  {spec.name:<12} HTTP {addresses[spec.name]:<22} {'[green]SERVING[/]' if ok else '[red]NOT SERVING[/]'}"
                          f"  metrics {metrics}")
            continue
        ok = _wait_healthy(addresses[spec.name])
        console.print(f"  {spec.name:<12} gRPC {addresses[spec.name]:<22} {'[green]SERVING[/]' if ok else '[red]NOT SERVING[/]'}"
                      f"  metrics {metrics}")
    if demo:
        from kota_common import demo as demo_data

        demo_data.seed(addresses)
    if simulate and "sensors" in addresses:  # a gentle stream of simulated sensor readings
        sim_log = open(var_dir / "log" / "simulator.log", "ab")
        children["simulator"] = subprocess.Popen(
            [sys.executable, "-m", "kota_common.cli", "simulate", "sensors", "--rate", "50", "--quiet",
             "--address", addresses["sensors"]],
            stdout=sim_log, stderr=subprocess.STDOUT,
        )
    console.print("[bold]Kota is up.[/] Logs in " + str(var_dir / "log") + ". Ctrl-C stops everything.")
    console.print("Watch events: [cyan]kota events tail complaints.events.v1[/]")
    if "gateway" in addresses:
        console.print(f"[bold]Portal: http://{os.environ.get('KOTA_GATEWAY_HTTP_ADDRESS', '127.0.0.1:8080')}/[/]")

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    restarts: dict[str, int] = {}
    while not stopping:
        time.sleep(1)
        for spec in SERVICES:  # restart a crashed service, as Kubernetes would
            proc = children[spec.name]
            if proc.poll() is not None and not stopping:
                restarts[spec.name] = restarts.get(spec.name, 0) + 1
                console.print(f"[red]{spec.name} exited ({proc.returncode}); restarting (#{restarts[spec.name]})[/]")
                time.sleep(min(2 ** restarts[spec.name], 30))
                children[spec.name] = launch(spec)
    console.print("stopping…")
    for _name, proc in reversed(list(children.items())):
        if proc.poll() is None:
            proc.terminate()
    for proc in children.values():
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@app.command()
def service(name: str = typer.Argument(..., help="complaints, ...")) -> None:
    """Run one service in the foreground (needs a broker address and a database URL from the environment)."""
    spec = _service(name)
    os.execv(sys.executable, [sys.executable, "-m", spec.module])


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
    role: list[str] = typer.Option(["staff"], help="staff, admin"),
    subject: str = typer.Option("petugas", help="who the token is for"),
    hours: float = typer.Option(12, help="validity"),
) -> None:
    """Issue a staff bearer token for an agency (signed with KOTA_AUTH_SECRET)."""
    from datetime import timedelta

    from kota_common.auth import issue_token
    from kota_common.settings import CommonSettings, load_settings

    print(issue_token(load_settings(CommonSettings).auth_secret, subject, agency, role, timedelta(hours=hours)))


@app.command()
def asyncapi(out: Path = typer.Option(Path("docs/asyncapi"), help="directory for asyncapi.json and asyncapi.yaml")) -> None:
    """Generate the AsyncAPI 3.0 document of every topic with FastStream, from the event models and the installed
    services' subscribers."""
    from kota_common.asyncapi import write_document

    for path in write_document(out):
        console.print(f"wrote {path}")


simulate_app = typer.Typer(help="Simulated activity", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")


@simulate_app.command("sensors")
def simulate_sensors(
    rate: float = typer.Option(50, help="readings per second in all"),
    duration: float = typer.Option(0, help="stop after this many seconds (0: never)"),
    event_minutes: float = typer.Option(10, help="length of the (time-compressed) rain event that raises the gauges"),
    address: str = typer.Option("127.0.0.1:50052", envvar="KOTA_SENSORS_GRPC_ADDRESS", help="sensors gRPC address"),
    quiet: bool = typer.Option(False, help="no live display"),
) -> None:
    """Diurnal PM2.5 at DKI1-DKI5, a rain event raising the gauges through the Siaga levels, buses on Koridor 1."""
    from kota_common.auth import issue_token
    from kota_common.settings import CommonSettings, load_settings
    from kota_sensors.simulate import Simulator, run_with_progress

    token = issue_token(load_settings(CommonSettings).auth_secret, "simulator", "DSDA", ["admin"])
    sim = Simulator(address, token, rate, event_minutes)
    sim.issue_credentials()
    stats = run_with_progress(sim, duration, quiet)
    console.print(f"sent {stats.sent:,}, accepted {stats.accepted:,}, rejected {stats.rejected:,}, refused batches {stats.refused}")


if __name__ == "__main__":
    app()
