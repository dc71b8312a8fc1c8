"""Snap points to the nearest walking edge with a scipy cKDTree.

The tree holds points sampled along every edge, so a query finds candidate edges near a
point even when the edge's end nodes are far away (a long straight street). The exact
perpendicular foot is then computed on the candidates, and the snap distance is kept:
the walk from a door to the street is part of the walk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from circles.network import WalkNetwork

SAMPLE_SPACING_M = 10.0


@dataclass
class Attachment:
    """Where points join the network.

    Parameters
    ----------
    edge : numpy.ndarray
        Index of the nearest edge of each point.
    offset : numpy.ndarray
        Distance (m) along that edge from its ``edge_u`` end to the foot of the point.
    snap_m : numpy.ndarray
        Straight distance (m) from the point to the edge.
    used : numpy.ndarray
        False for points farther than the maximum snap distance (they take no part).
    """

    edge: np.ndarray
    offset: np.ndarray
    snap_m: np.ndarray
    used: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    def subset(self, mask: np.ndarray) -> Attachment:
        """The attachments selected by ``mask`` (a boolean mask or an index array).

        Parameters
        ----------
        mask : numpy.ndarray
            Which points to keep.

        Returns
        -------
        Attachment
            A new attachment of the selected points, in their order.
        """
        return Attachment(self.edge[mask], self.offset[mask], self.snap_m[mask], self.used[mask])

    def concat(self, other: Attachment) -> Attachment:
        """These points followed by ``other``'s.

        Parameters
        ----------
        other : Attachment
            Points on the same network.

        Returns
        -------
        Attachment
            Both sets, in order.
        """
        return Attachment(
            *(
                np.concatenate([getattr(self, k), getattr(other, k)])
                for k in ("edge", "offset", "snap_m", "used")
            )
        )


class EdgeIndex:
    """A KD-tree over points sampled along the edges of a network.

    Parameters
    ----------
    network : WalkNetwork
        The network whose edges points are attached to.
    spacing : float
        Distance (m) between samples along an edge; smaller is more candidates per query,
        never a different answer.
    """

    def __init__(self, network: WalkNetwork, spacing: float = SAMPLE_SPACING_M) -> None:
        from scipy.spatial import cKDTree

        self.network = network
        ux, uy = network.x[network.edge_u], network.y[network.edge_u]
        vx, vy = network.x[network.edge_v], network.y[network.edge_v]
        n_samples = np.maximum(np.ceil(network.edge_len / spacing).astype(np.int64), 1) + 1
        edge_of = np.repeat(np.arange(network.n_edges), n_samples)
        first = np.cumsum(n_samples) - n_samples
        t = (np.arange(len(edge_of)) - np.repeat(first, n_samples)) / np.repeat(
            n_samples - 1, n_samples
        )
        sx = ux[edge_of] + t * (vx - ux)[edge_of]
        sy = uy[edge_of] + t * (vy - uy)[edge_of]
        self.edge_of = edge_of
        # Half the largest gap between samples bounds how far a sample can be from the foot.
        self.half_gap = float(np.max(network.edge_len / (n_samples - 1)) / 2.0) if len(t) else 0.0
        self.tree = cKDTree(np.column_stack([sx, sy]), balanced_tree=False, compact_nodes=False)

    def attach(self, x: np.ndarray, y: np.ndarray, max_distance_m: float) -> Attachment:
        """Attach points to their nearest edge, exactly.

        Parameters
        ----------
        x, y : numpy.ndarray
            Point coordinates (m) in the network CRS.
        max_distance_m : float
            Points farther from every edge are marked unused.

        Returns
        -------
        Attachment
            Nearest edge, offset and snap distance of every point; ties go to the lowest
            edge index.
        """
        net = self.network
        pts = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
        n = len(pts)
        edge = np.zeros(n, dtype=np.int64)
        offset = np.zeros(n, dtype=np.float64)
        snap = np.full(n, np.inf)
        if n == 0:
            return Attachment(edge, offset, snap, np.zeros(0, dtype=bool))
        d0, _ = self.tree.query(pts, k=1)
        # Any edge closer than the nearest sample has a sample within d0 + half_gap.
        candidates = self.tree.query_ball_point(pts, d0 + self.half_gap + 1e-6)
        counts = np.fromiter((len(c) for c in candidates), dtype=np.int64, count=n)
        point_of = np.repeat(np.arange(n), counts)
        cand_edge = self.edge_of[np.concatenate(candidates).astype(np.int64)]
        # Several samples of one edge are one candidate.
        pair = np.unique(np.column_stack([point_of, cand_edge]), axis=0)
        p, e = pair[:, 0], pair[:, 1]
        d, t = project_to_segments(
            pts[p, 0],
            pts[p, 1],
            net.x[net.edge_u[e]],
            net.y[net.edge_u[e]],
            net.x[net.edge_v[e]],
            net.y[net.edge_v[e]],
        )
        # The nearest candidate per point; ties go to the lowest edge index (deterministic).
        order = np.lexsort((e, d, p))
        best = order[np.r_[True, p[order][1:] != p[order][:-1]]]
        edge[p[best]] = e[best]
        offset[p[best]] = t[best] * net.edge_len[e[best]]
        snap[p[best]] = d[best]
        return Attachment(edge, offset, snap, snap <= max_distance_m)


def project_to_segments(
    px: Any, py: Any, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from points to segments, and where the perpendicular foot falls.

    Parameters
    ----------
    px, py : float or numpy.ndarray
        The points (one, or one per segment).
    ax, ay, bx, by : numpy.ndarray
        The segments' ends, in the same CRS.

    Returns
    -------
    distance : numpy.ndarray
        From each point to its segment.
    t : numpy.ndarray
        The foot's position along each segment, in [0, 1] from ``a``.
    """
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(len2 > 0, ((px - ax) * dx + (py - ay) * dy) / len2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    fx, fy = ax + t * dx, ay + t * dy
    return np.hypot(px - fx, py - fy), t


def attach_to_nodes(network: WalkNetwork, nodes: np.ndarray) -> Attachment:
    """Attachments for points that are network nodes themselves (offset and snap zero).

    Parameters
    ----------
    network : WalkNetwork
        The network the nodes belong to.
    nodes : numpy.ndarray
        Node indices.

    Returns
    -------
    Attachment
        One attachment per node, all used, on one of its edges.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    # Any incident edge will do: the offset puts the point exactly on the node.
    edge = network.csr_edge[network.indptr[nodes]]
    at_u = network.edge_u[edge] == nodes
    offset = np.where(at_u, 0.0, network.edge_len[edge])
    zeros = np.zeros(len(nodes))
    return Attachment(edge, offset, zeros, np.ones(len(nodes), dtype=bool))


def surface_origins(
    network: WalkNetwork,
    attach: Callable[[np.ndarray, np.ndarray, float], Attachment],
    kind: str,
    spacing_m: float,
    max_distance_m: float,
) -> tuple[Attachment, np.ndarray]:
    """Origins that cover the walkable area: every network node, or grid points.

    Parameters
    ----------
    network : WalkNetwork
        The network.
    attach : callable
        Attaches grid points (x, y, max_distance_m) to the network's edges, such as
        :meth:`EdgeIndex.attach`; not called for nodes, which need no edge index.
    kind : str
        ``nodes`` (every node, exactly where it is) or ``grid`` (square grid points,
        ``spacing_m`` apart over the network's extent).
    spacing_m : float
        Grid spacing.
    max_distance_m : float
        Grid points farther from a street are left out.

    Returns
    -------
    attachment : Attachment
        The origins, all used.
    ids : numpy.ndarray of int
        The nodes' OSM ids, or the grid points' positions in the full grid (row-major).
    """
    if kind == "nodes":
        return attach_to_nodes(network, np.arange(network.n_nodes)), network.osm_id
    s = spacing_m
    gx, gy = np.meshgrid(
        np.arange(network.x.min() + s / 2, network.x.max(), s),
        np.arange(network.y.min() + s / 2, network.y.max(), s),
    )
    attachment = attach(gx.ravel(), gy.ravel(), max_distance_m)
    keep = attachment.used
    return attachment.subset(keep), np.flatnonzero(keep)


def attachment_lonlat(
    network: WalkNetwork, attachment: Attachment
) -> tuple[np.ndarray, np.ndarray]:
    """The WGS-84 position of each attached point's foot on its street.

    Parameters
    ----------
    network : WalkNetwork
        The network the points are attached to.
    attachment : Attachment
        The points.

    Returns
    -------
    lon, lat : numpy.ndarray
        Degrees. A foot at an end of its edge is that node, at the node's own WGS-84
        position (every origin of ``--origins nodes``: no projection needed).
    """
    edge_len = network.edge_len[attachment.edge]
    t = np.divide(attachment.offset, edge_len, out=np.zeros(len(attachment)), where=edge_len > 0)
    u, v = network.edge_u[attachment.edge], network.edge_v[attachment.edge]
    node = np.where(t <= 0.0, u, np.where(t >= 1.0, v, -1))
    at_node = node >= 0
    lon, lat = np.empty(len(attachment)), np.empty(len(attachment))
    lon[at_node], lat[at_node] = network.lon[node[at_node]], network.lat[node[at_node]]
    inner = ~at_node
    if inner.any():
        import pyproj

        t, u, v = t[inner], u[inner], v[inner]
        x = network.x[u] + t * (network.x[v] - network.x[u])
        y = network.y[u] + t * (network.y[v] - network.y[u])
        to_geo = pyproj.Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
        lon[inner], lat[inner] = to_geo.transform(x, y)
    return lon, lat
