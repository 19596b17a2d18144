"""Times the kecamatan forum's selection on large random instances (not a test: run it directly).

    .venv/bin/python services/musrenbang/tests/unit/bench_selection.py [n] [seeds]

`optimise` is the proven-optimal solve alone; `select` adds a reason for every candidate (exact re-solves for the
10 best-scoring unselected, an LP bound for the rest); `greedy_by_score` is the baseline. The instance: n
proposals from the Jakarta catalogue with log-normal volumes (about Rp 200 million typical, at most Rp 2 billion),
scores uniform 5-95, a pagu of an eighth of the total asked, minimums for ekonomi (10 %) and sosial budaya (20 %)
of the pagu, ceilings for DSDA and DBM (25 % each). Wall and CPU time are both shown: on a shared machine the
wall time includes waiting for a core.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

from kota_musrenbang.domain.catalog import JAKARTA_ACTIVITIES, Field
from kota_musrenbang.domain.selection import Candidate, SelectionRules, greedy_by_score, optimise, select


def instance(n: int, seed: int) -> tuple[list[Candidate], SelectionRules]:
    rng = random.Random(seed)
    candidates = []
    for i in range(n):
        activity = rng.choice(JAKARTA_ACTIVITIES)
        volume = max(1, int(rng.lognormvariate(0, 1) * 200_000_000 / activity.unit_cost))
        volume = min(volume, max(1, 2_000_000_000 // activity.unit_cost))
        candidates.append(Candidate(f"P-{i:05d}", volume * activity.unit_cost, round(rng.uniform(5, 95), 2), activity.field,
                                    activity.agency_code))
    budget = sum(c.cost for c in candidates) // 8
    rules = SelectionRules(budget, {Field.EKONOMI: budget // 10, Field.SOSIAL_BUDAYA: budget // 5},
                           {"DSDA": budget // 4, "DBM": budget // 4})
    return candidates, rules


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    timings: dict[str, list[float]] = {"optimise": [], "select": [], "greedy": []}
    cpu: dict[str, list[float]] = {name: [] for name in timings}
    for seed in range(seeds):
        candidates, rules = instance(n, seed)
        for name, run in (("optimise", optimise), ("select", select), ("greedy", greedy_by_score)):
            started, started_cpu = time.perf_counter(), time.process_time()
            result = run(candidates, rules)
            timings[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
            if name == "optimise":
                best = result.total_score
            if name == "greedy":
                print(f"seed {seed}: optimum {best:.2f}, greedy {result.total_score:.2f} ({result.status})")
    for name, values in timings.items():
        print(f"{name:9} n={n}: wall median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms; "
              f"CPU median {statistics.median(cpu[name]) * 1000:.0f} ms, max {max(cpu[name]) * 1000:.0f} ms "
              f"over {len(values)} instances")


if __name__ == "__main__":
    main()
