"""`python -m kota_collab.partner`: a second Kota city beside the running one, to watch two cities federate.

    kota certs                      # var/certs: a development CA, jakarta's and makassar's certificates
    kota up                         # Jakarta, its collab service with the inter-city endpoint open (50155)
    python -m kota_collab.partner   # Makassar's collab service on 50065/50165, its own database; the two
                                    # registries introduced to each other; a proposal from Jakarta, accepted
                                    # by Makassar, converging in both

It runs until Ctrl-C and then stops Makassar. The first city is read from the same KOTA_COLLAB_* environment the
running service uses (its staff and inter-city addresses)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc


def main(argv: list[str] | None = None) -> None:
    from kota.collab.v1 import collab_pb2 as pb
    from kota.collab.v1 import collab_pb2_grpc as pb_grpc
    from kota_collab.config import CollabSettings
    from kota_common.auth import issue_token
    from kota_common.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m kota_collab.partner", description=__doc__.split("\n")[0])
    parser.add_argument("--city", default="makassar", help="the partner city's id (its certificate must exist)")
    parser.add_argument("--name", default="Kota Makassar")
    parser.add_argument("--region", default="Sulawesi Selatan")
    parser.add_argument("--staff-address", default="127.0.0.1:50065")
    parser.add_argument("--federation-address", default="127.0.0.1:50165")
    parser.add_argument("--no-proposal", action="store_true", help="only introduce the two cities")
    args = parser.parse_args(argv)

    home = load_settings(CollabSettings)
    certs = Path(home.tls_dir)
    if not (certs / f"{args.city}.pem").exists():
        sys.exit(f"no certificate for {args.city} in {certs}: run `kota certs --city {home.city_id} --city {args.city}`")
    var = Path(home.common.var_dir)
    var.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KOTA_COLLAB_CITY_ID": args.city, "KOTA_COLLAB_CITY_NAME": args.name,
           "KOTA_COLLAB_CITY_REGION": args.region, "KOTA_COLLAB_GRPC_ADDRESS": args.staff_address,
           "KOTA_COLLAB_FEDERATION_ADDRESS": args.federation_address, "KOTA_COLLAB_METRICS_ADDRESS": "off",
           "KOTA_COLLAB_DATABASE_URL": f"sqlite:///{var / f'collab-{args.city}.db'}", "KOTA_COLLAB_CATALOGUE_INTERVAL_S": "0"}
    log_path = var / f"collab-{args.city}.log"
    with open(log_path, "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "kota_collab"], env=env, stdout=log, stderr=subprocess.STDOUT)
    print(f"{args.name}: collab service (pid {child.pid}) on {args.staff_address} (staff) and "
          f"{args.federation_address} (inter-city); log {log_path}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        token = issue_token(home.common.auth_secret, "kota-partner-demo", "", ["admin"])
        admin = [("authorization", f"Bearer {token}")]
        ours = pb_grpc.CollabServiceStub(grpc.insecure_channel(home.grpc_address))
        theirs = pb_grpc.CollabServiceStub(grpc.insecure_channel(args.staff_address))
        _wait(lambda: theirs.ListCities(pb.ListCitiesRequest(), metadata=admin, timeout=2), child, stop)
        first = next(c for c in ours.ListCities(pb.ListCitiesRequest(), metadata=admin, timeout=5).cities if c.home)
        second = next(c for c in theirs.ListCities(pb.ListCitiesRequest(), metadata=admin, timeout=5).cities if c.home)
        ours.RegisterCity(pb.RegisterCityRequest(city=pb.City(
            id=second.id, name=second.name, country=second.country, region=second.region, ascn_member=True,
            endpoint=second.endpoint)), metadata=admin, timeout=5)
        theirs.RegisterCity(pb.RegisterCityRequest(city=pb.City(
            id=first.id, name=first.name, country=first.country, region=first.region, ascn_member=first.ascn_member,
            endpoint=first.endpoint)), metadata=admin, timeout=5)
        print(f"{first.name} and {second.name} know each other as federated partners")
        if not args.no_proposal:
            proposal = ours.CreatePartnership(pb.CreatePartnershipRequest(
                kind=pb.PARTNERSHIP_KIND_TECHNICAL_COOPERATION, title=f"{second.name} adopts the complaint system",
                partner_city_ids=[second.id], focus_areas=["civic_social"], request_id=f"partner-demo-{second.id}"),
                metadata=admin, timeout=5).partnership
            print(f"{first.name} proposed partnership {proposal.id}")
            received = _wait(lambda: _history(theirs, proposal.id, admin), child, stop)
            print(f"{second.name} received it: {received}")
            if received[-1].endswith("proposed"):
                theirs.DecidePartnership(pb.DecidePartnershipRequest(id=proposal.id, decision=pb.DECISION_ACCEPT,
                                                                     note="diterima"), metadata=admin, timeout=5)
            both = _wait(lambda: (h := _history(ours, proposal.id, admin)) == _history(theirs, proposal.id, admin)
                         and len(h) >= 2 and h, child, stop)
            print(f"both registries hold: {both}")
        print("running until Ctrl-C")
        while not stop.wait(1):
            if child.poll() is not None:
                sys.exit(f"{args.name}'s collab service exited with {child.returncode}; see {log_path}")
    finally:
        child.terminate()
        child.wait(20)


def _history(stub, partnership_id: str, metadata) -> list[str]:
    from kota.collab.v1 import collab_pb2 as pb

    try:
        p = stub.GetPartnership(pb.GetPartnershipRequest(id=partnership_id), metadata=metadata, timeout=5).partnership
    except grpc.RpcError:
        return []
    return [f"{h.seq}. {h.city_id} {h.status}" for h in p.history]


def _wait(check, child: subprocess.Popen, stop: threading.Event, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if child.poll() is not None:
            sys.exit(f"the partner's collab service exited with {child.returncode}")
        try:
            found = check()
            if found:
                return found
        except grpc.RpcError:
            pass
        time.sleep(0.3)
    sys.exit("gave up waiting (is the first city's collab service running, with its certificates in place?)")


if __name__ == "__main__":
    main()
