"""The kecamatan forum's berita acara (minutes) as a PDF, in Bahasa Indonesia, drawn with fpdf2."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember")


@dataclass(frozen=True)
class MinutesItem:
    proposal_id: str
    title: str
    kelurahan: str
    cost: int
    score: float
    selected: bool
    reason: str


@dataclass(frozen=True)
class ForumMinutes:
    city: str
    kecamatan: str
    kecamatan_code: str
    cycle_year: int
    decided_at: datetime
    decided_by: str
    attendees: int
    budget: int
    total_cost: int
    total_score: float
    greedy_total_score: float
    solver: str
    rules: list[str]
    items: list[MinutesItem]


def rupiah(amount: int) -> str:
    return "Rp " + f"{amount:,}".replace(",", ".")


def tanggal(at: datetime) -> str:
    return f"{at.day} {MONTHS[at.month - 1]} {at.year}"


def _latin1(text: str) -> str:
    """fpdf2's core fonts are Latin-1: arrows and dashes become ASCII, other letters lose their accents."""
    text = text.replace("→", "->").replace("–", "-").replace("—", "-").replace("≥", ">=").replace("≤", "<=")
    return unicodedata.normalize("NFKD", text).encode("latin-1", "ignore").decode("latin-1")


def render(m: ForumMinutes) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"Berita Acara Musrenbang Kecamatan {m.kecamatan} {m.cycle_year}"))
    pdf.set_author("Kota e-Musrenbang")
    pdf.set_creation_date(m.decided_at)  # the same selection renders the same document
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def line(text: str, *, size: int = 10, style: str = "", align: str = "L", height: float = 5.5) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, height, _latin1(text), align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line("BERITA ACARA", size=14, style="B", align="C", height=7)
    line(f"MUSYAWARAH PERENCANAAN PEMBANGUNAN (MUSRENBANG) KECAMATAN {m.kecamatan.upper()}", size=11, style="B",
         align="C")
    line(f"{m.city} - Tahun Perencanaan {m.cycle_year}", align="C")
    pdf.ln(4)
    line(f"Pada tanggal {tanggal(m.decided_at)}, forum Musrenbang Kecamatan {m.kecamatan} (kode {m.kecamatan_code}) "
         f"yang dihadiri {m.attendees} orang peserta telah membahas {len(m.items)} usulan dari kelurahan dan "
         f"menetapkan usulan prioritas dalam batas pagu indikatif kecamatan sebesar {rupiah(m.budget)}.")
    pdf.ln(2)
    line("Ketentuan pemilihan:", style="B")
    for rule in m.rules:
        line(f"- {rule}")
    line(f"- Pemilihan dihitung dengan {m.solver} dan terbukti optimal: total skor {m.total_score:.2f} "
         f"(pemilihan berdasarkan skor tertinggi saja: {m.greedy_total_score:.2f}); total biaya {rupiah(m.total_cost)}.")
    pdf.ln(3)

    for heading, selected in (("A. Usulan yang disepakati", True), ("B. Usulan yang belum dapat diakomodasi", False)):
        items = [i for i in m.items if i.selected is selected]
        line(f"{heading} ({len(items)})", size=11, style="B")
        if not items:
            line("Tidak ada.")
        for n, item in enumerate(items, 1):
            line(f"{n}. {item.title} - Kel. {item.kelurahan} - {rupiah(item.cost)} - skor {item.score:.2f}", style="B",
                 size=9, height=5)
            line(f"   {item.reason}  [{item.proposal_id}]", size=9, height=5)
        pdf.ln(3)

    line(f"Ditetapkan oleh {m.decided_by} pada {tanggal(m.decided_at)} pukul {m.decided_at:%H:%M} UTC. Seluruh "
         "alasan pemilihan dapat diperiksa kembali: pemilihan yang sama menghasilkan keputusan yang sama.", size=9)
    pdf.ln(10)
    line("Pimpinan Sidang                                             Notulis", align="C")
    pdf.ln(15)
    line("(........................................)                  (........................................)",
         align="C")
    return bytes(pdf.output())
