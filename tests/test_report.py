"""The report: report.html (self-contained, escaped, with charts) and report.md, same content."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_outputs import IMG_XSS, PIPE_NAME, SCRIPT_XSS, make_result
from typer.testing import CliRunner

from circles import scoring
from circles.outputs import REPORT_HTML, REPORT_MD, SUMMARY_JSON, report_html, write_outputs
from circles.outputs import report as report_mod
from circles.settings import OSM_ATTRIBUTION, OSM_COPYRIGHT_URL
from circles.standards import standard_from_dict
from cli import app

runner = CliRunner()
SVG_NS = "http://www.w3.org/2000/svg"


@pytest.fixture(scope="module")
def written(nanjing_result, tmp_path_factory) -> Path:
    return write_outputs(nanjing_result, tmp_path_factory.mktemp("report") / "nj")


def _urls(html: str) -> set[str]:
    return set(re.findall(r"https?://[^\s\"'<>)]+", html))


def _h2_html(html: str) -> list[str]:
    import html as h

    return [h.unescape(t) for t in re.findall(r"<h2 id=\"s\d+\">(.*?)</h2>", html)]


def _h2_md(md: str) -> list[str]:
    return [line[3:] for line in md.splitlines() if line.startswith("## ")]


def test_bundled_report_html_is_self_contained_and_complete(written, nanjing_result):
    html = (written / REPORT_HTML).read_text(encoding="utf-8")
    md = (written / REPORT_MD).read_text(encoding="utf-8")
    # Opens offline: no script, no outside resource, a policy that forbids both.
    assert "<script" not in html.lower()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert _urls(html) <= {OSM_COPYRIGHT_URL, SVG_NS}
    assert not re.search(r"\ssrc=", html)
    # Two charts drawn inline: coverage by category and threshold, grades by level.
    assert html.count("<svg") == 2
    # The same sections, in the same order, in both files.
    sections = _h2_html(html)
    assert sections == _h2_md(md)
    for title in (
        "数据概况 Data summary",
        "数据缺口 Data gaps",
        "指标 Indicators",
        "覆盖率 Coverage",
        "完整度分布 Distribution of completeness",
        "服务盲区 Blind spots",
        "方法与假设 Method and assumptions",
        "数据版权 Attribution",
    ):
        assert title in sections, title
    assert any(s.startswith("最欠缺的小区") for s in sections)
    assert any("城市居住区规划设计标准" in s for s in sections)
    # The indicators, bilingual, and the standard with its clauses.
    for words in (
        "社区便民商业服务设施覆盖率 Community convenience-commerce coverage",
        "社区养老服务设施覆盖率",
        "幼儿园覆盖率 Kindergarten coverage",
        "完整生活圈覆盖率",
        "GB 50180-2018",
        "表B.0.2",
        "表3.0.4",
        OSM_ATTRIBUTION,  # the credit of circles.settings, the same in every output
    ):
        assert words in html and words in md, words
    # Elder care has no data in the bundled district: a gap, not 0 %, in the chart too.
    assert "数据缺口 data gap (unknown, not 0%)" in html
    # Walking speed, snapping and what is not assessed are stated.
    assert "km/h" in md and "Snapping" in md and "物业管理与服务" in md


def test_bundled_indicator_matches_the_cluster_table(written, nanjing_result):
    """The 5-minute convenience-commerce indicator of GB 50180-2018 is 'a grocery, pharmacy,
    laundry or hairdresser within 300 m'; recompute it from the nearest distances."""
    summary = json.loads((written / SUMMARY_JSON).read_text(encoding="utf-8"))
    (ind,) = [i for i in summary["scoring"]["indicators"] if i["key"] == "commerce"]
    c = nanjing_result.clusters
    used = c["used"].to_numpy(bool)
    near = np.nanmin(
        np.vstack(
            [
                c[f"{k}_nearest_m"].to_numpy(float)
                for k in ("market", "pharmacy", "laundry", "hairdresser")
            ]
        ),
        axis=0,
    )
    covered = used & (near <= 300)
    pop = c["population"].to_numpy(float)
    area = c["area_m2"].to_numpy(float)
    assert ind["share_clusters"] == pytest.approx(covered.sum() / used.sum(), abs=1e-4)
    assert ind["share_population"] == pytest.approx(pop[covered].sum() / pop[used].sum(), abs=1e-4)
    assert ind["share_area"] == pytest.approx(area[covered].sum() / area[used].sum(), abs=1e-4)
    (elder,) = [i for i in summary["scoring"]["indicators"] if i["key"] == "elder_care"]
    assert elder["share_clusters"] is None and elder["status"] == "data gap"
    # Every cluster row carries its scores in the CSV.
    csv = pd.read_csv(written / "clusters.csv", encoding="utf-8-sig")
    assert {"std_15min_grade", "std_5min_missing", "std_block_meets"} <= set(csv.columns)


def _scored_make_result():
    """The synthetic result of test_outputs (hostile OSM names), scored on a small standard."""
    res = make_result()
    std = standard_from_dict(
        {
            "key": "mini",
            "title": {"zh": "<b>小</b>", "en": "Mini <i>"},
            "source": {"document": "D", "number": "N-1", "year": 2024, "clauses": ["<c>"]},
            "grades": [{"grade": "A", "min_share": 1.0}, {"grade": "E", "min_share": 0.0}],
            "levels": {
                "near": {
                    "zh": "近",
                    "en": "Near",
                    "distance_m": 500,
                    "requirements": {
                        "market": {"item": "1 市场"},
                        "pharmacy": {"item": "2 药店"},
                        "elder_care": {"item": "3 养老"},
                    },
                }
            },
            "indicators": {"complete": {"zh": "完整", "en": "Complete", "levels": ["near"]}},
        }
    )
    res.scores = scoring.score(res.clusters, std, gaps=["elder_care"], found={"market": 2})
    res.clusters = scoring.with_columns(res.clusters, res.scores.table)
    res.scores.clusters = res.clusters
    return res


def test_osm_names_are_escaped_in_html():
    res = _scored_make_result()
    html = report_html.render_html(res)
    for raw in (IMG_XSS, SCRIPT_XSS, "<b>小</b>", "Mini <i>", "<c>"):
        assert raw not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script" not in html.lower()
    # The study title is escaped too; in Markdown a pipe in a name cannot break a table.
    assert "测试 &lt;b&gt;Test&lt;/b&gt;" in html
    md = report_mod.render_report(res)
    assert PIPE_NAME not in md and r"A\|B 花园" in md


def test_report_without_scores_still_renders():
    res = make_result()
    html = report_html.render_html(res)
    assert "指标 Indicators" not in html
    assert "覆盖率 Coverage" in html and html.count("<svg") == 1
    assert _h2_html(html) == _h2_md(report_mod.render_report(res))


def test_both_report_files_are_written_atomically(tmp_path):
    out = write_outputs(make_result(), tmp_path / "study")
    assert (out / REPORT_HTML).is_file() and (out / REPORT_MD).is_file()


def test_svg_text_is_escaped():
    svg = report_html.coverage_svg(
        {"rows": [{"label": SCRIPT_XSS, "gap": False, "values": [0.5]}], "series": ["<x>"]}
    )
    assert SCRIPT_XSS not in svg and "<x>" not in svg
    assert "&lt;/script&gt;" in svg


# ---------------------------------------------------------------------------------------
# The command line: --standard
# ---------------------------------------------------------------------------------------


def test_cli_run_with_a_user_standard(tmp_path):
    rules = tmp_path / "local.yaml"
    rules.write_text(
        "extends: gb50180-2018\n"
        "key: nanjing-local\n"
        "levels:\n"
        "  block:\n"
        "    requirements:\n"
        "      convenience: {distance_m: 500}\n",
        encoding="utf-8",
    )
    out = tmp_path / "nj"
    res = runner.invoke(app, ["run", "--standard", str(rules), "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / SUMMARY_JSON).read_text(encoding="utf-8"))
    assert summary["standard"]["key"] == "nanjing-local"
    block = [lv for lv in summary["scoring"]["levels"] if lv["key"] == "block"][0]
    assert block["distances_m"]["convenience"] == 500
    assert block["distances_m"]["post_parcel"] == 300
    html = (out / REPORT_HTML).read_text(encoding="utf-8")
    assert "local variant" in html
    assert "幼儿园覆盖率" in res.output  # the indicator table on screen
    # The report names its inputs by their file names, never by where they lie.
    from conftest import BUNDLED_OSM

    md = (out / REPORT_MD).read_text(encoding="utf-8")
    for text in (html, md):
        assert str(tmp_path) not in text and str(BUNDLED_OSM.parent) not in text
        assert "数据来源 Source: nanjing-xinjiekou-2021.osm" in text
        assert "本标准文件 local.yaml 基于 based on: built-in standard gb50180-2018" in text


def test_cli_run_with_another_builtin_standard(tmp_path):
    out = tmp_path / "cc"
    res = runner.invoke(app, ["run", "--standard", "complete-community-2020", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / SUMMARY_JSON).read_text(encoding="utf-8"))
    assert summary["scoring"]["standard"] == "complete-community-2020"
    assert [lv["key"] for lv in summary["scoring"]["levels"]] == ["community"]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("gb50180", "unknown standard 'gb50180'"),
        ("missing-rules.yaml", "standard file not found"),
    ],
)
def test_cli_bad_standard_is_one_line(tmp_path, monkeypatch, value, words):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["run", "--standard", value, "--out", str(tmp_path / "o")])
    assert res.exit_code != 0
    assert words in res.output
    assert "Traceback" not in res.output
    assert res.output.count("error:") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_report_html_opens_offline_in_a_browser(written):
    """The page in chromium with every network request refused: it renders, charts and all."""
    chromium = os.environ.get("CIRCLES_CHROMIUM", "/usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed")
    if not (Path(chromium).is_file() and os.access(chromium, os.X_OK)):
        pytest.skip(f"chromium not found at {chromium}")
    refused, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()

            def route(r):
                if r.request.url.startswith("file://"):
                    r.continue_()
                else:
                    refused.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (errors.append(d.message), d.dismiss()))
            page.goto((written / REPORT_HTML).as_uri())
            svgs = page.locator("svg")
            assert svgs.count() == 2
            for i in range(2):
                box = svgs.nth(i).bounding_box()
                assert box and box["width"] > 300 and box["height"] > 50
            assert "指标 Indicators" in page.locator("h2").all_inner_texts()
        finally:
            browser.close()
    assert refused == [] and errors == []


# ---------------------------------------------------------------------------------------
# Low-confidence populations and residents by method (issue 17, points 1 and 2)
# ---------------------------------------------------------------------------------------


def test_low_confidence_population_is_noted_and_marked():
    res = make_result()
    res.clusters["population_method"] = ["buildings", "plot_ratio", "buildings", "buildings"]
    res.clusters["population_low"] = [False, True, False, False]
    md = report_mod.render_report(res)
    # R002 (628.8 residents of 3,144 in all, 20 %) is the one low-confidence cluster.
    line = next(x for x in md.splitlines() if "Low-confidence populations" in x)
    assert "1 个小区 clusters" in line and "≈ 629 人 residents (20%)" in line
    # In the least-served table its residents carry the mark, and the legend follows.
    section = md.split("## 最欠缺的小区")[1].split("\n## ")[0]
    r002 = next(x for x in section.splitlines() if x.startswith("| R002"))
    r003 = next(x for x in section.splitlines() if x.startswith("| R003"))
    assert "629 †" in r002 and "†" not in r003
    assert "† 低可信度人口估计" in section
    html = report_html.render_html(res)
    assert "Low-confidence populations" in html and "629 †" in html


def test_no_low_confidence_note_without_the_column():
    md = report_mod.render_report(make_result())
    assert "Low-confidence" not in md and "†" not in md


def test_residents_by_method_line():
    res = make_result()
    res.clusters["method"] = ["landuse", "landuse", "buildings", "buildings"]
    res.summary.pop("residence_method", None)
    md = report_mod.render_report(res)
    # 314.4 + 628.8 in the polygons, 943.2 + 1257.6 in building clusters.
    assert "居住用地/小区边界 residential land-use polygons (小区) + 住宅建筑聚类" in md
    line = next(x for x in md.splitlines() if "Residents by method" in x)
    assert "小区边界 landuse 943（2 个 clusters）" in line
    assert "建筑聚类 buildings 2,201（2 个 clusters）" in line


@pytest.mark.slow
def test_bundled_partly_mapped_xiaoqu_end_to_end(written, nanjing_result):
    """The 42 ha 小区 of the bundled district with one mapped building: found with osmium,
    then followed into clusters.csv, summary.json and the report."""
    from conftest import BUNDLED_OSM
    from test_residences import _osm_residential

    polys, blds = _osm_residential(BUNDLED_OSM, untyped=True)
    inside = [sum(p.contains(g.representative_point()) for g, _ in blds) for p in polys]
    (xq,) = [p for p, n in zip(polys, inside, strict=True) if 40e4 < p.area < 45e4 and n == 1]
    csv = pd.read_csv(written / "clusters.csv", encoding="utf-8-sig")
    (i,) = np.flatnonzero(np.isclose(csv["area_m2"], xq.area, rtol=1e-3))
    row = csv.iloc[i]
    res = nanjing_result.study.residences
    # The rule of docs/guide/method.md: area x plot ratio / m2 per dwelling x persons.
    assert row["population"] == round(xq.area * res.default_far / res.dwelling_m2 * 2.62)
    assert row["population_method"] == "plot_ratio" and bool(row["population_low"])
    per_ha = row["population"] / (xq.area / 10_000)
    assert 150 < per_ha < 1_000  # central Nanjing; it was 2 per hectare
    # The columns reach clusters.csv for every cluster, and the summary counts them.
    assert set(csv["population_method"]) <= {"buildings", "plot_ratio"}
    summary = json.loads((written / SUMMARY_JSON).read_text(encoding="utf-8"))
    low = summary["population_low"]
    assert low["clusters"] == int(csv["population_low"].sum())
    assert low["residents"] == pytest.approx(csv.loc[csv["population_low"], "population"].sum())
    by_method = summary["residents_by_method"]
    assert sum(by_method.values()) == pytest.approx(summary["inputs"]["population"])
    assert by_method["buildings"] > 0 and summary["residence_method"] == "landuse+buildings"
    md = (written / REPORT_MD).read_text(encoding="utf-8")
    assert f"Low-confidence populations: {low['clusters']} 个小区" in md
    assert "Residents by method" in md


# ---------------------------------------------------------------------------------------
# Findings first (issue 13, point 5)
# ---------------------------------------------------------------------------------------

ONE_SCREEN = 25  # lines, at 100 columns


def _findings_md(md: str) -> list[str]:
    """The lines of report.md's first section: from its heading to the next one."""
    lines = md.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("## "))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    return lines[start:end]


def _group(lines: list[str], label_start: str) -> list[str]:
    """The findings listed under the bold label that starts with ``label_start``."""
    i = next(i for i, x in enumerate(lines) if x.startswith(f"**{label_start}"))
    out = []
    for x in lines[i + 1 :]:
        if not x.startswith("- "):
            break
        out.append(x[2:])
    return out


def _headings_html(html: str) -> list[str]:
    import html as h

    return [h.unescape(t) for _, t in re.findall(r"<h([1-6])[^>]*>(.*?)</h\1>", html)]


def test_bundled_report_opens_with_the_findings_on_one_screen(written, nanjing_result):
    md = (written / REPORT_MD).read_text(encoding="utf-8")
    html = (written / REPORT_HTML).read_text(encoding="utf-8")
    title = nanjing_result.summary["title"]
    # The first heading after the title, in both files.
    assert _headings_html(html)[:2] == [title, report_mod.FINDINGS_HEADING]
    section = _findings_md(md)
    assert section[0] == f"## {report_mod.FINDINGS_HEADING}"
    assert [x for x in md.splitlines() if x.startswith("#")][:2] == [f"# {title}", section[0]]
    assert len(section) <= ONE_SCREEN
    # The four indicators of GB 50180-2018, by residents, from summary.json's figures.
    summary = json.loads((written / SUMMARY_JSON).read_text(encoding="utf-8"))
    inds = {i["key"]: i for i in summary["scoring"]["indicators"] if i["key"] != "complete"}
    head = _group(section, "主要指标")
    assert [x.split(":")[0] for x in head] == [
        "完整生活圈覆盖率 Complete life-circle coverage",
        "社区便民商业服务设施覆盖率 Community convenience-commerce coverage",
        "社区养老服务设施覆盖率 Elder-care station coverage",
        "幼儿园覆盖率 Kindergarten coverage",
    ]
    pct = f"{inds['commerce']['share_population'] * 100:.0f}%"
    assert head[1].split(": ")[1].startswith(pct)
    assert "数据缺口 data gap" in head[2]  # elder care: no data, never 0%
    # The worst clusters: the lowest overall completeness in clusters.csv, most residents
    # first among ties.
    csv = pd.read_csv(written / "clusters.csv", encoding="utf-8-sig")
    csv = csv[csv["std_missing_n"] > 0].sort_values(
        ["std_completeness", "population", "cluster_id"], ascending=[True, False, True]
    )
    worst = _group(section, "最欠缺的小区")
    assert [x.split(" ")[0] for x in worst] == list(csv["cluster_id"][:3])
    # The top shortfall: the required item the most residents cannot reach.
    top = summary["scoring"]["blind_spots"]["by_requirement"][0]
    shortfalls = _group(section, "最大的短板")
    assert len(shortfalls) == 3
    assert shortfalls[0].startswith(top["zh"].split("（")[0])
    assert f"{top['population']:,.0f} 人 residents" in shortfalls[0]
    gaps = _group(section, "数据缺口")
    assert "养老服务" in gaps[0] and "not 0%" in gaps[0]
    # The data follow the findings.
    assert _h2_md(md)[1] == "数据概况 Data summary"


def test_terminal_findings_fit_one_screen(nanjing_result):
    from rich.console import Console

    from circles.outputs.console import findings_view, run_summary

    console = Console(width=100, record=True)
    console.print(findings_view(nanjing_result))
    lines = console.export_text().splitlines()
    assert lines[0] == report_mod.FINDINGS_HEADING
    assert len(lines) <= ONE_SCREEN
    assert any("Least-served clusters" in x for x in lines)
    # The terminal shows the findings first, then the tables.
    parts = run_summary(nanjing_result)
    assert len(parts) == 3 and parts[1].row_count == len(nanjing_result.categories)


def test_least_served_rows_are_compact(written):
    md = (written / REPORT_MD).read_text(encoding="utf-8")
    section = md.split("\n## 最欠缺的小区")[1].split("\n## ")[0]
    rows = [x for x in section.splitlines() if x.startswith("| ") and "---" not in x][1:]
    assert len(rows) == 10
    # Each was a wall of 800 to 1,600 characters naming every missing item at every level.
    assert max(len(x) for x in rows) < 300


def test_least_served_table_names_the_farthest_missing_item():
    """The mini standard asks for a market and a pharmacy within 500 m. From make_result's
    distances: R003 has no market in reach (unreachable) and a pharmacy at 760 m; R002 a
    pharmacy at 1,450 m; R001 has both."""
    md = report_mod.render_report(_scored_make_result())
    section = md.split("\n## 最欠缺的小区")[1].split("\n## ")[0]
    rows = [x for x in section.splitlines() if x.startswith("| R")]
    assert [r.split(" | ")[0] for r in rows] == ["| R003", "| R002"]
    r003 = [c.strip() for c in rows[0].strip("|").split(" | ")]
    assert r003[3:] == [
        "E",
        "0%",
        "2",
        "菜市场/超市/便利店 Markets and grocery: 不可达 unreachable / 500 m",
        "pharmacy",
    ]
    r002 = [c.strip() for c in rows[1].strip("|").split(" | ")]
    assert r002[3:] == ["E", "50%", "1", "药店 Pharmacy: 1,450 m / 500 m", "—"]


def _units_of(names: list[str]) -> object:
    """A UnitReport as circles/units.py's contract gives it: four 社区, the last empty."""
    from types import SimpleNamespace

    table = pd.DataFrame(
        {
            "unit": [0, 1, 2, 3],
            "name": names,
            "slug": ["u0", "u1", "u2", "u3"],
            "level": "社区",
            "clusters": [2, 1, 1, 0],
            "clusters_split": [0, 0, 1, 0],
            "area_m2": [1e5, 2e5, 3e5, 4e5],
            "population": [1000.0, 2000.0, 3000.0, 0.0],
            "completeness": [0.9, 0.5, 0.2, np.nan],
            "grade": ["B", "D", "E", None],
            "complete_share": [0.8, 0.3, 0.0, np.nan],
            "rank": [1, 2, 3, np.nan],
        }
    )
    shortfalls = pd.DataFrame(
        {
            "unit": [2, 1],
            "level": ["near", "near"],
            "item": ["pharmacy", "market"],
            "zh": ["药店", "菜市场（生鲜）"],
            "en": ["Pharmacy", "Fresh market (grocery)"],
            "clause": ["", ""],
            "clusters": ["R003", "R002"],
            "n_clusters": [1, 1],
            "residents_affected": [3000.0, 2000.0],
            "nearest_facility": ["益丰大药房", ""],
            "nearest_facility_m": [760.0, np.nan],
            "proposed_site": ["", ""],
            "how": ["measured", "self_assessed"],
        }
    )
    units = SimpleNamespace(name=np.asarray(names), level="社区", source="units.geojson")
    return SimpleNamespace(
        units=units, table=table, shortfalls=shortfalls, items=pd.DataFrame(), notes=[]
    )


def test_findings_list_the_worst_units_and_their_shortfalls():
    res = _scored_make_result()
    markup = "[bold]红[/bold]"
    res.units = _units_of([IMG_XSS, "梅园新村社区", SCRIPT_XSS, markup])
    md = report_mod.render_report(res)
    section = _findings_md(md)
    assert len(section) <= ONE_SCREEN
    worst = _group(section, "最欠缺的单元")
    # Lowest rank first; the unit without clusters is named, not ranked.
    assert worst[0].startswith("</script><scrip… · 3,000 人 residents · 完整生活圈 complete 0%")
    assert "等级 grade E · 排名 rank 3/3" in worst[0]
    assert worst[1].startswith("梅园新村社区 · 2,000 人") and "rank 2/3" in worst[1]
    assert worst[2].startswith("<img src=x oner…")
    assert worst[3] == f"没有小区的单元 Units without clusters: 1（{markup}）"
    assert "Least-served clusters" not in md.split("\n## ")[1]
    shortfalls = _group(section, "最大的短板")
    assert shortfalls == [
        "</script><scrip…: 药店 Pharmacy · 3,000 人 residents · 最近 nearest 760 m",
        "梅园新村社区: 菜市场 Fresh market · 2,000 人 residents · 最近 nearest 不可达 "
        "unreachable · 自评 self-assessed",
    ]
    html = report_html.render_html(res)
    assert "<img" not in html and "<script" not in html.lower() and "</script" not in html
    assert "&lt;/script&gt;&lt;scrip…" in html and "&lt;img src=x oner…" in html
    # In the terminal a name is text, never rich markup.
    from rich.console import Console

    from circles.outputs.console import findings_view

    console = Console(width=100, record=True)
    console.print(findings_view(res))
    assert markup in console.export_text()


def test_findings_without_units_or_standard():
    """make_result's counts within 1000 m: R001 reaches all three categories, R002 no
    pharmacy, R003 neither market nor clinic; 1,886.4 residents in connected clusters
    (314.4, 628.8, 943.2)."""
    section = _findings_md(report_mod.render_report(make_result()))
    worst = _group(section, "最欠缺的小区")
    assert [x.split(" ")[0] for x in worst] == ["R003", "R002"]
    assert "reaches 1 of 3 categories" in worst[0] and "reaches 2 of 3" in worst[1]
    # Markets and clinics miss R003's 943 residents (50%), pharmacies R002's 629 (33%).
    assert _group(section, "最大的短板") == [
        "菜市场/超市/便利店 Markets and grocery: 943 人 residents (50%) > 1,000 m",
        "社区卫生服务站/诊所 Clinic and community health: 943 人 residents (50%) > 1,000 m",
        "药店 Pharmacy: 629 人 residents (33%) > 1,000 m",
    ]
    # A resident reaches on average, within 300 m: markets 1/6 + clinics 1/3 = 0.5;
    # within 1000 m: markets 1/2 + pharmacies 2/3 + clinics 1/2 = 1.7 of 3.
    head = _group(section, "主要指标")
    assert head[0].startswith("5分钟 5 min (300 m): 居民平均可达 0.5 / 3 类")
    assert "residents reach 1.7 of 3 categories" in head[2]
    assert _group(section, "数据缺口")[0].startswith("无数据 No data: 1 类 categories（养老服务）")


def test_findings_when_no_cluster_joined_the_network():
    # Nothing is measured: no finding may claim that every category is reached.
    res = make_result()
    res.clusters["used"] = False
    section = _findings_md(report_mod.render_report(res))
    for label in ("主要指标", "最欠缺的小区", "最大的短板"):
        assert _group(section, label) == [report_mod._NONE_CONNECTED]


def test_source_is_named_by_its_file_name_only():
    assert report_mod.source_name("/home/王/data/nanjing.osm.pbf") == "nanjing.osm.pbf"
    assert report_mod.source_name(r"C:\Users\王\data\b.osm") == "b.osm"
    assert report_mod.source_name("place: Xuanwu, Nanjing") == "place: Xuanwu, Nanjing"
    assert report_mod.source_name(None) == "—"
    res = make_result()
    res.summary["source"] = "/home/someone/secret/district.osm"
    res.summary["warnings"] = ["/home/someone/secret/district.osm: 3 ways without nodes"]
    for text in (report_mod.render_report(res), report_html.render_html(res)):
        assert "/home/someone" not in text
        assert "数据来源 Source: district.osm" in text
        assert "district.osm: 3 ways without nodes" in text
