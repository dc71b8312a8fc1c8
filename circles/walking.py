"""How residents walk: a speed per group, the time steps take, and slopes from a DEM.

Two things come out of here, both in metres so that the engine stays a distance engine:

- :func:`category_distances`: each category's thresholds. With thresholds in minutes,
  elder care is measured at an older person's pace and a kindergarten at the pace of a
  parent walking a small child (``data/walking_speeds.yaml``, which cites each speed).
- :func:`edge_lengths`: each network edge's walking cost in *metres at a flat adult
  pace*: steps (``highway=steps``) take a cited factor more time, and with a DEM every
  other edge takes the time Tobler's hiking function gives for its slope.

The walking graph is undirected, while slopes are not: an edge costs the mean of its two
directions' times (a walk there and back), so a climb and the descent back cost alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from circles._errors import InputError, one_line, shown_path
from circles._yaml import safe_load

if TYPE_CHECKING:
    from circles.config import Study, WalkingSettings
    from circles.network import WalkNetwork

__all__ = [
    "MAX_UNCOVERED_SHARE",
    "STEEP_SLOPE",
    "Profile",
    "SpeedData",
    "category_distances",
    "edge_lengths",
    "load_speeds",
    "node_elevations",
    "profile_of",
    "profile_speeds_kmh",
    "slope_factor",
    "tobler_kmh",
]

# A DEM may miss at most this share of the network's nodes (outside it or on nodata):
# their edges are then walked as flat, with a warning. Beyond it the DEM is refused: a
# DEM cut to another area would leave whole districts flat without a word.
MAX_UNCOVERED_SHARE = 0.01
# A DEM is read in strips of at most this many pixels (128 MB as float64).
_STRIP_PIXELS = 16_000_000
# Streets steeper than this (30%) are rare; in a DEM they are mostly bridges or tunnels
# (the ground under or over the way) or noise, which a note counts.
STEEP_SLOPE = 0.30


@dataclass(frozen=True)
class Profile:
    """A group of walkers and its speed.

    Attributes
    ----------
    name : str
        ``adult``, ``elderly`` or ``parent_child``.
    zh, en : str
        Labels.
    speed_kmh : float or None
        The speed; None for the adult profile, whose speed is the study's.
    sources : tuple of str
        Where the speed comes from.
    """

    name: str
    zh: str
    en: str
    speed_kmh: float | None
    sources: tuple[str, ...]


@dataclass(frozen=True)
class SpeedData:
    """The contents of ``data/walking_speeds.yaml``.

    Attributes
    ----------
    profiles : dict of str to Profile
        By name.
    defaults : dict of str to str
        The profile of a category key; a category not listed is walked by adults.
    steps_factor : float
        Time on steps over the time of a flat walk of the same horizontal length.
    tobler : tuple of float
        ``(max_kmh, decay, offset)`` of Tobler's function.
    """

    profiles: dict[str, Profile]
    defaults: dict[str, str]
    steps_factor: float
    tobler: tuple[float, float, float]


ADULT = "adult"


@cache
def load_speeds() -> SpeedData:
    """The walking speeds shipped with the package (read once per process).

    Returns
    -------
    SpeedData
        Profiles, the default profile per category, the steps factor and Tobler's
        parameters.
    """
    text = resources.files("circles").joinpath("data/walking_speeds.yaml").read_text("utf-8")
    raw: dict[str, Any] = safe_load(text)
    profiles = {
        name: Profile(
            name=name,
            zh=spec["zh"],
            en=spec["en"],
            speed_kmh=None if spec["speed_kmh"] is None else float(spec["speed_kmh"]),
            sources=tuple(spec["sources"]),
        )
        for name, spec in raw["profiles"].items()
    }
    tobler = raw["tobler"]
    return SpeedData(
        profiles=profiles,
        defaults=dict(raw["defaults"]),
        steps_factor=float(raw["steps"]["factor"]),
        tobler=(float(tobler["max_kmh"]), float(tobler["decay"]), float(tobler["offset"])),
    )


def profile_of(key: str, profiles: Mapping[str, str] | None = None) -> str:
    """The profile a category is walked at.

    Parameters
    ----------
    key : str
        A category key.
    profiles : Mapping, optional
        A study's overrides (``walking.profiles``), category key to profile name.

    Returns
    -------
    str
        The override, else the data file's default, else ``adult``.
    """
    if profiles and key in profiles:
        return profiles[key]
    return load_speeds().defaults.get(key, ADULT)


def profile_speeds_kmh(adult_kmh: float) -> dict[str, float]:
    """The speed of every profile for a study walked at ``adult_kmh``.

    Parameters
    ----------
    adult_kmh : float
        The study's speed (``thresholds.speed_kmh``): the adult profile's.

    Returns
    -------
    dict of str to float
        km/h by profile name. A profile is never faster than the adults: a study walked
        at 3 km/h keeps 3 km/h for every group.
    """
    return {
        name: adult_kmh if p.speed_kmh is None else min(p.speed_kmh, adult_kmh)
        for name, p in load_speeds().profiles.items()
    }


def category_distances(study: Study, keys: Sequence[str]) -> np.ndarray:
    """Each category's thresholds in metres, at the walking speed of its profile.

    Profiles apply only to thresholds in minutes (``thresholds.minutes``): the minutes
    are converted at each profile's speed and rounded as
    :meth:`ThresholdSettings.resolve <circles.config.ThresholdSettings.resolve>` rounds
    them (to 0.1 m), so an adult category's row equals ``study.distances_m``. With
    thresholds in metres (``thresholds.distances_m``, or the defaults) a distance is the
    same for everyone: every row equals ``study.distances_m``.

    Parameters
    ----------
    study : Study
        The study: its thresholds and ``walking.profiles``.
    keys : sequence of str
        Category keys, in the order of the rows wanted.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(keys), n_thresholds)``, float64 metres, each row ascending.
    """
    base = np.asarray(study.distances_m, dtype=np.float64)
    out = np.tile(base, (len(keys), 1))
    if study.thresholds.minutes is None:
        return out
    speeds = profile_speeds_kmh(study.thresholds.speed_kmh)
    for i, key in enumerate(keys):
        kmh = speeds[profile_of(key, study.walking.profiles)]
        # The study's own rounding, at another speed: an adult row is study.distances_m.
        out[i] = study.thresholds.model_copy(update={"speed_kmh": kmh}).resolve()
    return out


def tobler_kmh(slope: np.ndarray | float) -> np.ndarray:
    """Tobler's hiking function: walking speed on a slope.

    Parameters
    ----------
    slope : numpy.ndarray or float
        Rise over horizontal run (dh/dx) in the direction walked; 0.1 is 10% uphill.

    Returns
    -------
    numpy.ndarray
        km/h: ``6 exp(-3.5 |slope + 0.05|)`` (Tobler 1993), 6 km/h at 5% downhill and
        5.04 km/h on the flat.
    """
    top, decay, offset = load_speeds().tobler
    return top * np.exp(-decay * np.abs(np.asarray(slope, dtype=np.float64) + offset))


def slope_factor(slope: np.ndarray | float) -> np.ndarray:
    """How many times a flat walk's time an edge of this slope takes, there and back.

    Parameters
    ----------
    slope : numpy.ndarray or float
        Rise over horizontal run from one end of the edge to the other.

    Returns
    -------
    numpy.ndarray
        ``v(0) (1/v(s) + 1/v(-s)) / 2`` with ``v`` :func:`tobler_kmh`: the mean of the
        two directions' times over the flat time. 1 on the flat, never below 1.
    """
    s = np.asarray(slope, dtype=np.float64)
    flat = tobler_kmh(0.0)
    return flat * (1.0 / tobler_kmh(s) + 1.0 / tobler_kmh(-s)) / 2.0


def edge_lengths(
    network: WalkNetwork, settings: WalkingSettings, dem: Path | None = None
) -> tuple[np.ndarray, list[str]]:
    """Each edge's walking cost in metres at a flat adult pace.

    The engine's graph is undirected: an edge costs the mean of the times of its two
    directions (a walk there and back), as metres of flat walking.

    - Steps (``highway=steps``, :attr:`WalkNetwork.edge_steps`) take
      ``steps.factor`` times a flat walk of their horizontal length (Fruin 1971:
      2.04, up and down averaged), when ``settings.steps``.
    - With a DEM, every other edge takes :func:`slope_factor` of its slope (Tobler's
      function over the flat pace of Tobler's own function, 5.04 km/h). The slope is
      the elevation difference of its end nodes (:func:`node_elevations`, bilinear)
      over its horizontal length. Steps keep their factor alone: it already holds
      their climb.

    Parameters
    ----------
    network : WalkNetwork
        The walking network.
    settings : WalkingSettings
        ``steps`` and ``dem``.
    dem : pathlib.Path, optional
        A GeoTIFF DEM (elevations in metres) in place of ``settings.dem``.

    Returns
    -------
    tuple of (numpy.ndarray, list of str)
        The cost of each edge (float64 metres, at least its length), and notes for the
        run's warnings (nodes the DEM misses, steep edges).

    Raises
    ------
    InputError
        The DEM is missing, unreadable, without a CRS, or misses more than
        :data:`MAX_UNCOVERED_SHARE` of the nodes (outside it or on nodata).
    """
    data = load_speeds()
    length = np.asarray(network.edge_len, dtype=np.float64)
    factor = np.ones(len(length))
    notes: list[str] = []
    steps = (
        np.asarray(network.edge_steps, dtype=bool)
        if settings.steps
        else np.zeros(len(length), dtype=bool)
    )
    dem = dem if dem is not None else settings.dem
    if dem is not None:
        z, covered = node_elevations(network, dem)
        notes.extend(_coverage_notes(dem, covered))
        u, v = network.edge_u, network.edge_v
        known = covered[u] & covered[v] & (length > 0) & ~steps
        slope = np.zeros(len(length))
        slope[known] = (z[v[known]] - z[u[known]]) / length[known]
        factor = slope_factor(slope)
        steep = known & (np.abs(slope) > STEEP_SLOPE)
        n_steep = int(steep.sum())
        if n_steep:
            edges, are = ("edge", "is") if n_steep == 1 else ("edges", "are")
            notes.append(
                f"DEM {shown_path(dem)}: {n_steep:,} {edges} ({length[steep].sum() / 1000:.1f} "
                f"km) {are} steeper than {STEEP_SLOPE:.0%}, mostly bridges, tunnels or noise "
                "in the DEM; they are walked at Tobler's speed for that slope all the same"
            )
    factor[steps] = data.steps_factor
    return length * factor, notes


def _coverage_notes(dem: Path, covered: np.ndarray) -> list[str]:
    """Refuse a DEM that misses more than a small share of the nodes; warn below that."""
    missed = int((~covered).sum())
    if missed == 0:
        return []
    share = missed / len(covered)
    what = (
        f"DEM {shown_path(dem)} does not cover {missed:,} of the network's "
        f"{len(covered):,} nodes ({share:.1%}: outside its extent or on nodata)"
    )
    if share > MAX_UNCOVERED_SHARE:
        raise InputError(
            f"{what}; give a DEM that covers the whole study area (merge its tiles, e.g. "
            "gdalwarp a.tif b.tif dem.tif), or leave --dem out"
        )
    return [f"{what}: the edges at those nodes are walked as flat"]


def node_elevations(network: WalkNetwork, dem: Path) -> tuple[np.ndarray, np.ndarray]:
    """The elevation of each network node, read bilinearly from a DEM.

    Node coordinates are reprojected into the DEM's CRS (pyproj). The elevation is the
    bilinear interpolation of the four pixel centres around the node, over those of them
    that hold data (weights renormalised); at the raster's border the nearest pixels
    stand in. Only the window around the network is read.

    Parameters
    ----------
    network : WalkNetwork
        The network (nodes in ``network.crs``).
    dem : pathlib.Path
        A single-band raster rasterio reads (GeoTIFF), elevations in metres.

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray)
        Elevations (float64 metres, NaN where unknown) and a boolean mask of the nodes
        covered (inside the raster with data around them).

    Raises
    ------
    InputError
        The file is missing, not a raster, or has no usable CRS.
    """
    import pyproj
    import rasterio
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    where = shown_path(dem)
    if not Path(dem).is_file():
        raise InputError(f"DEM not found: {where} (give the path of a GeoTIFF elevation model)")
    z = np.full(network.n_nodes, np.nan)
    try:
        with rasterio.open(dem) as src:
            if src.crs is None:
                raise InputError(
                    f"{where}: the DEM has no coordinate system; set one (gdal_edit.py "
                    "-a_srs EPSG:4326 dem.tif) or give a GeoTIFF that has it"
                )
            try:
                to_dem = pyproj.Transformer.from_crs(network.crs, src.crs.to_wkt(), always_xy=True)
            except pyproj.exceptions.CRSError as e:
                raise InputError(
                    f"{where}: its coordinate system is not usable ({one_line(e)}); "
                    "reproject the DEM (gdalwarp -t_srs EPSG:4326)"
                ) from None
            x, y = to_dem.transform(network.x, network.y)
            x, y, inv = np.asarray(x), np.asarray(y), ~src.transform
            # Fractional pixel coordinates, pixel centres at whole numbers.
            col = inv.a * x + inv.b * y + inv.c - 0.5
            row = inv.d * x + inv.e * y + inv.f - 0.5
            inside = (
                np.isfinite(col)
                & np.isfinite(row)
                & (col >= -0.5)
                & (col <= src.width - 0.5)
                & (row >= -0.5)
                & (row <= src.height - 0.5)
            )
            if not inside.any():
                return z, inside
            c0 = max(math.floor(col[inside].min()), 0)
            c1 = min(math.floor(col[inside].max()) + 1, src.width - 1)
            # Strips of rows, so that a fine DEM (LiDAR, 0.5 m) over a city is never
            # read whole: each strip holds the rows of its nodes and the row below.
            first = np.clip(np.floor(row), 0, src.height - 1).astype(np.int64)
            strip = max(1, _STRIP_PIXELS // (c1 - c0 + 1))
            for top in range(int(first[inside].min()), int(first[inside].max()) + 1, strip):
                sel = inside & (first >= top) & (first < top + strip)
                if not sel.any():
                    continue
                bottom = min(top + strip, src.height - 1)
                window = Window(c0, top, c1 - c0 + 1, bottom - top + 1)
                band = src.read(1, window=window, masked=True)
                values = np.ma.filled(band.astype(np.float64), np.nan)
                z[sel] = _bilinear(values, col[sel] - c0, row[sel] - top)
    except RasterioError as e:
        raise InputError(
            f"{where}: not a raster that can be read ({one_line(e)}); give a GeoTIFF"
        ) from None
    return z, np.isfinite(z)


def _bilinear(values: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Bilinear interpolation over the pixels holding data (NaN elsewhere); indices are
    clamped to the array, so the border pixels stand in beyond their centres."""
    h, w = values.shape
    c0 = np.clip(np.floor(col).astype(np.int64), 0, w - 1)
    r0 = np.clip(np.floor(row).astype(np.int64), 0, h - 1)
    c1, r1 = np.minimum(c0 + 1, w - 1), np.minimum(r0 + 1, h - 1)
    fc = np.clip(col - c0, 0.0, 1.0)
    fr = np.clip(row - r0, 0.0, 1.0)
    total = np.zeros(len(col))
    weight = np.zeros(len(col))
    for rr, cc, wgt in (
        (r0, c0, (1 - fr) * (1 - fc)),
        (r0, c1, (1 - fr) * fc),
        (r1, c0, fr * (1 - fc)),
        (r1, c1, fr * fc),
    ):
        v = values[rr, cc]
        ok = np.isfinite(v) & (wgt > 0)
        total[ok] += wgt[ok] * v[ok]
        weight[ok] += wgt[ok]
    out = np.full(len(col), np.nan)
    has = weight > 0
    out[has] = total[has] / weight[has]
    return out
