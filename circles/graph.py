"""The walking graph as arrays: an undirected edge list, its CSR adjacency, and points
attached to edges (the engine's inputs). Plain numpy, so building a network does not load
the compiled engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-9


@dataclass
class Graph:
    """An undirected graph as an edge list; :func:`to_csr` gives its symmetric adjacency.

    Parameters
    ----------
    n_nodes : int
        Number of nodes; nodes are ``0 .. n_nodes - 1``.
    edge_u, edge_v : numpy.ndarray
        End nodes of each edge.
    edge_len : numpy.ndarray
        Length of each edge (m).
    """

    n_nodes: int
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_len: np.ndarray


@dataclass
class Points:
    """Points attached to edges of a :class:`Graph`.

    Parameters
    ----------
    edge : numpy.ndarray
        Index of the edge each point joins.
    offset : numpy.ndarray
        Distance (m) along that edge from its ``edge_u`` end.
    snap_m : numpy.ndarray
        Straight distance (m) from the point to the edge, walked as well.
    """

    edge: np.ndarray
    offset: np.ndarray
    snap_m: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)


@dataclass
class Seeds(Points):
    """Origins that start from several places: a walled 小区's home walks out of any gate.

    Each seed is a point attached to an edge, as in :class:`Points`; its ``snap_m`` is all
    that is walked before the network (from the home to the gate, then to the street). An
    origin's distance to a service is the least over its seeds, and no walk passes through
    an origin from one of its seeds to another.

    Parameters
    ----------
    edge, offset, snap_m : numpy.ndarray
        One entry per seed, as for :class:`Points`.
    origin : numpy.ndarray
        The origin of each seed (int64, ``0 .. n_origins - 1``, ascending); every origin
        has at least one seed.
    n_origins : int
        How many origins.
    """

    origin: np.ndarray
    n_origins: int

    def origin_ptr(self) -> np.ndarray:
        """Where each origin's seeds are.

        Returns
        -------
        numpy.ndarray
            Origin i's seeds are ``ptr[i]:ptr[i + 1]`` (int64, n_origins + 1 entries).
        """
        ptr = np.zeros(self.n_origins + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.origin, minlength=self.n_origins), out=ptr[1:])
        return ptr


def to_csr(
    n: int, u: np.ndarray, v: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric CSR arrays of an undirected edge list.

    Parameters
    ----------
    n : int
        Number of nodes.
    u, v : numpy.ndarray
        End nodes of each edge.
    length : numpy.ndarray
        Length of each edge.

    Returns
    -------
    indptr : numpy.ndarray
        The neighbours of node i are ``indices[indptr[i]:indptr[i + 1]]`` (int64).
    indices : numpy.ndarray
        Neighbour node of each entry (int64).
    weights : numpy.ndarray
        Edge length of each entry (float64).
    edge_id : numpy.ndarray
        Index of each entry's edge in ``u``/``v`` (int64); every edge appears twice.
    """
    src = np.concatenate([u, v]).astype(np.int64)
    dst = np.concatenate([v, u]).astype(np.int64)
    w = np.concatenate([length, length]).astype(np.float64)
    eid = np.concatenate([np.arange(len(u)), np.arange(len(u))])
    return _csr(n, src, dst, w, eid)


def _csr(
    n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray, eid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays of directed entries (src -> dst, weight, id), grouped by src."""
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst[order], w[order], eid[order].astype(np.int64)


def to_csr_with_arcs(
    graph: Graph, arc_from: np.ndarray, arc_to: np.ndarray, arc_len: np.ndarray, n_nodes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR adjacency of an undirected graph plus one-way arcs (to or from extra nodes).

    Parameters
    ----------
    graph : Graph
        The undirected graph; both directions of each edge are entries.
    arc_from, arc_to : numpy.ndarray
        Ends of the one-way arcs.
    arc_len : numpy.ndarray
        Length of each arc.
    n_nodes : int
        Number of nodes, at least ``graph.n_nodes`` (the extra ones are ends of arcs).

    Returns
    -------
    indptr, indices, weights : numpy.ndarray
        As :func:`to_csr` returns them.
    """
    src = np.concatenate([graph.edge_u, graph.edge_v, arc_from]).astype(np.int64)
    dst = np.concatenate([graph.edge_v, graph.edge_u, arc_to]).astype(np.int64)
    w = np.concatenate([graph.edge_len, graph.edge_len, arc_len]).astype(np.float64)
    indptr, indices, weights, _ = _csr(n_nodes, src, dst, w, np.zeros(len(src), np.int64))
    return indptr, indices, weights


def augment(graph: Graph, *point_sets: Points) -> tuple[Graph, list[np.ndarray]]:
    """Split edges at attached points; return the new graph and each point's node.

    A point at an edge end uses that node; points at the same place share a node, so a
    walk along one edge between two points is exact.

    Parameters
    ----------
    graph : Graph
        The graph the points are attached to.
    *point_sets : Points
        One or more sets of points (origins, services, ...).

    Returns
    -------
    graph : Graph
        The graph with a new node at every distinct place inside an edge; the original
        nodes keep their numbers.
    nodes : list of numpy.ndarray
        For each point set, the node of each of its points.
    """
    n = graph.n_nodes
    edge = np.concatenate([p.edge for p in point_sets]).astype(np.int64)
    off = np.concatenate([p.offset for p in point_sets]).astype(np.float64)
    length = graph.edge_len[edge]
    off = np.clip(off, 0.0, length)
    node = np.where(off <= _EPS, graph.edge_u[edge], graph.edge_v[edge]).astype(np.int64)
    inner = (off > _EPS) & (off < length - _EPS)

    # Unique (edge, offset) places inside edges become new nodes, in order along each edge.
    keys = np.column_stack([edge[inner].astype(np.float64), off[inner]])
    places, inv = (
        np.unique(keys, axis=0, return_inverse=True) if len(keys) else (np.zeros((0, 2)), [])
    )
    place_edge = places[:, 0].astype(np.int64)
    place_off = places[:, 1]
    place_node = n + np.arange(len(places), dtype=np.int64)
    node[inner] = place_node[np.asarray(inv, dtype=np.int64).ravel()]

    # Chain u - p1 - p2 - ... - v along each split edge; keep untouched edges as they are.
    first = np.r_[True, place_edge[1:] != place_edge[:-1]] if len(places) else np.zeros(0, bool)
    last = np.r_[place_edge[1:] != place_edge[:-1], True] if len(places) else np.zeros(0, bool)
    prev_node = np.where(first, graph.edge_u[place_edge], np.r_[-1, place_node[:-1]])
    prev_off = np.where(first, 0.0, np.r_[0.0, place_off[:-1]])
    split = np.zeros(len(graph.edge_u), dtype=bool)
    split[place_edge] = True
    new_u = np.concatenate([graph.edge_u[~split], prev_node, place_node[last]]).astype(np.int64)
    new_v = np.concatenate(
        [graph.edge_v[~split], place_node, graph.edge_v[place_edge[last]]]
    ).astype(np.int64)
    new_len = np.concatenate(
        [
            graph.edge_len[~split],
            place_off - prev_off,
            graph.edge_len[place_edge[last]] - place_off[last],
        ]
    )
    out = Graph(n + len(places), new_u, new_v, new_len)
    bounds = np.cumsum([0] + [len(p) for p in point_sets])
    return out, [node[bounds[i] : bounds[i + 1]] for i in range(len(point_sets))]
