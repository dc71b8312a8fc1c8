"""Issue 17: Chinese names and abbreviations, stops named after places, and park sizes.

Expected categories are written by hand from what each place is; the names are real
institutions, or the usual form of a kind of place (某某镇卫生院) where it has many.
"""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import shapely
from tests_support import features

from circles.services import (
    NAME_RULE_EXCLUSIONS,
    Category,
    category_from_spec,
    find_services,
    load_catalogue,
    load_categories,
)
from circles.standards import StandardError, load_standard, standard_from_dict

SCHOOL = {"amenity": "school"}
P = shapely.Point(121.40, 31.35)  # 宝山 顾村 (UTM 51N)

# (tags without the name, name, every catalogue category it belongs to).
NAMES: list[tuple[dict[str, str], str, set[str]]] = [
    # -- primary schools: 小学, 附小, 实验小学, 实验二小
    (SCHOOL, "清华大学附属小学", {"school", "primary_school"}),
    (SCHOOL, "清华附小", {"school", "primary_school"}),
    (SCHOOL, "北大附小", {"school", "primary_school"}),
    (SCHOOL, "中关村第一小学", {"school", "primary_school"}),
    (SCHOOL, "北京市海淀区中关村第三小学（万柳校区）", {"school", "primary_school"}),
    (SCHOOL, "南京市琅琊路小学", {"school", "primary_school"}),
    (SCHOOL, "北京市海淀区实验小学", {"school", "primary_school"}),
    (SCHOOL, "北京第二实验小学", {"school", "primary_school"}),
    (SCHOOL, "实验二小", {"school", "primary_school"}),
    (SCHOOL, "史家胡同小学", {"school", "primary_school"}),
    (SCHOOL, "北京小学", {"school", "primary_school"}),
    # a primary school named after its street, and one attached to a middle school
    (SCHOOL, "附中路小学", {"school", "primary_school"}),
    (SCHOOL, "北京一零一中学附属小学", {"school", "primary_school"}),
    # -- middle schools: 中学, 附中, 初级中学, 北京四中, 完全中学 (初中 + 高中: no 小学)
    (SCHOOL, "清华附中", {"school", "middle_school"}),
    (SCHOOL, "北大附中", {"school", "middle_school"}),
    (SCHOOL, "人大附中", {"school", "middle_school"}),
    (SCHOOL, "清华附中将台路校区", {"school", "middle_school"}),
    (SCHOOL, "北京市第八十中学", {"school", "middle_school"}),
    (SCHOOL, "北京四中", {"school", "middle_school"}),
    (SCHOOL, "北京一零一中学", {"school", "middle_school"}),
    (SCHOOL, "北京师范大学附属实验中学", {"school", "middle_school"}),
    (SCHOOL, "上海市位育初级中学", {"school", "middle_school"}),
    (SCHOOL, "城关完全中学", {"school", "middle_school"}),
    # -- 九年一贯制 / 十二年一贯制: both 小学 and 初中
    (SCHOOL, "青龙镇九年一贯制学校", {"school", "primary_school", "middle_school"}),
    (SCHOOL, "礼贤镇十二年一贯制学校", {"school", "primary_school", "middle_school"}),
    (SCHOOL, "城南学校（九年一贯制）", {"school", "primary_school", "middle_school"}),
    # -- not a 初中: senior or vocational only; not a school: a university, a driving school
    (SCHOOL, "城南高级中学", {"school"}),
    (SCHOOL, "城关职业中学", {"school"}),
    ({"amenity": "university"}, "清华大学", set()),
    (SCHOOL, "清华大学", {"school"}),  # mis-tagged: a school, but of no level
    ({"amenity": "driving_school"}, "东方时尚驾校", set()),
    ({}, "东方时尚驾驶学校", set()),
    ({"highway": "residential"}, "附中路", set()),
    # -- community health: 社区卫生服务中心/站, 社区医院, 卫生院, 卫生室, 卫生所
    ({}, "海淀区社区卫生服务中心", {"clinic", "health_centre"}),
    ({}, "北太平庄社区卫生服务站", {"clinic"}),
    ({}, "将台社区医院", {"clinic", "health_centre"}),
    ({}, "礼贤镇卫生院", {"clinic", "health_centre"}),
    ({}, "礼贤镇中心卫生院", {"clinic", "health_centre"}),
    ({}, "青龙村卫生室", {"clinic"}),
    ({}, "西山村卫生所", {"clinic"}),
    ({}, "中关村医院", {"health_centre"}),
    ({}, "双井街道党群服务中心", {"community_centre"}),  # no health care
    ({}, "海淀区环境卫生服务中心", set()),  # street cleaning
    ({}, "瑞鹏宠物医院", set()),
    # -- elder care: 养老驿站, 日间照料中心, 养老照料中心, 托老所, 幸福院
    ({}, "朝阳区双井街道养老驿站", {"elder_care"}),
    ({}, "双井街道老年人日间照料中心", {"elder_care"}),
    ({}, "日间照料中心", {"elder_care"}),
    ({}, "劲松街道养老照料中心", {"elder_care"}),
    ({}, "和平里托老所", {"elder_care"}),
    ({}, "西山村幸福院", {"elder_care"}),
    ({}, "石景山区敬老院", {"elder_care", "nursing_home"}),
    ({}, "北京市第一社会福利院", {"nursing_home"}),
    ({}, "北京市儿童福利院", set()),
    ({}, "海淀区社会养老保险中心", set()),
    # -- childcare: 托育园, 托育中心, 托儿所, 幼儿园, 幼稚园
    ({}, "金色摇篮托育园", {"kindergarten", "nursery"}),
    ({}, "爱绿托育中心", {"kindergarten", "nursery"}),
    ({}, "红黄蓝托儿所", {"kindergarten", "nursery"}),
    ({"amenity": "kindergarten"}, "北京市海淀区万泉幼儿园", {"kindergarten"}),
    ({}, "培侨幼稚园", {"kindergarten"}),
]


def _found(feats, cats=None):
    got = find_services(feats, cats or load_catalogue())
    return got.groupby("osm_id")["category"].apply(set).to_dict()


@pytest.mark.parametrize(("tags", "name", "want"), NAMES, ids=[n for _, n, _ in NAMES])
def test_a_real_name_is_found_in_its_categories(tags, name, want):
    assert {k for k, c in load_catalogue().items() if c.matches({**tags, "name": name})} == want


def test_find_services_agrees_with_the_names_list():
    assert len(NAMES) >= 40
    feats = features([("node", i, {**t, "name": n}, P) for i, (t, n, _) in enumerate(NAMES)])
    by_id = _found(feats)
    assert {NAMES[i][1]: by_id.get(i, set()) for i in range(len(NAMES))} == {
        n: w for _, n, w in NAMES
    }


def test_the_run_no_longer_reports_a_false_primary_school_gap():
    # The case: the district's only primary school is 清华附小.
    std = load_standard("gb50180-2018")
    feats = features([("node", 1, {"amenity": "school", "name": "清华附小"}, P)])
    got = find_services(feats, std.categories)
    assert set(got["category"]) == {"primary_school"}


# -- stops and stations named after places (issue 17, point 4) --------------------------

STOPS = [
    {"public_transport": "stop_position", "railway": "stop", "subway": "yes"},
    {"public_transport": "platform"},
    {"public_transport": "station"},
    {"railway": "station"},
    {"railway": "stop"},
    {"railway": "subway_entrance"},
    {"railway": "tram_stop"},
    {"highway": "bus_stop"},
    {"highway": "platform"},
    {"amenity": "bus_station"},
]
STOP_NAMES = [
    "顾村公园",
    "菜市场站",
    "药店站",
    "农光里菜市场",
    "老百姓大药房",
    "和平里医院",
    "海淀区社区卫生服务中心",
    "双井街道养老驿站",
    "万泉幼儿园",
    "中关村邮政局",
    "双井社区服务中心",
    "物美超市",
]


def test_no_stop_or_station_counts_as_the_place_it_is_named_after():
    rows = [
        ("node", i * 100 + j, {**tags, "name": name}, P)
        for i, tags in enumerate(STOPS)
        for j, name in enumerate(STOP_NAMES)
    ]
    cats = load_catalogue()
    by_id = _found(features(rows), cats)
    for oid, tags, name in ((r[1], r[2], r[2]["name"]) for r in rows):
        # Only the bus-stop category may find a stop (by its tags, not its name).
        assert by_id.get(oid, set()) <= {"bus_stop"}, (tags, name)
        assert not any(c.matches(tags) for k, c in cats.items() if k != "bus_stop"), tags
    # The case, with the default categories.
    metro = {"public_transport": "stop_position", "railway": "stop", "name": "顾村公园"}
    assert not load_categories()["park"].matches(metro)


def test_a_park_or_shop_next_to_a_stop_is_still_found():
    cats = load_categories()
    assert cats["park"].matches({"name": "顾村公园"})
    assert cats["park"].matches({"leisure": "park", "name": "顾村公园"})
    assert cats["market"].matches({"name": "农光里菜市场"})
    assert cats["pharmacy"].matches({"name": "老百姓大药房"})


def test_every_name_rule_excludes_stops_even_a_new_one():
    std_cats = {
        k: c for name in ("gb50180-2018", "mofcom-2021", "complete-community-2020")
        for k, c in load_standard(name).categories.items()
    }  # fmt: skip
    new = Category("x", "x", "x", rules=({"name~": "公园"}, {"leisure": "park"}))
    for cat in [*load_catalogue().values(), *std_cats.values(), new]:
        for rule in cat.match_rules:
            if "name~" in rule:
                assert "stop_position" in rule["public_transport!"], (cat.key, rule)
                assert "bus_stop" in rule["highway!"], (cat.key, rule)
                assert "subway_entrance" in rule["railway!"], (cat.key, rule)
            else:
                assert "public_transport!" not in rule or "name~" in rule
    assert not new.matches({"railway": "station", "name": "顾村公园"})
    assert new.rules == ({"name~": "公园"}, {"leisure": "park"})  # as written


def test_a_rule_that_asks_for_stations_keeps_them():
    metro = Category("metro", "地铁站", "Metro", rules=({"railway": "station", "name~": "公园"},))
    assert metro.matches({"railway": "station", "name": "顾村公园"})
    assert set(NAME_RULE_EXCLUSIONS) >= {"public_transport", "railway", "highway"}


def test_a_rules_own_exclusions_are_kept():
    hc = load_catalogue()["health_centre"]
    assert not hc.matches({"amenity": "veterinary", "name": "和平里医院"})
    assert not hc.matches({"amenity": "bus_station", "name": "和平里医院"})
    assert hc.matches({"name": "和平里医院"})


# -- park sizes and private gardens (issue 17, point 5) ----------------------------------

_UTM = pyproj.CRS.from_epsg(32651)
_TO_WGS = pyproj.Transformer.from_crs(_UTM, "EPSG:4326", always_xy=True).transform
_X0, _Y0 = pyproj.Transformer.from_crs("EPSG:4326", _UTM, always_xy=True).transform(121.4, 31.35)


def _square(area_m2: float, dx: float = 0.0) -> shapely.Polygon:
    """A square of this area (m² in UTM 51N) near 顾村, in WGS-84."""
    side = math.sqrt(area_m2)
    box = shapely.box(_X0 + dx, _Y0, _X0 + dx + side, _Y0 + side)
    return shapely.transform(box, _TO_WGS, interleaved=False)


def test_small_and_private_green_spaces_are_no_parks():
    rows = [
        ("way", 1, {"leisure": "garden"}, _square(87)),  # the median planter
        ("way", 2, {"leisure": "garden"}, _square(3000)),
        ("way", 3, {"leisure": "park", "name": "口袋公园"}, _square(1999)),
        ("way", 4, {"leisure": "park", "name": "街心公园"}, _square(2001)),
        ("way", 5, {"leisure": "garden", "access": "private"}, _square(10_000)),
        ("way", 6, {"name": "某小区公园", "access": "private"}, _square(10_000)),
        ("way", 7, {"leisure": "garden", "garden:type": "residential"}, _square(10_000)),
        ("node", 8, {"leisure": "park", "name": "顾村公园"}, P),  # a point: area unknown
        ("way", 9, {"name": "顾村公园"}, _square(4_300_000)),
    ]
    by_id = _found(features(rows), {"park": load_categories()["park"]})
    assert set(by_id) == {2, 4, 8, 9}


def test_services_carry_their_area_in_square_metres():
    rows = [
        ("way", 1, {"leisure": "park"}, _square(3000)),
        ("way", 2, {"amenity": "marketplace"}, _square(400)),
        ("node", 3, {"amenity": "pharmacy"}, P),
        ("way", 4, {"leisure": "park"}, _square(250_000, dx=600)),
    ]
    feats = features(rows)
    for frame in (feats, feats.to_crs(_UTM), feats.to_crs("EPSG:3857")):
        got = find_services(frame, load_categories()).set_index("osm_id")
        assert got["area_m2"].dtype == np.float64
        assert got.loc[1, "area_m2"] == pytest.approx(3000, rel=0.005)
        assert got.loc[2, "area_m2"] == pytest.approx(400, rel=0.005)
        assert got.loc[4, "area_m2"] == pytest.approx(250_000, rel=0.005)
        assert np.isnan(got.loc[3, "area_m2"])
    empty = find_services(features([]), load_categories())
    assert "area_m2" in empty.columns and len(empty) == 0


def test_parks_follow_the_city_health_check_radii():
    park = load_catalogue()["park"]
    assert park.min_area_m2 == 2000
    assert park.radius_by_area == ((5000, 500), (2000, 300))
    got = park.reach_limits_m([250_000, 5000, 4999, 2000, 1999, float("nan")])
    assert got.tolist() == [500, 500, 300, 300, 0, 300]
    # The pipeline's categories are Scope.categories: the standard's and the defaults.
    std = load_standard("complete-community-2020")
    assert std.categories["park"].radius_by_area == ((5000, 500), (2000, 300))
    assert "公园绿化活动场地服务半径覆盖率" in " ".join(std.source["related"])
    assert load_catalogue()["pharmacy"].reach_limits_m([10.0]).tolist() == [math.inf]


def test_bands_are_kept_from_the_largest_area_down():
    spec = {"zh": "x", "en": "x", "rules": [{"leisure": "park"}]}
    cat = category_from_spec("x", {**spec, "radius_by_area": [[100, 200], [1000, 400]]})
    assert cat.radius_by_area == ((1000, 400), (100, 200))


def _with_category(extra):
    raw = load_standard("complete-community-2020").raw
    cat = {"zh": "口袋公园", "en": "Pocket park", "rules": [{"leisure": "park"}], **extra}
    level = raw["levels"]["community"]
    reqs = {**level["requirements"], "pocket": {"item": "x"}}
    levels = {"community": {**level, "requirements": reqs}}
    return standard_from_dict({**raw, "categories": {"pocket": cat}, "levels": levels})


def test_a_standard_may_give_its_own_category_a_size_rule():
    std = _with_category({"min_area_m2": 400, "radius_by_area": [[400, 300], [10_000, 800]]})
    pocket = std.categories["pocket"]
    assert pocket.min_area_m2 == 400
    assert pocket.radius_by_area == ((10_000, 800), (400, 300))


@pytest.mark.parametrize(
    "extra",
    [
        {"radius_by_area": [[1000, -5]]},
        {"radius_by_area": [[1000]]},
        {"radius_by_area": [[1000, 300], [1000, 500]]},
        {"radius_by_area": "500"},
        {"min_area_m2": -1},
        {"min_area_m2": "big"},
    ],
)
def test_a_bad_size_rule_is_one_line(extra):
    with pytest.raises(StandardError) as e:
        _with_category(extra)
    msg = str(e.value)
    assert "\n" not in msg and "pocket" in msg, msg


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("清华附小", ("school", "primary_school")),
        ("人大附中", ("school", "middle_school")),
        ("青龙镇九年一贯制学校", ("school", "primary_school", "middle_school")),
        ("城南高级中学", ("school",)),
        ("礼贤镇卫生院", ("clinic", "health_centre")),
        ("青龙村卫生室", ("clinic",)),
        ("海淀区环境卫生服务中心", ()),
        ("金色摇篮托育园", ("kindergarten", "nursery")),
        ("和平里托老所", ("elder_care",)),
        ("东方时尚驾校", ()),
    ],
)
def test_a_table_row_without_a_type_is_found_by_the_same_words(name, want):
    from circles.sources.tables.classify import Classifier

    catalogue = load_catalogue()
    keys = ["school", "primary_school", "middle_school", "clinic", "health_centre"]
    keys += ["elder_care", "kindergarten", "nursery"]
    classifier = Classifier({k: catalogue[k] for k in keys}, catalogue)
    assert set(classifier.decide("", "", "", name).keys) == set(want)
