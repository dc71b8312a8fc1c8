"""Hostile settings (issue 18): odd names, encodings, absurd values, conflicting options and
runs too large for the machine end in one `error:` line and exit code 2, before any work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests_support import BUNDLED, ROOT
from typer.testing import CliRunner

from circles._errors import ConfigError
from circles.config import load_study, study_from_dict
from circles.options import output_folder_for_run, study_for_run
from circles.standards import StandardError, load_standard
from cli import app

runner = CliRunner()


def _refused(args: list[str], *words: str) -> str:
    """Run the command line; it must end in one `error:` line with exit code 2."""
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.output.count("error:") == 1, res.output
    assert "internal error" not in res.output and "Traceback" not in res.output
    line = res.output.strip()
    for word in words:
        assert word in line, (word, line)
    return line


# ---------------------------------------------------------------------------------------
# 3. Folder names from non-ASCII file names
# ---------------------------------------------------------------------------------------


def test_chinese_file_names_give_distinct_readable_folders():
    beijing = study_for_run(osm=Path("北京.osm"))
    shanghai = study_for_run(osm=Path("上海.osm.pbf"))
    assert beijing.name == "北京" and shanghai.name == "上海"
    assert beijing.output_folder != shanghai.output_folder
    assert beijing.output_folder.name == "北京"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("beijing.2021.osm", "beijing.2022.osm"),  # once both "beijing"
        ("???.osm", "!!!.osm"),  # nothing readable: a hash tells them apart
        ("海淀区 五道口.osm", "朝阳区 望京.osm"),
    ],
)
def test_different_file_names_never_share_a_default_folder(a, b):
    assert study_for_run(osm=Path(a)).output_folder != study_for_run(osm=Path(b)).output_folder


def test_odd_names_stay_inside_the_output_folder(tmp_path):
    for osm in ("../x.osm", "../../etc/passwd.osm", "..osm", "a/../../b.osm", "\u202e.osm"):
        study = study_for_run(osm=tmp_path / osm)
        folder = study.output_folder.resolve()
        assert folder.parent == study.output_dir.resolve(), osm
        assert not folder.name.startswith("."), osm
    place = study_for_run(place="../../北京市 海淀区")
    assert place.output_folder.parent == place.output_dir
    assert place.name == "北京市-海淀区"


@pytest.mark.parametrize("name", ["../x", "x/y", "..", "a\\b", "nul", "x.", "北京 东城", ""])
def test_unsafe_study_names_are_refused(name):
    with pytest.raises(ConfigError, match="field 'name'"):
        study_from_dict({"name": name})
    with pytest.raises(ConfigError, match="field 'scenario'"):
        study_from_dict({"scenario": name or "."})


def test_a_config_may_name_its_study_in_chinese(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("name: 南京新街口\nscenario: 新药店\n", encoding="utf-8")
    study = load_study(cfg)
    assert study.output_folder.name == "南京新街口--新药店"
    long = "南" * 40  # 120 bytes in UTF-8: with a scenario, past a folder name's 255 bytes
    with pytest.raises(ConfigError, match="too long"):
        study_from_dict({"name": long})


@pytest.mark.slow
def test_runs_on_beijing_and_shanghai_files_keep_both_results(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for city in ("北京", "上海"):
        shutil.copy(BUNDLED, tmp_path / f"{city}.osm")
        res = runner.invoke(
            app, ["run", "--osm", f"{city}.osm", "--origins", "nodes", "--tables-only"]
        )
        assert res.exit_code == 0, res.output
    for city in ("北京", "上海"):
        summary = json.loads((tmp_path / "outputs" / city / "summary.json").read_text("utf-8"))
        assert summary["study"] == city
    assert not (tmp_path / "outputs" / "study").exists()
    # Another 北京.osm, elsewhere: its default folder holds the first one's results.
    (tmp_path / "b").mkdir()
    other = tmp_path / "b" / "北京.osm"
    shutil.copy(BUNDLED, other)
    with pytest.raises(ConfigError, match="--out"):
        output_folder_for_run(study_for_run(osm=other))
    same = study_for_run(osm=tmp_path / "北京.osm")
    assert output_folder_for_run(same) == same.output_folder  # a rerun replaces its own


def test_a_default_folder_of_another_source_is_not_replaced_silently(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default folders: tmp_path/outputs/<name>
    first = study_for_run(osm=tmp_path / "a" / "北京.osm")
    second = study_for_run(osm=tmp_path / "b" / "北京.osm")
    folder = first.output_folder
    assert folder == second.output_folder == tmp_path / "outputs" / "北京"  # two inputs
    folder.mkdir(parents=True)
    # The settings of summary.json: the study as JSON (circles.summary).
    summary = {"study": first.name, "settings": first.model_dump(mode="json")}
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        output_folder_for_run(second)
    message = str(err.value)
    assert str(tmp_path / "a" / "北京.osm") in message and "--out" in message
    assert "\n" not in message
    assert output_folder_for_run(first) == folder
    assert output_folder_for_run(second, tmp_path / "o") == tmp_path / "o"
    with pytest.raises(ConfigError, match="place '北京'"):
        output_folder_for_run(study_for_run(place="北京"))


# ---------------------------------------------------------------------------------------
# 10. Study and standard files that are not UTF-8
# ---------------------------------------------------------------------------------------

STUDY = "name: 测试\ntitle: 北京五道口\n"
STANDARD = "extends: gb50180-2018\nkey: local\ntitle: {zh: 北京地方标准, en: Beijing local}\n"


def test_gbk_study_is_one_line_saying_save_as_utf8(tmp_path):
    cfg = tmp_path / "gbk.yaml"
    cfg.write_bytes(STUDY.encode("gbk"))
    with pytest.raises(ConfigError) as err:
        load_study(cfg)
    assert "GBK" in str(err.value) and "UTF-8" in str(err.value)
    _refused(["run", str(cfg), "--out", str(tmp_path / "o")], "GBK", "save it as UTF-8")
    assert not (tmp_path / "o").exists()


def test_gbk_standard_is_one_line_not_a_traceback(tmp_path):
    std = tmp_path / "gbk.yaml"
    std.write_bytes(STANDARD.encode("gbk"))
    with pytest.raises(StandardError, match="GBK"):
        load_standard(std)
    _refused(["standards", "show", str(std)], "gbk.yaml", "GBK", "UTF-8")


def test_utf16_without_a_byte_order_mark_is_named(tmp_path):
    std = tmp_path / "u16.yaml"
    std.write_bytes(STANDARD.encode("utf-16-le"))
    _refused(["standards", "show", str(std)], "UTF-16", "save it as UTF-8")
    cfg = tmp_path / "s16.yaml"
    cfg.write_bytes(STUDY.encode("utf-16-be"))
    _refused(["run", str(cfg), "--out", str(tmp_path / "o")], "UTF-16")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-32"])
def test_files_with_a_byte_order_mark_are_read(tmp_path, encoding):
    cfg = tmp_path / "s.yaml"
    cfg.write_bytes(STUDY.encode(encoding))  # Python writes the mark for these three
    assert load_study(cfg).title == "北京五道口"
    std = tmp_path / "std.yaml"
    std.write_bytes(STANDARD.encode(encoding))
    assert load_standard(std).title_zh == "北京地方标准"


# ---------------------------------------------------------------------------------------
# 12. Bounds: values, number of thresholds, problem size
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--thresholds", "nan"], ("--thresholds", "finite")),
        (["--thresholds", "300,inf"], ("--thresholds", "finite")),
        (["--thresholds", "1e999"], ("--thresholds", "finite")),
        (["--thresholds", "-300"], ("--thresholds", "positive")),
        (["--thresholds", "0,300"], ("--thresholds", "positive")),
        (["--minutes", "nan"], ("--minutes", "finite")),
        (["--minutes", "inf"], ("--minutes", "finite")),
        (["--minutes", "-5"], ("--minutes", "positive")),
        (["--minutes", "0"], ("--minutes", "positive")),
        (["--minutes", "600"], ("--minutes", "not a walk")),
        (["--thresholds", "50000"], ("--thresholds", "not a walk")),
        (["--minutes", "5", "--speed", "nan"], ("--speed",)),
        (["--max-snap", "inf"], ("--max-snap", "finite")),
        (["--k-nearest", "0"], ("--k-nearest",)),
        (["--set", "residences.grid_spacing_m=.nan"], ("grid_spacing_m", "finite")),
    ],
)
def test_absurd_values_are_refused_in_one_line(tmp_path, args, words):
    _refused(["run", *args, "--tables-only", "--out", str(tmp_path / "o")], *words)
    assert not (tmp_path / "o").exists()


def test_a_config_with_nan_or_inf_is_refused(tmp_path):
    cfg = tmp_path / "s.yaml"
    for value in (".nan", ".inf", "-.inf"):
        cfg.write_text(f"thresholds: {{distances_m: [300, {value}]}}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="thresholds.distances_m"):
            load_study(cfg)


def test_more_thresholds_than_the_outputs_hold_fail_before_the_work(tmp_path):
    # 100 thresholds once failed after 42 s with FieldError in the GeoPackage.
    many = ",".join(str(100 + 10 * i) for i in range(100))
    _refused(["run", "--thresholds", many, "--out", str(tmp_path / "o")], "at most 12")
    twelve = ",".join(str(100 * i) for i in range(1, 13))
    assert len(study_for_run(thresholds=twelve).distances_m) == 12


def test_the_geopackage_field_limit_is_the_real_one(tmp_path):
    import geopandas as gpd
    import shapely
    from pyogrio.errors import FieldError

    from circles.scope import GPKG_MAX_FIELDS

    def frame(n: int) -> gpd.GeoDataFrame:
        columns = {f"c{i}": np.arange(2) for i in range(n)}
        return gpd.GeoDataFrame(columns, geometry=[shapely.Point(0, 0)] * 2, crs=4326)

    frame(GPKG_MAX_FIELDS).to_file(tmp_path / "ok.gpkg", engine="pyogrio")
    with pytest.raises(FieldError):
        frame(GPKG_MAX_FIELDS + 1).to_file(tmp_path / "too.gpkg", engine="pyogrio")


def test_a_cluster_table_wider_than_a_geopackage_is_refused_up_front(monkeypatch):
    from circles import scope as scope_module
    from circles.scope import Scope

    study = study_for_run(thresholds="300,500,1000", k_nearest=3)
    wide = Scope.of(study).cluster_columns(study)
    # 11 default categories and gb50180-2018's 20 more, 3 thresholds, 3 nearest distances.
    assert wide >= 31 * (3 + 3)
    monkeypatch.setattr(scope_module, "GPKG_MAX_FIELDS", wide - 1)
    with pytest.raises(ConfigError, match="GeoPackage") as err:
        Scope.of(study)
    assert "--tables-only" in str(err.value) and "\n" not in str(err.value)
    Scope.of(study, tables_only=True)  # no GeoPackage: no limit


def _lattice(width_km: float, height_km: float):
    """A street lattice with 100 m blocks, e.g. as large as the bundled district (4.1 x 3.2
    km) or a city."""
    from circles.network import from_arrays

    nx_, ny_ = round(width_km * 10) + 1, round(height_km * 10) + 1
    gx, gy = np.meshgrid(np.arange(nx_) * 100.0, np.arange(ny_) * 100.0)
    ids = np.arange(nx_ * ny_).reshape(ny_, nx_)
    u = np.r_[ids[:, :-1].ravel(), ids[:-1, :].ravel()]
    v = np.r_[ids[:, 1:].ravel(), ids[1:, :].ravel()]
    return from_arrays(gx.ravel() + 500_000.0, gy.ravel() + 3_500_000.0, u, v)


def _district_like_network():
    return _lattice(4.1, 3.2)


@pytest.mark.parametrize(
    ("settings", "km", "points"),
    [
        # 1 m over the district: 4100 x 3200 grid points.
        ({"origins": "grid", "set": ["reach.grid_spacing_m=1"]}, (4.1, 3.2), 4100 * 3200),
        ({"residence_method": "grid", "set": ["residences.grid_spacing_m=1"]}, (4.1, 3.2), 0),
        # 5 m over a 15 x 15 km city: 3000 x 3000 grid points.
        ({"origins": "grid", "set": ["reach.grid_spacing_m=5"]}, (15, 15), 3000 * 3000),
        ({"residence_method": "grid", "set": ["residences.grid_spacing_m=5"]}, (15, 15), 0),
    ],
)
def test_a_fine_grid_is_refused_unless_forced(settings, km, points):
    from circles.scope import Scope, check_size

    network = _lattice(*km)
    given = dict(settings)
    assignments = given.pop("set")
    study = study_for_run(assignments=assignments, **given)
    # Grid origins are a tables-only surface; grid clusters make a full run.
    scope = Scope.of(study, tables_only="origins" in given)
    with pytest.raises(ConfigError) as err:
        check_size(study, scope, network)
    message = str(err.value)
    assert "--force" in message and "GB" in message and "grid_spacing_m" in message
    assert "\n" not in message
    forced = study_for_run(assignments=assignments, force=True, **given)
    size = check_size(forced, scope, network)
    assert size.grid_points >= (points or size.origins) > 1_000_000
    assert size.memory_gb > forced.limits.max_memory_gb


def test_a_5m_grid_over_the_district_alone_is_allowed():
    # Measured on the bundled district: 0.73 GB peak and 17 s (docs/guide/config.md).
    from circles.scope import Scope, check_size

    study = study_for_run(origins="grid", assignments=["reach.grid_spacing_m=5"])
    size = check_size(study, Scope.of(study, tables_only=True), _district_like_network())
    assert 0.73 <= size.memory_gb < study.limits.max_memory_gb


def test_ordinary_runs_pass_the_size_check():
    from circles.scope import Scope, check_size

    network = _district_like_network()
    for study, tables_only in (
        (study_for_run(), False),
        (study_for_run(origins="nodes"), True),
        (study_for_run(origins="grid"), True),  # the default 100 m grid
        (study_for_run(residence_method="grid"), False),  # the default 250 m cells
    ):
        scope = Scope.of(study, tables_only=tables_only)
        size = check_size(study, scope, network)
        assert size.memory_gb < 1
        check_size(study, scope, network, clusters=500)


def test_too_many_walking_areas_are_refused_once_clusters_are_counted():
    from circles.scope import Scope, check_size

    network = _district_like_network()
    # On a machine that has the memory (the limit is a setting), the polygons still count.
    study = study_for_run(assignments=["limits.max_memory_gb=64"])
    scope = Scope.of(study)
    check_size(study, scope, network, clusters=30_000)  # 90,000 walking areas
    with pytest.raises(ConfigError, match="walking areas") as err:
        check_size(study, scope, network, clusters=40_000)
    assert "--tables-only" in str(err.value) and "--force" in str(err.value)
    # Without walking areas the same clusters are measured.
    check_size(study, Scope.of(study, tables_only=True), network, clusters=40_000)


@pytest.mark.slow
def test_a_1m_grid_on_the_bundled_district_is_refused_on_the_command_line(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "o"
    args = ["run", "--origins", "grid", "--set", "reach.grid_spacing_m=1", "--tables-only"]
    # A process of its own with a timeout: were the check missing, the run would fill the
    # memory (13 million grid points) instead of failing.
    res = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args, "--no-cache", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("error:") == 1 and "internal error" not in res.stderr
    for word in ("--force", "GB", "reach.grid_spacing_m 1 m"):
        assert word in res.stderr
    assert not out.exists()


def test_force_is_a_switch_of_the_study():
    assert study_for_run(force=True).limits.force is True
    # Left off, the switch does not undo a config's `force: true`.
    assert study_for_run(assignments=["limits.force=true"], force=False).limits.force is True
    assert "--force" in " ".join(runner.invoke(app, ["run", "--help"]).output.split())


# ---------------------------------------------------------------------------------------
# 15. Conflicting options
# ---------------------------------------------------------------------------------------


def test_thresholds_and_minutes_together_are_refused(tmp_path):
    out = tmp_path / "o"
    _refused(["run", "--thresholds", "300", "--minutes", "5", "--out", str(out)], "--thresholds")
    line = _refused(["run", "--minutes", "5", "--thresholds", "300", "--out", str(out)])
    assert "--minutes" in line and "only one" in line
    assert not out.exists()


def test_speed_without_minutes_is_refused(tmp_path):
    out = tmp_path / "o"
    _refused(["run", "--speed", "5", "--out", str(out)], "--speed", "--minutes")
    _refused(["run", "--thresholds", "300", "--speed", "5", "--out", str(out)], "--speed")
    assert not out.exists()


def test_speed_applies_to_a_configs_minutes(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("thresholds: {minutes: [5, 10]}\n", encoding="utf-8")
    # 4.8 km/h is 80 m a minute.
    assert study_for_run(cfg, speed=4.8).distances_m == [400.0, 800.0]
    # --thresholds replaces a config's minutes; then --speed would be ignored: refused.
    assert study_for_run(cfg, thresholds="300").distances_m == [300.0]
    with pytest.raises(ConfigError, match="--speed"):
        study_for_run(cfg, thresholds="300", speed=4.8)
