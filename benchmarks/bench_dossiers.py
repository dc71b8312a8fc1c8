"""Dossiers and units.pdf (issue 13): one A4 page per unit, for Malta's local councils.

Runs the Malta study (GB 50180 by default, the largest item table of the bundled
standards), reads its councils from the OSM file's own boundaries (``--units
osm:admin_level=8``) and assesses them with the nearest facility of each shortfall; none of
that is timed. Then it times what the outputs add for units:

- *HTML*: ``write_dossiers`` (``units/<slug>.html``), in this process;
- *PDF*: ``write_units_pdf`` (``units.pdf``, WeasyPrint) in a new process each time,
  importing WeasyPrint and loading the CJK font included, as a run pays them.

Malta has 67 councils, of which those on Gozo (cut off from the main island's walking
network) lie outside the study area. The issue's target is 100 units in at most 30 s: the
second set cuts each council in two halves at its centroid's longitude (a west and an east
unit, assessed anew), which gives more than 100 units with pages of their own; their first
100 are timed.

    .venv/bin/python benchmarks/bench_dossiers.py [--repeat 3] [--standard gb50180-2018]

Prints a markdown table (medians of ``--repeat`` runs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MALTA = ROOT.parent / "shared" / "data" / "osm" / "malta-2018.osm.pbf"
TARGET_UNITS = 100
TARGET_S = 30.0

_PDF = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from circles.outputs.dossiers import write_units_pdf
pages = [Path(p) for p in json.loads(sys.argv[1])]
write_units_pdf(pages, Path(sys.argv[2]))
print(json.dumps({"s": time.perf_counter() - t0}))
"""


def _assessed(osm: Path, standard: str):
    """The Malta run, its councils' report and the report of the councils cut in two."""
    import numpy as np
    import shapely

    from circles import pipeline
    from circles.config import safe_name
    from circles.options import study_for_run
    from circles.prepare import prepare
    from circles.progress import Steps
    from circles.scope import Scope
    from circles.units import Units, assess, read_units

    study = study_for_run(osm=osm, units="osm:admin_level=8")
    study.standard = standard
    result = pipeline.run(study)
    scope = Scope.of(study)
    prepared = prepare(study, scope, Steps())
    councils = read_units(study, result.network)
    halves: list[tuple[str, object]] = []
    for name, geom in zip(councils.name, councils.geometry, strict=True):
        x = geom.centroid.x
        x0, y0, x1, y1 = geom.bounds
        for side, box in (("W", (x0 - 1, y0 - 1, x, y1 + 1)), ("E", (x, y0 - 1, x1 + 1, y1 + 1))):
            part = shapely.intersection(geom, shapely.box(*box))
            if not part.is_empty and part.area > 0:
                halves.append((f"{name} ({side})", part))
    cut = Units(
        name=np.array([n for n, _ in halves], dtype=object),
        slug=np.array([safe_name(n) for n, _ in halves], dtype=object),
        geometry=np.array([g for _, g in halves], dtype=object),
        level=councils.level,
        source=councils.source,
        crs=councils.crs,
    )
    reports = []
    for units in (councils, cut):
        args = (units, result.clusters, result.scores, prepared, result.starts, result.walk)
        reports.append(assess(*args, categories=scope.categories))
    return result, reports[0], reports[1]


def _pdf_seconds(pages: list[Path], out: Path) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", _PDF, json.dumps([str(p) for p in pages]), str(out)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["s"])


def _pages(pdf: Path) -> int | None:
    if not shutil.which("pdfinfo"):
        return None
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    return next((int(x.split()[1]) for x in out.splitlines() if x.startswith("Pages:")), None)


def _time(result, report, folder: Path, repeat: int, most: int | None = None) -> dict:
    """HTML and PDF times of a report's dossiers (its first ``most`` units)."""
    from circles.outputs.dossiers import write_dossiers

    html_runs, pages = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pages = write_dossiers(result, report, folder)
        html_runs.append(time.perf_counter() - t0)
    if most is not None:  # the HTML of all was timed: count the share of the first `most`
        html_runs = [t * most / len(pages) for t in html_runs]
        pages = pages[:most]
    pdf = folder / "units.pdf"
    pdf_runs = [_pdf_seconds(pages, pdf) for _ in range(repeat)]
    html, pdf_s = statistics.median(html_runs), statistics.median(pdf_runs)
    # what a PDF costs whatever its pages: the import, the fonts, the subsets (one page)
    fixed = statistics.median(_pdf_seconds(pages[:1], folder / "one.pdf") for _ in range(repeat))
    return {
        "fixed": fixed,
        "units": len(pages),
        "pages": _pages(pdf),
        "mb": pdf.stat().st_size / 1e6,
        "html": html,
        "pdf": pdf_s,
        "total": html + pdf_s,
        "runs": pdf_runs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--osm", type=Path, default=MALTA)
    ap.add_argument("--standard", default="gb50180-2018")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each timing (median)")
    args = ap.parse_args()
    repeat = max(1, args.repeat)

    result, councils, halves = _assessed(args.osm, args.standard)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        a = _time(result, councils, Path(tmp) / "councils", repeat)
        b = _time(result, halves, Path(tmp) / "halves", repeat, TARGET_UNITS)
    load1 = os.getloadavg()

    def verdict(seconds: float) -> str:
        return "**PASS**" if seconds <= TARGET_S else f"**FAIL** ({seconds / TARGET_S:.1f}x)"

    std = result.scores.standard if result.scores is not None else None
    n = len(councils.units)
    with_clusters = int((councils.table["clusters"] > 0).sum())
    print(
        f"Malta (`{args.osm.name}`), units from its own `admin_level=8` boundaries: the {n} "
        f"councils in the study area ({with_clusters} with clusters; {len(result.clusters):,} "
        f"clusters in all), scored against {std.key if std else 'no standard'} "
        f"({len(councils.items) // max(n, 1)} items a unit); then each council cut in two "
        f"({len(halves.units)} units), of which the first {TARGET_UNITS}. Median of {repeat} "
        "run(s); the PDF in a new process each time (importing WeasyPrint and loading the CJK "
        f"font included). Load average (1 min) before {load0[0]:.1f}, after {load1[0]:.1f}, "
        f"on {len(os.sched_getaffinity(0))} cores.\n"
    )
    print("| units | pages | HTML s | PDF s | total s | s per unit | PDF MB | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, r, target in (
        (f"{n} councils", a, "—"),
        (f"{TARGET_UNITS} half councils", b, f"≤ {TARGET_S:g} s: {verdict(b['total'])}"),
    ):
        print(
            f"| {label} | {r['pages']} | {r['html']:.2f} | {r['pdf']:.2f} | {r['total']:.2f} "
            f"| {r['total'] / r['units']:.3f} | {r['mb']:.1f} | {target} |"
        )
    # 100 whole councils: the PDF's fixed part once, the councils' time per page 100 times
    per_page = (a["html"] + a["pdf"] - a["fixed"]) / a["units"]
    scaled = a["fixed"] + TARGET_UNITS * per_page
    print(
        f"| {TARGET_UNITS} councils like these (extrapolated: {a['fixed']:.2f} s for any PDF, "
        f"then {per_page:.3f} s a council) | — | — | — | {scaled:.2f} | "
        f"{scaled / TARGET_UNITS:.3f} | — | ≤ {TARGET_S:g} s: {verdict(scaled)} |"
    )
    print(
        "\nPDF runs: councils "
        + ", ".join(f"{t:.2f}" for t in a["runs"])
        + f" s; {TARGET_UNITS} half councils "
        + ", ".join(f"{t:.2f}" for t in b["runs"])
        + " s."
    )


if __name__ == "__main__":
    main()
