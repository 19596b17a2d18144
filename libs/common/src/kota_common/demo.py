"""Demonstration data for `kota up`: a morning of Jakarta complaints through several channels.

Reference data (agencies, areas, categories, stations) is seeded by each service itself; this adds activity
through the public gRPC APIs, only when the platform is empty, so restarts do not pile up copies.
"""

from __future__ import annotations

import logging

import grpc

log = logging.getLogger(__name__)

COMPLAINTS = [
    ("CHANNEL_APP", "flooding", "Genangan 40 cm di depan pasar, motor mogok", -6.2146, 106.8451, "31.74.01.1001"),
    ("CHANNEL_WHATSAPP", "waste", "Sampah menumpuk tiga hari di TPS", -6.1588, 106.9043, ""),
    ("CHANNEL_TWITTER", "road_damage", "Jalan berlubang besar dekat halte", -6.1751, 106.8650, ""),
    ("CHANNEL_CALL_CENTER", "fallen_tree", "Pohon rawan tumbang di pinggir jalan", -6.2615, 106.8106, ""),
    ("CHANNEL_LAPOR", "illegal_parking", "Parkir liar menutup trotoar", -6.1862, 106.8229, ""),
    ("CHANNEL_KELURAHAN_WALK_IN", "drainage", "Got tersumbat, air meluap saat hujan", -6.2297, 106.9006, ""),
    ("CHANNEL_EMAIL", "street_light", "Lampu jalan mati sepanjang 200 m", -6.1352, 106.8133, ""),
    ("CHANNEL_WEB", "public_order", "PKL berjualan di badan jalan", -6.1702, 106.7900, ""),
    ("CHANNEL_SMS", "pollution", "Asap pembakaran sampah setiap malam", -6.3001, 106.8620, ""),
    ("CHANNEL_INSTAGRAM", "traffic", "Lampu lalu lintas mati di perempatan", -6.2440, 106.7837, ""),
]


def seed(addresses: dict[str, str]) -> None:
    seed_opendata(addresses)
    address = addresses.get("complaints")
    if not address:
        return
    from kota.complaints.v1 import complaints_pb2 as pb
    from kota.complaints.v1 import complaints_pb2_grpc as pb_grpc

    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.ComplaintsServiceStub(channel)
        try:
            # A city that already has citizens' reports gets no demo ones (incident tickets opened from sensor
            # alerts do not count: they arrive on their own as soon as the platform runs).
            existing = stub.ListComplaints(pb.ListComplaintsRequest(page_size=100), timeout=5).complaints
            if any(c.channel != pb.CHANNEL_SENSOR for c in existing):
                return
            for i, (ch, code, text, lat, lon, kel) in enumerate(COMPLAINTS):
                attrs = [pb.Attribute(code="severity", value="sedang")] if code == "road_damage" else []
                stub.SubmitComplaint(
                    pb.SubmitComplaintRequest(
                        channel=pb.Channel.Value(ch),
                        service_code=code,
                        description=text,
                        location=pb.Location(lat=lat, lon=lon, kelurahan_code=kel),
                        attributes=attrs,
                        anonymous=True,
                        idempotency_key=f"demo-{i}",
                    ),
                    timeout=5,
                )
        except grpc.RpcError as exc:
            log.warning("demo data not seeded: %s", exc.details())


OPENDATA_PARKS = """Nama Taman,Kecamatan,Kota,Luas (m2),Lat,Lon
Taman Suropati,Menteng,Jakarta Pusat,16322,-6.1995,106.8324
Taman Menteng,Menteng,Jakarta Pusat,24000,-6.1960,106.8290
Taman Langsat,Kebayoran Baru,Jakarta Selatan,14000,-6.2400,106.8000
Taman Ayodya,Kebayoran Baru,Jakarta Selatan,7000,-6.2420,106.7990
Taman Cattleya,Palmerah,Jakarta Barat,27000,-6.1900,106.7960
Taman Lapangan Banteng,Sawah Besar,Jakarta Pusat,52000,-6.1707,106.8352
Taman Tebet Eco Park,Tebet,Jakarta Selatan,73000,-6.2370,106.8530
"""


def seed_opendata(addresses: dict[str, str]) -> None:
    """An agency dataset (city parks, by Distamhut) uploaded as staff would, if the catalogue lacks it."""
    address = addresses.get("opendata")
    if not address:
        return
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
                    license_id="cc-by-4.0", frequency="annual", csv=OPENDATA_PARKS.encode(),
                ),
                metadata=[("authorization", f"Bearer {token}")],
                timeout=30,
            )
        except grpc.RpcError as exc:
            log.warning("open data demo not seeded: %s", exc.details())
