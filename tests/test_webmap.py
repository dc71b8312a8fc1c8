"""map.html without a browser: assets, basemaps, encoding, scores, options and escaping."""

from __future__ import annotations

import html
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from shapely.geometry import Point, Polygon, box
from test_outputs import CRS, IMG_XSS, SCRIPT_XSS, make_result
from typer.testing import CliRunner

from circles._errors import ConfigError
from circles.config import study_from_dict
from circles.outputs import MAP_HTML, colours, embed, grades, webmap, write_outputs
from circles.services import Category

GCJ02_HOSTS = ("autonavi", "amap.com", "gaode", "map.qq.com", "gtimg", "tencent")


def _html(result=None, **kwargs) -> str:
    return webmap.build_map(result or make_result(), **kwargs).get_root().render()


def _data(html_text: str, name: str):
    match = re.search(rf"var {name} = (.*?);\n", html_text)
    assert match, name
    return json.loads(match.group(1))


def _decode(g):
    out = []
    for poly in g:
        rings = []
        for r in poly:
            xy = np.cumsum(np.asarray(r, dtype=np.int64).reshape(-1, 2), axis=0) / webmap.SCALE
            rings.append(xy)
        out.append(rings)
    return out


def test_encode_polygons_round_trip_keeps_holes():
    outer = box(118.0, 32.0, 118.01, 32.01)
    hole = box(118.002, 32.002, 118.004, 32.004)
    shape = Polygon(outer.exterior.coords, [hole.exterior.coords])
    g = webmap.encode_polygons(shape)
    assert len(g) == 1 and len(g[0]) == 2  # one polygon, outer ring and a hole
    assert all(isinstance(v, int) for v in g[0][0])
    (rings,) = _decode(g)
    assert len(rings[0]) == 4  # closing point dropped
    np.testing.assert_allclose(rings[0], np.asarray(outer.exterior.coords)[:-1], atol=1e-5)
    np.testing.assert_allclose(rings[1], np.asarray(hole.exterior.coords)[:-1], atol=1e-5)
    # a sliver that vanishes at 1e-5 degrees, and an empty polygon, give nothing
    assert webmap.encode_polygons(box(118.0, 32.0, 118.000001, 32.000001)) is None
    assert webmap.encode_polygons(Polygon()) is None


def test_cdn_page_loads_only_leaflet():
    text = _html()
    srcs = re.findall(r'<script src="([^"]+)"', text)
    css = re.findall(r'<link rel="stylesheet" href="([^"]+)"', text)
    assert srcs == [webmap.LEAFLET_JS_URL]
    assert css == [webmap.LEAFLET_CSS_URL]
    for other in ("jquery", "bootstrap", "fontawesome", "awesome-markers"):
        assert other not in text.lower()


def test_self_contained_page_embeds_leaflet_from_the_package():
    text = _html(self_contained=True)
    assert "<script src=" not in text and 'rel="stylesheet"' not in text
    assert "cdn.jsdelivr.net" not in text
    leaflet_js = (webmap.leaflet_dir() / "leaflet.js").read_text(encoding="utf-8")
    assert leaflet_js.splitlines()[2] in text  # the package's file, not a copy of ours
    assert f"Leaflet {webmap.LEAFLET_VERSION}" in text
    assert "url(images/" not in text and "url(data:image/png;base64," in text
    assert "sourceMappingURL" not in text
    # every <script> element opens and closes once: nothing embedded closes one early
    assert text.count("<script") == text.count("</script>")


@pytest.mark.parametrize("basemap", webmap.BASEMAPS)
def test_basemaps(basemap):
    text = _html(basemap=basemap)
    assert text.count("L.tileLayer(") == 3
    assert "tile.openstreetmap.org" in text and "data:image/png;base64" in text
    for host in GCJ02_HOSTS:
        assert host not in text.lower()
    tiles = re.findall(r"var (tile_layer_\w+) = L\.tileLayer\(\s*\"([^\"]+)\"", text)
    added = set(re.findall(r"(tile_layer_\w+)\.addTo\(", text))
    shown = [url for name, url in tiles if name in added]
    assert len(shown) == 1
    assert shown[0].startswith("data:") == (basemap == "none")


def test_unknown_basemap_is_refused():
    with pytest.raises(ValueError, match="basemap"):
        _html(basemap="amap")


def test_cluster_records_and_isochrones_are_compact():
    res = make_result()
    text = _html(res)
    clusters = _data(text, "circlesClusters")
    assert [c["i"] for c in clusters] == ["R001", "R002", "R003", "R004"]
    r1, r4 = clusters[0], clusters[3]
    assert r1["u"] == 1 and r1["r"] == 3 and r1["m"] == [] and r1["k"] == 0
    keys = list(res.categories)
    assert r1["c"][keys.index("market")] == [1, 2, 2]
    assert r1["c"][keys.index("elder_care")] is None  # a data gap, not zeros
    assert r1["d"][keys.index("pharmacy")] == 420
    assert r4["u"] == 0 and r4["k"] == -1 and "c" not in r4
    r3 = clusters[2]  # misses markets and clinics within 1000 m
    assert sorted(keys[k] for k in r3["m"]) == ["clinic", "market"]
    iso = _data(text, "circlesIsochrones")
    assert set(iso) == {"R001", "R002", "R003"}
    ring = iso["R001"][0]["g"][0][0]
    assert all(isinstance(v, int) for v in ring)
    lon, lat = ring[0] / webmap.SCALE, ring[1] / webmap.SCALE
    assert 118.7 < lon < 118.9 and 32.0 < lat < 32.1
    meta = _data(text, "circlesMeta")
    assert [c["gap"] for c in meta["cats"]] == [int(k == "elder_care") for k in keys]
    services = _data(text, "circlesServices")
    # market, pharmacy, clinic, elder care
    assert [len(c["x"]) for c in services["cats"]] == [2, 1, 2, 0]
    assert "dense" not in json.dumps(services)  # a few services: one marker each


def _services(services: dict) -> list[list[dict]]:
    """The page's services decoded: per category, one dict per service."""
    out = []
    for rec in services["cats"]:
        x = np.cumsum(rec["x"]) / webmap.SCALE
        y = np.cumsum(rec["y"]) / webmap.SCALE
        snap = dict(zip(rec["u"], rec["s"], strict=True))
        kinds = {"n": "node", "w": "way", "r": "relation", "-": None}
        out.append(
            [
                {
                    "lon": x[i],
                    "lat": y[i],
                    "name": services["names"][rec["n"][i]],
                    "used": i not in snap,
                    "snap": snap.get(i),
                    "osm": (kinds[rec["t"][i]], rec["o"][i]) if "t" in rec else (None, 0),
                }
                for i in range(len(x))
            ]
        )
    return out


def test_services_are_columns_with_names_stored_once():
    res = make_result()
    to_wgs = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(res.services.geometry.x, res.services.geometry.y)
    data = webmap._service_data(res)
    cats = _services(data)
    market, pharmacy, clinic, elder = cats
    assert elder == []
    by_name = {s["name"]: s for c in cats for s in c}
    # escaped once, in the names table
    assert set(data["names"]) == {
        "&lt;img src=x onerror=alert(1)&gt;",
        "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
        "益丰大药房",
        "社区卫生服务站",
        "",
    }
    for i, name in enumerate(res.services["name"]):
        s = by_name[html.escape(name, quote=True)]
        assert abs(s["lon"] - lon[i]) <= 0.6e-5 and abs(s["lat"] - lat[i]) <= 0.6e-5
    assert by_name["益丰大药房"]["osm"] == ("node", 13) and by_name["益丰大药房"]["used"]
    unnamed = by_name[""]  # the clinic too far from a street
    assert unnamed["osm"] == ("relation", 15)
    assert not unnamed["used"] and unnamed["snap"] == 800
    assert sorted(s["name"] for s in clinic) == ["", "社区卫生服务站"]
    assert len(market) == 2 and len(pharmacy) == 1


def test_services_without_osm_ids_or_names_and_dense_categories():
    res = make_result()
    n = webmap.DENSE_POINTS + 1
    x0, y0 = res.services.geometry.x.min(), res.services.geometry.y.min()
    res.services = gpd.GeoDataFrame(
        {
            "category": ["market"] * n + ["clinic"],
            "name": ["便利店"] * n + [None],
            "osm_type": ["table"] * n + ["node"],
            "osm_id": [-1] * n + [2**60],  # beyond a browser's whole numbers: no link
        },
        geometry=[Point(x0 + i, y0 + (i % 7) * 150) for i in range(n + 1)],
        crs=CRS,
    )
    data = webmap._service_data(res)
    market, _, clinic, _ = data["cats"]
    assert market.get("dense") == 1 and "dense" not in clinic
    assert data["names"] == ["便利店", ""]  # one name for a thousand services
    assert "t" not in market and "o" not in market and "t" not in clinic
    assert market["u"] == [] and len(market["x"]) == n
    # the differences stay small: the services are ordered in rows of 0.001 degrees
    assert (
        max(abs(v) for v in market["x"][1:]) < 2_000 and max(abs(v) for v in market["y"][1:]) < 200
    )


def test_population_method_and_low_confidence_only_when_given():
    res = make_result()
    clusters = _data(_html(res), "circlesClusters")
    assert not any("pm" in c or "pl" in c for c in clusters)
    res.clusters["population_method"] = ["buildings", "<b>plot</b>", None, "x"]
    res.clusters["population_low"] = [False, True, np.nan, "true"]
    clusters = _data(_html(res), "circlesClusters")
    assert [c.get("pm") for c in clusters] == ["buildings", "&lt;b&gt;plot&lt;/b&gt;", None, "x"]
    assert [c.get("pl") for c in clusters] == [None, 1, None, 1]


def test_template_code_in_names_is_shown_never_run():
    """folium compiles the page's text as a Jinja template: '{{ 7*7 }}' must stay text."""
    res = make_result()
    res.clusters.loc[0, "name"] = "{{ 'ninja'|upper }}_A"
    res.services.loc[0, "name"] = "{{ 'ninja'|upper }}_B{% if 1 %}"
    res.summary["title"] = "{{ 'ninja'|upper }}_C{#"
    res.summary["source"] = "{{ 'ninja'|upper }}_D"
    res.categories["clinic"] = Category(
        key="clinic", zh="{{ 'ninja'|upper }}_E", en="Cl", color="#123456"
    )
    text = _html(res)
    assert "NINJA_" not in text
    shown = "&#123;&#123; &#x27;ninja&#x27;|upper }}_"  # the browser shows {{ 'ninja'...
    assert shown + "C" in text and shown + "D" in text  # the title panel
    assert _data(text, "circlesClusters")[0]["n"] == shown + "A"
    assert shown + "B&#123;% if 1 %}" in _data(text, "circlesServices")["names"]
    assert _data(text, "circlesMeta")["cats"][2]["z"] == shown + "E"
    assert embed.safe_json(["{{x}}", {"a": {}}]) == '["\\u007b{x}}",{"a":{}}]'
    assert json.loads(embed.safe_json(["{%", "{#", "{{"])) == ["{%", "{#", "{{"]


def test_escape_many_is_escape_text_of_each():
    texts = ["a<b>", "", "{{x}}", "q\"'&", "零\x00一", "\n"]
    assert embed.escape_many(texts) == [embed.escape_text(t) for t in texts]
    assert embed.escape_many(texts[:4]) == [embed.escape_text(t) for t in texts[:4]]
    assert embed.escape_many([]) == []


def test_title_shows_standard_date_and_source():
    text = _html()
    assert "GB 50180-2018" in text and "2024-05-01" in text and "synthetic.osm" in text
    res = make_result()
    res.thresholds[2].distance_m = 800.0
    assert "Custom walking distances: 300/500/800 m" in _html(res)
    res.summary["standard"] = {"key": "x", "title": "完整社区 Complete community"}
    assert "完整社区 Complete community" in _html(res)


def test_grades_shown_when_scoring_provides_them():
    assert "gr" not in json.dumps(_data(_html(), "circlesClusters"))  # no scores: no grades
    res = make_result()
    res.clusters["grade"] = ["A", "<b>B</b>", "C", None]
    text = _html(res)
    clusters = _data(text, "circlesClusters")
    assert [c.get("gr") for c in clusters] == ["A", "&lt;b&gt;B&lt;/b&gt;", "C", None]
    assert "Grades by the standard" in text and "A (1)" in text
    assert "<b>B</b>" not in text
    res = make_result()
    res.scores = pd.DataFrame({"cluster_id": ["R002"], "level": ["达标 meets"]})
    assert grades.cluster_grades(res) == {"R002": "达标 meets"}


def test_similar_category_colours_are_made_distinct():
    res = make_result()
    res.categories["pharmacy"] = Category(key="pharmacy", zh="药", en="Ph", color="#2e7d33")
    res.categories["clinic"] = Category(key="clinic", zh="医", en="Cl", color="not a colour")
    colors = colours.category_colors(res)
    assert colors["market"] == "#2e7d32"  # the catalogue's colour when it stands out
    values = list(colors.values())
    rgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in values], dtype=float)
    dist = np.linalg.norm(rgb[:, None] - rgb[None], axis=2) + np.eye(len(values)) * 1e3
    assert dist.min() >= 60
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in values)


def test_untrusted_text_never_reaches_the_page_raw():
    res = make_result()
    res.clusters.loc[2, "name"] = SCRIPT_XSS
    res.summary["source"] = IMG_XSS
    res.summary["standard"] = SCRIPT_XSS
    res.clusters["grade"] = [IMG_XSS, SCRIPT_XSS, "A", "B"]
    res.categories["clinic"] = Category(key="clinic", zh=SCRIPT_XSS, en=IMG_XSS, color="#123456")
    for self_contained in (False, True):
        text = _html(res, self_contained=self_contained)
        assert IMG_XSS not in text and SCRIPT_XSS not in text
        assert "onerror=alert(1)>" not in text and "<script>alert(1)" not in text
        assert text.count("<script") == text.count("</script>")


def test_study_map_settings_and_overrides(tmp_path):
    res = make_result()
    res.study = study_from_dict({"name": "t", "map": {"self_contained": True, "basemap": "none"}})
    out = write_outputs(res, tmp_path / "a")
    text = (out / MAP_HTML).read_text(encoding="utf-8")
    assert "<script src=" not in text
    out = write_outputs(res, tmp_path / "b", self_contained=False)
    assert webmap.LEAFLET_JS_URL in (out / MAP_HTML).read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="map.basemap"):
        study_from_dict({"name": "t", "map": {"basemap": "gaode"}})


def test_cli_self_contained_and_basemap(tmp_path):
    from cli import app

    out = tmp_path / "nj"
    run = CliRunner().invoke(
        app, ["run", "--self-contained", "--basemap", "light", "--out", str(out)]
    )
    assert run.exit_code == 0, run.output
    text = (out / MAP_HTML).read_text(encoding="utf-8")
    assert "<script src=" not in text and "cc-grey-tiles" in text
    bad = CliRunner().invoke(app, ["run", "--basemap", "amap", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "map.basemap" in bad.output
    assert not (tmp_path / "x").exists()


def test_every_category_layer_has_a_colour_of_its_own(nanjing_result):
    colors = colours.category_colors(nanjing_result)
    assert set(colors) == set(nanjing_result.categories)
    lab = colours.to_lab(list(colors.values()))
    dist = np.linalg.norm(lab[:, None] - lab[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    assert dist.min() >= 20  # CIELAB ΔE: different at a glance
    # The known conversion: pure red in CIELAB (D65) is about (53.2, 80.1, 67.2).
    np.testing.assert_allclose(colours.to_lab(["#ff0000"])[0], [53.24, 80.09, 67.20], atol=0.3)
