"""The option table of `circles run`: each option declared once, applied by its field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from circles._errors import ConfigError
from circles.config import Study
from circles.options import RUN_OPTIONS, parse_assignment, study_for_run
from cli import app

runner = CliRunner()


def _field_exists(dotted: str) -> bool:
    model: type = Study
    for part in dotted.split("."):
        part = part.removesuffix("[]")
        info = model.model_fields.get(part)  # type: ignore[attr-defined]
        if info is None:
            return False
        annotation = info.annotation
        inner = [a for a in getattr(annotation, "__args__", (annotation,)) if a is not type(None)]
        model = inner[0] if inner else annotation
        if getattr(model, "__origin__", None) is list:
            model = model.__args__[0]
    return True


def test_every_option_names_a_real_field_and_appears_once_on_the_command_line():
    for option in RUN_OPTIONS:
        for dotted in (*option.fields, *option.clears):
            assert _field_exists(dotted), (option.name, dotted)
    names = [o.name for o in RUN_OPTIONS]
    assert len(names) == len(set(names))
    help_text = " ".join(runner.invoke(app, ["run", "--help"]).output.split())
    for option in RUN_OPTIONS:
        assert option.first_flag in help_text, option.first_flag


def test_options_set_their_fields_and_clear_the_exclusive_ones(tmp_path):
    table = tmp_path / "amap.csv"
    study = study_for_run(
        thresholds="300, 600",
        max_snap=120,
        pois=[table],
        pois_crs="gcj02",
        encoding="gbk",
        self_contained=True,
    )
    assert study.thresholds.distances_m == [300.0, 600.0] and study.thresholds.minutes is None
    assert study.snap.max_distance_m == 120
    [poi] = study.pois
    assert (poi.file, poi.crs, poi.encoding) == (table.resolve(), "gcj02", "gbk")
    # --encoding applies to the tables of the same command: no 小区 table was given.
    assert study.residences.file is None and study.residences.encoding is None
    assert study.map.self_contained is True
    # --minutes replaces the config's distances (and --thresholds a config's minutes).
    minutes = study_for_run(minutes="5,10")
    assert minutes.thresholds.distances_m is None and minutes.distances_m == [333.3, 666.7]


def test_set_reaches_any_field_and_is_validated():
    study = study_for_run(
        assignments=[
            "reach.decay={kind: linear, max_m: 800}",
            "residences.persons_per_dwelling=2.8",
            "isochrones.buffer_m=30",
            "title=南京 测试",
        ]
    )
    assert study.reach.decay is not None and study.reach.decay.kind == "linear"
    assert study.reach.decay.max_m == 800
    assert study.residences.persons_per_dwelling == 2.8
    assert study.isochrones.buffer_m == 30
    assert study.title == "南京 测试"
    with pytest.raises(ConfigError, match=r"snap\.max_distance_m"):
        study_for_run(assignments=["snap.max_distance_m=-5"])
    with pytest.raises(ConfigError, match=r"snap\.wrong"):
        study_for_run(assignments=["snap.wrong=1"])
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        study_for_run(assignments=["snap.max_distance_m"])


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("a.b=1", "a.b", 1),
        ("a=[5, 10]", "a", [5, 10]),
        ("a=null", "a", None),
        ("a=", "a", None),
        ("a=x=y", "a", "x=y"),
    ],
)
def test_assignments_read_values_as_yaml(text, field, value):
    assert parse_assignment(text) == (field, value)


def test_an_assignment_cannot_run_yaml_tags():
    with pytest.raises(ConfigError):
        parse_assignment("title=!!python/object/apply:os.system ['echo hacked']")


def test_default_output_folder_comes_from_the_study(tmp_path):
    study = study_for_run(osm=Path("Some Town.osm.pbf"))
    assert study.name == "Some-Town"
    assert study.output_folder == study.output_dir / "Some-Town"


def test_set_on_the_command_line(tmp_path):
    out = tmp_path / "o"
    res = runner.invoke(
        app,
        ["run", "--tables-only", "--set", "snap.max_distance_m=5", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["settings"]["snap"]["max_distance_m"] == 5
    assert summary["snap"]["services_unsnapped"] > 0
    bad = runner.invoke(app, ["run", "--set", "snap.max_distance_m=far", "--out", str(out)])
    assert bad.exit_code == 2 and bad.output.count("error:") == 1
    assert "snap.max_distance_m" in bad.output and "Traceback" not in bad.output
