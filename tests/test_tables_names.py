"""Issue 19, points 1 and 4: name columns under headers circles does not list (医院名称),
a warning for a table with no name at all, unnamed rows not merged at one spot unless they
are the same type, ``--pois-columns`` and old Excel ``.xls`` tables.

The fixture ``tests/data/amap-medical.csv`` is described in ``tests/data/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_tables import INSIDE

from circles import pipeline
from circles._errors import ConfigError, InputError
from circles.config import PoiTable
from circles.options import study_for_run
from circles.sources import tables
from circles.sources.tables import merge_pois, read_pois
from circles.sources.tables.read import POI_ROLES, RawTable, read_raw, resolve_columns

DATA = Path(__file__).resolve().parent / "data"
MEDICAL = DATA / "amap-medical.csv"
NO_NAME = "no name column found"


def _medical(**columns: str) -> PoiTable:
    return PoiTable(file=MEDICAL, crs="gcj02", columns={"type": "医院小类", **columns})


def _resolve(headers: list[str], **mapping: str) -> dict[str, str]:
    raw = RawTable(Path("t.csv"), pd.DataFrame({h: ["x"] for h in headers}), np.array([2]))
    return resolve_columns(raw, dict(mapping), POI_ROLES, "pois[0]")


# ---------------------------------------------------------------------------------------
# Name columns
# ---------------------------------------------------------------------------------------


def test_the_name_column_is_found_by_its_pattern(area, cats):
    got = read_pois(_medical(), "pois[0]", area, cats)
    assert got.cols["name"] == "医院名称"
    assert {"仁爱诊所", "康华诊所", "鼓楼社区卫生服务站", "汉中大药房"} <= set(got.name)
    assert got.raw.notes == []


@pytest.mark.parametrize(
    ("headers", "mapping", "want"),
    [
        (["医院名称", "经度", "纬度"], {}, "医院名称"),
        (["机构名字", "lng", "lat"], {}, "机构名字"),
        (["ID", "Shop_Name", "lng", "lat"], {}, "Shop_Name"),
        (["NAME_CN", "lng", "lat"], {}, "NAME_CN"),
        # Listed headers first, the pattern second.
        (["医院名称", "名称", "lng", "lat"], {}, "名称"),
        (["poi_name", "name", "lng", "lat"], {}, "name"),
        # Administrative areas and types are not the place's name.
        (["cityname", "adname", "店铺名称", "lng", "lat"], {}, "店铺名称"),
        (["城市名称", "类型名称", "lng", "lat"], {}, None),
        # A column that plays another role is not taken.
        (["服务名称", "医院名称", "lng", "lat"], {"category": "服务名称"}, "医院名称"),
        (["医院名称", "lng", "lat"], {"type": "医院名称"}, None),
    ],
)
def test_name_pattern_after_the_listed_headers(headers, mapping, want):
    assert _resolve(headers, **mapping).get("name") == want


def test_a_table_without_names_gets_one_note(tmp_path, area, cats):
    frame = pd.read_csv(MEDICAL, dtype=str, keep_default_na=False)
    path = tmp_path / "unnamed.csv"
    frame.rename(columns={"医院名称": "医院"}).to_csv(path, index=False)
    got = read_pois(PoiTable(file=path, crs="gcj02", columns={"type": "医院小类"}), "p", area, cats)
    assert "name" not in got.cols
    [note] = got.raw.notes
    assert note.startswith("unnamed.csv: " + NO_NAME) and "p.columns.name" in note
    summary = tables.table_summary(got, 0)
    assert summary["notes"] == [note]


# ---------------------------------------------------------------------------------------
# Unnamed rows at one spot
# ---------------------------------------------------------------------------------------


def test_unnamed_rows_merge_only_at_one_spot_with_one_type(area, cats):
    got = read_pois(_medical(), "pois[0]", area, cats)
    m = merge_pois({}, [got])
    # Rows 5 and 6: unnamed 诊所 at one spot, listed twice. Row 7 (门诊部) is another
    # type at that spot, row 8 the same type 9 m away: both kept.
    assert m.duplicates == [1]
    assert [r["row"] for r in got.rejected] == [6]
    clinics = m.row[m.category == "clinic"].tolist()
    assert sorted(clinics) == [3, 4, 5, 7, 8, 9]


def _unnamed(area, rows, file="t.csv"):
    """PoiCandidates of unnamed clinics from (typecode, type, dx m) near INSIDE."""
    x0, y0 = area.to_xy(*INSIDE)
    frame = pd.DataFrame(
        {"name": [""] * len(rows), "typecode": [r[0] for r in rows], "type": [r[1] for r in rows]}
    )
    raw = tables.RawTable(Path(file), frame, np.arange(len(rows)) + 2)
    return tables.PoiCandidates(
        raw=raw,
        cols={"name": "name", "typecode": "typecode", "type": "type"},
        crs="wgs84",
        idx=np.arange(len(rows)),
        category=np.full(len(rows), "clinic", dtype=object),
        name=np.full(len(rows), "", dtype=object),
        x=np.array([x0 + r[2] for r in rows], float),
        y=np.array([y0] * len(rows), float),
    )


def test_unnamed_rows_of_two_tables(area):
    a = _unnamed(area, [("090300", "医疗保健服务;诊所;诊所", 0)], "amap.csv")
    b = _unnamed(
        area,
        [
            ("090300", "医疗保健服务;诊所;诊所", 0.5),  # same spot, same type: merged
            ("090300", "医疗保健服务;诊所;诊所", 10),  # 10 m: kept
            ("090302", "医疗保健服务;诊所;门诊部", 0),  # another type: kept
            ("", "医疗保健服务;诊所;诊所", 0.2),  # the code missing, the type equal: merged
        ],
        "other.csv",
    )
    m = merge_pois({}, [a, b])
    assert m.duplicates == [0, 2]
    assert sorted(r["row"] for r in b.rejected) == [2, 5]


# ---------------------------------------------------------------------------------------
# End to end: the bundled study with a table that has no name column
# ---------------------------------------------------------------------------------------


def test_a_table_without_names_warns_once(tmp_path):
    frame = pd.read_csv(MEDICAL, dtype=str, keep_default_na=False)
    path = tmp_path / "unnamed.csv"
    frame.rename(columns={"医院名称": "医院"}).to_csv(path, index=False)
    study = study_for_run(pois=[path], pois_crs="gcj02", pois_columns="type=医院小类")
    result = pipeline.run(study)
    lines = [w for w in result.summary["warnings"] if NO_NAME in w]
    assert len(lines) == 1 and lines[0].startswith("unnamed.csv: ")
    assert "--pois-columns name=" in lines[0]
    [t] = result.summary["tables"]["pois"]
    assert t["notes"] == lines
    assert t["rows_used"] + t["rows_rejected"] == t["rows_read"] == 8


# ---------------------------------------------------------------------------------------
# --pois-columns
# ---------------------------------------------------------------------------------------


def test_pois_columns_maps_every_table(tmp_path):
    table = tmp_path / "amap.csv"
    study = study_for_run(
        pois=[table, tmp_path / "b.csv"], pois_columns="name=医院名称, lng=经度,lat = 纬度"
    )
    for poi in study.pois:
        assert (poi.columns.name, poi.columns.lng, poi.columns.lat) == ("医院名称", "经度", "纬度")
        assert poi.columns.type is None
    full_width = study_for_run(pois=[table], pois_columns="name=医院名称，type=医院小类")
    assert full_width.pois[0].columns.type == "医院小类"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("nmae=医院名称", "unknown role 'nmae'; roles: name, category"),
        ("name", "'name' is not ROLE=COLUMN"),
        ("name=", "'name=' is not ROLE=COLUMN"),
        ("=经度", "'=经度' is not ROLE=COLUMN"),
    ],
)
def test_pois_columns_errors_are_one_line(tmp_path, text, words):
    with pytest.raises(ConfigError) as e:
        study_for_run(pois=[tmp_path / "a.csv"], pois_columns=text)
    assert words in str(e.value) and "--pois-columns" in str(e.value)
    assert "\n" not in str(e.value)


def test_pois_columns_requires_pois():
    with pytest.raises(ConfigError, match="--pois-columns applies to --pois FILE"):
        study_for_run(pois_columns="name=医院名称")


# ---------------------------------------------------------------------------------------
# Old Excel .xls
# ---------------------------------------------------------------------------------------


def _write_xls(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    """A real BIFF8 workbook, written by xlwt (a dev dependency)."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
    book.save(str(path))


def test_xls_is_read_like_xlsx(tmp_path, area, cats):
    header = ["名称", "类型编码", "经度", "纬度"]
    rows = [
        ["甲药房", "090601", 118.7852, 32.04295],  # the code as text: its zero kept
        ["乙诊所", 90300, 118.7812, 32.03795],  # the code typed as a number
        ["", "", "", ""],  # a blank row: not data
        ["丙幼儿园", "141204", 118.7902, 32.0419],
    ]
    path = tmp_path / "pois.xls"
    _write_xls(path, {"说明": [["exported 2020"]], "pois": [header, *rows]})
    got = read_pois(PoiTable(file=path, crs="gcj02", sheet="pois"), "p", area, cats)
    assert got.raw.frame["类型编码"].tolist() == ["090601", "90300", "141204"]
    assert got.raw.frame["经度"].tolist()[0] == "118.7852"
    assert list(got.raw.rows) == [2, 3, 5]
    assert list(got.category) == ["pharmacy", "clinic", "kindergarten"]
    assert list(got.name) == ["甲药房", "乙诊所", "丙幼儿园"]
    with pytest.raises(InputError, match="no sheet 'x'; sheets: 说明, pois"):
        read_pois(PoiTable(file=path, sheet="x"), "p", area, cats)
    # Without a sheet, the first one (as for .xlsx).
    assert read_raw(path).columns == ["exported 2020"]
