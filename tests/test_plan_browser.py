"""plan.html in a real browser (Debian's chromium driven by Playwright, no network).

The same set-up as test_map_browser: every request is answered locally, anything else is
refused and fails the test. A hand-built plan carries an ``<img onerror>`` name; the
bundled district's plan gives the README's picture.
"""

from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import pytest
from conftest import ROOT
from test_map_browser import TILE_HOSTS, Page, browser  # noqa: F401 - the fixture
from test_outputs import IMG_XSS
from test_plan_outputs import make_plan

from circles.outputs.plan import write_plan

pytestmark = pytest.mark.slow  # a browser each

SCREENSHOT = ROOT / "outputs" / "plan-screenshot.png"
README_PICTURE = ROOT / "docs" / "plan.png"


def _numbers(p) -> list[str]:
    return p.locator(".leaflet-marker-pane .cc-site").all_inner_texts()


@pytest.mark.parametrize("self_contained", [False, True], ids=["cdn", "self-contained"])
def test_plan_page_draws_sites_and_runs_no_script(browser, tmp_path, self_contained):  # noqa: F811
    folder = write_plan(make_plan(), tmp_path / "p", self_contained=self_contained)
    page = Page(browser, folder / "plan.html").open()
    try:
        p = page.page
        assert page.errors == [] and page.refused == []
        assert _numbers(p) == ["1", "2"]
        # open every tooltip and popup, so that all embedded text becomes HTML
        p.evaluate(
            """() => { window.circlesMap.eachLayer(function(l) {
                if (l.getPopup && l.getPopup()) { l.openPopup(); }
                if (l.getTooltip && l.getTooltip()) { l.openTooltip(); }
            }); }"""
        )
        p.wait_for_timeout(300)
        injected = "document.querySelectorAll('img[onerror], script[src=\"x\"]').length"
        assert p.evaluate(injected) == 0
        assert page.calls() == [] and page.dialogs == [] and page.errors == []
        assert not [u for u in page.requests if urlsplit(u).path.endswith("/x")]
        # the name is shown as text
        popup = p.evaluate("window.circlesSiteMarkers[0].getPopup().getElement().innerText")
        assert IMG_XSS in popup
        assert "测试 <b>Test</b>" in p.title()
        panel = p.locator(".cc-plan").inner_text()
        assert "10%" in panel and "30%" in panel and "gap 10.2%" in panel
        if self_contained:
            assert page.hosts() <= {"file", *TILE_HOSTS}
    finally:
        page.close()


def test_offline_page_requests_nothing(browser, tmp_path):  # noqa: F811
    folder = write_plan(make_plan(), tmp_path / "p", self_contained=True, basemap="none")
    page = Page(browser, folder / "plan.html").open()
    try:
        assert page.requests == [(folder / "plan.html").as_uri()]
        assert page.errors == []
    finally:
        page.close()


def test_bundled_plan_in_browser(browser, nanjing_result, tmp_path):  # noqa: F811
    from circles import planning

    item = planning.item_from_standard(_standard(nanjing_result), "5min:pharmacy")
    proposal = planning.plan(nanjing_result, item, 3)
    folder = write_plan(proposal, tmp_path / "p")
    page = Page(browser, folder / "plan.html").open()
    try:
        p = page.page
        assert page.errors == [] and page.refused == []
        assert _numbers(p) == ["1", "2", "3"]
        overlays = " ".join(p.locator(".leaflet-control-layers-overlays label").all_inner_texts())
        assert "Proposed sites (3)" in overlays and "Existing facilities" in overlays
        assert "OpenStreetMap" in p.locator(".leaflet-control-attribution").inner_text()
        p.wait_for_timeout(400)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000
        shutil.copyfile(SCREENSHOT, README_PICTURE)
    finally:
        page.close()


def _standard(result):
    from circles.standards import load_standard

    return load_standard(result.study.standard)


def test_screenshot_in_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/plan.png)" in readme
    assert README_PICTURE.is_file()
