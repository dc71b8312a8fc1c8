"""Where residents' walks start: the buildings of each cluster, and the gates of a walled 小区.

A cluster's residents live in its buildings, not at its centre. Each residential building
is an origin weighted by its share of the cluster's floor area (so the weights sum to the
cluster's residents); a large cluster without mapped buildings is cut into cells of
:data:`CELL_M`, a small one keeps its one point.

A 小区 with openings (:mod:`circles.gates`) is walled: a walk from inside leaves only
through an opening. A point inside it joins the compound's own paths when one is within
the snap distance and leads out (through an opening, the walls being cut); otherwise it
walks straight to each opening and on from there, the nearest opening winning
(:class:`circles.engine.Seeds`). A compound without openings keeps the single-point rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from circles.graph import Graph, Points, Seeds
from circles.snap import Attachment, project_to_segments

if TYPE_CHECKING:
    import geopandas as gpd
    import shapely

    from circles.gates import Compounds
    from circles.network import WalkNetwork
    from circles.prepare import Prepared

__all__ = [
    "CELL_M",
    "Origins",
    "Residents",
    "Walk",
    "attach_points",
    "origin_points",
    "resident_origins",
]

# A cluster without mapped buildings is cut into cells of this size when it holds at least
# four of them; a smaller one is walked from its one point (within about 50 m of any home).
CELL_M = 50.0


@dataclass
class Walk:
    """What a step along each edge costs: metres at an adult's pace on the flat.

    Steps and slopes make an edge longer than it is (:mod:`circles.walking`); a wall of a
    walled 小区 cut by a street where no gate is mapped is infinitely long.

    Parameters
    ----------
    network : WalkNetwork
        The walking network.
    cost : numpy.ndarray
        Per edge, its walking length (m); ``inf`` for a wall.
    """

    network: WalkNetwork
    cost: np.ndarray

    @classmethod
    def plain(cls, network: WalkNetwork) -> Walk:
        """Every edge as long as it is.

        Parameters
        ----------
        network : WalkNetwork
            The walking network.

        Returns
        -------
        Walk
            Costs equal to the edges' lengths.
        """
        return cls(network, np.asarray(network.edge_len, dtype=np.float64))

    def with_walls(self, walls: np.ndarray) -> Walk:
        """These costs with the ``walls`` edges cut.

        Parameters
        ----------
        walls : numpy.ndarray
            Edge indices that cross a wall.

        Returns
        -------
        Walk
            A copy; the walls cost ``inf``.
        """
        cost = self.cost.copy()
        cost[np.asarray(walls, dtype=np.int64)] = np.inf
        return Walk(self.network, cost)

    @property
    def is_plain(self) -> bool:
        """Whether every edge costs its length."""
        return bool(np.array_equal(self.cost, self.network.edge_len))

    def graph(self) -> Graph:
        """The engine's graph with these costs as edge lengths.

        Returns
        -------
        Graph
            The network's edges, each as long as its cost.
        """
        net = self.network
        return Graph(net.n_nodes, net.edge_u, net.edge_v, self.cost)

    def csr_weights(self) -> np.ndarray:
        """The cost of each CSR entry of the network (for isochrones).

        Returns
        -------
        numpy.ndarray
            ``cost[network.csr_edge]``.
        """
        return self.cost[self.network.csr_edge]

    def offsets(self, edge: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Offsets along edges (m) in walking cost from their ``edge_u`` end.

        Parameters
        ----------
        edge : numpy.ndarray
            The edges.
        offset : numpy.ndarray
            Metres from each edge's first node.

        Returns
        -------
        numpy.ndarray
            The offsets scaled by each edge's cost over its length (walls keep metres: the
            point stays reachable from the edge's first node only).
        """
        length = self.network.edge_len[edge]
        cost = self.cost[edge]
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(np.isfinite(cost) & (length > 0), cost / length, 1.0)
        return np.asarray(offset, dtype=np.float64) * factor

    def points(self, attachment: Attachment) -> Points:
        """The used points of an attachment, as the engine takes them.

        Parameters
        ----------
        attachment : Attachment
            Where points join the network.

        Returns
        -------
        Points
            The used ones, offsets in walking cost.
        """
        used = attachment.used
        edge = attachment.edge[used]
        return Points(edge, self.offsets(edge, attachment.offset[used]), attachment.snap_m[used])


@dataclass
class Origins:
    """The places residents start from, each with its residents.

    Attributes
    ----------
    cluster : numpy.ndarray
        Row of each origin's cluster (int64).
    weight : numpy.ndarray
        Residents of each origin; a cluster's origins sum to its population.
    kind : numpy.ndarray
        ``building``, ``cell`` or ``point`` (the cluster's own point).
    x, y : numpy.ndarray
        Positions (network CRS).
    seeds : Seeds
        Where each used origin's walks start (:func:`attach_points`); its origins are the
        used origins, in order.
    used : numpy.ndarray
        Whether each origin joined the network.
    """

    cluster: np.ndarray
    weight: np.ndarray
    kind: np.ndarray
    x: np.ndarray
    y: np.ndarray
    seeds: Seeds
    used: np.ndarray

    def __len__(self) -> int:
        return len(self.cluster)


@dataclass
class Residents:
    """Where each cluster's residents start, and how far each start is from each category.

    Attributes
    ----------
    cluster : numpy.ndarray
        The cluster row of each origin (a building, a cell, a cluster's point).
    weight : numpy.ndarray
        Its residents.
    nearest : dict of str to numpy.ndarray
        Category key -> each origin's nearest distance (NaN: unreachable or not joined).
    """

    cluster: np.ndarray
    weight: np.ndarray
    nearest: dict[str, np.ndarray]


def origin_points(
    clusters: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each cluster's origins: its buildings, cells of a large unbuilt cluster, or its point.

    Parameters
    ----------
    clusters : geopandas.GeoDataFrame
        The clusters with ``population`` and ``method`` (grid cells are their own origin).
    buildings : geopandas.GeoDataFrame or None
        Residential buildings with ``floor_area_m2`` (same CRS).

    Returns
    -------
    cluster, weight, kind, x, y : numpy.ndarray
        Per origin: its cluster row, residents, kind and position, cluster by cluster.
    """
    import shapely

    from circles.residences import first_area

    n = len(clusters)
    population = np.nan_to_num(clusters["population"].to_numpy(float))
    point = clusters.geometry.representative_point()
    parts: list[tuple[np.ndarray, ...]] = []
    covered = np.zeros(n, dtype=bool)
    if buildings is not None and len(buildings):
        where = first_area(buildings, clusters)
        grid = (clusters["method"] == "grid").to_numpy(bool)
        inside = (where >= 0) & ~grid[np.maximum(where, 0)]
        where = where[inside]
        floor = buildings["floor_area_m2"].to_numpy(float)[inside]
        floor = np.where(floor > 0, floor, 0.0)
        total = np.bincount(where, weights=floor, minlength=n)
        bpt = buildings.geometry[inside].representative_point()
        share = np.divide(floor, total[where], out=np.zeros(len(where)), where=total[where] > 0)
        covered[np.unique(where[total[where] > 0])] = True
        keep = total[where] > 0
        parts.append(
            (
                where[keep],
                (population[where] * share)[keep],
                np.full(int(keep.sum()), "building", dtype=object),
                bpt.x.to_numpy()[keep],
                bpt.y.to_numpy()[keep],
            )
        )
    rest = np.flatnonzero(~covered)
    geoms = clusters.geometry.to_numpy()
    is_grid = (clusters["method"] == "grid").to_numpy(bool)
    big = rest[(shapely.area(geoms[rest]) >= 4 * CELL_M**2) & ~is_grid[rest]]
    for row in big:
        cx, cy = _cells(geoms[row])
        if len(cx) >= 2:
            w = np.full(len(cx), population[row] / len(cx))
            parts.append((np.full(len(cx), row), w, np.full(len(cx), "cell", dtype=object), cx, cy))
            covered[row] = True
    single = np.flatnonzero(~covered)
    parts.append(
        (
            single,
            population[single],
            np.full(len(single), "point", dtype=object),
            point.x.to_numpy()[single],
            point.y.to_numpy()[single],
        )
    )
    cluster, weight, kind, x, y = (np.concatenate([p[i] for p in parts]) for i in range(5))
    order = np.argsort(cluster, kind="stable")
    return (
        cluster[order].astype(np.int64),
        weight[order],
        kind[order],
        x[order],
        y[order],
    )


def _cells(geom: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the :data:`CELL_M` cells of a grid over ``geom`` that fall inside it."""
    import shapely

    x0, y0, x1, y1 = geom.bounds
    gx, gy = np.meshgrid(
        np.arange(x0 + CELL_M / 2, x1, CELL_M), np.arange(y0 + CELL_M / 2, y1, CELL_M)
    )
    cx, cy = gx.ravel(), gy.ravel()
    inside = shapely.contains_xy(geom, cx, cy)
    return cx[inside], cy[inside]


def attach_points(
    x: np.ndarray,
    y: np.ndarray,
    cluster: np.ndarray,
    prepared: Prepared,
    walk: Walk,
    compounds: Compounds | None,
    max_snap_m: float,
) -> tuple[Seeds, np.ndarray]:
    """Where walks from points of clusters start, the walls of walled 小区 holding.

    Parameters
    ----------
    x, y : numpy.ndarray
        The points (network CRS).
    cluster : numpy.ndarray
        Each point's cluster row.
    prepared : Prepared
        The network and its edge index.
    walk : Walk
        The walking costs, walls cut.
    compounds : Compounds or None
        The walled 小区 and their openings; None: every point joins its nearest street.
    max_snap_m : float
        How far a point (or an opening) may be from the network.

    Returns
    -------
    seeds : Seeds
        The seeds of the used points (origin i is the i-th used point), ``snap_m``
        holding every metre walked before the network.
    used : numpy.ndarray
        Whether each point joined the network (directly or through an opening).
    """
    n = len(x)
    direct = prepared.attach(np.asarray(x, float), np.asarray(y, float), max_snap_m)
    # Per point: lists of (edge, offset, walked) seeds.
    s_point: list[np.ndarray] = []
    s_edge: list[np.ndarray] = []
    s_off: list[np.ndarray] = []
    s_snap: list[np.ndarray] = []
    walled = np.zeros(n, dtype=bool)
    if compounds is not None and len(compounds.cluster):
        position = {int(c): i for i, c in enumerate(compounds.cluster)}
        which = np.array([position.get(int(c), -1) for c in cluster], dtype=np.int64)
        walled = which >= 0
        main = _outside_nodes(walk)
        gates = prepared.attach(compounds.x, compounds.y, max_snap_m)
        for k in np.unique(which[walled]):
            mine = np.flatnonzero(which == k)
            parts = _compound_seeds(k, mine, x, y, compounds, walk, main, gates, max_snap_m)
            for arr, out in zip(parts, (s_point, s_edge, s_off, s_snap), strict=True):
                out.append(arr)
    # A point of a compound whose openings are all beyond the snap distance walks as it
    # would without walls, rather than not at all.
    seeded = np.zeros(n, dtype=bool)
    for arr in s_point:
        seeded[arr] = True
    plain = np.flatnonzero(~seeded & direct.used)
    s_point.append(plain)
    s_edge.append(direct.edge[plain])
    s_off.append(direct.offset[plain])
    s_snap.append(direct.snap_m[plain])
    point = np.concatenate(s_point).astype(np.int64)
    edge = np.concatenate(s_edge).astype(np.int64)
    off = np.concatenate(s_off).astype(np.float64)
    snap = np.concatenate(s_snap).astype(np.float64)
    used = np.zeros(n, dtype=bool)
    used[point] = True
    # Seeds name used points by their rank among the used ones.
    rank = np.cumsum(used) - 1
    origin = rank[point]
    order = np.argsort(origin, kind="stable")
    edge = edge[order]
    seeds = Seeds(edge, walk.offsets(edge, off[order]), snap[order], origin[order], int(used.sum()))
    return seeds, used


def _outside_nodes(walk: Walk) -> np.ndarray:
    """Whether each node is in the largest part of the network once the walls are cut."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    net = walk.network
    open_ = np.isfinite(walk.cost)
    u, v = net.edge_u[open_], net.edge_v[open_]
    graph = coo_matrix((np.ones(len(u)), (u, v)), shape=(net.n_nodes, net.n_nodes))
    _, label = connected_components(graph, directed=False)
    return label == np.bincount(label).argmax()


def _compound_seeds(
    k: int,
    mine: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    compounds: Compounds,
    walk: Walk,
    main: np.ndarray,
    gates: Attachment,
    max_snap_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeds of the points ``mine`` of compound ``k``: its own paths, else its openings."""
    net = walk.network
    edges = compounds.inside_edges[
        compounds.inside_edges_ptr[k] : compounds.inside_edges_ptr[k + 1]
    ]
    edges = edges[main[net.edge_u[edges]] & np.isfinite(walk.cost[edges])]
    px, py = x[mine], y[mine]
    on_path = np.zeros(len(mine), dtype=bool)
    out_point, out_edge, out_off, out_snap = [], [], [], []
    if len(edges):
        ax, ay = net.x[net.edge_u[edges]], net.y[net.edge_u[edges]]
        bx, by = net.x[net.edge_v[edges]], net.y[net.edge_v[edges]]
        dist, t = project_to_segments(px[:, None], py[:, None], ax, ay, bx, by)
        best = dist.argmin(axis=1)
        d = dist[np.arange(len(mine)), best]
        on_path = d <= max_snap_m
        e = edges[best[on_path]]
        out_point.append(mine[on_path])
        out_edge.append(e)
        out_off.append(t[np.arange(len(mine)), best][on_path] * net.edge_len[e])
        out_snap.append(d[on_path])
    a, b = compounds.openings_ptr[k], compounds.openings_ptr[k + 1]
    gate = np.arange(a, b)[gates.used[a:b]]
    rest = np.flatnonzero(~on_path)
    if len(gate) and len(rest):
        # Straight to each opening, then its own way to the street.
        leg = np.hypot(
            px[rest, None] - compounds.x[gate][None, :], py[rest, None] - compounds.y[gate][None, :]
        )
        out_point.append(np.repeat(mine[rest], len(gate)))
        out_edge.append(np.tile(gates.edge[gate], len(rest)))
        out_off.append(np.tile(gates.offset[gate], len(rest)))
        out_snap.append((leg + gates.snap_m[gate][None, :]).ravel())
    if not out_point:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty.astype(np.int64), empty, empty
    return (
        np.concatenate(out_point),
        np.concatenate(out_edge),
        np.concatenate(out_off),
        np.concatenate(out_snap),
    )


def resident_origins(
    clusters: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    prepared: Prepared,
    walk: Walk,
    compounds: Compounds | None,
    max_snap_m: float,
) -> Origins:
    """The origins of every cluster's residents, attached with the walls holding.

    Parameters
    ----------
    clusters : geopandas.GeoDataFrame
        The clusters (network CRS) with ``population``.
    buildings : geopandas.GeoDataFrame or None
        Residential buildings with ``floor_area_m2``.
    prepared : Prepared
        The network and its edge index.
    walk : Walk
        Walking costs, walls cut.
    compounds : Compounds or None
        The walled 小区.
    max_snap_m : float
        The snapping distance.

    Returns
    -------
    Origins
        Cluster by cluster.
    """
    cluster, weight, kind, x, y = origin_points(clusters, buildings)
    seeds, used = attach_points(x, y, cluster, prepared, walk, compounds, max_snap_m)
    return Origins(cluster, weight, kind, x, y, seeds, used)
