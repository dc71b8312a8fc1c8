"""map.html of a 200,000-row POI table: under 15 MB, and usable in a browser.

A city's POI export (issue 18) made a 71 MB page. The services are now columns with each
name stored once, and the categories with many services are drawn as clusters on a canvas.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
from conftest import TABLE_BOX
from test_map_browser import Page, browser  # noqa: F401 - the fixture
from test_outputs import CRS, IMG_XSS, make_result

from circles.outputs import webmap

pytestmark = pytest.mark.slow  # 200,000 services, and a browser

N = 200_000
LIMIT = 15_000_000  # bytes


def _big_result(n: int = N, seed: int = 18):
    """The synthetic study's areas, with n services spread over the bundled district.

    Names as a POI export has them: most distinct, chains repeated, some missing, one
    hostile; half the rows from OSM (with ids), half from a table; 2 % too far from a
    street. Markets and pharmacies are dense; 400 clinics are drawn one marker each.
    """
    res = make_result()
    rng = np.random.default_rng(seed)
    west, south, east, north = TABLE_BOX
    lon = rng.uniform(west, east, n)
    lat = rng.uniform(south, north, n)
    x, y = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(lon, lat)
    cats = np.where(np.arange(n) < 400, "clinic", rng.choice(["market", "pharmacy"], n))
    names = np.array([f"第{i}号便利店（新街口分店）" for i in range(n)], dtype=object)
    chain = rng.random(n) < 0.3
    names[chain] = rng.choice(["美宜佳", "罗森", "苏果超市", IMG_XSS], int(chain.sum()))
    names[rng.random(n) < 0.05] = None
    from_osm = rng.random(n) < 0.5
    res.services = gpd.GeoDataFrame(
        {
            "service_id": np.arange(n),
            "category": cats,
            "name": names,
            "osm_type": np.where(from_osm, "node", "table"),
            "osm_id": np.where(from_osm, rng.integers(1, 12_000_000_000, n), -np.arange(n)),
            "snap_m": rng.uniform(0, 300, n),
            "used": rng.random(n) > 0.02,
        },
        geometry=gpd.points_from_xy(x, y),
        crs=CRS,
    )
    return res, lon, lat, names


@pytest.fixture(scope="module")
def big_map(tmp_path_factory):
    res, lon, lat, names = _big_result()
    path = tmp_path_factory.mktemp("big") / "map.html"
    webmap.write_map(res, path, self_contained=True, basemap="none")
    return path, lon, lat, names


def test_map_of_200k_services_is_under_15_mb(big_map):
    path, *_ = big_map
    size = path.stat().st_size
    assert size < LIMIT, f"map.html is {size / 1e6:.1f} MB"
    text = path.read_text(encoding="utf-8")
    assert IMG_XSS not in text
    assert text.count("美宜佳") == 1  # a chain's name is stored once


def test_map_of_200k_services_in_a_browser(browser, big_map):  # noqa: F811
    path, lon, lat, names = big_map
    page = Page(browser, path).open()
    try:
        p = page.page
        assert page.errors == [] and page.refused == []
        # markets and pharmacies on the canvas layer, the clinics as markers
        n_dense = p.evaluate(
            "window.circlesPoints._parts.reduce(function(s, q) { return s + q.set.n; }, 0)"
        )
        assert n_dense == N - 400
        drawn = """() => Array.from(document.querySelectorAll('canvas.cc-points'))
            .filter(function(c) {
                var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                for (var i = 3; i < d.length; i += 4) { if (d[i] > 0) { return true; } }
                return false;
            }).length"""
        assert p.evaluate(drawn) > 0

        # zoomed out, a click on a cluster zooms in
        # (the page's own opening view may still be settling: set the zoom until it holds)
        for _ in range(20):
            p.evaluate("void window.circlesMap.setZoom(14, {animate: false})")
            p.wait_for_timeout(300)
            if p.evaluate("window.circlesMap.getZoom()") == 14:
                break
        assert p.evaluate("window.circlesMap.getZoom()") == 14
        spot = p.evaluate(
            """() => {
                var m = window.circlesMap, size = m.getSize();
                for (var x = 40; x < size.x - 40; x += 7) {
                    for (var y = 200; y < size.y - 100; y += 7) {
                        var h = window.circlesPoints.hit(m.containerPointToLatLng([x, y]), 0);
                        if (h && h.cluster) { return [x, y]; }
                    }
                }
                return null;
            }"""
        )
        assert spot is not None
        box = p.locator(".leaflet-container").bounding_box()
        p.mouse.click(box["x"] + spot[0], box["y"] + spot[1])
        p.wait_for_timeout(500)
        assert p.evaluate("window.circlesMap.getZoom()") > 14

        # close up, a click on a service opens its popup
        k = next(i for i in range(400, N) if names[i] and names[i].startswith("第"))
        p.evaluate(
            "([lat, lon]) => { window.circlesMap.setView([lat, lon], 18, {animate: false}); }",
            [lat[k], lon[k]],
        )
        p.wait_for_timeout(300)
        x, y = p.evaluate(
            """([lat, lon]) => {
                var pt = window.circlesMap.latLngToContainerPoint([lat, lon]);
                return [pt.x, pt.y];
            }""",
            [lat[k], lon[k]],
        )
        p.mouse.click(box["x"] + x, box["y"] + y)
        p.wait_for_selector(".leaflet-popup-content", state="visible", timeout=5_000)
        assert p.locator(".leaflet-popup-content b").first.inner_text() == names[k]
        assert page.errors == [] and page.dialogs == [] and page.calls() == []
    finally:
        page.close()
