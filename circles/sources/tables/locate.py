"""Where a table's rows lie: their coordinates, converted to the study's metric CRS.

Coordinates are in WGS-84, GCJ-02 (AMap, Tencent), BD-09 (Baidu) or any EPSG system, and
are converted to WGS-84 by :mod:`circles.sources.coords`, then to the study's CRS. A row
with bad coordinates, with latitude and longitude swapped, or outside the study area gets
its rejection reason here (see :mod:`circles.sources.tables.rejected`).
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from circles._errors import InputError
from circles.sources import coords
from circles.sources.tables.read import RawTable, parse_number

if TYPE_CHECKING:
    import shapely


def parse_location(values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AMap's 'lng,lat' (also ';', a space or a full-width comma); NaN when unreadable.

    Parameters
    ----------
    values : sequence
        Cells of a location column.

    Returns
    -------
    tuple of numpy.ndarray
        The first and the second number of each cell (x, y), NaN where a cell does not
        hold exactly two numbers.
    """
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
    """Where table rows may lie: a polygon in the study's metric CRS.

    Parameters
    ----------
    polygon : shapely.Geometry
        The area, in ``crs``.
    crs : pyproj.CRS
        The network's metric CRS.
    """

    polygon: shapely.Geometry
    crs: Any  # the network's pyproj CRS

    def __post_init__(self) -> None:
        """Build the WGS-84 transformer and prepare the polygon for point tests."""
        import pyproj
        import shapely

        self._to_xy = pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        shapely.prepare(self.polygon)

    def to_xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS-84 longitudes and latitudes in the study's CRS.

        Parameters
        ----------
        lon, lat : array-like
            WGS-84 degrees (NaN stays NaN).

        Returns
        -------
        tuple of numpy.ndarray
            x and y in metres.
        """
        x, y = self._to_xy.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x, float), np.asarray(y, float)

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Which points lie inside the area.

        Parameters
        ----------
        x, y : numpy.ndarray
            Points in the study's CRS.

        Returns
        -------
        numpy.ndarray
            Boolean per point; False where x or y is not finite.
        """
        import shapely

        ok = np.isfinite(x) & np.isfinite(y)
        out = np.zeros(len(x), dtype=bool)
        out[ok] = shapely.contains_xy(self.polygon, x[ok], y[ok])
        return out


def effective_crs(spec_crs: str, raw: RawTable, where: str) -> str:
    """The CRS of a table's coordinates.

    A geographic file's own CRS, unless the table says gcj02/bd09 (which have no EPSG
    code) or another EPSG code.

    Parameters
    ----------
    spec_crs : str
        The CRS the study file gives for the table (``wgs84`` by default).
    raw : RawTable
        The table.
    where : str
        Where the table is in the study file, named in errors.

    Returns
    -------
    str
        A name :mod:`circles.sources.coords` knows: ``wgs84``, ``gcj02``, ``bd09`` or a
        pyproj CRS string.

    Raises
    ------
    InputError
        GCJ-02 or BD-09 given for a file in a projected CRS.
    """
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
    """Finite, and for a geographic CRS within ±180, ±90 and not (0, 0)."""
    ok = np.isfinite(x) & np.isfinite(y)
    if coords.is_geographic(crs):
        ok &= (np.abs(x) <= 180) & (np.abs(y) <= 90) & ~((x == 0) & (y == 0))
    return ok


def table_points(
    raw: RawTable, cols: dict[str, str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Raw x, y per row, and the geometries when the table has them.

    Parameters
    ----------
    raw : RawTable
        The table.
    cols : dict of str to str
        Its columns by role; a ``location`` column wins over ``lng``/``lat``, which fill
        its gaps.

    Returns
    -------
    x, y : numpy.ndarray
        The coordinates as written, in the table's CRS (a point inside a polygon); NaN
        where a row has none.
    geometries : numpy.ndarray or None
        Shapely geometries of a geographic file or a WKT column (None where empty or
        unreadable), else None.
    """
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


@dataclass
class Located:
    """Points of a table in the study's metric CRS, with a verdict per row.

    Parameters
    ----------
    x, y : numpy.ndarray
        Coordinates in the study's CRS; NaN for rows outside the area.
    reason : numpy.ndarray
        ``''`` for rows inside the area, else a key of
        :data:`~circles.sources.tables.rejected.REASONS`.
    detail : numpy.ndarray
        Why, in words, for rejected rows.
    """

    x: np.ndarray
    y: np.ndarray
    reason: np.ndarray  # '' for rows inside the area, else a key of REASONS
    detail: np.ndarray


def locate(cx: np.ndarray, cy: np.ndarray, crs: str, area: StudyArea) -> Located:
    """Convert to WGS-84 and then to the study's CRS; find bad, swapped and outside rows.

    Parameters
    ----------
    cx, cy : numpy.ndarray
        Coordinates as the table gives them (:func:`table_points`).
    crs : str
        Their CRS (:func:`effective_crs`).
    area : StudyArea
        Where rows may lie.

    Returns
    -------
    Located
        The points in the study's CRS, and per row ``bad_coordinates``,
        ``lat_lon_swapped``, ``outside_study_area`` or ``''``.
    """
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


def locate_table(
    raw: RawTable, cols: dict[str, str], spec_crs: str, where: str, area: StudyArea
) -> tuple[str, Located, np.ndarray | None]:
    """A table's rows in the study's CRS, with a verdict per row.

    Parameters
    ----------
    raw : RawTable
        The table.
    cols : dict of str to str
        Its columns by role.
    spec_crs : str
        The CRS the study file gives for the table.
    where : str
        Where the table is in the study file, named in errors.
    area : StudyArea
        Where rows may lie.

    Returns
    -------
    crs : str
        The CRS of the table's coordinates (:func:`effective_crs`).
    located : Located
        The rows' points and verdicts (:func:`locate`).
    geometries : numpy.ndarray or None
        The table's geometries in its own CRS, when it has them (:func:`table_points`).
    """
    crs = effective_crs(spec_crs, raw, where)
    cx, cy, geoms = table_points(raw, cols)
    return crs, locate(cx, cy, crs, area), geoms
