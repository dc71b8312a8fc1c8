"""Issue 18, points 7, 8 and 9: POI and 小区 tables written carelessly or on purpose.

- an unquoted comma in a name (the first data row or a later one), a row short of fields,
  a tab-separated file whose header holds commas;
- a CSV pasted together from a UTF-8 and a GBK export (and GBK rows that happen to be
  valid UTF-8, which must not be taken for such a file);
- 小区 households and population beyond any plausible bound, per row and per hectare.

Each bad table ends in one ``error:`` line naming the file and the rows, exit code 2, and
no output folder; or in ``rejected_rows.csv`` with reason ``bad_value``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from typer.testing import CliRunner

from circles._errors import InputError
from circles.config import PoiTable, ResidenceSettings
from circles.sources.coords import wgs84_to_gcj02
from circles.sources.tables import read_pois, read_residences
from circles.sources.tables.read import parse_number, read_raw
from cli import app

UTM50 = pyproj.CRS.from_epsg(32650)
INSIDE = (118.7800, 32.0450)  # inside the table tests' area (conftest.TABLE_BOX)


def _gcj(lon: float, lat: float) -> tuple[float, float]:
    g = wgs84_to_gcj02(lon, lat)
    return round(float(g[0]), 6), round(float(g[1]), 6)


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["run", *args])
    return res.exit_code, res.output


def _one_error_line(output: str) -> str:
    """The run's one ``error:`` line (and no traceback, no internal error)."""
    assert "Traceback" not in output and "internal error" not in output, output
    lines = [line for line in output.splitlines() if "error:" in line]
    assert len(lines) == 1, output
    return lines[0]


# ---------------------------------------------------------------------------------------
# Point 7: a delimiter inside a value, unquoted
# ---------------------------------------------------------------------------------------

HEADER = "名称,类型编码,经度,纬度\n"


def _row(name: str, lon: float = INSIDE[0], lat: float = INSIDE[1]) -> str:
    x, y = _gcj(lon, lat)
    return f"{name},090601,{x},{y}\n"


def test_an_unquoted_comma_in_the_first_row_stops_naming_the_row(tmp_path, area, cats):
    path = tmp_path / "amap.csv"
    # Today pandas takes the extra field for an index and shifts every row: each is then
    # rejected as "no coordinates" without a word about the comma.
    path.write_text(HEADER + _row("益丰大药房,新街口店") + _row("仁和药房") * 3, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_pois(PoiTable(file=path, crs="gcj02"), "pois[0]", area, cats)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: row 2 has 5 fields, more than the header's 4")
    assert "益丰大药房,新街口店" in msg and "double quotes" in msg


def test_a_comma_in_a_later_row_or_a_short_row_names_that_row(tmp_path, area, cats):
    later = tmp_path / "later.csv"
    later.write_text(HEADER + _row("甲药房") * 2 + _row("乙药房,中山路店"), encoding="utf-8")
    with pytest.raises(InputError, match=r"later\.csv: row 4 has 5 fields, more than the"):
        read_pois(PoiTable(file=later, crs="gcj02"), "p", area, cats)
    short = tmp_path / "short.csv"
    short.write_text(HEADER + _row("甲药房") + "丙药房,090601,118.78\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"short\.csv: row 3 has 3 fields, fewer than the"):
        read_pois(PoiTable(file=short, crs="gcj02"), "p", area, cats)


def test_quoted_commas_blank_lines_and_crlf_are_fine(tmp_path, area, cats):
    path = tmp_path / "ok.csv"
    x, y = _gcj(*INSIDE)
    text = f'{HEADER}"益丰大药房,新街口店",090601,{x},{y}\n\n,,,\n仁和药房,090601,{x + 0.001},{y}\n'
    path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    got = read_pois(PoiTable(file=path, crs="gcj02"), "p", area, cats)
    assert got.rows_read == 2 and list(got.raw.rows) == [2, 5]
    assert set(got.name) == {"益丰大药房,新街口店", "仁和药房"}


def test_the_delimiter_is_the_one_the_rows_agree_on(tmp_path, area, cats):
    # Tab-separated, saved as .csv, its header holding more commas than tabs: counting in
    # the header alone took the comma, and one column of garbage.
    path = tmp_path / "tabs.csv"
    x, y = _gcj(*INSIDE)
    lines = ["名称\t地址(省,市,区,街道,门牌)\t类型编码\t经度\t纬度"]
    lines += [f"{n}药房\t中山路{k}号\t090601\t{x + k / 1e4}\t{y}" for k, n in enumerate("甲乙丙")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = read_pois(PoiTable(file=path, crs="gcj02"), "p", area, cats)
    assert got.raw.columns == ["名称", "地址(省,市,区,街道,门牌)", "类型编码", "经度", "纬度"]
    assert sorted(got.name) == ["丙药房", "乙药房", "甲药房"] and not got.rejected


def test_cli_unquoted_comma_is_one_error_line_and_exit_2(tmp_path):
    path = tmp_path / "amap.csv"
    path.write_text(HEADER + _row("益丰大药房,新街口店") + _row("仁和药房"), encoding="utf-8")
    out = tmp_path / "out"
    code, output = _run("--pois", str(path), "--pois-crs", "gcj02", "--out", str(out))
    assert code == 2, output
    line = _one_error_line(output)
    assert "amap.csv: row 2 has 5 fields, more than the header's 4" in line
    assert not out.exists()


# ---------------------------------------------------------------------------------------
# Point 9: UTF-8 and GBK rows in one file
# ---------------------------------------------------------------------------------------


def _mixed(tmp_path, name="mixed.csv"):
    """Header and rows 2 and 4 in UTF-8, rows 3 and 5 in GBK (as bytes)."""
    path = tmp_path / name
    parts = [
        (HEADER, "utf-8"),
        (_row("益丰大药房"), "utf-8"),
        (_row("老百姓大药房"), "gbk"),
        (_row("仁和药房"), "utf-8"),
        (_row("同仁堂药店"), "gbk"),
    ]
    path.write_bytes(b"".join(text.encode(enc) for text, enc in parts))
    return path


def test_mixed_utf8_and_gbk_rows_stop_naming_them(tmp_path, area, cats):
    path = _mixed(tmp_path)
    # Today the file reads as GB18030, its UTF-8 rows (and header) as nonsense.
    with pytest.raises(InputError) as e:
        read_pois(PoiTable(file=path, crs="gcj02"), "p", area, cats)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(
        f"{path}: mixed text encodings: rows 1, 2, 4 are UTF-8 and rows 3, 5 are GBK"
    )
    # A given GBK encoding reads UTF-8 bytes without an error too: the same check.
    with pytest.raises(InputError, match="rows 3, 5 are GBK"):
        read_pois(PoiTable(file=path, crs="gcj02", encoding="gbk"), "p", area, cats)


def test_many_mixed_rows_are_counted(tmp_path):
    path = tmp_path / "many.csv"
    rows = [_row(f"药房{k}").encode("gbk" if k % 3 else "utf-8") for k in range(30)]
    path.write_bytes(HEADER.encode("utf-8") + b"".join(rows))
    with pytest.raises(InputError) as e:
        read_raw(path)
    # Rows k = 0, 3, 6 ... (file rows 2, 5, 8 ...) are UTF-8; the header too.
    assert "rows 1, 2, 5, 8, 11 … (11 in all) are UTF-8" in str(e.value)
    assert "rows 3, 4, 6, 7, 9 … (20 in all) are GBK" in str(e.value)


def test_gbk_rows_that_happen_to_be_valid_utf8_are_gbk(tmp_path, area, cats):
    # 楼 in GBK is C2 A5, which is also UTF-8 (for ¥): a GBK 小区 list with a row "A楼"
    # must not be taken for a mixed file. Nor 洹班啊, whose GBK bytes read as UTF-8 too.
    assert "A楼".encode("gbk").decode("utf-8") == "A¥"
    assert "洹班啊".encode("gbk").decode("utf-8")  # valid UTF-8, rare characters
    path = tmp_path / "gbk.csv"
    names = ["甲药房", "A楼", "洹班啊", "乙药房"]
    path.write_bytes((HEADER + "".join(_row(n) for n in names)).encode("gbk"))
    got = read_pois(PoiTable(file=path, crs="gcj02"), "p", area, cats)
    assert got.raw.encoding == "gb18030"
    assert list(got.raw.texts("名称")) == names


def test_cli_mixed_encodings_is_one_error_line_and_exit_2(tmp_path):
    path = _mixed(tmp_path)
    out = tmp_path / "out"
    code, output = _run("--pois", str(path), "--pois-crs", "gcj02", "--out", str(out))
    assert code == 2, output
    line = _one_error_line(output)
    assert "mixed.csv: mixed text encodings" in line and "rows 3, 5 are GBK" in line
    assert not out.exists()


# ---------------------------------------------------------------------------------------
# Point 8: absurd 小区 values
# ---------------------------------------------------------------------------------------


def test_absurd_households_and_population_are_bad_values(tmp_path, area):
    pts = [_gcj(INSIDE[0] + k * 0.002, INSIDE[1]) for k in range(5)]
    frame = pd.DataFrame(
        {
            "小区名称": ["万亿小区", "十亿人小区", "大小区", "常住小区", "普通小区"],
            "户数": ["1e12", "", "100000", "", "1,850"],
            "人口": ["", "1000000000", "", "300000", ""],
            "经度": [p[0] for p in pts],
            "纬度": [p[1] for p in pts],
        }
    )
    frame.to_csv(tmp_path / "xq.csv", index=False)
    got = read_residences(ResidenceSettings(file=tmp_path / "xq.csv", crs="gcj02"), "r", area, None)
    rejected = {r["name"]: r for r in got.rejected}
    assert set(rejected) == {"万亿小区", "十亿人小区"}
    assert rejected["万亿小区"]["reason"] == "bad_value" and rejected["万亿小区"]["row"] == 2
    assert rejected["万亿小区"]["detail"] == "households '1e12' is beyond 100,000 for one 小区"
    assert rejected["十亿人小区"]["detail"] == (
        "population '1000000000' is beyond 300,000 for one 小区"
    )
    # At the bounds: kept, and weighed as given.
    c = got.clusters.set_index("name")
    assert c.loc["大小区", "population"] == round(100_000 * 2.62)
    assert c.loc["常住小区", "population"] == 300_000
    assert c.loc["普通小区", "population"] == round(1850 * 2.62)


def test_households_per_hectare_of_a_polygon_are_bounded(tmp_path, area):
    import geopandas as gpd

    to_ll = pyproj.Transformer.from_crs(UTM50, "EPSG:4326", always_xy=True)
    x, y = area.to_xy(*INSIDE)

    def hectare(dx: float) -> shapely.Geometry:
        """A 100 m square (1 ha) in GCJ-02, dx metres east of INSIDE."""
        square = shapely.box(x + dx, y, x + dx + 100, y + 100)
        ll = shapely.transform(square, lambda xy: np.column_stack(to_ll.transform(*xy.T)))
        return shapely.transform(ll, lambda xy: np.column_stack(wgs84_to_gcj02(*xy.T)))

    # 2,000 households x 2.62 = 5,240 residents on 1 ha: beyond 5,000 per hectare;
    # 1,900 x 2.62 = 4,978 and a population of 4,900 are within it.
    gpd.GeoDataFrame(
        {"name": ["密小区", "满小区", "人口小区"], "households": [2000, 1900, None],
         "population": [None, None, 4900]},
        geometry=[hectare(0), hectare(300), hectare(600)], crs="EPSG:4326",
    ).to_file(tmp_path / "xq.geojson", driver="GeoJSON")  # fmt: skip
    got = read_residences(ResidenceSettings(file=tmp_path / "xq.geojson", crs="gcj02"), "r",
                          area, None)  # fmt: skip
    assert [r["name"] for r in got.rejected] == ["密小区"]
    r = got.rejected[0]
    assert r["reason"] == "bad_value" and r["row"] == 1
    assert r["detail"] == "5,240 residents on 1.00 ha, more than 5,000 per hectare"
    assert list(got.clusters["name"]) == ["满小区", "人口小区"]


@pytest.mark.slow
def test_cli_absurd_households_land_in_rejected_rows(tmp_path, nanjing_result):
    clusters = nanjing_result.clusters.to_crs("EPSG:4326")
    pts = clusters.geometry.representative_point().iloc[:3]
    g = wgs84_to_gcj02(pts.x.to_numpy(), pts.y.to_numpy())
    frame = pd.DataFrame(
        {"name": ["甲小区", "乙小区", "丙小区"], "lng": g[0], "lat": g[1],
         "households": ["300", "1e12", "500"]}
    )  # fmt: skip
    frame.to_csv(tmp_path / "xq.csv", index=False)
    out = tmp_path / "out"
    code, output = _run("--residences", str(tmp_path / "xq.csv"), "--residences-crs", "gcj02",
                        "--out", str(out))  # fmt: skip
    assert code == 0, output
    rej = pd.read_csv(out / "rejected_rows.csv", encoding="utf-8-sig", dtype=str)
    assert list(rej["name"]) == ["乙小区"] and list(rej["reason"]) == ["bad_value"]
    assert list(rej["row"]) == ["3"] and json.loads(rej["record"][0])["households"] == "1e12"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["inputs"]["population"] == pytest.approx(round(300 * 2.62) + round(500 * 2.62))


# ---------------------------------------------------------------------------------------
# Point 16: the faster paths give what the slow ones gave
# ---------------------------------------------------------------------------------------


def test_numbers_at_once_or_one_by_one(tmp_path):
    plain = ["118.78", " 32.5 ", "", "1e3", "-0.25"]
    assert np.array_equal(
        parse_number(plain), [118.78, 32.5, np.nan, 1000.0, -0.25], equal_nan=True
    )
    messy = [*plain, "1,200", "１２", "32°", "abc"]
    assert np.array_equal(
        parse_number(messy),
        [118.78, 32.5, np.nan, 1000.0, -0.25, 1200.0, 12.0, 32.0, np.nan],
        equal_nan=True,
    )


def test_records_of_rejected_rows_at_once_or_one_by_one(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('a,b\n"=1+1",甲\n2,\n3,丙\n', encoding="utf-8")
    one = read_raw(path)
    many = read_raw(path)
    many.keep_records([0, 2])
    want = [{"a": "=1+1", "b": "甲"}, {"a": "2", "b": ""}, {"a": "3", "b": "丙"}]
    assert [json.loads(one.record(i)) for i in range(3)] == want
    assert [json.loads(many.record(i)) for i in range(3)] == want
