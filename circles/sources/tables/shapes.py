"""The geometries of a table's rows in the study's metric CRS: polygons of 社区 or units.

A geographic file (GeoJSON, GeoPackage, Shapefile) carries its geometries; a CSV or XLSX
may hold them as WKT in a column (role ``wkt``). Either way they are in the table's CRS
(:func:`~circles.sources.tables.locate.effective_crs`: WGS-84, GCJ-02, BD-09 or an EPSG
code) and are moved vertex by vertex, through WGS-84, into the study's CRS, every row at
once. A polygon made invalid by the move (or drawn so) is repaired with ``make_valid``.
"""

from __future__ import annotations

import numpy as np

from circles.sources import coords
from circles.sources.tables.locate import StudyArea, table_points
from circles.sources.tables.read import RawTable, role_texts

__all__ = ["table_shapes"]


def table_shapes(
    raw: RawTable, cols: dict[str, str], crs: str, area: StudyArea
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's geometry in the study's CRS, and which rows hold one that cannot be read.

    Parameters
    ----------
    raw : RawTable
        The table, with geometries (a geographic file) or a ``wkt`` column.
    cols : dict of str to str
        Its columns by role (:func:`~circles.sources.tables.read.resolve_columns`).
    crs : str
        The CRS of its coordinates (:func:`~circles.sources.tables.locate.effective_crs`).
    area : StudyArea
        Gives the study's CRS (its polygon is not used: rows outside it are kept).

    Returns
    -------
    shapes : numpy.ndarray
        Object array of shapely geometries in the study's CRS; None where a row has no
        geometry (empty, or none written).
    unreadable : numpy.ndarray
        Boolean per row: a geometry was written but is not WKT, or its coordinates cannot
        be expressed in the study's CRS (not longitude and latitude, say).
    """
    import shapely

    n = len(raw.frame)
    shapes = np.full(n, None, dtype=object)
    unreadable = np.zeros(n, dtype=bool)
    _, _, geoms = table_points(raw, cols)
    if geoms is None:
        return shapes, unreadable
    given = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
    written = role_texts(raw, cols, "wkt")
    unreadable[~given] = [bool(t) for t in written[~given]]  # written, but not WKT

    def move(xy: np.ndarray) -> np.ndarray:
        lon, lat = coords.to_wgs84(xy[:, 0], xy[:, 1], crs)
        x, y = area.to_xy(lon, lat)
        return np.column_stack([x, y])

    if not given.any():
        return shapes, unreadable
    moved = shapely.transform(np.asarray(list(geoms[given]), dtype=object), move)
    finite = np.isfinite(shapely.bounds(moved)).all(axis=1)
    polygonal = np.isin(shapely.get_type_id(moved), (3, 6))  # Polygon, MultiPolygon
    repair = finite & polygonal & ~shapely.is_valid(moved)
    if repair.any():
        moved[repair] = shapely.make_valid(moved[repair])
    where = np.flatnonzero(given)
    shapes[where[finite]] = moved[finite]
    unreadable[where[~finite]] = True
    return shapes, unreadable
