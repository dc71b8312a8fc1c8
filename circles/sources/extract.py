"""The common shape of OSM data, whether it came from a local file or from Overpass."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from circles._errors import InputError

if TYPE_CHECKING:
    from geopandas import GeoDataFrame

# Tag keys of features worth keeping: candidate services, residential areas, buildings and
# (on nodes only, see NODE_KEYS) gates.
# Every rule in data/categories.yaml names one of them (a test checks), so a full read
# finds the services of every category, bus stops (highway=bus_stop) included.
FEATURE_KEYS: tuple[str, ...] = (
    "amenity",
    "shop",
    "leisure",
    "landuse",
    "healthcare",
    "social_facility",
    "building",
    "office",
    "name",
    "craft",
    "cuisine",
    "breakfast",
    "public_transport",
    "highway",
    "barrier",
    "entrance",
)
# Keys kept on nodes only: the gates of walled 小区 (circles.gates). A closed barrier=wall
# way is no area to assemble (Malta has 7,514 barrier ways and 800 barrier nodes).
NODE_KEYS: tuple[str, ...] = ("barrier", "entrance")


@dataclass
class OsmExtract:
    """Walkable ways as flat arrays, plus candidate features with their tags.

    Parameters
    ----------
    way_ids : numpy.ndarray
        OSM id of each way (a way split at missing nodes appears once per piece).
    way_ptr : numpy.ndarray
        Way ``i`` is ``node_ids[way_ptr[i]:way_ptr[i+1]]``.
    node_ids : numpy.ndarray
        OSM node ids of the ways, way after way.
    lon, lat : numpy.ndarray
        WGS-84 coordinates of those nodes.
    features : geopandas.GeoDataFrame
        Candidate features: columns osm_type, osm_id, name, tags (dict) and geometry.
    source : str
        Where the data came from (a path, ``place: ...``), for messages.
    n_broken_areas : int
        Areas that could not be assembled (members outside a clipped extract).
    way_names : numpy.ndarray, optional
        Street name of each way (a unicode array; :func:`way_name` says which tag), ``""``
        for a way without one. By default every way is unnamed.
    way_steps : numpy.ndarray, optional
        Whether each way is ``highway=steps`` (booleans), for the time steps take
        (:mod:`circles.walking`). By default no way is.
    """

    way_ids: np.ndarray
    way_ptr: np.ndarray
    node_ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    features: GeoDataFrame
    source: str
    n_broken_areas: int = 0
    way_names: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.str_))
    way_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        if len(self.way_names) == 0:  # not given: every way unnamed
            self.way_names = np.full(self.n_ways, "", dtype=np.str_)
        if len(self.way_names) != self.n_ways:
            raise ValueError(f"{len(self.way_names)} way names for {self.n_ways} ways")
        if len(self.way_steps) == 0:  # not given: no way is steps
            self.way_steps = np.zeros(self.n_ways, dtype=bool)
        if len(self.way_steps) != self.n_ways:
            raise ValueError(f"{len(self.way_steps)} steps flags for {self.n_ways} ways")

    @property
    def n_ways(self) -> int:
        """Number of ways (pieces of ways)."""
        return len(self.way_ptr) - 1


def way_name(tags: Any) -> str:
    """The street name of a way: ``name``, else ``name:zh``, else ``name:en``, else ``ref``.

    Parameters
    ----------
    tags : mapping
        The way's tags (a dict, or pyosmium's tag list: anything with ``get``).

    Returns
    -------
    str
        The first of those tags that is set and not empty, else ``""``.
    """
    return tags.get("name") or tags.get("name:zh") or tags.get("name:en") or tags.get("ref") or ""


def features_frame(
    osm_type: list[str], osm_id: list[int], tags: list[dict[str, str]], geometry: list[Any]
) -> GeoDataFrame:
    """Build the feature table in WGS-84, with the name taken from the usual name tags.

    Parameters
    ----------
    osm_type : list of str
        ``node``, ``way`` or ``relation`` per feature.
    osm_id : list of int
        OSM id per feature.
    tags : list of dict
        Tags per feature.
    geometry : list of shapely.Geometry
        Geometry per feature, in WGS-84.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns osm_type, osm_id, name (``name``, else ``name:zh``, else ``name:en``, else
        empty), tags and geometry.
    """
    import pandas as pd
    from geopandas import GeoDataFrame

    names = [t.get("name") or t.get("name:zh") or t.get("name:en") or "" for t in tags]
    return GeoDataFrame(
        {
            "osm_type": pd.Series(osm_type, dtype="string"),
            "osm_id": pd.Series(osm_id, dtype="int64"),
            "name": pd.Series(names, dtype="string"),
            "tags": pd.Series(tags, dtype="object"),
        },
        geometry=geometry,
        crs="EPSG:4326",
    )


def clip_extract(extract: OsmExtract, polygon: Any) -> OsmExtract:
    """Keep the way pieces and features inside ``polygon``, splitting ways at its edge.

    Parameters
    ----------
    extract : OsmExtract
        The extract to clip.
    polygon : shapely.Polygon or shapely.MultiPolygon
        The area to keep, in WGS-84.

    Returns
    -------
    OsmExtract
        Runs of at least two consecutive nodes inside the polygon, each a way of its
        own, and the features that intersect it.

    Raises
    ------
    InputError
        If the extract has ways but none of their nodes lies inside the polygon: the
        boundary is wrong (elsewhere, or in another CRS), not the data.
    """
    import shapely

    inside = shapely.contains_xy(polygon, extract.lon, extract.lat)
    if len(inside) and not inside.any():
        raise InputError(_outside_message(extract, polygon))
    way_ids: list[int] = []
    names: list[str] = []
    steps: list[bool] = []
    ptr: list[int] = [0]
    keep: list[int] = []
    for i in range(extract.n_ways):
        a, b = extract.way_ptr[i], extract.way_ptr[i + 1]
        start = None
        for j in range(a, b + 1):
            ok = j < b and inside[j]
            if ok and start is None:
                start = j
            elif not ok and start is not None:
                if j - start >= 2:
                    keep.extend(range(start, j))
                    way_ids.append(extract.way_ids[i])
                    names.append(str(extract.way_names[i]))  # each piece keeps its way's name
                    steps.append(bool(extract.way_steps[i]))
                    ptr.append(len(keep))
                start = None
    idx = np.asarray(keep, dtype=np.int64)
    feats = extract.features[extract.features.intersects(polygon)].reset_index(drop=True)
    return OsmExtract(
        way_ids=np.asarray(way_ids, dtype=np.int64),
        way_ptr=np.asarray(ptr, dtype=np.int64),
        node_ids=extract.node_ids[idx],
        lon=extract.lon[idx],
        lat=extract.lat[idx],
        features=feats,
        source=extract.source,
        n_broken_areas=extract.n_broken_areas,
        way_names=np.asarray(names, dtype=np.str_),
        way_steps=np.asarray(steps, dtype=bool),
    )


def _outside_message(extract: OsmExtract, polygon: Any) -> str:
    """Why no way of an extract is inside a boundary, in one line."""
    import shapely

    data = shapely.box(extract.lon.min(), extract.lat.min(), extract.lon.max(), extract.lat.max())
    west, south, east, north = polygon.bounds
    where = f"lon {west:.4f} to {east:.4f}, lat {south:.4f} to {north:.4f}"
    if polygon.intersects(data):
        return (
            f"{extract.source}: no walkable way lies inside the boundary ({where}), though "
            "it overlaps the file's area; check that the boundary outlines the study area"
        )
    swapped = shapely.transform(polygon, lambda xy: xy[:, ::-1])
    hint = (
        "; its longitude and latitude seem swapped: write each point as [longitude, "
        "latitude], as GeoJSON wants"
        if swapped.intersects(data)
        else "; give a boundary inside the file's area, or a file that covers the boundary"
    )
    lon, lat = extract.lon, extract.lat
    return (
        f"{extract.source}: the boundary ({where}) lies outside the data (lon "
        f"{lon.min():.4f} to {lon.max():.4f}, lat {lat.min():.4f} to {lat.max():.4f}){hint}"
    )
