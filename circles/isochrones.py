"""Walking isochrones: the streets reachable within a threshold, buffered and dissolved.

The faithful method (``network``, the default): an edge reachable within the budget is
taken whole; a partly reachable edge is cut at the exact remaining distance from each
reachable end (edges are straight segments). The pieces are merged into lines, buffered
by the street-frontage depth and dissolved, so holes (blocks no street crosses) and
separate parts are kept, and a smaller threshold's polygon lies inside a larger one's by
construction. The origin's snap distance is walked first, as in the engine.

``convex`` and ``concave`` are the usual shortcuts, kept for comparison: the convex or
concave hull of the same reachable points, buffered by the same width.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from circles.engine import ball
from circles.graph import Seeds
from circles.network import WalkNetwork
from circles.snap import Attachment

if TYPE_CHECKING:
    import geopandas as gpd

    from circles.config import IsochroneSettings

METHODS: tuple[str, ...] = ("network", "convex", "concave")
_QUAD_SEGS = 4


class Reached:
    """Network distances from one origin to the nodes within a budget.

    One search at the largest threshold; :meth:`pieces` then cuts the reachable streets
    for any smaller budget without searching again. An origin may start from several
    seeds (the gates of a walled 小区), each with what is walked before it.

    Parameters
    ----------
    network : WalkNetwork
        The walking network.
    edge : int or numpy.ndarray
        The edge each seed is attached to.
    offset : float or numpy.ndarray
        Walking distance (m) along that edge from its ``edge_u`` end.
    snap_m : float or numpy.ndarray
        What is walked before the seed (m): the straight way to the edge.
    budget : float
        The largest distance (m) to search.
    weights : numpy.ndarray, optional
        The walking cost of each CSR entry (:meth:`circles.origins.Walk.csr_weights`);
        default: the network's lengths.
    """

    def __init__(
        self,
        network: WalkNetwork,
        edge: Any,
        offset: Any,
        snap_m: Any,
        budget: float,
        weights: np.ndarray | None = None,
    ) -> None:
        self.network = network
        self.edge = np.atleast_1d(np.asarray(edge, dtype=np.int64))
        self.offset = np.atleast_1d(np.asarray(offset, dtype=np.float64))
        self.snap = np.atleast_1d(np.asarray(snap_m, dtype=np.float64))
        self.snap_m = float(self.snap.min())
        self._weights = weights
        self._seed_cost = self._costs(self.edge)
        net = network
        w_csr = net.weights if weights is None else weights
        u, v = net.edge_u[self.edge], net.edge_v[self.edge]
        length = self._seed_cost
        seeds = np.concatenate([u, v])
        seed_d = np.concatenate([self.snap + self.offset, self.snap + length - self.offset])
        self.nodes, self.dist = ball(net.indptr, net.indices, w_csr, seeds, seed_d, budget)
        # Every CSR entry leaving a reached node: a possible piece towards the neighbour.
        deg = net.indptr[self.nodes + 1] - net.indptr[self.nodes]
        first = np.cumsum(deg) - deg
        j = np.repeat(net.indptr[self.nodes], deg) + (np.arange(deg.sum()) - np.repeat(first, deg))
        self.a = np.repeat(self.nodes, deg)
        self.b = net.indices[j]
        self.w = w_csr[j]
        self.da = np.repeat(self.dist, deg)
        d_full = np.full(net.n_nodes, np.inf)
        d_full[self.nodes] = self.dist
        self.db = d_full[self.b]

    def pieces(self, budget: float) -> np.ndarray:
        """The street segments reachable within ``budget``.

        Parameters
        ----------
        budget : float
            Distance (m), at most the budget of the search.

        Returns
        -------
        numpy.ndarray
            Segments as (k, 2, 2) coordinates in the network CRS: whole edges, and partly
            reachable edges cut at the remaining distance; empty when the snap distance
            alone uses up the budget.
        """
        net = self.network
        if budget - self.snap_m <= 0:
            return np.zeros((0, 2, 2))
        # A wall (infinite cost) is no piece at all.
        live = (self.da <= budget) & np.isfinite(self.w)
        a, b, w, da, db = self.a[live], self.b[live], self.w[live], self.da[live], self.db[live]
        frac = np.minimum(1.0, (budget - da) / np.maximum(w, 1e-12))
        # A piece is redundant when the opposite end reaches the whole edge; an edge
        # whole from both ends is kept once.
        reverse_whole = budget - db >= w
        keep = ~reverse_whole | ((frac >= 1.0) & (a < b))
        a, b, frac = a[keep], b[keep], frac[keep]
        x, y = net.x, net.y
        ax, ay = x[a], y[a]
        from_nodes = np.stack(
            [
                np.column_stack([ax, ay]),
                np.column_stack([ax + frac * (x[b] - ax), ay + frac * (y[b] - ay)]),
            ],
            axis=1,
        )
        own = [self._own_edge(budget, i) for i in range(len(self.edge))]
        return np.concatenate([from_nodes, *own])

    def _costs(self, edges: np.ndarray) -> np.ndarray:
        """The walking cost of edges: their CSR entry's weight (both directions agree)."""
        net = self.network
        if self._weights is None:
            return net.edge_len[edges]
        # An edge's first CSR entry is the one leaving its edge_u end.
        u = net.edge_u[edges]
        out = np.empty(len(edges))
        for k, (a, e) in enumerate(zip(u, edges, strict=True)):
            row = slice(net.indptr[a], net.indptr[a + 1])
            out[k] = self._weights[row][net.csr_edge[row] == e][0]
        return out

    def _own_edge(self, budget: float, i: int) -> np.ndarray:
        """Seed i's own edge, walked from the attachment point both ways."""
        net = self.network
        edge, offset = self.edge[i], self.offset[i]
        u, v = net.edge_u[edge], net.edge_v[edge]
        cost = float(self._seed_cost[i])
        r0 = budget - self.snap[i]
        if r0 <= 0:
            return np.zeros((0, 2, 2))
        x, y = net.x, net.y
        # A seed on a wall keeps its offset in metres (see Walk.offsets).
        span = cost if np.isfinite(cost) else net.edge_len[edge]
        t = offset / span if span > 0 else 0.0
        px, py = x[u] + t * (x[v] - x[u]), y[u] + t * (y[v] - y[u])
        out = []
        for end, room in ((u, offset), (v, cost - offset)):
            f = min(r0, room) / room if 0 < room < np.inf else 0.0
            out.append([[px, py], [px + f * (x[end] - px), py + f * (y[end] - py)]])
        return np.asarray(out, dtype=np.float64)


def polygon(
    segments: np.ndarray, buffer_m: float, method: str = "network", concave_ratio: float = 0.3
) -> shapely.Geometry:
    """The isochrone polygon of reachable segments by one of :data:`METHODS`.

    Parameters
    ----------
    segments : numpy.ndarray
        Reachable segments, shape (k, 2, 2), as :meth:`Reached.pieces` returns them.
    buffer_m : float
        Buffer width (m): the street-frontage depth.
    method : str
        ``network`` (the streets, buffered and dissolved), ``convex`` or ``concave``
        (the hull of the segments' ends, buffered).
    concave_ratio : float
        ``ratio`` of :func:`shapely.concave_hull` for the ``concave`` method.

    Returns
    -------
    shapely.Geometry
        A valid (multi)polygon; empty when there are no segments.

    Raises
    ------
    ValueError
        If ``method`` is not one of :data:`METHODS`.
    """
    if len(segments) == 0:
        return shapely.Polygon()
    if method == "network":
        # Merging pieces into lines first leaves a quarter of the geometries to buffer;
        # buffering each and dissolving is several times faster than one big buffer.
        lines = shapely.get_parts(
            shapely.line_merge(shapely.multilinestrings(shapely.linestrings(segments)))
        )
        # Round ends and joins of 4 segments per quarter circle: the area is within 0.3% of
        # a true circle's, and the dissolve, the costly step, is a fifth faster than at 8.
        buffers = shapely.buffer(lines, buffer_m, quad_segs=_QUAD_SEGS)
        return shapely.make_valid(shapely.union_all(buffers))
    points = shapely.multipoints(segments.reshape(-1, 2))
    if method == "convex":
        hull = shapely.convex_hull(points)
    elif method == "concave":
        hull = shapely.concave_hull(points, ratio=concave_ratio)
    else:
        raise ValueError(f"isochrone method must be one of {', '.join(METHODS)}, not {method!r}")
    return shapely.buffer(hull, buffer_m, quad_segs=_QUAD_SEGS)


def isochrone_polygons(
    network: WalkNetwork,
    attachment: Attachment | Seeds,
    thresholds: list[float],
    buffer_m: float,
    method: str = "network",
    concave_ratio: float = 0.3,
    workers: int | None = None,
    weights: np.ndarray | None = None,
    used: np.ndarray | None = None,
) -> list[list[shapely.Geometry]]:
    """For each attached point, one polygon per threshold (empty when not used).

    One search per point at the largest threshold serves every threshold. Points run on
    a thread pool: the search (numba) and shapely's operations release the GIL.

    Parameters
    ----------
    network : WalkNetwork
        The walking network.
    attachment : Attachment or Seeds
        The points (cluster centres) and where they join the network; or the seeds of
        each used point (the gates of a walled 小区), offsets in walking cost.
    thresholds : list of float
        Distances (m); the polygons come in this order.
    buffer_m : float
        Buffer width (m) around the reachable streets.
    method : str
        One of :data:`METHODS`.
    concave_ratio : float
        For the ``concave`` method.
    workers : int, optional
        Threads (default: the CPU count, at most 8).
    weights : numpy.ndarray, optional
        The walking cost of each CSR entry (steps, slopes, walls); default: lengths.
    used : numpy.ndarray, optional
        With :class:`Seeds`: which points are used (the seeds' origins are the used ones,
        in order); default: all.

    Returns
    -------
    list of list of shapely.Geometry
        ``polygons[i][k]``: point i's polygon for ``thresholds[k]``. With the ``network``
        method a smaller threshold's polygon lies inside a larger one's.

    Raises
    ------
    ValueError
        If ``method`` is not one of :data:`METHODS`.
    """
    if method not in METHODS:
        raise ValueError(f"isochrone method must be one of {', '.join(METHODS)}, not {method!r}")
    budget = max(thresholds)
    order = sorted(thresholds)
    starts = _starts(attachment, used)

    def one(i: int) -> list[shapely.Geometry]:
        start = starts[i]
        if start is None:
            return [shapely.Polygon() for _ in thresholds]
        reached = Reached(network, *start, budget, weights)
        polys = [polygon(reached.pieces(t), buffer_m, method, concave_ratio) for t in order]
        if method == "network":
            # The pieces of a smaller threshold lie on those of a larger one, but buffers of
            # differently merged lines differ in the last digits at their joints: a union
            # makes each polygon contain the smaller ones exactly.
            for k in range(1, len(polys)):
                polys[k] = shapely.union(polys[k], polys[k - 1])
        by_threshold = dict(zip(order, polys, strict=True))
        return [by_threshold[t] for t in thresholds]

    n = len(starts)
    workers = workers or min(os.cpu_count() or 1, 8)
    if workers == 1 or n < 4:
        return [one(i) for i in range(n)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, range(n)))


_Start = tuple[np.ndarray, np.ndarray, np.ndarray] | None


def _starts(attachment: Attachment | Seeds, used: np.ndarray | None) -> list[_Start]:
    """Per point, its seeds' (edges, offsets, walked before), or None when not used."""
    if not isinstance(attachment, Seeds):
        return [
            (attachment.edge[i : i + 1], attachment.offset[i : i + 1], attachment.snap_m[i : i + 1])
            if attachment.used[i]
            else None
            for i in range(len(attachment))
        ]
    ptr = attachment.origin_ptr()
    mask = np.ones(attachment.n_origins, bool) if used is None else np.asarray(used, bool)
    out: list[_Start] = [None] * len(mask)
    for k, i in enumerate(np.flatnonzero(mask)):
        a, b = ptr[k], ptr[k + 1]
        out[i] = (attachment.edge[a:b], attachment.offset[a:b], attachment.snap_m[a:b])
    return out


def isochrones_frame(
    cluster_ids: list[str],
    polygons: list[list[shapely.Geometry]],
    thresholds: list[float],
    crs: Any,
    method: str = "network",
) -> gpd.GeoDataFrame:
    """Long table: one row per cluster and threshold, with its area and circle share.

    Parameters
    ----------
    cluster_ids : list of str
        One id per cluster.
    polygons : list of list of shapely.Geometry
        Per cluster, one polygon per threshold (:func:`isochrone_polygons`).
    thresholds : list of float
        The thresholds (m), in the order of each cluster's polygons.
    crs : pyproj.CRS or str
        The CRS of the polygons (anything geopandas accepts).
    method : str
        The method that drew them, kept in a column.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns cluster_id, threshold_m, method, area_m2, circle_share and geometry.
        ``circle_share`` is the area over that of the circle of the threshold's radius:
        a rough measure of how permeable the street pattern is.
    """
    import geopandas as gpd

    rows = [
        (cid, t, geom)
        for cid, row in zip(cluster_ids, polygons, strict=True)
        for t, geom in zip(thresholds, row, strict=True)
    ]
    geoms = [r[2] for r in rows]
    area = shapely.area(np.asarray(geoms, dtype=object)) if rows else np.zeros(0)
    thr = np.array([r[1] for r in rows], dtype=float)
    return gpd.GeoDataFrame(
        {
            "cluster_id": [r[0] for r in rows],
            "threshold_m": thr,
            "method": method,
            "area_m2": area,
            "circle_share": area / (np.pi * thr**2) if rows else np.zeros(0),
        },
        geometry=geoms,
        crs=crs,
    )


def draw(
    network: WalkNetwork,
    attachment: Attachment | Seeds,
    ids: list[str],
    distances: list[float],
    settings: IsochroneSettings,
    weights: np.ndarray | None = None,
    used: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """The drawing stage: isochrones of attached points, as a long table.

    Parameters
    ----------
    network : WalkNetwork
        The walking network.
    attachment : Attachment or Seeds
        Where each point joins it (unused points get empty polygons), or the seeds of
        the used points (:func:`isochrone_polygons`).
    ids : list of str
        The points' ids (the ``cluster_id`` column).
    distances : list of float
        The thresholds in metres.
    settings : IsochroneSettings
        ``method``, ``buffer_m`` and ``concave_ratio``.
    weights : numpy.ndarray, optional
        The walking cost of each CSR entry; default: lengths.
    used : numpy.ndarray, optional
        With :class:`Seeds`: which points are used.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`isochrones_frame`.
    """
    polygons = isochrone_polygons(
        network,
        attachment,
        distances,
        settings.buffer_m,
        settings.method,
        settings.concave_ratio,
        weights=weights,
        used=used,
    )
    return isochrones_frame(ids, polygons, distances, network.crs, settings.method)
