"""Download OSM data online through osmnx (Nominatim + Overpass).

The result has the same shape as a local file's (OsmExtract), so everything downstream is
the same. The machines this project is tested on are offline: these functions fail fast
with a one-line message that suggests ``--osm FILE``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from circles._errors import InputError, NetworkUnavailableError
from circles.settings import CONDITIONAL_HIGHWAYS, WALKABLE_HIGHWAYS, is_walkable
from circles.sources.extract import FEATURE_KEYS, OsmExtract, features_frame

_DROP_COLUMNS = {"geometry", "nodes", "ways", "element", "id", "element_type", "osmid"}


def walk_filter() -> str:
    """An Overpass filter that passes every way circles.settings.is_walkable accepts.

    Overpass cannot say "access=private unless foot=yes" or "trunk only with a sidewalk",
    so the filter is a superset and ``_extract`` checks each way with is_walkable.

    Returns
    -------
    str
        An osmnx ``custom_filter``.
    """
    highways = "|".join(sorted(WALKABLE_HIGHWAYS | CONDITIONAL_HIGHWAYS))
    return f'["highway"~"^({highways})$"]["foot"!~"^(no|private)$"]'


# Tags the walking filter reads; osmnx must keep them on the edges.
_WALK_TAGS = ("highway", "foot", "access", "sidewalk")


def _keep_walk_tags() -> None:
    import osmnx as ox

    have = list(ox.settings.useful_tags_way)
    wanted = (*_WALK_TAGS, "name", "ref")  # and the street names
    ox.settings.useful_tags_way = have + [t for t in wanted if t not in have]


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    import requests

    try:
        return fn(*args, **kwargs)
    except requests.RequestException as e:
        raise NetworkUnavailableError(
            f"cannot reach the Overpass/Nominatim service ({type(e).__name__}); "
            "you may be offline: use a local file with --osm FILE"
        ) from None
    except Exception as e:
        if type(e).__name__ in ("InsufficientResponseError", "ResponseStatusCodeError"):
            raise InputError(f"online query returned no usable data ({e})") from None
        raise


def _extract(graph: Any, features: Any, source: str) -> OsmExtract:
    """Convert an unsimplified osmnx graph and features frame to an OsmExtract."""
    nodes = dict(graph.nodes(data=True))
    # Each undirected node pair once, with the first name any of its edges has.
    pairs: dict[tuple[int, int], str] = {}
    # A node pair is steps only when every walkable edge over it is (else one can go round).
    steps: dict[tuple[int, int], bool] = {}
    for u, v, data in graph.edges(data=True):
        if is_walkable({t: str(data[t]) for t in _WALK_TAGS if data.get(t) is not None}):
            key = (min(u, v), max(u, v))
            if not pairs.get(key):
                pairs[key] = _edge_name(data)
            steps[key] = steps.get(key, True) and _is_steps(data)
    ids = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    names = np.array([pairs[(int(a), int(b))] for a, b in ids], dtype=np.str_)
    way_steps = np.array([steps[(int(a), int(b))] for a, b in ids], dtype=bool)
    flat = ids.ravel()
    lon = np.array([nodes[n]["x"] for n in flat], dtype=np.float64)
    lat = np.array([nodes[n]["y"] for n in flat], dtype=np.float64)
    tags, osm_type, osm_id, geoms = [], [], [], []
    if features is not None and len(features):
        cols = [c for c in features.columns if c not in _DROP_COLUMNS]
        for (element, fid), row in features.iterrows():
            t = {c: str(row[c]) for c in cols if isinstance(row[c], str) or _notna(row[c])}
            tags.append(t)
            osm_type.append(str(element))
            osm_id.append(int(fid))
            geoms.append(row.geometry)
    return OsmExtract(
        way_ids=np.zeros(len(ids), dtype=np.int64),
        way_ptr=np.arange(0, 2 * len(ids) + 1, 2, dtype=np.int64),
        node_ids=flat,
        lon=lon,
        lat=lat,
        features=features_frame(osm_type, osm_id, tags, geoms),
        source=source,
        way_names=names,
        way_steps=way_steps,
    )


def _edge_name(data: dict[str, Any]) -> str:
    """An osmnx edge's street name: ``name`` (the first of a merged edge's list), or ``ref``."""
    for key in ("name", "ref"):
        value = data.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str) and value:
            return value
    return ""


def _is_steps(data: dict[str, Any]) -> bool:
    """Whether an osmnx edge is ``highway=steps`` (every part of a merged edge's list)."""
    value = data.get("highway")
    values = value if isinstance(value, list) else [value]
    return bool(values) and all(v == "steps" for v in values)


def _notna(value: Any) -> bool:
    try:
        return not bool(np.isnan(value))
    except (TypeError, ValueError):
        return value is not None


def _tags() -> dict[str, bool | list[str]]:
    from circles.gates import GATE_BARRIERS

    tags: dict[str, bool | list[str]] = {k: True for k in FEATURE_KEYS if k != "name"}
    tags["barrier"] = sorted(GATE_BARRIERS)  # the gates, not every wall and fence
    return tags


def from_place(name: str) -> OsmExtract:
    """Walking network and features of a named place (geocoded by Nominatim).

    Parameters
    ----------
    name : str
        A place Nominatim knows, such as ``"Xuanwu District, Nanjing"``.

    Returns
    -------
    OsmExtract
        The same shape as a local file's read.

    Raises
    ------
    NetworkUnavailableError
        If the service cannot be reached (offline): use a local file with ``--osm``.
    InputError
        If the query returns no usable data.
    """
    import osmnx as ox

    _keep_walk_tags()
    g = _call(
        ox.graph_from_place, name, custom_filter=walk_filter(), simplify=False, retain_all=True
    )
    f = _call(ox.features_from_place, name, tags=_tags())
    return _extract(g, f, f"place: {name}")


def from_bbox(bbox: tuple[float, float, float, float]) -> OsmExtract:
    """Walking network and features of a box.

    Parameters
    ----------
    bbox : tuple of float
        (west, south, east, north) in WGS-84 degrees.

    Returns
    -------
    OsmExtract
        The same shape as a local file's read.

    Raises
    ------
    NetworkUnavailableError
        If the service cannot be reached (offline): use a local file with ``--osm``.
    InputError
        If the query returns no usable data.
    """
    import osmnx as ox

    _keep_walk_tags()
    g = _call(
        ox.graph_from_bbox, bbox, custom_filter=walk_filter(), simplify=False, retain_all=True
    )
    f = _call(ox.features_from_bbox, bbox, tags=_tags())
    return _extract(g, f, "bbox: " + ",".join(f"{v:g}" for v in bbox))


def from_polygon(polygon: Any) -> OsmExtract:
    """Walking network and features inside a polygon.

    Parameters
    ----------
    polygon : shapely.Polygon or shapely.MultiPolygon
        The area, in WGS-84.

    Returns
    -------
    OsmExtract
        The same shape as a local file's read.

    Raises
    ------
    NetworkUnavailableError
        If the service cannot be reached (offline): use a local file with ``--osm``.
    InputError
        If the query returns no usable data.
    """
    import osmnx as ox

    _keep_walk_tags()
    g = _call(
        ox.graph_from_polygon, polygon, custom_filter=walk_filter(), simplify=False, retain_all=True
    )
    f = _call(ox.features_from_polygon, polygon, tags=_tags())
    return _extract(g, f, "polygon")
