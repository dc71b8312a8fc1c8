"""The accessibility engine: arrays in, arrays out. No geopandas, no networkx.

Points (origins and services) join the graph on edges, at an offset from the edge's first
node, plus a straight snap distance. Each attached point becomes a node of an augmented
graph (the edge is split there), so a walk along one edge between two points is exact.

Counts are symmetric on an undirected graph, so one bounded Dijkstra runs from each point
of the smaller side (services or origins). Each search touches only the ball within the
largest threshold and does every threshold at once. Nearest distances come from one
multi-source Dijkstra per category.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

_EPS = 1e-9


@dataclass
class Graph:
    """An undirected graph as an edge list; ``csr()`` gives its symmetric adjacency."""

    n_nodes: int
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_len: np.ndarray


@dataclass
class Points:
    """Points attached to edges: edge index, offset from ``edge_u`` (m), snap distance (m)."""

    edge: np.ndarray
    offset: np.ndarray
    snap_m: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)


@dataclass
class Reach:
    """What the engine returns for origins x categories x thresholds.

    ``counts[o, c, k]``: services of category c within ``thresholds[k]`` of origin o.
    ``nearest_m[o, c]``: distance to the nearest service of c; NaN when none is reachable.
    """

    thresholds: np.ndarray
    counts: np.ndarray
    nearest_m: np.ndarray


def to_csr(
    n: int, u: np.ndarray, v: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric CSR arrays (indptr, indices, weights, edge id) of an undirected edge list."""
    src = np.concatenate([u, v]).astype(np.int64)
    dst = np.concatenate([v, u]).astype(np.int64)
    w = np.concatenate([length, length]).astype(np.float64)
    eid = np.concatenate([np.arange(len(u)), np.arange(len(u))])
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst[order], w[order], eid[order].astype(np.int64)


def augment(graph: Graph, *point_sets: Points) -> tuple[Graph, list[np.ndarray]]:
    """Split edges at attached points; return the new graph and each point's node.

    A point at an edge end uses that node; points at the same place share a node.
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


@njit(cache=True)
def _heap_push(hd, hn, size, d, v):
    i = size
    hd[i] = d
    hn[i] = v
    while i > 0:
        parent = (i - 1) >> 1
        if hd[parent] <= hd[i]:
            break
        hd[i], hd[parent] = hd[parent], hd[i]
        hn[i], hn[parent] = hn[parent], hn[i]
        i = parent
    return size + 1


@njit(cache=True)
def _heap_pop(hd, hn, size):
    d = hd[0]
    v = hn[0]
    size -= 1
    hd[0] = hd[size]
    hn[0] = hn[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and hd[left + 1] < hd[left]:
            child = left + 1
        if hd[i] <= hd[child]:
            break
        hd[i], hd[child] = hd[child], hd[i]
        hn[i], hn[child] = hn[child], hn[i]
        i = child
    return d, v, size


@njit(cache=True)
def _ball(indptr, indices, weights, seeds, seed_d, limit, dist, done, touched, hd, hn):
    """Dijkstra from seeds with start distances, settling nodes within ``limit``.

    Returns how many nodes it touched; their ids are ``touched[:count]`` and their final
    distances are in ``dist``. The caller resets ``dist``/``done`` for those nodes only.
    """
    size = 0
    count = 0
    for i in range(len(seeds)):
        s = seeds[i]
        if seed_d[i] <= limit and seed_d[i] < dist[s]:
            if dist[s] == np.inf:
                touched[count] = s
                count += 1
            dist[s] = seed_d[i]
            size = _heap_push(hd, hn, size, seed_d[i], s)
    while size > 0:
        d, v, size = _heap_pop(hd, hn, size)
        if done[v]:
            continue
        done[v] = True
        for j in range(indptr[v], indptr[v + 1]):
            w = indices[j]
            nd = d + weights[j]
            if nd <= limit and nd < dist[w]:
                if dist[w] == np.inf:
                    touched[count] = w
                    count += 1
                dist[w] = nd
                size = _heap_push(hd, hn, size, nd, w)
    return count


@njit(parallel=True, cache=True)
def _count_kernel(
    indptr,
    indices,
    weights,
    src_node,
    src_d0,
    src_row,
    src_col,
    tgt_ptr,
    tgt_ids,
    tgt_d1,
    tgt_row,
    tgt_col,
    rows_from_source,
    thresholds,
    n_rows,
    n_cols,
    n_chunks,
):
    """Counts[row, col, k] of source-target pairs within each threshold, and the minimum
    distance per (row, col) within the largest threshold. Row and column come from the
    origin side and the category side, whichever side searches."""
    n = len(indptr) - 1
    n_thr = len(thresholds)
    limit = thresholds[n_thr - 1]
    counts = np.zeros((n_chunks, n_rows, n_cols, n_thr), dtype=np.int32)
    best = np.full((n_chunks, n_rows, n_cols), np.inf)
    n_src = len(src_node)
    for c in prange(n_chunks):
        dist = np.full(n, np.inf)
        done = np.zeros(n, dtype=np.bool_)
        touched = np.empty(n, dtype=np.int64)
        hd = np.empty(len(indices) + len(src_node) + 1, dtype=np.float64)
        hn = np.empty(len(indices) + len(src_node) + 1, dtype=np.int64)
        seeds = np.empty(1, dtype=np.int64)
        seed_d = np.empty(1, dtype=np.float64)
        for s in range(c, n_src, n_chunks):
            seeds[0] = src_node[s]
            seed_d[0] = src_d0[s]
            cnt = _ball(indptr, indices, weights, seeds, seed_d, limit, dist, done, touched, hd, hn)
            for i in range(cnt):
                v = touched[i]
                for j in range(tgt_ptr[v], tgt_ptr[v + 1]):
                    t = tgt_ids[j]
                    d = dist[v] + tgt_d1[t]
                    if d > limit:
                        continue
                    if rows_from_source:
                        row = src_row[s]
                        col = tgt_col[t]
                    else:
                        row = tgt_row[t]
                        col = src_col[s]
                    if d < best[c, row, col]:
                        best[c, row, col] = d
                    for k in range(n_thr):
                        if d <= thresholds[k]:
                            counts[c, row, col, k] += 1
            for i in range(cnt):
                dist[touched[i]] = np.inf
                done[touched[i]] = False
    total = np.zeros((n_rows, n_cols, n_thr), dtype=np.int32)
    nearest = np.full((n_rows, n_cols), np.inf)
    for c in range(n_chunks):
        total += counts[c]
        nearest = np.minimum(nearest, best[c])
    return total, nearest


@njit(parallel=True, cache=True)
def _nearest_kernel(
    indptr, indices, weights, seed_ptr, seed_node, seed_d0, origin_node, origin_d1, limit
):
    """Per category, one multi-source Dijkstra from all its services to every origin."""
    n = len(indptr) - 1
    n_cat = len(seed_ptr) - 1
    out = np.full((len(origin_node), n_cat), np.inf)
    for c in prange(n_cat):
        dist = np.full(n, np.inf)
        done = np.zeros(n, dtype=np.bool_)
        touched = np.empty(n, dtype=np.int64)
        a, b = seed_ptr[c], seed_ptr[c + 1]
        hd = np.empty(len(indices) + (b - a) + 1, dtype=np.float64)
        hn = np.empty(len(indices) + (b - a) + 1, dtype=np.int64)
        _ball(
            indptr,
            indices,
            weights,
            seed_node[a:b],
            seed_d0[a:b],
            limit,
            dist,
            done,
            touched,
            hd,
            hn,
        )
        for o in range(len(origin_node)):
            d = dist[origin_node[o]] + origin_d1[o]
            if d <= limit:
                out[o, c] = d
    return out


def _group_by_node(n_nodes: int, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR of point ids by node: the points at node v are ``ids[ptr[v]:ptr[v+1]]``."""
    order = np.argsort(nodes, kind="stable").astype(np.int64)
    ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(nodes, minlength=n_nodes), out=ptr[1:])
    return ptr, order


def reach(
    graph: Graph,
    origins: Points,
    services: Points,
    service_category: np.ndarray,
    n_categories: int,
    thresholds: np.ndarray | list[float],
    nearest_limit_m: float = np.inf,
    threads: int | None = None,
) -> Reach:
    """Count services per category within each threshold of every origin, and the nearest.

    Distances are network metres including both snap distances. ``nearest_limit_m``
    bounds the nearest search (beyond it the service counts as unreachable).
    """
    thr = np.sort(np.asarray(thresholds, dtype=np.float64))
    if len(thr) == 0 or thr[0] <= 0:
        raise ValueError("thresholds must be positive")
    cat = np.asarray(service_category, dtype=np.int64)
    if len(cat) != len(services):
        raise ValueError("service_category must have one entry per service")
    if len(cat) and (cat.min() < 0 or cat.max() >= n_categories):
        raise ValueError("service_category values must be in [0, n_categories)")
    n_o = len(origins)
    if n_o == 0:
        return Reach(
            thr, np.zeros((0, n_categories, len(thr)), np.int32), np.zeros((0, n_categories))
        )
    g, (o_node, s_node) = augment(graph, origins, services)
    indptr, indices, weights, _ = to_csr(g.n_nodes, g.edge_u, g.edge_v, g.edge_len)
    o_d = np.asarray(origins.snap_m, dtype=np.float64)
    s_d = np.asarray(services.snap_m, dtype=np.float64)
    n_threads = threads or numba.get_num_threads()
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        if len(services) <= n_o:
            # Search from services; targets are origins grouped by node.
            ptr, ids = _group_by_node(g.n_nodes, o_node)
            counts, within = _count_kernel(
                indptr,
                indices,
                weights,
                s_node,
                s_d,
                np.zeros_like(cat),
                cat,
                ptr,
                ids,
                o_d,
                np.arange(n_o),
                np.zeros(n_o, np.int64),
                False,
                thr,
                n_o,
                n_categories,
                n_threads,
            )
        else:
            ptr, ids = _group_by_node(g.n_nodes, s_node)
            counts, within = _count_kernel(
                indptr,
                indices,
                weights,
                o_node,
                o_d,
                np.arange(n_o),
                np.zeros(n_o, np.int64),
                ptr,
                ids,
                s_d,
                np.zeros_like(cat),
                cat,
                True,
                thr,
                n_o,
                n_categories,
                n_threads,
            )
        order = np.argsort(cat, kind="stable")
        seed_ptr = np.zeros(n_categories + 1, dtype=np.int64)
        np.cumsum(np.bincount(cat, minlength=n_categories), out=seed_ptr[1:])
        nearest = _nearest_kernel(
            indptr,
            indices,
            weights,
            seed_ptr,
            s_node[order],
            s_d[order],
            o_node,
            o_d,
            float(nearest_limit_m),
        )
    finally:
        numba.set_num_threads(previous)
    # Both passes must agree within the largest threshold; the multi-source one reaches on.
    nearest = np.where(np.isfinite(nearest), nearest, np.nan)
    del within
    return Reach(thr, counts, nearest)


def ball(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    seeds: np.ndarray,
    seed_d: np.ndarray,
    limit: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes within ``limit`` of the seeds (with start distances), and their distances."""
    n = len(indptr) - 1
    seeds = np.asarray(seeds, dtype=np.int64)
    dist = np.full(n, np.inf)
    done = np.zeros(n, dtype=np.bool_)
    touched = np.empty(n, dtype=np.int64)
    hd = np.empty(len(indices) + len(seeds) + 1)
    hn = np.empty(len(indices) + len(seeds) + 1, dtype=np.int64)
    cnt = _ball(
        indptr,
        indices,
        weights,
        seeds,
        np.asarray(seed_d, np.float64),
        float(limit),
        dist,
        done,
        touched,
        hd,
        hn,
    )
    nodes = touched[:cnt].copy()
    return nodes, dist[nodes]
