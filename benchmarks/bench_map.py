"""Size and load time of map.html, for the Malta extract and the bundled Nanjing district.

    .venv/bin/python benchmarks/bench_map.py [--osm ../shared/data/osm/malta-2018.osm.pbf]

Runs the study, writes map.html with Leaflet from the CDN and self-contained, and opens each
in headless Debian chromium (Playwright) three times, offline: the CDN files are served from
the xstatic-leaflet package and every tile is answered at once with a blank image, so the
times do not count tiles. "load" is the page's load event (parsing and running every script,
all layers added); "drawn" is the first animation frame after it. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_map_browser import (  # noqa: E402
    BLANK_PNG,
    CDN_PREFIX,
    CHROMIUM,
    CHROMIUM_ARGS,
    TILE_HOSTS,
    VIEWPORT,
)

from circles import pipeline  # noqa: E402
from circles.config import load_study, study_from_dict  # noqa: E402
from circles.outputs import webmap  # noqa: E402


def _route(route):
    url = route.request.url
    if url.startswith(CDN_PREFIX):
        return route.fulfill(path=str(webmap.leaflet_dir() / url[len(CDN_PREFIX) :]))
    if urlsplit(url).hostname in TILE_HOSTS:
        return route.fulfill(status=200, body=BLANK_PNG, content_type="image/png")
    return route.continue_()


def _load_times(browser, path: Path, runs: int = 3) -> tuple[float, float, float]:
    loads, drawn, walls = [], [], []
    for _ in range(runs):
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        context.route("**/*", _route)
        t0 = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load", timeout=60_000)
        page.wait_for_function("window.circlesReady === true")
        frame = page.evaluate(
            "new Promise(r => requestAnimationFrame(() => "
            "requestAnimationFrame(() => r(performance.now()))))"
        )
        walls.append(time.perf_counter() - t0)
        nav = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
        loads.append(nav / 1000)
        drawn.append(frame / 1000)
        assert not errors, errors
        context.close()
    return statistics.median(loads), statistics.median(drawn), statistics.median(walls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--osm", default=str(ROOT.parent / "shared/data/osm/malta-2018.osm.pbf"))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    studies = [
        ("malta", study_from_dict({"name": "malta", "source": {"osm": args.osm}})),
        ("nanjing-xinjiekou", load_study()),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, study in studies:
            t0 = time.perf_counter()
            result = pipeline.run(study)
            run_s = time.perf_counter() - t0
            for self_contained in (False, True):
                path = Path(tmp) / f"{name}-{int(self_contained)}.html"
                t0 = time.perf_counter()
                webmap.write_map(result, path, self_contained=self_contained, basemap="osm")
                write_s = time.perf_counter() - t0
                load, drawn, wall = _load_times(browser, path)
                rows.append(
                    (
                        name,
                        "self-contained" if self_contained else "CDN",
                        len(result.clusters),
                        len(result.isochrones),
                        len(result.services),
                        path.stat().st_size / 1e6,
                        write_s,
                        load,
                        drawn,
                        wall,
                        run_s,
                    )
                )
        browser.close()
    print(
        "| study | Leaflet | clusters | isochrones | services | map.html MB | write s "
        "| load s | drawn s | goto+ready s (wall) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]:.2f} | {r[6]:.1f} "
            f"| {r[7]:.2f} | {r[8]:.2f} | {r[9]:.2f} |"
        )


if __name__ == "__main__":
    main()
