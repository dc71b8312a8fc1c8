"""The `circles` command: a full run, help, and one-line errors with non-zero exits."""

from __future__ import annotations

import json
import sys

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def test_run_bundled_district_writes_every_output(tmp_path):
    out = tmp_path / "nj"
    res = runner.invoke(app, ["run", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("map.html", "clusters.gpkg", "clusters.csv", "summary.json", "report.md"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["study"] == "nanjing-xinjiekou"
    assert "elder_care" in summary["data_gaps"]
    csv = pd.read_csv(out / "clusters.csv", encoding="utf-8-sig")
    assert len(csv) == summary["inputs"]["clusters"]
    assert {"pharmacy_300m", "pharmacy_1000m", "pharmacy_nearest_m"} <= set(csv.columns)
    iso = gpd.read_file(out / "clusters.gpkg", layer="isochrones")
    assert len(iso) == 3 * len(csv)
    # The one-screen summary names the data gap.
    assert "data gap" in res.output and "Pharmacy" in res.output
    # The findings open the summary; the tables follow.
    assert res.output.index("主要发现 Key findings") < res.output.index("Pharmacy")


@pytest.mark.slow
def test_run_with_minutes_and_another_file(tmp_path, shared_osm):
    out = tmp_path / "bj"
    res = runner.invoke(
        app,
        [
            "run",
            "--osm",
            str(shared_osm / "beijing-wudaokou-2026.osm"),
            "--minutes",
            "5,10",
            "--speed",
            "4.8",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["thresholds_m"] == [400.0, 800.0]
    assert summary["study"] == "beijing-wudaokou-2026"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "--osm", "missing.osm.pbf"], "not found"),
        (["run", "--osm", "README.md"], "not an OSM file"),
        (["run", "--thresholds", "300,abc"], "--thresholds"),
        (["run", "--residence-method", "magic"], "residences.method"),
        (["run", "no-such-config.yaml"], "config file not found"),
        (["run", "--osm", "a.osm", "--place", "Nanjing"], "only one"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(tmp_path, args, words):
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert res.exit_code != 0
    assert words in res.output
    assert "Traceback" not in res.output
    assert res.output.strip().count("\n") == 0 or res.output.count("error:") == 1
    assert not (tmp_path / "o").exists()  # no half-written output folder


def test_offline_place_says_so_and_suggests_osm(tmp_path, monkeypatch):
    import osmnx
    import requests

    def offline(*a, **k):
        raise requests.exceptions.ConnectionError("no route to host")

    monkeypatch.setattr(osmnx, "graph_from_place", offline)
    res = runner.invoke(app, ["run", "--place", "Xuanwu, Nanjing", "--out", str(tmp_path / "o")])
    assert res.exit_code != 0
    assert "--osm" in res.output and "Traceback" not in res.output


def test_help_texts():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "run" in res.output
    res = runner.invoke(app, ["run", "--help"])
    assert res.exit_code == 0
    for opt in ("--osm", "--place", "--boundary", "--out", "--thresholds", "--minutes"):
        assert opt in res.output
    res = runner.invoke(app, ["categories"])
    assert res.exit_code == 0 and "pharmacy" in res.output


def test_tables_only_with_cluster_origins_writes_the_tables(tmp_path):
    out = tmp_path / "t"
    res = runner.invoke(app, ["run", "--tables-only", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["reach.parquet", "summary.json"]
    table = pd.read_parquet(out / "reach.parquet")
    # One row per cluster: the 11 polygons (R…) and the building clusters outside them (B…).
    assert table["origin_id"].str.match(r"^[RB]\d{4}$").all()
    assert (table["origin_id"].str[0] == "R").sum() == 11
    assert {"pharmacy_1000m", "pharmacy_nearest_m", "population"} <= set(table.columns)


def test_brackets_in_messages_are_printed_not_taken_as_markup():
    # rich would swallow "[west, south, east, north]" as a style tag.
    res = runner.invoke(app, ["run", "--bbox", "1,2,0,1"])
    assert res.exit_code != 0
    assert "[west, south, east, north]" in " ".join(res.output.split())


def test_version_is_the_installed_one():
    # Issue 18, point 17. The number is the project's, as pyproject.toml states it.
    import tomllib

    from conftest import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0, res.output
    assert res.output == f"circles {project['version']}\n"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["--version"], 0),
        (["run", "--osm", "missing.osm.pbf"], 2),
        (["--bogus"], 2),
    ],
)
def test_installed_command_keeps_the_exit_code(monkeypatch, capsys, argv, code):
    # cli.main ends with os._exit (no interpreter teardown); it must pass the code on.
    import cli

    class Exited(Exception):
        pass

    def fake_exit(c):
        raise Exited(c)

    monkeypatch.setattr(cli.os, "_exit", fake_exit)
    monkeypatch.setattr(sys, "argv", ["circles", *argv])
    with pytest.raises(Exited) as got:
        cli.main()
    assert got.value.args[0] == code
