"""A study's boundary: read from a polygon file, grown by a halo, moved between CRSs.

Services just outside a boundary still serve the residents near its edge, so the data of
a bounded study is read within a halo as wide as the largest threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from circles._errors import InputError

if TYPE_CHECKING:
    import shapely

__all__ = ["grow", "read_boundary", "reproject"]


def read_boundary(path: Path) -> shapely.Geometry:
    """The union of the polygons in a boundary file, in WGS-84.

    Parameters
    ----------
    path : pathlib.Path
        A GeoJSON (or any file GDAL reads) holding polygons.

    Returns
    -------
    shapely.Geometry
        A Polygon or MultiPolygon in WGS-84 (EPSG:4326).

    Raises
    ------
    InputError
        The file is missing, unreadable, or holds no polygon.
    """
    import geopandas as gpd
    import shapely

    if not path.is_file():
        raise InputError(f"boundary file not found: {path} (give a GeoJSON polygon)")
    try:
        frame = gpd.read_file(path)
    except Exception as e:  # pyogrio raises several kinds; all mean the same to a user
        raise InputError(f"{path}: cannot read boundary ({e}); give a GeoJSON polygon") from None
    if frame.crs is not None:
        frame = frame.to_crs("EPSG:4326")
    geom = shapely.union_all(frame.geometry.to_numpy())
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InputError(f"{path}: boundary must contain a Polygon or MultiPolygon")
    return geom


def reproject(geom: shapely.Geometry, src: Any, dst: Any) -> shapely.Geometry:
    """One geometry from CRS ``src`` to CRS ``dst``.

    Parameters
    ----------
    geom : shapely.Geometry
        The geometry.
    src, dst : Any
        Anything pyproj takes as a CRS ("EPSG:4326", a ``pyproj.CRS``).

    Returns
    -------
    shapely.Geometry
        The geometry in ``dst``.
    """
    import geopandas as gpd

    return gpd.GeoSeries([geom], crs=src).to_crs(dst).iloc[0]


def grow(boundary: shapely.Geometry, metres: float) -> shapely.Geometry:
    """A WGS-84 boundary grown by ``metres``, buffered in its UTM zone.

    Parameters
    ----------
    boundary : shapely.Geometry
        A polygon in WGS-84.
    metres : float
        The width of the halo.

    Returns
    -------
    shapely.Geometry
        The grown polygon, in WGS-84.
    """
    from circles.network import utm_crs

    c = boundary.centroid
    crs = utm_crs(c.x, c.y)
    return reproject(reproject(boundary, "EPSG:4326", crs).buffer(metres), crs, "EPSG:4326")
