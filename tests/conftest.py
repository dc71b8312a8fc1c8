"""Shared fixtures: paths to the bundled district and the real extracts in ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_OSM = ROOT.parent / "shared" / "data" / "osm"
BUNDLED_OSM = ROOT / "data" / "nanjing-xinjiekou-2021.osm"


@pytest.fixture(scope="session")
def shared_osm() -> Path:
    if not SHARED_OSM.is_dir():
        pytest.fail(f"real OSM extracts not found at {SHARED_OSM} (shared/ must sit beside repo)")
    return SHARED_OSM


@pytest.fixture(scope="session")
def nanjing_result():
    """The bundled study, run once for the whole session."""
    from circles import pipeline
    from circles.config import load_study

    return pipeline.run(load_study())
