"""Reading a user's table: every cell as text, and which column plays which role.

A table is CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 or UTF-16; detected), XLSX, old Excel
XLS, GeoJSON, GeoPackage or Shapefile. A wrong column mapping is not a row problem: it fails
at once, with the columns found. So do a CSV row whose number of fields is not the
header's (an unquoted comma in a name would shift its columns) and a CSV whose lines mix
UTF-8 and GBK (one of them would read as nonsense), each naming the rows.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import json
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from circles._errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from circles.config import PoiTable, ResidenceSettings

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
XLS_SUFFIXES = (".xls",)
GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
#: Tried in this order when no encoding is given; GB18030 (a superset of GBK and GB2312)
#: comes after them, once the file is checked not to mix them (:func:`check_one_encoding`).
ENCODINGS = ("utf-8-sig",)
#: Codecs that read UTF-8 bytes without an error, as nonsense.
GB_CODECS = frozenset({"gbk", "gb18030", "gb2312"})

# Roles of a table's columns and the header names looked up when a role is not mapped
# (compared case-insensitively, spaces ignored). AMap's exports use name, type, typecode
# and location ("lng,lat"); Baidu's name, tag (or type), lng and lat.
POI_ROLES: dict[str, tuple[str, ...]] = {
    "name": ("name", "名称", "poi名称", "名字", "title"),
    "category": ("category", "circles_category"),
    "typecode": ("typecode", "type_code", "typecodes", "类型编码", "分类编码", "分类代码"),
    "type": ("type", "类型", "分类", "类别", "tag", "标签", "行业分类", "poi类型"),
    "location": ("location", "坐标", "经纬度", "lnglat", "lonlat"),
    "lng": ("lng", "lon", "longitude", "long", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "id": ("id", "poi_id", "poiid", "uid", "编号"),
    "wkt": ("wkt", "geometry", "geom", "the_geom"),
}
# A name column under a header not listed above (医院名称, 机构名字, shop_name, NAME_CN) is
# found by its pattern, after every role's listed headers: a header ending in 名称 or 名字,
# or containing "name". Headers of an administrative area, a type or a road are not the
# place's name (AMap's pname, cityname, adname; 城市名称, 类型名称).
NAME_PATTERN = re.compile(r".*(名称|名字)$|.*name.*")
NOT_NAMES = re.compile(
    r"^(p|pro|province|city|ad|district|county|town|street|road|type|typecode|biz|business"
    r"|brand|file|sheet|layer|user|省|省份|市|城市|区|区县|县|行政区|街道|乡镇|道路|路|商圈"
    r"|类型|分类|类别|大类|中类|小类|行业|品牌|文件|图层)[_\-]?(名称|名字|name)$"
)
RESIDENCE_ROLES: dict[str, tuple[str, ...]] = {
    "name": ("name", "名称", "小区名称", "小区名", "小区", "楼盘名称", "title"),
    "households": ("households", "户数", "总户数", "住户数", "房屋总数", "总套数"),
    "population": ("population", "人口", "人数", "常住人口", "居住人口", "人口数"),
    "location": POI_ROLES["location"],
    "lng": POI_ROLES["lng"],
    "lat": POI_ROLES["lat"],
    "id": POI_ROLES["id"],
    "wkt": POI_ROLES["wkt"],
}


@dataclass
class RawTable:
    """A table as read: every column as text; geometries for geographic files.

    Parameters
    ----------
    path : Path
        The file read.
    frame : pandas.DataFrame
        Every column as text, ``''`` when empty; blank rows of a CSV or XLSX dropped.
    rows : numpy.ndarray
        The row number a user sees: the spreadsheet row (the header is row 1), or the
        feature number of a geographic file.
    geometry : numpy.ndarray, optional
        Shapely geometries (GeoJSON, GeoPackage, Shapefile).
    file_crs : str, optional
        A geographic file's own CRS.
    encoding : str, optional
        The encoding that read a CSV file.
    notes : list of str
        Warnings about the table as a whole (no name column), for the run's summary.
    """

    path: Path
    frame: pd.DataFrame
    rows: np.ndarray  # the row number a user sees: spreadsheet row (header = 1), feature no.
    geometry: np.ndarray | None = None  # shapely geometries (GeoJSON, GeoPackage, Shapefile)
    file_crs: str | None = None
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)  # warnings for the summary, once each

    @property
    def columns(self) -> list[str]:
        """The column names as text."""
        return [str(c) for c in self.frame.columns]

    def texts(self, column: str) -> np.ndarray:
        """The text of every cell of a column (converted once, then kept).

        Parameters
        ----------
        column : str
            A column of ``frame``.

        Returns
        -------
        numpy.ndarray
            Object array of str, one per row.
        """
        cache = self.__dict__.setdefault("_columns", {})
        if column not in cache:
            cache[column] = self.frame[column].astype(str).to_numpy(object)
        return cache[column]

    def record(self, i: int) -> str:
        """Row ``i`` as it was, as JSON (for rejected_rows.csv).

        Parameters
        ----------
        i : int
            Index of the row in ``frame``.

        Returns
        -------
        str
            A JSON object of column name to cell text, Chinese kept readable.
        """
        records = self.__dict__.setdefault("_records", {})
        if i in records:
            return records[i]
        # One row read from the frame: every cell of a 200,000-row table as a Python
        # string, for the rows rejected, took hundreds of MB (see keep_records).
        if "_record_columns" not in self.__dict__:
            self._record_columns = [(str(c), self.frame[c].array) for c in self.frame.columns]
        return json.dumps(
            {c: str(cells[i]) for c, cells in self._record_columns}, ensure_ascii=False
        )

    def keep_records(self, rows: Sequence[int] | np.ndarray) -> None:
        """Make the records of many rows at once, for :meth:`record` (faster than one by one).

        Parameters
        ----------
        rows : sequence of int
            Indexes of rows in ``frame``.
        """
        idx = np.asarray(rows, dtype=np.int64)
        if not len(idx):
            return
        part = self.frame.take(idx)
        columns = [(str(c), part[c].astype(str).to_numpy(object)) for c in part.columns]
        records = self.__dict__.setdefault("_records", {})
        for j, i in enumerate(idx.tolist()):
            records[i] = json.dumps({c: cells[j] for c, cells in columns}, ensure_ascii=False)

    def cell(self, column: str, i: int) -> str:
        """The text of one cell (columns are converted once).

        Parameters
        ----------
        column : str
            A column of ``frame``.
        i : int
            Index of the row in ``frame``.

        Returns
        -------
        str
            The cell's text.
        """
        return str(self.texts(column)[i])


def decode(data: bytes, encoding: str | None, path: Path) -> tuple[str, str]:
    """The text of a CSV file and the encoding that read it.

    With no encoding given: a UTF-16 byte-order mark, else UTF-8 (with or without BOM),
    else GB18030 (which reads GBK and GB2312 too).

    Parameters
    ----------
    data : bytes
        The file's bytes.
    encoding : str or None
        The encoding the user gave, or None to detect it.
    path : Path
        The file, named in errors.

    Returns
    -------
    tuple of (str, str)
        The text and the encoding that read it (``utf-8`` when there was no BOM).

    Raises
    ------
    InputError
        An unknown encoding, bytes that the given or detected encodings cannot read, or
        a file read as GBK whose lines are UTF-8 and GBK (:func:`check_one_encoding`).
    """
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise InputError(f"{path}: unknown encoding '{encoding}' (e.g. utf-8, gbk)") from None
        if codec in GB_CODECS:  # GBK reads most UTF-8 bytes too, as nonsense
            check_one_encoding(data, path)
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as e:
            raise InputError(
                f"{path}: cannot be read as {encoding} (byte {e.start}); "
                "leave the encoding out to detect it, or give the right one"
            ) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    for enc in ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc == "utf-8-sig" and not data.startswith(codecs.BOM_UTF8):
            enc = "utf-8"
        return text, enc
    check_one_encoding(data, path)
    body = data.removeprefix(codecs.BOM_UTF8)  # a BOM over GBK rows is no text
    try:
        return body.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        pass
    raise InputError(
        f"{path}: not UTF-8 nor GBK/GB18030 text; save it as UTF-8 CSV or give its encoding"
    )


@functools.cache
def _level1_hanzi() -> frozenset[str]:
    """The 3,755 commonest Chinese characters (GB 2312 level 1, bytes B0A1 to D7F9)."""
    pairs = bytes(b for hi in range(0xB0, 0xD8) for lo in range(0xA1, 0xFF) for b in (hi, lo))
    return frozenset(pairs.decode("gb2312", errors="ignore"))


def _common_share(text: str, common: frozenset[str]) -> float:
    """The share of the non-ASCII characters of a text that are common Chinese ones."""
    wide = [c for c in text if ord(c) > 127]
    return sum(c in common for c in wide) / len(wide) if wide else 0.0


def check_one_encoding(data: bytes, path: Path) -> None:
    """Fail when a file read as GBK has lines in UTF-8 as well (or the other way round).

    GBK/GB18030 reads almost any bytes, so a table pasted together from a UTF-8 and a GBK
    export reads without an error, its UTF-8 rows as nonsense (then rejected as of no
    category, or worse). A line counts as UTF-8 when it is valid UTF-8 and reads as
    commoner Chinese that way than as GB18030 (the commonest 3,755 characters, GB 2312
    level 1: a GBK line that happens to be valid UTF-8 reads as rare characters); a line
    that is not valid UTF-8 counts as GBK. ASCII lines count as either.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    path : Path
        The file, named in errors.

    Raises
    ------
    InputError
        Lines of both kinds: the message names the first rows of each (the header is
        row 1) and how many there are.
    """
    common: frozenset[str] | None = None
    utf8: list[int] = []
    gbk: list[int] = []
    for row, line in enumerate(data.removeprefix(codecs.BOM_UTF8).split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            as_utf8 = line.decode("utf-8")
        except UnicodeDecodeError:
            gbk.append(row)
            continue
        common = common or _level1_hanzi()
        as_gbk = line.decode("gb18030", errors="replace")
        if _common_share(as_utf8, common) > _common_share(as_gbk, common):
            utf8.append(row)
        else:
            gbk.append(row)
    if utf8 and gbk:
        raise InputError(
            f"{path}: mixed text encodings: {_rows_text(utf8)} UTF-8 and {_rows_text(gbk)} "
            "GBK, so some would read as nonsense; save the whole table in one encoding "
            "(re-export it, or retype those rows) and run again"
        )


def _rows_text(rows: list[int], shown: int = 5) -> str:
    """'row 3 is', 'rows 2, 4 are' or 'rows 2, 4, 6, 8, 10 … (120 in all) are'."""
    if len(rows) == 1:
        return f"row {rows[0]} is"
    listed = ", ".join(map(str, rows[:shown]))
    more = f" … ({len(rows)} in all)" if len(rows) > shown else ""
    return f"rows {listed}{more} are"


DELIMITERS = (",", "\t", ";", "|")
_LINE_END = re.compile(r"\r\n?|\n")  # as pandas ends lines; not str.splitlines's others
SNIFF_LINES = 50  # lines of a CSV that choose its delimiter


def _delimiter(text: str, path: Path) -> str:
    """The CSV delimiter: a tab for .tsv; else the one of , tab ; | that splits the header
    into most rows' number of fields.

    Counting in the header alone goes wrong when a row holds the delimiter unquoted, and
    the first data row alone when that row does; the sample's rows outvote both.
    """
    if path.suffix.lower() == ".tsv":
        return "\t"
    sample = _LINE_END.split(text[: 1 << 16])[:SNIFF_LINES]
    best, best_score = ",", (-1, 0)
    for d in DELIMITERS:
        try:
            records = [r for r in csv.reader(sample, delimiter=d) if r]
        except csv.Error:  # told by _check_fields, for the delimiter chosen
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        score = (sum(len(r) == width for r in records[1:]), width)
        if score > best_score:
            best, best_score = d, score
    return best


def _check_fields(text: str, sep: str, path: Path) -> None:
    """Fail at the first row whose number of fields is not the header's.

    A name with an unquoted comma splits into two fields and shifts the rest of its row:
    in the first data row pandas would even take the header's first column for an index
    and shift every row. Blank lines are not rows with too few fields.
    """
    limit = csv.field_size_limit(sys.maxsize)  # a WKT cell may be long
    try:
        rows = csv.reader(_LINE_END.split(text), delimiter=sep)
        header = next(rows, [])
        bad = next(
            (
                (row_no, fields)
                for row_no, fields in enumerate(rows, start=2)
                if len(fields) != len(header) and any(f.strip() for f in fields)
            ),
            None,
        )
    except csv.Error as e:
        raise InputError(f"{path}: not a readable CSV table ({e})") from None
    finally:
        csv.field_size_limit(limit)
    if bad is not None:
        row_no, fields = bad
        what = "more" if len(fields) > len(header) else "fewer"
        raise InputError(
            f"{path}: row {row_no} has {len(fields)} fields, {what} than the header's "
            f"{len(header)} ({_shorten(sep.join(fields))}); a value holding the delimiter "
            f"{_delimiter_name(sep)} must be in double quotes: fix the row, or save the table "
            "from a spreadsheet, and run again"
        )


def _delimiter_name(sep: str) -> str:
    """A delimiter as words: 'a comma (,)'."""
    names = {",": "a comma", "\t": "a tab", ";": "a semicolon", "|": "a bar"}
    return f"{names.get(sep, repr(sep))}" + (f" ({sep})" if sep != "\t" else "")


def _shorten(text: str, width: int = 60) -> str:
    """The start of a row, on one line, for an error message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def read_raw(path: Path, encoding: str | None = None, sheet: str | None = None) -> RawTable:
    """Read a table file; every cell as text ('' when empty).

    Parameters
    ----------
    path : Path
        A CSV (.csv, .txt, .tsv), XLSX (.xlsx, .xlsm), XLS (old Excel), GeoJSON,
        GeoPackage or Shapefile.
    encoding : str, optional
        The encoding of a CSV file (detected when None) or of a Shapefile's attributes.
    sheet : str, optional
        The sheet of a workbook; the first when None.

    Returns
    -------
    RawTable
        The table, without the blank rows of a CSV or workbook.

    Raises
    ------
    InputError
        A missing file, an unknown format, or a file that cannot be read (in one line).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"table not found: {path}")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        data = path.read_bytes()
        text, used = decode(data, encoding, path)
        sep = _delimiter(text, path)
        _check_fields(text, sep, path)
        del text  # pandas reads the bytes: a text buffer of a large table takes 4 bytes a letter
        try:
            frame = pd.read_csv(
                io.BytesIO(data.removeprefix(codecs.BOM_UTF8) if used == "gb18030" else data),
                encoding=used,
                sep=sep,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                index_col=False,
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else "empty file"
            raise InputError(f"{path}: not a readable CSV table ({msg})") from None
        rows = np.arange(len(frame)) + 2  # the header is row 1
        return _drop_empty(RawTable(path, frame, rows, encoding=used))
    if suffix in XLSX_SUFFIXES:
        return _drop_empty(_read_xlsx(path, sheet))
    if suffix in XLS_SUFFIXES:
        return _drop_empty(_read_xls(path, sheet))
    if suffix in GEO_SUFFIXES:
        import geopandas as gpd

        kwargs = {"encoding": encoding} if encoding else {}
        try:
            gdf = gpd.read_file(path, **kwargs)
        except Exception as e:  # pyogrio raises several kinds; all mean the same to a user
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"{path}: cannot read it as a geographic file ({first})") from None
        geometry = gdf.geometry.to_numpy()
        file_crs = gdf.crs.to_string() if gdf.crs is not None else None
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        frame = frame.apply(lambda col: col.map(_cell_text)) if len(frame.columns) else frame
        rows = np.arange(len(frame)) + 1  # feature number
        return RawTable(path, frame, rows, geometry, file_crs, encoding)
    raise InputError(
        f"{path}: unknown table format '{suffix}'; give CSV, XLSX, XLS, GeoJSON, GeoPackage or "
        "Shapefile"
    )


def _read_xlsx(path: Path, sheet: str | None) -> RawTable:
    """A sheet of an XLSX workbook (openpyxl through pandas), every cell as text."""
    import pandas as pd

    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise InputError(
            f"{path}: reading XLSX needs openpyxl (pip install openpyxl), or save as CSV"
        ) from None
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as e:  # zip and XML errors of a damaged file
        raise InputError(f"{path}: not a readable XLSX workbook ({type(e).__name__})") from None
    _check_sheet(path, sheet, book.sheet_names)
    # dtype=str: text cells as written (AMap's 090601 keeps its zero), a whole number
    # (90601 typed as a number) without '.0'.
    frame = pd.read_excel(
        book, sheet_name=sheet if sheet is not None else 0, dtype=str, keep_default_na=False
    )
    frame = frame.fillna("")
    rows = np.arange(len(frame)) + 2  # the header is row 1
    return RawTable(path, frame, rows)


def _check_sheet(path: Path, sheet: str | None, names: Sequence[str]) -> None:
    """Fail unless the workbook has the sheet asked for (None: the first)."""
    if sheet is not None and sheet not in names:
        raise InputError(f"{path}: no sheet '{sheet}'; sheets: {', '.join(names)}")


def _read_xls(path: Path, sheet: str | None) -> RawTable:
    """A sheet of an old Excel (BIFF) workbook, read by xlrd, every cell as text like XLSX.

    xlrd is used directly rather than through pandas, whose xlrd engine is deprecated.
    Text cells stay as written (``090601`` keeps its zero); numbers are written without a
    trailing ``.0`` when whole (:func:`_cell_text`), as pandas reads an XLSX.
    """
    import pandas as pd

    try:
        import xlrd
    except ImportError:
        raise InputError(
            f"{path}: reading XLS needs xlrd (pip install xlrd), or save as XLSX or CSV"
        ) from None
    try:
        book = xlrd.open_workbook(str(path), on_demand=True)
    except Exception as e:  # BIFF and OLE errors of a damaged file, or not a workbook
        raise InputError(f"{path}: not a readable XLS workbook ({type(e).__name__})") from None
    try:
        _check_sheet(path, sheet, book.sheet_names())
        ws = book.sheet_by_name(sheet) if sheet is not None else book.sheet_by_index(0)
        cells = [[_xls_text(c, book.datemode) for c in ws.row(r)] for r in range(ws.nrows)]
    finally:
        book.release_resources()
    header = _unique_headers(cells[0] if cells else [])
    frame = pd.DataFrame(cells[1:], columns=header, dtype=object)
    rows = np.arange(len(frame)) + 2  # the header is row 1
    return RawTable(path, frame, rows)


def _xls_text(cell: Any, datemode: int) -> str:
    """One xlrd cell as text: numbers as :func:`_cell_text`, dates in ISO form."""
    import xlrd

    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return ""
    if cell.ctype == xlrd.XL_CELL_NUMBER:
        return _cell_text(float(cell.value))
    if cell.ctype == xlrd.XL_CELL_DATE:
        with contextlib.suppress(Exception):
            return str(xlrd.xldate_as_datetime(cell.value, datemode))
        return _cell_text(float(cell.value))
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return str(bool(cell.value))
    return str(cell.value)


def _unique_headers(header: list[str]) -> list[str]:
    """Header cells as pandas names them: ``Unnamed: 2`` when empty, ``a.1`` when repeated."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        name = h.strip() or f"Unnamed: {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        out.append(name)
    return out


def _cell_text(v: Any) -> str:
    """An attribute of a geographic file as text: whole floats without '.0', None as ''."""
    if v is None:
        return ""
    if isinstance(v, float):
        if np.isnan(v):
            return ""
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


def _drop_empty(raw: RawTable) -> RawTable:
    """Rows with every cell empty (blank lines) are not data; every cell becomes text."""
    import pandas as pd

    frame = raw.frame
    if frame.isna().to_numpy().any() or not all(
        isinstance(t, pd.StringDtype) for t in frame.dtypes
    ):
        frame = frame.fillna("").astype(str)
    # Column by column: a stripped copy of a whole large table doubled its memory.
    keep = np.zeros(len(frame), dtype=bool)
    for c in frame.columns:
        keep |= (frame[c].str.strip() != "").to_numpy(bool)
    if not keep.all():
        frame = frame[keep]
        raw.rows = raw.rows[keep]
    raw.frame = frame.reset_index(drop=True)
    return raw


def normalize_header(text: str) -> str:
    """A header or label for comparison: NFKC, no white space, lower case.

    Parameters
    ----------
    text : str
        A column header or a category label.

    Returns
    -------
    str
        ``'Poi 名称'`` gives ``'poi名称'``; full-width letters become half-width.
    """
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


def columns_found(raw: RawTable) -> str:
    """The columns of a table, for an error message.

    Parameters
    ----------
    raw : RawTable
        The table.

    Returns
    -------
    str
        The first 30 column names, comma-separated (with the total when there are more),
        or ``'none'``.
    """
    cols = raw.columns
    shown = ", ".join(cols[:30]) + (f" … ({len(cols)} in all)" if len(cols) > 30 else "")
    return shown or "none"


def resolve_columns(
    raw: RawTable, mapping: dict[str, str | None], roles: dict[str, tuple[str, ...]], where: str
) -> dict[str, str]:
    """The column of each role: the mapped one (which must exist) or a known header name.

    Parameters
    ----------
    raw : RawTable
        The table.
    mapping : dict of str to (str or None)
        The user's ``columns`` mapping, role to column name (None: look it up).
    roles : dict of str to tuple of str
        The header names looked up per role, in order (:data:`POI_ROLES`,
        :data:`RESIDENCE_ROLES`).
    where : str
        Where the mapping is in the study file (``pois[0]``), named in errors.

    Returns
    -------
    dict of str to str
        Role to column name, for the roles found; a column plays one role at most.

    Raises
    ------
    InputError
        A mapped column is not in the table (the message lists the columns found).
    """
    by_norm: dict[str, str] = {}
    for c in raw.columns:
        by_norm.setdefault(normalize_header(c), c)
    out: dict[str, str] = {}
    missing: list[str] = []
    for role, column in mapping.items():
        if column is None:
            continue
        if column in raw.columns:
            out[role] = column
        elif normalize_header(column) in by_norm:
            out[role] = by_norm[normalize_header(column)]
        else:
            missing.append(f"{role}: '{column}'")
    if missing:
        raise InputError(
            f"{raw.path}: column(s) not found: {', '.join(missing)} (mapped in {where}.columns); "
            f"columns found: {columns_found(raw)}"
        )
    taken = set(out.values())
    for role, names in roles.items():
        if role in out:
            continue
        for name in names:
            col = by_norm.get(normalize_header(name))
            if col is not None and col not in taken:
                out[role] = col
                taken.add(col)
                break
    if "name" in roles and "name" not in out:
        col = name_by_pattern(raw.columns, taken)
        if col is not None:
            out["name"] = col
    return out


def name_by_pattern(
    columns: Sequence[str], taken: set[str] | frozenset[str] = frozenset()
) -> str | None:
    """The first column whose header looks like a name (:data:`NAME_PATTERN`).

    Parameters
    ----------
    columns : sequence of str
        The table's headers, in order.
    taken : set of str
        Columns that already play another role (never taken).

    Returns
    -------
    str or None
        ``医院名称``, ``机构名字``, ``shop_name`` or ``NAME_CN``; not an administrative area,
        a type or a road (``cityname``, ``类型名称``); None when no header looks like one.
    """
    for c in columns:
        norm = normalize_header(c)
        if c in taken or not NAME_PATTERN.fullmatch(norm) or NOT_NAMES.fullmatch(norm):
            continue
        return c
    return None


def _require_coordinates(raw: RawTable, cols: dict[str, str], where: str) -> None:
    """Fail unless the table has geometries, a WKT or location column, or lng and lat."""
    if raw.geometry is not None or "wkt" in cols or "location" in cols:
        return
    if "lng" in cols and "lat" in cols:
        return
    lacking = [r for r in ("lng", "lat") if r not in cols]
    raise InputError(
        f"{raw.path}: missing coordinate column(s) {' and '.join(lacking)} (or one "
        f"'location' column with 'lng,lat'); columns found: {columns_found(raw)}; map yours "
        f"under {where}.columns, e.g. lng: 经度"
    )


def read_table(
    spec: PoiTable | ResidenceSettings, roles: dict[str, tuple[str, ...]], where: str
) -> tuple[RawTable, dict[str, str]]:
    """Read a study's table and find its columns; fail when it has no coordinates.

    Parameters
    ----------
    spec : PoiTable or ResidenceSettings
        The table's ``file``, ``encoding``, ``sheet`` and ``columns`` mapping.
    roles : dict of str to tuple of str
        The header names looked up per role (:data:`POI_ROLES`, :data:`RESIDENCE_ROLES`).
    where : str
        Where the table is in the study file (``pois[0]``, ``residences``), named in errors.

    Returns
    -------
    raw : RawTable
        The table as read (:func:`read_raw`).
    cols : dict of str to str
        Its columns by role (:func:`resolve_columns`).

    Raises
    ------
    InputError
        The file cannot be read, a mapped column is missing, or there are no coordinate
        columns (naming them and the columns found).
    """
    # A POI table always has a file; residences are read from one only when they name it
    # (circles.residences.form_clusters checks ``study.residences.file``).
    assert spec.file is not None
    raw = read_raw(spec.file, spec.encoding, spec.sheet)
    cols = resolve_columns(raw, spec.columns.model_dump(), roles, where)
    _require_coordinates(raw, cols, where)
    if roles is POI_ROLES and "name" not in cols:
        raw.notes.append(
            f"{raw.path.name}: no name column found (columns: {columns_found(raw)}); its rows "
            "are unnamed, so names neither classify them nor tell places apart; map it with "
            f"{where}.columns.name or --pois-columns name=<header>"
        )
    return raw, cols


def role_texts(raw: RawTable, cols: dict[str, str], role: str) -> np.ndarray:
    """The stripped text of a role's column per row.

    Parameters
    ----------
    raw : RawTable
        The table.
    cols : dict of str to str
        Its columns by role (:func:`resolve_columns`).
    role : str
        A role such as ``name`` or ``households``.

    Returns
    -------
    numpy.ndarray
        Object array of str, one per row; all ``''`` when the table has no such column.
        The same array for every call: do not change it.
    """
    if role not in cols:
        return np.full(len(raw.frame), "", dtype=object)
    cache = raw.__dict__.setdefault("_stripped", {})
    if cols[role] not in cache:  # converted once: callers ask again per role
        cache[cols[role]] = raw.frame[cols[role]].astype(str).str.strip().to_numpy(object)
    return cache[cols[role]]


def parse_number(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Text to float; NaN where it is not a number ('1,200' is 1200, '' is NaN).

    Parameters
    ----------
    values : sequence
        Cells as a user typed them: thousands separators, full-width digits and a
        trailing degree sign are allowed.

    Returns
    -------
    numpy.ndarray
        One float per value, NaN where it is empty or not a number.
    """
    cells = np.empty(len(values), dtype=object)  # no fixed-width text: one long cell
    cells[:] = [str(v) for v in values]
    filled = cells != ""
    with contextlib.suppress(ValueError, TypeError):  # plain numbers at once, by float()
        out = np.full(len(cells), np.nan)
        out[filled] = cells[filled].astype(float)
        return out
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        s = unicodedata.normalize("NFKC", str(v)).strip().replace(",", "").rstrip("°")
        if not s:
            continue
        with contextlib.suppress(ValueError):
            out[i] = float(s)
    return out
