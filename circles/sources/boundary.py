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
        The file is missing, unreadable, or holds no polygon, or its coordinates are not
        a study area in degrees (metres without a CRS, longitude and latitude swapped,
        a hemisphere).
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
    _check_degrees(geom, str(path))
    return geom


# A walking study covers a town or a city: Chongqing, the largest municipality in China,
# spans 5 degrees. A boundary ten degrees across is a mistake (a hemisphere, a box drawn
# around the world), and the UTM zone its halo is grown in cannot hold it.
_MAX_SPAN_DEG = 10.0


def _check_degrees(geom: shapely.Geometry, name: str) -> None:
    """Refuse a boundary that is not a study area in longitude and latitude degrees.

    A GeoJSON without a CRS is taken as WGS-84; metres (a projected CRS left unsaid) or
    latitude and longitude in the wrong order then pass for degrees until nothing of
    the data falls inside, and the run blamed the data.

    Parameters
    ----------
    geom : shapely.Geometry
        The boundary as read, supposedly in WGS-84.
    name : str
        Its file, for the message.

    Raises
    ------
    InputError
        Coordinates that are not finite degrees, that look like metres or swapped
        latitude and longitude, or that span more than ``_MAX_SPAN_DEG``.
    """
    import numpy as np

    west, south, east, north = geom.bounds
    if not np.isfinite(geom.bounds).all():
        raise InputError(f"{name}: the boundary has coordinates that are not numbers")
    x_max, y_max = max(abs(west), abs(east)), max(abs(south), abs(north))
    lon_ok, lat_ok = x_max <= 180, y_max <= 90
    if not lat_ok and x_max <= 90 and y_max <= 180:
        raise InputError(
            f"{name}: the boundary has latitudes up to {y_max:g}, "
            "beyond 90: its longitude and latitude seem swapped; write each point as "
            "[longitude, latitude], as GeoJSON wants"
        )
    if not (lon_ok and lat_ok):
        raise InputError(
            f"{name}: the boundary's coordinates (x {west:,.0f} to {east:,.0f}, y "
            f"{south:,.0f} to {north:,.0f}) are not degrees: it seems to be in metres "
            "without saying so; save it in WGS-84 (EPSG:4326), or with its CRS"
        )
    if east - west > _MAX_SPAN_DEG or north - south > _MAX_SPAN_DEG:
        raise InputError(
            f"{name}: the boundary spans {east - west:.0f}° of longitude and "
            f"{north - south:.0f}° of latitude, far more than a town or a city (at most "
            f"{_MAX_SPAN_DEG:.0f}°); give the polygon of the study area itself"
        )


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
