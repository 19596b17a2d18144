"""The priority score: points per criterion, weights, and an explanation for each part."""

import pytest

from kota_musrenbang.domain.errors import DomainError
from kota_musrenbang.domain.scoring import Bands, Criterion, ScoreInputs, Weights, band, score

ALL_HIGH = ScoreInputs(urgency=5, beneficiaries=5000, alignment=5, evidence_count=40, supports=150, complaints=38, alerts=2)
ALL_LOW = ScoreInputs(urgency=1, beneficiaries=10, alignment=1, evidence_count=0, supports=0)


@pytest.mark.parametrize(
    "value, points", [(0, 1), (49, 1), (50, 2), (199, 2), (200, 3), (499, 3), (500, 4), (1999, 4), (2000, 5), (10**6, 5)]
)
def test_beneficiary_bands(value, points):
    assert band(value, Bands().beneficiaries) == points


def test_the_scale_runs_from_0_to_100():
    assert score(ALL_LOW).total == 0
    assert score(ALL_HIGH).total == 100


def test_parts_add_up_to_the_total_and_weights_are_normalised():
    inputs = ScoreInputs(urgency=4, beneficiaries=300, alignment=3, evidence_count=7, supports=12)
    result = score(inputs)
    assert result.total == pytest.approx(sum(p.contribution for p in result.parts.values()), abs=0.01)
    assert sum(p.weight for p in result.parts.values()) == pytest.approx(1)
    assert {c: p.points for c, p in result.parts.items()} == {
        Criterion.URGENCY: 4, Criterion.BENEFICIARIES: 3, Criterion.ALIGNMENT: 3, Criterion.EVIDENCE: 3, Criterion.SUPPORTS: 3,
    }
    # 0.30 x 75 + (0.20 + 0.20 + 0.15 + 0.15) x 50
    assert result.total == 57.5


def test_explanations_say_what_was_counted():
    parts = score(ALL_HIGH).parts
    assert parts[Criterion.EVIDENCE].explanation == "38 laporan dan 2 peringatan dalam 12 bulan → 5"
    assert parts[Criterion.SUPPORTS].explanation == "150 dukungan warga → 5"
    assert parts[Criterion.BENEFICIARIES].explanation == "5000 penerima manfaat → 5"


def test_a_city_may_weigh_differently():
    only_supports = Weights({c: (1.0 if c is Criterion.SUPPORTS else 0.0) for c in Criterion})
    inputs = ScoreInputs(urgency=5, beneficiaries=5000, alignment=5, evidence_count=40, supports=0)
    assert score(inputs, only_supports).total == 0


@pytest.mark.parametrize(
    "values",
    [
        {c: -0.1 if c is Criterion.URGENCY else 0.3 for c in Criterion},
        dict.fromkeys(Criterion, 0.0),
        {Criterion.URGENCY: 1.0},
    ],
)
def test_weights_are_validated(values):
    with pytest.raises(DomainError):
        Weights(values)


@pytest.mark.parametrize("change", [{"urgency": 0}, {"urgency": 6}, {"alignment": 7}, {"supports": -1},
                                    {"complaints": 3, "alerts": 1}])
def test_inputs_are_validated(change):
    values = dict(urgency=3, beneficiaries=100, alignment=3, evidence_count=5, supports=1) | change
    with pytest.raises(DomainError):
        ScoreInputs(**values)


def test_yes_no_alignment():
    assert (ScoreInputs.aligned(True), ScoreInputs.aligned(False)) == (5, 1)
