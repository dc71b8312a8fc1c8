"""Units (社区, 街道): boundaries read and checked, scores per unit checked by hand.

The expected figures are computed here from the run's cluster table with plain pandas and
a geopandas overlay of the units, not through circles.units.
"""

from __future__ import annotations

import csv
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from circles._errors import ConfigError, InputError
from circles.config import UnitSettings, load_study
from circles.options import study_for_run
from circles.sources import coords
from circles.sources.admin import admin_boundaries
from circles.units import assess, read_units

BANDS = ["东风社区", "西湖社区", "南园社区"]


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _study(units: dict) -> object:
    study = load_study()
    study.units = UnitSettings(**units)
    return study


def _geojson(path, names, geoms, name_key="社区名称"):
    frame = gpd.GeoDataFrame({name_key: names}, geometry=list(geoms), crs="EPSG:4326")
    frame.to_file(path, driver="GeoJSON")
    return path


def _wkt_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _lonlat(result):
    """The clusters' bounds in WGS-84, with a margin."""
    w, s, e, n = result.clusters.to_crs("EPSG:4326").total_bounds
    pad = 0.002
    return w - pad, s - pad, e + pad, n + pad


def _bands(result, cuts=None):
    """Three vertical bands over the district (WGS-84), side by side."""
    w, s, e, n = _lonlat(result)
    xs = np.linspace(w, e, 4) if cuts is None else [w, *cuts, e]
    return [shapely.box(xs[i], s, xs[i + 1], n) for i in range(len(xs) - 1)]


def _by_hand(result, geoms_4326, names):
    """Each cluster's unit (largest share of its area) and split flag, by a geopandas
    overlay in the clusters' CRS."""
    clusters = result.clusters
    assert set(clusters.geom_type) <= {"Polygon", "MultiPolygon"}
    units = gpd.GeoDataFrame({"unit": names}, geometry=geoms_4326, crs="EPSG:4326")
    units = units.to_crs(clusters.crs)
    cl = gpd.GeoDataFrame(
        {"row": np.arange(len(clusters)), "whole": clusters.area.to_numpy()},
        geometry=clusters.geometry.to_numpy(),
        crs=clusters.crs,
    )
    pieces = gpd.overlay(cl, units, how="intersection", keep_geom_type=True)
    pieces["share"] = pieces.area / pieces["whole"]
    total = pieces.groupby("row")["share"].sum()
    best = pieces.sort_values("share", ascending=False).drop_duplicates("row").set_index("row")
    unit = np.full(len(cl), None, dtype=object)
    split = np.zeros(len(cl), dtype=bool)
    for row, b in best.iterrows():
        if b["share"] >= 1 - total[row]:
            unit[row] = b["unit"]
        split[row] = b["share"] < 0.99
    return unit, split


def _key_in(column: pd.Series, key: str) -> np.ndarray:
    return column.fillna("").astype(str).str.split(";").apply(lambda ks: key in ks).to_numpy()


# ---------------------------------------------------------------------------------------
# Three units over the bundled district, by hand
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bands(tmp_path_factory, nanjing_result):
    path = _geojson(tmp_path_factory.mktemp("units") / "bands.geojson", BANDS,
                    _bands(nanjing_result))  # fmt: skip
    units = read_units(_study({"file": path}), nanjing_result.network)
    report = assess(units, nanjing_result.clusters, nanjing_result.scores)
    return units, report


def test_three_bands_join_clusters_as_a_hand_overlay_does(bands, nanjing_result):
    units, report = bands
    assert list(units.name) == BANDS and units.level == "社区"
    assert units.source == "bands.geojson"
    unit, split = _by_hand(nanjing_result, _bands(nanjing_result), BANDS)
    got = np.array([BANDS[u] if u >= 0 else None for u in report.cluster_unit], dtype=object)
    assert (got == unit).all()
    assert (report.cluster_split == split).all()
    assert split.any(), "a band edge should cut some cluster"


def test_unit_table_matches_hand_computation(bands, nanjing_result):
    units, report = bands
    clusters = nanjing_result.clusters
    scores = nanjing_result.scores
    unit, split = _by_hand(nanjing_result, _bands(nanjing_result), BANDS)
    pop = pd.to_numeric(clusters["population"], errors="coerce").fillna(0).to_numpy()
    used = clusters["used"].fillna(False).to_numpy(bool)
    comp = scores.table["std_completeness"].to_numpy(float)
    top = scores.standard.levels[0].key
    meets = scores.table[f"std_{top}_meets"].fillna(False).to_numpy(bool)
    table = report.table.set_index("name")
    for name in BANDS:
        mine = unit == name
        row = table.loc[name]
        assert row["clusters"] == mine.sum()
        assert row["clusters_split"] == (mine & split).sum()
        assert row["population"] == pytest.approx(pop[mine].sum(), abs=0.1)
        scored = mine & used & np.isfinite(comp)
        assert row["completeness"] == pytest.approx(
            (comp[scored] * pop[scored]).sum() / pop[scored].sum(), abs=1e-4
        )
        assert row["grade"] == scores.standard.grade_of(row["completeness"])
        s = mine & used
        assert row["complete_share"] == pytest.approx(pop[s & meets].sum() / pop[s].sum(), abs=1e-4)
    # An indicator of one requirement, by the clusters' reached column.
    ind = next(i for i in scores.indicators if not i.key.startswith("complete") and i.population)
    [key] = ind.requirements
    reached = _key_in(scores.table[f"std_{ind.level}_reached"], key)
    for name in BANDS:
        s = (unit == name) & used
        col = f"ind_{ind.key}_{ind.level}_"
        assert table.loc[name, col + "clusters"] == pytest.approx(
            (s & reached).sum() / s.sum(), abs=1e-4
        )
        assert table.loc[name, col + "population"] == pytest.approx(
            pop[s & reached].sum() / pop[s].sum(), abs=1e-4
        )
    # Ranked by complete_share, best first.
    ranked = table.sort_values("rank").index.tolist()
    assert (
        ranked
        == table.sort_values(["complete_share", "population"], ascending=False).index.tolist()
    )
    assert sorted(table["rank"].tolist()) == [1, 2, 3]


def test_items_and_shortfalls_count_missing_clusters_by_hand(bands, nanjing_result):
    units, report = bands
    clusters = nanjing_result.clusters
    scores = nanjing_result.scores
    unit, _ = _by_hand(nanjing_result, _bands(nanjing_result), BANDS)
    pop = pd.to_numeric(clusters["population"], errors="coerce").fillna(0).to_numpy()
    used = clusters["used"].fillna(False).to_numpy(bool)
    ids = clusters["cluster_id"].astype(str).to_numpy()
    expected_rows = 0
    for lv in scores.standard.levels:
        for req in lv.required:
            if scores.status[lv.key][req.key] == "gap":
                continue
            missing = _key_in(scores.table[f"std_{lv.key}_missing"], req.key) & used
            reached = _key_in(scores.table[f"std_{lv.key}_reached"], req.key) & used
            for u, name in enumerate(BANDS):
                mine = unit == name
                item = report.items[
                    (report.items["unit"] == u)
                    & (report.items["level"] == lv.key)
                    & (report.items["item"] == req.key)
                ].iloc[0]
                assert item["how"] == "measured" and bool(item["required"])
                assert item["clusters_missing"] == (mine & missing).sum()
                assert item["clusters_reached"] == (mine & reached).sum()
                assert item["residents_missing"] == pytest.approx(
                    pop[mine & missing].sum(), abs=0.1
                )
                if (mine & missing).any():
                    expected_rows += 1
                    row = report.shortfalls[
                        (report.shortfalls["unit"] == u)
                        & (report.shortfalls["level"] == lv.key)
                        & (report.shortfalls["item"] == req.key)
                    ].iloc[0]
                    assert set(row["clusters"].split(";")) == set(ids[mine & missing])
                    assert row["n_clusters"] == (mine & missing).sum()
    assert len(report.shortfalls) == expected_rows > 0
    residents = report.shortfalls["residents_affected"].to_numpy()
    assert (np.diff(residents) <= 0).all()  # most residents first
    # The standard's not-assessed items are listed, as not assessed.
    not_assessed = report.items[report.items["how"] == "not_assessed"]
    n_items = sum(len(lv.not_assessed) for lv in scores.standard.levels)
    assert len(not_assessed) == n_items * len(BANDS)


def test_indicators_within_all_clusters_are_the_district_indicators(nanjing_result):
    from circles.scoring import indicators_within

    scores = nanjing_result.scores
    every = indicators_within(scores, np.ones(len(scores.clusters), dtype=bool))
    assert [v.as_dict() for v in every] == [v.as_dict() for v in scores.indicators]


def test_a_cluster_cut_by_a_boundary_is_counted_and_reported(tmp_path, nanjing_result):
    clusters = nanjing_result.clusters
    big = int(np.argmax(clusters.area.to_numpy()))
    centre = gpd.GeoSeries([clusters.geometry.iloc[big].centroid], crs=clusters.crs)
    cut = float(centre.to_crs("EPSG:4326").x.iloc[0])
    geoms = _bands(nanjing_result, cuts=[cut])
    names = ["西片", "东片"]
    path = _geojson(tmp_path / "two.geojson", names, geoms)
    report = assess(read_units(_study({"file": path}), nanjing_result.network), clusters,
                    nanjing_result.scores)  # fmt: skip
    unit, split = _by_hand(nanjing_result, geoms, names)
    assert report.cluster_split[big] and split[big]
    assert names[report.cluster_unit[big]] == unit[big]
    n_split = int(split.sum())
    assert report.table["clusters_split"].sum() == n_split
    assert any(f"{n_split} residence clusters" in n and "cut by unit boundaries" in n
               for n in report.notes)  # fmt: skip


def test_a_unit_without_clusters_is_listed_and_clusters_outside_are_reported(
    tmp_path, nanjing_result
):
    clusters = nanjing_result.clusters
    net = nanjing_result.network
    w, s, e, n = _lonlat(nanjing_result)
    west = shapely.box(w, s, w + (e - w) / 3, n)
    # A 20 m square on a street far from every cluster, in the eastern part.
    to_utm = gpd.GeoSeries([west], crs="EPSG:4326").to_crs(clusters.crs).iloc[0]
    far = shapely.distance(shapely.points(net.x, net.y), shapely.union_all(clusters.geometry))
    east = net.x > to_utm.bounds[2] + 100
    k = int(np.flatnonzero(east)[np.argmax(far[east])])
    assert far[k] > 30
    tiny = gpd.GeoSeries([shapely.Point(net.x[k], net.y[k]).buffer(10, cap_style="square")],
                         crs=clusters.crs).to_crs("EPSG:4326").iloc[0]  # fmt: skip
    path = _geojson(tmp_path / "u.geojson", ["西区", "空社区"], [west, tiny])
    report = assess(read_units(_study({"file": path}), net), clusters, nanjing_result.scores)
    row = report.table.set_index("name").loc["空社区"]
    assert row["clusters"] == 0 and np.isnan(row["complete_share"]) and pd.isna(row["rank"])
    assert any("空社区" in n and "hold no residence cluster" in n for n in report.notes)
    unit, _ = _by_hand(nanjing_result, [west, tiny], ["西区", "空社区"])
    outside = int(sum(u is None for u in unit))
    assert outside > 0 and (report.cluster_unit < 0).sum() == outside
    assert any(f"{outside} residence clusters" in n and "outside every unit" in n
               for n in report.notes)  # fmt: skip
    empty = report.items[report.items["unit"] == 1]
    assert set(empty["status"]) <= {"", "gap"} and empty["clusters_missing"].isna().all()


def test_self_assessed_answers_are_items_and_shortfalls_apart(bands, nanjing_result):
    from circles.selfassess import SelfAssessment

    units, _ = bands
    std = nanjing_result.scores.standard
    item = next(n for lv in std.levels for n in lv.not_assessed if n.required).item.strip()
    form = SelfAssessment(std.key, {(BANDS[0], item): "no", (BANDS[1], item): "yes"})
    report = assess(units, nanjing_result.clusters, nanjing_result.scores, self_assessment=form)
    rows = report.items[(report.items["item"] == item) & (report.items["how"] == "self_assessed")]
    assert sorted(zip(rows["unit"], rows["status"], strict=True))[:2] == [(0, "no"), (1, "yes")]
    short = report.shortfalls[report.shortfalls["how"] == "self_assessed"]
    assert set(short["unit"]) == {0}
    row = report.table.set_index("name").loc[BANDS[0]]
    assert short["residents_affected"].iloc[0] == pytest.approx(row["population"], abs=0.2)
    assert (row["self_reported_no"], row["self_reported_yes"]) == (1, 0)
    assert row["items_reached"] == row["measured_reached"]  # a "no" adds nothing


def test_units_in_gcj02_wkt_land_where_the_wgs84_ones_do(tmp_path, bands, nanjing_result):
    units, _ = bands
    rows = []
    for name, g in zip(BANDS, _bands(nanjing_result), strict=True):
        x, y = np.asarray(g.exterior.coords).T
        gx, gy = coords.wgs84_to_gcj02(x, y)
        rows.append([name, shapely.Polygon(np.column_stack([gx, gy])).wkt])
    path = _wkt_csv(tmp_path / "bands.csv", ["社区", "WKT"], rows)
    again = read_units(_study({"file": path, "crs": "gcj02"}), nanjing_result.network)
    assert list(again.name) == BANDS
    for a, b in zip(again.geometry, units.geometry, strict=True):
        assert shapely.hausdorff_distance(a, b) < 1.0  # metres


def test_units_in_a_projected_geopackage_land_where_the_wgs84_ones_do(
    tmp_path, bands, nanjing_result
):
    units, _ = bands
    frame = gpd.GeoDataFrame({"街道名称": BANDS}, geometry=_bands(nanjing_result), crs=4326)
    path = tmp_path / "bands.gpkg"
    frame.to_crs("EPSG:3857").to_file(path, driver="GPKG")
    again = read_units(_study({"file": path, "level": "街道"}), nanjing_result.network)
    assert list(again.name) == BANDS and again.level == "街道"
    for a, b in zip(again.geometry, units.geometry, strict=True):
        assert shapely.hausdorff_distance(a, b) < 1.0  # metres


# ---------------------------------------------------------------------------------------
# Boundaries from OSM
# ---------------------------------------------------------------------------------------


def _osm_xml(path):
    """Two councils side by side (admin_level=8), one with a hole, a province over both
    (admin_level=4), and a council whose ways are not in the extract."""
    nodes = {
        1: (0.00, 0.00), 2: (0.01, 0.00), 3: (0.02, 0.00),
        4: (0.00, 0.01), 5: (0.01, 0.01), 6: (0.02, 0.01),
        7: (0.012, 0.002), 8: (0.018, 0.002), 9: (0.018, 0.008), 10: (0.012, 0.008),
    }  # fmt: skip
    ways = {
        11: [1, 2, 5, 4, 1],  # west square
        12: [2, 3, 6],  # east square, in two ways
        13: [6, 5, 2],
        14: [7, 8, 9, 10, 7],  # a hole in the east square
    }
    rels = [
        (21, "8", "Ħal West", [(11, "outer")]),
        (22, "8", "East", [(12, "outer"), (13, "outer"), (14, "inner")]),
        (23, "4", "Province", [(11, "outer")]),
        (24, "8", "Cut Off", [(99, "outer")]),
    ]
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", "<osm version='0.6'>"]
    for i, (lon, lat) in nodes.items():
        lines.append(f"<node id='{i}' version='1' lat='{lat + 35.9}' lon='{lon + 14.4}'/>")
    for i, refs in ways.items():
        lines.append(f"<way id='{i}' version='1'>")
        lines += [f"<nd ref='{r}'/>" for r in refs]
        lines.append("</way>")
    for i, level, name, members in rels:
        lines.append(f"<relation id='{i}' version='1'>")
        lines += [f"<member type='way' ref='{r}' role='{role}'/>" for r, role in members]
        lines += [
            "<tag k='type' v='boundary'/>",
            "<tag k='boundary' v='administrative'/>",
            f"<tag k='admin_level' v='{level}'/>",
            f"<tag k='name' v='{name}'/>",
            "</relation>",
        ]
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_admin_boundaries_are_read_from_a_small_extract(tmp_path):
    path = _osm_xml(tmp_path / "councils.osm")
    frame = admin_boundaries(path, 8)
    assert frame["osm_id"].tolist() == [21, 22, 24]
    assert frame["name"].tolist() == ["Ħal West", "East", "Cut Off"]
    west, east, cut = frame.geometry
    assert shapely.equals(west, shapely.box(14.40, 35.90, 14.41, 35.91))
    hole = shapely.box(14.412, 35.902, 14.418, 35.908)
    assert shapely.equals(east, shapely.box(14.41, 35.90, 14.42, 35.91).difference(hole))
    assert cut is None and "part of its boundary" in frame["problem"][2]
    assert admin_boundaries(path, 4)["name"].tolist() == ["Province"]


def test_osm_units_are_named_and_incomplete_ones_rejected(tmp_path):
    path = _osm_xml(tmp_path / "councils.osm")
    study = study_for_run(osm=path, units="osm:admin_level=8")
    units = read_units(study)
    assert list(units.name) == ["Ħal West", "East"]
    assert units.level == "admin_level=8" and units.source == "osm:admin_level=8"
    [rejected] = units.rejected
    assert rejected["kind"] == "units" and rejected["row"] == 24
    assert rejected["reason"] == "bad_coordinates" and rejected["name"] == "Cut Off"
    assert any("1 of 3 units are left out" in n for n in units.notes)
    with pytest.raises(InputError, match="no boundary=administrative relation of admin_level=9"):
        read_units(study_for_run(osm=path, units="osm:admin_level=9"))


@pytest.mark.slow
def test_malta_has_its_67_local_councils(shared_osm):
    frame = admin_boundaries(shared_osm / "malta-2018.osm.pbf", 8)
    assert len(frame) == 67
    assert (frame["problem"] == "").all() and frame.geometry.notna().all()
    study = study_for_run(osm=shared_osm / "malta-2018.osm.pbf", units="osm:admin_level=8")
    units = read_units(study)
    assert len(units) == 67 and len(set(units.name)) == len(set(units.slug)) == 67
    # Two councils are called Ir-Rabat (on Malta and on Gozo): told apart by their ids.
    assert sorted(n for n in units.name if n.startswith("Ir-Rabat")) == [
        "Ir-Rabat (relation 7508583)",
        "Ir-Rabat (relation 7510565)",
    ]
    assert any("2 admin_level=8 boundaries share a name" in n for n in units.notes)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


def test_overlapping_units_are_refused_naming_both(tmp_path, nanjing_result):
    w, s, e, n = _lonlat(nanjing_result)
    mid = (w + e) / 2
    a = shapely.box(w, s, mid + (e - w) / 4, n)
    b = shapely.box(mid - (e - w) / 4, s, e, n)
    path = _geojson(tmp_path / "overlap.geojson", ["甲社区", "乙社区"], [a, b])
    with pytest.raises(InputError) as err:
        read_units(_study({"file": path}), nanjing_result.network)
    message = str(err.value)
    assert "'甲社区' (feature 1) and '乙社区' (feature 2) overlap" in message
    assert "\n" not in message


def test_a_sliver_of_overlap_is_no_overlap(tmp_path, nanjing_result):
    w, s, e, n = _lonlat(nanjing_result)
    mid = (w + e) / 2
    eps = (e - w) * 0.002  # 0.4 % of each half
    path = _geojson(tmp_path / "sliver.geojson", ["甲", "乙"],
                    [shapely.box(w, s, mid + eps, n), shapely.box(mid, s, e, n)])  # fmt: skip
    units = read_units(_study({"file": path}), nanjing_result.network)
    assert list(units.name) == ["甲", "乙"]


def test_units_that_all_miss_the_study_area_are_refused(tmp_path, nanjing_result):
    far = [shapely.box(2.30, 48.85, 2.31, 48.86), shapely.box(2.31, 48.85, 2.32, 48.86)]
    path = _geojson(tmp_path / "paris.geojson", ["A", "B"], far)
    with pytest.raises(InputError, match="none of its 2 units lies in the study area"):
        read_units(_study({"file": path}), nanjing_result.network)


def test_units_that_miss_the_study_area_are_rejected_rows(tmp_path, nanjing_result):
    bands = _bands(nanjing_result)
    path = _geojson(tmp_path / "some.geojson", ["近", "远"],
                    [bands[0], shapely.box(2.30, 48.85, 2.31, 48.86)])  # fmt: skip
    units = read_units(_study({"file": path}), nanjing_result.network)
    assert list(units.name) == ["近"]
    [row] = units.rejected
    assert (row["reason"], row["name"], row["row"]) == ("outside_study_area", "远", 2)
    assert any("1 of 2 units are left out (outside_study_area 1)" in n for n in units.notes)


def test_a_repeated_unit_name_is_refused_naming_it_and_its_rows(tmp_path, nanjing_result):
    bands = _bands(nanjing_result)
    path = _wkt_csv(tmp_path / "twice.csv", ["社区名称", "wkt"],
                    [["东风社区", bands[0].wkt], ["西湖社区", bands[1].wkt],
                     ["东风社区", bands[2].wkt]])  # fmt: skip
    with pytest.raises(InputError, match=r"the unit name '东风社区' repeats \(row 2, row 4\)"):
        read_units(_study({"file": path}), nanjing_result.network)


def test_a_units_file_without_names_says_which_columns_it_has(tmp_path, nanjing_result):
    path = _geojson(tmp_path / "nameless.geojson", ["1", "2", "3"], _bands(nanjing_result),
                    name_key="code")  # fmt: skip
    with pytest.raises(InputError, match="no column of unit names .*columns found: code"):
        read_units(_study({"file": path}), nanjing_result.network)
    with pytest.raises(InputError, match="units.name_column '名字' is not a column"):
        read_units(_study({"file": path, "name_column": "名字"}), nanjing_result.network)
    units = read_units(_study({"file": path, "name_column": "code"}), nanjing_result.network)
    assert list(units.name) == ["1", "2", "3"]


def test_empty_geometries_and_names_are_rejected_rows(tmp_path, nanjing_result):
    bands = _bands(nanjing_result)
    rows = [
        ["甲", bands[0].wkt],
        ["乙", "POLYGON EMPTY"],
        ["丙", ""],
        ["", bands[1].wkt],
        ["丁", "POINT (118.78 32.04)"],
        ["戊", "nonsense"],
    ]
    path = _wkt_csv(tmp_path / "gaps.csv", ["name", "wkt"], rows)
    units = read_units(_study({"file": path}), nanjing_result.network)
    assert list(units.name) == ["甲"]
    got = {(r["row"], r["reason"]) for r in units.rejected}
    assert got == {(3, "bad_coordinates"), (4, "bad_coordinates"), (5, "bad_value"),
                   (6, "bad_coordinates"), (7, "bad_coordinates")}  # fmt: skip
    assert all(r["kind"] == "units" and r["file"] == "gaps.csv" for r in units.rejected)
    assert any("5 of 6 units are left out" in n for n in units.notes)


def test_a_units_file_with_no_usable_row_is_refused(tmp_path, nanjing_result):
    path = _wkt_csv(tmp_path / "none.csv", ["name", "wkt"], [["甲", ""], ["乙", "POLYGON EMPTY"]])
    with pytest.raises(InputError, match="none of its 2 units is usable"):
        read_units(_study({"file": path}), nanjing_result.network)


def test_a_missing_units_file_is_one_line(tmp_path, nanjing_result):
    with pytest.raises(InputError, match="units file not found"):
        read_units(_study({"file": tmp_path / "nope.geojson"}), nanjing_result.network)


# ---------------------------------------------------------------------------------------
# The study's field and the command line
# ---------------------------------------------------------------------------------------


def test_units_options_set_the_study_field(tmp_path):
    study = study_for_run(units="osm:admin_level=8")
    assert study.units.osm_admin_level == 8 and study.units.file is None
    path = tmp_path / "u.geojson"
    study = study_for_run(units=str(path), units_crs="GCJ-02")
    assert (study.units.file, study.units.crs) == (path.resolve(), "gcj02")
    assert study.units.osm_admin_level is None


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"units_crs": "gcj02"}, "--units-crs applies to --units"),
        ({"units": "osm:level=8"}, "give osm:admin_level=N"),
        ({"units": "osm:admin_level=99"}, "units.osm_admin_level"),
        ({"units": "osm:admin_level=8", "standard": "none"}, "scored against a standard"),
    ],
)
def test_units_options_refuse_what_cannot_work(given, message):
    with pytest.raises(ConfigError, match=message):
        study_for_run(**given)


def test_units_in_a_study_file(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "name: s\nunits: {file: bands.geojson, level: 街道, name_column: 街道名称}\n",
        encoding="utf-8",
    )
    study = load_study(tmp_path / "s.yaml")
    assert study.units.file == (tmp_path / "bands.geojson").resolve()
    assert (study.units.level, study.units.name_column) == ("街道", "街道名称")
    (tmp_path / "o.yaml").write_text("name: o\nunits: osm:admin_level=10\n", encoding="utf-8")
    assert load_study(tmp_path / "o.yaml").units.osm_admin_level == 10


def test_rejected_records_are_json(tmp_path, nanjing_result):
    path = _wkt_csv(tmp_path / "r.csv", ["name", "wkt"],
                    [["甲", _bands(nanjing_result)[0].wkt], ["乙", ""]])  # fmt: skip
    [row] = read_units(_study({"file": path}), nanjing_result.network).rejected
    assert json.loads(row["record"]) == {"name": "乙", "wkt": ""}


@pytest.mark.slow  # prepares the bundled district again (its services, snapped)
def test_shortfalls_name_the_nearest_facility_at_the_clusters_distance(bands, nanjing_result):
    from circles.prepare import prepare
    from circles.progress import Steps
    from circles.scope import Scope

    study = load_study()
    scope = Scope.of(study)
    prepared = prepare(study, scope, Steps())
    units, _ = bands
    r = nanjing_result
    report = assess(units, r.clusters, r.scores, prepared, r.starts, r.walk,
                    categories=scope.categories)  # fmt: skip
    ids = r.clusters["cluster_id"].astype(str).to_numpy()
    std = r.scores.standard
    checked = 0
    for _, row in report.shortfalls.iterrows():
        req = std.level(row["level"]).requirement(row["item"])
        if req.match != "one":
            continue
        rows = np.flatnonzero(np.isin(ids, row["clusters"].split(";")))
        near = r.clusters[f"{req.categories[0]}_nearest_m"].to_numpy(float)[rows]
        if np.isfinite(near).any():
            assert row["nearest_facility_m"] == pytest.approx(np.nanmin(near), abs=0.05)
            assert row["nearest_facility"] != ""
            checked += 1
        else:
            assert row["nearest_facility"] == "" and np.isnan(row["nearest_facility_m"])
    assert checked > 0
