"""Service categories from tag rules in data, not code."""

from __future__ import annotations

import geopandas as gpd
import pyproj
import pytest
import shapely
from tests_support import features

from circles.services import Category, feature_keys, find_services, load_catalogue, load_categories

REQUIRED = ["market", "pharmacy", "elder_care", "clinic", "kindergarten", "park"]


def test_catalogue_has_the_required_categories_with_labels_and_rules():
    cats = load_categories()
    for key in REQUIRED:
        assert key in cats
        assert cats[key].zh and cats[key].en and cats[key].rules


def test_rules_match_tags_and_chinese_names():
    cats = load_categories()
    p = shapely.Point(118.78, 32.04)
    feats = features(
        [
            ("node", 1, {"amenity": "pharmacy", "name": "老百姓大药房"}, p),
            ("node", 2, {"shop": "convenience"}, p),
            ("node", 3, {"name": "玄武区红山街道社区卫生服务站"}, p),
            ("node", 4, {"name": "幸福养老院"}, p),
            ("node", 5, {"amenity": "social_facility", "social_facility:for": "senior"}, p),
            ("node", 6, {"amenity": "kindergarten"}, p),
            ("node", 7, {"shop": "clothes", "name": "优衣库"}, p),
            ("node", 8, {"leisure": "park", "access": "private"}, p),
        ]
    )
    got = find_services(feats, cats)
    by_id = got.groupby("osm_id")["category"].apply(set).to_dict()
    assert by_id[1] == {"pharmacy"}
    assert by_id[2] == {"market"}
    assert by_id[3] == {"clinic"}
    assert by_id[4] == {"elder_care"}
    assert by_id[5] == {"elder_care"}
    assert by_id[6] == {"kindergarten"}
    assert 7 not in by_id  # a clothes shop is no service here
    assert 8 not in by_id  # a private garden is not a public park


def test_polygon_counts_at_a_point_inside_it():
    cats = {"park": load_categories()["park"]}
    # An L-shaped park whose centroid lies outside it.
    park = shapely.Polygon(
        [(0, 0), (0.01, 0), (0.01, 0.001), (0.001, 0.001), (0.001, 0.01), (0, 0.01)]
    )
    got = find_services(features([("way", 9, {"leisure": "park", "name": "x"}, park)]), cats)
    assert len(got) == 1
    assert park.contains(got.geometry.iloc[0])
    assert got["osm_type"].iloc[0] == "way" and got["osm_id"].iloc[0] == 9


def test_no_features_gives_an_empty_table():
    empty = features([])
    got = find_services(empty, load_categories())
    assert isinstance(got, gpd.GeoDataFrame) and len(got) == 0


def test_yaml_booleans_in_rules_are_osm_strings():
    # `no` unquoted in YAML would be a boolean and never match the tag value "no".
    for cat in load_categories().values():
        for rule in cat.rules:
            for v in rule.values():
                for item in v if isinstance(v, list) else [v]:
                    assert isinstance(item, str)
    park = load_categories()["park"]
    assert not park.matches({"leisure": "park", "access": "no"})
    assert park.matches({"leisure": "park"})


@pytest.mark.slow
def test_vectorised_rules_agree_with_category_matches(shared_osm):
    from circles.sources import read_osm_file

    feats = read_osm_file(shared_osm / "manhattan-midtown.osm.pbf").features
    cats = load_categories()
    got = find_services(feats, cats)
    # Areas measured apart from find_services: geodesic, on the WGS-84 ellipsoid.
    geod = pyproj.Geod(ellps="WGS84")
    area = [
        abs(geod.geometry_area_perimeter(g)[0]) if g.geom_type.endswith("Polygon") else None
        for g in feats.geometry
    ]
    assert sum(a is not None and a < 2000 for a in area) > 0  # the park rule has work
    for key, cat in cats.items():
        want = {
            i
            for i, t in enumerate(feats["tags"])
            if cat.matches(t) and not (area[i] is not None and area[i] < cat.min_area_m2)
        }
        ids = set(
            zip(feats["osm_type"].iloc[list(want)], feats["osm_id"].iloc[list(want)], strict=True)
        )
        mine = got[got["category"] == key]
        assert set(zip(mine["osm_type"], mine["osm_id"], strict=True)) == ids, key


def test_feature_keys_cover_every_rule():
    cats = load_catalogue()
    keys = feature_keys(cats)
    assert {"amenity", "shop", "name", "name:zh"} <= set(keys)
    assert "building" not in keys
    # Each rule names at least one key of the set (or a name, for name~ rules).
    for cat in cats.values():
        for rule in cat.rules:
            assert any(k in keys or (k == "name~" and "name" in keys) for k in rule)
    only_exclusion = Category("x", "x", "x", rules=({"access!": ["private"]},))
    assert feature_keys({"x": only_exclusion}) is None  # such a rule can match any feature


def test_every_rule_names_a_key_the_full_read_keeps():
    from circles.sources.extract import FEATURE_KEYS

    for cat in load_catalogue().values():
        for rule in cat.rules:
            assert any(k in FEATURE_KEYS or k == "name~" for k in rule), (cat.key, rule)
