"""Standards as data: the built-in files follow their documents, load, and fail clearly."""

from __future__ import annotations

import re

import pytest
import yaml

from circles.services import load_catalogue
from circles.standards import (
    StandardError,
    builtin_names,
    load_standard,
    standard_from_dict,
)

BUILTIN = ("gb50180-2018", "mofcom-2021", "complete-community-2020")


def _item_numbers(text: str) -> set[int]:
    """Item numbers quoted from a document: '8 养老院；9 老年养护院' -> {8, 9},
    '25–30、32 …' -> {25, ..., 30, 32}."""
    out: set[int] = set()
    for a, b in re.findall(r"(?<![\d.])(\d+)(?:–(\d+))?(?=[\s、；;])", text):
        out.update(range(int(a), int(b or a) + 1))
    return out


def _numbers(level) -> set[int]:
    nums: set[int] = set()
    for r in level.requirements:
        nums |= _item_numbers(r.item)
    for n in level.not_assessed:
        nums |= _item_numbers(n.item)
    return nums


def test_builtin_standards_ship_with_the_package():
    assert set(BUILTIN) <= set(builtin_names())


@pytest.mark.parametrize("name", BUILTIN)
def test_every_category_has_tag_rules_labels_and_codes(name):
    std = load_standard(name)
    catalogue = load_catalogue()
    assert std.category_keys(), name
    for key in std.category_keys():
        cat = std.categories[key]
        assert key in catalogue, key
        assert cat.zh.strip() and cat.en.strip(), key
        assert cat.rules, f"{key} has no OSM tag rules"
        for code in cat.amap:
            assert re.fullmatch(r"\d{6}", code), (key, code)
        if not cat.amap:
            assert cat.amap_note or cat.note, f"{key}: say how to find it in AMap data"


@pytest.mark.parametrize("name", BUILTIN)
def test_every_standard_cites_its_document(name):
    std = load_standard(name)
    src = std.source
    assert src["document"] and src["number"] and 2000 < src["year"] < 2100
    assert src["clauses"], "a reader must be able to check the clauses"
    for lv in std.levels:
        assert lv.required, f"{lv.key} requires nothing"
        for r in lv.requirements:
            assert r.item, f"{lv.key}.{r.key} does not quote the document"
            assert r.clause, f"{lv.key}.{r.key} has no clause"
        for n in lv.not_assessed:
            assert n.reason.strip(), n.item
    assert {i.key for i in std.indicators} == {"complete", "commerce", "elder_care", "kindergarten"}


def test_gb50180_levels_distances_and_scale():
    std = load_standard("gb50180-2018")
    levels = {lv.key: lv for lv in std.levels}
    # GB 50180-2018 table 3.0.4: 800-1000 m, 500 m, 300 m; the block has no distance.
    assert [lv.key for lv in std.levels] == ["15min", "10min", "5min", "block"]
    assert levels["15min"].distance_m == 1000
    assert levels["10min"].distance_m == 500
    assert levels["5min"].distance_m == 300
    assert levels["15min"].population == (50000, 100000)
    assert levels["10min"].population == (15000, 25000)
    assert levels["5min"].population == (5000, 12000)
    assert levels["block"].population == (1000, 3000)
    # Levels do not substitute: each includes the next one down.
    assert std.chain("15min") == ["15min", "10min", "5min", "block"]
    assert std.chain("5min") == ["5min", "block"]


def test_gb50180_items_follow_appendix_b():
    std = load_standard("gb50180-2018")
    lv = {x.key: x for x in std.levels}
    required = {k: {r.key for r in x.required} for k, x in lv.items()}
    optional = {k: {r.key for r in x.optional} for k, x in lv.items()}
    # Table B.0.1, 15-minute column (▲ items)
    assert {
        "middle_school",
        "health_centre",
        "clinic",
        "nursing_home",
        "culture_centre",
        "community_centre",
        "subdistrict_office",
        "mall",
        "food_drink",
        "bank",
        "telecom",
        "post_office",
        "bus_stop",
    } <= required["15min"]
    # Table B.0.1, 10-minute column: 小学 and 菜市场或生鲜超市 are ▲ only here; 初中 is △
    assert {"primary_school", "fresh_market", "mall", "bank", "telecom"} <= required["10min"]
    assert "middle_school" in optional["10min"]
    assert "primary_school" not in required["15min"]
    # Table B.0.2: 幼儿园 ▲, 托儿所 △, 老年人日间照料中心 ▲, 社区卫生服务站 △, 公共厕所 ▲
    assert {"kindergarten", "elder_care", "toilets", "recycling", "community_shops"} <= required[
        "5min"
    ]
    assert {"nursery", "clinic", "bus_stop"} <= optional["5min"]
    # Table B.0.3: 便利店 and 邮件和快递送达设施 ▲
    assert {"convenience", "post_parcel", "playground", "fitness_station"} <= required["block"]
    # Every numbered item of each table is either measured or listed as not assessed.
    assert _numbers(lv["15min"]) | _numbers(lv["10min"]) == set(range(1, 40))
    assert _numbers(lv["5min"]) == set(range(1, 18))
    assert _numbers(lv["block"]) == set(range(1, 10))
    not_assessed = {n.item for x in std.levels for n in x.not_assessed}
    assert any("司法所" in t for t in not_assessed)
    assert any("物业管理与服务" in t for t in not_assessed)
    assert any("开闭所" in t for t in not_assessed)


def test_complete_community_has_6_categories_and_20_items():
    std = load_standard("complete-community-2020")
    (lv,) = std.levels
    assert lv.distance_m == 500 and lv.population == (5000, 12000)
    assert _numbers(lv) == set(range(1, 21))
    groups = {r.group for r in lv.requirements} | {n.group for n in lv.not_assessed}
    assert len(groups) == 6
    measured = {r.key for r in lv.required}
    assert {
        "community_centre",
        "kindergarten",
        "nursery",
        "elder_care",
        "clinic",
        "supermarket",
        "post_parcel",
        "park",
    } <= measured
    assert not lv.optional  # every item of the standard is something a community must have
    # Property management (16, 17) and governance (18-20) cannot be measured.
    not_assessed = set()
    for n in lv.not_assessed:
        not_assessed |= _item_numbers(n.item)
    assert {9, 10, 11, 12, 13, 16, 17, 18, 19, 20} == not_assessed


def test_mofcom_basic_formats_required_quality_optional():
    std = load_standard("mofcom-2021")
    (lv,) = std.levels
    assert lv.distance_m == 1000
    assert {r.key for r in lv.required} == {
        "convenience",
        "supermarket",
        "fresh_market",
        "breakfast",
        "laundry",
        "hairdresser",
        "photo_print",
        "housekeeping",
        "repair",
        "pharmacy",
        "post_parcel",
    }
    assert {"elder_care", "childcare", "food_drink", "sports"} <= {r.key for r in lv.optional}
    childcare = lv.requirement("childcare")
    assert childcare.match == "any" and set(childcare.categories) == {"nursery", "kindergarten"}


# ---------------------------------------------------------------------------------------
# A user's own file
# ---------------------------------------------------------------------------------------


def test_user_file_extends_and_overrides(tmp_path):
    path = tmp_path / "local.yaml"
    path.write_text(
        "extends: gb50180-2018\n"
        "key: nanjing-local\n"
        "levels:\n"
        "  block:\n"
        "    requirements:\n"
        "      convenience: {distance_m: 500}\n"
        "      fitness_station: null\n",
        encoding="utf-8",
    )
    std = load_standard(path)
    base = load_standard("gb50180-2018")
    assert std.key == "nanjing-local"
    block = std.level("block")
    assert block.requirement("convenience").distance_m == 500
    assert block.requirement("post_parcel").distance_m == 300  # the rest is unchanged
    assert "fitness_station" not in {r.key for r in block.requirements}  # null removes
    assert std.level("15min").distance_m == base.level("15min").distance_m
    assert "local variant" in std.title_en and "nanjing-local" in std.title_zh
    assert std.extends == ("built-in standard gb50180-2018",)


def test_user_file_relative_extends_and_own_category(tmp_path):
    (tmp_path / "base.yaml").write_text(
        yaml.safe_dump(
            {
                "key": "mine",
                "title": {"zh": "我的", "en": "Mine"},
                "source": {
                    "document": "local rule",
                    "number": "L-1",
                    "year": 2024,
                    "clauses": ["1"],
                },
                "grades": [{"grade": "A", "min_share": 1.0}, {"grade": "E", "min_share": 0.0}],
                "categories": {
                    "wet_market": {
                        "zh": "菜市场",
                        "en": "Wet market",
                        "rules": [{"amenity": "marketplace"}],
                    }
                },
                "levels": {
                    "walk": {
                        "zh": "步行",
                        "en": "Walk",
                        "distance_m": 400,
                        "requirements": {"wet_market": {"item": "1 菜市场"}},
                    }
                },
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    (tmp_path / "child.yaml").write_text(
        "extends: base.yaml\nkey: child\nlevels: {walk: {distance_m: 600}}\n", encoding="utf-8"
    )
    std = load_standard(tmp_path / "child.yaml")
    assert std.level("walk").requirement("wet_market").distance_m == 600
    assert std.categories["wet_market"].rules == ({"amenity": "marketplace"},)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("levels: [\n", "not valid YAML"),
        ("- just a list\n", "mapping"),
        ("extends: gb50180-2018\nlevels: {block: {distance_m: far}}\n", "levels.block.distance_m"),
        ("extends: gb50180-2018\ncolour: red\n", "colour"),
        (
            "extends: gb50180-2018\nlevels: {block: {requirements: {casino: {}}}}\n",
            "unknown category 'casino'",
        ),
        ("extends: no-such-standard\n", "unknown standard 'no-such-standard'"),
        ("extends: loop.yaml\n", "loops back"),
        (
            "extends: gb50180-2018\nlevels: {block: {includes: [15min]}}\n",
            "loop",
        ),
        (
            "extends: gb50180-2018\nindicators: {commerce: {level: 5min, requirements: [x]}}\n",
            "no requirement 'x'",
        ),
    ],
)
def test_malformed_user_file_is_one_clear_line(tmp_path, text, words):
    path = tmp_path / "loop.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StandardError) as err:
        load_standard(path)
    msg = str(err.value)
    assert words in msg
    assert "\n" not in msg
    if words not in ("unknown standard 'no-such-standard'",):
        assert str(path) in msg  # where


def test_unknown_name_and_missing_file():
    with pytest.raises(StandardError, match="unknown standard 'gb50180'.*gb50180-2018"):
        load_standard("gb50180")
    with pytest.raises(StandardError, match="standard file not found"):
        load_standard("nowhere/mine.yaml")


def test_dict_without_levels_is_rejected():
    with pytest.raises(StandardError, match="levels"):
        standard_from_dict(
            {
                "key": "x",
                "title": {"zh": "x", "en": "x"},
                "source": {"document": "d", "number": "n", "year": 2020},
                "grades": [{"grade": "A", "min_share": 0}],
                "levels": {},
            }
        )


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------


def test_cli_standards_list_and_show():
    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["standards", "list"])
    assert res.exit_code == 0, res.output
    for name in BUILTIN:
        assert name in res.output
    assert "GB 50180-2018" in res.output
    res = runner.invoke(app, ["standards", "show", "gb50180-2018"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for words in (
        "十五分钟生活圈居住区",
        "居住街坊",
        "●",
        "○",
        "not assessed",
        "141204",
        "表B.0.2",
    ):
        assert words in res.output, words
    res = runner.invoke(app, ["standards", "show", "complete-community-2020"])
    assert res.exit_code == 0 and "完整居住社区" in res.output


def test_cli_standards_show_unknown_is_one_line():
    from typer.testing import CliRunner

    from cli import app

    res = CliRunner().invoke(app, ["standards", "show", "gb-1993"])
    assert res.exit_code != 0
    assert "unknown standard 'gb-1993'" in res.output and "Traceback" not in res.output
    assert res.output.count("error:") == 1


def test_cli_categories_lists_the_whole_catalogue():
    from typer.testing import CliRunner

    from cli import app

    res = CliRunner().invoke(app, ["categories"], env={"COLUMNS": "250"})
    assert res.exit_code == 0
    for key in ("pharmacy", "convenience", "bus_stop", "nursing_home"):
        assert key in res.output


def test_study_config_names_a_standard_file_relative_to_itself(tmp_path):
    from circles.config import load_study
    from circles.settings import PROJECT_DIR

    (tmp_path / "rules.yaml").write_text("extends: gb50180-2018\nkey: mine\n", encoding="utf-8")
    osm = PROJECT_DIR / "data" / "nanjing-xinjiekou-2021.osm"
    cfg = tmp_path / "study.yaml"
    cfg.write_text(f"name: t\nsource: {{osm: {osm}}}\nstandard: rules.yaml\n", encoding="utf-8")
    study = load_study(cfg)
    assert study.standard == str(tmp_path / "rules.yaml")
    assert load_standard(study.standard).key == "mine"
    cfg.write_text("name: t\nstandard: gb-2018\n", encoding="utf-8")
    from circles._errors import ConfigError

    with pytest.raises(ConfigError, match="field 'standard': unknown standard 'gb-2018'"):
        load_study(cfg)
