"""A second Kota city beside the running one, to watch two cities federate: `kota up --with-partner` (the whole
platform and the partner), or, beside a running `kota up`, `python -m kota_collab.partner`:

    kota certs                      # var/certs: a development CA, jakarta's and makassar's certificates
    kota up                         # Jakarta, its collab service with the inter-city endpoint open (50155)
    python -m kota_collab.partner   # Makassar's collab service on 50065/50165, its own database; the two
                                    # registries introduced to each other; a proposal from Jakarta, accepted
                                    # by Makassar, converging in both

The module runs until Ctrl-C and then stops Makassar. The first city is read from the same KOTA_COLLAB_* environment
the running service uses (its staff and inter-city addresses, its certificates' directory)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc

from kota_common.process import StopSignal

T = TypeVar("T")


@dataclass(frozen=True)
class PartnerCity:
    """The second city: its identity (its certificate names `city_id`) and where its collab service listens."""

    city_id: str = "makassar"
    name: str = "Kota Makassar"
    region: str = "Sulawesi Selatan"
    latitude: float = -5.1477
    longitude: float = 119.4327
    staff_address: str = "127.0.0.1:50065"
    federation_address: str = "127.0.0.1:50165"

    def environment(self, var_dir: Path, tls_dir: Path) -> dict[str, str]:
        """The partner's collab service settings: its own identity, ports and database, the same CA directory. It
        publishes no catalogue and serves no metrics (the first city's own do)."""
        return {"KOTA_COLLAB_CITY_ID": self.city_id, "KOTA_COLLAB_CITY_NAME": self.name,
                "KOTA_COLLAB_CITY_REGION": self.region, "KOTA_COLLAB_CITY_LATITUDE": str(self.latitude),
                "KOTA_COLLAB_CITY_LONGITUDE": str(self.longitude), "KOTA_COLLAB_CITY_ASCN_MEMBER": "true",
                "KOTA_COLLAB_GRPC_ADDRESS": self.staff_address, "KOTA_COLLAB_FEDERATION_ADDRESS": self.federation_address,
                "KOTA_COLLAB_METRICS_ADDRESS": "off", "KOTA_COLLAB_TLS_DIR": str(tls_dir),
                "KOTA_COLLAB_DATABASE_URL": f"sqlite:///{(var_dir / f'collab-{self.city_id}.db').resolve()}",
                "KOTA_COLLAB_CATALOGUE_INTERVAL_S": "0"}


class GaveUp(Exception):
    pass


def _admin(secret: str) -> list[tuple[str, str]]:
    from kota_common.auth import issue_token

    return [("authorization", f"Bearer {issue_token(secret, 'kota-partner-demo', '', ['admin'])}")]


def _wait_for(check: Callable[[], T | None], timeout: float, alive: Callable[[], bool], what: str) -> T:
    """`check()`'s first truthy answer; GaveUp naming `what` and the last error if none comes in `timeout` seconds
    or `alive()` turns false."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline and alive():
        try:
            found = check()
            if found:
                return found
        except grpc.RpcError as exc:
            last = f" (last answer: {exc.code().name} {exc.details()})"
        time.sleep(0.3)
    raise GaveUp(f"gave up waiting for {what}{last}")


def introduce(home_address: str, partner_address: str, secret: str, *, timeout: float = 60.0,
              alive: Callable[[], bool] = lambda: True) -> tuple[str, str]:
    """Each registry told of the other as a federated partner (its endpoint and where it is); the two names."""
    from kota.collab.v1 import collab_pb2 as pb
    from kota.collab.v1 import collab_pb2_grpc as pb_grpc

    admin = _admin(secret)
    with grpc.insecure_channel(home_address) as a, grpc.insecure_channel(partner_address) as b:
        ours, theirs = pb_grpc.CollabServiceStub(a), pb_grpc.CollabServiceStub(b)

        def home_of(stub):
            return next((c for c in stub.ListCities(pb.ListCitiesRequest(), metadata=admin, timeout=5).cities if c.home), None)

        first = _wait_for(lambda: home_of(ours), timeout, alive, f"the collab service at {home_address}")
        second = _wait_for(lambda: home_of(theirs), timeout, alive, f"the partner's collab service at {partner_address}")
        for stub, other in ((ours, second), (theirs, first)):
            profile = pb.City()
            profile.CopyFrom(other)
            profile.home = False
            stub.RegisterCity(pb.RegisterCityRequest(city=profile), metadata=admin, timeout=5)
    return first.name, second.name


def propose_and_accept(home_address: str, partner_address: str, partner_id: str, secret: str, *,
                       timeout: float = 60.0, alive: Callable[[], bool] = lambda: True,
                       say: Callable[[str], None] = print) -> list[str]:
    """The first city proposes a cooperation; once the partner's registry holds it, the partner's staff accept it;
    returns the history both registries hold once they agree (steps as "1. jakarta proposed")."""
    from kota.collab.v1 import collab_pb2 as pb
    from kota.collab.v1 import collab_pb2_grpc as pb_grpc

    admin = _admin(secret)
    with grpc.insecure_channel(home_address) as a, grpc.insecure_channel(partner_address) as b:
        ours, theirs = pb_grpc.CollabServiceStub(a), pb_grpc.CollabServiceStub(b)
        proposal = ours.CreatePartnership(pb.CreatePartnershipRequest(
            kind=pb.PARTNERSHIP_KIND_TECHNICAL_COOPERATION, title="Berbagi sistem pengaduan warga",
            partner_city_ids=[partner_id], focus_areas=["civic_social"], request_id=f"partner-demo-{partner_id}"),
            metadata=admin, timeout=5).partnership
        say(f"proposed partnership {proposal.id} to {partner_id}")

        def history(stub) -> list[str]:
            p = stub.GetPartnership(pb.GetPartnershipRequest(id=proposal.id), metadata=admin, timeout=5).partnership
            return [f"{h.seq}. {h.city_id} {h.status}" for h in p.history]

        received = _wait_for(lambda: history(theirs), timeout, alive, f"the proposal to reach {partner_id}")
        say(f"{partner_id}'s registry received it: {received}")
        if received[-1].endswith("proposed"):
            theirs.DecidePartnership(pb.DecidePartnershipRequest(id=proposal.id, decision=pb.DECISION_ACCEPT,
                                                                 note="diterima"), metadata=admin, timeout=5)

        def converged() -> list[str] | None:
            mine = history(ours)
            return mine if len(mine) >= 2 and mine == history(theirs) else None

        return _wait_for(converged, timeout, alive, "both registries to hold the same history")


def main(argv: list[str] | None = None) -> None:
    from kota_collab.config import CollabSettings
    from kota_common.settings import load_settings

    defaults = PartnerCity()
    parser = argparse.ArgumentParser(prog="python -m kota_collab.partner", description=__doc__.split("\n")[0])
    parser.add_argument("--city", default=defaults.city_id, help="the partner city's id (its certificate must exist)")
    parser.add_argument("--name", default=defaults.name)
    parser.add_argument("--region", default=defaults.region)
    parser.add_argument("--staff-address", default=defaults.staff_address)
    parser.add_argument("--federation-address", default=defaults.federation_address)
    parser.add_argument("--latitude", type=float, default=defaults.latitude)
    parser.add_argument("--longitude", type=float, default=defaults.longitude)
    parser.add_argument("--no-proposal", action="store_true", help="only introduce the two cities")
    args = parser.parse_args(argv)
    partner = PartnerCity(args.city, args.name, args.region, args.latitude, args.longitude, args.staff_address,
                          args.federation_address)

    home = load_settings(CollabSettings)
    certs = Path(home.tls_dir)
    if not (certs / f"{partner.city_id}.pem").exists():
        sys.exit(f"no certificate for {partner.city_id} in {certs}: run `kota certs --city {home.city_id} --city {partner.city_id}`")
    var = Path(home.common.var_dir)
    var.mkdir(parents=True, exist_ok=True)
    log_path = var / f"collab-{partner.city_id}.log"
    with open(log_path, "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "kota_collab"], env={**os.environ, **partner.environment(var, certs)},
                                 stdout=log, stderr=subprocess.STDOUT)
    print(f"{partner.name}: collab service (pid {child.pid}) on {partner.staff_address} (staff) and "
          f"{partner.federation_address} (inter-city); log {log_path}")
    stop = StopSignal()

    def alive() -> bool:
        return child.poll() is None and not stop.wait(0)

    try:
        secret = home.common.auth_secret
        first, second = introduce(home.grpc_address, partner.staff_address, secret, alive=alive)
        print(f"{first} and {second} know each other as federated partners")
        if not args.no_proposal:
            both = propose_and_accept(home.grpc_address, partner.staff_address, partner.city_id, secret, alive=alive)
            print(f"both registries hold: {both}")
        print("running until Ctrl-C")
        while not stop.wait(1):
            if child.poll() is not None:
                sys.exit(f"{partner.name}'s collab service exited with {child.returncode}; see {log_path}")
    except GaveUp as exc:
        sys.exit(f"{exc} (is the first city's collab service running, with its certificates in place? see {log_path})")
    finally:
        child.terminate()
        child.wait(20)


if __name__ == "__main__":
    main()
