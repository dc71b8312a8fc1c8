"""Large POI tables (issue 18, point 16): load time and peak memory for 50k to 200k rows.

Generates AMap-like exports (名称, 类型, 类型编码, 地址, 电话, 省份, 城市, 区县, 经度, 纬度 in
GCJ-02) over the bundled district, then loads each size in a new process: the bundled
study's network, and the table read, located, classified and merged with the OSM services
(``circles.prepare.add_poi_tables``, as a run does it). Peak memory is the child's maximum
resident set (``resource.getrusage(RUSAGE_CHILDREN)``), so each size is measured alone.

    .venv/bin/python benchmarks/bench_tables.py [--sizes 50000,100000,200000] [--repeat 1]

Prints a markdown table; the target is 200,000 rows in at most 30 s and 1 GB, growing
linearly (the time per row and the memory per row above the baseline about the same at
every size).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The bundled district (Nanjing Xinjiekou), WGS-84: where the rows lie.
BOX = (118.755, 32.029, 118.800, 32.059)
TARGET_S = 30.0
TARGET_MB = 1024.0
TARGET_ROWS = 200_000

# AMap-like kinds of place: (type code, type path, words a name ends with). Known
# categories, kinds the study does not measure (rejected as unknown_category) and kinds
# found by the name alone.
KINDS = [
    ("090601", "医疗保健服务;医药保健销售店;药房", "大药房"),
    ("090300", "医疗保健服务;诊所;诊所", "诊所"),
    ("090100", "医疗保健服务;综合医院;综合医院", "医院"),
    ("141204", "科教文化服务;学校;幼儿园", "幼儿园"),
    ("141203", "科教文化服务;学校;小学", "小学"),
    ("060400", "购物服务;超级市场;超市", "超市"),
    ("060200", "购物服务;便民商店/便利店;便利店", "便利店"),
    ("050000", "餐饮服务;餐饮相关场所;餐饮相关", "餐厅"),
    ("050300", "餐饮服务;快餐厅;快餐厅", "快餐"),
    ("150700", "交通设施服务;公交车站;公交车站相关", "公交站"),
    ("170200", "公司企业;公司;公司", "科技有限公司"),
    ("120302", "商务住宅;住宅区;住宅小区", "小区"),
    ("", "生活服务;生活服务场所;生活服务场所", "社区养老服务站"),
    ("", "", "日间照料中心"),
]
BRANDS = [
    "益丰", "老百姓", "华润", "苏果", "好邻居", "金陵", "秦淮", "鼓楼",
    "新街口", "汉中", "同仁", "江宁", "玄武", "建邺", "中山", "太平",
]  # fmt: skip
ROADS = [
    "中山路", "汉中路", "中山南路", "洪武路", "太平南路", "户部街",
    "王府大街", "石鼓路", "上海路", "广州路", "北京西路", "珠江路",
]  # fmt: skip
HEADER = ["id", "名称", "类型", "类型编码", "地址", "电话", "省份", "城市", "区县", "经度", "纬度"]


def write_table(path: Path, n: int, seed: int = 18) -> None:
    """An AMap-like POI export of ``n`` rows over the bundled district, GCJ-02, UTF-8."""
    from circles.sources.coords import wgs84_to_gcj02

    rng = np.random.default_rng(seed)
    lon = rng.uniform(BOX[0], BOX[2], n)
    lat = rng.uniform(BOX[1], BOX[3], n)
    glon, glat = wgs84_to_gcj02(lon, lat)
    kind = rng.integers(0, len(KINDS), n)
    brand = rng.integers(0, len(BRANDS), n)
    road = rng.integers(0, len(ROADS), n)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(n):
            code, type_path, word = KINDS[kind[i]]
            r = ROADS[road[i]]
            w.writerow(
                [
                    f"B0FFF{i:07d}",
                    f"{BRANDS[brand[i]]}{word}（{r}{i}号店）",
                    type_path,
                    code,
                    f"{r}{i % 300 + 1}号",
                    f"025-8{i:07d}"[:12],
                    "江苏省",
                    "南京市",
                    "秦淮区" if i % 2 else "鼓楼区",
                    f"{glon[i]:.6f}",
                    f"{glat[i]:.6f}",
                ]
            )


def child(path: Path) -> None:
    """Load one table as a run does; print the times as JSON (run in a new process)."""
    t0 = time.perf_counter()
    from circles import prepare
    from circles.config import load_study, study_from_dict
    from circles.progress import Steps
    from circles.scope import Scope

    base = load_study()
    study = study_from_dict({**base.model_dump(), "pois": [{"file": str(path), "crs": "gcj02"}]})
    scope = Scope.of(study, tables_only=True)
    prepared = prepare.prepare(study, scope, Steps())
    t1, cpu1 = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    log = prepare.TableLog(study.pois_mode)
    prepare.add_poi_tables(prepared, study, scope.categories, log)
    t2, cpu2 = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    p = log.pois[0]
    print(
        json.dumps(
            {
                "network_s": t1 - t0,
                "load_s": t2 - t1,
                "load_cpu_s": cpu2 - cpu1,
                "own_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rows_read": p["rows_read"],
                "rows_used": p["rows_used"],
                "rows_rejected": p["rows_rejected"],
                "by_reason": p["rejected_by_reason"],
            }
        )
    )


def _cpu(who: int) -> float:
    """CPU seconds (user and system) of this process or of its children."""
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _peak(before_kb: int, own_mb: float) -> float:
    """The last child's peak MB: the children's maximum RSS when it grew, else the child's
    own report (ru_maxrss of the children is the largest of any child so far)."""
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak_kb / 1024 if peak_kb > before_kb else own_mb


def measure(path: Path) -> dict:
    """One size in a new process: its times, and its peak resident memory in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(path)],
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["peak_mb"] = _peak(before, out["own_peak_mb"])
    return out


def whole_run(path: Path, out_dir: Path) -> dict:
    """``circles run --pois <table> --tables-only`` in a new process: wall, CPU, peak MB.

    A small Python process starts the command and reports its children's usage, so that
    the peak is the command's own (the children's ru_maxrss here is the largest so far).
    """
    circles = str(Path(sys.executable).with_name("circles"))
    command = [circles, "run", "--pois", str(path), "--pois-crs", "gcj02", "--tables-only",
               "--no-cache", "--out", str(out_dir)]  # fmt: skip
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t0 = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL,"
        " stderr=subprocess.DEVNULL)\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps({'s': time.perf_counter() - t0, 'cpu_s': r.ru_utime + r.ru_stime,"
        " 'peak_mb': r.ru_maxrss / 1024}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def baseline() -> float:
    """Peak MB of a child that loads the network and imports everything, without a table."""
    code = (
        "from circles import prepare; from circles.config import load_study; "
        "from circles.progress import Steps; from circles.scope import Scope; "
        "import circles.sources.tables; s = load_study(); "
        "prepare.prepare(s, Scope.of(s, tables_only=True), Steps())"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50000,100000,200000", help="rows, comma-separated")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size (median time)")
    ap.add_argument(
        "--whole", action="store_true", help="also time `circles run --pois … --tables-only`"
    )
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    base_mb = baseline()
    load1 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="circles-bench-tables-") as tmp:
        for n in sizes:
            path = Path(tmp) / f"amap-{n}.csv"
            write_table(path, n)
            runs = [measure(path) for _ in range(max(1, args.repeat))]
            whole = whole_run(path, Path(tmp) / f"out-{n}") if args.whole else None
            rows.append((n, path.stat().st_size / 2**20, runs, whole))
    load2 = os.getloadavg()
    print(
        f"AMap-like POI tables over the bundled district (GCJ-02, UTF-8 CSV, "
        f"{len(HEADER)} columns: {', '.join(HEADER)}), each loaded in a new process: read, "
        f"located, classified, merged with the district's OSM services and snapped "
        f"(`prepare.add_poi_tables`, as a run does it), after the network (not timed). "
        f"*load s* is wall clock, *CPU s* the process's user and system time for the same "
        f"step (a truer figure on a busy machine). Peak = the process's maximum RSS, "
        f"network and imports included (those alone: {base_mb:,.0f} MB). Median of "
        f"{args.repeat} run(s). Load average (1 min) before {load1[0]:.1f}, after "
        f"{load2[0]:.1f}, on {os.cpu_count()} cores.\n"
    )
    head = ["rows", "CSV MB", "load s", "CPU s", "µs per row (CPU)", "peak MB",
            "MB per 1k rows above base", "used", "rejected"]  # fmt: skip
    if args.whole:
        head += ["whole run s", "whole run CPU s", "whole run peak MB"]
    head.append(f"target (≤ {TARGET_S:g} s, ≤ {TARGET_MB:g} MB at {TARGET_ROWS:,})")
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * (len(head) - 1) + "---|")
    fit = []
    for n, mb, runs, whole in rows:
        load = float(np.median([r["load_s"] for r in runs]))
        cpu = float(np.median([r["load_cpu_s"] for r in runs]))
        peak = max(r["peak_mb"] for r in runs)
        r = runs[-1]
        cells = [f"{n:,}", f"{mb:.1f}", f"{load:.2f}", f"{cpu:.2f}", f"{1e6 * cpu / n:.0f}",
                 f"{peak:,.0f}", f"{1000 * (peak - base_mb) / n:.2f}", f"{r['rows_used']:,}",
                 f"{r['rows_rejected']:,}"]  # fmt: skip
        if whole is not None:
            cells += [f"{whole['s']:.1f}", f"{whole['cpu_s']:.1f}", f"{whole['peak_mb']:,.0f}"]
        verdict = ""
        if n == TARGET_ROWS:
            ok = load <= TARGET_S and peak <= TARGET_MB
            verdict = "PASS" if ok else "FAIL"
        print("| " + " | ".join([*cells, verdict]) + " |")
        fit.append((n, load, cpu, peak))
    if len(fit) >= 2:
        (n1, t1, c1, m1), (n2, t2, c2, m2) = fit[0], fit[-1]

        def exp(a: float, b: float) -> float:
            return math.log(max(b, 1e-9) / max(a, 1e-9)) / math.log(n2 / n1)

        print(
            f"\nGrowth from {n1:,} to {n2:,} rows: wall time with exponent {exp(t1, t2):.2f}, "
            f"CPU time {exp(c1, c2):.2f}, memory above the base "
            f"{exp(m1 - base_mb, m2 - base_mb):.2f} (1 is linear)."
        )


if __name__ == "__main__":
    main()
