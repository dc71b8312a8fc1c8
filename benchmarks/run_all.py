"""Run every benchmark and write benchmarks/RESULTS.md (what `make bench` does).

    .venv/bin/python benchmarks/run_all.py            # full run, about 5-10 minutes
    .venv/bin/python benchmarks/run_all.py --quick    # small repeat counts, to check scripts
    .venv/bin/python benchmarks/run_all.py --render   # rewrite RESULTS.md from the JSON

Each benchmark runs in its own process and leaves its numbers in the results folder
(``engine.json``, ``e2e.json``, ``scale.json``, ``run.json``); RESULTS.md is rendered from
them. ``--quick`` writes to a temporary folder and prints RESULTS.md instead of replacing it
unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    BENCH_DIR,
    DEFAULT_RESULTS,
    TARGET_1M_MB,
    TARGET_COLD_SHARE,
    TARGET_VS_CITYSEER,
    TARGET_VS_PANDANA,
    TARGET_WARM_S,
    TARGET_WARM_VS_PEERS,
    THRESHOLDS,
    CpuShare,
    log,
    machine_info,
    md_table,
    read_json,
    write_json,
)

RESULTS_MD = BENCH_DIR / "RESULTS.md"
BENCHES = ("engine", "e2e", "scale", "isochrones", "plan", "tables", "origins", "dossiers")
# Benchmarks that print a Markdown table of their own; run_all keeps it in a block of its own.
MARKDOWN_BENCHES = {
    "isochrones": ("bench_isochrones.py", "Isochrones"),
    "plan": ("bench_plan.py", "Where to build: greedy, exact and spopt's MCLP"),
    "tables": ("bench_tables.py", "Large POI tables: 50,000 to 200,000 rows"),
    "origins": ("bench_origins.py", "Residents as they walk: gates and homes"),
    "dossiers": ("bench_dossiers.py", "Dossiers and units.pdf: 100 units, one A4 page each"),
}
# Their options beyond --repeat 1 under --quick (a check, not a measurement).
MARKDOWN_QUICK = {"tables": ["--sizes", "5000,10000"]}


def run_benchmarks(results: Path, quick: bool, only: set[str]) -> None:
    py = sys.executable
    plans = {
        "engine": ["bench_engine.py"]
        + (["--repeats", "2", "--peer-repeats", "1"] if quick else []),
        "e2e": ["bench_e2e.py"]
        + (
            ["--cold-repeats", "1", "--warm-repeats", "2", "--peer-repeats", "1", "--no-first-run"]
            if quick
            else []
        ),
        "scale": ["bench_scale.py"] + (["--repeats", "1", "--sweep-repeats", "1"] if quick else []),
    }
    for name in BENCHES:
        if name not in only or name in MARKDOWN_BENCHES:
            continue
        script, *extra = plans[name]
        log(f"=== {script} {' '.join(extra)}")
        t0 = time.perf_counter()
        subprocess.run([py, str(BENCH_DIR / script), "--results", str(results), *extra], check=True)
        log(f"=== {script} done in {time.perf_counter() - t0:.0f} s")
    for name, (script, _title) in MARKDOWN_BENCHES.items():
        if name in only and (BENCH_DIR / script).is_file():
            extra = ["--repeat", "1", *MARKDOWN_QUICK.get(name, [])] if quick else []
            log(f"=== {script} {' '.join(extra)}")
            t0 = time.perf_counter()
            proc = subprocess.run(
                [py, str(BENCH_DIR / script), *extra], stdout=subprocess.PIPE, text=True
            )
            if proc.returncode == 0:
                results.mkdir(parents=True, exist_ok=True)
                (results / f"{name}.md").write_text(proc.stdout)
            else:
                log(f"=== {script} failed ({proc.returncode}); its section is left as it was")
            log(f"=== {script} done in {time.perf_counter() - t0:.0f} s")


# --------------------------------------------------------------------------- rendering


def f(v: float | None, digits: int = 2) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.{digits}f}"


def pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**PASS**" if ok else "**FAIL**")


def runs_text(runs: list[float]) -> str:
    return ", ".join(f"{r:.2f}" for r in runs)


def exponent(x1: float, x2: float, y1: float, y2: float) -> float:
    return math.log(y2 / y1) / math.log(x2 / x1)


def render(results: Path) -> str:
    run = read_json(results, "run") or {}
    eng = read_json(results, "engine")
    e2e = read_json(results, "e2e")
    scale = read_json(results, "scale")
    machine = run.get("machine") or machine_info()
    out: list[str] = []
    w = out.append

    w("## Accessibility engine: speed and size (issue 3)\n")
    w(
        "*How fast and how big.* This section is written by `benchmarks/run_all.py` from the "
        f"JSON in `benchmarks/{results.name}/`; rerun everything with **`make bench`**.\n"
    )
    w(
        md_table(
            ["run", ""],
            [
                ["command", f"`{run.get('command', 'make bench')}`"],
                ["date", run.get("date", "—")],
                ["duration", f"{run.get('duration_s', 0) / 60:.1f} min"],
                ["commit", machine.get("git", "—")],
                [
                    "CPU",
                    f"{machine['cpu']} — nproc {machine['nproc']}, "
                    f"{machine['cpus_usable']} usable, numba threads {machine['numba_threads']}",
                ],
                ["RAM", f"{machine['ram_gib']} GiB"],
                ["Python", f"{machine['python']} ({machine['platform']})"],
            ],
        )
    )
    w("")
    pk = machine["packages"]
    w("Packages: " + ", ".join(f"{k} {v}" for k, v in pk.items()) + ".\n")
    share = run.get("cpu_share")
    if share:
        w(_sharing_text(share))

    # ---- targets
    rows = []
    ours = eng["ours"]["engine_s"] if eng else None
    pandana = eng.get("pandana") if eng else None
    cityseer = eng.get("cityseer") if eng else None
    pyrosm = eng.get("pyrosm") if eng else None

    def ratio_miss(r: float, goal: float) -> str:
        return "" if r >= goal else f" (short by {goal / r:.1f}x)"

    if pandana:
        r = pandana["build_plus_queries_s"] / ours
        rows.append(
            [
                "Malta, engine alone vs pandana build + queries",
                f"{f(pandana['build_plus_queries_s'])} s / {f(ours, 3)} s = **{r:.1f}x**",
                f"≥ {TARGET_VS_PANDANA:g}x",
                verdict(r >= TARGET_VS_PANDANA) + ratio_miss(r, TARGET_VS_PANDANA),
            ]
        )
    if cityseer:
        r = cityseer["run_s"] / ours
        rows.append(
            [
                "Malta, engine alone vs cityseer",
                f"{f(cityseer['run_s'])} s / {f(ours, 3)} s = **{r:.1f}x**",
                f"≥ {TARGET_VS_CITYSEER:g}x",
                verdict(r >= TARGET_VS_CITYSEER) + ratio_miss(r, TARGET_VS_CITYSEER),
            ]
        )
    if e2e and e2e.get("peer_cold"):
        ref = e2e["peer_cold"]["wall_s"]
        cold = e2e["cold"]["wall_s"]
        rows.append(
            [
                "Malta, cold end to end vs the peers' cold command (a new process: import, "
                "pyrosm load, pandana build + queries)",
                f"{f(cold)} s / {f(ref)} s = **{cold / ref:.2f}**",
                f"≤ {TARGET_COLD_SHARE:g} (≤ {f(ref * TARGET_COLD_SHARE)} s)",
                verdict(cold / ref <= TARGET_COLD_SHARE)
                + _by_how_much(cold, ref * TARGET_COLD_SHARE),
            ]
        )
    if e2e and pandana and pyrosm:
        cold = e2e["cold"]["wall_s"]
        for label, load in [
            ('`get_network(network_type="walking")`', pyrosm["load_s"]),
            ("the same with `nodes=True`", pyrosm["load_with_nodes_s"]),
        ]:
            ref = load + pandana["build_plus_queries_s"]
            rows.append(
                [
                    "*the same cold run against the peers' in-process times* (no start-up, no "
                    f"imports): pyrosm {label} + pandana build + queries",
                    f"{f(cold)} s / ({f(load)} + {f(pandana['build_plus_queries_s'])}) s"
                    f" = **{cold / ref:.2f}**",
                    f"≤ {TARGET_COLD_SHARE:g} (≤ {f(ref * TARGET_COLD_SHARE)} s)",
                    verdict(cold / ref <= TARGET_COLD_SHARE)
                    + _by_how_much(cold, ref * TARGET_COLD_SHARE),
                ]
            )
    if e2e:
        warm = e2e["warm"]["wall_s"]
        rows.append(
            [
                "Malta, warm end to end (network from the cache)",
                f"**{f(warm)} s**",
                f"< {TARGET_WARM_S:g} s",
                verdict(warm < TARGET_WARM_S) + _by_how_much(warm, TARGET_WARM_S),
            ]
        )
    if e2e and e2e.get("warm_vs_peers") is not None:
        warm, ref = e2e["warm"]["wall_s"], e2e["peer_cold"]["wall_s"]
        rows.append(
            [
                "Malta, warm end to end vs the peers' cold command (the same categories)",
                f"{f(warm)} s / {f(ref)} s = **{warm / ref:.3f}**",
                f"≤ {TARGET_WARM_VS_PEERS:g} (≤ {f(ref * TARGET_WARM_VS_PEERS)} s)",
                verdict(warm / ref <= TARGET_WARM_VS_PEERS)
                + _by_how_much(warm, ref * TARGET_WARM_VS_PEERS),
            ]
        )
    if e2e and e2e.get("cold_no_standard") and e2e.get("peer_cold"):
        cold = e2e["cold_no_standard"]["wall_s"]
        ref = e2e["peer_cold"]["wall_s"]
        warm = e2e["warm_no_standard"]["wall_s"]
        rows.append(
            [
                "*for information:* the same two runs with `standard: null` (5 categories)",
                f"cold {f(cold)} s = {cold / ref:.2f} of the reference; warm {f(warm)} s",
                f"≤ {TARGET_COLD_SHARE:g}; < {TARGET_WARM_S:g} s",
                f"({'pass' if cold / ref <= TARGET_COLD_SHARE else 'fail'}; "
                f"{'pass' if warm < TARGET_WARM_S else 'fail'})",
            ]
        )
    big = _size(scale, 1_000_000)
    if big:
        rows.append(
            [
                f"grid city of {big['nodes']:,} nodes, {big['services']:,} services, 1000 m: "
                "peak memory",
                f"**{f(big['peak_rss_mb'], 0)} MB** (reach {f(big['reach_s'])} s)",
                f"< {TARGET_1M_MB:,} MB",
                verdict(big["peak_rss_mb"] < TARGET_1M_MB),
            ]
        )
    w("### Targets\n")
    w(md_table(["target", "measured (median)", "goal", "result"], rows))
    w("")
    w(_target_notes(eng, e2e))

    if eng:
        w(_engine_section(eng))
    if e2e:
        w(_e2e_section(e2e, eng))
    if scale:
        w(_scale_section(scale))
    w(_method_section())
    return "\n".join(out).rstrip() + "\n"


def _by_how_much(seconds: float, limit: float) -> str:
    """For a missed time target: how far over, in seconds and as a multiple."""
    if seconds <= limit:
        return ""
    return f" ({f(seconds - limit)} s over, {seconds / limit:.1f}x the limit)"


def _sharing_text(share: dict) -> str:
    lb, la = share["load_before"], share["load_after"]
    others = share["others_cores"]
    if others > 0.05:
        head = (
            "**The machine was shared while this ran**: other processes used "
            f"{share['others_cpu_s']:,.0f} CPU-seconds during the {share['wall_s'] / 60:.1f} "
            f"minutes of the run, on average {others:.2f} of the {share.get('cores', 2)} "
            "cores, so timings are noisier and slower than on an idle machine."
        )
    else:
        head = (
            f"The machine was otherwise idle while this ran: other processes used "
            f"{share['others_cpu_s']:,.0f} CPU-seconds during the {share['wall_s'] / 60:.1f} "
            "minutes of the run (the machine's busy time in /proc/stat less the benchmark's "
            "own)."
        )
    return (
        f"{head} Load average (1, 5, 15 min) before: {lb[0]:.2f}, {lb[1]:.2f}, {lb[2]:.2f}; "
        f"after: {la[0]:.2f}, {la[1]:.2f}, {la[2]:.2f} (the after figure includes the "
        "benchmark itself; a load before the start can be left over from work that had "
        "ended). Other sessions run tests on this 2-core machine from time to time.\n"
    )


def _target_notes(eng, e2e) -> str:
    notes = []
    if e2e and e2e.get("peer_cold"):
        pc = e2e["peer_cold"]
        notes.append(
            "- The cold target compares two cold commands, each a new process timed from "
            "start to exit, as a user runs them: ours (start-up, imports, reading the .pbf, "
            "services, reach, writing the table) and the peers' (start-up, importing pyrosm "
            'and pandana, `get_network(network_type="walking", nodes=True)`, which gives the '
            f"{pc['nodes']:,}-node graph pandana needs, then pandana's build and the "
            f"{pc['aggregate_calls']} queries). The peers' command is handed our POIs and "
            "writes nothing, so it does "
            "less than ours. The issue's reference figures are in-process times of the "
            "parts, which leave out start-up and imports; against those (the next two rows) "
            "the cold run, which counts its own, misses."
        )
    if eng and eng.get("pyrosm"):
        p = eng["pyrosm"]
        notes.append(
            "- pyrosm is timed in a new process with an empty temp dir: pyrosm 0.25 keeps each "
            "read's result as GeoParquet under `<tempdir>/pyrosm/cache` and serves repeated "
            "reads from there, which is not a load. In-process, "
            f'`get_network(network_type="walking")` takes {f(p["load_s"])} s (the ways as '
            f"{p['edges']:,} edges); with `nodes=True` (a routable graph of "
            f'{p["nodes_with_nodes"]:,} nodes, the issue\'s "about 109k walking nodes") '
            f"{f(p['load_with_nodes_s'])} s."
        )
    return ("\n".join(notes) + "\n") if notes else ""


def _engine_section(eng: dict) -> str:
    out = []
    w = out.append
    ours = eng["ours"]
    p = eng.get("pandana")
    c = eng.get("cityseer")
    y = eng.get("pyrosm")
    w("### 1. Malta: the engine against pandana and cityseer\n")
    per_cat = ", ".join(f"{k} {v}" for k, v in eng["pois_per_category"].items())
    w(
        f"`malta-2018.osm.pbf`: our walking network, {eng['nodes']:,} nodes and "
        f"{eng['edges']:,} edges (largest connected component, UTM metres), every node an "
        f"origin. {eng['pois_used']:,} POIs ({per_cat}) of the {eng['pois_found']:,} found: "
        f"those within {eng['snap_max_m']:g} m of the network (the study default; the rest are "
        "mostly on Gozo, cut off from the main island's network). Thresholds "
        f"{', '.join(map(str, THRESHOLDS))} m plus the nearest distance. Every tool gets these "
        f"same node, edge and POI arrays, in the same process, in interleaved rounds (ours, "
        "pandana, cityseer, ...) so that a busy moment falls on all alike. Median of "
        f"{eng['repeats']['ours']} runs for ours, {eng['repeats']['peers']} for each peer "
        "(seconds, wall clock).\n"
    )
    o = ours["engine_s"]
    rows = [
        [
            "**ours, engine alone**",
            "`engine.reach`: 5 categories × 3 thresholds + nearest "
            "(unbounded); points attached before the clock",
            f"**{f(o, 3)}**",
            runs_text(ours["engine_runs"]),
            "1.0x",
        ],
        [
            "ours, with snapping",
            "the same plus `EdgeIndex` build, `attach`, `attach_to_nodes`",
            f(ours["with_snapping_s"], 3),
            runs_text(ours["with_snapping_runs"]),
            f"{ours['with_snapping_s'] / o:.1f}x",
        ],
        [
            "ours, nearest within 1000 m",
            "as the peers bound theirs",
            f(ours["nearest_bounded_s"], 3),
            runs_text(ours["nearest_bounded_runs"]),
            f"{ours['nearest_bounded_s'] / o:.1f}x",
        ],
    ]
    if p:
        rows += [
            [
                "pandana build",
                "`Network` (contraction hierarchy) + `precompute(1000)`",
                f(p["build_s"]),
                runs_text(p["build_runs"]),
                f"{p['build_s'] / o:.1f}x",
            ],
            [
                "pandana queries",
                f"per category `get_node_ids` + `set`, then "
                f"{p['aggregate_calls']} flat-sum `aggregate` calls "
                f"({f(p['queries_s'] / p['aggregate_calls'], 3)} s per call)",
                f(p["queries_s"]),
                runs_text(p["queries_runs"]),
                f"{p['queries_s'] / o:.1f}x",
            ],
            [
                "**pandana build + queries**",
                "",
                f"**{f(p['build_plus_queries_s'])}**",
                "",
                f"**{p['build_plus_queries_s'] / o:.1f}x**",
            ],
            [
                "pandana nearest (apart)",
                "`set_pois` + `nearest_pois(1000)` per category",
                f(p["nearest_s"]),
                runs_text(p["nearest_runs"]),
                f"{p['nearest_s'] / o:.1f}x",
            ],
        ]
    if c:
        rows.append(
            [
                "**cityseer**",
                '`layers.compute_accessibilities` (POI assignment included), `decay_fn="1"`',
                f"**{f(c['run_s'])}**",
                runs_text(c["runs"]),
                f"**{c['run_s'] / o:.1f}x**",
            ]
        )
    if y:
        rows.append(
            [
                "pyrosm load",
                '`OSM(path).get_network(network_type="walking")`, new process, empty result '
                f"cache ({y['edges']:,} ways as edges; a cached re-read takes "
                f"{f(y.get('cached_s'))} s)",
                f(y["load_s"]),
                runs_text(y["runs"]),
                "(reference)",
            ]
        )
        rows.append(
            [
                "pyrosm load, `nodes=True`",
                f"the same, as a graph: {y['nodes_with_nodes']:,} nodes and "
                f"{y['edges_with_nodes']:,} segment edges (cached re-read "
                f"{f(y.get('cached_with_nodes_s'))} s)",
                f(y["load_with_nodes_s"]),
                runs_text(y["runs_with_nodes"]),
                "(reference)",
            ]
        )
    w(md_table(["tool", "what is timed", "median s", "runs s", "÷ ours"], rows))
    w("")
    prep = eng["prepare_s"]
    w(
        f"Not timed above: reading the .pbf for everyone ({f(prep['read'])} s), building our "
        f"network ({f(prep['network'])} s) and finding the services ({f(prep['services'])} s); "
        + (
            f"cityseer's set-up, a networkx MultiGraph of our graph and its `NetworkStructure` "
            f"via `io.network_structure_from_nx` ({f(c['setup_s'], 1)} s). "
            if c
            else ""
        )
        + f"Our engine ran on {ours['threads']} numba threads; pandana (OpenMP) and cityseer "
        "(Rust) use every core by default.\n"
    )
    w("#### Do the three agree?\n")
    w(
        "Per category: the share of nodes with at least one POI within 300 and 1000 m, the "
        "median distance to the nearest POI (over nodes with one within 1000 m), and the share "
        "of nodes whose 1000 m count equals ours exactly.\n"
    )
    tools = [t for t in ("ours", "pandana", "cityseer") if eng.get(t)]
    headers = ["category", "POIs"]
    for t in tools:
        headers += [f"{t} ≤300 m", f"{t} ≤1000 m"]
    headers += [f"{t} nearest median m" for t in tools]
    headers += [f"{t} = ours at 1000 m" for t in tools if t != "ours"]
    rows = []
    for cat, row in eng["cross_check"].items():
        r = [cat, row["pois"]]
        for t in tools:
            r += [pct(row[t]["share_300m"]), pct(row[t]["share_1000m"])]
        r += [f(row[t]["median_nearest_m"], 1) for t in tools]
        r += [pct(row[t]["same_count_1000m_as_ours"]) for t in tools if t != "ours"]
        rows.append(r)
    w(md_table(headers, rows))
    w("")
    w(
        "They agree to within a few tenths of a percentage point on coverage. The differences "
        "come from how a POI joins the network. We attach it to the nearest *edge*, at an "
        "offset along it, and count the straight snap distance as part of the walk. pandana "
        "(`get_node_ids`, `set_pois`) moves it to the nearest *node* with no access distance, "
        "so its distances are a little shorter and its shares a little higher, and two POIs on "
        "one street can land on different nodes than ours reach first. cityseer 5.8 assigns "
        'points to the nearest street edge too (`build_data_map`: "Points will be assigned '
        'to the closest street edge"), which is why its numbers match ours almost exactly; '
        "it stores distances as 32-bit floats, and ties at a threshold can fall either way.\n"
    )
    return "\n".join(out)


def _e2e_section(e2e: dict, eng: dict | None) -> str:
    out = []
    w = out.append
    w("### 2. Malta end to end, through the command line\n")
    w(
        "Each run is a new process, timed from start to exit, writing `reach.parquet` "
        f"({e2e['cold']['rows']:,} rows × {e2e['cold']['columns']} columns):\n"
    )
    w("```\n" + e2e["command"].replace(" --", " \\\n    --") + "\n```\n")
    w(
        "*Cold*: `--no-cache`, so the .pbf is parsed every time (numba's compiled kernels are on "
        "disk: they are built once per install, see below; the OS file cache is warm). *Warm*: "
        "`--cache-dir TMPCACHE` after one untimed priming run; every timed warm run read the "
        "network and services from the cache.\n"
    )
    rows = []
    for key, label in [
        ("cold", "cold"),
        ("warm", "warm"),
        ("cold_no_standard", "cold, `standard: null`"),
        ("warm_no_standard", "warm, `standard: null`"),
    ]:
        s = e2e.get(key)
        if not s:
            continue
        steps = s["steps_median_s"]
        inside = sum(steps.values())
        steps_txt = ", ".join(f"{k} {v:.2f}" for k, v in steps.items())
        rows.append(
            [
                label,
                len(s["categories_computed"]),
                f"**{f(s['wall_s'])}**",
                runs_text(s["runs"]),
                steps_txt,
                f(s["wall_s"] - inside),
            ]
        )
    w(
        md_table(
            [
                "run",
                "categories",
                "median s",
                "runs s",
                "pipeline steps (median s)",
                "rest s (start-up, imports, writing)",
            ],
            rows,
        )
    )
    w("")
    cold = e2e["cold"]
    steps = cold["steps_median_s"]
    rest = cold["wall_s"] - sum(steps.values())
    text = (
        f"Where a cold run's {f(cold['wall_s'])} s go: reading the .pbf "
        f"{f(steps.get('load'))} s (pyosmium, in a worker process, while the main process "
        "imports numba, geopandas and scipy and loads the compiled kernels: on two cores the "
        "two overlap, and this step lasts as long as the longer of them), building the "
        f"network {f(steps.get('network'))} s, services and snapping "
        f"{f(steps.get('services', 0) + steps.get('snap', 0))} s, the reach of every node "
        f"({len(cold['categories_computed'])} categories) {f(steps.get('reach_origins'))} s, "
        f"and {f(rest)} s outside the pipeline's steps (interpreter start-up, imports, "
        "settings, writing the table)."
    )
    warm = e2e["warm"]
    wsteps = warm["steps_median_s"]
    text += (
        f" A warm run reads the cache in {f(wsteps.get('load'))} s; its "
        f"{f(warm['wall_s'])} s are the reach ({f(wsteps.get('reach_origins'))} s, which "
        "includes loading the compiled kernels and the table's WGS-84 coordinates) and "
        f"{f(warm['wall_s'] - sum(wsteps.values()))} s of start-up, imports and writing.\n"
    )
    w(text)
    if "first_run" in e2e:
        fr = e2e["first_run"]
        w(
            "`make setup` compiles the numba kernels once per install "
            f"(`python -m circles._compile`, {f(fr['compile_kernels_s'])} s); the first cold "
            f"command after it takes {f(fr['first_run_after_setup_s'])} s. Without that step "
            f"the first command compiles them itself: {f(fr['first_run_compiling_s'])} s "
            "(an empty `NUMBA_CACHE_DIR`).\n"
        )
    if e2e.get("peer_cold"):
        pc = e2e["peer_cold"]
        w(
            "The peers' cold command (see `benchmarks/bench_e2e.py`): a new process that "
            "imports pyrosm and pandana, loads the walking graph with pyrosm "
            f'(`get_network(network_type="walking", nodes=True)`: {pc["nodes"]:,} nodes, '
            f"{pc['edges']:,} edges), builds pandana's network and makes the "
            f"{pc['aggregate_calls']} flat-sum queries ({len(pc['categories'])} categories × "
            f"{pc['aggregate_calls'] // max(len(pc['categories']), 1)} thresholds) "
            f"on our {pc['pois']:,} POIs: median **{f(pc['wall_s'])} s** "
            f"({runs_text(pc['runs'])}); a quarter is {f(pc['wall_s'] * TARGET_COLD_SHARE)} s. "
            "It neither finds POIs nor writes a table.\n"
        )
    return "\n".join(out)


def _size(scale: dict | None, n: int) -> dict | None:
    if not scale:
        return None
    for row in scale["sizes"]:
        if abs(row["nodes"] - n) / n < 0.01:
            return row
    return None


def _search_ns(r: dict) -> float:
    """Nanoseconds per settled node of the counting searches (their time less the fixed
    part of the call, over searches × ball)."""
    return 1e9 * (r["counts_only_s"] - r["fixed_s"]) / (r["services"] * r["mean_ball_nodes"])


def _scale_section(scale: dict) -> str:
    out = []
    w = out.append
    w("### 3. Scale: generated grid cities\n")
    w(
        f"A square lattice of nodes {scale['spacing_m']:g} m apart with an edge between "
        f"4-neighbours (`circles.network.from_arrays`); services are "
        f"{scale['service_share']:.0%} of the node count, each on a random edge at a random "
        f"offset, in {scale['categories']} categories; every node is an origin; thresholds "
        f"{', '.join(map(str, scale['thresholds_m']))} m plus the nearest (unbounded). Each "
        "size runs in its own process. *reach*: the wall time of `engine.reach`. *counts "
        "only*: the same call with the nearest search bounded at 0 m, so it does nothing; "
        "*nearest* is the difference. *fixed*: the same call with thresholds of a few metres, "
        "the part that does not depend on the threshold (splitting edges at the points, the "
        "CSR, the result arrays). *ball*: the mean number of nodes one search settles within "
        "1000 m. *ns per settled node*: (counts only − fixed) ÷ (services × ball). *peak*: "
        "the process's `ru_maxrss`, graph and everything included. Median of "
        f"{scale['repeats']['up_to_300k']} runs up to 300k nodes, "
        f"{scale['repeats']['above_300k']} above.\n"
    )
    rows = []
    for r in scale["sizes"]:
        rows.append(
            [
                f"{r['nodes']:,}",
                f"{r['edges']:,}",
                f"{r['services']:,}",
                f"**{f(r['reach_s'], 3)}**",
                f(r["counts_only_s"], 3),
                f(r["reach_s"] - r["counts_only_s"], 3),
                f(r["fixed_s"], 3),
                f(r["mean_ball_nodes"], 0),
                f(_search_ns(r), 0),
                f(r["build_s"], 2),
                f(r["rss_before_reach_mb"], 0),
                f"**{f(r['peak_rss_mb'], 0)}**",
            ]
        )
    w(
        md_table(
            [
                "nodes",
                "edges",
                "services",
                "reach s",
                "counts only s",
                "nearest s",
                "fixed s",
                "ball nodes",
                "ns per settled node",
                "graph build s",
                "RSS before reach MB",
                "peak MB",
            ],
            rows,
        )
    )
    w("")
    sizes = scale["sizes"]
    if len(sizes) >= 2:
        w(_size_text(scale))
    sw = scale.get("sweep")
    if sw:
        w(_sweep_text(sw, scale["repeats"].get("sweep", scale["repeats"]["up_to_300k"])))
    return "\n".join(out)


def _size_text(scale: dict) -> str:
    sizes = scale["sizes"]
    lo, hi = sizes[0], sizes[-1]
    mid = _size(scale, 100_000)
    pairs = [(a, b) for a, b in [(lo, mid), (mid, hi)] if a and b and a is not b] or [(lo, hi)]

    def e(a, b, key):
        return exponent(a["nodes"], b["nodes"], key(a), key(b))

    def counts(r):
        return r["counts_only_s"]

    def nearest(r):
        return max(1e-6, r["reach_s"] - r["counts_only_s"])

    def whole(r):
        return r["reach_s"]

    measured = "; ".join(
        f"{a['nodes']:,} → {b['nodes']:,} nodes: counts {e(a, b, counts):.2f}, nearest "
        f"{e(a, b, nearest):.2f}, whole reach {e(a, b, whole):.2f}"
        for a, b in pairs
    )
    balls = [r["mean_ball_nodes"] for r in sizes]
    ns = [_search_ns(r) for r in sizes]
    a, b = pairs[-1]
    e_last = e(a, b, whole)
    text = (
        "**Network size.** For a fixed density the work is linear in the nodes: one search "
        "per service (a fixed share of the nodes), each settling the same ball "
        f"({min(balls):,.0f} to {max(balls):,.0f} nodes at every size), plus one "
        "multi-source Dijkstra per category over the whole graph for the nearest distances. "
        "Measured growth, as the exponent of time against nodes (1 is linear): "
        f"{measured}. "
    )
    if e_last <= 1.15:
        text += "So the time grows about linearly with the network. "
    else:
        text += (
            f"So on the larger graphs the time grows faster than the work (exponent "
            f"{e_last:.2f}): the work per node is the same, but each settled node costs more "
            f"({ns[0]:,.0f} ns at {lo['nodes']:,} nodes, {ns[-1]:,.0f} ns at "
            f"{hi['nodes']:,})"
        )
        if e(a, b, nearest) > e(a, b, counts):
            text += (
                ", and the nearest searches, which sweep the whole graph in distance order, "
                "grow fastest"
            )
        text += (
            ": a large graph's arrays no longer stay in the CPU caches, so the searches wait "
            "on memory. "
        )
    steps = [
        f"{(y['peak_rss_mb'] - x['peak_rss_mb']) / (y['nodes'] - x['nodes']) * 1e6:,.0f}"
        for x, y in zip(sizes, sizes[1:], strict=False)
    ]
    text += (
        f"Memory is linear: above the {lo['peak_rss_mb']:,.0f} MB of the smallest run "
        "(mostly the interpreter and libraries), each million nodes added about "
        f"{' / '.join(steps)} MB between consecutive sizes (the graph, its CSR, the split "
        "graph and the result arrays).\n"
    )
    return text


def _sweep_text(sw: dict, reps: int) -> str:
    out = []
    w = out.append
    fixed = sw["fixed_s"]
    rows = []
    prev = None
    for r in sw["sweep"]:
        search = r["counts_only_s"] - fixed
        grow = ""
        if prev:
            k = r["threshold_m"] / prev["threshold_m"]
            ball = r["mean_ball_nodes"] / prev["mean_ball_nodes"]
            grow = (
                f"threshold ×{k:g}: ball ×{ball:.1f}, "
                f"searches ×{search / (prev['counts_only_s'] - fixed):.1f}"
            )
        rows.append(
            [
                f"{r['threshold_m']:g}",
                f(r["mean_ball_nodes"], 0),
                f"**{f(r['counts_only_s'], 3)}**",
                f(search, 3),
                f(r["reach_s"], 3),
                grow,
            ]
        )
        prev = r
    w(f"#### Threshold sweep at {sw['nodes']:,} nodes ({sw['services']:,} services)\n")
    w(
        f"One threshold at a time, median of {reps} runs; the fixed part of a call here is "
        f"{f(fixed, 3)} s, and *searches* is counts only less that.\n"
    )
    w(
        md_table(
            [
                "threshold m",
                "ball nodes",
                "counts only s",
                "searches s",
                "reach s (with nearest)",
                "growth",
            ],
            rows,
        )
    )
    w("")
    first, last = sw["sweep"][0], sw["sweep"][-1]
    eb = exponent(
        first["threshold_m"], last["threshold_m"], first["mean_ball_nodes"], last["mean_ball_nodes"]
    )
    es = exponent(
        first["threshold_m"],
        last["threshold_m"],
        max(1e-6, first["counts_only_s"] - fixed),
        max(1e-6, last["counts_only_s"] - fixed),
    )
    ec = exponent(
        first["threshold_m"], last["threshold_m"], first["counts_only_s"], last["counts_only_s"]
    )
    shape = "about quadratic" if 1.6 <= es <= 2.4 else f"of exponent {es:.2f}"
    w(
        "**Threshold.** A search settles the nodes within the threshold: a disc, whose node "
        "count grows with the square of its radius at a fixed street density. From "
        f"{first['threshold_m']:g} to {last['threshold_m']:g} m the ball grew with exponent "
        f"{eb:.2f} in the threshold and the searches' time with exponent {es:.2f}, so the cost "
        f"is {shape} in the threshold; with the fixed part included the exponent is "
        f"{ec:.2f}, less at small thresholds where that part still counts. The nearest "
        "distances do not depend on the threshold.\n"
    )
    return "\n".join(out)


def _markdown_bench_section(results: Path, name: str) -> str | None:
    path = results / f"{name}.md"
    if not path.is_file():
        return None
    script, title = MARKDOWN_BENCHES[name]
    return (
        f"## {title}\n\nPrinted by `benchmarks/{script}` during the same run (see the "
        "machine and load notes above).\n\n" + path.read_text().strip() + "\n"
    )


def _begin(name: str) -> str:
    return (
        f"<!-- BEGIN {name}: written by benchmarks/run_all.py (make bench); edits here are lost -->"
    )


def _end(name: str) -> str:
    return f"<!-- END {name} -->"


def update_results_md(path: Path, blocks: dict[str, str]) -> None:
    """Replace our generated blocks in RESULTS.md and keep everything else as it is (other
    benchmarks' sections are written by hand). A new block goes after the block before it,
    or else before the first section under the title."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    previous = None
    for name, body in blocks.items():
        block = f"{_begin(name)}\n\n{body.strip()}\n\n{_end(name)}"
        start, end = text.find(_begin(name)), text.find(_end(name))
        if start >= 0 and end > start:
            text = text[:start] + block + text[end + len(_end(name)) :]
        else:
            at = text.find(_end(previous)) if previous else -1
            if at >= 0:
                at += len(_end(previous))
                text = text[:at] + "\n\n" + block + text[at:]
            else:
                heads = [i for i in (text.find("\n## "), text.find("\n<!-- BEGIN")) if i >= 0]
                at = min(heads) + 1 if heads else len(text)
                text = text[:at].rstrip("\n") + "\n\n" + block + "\n\n" + text[at:]
        previous = name
    path.write_text(text.rstrip() + "\n")


def _method_section() -> str:
    return (
        "### How it is measured\n\n"
        "- `make bench` installs the `bench` extras (`pip install -e '.[dev,bench]'`: pandana, "
        "cityseer, pyrosm) and runs `benchmarks/run_all.py`. That runs `bench_engine.py`, "
        "`bench_e2e.py` and `bench_scale.py`, each in its own process, renders this section "
        "from their JSON in `benchmarks/results/`, and puts the table `bench_isochrones.py` "
        "prints in a section of its own. Other sections of this file (the map, measured "
        "with `bench_map.py` in Chromium) are written by hand and left as they are.\n"
        "- Times are wall clock (`time.perf_counter`), medians of several runs, on whatever "
        "else the machine was doing (see the load note at the top). No test times anything.\n"
        "- Each script runs alone too; `--help` lists its options (repeat counts, sizes); "
        "`run_all.py --quick` checks them all with small repeat counts, into a temporary "
        "folder.\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small repeat counts (a check)")
    ap.add_argument("--render", action="store_true", help="only rewrite RESULTS.md")
    ap.add_argument("--only", default=",".join(BENCHES), help="engine,e2e,scale")
    ap.add_argument("--results", type=Path, default=None, help="folder of the JSON results")
    ap.add_argument("--out", type=Path, default=None, help="where to write RESULTS.md")
    args = ap.parse_args()

    results = args.results or (
        Path(tempfile.mkdtemp(prefix="circles-bench-")) if args.quick else DEFAULT_RESULTS
    )
    out = args.out or (None if args.quick else RESULTS_MD)
    if not args.render:
        only = {s.strip() for s in args.only.split(",") if s.strip()}
        share = CpuShare()
        t0 = time.perf_counter()
        started = dt.datetime.now(dt.UTC)
        run_benchmarks(results, args.quick, only)
        cpu = share.stop()
        cpu["cores"] = len(os.sched_getaffinity(0))
        write_json(
            results,
            "run",
            {
                "command": "make bench"
                if os.environ.get("MAKELEVEL")
                else "python benchmarks/run_all.py" + (" --quick" if args.quick else ""),
                "date": started.strftime("%Y-%m-%d %H:%M UTC"),
                "duration_s": time.perf_counter() - t0,
                "machine": machine_info(),
                "cpu_share": cpu,
                "only": sorted(only),
            },
        )
    blocks = {"engine": render(results)}
    for name in MARKDOWN_BENCHES:
        body = _markdown_bench_section(results, name)
        if body is not None:
            blocks[name] = body
    if out is None:
        print("\n\n".join(blocks.values()))
        log(f"results in {results}")
    else:
        update_results_md(out, blocks)
        log(f"wrote {out}")


if __name__ == "__main__":
    main()
