"""POI and 小区 tables: encodings, formats, column mappings, categories (AMap codes, Baidu
tags, keywords), de-duplication, every rejection reason, the summary and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from typer.testing import CliRunner

from circles import pipeline
from circles._errors import CirclesError, InputError
from circles.config import PoiTable, ResidenceSettings, load_study, study_from_dict
from circles.outputs.rejected import write_rejected
from circles.services import load_catalogue
from circles.sources import tables
from circles.sources.coords import wgs84_to_bd09, wgs84_to_gcj02
from circles.sources.tables import (
    Classifier,
    code_prefix,
    merge_pois,
    read_pois,
    read_residences,
    row_codes,
    similar_names,
)
from cli import app

UTM50 = pyproj.CRS.from_epsg(32650)
PHARMACY = (118.79252, 32.03819)  # 先声再康药房 in the bundled OSM file
INSIDE = (118.7800, 32.0450)
OUTSIDE = (118.9000, 32.0450)


def _gcj(lon, lat) -> str:
    g = wgs84_to_gcj02(lon, lat)
    return f"{g[0]!r},{g[1]!r}"


def _amap_rows() -> pd.DataFrame:
    """A small AMap export: name, type, typecode, address, location (GCJ-02)."""
    return pd.DataFrame(
        {
            "name": ["益丰大药房(新街口店)", "好邻居便利店", "南京市第一幼儿园", "某某科技公司"],
            "type": [
                "医疗保健服务;医药保健销售店;药房",
                "购物服务;便民商店/便利店;便利店",
                "科教文化服务;学校;幼儿园",
                "公司企业;公司;公司",
            ],
            "typecode": ["090601", "060200", "141204", "170200"],
            "address": ["中山路1号", "汉中路2号", "=cmd|' /C calc'!A0", "丰富路4号"],
            "location": [_gcj(118.789, 32.036), _gcj(118.781, 32.041), _gcj(118.775, 32.05),
                         _gcj(118.785, 32.045)],
        }
    )  # fmt: skip


def _table(tmp_path, frame: pd.DataFrame, name="pois.csv", encoding="utf-8", **spec):
    path = tmp_path / name
    if name.endswith(".csv"):
        path.write_bytes(frame.to_csv(index=False).encode(encoding))
    elif name.endswith(".xlsx"):
        frame.to_excel(path, index=False)
    return PoiTable(file=path, **spec)


# ---------------------------------------------------------------------------------------
# Encodings and formats
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "reported"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030")],
)
def test_csv_encodings_are_detected(tmp_path, area, cats, encoding, reported):
    spec = _table(tmp_path, _amap_rows(), encoding=encoding, crs="gcj02")
    got = read_pois(spec, "pois[0]", area, cats)
    assert got.raw.encoding == reported
    assert list(got.name[:1]) == ["益丰大药房(新街口店)"]  # read back correctly
    assert "pharmacy" in set(got.category)


def test_utf16_and_an_explicit_encoding(tmp_path, area, cats):
    path = tmp_path / "u16.csv"
    path.write_bytes(_amap_rows().to_csv(index=False).encode("utf-16"))
    got = read_pois(PoiTable(file=path, crs="gcj02"), "pois[0]", area, cats)
    assert got.raw.encoding == "utf-16" and "pharmacy" in set(got.category)
    path = tmp_path / "gbk.csv"
    path.write_bytes(_amap_rows().to_csv(index=False).encode("gbk"))
    got = read_pois(PoiTable(file=path, crs="gcj02", encoding="gbk"), "p", area, cats)
    assert got.name[0] == "益丰大药房(新街口店)"
    with pytest.raises(InputError, match="cannot be read as utf-8"):
        read_pois(PoiTable(file=path, crs="gcj02", encoding="utf-8"), "p", area, cats)


def test_xlsx_with_numeric_type_codes(tmp_path, area, cats):
    frame = _amap_rows()
    frame["typecode"] = [90601, 60200, 141204, 170200]  # Excel drops the leading zero
    spec = _table(tmp_path, frame, name="pois.xlsx", crs="gcj02")
    got = read_pois(spec, "pois[0]", area, cats)
    assert {"pharmacy", "market", "kindergarten"} <= set(got.category)
    assert list(got.raw.rows) == [2, 3, 4, 5]  # spreadsheet rows: the header is row 1
    with pytest.raises(InputError, match="no sheet 'x'; sheets: Sheet1"):
        read_pois(PoiTable(file=spec.file, sheet="x"), "p", area, cats)


def test_geojson_and_geopackage(tmp_path, area, cats):
    import geopandas as gpd

    pts = [wgs84_to_gcj02(*p) for p in (PHARMACY, INSIDE)]
    frame = gpd.GeoDataFrame(
        {"name": ["先声再康药房", "某幼儿园"], "typecode": ["090601", "141204"]},
        geometry=[shapely.Point(*pts[0]), shapely.Point(*pts[1]).buffer(0.0002)],
        crs="EPSG:4326",
    )
    for name, driver in (("p.geojson", "GeoJSON"), ("p.gpkg", "GPKG")):
        frame.to_file(tmp_path / name, driver=driver)
        got = read_pois(PoiTable(file=tmp_path / name, crs="gcj02"), "p", area, cats)
        assert list(got.category) == ["pharmacy", "kindergarten"]
        # The GCJ-02 point is converted back to the WGS-84 one.
        x, y = area.to_xy(*PHARMACY)
        assert np.hypot(got.x[0] - x, got.y[0] - y) < 0.01
    # A projected file with crs left at wgs84: its own CRS is used.
    frame.to_crs(UTM50).to_file(tmp_path / "utm.gpkg", driver="GPKG")
    got = read_pois(PoiTable(file=tmp_path / "utm.gpkg"), "p", area, cats)
    assert len(got.x) == 2
    with pytest.raises(InputError, match="projected CRS"):
        read_pois(PoiTable(file=tmp_path / "utm.gpkg", crs="gcj02"), "p", area, cats)


def test_unreadable_files_fail_in_one_line(tmp_path, area, cats):
    cases = {
        "a.xls": b"x",
        "a.parquet": b"x",
        "a.xlsx": b"not a zip",
        "a.geojson": b"{not json",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError) as e:
            read_pois(PoiTable(file=tmp_path / name), "p", area, cats)
        assert name in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InputError, match="table not found"):
        read_pois(PoiTable(file=tmp_path / "none.csv"), "p", area, cats)


def test_blank_lines_are_not_rows_and_keep_row_numbers(tmp_path, area, cats):
    path = tmp_path / "p.csv"
    path.write_text(
        f'name,typecode,location\nA药房,090601,"{_gcj(*INSIDE)}"\n\n,,\nB,999999,"1,2"\n',
        encoding="utf-8",
    )
    got = read_pois(PoiTable(file=path, crs="gcj02"), "p", area, cats)
    assert got.rows_read == 2
    assert [r["row"] for r in got.rejected] == [5]


# ---------------------------------------------------------------------------------------
# Column mappings
# ---------------------------------------------------------------------------------------


def test_default_columns_amap_baidu_and_chinese_headers(tmp_path, area, cats):
    bd = wgs84_to_bd09(*INSIDE)
    baidu = pd.DataFrame({"name": ["同仁堂"], "lat": [bd[1]], "lng": [bd[0]], "tag": ["医疗;药店"]})
    got = read_pois(_table(tmp_path, baidu, "b.csv", crs="bd09"), "p", area, cats)
    assert list(got.category) == ["pharmacy"]
    x, y = area.to_xy(*INSIDE)
    assert np.hypot(got.x[0] - x, got.y[0] - y) < 0.01
    chinese = pd.DataFrame(
        {"名称": ["某药店"], "经度": [INSIDE[0]], "纬度": [INSIDE[1]], "类型编码": ["090601"]}
    )
    got = read_pois(_table(tmp_path, chinese, "c.csv"), "p", area, cats)
    assert list(got.category) == ["pharmacy"] and got.name[0] == "某药店"


def test_a_mapping_names_your_columns(tmp_path, area, cats):
    frame = pd.DataFrame({"店名": ["甲药房"], "X坐标": [INSIDE[0]], "Y坐标": [INSIDE[1]]})
    spec = _table(tmp_path, frame, columns={"name": "店名", "lng": "X坐标", "lat": "y坐标"})
    got = read_pois(spec, "pois[0]", area, cats)  # header case and spaces are forgiven
    assert list(got.category) == ["pharmacy"]


def test_a_wrong_mapping_fails_at_once_naming_missing_and_found_columns(tmp_path, area, cats):
    spec = _table(tmp_path, _amap_rows(), columns={"name": "名称", "lng": "经度"})
    with pytest.raises(CirclesError) as e:
        read_pois(spec, "pois[0]", area, cats)
    msg = str(e.value)
    assert "\n" not in msg
    assert "name: '名称'" in msg and "lng: '经度'" in msg and "pois[0].columns" in msg
    assert "columns found: name, type, typecode, address, location" in msg


def test_missing_coordinate_columns_fail_naming_them(tmp_path, area, cats):
    frame = pd.DataFrame({"name": ["a"], "经度x": [1.0], "lat": [2.0]})
    with pytest.raises(InputError) as e:
        read_pois(_table(tmp_path, frame), "pois[0]", area, cats)
    msg = str(e.value)
    assert "missing coordinate column(s) lng" in msg
    assert "columns found: name, 经度x, lat" in msg and "\n" not in msg
    frame = pd.DataFrame({"地址": ["a"], "location": [_gcj(*INSIDE)]})
    with pytest.raises(InputError, match="no column to find categories by"):
        read_pois(_table(tmp_path, frame), "pois[0]", area, cats)


def test_config_validates_crs_and_columns(tmp_path):
    with pytest.raises(CirclesError, match="pois.0.crs.*unknown coordinate system 'mercury'"):
        study_from_dict({"pois": [{"file": "a.csv", "crs": "mercury"}]})
    with pytest.raises(CirclesError, match="pois.0.columns.nmae"):
        study_from_dict({"pois": [{"file": "a.csv", "columns": {"nmae": "x"}}]})
    with pytest.raises(CirclesError, match="replace needs at least one table"):
        study_from_dict({"pois_mode": "replace"})
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        "pois:\n  - {file: data/amap.csv, crs: GCJ-02}\nresidences: {file: xq.xlsx}\n",
        encoding="utf-8",
    )
    study = load_study(cfg)
    assert study.pois[0].file == (tmp_path / "data" / "amap.csv").resolve()
    assert study.pois[0].crs == "gcj02"
    assert study.residences.file == (tmp_path / "xq.xlsx").resolve()


# ---------------------------------------------------------------------------------------
# Categories
# ---------------------------------------------------------------------------------------


def test_amap_code_prefixes():
    assert code_prefix("050000") == "05"  # 大类
    assert code_prefix("060200") == "0602"  # 中类
    assert code_prefix("090601") == "090601"  # 小类
    assert row_codes("90601") == ["090601"]
    assert row_codes("90601.0") == ["090601"]
    assert row_codes("060201|090601") == ["060201", "090601"]
    assert row_codes("abc") == []


@pytest.fixture(scope="module")
def classifier(cats):
    catalogue = load_catalogue()
    wanted = {**cats, **{k: catalogue[k] for k in ("breakfast", "convenience", "supermarket")}}
    return Classifier(wanted, catalogue)


@pytest.mark.parametrize(
    ("code", "want"),
    [
        ("050101", {"food_drink"}),  # 中餐厅: inside 大类 05
        ("050500", {"food_drink"}),
        ("060201", {"market", "convenience"}),  # inside 中类 0602
        ("060400", {"market", "supermarket"}),
        ("090601", {"pharmacy"}),  # 小类, exact
        ("090300", {"clinic"}),
        ("141204", {"kindergarten"}),
        ("141202", {"school"}),
        ("110101", {"park"}),
        ("070401", {"post_parcel"}),
        ("080100", {"sports"}),
        ("080111", {"sports"}),
    ],
)
def test_amap_codes_map_to_categories(classifier, code, want):
    assert set(classifier.classify("", code, "", "无关名称")[0]) == want


def test_amap_minor_code_does_not_match_a_sibling(classifier):
    keys, why = classifier.classify("", "090602", "", "某保健品店")
    assert keys == [] and "090602" in why


def test_a_broad_code_needs_the_name_too(classifier):
    assert set(classifier.classify("", "050100", "", "老王早餐店")[0]) == {
        "food_drink",
        "breakfast",
    }
    assert classifier.classify("", "050100", "", "川菜馆")[0] == ["food_drink"]


@pytest.mark.parametrize(
    ("tag", "want"),
    [
        ("医疗;药店", {"pharmacy"}),
        ("药店", {"pharmacy"}),  # second level alone
        ("医疗;诊所", {"clinic"}),
        ("教育培训;幼儿园", {"kindergarten"}),
        ("购物;超市", {"market", "supermarket"}),
        ("美食;中餐厅", {"food_drink"}),
        ("运动健身;健身中心", {"sports"}),
        ("政府机构;居民委员会", {"community_centre"}),
    ],
)
def test_baidu_tags_map_to_categories(classifier, tag, want):
    assert set(classifier.classify("", "", tag, "x")[0]) == want


@pytest.mark.parametrize(
    ("name", "type_text", "want"),
    [
        ("仁和大药房", "", {"pharmacy"}),
        ("夕阳红养老服务中心", "", {"elder_care"}),
        ("某某幼儿园", "", {"kindergarten"}),
        ("莲花社区卫生服务站", "", {"clinic"}),
        ("xx", "生活服务;养老院", {"elder_care"}),  # a keyword in the type text
        ("金陵小学", "", {"school"}),  # a plain keyword (school has no name rule)
    ],
)
def test_keywords_are_the_fallback(classifier, name, type_text, want):
    assert set(classifier.classify("", "", type_text, name)[0]) == want


def test_a_known_type_is_not_overridden_by_words(classifier):
    # AMap 150700 is a bus stop: not measured here, and its name is no school.
    keys, why = classifier.classify("", "150700", "交通设施服务;公交车站", "第一中学站")
    assert keys == [] and "bus_stop, not measured in this study" in why


def test_the_category_column_wins(classifier):
    assert classifier.classify("pharmacy", "141204", "", "x")[0] == ["pharmacy"]
    assert classifier.classify("药店", "", "", "x")[0] == ["pharmacy"]  # the 中文 label
    assert classifier.classify("Elder care", "", "", "x")[0] == ["elder_care"]
    keys, why = classifier.classify("hospital", "", "", "x")
    assert keys == [] and "not a category key" in why
    keys, why = classifier.classify("nursery", "", "", "x")
    assert keys == [] and "not measured in this study" in why


def test_standard_categories_bring_their_amap_codes():
    """A category defined by a standard file maps AMap codes just like the catalogue's."""
    from circles.services import category_from_spec

    special = category_from_spec(
        "wet_market", {"zh": "农贸市场", "en": "Wet market", "rules": [{"name~": "农贸"}],
                       "amap": ["060705"]}
    )  # fmt: skip
    c = Classifier({"wet_market": special}, load_catalogue())
    assert c.classify("", "060705", "", "x")[0] == ["wet_market"]
    assert c.classify("", "", "", "城东农贸市场")[0] == ["wet_market"]


# ---------------------------------------------------------------------------------------
# De-duplication
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "similar"),
    [
        ("华润万家", "华润万家(新街口店)", True),
        ("华润万家（新街口店）", "华润万家 ", True),
        ("益丰大药房", "益丰药房", True),
        ("ＫＦＣ", "kfc", True),  # full-width
        ("", "", True),
        ("益丰大药房", "", False),
        ("益丰大药房", "国大药房", False),  # only the generic part in common
        ("南京市第一中学", "南京市第二中学", False),
        ("一号药房", "二号药房", False),
        ("苏果超市", "华润万家", False),
    ],
)
def test_similar_names(a, b, similar):
    assert similar_names(a, b) is similar


def _cands(area, rows, file="t.csv"):
    """PoiCandidates from (category, name, dx m, dy m) near INSIDE."""
    x0, y0 = area.to_xy(*INSIDE)
    frame = pd.DataFrame({"name": [r[1] for r in rows]})
    raw = tables.RawTable(area_path(file), frame, np.arange(len(rows)) + 2)
    return tables.PoiCandidates(
        raw=raw,
        cols={"name": "name"},
        crs="wgs84",
        idx=np.arange(len(rows)),
        category=np.array([r[0] for r in rows], dtype=object),
        name=np.array([r[1] for r in rows], dtype=object),
        x=np.array([x0 + r[2] for r in rows], float),
        y=np.array([y0 + r[3] for r in rows], float),
    )


def area_path(name):
    from pathlib import Path

    return Path(name)


def test_merge_against_osm(area):
    x0, y0 = area.to_xy(*INSIDE)
    osm = {
        "category": np.array(["pharmacy", "market", "food_drink"]),
        "name": np.array(["益丰大药房", "苏果超市", ""]),
        "osm_type": np.array(["node", "way", "node"]),
        "osm_id": np.array([11, 12, 13]),
        "x": np.array([x0, x0 + 100, x0 - 100]),
        "y": np.array([y0, y0, y0]),
    }
    t = _cands(
        area,
        [
            ("pharmacy", "益丰大药房(中山路店)", 20, 0),  # duplicate of node/11
            ("pharmacy", "益丰大药房", 35, 0),  # 35 m: another one
            ("pharmacy", "国大药房", 5, 0),  # a different name: another shop
            ("clinic", "益丰大药房", 0, 0),  # another category
            ("market", "苏果超市", 100, 29),  # duplicate of way/12
            ("food_drink", "", -100, 10),  # both unnamed: the same
            ("food_drink", "老王面馆", -100, 10),  # unnamed vs named: kept
        ],
    )
    m = merge_pois(osm, [t])
    assert m.duplicates == [3]
    assert sorted(m.name.tolist()) == sorted(["益丰大药房", "国大药房", "益丰大药房", "老王面馆"])
    reasons = {r["row"]: r for r in t.rejected}
    assert set(reasons) == {2, 6, 7}
    assert "OSM node/11 '益丰大药房', 20 m away" in reasons[2]["detail"]
    assert "OSM way/12" in reasons[6]["detail"]
    assert all(r["reason"] == "duplicate" for r in t.rejected)


def test_merge_between_and_within_tables(area):
    a = _cands(area, [("pharmacy", "仁和药房", 0, 0), ("pharmacy", "仁和药房", 0.3, 0),
                      ("pharmacy", "仁和药房", 10, 0)], "amap.csv")  # fmt: skip
    b = _cands(area, [("pharmacy", "仁和大药房", 12, 0)], "baidu.csv")
    m = merge_pois({}, [a, b])
    # Within amap.csv only the row listed twice (same place, same name) is merged; the
    # Baidu row repeats one of them.
    assert m.duplicates == [1, 1]
    assert len(m.x) == 2 and set(m.source) == {"amap.csv"}
    assert "row 2 of amap.csv" in a.rejected[0]["detail"]
    assert "of amap.csv '仁和药房'" in b.rejected[0]["detail"]


def test_a_row_in_two_categories_is_used_when_one_is_new(area):
    x0, y0 = area.to_xy(*INSIDE)
    osm = {"category": np.array(["market"]), "name": np.array(["便民超市"]),
           "osm_type": np.array(["node"]), "osm_id": np.array([1]),
           "x": np.array([x0]), "y": np.array([y0])}  # fmt: skip
    t = _cands(area, [("market", "便民超市", 0, 0), ("convenience", "便民超市", 0, 0)])
    t.idx = np.array([0, 0])  # one row, two categories
    m = merge_pois(osm, [t])
    assert m.duplicates == [1] and list(m.category) == ["convenience"]
    assert t.rejected == []


# ---------------------------------------------------------------------------------------
# Every rejection reason, the summary and rejected_rows.csv (one run of the district)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_with_bad_rows(tmp_path_factory):
    """The bundled district with a POI table holding one row of each kind."""
    tmp = tmp_path_factory.mktemp("bad")
    rows = [
        ("仁和大药房", "090601", _gcj(118.7850, 32.0440)),  # used
        ("益丰大药房", "090601", _gcj(118.78983, 32.036)),  # duplicate of the OSM one
        ("坏坐标药房", "090601", "abc"),  # bad coordinates
        ("空坐标药房", "090601", ""),  # bad coordinates
        ("零点药房", "090601", "0,0"),  # bad coordinates
        ("颠倒药房", "090601", ",".join(reversed(_gcj(118.7850, 32.0460).split(",")))),
        ("远方药房", "090601", _gcj(118.9500, 32.1000)),  # outside the study area
        ("某某科技公司", "170200", _gcj(118.7860, 32.0450)),  # unknown category
        ("夕阳红养老院", "", _gcj(118.7870, 32.0450)),  # used: elder care, by keyword
    ]
    path = tmp / "amap.csv"
    pd.DataFrame(rows, columns=["name", "typecode", "location"]).to_csv(
        path, index=False, encoding="gbk"
    )
    study = load_study()
    study = study_from_dict({**study.model_dump(), "pois": [{"file": str(path), "crs": "gcj02"}]})
    return pipeline.run(study), path


def test_every_rejection_reason(run_with_bad_rows):
    result, _ = run_with_bad_rows
    rej = {r["name"]: r for r in result.rejected}
    assert rej["益丰大药房"]["reason"] == "duplicate"
    assert rej["坏坐标药房"]["reason"] == "bad_coordinates"
    assert rej["空坐标药房"]["reason"] == "bad_coordinates"
    assert rej["零点药房"]["reason"] == "bad_coordinates"
    assert rej["颠倒药房"]["reason"] == "lat_lon_swapped"
    assert "swap" in rej["颠倒药房"]["detail"]
    assert rej["远方药房"]["reason"] == "outside_study_area"
    assert rej["某某科技公司"]["reason"] == "unknown_category"
    assert "170200" in rej["某某科技公司"]["detail"]
    assert "仁和大药房" not in rej and "夕阳红养老院" not in rej
    # Rows as a spreadsheet numbers them; the whole row is kept.
    assert rej["坏坐标药房"]["row"] == 4
    assert json.loads(rej["坏坐标药房"]["record"])["location"] == "abc"


def test_far_from_street(tmp_path):
    """A point inside the hull but more than max_snap from any street: not used, listed."""
    study = load_study()
    frame = pd.DataFrame(
        {"name": ["甲药房", "乙药房"], "typecode": ["090601", "090601"],
         "location": [_gcj(118.7850, 32.0440), _gcj(118.7850, 32.0440)]}
    )  # fmt: skip
    frame.to_csv(tmp_path / "p.csv", index=False)
    study = study_from_dict(
        {**study.model_dump(), "pois": [{"file": str(tmp_path / "p.csv"), "crs": "gcj02"}],
         "snap": {"max_distance_m": 0.5}}
    )  # fmt: skip
    result = pipeline.run(study)
    t = result.summary["tables"]["pois"][0]
    assert t["rejected_by_reason"] == {"far_from_street": 2}
    assert "from the nearest walkable street (at most 0.5 m)" in result.rejected[0]["detail"]
    svc = result.services[result.services["source"] == "p.csv"]
    assert len(svc) == 2 and not svc["used"].any()  # shown, like unsnapped OSM services


def test_summary_counts_rows_read_used_and_rejected(run_with_bad_rows):
    result, _ = run_with_bad_rows
    t = result.summary["tables"]
    p = t["pois"][0]
    assert p["rows_read"] == 9 and p["encoding"] == "gb18030" and p["crs"] == "gcj02"
    assert p["rows_used"] + p["rows_rejected"] == p["rows_read"]
    assert p["rows_used"] >= 2 and p["duplicates_merged"] == 1
    assert sum(p["rejected_by_reason"].values()) == p["rows_rejected"]
    assert (t["rows_read"], t["rows_used"], t["rows_rejected"]) == (
        p["rows_read"], p["rows_used"], p["rows_rejected"])  # fmt: skip
    assert any("amap.csv" in w and "rejected_rows.csv" in w for w in result.summary["warnings"])
    # The table's services are in the result, with their source.
    mine = result.services[result.services["source"] == "amap.csv"]
    assert set(mine["name"]) >= {"仁和大药房", "夕阳红养老院"}
    assert "elder_care" not in result.data_gaps  # the table filled a data gap


@pytest.mark.slow
def test_rejected_rows_csv_via_the_cli(run_with_bad_rows, tmp_path):
    _, path = run_with_bad_rows
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["run", "--pois", str(path), "--pois-crs", "gcj02", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    rej = pd.read_csv(out / "rejected_rows.csv", encoding="utf-8-sig", dtype=str)
    assert list(rej.columns) == [*tables.REJECTED_COLUMNS, "record"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert len(rej) == summary["tables"]["rows_rejected"]
    assert {"duplicate", "bad_coordinates", "lat_lon_swapped", "outside_study_area",
            "unknown_category"} <= set(rej["reason"])  # fmt: skip
    # A run with a clean table writes the header alone.
    clean = tmp_path / "clean.csv"
    pd.DataFrame({"name": ["仁和大药房"], "typecode": ["090601"],
                  "location": [_gcj(118.7850, 32.0440)]}).to_csv(clean, index=False)  # fmt: skip
    res = CliRunner().invoke(
        app, ["run", "--pois", str(clean), "--pois-crs", "gcj02", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert (out / "rejected_rows.csv").read_text(encoding="utf-8-sig").strip() == ",".join(
        [*tables.REJECTED_COLUMNS, "record"]
    )
    # An OSM-only run may replace that folder, and leaves no stale rejected_rows.csv.
    res = CliRunner().invoke(app, ["run", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert not (out / "rejected_rows.csv").exists()


def test_formula_text_is_defused_in_rejected_rows(tmp_path):
    frame = pd.DataFrame({"name": ["=HYPERLINK(1)"], "location": ["abc"], "typecode": ["1"]})
    frame.to_csv(tmp_path / "p.csv", index=False)
    study = study_from_dict(
        {**load_study().model_dump(), "pois": [{"file": str(tmp_path / "p.csv")}]}
    )
    result = pipeline.run(study, tables_only=True)
    write_rejected(result, tmp_path / "r.csv")
    text = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK(1)" in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--pois", "no-such.csv"], "table not found"),
        (["--pois", "README.md"], "unknown table format '.md'"),
        (["--pois-crs", "gcj02"], "--pois-crs applies to --pois"),
        (["--pois", "x.csv", "--pois-crs", "mercury"], "unknown coordinate system 'mercury'"),
        (["--encoding", "gbk"], "--encoding applies"),
        (["--residences-crs", "bd09"], "--residences-crs applies"),
        (["--pois-mode", "replace"], "replace needs at least one table"),
        (["--residences", "none.csv"], "table not found"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args, words):
    res = CliRunner().invoke(app, ["run", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code != 0
    assert words in res.output, res.output
    assert "Traceback" not in res.output and res.output.count("error:") == 1
    assert not (tmp_path / "o").exists()


def test_cli_wrong_column_mapping_is_one_line(tmp_path):
    (tmp_path / "p.csv").write_text("店名,经度,纬度\n甲,118.78,32.04\n", encoding="utf-8")
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"source: {{osm: {load_study().source.osm}}}\n"
        "pois:\n  - file: p.csv\n    columns: {name: 名称}\n",
        encoding="utf-8",
    )
    res = CliRunner().invoke(app, ["run", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and res.output.count("error:") == 1
    assert "name: '名称'" in res.output and "店名, 经度, 纬度" in res.output
    assert "Traceback" not in res.output


# ---------------------------------------------------------------------------------------
# 小区 tables
# ---------------------------------------------------------------------------------------


def test_residence_points_with_households_and_population(tmp_path, area):
    frame = pd.DataFrame(
        {
            "小区名称": ["甲小区", "乙小区", "丙小区", "丁小区", "甲小区", "戊小区", "己小区"],
            "总户数": ["1,200", "", "", "abc", "1,200", "300", ""],
            "人口": ["", "2000", "", "", "", "", ""],
            "location": [_gcj(118.78, 32.04), _gcj(118.785, 32.045), _gcj(118.79, 32.05),
                         _gcj(118.78, 32.05), _gcj(118.78, 32.04), _gcj(32.04, 118.78),
                         _gcj(118.95, 32.05)],
        }
    )  # fmt: skip
    frame.to_csv(tmp_path / "xq.csv", index=False, encoding="gbk")
    settings = ResidenceSettings(file=tmp_path / "xq.csv", crs="gcj02")
    got = read_residences(settings, "residences", area, None)
    c = got.clusters
    assert list(c["name"]) == ["甲小区", "乙小区", "丙小区"]
    assert list(c["cluster_id"]) == ["T0001", "T0002", "T0003"] and set(c["method"]) == {"table"}
    assert c["population"].iloc[0] == round(1200 * 2.62)
    assert c["dwellings"].iloc[0] == 1200
    assert c["population"].iloc[1] == 2000 and c["dwellings"].iloc[1] == round(2000 / 2.62, 1)
    assert np.isnan(c["population"].iloc[2]) and "1 小区 points" in got.notes[0]
    reasons = {r["name"]: r["reason"] for r in got.rejected}
    assert reasons == {
        "丁小区": "bad_value",
        "甲小区": "duplicate",
        "戊小区": "lat_lon_swapped",
        "己小区": "outside_study_area",
    }
    x, y = area.to_xy(118.78, 32.04)
    assert c.geometry.iloc[0].distance(shapely.Point(x, y)) < 0.01


def test_residence_polygons_are_estimated_without_counts(tmp_path, area):
    import geopandas as gpd

    t = pyproj.Transformer.from_crs(UTM50, "EPSG:4326", always_xy=True)
    x, y = area.to_xy(*INSIDE)
    square = shapely.box(x, y, x + 100, y + 100)  # 1 ha
    ll = shapely.transform(square, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    gcj = shapely.transform(ll, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    gpd.GeoDataFrame({"name": ["方小区", "户小区"], "households": [None, 500]},
                     geometry=[gcj, gcj.buffer(0)], crs="EPSG:4326").to_file(
        tmp_path / "xq.geojson", driver="GeoJSON")  # fmt: skip
    settings = ResidenceSettings(file=tmp_path / "xq.geojson", crs="gcj02")
    got = read_residences(settings, "r", area, None)
    c = got.clusters
    assert abs(c["area_m2"].iloc[0] - 10_000) < 1  # back in place to well under a metre
    assert c.geometry.iloc[0].symmetric_difference(square).area < 1.0
    # No counts: area x plot ratio 1.5 / 90 m² x 2.62
    assert c["population"].iloc[0] == round(10_000 * 1.5 / 90 * 2.62)
    assert c["population"].iloc[1] == round(500 * 2.62)
    # The estimate says how it was made: no building at all is a low-confidence plot-ratio
    # estimate; the table's own households are the table's figure.
    assert list(c["population_method"]) == ["plot_ratio", "table"]
    assert list(c["population_low"]) == [True, False]


def test_a_residence_table_is_not_read_when_origins_are_nodes(tmp_path):
    # A file that exists (paths are checked before the run) but fails if it is read.
    (tmp_path / "none.csv").write_text("no,coordinates\n1,2\n", encoding="utf-8")
    study = study_from_dict(
        {**load_study().model_dump(), "residences": {"file": str(tmp_path / "none.csv")},
         "reach": {"origins": "nodes"}}
    )  # fmt: skip
    result = pipeline.run(study, tables_only=True)
    assert any("none.csv is not read" in w for w in result.summary["warnings"])
    assert result.summary["tables"]["rows_read"] == 0


def test_a_run_with_a_residence_table(tmp_path, nanjing_result):
    clusters = nanjing_result.clusters.to_crs("EPSG:4326")
    pts = clusters.geometry.representative_point()
    g = wgs84_to_gcj02(pts.x.to_numpy(), pts.y.to_numpy())
    frame = pd.DataFrame(
        {"name": [f"小区{i}" for i in range(len(pts))], "lng": g[0], "lat": g[1],
         "households": np.arange(len(pts)) * 100 + 100}
    )  # fmt: skip
    frame.to_csv(tmp_path / "xq.csv", index=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        ["run", "--residences", str(tmp_path / "xq.csv"), "--residences-crs", "gcj02",
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["residence_method"] == "table"
    assert summary["inputs"]["clusters"] == len(pts)
    assert summary["inputs"]["population"] == pytest.approx(
        float(np.round(frame["households"] * 2.62).sum())
    )
    r = summary["tables"]["residences"]
    assert r["rows_read"] == len(pts) and r["rows_used"] + r["rows_rejected"] == len(pts)
    csv = pd.read_csv(out / "clusters.csv", encoding="utf-8-sig")
    assert list(csv["name"]) == list(frame["name"])
    # The points went back where they were taken from, to well under a metre.
    for lon, lat, p in zip(csv["lon"], csv["lat"], pts, strict=True):
        assert abs(lon - p.x) < 2e-6 and abs(lat - p.y) < 2e-6
