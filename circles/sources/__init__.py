"""Data sources: local OSM files, Overpass through osmnx, user tables, coordinate systems.

Submodules load on first use, so that importing one light module (``coords``) does not
pull in geopandas through the OSM reader.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"OsmExtract": "circles.sources.extract", "read_osm_file": "circles.sources.osm_file"}

__all__ = ["OsmExtract", "read_osm_file"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'circles.sources' has no attribute {name!r}")
