"""Paths shared by the tests (importable, unlike conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "nanjing-xinjiekou-2021.osm"


def features(rows: list[tuple]) -> Any:
    """A features frame from (osm_type, osm_id, tags, geometry) rows."""
    from circles.sources.extract import features_frame

    return features_frame(
        osm_type=[r[0] for r in rows],
        osm_id=[r[1] for r in rows],
        tags=[r[2] for r in rows],
        geometry=[r[3] for r in rows],
    )
