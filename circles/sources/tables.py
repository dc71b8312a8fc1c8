"""Planners' own tables: POIs and 小区 lists exported from AMap/Gaode, Baidu or a survey.

A table is CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 or UTF-16; detected), XLSX, GeoJSON,
GeoPackage or Shapefile. Its coordinates are in WGS-84, GCJ-02 (AMap, Tencent), BD-09
(Baidu) or any EPSG system, and are converted to WGS-84 by :mod:`circles.sources.coords`.

Every row is accounted for: it is used, or it is *rejected* with a reason and lands in
``rejected_rows.csv``:

- ``bad_coordinates``: missing, not a number, out of range, (0, 0), an empty geometry;
- ``lat_lon_swapped``: outside the study area as given, inside with lat and lon swapped
  (not fixed silently: swap the columns, or map them the other way round);
- ``outside_study_area``: outside the boundary (grown by the largest threshold for POIs),
  or, without a boundary, farther than the snapping distance from every walking street's
  hull, so it could never join the network;
- ``unknown_category``: no category column value, AMap type code, Baidu tag or keyword
  puts it in one of the study's categories;
- ``duplicate``: the same place as a service already counted (see :func:`merge_pois`);
- ``far_from_street``: inside the area but farther than ``snap.max_distance_m`` from a
  walkable street (kept in the services/clusters with ``used`` false, like OSM ones);
- ``bad_value``: a 小区's households or population is not a non-negative number.

A wrong column mapping is not a row problem: it fails at once, with the columns found.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from circles._errors import InputError
from circles.sources import coords

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import shapely

    from circles.config import PoiTable, Residences
    from circles.services import Category

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
#: Tried in this order when no encoding is given (GB18030 is a superset of GBK and GB2312).
ENCODINGS = ("utf-8-sig", "gb18030")

DUPLICATE_M = 30.0  #: same category within this distance and a similar name: one place
EXACT_M = 1.0  #: within one table: same category, same name within this: listed twice
SIMILAR_RATIO = 0.6  #: difflib ratio of normalised names from which they count as similar

REASONS: dict[str, str] = {
    "bad_coordinates": "坐标无效 bad coordinates",
    "lat_lon_swapped": "经纬度颠倒 lat and lon swapped",
    "outside_study_area": "不在研究范围内 outside the study area",
    "unknown_category": "类别未知 unknown category",
    "duplicate": "重复 duplicate",
    "far_from_street": "距步行道路太远 too far from a walkable street",
    "bad_value": "数值无效 bad value",
}
REJECTED_COLUMNS = ("file", "kind", "row", "reason", "reason_label", "detail", "name", "x", "y")

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


# ---------------------------------------------------------------------------------------
# Reading a table
# ---------------------------------------------------------------------------------------


@dataclass
class RawTable:
    """A table as read: every column as text; geometries for geographic files."""

    path: Path
    frame: pd.DataFrame
    rows: np.ndarray  # the row number a user sees: spreadsheet row (header = 1), feature no.
    geometry: np.ndarray | None = None  # shapely geometries (GeoJSON, GeoPackage, Shapefile)
    file_crs: str | None = None
    encoding: str | None = None

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def record(self, i: int) -> str:
        """Row ``i`` as it was, as JSON (for rejected_rows.csv)."""
        if not hasattr(self, "_records"):
            self._records = self.frame.astype(str).to_dict("records")
        return json.dumps({str(k): v for k, v in self._records[i].items()}, ensure_ascii=False)

    def cell(self, column: str, i: int) -> str:
        """The text of one cell (columns are converted once)."""
        cache = self.__dict__.setdefault("_columns", {})
        if column not in cache:
            cache[column] = self.frame[column].astype(str).to_numpy()
        return str(cache[column][i])


def decode(data: bytes, encoding: str | None, path: Path) -> tuple[str, str]:
    """The text of a CSV file and the encoding that read it.

    With no encoding given: a UTF-16 byte-order mark, else UTF-8 (with or without BOM),
    else GB18030 (which reads GBK and GB2312 too).
    """
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InputError(f"{path}: unknown encoding '{encoding}' (e.g. utf-8, gbk)") from None
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
    raise InputError(
        f"{path}: not UTF-8 nor GBK/GB18030 text; save it as UTF-8 CSV or give its encoding"
    )


def _delimiter(text: str, path: Path) -> str:
    header = text.split("\n", 1)[0]
    if path.suffix.lower() == ".tsv":
        return "\t"
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_raw(path: Path, encoding: str | None = None, sheet: str | None = None) -> RawTable:
    """Read a table file; every cell as text ('' when empty)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"table not found: {path}")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        text, used = decode(path.read_bytes(), encoding, path)
        try:
            frame = pd.read_csv(
                io.StringIO(text),
                sep=_delimiter(text, path),
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else "empty file"
            raise InputError(f"{path}: not a readable CSV table ({msg})") from None
        rows = np.arange(len(frame)) + 2  # the header is row 1
        return _drop_empty(RawTable(path, frame, rows, encoding=used))
    if suffix in XLSX_SUFFIXES:
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
        if sheet is not None and sheet not in book.sheet_names:
            raise InputError(f"{path}: no sheet '{sheet}'; sheets: {', '.join(book.sheet_names)}")
        frame = pd.read_excel(
            book, sheet_name=sheet if sheet is not None else 0, dtype=str, keep_default_na=False
        )
        frame = frame.fillna("")
        rows = np.arange(len(frame)) + 2
        return _drop_empty(RawTable(path, frame, rows))
    if suffix == ".xls":
        raise InputError(f"{path}: old .xls workbooks are not read; save it as .xlsx or CSV")
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
        f"{path}: unknown table format '{suffix}'; give CSV, XLSX, GeoJSON, GeoPackage or Shapefile"
    )


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if np.isnan(v):
            return ""
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


def _drop_empty(raw: RawTable) -> RawTable:
    """Rows with every cell empty (blank lines) are not data."""
    frame = raw.frame.fillna("").astype(str)
    keep = (frame.apply(lambda col: col.str.strip()) != "").any(axis=1).to_numpy()
    raw.frame = frame[keep].reset_index(drop=True)
    raw.rows = raw.rows[keep]
    return raw


def _norm_header(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


def _found(raw: RawTable) -> str:
    cols = raw.columns
    shown = ", ".join(cols[:30]) + (f" … ({len(cols)} in all)" if len(cols) > 30 else "")
    return shown or "none"


def resolve_columns(
    raw: RawTable, mapping: dict[str, str | None], roles: dict[str, tuple[str, ...]], where: str
) -> dict[str, str]:
    """The column of each role: the mapped one (which must exist) or a known header name."""
    by_norm: dict[str, str] = {}
    for c in raw.columns:
        by_norm.setdefault(_norm_header(c), c)
    out: dict[str, str] = {}
    missing: list[str] = []
    for role, column in mapping.items():
        if column is None:
            continue
        if column in raw.columns:
            out[role] = column
        elif _norm_header(column) in by_norm:
            out[role] = by_norm[_norm_header(column)]
        else:
            missing.append(f"{role}: '{column}'")
    if missing:
        raise InputError(
            f"{raw.path}: column(s) not found: {', '.join(missing)} (mapped in {where}.columns); "
            f"columns found: {_found(raw)}"
        )
    taken = set(out.values())
    for role, names in roles.items():
        if role in out:
            continue
        for name in names:
            col = by_norm.get(_norm_header(name))
            if col is not None and col not in taken:
                out[role] = col
                taken.add(col)
                break
    return out


def _require_coordinates(raw: RawTable, cols: dict[str, str], where: str) -> None:
    if raw.geometry is not None or "wkt" in cols or "location" in cols:
        return
    if "lng" in cols and "lat" in cols:
        return
    lacking = [r for r in ("lng", "lat") if r not in cols]
    raise InputError(
        f"{raw.path}: missing coordinate column(s) {' and '.join(lacking)} (or one "
        f"'location' column with 'lng,lat'); columns found: {_found(raw)}; map yours under "
        f"{where}.columns, e.g. lng: 经度"
    )


# ---------------------------------------------------------------------------------------
# Coordinates
# ---------------------------------------------------------------------------------------


def parse_number(values) -> np.ndarray:
    """Text to float; NaN where it is not a number ('1,200' is 1200, '' is NaN)."""
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        s = unicodedata.normalize("NFKC", str(v)).strip().replace(",", "").rstrip("°")
        if not s:
            continue
        with contextlib.suppress(ValueError):
            out[i] = float(s)
    return out


def parse_location(values) -> tuple[np.ndarray, np.ndarray]:
    """AMap's 'lng,lat' (also ';', a space or a full-width comma); NaN when unreadable."""
    x = np.full(len(values), np.nan)
    y = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        parts = [p for p in re.split(r"[,;\s]+", unicodedata.normalize("NFKC", str(v))) if p]
        if len(parts) != 2:
            continue
        with contextlib.suppress(ValueError):
            x[i], y[i] = float(parts[0]), float(parts[1])
    return x, y


@dataclass
class StudyArea:
    """Where table rows may lie: a polygon in the study's metric CRS."""

    polygon: shapely.Geometry
    crs: Any  # the network's pyproj CRS

    def __post_init__(self) -> None:
        import pyproj
        import shapely

        self._to_xy = pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        shapely.prepare(self.polygon)

    def to_xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._to_xy.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x, float), np.asarray(y, float)

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        import shapely

        ok = np.isfinite(x) & np.isfinite(y)
        out = np.zeros(len(x), dtype=bool)
        out[ok] = shapely.contains_xy(self.polygon, x[ok], y[ok])
        return out


def _effective_crs(spec_crs: str, raw: RawTable, where: str) -> str:
    """The CRS of a table's coordinates: a geographic file's own CRS unless the table says
    gcj02/bd09 (which have no EPSG code) or another EPSG code."""
    crs = coords.normalize_crs(spec_crs)
    if raw.geometry is None or raw.file_crs is None:
        return crs
    if crs == "wgs84":
        import pyproj

        file_crs = pyproj.CRS.from_user_input(raw.file_crs)
        return "wgs84" if file_crs.equals(pyproj.CRS.from_epsg(4326)) else file_crs.to_string()
    if crs in ("gcj02", "bd09"):
        import pyproj

        if not pyproj.CRS.from_user_input(raw.file_crs).is_geographic:
            raise InputError(
                f"{raw.path}: {where}.crs is {crs}, but the file is in a projected CRS "
                f"({raw.file_crs}); GCJ-02 and BD-09 are longitude/latitude"
            )
    return crs


def _valid_lonlat(x: np.ndarray, y: np.ndarray, crs: str) -> np.ndarray:
    ok = np.isfinite(x) & np.isfinite(y)
    if coords.is_geographic(crs):
        ok &= (np.abs(x) <= 180) & (np.abs(y) <= 90) & ~((x == 0) & (y == 0))
    return ok


@dataclass
class Located:
    """Points of a table in the study's metric CRS, with a verdict per row."""

    x: np.ndarray
    y: np.ndarray
    reason: np.ndarray  # '' for rows inside the area, else a key of REASONS
    detail: np.ndarray


def locate(cx: np.ndarray, cy: np.ndarray, crs: str, area: StudyArea) -> Located:
    """Convert to WGS-84 and then to the study's CRS; find bad, swapped and outside rows."""
    n = len(cx)
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)
    valid = _valid_lonlat(cx, cy, crs)
    lon, lat = coords.to_wgs84(np.where(valid, cx, np.nan), np.where(valid, cy, np.nan), crs)
    x, y = area.to_xy(lon, lat)
    inside = valid & area.contains(x, y)
    # Swapped: not inside as given, but inside with the two numbers exchanged.
    sw_valid = _valid_lonlat(cy, cx, crs)
    slon, slat = coords.to_wgs84(
        np.where(sw_valid, cy, np.nan), np.where(sw_valid, cx, np.nan), crs
    )
    sx, sy = area.to_xy(slon, slat)
    swapped = ~inside & sw_valid & area.contains(sx, sy)
    for i in np.flatnonzero(~inside):
        if swapped[i]:
            reason[i] = "lat_lon_swapped"
            detail[i] = (
                f"({cx[i]:g}, {cy[i]:g}) lies inside the study area only as (lat, lon): "
                "swap the lng and lat columns"
            )
        elif not valid[i]:
            reason[i] = "bad_coordinates"
            detail[i] = (
                "no coordinates"
                if not (np.isfinite(cx[i]) and np.isfinite(cy[i]))
                else f"({cx[i]:g}, {cy[i]:g}) is not a longitude, latitude"
            )
        else:
            reason[i] = "outside_study_area"
            detail[i] = f"({cx[i]:g}, {cy[i]:g}) {crs} is outside the study area"
    x = np.where(inside, x, np.nan)
    y = np.where(inside, y, np.nan)
    return Located(x, y, reason, detail)


# ---------------------------------------------------------------------------------------
# Categories
# ---------------------------------------------------------------------------------------


def code_prefix(code: str) -> str:
    """An AMap code as the prefix it stands for: 050000 (大类) -> '05', 060200 (中类) ->
    '0602', 090601 (小类) -> '090601'."""
    code = str(code).strip()
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def row_codes(text: str) -> list[str]:
    """The 6-digit AMap codes in a cell: '090601', '90601' (a lost leading zero), '90601.0',
    '050100|050101' (several)."""
    out = []
    for part in re.split(r"[|,;/\s]+", str(text).strip()):
        m = re.fullmatch(r"(\d{1,6})(?:\.0+)?", part)
        if m:
            out.append(m.group(1).zfill(6))
    return out


def _levels(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[;；>/]", str(text)) if p.strip()]


def _tag_matches(entry: str, tag_levels: list[str]) -> bool:
    want = _levels(entry)
    if not want or not tag_levels:
        return False
    if tag_levels[: len(want)] == want:
        return True
    # A tag of one level ("药店") names the second level of an entry ("医疗;药店").
    return len(tag_levels) == 1 and len(want) > 1 and tag_levels[0] == want[-1]


class Classifier:
    """Puts a table row in categories: its category column, else its AMap type codes or
    Baidu tag, else keywords in its name and type (only when the code or tag is not one
    the catalogue knows: a bus stop named 第一中学站 is not a school)."""

    def __init__(self, categories: dict[str, Category], catalogue: dict[str, Category]):
        self.categories = categories
        self.known = {**catalogue, **categories}
        self.labels = {}
        for key, cat in self.known.items():
            self.labels[key.lower()] = key
            self.labels[_norm_header(cat.zh)] = key
            self.labels[cat.en.lower()] = key
        self._words = {k: [re.compile(p) for p in c.word_patterns()] for k, c in self.known.items()}
        self._prefixes = {k: tuple(map(code_prefix, c.amap)) for k, c in self.known.items()}
        self._code_cache: dict[tuple[str, str], tuple[str, ...]] = {}

    def _by_code(self, typecode: str, type_text: str) -> tuple[str, ...]:
        """Catalogue categories whose AMap codes or Baidu tags fit (cached: exports repeat
        a few hundred codes and tags over many rows)."""
        key = (typecode, type_text)
        hit = self._code_cache.get(key)
        if hit is None:
            codes, tag = row_codes(typecode), _levels(type_text)
            hit = tuple(
                k
                for k in self.known
                if any(code.startswith(p) for code in codes for p in self._prefixes[k])
                or any(_tag_matches(e, tag) for e in self.known[k].baidu)
            )
            self._code_cache[key] = hit
        return hit

    def _by_words(self, key: str, texts: list[str]) -> bool:
        return any(p.search(t) for p in self._words[key] for t in texts if t)

    def classify(self, category: str, typecode: str, type_text: str, name: str):
        """(category keys, why not) for one row; the keys are empty when none fits."""
        category = str(category or "").strip()
        if category:
            key = self.labels.get(category.lower()) or self.labels.get(_norm_header(category))
            if key is None:
                return [], f"category '{category}' is not a category key (see `circles categories`)"
            if key not in self.categories:
                return [], f"category '{key}' is not measured in this study (add it to categories:)"
            return [key], ""
        texts = [str(name or ""), str(type_text or "")]
        by_code = self._by_code(str(typecode or ""), str(type_text or ""))
        keys = [
            k
            for k in by_code
            if k in self.categories
            and (not self.known[k].codes_need_name or self._by_words(k, texts))
        ]
        if keys:
            return keys, ""
        if not by_code:  # code and tag unknown to the catalogue: words decide
            keys = [k for k in self.categories if self._by_words(k, texts)]
            if keys:
                return keys, ""
        what = []
        if row_codes(typecode):
            what.append(f"type code {'|'.join(row_codes(typecode))}")
        if _levels(type_text):
            what.append(f"type '{type_text}'")
        if name:
            what.append(f"name '{name}'")
        if by_code:
            return [], (f"{' / '.join(what)} is {', '.join(by_code)}, not measured in this study")
        return [], f"{' / '.join(what) or 'the row'} matches none of the study's categories"


# ---------------------------------------------------------------------------------------
# POI tables
# ---------------------------------------------------------------------------------------


@dataclass
class PoiCandidates:
    """One table's rows that lie in the study area and have a category: one entry per
    (row, category), before duplicates are merged."""

    raw: RawTable
    cols: dict[str, str]
    crs: str
    idx: np.ndarray  # index of each entry's row in raw.frame
    category: np.ndarray
    name: np.ndarray
    x: np.ndarray
    y: np.ndarray
    rejected: list[dict] = field(default_factory=list)

    @property
    def file(self) -> str:
        return self.raw.path.name

    @property
    def rows_read(self) -> int:
        return len(self.raw.frame)


def _raw_xy(raw: RawTable, cols: dict[str, str], i: int) -> tuple[str, str]:
    """The coordinates of row ``i`` as the table wrote them."""
    if "location" in cols:
        return raw.cell(cols["location"], i), ""
    if "lng" in cols and "lat" in cols:
        return raw.cell(cols["lng"], i), raw.cell(cols["lat"], i)
    if "wkt" in cols:
        return raw.cell(cols["wkt"], i)[:80], ""
    if raw.geometry is not None and raw.geometry[i] is not None:
        return raw.geometry[i].wkt[:80], ""
    return "", ""


def rejection(
    raw: RawTable, cols: dict[str, str], kind: str, i: int, reason: str, detail: str, name=""
) -> dict:
    """One line of rejected_rows.csv: where the row is, why, and the row as it was."""
    x, y = _raw_xy(raw, cols, i)
    return {
        "file": raw.path.name,
        "kind": kind,
        "row": int(raw.rows[i]),
        "reason": reason,
        "reason_label": REASONS[reason],
        "detail": detail,
        "name": str(name or ""),
        "x": x,
        "y": y,
        "record": raw.record(i),
    }


def _table_points(raw: RawTable, cols: dict[str, str]):
    """Raw x, y per row (a point inside a polygon), and the geometries when the table has
    them (a geographic file or a WKT column)."""
    import shapely

    n = len(raw.frame)
    geoms = None
    if raw.geometry is not None:
        geoms = np.asarray(raw.geometry, dtype=object)
    elif "wkt" in cols:
        texts = raw.frame[cols["wkt"]].astype(str).to_numpy()
        geoms = np.array(
            [shapely.from_wkt(t, on_invalid="ignore") if t.strip() else None for t in texts],
            dtype=object,
        )
    if geoms is not None:
        x = np.full(n, np.nan)
        y = np.full(n, np.nan)
        for i, g in enumerate(geoms):
            if g is None or g.is_empty:
                continue
            p = g if g.geom_type == "Point" else g.representative_point()
            x[i], y[i] = p.x, p.y
        return x, y, geoms
    if "location" in cols:
        x, y = parse_location(raw.frame[cols["location"]].astype(str).to_numpy())
        if "lng" in cols and "lat" in cols:  # both given: lng/lat fill the gaps
            lx = parse_number(raw.frame[cols["lng"]].astype(str).to_numpy())
            ly = parse_number(raw.frame[cols["lat"]].astype(str).to_numpy())
            gap = ~np.isfinite(x)
            x[gap], y[gap] = lx[gap], ly[gap]
        return x, y, None
    x = parse_number(raw.frame[cols["lng"]].astype(str).to_numpy())
    y = parse_number(raw.frame[cols["lat"]].astype(str).to_numpy())
    return x, y, None


def _texts(raw: RawTable, cols: dict[str, str], role: str) -> np.ndarray:
    if role not in cols:
        return np.full(len(raw.frame), "", dtype=object)
    return raw.frame[cols[role]].astype(str).str.strip().to_numpy(object)


def read_pois(
    spec: PoiTable,
    where: str,
    area: StudyArea,
    categories: dict[str, Category],
    catalogue: dict[str, Category] | None = None,
) -> PoiCandidates:
    """Read one POI table: locate its rows, put them in categories, reject the others."""
    from circles.services import load_catalogue

    raw = read_raw(spec.file, spec.encoding, spec.sheet)
    cols = resolve_columns(raw, spec.columns.model_dump(), POI_ROLES, where)
    _require_coordinates(raw, cols, where)
    if not any(r in cols for r in ("category", "typecode", "type", "name")):
        raise InputError(
            f"{raw.path}: no column to find categories by (name, type, typecode or category); "
            f"columns found: {_found(raw)}; map one under {where}.columns"
        )
    crs = _effective_crs(spec.crs, raw, where)
    cx, cy, _ = _table_points(raw, cols)
    loc = locate(cx, cy, crs, area)
    names = _texts(raw, cols, "name")
    cats, codes, types = (_texts(raw, cols, r) for r in ("category", "typecode", "type"))
    classifier = Classifier(categories, catalogue or load_catalogue())
    idx, keys_out, rejected = [], [], []
    for i in range(len(raw.frame)):
        if loc.reason[i]:
            rejected.append(rejection(raw, cols, "pois", i, loc.reason[i], loc.detail[i], names[i]))
            continue
        keys, why = classifier.classify(cats[i], codes[i], types[i], names[i])
        if not keys:
            rejected.append(rejection(raw, cols, "pois", i, "unknown_category", why, names[i]))
        for key in keys:
            idx.append(i)
            keys_out.append(key)
    ix = np.asarray(idx, dtype=np.int64)
    return PoiCandidates(
        raw=raw,
        cols=cols,
        crs=crs,
        idx=ix,
        category=np.asarray(keys_out, dtype=object),
        name=np.asarray(names[ix], dtype=object),
        x=loc.x[ix],
        y=loc.y[ix],
        rejected=rejected,
    )


def normalize_name(name: str) -> str:
    """A name for comparison: NFKC (full-width to half-width), lower case, no branch in
    brackets ('华润万家（新街口店）' -> '华润万家'), no spaces or punctuation."""
    s = unicodedata.normalize("NFKC", str(name or "")).lower()
    bare = re.sub(r"[(\[【〔].*?[)\]】〕]", "", s)
    bare = re.sub(r"[\W_]+", "", bare)
    return bare or re.sub(r"[\W_]+", "", s)


def similar_names(a: str, b: str) -> bool:
    """Whether two names (after :func:`normalize_name`) may name the same place.

    Both unnamed, equal, or one inside the other: yes. Otherwise the common beginning and
    end are set aside ('益丰大药房' / '国大药房' share only '大药房', the kind of shop) and
    what is left must be similar: empty on one side ('益丰大药房' / '益丰药房') or a difflib
    ratio of at least 0.6. One named and one unnamed are not similar.
    """
    a, b = normalize_name(a), normalize_name(b)
    if not a and not b:
        return True
    if not a or not b:
        return False
    if a == b or (min(len(a), len(b)) >= 2 and (a in b or b in a)):
        return True
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    ra, rb = a[start : len(a) - end], b[start : len(b) - end]
    if not ra or not rb:
        return True
    return SequenceMatcher(None, ra, rb).ratio() >= SIMILAR_RATIO


@dataclass
class Merged:
    """Table services kept after merging duplicates (in the study's metric CRS)."""

    category: np.ndarray
    name: np.ndarray
    x: np.ndarray
    y: np.ndarray
    source: np.ndarray  # the table's file name
    row: np.ndarray  # the row number in that file
    table: np.ndarray  # index of the table
    idx: np.ndarray  # index of the row in that table's frame
    duplicates: list[int]  # per table: (row, category) entries merged into another service


def merge_pois(existing: dict[str, np.ndarray], tables: list[PoiCandidates]) -> Merged:
    """Keep each table entry unless it is a place already counted.

    An entry is a duplicate of an earlier service of the **same category within 30 m** with
    a **similar name** (:func:`similar_names`) from another source (OSM, or another table).
    Within one table only rows listed twice are merged (same category, same name, within
    1 m): a source is trusted to list distinct places. ``existing`` (the OSM services, in
    merge mode) always stays; tables are taken in order. A row none of whose entries is kept
    is added to its table's ``rejected`` as a duplicate, naming the service it repeats.
    """
    from scipy.spatial import cKDTree

    n_old = len(existing.get("x", ()))
    xs = np.concatenate([np.asarray(existing.get("x", []), float)] + [t.x for t in tables])
    ys = np.concatenate([np.asarray(existing.get("y", []), float)] + [t.y for t in tables])
    cat = np.concatenate(
        [np.asarray(existing.get("category", []), dtype=object)] + [t.category for t in tables]
    )
    name = np.concatenate(
        [np.asarray(existing.get("name", []), dtype=object)] + [t.name for t in tables]
    )
    src = np.concatenate(
        [np.full(n_old, -1)] + [np.full(len(t.x), k) for k, t in enumerate(tables)]
    )
    norm = np.array([normalize_name(v) for v in name], dtype=object)
    kept = np.zeros(len(xs), dtype=bool)
    kept[:n_old] = True
    dup_of = np.full(len(xs), -1)
    if len(xs) > n_old:
        tree = cKDTree(np.column_stack([xs, ys]))
        near = tree.query_ball_point(np.column_stack([xs[n_old:], ys[n_old:]]), DUPLICATE_M)
        for j, cand in enumerate(near):
            i = n_old + j
            for k in sorted(cand, key=lambda k: (xs[k] - xs[i]) ** 2 + (ys[k] - ys[i]) ** 2):
                if k >= i or not kept[k] or cat[k] != cat[i]:
                    continue
                if src[k] == src[i]:
                    close = np.hypot(xs[k] - xs[i], ys[k] - ys[i]) <= EXACT_M
                    if not (close and norm[k] == norm[i]):
                        continue
                elif not similar_names(name[k], name[i]):
                    continue
                dup_of[i] = k
                break
            kept[i] = dup_of[i] < 0

    offsets = np.cumsum([n_old] + [len(t.x) for t in tables])

    def describe(k: int) -> str:
        if k < n_old:
            kind = str(existing.get("osm_type", [""] * n_old)[k])
            ident = existing.get("osm_id", [0] * n_old)[k]
            ref = f"OSM {kind}/{ident}" if kind else "an OSM service"
            return f"{ref} '{name[k]}'"
        tk = int(src[k])
        t = tables[tk]
        return f"row {int(t.raw.rows[t.idx[k - offsets[tk]]])} of {t.file} '{name[k]}'"

    duplicates = []
    for tk, t in enumerate(tables):
        lo = offsets[tk]
        t_kept = kept[lo : lo + len(t.x)]
        duplicates.append(int((~t_kept).sum()))
        used_rows = set(t.idx[t_kept].tolist())
        reported: set[int] = set()
        for j in np.flatnonzero(~t_kept):
            i = int(t.idx[j])
            if i in used_rows or i in reported:
                continue
            reported.add(i)
            other = int(dup_of[lo + j])
            d = float(np.hypot(xs[other] - xs[lo + j], ys[other] - ys[lo + j]))
            detail = f"same {cat[lo + j]} as {describe(other)}, {d:.0f} m away"
            t.rejected.append(rejection(t.raw, t.cols, "pois", i, "duplicate", detail, t.name[j]))
    new = slice(n_old, None)
    keep = kept[new]
    source = np.concatenate([np.full(len(t.x), t.file, dtype=object) for t in tables] or [[]])
    rows = np.concatenate([t.raw.rows[t.idx] for t in tables] or [[]]).astype(np.int64)
    table = np.concatenate([np.full(len(t.x), k) for k, t in enumerate(tables)] or [[]])
    idx = np.concatenate([t.idx for t in tables] or [[]]).astype(np.int64)
    return Merged(
        category=cat[new][keep],
        name=name[new][keep],
        x=xs[new][keep],
        y=ys[new][keep],
        source=np.asarray(source, dtype=object)[keep],
        row=rows[keep],
        table=np.asarray(table, dtype=np.int64)[keep],
        idx=idx[keep],
        duplicates=duplicates,
    )


def table_summary(t: PoiCandidates | ResidenceRows, used_rows: int, **extra) -> dict:
    """rows read, used and rejected (by reason) of one table, for summary.json."""
    by_reason: dict[str, int] = {}
    for r in t.rejected:
        by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + 1
    return {
        "file": t.raw.path.name,
        "path": str(t.raw.path),
        "crs": t.crs,
        "encoding": t.raw.encoding,
        "rows_read": t.rows_read,
        "rows_used": used_rows,
        "rows_rejected": len({r["row"] for r in t.rejected}),
        "rejected_by_reason": by_reason,
        **extra,
    }


# ---------------------------------------------------------------------------------------
# Residence tables (小区 lists)
# ---------------------------------------------------------------------------------------


@dataclass
class ResidenceRows:
    """A 小区 table's clusters (study CRS) and its rejected rows."""

    raw: RawTable
    cols: dict[str, str]
    crs: str
    clusters: gpd.GeoDataFrame
    idx: np.ndarray  # row of raw.frame of each cluster
    rejected: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.raw.frame)


def _to_metric(geom, crs: str, area: StudyArea):
    """A geometry in the table's CRS, converted vertex by vertex to the study CRS."""
    import shapely

    def fn(xy: np.ndarray) -> np.ndarray:
        lon, lat = coords.to_wgs84(xy[:, 0], xy[:, 1], crs)
        x, y = area.to_xy(lon, lat)
        return np.column_stack([x, y])

    out = shapely.transform(geom, fn)
    if out.geom_type in ("Polygon", "MultiPolygon") and not out.is_valid:
        out = shapely.make_valid(out)
    return out


def read_residences(
    settings: Residences,
    where: str,
    area: StudyArea,
    features: gpd.GeoDataFrame | None,
) -> ResidenceRows:
    """小区 from a table: points or polygons, with households or population when given.

    Population = the ``population`` column, else ``households`` × persons per dwelling;
    a polygon without either is estimated like an OSM residential area (floor area of the
    OSM buildings inside it, else its area × ``default_far``); a point without either
    cannot be estimated: it is measured but has no population (a note says how many).
    """
    import geopandas as gpd
    import shapely

    from circles.residences import _frame, from_landuse, residential_buildings

    raw = read_raw(settings.file, settings.encoding, settings.sheet)
    cols = resolve_columns(raw, settings.columns.model_dump(), RESIDENCE_ROLES, where)
    _require_coordinates(raw, cols, where)
    crs = _effective_crs(settings.crs, raw, where)
    cx, cy, geoms = _table_points(raw, cols)
    loc = locate(cx, cy, crs, area)
    names = _texts(raw, cols, "name")
    households = parse_number(_texts(raw, cols, "households"))
    population = parse_number(_texts(raw, cols, "population"))
    rejected = []
    keep: list[int] = []
    seen: dict[tuple, int] = {}
    for i in range(len(raw.frame)):
        if loc.reason[i]:
            rejected.append(
                rejection(raw, cols, "residences", i, loc.reason[i], loc.detail[i], names[i])
            )
            continue
        bad = []
        for role, values in (("households", households), ("population", population)):
            text = _texts(raw, cols, role)[i]
            if text and not (np.isfinite(values[i]) and values[i] >= 0):
                bad.append(f"{role} '{text}' is not a number ≥ 0")
        if bad:
            rejected.append(
                rejection(raw, cols, "residences", i, "bad_value", "; ".join(bad), names[i])
            )
            continue
        key = (normalize_name(names[i]), round(loc.x[i]), round(loc.y[i]))
        if key in seen:
            detail = f"row {int(raw.rows[seen[key]])} has the same name at the same place"
            rejected.append(rejection(raw, cols, "residences", i, "duplicate", detail, names[i]))
            continue
        seen[key] = i
        keep.append(i)
    ix = np.asarray(keep, dtype=np.int64)
    if geoms is not None:
        shapes = [_to_metric(geoms[i], crs, area) for i in ix]
    else:
        shapes = list(shapely.points(loc.x[ix], loc.y[ix])) if len(ix) else []
    shapes_arr = np.asarray(shapes, dtype=object)
    polygonal = np.array([g.geom_type in ("Polygon", "MultiPolygon") for g in shapes], dtype=bool)
    n = len(ix)
    floor = np.full(n, np.nan)
    dwellings = np.full(n, np.nan)
    pop = np.full(n, np.nan)
    if polygonal.any():
        poly = gpd.GeoDataFrame(
            {"name": names[ix][polygonal]}, geometry=list(shapes_arr[polygonal]), crs=area.crs
        )
        if features is not None:
            buildings = residential_buildings(features, poly, settings)
        else:
            buildings = gpd.GeoDataFrame({"floor_area_m2": []}, geometry=[], crs=area.crs)
        est = from_landuse(poly, buildings, settings)
        floor[polygonal] = est["floor_area_m2"].to_numpy()
        dwellings[polygonal] = est["dwellings"].to_numpy()
        pop[polygonal] = est["population"].to_numpy()
    h, p = households[ix], population[ix]
    ppd = settings.persons_per_dwelling
    has_h, has_p = np.isfinite(h), np.isfinite(p)
    dwellings = np.where(has_h, h, np.where(has_p, p / ppd, dwellings))
    pop = np.where(has_p, p, np.where(has_h, h * ppd, pop))
    floor = np.where(has_h | has_p, dwellings * settings.dwelling_m2, floor)
    frame = _frame(names[ix], "table", shapes, floor, dwellings, pop, area.crs)
    notes = []
    unweighted = int(np.isnan(pop).sum())
    if unweighted:
        notes.append(
            f"{raw.path.name}: {unweighted} 小区 points have neither households nor "
            "population; they are measured but carry no population weight"
        )
    return ResidenceRows(raw, cols, crs, frame, ix, rejected, notes)


# ---------------------------------------------------------------------------------------
# rejected_rows.csv
# ---------------------------------------------------------------------------------------


def rejected_frame(rejected: list[dict]) -> pd.DataFrame:
    """The rejected rows as a table with fixed columns (also when there is none)."""
    import pandas as pd

    columns = [*REJECTED_COLUMNS, "record"]
    frame = pd.DataFrame(rejected, columns=columns)
    return frame.sort_values(["kind", "file", "row"], kind="stable").reset_index(drop=True)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defuse(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (numbers stay)."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def write_rejected(result, path: Path) -> Path:
    """``rejected_rows.csv``: every table row that was not used, with its reason.

    UTF-8 with a BOM (Excel shows Chinese correctly). Columns: file, kind (pois or
    residences), row (as a spreadsheet shows it: the header is row 1; for GeoJSON,
    GeoPackage and Shapefile the feature number), reason (a key), reason_label (中文 and
    English), detail, name, x and y as written in the table, record (the whole row, JSON).
    Written with its header even when no row was rejected.
    """
    frame = rejected_frame(list(result.rejected or []))
    for col in ("detail", "name", "x", "y", "record", "file"):
        frame[col] = frame[col].map(_defuse)
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path
