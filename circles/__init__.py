"""circles: 15-minute living circles (15分钟生活圈) and complete communities from OpenStreetMap.

import circles
study = circles.load_study("configs/nanjing-xinjiekou.yaml")
result = circles.run(study)
result.clusters        # GeoDataFrame: reach per residence cluster
circles.write_outputs(result, "outputs/nanjing")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from circles._errors import CirclesError, ConfigError, InputError, NetworkUnavailableError

if TYPE_CHECKING:
    from circles.comparison import Comparison, compare
    from circles.config import Study, load_study, study_from_dict
    from circles.engine import Graph, Points, Reach, reach
    from circles.outputs import write_outputs
    from circles.outputs.compare import write_comparison
    from circles.outputs.plan import write_plan
    from circles.pipeline import run
    from circles.planning import Item, Plan, plan
    from circles.result import StudyResult

__version__ = "0.1.0"

# Loaded on first use (PEP 562): `circles run` starts reading its OSM file in a worker
# process before the engine (numba) and geopandas load, so importing the package must
# not load them.
_LAZY = {
    "Study": "circles.config",
    "load_study": "circles.config",
    "study_from_dict": "circles.config",
    "Graph": "circles.engine",
    "Points": "circles.engine",
    "Reach": "circles.engine",
    "reach": "circles.engine",
    "run": "circles.pipeline",
    "StudyResult": "circles.result",
    "write_outputs": "circles.outputs",
    "plan": "circles.planning",
    "Plan": "circles.planning",
    "Item": "circles.planning",
    "write_plan": "circles.outputs.plan",
    "compare": "circles.comparison",
    "Comparison": "circles.comparison",
    "write_comparison": "circles.outputs.compare",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'circles' has no attribute {name!r}")


__all__ = [
    "CirclesError",
    "Comparison",
    "ConfigError",
    "Graph",
    "InputError",
    "Item",
    "NetworkUnavailableError",
    "Plan",
    "Points",
    "Reach",
    "Study",
    "StudyResult",
    "compare",
    "load_study",
    "plan",
    "reach",
    "run",
    "study_from_dict",
    "write_comparison",
    "write_outputs",
    "write_plan",
]
