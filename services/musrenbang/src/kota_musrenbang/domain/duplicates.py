"""Finding proposals that probably ask for the same works, so the lurah or the kecamatan team can merge them.

A proposal is similar to the candidate when it is near (same kelurahan, or within `radius_km` when both have a
point) and its text resembles the candidate's: rapidfuzz's token_set_ratio (0-100) of title and problem,
normalised (lower case, punctuation out, common abbreviations spelled out, Indonesian function words dropped so
that "di", "yang", "dan" do not make unrelated texts look alike). The same activity code is strong evidence in
itself: then the text needs `same_activity_bonus` points less.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz

from kota_common.reference import haversine_km
from kota_musrenbang.domain.model import Proposal, Status

IGNORED_STATUSES = frozenset({Status.DRAFT, Status.REJECTED, Status.MERGED, Status.NOT_REALISED})

STOPWORDS = frozenset(
    {
        "di", "ke", "dari", "dan", "yang", "untuk", "pada", "dengan", "ini", "itu", "ada", "sudah", "belum",
        "akan", "agar", "atau", "juga", "karena", "sehingga", "oleh", "dalam", "sangat", "sering", "setiap",
        "kami", "warga", "mohon", "tolong", "rt", "rw", "no", "nomor",
    }
)
ABBREVIATIONS = {"jl": "jalan", "jln": "jalan", "gg": "gang", "kel": "kelurahan", "kec": "kecamatan",
                 "pju": "penerangan jalan umum", "tpu": "tempat pemakaman umum"}
_NON_WORD = re.compile(r"[^\w]+")


@dataclass(frozen=True)
class Similar:
    proposal_id: str
    title: str
    similarity: float  # 0-100
    distance_km: float | None  # None: one of them has no point
    reasons: list[str]


def normalise(text: str) -> str:
    words = _NON_WORD.sub(" ", text.casefold()).replace("_", " ").split()
    expanded = " ".join(ABBREVIATIONS.get(w, w) for w in words).split()
    return " ".join(w for w in expanded if w not in STOPWORDS and not w.isdigit())


def find_similar(
    candidate: Proposal,
    others: Iterable[Proposal],
    *,
    radius_km: float = 0.5,
    min_similarity: float = 70,
    same_activity_bonus: float = 15,
) -> list[Similar]:
    """Proposals of the same cycle near the candidate whose text is alike, most similar first."""
    text = normalise(f"{candidate.title} {candidate.problem}")
    loc = candidate.location
    found: list[Similar] = []
    for other in others:
        if other.id == candidate.id or other.status in IGNORED_STATUSES or other.cycle_year != candidate.cycle_year:
            continue
        reasons: list[str] = []
        distance = None
        there = other.location
        if loc.lat is not None and loc.lon is not None and there.lat is not None and there.lon is not None:
            distance = haversine_km(loc.lat, loc.lon, there.lat, there.lon)
        same_kelurahan = other.location.kelurahan_code == loc.kelurahan_code
        if same_kelurahan:
            reasons.append(f"kelurahan sama ({loc.kelurahan_code})")
        if distance is not None and distance <= radius_km:
            reasons.append(f"berjarak {distance * 1000:.0f} m")
        if not reasons:
            continue
        threshold = min_similarity
        if other.activity.code == candidate.activity.code:
            reasons.append(f"kegiatan sama ({other.activity.name})")
            threshold -= same_activity_bonus
        similarity = float(fuzz.token_set_ratio(text, normalise(f"{other.title} {other.problem}")))
        if similarity < threshold:
            continue
        reasons.append(f"teks mirip {similarity:.0f}%")
        found.append(Similar(other.id, other.title, round(similarity, 1), distance, reasons))
    return sorted(found, key=lambda s: (-s.similarity, s.distance_km if s.distance_km is not None else float("inf"), s.proposal_id))
