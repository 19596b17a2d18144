"""What a proposal can ask for: Jakarta's catalogue of activities (kamus usulan), each with its unit, unit cost,
field (bidang) and the agency (SKPD) that would carry it out. A proposal is an activity, a volume and a place;
its cost is volume x unit cost (Permendagri 86/2017 table T-D.4: activity, location, volume, pagu, agency).

Agency codes are those the complaints service uses (DSDA, DBM, DLH, DPHK, DINKES, DINSOS) plus the agencies
that only planning meets (UMKM, children's spaces, sport, jobs, food). Unit costs are indicative, in rupiah.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Field(str, Enum):
    INFRASTRUKTUR = "infrastruktur"
    SOSIAL_BUDAYA = "sosial_budaya"
    EKONOMI = "ekonomi"

    @property
    def display_name(self) -> str:
        return {"infrastruktur": "Infrastruktur", "sosial_budaya": "Sosial budaya", "ekonomi": "Ekonomi"}[self.value]


@dataclass(frozen=True)
class Activity:
    code: str
    name: str
    unit: str
    unit_cost: int  # rupiah per unit
    field: Field
    agency_code: str


AGENCIES: dict[str, str] = {
    "DSDA": "Dinas Sumber Daya Air",
    "DBM": "Dinas Bina Marga",
    "DLH": "Dinas Lingkungan Hidup",
    "DPHK": "Dinas Pertamanan dan Hutan Kota",
    "DINKES": "Dinas Kesehatan",
    "DINSOS": "Dinas Sosial",
    "DPPAPP": "Dinas Pemberdayaan, Perlindungan Anak dan Pengendalian Penduduk",
    "DISPORA": "Dinas Pemuda dan Olahraga",
    "DPPKUKM": "Dinas Perindustrian, Perdagangan, Koperasi, Usaha Kecil dan Menengah",
    "DISNAKERTRANSGI": "Dinas Tenaga Kerja, Transmigrasi dan Energi",
    "DKPKP": "Dinas Ketahanan Pangan, Kelautan dan Pertanian",
}

JAKARTA_ACTIVITIES: tuple[Activity, ...] = (
    Activity("DRN-01", "Pembangunan/rehabilitasi saluran drainase lingkungan", "meter", 1_500_000, Field.INFRASTRUKTUR, "DSDA"),
    Activity("DRN-02", "Pengerukan saluran penghubung", "meter", 350_000, Field.INFRASTRUKTUR, "DSDA"),
    Activity("DRN-03", "Pembuatan sumur resapan", "unit", 6_000_000, Field.INFRASTRUKTUR, "DSDA"),
    Activity("JLN-01", "Perbaikan jalan lingkungan (aspal)", "m2", 250_000, Field.INFRASTRUKTUR, "DBM"),
    Activity("JLN-02", "Perbaikan trotoar", "m2", 900_000, Field.INFRASTRUKTUR, "DBM"),
    Activity("PJU-01", "Pemasangan penerangan jalan umum", "titik", 12_000_000, Field.INFRASTRUKTUR, "DBM"),
    Activity("SMP-01", "Pengadaan bak sampah terpilah", "unit", 2_500_000, Field.INFRASTRUKTUR, "DLH"),
    Activity("SMP-02", "Pengadaan motor sampah roda tiga", "unit", 35_000_000, Field.INFRASTRUKTUR, "DLH"),
    Activity("TMN-01", "Penanaman pohon peneduh", "pohon", 750_000, Field.INFRASTRUKTUR, "DPHK"),
    Activity("SOS-01", "Pengadaan peralatan posyandu", "paket", 15_000_000, Field.SOSIAL_BUDAYA, "DINKES"),
    Activity("SOS-02", "Pelatihan kader jumantik", "peserta", 500_000, Field.SOSIAL_BUDAYA, "DINKES"),
    Activity("SOS-03", "Revitalisasi sarana RPTRA", "paket", 250_000_000, Field.SOSIAL_BUDAYA, "DPPAPP"),
    Activity("SOS-04", "Pembangunan sarana olahraga lingkungan", "paket", 75_000_000, Field.SOSIAL_BUDAYA, "DISPORA"),
    Activity("SOS-05", "Pelatihan keterampilan penyandang disabilitas", "peserta", 2_000_000, Field.SOSIAL_BUDAYA, "DINSOS"),
    Activity("EKO-01", "Pelatihan UMKM (JakPreneur)", "peserta", 1_500_000, Field.EKONOMI, "DPPKUKM"),
    Activity("EKO-02", "Pelatihan keterampilan kerja", "peserta", 3_000_000, Field.EKONOMI, "DISNAKERTRANSGI"),
    Activity("EKO-03", "Pengembangan urban farming", "paket", 25_000_000, Field.EKONOMI, "DKPKP"),
)


def activity_by_code(code: str, catalogue: tuple[Activity, ...] = JAKARTA_ACTIVITIES) -> Activity | None:
    return next((a for a in catalogue if a.code == code), None)
