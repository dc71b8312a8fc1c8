"""The accessibility engine: arrays in, arrays out. No geopandas, no networkx.

Points (origins and services) join the graph on edges, at an offset from the edge's first
node, plus a straight snap distance. Each attached point becomes a node of an augmented
graph (the edge is split there), so a walk along one edge between two points is exact.

Counts are symmetric on an undirected graph, so one bounded Dijkstra runs from each point
of the smaller side (services or origins). Each search touches only the ball within the
largest threshold and does every threshold at once. Nearest distances come from one
multi-source Dijkstra per category (per category and service radius, when services have one).

A service may count only within its own radius (a small park serves only its neighbours):
services given as :class:`ServicePoints` carry their largest distance, which caps the
counts, the decayed sums and the nearest distances alike.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

# The graph types and edge splitting are plain numpy; they are part of the engine's API.
from circles.graph import Graph, Points, Seeds, augment, to_csr, to_csr_with_arcs

__all__ = [
    "Decay",
    "Graph",
    "Points",
    "Reach",
    "Seeds",
    "ServicePoints",
    "augment",
    "ball",
    "pairs_within",
    "reach",
    "to_csr",
    "warm_up",
    "is_warm",
]

# Whether this process has loaded the compiled kernels (see warm_up).
_warm = False

# Searches are dealt to a fixed number of chunks with their own accumulators, summed in a
# fixed order: results are then bit-identical whatever the number of threads.
_CHUNKS = 4


@dataclass
class Reach:
    """What the engine returns for origins x categories x thresholds.

    Attributes
    ----------
    thresholds : numpy.ndarray
        The thresholds (m), ascending, shape (n_thresholds,).
    counts : numpy.ndarray
        ``counts[o, c, k]``: services of category c within ``thresholds[k]`` of origin o
        (int32, shape (n_origins, n_categories, n_thresholds)).
    nearest_m : numpy.ndarray
        ``nearest_m[o, c]``: network distance (m) to the nearest service of c; NaN when
        none is reachable within the nearest limit.
    k_nearest_m : numpy.ndarray or None
        ``k_nearest_m[o, c, j]``: the j+1-th nearest (NaN past the last); None unless
        ``k_nearest`` > 1 was asked for.
    decayed : numpy.ndarray or None
        ``decayed[o, c]``: sum of decay weights over the services within the largest
        threshold; None without a decay.
    services_per_category : numpy.ndarray or None
        How many services of each category were given (int64, shape (n_categories,)); a
        category with none is a data gap, whose counts mean "unknown", not 0.
    """

    thresholds: np.ndarray
    counts: np.ndarray
    nearest_m: np.ndarray
    k_nearest_m: np.ndarray | None = None
    decayed: np.ndarray | None = None
    services_per_category: np.ndarray | None = None


@dataclass
class ServicePoints(Points):
    """Services attached to edges, each counting only within its own largest distance.

    A park of 3,000 m² serves only its neighbours: at threshold t it counts within
    min(t, ``max_m``), and beyond ``max_m`` it is nobody's nearest (nor k-nearest, nor in
    a decayed sum).

    Parameters
    ----------
    edge, offset, snap_m : numpy.ndarray
        As for :class:`Points`.
    max_m : numpy.ndarray
        Per service, the largest distance (m) at which it counts; +inf: no limit other
        than the thresholds; -inf: it never counts.
    """

    max_m: np.ndarray


def _service_limits(services: Points) -> np.ndarray:
    """Each service's largest distance (+inf for plain :class:`Points`), checked."""
    if not isinstance(services, ServicePoints):
        return np.full(len(services), np.inf)
    limits = np.asarray(services.max_m, dtype=np.float64)
    if limits.shape != (len(services),) or np.isnan(limits).any():
        raise ValueError("ServicePoints.max_m must hold one distance (not NaN) per service")
    return limits


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _ball(csr, seeds, seed_d, limit, scratch):
    """Dijkstra from seeds with start distances, settling nodes within ``limit``.

    ``csr`` is (indptr, indices, weights); ``scratch`` is (dist, done, touched, hd, hn),
    the caller's buffers, reused across searches. Returns how many nodes it touched;
    their ids are ``touched[:count]`` and their final distances are in ``dist``. The
    caller resets ``dist``/``done`` for those nodes only.
    """
    indptr, indices, weights = csr
    dist, done, touched, hd, hn = scratch
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
def _count_kernel(csr, sources, targets, rows_from_source, thresholds, decay, shape):
    """counts[row, col, k]: source-target pairs within each threshold; score[row, col]:
    the decayed sum over pairs within the largest threshold (0: none, 1: exponential with
    rate ``decay_param`` per metre, 2: linear to zero at ``decay_param`` metres).

    Row and column come from the origin side and the category side, whichever searches.
    Each chunk has its own accumulators, so threads never race, and the sums do not depend
    on how many threads share the chunks.

    The arrays travel in tuples: ``csr`` (indptr, indices, weights); ``sources`` (node,
    start distance, row, column, largest distance) of the points searched from; ``targets``
    (ptr and ids of the points grouped by node, end distance, row, column, largest
    distance); ``decay`` (kind, param); ``shape`` (rows, columns, chunks). ``thresholds``
    has one row per column (category): an elder-care station may be measured at an older
    walker's distances. A pair counts only within both points' largest distances (+inf for
    origins, a service's radius) and its category's largest threshold."""
    indptr, indices, weights = csr
    src_node, src_d0, src_row, src_col, src_max = sources
    tgt_ptr, tgt_ids, tgt_d1, tgt_row, tgt_col, tgt_max = targets
    decay_kind, decay_param = decay
    n_rows, n_cols, n_chunks = shape
    n = len(indptr) - 1
    n_thr = thresholds.shape[1]
    limit = thresholds[:, n_thr - 1].max()
    counts = np.zeros((n_chunks, n_rows, n_cols, n_thr), dtype=np.int32)
    score = np.zeros((n_chunks if decay_kind else 1, n_rows, n_cols))
    n_src = len(src_node)
    for c in prange(n_chunks):
        dist = np.full(n, np.inf)
        done = np.zeros(n, dtype=np.bool_)
        touched = np.empty(n, dtype=np.int64)
        hd = np.empty(len(indices) + 2, dtype=np.float64)
        hn = np.empty(len(indices) + 2, dtype=np.int64)
        seeds = np.empty(1, dtype=np.int64)
        seed_d = np.empty(1, dtype=np.float64)
        for s in range(c, n_src, n_chunks):
            seeds[0] = src_node[s]
            seed_d[0] = src_d0[s]
            # A service is searched from only as far as it counts: its radius, and its
            # category's largest threshold.
            lim = min(limit, src_max[s])
            if not rows_from_source:
                lim = min(lim, thresholds[src_col[s], n_thr - 1])
            cnt = _ball(csr, seeds, seed_d, lim, (dist, done, touched, hd, hn))
            for i in range(cnt):
                v = touched[i]
                for j in range(tgt_ptr[v], tgt_ptr[v + 1]):
                    t = tgt_ids[j]
                    d = dist[v] + tgt_d1[t]
                    if d > lim or d > tgt_max[t]:
                        continue
                    if rows_from_source:
                        row = src_row[s]
                        col = tgt_col[t]
                    else:
                        row = tgt_row[t]
                        col = src_col[s]
                    if d > thresholds[col, n_thr - 1]:
                        continue
                    for k in range(n_thr):
                        if d <= thresholds[col, k]:
                            counts[c, row, col, k] += 1
                    if decay_kind == 1:
                        score[c, row, col] += np.exp(-decay_param * d)
                    elif decay_kind == 2:
                        score[c, row, col] += max(0.0, 1.0 - d / decay_param)
            for i in range(cnt):
                dist[touched[i]] = np.inf
                done[touched[i]] = False
    total = counts[0].copy()
    for c in range(1, n_chunks):
        total += counts[c]
    # Sum the chunks in a fixed order: floating-point sums then match for any thread count.
    decayed = score[0].copy()
    for c in range(1, score.shape[0]):
        decayed += score[c]
    return total, decayed


@njit(cache=True)
def _knearest_one(indptr, indices, weights, seed_node, seed_d0, k, limit):
    """Multi-source Dijkstra in which each node keeps its k nearest distinct sources.

    A label (distance, source) is settled at a node only if the node has fewer than k
    labels and none from that source. If a source is not among a node's k nearest, it is
    not among the k nearest of any node reached through it, so pruning there is exact.
    Returns the settled distances per node, ascending, inf-padded (n, k).
    """
    n = len(indptr) - 1
    lab = np.full((n, k), np.inf)
    lab_src = np.full((n, k), -1, dtype=np.int64)
    n_lab = np.zeros(n, dtype=np.int64)
    cap = len(indices) * k + len(seed_node) + 1
    hd = np.empty(cap, dtype=np.float64)
    # One heap of (distance, source * n + node): the same heap as every other search.
    hn = np.empty(cap, dtype=np.int64)
    size = 0
    for i in range(len(seed_node)):
        if seed_d0[i] <= limit:
            size = _heap_push(hd, hn, size, seed_d0[i], i * n + seed_node[i])
    while size > 0:
        d, key, size = _heap_pop(hd, hn, size)
        src = key // n
        v = key - src * n
        m = n_lab[v]
        if m >= k:
            continue
        dup = False
        for j in range(m):
            if lab_src[v, j] == src:
                dup = True
                break
        if dup:
            continue
        lab[v, m] = d
        lab_src[v, m] = src
        n_lab[v] = m + 1
        for j in range(indptr[v], indptr[v + 1]):
            w = indices[j]
            nd = d + weights[j]
            if nd <= limit and n_lab[w] < k:
                size = _heap_push(hd, hn, size, nd, src * n + w)
    return lab


@njit(parallel=True, cache=True)
def _nearest_kernel(
    indptr, indices, weights, seed_ptr, seed_node, seed_d0, seed_limit, origin_node, origin_d1, k
):
    """Per group of services (in parallel), the k nearest service distances of every origin.

    The services of group g are ``seed_ptr[g]:seed_ptr[g + 1]``; they share the bound
    ``seed_limit[g]`` (the nearest limit, or their radius when smaller), so one
    multi-source search per group is exact. Returns (n_groups, n_origins, k), inf-padded.
    """
    n_groups = len(seed_ptr) - 1
    out = np.full((n_groups, len(origin_node), k), np.inf)
    for g in prange(n_groups):
        a, b = seed_ptr[g], seed_ptr[g + 1]
        limit = seed_limit[g]
        if a == b or not limit >= 0:
            continue
        if k == 1:
            n = len(indptr) - 1
            dist = np.full(n, np.inf)
            done = np.zeros(n, dtype=np.bool_)
            touched = np.empty(n, dtype=np.int64)
            hd = np.empty(len(indices) + (b - a) + 1, dtype=np.float64)
            hn = np.empty(len(indices) + (b - a) + 1, dtype=np.int64)
            _ball(
                (indptr, indices, weights),
                seed_node[a:b],
                seed_d0[a:b],
                limit,
                (dist, done, touched, hd, hn),
            )
            for o in range(len(origin_node)):
                d = dist[origin_node[o]] + origin_d1[o]
                if d <= limit:
                    out[g, o, 0] = d
        else:
            lab = _knearest_one(indptr, indices, weights, seed_node[a:b], seed_d0[a:b], k, limit)
            for o in range(len(origin_node)):
                for j in range(k):
                    d = lab[origin_node[o], j] + origin_d1[o]
                    if d <= limit:
                        out[g, o, j] = d
    return out


def _nearest(
    csr: tuple[np.ndarray, np.ndarray, np.ndarray],
    services: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    origins: tuple[np.ndarray, np.ndarray],
    n_categories: int,
    k: int,
    limit: float,
) -> np.ndarray:
    """The k nearest services of each category per origin (n_origins, n_categories, k),
    NaN-padded, each service counting only within its largest distance.

    ``services`` is (node, snap distance, category, largest distance). Services of one
    category and one radius form a group searched together; a category's groups (a park
    category has two or three radii) are merged by keeping the k smallest."""
    s_node, s_d, cat, s_max = services
    order = np.lexsort((s_max, cat))
    cat_o, max_o = cat[order], s_max[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (cat_o[1:] != cat_o[:-1]) | (max_o[1:] != max_o[:-1])
    starts = np.flatnonzero(new_group)
    seed_ptr = np.append(starts, len(order)).astype(np.int64)
    group_cat = cat_o[starts]
    group_limit = np.minimum(max_o[starts], limit).astype(np.float64)
    near = _nearest_kernel(
        *csr,
        seed_ptr,
        s_node[order],
        s_d[order],
        group_limit,
        origins[0],
        origins[1],
        int(k),
    )
    out = np.full((len(origins[0]), n_categories, k), np.nan)
    first = np.searchsorted(group_cat, np.arange(n_categories + 1))
    for c in range(n_categories):
        a, b = first[c], first[c + 1]
        if a == b:
            continue
        # One group per category unless its services have radii.
        best = near[a] if b - a == 1 else np.sort(np.concatenate(near[a:b], axis=1), axis=1)
        best = best[:, :k]
        out[:, c, :] = np.where(np.isfinite(best), best, np.nan)
    return out


def _group_by_node(n_nodes: int, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR of point ids by node: the points at node v are ``ids[ptr[v]:ptr[v+1]]``."""
    order = np.argsort(nodes, kind="stable").astype(np.int64)
    ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(nodes, minlength=n_nodes), out=ptr[1:])
    return ptr, order


@dataclass
class Decay:
    """A distance-decay weight: ``exponential`` exp(-beta d), or ``linear`` 1 - d/max_m.

    Parameters
    ----------
    kind : str
        ``"exponential"`` or ``"linear"``.
    beta : float
        Rate per metre of the exponential decay.
    max_m : float
        Distance (m) at which the linear decay reaches zero.
    """

    kind: str = "exponential"
    beta: float = 0.002
    max_m: float = 1000.0

    def code(self) -> tuple[int, float]:
        """The decay as the compiled kernel takes it.

        Returns
        -------
        tuple of (int, float)
            ``(1, beta)`` for exponential, ``(2, max_m)`` for linear.

        Raises
        ------
        ValueError
            If ``kind`` is neither exponential nor linear.
        """
        if self.kind == "exponential":
            return 1, float(self.beta)
        if self.kind == "linear":
            return 2, float(self.max_m)
        raise ValueError(f"decay kind must be exponential or linear, not {self.kind!r}")


def _load_without_scipy_linalg() -> None:
    """Let numba load its array functions without importing scipy.linalg.

    When the engine's first kernel loads, numba imports ``numba.np.arraymath``, which
    checks once that BLAS is there by importing ``scipy.linalg.cython_blas``: the whole of
    scipy.linalg, 0.2-0.3 s of a warm tables-only run that uses nothing else of scipy.
    The kernels call no BLAS function. With scipy installed that check would pass, so it is
    let pass on a placeholder, present only while that one module is imported: a later
    ``np.dot`` in a kernel of the user's imports the real module, as numba always does.
    """
    name = "scipy.linalg.cython_blas"
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return  # checked already, or nothing to save
    if importlib.util.find_spec("scipy") is None:
        return  # numba finds no BLAS, as it would have
    placeholder = types.ModuleType(name)
    sys.modules[name] = placeholder
    try:
        import numba.np.arraymath  # noqa: F401 (runs the check, once per process)
    finally:
        if sys.modules.get(name) is placeholder:
            del sys.modules[name]


def reach(
    graph: Graph,
    origins: Points,
    services: Points,
    service_category: np.ndarray,
    n_categories: int,
    thresholds: np.ndarray | list[float],
    nearest_limit_m: float = np.inf,
    k_nearest: int = 1,
    decay: Decay | None = None,
    threads: int | None = None,
) -> Reach:
    """Count services per category within each threshold of every origin, and the nearest.

    Distances are network metres including both snap distances (the walk from the door to
    the street counts at both ends).

    Parameters
    ----------
    graph : Graph
        The undirected walking graph (edge lengths in metres).
    origins : Points or Seeds
        Origins attached to edges of ``graph``; as :class:`Seeds`, an origin starts from
        the nearest of its seeds (the gates of a walled 小区).
    services : Points or ServicePoints
        Services attached to edges of ``graph``; as :class:`ServicePoints`, each counts
        only within its ``max_m``.
    service_category : numpy.ndarray
        Category index of each service, in ``[0, n_categories)``.
    n_categories : int
        Number of categories (the second axis of the results).
    thresholds : numpy.ndarray or list of float
        Positive distances (m), shape (n_thresholds,), or one row per category, shape
        (n_categories, n_thresholds) (a category measured at another walking speed);
        every one is counted in the same search.
    nearest_limit_m : float
        Bound of the nearest search: a service farther away counts as unreachable.
    k_nearest : int
        Also return the k nearest distances per category when above 1.
    decay : Decay, optional
        Also return the decayed sum over services within the largest threshold.
    threads : int, optional
        numba threads for this call (default: numba's setting). Results do not depend on it.

    Returns
    -------
    Reach
        Counts, nearest distances, services per category and, when asked for, k nearest
        and decayed sums; ``thresholds`` is the first category's row.

    Raises
    ------
    ValueError
        If a threshold is not positive, the thresholds' shape fits neither form,
        ``k_nearest`` < 1, ``service_category`` does not have one valid index per service,
        or a service's ``max_m`` is NaN.
    """
    _load_without_scipy_linalg()  # before the first kernel loads in this process
    thr = _threshold_rows(thresholds, n_categories)
    if k_nearest < 1:
        raise ValueError("k_nearest must be at least 1")
    cat = np.asarray(service_category, dtype=np.int64)
    if len(cat) != len(services):
        raise ValueError("service_category must have one entry per service")
    if len(cat) and (cat.min() < 0 or cat.max() >= n_categories):
        raise ValueError("service_category values must be in [0, n_categories)")
    s_max = _service_limits(services)
    decay_kind, decay_param = decay.code() if decay is not None else (0, 0.0)
    g, (seed_node, s_node) = augment(graph, origins, services)
    o_node, o_d, sink, source = _origin_nodes(g, origins, seed_node)
    n_o = len(o_node)
    s_d = np.asarray(services.snap_m, dtype=np.float64)
    n_threads = threads or numba.get_num_threads()
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        # Rows are origins, columns categories: search from the smaller side.
        origin_side = (o_node, o_d, np.arange(n_o), np.zeros(n_o, np.int64), np.full(n_o, np.inf))
        service_side = (s_node, s_d, np.zeros_like(cat), cat, s_max)
        from_services = len(services) <= n_o
        source_side, target = (
            (service_side, origin_side) if from_services else (origin_side, service_side)
        )
        # Targets are grouped by node: the points at node v are ids[ptr[v]:ptr[v+1]].
        ptr, ids = _group_by_node(len(sink[0]) - 1, target[0])
        counts, score = _count_kernel(
            sink if from_services else source,
            source_side,
            (ptr, ids, *target[1:]),
            not from_services,
            thr,
            (decay_kind, decay_param),
            (n_o, n_categories, _CHUNKS),
        )
        near = _nearest(
            sink,
            (s_node, s_d, cat, s_max),
            (o_node, o_d),
            n_categories,
            int(k_nearest),
            float(nearest_limit_m),
        )
    finally:
        numba.set_num_threads(previous)
    return Reach(
        thresholds=thr[0].copy() if len(thr) else np.zeros(0),
        counts=counts,
        nearest_m=near[:, :, 0],
        k_nearest_m=near if k_nearest > 1 else None,
        decayed=score if decay is not None else None,
        services_per_category=np.bincount(cat, minlength=n_categories).astype(np.int64),
    )


def _threshold_rows(thresholds: np.ndarray | list[float], n_categories: int) -> np.ndarray:
    """The thresholds as one ascending row per category (n_categories, n_thresholds)."""
    thr = np.asarray(thresholds, dtype=np.float64)
    if thr.ndim == 1:
        thr = np.broadcast_to(np.sort(thr), (n_categories, len(thr)))
    elif thr.ndim != 2 or thr.shape[0] != n_categories:
        raise ValueError(
            f"thresholds must have shape (n_thresholds,) or ({n_categories}, n_thresholds), "
            f"not {thr.shape}"
        )
    thr = np.sort(thr, axis=1)
    if thr.shape[1] == 0 or not (thr > 0).all():
        raise ValueError("thresholds must be positive")
    return np.ascontiguousarray(thr)


_CSR = tuple[np.ndarray, np.ndarray, np.ndarray]


def _origin_nodes(
    g: Graph, origins: Points, seed_node: np.ndarray
) -> tuple[np.ndarray, np.ndarray, _CSR, _CSR]:
    """Each origin's node and start distance, and the graph to search in each direction.

    An origin with one seed is its seed's node. An origin with several (:class:`Seeds`)
    is an extra node joined to its seeds by one-way arcs as long as their ``snap_m``:
    into the origin for searches that end there (from services), out of it for searches
    that start there. A walk then never passes through an origin.

    Returns (origin node, start distance, CSR towards origins, CSR away from origins).
    """
    snap = np.asarray(origins.snap_m, dtype=np.float64)
    if not isinstance(origins, Seeds):
        csr = to_csr(g.n_nodes, g.edge_u, g.edge_v, g.edge_len)[:3]
        return seed_node, snap, csr, csr
    ptr = origins.origin_ptr()
    if len(origins.origin) and (np.diff(origins.origin) < 0).any():
        raise ValueError("Seeds.origin must be ascending")
    per_origin = np.diff(ptr)
    if (per_origin == 0).any():
        raise ValueError("every origin of Seeds needs at least one seed")
    single = per_origin == 1
    o_node = np.empty(origins.n_origins, dtype=np.int64)
    o_d = np.zeros(origins.n_origins)
    first = ptr[:-1]
    o_node[single] = seed_node[first[single]]
    o_d[single] = snap[first[single]]
    multi = np.flatnonzero(~single)
    o_node[multi] = g.n_nodes + np.arange(len(multi))
    in_multi = ~single[origins.origin]
    arc_seed = seed_node[in_multi]
    arc_origin = o_node[origins.origin[in_multi]]
    arc_len = snap[in_multi]
    n = g.n_nodes + len(multi)
    if len(multi) == 0:
        csr = to_csr(g.n_nodes, g.edge_u, g.edge_v, g.edge_len)[:3]
        return o_node, o_d, csr, csr
    sink = to_csr_with_arcs(g, arc_seed, arc_origin, arc_len, n)
    source = to_csr_with_arcs(g, arc_origin, arc_seed, arc_len, n)
    return o_node, o_d, sink, source


@njit(cache=True, nogil=True)
def _search_one(csr, node, d0, limit, scratch):
    """One bounded search from a single point; the ball's size (see :func:`_ball`)."""
    return _ball(
        csr, np.full(1, node, dtype=np.int64), np.full(1, d0, dtype=np.float64), limit, scratch
    )


@njit(cache=True, nogil=True)
def _pairs_kernel(csr, sources, targets, limit):
    """Every (source, target, distance) within ``limit``: one bounded search per source.

    ``csr`` is (indptr, indices, weights); ``sources`` (node, start distance) of the points
    searched from; ``targets`` (ptr and ids of the points grouped by node, end distance).
    The output grows by doubling; pairs come per source, in the order nodes are settled.
    """
    src_node, src_d0 = sources
    tgt_ptr, tgt_ids, tgt_d1 = targets
    n, m_adj = len(csr[0]) - 1, len(csr[1]) + 2
    scratch = (
        np.full(n, np.inf),
        np.zeros(n, dtype=np.bool_),
        np.empty(n, dtype=np.int64),
        np.empty(m_adj, dtype=np.float64),
        np.empty(m_adj, dtype=np.int64),
    )
    dist, done, touched = scratch[0], scratch[1], scratch[2]
    cap = max(16, 4 * len(src_node))
    out = (np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int64), np.empty(cap))
    m = 0
    for s in range(len(src_node)):
        cnt = _search_one(csr, src_node[s], src_d0[s], limit, scratch)
        for i in range(cnt):
            v = touched[i]
            for j in range(tgt_ptr[v], tgt_ptr[v + 1]):
                d = dist[v] + tgt_d1[tgt_ids[j]]
                if d > limit:
                    continue
                if m == len(out[0]):
                    out = (
                        np.concatenate((out[0], np.empty(m, dtype=np.int64))),
                        np.concatenate((out[1], np.empty(m, dtype=np.int64))),
                        np.concatenate((out[2], np.empty(m))),
                    )
                out[0][m] = s
                out[1][m] = tgt_ids[j]
                out[2][m] = d
                m += 1
        dist[touched[:cnt]] = np.inf
        done[touched[:cnt]] = False
    return out[0][:m], out[1][:m], out[2][:m]


def pairs_within(
    graph: Graph, origins: Points, targets: Points, limit: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (origin, target) pair within ``limit`` network metres, with its distance.

    The same rules as :func:`reach`: points split their edges (:func:`augment`), both snap
    distances are walked, and a pair exactly at ``limit`` counts. One bounded search runs
    from each point of the smaller side (targets when there are no more of them than
    origins, as :func:`reach` does with services), touching only the ball around it; so
    ``counts`` of :func:`reach` with one category and threshold ``limit`` equal the number
    of pairs per origin.

    Parameters
    ----------
    graph : Graph
        The undirected walking graph (edge lengths in metres).
    origins : Points or Seeds
        Points attached to edges of ``graph`` (residence clusters, say); as
        :class:`Seeds`, an origin starts from the nearest of its seeds.
    targets : Points
        Points attached to edges of ``graph`` (candidate sites, services).
    limit : float
        Largest distance (m) of a pair; not negative.

    Returns
    -------
    origin_index : numpy.ndarray
        Index of each pair's origin (int64).
    target_index : numpy.ndarray
        Index of each pair's target (int64).
    distance_m : numpy.ndarray
        Network distance (m) of each pair, snap distances included (float64).
        Pairs are sorted by origin, then target.

    Raises
    ------
    ValueError
        If ``limit`` is negative or not a number.
    """
    limit = float(limit)
    if not limit >= 0:
        raise ValueError(f"limit must be a distance of at least 0 m, not {limit}")
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    if len(origins) == 0 or len(targets) == 0:
        return empty
    g, (seed_node, t_node) = augment(graph, origins, targets)
    o_node, o_d, sink, source = _origin_nodes(g, origins, seed_node)
    t_d = np.asarray(targets.snap_m, dtype=np.float64)
    from_targets = len(targets) <= len(o_node)
    (src_node, src_d), (dst_node, dst_d) = (
        ((t_node, t_d), (o_node, o_d)) if from_targets else ((o_node, o_d), (t_node, t_d))
    )
    ptr, ids = _group_by_node(len(sink[0]) - 1, dst_node)
    src, dst, dist = _pairs_kernel(
        sink if from_targets else source, (src_node, src_d), (ptr, ids, dst_d), limit
    )
    o_idx, t_idx = (dst, src) if from_targets else (src, dst)
    order = np.lexsort((t_idx, o_idx))
    return o_idx[order], t_idx[order], dist[order]


def ball(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    seeds: np.ndarray,
    seed_d: np.ndarray,
    limit: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes within ``limit`` of the seeds (with start distances), and their distances.

    Parameters
    ----------
    indptr, indices, weights : numpy.ndarray
        Symmetric CSR adjacency, as :func:`circles.graph.to_csr` returns it.
    seeds : numpy.ndarray
        Start nodes.
    seed_d : numpy.ndarray
        Distance (m) already walked at each seed.
    limit : float
        Largest distance (m) to settle.

    Returns
    -------
    nodes : numpy.ndarray
        The nodes within ``limit``, in the order they were reached.
    dist : numpy.ndarray
        Their network distances (m).
    """
    n = len(indptr) - 1
    seeds = np.asarray(seeds, dtype=np.int64)
    dist = np.full(n, np.inf)
    done = np.zeros(n, dtype=np.bool_)
    touched = np.empty(n, dtype=np.int64)
    hd = np.empty(len(indices) + len(seeds) + 1)
    hn = np.empty(len(indices) + len(seeds) + 1, dtype=np.int64)
    cnt = _ball(
        (indptr, indices, weights),
        seeds,
        np.asarray(seed_d, np.float64),
        float(limit),
        (dist, done, touched, hd, hn),
    )
    nodes = touched[:cnt].copy()
    return nodes, dist[nodes]


def warm_up(isochrones: bool = False) -> None:
    """Load the compiled kernels now rather than at the first real call.

    numba reads them from its on-disk cache at first use in a process (about 0.3 s);
    a cold run does this while a worker process parses the OSM file.

    Parameters
    ----------
    isochrones : bool
        Also load the kernel that draws isochrones (:func:`ball`).
    """
    global _warm
    g = Graph(2, np.array([0], np.int64), np.array([1], np.int64), np.array([1.0]))
    p = Points(np.array([0], np.int64), np.array([0.5]), np.array([0.0]))
    reach(g, p, p, np.array([0], np.int64), 1, [1.0])
    if isochrones:
        indptr, indices, weights, _ = to_csr(2, g.edge_u, g.edge_v, g.edge_len)
        ball(indptr, indices, weights, np.array([0], np.int64), np.array([0.0]), 1.0)
    _warm = True


def is_warm() -> bool:
    """Whether :func:`warm_up` has run in this process.

    Returns
    -------
    bool
        True once the compiled kernels are loaded by :func:`warm_up`.
    """
    return _warm
