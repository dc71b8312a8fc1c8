"""`circles plan`: the bundled district planned end to end, and bad input refused in one line."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from circles.options import PLAN_OPTIONS, RUN_OPTIONS
from cli import app

runner = CliRunner()


def _refused(args: list[str], tmp_path, needle: str) -> None:
    out = tmp_path / "plan"
    res = runner.invoke(app, ["plan", *args, "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], res.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left either


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--add", "2"], "--item LEVEL:CATEGORY"),
        (["--item", "5min:pharmacy", "--category", "pharmacy", "--distance", "300"], "only one"),
        (["--category", "pharmacy", "--add", "2"], "--distance"),
        (["--category", "pharmacy", "--distance", "300", "--add", "0"], "--add 0"),
        (["--category", "pharmacy", "--distance", "300", "--add", "-3"], "at least 1"),
        (["--category", "pharmacy", "--distance", "300"], "--add N"),
        (["--category", "pharmacy", "--distance", "-5", "--add", "1"], "--distance"),
        (["--item", "5min:pharmacy", "--add", "1", "--objective", "votes"], "--objective"),
        (["--item", "5min:pharmacy", "--add", "1", "--candidates-crs", "gcj02"], "--candidates"),
        (["--item", "nope:pharmacy", "--add", "1"], "nope:pharmacy"),
        (["--item", "5min:pharmacy", "--add", "1", "--standard", "none"], "standard"),
        (["--item", "5min:pharmacy", "--cover-all", "--budget", "5"], "--budget"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, needle):
    work = tmp_path / "w"
    work.mkdir()
    _refused(args, work, needle)


def test_unknown_candidate_crs_is_refused_before_the_run(tmp_path):
    table = tmp_path / "c.csv"
    table.write_text("name,lon,lat\nA,118.78,32.04\n", encoding="utf-8")
    work = tmp_path / "w"
    work.mkdir()
    args = ["--item", "5min:pharmacy", "--add", "1", "--candidates", str(table)]
    _refused([*args, "--candidates-crs", "foo"], work, "--candidates-crs foo")


def test_plan_options_reuse_the_run_options():
    by_name = {o.name: o for o in RUN_OPTIONS}
    names = [o.name for o in PLAN_OPTIONS]
    assert len(names) == len(set(names))
    for option in PLAN_OPTIONS:
        if option.fields:  # a study option is the very entry of circles run
            assert by_name[option.name] is option
    help_text = " ".join(runner.invoke(app, ["plan", "--help"]).output.split())
    for option in PLAN_OPTIONS:
        assert option.first_flag in help_text, option.first_flag


@pytest.mark.slow
def test_plan_bundled_district(tmp_path):
    out = tmp_path / "plan"
    args = ["plan", "--category", "pharmacy", "--distance", "300", "--add", "2"]
    res = runner.invoke(app, [*args, "--out", str(out), "--no-cache"])
    assert res.exit_code == 0, res.output
    for name in ("sites.csv", "sites.geojson", "plan.html", "report.md", "report.html"):
        assert (out / name).is_file(), name
    sites = pd.read_csv(out / "sites.csv", encoding="utf-8-sig")
    assert sites["rank"].tolist() == [1, 2]
    assert (sites["new_residents"] > 0).all()
    assert sites["cum_share"].is_monotonic_increasing
    doc = json.loads((out / "sites.geojson").read_text(encoding="utf-8"))
    assert len(doc["features"]) == 2
    assert "Where to build" in res.output and "Outputs:" in res.output


@pytest.mark.slow
def test_plan_with_units_names_the_proposed_site_in_the_shortfall_list(tmp_path):
    from circles.settings import PROJECT_DIR

    out = tmp_path / "plan"
    units = PROJECT_DIR / "data" / "examples" / "units.geojson"
    args = ["plan", "--item", "5min:pharmacy", "--add", "2", "--units", str(units)]
    res = runner.invoke(app, [*args, "--out", str(out), "--no-cache"])
    assert res.exit_code == 0, res.output
    listed = pd.read_csv(out / "shortfalls.csv", encoding="utf-8-sig", keep_default_na=False)
    sites = pd.read_csv(out / "sites.csv", encoding="utf-8-sig")
    assert len(sites) == 2 and sites["new_residents"].sum() > 0
    # The plan's item is the 5-minute shops (any of grocery, pharmacy ...): its rows whose
    # clusters a new site reaches name it (#1 or #2); other items' rows name none.
    mine = listed[(listed["level"] == "5min") & (listed["item"] == "community_shops")]
    assert mine["proposed_site"].str.match(r"^#[12] ").any()
    assert (listed.loc[~listed.index.isin(mine.index), "proposed_site"] == "").all()


@pytest.mark.slow
def test_plan_item_default_folder_and_data_gap(tmp_path):
    config = tmp_path / "study.yaml"
    from circles.settings import DEFAULT_CONFIG

    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    config.write_text(text, encoding="utf-8")
    osm = DEFAULT_CONFIG.parent.parent / "data" / "nanjing-xinjiekou-2021.osm"
    args = ["plan", str(config), "--osm", str(osm), "--item", "5min:elder_care", "--add", "1"]
    res = runner.invoke(app, [*args, "--set", f"output_dir={tmp_path / 'o'}", "--no-cache"])
    assert res.exit_code == 0, res.output
    folder = tmp_path / "o" / "nanjing-xinjiekou" / "plan-5min-elder_care"
    assert (folder / "plan.html").is_file()
    report = (folder / "report.md").read_text(encoding="utf-8")
    assert "planned as if none existed" in report  # elder care is a data gap in the district


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rows", "extra", "needle"),
    [
        ("name,lon,lat\n", [], "no usable candidate"),
        ("name,lon,lat\nA,0,0\nB,abc,32\n", [], "no usable candidate"),
        ("name,lon,lat,cost\nA,118.7958,32.0400,500\n", ["--budget", "100"], "below every"),
    ],
    ids=["empty", "no-usable-row", "budget-below-every-cost"],
)
def test_bad_candidate_files_are_refused(tmp_path, rows, extra, needle):
    table = tmp_path / "cand.csv"
    table.write_text(rows, encoding="utf-8")
    work = tmp_path / "w"
    work.mkdir()
    args = ["--category", "pharmacy", "--distance", "300", "--candidates", str(table), *extra]
    _refused([*args, *([] if extra else ["--add", "1"]), "--no-cache"], work, needle)
