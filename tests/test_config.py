"""Study configs: defaults, thresholds, and one-line errors that name the field."""

from __future__ import annotations

import pytest

from circles._errors import ConfigError
from circles.config import load_study, study_from_dict
from circles.settings import DEFAULT_CONFIG


def test_bundled_study_loads_with_gb50180_thresholds():
    study = load_study()
    assert study.name == "nanjing-xinjiekou"
    assert study.distances_m == [300.0, 500.0, 1000.0]
    assert study.source.osm is not None and study.source.osm.is_file()
    assert DEFAULT_CONFIG.is_file()


def test_minutes_times_speed():
    study = study_from_dict({"thresholds": {"minutes": [15, 5, 10], "speed_kmh": 4.8}})
    # 4.8 km/h = 80 m/min.
    assert study.distances_m == [400.0, 800.0, 1200.0]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"thresholds": {"distances_m": [300, -5]}}, "thresholds"),
        ({"thresholds": {"distances_m": [300], "minutes": [5]}}, "not both"),
        ({"categories": ["pharmacy", "casino"]}, "casino"),
        ({"name": "../escape"}, "name"),
        ({"residences": {"method": "magic"}}, "residences.method"),
        ({"snap": {"max_distance_m": 0}}, "snap.max_distance_m"),
        ({"source": {"osm": "a.osm", "place": "Nanjing"}}, "only one"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_fields_give_one_line_that_names_them(data, words):
    with pytest.raises(ConfigError) as err:
        study_from_dict(data)
    msg = str(err.value)
    assert words in msg
    assert "\n" not in msg


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_study(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line"):
        load_study(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_study(listy)


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['echo hacked']\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_study(evil)


def test_paths_are_relative_to_the_config_file(tmp_path):
    cfg = tmp_path / "sub" / "s.yaml"
    cfg.parent.mkdir()
    cfg.write_text("name: s\nsource: {osm: ../x.osm}\nboundary: b.geojson\n", encoding="utf-8")
    study = load_study(cfg)
    assert study.source.osm == (tmp_path / "x.osm").resolve()
    assert study.boundary == (cfg.parent / "b.geojson").resolve()


def test_study_for_run_lays_options_over_the_config(tmp_path):
    from circles.options import study_for_run

    osm = tmp_path / "My City 2024.osm.pbf"
    study = study_for_run(osm=osm, minutes=[10, 5], speed=4.8, origins="nodes", k_nearest=3)
    assert study.name == "My-City-2024"  # a safe folder name from the file name
    assert study.source.osm == osm.resolve()
    assert study.distances_m == [400.0, 800.0]
    assert (study.reach.origins, study.reach.k_nearest) == ("nodes", 3)
    bundled = study_for_run(standard="none", categories=["pharmacy"])
    assert bundled.name == "nanjing-xinjiekou" and bundled.standard is None
    with pytest.raises(ConfigError, match="only one"):
        study_for_run(osm=osm, place="Nanjing")
    with pytest.raises(ConfigError, match="--pois-crs"):
        study_for_run(pois_crs="gcj02")
