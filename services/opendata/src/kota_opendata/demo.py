"""Demonstration data for `kota up`: an agency dataset (city parks, by Distamhut) uploaded as staff would, through
the public gRPC API, if the catalogue lacks it."""

from __future__ import annotations

import logging

import grpc

log = logging.getLogger(__name__)

PARKS_CSV = """Nama Taman,Kecamatan,Kota,Luas (m2),Lat,Lon
Taman Suropati,Menteng,Jakarta Pusat,16322,-6.1995,106.8324
Taman Menteng,Menteng,Jakarta Pusat,24000,-6.1960,106.8290
Taman Langsat,Kebayoran Baru,Jakarta Selatan,14000,-6.2400,106.8000
Taman Ayodya,Kebayoran Baru,Jakarta Selatan,7000,-6.2420,106.7990
Taman Cattleya,Palmerah,Jakarta Barat,27000,-6.1900,106.7960
Taman Lapangan Banteng,Sawah Besar,Jakarta Pusat,52000,-6.1707,106.8352
Taman Tebet Eco Park,Tebet,Jakarta Selatan,73000,-6.2370,106.8530
"""


def seed(address: str) -> None:
    from kota.opendata.v1 import opendata_pb2 as pb
    from kota.opendata.v1 import opendata_pb2_grpc as pb_grpc
    from kota_common.auth import issue_token
    from kota_common.settings import CommonSettings

    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.OpenDataServiceStub(channel)
        try:
            if "taman-kota" in stub.ListDatasets(pb.ListDatasetsRequest(), timeout=5).names:
                return
            token = issue_token(CommonSettings().auth_secret, "demo", "DPHK", ["staff"])
            stub.UploadDataset(
                pb.UploadDatasetRequest(
                    name="taman-kota", title="Taman kota DKI Jakarta", notes="City parks with their area.",
                    organization="DPHK", tags=["taman", "ruang terbuka hijau"], groups=["lingkungan"],
                    license_id="cc-by-4.0", frequency="annual", csv=PARKS_CSV.encode(),
                ),
                metadata=[("authorization", f"Bearer {token}")],
                timeout=30,
            )
        except grpc.RpcError as exc:
            log.warning("open data demo not seeded: %s", exc.details())
