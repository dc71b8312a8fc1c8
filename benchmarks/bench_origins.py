"""Residents as they walk (issue 16): what the gate rule and the share of residents change.

On the bundled district (Nanjing Xinjiekou) and the Beijing Wudaokou extract, three runs
of the same study (its OSM network and services from the cache, isochrones drawn):

- *point*: today's single-point rule (``gates.rule: off``, ``reach.from_homes: false``):
  each cluster's point walks from its nearest street;
- *gates*: the cluster's point walks out of its 小区's gates (or the crossings of its
  boundary when no gate is mapped); the walls hold;
- *homes*: the default: as *gates*, and every residential building (or a 50 m cell of a
  large unbuilt cluster) walks too, weighted by its residents.

It prints, per place, the share of clusters (by their point) and of residents (homes)
reaching each category within 500 m, how the gate rule moves the nearest distances, and
the wall time of each run against the *point* run (median of ``--repeat``; target: the
default at most 1.5x).

    .venv/bin/python benchmarks/bench_origins.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PLACES = {
    "Nanjing Xinjiekou (bundled)": {"config": ROOT / "configs" / "nanjing-xinjiekou.yaml"},
    "Beijing Wudaokou": {
        "config": ROOT / "configs" / "nanjing-xinjiekou.yaml",
        "osm": ROOT.parent / "shared" / "data" / "osm" / "beijing-wudaokou-2026.osm",
        "name": "wudaokou",
    },
}
RULES = {
    "point": {"gates": {"rule": "off"}, "reach": {"from_homes": False}},
    "gates": {"gates": {"rule": "auto"}, "reach": {"from_homes": False}},
    "homes": {"gates": {"rule": "auto"}, "reach": {"from_homes": True}},
}
THRESHOLD = "500m"
TARGET_RATIO = 1.5


def _study(place: dict, rule: dict):
    from circles.config import load_study

    study = load_study(place["config"])
    data = study.model_dump()
    if "osm" in place:
        data["source"] = {"osm": place["osm"]}
        data["name"] = place["name"]
        data["boundary"] = None
    for section, values in rule.items():
        data[section] = {**data[section], **values}
    from circles.config import study_from_dict

    return study_from_dict(data)


def _run(study, cache: Path):
    from circles import pipeline

    return pipeline.run(study, cache_dir=cache)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--results", type=Path, default=None, help="ignored (run_all passes it)")
    args = ap.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        for label, place in PLACES.items():
            results, times = {}, {}
            for name, rule in RULES.items():
                study = _study(place, rule)
                _run(study, cache)  # warm: the cache and the compiled kernels
                runs = []
                for _ in range(max(1, args.repeat)):
                    t0 = time.perf_counter()
                    results[name] = _run(study, cache)
                    runs.append(time.perf_counter() - t0)
                times[name] = statistics.median(runs)
            lines += _place_table(label, results, times)
    print("\n".join(lines))


def _place_table(label: str, results: dict, times: dict) -> list[str]:
    point, gates, homes = results["point"], results["gates"], results["homes"]
    s = homes.summary
    g = s["gates"]
    change = g["gate_change_m"]
    out = [
        f"**{label}**: {s['inputs']['clusters']} clusters, "
        f"{s['inputs']['population']:,.0f} residents; walks start at gates in "
        f"{g['walk_from']['gates']} 小区, at boundary crossings in {g['walk_from']['crossings']}, "
        f"at the cluster's point in {g['walk_from']['point']} ({g['ungated_compounds']} 小区 "
        f"without a gate or crossing); {homes.clusters['origins'].sum():,} homes walk.",
        f"Gate rule against the single-point rule, median change of a walled cluster's nearest "
        f"distance: median {change['median']} m, 90th percentile {change['p90']} m, largest "
        f"{change['max']} m; {change['over_100m']} of {change['clusters']} clusters walk more "
        "than 100 m farther.",
        "",
        "| category | clusters by point, single-point rule | clusters by point, gate rule "
        "| residents (every home), gate rule |",
        "|---|---|---|---|",
    ]
    for key in homes.summary["categories"]:
        a = point.summary["coverage"][key][THRESHOLD]
        b = gates.summary["coverage"][key][THRESHOLD]
        c = homes.summary["coverage_residents"][key][THRESHOLD]
        if a is None:
            continue
        out.append(f"| {key} | {a:.0%} | {b:.0%} | {c:.0%} |")
    base = times["point"]
    out += [
        "",
        f"Within {THRESHOLD}. Wall time of a warm run (cache, isochrones drawn; median): "
        f"point {base:.2f} s, gates {times['gates']:.2f} s ({times['gates'] / base:.2f}x), "
        f"homes {times['homes']:.2f} s ({times['homes'] / base:.2f}x; target at most "
        f"{TARGET_RATIO}x: {'PASS' if times['homes'] / base <= TARGET_RATIO else 'FAIL'}).",
        "",
    ]
    return out


if __name__ == "__main__":
    main()
