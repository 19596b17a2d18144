"""How a service joins the platform: an entry in the `kota.services` entry-point group.

Each service's pyproject names a `ServiceSpec` of its own:

    [project.entry-points."kota.services"]
    <name> = "kota_<name>.registration:SERVICE"

`kota up` and `kota service` (package kota-cli) find every installed service through it, so a service added later
registers itself and no list of services is kept anywhere; libs/common never imports a service. Addresses and
environment variables come from the service's settings class, the one place that defines them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from pydantic_settings import BaseSettings

GROUP = "kota.services"


@dataclass(frozen=True)
class ServiceSpec:
    """What it takes to run one service as its own process and to know when it is up."""

    name: str
    settings: type[BaseSettings]
    start_order: int  # `kota up` starts services by it, lowest first (the gateway after what it fronts)
    module: str = ""  # run as `python -m <module>`; kota_<name> by default
    address_field: str = "grpc_address"  # the setting it listens on (gRPC, or HTTP when health_path is set)
    # An HTTP service is healthy when GET http://<address><health_path> answers 200; any other, when its gRPC health
    # service answers SERVING for `health_service` ("": the server as a whole).
    health_path: str | None = None
    health_service: str = ""
    portal: bool = False  # `kota up` prints its address as the portal's
    # Demonstration activity sent through the service's own API at the given address; seeds only what is missing,
    # so that restarts do not pile up copies.
    demo: Callable[[str], None] | None = None
    # `kota simulate <name>`: a typer command function; `kota up` runs it with --quiet (its address option reads
    # the service's address variable).
    simulate: Callable[..., None] | None = None
    # What `kota up` runs beside the service on a developer's machine, started before it: a module (`python -m`)
    # with its arguments ("{var_dir}" is kota up's), e.g. a local sink for outgoing messages; and the environment
    # the service then gets
    # (where that companion listens), unless the caller's environment sets it already.
    companion: tuple[str, ...] = ()
    companion_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def python_module(self) -> str:
        return self.module or f"kota_{self.name}"

    def env(self, field: str) -> str:
        """The environment variable of one of the service's settings."""
        return (self.settings.model_config.get("env_prefix", "") + field).upper()

    def default(self, field: str) -> str:
        return self.settings.model_fields[field].default

    @property
    def address_env(self) -> str:
        return self.env(self.address_field)

    @property
    def metrics_env(self) -> str:
        return self.env("metrics_address")

    @property
    def database_env(self) -> str | None:
        return self.env("database_url") if "database_url" in self.settings.model_fields else None

    def address(self, environ: Mapping[str, str] = os.environ) -> str:
        """Where the service listens, as it will read it: its variable, else its default."""
        return environ.get(self.address_env, self.default(self.address_field))

    def metrics_address(self, environ: Mapping[str, str] = os.environ) -> str:
        return environ.get(self.metrics_env, self.default("metrics_address"))


def installed_services() -> list[ServiceSpec]:
    """Every service installed in this environment, in start order."""
    specs = []
    for entry in entry_points(group=GROUP):
        spec = entry.load()
        if not isinstance(spec, ServiceSpec) or spec.name != entry.name:
            raise TypeError(f"entry point {entry.name} = {entry.value} in {GROUP} is not the ServiceSpec named {entry.name!r}")
        specs.append(spec)
    return sorted(specs, key=lambda s: (s.start_order, s.name))
