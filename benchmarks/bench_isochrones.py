"""Isochrones for 1,000 origins at 300/500/1000 m on Malta: the faithful method against the
convex and concave hulls. Prints a markdown table; run_all.py puts it in RESULTS.md.

    .venv/bin/python benchmarks/bench_isochrones.py [--origins 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import shapely

from circles.isochrones import isochrone_polygons
from circles.network import build_network
from circles.snap import EdgeIndex
from circles.sources.osm_file import read_osm_file

MALTA = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm" / "malta-2018.osm.pbf"
THRESHOLDS = [300.0, 500.0, 1000.0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--origins", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    net = build_network(read_osm_file(MALTA, keys=()))
    rng = np.random.default_rng(42)
    # Origins like residence points: random places near streets, snapped to the nearest edge.
    pick = rng.choice(net.n_nodes, args.origins, replace=False)
    x = net.x[pick] + rng.uniform(-40, 40, args.origins)
    y = net.y[pick] + rng.uniform(-40, 40, args.origins)
    att = EdgeIndex(net).attach(x, y, 300.0)
    isochrone_polygons(net, att.subset(np.arange(len(att)) < 8), THRESHOLDS, 25.0)  # warm-up

    rows = []
    for method in ("network", "concave", "convex"):
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            polys = isochrone_polygons(net, att, THRESHOLDS, 25.0, method=method)
            times.append(time.perf_counter() - t0)
        big = np.array([shapely.area(p[-1]) for p in polys if not p[-1].is_empty])
        valid = all(shapely.is_valid(g) for p in polys for g in p)
        rows.append((method, statistics.median(times), big.mean(), valid))

    faithful_area = rows[0][2]
    print(
        f"Malta: {net.n_nodes:,} nodes; {int(att.used.sum())} origins; thresholds 300/500/1000 m;"
        f" median of {args.repeat} runs, thread pool of 2"
    )
    print()
    print(
        "| method | total s | ms per origin (3 thresholds) | mean 1000 m area km² | "
        "area vs network | all valid |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for method, t, area, valid in rows:
        print(
            f"| {method} | {t:.1f} | {1000 * t / len(att):.1f} | {area / 1e6:.3f} | "
            f"{area / faithful_area:.2f}x | {valid} |"
        )


if __name__ == "__main__":
    main()
