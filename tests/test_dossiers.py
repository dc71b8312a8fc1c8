"""units/<slug>.html and units.pdf: one A4 page per unit, in chromium and in WeasyPrint.

The units are three bands over the western three quarters of the bundled district and a
small unit without clusters in the east, read and assessed by circles.units against the
study's standard (GB 50180, the largest item table of the bundled standards), one of them
with a self-assessment. A copy of the first unit's report with every item missed gives the
longest lists a page can hold.

Without chromium, WeasyPrint or poppler's pdftoppm these tests skip, except under
``CI=true``, where they fail: ``make browser`` installs them as root.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from test_map_browser import Page, _on_ci, browser  # noqa: F401 - the fixture
from test_units import _geojson, _lonlat, _study

from circles.outputs import OutputError, dossiers
from circles.selfassess import SelfAssessment
from circles.units import assess, read_units

# The bundled run, a browser, WeasyPrint: the tests using the pages are marked slow.

TITLE = "新街口社区"
SCRIPT_NAME = "<script>alert('unit')</script>"
FORMULA_NAME = "=cmd|' /C calc'!A0"
EMPTY_NAME = "空社区"
CLUSTER_SCRIPT = "<script>alert('c')</script>"
NAMES = [TITLE, SCRIPT_NAME, FORMULA_NAME, EMPTY_NAME]


def _need(what: str, ok: bool) -> None:
    if not ok:
        if _on_ci():
            pytest.fail(f"CI=true and {what} is missing (make browser installs it)")
        pytest.skip(f"{what} is missing (make browser installs it as root)")


@pytest.fixture(scope="module")
def weasyprint():
    try:
        import weasyprint as w
    except (ImportError, OSError) as e:  # OSError: pango missing
        _need(f"WeasyPrint ({e})", False)
    return w


@pytest.fixture(scope="module")
def poppler():
    _need(
        "poppler-utils (pdftoppm, pdfinfo)",
        bool(shutil.which("pdftoppm") and shutil.which("pdfinfo")),
    )


def _pages(pdf: Path) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("Pages:"))
    return int(line.split()[1])


# ---------------------------------------------------------------------------------------
# The units: three bands, an empty unit, hostile names
# ---------------------------------------------------------------------------------------


def _unit_shapes(result):
    """Three bands over the western three quarters (WGS-84) and a 20 m square on a street
    in the eastern quarter, far from every cluster."""
    w, s, e, n = _lonlat(result)
    xs = np.linspace(w, w + 0.75 * (e - w), 4)
    bands = [shapely.box(xs[i], s, xs[i + 1], n) for i in range(3)]
    net, clusters = result.network, result.clusters
    edge = gpd.GeoSeries([bands[-1]], crs="EPSG:4326").to_crs(clusters.crs).iloc[0].bounds[2]
    far = shapely.distance(shapely.points(net.x, net.y), shapely.union_all(clusters.geometry))
    east = net.x > edge + 100
    k = int(np.flatnonzero(east)[np.argmax(far[east])])
    tiny = shapely.Point(net.x[k], net.y[k]).buffer(10, cap_style="square")
    return [*bands, gpd.GeoSeries([tiny], crs=clusters.crs).to_crs("EPSG:4326").iloc[0]]


def _longest(report, unit: int = 0):
    """The report with every item of ``unit`` missed: its longest item table and list."""
    items = report.items.copy()
    mine = (items["unit"] == unit) & (items["how"] == "measured")
    items.loc[mine, "status"] = "missing"
    # a line break in the data must not shift the rows of a table drawn a column at a time
    items.loc[items.index[mine][0], "zh"] = "第一行\n第二行"
    required = items[mine & items["required"].astype(bool)]
    rows = [
        {
            "unit": unit,
            "name": r["name"],
            "level": r["level"],
            "item": r["item"],
            "zh": r["zh"],
            "en": r["en"],
            "clause": r["clause"],
            "clusters": "",
            "n_clusters": 3,
            "residents_affected": 9000.0 - 10 * i,
            "nearest_facility": "药房\n<b>x</b>" if i == 0 else "",
            "nearest_facility_m": np.nan,
            "proposed_site": "",
            "how": "measured",
            "status": "missing",
        }
        for i, (_, r) in enumerate(required.iterrows())
    ]
    others = report.shortfalls[report.shortfalls["unit"] != unit]
    return dataclasses.replace(
        report, items=items, shortfalls=pd.concat([pd.DataFrame(rows), others], ignore_index=True)
    )


@pytest.fixture(scope="module")
def case(nanjing_result, tmp_path_factory):
    """The bundled run with a script for the widest cluster's name, and its units."""
    clusters = nanjing_result.clusters.copy()
    widest = int(np.argmax(clusters.geometry.bounds.eval("maxx - minx").to_numpy()))
    clusters.loc[clusters.index[widest], "name"] = CLUSTER_SCRIPT
    result = dataclasses.replace(nanjing_result, clusters=clusters)
    path = _geojson(tmp_path_factory.mktemp("units") / "u.geojson", NAMES, _unit_shapes(result))
    units = read_units(_study({"file": path}), result.network)
    std = result.scores.standard
    form = SelfAssessment(
        std.key,
        {
            (SCRIPT_NAME, na.item.strip()): ("yes", "no", "partial")[j % 3]
            for j, na in enumerate(n for lv in std.levels for n in lv.not_assessed)
        },
    )
    report = assess(units, result.clusters, result.scores, self_assessment=form)
    assert (report.table["clusters"].iloc[:3] > 0).all() and report.table["clusters"].iloc[3] == 0
    return result, report, widest


@pytest.fixture(scope="module")
def pages(case, tmp_path_factory):
    result, report, _ = case
    return dossiers.write_dossiers(result, report, tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def longest(case, tmp_path_factory):
    """Unit 0 with every item missed and, in a standard three times as long, more items
    than a page holds."""
    result, report, _ = case
    longest = _longest(report)
    mine = longest.items[longest.items["unit"] == 0]
    copies = [mine.assign(item=mine["item"].astype(str) + f"-{k}") for k in (1, 2)]
    crowded = dataclasses.replace(longest, items=pd.concat([longest.items, *copies]))
    out = tmp_path_factory.mktemp("longest")
    return dossiers.write_dossiers(result, crowded, out)[0]


# ---------------------------------------------------------------------------------------
# The pages
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_page_per_unit_named_by_slug(case, pages):
    _, report, _ = case
    assert [p.name for p in pages] == [f"{s}.html" for s in report.units.slug]
    assert all(p.parent.name == "units" for p in pages)


@pytest.mark.slow
def test_hostile_names_are_text(case, pages):
    _, report, widest = case
    for path in pages:
        html = path.read_text(encoding="utf-8")
        assert "<script" not in html.lower()
        assert ' src="' not in html and ' href="' not in html  # nothing to fetch
    assert "&lt;script&gt;alert(&#x27;unit&#x27;)&lt;/script&gt;" in pages[1].read_text()
    assert "=cmd|&#x27; /C calc&#x27;!A0" in pages[2].read_text()
    # the widest cluster is labelled on its unit's map, as text
    unit = int(report.cluster_unit[widest])
    assert 0 <= unit < 3
    assert re.search(r'<text [^>]*fill="#111">&lt;script&gt;', pages[unit].read_text())


# The map's colours of the classes A-E (map.html's legend), which GB 50180's grades take.
GRADE_COLOURS = {"A": "#1a9850", "B": "#a6d96a", "C": "#fee08b", "D": "#fc8d59", "E": "#d73027"}


@pytest.mark.slow
def test_headline_lists_and_colours(case, pages, longest):
    _, report, _ = case
    for i in range(3):
        html = pages[i].read_text(encoding="utf-8")
        grade = report.table["grade"].iloc[i]
        assert f'<div class="big">{grade}</div>' in html
        assert f"background:{GRADE_COLOURS[grade]}" in html
        assert "三大短板 Three biggest shortfalls" in html and "● " in html
    # the self-assessed unit shows its answers, not "not assessed"
    answered = pages[1].read_text(encoding="utf-8")
    assert "自评 是" in answered and "自评 否" in answered
    assert "未评估 not assessed: " not in answered
    assert "未评估 not assessed: " in pages[0].read_text(encoding="utf-8")
    empty = pages[3].read_text(encoding="utf-8")
    assert "无小区" in empty and "no clusters" in empty
    # every required item missed: 34 shortfalls, the list is cut and says where the rest is;
    # three times the items: the table is cut and says how many it leaves out
    html = longest.read_text(encoding="utf-8")
    assert "more in shortfalls.csv" in html and "未达到" in html
    assert re.search(r"另有 \d+ 项未列出 \d+ more items not shown", html)


@pytest.mark.slow
def test_table_columns_line_up(pages, longest):
    """Each table is drawn one cell a column: every cell has as many lines as the others,
    data with line breaks included."""
    for path in [*pages, longest]:
        html = path.read_text(encoding="utf-8")
        bodies = re.findall(r"<tbody><tr>(.*?)</tr></tbody>", html, flags=re.S)
        assert bodies, path.name
        for body in bodies:
            cells = re.findall(r"<td[^>]*>(.*?)</td>", body, flags=re.S)
            assert len({c.count("\n") for c in cells}) == 1, (path.name, cells)
    assert "药房 &lt;b&gt;x&lt;/b&gt;" in longest.read_text(encoding="utf-8")


@pytest.mark.slow
def test_dossiers_in_chromium(browser, poppler, pages, longest, tmp_path):  # noqa: F811
    for i, path in enumerate([*pages, longest]):
        page = Page(browser, path)
        try:
            page.page.goto(path.as_uri(), wait_until="load")
            text = page.page.evaluate("document.body.textContent")
            assert page.errors == [], page.errors
            assert page.refused == [] and page.dialogs == [] and page.calls() == []
            assert page.page.evaluate("document.querySelectorAll('script').length") == 0
            assert "三大短板" in text and "对照标准条目" in text
            assert NAMES[i % 4] in text  # hostile names as text
            pdf = tmp_path / f"{i}.pdf"
            pdf.write_bytes(page.page.pdf(prefer_css_page_size=True, print_background=True))
            assert _pages(pdf) == 1, f"{path.name} prints on {_pages(pdf)} pages"
        finally:
            page.close()


@pytest.mark.slow
def test_a_dossier_fits_a_phone_screen(browser, pages):  # noqa: F811
    # On a 390 px phone the whole sheet shows, zoomed out: nothing to scroll sideways.
    page = Page(browser, pages[0], viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page.page.goto(pages[0].as_uri(), wait_until="load")
        assert page.errors == []
        # The layout viewport holds the whole sheet, so the phone zooms out to show it.
        sheet = page.page.evaluate("document.querySelector('.page').offsetWidth")
        layout = page.page.evaluate("document.documentElement.clientWidth")
        assert layout >= sheet, (layout, sheet)
        assert "三大短板" in page.page.evaluate("document.body.textContent")
    finally:
        page.close()


# ---------------------------------------------------------------------------------------
# units.pdf
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_units_pdf_has_one_page_per_unit(weasyprint, poppler, pages, longest, tmp_path):
    out = dossiers.write_units_pdf([*pages, longest], tmp_path / "units.pdf")
    assert _pages(out) == len(pages) + 1 == 5
    # the same pages given as HTML text make the same number of pages
    texts = [p.read_text(encoding="utf-8") for p in pages[:2]]
    assert _pages(dossiers.write_units_pdf(texts, tmp_path / "two.pdf")) == 2


_RENDER = (
    "import sys; from pathlib import Path; from circles.outputs.dossiers import "
    "write_units_pdf; write_units_pdf([Path(sys.argv[1])], Path(sys.argv[2]))"
)


def _render_png(html: Path, pdf: Path, env: dict[str, str]):
    from PIL import Image

    subprocess.run([sys.executable, "-c", _RENDER, str(html), str(pdf)], env=env, check=True)
    prefix = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(pdf), str(prefix)])
    png = next(pdf.parent.glob(f"{prefix.name}-*1.png"))
    return np.asarray(Image.open(png).convert("L"), dtype=np.int16)


@pytest.mark.slow
def test_pdf_renders_chinese_glyphs(weasyprint, poppler, pages, tmp_path):
    """The title 新街口社区 in units.pdf against the same page with no CJK font at all:
    without one, Pango draws boxes (tofu), and the two renderings would be the same."""
    env = {k: v for k, v in os.environ.items() if k != "FONTCONFIG_FILE"}
    normal = _render_png(pages[0], tmp_path / "normal.pdf", env)
    # the same page with the CJK family renamed and fontconfig blind to every CJK font
    html = pages[0].read_text(encoding="utf-8").replace(dossiers.FONT, "'No Such Font', serif")
    bare = tmp_path / "bare.html"
    bare.write_text(html, encoding="utf-8")
    dirs = sorted(
        {
            str(f.parent)
            for f in Path("/usr/share/fonts").rglob("*.[ot]t[fc]")
            if "CJK" not in f.name
        }
        - {str(f.parent) for f in Path("/usr/share/fonts").rglob("*CJK*")}
    )
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">'
        "<fontconfig>"
        + "".join(f"<dir>{d}</dir>" for d in dirs)
        + f"<cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>"
    )
    tofu = _render_png(bare, tmp_path / "tofu.pdf", {**env, "FONTCONFIG_FILE": str(conf)})
    assert normal.shape == tofu.shape
    # at 50 dpi the title's line is 10-16.6 mm from the top, its five glyphs 10-36.5 mm
    # from the left (15 pt each): rows 18-35, columns 18-74
    band = (slice(18, 35), slice(18, 74))
    ink = int((normal[band] < 128).sum())
    assert ink > 60, f"no dark pixels where the Chinese title is ({ink})"
    differ = int((np.abs(normal[band] - tofu[band]) > 64).sum())
    assert differ > 0.3 * ink, (
        f"the title renders the same with and without a CJK font ({differ} of {ink} pixels "
        "differ): the CJK glyphs are missing"
    )


# ---------------------------------------------------------------------------------------
# Without WeasyPrint or a CJK font: one clear line
# ---------------------------------------------------------------------------------------


def test_a_pdf_of_no_page_or_without_weasyprint_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(OutputError, match="no units"):
        dossiers.write_units_pdf([], tmp_path / "units.pdf")
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint fails
    with pytest.raises(OutputError) as info:
        dossiers.write_units_pdf(["<p>x</p>"], tmp_path / "units.pdf")
    assert "\n" not in str(info.value) and "pip install weasyprint" in str(info.value)
    assert not (tmp_path / "units.pdf").exists()


def test_no_font_for_chinese_is_a_warning(tmp_path, monkeypatch):
    fake = tmp_path / "fc-list"  # a fontconfig that knows no font for Chinese
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    warning = dossiers.cjk_font_warning()
    assert warning and "fonts-noto-cjk" in warning and "\n" not in warning
    monkeypatch.setenv("PATH", "/nonexistent")  # no fontconfig to ask: no warning
    assert dossiers.cjk_font_warning() is None


def test_the_machine_has_a_font_for_chinese():
    _need("a CJK font (fonts-noto-cjk)", dossiers.cjk_font_warning() is None)
