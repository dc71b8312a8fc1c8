"""Every page a person opens, at a phone's width: map.html, report.html, plan.html and
compare.html in Debian's chromium (Playwright, no network), 390 x 844 CSS pixels.

A page passes when it opens with no console error, nothing makes the page wider than the
screen (no sideways scrolling), and its panels and map lie within the screen's width. On
map.html the panels start closed and a tapped area's popup lies within the screen.
"""

from __future__ import annotations

import pytest
from test_compare import _record
from test_map_browser import Page, _click_cluster, browser  # noqa: F401 - the fixture
from test_outputs import IMG_XSS, make_result
from test_plan_outputs import make_plan

from circles.comparison import compare
from circles.outputs import columns, write_outputs
from circles.outputs.compare import write_comparison
from circles.outputs.plan import write_plan
from circles.outputs.webmap import write_map

pytestmark = pytest.mark.slow  # a browser each

PHONE = {"width": 390, "height": 844}
# Elements that must fit the screen's width when present: the map and its panels, and the
# boxes that wide tables and charts scroll in (the report's .tbl and figure).
FITS = ".leaflet-container, .leaflet-control, .cc-panel, .cc-plan, main, nav, .tbl, figure"


def _check_fits(page: Page) -> None:
    p = page.page
    assert page.errors == [], page.errors
    width = p.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px screen"
    too_wide = p.evaluate(
        """([sel, limit]) => Array.from(document.querySelectorAll(sel))
            .filter(e => e.offsetParent !== null)
            .map(e => [e.tagName + '.' + e.className, e.getBoundingClientRect().right])
            .filter(([_, right]) => right > limit + 1)""",
        [FITS, PHONE["width"]],
    )
    assert too_wide == [], too_wide


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("phone") / "run"
    return write_outputs(make_result(), out, self_contained=True, basemap="none")


def test_map_on_a_phone(browser, run_folder):  # noqa: F811
    page = Page(browser, run_folder / "map.html", viewport=PHONE).open()
    try:
        _check_fits(page)
        assert page.page.locator(".leaflet-container").bounding_box()["width"] == PHONE["width"]
    finally:
        page.close()


def test_report_on_a_phone(browser, run_folder):  # noqa: F811
    page = Page(browser, run_folder / "report.html", viewport=PHONE)
    page.open(ready="document.readyState === 'complete'")
    try:
        _check_fits(page)
        assert page.page.locator("h1").first.is_visible()
    finally:
        page.close()


def test_plan_on_a_phone(browser, tmp_path):  # noqa: F811
    folder = write_plan(make_plan(), tmp_path / "p", self_contained=True, basemap="none")
    page = Page(browser, folder / "plan.html", viewport=PHONE).open()
    try:
        _check_fits(page)
        assert page.page.locator(".leaflet-marker-pane .cc-site").count() == 2
    finally:
        page.close()
    report = Page(browser, folder / "report.html", viewport=PHONE)
    report.open(ready="document.readyState === 'complete'")
    try:
        _check_fits(report)
    finally:
        report.close()


def test_compare_on_a_phone(browser, tmp_path):  # noqa: F811
    a = _record(["R1", "R2"], names=[IMG_XSS, "金陵小区"], reach=[0, 1])
    b = _record(["R1", "R2"], names=[IMG_XSS, "金陵小区"], reach=[1, 0])
    folder = write_comparison(compare(a, b), tmp_path / "c", self_contained=True, basemap="none")
    page = Page(browser, folder / "compare.html", viewport=PHONE).open()
    try:
        _check_fits(page)
    finally:
        page.close()


# A phone as Playwright emulates one: touch events, and the page's <meta name="viewport">.
TOUCH = {"has_touch": True, "is_mobile": True, "device_scale_factor": 2}


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box


def test_map_on_a_phone_starts_with_its_panels_closed(browser, tmp_path):  # noqa: F811
    path = write_map(make_result(), tmp_path / "map.html", self_contained=True, basemap="none")
    page = Page(browser, path, viewport=PHONE, **TOUCH).open()
    try:
        p = page.page
        _check_fits(page)
        # the layer control is its 44 px button; its list is not shown
        assert p.locator(".leaflet-control-layers-expanded").count() == 0
        assert not p.locator(".leaflet-control-layers-list").is_visible()
        control = _box(page, ".leaflet-control-layers")
        assert control["width"] <= 50 and control["height"] <= 50
        # the legend is a closed line at the bottom; the title a single line at the top
        assert p.locator("details.cc-legend").evaluate("d => d.open") is False
        assert _box(page, ".cc-legend")["height"] <= 40
        assert not p.locator(".cc-legend .cc-row").first.is_visible()
        title = _box(page, ".cc-title")
        assert title["height"] <= 45
        assert title["x"] + title["width"] <= control["x"]  # beside the control's button
        assert not p.locator(".cc-title .cc-meta").first.is_visible()
        # a tap opens each, a tap on the map closes the control again
        p.locator(".leaflet-control-layers-toggle").tap()
        assert p.locator(".leaflet-control-layers-list").is_visible()
        assert _box(page, ".leaflet-control-layers")["width"] <= PHONE["width"]
        p.touchscreen.tap(PHONE["width"] / 2, PHONE["height"] - 120)
        assert not p.locator(".leaflet-control-layers-list").is_visible()
        p.locator(".cc-legend summary").tap()
        assert p.locator(".cc-legend .cc-row").first.is_visible()
        legend = _box(page, ".cc-legend")
        assert legend["y"] >= 0 and legend["x"] + legend["width"] <= PHONE["width"]
        p.locator(".cc-title summary").tap()
        assert p.locator(".cc-title .cc-meta").first.is_visible()
        assert page.errors == []
    finally:
        page.close()


def test_tap_an_area_on_a_phone(browser, nanjing_result, tmp_path):  # noqa: F811
    """The bundled study's areas have about 25 categories each: a popup taller than the
    space it has, which must scroll inside the screen."""
    result = nanjing_result
    path = write_map(result, tmp_path / "map.html", self_contained=True, basemap="none")
    page = Page(browser, path, viewport=PHONE, **TOUCH).open()
    try:
        p = page.page
        used = result.clusters[columns.used_mask(result.clusters)]
        cid = str(used.assign(a=used.geometry.area).sort_values("a").iloc[-1]["cluster_id"])
        _click_cluster(p, result, cid, tap=True)
        p.wait_for_timeout(600)  # the pan that brings the popup into view
        popup = _box(page, ".leaflet-popup")
        assert popup["x"] >= 0 and popup["y"] >= 0
        assert popup["x"] + popup["width"] <= PHONE["width"]
        assert popup["y"] + popup["height"] <= PHONE["height"]
        # clear of the panel and the buttons that lie over the map
        for above in (".cc-title", ".leaflet-top.leaflet-left"):
            assert popup["y"] >= _box(page, above)["y"] + _box(page, above)["height"], above
        content = p.locator(".leaflet-popup-content")
        assert "Estimated residents" in content.inner_text()
        # the table of every category scrolls inside the popup
        assert content.evaluate("e => e.scrollHeight > e.clientHeight")
        assert content.evaluate("e => getComputedStyle(e).overflowY") == "auto"
        # its walking areas are drawn
        assert p.evaluate("window.circlesShown") == cid
        n_iso = int((result.isochrones["cluster_id"].astype(str) == cid).sum())
        assert n_iso == len(result.thresholds)
        assert p.locator(".leaflet-circlesIsochrones-pane path.cc-iso").count() == n_iso
        p.screenshot(path=str(tmp_path / "phone.png"))
        assert page.errors == []
    finally:
        page.close()


def test_popup_shows_a_low_confidence_population(browser, tmp_path):  # noqa: F811
    res = make_result()
    res.clusters["population_method"] = ["buildings", "<b>plot_ratio</b>", None, "x"]
    res.clusters["population_low"] = [False, True, None, "true"]
    path = write_map(res, tmp_path / "map.html", self_contained=True, basemap="none")
    page = Page(browser, path, viewport=PHONE, **TOUCH).open()
    try:
        texts = page.page.evaluate(
            """() => ['R001', 'R002', 'R003'].map(function(id) {
                var l = window.circlesClusterLayers[id];
                l.openPopup();
                return l.getPopup().getElement().innerText;
            })"""
        )
        assert "low-confidence" not in texts[0] and "buildings" in texts[0]
        assert "≈ 估算，置信度低 · low-confidence estimate" in texts[1]
        assert "<b>plot_ratio</b>" in texts[1]  # shown as text, not markup
        assert "low-confidence" not in texts[2] and "Estimated by" not in texts[2]
        assert page.page.locator(".leaflet-popup b", has_text="plot_ratio").count() == 0
        assert page.errors == []
    finally:
        page.close()
