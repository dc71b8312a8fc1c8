"""Self-assessment: the form, filled with openpyxl, read back, scored apart from measured items."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from circles._errors import ConfigError, InputError
from circles.config import study_from_dict
from circles.selfassess import (
    ABOUT_SHEET,
    FORM_SHEET,
    form_items,
    read_form,
    unit_item_score,
    write_form,
)
from circles.standards import load_standard

HOSTILE = '=HYPERLINK("http://evil.example","点我")'
UNITS = ["东湖社区", "西湖社区", HOSTILE]


@pytest.fixture(scope="module")
def standard():
    return load_standard("complete-community-2020")


def _units(names=UNITS):
    return SimpleNamespace(name=np.array(names, dtype=object), level="社区", source="units.geojson")


def _fill(path, rows: dict[int, list], notes: dict[int, str] | None = None, extra=()):
    """Fill rows of the form (row number -> one value per item column), as a community would."""
    book = load_workbook(path)
    ws = book[FORM_SHEET]
    for r, values in rows.items():
        for j, v in enumerate(values, start=2):
            ws.cell(row=r, column=j, value=v)
    for r, text in (notes or {}).items():
        ws.cell(row=r, column=ws.max_column, value=text)
    for row in extra:
        ws.append(row)
    book.save(path)


def test_the_form_has_one_row_per_unit_and_a_validated_column_per_item(tmp_path, standard):
    path = write_form(standard, _units(), tmp_path / "form.xlsx")
    book = load_workbook(path)
    ws = book[FORM_SHEET]
    header = [c.value for c in ws[1]]
    items = [a.item for a in standard.level("community").not_assessed]
    assert len(items) == 10
    assert header == ["单元 unit", *items, "备注 notes"]
    assert [ws.cell(row=r, column=1).value for r in (2, 3, 4)] == [
        "东湖社区",
        "西湖社区",
        "'" + HOSTILE,  # defused: shown as text, never run
    ]
    assert ws.cell(row=4, column=1).data_type != "f"
    [rule] = ws.data_validations.dataValidation
    assert rule.type == "list" and rule.formula1 == '"是,否,部分"'
    assert str(rule.sqref) == "B2:K4"
    about = {r[0]: r[1] for r in book[ABOUT_SHEET].iter_rows(values_only=True)}
    assert about["standard"] == "complete-community-2020" and about["items"] == 10


def test_form_round_trip_and_scores_by_hand(tmp_path, standard):
    path = write_form(standard, _units(), tmp_path / "form.xlsx")
    # 东湖: 6 是, 2 部分, 1 否, 1 blank; 西湖: the other spellings; the hostile unit: all 是.
    _fill(
        path,
        {
            2: ["是", "是", "部分", "是", "否", "是", "部分", "是", None, "是"],
            3: ["yes", "Y", " no ", "n", "Partial", "YES", None, None, None, None],
            4: ["是"] * 10,
        },
        notes={2: "物业服务平台在建"},
    )
    assessment, rejected, notes = read_form(path, standard, UNITS)
    assert rejected == [] and notes == []
    items = [a.item for a in form_items(standard)]
    assert assessment.standard_key == "complete-community-2020" and assessment.source == "form.xlsx"
    assert assessment.answer("东湖社区", items[2]) == "partial"
    assert assessment.answer("东湖社区", items[8]) == ""
    assert [assessment.answer("西湖社区", i) for i in items[:7]] == [
        "yes",
        "yes",
        "no",
        "no",
        "partial",
        "yes",
        "",
    ]
    assert assessment.counts(HOSTILE) == {"yes": 10, "partial": 0, "no": 0}
    assert assessment.notes == {("东湖社区", ""): "物业服务平台在建"}

    # The units table's items, as circles.units makes them: 10 measured (东湖: 7 reached,
    # 1 a data gap, 2 missing; 西湖: 10 reached), the 10 others self-assessed when answered.
    measured = [r.key for r in standard.level("community").requirements]
    rows = []
    for unit, reached, gap in (("东湖社区", 7, 1), ("西湖社区", 10, 0)):
        for k, key in enumerate(measured):
            status = "reached" if k < reached else "gap" if k < reached + gap else "missing"
            rows.append((unit, key, True, "measured", status))
        for item in items:
            answer = assessment.answer(unit, item)
            rows.append((unit, item, True, "self_assessed" if answer else "not_assessed", answer))
    frame = pd.DataFrame(rows, columns=["unit", "item", "required", "how", "status"])
    score = unit_item_score(frame).set_index("unit")
    # 东湖: 7 measured + 6 是 = 13 of 20; 部分 (2) does not count; 1 item not answered.
    assert score.loc["东湖社区"].to_dict() == {
        "items_reached": 13,
        "items_total": 20,
        "measured_reached": 7,
        "measured_gap": 1,
        "measured_total": 10,
        "self_reported_yes": 6,
        "self_reported_partial": 2,
        "self_reported_no": 1,
        "self_reported_total": 9,
        "not_assessed": 1,
    }
    # 西湖: 10 + 3 是 (yes, Y, YES) = 13; 2 否 (no, n), 1 部分; 4 not answered.
    west = score.loc["西湖社区"]
    assert (west.items_reached, west.self_reported_no, west.self_reported_partial) == (13, 2, 1)
    assert west.not_assessed == 4


def test_bad_cells_are_rejected_with_reasons_and_the_rest_is_used(tmp_path, standard):
    path = write_form(standard, _units(), tmp_path / "form.xlsx")
    _fill(path, {2: ["是", "有", "maybe", 1, "否"], 3: ["部分"]})
    assessment, rejected, _ = read_form(path, standard, UNITS)
    items = [a.item for a in form_items(standard)]
    assert [assessment.answer("东湖社区", i) for i in items[:5]] == ["yes", "", "", "", "no"]
    assert assessment.answer("西湖社区", items[0]) == "partial"
    assert [(r["kind"], r["row"], r["reason"], r["name"]) for r in rejected] == [
        ("self_assessment", 2, "bad_value", "东湖社区")
    ] * 3
    details = [r["detail"] for r in rejected]
    assert details[0].startswith(items[1]) and "'有'" in details[0] and "是" in details[0]
    assert "'maybe'" in details[1] and "'1'" in details[2]
    assert json.loads(rejected[0]["record"])["单元 unit"] == "东湖社区"
    assert rejected[0]["file"] == "form.xlsx" and rejected[0]["reason_label"]


def test_units_not_in_the_boundaries_are_reported(tmp_path, standard):
    path = write_form(standard, _units(), tmp_path / "form.xlsx")
    _fill(
        path,
        {2: ["是"]},
        extra=[["北湖社区", "是", "否"], ["东湖社区", "否"], [None, "是"]],
    )
    assessment, rejected, notes = read_form(path, standard, UNITS)
    items = [a.item for a in form_items(standard)]
    assert assessment.answer("东湖社区", items[0]) == "yes"  # its first row counts
    assert not any(u == "北湖社区" for u, _ in assessment.answers)
    assert [(r["row"], r["reason"], r["name"]) for r in rejected] == [
        (5, "no_match", "北湖社区"),
        (6, "duplicate", "东湖社区"),
        (7, "bad_value", ""),
    ]
    assert any("北湖社区" in n and "not in the boundaries" in n for n in notes)
    assert any("answered no item" in n for n in notes)


def test_a_form_for_another_standard_is_refused(tmp_path, standard):
    other = load_standard("gb50180-2018")
    path = write_form(other, _units(), tmp_path / "form.xlsx")
    _fill(path, {2: ["是", "是"]})
    with pytest.raises(InputError, match="made for standard gb50180-2018, not complete-community"):
        read_form(path, standard, UNITS)
    # Without its about sheet the header decides: none of the items are this standard's.
    book = load_workbook(path)
    del book[ABOUT_SHEET]
    book.save(path)
    with pytest.raises(InputError, match="names none of the items of standard complete"):
        read_form(path, standard, UNITS)


def test_an_empty_form_is_refused(tmp_path, standard):
    path = write_form(standard, _units(), tmp_path / "form.xlsx")
    with pytest.raises(InputError, match="no answer for any unit") as e:
        read_form(path, standard, UNITS)
    assert "\n" not in str(e.value)
    _fill(path, {2: ["有", "没有"]})
    with pytest.raises(InputError, match="no usable answer; 2 cells are not 是, 否 or 部分"):
        read_form(path, standard, UNITS)


def test_a_file_that_is_not_a_workbook_is_one_clear_line(tmp_path, standard):
    fake = tmp_path / "form.xlsx"
    fake.write_text("单元,9\n东湖社区,是\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a readable XLSX workbook"):
        read_form(fake, standard, UNITS)
    as_csv = tmp_path / "form.csv"
    as_csv.write_text("单元,9\n东湖社区,是\n", encoding="utf-8")
    with pytest.raises(InputError, match="give the .xlsx"):
        read_form(as_csv, standard, UNITS)
    with pytest.raises(InputError, match="not found"):
        read_form(tmp_path / "missing.xlsx", standard, UNITS)
    with pytest.raises(InputError, match=r"\.xlsx file"):
        write_form(standard, _units(), tmp_path / "form.csv")
    with pytest.raises(InputError, match="no unit"):
        write_form(standard, _units([]), tmp_path / "none.xlsx")


def test_items_listed_at_two_levels_are_asked_once():
    gb = load_standard("gb50180-2018")
    listed = [a.item for lv in gb.levels for a in lv.not_assessed]
    asked = [a.item for a in form_items(gb)]
    assert len(asked) == len(set(listed)) < len(listed)
    assert asked == list(dict.fromkeys(a.strip() for a in listed))


def test_the_study_field_needs_units(tmp_path):
    form = tmp_path / "form.xlsx"
    with pytest.raises(ConfigError, match="answered per unit: give the units"):
        study_from_dict({"self_assessment": str(form)}, base=tmp_path)
    study = study_from_dict(
        {
            "self_assessment": "form.xlsx",
            "units": {"file": "units.geojson"},
            "standard": "complete-community-2020",
        },
        base=tmp_path,
    )
    assert study.self_assessment == form.resolve()


def _units_geojson(path, names):
    features = []
    for k, name in enumerate(names):
        x0, y0 = 118.78 + 0.003 * k, 32.04
        ring = [[x0, y0], [x0 + 0.002, y0], [x0 + 0.002, y0 + 0.002], [x0, y0 + 0.002], [x0, y0]]
        features.append(
            {
                "type": "Feature",
                "properties": {"name": name},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def test_cli_writes_the_form_and_keeps_an_existing_one(tmp_path, standard):
    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()
    units = _units_geojson(tmp_path / "units.geojson", ["东湖社区", "西湖社区"])
    form = tmp_path / "form.xlsx"
    args = ["standards", "form", "complete-community-2020", "--units", str(units)]
    res = runner.invoke(app, [*args, "--out", str(form)])
    assert res.exit_code == 0, res.output
    assert "2 units × 10 items" in " ".join(res.output.split())
    ws = load_workbook(form)[FORM_SHEET]
    assert [ws.cell(row=r, column=1).value for r in (2, 3)] == ["东湖社区", "西湖社区"]
    before = form.read_bytes()
    # A second run would overwrite answers: refused in one line, the form untouched.
    res = runner.invoke(app, [*args, "--out", str(form)])
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert res.exit_code == 2 and len(errors) == 1 and "exists" in errors[0], res.output
    assert form.read_bytes() == before
    res = runner.invoke(
        app, ["standards", "form", "complete-community-2020", "--units", "osm:admin_level=8"]
    )
    assert res.exit_code == 2 and "--osm" in res.output, res.output
    missing = tmp_path / "no" / "form.xlsx"
    res = runner.invoke(app, [*args, "--out", str(missing)])
    assert res.exit_code == 2 and "cannot write the form" in res.output, res.output
    assert not missing.parent.exists()


def test_the_run_option_sets_the_field(tmp_path):
    from circles.options import study_for_run

    units = _units_geojson(tmp_path / "units.geojson", ["东湖社区"])
    study = study_for_run(
        self_assessment=tmp_path / "form.xlsx",
        units=str(units),
        standard="complete-community-2020",
    )
    assert study.self_assessment == (tmp_path / "form.xlsx").resolve()
