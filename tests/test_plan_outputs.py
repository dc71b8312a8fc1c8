"""The files of a plan: sites.csv/.geojson, plan.html, the report, written all or nothing.

Plans are built by hand from the ``Plan`` dataclass over the synthetic result of
test_outputs (four clusters, services around Xinjiekou), so these tests need no solver.
"""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point
from test_outputs import IMG_XSS, SCRIPT_XSS, make_result

from circles.outputs import OutputError
from circles.outputs import plan as plan_mod
from circles.outputs.console import plan_table
from circles.planning import Item, Plan
from circles.sources.coords import wgs84_to_gcj02

FORMULA = '=HYPERLINK("http://x","y")'


def make_plan(**changes) -> Plan:
    """Two sites: site 1 covers R002, site 2 nothing new; R003 stays, R004 unreachable."""
    res = make_result()
    crs = res.network.crs
    x0, y0 = res.clusters.geometry.iloc[0].bounds[:2]
    pts = [Point(x0 + 240, y0 + 60), Point(x0 + 400, y0 + 200)]
    wgs = gpd.GeoSeries(pts, crs=crs).to_crs(4326)
    sites = gpd.GeoDataFrame(
        {
            "rank": [1, 2],
            "candidate_id": ["n1", "n2"],
            "name": [IMG_XSS, ""],
            "lon": wgs.x.to_numpy(),
            "lat": wgs.y.to_numpy(),
            "street": [FORMULA, "中山路"],
            "snap_m": [3.0, 4.0],
            "cost": [np.nan, np.nan],
            "new_residents": [628.8, 0.0],
            "new_clusters": [1, 0],
            "cum_residents": [943.2, 943.2],
            "cum_share": [0.3, 0.3],
        },
        geometry=pts,
        crs=crs,
    )
    clusters = res.clusters[["cluster_id", "name", "population", "area_m2", "geometry"]].copy()
    clusters["covered_before"] = [True, False, False, False]
    clusters["covered_after"] = [True, True, False, False]
    clusters["site_rank"] = [-1, 1, -1, -1]
    clusters["reachable"] = [True, True, True, False]
    existing = res.services[res.services["category"] == "pharmacy"][["name", "geometry"]]
    fields = {
        "study": res.study,
        "item": Item("pharmacy", 300.0, "5min", "药店 (5分钟, 300米)", "pharmacy (5 min, 300 m)"),
        "objective": "residents",
        "method": "exact",
        "sites": sites,
        "clusters": clusters,
        "existing": existing,
        "unreachable": ["R004"],
        "before": {"clusters": 0.25, "area": 0.25, "residents": 0.1},
        "after": {"clusters": 0.5, "area": 0.5, "residents": 0.3},
        "greedy_value": 628.8,
        "exact_value": 700.0,
        "gap": (700.0 - 628.8) / 700.0,
        "n_candidates": 16,
        "crs": crs,
    }
    fields.update(changes)
    return Plan(**fields)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return plan_mod.write_plan(make_plan(), tmp_path_factory.mktemp("plan") / "p")


def test_files_written(written):
    assert sorted(p.name for p in written.iterdir()) == sorted(plan_mod.PLAN_FILES)


def test_default_folder_is_the_items_slug(tmp_path):
    plan = make_plan()
    plan.study = plan.study.model_copy(update={"output_dir": tmp_path})
    out = plan_mod.write_plan(plan)
    assert out == tmp_path / "test-study" / "plan-5min-pharmacy"
    assert (out / "plan.html").is_file()


def test_sites_csv(written):
    raw = (written / "sites.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as UTF-8
    frame = pd.read_csv(written / "sites.csv", encoding="utf-8-sig", keep_default_na=False)
    assert frame["rank"].tolist() == [1, 2]
    for col in ("lon", "lat", "lon_gcj02", "lat_gcj02", "street", "new_residents"):
        assert col in frame.columns
    for col in ("new_clusters", "cum_share", "cost"):
        assert col in frame.columns
    assert frame["street"].tolist() == ["'" + FORMULA, "中山路"]  # defused, not run
    assert frame["name"].iloc[0] == IMG_XSS  # text in a CSV is not HTML
    assert frame["new_residents"].tolist() == [629, 0]  # whole people


def test_gcj02_columns_match_the_transform(written):
    frame = pd.read_csv(written / "sites.csv", encoding="utf-8-sig")
    glon, glat = wgs84_to_gcj02(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    np.testing.assert_allclose(frame["lon_gcj02"], glon, atol=1e-9)
    np.testing.assert_allclose(frame["lat_gcj02"], glat, atol=1e-9)
    # GCJ-02 is hundreds of metres off WGS-84 in Nanjing
    assert (np.abs(frame["lon_gcj02"] - frame["lon"]) > 1e-3).all()


def test_sites_geojson_is_wgs84(written):
    doc = json.loads((written / "sites.geojson").read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    [f1, f2] = doc["features"]
    assert f1["properties"]["rank"] == 1 and f2["properties"]["rank"] == 2
    lon, lat = f1["geometry"]["coordinates"]
    assert 118.7 < lon < 118.9 and 32.0 < lat < 32.1
    assert f1["properties"]["cost"] is None  # NaN written as null
    frame = gpd.read_file(written / "sites.geojson")
    assert frame.crs.to_epsg() == 4326 and len(frame) == 2


def test_plan_html_escapes_names(written):
    page = (written / "plan.html").read_text(encoding="utf-8")
    assert IMG_XSS not in page  # only its escaped form
    assert "&lt;img src=x onerror=alert(1)&gt;" in page or "\\u0026lt;img" in page
    assert "<b>Test</b>" not in page  # the study's title is escaped too
    assert "© OpenStreetMap contributors" in page
    assert "cdn.jsdelivr.net" in page  # the CDN by default
    assert "circlesPlanSites" in page
    # coverage before → after and the gap to the optimum in the panel
    assert "25%" in page and "50%" in page and "10.2%" in page


def test_plan_html_self_contained_offline(tmp_path):
    out = plan_mod.write_plan(make_plan(), tmp_path / "p", self_contained=True, basemap="none")
    page = (out / "plan.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net" not in page
    assert "L.Map" in page or "L.map" in page  # Leaflet embedded


def test_report_escapes_names_and_has_the_section(written):
    html = (written / "report.html").read_text(encoding="utf-8")
    md = (written / "report.md").read_text(encoding="utf-8")
    assert IMG_XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script" not in html.lower()
    for text in (md, html):
        assert "Where to build" in text
        assert "药店 (5分钟, 300米)" in text
        assert "Unreachable clusters" in text and "R004" in text
        assert "Before" in text and "After" in text
    assert re.search(r"\| 居民 Residents \| 10% \| 30% \|", md)
    assert "中山路" in md


def test_data_gap_and_rejected_rows(tmp_path):
    rejected = [
        {
            "file": "cand.csv",
            "kind": "candidates",
            "row": 3,
            "reason": "bad_coordinates",
            "reason_label": "坐标无效 bad coordinates",
            "detail": "=1+1",
            "name": SCRIPT_XSS,
            "x": "",
            "y": "",
            "record": "{}",
        }
    ]
    plan = make_plan(data_gap=True, rejected=rejected, candidates_source="cand.csv")
    out = plan_mod.write_plan(plan, tmp_path / "p")
    assert (out / "rejected_rows.csv").is_file()
    frame = pd.read_csv(out / "rejected_rows.csv", encoding="utf-8-sig")
    assert frame["detail"].tolist() == ["'=1+1"]
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "1 candidate rows not used" in md
    assert "planned as if none existed" in md
    assert "cand.csv" in md
    page = (out / "plan.html").read_text(encoding="utf-8")
    assert "planned as if none existed" in page


def test_failing_writer_leaves_nothing_half_written(tmp_path, monkeypatch):
    out = tmp_path / "p"
    plan_mod.write_plan(make_plan(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(plan_mod, "write_plan_map", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        plan_mod.write_plan(make_plan(method="greedy"), out)
    assert [p.name for p in tmp_path.iterdir()] == ["p"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(RuntimeError):
        plan_mod.write_plan(make_plan(), tmp_path / "fresh")
    assert [p.name for p in tmp_path.iterdir()] == ["p"]


def test_refuses_a_foreign_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious", encoding="utf-8")
    with pytest.raises(OutputError):
        plan_mod.write_plan(make_plan(), out)
    assert [p.name for p in out.iterdir()] == ["thesis.docx"]


def test_cluster_states():
    assert plan_mod.cluster_states(make_plan()) == [0, 1, 2, 3]


def test_terminal_table():
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(plan_table(make_plan()))
    text = console.export_text()
    assert "Where to build" in text and "中山路" in text
    assert "629" in text  # residents newly covered by site 1
    assert "10% → 30%" in text
    assert "gap 10.2%" in text


def test_no_sites_and_no_existing(tmp_path):
    plan = make_plan(sites=make_plan().sites.iloc[0:0], existing=make_plan().existing.iloc[0:0])
    out = plan_mod.write_plan(plan, tmp_path / "p")
    assert pd.read_csv(out / "sites.csv", encoding="utf-8-sig").empty
    assert "无 None." in (out / "report.md").read_text(encoding="utf-8")
