"""Malta end to end through the command line, cold (from the .pbf) and warm (from the cache).

    .venv/bin/python benchmarks/bench_e2e.py [--cold-repeats 3] [--warm-repeats 5]

Each run is a fresh process of the command a user types, with the default categories
(every category the catalogue measures by default, as a plain run does):

    .venv/bin/circles run --osm malta-2018.osm.pbf --origins nodes --tables-only \
        --out TMP

timed from start to exit (wall clock), writing ``TMP/reach.parquet``. Cold adds
``--no-cache``: the .pbf is parsed every time. Warm adds ``--cache-dir TMPCACHE`` (the
cache a user has in ``~/.cache/circles``, kept apart) after one untimed priming run that
fills it; every timed warm run must report ``from_cache``. Before the runs, circles'
modules are compiled to bytecode, as a user's Python leaves them after the first import
(an environment with ``PYTHONDONTWRITEBYTECODE`` would otherwise compile them in every
run), and one untimed run makes sure numba's compiled kernels are on disk (``make setup``
compiles them); what that compile costs, and the first run after it, are measured once on
their own with an empty ``NUMBA_CACHE_DIR``, beside a first run that compiles them itself.

The peers' own cold command runs beside ours: a new process that imports pyrosm and
pandana, loads the walking network with ``get_network(network_type="walking",
nodes=True)`` (the node and edge tables pandana needs), then builds pandana's network
(``Network`` + ``precompute(1000)``) and makes one flat-sum ``aggregate`` query per
category and threshold, for the same categories as ours, on the same POIs (ours, handed
over in a file before the clock starts). It finds no POIs of its own, computes no nearest
distance and writes no table, so it does less than ours. Each run has an empty temp dir,
so pyrosm's result cache starts empty. ``warm_vs_peers`` is the warm median over the
peers' median (issue 17: at most 0.10).

Writes ``e2e.json`` into the results folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from common import (
    MALTA,
    ROOT,
    TARGET_WARM_VS_PEERS,
    THRESHOLDS,
    CpuShare,
    base_arg_parser,
    default_categories,
    load_city,
    log,
    write_json,
)

CLI = Path(sys.executable).with_name("circles")


def command(osm: Path, out: Path, cache: Path | None) -> list[str]:
    cmd = [str(CLI), "run", "--osm", str(osm), "--origins", "nodes", "--tables-only"]
    cmd += ["--no-cache"] if cache is None else ["--cache-dir", str(cache)]
    return [*cmd, "--out", str(out)]


def run_once(cmd: list[str], out: Path, env: dict | None = None) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    table = pq.read_metadata(out / "reach.parquet")
    summary["_rows"] = table.num_rows
    summary["_columns"] = table.num_columns
    return wall, summary


class Series:
    """The timed runs of one command, started one at a time (rounds interleave them)."""

    def __init__(self, label: str, cmds, tmp: Path, expect_cache: bool) -> None:
        self.label, self.cmds, self.tmp, self.expect_cache = label, cmds, tmp, expect_cache
        self.walls: list[float] = []
        self.steps: list[dict] = []
        self.last: dict = {}
        self.misses = 0

    def run(self) -> None:
        r = len(self.walls)
        for attempt in range(3):
            out = self.tmp / f"{self.label}-{r}-{attempt}"
            wall, summary = run_once(self.cmds(out), out)
            if summary["from_cache"] == self.expect_cache:
                break
            # The cache key holds a digest of circles' code: an edit to it between the
            # priming run and this one makes a miss, which fills the cache again.
            self.misses += 1
            log(f"{self.label} run {r + 1}: from_cache is {summary['from_cache']}; run again")
        else:
            raise RuntimeError(f"{self.label}: from_cache stayed {summary['from_cache']}")
        self.walls.append(wall)
        self.steps.append(summary["timings_s"])
        self.last = summary
        log(f"{self.label} run {r + 1}: {wall:.2f} s  {summary['timings_s']}")

    def result(self) -> dict:
        keys = sorted({k for s in self.steps for k in s})
        return {
            "wall_s": statistics.median(self.walls),
            "runs": self.walls,
            "steps_median_s": {
                k: statistics.median(s.get(k, 0.0) for s in self.steps) for k in keys
            },
            "rows": self.last["_rows"],
            "columns": self.last["_columns"],
            "categories_computed": self.last["categories"],
            "origins": self.last["inputs"].get("origins"),
            "runs_discarded": self.misses,
        }


def peer_child(osm: Path, pois: Path) -> None:
    """The peers' cold command (run as a new process; see the module's docstring)."""
    import pandana
    import pandas as pd
    import pyrosm

    nodes, edges = pyrosm.OSM(str(osm)).get_network(network_type="walking", nodes=True)
    nodes = nodes.set_index("id")
    pnet = pandana.Network(
        nodes["lon"], nodes["lat"], edges["u"], edges["v"], edges[["length"]], twoway=True
    )
    pnet.precompute(float(max(THRESHOLDS)))
    given = np.load(pois)
    for ci, cat in enumerate(given["names"].tolist()):
        m = given["cat"] == ci
        ids = pnet.get_node_ids(pd.Series(given["lon"][m]), pd.Series(given["lat"][m]))
        pnet.set(ids, name=cat)
        for d in THRESHOLDS:
            pnet.aggregate(d, type="sum", decay="flat", name=cat)
    print(json.dumps({"nodes": len(nodes), "edges": len(edges)}))


class PeerSeries:
    """The peers' cold command, timed from process start to exit, one run at a time."""

    def __init__(self, osm: Path, categories: list[str], tmp: Path) -> None:
        import pyproj

        city = load_city(osm, categories)
        to_geo = pyproj.Transformer.from_crs(city.network.crs, "EPSG:4326", always_xy=True)
        lon, lat = to_geo.transform(city.svc_x, city.svc_y)
        self.pois = tmp / "pois.npz"
        np.savez(self.pois, lon=lon, lat=lat, cat=city.svc_cat, names=np.array(categories))
        self.osm, self.categories, self.n_pois = osm, categories, len(city.svc_x)
        self.walls: list[float] = []
        self.shape: dict = {}

    def run(self) -> None:
        with tempfile.TemporaryDirectory(prefix="pyrosm-cold-") as empty:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, __file__, "--peer-child", str(self.osm), str(self.pois)],
                capture_output=True,
                text=True,
                env={**os.environ, "TMPDIR": empty},
            )
            wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"peer command failed:\n{proc.stderr[-2000:]}")
        self.shape = json.loads(proc.stdout.strip().splitlines()[-1])
        self.walls.append(wall)
        log(f"peers' cold command run {len(self.walls)}: {wall:.2f} s")

    def result(self) -> dict:
        return {
            "wall_s": statistics.median(self.walls),
            "runs": self.walls,
            "pois": self.n_pois,
            "categories": self.categories,
            "aggregate_calls": len(self.categories) * len(THRESHOLDS),
            **self.shape,
        }


def rounds(plan: list[tuple[object, int]]) -> None:
    """Run the series in interleaved rounds (one run of each per round, while it has runs
    left), so that a busy moment on a shared machine falls on all of them alike."""
    for r in range(max((n for _, n in plan), default=0)):
        for series, n in plan:
            if r < n:
                series.run()  # type: ignore[attr-defined]


def first_runs(osm: Path, tmp: Path) -> dict:
    """The first run after an install, with ``make setup``'s compile and without it.

    Each side has its own empty ``NUMBA_CACHE_DIR``, as a new install has an empty cache.
    """
    setup_env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "numba-setup")}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "circles._compile"], check=True, env=setup_env, cwd=ROOT)
    compile_s = time.perf_counter() - t0
    out = tmp / "first-after-setup"
    after_s, after = run_once(command(osm, out, None), out, setup_env)
    bare_env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "numba-bare")}
    out = tmp / "first-bare"
    bare_s, bare = run_once(command(osm, out, None), out, bare_env)
    log(
        f"make setup's compile {compile_s:.2f} s, then the first run {after_s:.2f} s; "
        f"a first run that compiles {bare_s:.2f} s"
    )
    return {
        "compile_kernels_s": compile_s,
        "first_run_after_setup_s": after_s,
        "first_run_after_setup_steps_s": after["timings_s"],
        "first_run_compiling_s": bare_s,
        "first_run_compiling_steps_s": bare["timings_s"],
    }


def main() -> None:
    ap = base_arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--osm", type=Path, default=MALTA)
    ap.add_argument("--peer-repeats", type=int, default=3)
    ap.add_argument("--peer-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cold-repeats", type=int, default=3)
    ap.add_argument("--warm-repeats", type=int, default=5)
    ap.add_argument(
        "--no-first-run", action="store_true", help="skip the first-run-after-install timing"
    )
    args = ap.parse_args()
    if args.peer_child:
        peer_child(*args.peer_child)
        return
    osm = args.osm.resolve()
    share = CpuShare()
    shown = [
        os.path.relpath(a, ROOT) if a.startswith("/") else a
        for a in command(osm, Path("TMP"), None)
    ]
    result: dict = {"osm": str(osm), "command": " ".join(shown)}
    categories = default_categories()
    result["categories"] = categories
    with tempfile.TemporaryDirectory(prefix="circles-bench-") as tmp_name:
        tmp = Path(tmp_name)
        # The bytecode a user's Python writes at the first import: an environment that
        # forbids writing it (PYTHONDONTWRITEBYTECODE) would compile circles in every run.
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "circles", "cli.py"], cwd=ROOT, check=True
        )
        log("untimed run (numba kernels on disk)")
        _, primed = run_once(command(osm, tmp / "prime", None), tmp / "prime")
        if sorted(primed["categories"]) != sorted(categories):
            raise RuntimeError(
                f"the plain command measured {primed['categories']}, not the default "
                f"categories {categories}: the peers would not do the same"
            )
        cache = tmp / "cache"
        log("priming the cache (untimed)")
        run_once(command(osm, tmp / "warm-prime", cache), tmp / "warm-prime")
        cold = Series("cold", lambda out: command(osm, out, None), tmp, False)
        warm = Series("warm", lambda out: command(osm, out, cache), tmp, True)
        plan: list[tuple[object, int]] = [(cold, args.cold_repeats), (warm, args.warm_repeats)]
        peers = None
        if args.peer_repeats:
            peers = PeerSeries(osm, categories, tmp)
            plan.append((peers, args.peer_repeats))
        rounds(plan)
        result["cold"], result["warm"] = cold.result(), warm.result()
        if peers is not None:
            result["peer_cold"] = peers.result()
            ref = result["peer_cold"]["wall_s"]
            result["cold_vs_peers"] = result["cold"]["wall_s"] / ref
            result["warm_vs_peers"] = result["warm"]["wall_s"] / ref
            result["target_warm_vs_peers"] = TARGET_WARM_VS_PEERS
        if not args.no_first_run:
            result["first_run"] = first_runs(osm, tmp)
    result["cpu_share"] = share.stop()
    path = write_json(args.results, "e2e", result)
    print(f"cold: {result['cold']['wall_s']:.2f} s, warm: {result['warm']['wall_s']:.2f} s")
    if "warm_vs_peers" in result:
        print(
            f"peers: {result['peer_cold']['wall_s']:.2f} s; warm / peers "
            f"{result['warm_vs_peers']:.3f} (target <= {TARGET_WARM_VS_PEERS:.2f})"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
