"""map.html in a real browser: Debian's chromium, driven by Playwright, with no network.

Every request the page makes is answered here: Leaflet's CDN files from the xstatic-leaflet
package (the same files ``--self-contained`` embeds), tiles with a blank image; anything else
is refused and recorded, and the tests fail on it. Without chromium these tests skip, except
under ``CI=true``, where they fail: ``make test`` installs chromium as root.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import pytest
from conftest import ROOT
from test_outputs import IMG_XSS, SCRIPT_XSS, make_result

from circles.outputs import columns, webmap
from circles.services import Category

pytestmark = pytest.mark.slow  # a browser each

CHROMIUM = os.environ.get("CIRCLES_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "outputs" / "map-screenshot.png"
CDN_PREFIX = f"https://cdn.jsdelivr.net/npm/leaflet@{webmap.LEAFLET_VERSION}/dist/"
TILE_HOSTS = {"tile.openstreetmap.org"}
# A transparent 1x1 PNG for every tile.
BLANK_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)
VIEWPORT = {"width": 1440, "height": 900}


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def browser():
    problems = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problems.append("the playwright package is not installed (pip install -e '.[dev]')")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        problems.append(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    if problems:
        message = "; ".join(problems)
        if _on_ci():
            pytest.fail(f"CI=true and the browser test cannot run: {message}")
        pytest.skip(message)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A page with every request answered locally, and its console, dialogs and requests."""

    def __init__(self, browser, path: Path, viewport: dict[str, int] = VIEWPORT, **context):
        # context: more of Playwright's new_context options (has_touch, is_mobile, ...)
        self.context = browser.new_context(viewport=viewport, service_workers="block", **context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.refused: list[str] = []
        self.path = path
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

        def on_dialog(dialog):
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        self.page.on("dialog", on_dialog)
        # alert() that does not block and leaves a trace, in case a dialog slips through
        self.page.add_init_script(
            "window.__calls = [];"
            "['alert', 'confirm', 'prompt'].forEach(function(n) {"
            "  window[n] = function(m) { window.__calls.push(n + ':' + m); };"
            "});"
        )
        self.context.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        self.requests.append(url)
        if url == self.path.as_uri():
            return route.continue_()
        if url.startswith(CDN_PREFIX):
            local = webmap.leaflet_dir() / url[len(CDN_PREFIX) :].split("?")[0]
            if local.is_file():
                return route.fulfill(path=str(local))
        elif urlsplit(url).hostname in TILE_HOSTS:
            return route.fulfill(status=200, body=BLANK_PNG, content_type="image/png")
        self.refused.append(url)
        return route.fulfill(status=404, body="", content_type="text/plain")

    def open(self, ready: str = "window.circlesReady === true"):
        self.page.goto(self.path.as_uri(), wait_until="load")
        self.page.wait_for_function(ready, timeout=20_000)
        return self

    def hosts(self) -> set[str]:
        return {urlsplit(u).hostname or urlsplit(u).scheme for u in self.requests}

    def calls(self) -> list[str]:
        return self.page.evaluate("window.__calls")

    def close(self):
        self.context.close()


def _write(result, tmp_path: Path, **kwargs) -> Path:
    path = tmp_path / "map.html"
    webmap.write_map(result, path, **kwargs)
    return path


def _click_point(result, cluster_id: str) -> tuple[float, float]:
    """(lat, lon) of a point well inside a cluster and at least 25 m from any service."""
    clusters = result.clusters
    row = clusters[clusters["cluster_id"].astype(str) == cluster_id].iloc[0]
    inner = row.geometry.buffer(-8)
    if inner.is_empty:
        inner = row.geometry
    services = result.services.geometry
    minx, miny, maxx, maxy = inner.bounds
    candidates = [inner.representative_point()]
    for x in np.linspace(minx, maxx, 12):
        for y in np.linspace(miny, maxy, 12):
            candidates.append(type(candidates[0])(x, y))
    best, best_d = None, -1.0
    for p in candidates:
        if not inner.contains(p):
            continue
        d = float(services.distance(p).min()) if len(services) else np.inf
        if d > best_d:
            best, best_d = p, d
        if d >= 25:
            break
    assert best is not None
    pt = gpd.GeoSeries([best], crs=clusters.crs or result.network.crs).to_crs(4326).iloc[0]
    return pt.y, pt.x


def _click_cluster(page, result, cluster_id: str, tap: bool = False):
    """Click (or tap, on a touch screen) a point well inside a cluster; its popup opens."""
    lat, lon = _click_point(result, cluster_id)
    page.evaluate(
        "([lat, lon]) => { window.circlesMap.setView([lat, lon], 16, {animate: false}); }",
        [lat, lon],
    )
    page.wait_for_timeout(100)
    x, y = page.evaluate(
        """([lat, lon]) => {
            var m = window.circlesMap, p = m.latLngToContainerPoint([lat, lon]);
            var r = m.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }""",
        [lat, lon],
    )
    if tap:
        page.touchscreen.tap(x, y)
    else:
        page.mouse.click(x, y)
    page.wait_for_selector(".leaflet-popup-content", state="visible", timeout=5_000)


def test_bundled_map_in_browser(browser, nanjing_result, tmp_path):
    result = nanjing_result
    page = Page(browser, _write(result, tmp_path)).open()
    try:
        p = page.page
        assert page.errors == []
        assert page.refused == []
        assert page.hosts() <= {"file", "cdn.jsdelivr.net", *TILE_HOSTS}
        assert any(u.startswith(CDN_PREFIX) for u in page.requests)  # served locally

        # the layer control lists every category, three basemaps, areas and blind spots
        overlays = p.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        for cat in result.categories.values():
            assert any(cat.label in text for text in overlays), cat.label
        assert any("Blind spots" in text for text in overlays)
        bases = p.locator(".leaflet-control-layers-base label").all_inner_texts()
        assert len(bases) == 3 and any("No basemap" in b for b in bases)
        assert p.locator(".leaflet-control-scale").count() == 1
        assert p.locator(".cc-fullscreen a").count() == 1
        assert "OpenStreetMap" in p.locator(".leaflet-control-attribution").inner_text()
        title = p.locator(".cc-title").inner_text()
        assert result.summary["title"] in title and "GB 50180-2018" in title

        # click a used cluster that misses something: popup and walking areas
        used = result.clusters[columns.used_mask(result.clusters)]
        missing = {
            str(r.cluster_id): columns.missing_categories(result, r) for _, r in used.iterrows()
        }
        named = {str(r.cluster_id): bool(str(r["name"] or "").strip()) for _, r in used.iterrows()}
        cid = max(missing, key=lambda c: (bool(missing[c]), named[c], len(missing[c]), c))
        row = used[used["cluster_id"].astype(str) == cid].iloc[0]
        _click_cluster(p, result, cid)
        popup = p.locator(".leaflet-popup-content")
        text = popup.inner_text()
        if row["name"]:
            assert str(row["name"]) in text
        assert "Estimated residents" in text
        for cat in result.categories.values():
            assert cat.label in text, cat.label
        miss_rows = popup.locator("tr.cc-miss").all_inner_texts()
        assert len(miss_rows) == len(missing[cid])
        for key in missing[cid]:
            assert any(result.categories[key].label in r for r in miss_rows)
        assert p.evaluate("window.circlesShown") == cid
        n_iso = int((result.isochrones["cluster_id"].astype(str) == cid).sum())
        assert n_iso == len(result.thresholds)
        iso = p.locator(".leaflet-circlesIsochrones-pane path.cc-iso")
        assert iso.count() == n_iso
        assert p.locator(".leaflet-circlesIsochrones-pane path.cc-iso[fill-opacity]").count()

        # the screenshot: the popup open, its walking areas drawn
        p.wait_for_timeout(400)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000

        # clicking the map elsewhere clears the walking areas
        p.keyboard.press("Escape")
        p.evaluate("void window.circlesMap.fire('click', {latlng: window.circlesMap.getCenter()})")
        assert iso.count() == 0
        assert page.errors == [] and page.dialogs == [] and page.calls() == []
    finally:
        page.close()


def _xss_result():
    res = make_result()
    res.clusters.loc[2, "name"] = SCRIPT_XSS
    res.clusters.loc[0, "cluster_id"] = "</script><img src=x onerror=alert(2)>"
    first = res.isochrones["cluster_id"] == "R001"
    res.isochrones.loc[first, "cluster_id"] = "</script><img src=x onerror=alert(2)>"
    res.categories["market"] = Category(
        key="market", zh="<img src=x onerror=alert(3)>", en="Markets", color="javascript:1"
    )
    res.summary["source"] = IMG_XSS
    res.summary["standard"] = SCRIPT_XSS
    return res


@pytest.mark.parametrize("self_contained", [False, True], ids=["cdn", "self-contained"])
def test_xss_runs_no_script(browser, tmp_path, self_contained):
    res = _xss_result()
    page = Page(browser, _write(res, tmp_path, self_contained=self_contained)).open()
    try:
        p = page.page
        # open every popup and tooltip, so that all the embedded text becomes HTML
        opened = p.evaluate(
            """() => {
                var n = 0, layers = [];
                window.circlesMap.eachLayer(function(l) { layers.push(l); });
                layers.forEach(function(l) {
                    if (l.getPopup && l.getPopup()) { l.openPopup(); n++; }
                    if (l.getTooltip && l.getTooltip()) { l.openTooltip(); }
                });
                return n;
            }"""
        )
        assert opened >= 4 + 4  # four clusters, four services on the map
        p.wait_for_timeout(300)
        assert page.calls() == []
        assert page.dialogs == []
        assert page.errors == []
        assert not [u for u in page.requests if urlsplit(u).path.endswith("/x")]
        assert page.refused == []
        injected = "document.querySelectorAll('img[onerror], script[src=\"x\"]').length"
        assert p.evaluate(injected) == 0
        # the names are shown as text, not dropped
        assert p.title() == "测试 <b>Test</b>"
        assert IMG_XSS in p.locator(".cc-title").inner_text()
        assert SCRIPT_XSS in p.locator(".cc-title").inner_text()
        overlays = " ".join(p.locator(".leaflet-control-layers-overlays label").all_inner_texts())
        assert "<img src=x onerror=alert(3)>" in overlays
        texts = p.evaluate(
            """() => Object.keys(window.circlesClusterLayers).map(function(id) {
                var l = window.circlesClusterLayers[id];
                l.openPopup();
                return l.getPopup().getElement().innerText;
            })"""
        )
        joined = "\n".join(texts)
        assert IMG_XSS in joined and SCRIPT_XSS in joined
        # the services' popups, built in the browser: names as text, OSM links, far ones
        services = p.evaluate(
            """() => {
                var out = [];
                window.circlesMap.eachLayer(function(l) {
                    if (l instanceof L.CircleMarker && l.getPopup()) {
                        l.openPopup();
                        out.push(l.getPopup().getElement().innerHTML);
                    }
                });
                return out.join('\\n');
            }"""
        )
        for ref in ("node/11", "way/12", "node/13", "node/14", "relation/15"):
            assert f'href="https://www.openstreetmap.org/{ref}"' in services, ref
        assert "not counted (800 m)" in services and "无名称 unnamed" in services
        assert "&lt;img src=x onerror=alert(1)&gt;" in services
        assert "</script><img src=x onerror=alert(2)>" in joined
        assert page.calls() == [] and page.dialogs == [] and page.errors == []
        if self_contained:
            assert page.hosts() <= {"file", *TILE_HOSTS}
            assert not [u for u in page.requests if u.startswith("https://cdn")]
    finally:
        page.close()


def test_self_contained_offline_page_requests_nothing(browser, nanjing_result, tmp_path):
    path = _write(nanjing_result, tmp_path, self_contained=True, basemap="none")
    page = Page(browser, path).open()
    try:
        assert page.requests == [path.as_uri()]
        assert page.errors == []
        checked = page.page.locator(".leaflet-control-layers-base input:checked")
        assert "No basemap" in checked.locator("xpath=..").inner_text()
    finally:
        page.close()


def test_screenshot_in_readme():
    """The README shows the screenshot this module takes (copied to docs/ to be committed)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/map.png)" in readme
    assert (ROOT / "docs" / "map.png").is_file()
