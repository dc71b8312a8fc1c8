"""The everyday run stays light, and the first run after an install compiles nothing
(issue 17, points 8 and 9).

A warm ``circles run --origins nodes --tables-only`` (the network from the cache) needs the
engine and the reach table: not geopandas, the console tables, the map or the edge index.
Each check runs the command line in a new interpreter, on a small grid of streets written
here, and lists the modules that interpreter loaded. ``make setup`` compiles the engine's
kernels (``circles._compile``): afterwards, runs and plans must find every kernel they
call in numba's cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from circles.config import study_from_dict
from circles.result import StudyResult

# What a warm tables-only run has no use for: geometry tables, the console tables (and the
# pandas their columns load), the map and the report, the edge index (scipy.spatial: nodes
# are origins as they are, no point is snapped) and scipy.linalg, which numba would import
# for a BLAS the kernels never call (nor may the placeholder that spares it stay behind).
NOT_FOR_TABLES = (
    "geopandas",
    "pandas",
    "shapely",
    "rich.table",
    "matplotlib",
    "folium",
    "scipy.spatial",
    "scipy.linalg",
    "scipy.linalg.cython_blas",
    "circles.residences",
    "circles.outputs.console",
)

N = 6  # the grid has N x N nodes, N streets each way
LAT0, LON0, STEP = 32.04, 118.78, 0.001  # Nanjing, about 100 m apart


def _grid_osm(path: Path) -> Path:
    """N x N residential streets, a supermarket and a pharmacy, as OSM XML."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for i in range(N):
        for j in range(N):
            lat, lon = LAT0 + i * STEP, LON0 + j * STEP
            lines.append(f'<node id="{1 + i * N + j}" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    pois = [(1001, 0.5, 0.5, "amenity", "pharmacy"), (1002, 2.5, 3.5, "shop", "supermarket")]
    for oid, di, dj, key, value in pois:
        lat, lon = LAT0 + di * STEP, LON0 + dj * STEP
        lines.append(
            f'<node id="{oid}" lat="{lat:.7f}" lon="{lon:.7f}"><tag k="{key}" v="{value}"/></node>'
        )
    streets = [[1 + i * N + j for j in range(N)] for i in range(N)]
    streets += [[1 + i * N + j for i in range(N)] for j in range(N)]
    for wid, refs in enumerate(streets, start=1):
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        lines.append(f'<way id="{wid}">{nds}<tag k="highway" v="residential"/></way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run_and_list(args: list[str], names: tuple[str, ...]) -> list[str]:
    """Run the command line in a new interpreter; the modules of ``names`` it loaded."""
    code = (
        "import json, sys\n"
        "import cli\n"
        "cli.app(sys.argv[1:], standalone_mode=False)\n"
        f"print(json.dumps([n for n in {list(names)!r} if n in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_warm_tables_only_run_loads_nothing_it_does_not_use(tmp_path):
    osm = _grid_osm(tmp_path / "grid.osm")
    run = ["run", "--osm", str(osm), "--origins", "nodes", "--tables-only"]
    run += ["--cache-dir", str(tmp_path / "cache")]
    # The first run reads the file (geopandas and shapely assemble its features): the same
    # probe sees them, so an empty list below is not a probe that sees nothing.
    cold = _run_and_list([*run, "--out", str(tmp_path / "cold")], NOT_FOR_TABLES)
    assert "geopandas" in cold and "shapely" in cold
    warm = _run_and_list([*run, "--out", str(tmp_path / "warm")], NOT_FOR_TABLES)
    summary = json.loads((tmp_path / "warm" / "summary.json").read_text(encoding="utf-8"))
    assert summary["from_cache"] is True
    assert summary["inputs"]["origins"] == N * N
    assert warm == []


def test_warning_lines_show_the_gaps_in_one_line_and_few_others():
    from circles.services import load_catalogue

    catalogue = load_catalogue()
    study = study_from_dict({"name": "w"})
    summary = {
        "data_gaps": ["pharmacy", "clinic"],
        "warnings": ["data gap: pharmacy", "data gap: clinic", "one", "two", "three"],
    }
    cats = {k: catalogue[k] for k in ("market", "pharmacy", "clinic")}
    result = StudyResult(study, None, cats, [], None, None, None, summary)  # type: ignore[arg-type]
    lines = result.warning_lines()
    assert len(lines) == 4
    names = f"{catalogue['pharmacy'].en}, {catalogue['clinic'].en}"
    assert lines[0].startswith(f"data gaps 数据缺口: no {names} in the data;")
    assert lines[1:3] == ["one", "two"]
    assert lines[3].startswith("… and 1 more warnings")
    assert StudyResult(study, None, cats, [], None, None, None, {}).warning_lines() == []  # type: ignore[arg-type]


@pytest.mark.slow
def test_after_compile_kernels_runs_and_plans_compile_nothing(tmp_path):
    # A new install: numba's cache empty. compile_kernels fills it (make setup's step)...
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "NUMBA_DEBUG_CACHE": "1"}
    setup = subprocess.run(
        [sys.executable, "-c", "from circles._compile import compile_kernels; compile_kernels()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert setup.returncode == 0, setup.stderr
    assert "data saved" in setup.stdout  # it compiled: the cache was empty
    # ... then a full run (clusters, isochrones), a plan and a tables-only run of every
    # node save nothing new: every kernel they call was compiled for their argument types.
    osm = _grid_osm(tmp_path / "grid.osm")
    code = (
        "from circles import pipeline, planning\n"
        "from circles.config import load_study, study_from_dict\n"
        "result = pipeline.run(load_study())\n"
        "planning.plan(result, planning.Item('market', 500.0), 1)\n"
        f"nodes = study_from_dict({{'name': 'g', 'source': {{'osm': {str(osm)!r}}}, "
        "'reach': {'origins': 'nodes'}})\n"
        "pipeline.run(nodes, tables_only=True)\n"
    )
    runs = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert runs.returncode == 0, runs.stderr
    assert "data loaded" in runs.stdout
    saved = [line for line in runs.stdout.splitlines() if "data saved" in line]
    assert saved == []


def test_nodes_are_placed_without_a_projection_and_points_inside_edges_with_one(monkeypatch):
    import numpy as np
    import pyproj

    from circles.network import from_arrays
    from circles.snap import Attachment, attach_to_nodes, attachment_lonlat

    utm = pyproj.CRS.from_epsg(32650)
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", utm, always_xy=True)
    lon = np.array([118.78, 118.781, 118.781])
    lat = np.array([32.04, 32.04, 32.041])
    x, y = to_utm.transform(lon, lat)
    network = from_arrays(np.array(x), np.array(y), np.array([0, 1]), np.array([1, 2]), utm)
    real = pyproj.Transformer.from_crs

    def refuse(*args, **kwargs):
        raise AssertionError("no projection is needed for nodes")

    # Every node an origin (--origins nodes): each at its own WGS-84 position, unprojected.
    monkeypatch.setattr(pyproj.Transformer, "from_crs", refuse)
    got = attachment_lonlat(network, attach_to_nodes(network, np.arange(3)))
    np.testing.assert_allclose(got, [network.lon, network.lat], atol=1e-9)
    np.testing.assert_allclose(sorted(got[0]), sorted(lon), atol=1e-9)
    # A point halfway along an edge is projected back from its metric position.
    monkeypatch.setattr(pyproj.Transformer, "from_crs", real)
    e = 0
    a, b = network.edge_u[e], network.edge_v[e]
    half = Attachment(
        np.array([e]), np.array([network.edge_len[e] / 2]), np.zeros(1), np.ones(1, bool)
    )
    mid_x, mid_y = (network.x[a] + network.x[b]) / 2, (network.y[a] + network.y[b]) / 2
    want = pyproj.Transformer.from_crs(utm, "EPSG:4326", always_xy=True).transform(mid_x, mid_y)
    np.testing.assert_allclose(np.ravel(attachment_lonlat(network, half)), want, atol=1e-9)
