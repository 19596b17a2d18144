"""The kecamatan forum's selection: which verified proposals fit in the kecamatan's pagu indikatif.

A 0-1 knapsack with side constraints, solved to proven optimality by HiGHS through `scipy.optimize.milp`:

    maximise   sum(score_i * x_i)                        x_i in {0, 1}
    subject to sum(cost_i * x_i)              <= budget
               sum(cost_i * x_i, i in field f) >= field_minimums[f]     for each field with a minimum
               sum(cost_i * x_i, i of agency a) <= agency_ceilings[a]    for each agency with a ceiling

Reproducible: candidates are sorted by id before the model is built, scores are taken at a resolution of 0.01
(as scoring.py rounds them) and counted in integer hundredths, and the objective carries a tie-breaker worth less
than 0.01 in total (half a hundredth x cost / budget): among selections of equal total score the cheaper one
wins; ties beyond that fall to HiGHS, which is deterministic for the same model. `mip_rel_gap` is 0: "optimal"
means proven optimal, not within the solver's default 0.01 %.

`select` returns a reason for every candidate (`explain`): selected; too costly alone for the pagu or its
agency's ceiling; for the `exact_reasons` best-scoring others, a re-solve with the proposal forced in, naming
what the forum would have to drop and the score it would lose; for the rest, a bound on that loss from the LP
relaxation's duals (cheap: one LP for all of them), or failing that the score per rupiah against the selection's.
`optimise` is the solve alone, for callers that want no reasons.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy  # type: ignore[import-untyped]  # no stubs installed (scipy-stubs is not a dependency)
from scipy.optimize import Bounds, LinearConstraint, linprog, milp  # type: ignore[import-untyped]

from kota_musrenbang.domain.catalog import Field
from kota_musrenbang.domain.errors import DomainError, SelectionInfeasible

__all__ = [
    "Candidate",
    "Decision",
    "Selection",
    "SelectionInfeasible",
    "SelectionRules",
    "explain",
    "greedy_by_score",
    "optimise",
    "rupiah",
    "select",
]

SOLVER = f"HiGHS (scipy {scipy.__version__} optimize.milp)"
_TIE_BREAK = 0.5  # in hundredths of a score point, spread over the budget: < 0.01 points for any feasible set


@dataclass(frozen=True)
class Candidate:
    proposal_id: str
    cost: int  # rupiah
    score: float  # 0-100 (scoring.py), used at a resolution of 0.01
    field: Field
    agency_code: str


@dataclass(frozen=True)
class SelectionRules:
    budget: int  # the kecamatan's pagu indikatif, rupiah
    field_minimums: Mapping[Field, int] = field(default_factory=dict)  # rupiah that must go at least to each field
    agency_ceilings: Mapping[str, int] = field(default_factory=dict)  # rupiah that may go at most to each agency

    def __post_init__(self) -> None:
        if self.budget <= 0:
            raise DomainError("pagu indikatif harus lebih dari 0", "budget")
        if any(v < 0 for v in self.field_minimums.values()):
            raise DomainError("minimum bidang tidak boleh negatif", "field_minimums")
        if any(v < 0 for v in self.agency_ceilings.values()):
            raise DomainError("plafon dinas tidak boleh negatif", "agency_ceilings")


@dataclass(frozen=True)
class Decision:
    selected: bool
    reason: str


@dataclass(frozen=True)
class Selection:
    selected: tuple[str, ...]  # proposal ids, sorted
    total_score: float
    total_cost: int
    status: str  # "optimal" from optimise/select; greedy_by_score: "greedy" or "greedy_minimums_not_met"
    decisions: dict[str, Decision]
    solver: str


def rupiah(amount: int) -> str:
    return "Rp " + f"{amount:,}".replace(",", ".")


def select(candidates: Iterable[Candidate], rules: SelectionRules, *, exact_reasons: int = 10) -> Selection:
    """The optimal selection, with a reason for every candidate. Raises SelectionInfeasible (with what cannot be
    met) when no set of proposals meets the rules, DomainError when the solver stops short of proven optimality."""
    items = _prepare(candidates)
    chosen = optimise(items, rules)
    return explain(chosen, items, rules, exact_reasons=exact_reasons)


def optimise(candidates: Iterable[Candidate], rules: SelectionRules) -> Selection:
    """The solve alone: decisions say only selected or not."""
    items = _prepare(candidates)
    _check_feasible_at_all(items, rules)
    x = _solve(items, rules)
    if x is None:
        raise SelectionInfeasible(
            "minimum bidang tidak dapat dipenuhi bersamaan dalam pagu "
            f"{rupiah(rules.budget)} dan plafon dinas: tidak ada kombinasi usulan yang cukup "
            f"({_minimums_text(rules)})",
            "field_minimums",
        )
    selected = [c for c, on in zip(items, x, strict=True) if on]
    ids = {c.proposal_id for c in selected}
    return Selection(
        selected=tuple(c.proposal_id for c in selected),
        total_score=_total(selected),
        total_cost=sum(c.cost for c in selected),
        status="optimal",
        decisions={c.proposal_id: Decision(c.proposal_id in ids, "terpilih" if c.proposal_id in ids else "tidak terpilih")
                   for c in items},
        solver=SOLVER,
    )


def explain(selection: Selection, candidates: Iterable[Candidate], rules: SelectionRules, *, exact_reasons: int = 10) -> Selection:
    """`selection` with a concrete reason for every candidate (see the module's docstring)."""
    items = _prepare(candidates)
    chosen = set(selection.selected)
    by_id = {c.proposal_id: c for c in items}
    reasons: dict[str, Decision] = {}
    open_questions: list[Candidate] = []
    for c in items:
        ceiling = rules.agency_ceilings.get(c.agency_code)
        if c.proposal_id in chosen:
            reasons[c.proposal_id] = Decision(True, f"terpilih: skor {_q(c.score) / 100:.2f}, biaya {rupiah(c.cost)}")
        elif c.cost > rules.budget:
            reasons[c.proposal_id] = Decision(False, f"tidak terpilih: biayanya sendiri {rupiah(c.cost)} melebihi pagu {rupiah(rules.budget)}")
        elif ceiling is not None and c.cost > ceiling:
            reasons[c.proposal_id] = Decision(
                False, f"tidak terpilih: biayanya sendiri {rupiah(c.cost)} melebihi plafon {c.agency_code} {rupiah(ceiling)}"
            )
        else:
            open_questions.append(c)
    open_questions.sort(key=lambda c: (-_q(c.score), c.cost, c.proposal_id))
    for c in open_questions[:exact_reasons]:
        reasons[c.proposal_id] = Decision(False, _forced_reason(c, items, rules, chosen, by_id, selection.total_score))
    rest = open_questions[exact_reasons:]
    if rest:
        bounds = _lp_loss_bounds(items, rules, selection.total_score)
        selected_ratio = min((_q(by_id[i].score) / by_id[i].cost for i in chosen), default=0.0)
        for c in rest:
            loss = bounds.get(c.proposal_id, 0.0) if bounds else 0.0
            if loss >= 0.005:
                text = (f"tidak terpilih: skor {_q(c.score) / 100:.2f} untuk {rupiah(c.cost)}; memasukkannya menurunkan "
                        f"skor total sekurang-kurangnya {loss:.2f}")
            else:
                text = (f"tidak terpilih: skor {_q(c.score) / 100:.2f} untuk {rupiah(c.cost)} "
                        f"({_per_billion(_q(c.score) / c.cost)} per Rp 1 miliar; usulan terpilih paling rendah "
                        f"{_per_billion(selected_ratio)}); pagu lebih bernilai untuk usulan lain")
            reasons[c.proposal_id] = Decision(False, text)
    return Selection(selection.selected, selection.total_score, selection.total_cost, selection.status,
                     {c.proposal_id: reasons[c.proposal_id] for c in items}, selection.solver)


def greedy_by_score(candidates: Iterable[Candidate], rules: SelectionRules) -> Selection:
    """The baseline: best score first (then cheaper, then id), skipping what does not fit the pagu or its agency's
    ceiling; fields with a minimum are served first, each from its own best proposals, until the minimum is met.
    Greedy can miss minimums an optimal selection meets: then the status says so."""
    items = sorted(_prepare(candidates), key=lambda c: (-_q(c.score), c.cost, c.proposal_id))
    spent, per_agency, per_field = 0, dict.fromkeys((c.agency_code for c in items), 0), dict.fromkeys(Field, 0)
    chosen: list[Candidate] = []
    why: dict[str, str] = {}

    def take(c: Candidate) -> None:
        nonlocal spent
        if c in chosen:
            return
        ceiling = rules.agency_ceilings.get(c.agency_code)
        if spent + c.cost > rules.budget:
            why[c.proposal_id] = f"tidak terpilih (greedy): sisa pagu {rupiah(rules.budget - spent)} kurang dari {rupiah(c.cost)}"
        elif ceiling is not None and per_agency[c.agency_code] + c.cost > ceiling:
            why[c.proposal_id] = f"tidak terpilih (greedy): plafon {c.agency_code} {rupiah(ceiling)} terlampaui"
        else:
            chosen.append(c)
            spent += c.cost
            per_agency[c.agency_code] += c.cost
            per_field[c.field] += c.cost

    for f in sorted(rules.field_minimums, key=lambda f: f.value):
        for c in items:
            if c.field == f and per_field[f] < rules.field_minimums[f]:
                take(c)
    for c in items:
        take(c)
    met = all(per_field[f] >= m for f, m in rules.field_minimums.items())
    ids = {c.proposal_id for c in chosen}
    decisions = {
        c.proposal_id: Decision(True, f"terpilih (greedy): skor {_q(c.score) / 100:.2f}, biaya {rupiah(c.cost)}")
        if c.proposal_id in ids else Decision(False, why.get(c.proposal_id, "tidak terpilih (greedy)"))
        for c in sorted(items, key=lambda c: c.proposal_id)
    }
    return Selection(tuple(sorted(ids)), _total(chosen), spent, "greedy" if met else "greedy_minimums_not_met", decisions,
                     "greedy by score")


# -- the model ------------------------------------------------------------------------------------------------
def _prepare(candidates: Iterable[Candidate]) -> list[Candidate]:
    items = sorted(candidates, key=lambda c: c.proposal_id)
    for a, b in zip(items, items[1:], strict=False):
        if a.proposal_id == b.proposal_id:
            raise DomainError(f"usulan {a.proposal_id} muncul dua kali", "candidates")
    for c in items:
        if c.cost <= 0 or not math.isfinite(c.score) or c.score < 0:
            raise DomainError(f"usulan {c.proposal_id}: biaya harus > 0 dan skor >= 0", "candidates")
    return items


def _q(score: float) -> int:
    """The score in integer hundredths."""
    return round(score * 100)


def _total(chosen: Iterable[Candidate]) -> float:
    return sum(_q(c.score) for c in chosen) / 100


def _rows(items: Sequence[Candidate], rules: SelectionRules) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Constraint matrix and bounds (lower, upper), one row per rule, with a name for each row."""
    cost = np.array([c.cost for c in items], dtype=float)
    rows, lows, highs, names = [cost], [-np.inf], [float(rules.budget)], ["pagu"]
    for f in sorted(rules.field_minimums, key=lambda f: f.value):
        if rules.field_minimums[f] > 0:
            rows.append(np.where([c.field == f for c in items], cost, 0.0))
            lows.append(float(rules.field_minimums[f]))
            highs.append(np.inf)
            names.append(f"minimum {f.value}")
    present = {c.agency_code for c in items}
    for agency in sorted(rules.agency_ceilings):
        if agency in present:
            rows.append(np.where([c.agency_code == agency for c in items], cost, 0.0))
            lows.append(-np.inf)
            highs.append(float(rules.agency_ceilings[agency]))
            names.append(f"plafon {agency}")
    return np.vstack(rows), np.array(lows), np.array(highs), names


def _solve(items: Sequence[Candidate], rules: SelectionRules, forced: int | None = None) -> list[bool] | None:
    """The optimal x (None: infeasible); `forced`: index of a candidate that must be in."""
    if not items:
        return []
    matrix, lows, highs, _ = _rows(items, rules)
    scale = float(rules.budget)  # rows in units of the budget: coefficients near 1 for the solver
    matrix, lows, highs = matrix / scale, lows / scale, highs / scale
    score = np.array([_q(c.score) for c in items], dtype=float)
    lower, upper = np.zeros(len(items)), np.ones(len(items))
    if forced is not None:
        lower[forced] = 1.0
    fixed = _reduced_cost_fixing(score, matrix, lows, highs, lower, upper)
    if fixed is None:
        return None
    lower, upper = fixed
    # The fixed candidates leave the model (their costs move into the rows' bounds): HiGHS's time grows with the
    # columns it is handed even when its presolve removes them.
    free = lower < upper
    taken = matrix[:, ~free] @ lower[~free]
    objective = -score[free] + _TIE_BREAK * matrix[0, free]
    x_free = np.zeros(0)
    if free.any():
        result = milp(
            objective,
            constraints=LinearConstraint(matrix[:, free], lows - taken, highs - taken),
            integrality=np.ones(int(free.sum())),
            bounds=Bounds(lower[free], upper[free]),
            options={"mip_rel_gap": 0.0},
        )
        if result.status == 2:
            return None
        if result.status != 0 or result.x is None:
            raise DomainError(f"pemilihan tidak mencapai solusi optimal terbukti ({result.message})", "selection")
        x_free = np.asarray(result.x)
    elif np.any(taken < lows - 1e-9) or np.any(taken > highs + 1e-9):
        return None
    values = lower.copy()
    values[free] = x_free
    x = [bool(v > 0.5) for v in values]
    _check_exactly(items, rules, x)
    return x


def _reduced_cost_fixing(
    score: np.ndarray, matrix: np.ndarray, lows: np.ndarray, highs: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Bounds with the candidates fixed that no optimal selection can change (None: even the LP is infeasible).

    Pays on large instances: HiGHS spends most of a 2,000-candidate solve before its own root reductions. From the
    LP relaxation (value Z, reduced costs d) and any feasible selection (value L): a candidate the LP leaves out
    with Z + d_i < L can be in no selection as good as L, one the LP takes with Z - d_i < L in none without it.
    Scores are whole hundredths, so the margin below keeps candidates tied to within 0.05 points (and the
    tie-breaker, worth less than one hundredth in all) with the MILP. Exact, not a heuristic: only the proof is
    shortened."""
    a_ub = np.vstack([matrix[np.isfinite(highs)], -matrix[np.isfinite(lows)]])
    b_ub = np.concatenate([highs[np.isfinite(highs)], -lows[np.isfinite(lows)]])
    lp = linprog(-score, A_ub=a_ub, b_ub=b_ub, bounds=np.column_stack([lower, upper]), method="highs")
    if lp.status == 2:
        return None
    if lp.status != 0:
        return lower, upper
    x_lp = np.asarray(lp.x)
    reduced = score - a_ub.T @ (-np.asarray(lp.ineqlin.marginals))
    value = float(score @ x_lp)
    incumbent = _round_down_and_fill(x_lp, score, reduced, a_ub, b_ub, lower, upper)
    if incumbent is None:
        return lower, upper
    gap = value - float(score @ incumbent) + 5.0 + 1e-6 * abs(value)
    out = (x_lp < 1e-9) & (reduced < -gap) & (lower == 0)
    into = (x_lp > 1 - 1e-9) & (reduced > gap)
    return np.where(into, 1.0, lower), np.where(out, 0.0, upper)


def _round_down_and_fill(
    x_lp: np.ndarray, score: np.ndarray, reduced: np.ndarray, a_ub: np.ndarray, b_ub: np.ndarray, lower: np.ndarray,
    upper: np.ndarray,
) -> np.ndarray | None:
    """A feasible selection near the LP's: what it takes whole, repaired where that breaks a rule (a forced
    candidate can break a ceiling, dropping the LP's fractions a minimum), then the rest by reduced cost while it
    fits, then improved by exchanges. None if the repair fails (the caller then fixes nothing)."""
    x = ((x_lp > 1 - 1e-9) | (lower > 0.5)).astype(float)
    used = a_ub @ x
    for _ in range(len(x)):
        excess = used - b_ub
        row = int(np.argmax(excess))
        if excess[row] <= 1e-9:
            break
        coef = a_ub[row]
        if coef.max() > 0:  # a ceiling (or the budget) is exceeded: drop what weighs on it and is worth least
            options = np.flatnonzero((x == 1) & (lower == 0) & (coef > 0))
            pick = options[np.argmin(reduced[options])] if len(options) else None
            value = 0.0
        else:  # a minimum is missed: add what counts for it, is worth most and breaks no ceiling
            fits = np.all((a_ub <= 0) | (used[:, None] + a_ub <= b_ub[:, None] + 1e-12), axis=0)
            options = np.flatnonzero((x == 0) & (upper == 1) & (coef < 0) & fits)
            pick = options[np.argmax(reduced[options])] if len(options) else None
            value = 1.0
        if pick is None:
            return None
        x[pick] = value
        used = a_ub @ x
    if np.any(used > b_ub + 1e-9):
        return None
    for i in np.argsort(-reduced, kind="stable"):
        if x[i] == 0 and upper[i] > 0 and np.all(used + a_ub[:, i] <= b_ub + 1e-12):
            x[i] = 1.0
            used += a_ub[:, i]
    if not np.all(used <= b_ub + 1e-9):
        return None
    return _improve_by_swaps(x, score, a_ub, b_ub, lower, upper, core=np.argsort(np.abs(reduced), kind="stable")[:400])


def _improve_by_swaps(
    x: np.ndarray, score: np.ndarray, a_ub: np.ndarray, b_ub: np.ndarray, lower: np.ndarray, upper: np.ndarray,
    core: np.ndarray, rounds: int = 50,
) -> np.ndarray:
    """Best one-for-one exchanges among the `core` candidates (those whose reduced cost is nearest zero, where the
    LP is undecided) while one improves the score, then anything that still fits. A better incumbent fixes more."""
    x = x.copy()
    for _ in range(rounds):
        slack = b_ub - a_ub @ x
        ins = core[(x[core] == 1) & (lower[core] == 0)]
        outs = core[(x[core] == 0) & (upper[core] == 1)]
        if len(ins) == 0 or len(outs) == 0:
            break
        gain = score[outs][None, :] - score[ins][:, None]
        delta = a_ub[:, outs][:, None, :] - a_ub[:, ins][:, :, None]
        fits = np.all(delta <= slack[:, None, None] + 1e-12, axis=0)
        gain = np.where(fits, gain, 0.0)
        best = np.unravel_index(np.argmax(gain), gain.shape)
        if gain[best] <= 0:
            break
        x[ins[best[0]]], x[outs[best[1]]] = 0.0, 1.0
        used = a_ub @ x
        for j in outs:
            if x[j] == 0 and np.all(used + a_ub[:, j] <= b_ub + 1e-12):
                x[j] = 1.0
                used += a_ub[:, j]
    return x


def _check_exactly(items: Sequence[Candidate], rules: SelectionRules, x: Sequence[bool]) -> None:
    """The solver works in floating point with tolerances; the selection must meet the rules to the rupiah."""
    chosen = [c for c, on in zip(items, x, strict=True) if on]
    problems = []
    if sum(c.cost for c in chosen) > rules.budget:
        problems.append("pagu")
    for f, minimum in rules.field_minimums.items():
        if sum(c.cost for c in chosen if c.field == f) < minimum:
            problems.append(f"minimum {f.value}")
    for agency, ceiling in rules.agency_ceilings.items():
        if sum(c.cost for c in chosen if c.agency_code == agency) > ceiling:
            problems.append(f"plafon {agency}")
    if problems:
        raise DomainError(f"hasil solver melanggar {', '.join(problems)} setelah pembulatan", "selection")


def _check_feasible_at_all(items: Sequence[Candidate], rules: SelectionRules) -> None:
    """Plain reasons a set of minimums cannot be met, named before the solver is asked."""
    minimums = {f: m for f, m in rules.field_minimums.items() if m > 0}
    if sum(minimums.values()) > rules.budget:
        raise SelectionInfeasible(
            f"jumlah minimum bidang {rupiah(sum(minimums.values()))} ({_minimums_text(rules)}) melebihi pagu {rupiah(rules.budget)}",
            "field_minimums",
        )
    for f, minimum in sorted(minimums.items(), key=lambda kv: kv[0].value):
        mine = [c for c in items if c.field == f and c.cost <= rules.budget]
        offered = sum(c.cost for c in mine)
        if offered < minimum:
            raise SelectionInfeasible(
                f"usulan bidang {f.value} hanya berjumlah {rupiah(offered)}, kurang dari minimum {rupiah(minimum)}",
                "field_minimums",
            )
        by_agency: dict[str, int] = {}
        for c in mine:
            by_agency[c.agency_code] = by_agency.get(c.agency_code, 0) + c.cost
        reachable = sum(min(total, rules.agency_ceilings.get(a, total)) for a, total in by_agency.items())
        if reachable < minimum:
            raise SelectionInfeasible(
                f"dengan plafon dinas, bidang {f.value} paling banyak mendapat {rupiah(reachable)}, kurang dari minimum "
                f"{rupiah(minimum)}",
                "field_minimums",
            )


def _minimums_text(rules: SelectionRules) -> str:
    parts = [f"{f.value} {rupiah(m)}" for f, m in sorted(rules.field_minimums.items(), key=lambda kv: kv[0].value) if m > 0]
    return "minimum " + ", ".join(parts) if parts else "tanpa minimum bidang"


# -- reasons --------------------------------------------------------------------------------------------------
def _forced_reason(c: Candidate, items: Sequence[Candidate], rules: SelectionRules, chosen: set[str],
                   by_id: Mapping[str, Candidate], total_score: float) -> str:
    index = next(i for i, item in enumerate(items) if item.proposal_id == c.proposal_id)
    x = _solve(items, rules, forced=index)
    if x is None:
        return (f"tidak terpilih: dengan usulan ini, aturan forum tidak dapat dipenuhi ({_minimums_text(rules)}, "
                f"pagu {rupiah(rules.budget)}, plafon dinas)")
    alternative = {item.proposal_id for item, on in zip(items, x, strict=True) if on}
    dropped = sorted(chosen - alternative)
    added = sorted(alternative - chosen - {c.proposal_id})
    loss = total_score - _total(by_id[i] for i in alternative)
    if loss < 0.005:
        return ("tidak terpilih: sama baiknya dengan pilihan forum (skor total tetap), tetapi biaya totalnya lebih besar")
    text = f"tidak terpilih: untuk memasukkannya, forum harus melepas {', '.join(dropped) or '-'}"
    if added:
        text += f" dan menggantinya dengan {', '.join(added)}"
    return text + f" (skor total turun {loss:.2f})"


def _lp_loss_bounds(items: Sequence[Candidate], rules: SelectionRules, total_score: float) -> dict[str, float] | None:
    """For each candidate, a lower bound on the score lost by forcing it in: S* - (LP* + d_i), with d_i its reduced
    cost in the LP relaxation (valid for candidates the LP leaves below 1; the others get no bound)."""
    matrix, lows, highs, _ = _rows(items, rules)
    matrix, lows, highs = matrix / rules.budget, lows / rules.budget, highs / rules.budget
    a_ub = np.vstack([matrix[np.isfinite(highs)], -matrix[np.isfinite(lows)]])
    b_ub = np.concatenate([highs[np.isfinite(highs)], -lows[np.isfinite(lows)]])
    score = np.array([_q(c.score) for c in items], dtype=float) / 100
    lp = linprog(-score, A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method="highs")
    if lp.status != 0:
        return None
    duals = -np.asarray(lp.ineqlin.marginals)
    reduced = score - a_ub.T @ duals
    lp_value = -lp.fun
    return {
        c.proposal_id: float(total_score - lp_value - reduced[i])
        for i, c in enumerate(items)
        if lp.x[i] < 1 - 1e-9
    }


def _per_billion(ratio_hundredths_per_rupiah: float) -> str:
    return f"{ratio_hundredths_per_rupiah / 100 * 1e9:.2f} poin"
