"""Scenarios (``--scenario``, ``--pois``, ``--remove-pois``) and ``circles compare``.

The slow tests run the bundled district three times (base, one pharmacy added, one
closed) and check each comparison against the runs' own reach columns and against a run
that holds the new pharmacy alone (``pois_mode: replace``): its distances are the new
pharmacy's, measured independently of the comparison.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from test_map_browser import Page, browser  # noqa: F401 (the browser fixture)
from test_outputs import IMG_XSS, SCRIPT_XSS
from typer.testing import CliRunner

from circles._errors import InputError
from circles.comparison import (
    ComparisonError,
    RunRecord,
    compare,
    load_run,
    match_clusters,
)
from circles.config import load_study
from circles.options import study_for_run
from circles.outputs.compare import COMPARE_FILES, build_compare_page, write_comparison
from circles.prepare import Prepared, TableLog, remove_services
from circles.snap import Attachment
from cli import app

runner = CliRunner()
CLOSED_PHARMACY = "node/3887118658"  # 益丰大药房, one of the district's three pharmacies


# ---------------------------------------------------------------------------------------
# Synthetic runs (no network)
# ---------------------------------------------------------------------------------------


def _square(x: float, y: float, size: float = 0.001) -> shapely.Polygon:
    return shapely.box(x, y, x + size, y + size)


def _record(
    ids: list[str],
    names: list[str] | None = None,
    shift: float = 0.0,
    thresholds: tuple[float, ...] = (300.0, 500.0, 1000.0),
    standard: str | None = "gb50180-2018",
    reach: list[int] | None = None,
    grades: list[str] | None = None,
) -> RunRecord:
    n = len(ids)
    geoms = [_square(118.78 + 0.002 * i + shift, 32.03) for i in range(n)]
    reach = reach if reach is not None else [0] * n
    frame = gpd.GeoDataFrame(
        {
            "cluster_id": ids,
            "name": names or [f"小区{i}" for i in range(n)],
            "population": [1000.0] * n,
            "area_m2": [10_000.0] * n,
            "used": [True] * n,
            **{f"pharmacy_{t:g}m": reach for t in thresholds},
            "pharmacy_nearest_m": [250.0 if r else np.nan for r in reach],
            "std_5min_grade": grades or ["C"] * n,
            "std_grade": grades or ["C"] * n,
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    share = sum(1 for r in reach if r) / n
    summary = {
        "thresholds_m": list(thresholds),
        "categories": ["pharmacy"],
        "settings": {"source": {"osm": "x.osm"}, "boundary": None},
        "coverage": {"pharmacy": {f"{t:g}m": share for t in thresholds}},
        "data_gaps": [],
        "standard": {"key": standard} if standard else None,
    }
    if standard:
        summary["scoring"] = {
            "levels": [{"key": "5min", "distance_m": 300.0, "required": ["pharmacy"]}],
            "indicators": [
                {
                    "level": "5min",
                    "key": "pharmacy",
                    "zh": "药店",
                    "en": "Pharmacy",
                    "share_clusters": share,
                    "share_area": share,
                    "share_population": share,
                }
            ],
        }
    return RunRecord("run", summary, frame)


def test_synthetic_run_compared_with_itself_shows_no_change():
    run = _record(["R1", "R2"], reach=[1, 0])
    c = compare(run, run)
    assert c.unchanged
    assert c.pairs["how"].tolist() == ["id", "id"]


def test_clusters_match_by_overlap_when_ids_differ():
    a = _record(["R1", "R2", "R3"])
    b = _record(["X9", "X8", "R3"], shift=0.0002)  # 20 % of a square's width: IoU 0.67
    c = compare(a, b)
    pairs = {
        (a.clusters.cluster_id[i], b.clusters.cluster_id[j]) for i, j in c.pairs[["a", "b"]].values
    }
    assert pairs == {("R1", "X9"), ("R2", "X8"), ("R3", "R3")}
    assert set(c.pairs["how"]) == {"id", "overlap"}
    assert len(c.only_a) == len(c.only_b) == 0


def test_same_id_elsewhere_is_not_the_same_cluster_and_is_listed():
    ids = [f"R{i}" for i in range(6)]
    a = _record(ids)
    ga = a.clusters.geometry.to_crs(32650)
    moved = ga.copy()
    moved.iloc[1] = shapely.affinity.translate(moved.iloc[1], 60.0, 0.0)  # IoU about 0.2
    pairs = match_clusters(ga, moved, ids, ids)
    assert sorted(pairs["a"]) == [0, 2, 3, 4, 5]
    b = _record(ids)
    b.clusters.loc[1, "geometry"] = _square(118.782 + 0.0006, 32.03)
    c = compare(a, b)
    assert c.only_a["cluster_id"].tolist() == ["R1"] and c.only_b["cluster_id"].tolist() == ["R1"]
    assert not c.unchanged


def test_gained_reach_and_grade_changes_are_listed():
    a = _record(["R1", "R2"], reach=[0, 0], grades=["D", "C"])
    b = _record(["R1", "R2"], reach=[1, 0], grades=["B", "C"])
    c = compare(a, b)
    assert set(c.changes["cluster_a"]) == {"R1"} and set(c.changes["change"]) == {"gained"}
    assert set(c.grades["change"]) == {"better"} and set(c.grades["cluster_a"]) == {"R1"}
    ind = c.indicators.set_index("measure")
    assert ind.loc["clusters", "change"] == pytest.approx(0.5)
    table = c.table()
    assert {"indicator", "coverage", "grade", "reach"} <= set(table["section"])


def test_a_data_gap_is_reached_by_no_cluster_and_its_count_is_empty():
    # Run A had no pharmacy in its data: empty counts (<NA>), as circles.measure writes
    # them, not 0. Run B found one within reach of R1.
    a = _record(["R1", "R2"], reach=[0, 0])
    for col in ("pharmacy_300m", "pharmacy_500m", "pharmacy_1000m"):
        a.clusters[col] = pd.array([None, None], dtype="Int64")
    a.summary["data_gaps"] = ["pharmacy"]
    a.summary["coverage"] = {"pharmacy": {"300m": None, "500m": None, "1000m": None}}
    b = _record(["R1", "R2"], reach=[2, 0])
    c = compare(a, b)
    changes = c.changes
    assert changes["cluster_a"].tolist() == ["R1"] * 3
    assert set(changes["change"]) == {"gained"}
    assert changes["a"].isna().all()  # no figure in A: empty, not 0
    assert changes["b"].tolist() == [2, 2, 2]
    assert any("no data in" in n for n in c.notes)


@pytest.mark.parametrize(
    ("b", "words"),
    [
        (_record(["R1"], thresholds=(300.0, 500.0)), "different thresholds"),
        (_record(["R1"], standard="mofcom-2021"), "different standards"),
        (_record(["R1"], standard=None), "different standards"),
        (_record(["R1"], shift=0.05), "not the same area"),
    ],
)
def test_runs_that_differ_are_refused_in_one_line(b, words):
    with pytest.raises(ComparisonError) as e:
        compare(_record(["R1"]), b)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(InputError, match="no summary.json"):
        load_run(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        load_run(tmp_path / "missing")
    (tmp_path / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not a circles summary"):
        load_run(tmp_path)
    (tmp_path / "summary.json").write_text('{"study": "x"}', encoding="utf-8")
    with pytest.raises(InputError, match="not a run's"):
        load_run(tmp_path)
    summary = {"thresholds_m": [300], "categories": [], "settings": {}}
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(InputError, match="tables-only"):
        load_run(tmp_path)


def test_cli_errors_are_one_line_exit_2_and_write_nothing(tmp_path):
    out = tmp_path / "cmp"
    res = runner.invoke(app, ["compare", str(tmp_path), str(tmp_path), "--out", str(out)])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    assert not out.exists()
    res = runner.invoke(app, ["compare", str(tmp_path), str(tmp_path), "--basemap", "gcj"])
    assert res.exit_code == 2 and "error:" in res.output


def test_outputs_escape_names_and_defuse_formulas(tmp_path):
    names = [IMG_XSS, SCRIPT_XSS, "=HYPERLINK(1)"]
    a = _record(["R1", "R2", "R3"], names=names, reach=[0, 0, 0])
    b = _record(["R1", "R2", "R3"], names=names, reach=[1, 1, 1])
    c = compare(a, b)
    page = build_compare_page(c, self_contained=True, basemap="none")
    assert "<img src=x" not in page and "<script>alert" not in page
    assert (
        "cdn.jsdelivr.net" not in page and "tile.openstreetmap.org" not in page.split("<script>")[0]
    )
    folder = write_comparison(c, tmp_path / "cmp", self_contained=True, basemap="none")
    assert sorted(p.name for p in folder.iterdir()) == sorted(COMPARE_FILES)
    raw = (folder / "compare.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    csv = pd.read_csv(folder / "compare.csv", encoding="utf-8-sig")
    assert "'=HYPERLINK(1)" in set(csv["name"])
    # An earlier comparison is replaced; a run's folder never is.
    write_comparison(c, folder)
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(Exception, match="did not write"):
        write_comparison(c, folder)


def test_a_failing_writer_leaves_nothing_half_written(tmp_path, monkeypatch):
    from circles.outputs import compare as outputs_compare

    c = compare(_record(["R1"]), _record(["R1"], reach=[1]))

    def broken(comparison, path):
        raise RuntimeError("disk full")

    monkeypatch.setattr(outputs_compare, "write_compare_csv", broken)
    with pytest.raises(RuntimeError):
        write_comparison(c, tmp_path / "cmp")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------
# The removal stage, on services alone
# ---------------------------------------------------------------------------------------


def _prepared() -> Prepared:
    services = {
        "category": np.array(["pharmacy", "pharmacy", "clinic", "pharmacy"]),
        "name": np.array(["a", "b", "c", "t"]),
        "osm_type": np.array(["node", "way", "node", ""]),
        "osm_id": np.array([1, 2, 1, 0], dtype=np.int64),
        "x": np.zeros(4),
        "y": np.zeros(4),
        "source": np.array(["osm", "osm", "osm", "mine.csv"]),
        "source_row": np.array([-1, -1, -1, 3]),
    }
    attachment = Attachment(np.arange(4), np.zeros(4), np.zeros(4), np.ones(4, dtype=bool))
    return Prepared(None, services, attachment, "test", None, False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "closed", "reasons"),
    [
        ("node/1\n", {"b", "t"}, []),  # a node that is a pharmacy and a clinic: both closed
        ("osm_type,osm_id\nway,2\nway,99\n", {"a", "c", "t"}, ["not_found"]),
        ("ref\npois[0]:3\nhttps://www.openstreetmap.org/way/2\n", {"a", "c"}, []),
        (
            "# closed in 2025\nmine.csv:3\nmine.csv:3\nfoo\n",
            {"a", "b", "c"},
            ["duplicate", "bad_reference"],
        ),
    ],
)
def test_remove_services_closes_listed_and_rejects_the_rest(tmp_path, text, closed, reasons):
    path = tmp_path / "closed.csv"
    path.write_text(text, encoding="utf-8")
    study = load_study().model_copy(update={"remove_pois": path, "pois": []})
    study.pois = study_for_run(pois=[str(tmp_path / "mine.csv")]).pois  # pois[0] is mine.csv
    prepared, log = _prepared(), TableLog("merge")
    remove_services(prepared, study, log)
    kept = set(prepared.services["name"].tolist())
    assert kept == closed
    assert len(prepared.service_attachment) == len(kept)
    assert [r["reason"] for r in log.rejected] == reasons
    assert log.removed["services_removed"] == 4 - len(kept)


def test_an_empty_or_missing_removal_file_is_an_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    for path in (empty, tmp_path / "missing.txt"):
        study = load_study().model_copy(update={"remove_pois": path})
        with pytest.raises(InputError):
            remove_services(_prepared(), study, TableLog("merge"))


def test_scenario_options_and_folder(tmp_path):
    study = study_for_run(scenario="new-pharmacy", remove_pois=str(tmp_path / "c.csv"))
    assert study.scenario == "new-pharmacy" and study.remove_pois == tmp_path / "c.csv"
    assert study.output_folder.name == "nanjing-xinjiekou--new-pharmacy"
    assert load_study().output_folder.name == "nanjing-xinjiekou"
    with pytest.raises(Exception, match="scenario"):
        study_for_run(scenario="../x")


# ---------------------------------------------------------------------------------------
# Real runs of the bundled district
# ---------------------------------------------------------------------------------------


def _new_pharmacy(tmp_path: Path, base) -> Path:
    """A POI table of one pharmacy, in the middle of the cluster farthest from any."""
    far = base.clusters.sort_values("pharmacy_nearest_m").iloc[-1]
    point = gpd.GeoSeries([far.geometry.representative_point()], crs=base.clusters.crs)
    lonlat = point.to_crs(4326).iloc[0]
    path = tmp_path / "proposed.csv"
    path.write_text(
        f"name,category,lng,lat\n新药房,pharmacy,{lonlat.x:.6f},{lonlat.y:.6f}\n", encoding="utf-8"
    )
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The base run, one pharmacy added, the new pharmacy alone, one OSM pharmacy closed."""
    from circles import pipeline
    from circles.outputs import write_outputs

    tmp = tmp_path_factory.mktemp("compare")
    base = pipeline.run(load_study())
    table = _new_pharmacy(tmp, base)
    closed = tmp / "closed.txt"
    closed.write_text(f"{CLOSED_PHARMACY}\nway/1\n", encoding="utf-8")
    studies = {
        "added": study_for_run(scenario="new-pharmacy", pois=[str(table)]),
        "alone": study_for_run(pois=[str(table)], pois_mode="replace", categories="pharmacy"),
        "closed": study_for_run(scenario="closed", remove_pois=str(closed)),
    }
    results = {"base": base, **{k: pipeline.run(s) for k, s in studies.items()}}
    folders = {}
    for key in ("base", "added", "closed"):
        folders[key] = write_outputs(results[key], tmp / key, basemap="none")
    return results, folders


def _reached(frame: pd.DataFrame, t: float) -> set[str]:
    return set(frame.loc[frame[f"pharmacy_{t:g}m"] > 0, "cluster_id"])


@pytest.mark.slow
def test_real_run_compared_with_itself_shows_no_change(runs):
    results, folders = runs
    for a, b in ((folders["base"], folders["base"]), (results["base"], folders["base"])):
        c = compare(a, b)
        assert c.unchanged, c.table()
        assert len(c.pairs) == len(results["base"].clusters)


@pytest.mark.slow
def test_one_pharmacy_added_changes_exactly_the_clusters_within_its_reach(runs):
    results, folders = runs
    base, added, alone = results["base"], results["added"], results["alone"]
    c = compare(folders["base"], folders["added"])
    assert set(c.changes["change"]) == {"gained"} and len(c.changes)
    assert set(c.services["change"]) == {"added"} and len(c.services) == 1
    # The new pharmacy's own distance to each cluster, from the run that holds it alone.
    d_new = alone.clusters.set_index("cluster_id")["pharmacy_nearest_m"]
    for t in base.study.distances_m:
        expected = {cid for cid in base.clusters["cluster_id"] if d_new[cid] <= t} - _reached(
            base.clusters, t
        )
        got = set(c.changes.loc[c.changes["threshold_m"] == t, "cluster_b"])
        assert got == expected, t
        # and the scenario's own columns agree: reached now = reached before + those
        assert _reached(added.clusters, t) == _reached(base.clusters, t) | expected
    assert added.summary["scenario"]["name"] == "new-pharmacy"
    assert added.summary["scenario"]["pois_added"] == ["proposed.csv"]


@pytest.mark.slow
def test_closing_a_pharmacy_lowers_coverage_for_exactly_the_clusters_that_needed_it(runs):
    results, folders = runs
    base, closed = results["base"], results["closed"]
    c = compare(folders["base"], folders["closed"])
    assert set(c.changes["change"]) == {"lost"} and len(c.changes)
    [removed] = c.services.to_dict("records")
    assert removed["change"] == "removed" and removed["osm"] == CLOSED_PHARMACY
    a = base.clusters.set_index("cluster_id")
    b = closed.clusters.set_index("cluster_id")
    for t in base.study.distances_m:
        col = f"pharmacy_{t:g}m"
        drop = a[col] - b[col]
        assert set(drop.unique()) <= {0, 1}  # one pharmacy closed: one fewer at most
        needed = set(drop.index[(drop == 1) & (b[col] == 0)])  # it was their only one
        got = set(c.changes.loc[c.changes["threshold_m"] == t, "cluster_a"])
        assert got == needed, t
    record = closed.summary["scenario"]["removed"]
    assert record["services_removed"] == 1 and record["entries_rejected"] == 1
    assert [r["reason"] for r in closed.rejected] == ["not_found"]
    assert (folders["closed"] / "rejected_rows.csv").is_file()


@pytest.mark.slow
def test_the_cache_never_serves_a_closed_service(tmp_path, runs):
    from circles import pipeline

    results, _ = runs
    closed = tmp_path / "closed.txt"
    closed.write_text(f"{CLOSED_PHARMACY}\n", encoding="utf-8")
    cache = tmp_path / "cache"
    # Every node an origin: no residences, so the cache serves the second run.
    scenario = study_for_run(remove_pois=str(closed), origins="nodes")
    first = pipeline.run(scenario, tables_only=True, cache_dir=cache)
    again = pipeline.run(study_for_run(origins="nodes"), tables_only=True, cache_dir=cache)
    assert again.summary["from_cache"]
    n_base = results["base"].summary["inputs"]["services_per_category"]["pharmacy"]
    assert again.summary["inputs"]["services_per_category"]["pharmacy"] == n_base
    assert first.summary["inputs"]["services_per_category"]["pharmacy"] == n_base - 1


@pytest.mark.slow
def test_cli_compare_writes_the_folder_and_a_table(runs, tmp_path):
    results, folders = runs
    out = tmp_path / "cmp"
    res = runner.invoke(
        app, ["compare", str(folders["base"]), str(folders["added"]), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "Comparison" in res.output and "pharmacy" in res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["kind"] == "comparison"
    assert summary["clusters_matched"] == len(results["base"].clusters)
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert "新药房" in page
    res = runner.invoke(app, ["compare", str(folders["base"]), str(out)])
    assert res.exit_code == 2 and "holds a comparison" in res.output


@pytest.mark.slow
def test_other_standard_or_thresholds_are_refused(runs, tmp_path):
    from circles import pipeline

    results, _ = runs
    for override in ({"standard": "mofcom-2021"}, {"thresholds": "300,500"}):
        other = pipeline.run(study_for_run(**override), tables_only=False)
        with pytest.raises(ComparisonError):
            compare(results["base"], other)


@pytest.mark.slow
def test_xss_names_in_compare_html_run_no_script(browser, tmp_path):  # noqa: F811
    names = [IMG_XSS, SCRIPT_XSS]
    a = _record(["R1", "R2"], names=names, reach=[0, 1])
    b = _record(["R1", "R2"], names=names, reach=[1, 0])
    folder = write_comparison(compare(a, b), tmp_path / "cmp", self_contained=True, basemap="none")
    page = Page(browser, folder / "compare.html").open()
    try:
        assert page.errors == [] and page.dialogs == [] and page.calls() == []
        assert page.requests == [(folder / "compare.html").as_uri()]  # offline
        tips = page.page.evaluate(
            "() => { var out = []; window.circlesMap.eachLayer(function (l) {"
            " if (l.getTooltip && l.getTooltip()) out.push(l.getTooltip().getContent()); });"
            " return out; }"
        )
        assert len(tips) == 2 and any("&lt;img src=x" in t for t in tips)
        assert page.page.locator("img[src='x']").count() == 0
        assert page.page.locator("td", has_text=IMG_XSS).count() >= 1  # shown as text
    finally:
        page.close()
