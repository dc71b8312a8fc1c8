"""Population data: residents counted elsewhere, laid over the residence clusters.

``population.file`` (``--population``) is either

- a **raster** (GeoTIFF such as WorldPop or GHS-POP: residents per cell), summed over each
  cluster polygon, every cell weighted by the share of its area inside the polygon. When
  the raster's CRS is not the clusters', the polygons are reprojected into the raster's
  CRS (their edges densified first), never the raster into theirs: a vertex moves
  exactly, while resampling would split, merge or shift cells and the sums would no
  longer be the data's. Nodata cells count 0 and are reported;
- a **table** (CSV, XLSX, XLS, GeoJSON, GeoPackage, Shapefile) of residents per *unit*
  (社区 statistics: rows with a polygon) or per *小区* (rows with a name only). A unit's
  total is spread over the residential buildings inside it by floor area (dasymetric
  mapping) and summed per cluster; a unit holding no residential building is spread over
  the clusters it overlaps, by the area in each. A 小区 row goes to the cluster of the
  same name (:func:`~circles.sources.tables.merge.normalize_name`).

Every cluster records how its population was estimated: ``population_method`` is
``raster``, ``dasymetric`` or ``table`` where the data gives it, and stays what it was
elsewhere. ``population_60plus`` holds the residents aged 60 and over where a table gives
them (60岁以上人口), spread the same way; NaN where unknown. Rows that give no cluster
any residents go to rejected_rows.csv with their reason; when no row does, the run stops.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from circles._errors import InputError, one_line, shown_path

if TYPE_CHECKING:
    import geopandas as gpd
    import pyproj
    import shapely

    from circles.config import PopulationSettings
    from circles.sources.tables.read import RawTable

__all__ = ["POPULATION_ROLES", "apply_population", "is_raster"]

RASTER_SUFFIXES = (".tif", ".tiff")
#: The first bytes of a TIFF or BigTIFF file, little- and big-endian.
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: Header names looked up per role of a population table (see resolve_columns).
POPULATION_ROLES: dict[str, tuple[str, ...]] = {
    "name": ("name", "名称", "社区", "社区名称", "居委会", "小区", "小区名称", "单元", "unit"),
    "population": ("population", "常住人口", "人口", "人口数", "居住人口", "总人口"),
    "elderly": (
        "population_60plus",
        "60岁以上人口",
        "60岁及以上人口",
        "60岁及以上",
        "老年人口",
        "elderly",
    ),
    "wkt": ("wkt", "geometry", "geom", "the_geom"),
}
# A raster window up to this many cells is read at once (200 MB as float64); a larger
# one, cluster by cluster.
MAX_RASTER_CELLS = 25_000_000
# Polygon edges are cut into pieces this long (m) before reprojection, so that a straight
# edge of the metric CRS stays where it is in the raster's CRS.
SEGMENT_M = 10.0
# A unit with less of its area inside the hull of the study's residential data (clusters
# and buildings) is spread over the buildings inside only: a warning says so. Units reach
# beyond the residential land by their streets and parks, hence a half, not all of it.
UNIT_INSIDE_WARN = 0.5
# A 小区 row with a polygon but no cluster of its name goes to the cluster holding at
# least this share of its area (level: residence).
PLACE_MATCH_SHARE = 0.5
SHOWN = 5  # names shown in a message


@dataclass
class _Estimate:
    """Per cluster: residents and residents 60+ from the data, and the method (''
    keeps the cluster's own estimate)."""

    population: np.ndarray
    elderly: np.ndarray
    method: np.ndarray
    notes: list[str] = field(default_factory=list)

    @classmethod
    def empty(cls, n: int) -> _Estimate:
        return cls(np.full(n, np.nan), np.full(n, np.nan), np.full(n, "", dtype=object))


def is_raster(path: Path) -> bool:
    """Whether a population file is a raster (GeoTIFF) rather than a table.

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    bool
        True when it starts like a TIFF or BigTIFF, or is named ``.tif``/``.tiff``
        (a file so named that is not one then fails as an unreadable GeoTIFF).
    """
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        head = b""
    return head in TIFF_MAGIC or path.suffix.lower() in RASTER_SUFFIXES


def apply_population(
    clusters: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    settings: PopulationSettings,
    log_rejected: list[dict],
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Lay a population raster or table over the residence clusters.

    Parameters
    ----------
    clusters : geopandas.GeoDataFrame
        The clusters (metric CRS) with ``name``, ``population``, ``population_method``,
        ``population_low`` and, for the dasymetric spread, ``floor_area_m2``.
    buildings : geopandas.GeoDataFrame or None
        Residential buildings in the clusters' CRS with ``floor_area_m2`` and ``cluster``
        (row of ``clusters`` holding it, or -1); None when there are none.
    settings : PopulationSettings
        ``file`` (None: nothing to do), its ``crs``, ``encoding``, ``sheet``, ``columns``
        and ``level``.
    log_rejected : list of dict
        Receives the table rows not used (rejected_rows.csv records, kind
        ``population``).

    Returns
    -------
    clusters : geopandas.GeoDataFrame
        A copy: ``population`` replaced where the data gives it (``population_method``
        ``raster``, ``dasymetric`` or ``table``, ``population_low`` False), other rows
        unchanged; a float column ``population_60plus`` (NaN where unknown).
    notes : list of str
        Warnings: nodata cells, clusters outside the raster, rows that matched nothing,
        units spread by area, residents outside every cluster.

    Raises
    ------
    InputError
        The file is missing or unreadable; a raster that does not overlap the clusters or
        is nodata under all of them; a table without a population column, or none of
        whose rows gives any cluster residents (the message shows names of both sides).
    """
    import pandas as pd

    out = clusters.copy()
    if "population_60plus" not in out.columns:
        out["population_60plus"] = np.nan
    if settings.file is None or len(out) == 0:
        return out, []
    path = Path(settings.file)
    if not path.is_file():
        raise InputError(
            f"population file not found: {shown_path(path)} (population.file, --population)"
        )
    if is_raster(path):
        est = _from_raster(out, path, settings)
    else:
        est = _from_table(out, buildings, path, settings, log_rejected)
    given = est.method != ""
    population = out["population"].to_numpy(float).copy()
    population[given] = est.population[given]
    elderly = out["population_60plus"].to_numpy(float).copy()
    elderly[given] = est.elderly[given]
    method = out["population_method"].astype(object).to_numpy().copy()
    method[given] = est.method[given]
    low = out["population_low"].to_numpy(bool).copy()
    low[given] = False
    out["population"] = population
    out["population_method"] = pd.Series(list(method), index=out.index, dtype="string")
    out["population_low"] = low
    out["population_60plus"] = elderly
    return out, est.notes


# ---------------------------------------------------------------------------------------
# Rasters
# ---------------------------------------------------------------------------------------


def _areal(geoms: np.ndarray) -> np.ndarray:
    """Which geometries are polygons with an area (a 小区 given as a point has none)."""
    import shapely

    kind = shapely.get_type_id(geoms)
    return np.isin(kind, (3, 6)) & (shapely.area(geoms) > 0)


def _raster_crs(src: Any, settings: PopulationSettings, path: Path, notes: list[str]) -> Any:
    """The raster's CRS as pyproj: its own, unless ``population.crs`` names another EPSG
    code; with none of its own, ``population.crs`` (WGS-84 by default, said in a note)."""
    import pyproj

    given = settings.crs
    if given in ("gcj02", "bd09"):
        raise InputError(
            f"{path}: population.crs is {given}, but a raster's grid cannot be in GCJ-02 or "
            "BD-09; give its EPSG code (--population-crs EPSG:4326) or leave it out"
        )
    own = pyproj.CRS.from_user_input(src.crs.to_wkt()) if src.crs else None
    if given != "wgs84":
        crs = pyproj.CRS.from_user_input(given)
        if own is not None and not own.equals(crs):
            notes.append(
                f"{path.name}: its own CRS ({own.name}) is replaced by population.crs {given}"
            )
        return crs
    if own is not None:
        return own
    w, s, e, n = src.bounds
    if not (min(w, e) >= -180 and max(w, e) <= 180 and min(s, n) >= -90 and max(s, n) <= 90):
        raise InputError(
            f"{path}: the raster has no CRS and its coordinates ({w:g}, {s:g}, {e:g}, {n:g}) "
            "are not longitude/latitude; give its EPSG code with --population-crs "
            "(population.crs)"
        )
    notes.append(
        f"{path.name} has no CRS: its cells are read as WGS-84 longitude/latitude; give "
        "--population-crs EPSG:<code> if it is another"
    )
    return pyproj.CRS.from_epsg(4326)


def _in_crs(geoms: np.ndarray, source: Any, target: pyproj.CRS, path: Path) -> np.ndarray:
    """Polygons moved from the clusters' CRS into the raster's, vertex by vertex."""
    import pyproj
    import shapely

    if pyproj.CRS.from_user_input(source).equals(target):
        return geoms
    transformer = pyproj.Transformer.from_crs(source, target, always_xy=True)

    def move(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    moved = shapely.transform(shapely.segmentize(geoms, SEGMENT_M), move)
    if not np.isfinite(shapely.bounds(moved)).all():
        raise InputError(
            f"{path}: the clusters cannot be expressed in the raster's CRS "
            f"({target.name}); check the raster's CRS (--population-crs)"
        )
    bad = ~shapely.is_valid(moved)
    if bad.any():
        moved[bad] = shapely.make_valid(moved[bad])
    return moved


@dataclass
class _CellSums:
    """Per polygon: the residents of its cells (area-weighted), the area share of its
    cells holding data, whether it touches nodata, and its area share off the raster."""

    total: np.ndarray
    on_data: np.ndarray
    nodata: np.ndarray
    off_raster: np.ndarray


def _windows(transform: Any, width: int, height: int, bounds: np.ndarray) -> np.ndarray:
    """Rows r0, r1 and columns c0, c1 (end exclusive) of the cells under each bounds,
    clipped to the raster; r1 <= r0 when a polygon lies off it."""
    cols = (bounds[:, [0, 2]] - transform.c) / transform.a
    rows = (bounds[:, [1, 3]] - transform.f) / transform.e
    c0 = np.clip(np.floor(cols.min(axis=1)), 0, width)
    c1 = np.clip(np.ceil(cols.max(axis=1)), 0, width)
    r0 = np.clip(np.floor(rows.min(axis=1)), 0, height)
    r1 = np.clip(np.ceil(rows.max(axis=1)), 0, height)
    return np.column_stack([r0, r1, c0, c1]).astype(np.int64)


def _read(src: Any, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell values (0 where not valid) and validity of a window: nodata (the file's value
    or mask), NaN and negative values are not residents."""
    from rasterio.windows import Window

    window = Window(c0, r0, c1 - c0, r1 - r0)
    values = src.read(1, window=window).astype(float)
    valid = (src.read_masks(1, window=window) > 0) & np.isfinite(values) & (values >= 0)
    return np.where(valid, values, 0.0), valid


def _cell_fractions(
    poly: shapely.Geometry, transform: Any, r0: int, r1: int, c0: int, c1: int
) -> np.ndarray:
    """The share of each cell's area inside the polygon, exactly: cells wholly inside
    count 1, cells on its edge the area of their intersection over their own."""
    import shapely

    xs = transform.c + transform.a * np.arange(c0, c1 + 1)
    ys = transform.f + transform.e * np.arange(r0, r1 + 1)
    x0, y0 = np.meshgrid(np.minimum(xs[:-1], xs[1:]), np.minimum(ys[:-1], ys[1:]))
    x1, y1 = np.meshgrid(np.maximum(xs[:-1], xs[1:]), np.maximum(ys[:-1], ys[1:]))
    boxes = shapely.box(x0, y0, x1, y1)
    shapely.prepare(poly)
    frac = np.zeros(boxes.shape)
    inside = shapely.contains_properly(poly, boxes)
    frac[inside] = 1.0
    edge = ~inside & shapely.intersects(poly, boxes)
    if edge.any():
        cell_area = abs(transform.a * transform.e)
        frac[edge] = shapely.area(shapely.intersection(boxes[edge], poly)) / cell_area
    return frac


def _sum_cells(src: Any, polys: np.ndarray) -> _CellSums:
    """Area-weighted sums of a raster's first band over polygons in its CRS."""
    import shapely

    n = len(polys)
    sums = _CellSums(np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool), np.ones(n))
    t = src.transform
    win = _windows(t, src.width, src.height, shapely.bounds(polys))
    on = (win[:, 1] > win[:, 0]) & (win[:, 3] > win[:, 2])
    if not on.any():
        return sums
    lo, hi = win[on].min(axis=0), win[on].max(axis=0)
    whole = None
    if (hi[1] - lo[0]) * (hi[3] - lo[2]) <= MAX_RASTER_CELLS:
        whole = _read(src, int(lo[0]), int(hi[1]), int(lo[2]), int(hi[3]))
    cell_area = abs(t.a * t.e)
    for i in np.flatnonzero(on):
        r0, r1, c0, c1 = (int(v) for v in win[i])
        if whole is not None:
            part = np.s_[r0 - lo[0] : r1 - lo[0], c0 - lo[2] : c1 - lo[2]]
            values, valid = whole[0][part], whole[1][part]
        else:
            values, valid = _read(src, r0, r1, c0, c1)
        frac = _cell_fractions(polys[i], t, r0, r1, c0, c1)
        area = float(shapely.area(polys[i]))
        sums.total[i] = float((frac * values).sum())
        sums.on_data[i] = float((frac * valid).sum()) * cell_area / area
        sums.nodata[i] = bool(((frac > 0) & ~valid).any())
        sums.off_raster[i] = max(0.0, 1.0 - float(frac.sum()) * cell_area / area)
    return sums


def _from_raster(clusters: gpd.GeoDataFrame, path: Path, settings: PopulationSettings) -> _Estimate:
    """Residents per cluster polygon from a population raster (see the module's text)."""
    import rasterio
    from rasterio.errors import RasterioError

    n = len(clusters)
    est = _Estimate.empty(n)
    geoms = clusters.geometry.to_numpy()
    areal = _areal(geoms)
    if not areal.any():
        est.notes.append(
            f"{path.name}: the residence clusters have no area (小区 given as points): they "
            "keep their population estimate, since a raster is summed over areas"
        )
        return est
    try:
        src = rasterio.open(path)
    except RasterioError as e:
        raise InputError(
            f"{path}: not a readable GeoTIFF ({one_line(e, 120)}); give a population raster "
            "(WorldPop, GHS-POP) or a table (CSV, XLSX)"
        ) from None
    with src:
        t = src.transform
        if t.b or t.d:
            raise InputError(
                f"{path}: the raster's grid is rotated; warp it to a north-up grid "
                "(gdalwarp) and run again"
            )
        crs = _raster_crs(src, settings, path, est.notes)
        polys = _in_crs(geoms[areal], clusters.crs, crs, path)
        try:
            sums = _sum_cells(src, polys)
        except RasterioError as e:
            raise InputError(f"{path}: cannot read the raster ({one_line(e, 120)})") from None
        bounds = src.bounds
    where = np.flatnonzero(areal)
    on = sums.off_raster < 1.0 - 1e-9
    if not on.any():
        raise InputError(
            f"{path}: the raster ({', '.join(f'{v:g}' for v in bounds)} in {crs.name}) does not "
            f"overlap the {int(areal.sum())} residence cluster polygons; give a raster that "
            "covers the study area (or its CRS with --population-crs)"
        )
    if not (sums.on_data[on] > 0).any():
        raise InputError(
            f"{path}: every cell of the raster under the {int(on.sum())} residence clusters "
            "is nodata (or negative); check the file, its band and its nodata value"
        )
    est.population[where[on]] = sums.total[on]
    est.method[where[on]] = "raster"
    name = path.name
    if (touch := int((sums.nodata & on).sum())) > 0:
        est.notes.append(
            f"{name}: {touch} residence clusters cover nodata cells of the raster, counted "
            "as 0 residents"
        )
    partly = on & (sums.off_raster > 1e-3)
    if partly.any():
        est.notes.append(
            f"{name}: {int(partly.sum())} residence clusters reach beyond the raster; only "
            "their part on it is counted (their residents are undercounted)"
        )
    if (off := int((~on).sum())) > 0:
        est.notes.append(
            f"{name}: {off} residence clusters lie off the raster and keep their earlier "
            "population estimate"
        )
    if (points := int((~areal).sum())) > 0:
        est.notes.append(
            f"{name}: {points} residence clusters have no area (小区 given as points) and "
            "keep their earlier population estimate: a raster is summed over areas"
        )
    return est


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


@dataclass
class _Rows:
    """A population table's rows as read and checked."""

    raw: RawTable
    cols: dict[str, str]
    names: np.ndarray
    population: np.ndarray
    elderly: np.ndarray
    shapes: np.ndarray  # shapely geometry in the clusters' CRS, or None
    refused: dict[int, tuple[str, str]] = field(default_factory=dict)  # row -> reason, detail

    def refuse(self, i: int, reason: str, detail: str) -> None:
        self.refused[int(i)] = (reason, detail)


def _read_rows(clusters: gpd.GeoDataFrame, path: Path, settings: PopulationSettings) -> _Rows:
    """Read a population table, find its columns, move its geometries into the clusters'
    CRS and refuse rows with bad values or unreadable geometry."""
    import shapely

    from circles.sources.tables.locate import StudyArea, effective_crs, table_points
    from circles.sources.tables.read import (
        columns_found,
        parse_number,
        read_raw,
        resolve_columns,
        role_texts,
    )
    from circles.sources.tables.residences import _to_metric

    raw = read_raw(path, settings.encoding, settings.sheet)
    cols = resolve_columns(raw, settings.columns.model_dump(), POPULATION_ROLES, "population")
    if "population" not in cols:
        raise InputError(
            f"{path}: no population column (population, 常住人口, 人口); columns found: "
            f"{columns_found(raw)}; map yours with population.columns.population"
        )
    has_geometry = raw.geometry is not None or "wkt" in cols
    if "name" not in cols and not has_geometry:
        raise InputError(
            f"{path}: neither a name column (名称, 社区, 小区) nor polygons (a wkt column, or "
            f"a GeoJSON/GeoPackage); columns found: {columns_found(raw)}; map the name with "
            "population.columns.name"
        )
    n = len(raw.frame)
    shapes = np.full(n, None, dtype=object)
    unreadable = np.zeros(n, dtype=bool)
    if has_geometry:
        crs = effective_crs(settings.crs, raw, "population")
        _, _, geoms = table_points(raw, cols)
        assert geoms is not None
        written = role_texts(raw, cols, "wkt")
        area = StudyArea(shapely.box(*clusters.total_bounds), clusters.crs)
        for i, g in enumerate(geoms):
            if g is None or g.is_empty:
                unreadable[i] = bool(written[i])  # written but not WKT
                continue
            moved = _to_metric(g, crs, area)
            if np.isfinite(shapely.bounds(moved)).all():
                shapes[i] = moved
            else:
                unreadable[i] = True
    pop_text = role_texts(raw, cols, "population")
    eld_text = role_texts(raw, cols, "elderly")
    rows = _Rows(
        raw,
        cols,
        role_texts(raw, cols, "name"),
        parse_number(pop_text),
        parse_number(eld_text),
        shapes,
    )
    for i in range(n):
        if unreadable[i]:
            rows.refuse(i, "bad_coordinates", "the geometry is not readable (WKT or file)")
        elif bad := _bad_counts(pop_text[i], rows.population[i], eld_text[i], rows.elderly[i]):
            rows.refuse(i, "bad_value", bad)
    return rows


def _bad_counts(pop_text: str, pop: float, eld_text: str, eld: float) -> str:
    """Why a row's residents or residents 60+ cannot be right ('' when they can)."""
    if not pop_text:
        return "no population"
    if not (np.isfinite(pop) and pop >= 0):
        return f"population '{pop_text}' is not a number ≥ 0"
    if eld_text and not (np.isfinite(eld) and eld >= 0):
        return f"60+ residents '{eld_text}' is not a number ≥ 0"
    if eld_text and eld > pop:
        return f"60+ residents {eld:g} are more than the population {pop:g}"
    return ""


def _polygonal(g: shapely.Geometry | None) -> bool:
    return g is not None and g.geom_type in ("Polygon", "MultiPolygon") and g.area > 0


def _from_table(
    clusters: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    path: Path,
    settings: PopulationSettings,
    log_rejected: list[dict],
) -> _Estimate:
    """Residents per cluster from a table of units (dasymetric) and 小区 (by name)."""
    from circles.sources.tables.rejected import rejection
    from circles.sources.tables.residences import MAX_POPULATION, MAX_RESIDENTS_PER_HA

    rows = _read_rows(clusters, path, settings)
    units: list[int] = []
    residences: list[int] = []
    for i in range(len(rows.names)):
        if i in rows.refused:
            continue
        shape, pop = rows.shapes[i], rows.population[i]
        if _polygonal(shape) and settings.level != "residence":
            hectares = shape.area / 10_000
            if pop > MAX_RESIDENTS_PER_HA * hectares:
                rows.refuse(i, "bad_value", f"{pop:,.0f} residents on {hectares:.2f} ha, more "
                            f"than {MAX_RESIDENTS_PER_HA:,} per hectare")  # fmt: skip
            else:
                units.append(i)
        elif settings.level == "unit":
            rows.refuse(i, "no_match", "population.level is unit, but the row has no polygon")
        elif pop > MAX_POPULATION:
            rows.refuse(i, "bad_value", f"population {pop:,.0f} is beyond {MAX_POPULATION:,} "
                        "for one 小区")  # fmt: skip
        else:
            residences.append(i)
    est = _Estimate.empty(len(clusters))
    spread = _spread_units(clusters, buildings, rows, units, path.name, est)
    matched = _match_residences(clusters, rows, residences, est)
    if both := int((spread & matched).sum()):
        est.notes.append(
            f"{path.name}: {both} residence clusters have a 小区 row and a unit's share; "
            "the 小区 row is used"
        )
    refused = sorted(rows.refused)
    rows.raw.keep_records(refused)
    records = [
        rejection(rows.raw, rows.cols, "population", i, *rows.refused[i], rows.names[i])
        for i in refused
    ]
    used = len(rows.names) - len(refused)
    if used == 0:
        raise InputError(_nothing_used(path, clusters, rows))
    log_rejected.extend(records)
    if refused:
        est.notes.append(_some_unused(path, rows, refused))
    return est


def _spread_units(
    clusters: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    rows: _Rows,
    units: list[int],
    name: str,
    est: _Estimate,
) -> np.ndarray:
    """Spread the units' totals over the clusters (dasymetric); refuse units that reach
    none. Returns which clusters got residents from the units.

    A unit's residents live in its residential floor area: the mapped buildings inside it
    (by their representative point), and, where a cluster's estimated floor area exceeds
    that of its mapped buildings (a 小区 estimated from its plot ratio), the excess, spread
    evenly over the cluster's land. A unit with neither is spread over the clusters it
    overlaps, by area. The part of a cluster outside every unit keeps its earlier estimate.
    """
    import geopandas as gpd
    import shapely

    from circles.residences import first_area

    n = len(clusters)
    touched = np.zeros(n, dtype=bool)
    if not units:
        return touched
    ix = np.asarray(units, dtype=np.int64)
    nu = len(ix)
    ug = np.asarray(list(rows.shapes[ix]), dtype=object)
    upop, ueld = rows.population[ix], rows.elderly[ix]
    cg = clusters.geometry.to_numpy()
    c_areal = _areal(cg)
    if buildings is None:
        buildings = gpd.GeoDataFrame({"floor_area_m2": [], "cluster": []}, geometry=[])
    b_floor = np.nan_to_num(buildings["floor_area_m2"].to_numpy(float))
    b_cluster = buildings["cluster"].to_numpy(np.int64)
    b_unit = first_area(buildings, gpd.GeoDataFrame(geometry=list(ug), crs=clusters.crs))
    clustered = b_cluster >= 0
    mapped = np.bincount(b_cluster[clustered], weights=b_floor[clustered], minlength=n)
    estimated = (
        np.nan_to_num(clusters["floor_area_m2"].to_numpy(float))
        if "floor_area_m2" in clusters
        else np.zeros(n)
    )
    unmapped = np.where(c_areal, np.maximum(estimated - mapped, 0.0), 0.0)
    # The clusters each unit overlaps, the area in common, and the unmapped floor area
    # of the cluster on that land.
    pair_u, pair_c = shapely.STRtree(cg).query(ug, predicate="intersects")
    keep = c_areal[pair_c]
    pair_u, pair_c = pair_u[keep], pair_c[keep]
    overlap = shapely.area(shapely.intersection(ug[pair_u], cg[pair_c]))
    pair_floor = unmapped[pair_c] * overlap / shapely.area(cg[pair_c])
    in_unit = b_unit >= 0
    # (float: bincount of nothing is an integer array)
    unit_floor = np.bincount(b_unit[in_unit], weights=b_floor[in_unit], minlength=nu).astype(float)
    unit_floor += np.bincount(pair_u, weights=pair_floor, minlength=nu)
    unit_overlap = np.bincount(pair_u, weights=overlap, minlength=nu)
    data = shapely.convex_hull(shapely.GeometryCollection([*cg, *buildings.geometry.to_numpy()]))
    by_floor = unit_floor > 0
    by_area = ~by_floor & (unit_overlap > 0)
    for j in np.flatnonzero(~by_floor & ~by_area):
        if shapely.intersects(ug[j], data):
            detail = "its polygon holds no residential building and overlaps no cluster"
            rows.refuse(ix[j], "no_match", detail)
        else:
            rows.refuse(ix[j], "outside_study_area", "its polygon lies outside the study's data")
    # Who takes a share of a unit: (cluster or -1, unit, share, floor area), for its
    # buildings, the unmapped floor of clusters on its land, or (no floor) the clusters
    # it overlaps by area.
    b = in_unit & (b_floor > 0)
    p = pair_floor > 0
    a = by_area[pair_u]
    target = np.concatenate([b_cluster[b], pair_c[p], pair_c[a]])
    unit = np.concatenate([b_unit[b], pair_u[p], pair_u[a]])
    share = np.concatenate(
        [
            b_floor[b] / unit_floor[b_unit[b]],
            pair_floor[p] / unit_floor[pair_u[p]],
            overlap[a] / unit_overlap[pair_u[a]],
        ]
    )
    floor = np.concatenate([b_floor[b], pair_floor[p], np.zeros(int(a.sum()))])
    residents, elderly = upop[unit] * share, ueld[unit] * share
    to = target >= 0
    pop, eld = np.zeros(n), np.zeros(n)
    eld_unknown = np.zeros(n, dtype=bool)
    np.add.at(pop, target[to], residents[to])
    np.add.at(eld, target[to], np.nan_to_num(elderly[to]))
    np.logical_or.at(eld_unknown, target[to], np.isnan(elderly[to]))
    touched[target[to]] = True
    # The share of each cluster's floor area inside the units (of its land, without any).
    weight = mapped + unmapped
    covered_floor = np.bincount(target[to], weights=floor[to], minlength=n)
    covered = np.divide(covered_floor, weight, out=np.zeros(n), where=weight > 0)
    no_floor = touched & (weight <= 0) & c_areal
    if no_floor.any():
        used_units = shapely.union_all(ug[by_floor | by_area])
        land = shapely.area(shapely.intersection(cg[no_floor], used_units))
        covered[no_floor] = land / shapely.area(cg[no_floor])
    covered = np.where(np.isclose(covered, 1.0), 1.0, np.clip(covered, 0.0, 1.0))
    earlier = clusters["population"].to_numpy(float)
    rest = np.where(covered < 1.0, earlier * (1.0 - covered), 0.0)
    est.population[touched] = pop[touched] + rest[touched]
    eld_unknown |= covered < 1.0
    est.elderly[touched] = np.where(eld_unknown[touched], np.nan, eld[touched])
    est.method[touched] = "dasymetric"
    est.notes += _unit_notes(name, rows, ix, ug, data, by_floor, by_area, buildings,
                             residents[~to], touched & (covered < 1.0))  # fmt: skip
    return touched


def _unit_notes(
    name: str,
    rows: _Rows,
    ix: np.ndarray,
    ug: np.ndarray,
    data: shapely.Geometry,
    by_floor: np.ndarray,
    by_area: np.ndarray,
    buildings: gpd.GeoDataFrame,
    outside_pop: np.ndarray,
    partly: np.ndarray,
) -> list[str]:
    """Warnings on how the units' residents were spread."""
    import shapely

    notes = []
    if by_area.any():
        none = "no residential buildings were given" if len(buildings) == 0 else ""
        notes.append(
            f"{name}: {int(by_area.sum())} units hold no residential building"
            f"{f' ({none})' if none else ''}: their "
            f"{rows.population[ix[by_area]].sum():,.0f} residents are spread over the "
            "residence clusters they overlap, by area"
        )
    if (lost := float(outside_pop.sum())) > 0:
        notes.append(
            f"{name}: {lost:,.0f} residents of the units live in residential buildings "
            "outside every residence cluster and count in none"
        )
    used = by_floor | by_area
    inside = shapely.area(shapely.intersection(ug[used], data)) / shapely.area(ug[used])
    if (beyond := int((inside < UNIT_INSIDE_WARN).sum())) > 0:
        notes.append(
            f"{name}: {beyond} units lie mostly beyond the study's residential data (less "
            f"than {UNIT_INSIDE_WARN:.0%} of their area inside its hull): their whole totals "
            "go to the buildings inside, which overstates them if residents live outside; "
            "give an extract (or boundary) that covers these units, or leave them out"
        )
    if partly.any():
        notes.append(
            f"{name}: {int(partly.sum())} residence clusters lie partly outside every unit: "
            "that part keeps its earlier estimate, and their 60+ residents are unknown"
        )
    return notes


def _cluster_names(clusters: gpd.GeoDataFrame) -> np.ndarray:
    return clusters["name"].astype(object).fillna("").astype(str).to_numpy()


def _match_residences(
    clusters: gpd.GeoDataFrame, rows: _Rows, residences: list[int], est: _Estimate
) -> np.ndarray:
    """小区 rows to their clusters: by name, else (a polygon or point) by place. Returns
    which clusters got a row."""
    import shapely

    from circles.sources.tables.merge import normalize_name

    n = len(clusters)
    hit = np.zeros(n, dtype=bool)
    if not residences:
        return hit
    # A name matches with its brackets first (幸福里（二期） is not 幸福里（一期）), then
    # without them (翠苑 is 翠苑（一期）).
    by_full: dict[str, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    for c, text in enumerate(_cluster_names(clusters)):
        if key := _full_name(text):
            by_full.setdefault(key, []).append(c)
        if key := normalize_name(text):
            by_name.setdefault(key, []).append(c)
    cg = clusters.geometry.to_numpy()
    tree = shapely.STRtree(cg)
    floor = clusters["floor_area_m2"].to_numpy(float) if "floor_area_m2" in clusters else None
    area = shapely.area(cg)
    pop, eld = np.zeros(n), np.zeros(n)
    eld_unknown = np.zeros(n, dtype=bool)
    seen: dict[str, int] = {}
    several = 0
    for i in residences:
        full, key = _full_name(rows.names[i]), normalize_name(rows.names[i])
        if full and full in seen:
            rows.refuse(i, "duplicate", f"row {int(rows.raw.rows[seen[full]])} has the same name")
            continue
        if full:
            seen[full] = i
        targets = (by_full.get(full) or by_name.get(key, [])) if key else []
        if not targets and rows.shapes[i] is not None:
            targets = _by_place(rows.shapes[i], cg, tree)
        if not targets:
            rows.refuse(i, "no_match", _no_match_detail(key, by_name))
            continue
        t = np.asarray(targets, dtype=np.int64)
        w = _weights(t, floor, area)
        several += len(t) > 1
        pop[t] += rows.population[i] * w
        eld[t] += np.nan_to_num(rows.elderly[i] * w)
        eld_unknown[t] |= np.isnan(rows.elderly[i])
        hit[t] = True
    est.population[hit] = pop[hit]
    est.elderly[hit] = np.where(eld_unknown[hit], np.nan, eld[hit])
    est.method[hit] = "table"
    if several:
        est.notes.append(
            f"{rows.raw.path.name}: {several} 小区 rows name several residence clusters; "
            "their residents are spread over them by floor area"
        )
    return hit


def _full_name(name: str) -> str:
    """A name for comparison with its brackets' text: NFKC, lower case, letters and digits
    only (:func:`~circles.sources.tables.merge.normalize_name` drops the brackets)."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", str(name or "")).lower())


def _by_place(shape: shapely.Geometry, cg: np.ndarray, tree: Any) -> list[int]:
    """The cluster a 小区 row's geometry points to: the one holding its point, or the
    one covering at least :data:`PLACE_MATCH_SHARE` of its polygon."""
    import shapely

    if shape.geom_type == "Point":
        return [int(c) for c in tree.query(shape, predicate="within")[:1]]
    if not _polygonal(shape):
        return []
    cand = tree.query(shape, predicate="intersects")
    if not len(cand):
        return []
    share = shapely.area(shapely.intersection(cg[cand], shape)) / shape.area
    best = int(np.argmax(share))
    return [int(cand[best])] if share[best] >= PLACE_MATCH_SHARE else []


def _weights(targets: np.ndarray, floor: np.ndarray | None, area: np.ndarray) -> np.ndarray:
    """How a row's residents divide over its clusters: by floor area, else land area,
    else equally."""
    for measure in (floor, area):
        if measure is None:
            continue
        m = np.nan_to_num(measure[targets])
        if m.sum() > 0:
            return m / m.sum()
    return np.full(len(targets), 1.0 / len(targets))


def _no_match_detail(key: str, by_name: dict[str, list[int]]) -> str:
    if not key:
        return "no name and no polygon: it matches no residence cluster"
    close = difflib.get_close_matches(key, list(by_name), n=1, cutoff=0.6)
    hint = f" (closest: '{close[0]}')" if close else ""
    return f"no residence cluster of this name{hint}"


def _examples(values: Any) -> str:
    """A few distinct non-empty names, for a message."""
    seen = list(dict.fromkeys(str(v) for v in values if str(v).strip()))
    more = " …" if len(seen) > SHOWN else ""
    return ", ".join(seen[:SHOWN]) + more if seen else "(none)"


def _by_reason(rows: _Rows) -> str:
    counts: dict[str, int] = {}
    for reason, _ in rows.refused.values():
        counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def _nothing_used(path: Path, clusters: gpd.GeoDataFrame, rows: _Rows) -> str:
    """The error when no row of a population table gives any cluster residents: the
    reasons, a few names of each side, and what to fix for each reason."""
    if len(rows.names) == 0:
        return f"{path}: the table has no rows; give one row per unit (社区) or 小区"
    reasons = {reason for reason, _ in rows.refused.values()}
    fixes = []
    if reasons & {"no_match", "duplicate"}:
        fixes.append(
            "match the names (population.columns.name picks the column) or give the units' "
            "polygons (a wkt column, or a GeoJSON/GeoPackage)"
        )
    if reasons & {"outside_study_area", "bad_coordinates"}:
        fixes.append("check the polygons and their CRS (--population-crs)")
    if "bad_value" in reasons:
        fixes.append("fix the population values (see rejected_rows.csv)")
    return (
        f"{path}: none of its {len(rows.names)} rows gives residents to a residence cluster "
        f"({_by_reason(rows)}); names in the table: {_examples(rows.names)}; names of the "
        f"clusters: {_examples(_cluster_names(clusters))}; {'; '.join(fixes)}"
    )


def _some_unused(path: Path, rows: _Rows, refused: list[int]) -> str:
    """The warning when some rows of a population table give no cluster residents."""
    lost = np.nansum(rows.population[np.asarray(refused, dtype=np.int64)])
    return (
        f"{path.name}: {len(refused)} of {len(rows.names)} rows give no residence cluster "
        f"residents ({_by_reason(rows)}; {lost:,.0f} residents in all), e.g. "
        f"{_examples(rows.names[refused])}; see rejected_rows.csv"
    )
