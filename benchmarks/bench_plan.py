"""Where to build, on Malta: elder care within 500 m, 10 new sites, every street node a
candidate. Our greedy and exact (HiGHS) answers against spopt's MCLP on the same
coverage matrix. Prints a markdown table; run_all.py puts it in RESULTS.md.

    .venv/bin/python benchmarks/bench_plan.py [--repeat 3] [--sites 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from circles import pipeline, planning
from circles.config import study_from_dict
from circles.snap import EdgeIndex, attach_to_nodes

MALTA = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm" / "malta-2018.osm.pbf"
ITEM = planning.Item("elder_care", 500.0)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median wall time of ``repeat`` calls, and the last call's value."""
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def every_node(result: Any) -> planning.Candidates:
    """Every walking node as a candidate site."""
    net = result.network
    n = net.n_nodes
    return planning.Candidates(
        net.x,
        net.y,
        attach_to_nodes(net, np.arange(n)),
        net.osm_id.astype(str),
        np.full(n, "", dtype=object),
        np.full(n, np.nan),
    )


def spopt_mclp(cov: planning.Coverage, sites: int) -> float:
    """spopt's MCLP on our coverage matrix, existing coverage removed; its objective.

    spopt takes a dense clients x facilities cost matrix. Candidates that cover no
    needed cluster cannot help, and candidates with the same coverage set are one
    choice: both reductions are exact, and our exact solver makes the same ones.
    """
    import pulp
    from spopt.locate import MCLP

    needed = np.flatnonzero(cov.weight > 0)
    keep = planning.distinct_candidates(cov, None, needed)
    covers = cov.matrix[keep][:, needed].toarray().T  # clusters x candidates
    cost = np.where(covers, 0.0, 2.0)  # within the radius of 1 exactly where covered
    model = MCLP.from_cost_matrix(cost, cov.weight[needed], service_radius=1.0, p_facilities=sites)
    model.solve(pulp.PULP_CBC_CMD(msg=False))
    return float(pulp.value(model.problem.objective))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sites", type=int, default=10)
    args = ap.parse_args()
    n = args.sites

    study = study_from_dict({"name": "malta", "source": {"osm": str(MALTA)}})
    t0 = time.perf_counter()
    result = pipeline.run(study, tables_only=True)  # clusters and their reach, no isochrones
    t_run = time.perf_counter() - t0
    assert result.clusters is not None
    planning.plan(result, ITEM, n)  # warm-up: the engine's kernels

    # The whole library call, default candidates (street nodes near residential areas).
    t_plan, default_plan = timed(lambda: planning.plan(result, ITEM, n), args.repeat)
    t_plan_exact, exact_plan = timed(
        lambda: planning.plan(result, ITEM, n, exact=True), args.repeat
    )

    # Every street node a candidate: coverage sets, then each solver on the same matrix.
    index = EdgeIndex(result.network)
    clusters = planning.cluster_attachment(result, index)
    nearest, _ = planning.nearest_existing(result, ITEM, clusters, index)
    before = np.nan_to_num(nearest, nan=np.inf) <= ITEM.distance_m
    weight = np.nan_to_num(result.clusters["population"].to_numpy(float))
    candidates = every_node(result)

    def build() -> planning.Coverage:
        return planning.coverage_sets(result, ITEM, candidates, clusters, before, weight)

    t_cov, cov = timed(build, args.repeat)
    t_greedy, greedy = timed(lambda: planning.greedy(cov, n), args.repeat)
    t_exact, exact = timed(lambda: planning.exact_sites(cov, n), args.repeat)
    t_spopt, spopt_value = timed(lambda: spopt_mclp(cov, n), 1)
    g, e = cov.value(greedy), cov.value(exact)
    needed = int((cov.weight > 0).sum())
    useful = int(np.diff(cov.matrix.indptr).astype(bool).sum())

    print(
        f"Malta: {result.network.n_nodes:,} walking nodes, {len(result.clusters):,} clusters "
        f"({int(before.sum())} already within {ITEM.distance_m:g} m of elder care, "
        f"{needed} to cover); {ITEM.category} at {ITEM.distance_m:g} m; {n} new sites; "
        f"median of {args.repeat} runs (spopt: 1). Not timed: the run that gives the "
        f"clusters and the network ({t_run:.1f} s)."
    )
    print()
    print("| step | candidates | s | objective (residents newly covered) | target |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| `circles.plan`, greedy (whole call: attachments, coverage, solve, tables) | "
        f"{default_plan.n_candidates:,} (default) | {t_plan:.2f} | "
        f"{default_plan.greedy_value:,.0f} | ≤ 2 s |"
    )
    print(
        f"| `circles.plan(exact=True)` | {exact_plan.n_candidates:,} (default) | "
        f"{t_plan_exact:.2f} | {exact_plan.exact_value or 0:,.0f} "
        f"(greedy gap {100 * (exact_plan.gap or 0):.2f}%) | ≤ 30 s |"
    )
    print(
        f"| coverage sets (`engine.pairs_within`) | {len(candidates):,} (every node) | "
        f"{t_cov:.2f} | {cov.matrix.nnz:,} pairs; {useful:,} candidates cover someone | |"
    )
    print(
        f"| greedy on them | {len(candidates):,} | {t_greedy:.2f} | {g:,.0f} | "
        f"≤ 2 s with coverage ({t_cov + t_greedy:.2f} s) |"
    )
    print(
        f"| exact (HiGHS, `scipy.optimize.milp`) on them | {len(candidates):,} | {t_exact:.2f} | "
        f"{e:,.0f} (greedy gap {100 * (e - g) / e if e else 0:.2f}%) | ≤ 30 s with coverage "
        f"({t_cov + t_exact:.2f} s) |"
    )
    print(
        f"| spopt `MCLP` (PuLP + CBC) on the same matrix | distinct sets | {t_spopt:.2f} | "
        f"{spopt_value:,.0f} | timed beside ours |"
    )


if __name__ == "__main__":
    main()
