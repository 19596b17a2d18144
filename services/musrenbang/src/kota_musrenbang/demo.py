"""Demonstration data for `kota up`: residents' proposals in two kelurahan of Gambir and their supports, filed
through the public gRPC API (so that the portal is alive), if the cycle has none yet. The NIKs are made up: valid
in form (Gambir's kecamatan code 31.71.01), belonging to no one."""

from __future__ import annotations

import logging

import grpc

log = logging.getLogger(__name__)

RESIDENTS = [f"317101{day:02d}0190{serial:04d}" for day, serial in ((12, 1), (52, 2), (23, 3), (61, 4), (5, 5))]
PROPOSALS = [
    ("31.71.01.1001", "005", "DRN-01", 120, "Rehabilitasi saluran drainase Jl. Tanah Abang II",
     "Saluran di sepanjang RW 05 tersumbat dan dangkal; setiap hujan deras jalan tergenang setinggi 30 cm.",
     (-6.1745, 106.8175)),
    ("31.71.01.1001", "003", "PJU-01", 6, "Penerangan jalan di gang RW 03",
     "Gang menuju sekolah gelap pada malam hari; warga, terutama pelajar dan ibu-ibu, merasa tidak aman.",
     (-6.1760, 106.8190)),
    ("31.71.01.1002", "002", "SMP-01", 20, "Bak sampah terpilah untuk RW 02",
     "Sampah rumah tangga menumpuk di pinggir jalan karena tidak ada tempat sampah terpilah di lingkungan.",
     (-6.1660, 106.8130)),
    ("31.71.01.1002", "004", "EKO-01", 30, "Pelatihan UMKM kuliner bagi ibu rumah tangga",
     "Banyak ibu rumah tangga berjualan makanan tanpa pengetahuan pengemasan, perizinan dan pemasaran daring.",
     None),
]


def seed(address: str) -> None:
    from kota.musrenbang.v1 import musrenbang_pb2 as pb
    from kota.musrenbang.v1 import musrenbang_pb2_grpc as pb_grpc

    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.MusrenbangServiceStub(channel)
        try:
            if stub.ListProposals(pb.ListProposalsRequest(page_size=1), timeout=5).total:
                return
            ids = []
            for n, (kel, rw, activity, volume, title, problem, point) in enumerate(PROPOSALS):
                location = pb.Location(kelurahan_code=kel, rw=rw, address=f"RW {rw}")
                if point:
                    location.lat, location.lon, location.has_point = point[0], point[1], True
                answer = stub.SubmitProposal(pb.SubmitProposalRequest(
                    nik=RESIDENTS[n % len(RESIDENTS)], title=title, problem=problem, activity_code=activity,
                    volume=volume, location=location, request_id=f"demo-{n}"), timeout=10)
                ids.append(answer.proposal.id)
            for n, nik in enumerate(RESIDENTS):
                for pid in ids[: 4 - n % 3]:
                    stub.SupportProposal(pb.SupportProposalRequest(proposal_id=pid, nik=nik), timeout=10)
        except grpc.RpcError as exc:
            log.warning("musrenbang demo not seeded: %s", exc.details())
