"""Issue 19, points 2 and 3: one row gives one service; keywords match the name's head."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from circles import pipeline
from circles.config import load_study, study_from_dict
from circles.services import find_services, load_catalogue
from circles.sources.coords import wgs84_to_gcj02
from circles.sources.tables import Classifier
from cli import app

MEASURED = (
    "pharmacy",
    "clinic",
    "health_centre",
    "kindergarten",
    "nursery",
    "hairdresser",
    "community_centre",
    "elder_care",
    "market",
    "supermarket",
    "convenience",
    "fresh_market",
    "school",
)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    catalogue = load_catalogue()
    return Classifier({k: catalogue[k] for k in MEASURED}, catalogue)


# Real names (Haidian, Beijing) and what their name alone makes them.
MUST_MATCH = [
    ("北京大学第三医院", "health_centre"),
    ("海淀区妇幼保健院", "health_centre"),
    ("清华大学玉泉医院", "health_centre"),
    ("蓝旗营社区卫生服务站", "clinic"),
    ("第五幼儿园分园卫生站", "clinic"),  # a kindergarten's sick bay, not a kindergarten
    ("北京大学校医院门诊部", "clinic"),
    ("万柳幼儿园", "kindergarten"),
    ("北京市海淀区万泉幼儿园（分园）", "kindergarten"),
    ("燕园街道党群服务中心", "community_centre"),
    ("丽人美容美发", "hairdresser"),
    ("金百合理发店", "hairdresser"),
    ("同仁堂药店(中关村店)", "pharmacy"),
    ("嘉事堂大药房", "pharmacy"),
    ("夕阳红养老服务中心", "elder_care"),
]
MUST_NOT = [
    ("展春园社区党(团)员服务站", "clinic"),
    ("海淀党员服务站", "clinic"),
    ("燕园街道党群服务中心", "clinic"),
    ("第五幼儿园分园卫生站", "kindergarten"),
    ("屈臣氏", "pharmacy"),
    ("屈臣氏", "hairdresser"),
    ("幼儿园路公交站", "kindergarten"),
    ("医院路小吃店", "health_centre"),
    ("美容院路停车场", "hairdresser"),
    ("药店胡同5号院", "pharmacy"),
    ("北京大学第三医院", "clinic"),
    ("人民医院社区卫生服务站", "health_centre"),
]


@pytest.mark.parametrize(("name", "key"), MUST_MATCH)
def test_real_names_that_must_match(classifier, name, key):
    assert key in classifier.classify("", "", "", name)[0]


@pytest.mark.parametrize(("name", "key"), MUST_NOT)
def test_real_names_that_must_not_match(classifier, name, key):
    assert key not in classifier.classify("", "", "", name)[0]


def test_name_head_drops_a_branch_in_brackets():
    from circles.services import name_head

    assert name_head("同仁堂药店(中关村店)") == "同仁堂药店"
    assert name_head("万泉幼儿园（分园） ") == "万泉幼儿园"
    assert name_head("展春园社区党(团)员服务站") == "展春园社区党(团)员服务站"


def test_medical_cosmetic_is_not_a_hairdresser(classifier):
    """AMap 专科医院;整形美容: the type path's medical branch wins over the keyword 美容."""
    for code in ("090201", ""):
        d = classifier.decide("", code, "医疗保健服务;专科医院;整形美容", "某某医疗美容诊所")
        assert "hairdresser" not in d.keys
        assert len(d.keys) <= 1


def test_one_row_one_kind_of_place_and_the_ambiguity_is_reported(classifier):
    d = classifier.decide("", "", "", "第五幼儿园分园卫生站")
    assert d.keys == ("clinic",) and d.also == ("kindergarten",)
    d = classifier.decide("", "090300", "医疗保健服务;诊所;诊所", "丽人美容诊所")
    assert d.keys == ("clinic",) and "hairdresser" in d.also
    # Categories the catalogue nests (a supermarket is also a market) are one kind of place.
    d = classifier.decide("", "060400", "", "华润万家超市")
    assert set(d.keys) == {"market", "supermarket", "fresh_market"} and d.also == ()


def test_the_category_column_then_the_code_then_the_type_path(classifier):
    assert classifier.classify("hairdresser", "090300", "", "某诊所")[0] == ["hairdresser"]
    assert classifier.classify("", "090601", "生活服务;美容美发店", "某美发")[0] == ["pharmacy"]
    assert classifier.classify("", "", "生活服务;美容美发店;美容美发店", "某诊所")[0] == [
        "hairdresser"
    ]


def test_exclusions_hold_for_codes_and_types_too(classifier):
    keys, why = classifier.classify("", "", "医疗保健服务;诊所;诊所", "展春园社区党(团)员服务站")
    assert "clinic" not in keys


def test_emergency_centres_are_deliberately_unmapped(classifier):
    from circles.services import load_unmapped

    keys, why = classifier.classify("", "090400", "医疗保健服务;急救中心;急救中心", "海淀急救中心")
    assert keys == [] and "deliberately unmapped" in why
    keys, why = classifier.classify("", "", "医疗保健服务;急救中心", "北京急救中心海淀分中心")
    assert keys == [] and "deliberately unmapped" in why
    assert any("急救中心" in u.type_path for u in load_unmapped())


def test_circles_categories_lists_the_unmapped_types():
    from typer.testing import CliRunner

    out = CliRunner().invoke(app, ["categories"], env={"COLUMNS": "250"})
    assert out.exit_code == 0
    assert "急救中心" in out.output and "unmapped" in out.output.lower()


# ---------------------------------------------------------------------------------------
# OSM names: the name~ rules without tags follow the same head rule
# ---------------------------------------------------------------------------------------


def _features(names: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "name": names,
            "osm_type": ["node"] * len(names),
            "osm_id": list(range(1, len(names) + 1)),
            "tags": [{"name": n} for n in names],
        },
        geometry=[shapely.Point(i, 0) for i in range(len(names))],
        crs="EPSG:32650",
    )


def test_osm_names_follow_the_head_rule():
    catalogue = load_catalogue()
    cats = {k: catalogue[k] for k in ("clinic", "kindergarten", "community_centre")}
    names = ["第五幼儿园分园卫生站", "展春园社区党(团)员服务站", "万柳幼儿园", "海淀党员服务站"]
    found = find_services(_features(names), cats)
    got = {(n, c) for n, c in zip(found["name"], found["category"], strict=True)}
    assert got == {("第五幼儿园分园卫生站", "clinic"), ("万柳幼儿园", "kindergarten")}
    for n, c in got:
        assert cats[c].matches({"name": n})
    assert not cats["kindergarten"].matches({"name": "第五幼儿园分园卫生站"})
    assert not cats["clinic"].matches({"name": "海淀党员服务站"})


# ---------------------------------------------------------------------------------------
# End to end: rows read = used + rejected, services added <= rows used
# ---------------------------------------------------------------------------------------


def _gcj(lon: float, lat: float) -> str:
    g = wgs84_to_gcj02(lon, lat)
    return f"{g[0]!r},{g[1]!r}"


def test_counts_invariant_end_to_end(tmp_path):
    rows = [
        ("仁和大药房", "090601", "医疗保健服务;医药保健销售店;药房", 118.7850, 32.0440),
        ("某某医疗美容诊所", "090201", "医疗保健服务;专科医院;整形美容", 118.7860, 32.0440),
        ("丽人美容美发", "071100", "生活服务;美容美发店;美容美发店", 118.7870, 32.0441),
        ("第五幼儿园分园卫生站", "", "", 118.7880, 32.0442),
        ("展春园社区党(团)员服务站", "", "", 118.7890, 32.0443),
        ("鼓楼急救中心", "090400", "医疗保健服务;急救中心;急救中心", 118.7800, 32.0450),
        ("莲花社区卫生服务站", "090300", "医疗保健服务;诊所;诊所", 118.7810, 32.0451),
        ("夕阳红养老院", "", "", 118.7820, 32.0452),
    ]
    path = tmp_path / "amap.csv"
    frame = pd.DataFrame(
        [(n, c, t, _gcj(x, y)) for n, c, t, x, y in rows],
        columns=["name", "typecode", "type", "location"],
    )
    frame.to_csv(path, index=False)
    study = load_study()
    study = study_from_dict({**study.model_dump(), "pois": [{"file": str(path), "crs": "gcj02"}]})
    result = pipeline.run(study)
    # summary.json is the run's summary, written as JSON
    t = json.loads(json.dumps(result.summary))["tables"]["pois"][0]
    assert t["rows_read"] == len(rows)
    assert t["rows_used"] + t["rows_rejected"] == t["rows_read"]
    # One row, one place: a row used gives one service, or one per category the catalogue
    # nests (夕阳红养老院 is elder care and, more narrowly, a nursing home).
    svc = result.services
    added = svc[(svc["source"] == path.name) & svc["used"]]
    per_row = added.groupby("source_row")["category"].apply(frozenset)
    assert len(per_row) == t["rows_used"] and len(added) == t["category_entries"]
    assert t["services_added"] <= t["rows_used"]  # the invariant: a row, a place
    assert t["services_added"] == len(per_row)
    nested = {frozenset({"elder_care", "nursing_home"})}
    assert all(len(c) == 1 or c in nested for c in per_row), per_row.to_dict()
    assert t["category_entries"] - t["services_added"] == sum(len(c) - 1 for c in per_row)
    assert t["ambiguous_rows"] >= 1
    names = {e["name"] for e in t["ambiguous_examples"]}
    assert "第五幼儿园分园卫生站" in names
    mine = svc[svc["source"] == path.name]
    by_name = dict(zip(mine["name"], mine["category"], strict=False))
    assert by_name.get("丽人美容美发", "hairdresser") == "hairdresser"
    assert "某某医疗美容诊所" not in set(mine[mine["category"] == "hairdresser"]["name"])
    assert "第五幼儿园分园卫生站" not in set(mine[mine["category"] == "kindergarten"]["name"])
    assert "展春园社区党(团)员服务站" not in set(mine["name"])
