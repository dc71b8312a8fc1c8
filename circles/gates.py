"""Gates of gated 小区 (compounds): where a walled compound's walk starts, and its walls.

A compound is a residence cluster drawn as a polygon: an OSM ``landuse=residential`` area
or a 小区 table's polygon (building hulls and grid cells are not compounds). Its
*openings* are, in this order of preference:

1. ``gate``: OSM nodes tagged ``entrance=*`` or ``barrier=gate`` (and the other gates of
   :data:`GATE_BARRIERS`) within ``gates.max_distance_m`` of its boundary, and
   ``table``: the rows of a gate table (``--gates``, e.g. AMap's AOI entrances), each
   given to the compound whose boundary is nearest;
2. ``crossing``: when it has neither, the points where walkable network edges cross its
   boundary;
3. none: the compound is *ungated* and keeps the single-point rule.

A compound with gates is walled: a network edge that crosses its boundary farther than
:data:`WALL_TOLERANCE_M` from every gate is a *wall*, which the engine cuts, so a walk
leaves only through a gate. A named street is public, and no wall stops it: a compound
that a named street enters away from its gates (an OSM residential area drawn over a
whole neighbourhood, with a car park's barrier at its edge) is open, and its walks start
where paths cross its outline. Its *inside edges* are the edges whose midpoint lies
inside it and that are not walls: its own paths from the homes to the gates.

Nothing loops over edges: nodes and midpoints meet the compounds in a grid of numpy
arrays, and the few crossing edges the boundary segments in a shapely STRtree (Malta's
95,606 edges and 909 residential areas: about 0.1 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import geopandas as gpd

    from circles.config import GateSettings
    from circles.network import WalkNetwork
    from circles.sources.tables import StudyArea

#: ``barrier=*`` values that are a gate one walks through (OSM wiki, Key:barrier).
GATE_BARRIERS = frozenset(
    {
        "gate",
        "lift_gate",
        "swing_gate",
        "sliding_gate",
        "turnstile",
        "full-height_turnstile",
        "kissing_gate",
        "entrance",
    }
)
#: ``entrance=*`` values that are no way out of a compound: none, an emergency exit, and
#: the doors of a building (a staircase's 单元门, a house's door, a garage's gate).
NOT_GATE_ENTRANCES = frozenset({"no", "emergency", "staircase", "home", "garage"})
#: ``access=*`` values that close a gate to walkers, unless ``foot=*`` opens it again
#: (``private`` does not: a 小区's gate is private to its residents, whose walks it starts).
CLOSED_ACCESS = frozenset({"no"})
FOOT_OPEN = frozenset({"yes", "designated", "permissive"})
#: How precisely the wall line is known, in metres. OSM draws a 小区's outline along its
#: wall or fence, or along the street in front of it, a few metres either way, and a
#: gate is one opening in it: a car gate 4-8 m wide, often with a pedestrian door beside
#: it that OSM maps as a second way a few metres away. So a network node this close to the
#: boundary is on it (a street drawn along the wall does not cross it), and an edge that
#: crosses the boundary this close to a gate passes through that gate; beyond, it would
#: be another opening in the wall, which the data does not show.
WALL_TOLERANCE_M = 5.0
#: An edge meeting the boundary at a smaller angle, whose part inside stays within
#: :data:`WALL_TOLERANCE_M` of it, runs along the wall (a street drawn on its line,
#: zigzagging across it by a metre), and does not go through it. A path through a gate
#: meets the wall nearly square.
SKIM_DEGREES = 30.0
#: Cluster methods whose polygons are compounds (a 小区 table's rows only when polygons).
COMPOUND_METHODS = ("landuse", "table")
#: Header names looked up per role of a gate table (compared as in
#: :func:`circles.sources.tables.read.resolve_columns`). AMap's POI export gives a 小区's
#: entrance as ``entr_location``, beside the 小区's own ``location``: the entrance wins.
GATE_ROLES: dict[str, tuple[str, ...]] = {
    "name": ("name", "名称", "出入口名称", "出入口", "门名称", "gate", "gate_name"),
    "residence": (
        "residence",
        "小区",
        "小区名称",
        "小区名",
        "所属小区",
        "aoi",
        "aoi_name",
        "aoi名称",
        "parent_name",
    ),
    "location": (
        "entr_location",
        "entrance_location",
        "出入口坐标",
        "入口坐标",
        "location",
        "坐标",
        "经纬度",
        "lnglat",
        "lonlat",
    ),  # fmt: skip
    "lng": ("lng", "lon", "longitude", "long", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "id": ("id", "poi_id", "poiid", "uid", "编号"),
    "wkt": ("wkt", "geometry", "geom", "the_geom"),
}


def _empty_int() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass
class Compounds:
    """The gated compounds of a run: their openings, walls and own paths.

    Parameters
    ----------
    cluster : numpy.ndarray
        int64: the row (in the clusters frame) of each compound with an opening.
    openings_ptr : numpy.ndarray
        int64: compound ``i``'s openings are ``openings_ptr[i]:openings_ptr[i + 1]``.
    x, y : numpy.ndarray
        Each opening, in the network's metric CRS.
    kind : numpy.ndarray
        Each opening's kind (object array of str): ``gate`` (OSM), ``table`` (a gate
        table's row) or ``crossing`` (a network edge crosses the boundary there).
    walls : numpy.ndarray
        int64 network edge ids, ascending, that cross the boundary of a compound with
        gates (``gate`` or ``table`` openings) farther than :data:`WALL_TOLERANCE_M` from
        all of them.
    inside_edges_ptr : numpy.ndarray
        int64: compound ``i``'s inside edges are ``inside_edges[ptr[i]:ptr[i + 1]]``.
    inside_edges : numpy.ndarray
        int64 network edge ids whose midpoint lies inside the compound and that are not
        walls, ascending per compound.
    ungated : numpy.ndarray
        int64: the rows of polygon clusters with no opening at all (all of them when the
        gate rule is off); they keep the single-point rule.
    notes : list of str
        Warnings for the summary (gate table rows far from every compound, ...).
    rejected : list of dict
        Gate table rows not used, as records of rejected_rows.csv
        (:func:`circles.sources.tables.rejection`).
    """

    cluster: np.ndarray = field(default_factory=_empty_int)
    openings_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kind: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    walls: np.ndarray = field(default_factory=_empty_int)
    inside_edges_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    inside_edges: np.ndarray = field(default_factory=_empty_int)
    ungated: np.ndarray = field(default_factory=_empty_int)
    notes: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        """Number of compounds with an opening."""
        return len(self.cluster)


def is_gate(tags: Mapping[str, str]) -> bool:
    """Whether an OSM node's tags make it a gate walkers may pass.

    Parameters
    ----------
    tags : Mapping
        The node's tags.

    Returns
    -------
    bool
        True for ``barrier`` in :data:`GATE_BARRIERS` or ``entrance`` other than
        :data:`NOT_GATE_ENTRANCES`; False when ``access=no`` closes it and
        ``foot`` does not open it, for ``foot=no`` and for ``locked=yes``.
    """
    foot = tags.get("foot")
    if foot == "no" or tags.get("locked") == "yes":
        return False
    if tags.get("access") in CLOSED_ACCESS and foot not in FOOT_OPEN:
        return False
    entrance = tags.get("entrance")
    return tags.get("barrier") in GATE_BARRIERS or (
        entrance is not None and entrance not in NOT_GATE_ENTRANCES
    )


def gate_points(features: gpd.GeoDataFrame | None, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """The OSM gate nodes among the features, in a metric CRS.

    Parameters
    ----------
    features : geopandas.GeoDataFrame or None
        OSM features (columns osm_type, tags, geometry), in any CRS.
    crs : pyproj.CRS
        The CRS of the result (the network's).

    Returns
    -------
    tuple of numpy.ndarray
        x and y of each node that :func:`is_gate` accepts.
    """
    if features is None or len(features) == 0:
        return np.zeros(0), np.zeros(0)
    nodes = features[(features["osm_type"] == "node").to_numpy(bool)]
    tags = nodes["tags"].tolist()
    keep = np.fromiter((is_gate(t) for t in tags), dtype=bool, count=len(tags))
    gates = nodes[keep]
    gates = gates[(gates.geom_type == "Point").to_numpy(bool)]
    if len(gates) and gates.crs is not None and not gates.crs.equals(crs):
        gates = gates.to_crs(crs)
    return gates.geometry.x.to_numpy(np.float64), gates.geometry.y.to_numpy(np.float64)


def _compound_rows(clusters: gpd.GeoDataFrame) -> np.ndarray:
    """The rows of the clusters that are compounds: landuse polygons, a table's polygons."""
    if len(clusters) == 0 or "method" not in clusters:
        return _empty_int()
    method = clusters["method"].to_numpy(object)
    polygonal = clusters.geom_type.isin(("Polygon", "MultiPolygon")).to_numpy(bool)
    polygonal = polygonal & ~clusters.geometry.is_empty.to_numpy(bool)
    return np.flatnonzero(np.isin(method, COMPOUND_METHODS) & polygonal)


def _ranges(lo: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each ``i`` repeated ``n[i]`` times, and ``lo[i], lo[i] + 1, ...`` beside it."""
    rep = np.repeat(np.arange(len(n)), n)
    return rep, np.arange(int(n.sum())) + np.repeat(lo - (np.cumsum(n) - n), n)


def _group_pairs(ga: np.ndarray, gb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(i, j)`` with ``ga[i] == gb[j]``, without a loop."""
    order = np.argsort(gb, kind="stable")
    sorted_b = gb[order]
    lo = np.searchsorted(sorted_b, ga, "left")
    i, j = _ranges(lo, np.searchsorted(sorted_b, ga, "right") - lo)
    return i, order[j]


def _points_in_boxes(
    px: np.ndarray, py: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (point, box) with the point in the box (xmin, ymin, xmax, ymax).

    Points and boxes meet in the cells of a grid about as fine as a typical box, so that
    no geometry is made per point (95,606 shapely points take a tenth of a second).
    """
    if len(px) == 0 or len(boxes) == 0:
        return _empty_int(), _empty_int()
    x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
    x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
    typical = float(np.median(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
    size = max(typical, (x1 - x0 + y1 - y0) / 1000, 1.0)
    n_rows = int((y1 - y0) // size) + 1
    pts = np.flatnonzero((px >= x0) & (px <= x1) & (py >= y0) & (py <= y1))
    key = ((px[pts] - x0) // size).astype(np.int64) * n_rows + ((py[pts] - y0) // size).astype(
        np.int64
    )
    order = np.argsort(key, kind="stable")
    key = key[order]
    bx0, by0, bx1, by1 = (
        ((boxes[:, k] - (x0, y0)[k % 2]) // size).astype(np.int64) for k in range(4)
    )
    height = by1 - by0 + 1
    box, k = _ranges(np.zeros(len(boxes), dtype=np.int64), (bx1 - bx0 + 1) * height)
    cell = (bx0[box] + k // height[box]) * n_rows + by0[box] + k % height[box]
    lo = np.searchsorted(key, cell, "left")
    i, j = _ranges(lo, np.searchsorted(key, cell, "right") - lo)
    p, b = pts[order[j]], box[i]
    inside = (px[p] >= boxes[b, 0]) & (px[p] <= boxes[b, 2])
    inside &= (py[p] >= boxes[b, 1]) & (py[p] <= boxes[b, 3])
    return p[inside], b[inside]


def _inside_pairs(
    px: np.ndarray, py: np.ndarray, polys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (point, compound) with the point strictly inside the compound."""
    import shapely

    p, c = _points_in_boxes(px, py, shapely.bounds(polys).reshape(-1, 4))
    inside = shapely.contains_xy(polys[c], px[p], py[p])
    return p[inside], c[inside]


def _ptr(groups: np.ndarray, n: int) -> np.ndarray:
    """CSR pointers of sorted group labels ``0 .. n - 1``."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(groups, minlength=n), out=ptr[1:])
    return ptr


@dataclass
class _Gates:
    """Gate points (OSM nodes and table rows) and the compounds they open."""

    compound: np.ndarray  # compound index (into the compound rows) of each opening
    x: np.ndarray
    y: np.ndarray
    kind: np.ndarray


def _assign(
    px: np.ndarray, py: np.ndarray, boundaries: np.ndarray, max_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (point, compound) of each point and the compounds whose boundary is nearest.

    A point goes to the compound whose boundary is nearest, if within ``max_m``, and to
    any other within :data:`WALL_TOLERANCE_M` of that distance (a gate on a wall two
    compounds share). Returns the pairs' point and compound indices and their distances.
    """
    import shapely

    if len(px) == 0 or len(boundaries) == 0:
        return _empty_int(), _empty_int(), np.zeros(0)
    points = shapely.points(px, py)
    tree = shapely.STRtree(boundaries)
    pi, ci = tree.query(points, predicate="dwithin", distance=max_m)
    d = shapely.distance(points[pi], boundaries[ci])
    nearest = np.full(len(px), np.inf)
    np.minimum.at(nearest, pi, d)
    keep = d <= nearest[pi] + WALL_TOLERANCE_M
    return pi[keep], ci[keep], d[keep]


@dataclass
class _Crossings:
    """Where network edges cross compound boundaries: one row per crossing (edge,
    compound) pair, and one or more boundary points per pair."""

    edge: np.ndarray
    compound: np.ndarray
    point_pair: np.ndarray  # the pair of each point
    px: np.ndarray
    py: np.ndarray


def _boundary_segments(boundaries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every straight segment of the compounds' rings: start, end (n x 2) and compound."""
    import shapely

    rings, ring_compound = shapely.get_parts(boundaries, return_index=True)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    return xy[:-1][same], xy[1:][same], ring_compound[ring[:-1][same]]


def _crossings(
    network: WalkNetwork,
    polys: np.ndarray,
    boundaries: np.ndarray,
    mid_edge: np.ndarray,
    mid_compound: np.ndarray,
) -> _Crossings:
    """The edges that cross a compound's boundary, and where.

    An edge crosses when one of its ends lies strictly inside and the other not (a node
    of the outline is not inside: a street drawn on it does not cross), or neither but
    its midpoint (``mid_edge``, ``mid_compound``: a path through a corner). A *skim*
    does not count: an edge that meets the boundary at less than :data:`SKIM_DEGREES`
    and whose part inside stays within :data:`WALL_TOLERANCE_M` of it (a street drawn
    along the wall, zigzagging a metre or two across it). The points where a crossing
    edge meets the boundary are its crossing points.
    """
    import shapely

    x, y, u, v = network.x, network.y, network.edge_u, network.edge_v
    m = len(polys)
    node, node_c = _inside_pairs(x, y, polys)
    inside_key = np.sort(node * m + node_c)
    # (edge, compound) pairs with an end or the midpoint inside; those with both ends
    # inside do not cross.
    iu, eu = _group_pairs(node, u)
    iv, ev = _group_pairs(node, v)
    keys = np.unique(
        np.concatenate([eu * m + node_c[iu], ev * m + node_c[iv], mid_edge * m + mid_compound])
    )
    edge, comp = keys // m, keys % m

    def is_inside(nodes: np.ndarray) -> np.ndarray:
        k = nodes * m + comp
        at = np.minimum(np.searchsorted(inside_key, k), max(len(inside_key) - 1, 0))
        return inside_key[at] == k if len(inside_key) else np.zeros(len(k), dtype=bool)

    a_in, b_in = is_inside(u[edge]), is_inside(v[edge])
    crossing = ~(a_in & b_in)
    edge, comp, a_in, b_in = edge[crossing], comp[crossing], a_in[crossing], b_in[crossing]
    a, b = u[edge], v[edge]

    # Where each crossing edge meets the segments of its compound's boundary:
    # p + t r = q + w s, and the sine of the angle between them.
    seg_a, seg_b, seg_c = _boundary_segments(boundaries)
    lines = shapely.linestrings(
        np.stack([np.column_stack([x[a], y[a]]), np.column_stack([x[b], y[b]])], axis=1)
    )
    tree = shapely.STRtree(shapely.linestrings(np.stack([seg_a, seg_b], axis=1)))
    ki, si = tree.query(lines, predicate="intersects") if len(lines) else (_empty_int(),) * 2
    own = seg_c[si] == comp[ki]
    ki, si = ki[own], si[own]
    p = np.column_stack([x[a[ki]], y[a[ki]]])
    r = np.column_stack([x[b[ki]], y[b[ki]]]) - p
    q, s = seg_a[si], seg_b[si] - seg_a[si]
    cross = r[:, 0] * s[:, 1] - r[:, 1] * s[:, 0]
    norms = np.hypot(r[:, 0], r[:, 1]) * np.hypot(s[:, 0], s[:, 1])
    ok = np.abs(cross) > 1e-9 * norms  # parallel: along the outline, not through it
    ki, sine = ki[ok], np.abs(cross[ok]) / norms[ok]
    qp = q[ok] - p[ok]
    t = np.clip((qp[:, 0] * s[ok, 1] - qp[:, 1] * s[ok, 0]) / cross[ok], 0.0, 1.0)
    px, py = p[ok, 0] + t * r[ok, 0], p[ok, 1] + t * r[ok, 1]

    steep = np.zeros(len(edge))
    np.maximum.at(steep, ki, sine)
    # A shallow crossing whose part inside stays near the outline (its ends inside, or
    # its midpoint when neither is) is a skim.
    sh = np.flatnonzero(steep < np.sin(np.radians(SKIM_DEGREES)))
    bnd, tol = boundaries[comp[sh]], WALL_TOLERANCE_M
    mx, my = (x[a[sh]] + x[b[sh]]) / 2, (y[a[sh]] + y[b[sh]]) / 2
    deep = a_in[sh] & ~shapely.dwithin(bnd, shapely.points(x[a[sh]], y[a[sh]]), tol)
    deep |= b_in[sh] & ~shapely.dwithin(bnd, shapely.points(x[b[sh]], y[b[sh]]), tol)
    deep |= ~a_in[sh] & ~b_in[sh] & ~shapely.dwithin(bnd, shapely.points(mx, my), tol)
    keep = np.ones(len(edge), dtype=bool)
    keep[sh[~deep]] = False
    # An edge whose meeting point rounding lost: its end outside stands for it.
    lost = keep & (np.bincount(ki, minlength=len(edge)) == 0)
    out_end = np.where(a_in, b, a)[lost]
    ki = np.concatenate([ki, np.flatnonzero(lost)])
    px, py = np.concatenate([px, x[out_end]]), np.concatenate([py, y[out_end]])

    new_index = np.cumsum(keep) - 1
    kept = keep[ki]
    order = np.argsort(new_index[ki[kept]], kind="stable")
    return _Crossings(
        edge[keep],
        comp[keep],
        new_index[ki[kept]][order],
        px[kept][order],
        py[kept][order],
    )


def _walls(gates: _Gates, cross: _Crossings, max_m: float) -> np.ndarray:
    """Which crossings (edge, compound) of compounds with gates pass through none of them.

    A crossing passes through a gate when one of its points lies within
    :data:`WALL_TOLERANCE_M` of the gate, or of the crossing point nearest the gate (if
    that one is within ``max_m``: a gate table's point can lie metres off the wall, and
    the path through the gate is still the nearest crossing). Returns a boolean per
    crossing.
    """
    is_gated = np.isin(cross.compound, gates.compound)
    if not is_gated.any():
        return is_gated
    gi, pj = _group_pairs(gates.compound, cross.compound[cross.point_pair])
    d = np.hypot(gates.x[gi] - cross.px[pj], gates.y[gi] - cross.py[pj])
    passes = np.zeros(len(cross.px), dtype=bool)
    passes[pj[d <= WALL_TOLERANCE_M]] = True
    # The crossing point nearest each gate, and the points close to it.
    if len(d):
        order = np.lexsort((d, gi))
        first = order[np.r_[True, gi[order][1:] != gi[order][:-1]]]
        anchor = first[d[first] <= max_m]
        ax = np.full(len(gates.x), np.nan)
        ay = np.full(len(gates.x), np.nan)
        ax[gi[anchor]], ay[gi[anchor]] = cross.px[pj[anchor]], cross.py[pj[anchor]]
        d2 = np.hypot(ax[gi] - cross.px[pj], ay[gi] - cross.py[pj])
        passes[pj[d2 <= WALL_TOLERANCE_M]] = True
    pair_passes = np.zeros(len(cross.edge), dtype=bool)
    pair_passes[cross.point_pair[passes]] = True
    return is_gated & ~pair_passes


def _table_gates(
    settings: GateSettings,
    network: WalkNetwork,
    boundaries: np.ndarray,
    names: np.ndarray,
    area: StudyArea | None,
    notes: list[str],
    rejected: list[dict[str, Any]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A gate table's rows assigned to compounds; the others rejected with a reason.

    Returns the pairs (row's x, row's y, compound) and the rows used.
    """
    import shapely

    from circles.sources.tables import StudyArea, rejection
    from circles.sources.tables.locate import locate_table
    from circles.sources.tables.merge import similar_names
    from circles.sources.tables.read import _require_coordinates, read_raw, resolve_columns
    from circles.sources.tables.read import role_texts as texts

    assert settings.file is not None
    where = "gates"
    raw = read_raw(settings.file, settings.encoding, settings.sheet)
    cols = resolve_columns(raw, settings.columns.model_dump(), GATE_ROLES, where)
    _require_coordinates(raw, cols, where)
    if area is None:
        hull = shapely.convex_hull(shapely.multipoints(np.column_stack([network.x, network.y])))
        area = StudyArea(hull.buffer(settings.max_distance_m), network.crs)
    _, loc, _ = locate_table(raw, cols, settings.crs, where, area)
    gate_names = texts(raw, cols, "name")
    # The 小区 a row names (its own column, else its name: AMap's POI export of a 小区
    # names the 小区 and gives its entrance), which decides between compounds in reach.
    hint = texts(raw, cols, "residence" if "residence" in cols else "name")
    placed = np.flatnonzero(loc.reason == "")
    pi, ci, _ = _assign(loc.x[placed], loc.y[placed], boundaries, settings.max_distance_m)
    pairs = zip(hint[placed[pi]], names[ci], strict=True)
    named = np.array([bool(h and c and similar_names(h, c)) for h, c in pairs], dtype=bool)
    row_named = np.zeros(len(placed), dtype=bool)
    row_named[pi[named]] = True
    keep = named | ~row_named[pi]  # a row naming a compound in reach goes to it alone
    assigned = np.unique(pi)
    unmatched = int((~row_named[assigned] & (hint[placed[assigned]] != "")).sum())
    pi, ci = pi[keep], ci[keep]
    if unmatched and "residence" in cols:
        notes.append(
            f"{raw.path.name}: {unmatched} gates name a 小区 that matches none within "
            f"{settings.max_distance_m:g} m; each went to the 小区 whose outline is nearest"
        )
    bad = np.flatnonzero(loc.reason != "")
    refused = [(int(i), str(loc.reason[i]), str(loc.detail[i])) for i in bad]
    if len(bad):
        notes.append(
            f"{raw.path.name}: {len(bad)} of {len(raw.frame)} gates have coordinates that "
            f"cannot be used (e.g. row {int(raw.rows[bad[0]])}: {loc.detail[bad[0]]}); see "
            "rejected_rows.csv"
        )
    far = np.setdiff1d(placed, placed[pi])
    if len(far):
        if len(boundaries):
            points = shapely.points(loc.x[far], loc.y[far])
            _, d = shapely.STRtree(boundaries).query_nearest(points, return_distance=True)
        else:
            d = np.full(len(far), np.inf)
        limit = f"at most {settings.max_distance_m:g} m, gates.max_distance_m"
        for i, dist in zip(far.tolist(), d.tolist(), strict=True):
            detail = (
                f"{dist:.0f} m from the nearest 小区 outline ({limit})"
                if np.isfinite(dist)
                else "there is no 小区 polygon (the clusters are buildings or grid cells)"
            )
            refused.append((i, "far_from_compound", detail))
        first = int(far[0])
        example = f"row {int(raw.rows[first])}" + (
            f" '{gate_names[first]}'" if gate_names[first] else ""
        )
        how = (
            f"{example} is {d[0]:.0f} m from the nearest"
            if np.isfinite(d[0])
            else f"{example}; there is no 小区 polygon"
        )
        notes.append(
            f"{raw.path.name}: {len(far)} of {len(raw.frame)} gates lie farther than "
            f"{settings.max_distance_m:g} m from every 小区 outline and are not used (e.g. "
            f"{how}); see rejected_rows.csv; check gates.crs (AMap: gcj02), or raise "
            "gates.max_distance_m"
        )
    raw.keep_records([i for i, _, _ in refused])
    rejected.extend(
        rejection(raw, cols, "gates", i, reason, detail, gate_names[i])
        for i, reason, detail in refused
    )
    rows = placed[pi]
    return loc.x[rows], loc.y[rows], ci, rows


def find_compounds(
    clusters: gpd.GeoDataFrame,
    network: WalkNetwork,
    features: gpd.GeoDataFrame | None,
    settings: GateSettings,
    area: StudyArea | None = None,
) -> Compounds:
    """The compounds among the clusters, with their openings, walls and own paths.

    Parameters
    ----------
    clusters : geopandas.GeoDataFrame
        The residence clusters (network CRS), with their ``method``; the compounds are
        the polygons of ``landuse`` and of ``table`` clusters.
    network : WalkNetwork
        The walking network (its edges are straight segments between its nodes).
    features : geopandas.GeoDataFrame or None
        OSM features (any CRS), whose gate nodes (:func:`is_gate`) open compounds.
    settings : GateSettings
        The rule (``off``: no compound is gated), the gate table and ``max_distance_m``.
    area : circles.sources.tables.StudyArea, optional
        Where the gate table's rows may lie; default: the network's hull grown by
        ``max_distance_m``.

    Returns
    -------
    Compounds
        The compounds with an opening, their walls and inside edges, the polygon
        clusters without one, notes and the gate table's rejected rows.

    Raises
    ------
    InputError
        The gate table cannot be read, a mapped column is missing, or it has no
        coordinate columns.
    """
    import shapely

    rows = _compound_rows(clusters)
    out = Compounds(notes=[], rejected=[])
    if settings.rule == "off":
        if settings.file is not None:
            out.notes.append(
                f"gates.rule is off: the gate table {settings.file.name} is not used; every "
                "小区 is measured from one point"
            )
        out.ungated = rows
        return out
    polys = clusters.geometry.to_numpy()[rows]
    boundaries = shapely.boundary(polys)
    shapely.prepare(polys)
    shapely.prepare(boundaries)
    n = len(rows)

    # Gates: OSM nodes near a boundary, then the gate table's rows.
    gx, gy = gate_points(features, network.crs)
    pi, ci, _ = _assign(gx, gy, boundaries, settings.max_distance_m)
    parts = [(gx[pi], gy[pi], ci, np.full(len(pi), "gate", dtype=object))]
    if settings.file is not None:
        names = (
            clusters["name"].fillna("").astype(str).to_numpy(object)[rows]
            if "name" in clusters
            else np.full(n, "", dtype=object)
        )
        tx, ty, tc, _ = _table_gates(
            settings, network, boundaries, names, area, out.notes, out.rejected
        )
        parts.append((tx, ty, tc, np.full(len(tc), "table", dtype=object)))
    gates = _Gates(
        compound=np.concatenate([p[2] for p in parts]).astype(np.int64),
        x=np.concatenate([p[0] for p in parts]),
        y=np.concatenate([p[1] for p in parts]),
        kind=np.concatenate([p[3] for p in parts]),
    )

    # Crossings and walls. A named street is public: a compound whose wall it would
    # cross away from the gates is no walled compound (an OSM residential area drawn
    # over a neighbourhood, with a farm gate at its edge): it is open, with no walls.
    x, y, u, v = network.x, network.y, network.edge_u, network.edge_v
    mid_e, mid_c = _inside_pairs((x[u] + x[v]) / 2, (y[u] + y[v]) / 2, polys)
    cross = _crossings(network, polys, boundaries, mid_e, mid_c)
    wall = _walls(gates, cross, settings.max_distance_m)
    named = network.street_names[network.edge_street[cross.edge]] != ""
    is_open = np.zeros(n, dtype=bool)
    is_open[cross.compound[wall & named]] = True
    if is_open.any():
        out.notes.append(
            f"{int(is_open.sum())} 小区 with gates are crossed by a named street away from "
            "their gates, so they are not walled: their walks start where paths cross "
            "their outline"
        )
    walls = np.unique(cross.edge[wall & ~is_open[cross.compound]])
    keep = ~is_open[gates.compound]
    gates = _Gates(gates.compound[keep], gates.x[keep], gates.y[keep], gates.kind[keep])
    has_gate = np.zeros(n, dtype=bool)
    has_gate[gates.compound] = True

    # Openings: the gates, else the crossings (once per place).
    open_c = cross.compound[cross.point_pair]
    fallback = ~has_gate[open_c]
    key = np.column_stack(
        [open_c[fallback], np.round(cross.px[fallback], 1), np.round(cross.py[fallback], 1)]
    )
    uniq = np.unique(key, axis=0) if len(key) else np.zeros((0, 3))
    comp = np.concatenate([gates.compound, uniq[:, 0].astype(np.int64)])
    ox = np.concatenate([gates.x, uniq[:, 1]])
    oy = np.concatenate([gates.y, uniq[:, 2]])
    kind = np.concatenate([gates.kind, np.full(len(uniq), "crossing", dtype=object)])
    order = np.argsort(comp, kind="stable")
    comp, ox, oy, kind = comp[order], ox[order], oy[order], kind[order]

    # Inside edges: midpoint inside, not a wall.
    opened = np.zeros(n, dtype=bool)
    opened[comp] = True
    index = np.full(n, -1, dtype=np.int64)
    index[opened] = np.arange(int(opened.sum()))
    inside = opened[mid_c] & ~np.isin(mid_e, walls)
    ei, ic = mid_e[inside], index[mid_c[inside]]
    order = np.lexsort((ei, ic))
    out.cluster = rows[opened].astype(np.int64)
    out.openings_ptr = _ptr(index[comp], len(out.cluster))
    out.x, out.y, out.kind = ox, oy, kind
    out.walls = walls.astype(np.int64)
    out.inside_edges_ptr = _ptr(ic[order], len(out.cluster))
    out.inside_edges = ei[order].astype(np.int64)
    out.ungated = rows[~opened].astype(np.int64)
    return out
