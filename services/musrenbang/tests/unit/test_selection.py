"""The kecamatan forum's selection: optimal (against brute force), reproducible, explained for every candidate."""

import itertools
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kota_musrenbang.domain.catalog import Field
from kota_musrenbang.domain.selection import (
    Candidate,
    SelectionInfeasible,
    SelectionRules,
    greedy_by_score,
    optimise,
    rupiah,
    select,
)

M = 1_000_000  # a million rupiah
INFRA, SOSIAL, EKONOMI = Field.INFRASTRUKTUR, Field.SOSIAL_BUDAYA, Field.EKONOMI


def c(id, cost_m, score, field=INFRA, agency="DSDA") -> Candidate:
    return Candidate(id, cost_m * M, score, field, agency)


def feasible(subset, rules) -> bool:
    if sum(x.cost for x in subset) > rules.budget:
        return False
    for f, minimum in rules.field_minimums.items():
        if sum(x.cost for x in subset if x.field == f) < minimum:
            return False
    return all(sum(x.cost for x in subset if x.agency_code == a) <= ceiling for a, ceiling in rules.agency_ceilings.items())


def brute_force(candidates, rules):
    """(best total score in hundredths, least cost among the best) or None when nothing is feasible."""
    best = None
    for r in range(len(candidates) + 1):
        for subset in itertools.combinations(candidates, r):
            if feasible(subset, rules):
                key = (sum(round(x.score * 100) for x in subset), -sum(x.cost for x in subset))
                best = key if best is None or key > best else best
    return None if best is None else (best[0], -best[1])


@st.composite
def instances(draw):
    n = draw(st.integers(0, 12))
    candidates = [
        Candidate(
            f"P-{i:02d}",
            draw(st.integers(1, 60)) * 10 * M,
            draw(st.integers(0, 10_000)) / 100,
            draw(st.sampled_from(list(Field))),
            draw(st.sampled_from(["DSDA", "DBM", "DLH"])),
        )
        for i in range(n)
    ]
    budget = draw(st.integers(1, 150)) * 10 * M
    minimums = draw(st.dictionaries(st.sampled_from(list(Field)), st.integers(0, 40).map(lambda v: v * 10 * M), max_size=2))
    ceilings = draw(st.dictionaries(st.sampled_from(["DSDA", "DBM", "DLH"]), st.integers(0, 100).map(lambda v: v * 10 * M), max_size=2))
    return candidates, SelectionRules(budget, minimums, ceilings)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_the_optimum_is_brute_forces_optimum(instance):
    candidates, rules = instance
    best = brute_force(candidates, rules)
    if best is None:
        with pytest.raises(SelectionInfeasible):
            optimise(candidates, rules)
        return
    chosen = optimise(candidates, rules)
    assert round(chosen.total_score * 100) == best[0]
    assert chosen.total_cost == best[1], "among equal scores the cheaper selection wins"
    picked = [x for x in candidates if x.proposal_id in chosen.selected]
    assert feasible(picked, rules) and chosen.status == "optimal"
    assert chosen.total_cost == sum(x.cost for x in picked)


@settings(max_examples=40, deadline=None)
@given(instances())
def test_every_candidate_gets_a_reason(instance):
    candidates, rules = instance
    try:
        chosen = select(candidates, rules, exact_reasons=3)
    except SelectionInfeasible:
        return
    assert set(chosen.decisions) == {x.proposal_id for x in candidates}
    for x in candidates:
        decision = chosen.decisions[x.proposal_id]
        assert decision.selected == (x.proposal_id in chosen.selected)
        assert decision.reason.startswith("terpilih" if decision.selected else "tidak terpilih:")


class TestReasons:
    RULES = SelectionRules(budget=100 * M, agency_ceilings={"DBM": 30 * M})
    CANDIDATES = [
        c("P-1", 60, 80), c("P-2", 40, 70), c("P-3", 50, 75), c("P-4", 120, 99), c("P-5", 35, 90, agency="DBM"),
    ]

    def test_reasons_name_costs_and_what_would_have_to_give_way(self):
        chosen = select(self.CANDIDATES, self.RULES)
        assert chosen.selected == ("P-1", "P-2")
        assert chosen.total_score == 150 and chosen.total_cost == 100 * M
        reasons = {k: d.reason for k, d in chosen.decisions.items()}
        assert reasons["P-1"] == "terpilih: skor 80.00, biaya Rp 60.000.000"
        assert reasons["P-4"] == "tidak terpilih: biayanya sendiri Rp 120.000.000 melebihi pagu Rp 100.000.000"
        assert reasons["P-5"] == "tidak terpilih: biayanya sendiri Rp 35.000.000 melebihi plafon DBM Rp 30.000.000"
        # P-3 in: P-1 (80) and P-2 (70) out, P-2 back in beside it: 75 + 40... = 145, five points fewer.
        assert reasons["P-3"] == "tidak terpilih: untuk memasukkannya, forum harus melepas P-1 (skor total turun 5.00)"

    def test_beyond_the_exact_ones_a_bound_or_the_score_per_rupiah(self):
        rng = random.Random(7)
        many = [c(f"P-{i:03d}", rng.randint(5, 60), round(rng.uniform(10, 90), 2), rng.choice(list(Field))) for i in range(80)]
        chosen = select(many, SelectionRules(500 * M), exact_reasons=2)
        unselected = [d.reason for d in chosen.decisions.values() if not d.selected]
        assert sum("forum harus melepas" in r for r in unselected) <= 2
        cheap = [r for r in unselected if "forum harus melepas" not in r]
        assert cheap and all(re.search(r"sekurang-kurangnya \d|per Rp 1 miliar", r) for r in cheap)


class TestInfeasible:
    def test_minimums_above_the_budget(self):
        rules = SelectionRules(100 * M, {EKONOMI: 60 * M, SOSIAL: 50 * M})
        with pytest.raises(SelectionInfeasible) as err:
            optimise([c("P-1", 10, 50)], rules)
        assert "melebihi pagu Rp 100.000.000" in str(err.value) and err.value.field == "field_minimums"

    def test_too_few_proposals_in_a_field(self):
        rules = SelectionRules(100 * M, {EKONOMI: 30 * M})
        with pytest.raises(SelectionInfeasible, match="usulan bidang ekonomi hanya berjumlah Rp 20.000.000"):
            optimise([c("P-1", 20, 50, EKONOMI, "DPPKUKM"), c("P-2", 50, 60)], rules)

    def test_a_ceiling_starves_a_field(self):
        rules = SelectionRules(100 * M, {EKONOMI: 30 * M}, {"DPPKUKM": 20 * M})
        with pytest.raises(SelectionInfeasible, match="plafon dinas"):
            optimise([c("P-1", 20, 50, EKONOMI, "DPPKUKM"), c("P-2", 20, 60, EKONOMI, "DPPKUKM")], rules)

    def test_no_combination_hits_the_minimum_within_the_budget(self):
        # each field fits alone, not together: 70 + 40 > 100
        rules = SelectionRules(100 * M, {EKONOMI: 70 * M, INFRA: 40 * M})
        with pytest.raises(SelectionInfeasible, match="melebihi pagu"):
            optimise([c("P-1", 70, 50, EKONOMI), c("P-2", 40, 60)], rules)
        rules = SelectionRules(100 * M, {EKONOMI: 50 * M, INFRA: 40 * M})
        with pytest.raises(SelectionInfeasible, match="tidak ada kombinasi"):
            optimise([c("P-1", 70, 50, EKONOMI), c("P-2", 40, 60)], rules)


def test_a_minimum_takes_precedence_over_score():
    rules = SelectionRules(100 * M, {EKONOMI: 30 * M})
    chosen = optimise([c("P-1", 60, 90), c("P-2", 40, 80), c("P-3", 30, 10, EKONOMI, "DPPKUKM")], rules)
    assert set(chosen.selected) == {"P-1", "P-3"}


def test_the_same_input_gives_the_same_selection_whatever_its_order():
    rng = random.Random(3)
    many = [c(f"P-{i:03d}", rng.randint(5, 60), round(rng.uniform(10, 90), 1), rng.choice(list(Field))) for i in range(150)]
    rules = SelectionRules(800 * M, {EKONOMI: 100 * M}, {"DSDA": 500 * M})
    first = select(many, rules)
    again = select(list(reversed(many)), rules)
    assert first == again


def test_greedy_is_a_feasible_baseline_never_better_than_the_optimum():
    rng = random.Random(5)
    many = [c(f"P-{i:03d}", rng.randint(5, 60), round(rng.uniform(10, 90), 2), rng.choice(list(Field)),
              rng.choice(["DSDA", "DBM"])) for i in range(60)]
    rules = SelectionRules(400 * M, {SOSIAL: 50 * M}, {"DBM": 150 * M})
    greedy = greedy_by_score(many, rules)
    assert greedy.status == "greedy"
    assert feasible([x for x in many if x.proposal_id in greedy.selected], rules)
    assert greedy.total_score <= optimise(many, rules).total_score


def test_rupiah():
    assert rupiah(1_250_000_000) == "Rp 1.250.000.000"


def test_at_scale_the_fixing_keeps_the_optimum():
    """2,000 candidates: the reduced-cost fixing before HiGHS is exact, as HiGHS on the whole model shows."""
    import importlib.util
    from pathlib import Path

    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp

    spec = importlib.util.spec_from_file_location("bench_selection", Path(__file__).with_name("bench_selection.py"))
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    candidates, rules = bench.instance(2000, seed=1)
    chosen = optimise(candidates, rules)
    items = sorted(candidates, key=lambda x: x.proposal_id)
    cost = np.array([x.cost for x in items], dtype=float) / rules.budget
    rows = [cost] + [np.where([x.field == f for x in items], cost, 0) for f in rules.field_minimums] + [
        np.where([x.agency_code == a for x in items], cost, 0) for a in rules.agency_ceilings]
    lows = [-np.inf] + [m / rules.budget for m in rules.field_minimums.values()] + [-np.inf] * len(rules.agency_ceilings)
    highs = [1.0] + [np.inf] * len(rules.field_minimums) + [v / rules.budget for v in rules.agency_ceilings.values()]
    whole = milp(-np.array([round(x.score * 100) for x in items], dtype=float), constraints=LinearConstraint(np.vstack(rows), lows, highs),
                 integrality=np.ones(len(items)), bounds=Bounds(0, 1), options={"mip_rel_gap": 0.0})
    assert whole.status == 0
    assert round(chosen.total_score * 100) == round(-whole.fun)
