"""Malta end to end through the command line, cold (from the .pbf) and warm (from the cache).

    .venv/bin/python benchmarks/bench_e2e.py [--cold-repeats 3] [--warm-repeats 5]

Each run is a fresh process of

    .venv/bin/circles run --osm malta-2018.osm.pbf --origins nodes --tables-only \
        --categories market,pharmacy,clinic,elder_care,food_drink --no-cache --out TMP

timed from start to exit (wall clock), writing ``TMP/reach.parquet``. Cold uses
``--no-cache``: the .pbf is parsed every time. Warm uses ``--cache-dir TMPCACHE`` after one
untimed priming run that fills it; every timed warm run must report ``from_cache``.
Before the cold runs one untimed run makes sure numba's compiled kernels are on disk (they
are compiled once per install, not per run); the cost of that first run after an install
is measured once on its own, with an empty ``NUMBA_CACHE_DIR``.

The peers' own cold command runs beside ours: a new process that imports pyrosm and
pandana, loads the walking network with ``get_network(network_type="walking",
nodes=True)`` (the node and edge tables pandana needs), then builds pandana's network
(``Network`` + ``precompute(1000)``) and makes the same 15 flat-sum ``aggregate`` queries as
in bench_engine.py, on the same POIs (our 1,056, handed over in a file before the clock
starts). It finds no POIs of its own and writes no table, so it does less than ours.
Each run has an empty temp dir, so pyrosm's result cache starts empty.

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
    CATEGORIES,
    MALTA,
    ROOT,
    THRESHOLDS,
    CpuShare,
    base_arg_parser,
    load_city,
    log,
    write_json,
)

CLI = Path(sys.executable).with_name("circles")


def command(osm: Path, out: Path, cache: Path | None, config: Path | None = None) -> list[str]:
    cmd = [str(CLI), "run"]
    if config is not None:
        cmd.append(str(config))
    cmd += [
        "--osm",
        str(osm),
        "--origins",
        "nodes",
        "--tables-only",
        "--categories",
        ",".join(CATEGORIES),
    ]
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


def series(label: str, cmds, repeats: int, tmp: Path, expect_cache: bool | None) -> dict:
    walls, steps, last = [], [], None
    misses = 0
    for r in range(repeats):
        for attempt in range(3):
            out = tmp / f"{label}-{r}-{attempt}"
            wall, summary = run_once(cmds(out), out)
            if summary["from_cache"] == expect_cache:
                break
            # The cache key holds a digest of circles' code: an edit to it between the
            # priming run and this one makes a miss, which fills the cache again.
            misses += 1
            log(f"{label} run {r + 1}: from_cache is {summary['from_cache']}; run again")
        else:
            raise RuntimeError(f"{label}: from_cache stayed {summary['from_cache']}")
        walls.append(wall)
        steps.append(summary["timings_s"])
        last = summary
        log(f"{label} run {r + 1}: {wall:.2f} s  {summary['timings_s']}")
    keys = sorted({k for s in steps for k in s})
    return {
        "wall_s": statistics.median(walls),
        "runs": walls,
        "steps_median_s": {k: statistics.median(s.get(k, 0.0) for s in steps) for k in keys},
        "rows": last["_rows"],
        "columns": last["_columns"],
        "categories_computed": last["categories"],
        "origins": last["inputs"].get("origins"),
        "runs_discarded": misses,
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
    for ci, cat in enumerate(CATEGORIES):
        m = given["cat"] == ci
        ids = pnet.get_node_ids(pd.Series(given["lon"][m]), pd.Series(given["lat"][m]))
        pnet.set(ids, name=cat)
        for d in THRESHOLDS:
            pnet.aggregate(d, type="sum", decay="flat", name=cat)
    print(json.dumps({"nodes": len(nodes), "edges": len(edges)}))


def bench_peer_cold(osm: Path, repeats: int, tmp: Path) -> dict:
    """Time the peers' cold command from process start to exit, median of ``repeats``."""
    import pyproj

    city = load_city(osm)
    to_geo = pyproj.Transformer.from_crs(city.network.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_geo.transform(city.svc_x, city.svc_y)
    pois = tmp / "pois.npz"
    np.savez(pois, lon=lon, lat=lat, cat=city.svc_cat)
    walls, shape = [], {}
    for r in range(repeats):
        with tempfile.TemporaryDirectory(prefix="pyrosm-cold-") as empty:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, __file__, "--peer-child", str(osm), str(pois)],
                capture_output=True,
                text=True,
                env={**os.environ, "TMPDIR": empty},
            )
            wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"peer command failed:\n{proc.stderr[-2000:]}")
        shape = json.loads(proc.stdout.strip().splitlines()[-1])
        walls.append(wall)
        log(f"peers' cold command run {r + 1}: {wall:.2f} s")
    return {"wall_s": statistics.median(walls), "runs": walls, "pois": len(city.svc_x), **shape}


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
    with tempfile.TemporaryDirectory(prefix="circles-bench-") as tmp_name:
        tmp = Path(tmp_name)
        log("untimed run (numba kernels on disk)")
        run_once(command(osm, tmp / "prime", None), tmp / "prime")

        result["cold"] = series(
            "cold", lambda out: command(osm, out, None), args.cold_repeats, tmp, False
        )
        if args.peer_repeats:
            result["peer_cold"] = bench_peer_cold(osm, args.peer_repeats, tmp)
        cache = tmp / "cache"
        log("priming the cache (untimed)")
        run_once(command(osm, tmp / "warm-prime", cache), tmp / "warm-prime")
        result["warm"] = series(
            "warm", lambda out: command(osm, out, cache), args.warm_repeats, tmp, True
        )

        # The command asks for 5 categories; if the study's standard adds its own, time the
        # same runs with no standard too, to show what the 5 categories alone cost.
        if len(result["cold"]["categories_computed"]) != len(CATEGORIES):
            cfg = tmp / "no-standard.yaml"
            cfg.write_text("name: malta-2018\nstandard: null\n")
            log(
                f"{len(result['cold']['categories_computed'])} categories computed; "
                "timing the same with standard: null"
            )
            result["cold_no_standard"] = series(
                "cold-nostd",
                lambda out: command(osm, out, None, cfg),
                args.cold_repeats,
                tmp,
                False,
            )
            cache2 = tmp / "cache2"
            run_once(command(osm, tmp / "warm-prime2", cache2, cfg), tmp / "warm-prime2")
            result["warm_no_standard"] = series(
                "warm-nostd",
                lambda out: command(osm, out, cache2, cfg),
                args.warm_repeats,
                tmp,
                True,
            )

        if not args.no_first_run:
            env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "numba-empty")}
            out = tmp / "first"
            wall, summary = run_once(command(osm, out, None), out, env)
            log(f"first run after install (empty numba cache): {wall:.2f} s")
            result["first_run_after_install_s"] = wall
            result["first_run_steps_s"] = summary["timings_s"]
    result["cpu_share"] = share.stop()
    path = write_json(args.results, "e2e", result)
    print(f"cold: {result['cold']['wall_s']:.2f} s, warm: {result['warm']['wall_s']:.2f} s")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
