"""The priority score the kecamatan forum gives a verified proposal, with every part explained.

Each criterion gets points from 1 to 5: urgency and alignment are the forum's judgement; beneficiaries, evidence
(complaints and sensor alerts about the area in the last 12 months) and supports are counts put into bands. The
total is on a 0-100 scale: the weighted mean of the points, with 1 point = 0 and 5 points = 100, so that
`total == sum(part.contribution)`. Totals are rounded to 0.01 (the selection treats scores at that resolution).

Bands (a count reaches point p when it is at least the (p-1)-th threshold), the city's to change:
    beneficiaries (people):          50, 200, 500, 2000
    evidence (complaints + alerts):   1,   5,  15,   30
    supports (residents):             1,  10,  30,  100
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from kota_musrenbang.domain.errors import DomainError


class Criterion(str, Enum):
    URGENCY = "urgency"
    BENEFICIARIES = "beneficiaries"
    ALIGNMENT = "alignment"
    EVIDENCE = "evidence"
    SUPPORTS = "supports"


Thresholds = tuple[int, int, int, int]


@dataclass(frozen=True)
class Bands:
    beneficiaries: Thresholds = (50, 200, 500, 2000)
    evidence: Thresholds = (1, 5, 15, 30)
    supports: Thresholds = (1, 10, 30, 100)

    def __post_init__(self) -> None:
        for name in ("beneficiaries", "evidence", "supports"):
            values = getattr(self, name)
            if len(values) != 4 or list(values) != sorted(set(values)) or values[0] < 0:
                raise DomainError(f"ambang {name} harus 4 angka naik tanpa duplikat", f"bands.{name}")


@dataclass(frozen=True)
class Weights:
    values: Mapping[Criterion, float] = field(
        default_factory=lambda: {
            Criterion.URGENCY: 0.30,
            Criterion.BENEFICIARIES: 0.20,
            Criterion.ALIGNMENT: 0.20,
            Criterion.EVIDENCE: 0.15,
            Criterion.SUPPORTS: 0.15,
        }
    )

    def __post_init__(self) -> None:
        missing = [c.value for c in Criterion if c not in self.values]
        if missing:
            raise DomainError(f"bobot belum diisi: {', '.join(missing)}", "weights")
        if any(w < 0 for w in self.values.values()):
            raise DomainError("bobot tidak boleh negatif", "weights")
        if sum(self.values.values()) <= 0:
            raise DomainError("jumlah bobot harus lebih dari 0", "weights")

    def normalised(self, criterion: Criterion) -> float:
        return self.values[criterion] / sum(self.values.values())


@dataclass(frozen=True)
class ScoreInputs:
    urgency: int  # 1-5, the forum's judgement
    beneficiaries: int  # people who would benefit
    alignment: int  # 1-5: 5 in a priority programme of the RPJMD/RKPD themes, 3 supports one, 1 none
    evidence_count: int  # complaints + sensor alerts about the area in the last 12 months
    supports: int  # residents supporting it
    complaints: int | None = None  # optional breakdown of evidence_count, for the explanation
    alerts: int | None = None

    def __post_init__(self) -> None:
        for name in ("urgency", "alignment"):
            value = getattr(self, name)
            if isinstance(value, bool) or not 1 <= value <= 5:
                raise DomainError(f"{name} harus 1 sampai 5", name)
        for name in ("beneficiaries", "evidence_count", "supports"):
            if getattr(self, name) < 0:
                raise DomainError(f"{name} tidak boleh negatif", name)
        if self.complaints is not None and self.alerts is not None and self.complaints + self.alerts != self.evidence_count:
            raise DomainError("laporan + peringatan harus sama dengan evidence_count", "evidence_count")

    @classmethod
    def aligned(cls, aligned_with_priorities: bool) -> int:
        """The alignment points for a yes/no judgement."""
        return 5 if aligned_with_priorities else 1


@dataclass(frozen=True)
class ScorePart:
    points: int  # 1-5
    weight: float  # normalised, the parts' weights sum to 1
    contribution: float  # to the 0-100 total
    explanation: str


@dataclass(frozen=True)
class Score:
    total: float  # 0-100
    parts: dict[Criterion, ScorePart]

    def explain(self) -> str:
        return "; ".join(f"{c.value}: {p.explanation} (x{p.weight:.2f} = {p.contribution:.1f})" for c, p in self.parts.items())


def band(value: int, thresholds: Thresholds) -> int:
    """1 below the first threshold, 5 at or above the last."""
    return 1 + sum(value >= t for t in thresholds)


def score(inputs: ScoreInputs, weights: Weights | None = None, bands: Bands | None = None) -> Score:
    weights = weights or Weights()
    bands = bands or Bands()
    evidence = (
        f"{inputs.complaints} laporan dan {inputs.alerts} peringatan dalam 12 bulan"
        if inputs.complaints is not None and inputs.alerts is not None
        else f"{inputs.evidence_count} laporan/peringatan dalam 12 bulan"
    )
    judged = {
        Criterion.URGENCY: (inputs.urgency, f"urgensi dinilai forum {inputs.urgency}"),
        Criterion.BENEFICIARIES: (band(inputs.beneficiaries, bands.beneficiaries), f"{inputs.beneficiaries} penerima manfaat"),
        Criterion.ALIGNMENT: (inputs.alignment, f"keselarasan dengan prioritas daerah dinilai {inputs.alignment}"),
        Criterion.EVIDENCE: (band(inputs.evidence_count, bands.evidence), evidence),
        Criterion.SUPPORTS: (band(inputs.supports, bands.supports), f"{inputs.supports} dukungan warga"),
    }
    parts: dict[Criterion, ScorePart] = {}
    for criterion in Criterion:
        points, what = judged[criterion]
        weight = weights.normalised(criterion)
        parts[criterion] = ScorePart(points, weight, weight * (points - 1) / 4 * 100, f"{what} → {points}")
    return Score(round(sum(p.contribution for p in parts.values()), 2), parts)
