"""Shared pieces of the benchmarks: the Malta inputs, timing, machine facts, JSON and tables.

Every benchmark script writes its numbers as JSON into a results folder; ``run_all.py``
reads them and writes ``benchmarks/RESULTS.md``. Nothing here is imported by the tests.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
DEFAULT_RESULTS = BENCH_DIR / "results"
MALTA = ROOT / ".." / "shared" / "data" / "osm" / "malta-2018.osm.pbf"

# The benchmark of issue 3: five categories, the GB 50180-2018 distances, plus the nearest.
CATEGORIES = ["market", "pharmacy", "clinic", "elder_care", "food_drink"]
THRESHOLDS = [300, 500, 1000]

# Targets of issue 3 (on 2 cores).
TARGET_VS_PANDANA = 10.0  # engine alone at least 10x faster than pandana build + queries
TARGET_VS_CITYSEER = 25.0  # ... and at least 25x faster than cityseer
TARGET_COLD_SHARE = 0.25  # cold end to end <= 1/4 of (pyrosm load + pandana build + queries)
TARGET_WARM_S = 1.5  # warm end to end under 1.5 s
# Issue 17: the warm command a user types, at most a tenth of the peers' cold command.
TARGET_WARM_VS_PEERS = 0.10
TARGET_1M_MB = 8 * 1024  # the 1M-node grid city at 1000 m in under 8 GB


def default_categories() -> list[str]:
    """The categories a plain ``circles run`` measures (no ``--categories``, no standard
    scored, as with ``--tables-only``): the catalogue's default ones, in its order."""
    from circles.services import load_categories

    return list(load_categories())


def snap_max_m() -> float:
    """The study default for the snapping distance (points farther are not used)."""
    from circles.config import SnapSettings

    return float(SnapSettings().max_distance_m)


# --------------------------------------------------------------------------- timing


def timed_runs(
    fn: Callable[[], Any], repeats: int, warmup: int = 0
) -> tuple[float, list[float], Any]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times; return the median wall
    time, every time, and the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- Malta inputs


@dataclass
class CityInputs:
    """The benchmark city as every tool sees it: our walking graph (UTM metres) and the
    services of the five categories (projected points within the snapping distance)."""

    network: Any  # circles.network.WalkNetwork
    svc_x: np.ndarray
    svc_y: np.ndarray
    svc_cat: np.ndarray  # index into the categories it was loaded with
    n_found: int  # services found before dropping those beyond the snapping distance
    prepare_s: dict[str, float]


def load_city(path: Path = MALTA, categories: list[str] | None = None) -> CityInputs:
    """Read the .pbf, build the walking network and find the services of ``categories``
    (default :data:`CATEGORIES`); not timed as part of any tool's run, the steps are timed
    for information."""
    from circles.network import build_network
    from circles.services import feature_keys, find_services, load_catalogue
    from circles.snap import EdgeIndex
    from circles.sources.osm_file import read_osm_file

    steps: dict[str, float] = {}
    keys = CATEGORIES if categories is None else categories
    catalogue = load_catalogue()
    chosen = {k: catalogue[k] for k in keys}
    t0 = time.perf_counter()
    extract = read_osm_file(path, feature_keys(chosen))
    steps["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    network = build_network(extract)
    steps["network"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    features = extract.features.to_crs(network.crs)
    found = find_services(features, chosen)
    steps["services"] = time.perf_counter() - t0
    x = found.geometry.x.to_numpy(np.float64)
    y = found.geometry.y.to_numpy(np.float64)
    cat = np.array([keys.index(c) for c in found["category"]], dtype=np.int64)
    # Every tool gets the same POIs: those within the study's snapping distance of the
    # network (services on islands cut off from the largest component drop out here).
    used = EdgeIndex(network).attach(x, y, snap_max_m()).used
    return CityInputs(network, x[used], y[used], cat[used], len(found), steps)


# --------------------------------------------------------------------------- machine


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def ram_gib() -> float:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def _versions(names: list[str]) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def package_versions() -> dict[str, str]:
    """Versions of circles, its dependencies, and the peers."""
    import re
    from importlib import metadata

    deps = []
    for req in metadata.requires("circles") or []:
        if "extra ==" in req:
            continue
        deps.append(re.split(r"[<>=!~ ;\[]", req, maxsplit=1)[0])
    return _versions(["circles", *deps, "pandana", "cityseer", "pyrosm"])


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            # The benchmarks' own outputs, rewritten by this run, do not count.
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."]
            + [":!benchmarks/results", ":!benchmarks/RESULTS.md"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return f"{rev} (with uncommitted changes)" if dirty else rev
    except OSError:
        return "unknown"


def machine_info() -> dict[str, Any]:
    import numba

    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "cpu": cpu_model(),
        "ram_gib": round(ram_gib(), 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "git": git_revision(),
    }


class CpuShare:
    """How much CPU other processes used while we ran: the machine's busy time from
    /proc/stat minus our own (this process and its waited-for children)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.busy0 = self._busy()
        self.own0 = self._own()
        self.load_before = os.getloadavg()

    @staticmethod
    def _busy() -> float:
        fields = _read("/proc/stat").splitlines()[0].split()[1:]
        ticks = [int(v) for v in fields]
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
        return busy / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        import resource

        s = resource.getrusage(resource.RUSAGE_SELF)
        c = resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        busy = self._busy() - self.busy0
        own = self._own() - self.own0
        others = max(0.0, busy - own)
        return {
            "wall_s": wall,
            "busy_cpu_s": busy,
            "own_cpu_s": own,
            "others_cpu_s": others,
            "others_cores": others / wall if wall > 0 else 0.0,
            "load_before": list(self.load_before),
            "load_after": list(os.getloadavg()),
        }


# --------------------------------------------------------------------------- output


def write_json(results_dir: Path, name: str, data: dict[str, Any]) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    return path


def read_json(results_dir: Path, name: str) -> dict[str, Any] | None:
    path = results_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON-able: {type(v)}")


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; right-align columns whose cells are all numbers."""

    def cell(v: Any) -> str:
        return str(v)

    numeric = [
        all(isinstance(r[i], int | float) or _is_number_text(r[i]) for r in rows)
        for i in range(len(headers))
    ]
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    for r in rows:
        lines.append("| " + " | ".join(cell(v) for v in r) + " |")
    return "\n".join(lines)


def _is_number_text(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        float(v.replace(",", "").replace("*", "").rstrip("x×%").strip())
        return True
    except ValueError:
        return False


def base_arg_parser(description: str):
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help=f"folder for the JSON results (default {DEFAULT_RESULTS.relative_to(ROOT)})",
    )
    return ap
