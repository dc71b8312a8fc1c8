"""Residence clusters and population estimates, checked by hand arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from circles.config import ResidenceSettings
from circles.network import from_arrays
from circles.residences import build_residences
from circles.sources.extract import features_frame

CRS = "EPSG:32650"


def _feats(rows):
    f = features_frame(
        osm_type=["way"] * len(rows),
        osm_id=list(range(1, len(rows) + 1)),
        tags=[r[0] for r in rows],
        geometry=[r[1] for r in rows],
    )
    return f.set_crs(CRS, allow_override=True)


@pytest.fixture
def net():
    x = np.array([0, 1000, 1000, 0.0])
    y = np.array([0, 0, 1000, 1000.0])
    return from_arrays(x, y, [0, 1, 2, 3], [1, 2, 3, 0], CRS)


def test_landuse_polygon_population_from_its_buildings(net):
    settings = ResidenceSettings()
    feats = _feats(
        [
            ({"landuse": "residential", "name": "幸福小区"}, shapely.box(0, 0, 100, 100)),
            ({"building": "apartments", "building:levels": "5"}, shapely.box(10, 10, 30, 20)),
            ({"building": "yes"}, shapely.box(50, 50, 70, 60)),  # untyped, inside: counts
            ({"building": "yes"}, shapely.box(500, 500, 520, 510)),  # untyped, outside: no
        ]
    )
    clusters, notes = build_residences(feats, net, settings, 300.0)
    assert len(clusters) == 1 and notes == []
    c = clusters.iloc[0]
    assert c["method"] == "landuse" and c["name"] == "幸福小区"
    assert c["area_m2"] == pytest.approx(10_000)
    # 200 m2 x 5 storeys + 200 m2 x 6 default storeys = 2200 m2 of floor area.
    assert c["floor_area_m2"] == pytest.approx(2200)
    assert c["dwellings"] == pytest.approx(2200 / 90, abs=0.05)
    assert c["population"] == pytest.approx(round(2200 / 90 * 2.62))


def test_landuse_polygon_without_buildings_uses_plot_ratio(net):
    feats = _feats([({"landuse": "residential"}, shapely.box(0, 0, 100, 200))])
    clusters, _ = build_residences(feats, net, ResidenceSettings(default_far=2.0), 300.0)
    # 20,000 m2 x plot ratio 2 = 40,000 m2; / 90 m2 x 2.62 persons.
    assert clusters["population"].iloc[0] == pytest.approx(round(40_000 / 90 * 2.62))


def test_buildings_cluster_by_distance(net):
    feats = _feats(
        [
            ({"building": "residential"}, shapely.box(0, 0, 10, 10)),
            ({"building": "residential"}, shapely.box(40, 0, 50, 10)),  # 30 m away: joins
            ({"building": "house"}, shapely.box(300, 300, 310, 310)),  # far: its own
            ({"building": "commercial"}, shapely.box(20, 0, 30, 10)),  # not residential
        ]
    )
    clusters, notes = build_residences(feats, net, ResidenceSettings(building_cluster_m=50), 300.0)
    assert sorted(clusters["floor_area_m2"].round(3)) == [200.0, 1200.0]  # house: 2 storeys
    assert (clusters["method"] == "buildings").all()
    assert any("buildings" in n for n in notes)


def test_grid_when_nothing_residential(net):
    feats = _feats([({"building": "commercial"}, shapely.box(0, 0, 10, 10))])
    clusters, notes = build_residences(feats, net, ResidenceSettings(grid_spacing_m=250), 300.0)
    assert (clusters["method"] == "grid").all()
    # Cells of 250 m over a 1000 m square: 4 x 4, all within 300 m of a node or not;
    # the centre cells are 375 m from the nearest corner node and are dropped.
    assert len(clusters) == 12
    assert clusters["population"].iloc[0] == pytest.approx(6.25 * 100)
    assert any("grid" in n for n in notes)


def test_method_is_a_setting(net):
    feats = _feats([({"landuse": "residential"}, shapely.box(0, 0, 100, 100))])
    clusters, _ = build_residences(feats, net, ResidenceSettings(method="grid"), 300.0)
    assert (clusters["method"] == "grid").all()
