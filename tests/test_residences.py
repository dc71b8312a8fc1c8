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
            ({"building": "apartments", "building:levels": "5"}, shapely.box(10, 10, 40, 40)),
            ({"building": "yes"}, shapely.box(50, 50, 70, 70)),  # untyped, inside: counts
            ({"building": "yes"}, shapely.box(500, 500, 520, 510)),  # untyped, outside: no
        ]
    )
    clusters, notes = build_residences(feats, net, settings, 300.0)
    assert len(clusters) == 1 and notes == []
    c = clusters.iloc[0]
    assert c["method"] == "landuse" and c["name"] == "幸福小区"
    assert c["area_m2"] == pytest.approx(10_000)
    # 900 m2 x 5 storeys + 400 m2 x 6 default storeys = 6900 m2 of floor area; the
    # footprints cover 13 % of the polygon, enough to be the whole 小区.
    assert c["floor_area_m2"] == pytest.approx(6900)
    assert c["dwellings"] == pytest.approx(6900 / 90, abs=0.05)
    assert c["population"] == pytest.approx(round(6900 / 90 * 2.62))
    assert c["population_method"] == "buildings" and not c["population_low"]


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


# ---------------------------------------------------------------------------------------
# auto: 小区 polygons and the residential buildings outside them (issue 17, point 1)
# ---------------------------------------------------------------------------------------


def test_auto_clusters_the_buildings_outside_the_polygons(net):
    feats = _feats(
        [
            # A 小区 of 1 ha with 1,500 m2 of buildings (15 %): estimated from them.
            ({"landuse": "residential", "name": "幸福小区"}, shapely.box(0, 0, 100, 100)),
            ({"building": "residential", "building:levels": "4"}, shapely.box(10, 10, 60, 40)),
            # Outside it: a dormitory pair 20 m apart (one cluster) and a lone house.
            ({"building": "dormitory", "building:levels": "5"}, shapely.box(300, 0, 320, 20)),
            ({"building": "dormitory", "building:levels": "5"}, shapely.box(340, 0, 360, 20)),
            ({"building": "house"}, shapely.box(600, 600, 610, 610)),
        ]
    )
    clusters, notes = build_residences(feats, net, ResidenceSettings(), 300.0)
    assert list(clusters["cluster_id"]) == ["R0001", "B0001", "B0002"]
    assert list(clusters["method"]) == ["landuse", "buildings", "buildings"]
    # Floor areas by hand: 1500 x 4; 2 x 400 x 5; 100 x 2 (a house without levels).
    assert clusters["floor_area_m2"].tolist() == pytest.approx([6000, 4000, 200])
    assert clusters["population"].tolist() == [
        round(6000 / 90 * 2.62),
        round(4000 / 90 * 2.62),
        round(200 / 90 * 2.62),
    ]
    assert (clusters["population_method"] == "buildings").all()
    assert not clusters["population_low"].any()
    # 4,200 of 10,200 m2 of floor area (41 %) lie outside the polygon: a warning.
    (warn,) = [n for n in notes if "outside the landuse=residential polygons" in n]
    assert "3 residential buildings" in warn and "41%" in warn and "over 20%" in warn


def test_building_hulls_do_not_cover_the_polygons(net):
    """Two buildings on either side of a 小区, within the joining distance: their hull
    would cross it; the 小区's land is cut out so no land counts twice."""
    poly = shapely.box(0, 0, 40, 100)
    feats = _feats(
        [
            ({"landuse": "residential"}, poly),
            ({"building": "apartments"}, shapely.box(-30, 40, -10, 60)),
            ({"building": "apartments"}, shapely.box(50, 40, 70, 60)),
        ]
    )
    clusters, _ = build_residences(feats, net, ResidenceSettings(building_cluster_m=80), 300.0)
    (b,) = clusters[clusters["method"] == "buildings"].geometry
    assert b.intersection(poly).area == pytest.approx(0, abs=1e-6)
    # The two footprints (800 m2) and the land between them outside the 小区 (2 x 10 x 20).
    assert b.area == pytest.approx(800 + 2 * 10 * 20)


def test_no_warning_when_the_polygons_hold_most_floor_area(net):
    feats = _feats(
        [
            ({"landuse": "residential"}, shapely.box(0, 0, 100, 100)),
            ({"building": "residential", "building:levels": "8"}, shapely.box(0, 0, 50, 50)),
            # 2,500 x 8 = 20,000 m2 inside; outside 500 x 10 = 5,000 m2: exactly 20 %.
            ({"building": "apartments", "building:levels": "10"}, shapely.box(500, 0, 525, 20)),
        ]
    )
    clusters, notes = build_residences(feats, net, ResidenceSettings(), 300.0)
    assert list(clusters["cluster_id"]) == ["R0001", "B0001"]
    assert not any("outside the landuse" in n for n in notes)


def test_landuse_method_keeps_to_the_polygons(net):
    feats = _feats(
        [
            ({"landuse": "residential"}, shapely.box(0, 0, 100, 100)),
            ({"building": "apartments"}, shapely.box(500, 0, 525, 20)),
        ]
    )
    clusters, _ = build_residences(feats, net, ResidenceSettings(method="landuse"), 300.0)
    assert list(clusters["cluster_id"]) == ["R0001"]


# ---------------------------------------------------------------------------------------
# Partly mapped 小区 (issue 17, point 2)
# ---------------------------------------------------------------------------------------


def test_partly_mapped_polygon_uses_the_plot_ratio(net):
    """A 16 ha 小区 with one small mapped building: 0.1 % covered, far below the 10 %
    a fully mapped 小区 has at the least, so the plot ratio estimates it."""
    settings = ResidenceSettings(default_far=1.8, dwelling_m2=100, persons_per_dwelling=3.0)
    feats = _feats(
        [
            ({"landuse": "residential"}, shapely.box(0, 0, 400, 400)),
            ({"building": "residential", "building:levels": "6"}, shapely.box(10, 10, 30, 20)),
        ]
    )
    clusters, _ = build_residences(feats, net, settings, 300.0)
    c = clusters.iloc[0]
    # 160,000 m2 x 1.8 = 288,000 m2 (the building alone: 1,200 m2); / 100 m2 x 3 persons.
    assert c["floor_area_m2"] == pytest.approx(288_000)
    assert c["population"] == 8640
    assert c["population_method"] == "plot_ratio" and c["population_low"]


def test_coverage_threshold_and_tall_buildings(net):
    feats = _feats(
        [
            # 1,000 of 10,000 m2 covered: exactly 10 %, the whole 小区 (buildings).
            ({"landuse": "residential"}, shapely.box(0, 0, 100, 100)),
            ({"building": "residential", "building:levels": "3"}, shapely.box(0, 0, 50, 20)),
            # 900 m2 of 10,000 (9 %) but 30 storeys: 27,000 m2 beats 1.5 x 10,000; kept,
            # still flagged: the coverage says the mapping may be incomplete.
            ({"landuse": "residential"}, shapely.box(200, 0, 300, 100)),
            ({"building": "apartments", "building:levels": "30"}, shapely.box(200, 0, 230, 30)),
        ]
    )
    clusters, _ = build_residences(feats, net, ResidenceSettings(), 300.0)
    assert clusters["floor_area_m2"].tolist() == pytest.approx([3000, 27_000])
    assert clusters["population_method"].tolist() == ["buildings", "buildings"]
    assert clusters["population_low"].tolist() == [False, True]


def test_polygon_without_buildings_is_low_confidence(net):
    feats = _feats([({"landuse": "residential"}, shapely.box(0, 0, 100, 200))])
    clusters, _ = build_residences(feats, net, ResidenceSettings(), 300.0)
    assert clusters["population_method"].iloc[0] == "plot_ratio"
    assert bool(clusters["population_low"].iloc[0])


def test_grid_cells_are_low_confidence_and_buildings_are_not(net):
    grid, _ = build_residences(_feats([]), net, ResidenceSettings(method="grid"), 300.0)
    assert (grid["population_method"] == "grid").all() and grid["population_low"].all()
    feats = _feats([({"building": "house"}, shapely.box(0, 0, 10, 10))])
    b, _ = build_residences(feats, net, ResidenceSettings(), 300.0)
    assert b["population_method"].tolist() == ["buildings"]
    assert b["population_low"].tolist() == [False]


# ---------------------------------------------------------------------------------------
# Messages that say what happened (issue 18, point 14)
# ---------------------------------------------------------------------------------------


def test_tiny_network_says_it_is_smaller_than_a_grid_cell():
    tiny = from_arrays(np.array([0, 100.0]), np.array([0, 20.0]), [0], [1], CRS)
    clusters, notes = build_residences(_feats([]), tiny, ResidenceSettings(), 300.0)
    assert len(clusters) == 0
    text = " ".join(notes)
    assert "falling back" not in text
    assert "spans only 100 × 20 m" in text and "grid_spacing_m = 250 m" in text


def test_configured_landuse_without_polygons_names_what_is_missing(net):
    feats = _feats([({"building": "house"}, shapely.box(0, 0, 10, 10))])
    clusters, notes = build_residences(feats, net, ResidenceSettings(method="landuse"), 300.0)
    assert (clusters["method"] == "grid").all()
    assert any("found no landuse=residential polygons" in n for n in notes)
    assert not any("method 'grid'" in n for n in notes)


# ---------------------------------------------------------------------------------------
# Real districts
# ---------------------------------------------------------------------------------------


def _osm_residential(path, untyped=False):
    """landuse=residential polygons and typed residential buildings (and ``building=yes``
    when ``untyped``), read with osmium and projected with pyproj, without circles."""
    import osmium
    import pyproj
    from shapely import wkb

    kinds = {"residential", "apartments", "house", "detached", "semidetached_house"}
    kinds |= {"terrace", "dormitory", "bungalow", "flats"}
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    factory = osmium.geom.WKBFactory()
    polys, blds = [], []
    keys = osmium.filter.KeyFilter("building", "landuse")
    for o in osmium.FileProcessor(str(path)).with_areas().with_filter(keys):
        if not o.is_area():
            continue
        tags = dict(o.tags)
        g = wkb.loads(factory.create_multipolygon(o), hex=True)
        g = shapely.transform(g, lambda xy: np.column_stack(to_utm.transform(*xy.T)))
        if tags.get("landuse") == "residential":
            polys.append(g)
        if tags.get("building") in kinds or (untyped and tags.get("building") == "yes"):
            blds.append((g, tags))
    return polys, blds


@pytest.mark.slow
def test_wudaokou_auto_counts_the_buildings_outside_the_polygons(shared_osm):
    from circles.network import build_network
    from circles.sources.osm_file import read_osm_file

    path = shared_osm / "beijing-wudaokou-2026.osm"
    polys, blds = _osm_residential(path)
    union = shapely.union_all(polys)
    outside = [(g, t) for g, t in blds if not union.contains(g.representative_point())]
    low_rise = {"house", "detached", "semidetached_house", "terrace", "bungalow"}

    def floor(g, t):
        levels = float(t["building:levels"]) if "building:levels" in t else None
        return g.area * (levels or (2.0 if t["building"] in low_rise else 6.0))

    outside_floor = sum(floor(g, t) for g, t in outside)
    # What this extract holds (the figures came from a larger one).
    assert (len(polys), len(outside)) == (10, 6)

    extract = read_osm_file(path)
    network = build_network(extract)
    feats = extract.features.to_crs(network.crs)
    clusters, _ = build_residences(feats, network, ResidenceSettings(), 300.0)
    r = clusters[clusters["method"] == "landuse"]
    b = clusters[clusters["method"] == "buildings"]
    assert len(r) == len(polys)
    assert b["cluster_id"].str.match(r"^B\d{4}$").all() and clusters["cluster_id"].is_unique
    assert b["floor_area_m2"].sum() == pytest.approx(outside_floor, rel=1e-3)
    assert b["population"].sum() == pytest.approx(outside_floor / 90 * 2.62, abs=len(b))
    # Every outside building lies in a building cluster.
    hulls = shapely.union_all(b.geometry.to_numpy())
    assert all(hulls.buffer(1).contains(g.representative_point()) for g, _ in outside)
