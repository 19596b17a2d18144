"""e-Musrenbang selection benchmark: the kecamatan forum's optimal selection on a large instance.

For each seed: 2,000 random candidates in one kecamatan (an activity of the Jakarta catalogue each, so its field
and agency; a volume that makes the cost Rp 5 million to Rp 400 million; a score 0-100 in hundredths), a pagu of
a fifth of what they ask for, and rules that bind: the two fields the budget-only optimum serves least get a
minimum 1.5 times what it gave them, the three agencies it spends most on a ceiling of 60 % of it. Times

  1. `selection.optimise` (the proven-optimal solve, HiGHS through scipy.optimize.milp, mip_rel_gap 0),
  2. `selection.select` (the solve plus a reason for every candidate: `exact_reasons` re-solves and one LP),

and prints the optimal total score next to `selection.greedy_by_score`'s (the baseline, in the same run), each
rule's spend against its bound, and whether the solve stays within 1 s.

    .venv/bin/python bench/musrenbang_selection.py [--candidates 2000] [--seeds 5] [--repeat 3] [--select-repeat 1]
        [--exact-reasons 10]

Never run as a test.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from kota_musrenbang.domain import selection
from kota_musrenbang.domain.catalog import JAKARTA_ACTIVITIES, Field
from kota_musrenbang.domain.selection import Candidate, SelectionRules


def candidates(n: int, seed: int) -> list[Candidate]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = rng.choice(JAKARTA_ACTIVITIES)
        low, high = max(1, 5_000_000 // a.unit_cost), max(1, 400_000_000 // a.unit_cost)
        out.append(Candidate(proposal_id=f"U-2027-{seed:02d}{i:06d}", cost=a.unit_cost * rng.randint(low, high),
                             score=rng.randint(0, 10_000) / 100, field=a.field, agency_code=a.agency_code))
    return out


def spend(chosen: selection.Selection, items: list[Candidate]) -> tuple[dict[Field, int], dict[str, int]]:
    ids = set(chosen.selected)
    per_field: dict[Field, int] = dict.fromkeys(Field, 0)
    per_agency: dict[str, int] = {}
    for c in items:
        if c.proposal_id in ids:
            per_field[c.field] += c.cost
            per_agency[c.agency_code] = per_agency.get(c.agency_code, 0) + c.cost
    return per_field, per_agency


def binding_rules(items: list[Candidate]) -> tuple[SelectionRules, selection.Selection]:
    """Rules the budget-only optimum breaks: minimums for the two fields it serves least, ceilings for the three
    agencies it spends most on."""
    budget = sum(c.cost for c in items) // 5
    free = selection.optimise(items, SelectionRules(budget=budget))
    per_field, per_agency = spend(free, items)
    least = sorted(Field, key=lambda f: per_field[f])[:2]
    most = sorted(per_agency, key=lambda a: -per_agency[a])[:3]
    rules = SelectionRules(
        budget=budget,
        field_minimums={f: int(per_field[f] * 1.5) for f in least},
        agency_ceilings={a: int(per_agency[a] * 0.6) for a in most},
    )
    return rules, free


def timed(fn, repeat: int) -> tuple[list[float], object]:
    """Wall-clock seconds of each call (and their CPU seconds, appended to CPU)."""
    times, result = [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - t)
        CPU.append(time.process_time() - c)
    return times, result


CPU: list[float] = []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="solves timed per seed")
    parser.add_argument("--select-repeat", type=int, default=1, help="select() calls timed per seed")
    parser.add_argument("--exact-reasons", type=int, default=10)
    parser.add_argument("--limit", type=float, default=1.0, help="seconds a solve may take (the issue's target)")
    args = parser.parse_args()
    print(f"{args.candidates} candidates, {args.seeds} seeds x {args.repeat} solves; solver {selection.SOLVER}",
          flush=True)
    solve_times, select_times, cpu_times, ok = [], [], [], True
    for seed in range(1, args.seeds + 1):
        items = candidates(args.candidates, seed)
        rules, free = binding_rules(items)
        CPU.clear()
        t_opt, best = timed(lambda items=items, rules=rules: selection.optimise(items, rules), args.repeat)
        cpu_opt = list(CPU)
        t_sel, explained = timed(lambda items=items, rules=rules: selection.select(items, rules,
                                                                                     exact_reasons=args.exact_reasons),
                                 args.select_repeat)
        t_greedy, greedy = timed(lambda items=items, rules=rules: selection.greedy_by_score(items, rules), args.repeat)
        solve_times += t_opt
        select_times += t_sel
        per_field, per_agency = spend(best, items)
        same = explained.selected == best.selected and all(d.reason for d in explained.decisions.values())
        ok &= same and best.status == "optimal" and best.total_score >= greedy.total_score
        cpu_times.extend(cpu_opt)
        print(f"seed {seed}: optimise {statistics.median(t_opt) * 1000:7.1f} ms (max {max(t_opt) * 1000:7.1f}, "
              f"CPU {statistics.median(cpu_opt) * 1000:7.1f} ms)  "
              f"select {statistics.median(t_sel) * 1000:7.1f} ms  greedy {statistics.median(t_greedy) * 1000:5.1f} ms  "
              f"status {best.status}  chosen {len(best.selected)}  score optimal {best.total_score:9.2f}  "
              f"greedy {greedy.total_score:9.2f} ({greedy.status}, {best.total_score - greedy.total_score:+.2f})  "
              f"budget-only optimum {free.total_score:9.2f}", flush=True)
        rules_text = [f"pagu {best.total_cost / rules.budget:.1%}"]
        rules_text += [f"min {f.value} {per_field[f] / m:.2f}x" for f, m in rules.field_minimums.items()]
        rules_text += [f"max {a} {per_agency.get(a, 0) / m:.1%}" for a, m in rules.agency_ceilings.items()]
        print(f"        spend against bound: {', '.join(rules_text)}; select's selection the same: {same}", flush=True)
    median, worst = statistics.median(solve_times), max(solve_times)
    print(f"optimise: median {median * 1000:.1f} ms, max {worst * 1000:.1f} ms over {len(solve_times)} solves "
          f"(CPU median {statistics.median(cpu_times) * 1000:.1f} ms, max {max(cpu_times) * 1000:.1f} ms); "
          f"select (with reasons): median {statistics.median(select_times) * 1000:.1f} ms, "
          f"max {max(select_times) * 1000:.1f} ms")
    print(f"target: solve <= {args.limit:.1f} s: {'holds' if worst <= args.limit else 'NOT met'} (max {worst:.3f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
