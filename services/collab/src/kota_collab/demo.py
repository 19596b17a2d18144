"""Jakarta's partners for `kota up`, registered through the service's own staff API if the registry has none yet:
its sister cities, its smart-city cooperations, the ASEAN Smart Cities Network's 26 pilot cities of 2018 and the
Kalimantan Utara delegation's virtual visit. Only published facts (SYSTEM.md's reference facts, issue 18): a date
that was not found stays empty, and what is known of it only as a year is said in the note."""

from __future__ import annotations

import logging

import grpc

log = logging.getLogger(__name__)

# id, name, country, region
SISTER_CITIES = [
    ("jeddah", "Jeddah", "SA", "Makkah", "Jakarta's first sister city; ties since 1979"),
    ("seoul", "Seoul", "KR", "", "sister city since 1984"),
    ("tokyo", "Tokyo", "JP", "", "sister city since 1989; also smart-city cooperation"),
    ("berlin", "Berlin", "DE", "", "25 years of sister-city ties in 2019"),
    ("moscow", "Moscow", "RU", "", "MoU renewed in 2017"),
    ("rotterdam", "Rotterdam", "NL", "Zuid-Holland", "sister city"),
]
SMART_CITY_COOPERATION = [("amsterdam", "Amsterdam", "NL", "Noord-Holland"), ("barcelona", "Barcelona", "ES", "Catalonia")]
# The ASEAN Smart Cities Network's 26 pilot cities (2018), Jakarta among them.
ASCN_PILOTS = [
    ("bandar-seri-begawan", "Bandar Seri Begawan", "BN"),
    ("battambang", "Battambang", "KH"), ("phnom-penh", "Phnom Penh", "KH"), ("siem-reap", "Siem Reap", "KH"),
    ("makassar", "Kota Makassar", "ID"), ("banyuwangi", "Kabupaten Banyuwangi", "ID"),
    ("luang-prabang", "Luang Prabang", "LA"), ("vientiane", "Vientiane", "LA"),
    ("johor-bahru", "Johor Bahru", "MY"), ("kota-kinabalu", "Kota Kinabalu", "MY"), ("kuala-lumpur", "Kuala Lumpur", "MY"),
    ("kuching", "Kuching", "MY"),
    ("mandalay", "Mandalay", "MM"), ("nay-pyi-taw", "Nay Pyi Taw", "MM"), ("yangon", "Yangon", "MM"),
    ("cebu-city", "Cebu City", "PH"), ("davao-city", "Davao City", "PH"), ("manila", "Manila", "PH"),
    ("singapore", "Singapore", "SG"),
    ("bangkok", "Bangkok", "TH"), ("chonburi", "Chonburi", "TH"), ("phuket", "Phuket", "TH"),
    ("da-nang", "Da Nang", "VN"), ("hanoi", "Hanoi", "VN"), ("ho-chi-minh-city", "Ho Chi Minh City", "VN"),
]
REGIONS = {"makassar": "Sulawesi Selatan", "banyuwangi": "Jawa Timur"}
# Where each city is (WGS84, its centre, rounded), for the portal's map.
COORDINATES = {
    "jeddah": (21.4858, 39.1925), "seoul": (37.5665, 126.978), "tokyo": (35.6762, 139.6503), "berlin": (52.52, 13.405),
    "moscow": (55.7558, 37.6173), "rotterdam": (51.9244, 4.4777), "amsterdam": (52.3676, 4.9041),
    "barcelona": (41.3874, 2.1686), "bandar-seri-begawan": (4.9031, 114.9398), "battambang": (13.0957, 103.2022),
    "phnom-penh": (11.5564, 104.9282), "siem-reap": (13.3671, 103.8448), "makassar": (-5.1477, 119.4327),
    "banyuwangi": (-8.2192, 114.3691), "luang-prabang": (19.8856, 102.1347), "vientiane": (17.9757, 102.6331),
    "johor-bahru": (1.4927, 103.7414), "kota-kinabalu": (5.9804, 116.0735), "kuala-lumpur": (3.139, 101.6869),
    "kuching": (1.5535, 110.3593), "mandalay": (21.9588, 96.0891), "nay-pyi-taw": (19.7633, 96.0785),
    "yangon": (16.8409, 96.1735), "cebu-city": (10.3157, 123.8854), "davao-city": (7.1907, 125.4553),
    "manila": (14.5995, 120.9842), "singapore": (1.3521, 103.8198), "bangkok": (13.7563, 100.5018),
    "chonburi": (13.3611, 100.9847), "phuket": (7.8804, 98.3923), "da-nang": (16.0544, 108.2022),
    "hanoi": (21.0278, 105.8342), "ho-chi-minh-city": (10.8231, 106.6297),
    "kalimantan-utara": (2.8375, 117.3653),  # Tanjung Selor, the province's capital
}
ALL_FOCUS_AREAS = ["civic_social", "health_wellbeing", "safety_security", "quality_environment", "built_infrastructure",
                   "industry_innovation"]


def seed(address: str) -> None:
    from kota.collab.v1 import collab_pb2 as pb
    from kota.collab.v1 import collab_pb2_grpc as pb_grpc
    from kota_common.auth import issue_token
    from kota_common.settings import CommonSettings

    token = issue_token(CommonSettings().auth_secret, "kota-demo", "", ["admin"])
    metadata = [("authorization", f"Bearer {token}")]
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.CollabServiceStub(channel)

        def city(id_: str, name: str, country: str, region: str = "", ascn: bool = False) -> None:
            latitude, longitude = COORDINATES[id_]
            stub.RegisterCity(pb.RegisterCityRequest(city=pb.City(
                id=id_, name=name, country=country, region=region, ascn_member=ascn, latitude=latitude,
                longitude=longitude, has_location=True)), metadata=metadata, timeout=10)

        def partnership(n: int, kind: pb.PartnershipKind, title: str, partners: list[str], note: str = "", focus: list[str] | None = None
                        ) -> str:
            return stub.CreatePartnership(pb.CreatePartnershipRequest(
                kind=kind, title=title, partner_city_ids=partners, status="active", note=note, focus_areas=focus or [],
                request_id=f"demo-{n}"), metadata=metadata, timeout=10).partnership.id

        try:
            if stub.ListPartnerships(pb.ListPartnershipsRequest(), metadata=metadata, timeout=5).partnerships:
                return
            for id_, name, country, region, _note in SISTER_CITIES:
                city(id_, name, country, region)
            for id_, name, country, region in SMART_CITY_COOPERATION:
                city(id_, name, country, region)
            for id_, name, country in ASCN_PILOTS:
                city(id_, name, country, REGIONS.get(id_, ""), ascn=True)
            city("kalimantan-utara", "Provinsi Kalimantan Utara", "ID", "Kalimantan Utara")
            n = 0
            for id_, name, _c, _r, note in SISTER_CITIES:
                n += 1
                partnership(n, pb.PARTNERSHIP_KIND_SISTER_CITY, f"Jakarta - {name} sister city", [id_], note)
            for id_ in ("amsterdam", "barcelona", "tokyo"):
                n += 1
                partnership(n, pb.PARTNERSHIP_KIND_TECHNICAL_COOPERATION, f"Smart-city cooperation Jakarta - {id_.title()}",
                            [id_], focus=["civic_social", "industry_innovation"])
            n += 1
            partnership(n, pb.PARTNERSHIP_KIND_ASCN_PROJECT, "ASEAN Smart Cities Network (pilot cities)",
                        [c[0] for c in ASCN_PILOTS], "26 pilot cities in 2018", ALL_FOCUS_AREAS)
            n += 1
            kaltara = partnership(n, pb.PARTNERSHIP_KIND_TECHNICAL_COOPERATION,
                                  "Belajar dari Jakarta Smart City: Provinsi Kalimantan Utara", ["kalimantan-utara"],
                                  "peer learning; no signed agreement recorded", ["civic_social"])
            stub.RecordActivity(pb.RecordActivityRequest(
                partnership_id=kaltara, kind=pb.ACTIVITY_KIND_VISIT_VIRTUAL,
                title="Kunjungan virtual delegasi Kalimantan Utara ke Jakarta Smart City", starts_on="2022-03-17",
                ends_on="2022-03-17"), metadata=metadata, timeout=10)
        except grpc.RpcError as exc:
            log.warning("collab demo not seeded: %s", exc.details())
