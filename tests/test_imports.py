"""Importing circles stays light: a cold `circles run` starts reading its OSM file in a
worker process before the engine (numba) and geopandas load, and `circles --help` never
loads them. Each check runs in a fresh interpreter, since this one has them loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

# Heavy modules that must load late: only when a study runs, never on import.
HEAVY = ("numba", "geopandas", "folium", "scipy.sparse.csgraph", "pandas", "shapely", "osmium")
# The pipeline may load what it needs at once (pyproj, numpy); not these.
HEAVY_FOR_PIPELINE = ("numba", "geopandas", "folium", "scipy.sparse.csgraph")


def _loaded_after(statement: str, names: tuple[str, ...]) -> list[str]:
    code = (
        "import json, sys\n"
        f"{statement}\n"
        f"print(json.dumps([n for n in {list(names)!r} if n in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "statement",
    ["import circles", "import circles.config", "import cli", "import circles.sources.coords"],
)
def test_light_imports_load_nothing_heavy(statement):
    assert _loaded_after(statement, HEAVY) == []


def test_pipeline_loads_the_engine_late():
    assert _loaded_after("import circles.pipeline", HEAVY_FOR_PIPELINE) == []


def test_a_lazy_name_loads_its_module():
    # The check above would pass for a package that exports nothing: reach loads numba.
    assert _loaded_after("import circles; circles.reach", ("numba",)) == ["numba"]
