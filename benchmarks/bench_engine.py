"""Malta: our engine against pandana and cityseer on the same graph and the same POIs.

    .venv/bin/python benchmarks/bench_engine.py [--repeats 5] [--peer-repeats 3]

Every walking node of ``malta-2018.osm.pbf`` is an origin; five categories; 300, 500 and
1000 m plus the nearest distance. The graph is our WalkNetwork (UTM metres, largest
connected component) and the POIs are the services we find, as projected points, keeping
those within the study's snapping distance; every tool gets exactly these arrays.

The tools run in rounds (ours, pandana, cityseer; ours spread over the rounds), so that
whatever else a shared machine does falls on all of them alike.

- ours, engine alone: ``engine.reach`` with every node as origin (``attach_to_nodes``) and
  the services attached to edges (``EdgeIndex.attach``), done before the clock starts.
  Also timed with the snapping inside the clock, and with the nearest bounded at 1000 m.
- pandana: ``Network`` (its contraction hierarchy) + ``precompute(1000)`` = build; then per
  category ``get_node_ids`` + ``set`` and a flat-sum ``aggregate`` per threshold = queries;
  ``set_pois`` + ``nearest_pois`` within 1000 m = nearest, timed apart.
- cityseer: ``layers.compute_accessibilities`` (its POI assignment included) with a flat
  weight (``decay_fn="1"``, one count column per category and distance, plus its nearest);
  the networkx graph and the NetworkStructure are built before the clock starts.
- pyrosm: ``OSM(path).get_network(network_type="walking")``, for reference (and, for
  information, the same with ``nodes=True``, which also splits the ways into segments), in
  a new process with an empty result cache each time; its cached re-read is noted apart.

Writes ``engine.json`` into the results folder and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("CITYSEER_QUIET_MODE", "true")  # no progress bars (read at import)

import numpy as np  # noqa: E402
from common import (  # noqa: E402
    CATEGORIES,
    MALTA,
    THRESHOLDS,
    CpuShare,
    base_arg_parser,
    load_city,
    log,
    snap_max_m,
    write_json,
)

from circles import engine  # noqa: E402
from circles.snap import EdgeIndex, attach_to_nodes  # noqa: E402


def _points(att) -> engine.Points:
    return engine.Points(att.edge, att.offset, att.snap_m)


class Ours:
    """Our engine on arrays already in memory: alone, with the snapping, and with the
    nearest bounded at the largest threshold as the peers bound theirs."""

    name = "ours"

    def __init__(self, city) -> None:
        self.city = city
        net = city.network
        self.origins = _points(attach_to_nodes(net, np.arange(net.n_nodes)))
        s_att = EdgeIndex(net).attach(city.svc_x, city.svc_y, snap_max_m())
        assert s_att.used.all()
        self.services = _points(s_att)
        self.times: dict[str, list[float]] = {"engine": [], "with_snapping": [], "bounded": []}
        self.res = self._engine_alone()  # untimed: loads (or compiles) the numba kernels

    def _engine_alone(self, limit: float = np.inf) -> engine.Reach:
        c = self.city
        return engine.reach(
            c.network.graph,
            self.origins,
            self.services,
            c.svc_cat,
            len(CATEGORIES),
            THRESHOLDS,
            nearest_limit_m=limit,
        )

    def _with_snapping(self) -> engine.Reach:
        c, net = self.city, self.city.network
        o = _points(attach_to_nodes(net, np.arange(net.n_nodes)))
        s = _points(EdgeIndex(net).attach(c.svc_x, c.svc_y, snap_max_m()))
        return engine.reach(net.graph, o, s, c.svc_cat, len(CATEGORIES), THRESHOLDS)

    def run(self) -> None:
        for key, fn in [
            ("engine", self._engine_alone),
            ("with_snapping", self._with_snapping),
            ("bounded", lambda: self._engine_alone(float(max(THRESHOLDS)))),
        ]:
            t0 = time.perf_counter()
            res = fn()
            self.times[key].append(time.perf_counter() - t0)
            if key == "engine":
                self.res = res
        t = self.times
        log(
            f"ours run {len(t['engine'])}: engine {t['engine'][-1]:.3f} s, with snapping "
            f"{t['with_snapping'][-1]:.3f} s, nearest bounded {t['bounded'][-1]:.3f} s"
        )

    def result(self) -> dict:
        t = self.times
        return {
            "engine_s": statistics.median(t["engine"]),
            "engine_runs": t["engine"],
            "with_snapping_s": statistics.median(t["with_snapping"]),
            "with_snapping_runs": t["with_snapping"],
            "nearest_bounded_s": statistics.median(t["bounded"]),
            "nearest_bounded_runs": t["bounded"],
            "threads": engine.numba.get_num_threads(),
            "counts": self.res.counts,  # (origins, categories, thresholds)
            "nearest_m": self.res.nearest_m,  # (origins, categories), NaN when none
        }


class Pandana:
    """Network + precompute(1000) = build; per category get_node_ids + set and a flat-sum
    aggregate per threshold = queries; set_pois + nearest_pois = nearest (apart)."""

    name = "pandana"

    def __init__(self, city) -> None:
        self.city = city
        self.build: list[float] = []
        self.query: list[float] = []
        self.nearest: list[float] = []
        self.counts = self.nearest_m = None

    def run(self) -> None:
        import pandana
        import pandas as pd

        city, net = self.city, self.city.network
        nmax = float(max(THRESHOLDS))
        t0 = time.perf_counter()
        pnet = pandana.Network(
            net.x,
            net.y,
            net.edge_u,
            net.edge_v,
            pd.DataFrame({"distance": net.edge_len}),
            twoway=True,
        )
        pnet.precompute(nmax)
        t1 = time.perf_counter()
        counts = np.zeros((net.n_nodes, len(CATEGORIES), len(THRESHOLDS)))
        for ci, cat in enumerate(CATEGORIES):
            m = city.svc_cat == ci
            ids = pnet.get_node_ids(pd.Series(city.svc_x[m]), pd.Series(city.svc_y[m]))
            pnet.set(ids, name=cat)
            for ti, d in enumerate(THRESHOLDS):
                agg = pnet.aggregate(d, type="sum", decay="flat", name=cat)
                counts[:, ci, ti] = agg.to_numpy()
        t2 = time.perf_counter()
        nearest_m = np.full((net.n_nodes, len(CATEGORIES)), np.nan)
        for ci, cat in enumerate(CATEGORIES):
            m = city.svc_cat == ci
            pnet.set_pois(
                category=cat,
                maxdist=nmax,
                maxitems=1,
                x_col=pd.Series(city.svc_x[m]),
                y_col=pd.Series(city.svc_y[m]),
            )
            got = pnet.nearest_pois(nmax, cat, num_pois=1, max_distance=np.nan)
            nearest_m[:, ci] = got[1].to_numpy()
        t3 = time.perf_counter()
        self.build.append(t1 - t0)
        self.query.append(t2 - t1)
        self.nearest.append(t3 - t2)
        self.counts, self.nearest_m = counts, nearest_m
        log(
            f"pandana run {len(self.build)}: build {t1 - t0:.2f} s, queries {t2 - t1:.2f} s, "
            f"nearest {t3 - t2:.2f} s"
        )

    def result(self) -> dict:
        total = [b + q for b, q in zip(self.build, self.query, strict=True)]
        return {
            "build_s": statistics.median(self.build),
            "queries_s": statistics.median(self.query),
            "build_plus_queries_s": statistics.median(total),
            "build_plus_queries_runs": total,
            "nearest_s": statistics.median(self.nearest),
            "build_runs": self.build,
            "queries_runs": self.query,
            "nearest_runs": self.nearest,
            "aggregate_calls": len(CATEGORIES) * len(THRESHOLDS),
            "counts": self.counts,
            "nearest_m": self.nearest_m,
        }


def cityseer_inputs(city):
    """networkx MultiGraph of our graph (string keys, straight 'geom' edges), its cityseer
    NetworkStructure, and the POIs as a GeoDataFrame: set-up, not timed."""
    import geopandas as gpd
    import networkx as nx
    import shapely
    from cityseer.tools import io

    net = city.network
    g = nx.MultiGraph()
    g.graph["crs"] = net.crs.to_epsg() or net.crs.to_wkt()
    keys = [str(i) for i in range(net.n_nodes)]
    g.add_nodes_from(
        (k, {"x": float(x), "y": float(y)})
        for k, x, y in zip(keys, net.x.tolist(), net.y.tolist(), strict=True)
    )
    coords = np.stack(
        [
            np.column_stack([net.x[net.edge_u], net.y[net.edge_u]]),
            np.column_stack([net.x[net.edge_v], net.y[net.edge_v]]),
        ],
        axis=1,
    )
    lines = shapely.linestrings(coords)
    g.add_edges_from(
        (keys[u], keys[v], {"geom": line})
        for u, v, line in zip(net.edge_u.tolist(), net.edge_v.tolist(), lines, strict=True)
    )
    nodes_gdf, _edges_gdf, structure = io.network_structure_from_nx(g)
    data = gpd.GeoDataFrame(
        {"category": [CATEGORIES[c] for c in city.svc_cat]},
        geometry=gpd.points_from_xy(city.svc_x, city.svc_y),
        crs=net.crs,
    )
    return nodes_gdf, structure, data


class Cityseer:
    """layers.compute_accessibilities with a flat weight; the networkx graph and the
    NetworkStructure are built once, before any timing."""

    name = "cityseer"

    def __init__(self, city) -> None:
        self.city = city
        t0 = time.perf_counter()
        self.nodes_gdf, self.structure, self.data = cityseer_inputs(city)
        self.setup = time.perf_counter() - t0
        log(f"cityseer set-up (networkx graph, NetworkStructure; not timed): {self.setup:.1f} s")
        self.runs: list[float] = []
        self.out = None

    def run(self) -> None:
        from cityseer.metrics import layers

        frame = self.nodes_gdf.copy()  # the call adds its columns to the frame it gets
        t0 = time.perf_counter()
        self.out = layers.compute_accessibilities(
            self.data,
            landuse_column_label="category",
            accessibility_keys=CATEGORIES,
            nodes_gdf=frame,
            network_structure=self.structure,
            max_netw_assign_dist=snap_max_m(),
            distances=THRESHOLDS,
            decay_fn="1",
        )
        self.runs.append(time.perf_counter() - t0)
        log(f"cityseer run {len(self.runs)}: {self.runs[-1]:.2f} s")

    def result(self) -> dict:
        net, out = self.city.network, self.out
        order = out.index.astype(int).to_numpy()
        counts = np.zeros((net.n_nodes, len(CATEGORIES), len(THRESHOLDS)))
        nearest_m = np.full((net.n_nodes, len(CATEGORIES)), np.nan)
        for ci, cat in enumerate(CATEGORIES):
            for ti, d in enumerate(THRESHOLDS):
                counts[order, ci, ti] = out[f"cc_{cat}_{d}"].to_numpy(np.float64)
            near = out[f"cc_{cat}_nearest_max_{max(THRESHOLDS)}"].to_numpy(np.float64)
            nearest_m[order, ci] = np.where(np.isfinite(near), near, np.nan)
        return {
            "setup_s": self.setup,
            "run_s": statistics.median(self.runs),
            "runs": self.runs,
            "counts": np.nan_to_num(counts),
            "nearest_m": nearest_m,
        }


def interleaved(ours: Ours, peers: list, repeats: int, peer_repeats: int) -> None:
    """Run the tools in rounds, ours spread over them, so that whatever else the machine
    does at some moment falls on every tool alike rather than on one."""
    rounds = max(1, peer_repeats if peers else repeats)
    per_round = [repeats // rounds + (1 if i < repeats % rounds else 0) for i in range(rounds)]
    for r in range(rounds):
        for _ in range(per_round[r]):
            ours.run()
        for tool in peers:
            tool.run()


def pyrosm_child(path: Path) -> dict:
    """In a fresh process whose temp dir is empty: pyrosm 0.25 keeps each read's result as
    GeoParquet under ``<tempdir>/pyrosm/cache`` and serves identical reads from it, so the
    first read of the file is the load and the second one is the cached read. pyrosm's own
    lazy imports are warmed first on the small extract it ships."""
    import pyrosm

    pyrosm.OSM(pyrosm.get_data("test_pbf")).get_network(network_type="walking")
    out = {}
    for key, kwargs in [("walking", {}), ("nodes", {"nodes": True})]:
        for attempt in ("load", "cached"):
            t0 = time.perf_counter()
            got = pyrosm.OSM(str(path)).get_network(network_type="walking", **kwargs)
            out[f"{key}_{attempt}_s"] = time.perf_counter() - t0
        if key == "walking":
            out["edges"] = len(got)
        else:
            out["nodes_nodes"], out["nodes_edges"] = len(got[0]), len(got[1])
    return out


def bench_pyrosm(path: Path, repeats: int) -> dict:
    """pyrosm's walking network: as asked (ways as edges), and with nodes=True (the graph
    form, split into segments between nodes) for information. Each run is a new process
    with an empty temp dir, so pyrosm's result cache starts empty."""
    import json
    import subprocess
    import sys
    import tempfile

    runs = []
    for r in range(max(1, repeats)):
        with tempfile.TemporaryDirectory(prefix="pyrosm-bench-") as tmp:
            env = {**os.environ, "TMPDIR": tmp}
            proc = subprocess.run(
                [sys.executable, __file__, "--pyrosm-child", str(path)],
                capture_output=True,
                text=True,
                env=env,
            )
        if proc.returncode != 0:
            raise RuntimeError(f"pyrosm child failed:\n{proc.stderr[-2000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        x = runs[-1]
        log(
            f"pyrosm run {r + 1}: {x['walking_load_s']:.2f} s (cached {x['walking_cached_s']:.2f}"
            f" s; with nodes=True {x['nodes_load_s']:.2f} s, cached {x['nodes_cached_s']:.2f} s)"
        )

    def med(key: str) -> float:
        return statistics.median(x[key] for x in runs)

    return {
        "load_s": med("walking_load_s"),
        "runs": [x["walking_load_s"] for x in runs],
        "cached_s": med("walking_cached_s"),
        "edges": runs[-1]["edges"],
        "load_with_nodes_s": med("nodes_load_s"),
        "runs_with_nodes": [x["nodes_load_s"] for x in runs],
        "cached_with_nodes_s": med("nodes_cached_s"),
        "nodes_with_nodes": runs[-1]["nodes_nodes"],
        "edges_with_nodes": runs[-1]["nodes_edges"],
    }


def cross_check(city, tools: dict[str, dict]) -> dict:
    """Per category: share of nodes with a service within 300 and 1000 m, the median
    nearest distance (nodes with one within 1000 m), and how often a peer's 1000 m count
    equals ours exactly."""
    out = {}
    ours = tools["ours"]
    last = len(THRESHOLDS) - 1
    for ci, cat in enumerate(CATEGORIES):
        row = {"pois": int((city.svc_cat == ci).sum())}
        for name, t in tools.items():
            c = np.asarray(t["counts"])
            near = np.asarray(t["nearest_m"], dtype=np.float64)[:, ci]
            within = near[near <= max(THRESHOLDS)]
            row[name] = {
                f"share_{d}m": float((c[:, ci, ti] > 0).mean()) for ti, d in enumerate(THRESHOLDS)
            }
            row[name]["median_nearest_m"] = float(np.median(within)) if len(within) else None
            row[name]["same_count_1000m_as_ours"] = float(
                (np.rint(c[:, ci, last]) == np.asarray(ours["counts"])[:, ci, last]).mean()
            )
        out[cat] = row
    return out


def main() -> None:
    ap = base_arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--osm", type=Path, default=MALTA)
    ap.add_argument("--repeats", type=int, default=5, help="runs of ours (median)")
    ap.add_argument("--peer-repeats", type=int, default=3, help="runs of each peer (median)")
    ap.add_argument("--skip", default="", help="comma-separated: pandana,cityseer,pyrosm")
    ap.add_argument("--pyrosm-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pyrosm_child:
        print(json.dumps(pyrosm_child(args.pyrosm_child)))
        return
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    share = CpuShare()
    log(f"loading {args.osm}")
    city = load_city(args.osm)
    net = city.network
    log(
        f"{net.n_nodes:,} nodes, {net.n_edges:,} edges, {len(city.svc_x):,} POIs used "
        f"of {city.n_found:,} found"
    )
    ours = Ours(city)
    peers = [cls(city) for cls in (Pandana, Cityseer) if cls.name not in skip]
    interleaved(ours, peers, max(1, args.repeats), max(1, args.peer_repeats))
    tools = {t.name: t.result() for t in [ours, *peers]}
    pyrosm = None if "pyrosm" in skip else bench_pyrosm(args.osm, args.peer_repeats)
    check = cross_check(city, tools)

    result = {
        "osm": str(args.osm.resolve()),
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "pois_found": city.n_found,
        "pois_used": len(city.svc_x),
        "pois_per_category": {c: int((city.svc_cat == i).sum()) for i, c in enumerate(CATEGORIES)},
        "categories": CATEGORIES,
        "thresholds_m": THRESHOLDS,
        "snap_max_m": snap_max_m(),
        "repeats": {"ours": args.repeats, "peers": args.peer_repeats},
        "prepare_s": city.prepare_s,
        "ours": {k: v for k, v in tools["ours"].items() if k not in ("counts", "nearest_m")},
        "pandana": {
            k: v for k, v in tools.get("pandana", {}).items() if k not in ("counts", "nearest_m")
        }
        or None,
        "cityseer": {
            k: v for k, v in tools.get("cityseer", {}).items() if k not in ("counts", "nearest_m")
        }
        or None,
        "pyrosm": pyrosm,
        "cross_check": check,
        "cpu_share": share.stop(),
    }
    path = write_json(args.results, "engine", result)
    ours = result["ours"]["engine_s"]
    print(f"ours (engine alone): {ours:.3f} s")
    if result["pandana"]:
        p = result["pandana"]["build_plus_queries_s"]
        print(f"pandana build + queries: {p:.2f} s -> {p / ours:.1f}x ours")
    if result["cityseer"]:
        c = result["cityseer"]["run_s"]
        print(f"cityseer: {c:.2f} s -> {c / ours:.1f}x ours")
    if pyrosm:
        print(f"pyrosm load: {pyrosm['load_s']:.2f} s")
    print(
        "share of nodes with a pharmacy within 1000 m: "
        + ", ".join(f"{name} {check['pharmacy'][name]['share_1000m']:.3f}" for name in tools)
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
