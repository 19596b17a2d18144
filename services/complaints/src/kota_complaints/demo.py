"""Demonstration data for `kota up`: a morning of Jakarta complaints through several channels.

Reference data (agencies, areas, categories) the service seeds itself; this adds activity through the public gRPC
API, only when the city has no citizens' reports yet, so restarts do not pile up copies.
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


def seed(address: str) -> None:
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
