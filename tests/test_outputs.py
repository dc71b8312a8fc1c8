"""Outputs of a study: files written atomically, safe HTML, honest data gaps."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import pytest
from rich.console import Console
from shapely.geometry import Point, Polygon, box

from circles.config import Study
from circles.network import build_network
from circles.outputs import (
    CLUSTERS_CSV,
    GEOPACKAGE,
    MAP_HTML,
    OUTPUT_FILES,
    REPORT_MD,
    SUMMARY_JSON,
    OutputError,
    columns,
    files,
    write_outputs,
)
from circles.outputs import report as report_mod
from circles.outputs.console import summary_table
from circles.outputs.webmap import build_map
from circles.result import StudyResult, Threshold
from circles.services import Category, load_categories
from circles.settings import OSM_ATTRIBUTION
from circles.sources.extract import OsmExtract, features_frame

CRS = pyproj.CRS.from_epsg(32650)
IMG_XSS = "<img src=x onerror=alert(1)>"
SCRIPT_XSS = "</script><script>alert(1)</script>"
PIPE_NAME = "A|B\n花园"
KEYS = ("market", "pharmacy", "clinic", "elder_care")  # elder_care: a data gap


def _origin() -> tuple[float, float]:
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    return to_metric.transform(118.78, 32.04)


def _network():
    """A 4 x 4 street grid, 200 m apart, around Xinjiekou."""
    x0, y0 = _origin()
    to_wgs = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    ids, lon, lat, ptr, way_ids = [], [], [], [0], []
    for i in range(4):  # east-west ways
        for j in range(4):
            x, y = to_wgs.transform(x0 + 200 * j, y0 + 200 * i)
            ids.append(1000 + 10 * i + j)
            lon.append(x)
            lat.append(y)
        ptr.append(len(ids))
        way_ids.append(i + 1)
    for j in range(4):  # north-south ways
        for i in range(4):
            x, y = to_wgs.transform(x0 + 200 * j, y0 + 200 * i)
            ids.append(1000 + 10 * i + j)
            lon.append(x)
            lat.append(y)
        ptr.append(len(ids))
        way_ids.append(10 + j)
    extract = OsmExtract(
        way_ids=np.asarray(way_ids, dtype=np.int64),
        way_ptr=np.asarray(ptr, dtype=np.int64),
        node_ids=np.asarray(ids, dtype=np.int64),
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        features=features_frame([], [], [], []),
        source="synthetic",
    )
    return build_network(extract, crs=CRS)


def make_result() -> StudyResult:
    x0, y0 = _origin()
    catalogue = load_categories()
    categories = {k: catalogue[k] for k in KEYS}
    thresholds = [  # labelled as circles.scope.thresholds_of labels GB 50180 distances
        Threshold(300.0, "5分钟 (300米)", "5 min (300 m)"),
        Threshold(500.0, "10分钟 (500米)", "10 min (500 m)"),
        Threshold(1000.0, "15分钟 (1000米)", "15 min (1000 m)"),
    ]
    names = ["金陵小区", IMG_XSS, PIPE_NAME, ""]
    used = [True, True, True, False]
    # counts per category (market, pharmacy, clinic) at 300/500/1000 m; none (<NA>) for
    # the cluster that did not join the network, as circles.measure writes them
    none = (None, None, None)
    counts = [
        {"market": (1, 2, 2), "pharmacy": (0, 1, 1), "clinic": (0, 0, 1)},
        {"market": (0, 1, 2), "pharmacy": (0, 0, 0), "clinic": (1, 1, 1)},
        {"market": (0, 0, 0), "pharmacy": (0, 0, 1), "clinic": (0, 0, 0)},
        {"market": none, "pharmacy": none, "clinic": none},
    ]
    nearest = [
        {"market": 120.0, "pharmacy": 420.0, "clinic": 880.0},
        {"market": 350.0, "pharmacy": 1450.0, "clinic": 90.0},
        {"market": np.nan, "pharmacy": 760.0, "clinic": 2100.0},
        {"market": np.nan, "pharmacy": np.nan, "clinic": np.nan},
    ]
    rows = []
    for i in range(4):
        geom = box(x0 + 20 + 150 * i, y0 + 20, x0 + 140 + 150 * i, y0 + 180)
        row = {
            "cluster_id": f"R{i + 1:03d}",
            "name": names[i],
            "method": "landuse",
            "area_m2": geom.area,
            "dwellings": 120.0,
            "population": 314.4 * (i + 1),
            "snap_m": 15.0 if used[i] else 450.0,
            "used": used[i],
            "geometry": geom,
        }
        for k in KEYS:
            for n, t in enumerate(thresholds):
                # elder_care is a data gap: no figure (<NA>), never 0
                row[f"{k}_{t.column}"] = None if k == "elder_care" else counts[i][k][n]
            row[f"{k}_nearest_m"] = nearest[i].get(k, np.nan)
        for n, t in enumerate(thresholds):
            reached = sum(1 for k in KEYS[:3] if (counts[i][k][n] or 0) > 0)
            row[f"reached_{t.column}"] = reached if used[i] else None
            row[f"share_reached_{t.column}"] = reached / 3 if used[i] else np.nan
        rows.append(row)
    clusters = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)
    for col in [f"{k}_{t.column}" for k in KEYS for t in thresholds] + [
        f"reached_{t.column}" for t in thresholds
    ]:
        clusters[col] = clusters[col].astype("Int64")

    svc = [
        ("market", IMG_XSS, "node", 11, True, (100, 100)),
        ("market", SCRIPT_XSS, "way", 12, True, (300, 150)),
        ("pharmacy", "益丰大药房", "node", 13, True, (500, 300)),
        ("clinic", "社区卫生服务站", "node", 14, True, (250, 400)),
        ("clinic", "", "relation", 15, False, (2000, 2000)),
    ]
    services = gpd.GeoDataFrame(
        {
            "service_id": np.arange(len(svc)),
            "category": [s[0] for s in svc],
            "name": [s[1] for s in svc],
            "osm_type": [s[2] for s in svc],
            "osm_id": np.asarray([s[3] for s in svc], dtype=np.int64),
            "snap_m": [5.0, 8.0, 3.0, 12.0, 800.0],
            "used": [s[4] for s in svc],
        },
        geometry=[Point(x0 + s[5][0], y0 + s[5][1]) for s in svc],
        crs=CRS,
    )

    iso = []
    for i in range(4):
        cx, cy = x0 + 80 + 150 * i, y0 + 100
        for t in thresholds:
            r = t.distance_m * 0.6
            geom = Point(cx, cy).buffer(r, 8) if used[i] else Polygon()
            iso.append(
                {
                    "cluster_id": f"R{i + 1:03d}",
                    "threshold_m": t.distance_m,
                    "method": "buffered-edges",
                    "area_m2": geom.area,
                    "geometry": geom,
                }
            )
    isochrones = gpd.GeoDataFrame(iso, geometry="geometry", crs=CRS)

    network = _network()
    summary = {
        "study": "test-study",
        "title": "测试 <b>Test</b>",
        "source": "synthetic.osm",
        "residence_method": "landuse",
        "thresholds_m": [t.distance_m for t in thresholds],
        "inputs": {
            "walk_nodes": network.n_nodes,
            "walk_edges": network.n_edges,
            "walk_km": round(network.stats["length_km"], 2),
            "services": 5,
            "services_used": 4,
            "services_per_category": {"market": 2, "pharmacy": 1, "clinic": 2, "elder_care": 0},
            "clusters": 4,
            "clusters_used": 3,
            "population": 3144.0,
            "features": 42,
        },
        "network": dict(network.stats),
        "coverage": {
            "market": {"300m": 1 / 3, "500m": 2 / 3, "1000m": 2 / 3},
            "pharmacy": {"300m": 0.0, "500m": 1 / 3, "1000m": 2 / 3},
            "clinic": {"300m": 1 / 3, "500m": 1 / 3, "1000m": 2 / 3},
            "elder_care": {"300m": None, "500m": None, "1000m": None},
        },
        "data_gaps": ["elder_care"],
        "warnings": ["1 cluster is farther than 300 m from any walkable street"],
        "generated": "2024-05-01",
        "snap": {"max_distance_m": 300.0, "services_unsnapped": 1, "clusters_unsnapped": 1},
    }
    study = Study(name="test-study", title="测试 <b>Test</b>")
    return StudyResult(
        study=study,
        network=network,
        categories=categories,
        thresholds=thresholds,
        clusters=clusters,
        services=services,
        isochrones=isochrones,
        summary=summary,
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture(scope="module")
def result() -> StudyResult:
    return make_result()


@pytest.fixture(scope="module")
def written(result, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "test-study"
    return write_outputs(result, out)


def test_all_files_written(written):
    assert written.is_dir()
    assert written.stat().st_mode & 0o055 == 0o055 & ~_umask()  # readable as a mkdir'd folder
    assert sorted(p.name for p in written.iterdir()) == sorted(OUTPUT_FILES)
    siblings = [p.name for p in written.parent.iterdir()]
    assert siblings == [written.name]  # no temporary folder left beside it


def test_geopackage_layers(written, result):
    path = written / GEOPACKAGE
    layers = dict(pyogrio.list_layers(path))
    assert set(layers) == {"clusters", "services", "isochrones"}
    expected = {"clusters": 4, "services": 5, "isochrones": 12}
    for layer, n in expected.items():
        frame = gpd.read_file(path, layer=layer, engine="pyogrio")
        assert len(frame) == n
        assert frame.crs.to_epsg() == 4326
    clusters = gpd.read_file(path, layer="clusters", engine="pyogrio")
    assert list(clusters["cluster_id"]) == ["R001", "R002", "R003", "R004"]
    lon, lat = clusters.geometry.iloc[0].centroid.coords[0]
    assert 118.7 < lon < 118.9 and 32.0 < lat < 32.1


def test_csv_utf8_bom(written):
    raw = (written / CLUSTERS_CSV).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(written / CLUSTERS_CSV, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["cluster_id"] for r in rows] == ["R001", "R002", "R003", "R004"]
    assert rows[0]["name"] == "金陵小区"
    assert rows[2]["name"] == PIPE_NAME
    assert "geometry" not in rows[0]
    assert 118.7 < float(rows[0]["lon"]) < 118.9 and 32.0 < float(rows[0]["lat"]) < 32.1


def test_summary_round_trips(written, result):
    text = (written / SUMMARY_JSON).read_text(encoding="utf-8")
    assert "测试" in text  # not \u-escaped
    assert json.loads(text) == result.summary


def test_map_layers_and_escaping(written, result):
    text = (written / MAP_HTML).read_text(encoding="utf-8")
    for cat in result.categories.values():
        assert cat.en in text, cat.key
    assert IMG_XSS not in text
    assert SCRIPT_XSS not in text
    assert "<b>Test</b>" not in text
    assert "onerror=alert(1)>" not in text
    assert "<script>alert(1)" not in text
    # the escaped title is shown; OSM links and attribution are there
    assert "测试 &lt;b&gt;Test&lt;/b&gt;" in text
    # (service popups, with their OSM links, are built in the browser: test_map_browser)
    assert "https://www.openstreetmap.org/" in text.replace("\\/", "/")
    assert "© OpenStreetMap contributors" in text
    assert "L.control.scale" in text and "L.control.fullscreen" in text
    assert "basemaps.cartocdn.com" not in text  # no CARTO key given: no broken tiles


def test_map_isochrones_embedded_safely(result):
    html_text = build_map(result).get_root().render()
    match = re.search(r"var circlesIsochrones = (\{.*?\});\n", html_text, re.S)
    assert match, "isochrone data not embedded"
    data = json.loads(match.group(1))
    assert set(data) == {"R001", "R002", "R003"}  # no empty isochrones of R004
    assert [item["t"] for item in data["R001"]] == [1000.0, 500.0, 300.0]  # larger first


def test_xss_in_cluster_id_is_escaped():
    res = make_result()
    res.clusters.loc[0, "cluster_id"] = "</script><b>x"
    res.isochrones.loc[res.isochrones["cluster_id"] == "R001", "cluster_id"] = "</script><b>x"
    text = build_map(res).get_root().render()
    assert "</script><b>x" not in text


def test_report_data_gap_and_pipes(written, result):
    text = (written / REPORT_MD).read_text(encoding="utf-8")
    elder = result.categories["elder_care"]
    gap_rows = [line for line in text.splitlines() if line.startswith(f"| {elder.label}")]
    assert gap_rows, "elder care missing from coverage table"
    assert "数据缺口 data gap" in gap_rows[0]
    assert "0%" not in gap_rows[0]
    assert OSM_ATTRIBUTION in text  # the credit of circles.settings
    assert r"A\|B 花园" in text  # pipe escaped, newline flattened in a table cell
    assert "POI" in text


def test_report_lists_least_served(result):
    text = report_mod.render_report(result)
    section = text.split("## ")[
        [i for i, s in enumerate(text.split("## ")) if s.startswith("最")][0]
    ]
    # R003 reaches one category within 1000 m and misses markets and clinics; R001 has all
    assert section.index("R003") < section.index("R002")
    assert "R001" not in section and "R004" not in section
    r003 = next(line for line in section.splitlines() if "R003" in line).lower()
    assert "market" in r003 and "clinic" in r003 and "elder" not in r003


def test_console_table(result):
    table = summary_table(result)
    console = Console(width=100, record=True)
    console.print(table)
    out = console.export_text()
    assert "缺口 gap" in out and "数据缺口" in out  # the gap is marked, and explained
    assert "67%" in out
    assert len(out.splitlines()) < 40
    # One line per category, however long its label.
    for cat in result.categories.values():
        assert sum(cat.zh in line for line in out.splitlines()) == 1


def test_console_counts_the_residents_of_each_method(result):
    def caption(summary: dict) -> str:
        console = Console(width=200, record=True)
        console.print(summary_table(dataclasses.replace(result, summary=summary)))
        return " ".join(console.export_text().split())

    mixed = {**result.summary, "residents_by_method": {"landuse": 76611.0, "buildings": 3164}}
    assert "residents 居民 landuse 76,611, buildings 3,164" in caption(mixed)
    one = {**result.summary, "residents_by_method": {"landuse": 100.0}}
    assert "居民" not in caption(one)  # one method: nothing to tell apart


def test_failure_leaves_nothing_half_written(result, tmp_path, monkeypatch):
    out = tmp_path / "study"
    write_outputs(result, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_mod, "write_report", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_outputs(result, out)
    assert [p.name for p in tmp_path.iterdir()] == ["study"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        write_outputs(result, fresh)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study"]


def test_replaces_earlier_run(result, tmp_path):
    out = tmp_path / "study"
    out.mkdir()
    (out / MAP_HTML).write_text("old", encoding="utf-8")
    write_outputs(result, out)
    assert (out / MAP_HTML).read_text(encoding="utf-8") != "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study"]


def test_refuses_to_replace_foreign_folder(result, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious", encoding="utf-8")
    with pytest.raises(OutputError):
        write_outputs(result, out)
    assert (out / "thesis.docx").read_text(encoding="utf-8") == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_coverage_falls_back_to_columns(result):
    res = make_result()
    res.summary.pop("coverage")
    cov = columns.coverage(res)
    assert cov["elder_care"] == {"300m": None, "500m": None, "1000m": None}
    assert cov["market"]["1000m"] == pytest.approx(2 / 3)


def test_category_label_is_escaped():
    res = make_result()
    res.categories["market"] = Category(
        key="market", zh="<i>市场</i>", en="Mar|kets", color="#2e7d32"
    )
    text = build_map(res).get_root().render()
    assert "<i>市场</i>" not in text
    md = report_mod.render_report(res)
    assert r"Mar\|kets" in md


def test_threshold_labels_get_their_distance_once():
    assert columns.label_zh(Threshold(300.0, "5分钟", "5 min")) == "5分钟 (300米)"
    assert columns.label_en(Threshold(300.0, "5分钟", "5 min")) == "5 min (300 m)"
    assert columns.label_zh(Threshold(800.0, "800米", "800 m")) == "800米"
    assert columns.label_both(Threshold(800.0, "800米", "800 m")) == "800 m"
    assert columns.label_both(Threshold(300.0, "5分钟 (300米)", "5 min (300 m)")) == (
        "5分钟 5 min (300 m)"
    )
    assert columns.label_both(Threshold(300.0, "5分钟", "5 min")) == "5分钟 5 min (300 m)"
    assert columns.label_en(Threshold(1000.0, "15分钟 (1000米)", "15 min (1000 m)")) == (
        "15 min (1000 m)"
    )


def test_csv_defuses_formulas(tmp_path):
    res = make_result()
    res.clusters.loc[0, "name"] = '=HYPERLINK("http://x","y")'
    res.clusters.loc[1, "name"] = "-5"  # a plain number as text: shown, never run
    res.clusters.loc[2, "name"] = "-1+1"
    res.clusters.loc[2, "area_m2"] = -1.0
    files.write_cluster_csv(res, tmp_path / "c.csv")
    with open(tmp_path / "c.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["name"] == '\'=HYPERLINK("http://x","y")'
    assert rows[1]["name"] == "-5"  # the shared guard (circles.values.defuse_formula)
    assert rows[2]["name"] == "'-1+1"
    assert rows[2]["area_m2"] == "-1.0"  # numbers untouched
    assert rows[3]["market_300m"] == ""  # an empty count stays empty


def test_carto_basemap_with_key(result):
    text = build_map(result, carto_api_key="k&<1").get_root().render()
    assert "basemaps.cartocdn.com" in text
    assert "key=k%26%3C1" in text


# --- data gaps: empty counts, never 0 (issue 17, point 6) --------------------------------


def _measured_with_a_gap():
    """Measure three clusters of the 200 m street grid with circles.measure; elder_care has
    no service at all. Clusters A at (0, 0) and B at (600, 600) sit on street nodes;
    C lies 5 km away and does not join the network. Walks are along the grid."""
    import pandas as pd

    from circles import measure
    from circles.config import DecaySettings, ReachSettings
    from circles.prepare import Prepared
    from circles.snap import EdgeIndex

    network = _network()
    x0, y0 = _origin()
    index = EdgeIndex(network)
    # (category, x, y): from A, markets 200 and 1000 m, the pharmacy 600 m, the clinic
    # 800 m; from B, markets 1000 and 200 m, the pharmacy 600 m, the clinic 400 m.
    svc = [("market", 200, 0), ("market", 600, 400), ("pharmacy", 0, 600), ("clinic", 400, 400)]
    sx = np.array([x0 + s[1] for s in svc], dtype=float)
    sy = np.array([y0 + s[2] for s in svc], dtype=float)
    arrays = {
        "category": np.array([s[0] for s in svc]),
        "name": np.array(["m1", "m2", "p", "c"]),
        "osm_type": np.full(4, "node"),
        "osm_id": np.arange(1, 5, dtype=np.int64),
        "x": sx,
        "y": sy,
    }
    prepared = Prepared(network, arrays, index.attach(sx, sy, 300.0), "", None, False)
    at = [(0, 0), (600, 600), (5000, 5000)]
    cx = np.array([x0 + a[0] for a in at], dtype=float)
    cy = np.array([y0 + a[1] for a in at], dtype=float)
    attachment = index.attach(cx, cy, 300.0)
    clusters = gpd.GeoDataFrame(
        {
            "cluster_id": ["A", "B", "C"],
            "name": ["甲", "乙", "丙"],
            "population": [100.0, 200.0, 300.0],
            "used": attachment.used,
        },
        geometry=[box(x - 10, y - 10, x + 10, y + 10) for x, y in zip(cx, cy, strict=True)],
        crs=CRS,
    )
    thresholds = [Threshold(300.0, "300米", "300 m"), Threshold(500.0, "500米", "500 m")]
    thresholds.append(Threshold(900.0, "900米", "900 m"))
    distances = [t.distance_m for t in thresholds]
    settings = ReachSettings(decay=DecaySettings(kind="linear", max_m=900.0))
    reach = measure.measure(prepared, attachment, KEYS, distances, settings)
    gaps = measure.data_gaps(prepared, KEYS)
    frame = measure.with_reach_columns(clusters, reach, KEYS, thresholds, gaps)
    surface = measure.origin_reach_table(
        np.arange(2), attachment.subset(attachment.used), reach, network, KEYS, thresholds
    )
    assert isinstance(frame, pd.DataFrame)
    return frame, surface, thresholds, gaps


def test_data_gap_counts_are_empty_in_the_frame():
    frame, _surface, thresholds, gaps = _measured_with_a_gap()
    assert gaps == ["elder_care"]
    assert frame["used"].tolist() == [True, True, False]
    want = {  # A, B; C has no figure
        "market": [(1, 1, 1), (1, 1, 1)],
        "pharmacy": [(0, 0, 1), (0, 0, 1)],
        "clinic": [(0, 0, 1), (0, 1, 1)],
    }
    for k in KEYS:
        for n, t in enumerate(thresholds):
            col = frame[f"{k}_{t.column}"]
            assert str(col.dtype) == "Int64", col.name
            if k == "elder_care":
                assert col.isna().all(), col.tolist()  # no data: empty, never 0
            else:
                assert col.tolist()[:2] == [w[n] for w in want[k]], col.name
                assert col.isna().tolist() == [False, False, True]  # C: not snapped
    assert frame["elder_care_decay"].isna().all()
    assert (frame["market_decay"].iloc[:2] > 0).all()
    assert frame["reached_900m"].tolist()[:2] == [3, 3]
    assert frame["reached_900m"].isna().tolist() == [False, False, True]
    assert np.isnan(frame["elder_care_nearest_m"]).all()


def test_data_gap_counts_are_empty_in_every_file(tmp_path):
    import sqlite3

    import pyarrow.parquet as pq

    from circles import measure

    frame, surface, thresholds, _gaps = _measured_with_a_gap()
    res = make_result()
    res.clusters = frame
    res.reach = measure.cluster_reach_table(frame)
    files.write_cluster_csv(res, tmp_path / "c.csv")
    with open(tmp_path / "c.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["elder_care_900m"] for r in rows] == ["", "", ""]
    assert [r["pharmacy_300m"] for r in rows] == ["0", "0", ""]  # none within 300 m
    assert [r["market_900m"] for r in rows] == ["1", "1", ""]
    assert [r["reached_900m"] for r in rows] == ["3", "3", ""]

    files.write_reach(res, tmp_path / "clusters.parquet")
    table = pq.read_table(tmp_path / "clusters.parquet")
    for col, nulls in (("elder_care_300m", 3), ("market_300m", 1), ("pharmacy_300m", 1)):
        assert str(table.schema.field(col).type) == "int64", col
        assert table.column(col).null_count == nulls, col
    assert table.column("pharmacy_300m").to_pylist() == [0, 0, None]
    assert table.column("elder_care_decay").null_count == 3

    res.reach = surface  # reach.parquet of --origins nodes / grid: no pandas on that path
    files.write_reach(res, tmp_path / "surface.parquet")
    table = pq.read_table(tmp_path / "surface.parquet")
    assert table.column("elder_care_900m").to_pylist() == [None, None]
    assert str(table.schema.field("elder_care_900m").type) == "int64"
    assert table.column("clinic_500m").to_pylist() == [0, 1]

    res.isochrones = res.isochrones.iloc[:0]
    files.write_geopackage(res, tmp_path / "c.gpkg")
    with sqlite3.connect(tmp_path / "c.gpkg") as db:
        got = db.execute(
            "SELECT elder_care_300m, pharmacy_300m, market_900m FROM clusters ORDER BY cluster_id"
        ).fetchall()
    assert got == [(None, 0, 1), (None, 0, 1), (None, None, None)]


def test_empty_counts_are_never_taken_as_zero():
    res = make_result()
    res.summary.pop("coverage")
    # A count without a figure for a used cluster (pharmacy: 1, <NA>, 1 within 1000 m):
    # left out of the share and of what the cluster misses, never counted as 0.
    res.clusters.loc[1, "pharmacy_1000m"] = None
    assert columns.coverage(res)["pharmacy"]["1000m"] == pytest.approx(1.0)
    row = res.clusters.iloc[1]
    assert columns.count_value(row, "pharmacy_1000m") == -1
    assert columns.count_value(row, "elder_care_1000m") == -1
    assert columns.count_value(res.clusters.iloc[2], "market_1000m") == 0
    assert "pharmacy" not in columns.missing_categories(res, row)
    assert columns.missing_categories(res, res.clusters.iloc[2]) == ["market", "clinic"]
