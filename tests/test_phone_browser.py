"""Every page a person opens, at a phone's width: map.html, report.html, plan.html and
compare.html in Debian's chromium (Playwright, no network), 390 x 844 CSS pixels.

A page passes when it opens with no console error, nothing makes the page wider than the
screen (no sideways scrolling), and its panels and map lie within the screen's width.
"""

from __future__ import annotations

import pytest
from test_compare import _record
from test_map_browser import Page, browser  # noqa: F401 - the fixture
from test_outputs import IMG_XSS, make_result
from test_plan_outputs import make_plan

from circles.comparison import compare
from circles.outputs import write_outputs
from circles.outputs.compare import write_comparison
from circles.outputs.plan import write_plan

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
