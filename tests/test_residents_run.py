"""Residents as they walk, through a whole run of the bundled district: speeds by group,
a DEM, gates from a table and population data reach the cluster table and the summary."""

from __future__ import annotations

import numpy as np
import pytest
from tests_support import BUNDLED, north_up, write_geotiff

from circles import pipeline
from circles.config import study_from_dict

pytestmark = pytest.mark.slow

CATEGORIES = ["market", "kindergarten", "elder_care", "pharmacy"]


def _run(tmp_path, **extra):
    data = {"name": "r", "source": {"osm": str(BUNDLED)}, "categories": CATEGORIES}
    data["standard"] = None
    data.update(extra)
    return pipeline.run(study_from_dict(data, base=tmp_path))


def test_a_parent_with_a_small_child_walks_a_shorter_way_in_15_minutes(tmp_path):
    # 17 minutes at 4 km/h: 1133.3 m for an adult; a parent with a small child walks
    # 3.17 km/h (walking_speeds.yaml): 17 x 3170 / 60 = 898.2 m.
    res = _run(tmp_path, thresholds={"minutes": [17], "speed_kmh": 4.0})
    prof = res.summary["walking"]["profiles"]
    assert prof["market"]["distances_m"] == [1133.3]
    assert prof["kindergarten"]["distances_m"] == [898.2]
    c = res.clusters[res.clusters["used"]]
    near = np.nan_to_num(c["kindergarten_nearest_m"].to_numpy(float), nan=np.inf)
    counted = c["kindergarten_1133.3m"].to_numpy(int) > 0
    # A kindergarten counts within 898.2 m, not 1133.3 m: a cluster 1,110.6 m away does not.
    np.testing.assert_array_equal(counted, near <= 898.2)
    assert (near <= 1133.3).sum() > counted.sum()


def _dem(path, tilt_per_m: float):
    """A GeoTIFF over the district in UTM 50N: flat, or rising eastwards."""
    x0, y0, cell, n = 665_000.0, 3_549_500.0, 50.0, 120
    x = x0 + cell * (np.arange(n) + 0.5)
    z = np.tile(10.0 + tilt_per_m * (x - x0), (n, 1))
    return write_geotiff(path, z, "EPSG:32650", north_up(x0, y0, cell, cell))


def test_a_flat_dem_changes_nothing_and_a_slope_lengthens_every_walk(tmp_path):
    plain = _run(tmp_path, walking={"steps": False})
    flat = _run(tmp_path, walking={"steps": False, "dem": str(_dem(tmp_path / "f.tif", 0.0))})
    tilted = _run(tmp_path, walking={"steps": False, "dem": str(_dem(tmp_path / "t.tif", 0.08))})
    a = plain.clusters["market_nearest_m"].to_numpy(float)
    b = flat.clusters["market_nearest_m"].to_numpy(float)
    np.testing.assert_allclose(a, b, atol=0.05)
    c = tilted.clusters["market_nearest_m"].to_numpy(float)
    known = np.isfinite(a) & np.isfinite(c)
    # Tobler: an 8% slope is slower both ways than the flat pace, so no walk is shorter;
    # the snap distances stay straight metres.
    assert (c[known] >= a[known] - 0.05).all() and (c[known] > a[known] + 1).any()


def test_gates_and_population_from_tables(tmp_path):
    from circles.settings import PROJECT_DIR

    examples = PROJECT_DIR / "data" / "examples"
    res = _run(
        tmp_path,
        gates={"file": str(examples / "gates.csv"), "crs": "gcj02"},
        population={"file": str(examples / "population.csv")},
    )
    c = res.clusters
    assert res.summary["gates"]["walk_from"]["gates"] == 3
    assert set(c.loc[c["walk_from"] == "gates", "name"].fillna("")) >= {"华侨路二十六号小区"}
    assert (c["population_method"] == "dasymetric").sum() > 0
    # Two 社区 of 30,000 and 45,000 (9,900 + 7,200 aged 60+), spread over the buildings.
    dasy = c["population_method"] == "dasymetric"
    assert c.loc[dasy, "population"].sum() == pytest.approx(75_000, rel=0.01)
    shares = c["market_1000m_share"].to_numpy(float)
    assert np.nanmin(shares) >= 0 and np.nanmax(shares) <= 1
