"""Scale: generated grid cities of 10k to 1M nodes, and a threshold sweep at 100k nodes.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 10000,100000,300000,1000000]

A grid city is a square lattice of nodes 50 m apart with an edge between 4-neighbours
(``circles.network.from_arrays``). Services are 2% of the node count (20,000 for 1M),
each on a random edge at a random offset, in 5 categories at random (fixed seed); every
node is an origin. Each size runs in its own process, which reports the wall time of
``engine.reach`` (300/500/1000 m and the nearest; median of a few runs), the same with
the nearest search switched off (the counts alone), the fixed part of a call (thresholds
of a few metres, no nearest), the time to build the graph, and its
peak memory (``ru_maxrss``: the whole process, graph included), and the mean number of
nodes a search settles within the largest threshold (the ball, from 200 services).

The sweep at 100k nodes runs one threshold at a time (500, 1000, 2000 m), with its ball.

Writes ``scale.json`` into the results folder.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import CpuShare, base_arg_parser, log, timed_runs, write_json

SPACING_M = 50.0
SERVICE_SHARE = 0.02
N_CATEGORIES = 5
SIZE_THRESHOLDS = [300, 500, 1000]


def grid_city(n_target: int, seed: int = 0):
    """A square lattice of about ``n_target`` nodes, and its services on random edges."""
    from circles import engine
    from circles.network import from_arrays

    side = int(round(np.sqrt(n_target)))
    ids = np.arange(side * side, dtype=np.int64).reshape(side, side)
    row, col = np.divmod(ids.ravel(), side)
    # Somewhere in UTM zone 50N, so that lon/lat are real places.
    x = 400_000.0 + col * SPACING_M
    y = 3_500_000.0 + row * SPACING_M
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    net = from_arrays(x, y, u, v, "EPSG:32650")
    rng = np.random.default_rng(seed)
    n_svc = int(round(SERVICE_SHARE * net.n_nodes))
    edge = rng.integers(0, net.n_edges, n_svc)
    offset = rng.uniform(0.0, 1.0, n_svc) * net.edge_len[edge]
    services = engine.Points(edge, offset, np.zeros(n_svc))
    category = rng.integers(0, N_CATEGORIES, n_svc)
    return net, services, category


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _warm_up() -> None:
    """Load numba's compiled kernels on a tiny graph, so no run below pays for it."""
    from circles import engine

    net, svc, cat = grid_city(400)
    o = engine.Points(np.arange(10), np.zeros(10), np.zeros(10))
    engine.reach(net.graph, o, svc, cat, N_CATEGORIES, [100.0, 200.0])
    engine.reach(net.graph, svc, o, np.zeros(len(o), np.int64), 1, [100.0])


def _mean_ball(net, services, limit: float, n: int = 200) -> float:
    """Mean number of nodes a search from a service settles within ``limit``."""
    from circles import engine

    g, (s_node,) = engine.augment(net.graph, services)
    indptr, indices, weights, _ = engine.to_csr(g.n_nodes, g.edge_u, g.edge_v, g.edge_len)
    sizes = [len(engine.ball(indptr, indices, weights, [s], [0.0], limit)[0]) for s in s_node[:n]]
    return float(np.mean(sizes))


def child(n_target: int, thresholds: list[float], repeats: int, sweep: bool) -> dict:
    from circles import engine
    from circles.snap import attach_to_nodes

    _warm_up()
    t0 = time.perf_counter()
    net, services, category = grid_city(n_target)
    build_s = time.perf_counter() - t0
    att = attach_to_nodes(net, np.arange(net.n_nodes))
    origins = engine.Points(att.edge, att.offset, att.snap_m)
    rss_before = _rss_mb()
    out: dict = {
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "services": len(services),
        "build_s": build_s,
        "rss_before_reach_mb": rss_before,
    }

    def run(thr, limit=np.inf):
        return engine.reach(
            net.graph, origins, services, category, N_CATEGORIES, thr, nearest_limit_m=limit
        )

    def fixed_part(n_thr: int) -> float:
        """The part of a call that does not depend on the threshold (splitting edges, the
        CSR, the result arrays, the passes over the origins): thresholds of a few metres."""
        tiny = [1.0 + i for i in range(n_thr)]
        return timed_runs(lambda: run(tiny, 0.0), repeats)[0]

    if not sweep:
        med, times, res = timed_runs(lambda: run(thresholds), repeats)
        out.update(thresholds_m=thresholds, reach_s=med, reach_runs=times)
        # Counts alone: a nearest search bounded at 0 m does (almost) nothing.
        med0, times0, _ = timed_runs(lambda: run(thresholds, 0.0), repeats)
        out.update(counts_only_s=med0, counts_only_runs=times0)
        out["fixed_s"] = fixed_part(len(thresholds))
        out["mean_services_within_max"] = float(res.counts[:, :, -1].sum(axis=1).mean())
        out["mean_ball_nodes"] = _mean_ball(net, services, max(thresholds))
    else:
        out["fixed_s"] = fixed_part(1)
        rows = []
        for t in thresholds:
            med, times, _ = timed_runs(lambda t=t: run([t]), repeats)
            med0, times0, _ = timed_runs(lambda t=t: run([t], 0.0), repeats)
            ball = _mean_ball(net, services, t)
            rows.append(
                {
                    "threshold_m": t,
                    "reach_s": med,
                    "reach_runs": times,
                    "counts_only_s": med0,
                    "counts_only_runs": times0,
                    "mean_ball_nodes": ball,
                }
            )
            log(
                f"  sweep {t:g} m: reach {med:.3f} s, counts only {med0:.3f} s, "
                f"ball {ball:.0f} nodes"
            )
        out["sweep"] = rows
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def spawn(results: Path, args: list[str]) -> dict:
    """Run one size in a fresh process; it prints its JSON on the last line of stdout."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    sys.stderr.write(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = base_arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,300000,1000000")
    ap.add_argument("--repeats", type=int, default=5, help="runs per size up to 300k (median)")
    ap.add_argument("--big-repeats", type=int, default=1, help="runs for sizes above 300k")
    ap.add_argument("--sweep-nodes", type=int, default=100_000)
    ap.add_argument("--sweep", default="500,1000,2000", help="thresholds (m); empty: none")
    ap.add_argument("--sweep-repeats", type=int, default=5, help="runs per sweep threshold")
    ap.add_argument("--child", action="store_true", help=argparse_hidden())
    ap.add_argument("--nodes", type=int, default=0, help=argparse_hidden())
    ap.add_argument("--thresholds", default="", help=argparse_hidden())
    ap.add_argument("--sweep-mode", action="store_true", help=argparse_hidden())
    args = ap.parse_args()

    if args.child:
        thr = [float(t) for t in args.thresholds.split(",")]
        out = child(args.nodes, thr, args.repeats, args.sweep_mode)
        print(json.dumps(out))
        return

    share = CpuShare()
    sizes = []
    for n in (int(s) for s in args.sizes.split(",") if s):
        reps = args.repeats if n <= 300_000 else args.big_repeats
        log(f"grid city of {n:,} nodes ({reps} runs)")
        row = spawn(
            args.results,
            [
                "--nodes",
                str(n),
                "--thresholds",
                ",".join(map(str, SIZE_THRESHOLDS)),
                "--repeats",
                str(reps),
            ],
        )
        log(
            f"  {row['nodes']:,} nodes, {row['edges']:,} edges, {row['services']:,} services: "
            f"reach {row['reach_s']:.3f} s (counts only {row['counts_only_s']:.3f} s), "
            f"peak {row['peak_rss_mb']:.0f} MB"
        )
        sizes.append(row)
    sweep = None
    if args.sweep:
        log(f"threshold sweep at {args.sweep_nodes:,} nodes: {args.sweep} m")
        sweep = spawn(
            args.results,
            [
                "--nodes",
                str(args.sweep_nodes),
                "--thresholds",
                args.sweep,
                "--repeats",
                str(args.sweep_repeats),
                "--sweep-mode",
            ],
        )
    result = {
        "spacing_m": SPACING_M,
        "service_share": SERVICE_SHARE,
        "categories": N_CATEGORIES,
        "thresholds_m": SIZE_THRESHOLDS,
        "repeats": {
            "up_to_300k": args.repeats,
            "above_300k": args.big_repeats,
            "sweep": args.sweep_repeats,
        },
        "sizes": sizes,
        "sweep": sweep,
        "cpu_share": share.stop(),
    }
    path = write_json(args.results, "scale", result)
    print(f"wrote {path}")


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
