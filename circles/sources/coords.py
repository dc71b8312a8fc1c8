"""Chinese map coordinates: GCJ-02 (AMap/Gaode, Tencent) and BD-09 (Baidu) to and from WGS-84.

Chinese web maps do not publish WGS-84 coordinates. GCJ-02 ("Mars coordinates", 火星坐标)
adds a smooth, position-dependent offset of a few hundred metres to WGS-84; BD-09 adds a
second, smaller offset on top of GCJ-02. A POI exported from AMap and drawn on OSM streets
without conversion lands in the wrong block.

- :func:`wgs84_to_gcj02` is the forward transform as implemented by the public
  converters ("eviltransform", "coordtransform", gcoord; Krasovsky ellipsoid
  a = 6378245 m, e² = 0.00669342162296594323). AMap's and Baidu's own converters agree with
  it to a few centimetres (tests/test_coords.py checks their published examples).
- :func:`gcj02_to_wgs84` inverts it **iteratively** (fixed-point iteration w ← w − (f(w) − g),
  to 1e-10°, about 0.01 mm), not with the common one-step approximation ``g − (f(g) − g)``,
  which is off by up to a few metres.
- :func:`gcj02_to_bd09` / :func:`bd09_to_gcj02` are Baidu's published formulas; the inverse
  is iterated in the same way, since the usual closed-form inverse is approximate too.

**Where the offset applies.** Providers shift points inside China only. China's outline is
approximated by the region table of rectangles used by several open-source converters (six
rectangles minus six: Taiwan, northern Vietnam and the Russian Far East are cut out); points
outside it are returned unchanged, by GCJ-02 and BD-09 alike. The rectangles are exact
enough for every Chinese city, rough along land borders. **Hong Kong and Macau are shifted**:
they lie inside the table and AMap, Tencent and Baidu publish their POIs there in GCJ-02 /
BD-09 too (their maps join Hong Kong to Shenzhen without a seam, which only works if both
sides carry the same offset). A Hong Kong table from a WGS-84 source (the Hong Kong
government's, OSM) should be declared ``crs: wgs84``. Taiwan is not shifted.

Any other coordinate system is given as an EPSG code (``EPSG:4490`` for CGCS2000,
``EPSG:32650`` for UTM 50N, ...) and converted with pyproj.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

# What the transforms return: floats for scalar input, else arrays of the input's shape.
LonLat = tuple[Any, Any]
_Pair = tuple[np.ndarray, np.ndarray]

A = 6378245.0  # Krasovsky 1940 semi-major axis, as used by GCJ-02
EE = 0.00669342162296594323  # its first eccentricity squared
X_PI = np.pi * 3000.0 / 180.0  # Baidu's constant

# (west, south, east, north): China as six rectangles, less six (the region table of the
# public converters). Inside: shifted; outside: unchanged.
_INSIDE = np.array(
    [
        (79.446200, 42.889900, 96.330000, 49.220400),
        (109.687200, 39.374200, 135.000200, 54.141500),
        (73.124600, 29.529700, 124.143255, 42.889900),
        (82.968400, 26.718600, 97.035200, 29.529700),
        (97.025300, 20.418600, 124.367395, 29.529700),
        (107.975793, 17.871542, 111.744104, 20.418600),
    ]
)
_OUTSIDE = np.array(
    [
        (119.921265, 21.785006, 122.497559, 25.398623),  # Taiwan
        (101.865200, 20.098800, 106.665000, 22.284000),  # northern Vietnam and Laos
        (106.452500, 20.487800, 108.051000, 21.542200),  # Hai Phong, Ha Long
        (109.032300, 50.325700, 119.127000, 55.817500),  # Russia north of Inner Mongolia
        (127.456800, 49.557400, 137.022700, 55.817500),  # Russia north of Heilongjiang
        (131.266200, 42.569200, 137.022700, 44.892200),  # Primorye (Vladivostok)
    ]
)

NAMED = {"wgs84": "wgs84", "gcj02": "gcj02", "bd09": "bd09"}
_ALIASES = {
    "wgs84": "wgs84",
    "wgs1984": "wgs84",
    "gps": "wgs84",
    "epsg4326": "wgs84",
    "gcj02": "gcj02",
    "gcj": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "tencent": "gcj02",
    "mars": "gcj02",
    "bd09": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
}


def normalize_crs(text: str) -> str:
    """``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:<code>``; ValueError for anything else.

    Case, dashes and underscores are ignored for the named systems (``GCJ-02``, ``bd09ll``,
    ``WGS 84``); any CRS pyproj knows by an EPSG code is accepted as ``EPSG:<code>``.

    Parameters
    ----------
    text : str
        A name or alias (``amap``, ``baidu``, ``gps`` ...) or an EPSG code.

    Returns
    -------
    str
        The canonical name.

    Raises
    ------
    ValueError
        For an unknown name or an EPSG code pyproj does not know.
    """
    raw = str(text).strip()
    key = re.sub(r"[\s_\-:.]", "", raw.lower())
    if key in _ALIASES:
        return _ALIASES[key]
    m = re.fullmatch(r"epsg:?\s*(\d{4,6})", raw.strip().lower())
    if m:
        import pyproj

        try:
            pyproj.CRS.from_epsg(int(m.group(1)))
        except pyproj.exceptions.CRSError:
            raise ValueError(f"unknown EPSG code {m.group(1)}") from None
        return f"EPSG:{int(m.group(1))}"
    raise ValueError(
        f"unknown coordinate system '{raw}'; give wgs84, gcj02 (AMap/Gaode, Tencent), "
        "bd09 (Baidu) or an EPSG code such as EPSG:4490"
    )


def in_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """Whether points lie where Chinese providers shift coordinates (see the module doc).

    Parameters
    ----------
    lon, lat : array_like
        Points in degrees (broadcast together).

    Returns
    -------
    numpy.ndarray
        Booleans of the broadcast shape.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)

    def any_box(boxes: np.ndarray) -> np.ndarray:
        out = np.zeros(np.broadcast(lon, lat).shape, dtype=bool)
        for w, s, e, n in boxes:
            out |= (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)
        return out

    return any_box(_INSIDE) & ~any_box(_OUTSIDE)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84 at a WGS-84 point, in degrees (no region test)."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    sq = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq + common
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq + common
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad = lat / 180.0 * pi
    magic = 1.0 - EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((A * (1.0 - EE)) / (magic * sqrt_magic) * pi)
    dlon = dlon * 180.0 / (A / sqrt_magic * np.cos(rad) * pi)
    return dlon, dlat


def _arrays(lon: ArrayLike, lat: ArrayLike) -> _Pair:
    """Flat float copies (the shape is restored by :func:`_result`)."""
    lon, lat = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    return lon.ravel().copy(), lat.ravel().copy()


def _result(lon: np.ndarray, lat: np.ndarray, like: tuple[ArrayLike, ArrayLike]) -> LonLat:
    """Floats for scalar input, else arrays of the input's shape."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in like))
    if shape == ():
        return float(lon[0]), float(lat[0])
    return lon.reshape(shape), lat.reshape(shape)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """WGS-84 to GCJ-02 (AMap, Tencent). Points outside China are returned unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees (broadcast together).

    Returns
    -------
    lon, lat : float or numpy.ndarray
        Floats for scalar input, else arrays of the input's shape.
    """
    like = (lon, lat)
    lon, lat = _arrays(lon, lat)
    inside = in_china(lon, lat)
    dlon, dlat = _offset(lon[inside], lat[inside])
    lon[inside] += dlon
    lat[inside] += dlat
    return _result(lon, lat, like)


def _invert(
    forward: Callable[[np.ndarray, np.ndarray], _Pair],
    lon: np.ndarray,
    lat: np.ndarray,
    start: _Pair | None = None,
    tol: float = 1e-10,
) -> _Pair:
    """Solve forward(w) = (lon, lat) by fixed-point iteration (forward is close to a shift)."""
    wlon, wlat = (lon.copy(), lat.copy()) if start is None else start
    for _ in range(30):
        flon, flat = forward(wlon, wlat)
        elon, elat = flon - lon, flat - lat
        wlon -= elon
        wlat -= elat
        if len(elon) == 0 or max(np.abs(elon).max(), np.abs(elat).max()) < tol:
            break
    return wlon, wlat


def _near_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points whose preimage may lie in China (the offsets are below 0.02°)."""
    return (lon > 73.0) & (lon < 135.1) & (lat > 17.8) & (lat < 54.2)


def _gcj_forward(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = _offset(x, y)
    return x + dx, y + dy


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """GCJ-02 to WGS-84 by iterative inversion (error < 1e-10°, i.e. well under 1 mm).

    The answer is the WGS-84 point the forward transform sends to the input: shifted if
    that point lies in China, else the input itself (so round trips hold at the border).

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees (broadcast together).

    Returns
    -------
    lon, lat : float or numpy.ndarray
        Floats for scalar input, else arrays of the input's shape.
    """
    like = (lon, lat)
    lon, lat = _arrays(lon, lat)
    near = np.flatnonzero(_near_china(lon, lat))
    wlon, wlat = _invert(_gcj_forward, lon[near], lat[near])
    ok = in_china(wlon, wlat)
    lon[near[ok]], lat[near[ok]] = wlon[ok], wlat[ok]
    return _result(lon, lat, like)


def _gcj_to_bd(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj_approx(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """GCJ-02 to BD-09 (Baidu's formula). Points outside China are returned unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees (broadcast together).

    Returns
    -------
    lon, lat : float or numpy.ndarray
        Floats for scalar input, else arrays of the input's shape.
    """
    like = (lon, lat)
    lon, lat = _arrays(lon, lat)
    inside = in_china(lon, lat)
    lon[inside], lat[inside] = _gcj_to_bd(lon[inside], lat[inside])
    return _result(lon, lat, like)


def _bd_inverse(blon: np.ndarray, blat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _invert(_gcj_to_bd, blon, blat, start=_bd_to_gcj_approx(blon, blat))


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """BD-09 to GCJ-02: the closed-form inverse refined by iteration (error < 1e-10°).

    Unchanged unless the GCJ-02 point lies in China.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees (broadcast together).

    Returns
    -------
    lon, lat : float or numpy.ndarray
        Floats for scalar input, else arrays of the input's shape.
    """
    like = (lon, lat)
    lon, lat = _arrays(lon, lat)
    near = np.flatnonzero(_near_china(lon, lat))
    glon, glat = _bd_inverse(lon[near], lat[near])
    ok = in_china(glon, glat)
    lon[near[ok]], lat[near[ok]] = glon[ok], glat[ok]
    return _result(lon, lat, like)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """WGS-84 to BD-09 (through GCJ-02). Points outside China are returned unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees (broadcast together).

    Returns
    -------
    lon, lat : float or numpy.ndarray
        Floats for scalar input, else arrays of the input's shape.
    """
    like = (lon, lat)
    lon, lat = _arrays(lon, lat)
    inside = in_china(lon, lat)
    dlon, dlat = _offset(lon[inside], lat[inside])
    lon[inside], lat[inside] = _gcj_to_bd(lon[inside] + dlon, lat[inside] + dlat)
    return _result(lon, lat, like)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """BD-09 to WGS-84 (through GCJ-02, both inverted iteratively).

    Unchanged unless the WGS-84 point lies in China.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees (broadcast together).

    Returns
    -------
    lon, lat : float or numpy.ndarray
        Floats for scalar input, else arrays of the input's shape.
    """
    like = (lon, lat)
    lon, lat = _arrays(lon, lat)
    near = np.flatnonzero(_near_china(lon, lat))
    wlon, wlat = _invert(_gcj_forward, *_bd_inverse(lon[near], lat[near]))
    ok = in_china(wlon, wlat)
    lon[near[ok]], lat[near[ok]] = wlon[ok], wlat[ok]
    return _result(lon, lat, like)


def to_wgs84(x: ArrayLike, y: ArrayLike, crs: str) -> _Pair:
    """Coordinates in ``crs`` as WGS-84 longitude, latitude.

    Non-finite input stays non-finite; nothing is raised for a point outside China.

    Parameters
    ----------
    x, y : array_like
        Coordinates (longitude, latitude for the named systems).
    crs : str
        Anything :func:`normalize_crs` accepts.

    Returns
    -------
    lon, lat : numpy.ndarray
        Flat float arrays.

    Raises
    ------
    ValueError
        For an unknown ``crs``.
    """
    crs = normalize_crs(crs)
    x, y = _arrays(x, y)
    ok = np.isfinite(x) & np.isfinite(y)
    lon, lat = np.full(x.shape, np.nan), np.full(y.shape, np.nan)
    if crs == "wgs84":
        lon[ok], lat[ok] = x[ok], y[ok]
    elif crs == "gcj02":
        lon[ok], lat[ok] = gcj02_to_wgs84(x[ok], y[ok])
    elif crs == "bd09":
        lon[ok], lat[ok] = bd09_to_wgs84(x[ok], y[ok])
    else:
        import pyproj

        t = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        lon[ok], lat[ok] = t.transform(x[ok], y[ok])
    return lon, lat


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> LonLat:
    """WGS-84 longitude, latitude in ``crs``: the inverse of :func:`to_wgs84`.

    Parameters
    ----------
    lon, lat : array_like
        WGS-84 degrees.
    crs : str
        Anything :func:`normalize_crs` accepts.

    Returns
    -------
    x, y : numpy.ndarray
        Flat arrays in ``crs``.

    Raises
    ------
    ValueError
        For an unknown ``crs``.
    """
    crs = normalize_crs(crs)
    lon, lat = _arrays(lon, lat)
    if crs == "wgs84":
        return lon, lat
    if crs == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if crs == "bd09":
        return wgs84_to_bd09(lon, lat)
    import pyproj

    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)


def is_geographic(crs: str) -> bool:
    """Whether ``crs`` holds longitude/latitude in degrees (the named ones always do).

    Parameters
    ----------
    crs : str
        Anything :func:`normalize_crs` accepts.

    Returns
    -------
    bool
        True for wgs84, gcj02, bd09 and geographic EPSG systems.

    Raises
    ------
    ValueError
        For an unknown ``crs``.
    """
    crs = normalize_crs(crs)
    if crs in NAMED:
        return True
    import pyproj

    return bool(pyproj.CRS.from_user_input(crs).is_geographic)
