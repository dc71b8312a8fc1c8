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


# A box over the bundled district (Nanjing Xinjiekou), WGS-84, as a study area in UTM 50N:
# where the rows of the table tests may lie.
TABLE_BOX = (118.755, 32.029, 118.800, 32.059)


@pytest.fixture(scope="module")
def area():
    """The table tests' study area: TABLE_BOX in UTM 50N."""
    import pyproj
    import shapely

    from circles.sources.tables import StudyArea

    utm50 = pyproj.CRS.from_epsg(32650)
    t = pyproj.Transformer.from_crs("EPSG:4326", utm50, always_xy=True)
    x0, y0 = t.transform(TABLE_BOX[0], TABLE_BOX[1])
    x1, y1 = t.transform(TABLE_BOX[2], TABLE_BOX[3])
    return StudyArea(shapely.box(x0, y0, x1, y1), utm50)


@pytest.fixture(scope="module")
def cats():
    """The default service categories."""
    from circles.services import load_categories

    return load_categories()
