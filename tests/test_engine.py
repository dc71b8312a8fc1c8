"""The engine against a brute-force networkx reference, on random graphs (hypothesis).

The reference applies the attachment rule on its own: a point on edge (a0, a1) at offset
``off`` from a0 with snap distance ``snap`` reaches a0 after ``snap + off`` and a1 after
``snap + len - off``; two points are ``snap_o + snap_s + min over ends (o -> a, networkx
shortest path a..b, b -> s)`` apart, or ``snap_o + snap_s + |off_o - off_s|`` along their
edge when they share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circles import engine
from circles.engine import Graph, Points

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TWO_THREADS = numba.config.NUMBA_NUM_THREADS >= 2


@dataclass
class Case:
    graph: Graph
    origins: Points
    services: Points
    category: np.ndarray
    n_categories: int
    thresholds: list[float]
    limit: float
    exact: bool  # integer-valued lengths: sums are exact, ties at thresholds are real


@st.composite
def graphs(draw, exact: bool, max_parts: int = 2) -> Graph:
    """A random graph of 1-2 connected parts (a random tree plus extra and parallel edges)."""
    parts = draw(st.integers(1, max_parts))
    edges: list[tuple[int, int]] = []
    n = 0
    for _ in range(parts):
        k = draw(st.integers(2, 7))
        for i in range(1, k):
            edges.append((n + draw(st.integers(0, i - 1)), n + i))
        for _ in range(draw(st.integers(0, k))):
            a, b = draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))
            if a != b:
                edges.append((n + a, n + b))  # may repeat an edge: parallel edges
        n += k
    edges = [(b, a) if draw(st.booleans()) else (a, b) for a, b in edges]
    order = draw(st.permutations(range(len(edges))))
    edges = [edges[i] for i in order]
    if exact:
        lengths = [float(draw(st.integers(1, 6))) for _ in edges]
    else:
        lengths = [draw(st.floats(0.5, 60.0, allow_nan=False)) for _ in edges]
    return Graph(
        n,
        np.array([e[0] for e in edges], dtype=np.int64),
        np.array([e[1] for e in edges], dtype=np.int64),
        np.array(lengths, dtype=np.float64),
    )


@st.composite
def points(draw, graph: Graph, exact: bool, min_size: int = 0, max_size: int = 8) -> Points:
    size = draw(st.integers(min_size, max_size))
    edge, offset, snap = [], [], []
    for _ in range(size):
        e = draw(st.integers(0, len(graph.edge_u) - 1))
        length = graph.edge_len[e]
        where = draw(st.sampled_from(["start", "end", "inside", "inside"]))
        if where == "start":
            off = 0.0
        elif where == "end":
            off = float(length)
        elif exact:
            off = float(draw(st.integers(0, int(length))))
        else:
            off = draw(st.floats(0.0, 1.0)) * float(length)
        edge.append(e)
        offset.append(off)
        snap.append(float(draw(st.integers(0, 3))) if exact else draw(st.floats(0.0, 8.0)))
    return Points(
        np.array(edge, dtype=np.int64), np.array(offset, dtype=np.float64), np.array(snap)
    )


@st.composite
def cases(draw, exact: bool | None = None) -> Case:
    if exact is None:
        exact = draw(st.booleans())
    graph = draw(graphs(exact))
    origins = draw(points(graph, exact))
    services = draw(points(graph, exact))
    n_cat = draw(st.integers(1, 3))
    category = np.array(
        [draw(st.integers(0, n_cat - 1)) for _ in range(len(services))], dtype=np.int64
    )
    if exact:
        thresholds = draw(
            st.lists(st.integers(1, 40).map(float), min_size=1, max_size=4, unique=True)
        )
        limit = draw(st.sampled_from([math.inf, 5.0, 12.0, 25.0]))
    else:
        thresholds = draw(st.lists(st.floats(1.0, 150.0), min_size=1, max_size=4, unique=True))
        limit = draw(st.sampled_from([math.inf, 20.0, 70.0]))
    return Case(graph, origins, services, category, n_cat, thresholds, limit, exact)


# --- the reference ------------------------------------------------------------------------


def _nx_graph(graph: Graph) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(graph.n_nodes))
    for u, v, w in zip(
        graph.edge_u.tolist(), graph.edge_v.tolist(), graph.edge_len.tolist(), strict=True
    ):
        if not g.has_edge(u, v) or g[u][v]["weight"] > w:
            g.add_edge(u, v, weight=w)  # parallel edges: the shortest one counts
    return g


def reference_distances(graph: Graph, origins: Points, services: Points) -> np.ndarray:
    """Network distance between every origin and every service (inf when unreachable)."""
    sp = dict(nx.all_pairs_dijkstra_path_length(_nx_graph(graph), weight="weight"))

    def ends(p: Points, i: int) -> list[tuple[int, float]]:
        e = int(p.edge[i])
        off = float(p.offset[i])
        length = float(graph.edge_len[e])
        return [(int(graph.edge_u[e]), off), (int(graph.edge_v[e]), length - off)]

    out = np.full((len(origins), len(services)), np.inf)
    for i in range(len(origins)):
        for j in range(len(services)):
            best = math.inf
            for a, da in ends(origins, i):
                for b, db in ends(services, j):
                    if b in sp[a]:
                        best = min(best, da + sp[a][b] + db)
            if origins.edge[i] == services.edge[j]:
                best = min(best, abs(float(origins.offset[i]) - float(services.offset[j])))
            out[i, j] = best + origins.snap_m[i] + services.snap_m[j]
    return out


def _check(case: Case, res: engine.Reach, dist: np.ndarray) -> None:
    thr = np.sort(np.asarray(case.thresholds, dtype=np.float64))
    np.testing.assert_array_equal(res.thresholds, thr)
    n_o = len(case.origins)
    assert res.counts.shape == (n_o, case.n_categories, len(thr))
    assert res.nearest_m.shape == (n_o, case.n_categories)
    # Integer lengths are exact: ties at a threshold count. Otherwise a pair within 1e-9 m
    # of a threshold may fall on either side (summation order), and nothing else may.
    eps = 0.0 if case.exact else 1e-9
    for c in range(case.n_categories):
        d = dist[:, case.category == c]
        for k, t in enumerate(thr):
            low = (d <= t - eps).sum(axis=1)
            high = (d <= t + eps).sum(axis=1)
            got = res.counts[:, c, k]
            assert np.all((low <= got) & (got <= high)), (c, t, got, low, high)
        ref = np.where(d <= case.limit, d, np.inf).min(axis=1, initial=np.inf)
        ref = np.where(np.isfinite(ref), ref, np.nan)
        np.testing.assert_allclose(res.nearest_m[:, c], ref, rtol=0, atol=1e-6, equal_nan=True)


def _reach(case: Case, threads: int = 1, **options) -> engine.Reach:
    return engine.reach(
        case.graph,
        case.origins,
        case.services,
        case.category,
        case.n_categories,
        case.thresholds,
        nearest_limit_m=case.limit,
        threads=threads,
        **options,
    )


# --- properties ---------------------------------------------------------------------------


@pytest.mark.slow  # 120 examples against networkx
@SETTINGS
@given(cases())
def test_reach_matches_networkx(case):
    dist = reference_distances(case.graph, case.origins, case.services)
    res = _reach(case, threads=1)
    _check(case, res, dist)
    if TWO_THREADS:
        res2 = _reach(case, threads=2)
        np.testing.assert_array_equal(res2.counts, res.counts)
        np.testing.assert_array_equal(res2.nearest_m, res.nearest_m)


@SETTINGS
@given(st.data())
def test_searching_from_either_side_agrees(data):
    """Few points A and many points B, one category: (origins=A, services=B) searches from
    the origins, (origins=B, services=A) from the services; both match the reference."""
    exact = data.draw(st.booleans())
    graph = data.draw(graphs(exact))
    a = data.draw(points(graph, exact, min_size=1, max_size=4))
    b = data.draw(points(graph, exact, min_size=len(a) + 1, max_size=9))
    thresholds = (
        data.draw(st.lists(st.integers(1, 40).map(float), min_size=1, max_size=3, unique=True))
        if exact
        else data.draw(st.lists(st.floats(1.0, 150.0), min_size=1, max_size=3, unique=True))
    )
    dist = reference_distances(graph, a, b)  # rows A, columns B
    one = engine.reach(graph, a, b, np.zeros(len(b), np.int64), 1, thresholds, threads=1)
    two = engine.reach(graph, b, a, np.zeros(len(a), np.int64), 1, thresholds, threads=1)
    _check(Case(graph, a, b, np.zeros(len(b), np.int64), 1, thresholds, math.inf, exact), one, dist)
    _check(
        Case(graph, b, a, np.zeros(len(a), np.int64), 1, thresholds, math.inf, exact), two, dist.T
    )
    # The same pairs are counted from both sides.
    np.testing.assert_array_equal(one.counts[:, 0, :].sum(axis=0), two.counts[:, 0, :].sum(axis=0))


@SETTINGS
@given(st.data())
def test_ball_matches_networkx(data):
    exact = data.draw(st.booleans())
    graph = data.draw(graphs(exact))
    n = graph.n_nodes
    seeds = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3))
    seed_d = [
        float(data.draw(st.integers(0, 5))) if exact else data.draw(st.floats(0, 10)) for _ in seeds
    ]
    limit = float(data.draw(st.integers(0, 30))) if exact else data.draw(st.floats(0, 120))
    indptr, indices, weights, _ = engine.to_csr(n, graph.edge_u, graph.edge_v, graph.edge_len)
    nodes, dist = engine.ball(indptr, indices, weights, np.array(seeds), np.array(seed_d), limit)
    # Reference: a super source joined to each seed by its start distance.
    g = _nx_graph(graph)
    for s, d in zip(seeds, seed_d, strict=True):
        if not g.has_edge(-1, s) or g[-1][s]["weight"] > d:
            g.add_edge(-1, s, weight=d)
    ref = nx.single_source_dijkstra_path_length(g, -1, weight="weight")
    ref = {v: d for v, d in ref.items() if v != -1 and d <= limit}
    got = dict(zip(nodes.tolist(), dist.tolist(), strict=True))
    assert len(got) == len(nodes)
    if exact:
        assert got == ref
    else:
        near_limit = {v for v, d in ref.items() if d > limit - 1e-9}
        assert set(got) - near_limit <= set(ref) and set(ref) - near_limit <= set(got)
        for v in set(got) & set(ref):
            assert got[v] == pytest.approx(ref[v], abs=1e-9)


# --- hand-worked cases --------------------------------------------------------------------


def _triangle() -> Graph:
    # 0 --10-- 1 --20-- 2 --25-- 0
    return Graph(3, np.array([0, 1, 2]), np.array([1, 2, 0]), np.array([10.0, 20.0, 25.0]))


def test_points_on_nodes():
    g = _triangle()
    # Both origins sit on node 1: at the end of edge 0 and at the start of edge 1.
    origins = Points(np.array([0, 1]), np.array([10.0, 0.0]), np.array([0.0, 0.0]))
    # Services on node 2 (start of edge 2), on node 0 (end of edge 2) and 5 m along edge 0.
    services = Points(np.array([2, 2, 0]), np.array([0.0, 25.0, 5.0]), np.array([1.0, 2.0, 0.0]))
    res = engine.reach(g, origins, services, np.array([0, 0, 1]), 2, [5.0, 12.0, 21.0], threads=1)
    # From node 1: service 0 is 20 + 1 = 21 away, service 1 is 10 + 2 = 12, service 2 is 5.
    expected = np.array([[0, 1, 2], [1, 1, 1]])
    for o in range(2):
        np.testing.assert_array_equal(res.counts[o], expected)
        np.testing.assert_allclose(res.nearest_m[o], [12.0, 5.0])


def test_same_edge_walk_and_limit():
    g = _triangle()
    # Origin and service on edge 1 (20 m long), 3 m apart: the direct walk, not via nodes.
    origins = Points(np.array([1, 0]), np.array([8.0, 2.0]), np.array([0.5, 0.0]))
    services = Points(np.array([1]), np.array([11.0]), np.array([0.25]))
    res = engine.reach(
        g, origins, services, np.array([0]), 1, [3.75, 100.0], nearest_limit_m=20.0, threads=1
    )
    # Origin 0: 0.5 + 3 + 0.25 = 3.75 (on the threshold: counted).
    # Origin 1: 2 m along edge 0 from node 0 -> node 1 is 8 m, then 11 m: 19 + 0.25 = 19.25.
    np.testing.assert_array_equal(res.counts[:, 0, :], [[1, 1], [0, 1]])
    np.testing.assert_allclose(res.nearest_m[:, 0], [3.75, 19.25])
    limited = engine.reach(
        g, origins, services, np.array([0]), 1, [100.0], nearest_limit_m=19.0, threads=1
    )
    np.testing.assert_allclose(limited.nearest_m[:, 0], [3.75, np.nan])


def test_disconnected_and_empty_categories():
    # Two separate edges: 0-1 and 2-3.
    g = Graph(4, np.array([0, 2]), np.array([1, 3]), np.array([10.0, 10.0]))
    origins = Points(np.array([0]), np.array([5.0]), np.array([0.0]))
    services = Points(np.array([1, 0]), np.array([5.0, 9.0]), np.array([0.0, 0.0]))
    res = engine.reach(g, origins, services, np.array([0, 1]), 3, [1000.0], threads=1)
    np.testing.assert_array_equal(res.counts[0, :, 0], [0, 1, 0])
    np.testing.assert_allclose(res.nearest_m[0], [np.nan, 4.0, np.nan])


def test_no_origins_or_no_services():
    g = _triangle()
    none = Points(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    one = Points(np.array([0]), np.array([1.0]), np.array([0.0]))
    res = engine.reach(g, none, one, np.array([0]), 2, [100.0])
    assert res.counts.shape == (0, 2, 1) and res.nearest_m.shape == (0, 2)
    res = engine.reach(g, one, none, np.zeros(0, np.int64), 2, [100.0], threads=1)
    np.testing.assert_array_equal(res.counts, np.zeros((1, 2, 1)))
    assert np.isnan(res.nearest_m).all()


@pytest.mark.parametrize(
    ("category", "n_cat", "thresholds"),
    [([0], 1, [0.0, 10.0]), ([0], 1, []), ([0, 0], 1, [10.0]), ([1], 1, [10.0]), ([-1], 1, [5.0])],
)
def test_reach_rejects_bad_input(category, n_cat, thresholds):
    g = _triangle()
    one = Points(np.array([0]), np.array([1.0]), np.array([0.0]))
    with pytest.raises(ValueError):
        engine.reach(g, one, one, np.array(category), n_cat, thresholds)


@pytest.mark.skipif(not TWO_THREADS, reason="numba has one thread here")
def test_threads_agree_on_bigger_graph():
    rng = np.random.default_rng(7)
    n = 400
    # A 20 x 20 grid with integer lengths.
    u, v = [], []
    for i in range(20):
        for j in range(20):
            k = 20 * i + j
            if j < 19:
                u.append(k)
                v.append(k + 1)
            if i < 19:
                u.append(k)
                v.append(k + 20)
    g = Graph(n, np.array(u), np.array(v), rng.integers(5, 40, len(u)).astype(float))

    def pts(m):
        e = rng.integers(0, len(u), m)
        return Points(
            e, np.floor(rng.uniform(0, 1, m) * g.edge_len[e]), rng.integers(0, 9, m).astype(float)
        )

    o, s = pts(60), pts(90)
    cat = rng.integers(0, 4, 90)
    one = engine.reach(g, o, s, cat, 4, [50.0, 120.0, 200.0], threads=1)
    two = engine.reach(g, o, s, cat, 4, [50.0, 120.0, 200.0], threads=2)
    np.testing.assert_array_equal(one.counts, two.counts)
    np.testing.assert_array_equal(one.nearest_m, two.nearest_m)
    dist = reference_distances(g, o, s)
    _check(Case(g, o, s, cat, 4, [50.0, 120.0, 200.0], math.inf, True), one, dist)


# --- optional measures: k nearest and distance decay --------------------------------------


@pytest.mark.slow  # 120 examples against networkx
@SETTINGS
@given(cases(), st.integers(1, 4), st.sampled_from(["exponential", "linear"]))
def test_k_nearest_and_decay_match_networkx(case, k, kind):
    dist = reference_distances(case.graph, case.origins, case.services)
    decay = engine.Decay(kind=kind, beta=0.05, max_m=max(case.thresholds))
    res = _reach(case, threads=1, k_nearest=k, decay=decay)
    limit_t = max(case.thresholds)
    for c in range(case.n_categories):
        d = np.sort(dist[:, case.category == c], axis=1)
        # The k nearest distances, ascending, NaN past the last reachable one.
        want = np.full((len(case.origins), k), np.nan)
        for o in range(len(case.origins)):
            row = d[o][np.isfinite(d[o]) & (d[o] <= case.limit)][:k]
            want[o, : len(row)] = row
        if k > 1:
            np.testing.assert_allclose(res.k_nearest_m[:, c, :], want, atol=1e-6, equal_nan=True)
        else:
            assert res.k_nearest_m is None
        np.testing.assert_allclose(res.nearest_m[:, c], want[:, 0], atol=1e-6, equal_nan=True)
        # The decayed sum over services within the largest threshold. With inexact
        # lengths a pair within 1e-9 m of the threshold may fall on either side.
        eps = 0.0 if case.exact else 1e-9
        sums = []
        for slack in (-eps, eps):
            within = np.where(d <= limit_t + slack, d, np.inf)
            if kind == "exponential":
                w = np.exp(-0.05 * within)
            else:
                w = np.clip(1.0 - within / limit_t, 0.0, None)
            sums.append(np.where(np.isfinite(within), w, 0.0).sum(axis=1))
        got = res.decayed[:, c]
        assert np.all((got >= sums[0] - 1e-6) & (got <= sums[1] + 1e-6)), (got, sums)
    if TWO_THREADS:
        res2 = _reach(case, threads=2, k_nearest=k, decay=decay)
        np.testing.assert_array_equal(res2.decayed, res.decayed)


def test_decay_by_hand():
    # A 100 m street, origin at 0, services at 30 m and 80 m, threshold 100 m.
    g = Graph(2, np.array([0]), np.array([1]), np.array([100.0]))
    o = Points(np.array([0]), np.array([0.0]), np.array([0.0]))
    s = Points(np.array([0, 0]), np.array([30.0, 80.0]), np.array([0.0, 0.0]))
    lin = engine.reach(
        g,
        o,
        s,
        np.array([0, 0]),
        1,
        [100.0],
        decay=engine.Decay("linear", max_m=100.0),
        k_nearest=2,
    )
    assert lin.decayed[0, 0] == pytest.approx(0.7 + 0.2)
    np.testing.assert_allclose(lin.k_nearest_m[0, 0], [30.0, 80.0])
    exp = engine.reach(g, o, s, np.array([0, 0]), 1, [100.0], decay=engine.Decay(beta=0.01))
    assert exp.decayed[0, 0] == pytest.approx(math.exp(-0.3) + math.exp(-0.8))


# --- pairs within a distance ----------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_pairs_within_matches_networkx(data):
    """Every pair within the limit, once, with its distance; searched from either side."""
    exact = data.draw(st.booleans())
    graph = data.draw(graphs(exact))
    a = data.draw(points(graph, exact))
    b = data.draw(points(graph, exact))
    limit = float(data.draw(st.integers(0, 40))) if exact else data.draw(st.floats(0, 150))
    dist = reference_distances(graph, a, b)
    eps = 0.0 if exact else 1e-9
    for origins, targets, ref in ((a, b, dist), (b, a, dist.T)):
        o, t, d = engine.pairs_within(graph, origins, targets, limit)
        got = set(zip(o.tolist(), t.tolist(), strict=True))
        assert len(got) == len(o)  # no pair twice
        assert np.all(np.diff(o) >= 0)  # sorted by origin
        low = {tuple(p) for p in np.argwhere(ref <= limit - eps).tolist()}
        high = {tuple(p) for p in np.argwhere(ref <= limit + eps).tolist()}
        assert low <= got <= high
        np.testing.assert_allclose(d, ref[o, t], rtol=0, atol=1e-6)


def test_pairs_within_limit_counts_and_empty():
    g = _triangle()
    p = Points(np.array([0]), np.array([0.0]), np.array([0.0]))  # at node 0
    q = Points(np.array([1]), np.array([20.0]), np.array([0.0]))  # at node 2: 25 m away
    o, t, d = engine.pairs_within(g, p, q, 25.0)
    assert (o.tolist(), t.tolist(), d.tolist()) == ([0], [0], [25.0])
    assert len(engine.pairs_within(g, p, q, 24.999)[0]) == 0
    empty = Points(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    assert len(engine.pairs_within(g, empty, q, 100.0)[0]) == 0
    with pytest.raises(ValueError, match="limit"):
        engine.pairs_within(g, p, q, -1.0)


@pytest.mark.slow  # the bundled district, tables only
@pytest.mark.parametrize("limit", [300.0, 500.0, 1000.0])
def test_pairs_within_counts_agree_with_reach_on_the_district(limit):
    from circles import pipeline
    from circles.config import load_study
    from circles.snap import EdgeIndex

    res = pipeline.run(load_study(), tables_only=True)
    index = EdgeIndex(res.network)
    pts = res.clusters.geometry.representative_point()
    att = index.attach(pts.x.to_numpy(), pts.y.to_numpy(), res.study.snap.max_distance_m)
    s = res.services[res.services["used"]]
    satt = index.attach(s.geometry.x.to_numpy(), s.geometry.y.to_numpy(), 1e9)
    origins = Points(att.edge[att.used], att.offset[att.used], att.snap_m[att.used])
    services = Points(satt.edge, satt.offset, satt.snap_m)
    graph = res.network.graph
    counts = engine.reach(graph, origins, services, np.zeros(len(services), np.int64), 1, [limit])
    for a, b, by in ((origins, services, 0), (services, origins, 1)):
        pairs = engine.pairs_within(graph, a, b, limit)
        got = np.bincount(pairs[by], minlength=len(origins))
        np.testing.assert_array_equal(got, counts.counts[:, 0, 0])


# --- a radius per service (radius_by_area): counts only within min(threshold, radius) ------


@st.composite
def radii(draw, n: int, exact: bool) -> np.ndarray:
    """Per service: no radius, never counts, or a distance (0 included)."""
    out = []
    for _ in range(n):
        kind = draw(st.sampled_from(["inf", "never", "r", "r", "r"]))
        if kind == "inf":
            out.append(math.inf)
        elif kind == "never":
            out.append(-math.inf)
        else:
            out.append(float(draw(st.integers(0, 40))) if exact else draw(st.floats(0.0, 150.0)))
    return np.array(out, dtype=np.float64)


@pytest.mark.slow  # 120 examples against networkx
@SETTINGS
@given(cases(), st.data(), st.integers(1, 3))
def test_service_radii_match_networkx(case, data, k):
    """A service counts at threshold t within min(t, its radius), and is nobody's nearest,
    k-nearest or decayed term beyond its radius; searched from either side."""
    radius = data.draw(radii(len(case.services), case.exact))
    s = case.services
    services = engine.ServicePoints(s.edge, s.offset, s.snap_m, radius)
    dist = reference_distances(case.graph, case.origins, s)
    decay = engine.Decay("linear", max_m=max(case.thresholds))

    def measured(threads: int) -> engine.Reach:
        return engine.reach(
            case.graph,
            case.origins,
            services,
            case.category,
            case.n_categories,
            case.thresholds,
            nearest_limit_m=case.limit,
            k_nearest=k,
            decay=decay,
            threads=threads,
        )

    res = measured(1)
    thr = np.sort(np.asarray(case.thresholds, dtype=np.float64))
    top = thr[-1]
    eps = 0.0 if case.exact else 1e-9
    for c in range(case.n_categories):
        d, r = dist[:, case.category == c], radius[case.category == c]
        for j, t in enumerate(thr):
            low = ((d <= t - eps) & (d <= r - eps)).sum(axis=1)
            high = ((d <= t + eps) & (d <= r + eps)).sum(axis=1)
            got = res.counts[:, c, j]
            assert np.all((low <= got) & (got <= high)), (c, t, got, low, high)
        # The k nearest among the services within their radius and the nearest limit; with
        # inexact lengths a service within 1e-9 m of its radius may be in or out.
        options = []
        for slack in {-eps, eps}:
            ok = (d <= r + slack) & (d <= case.limit)
            want = np.sort(np.where(ok, d, np.inf), axis=1)[:, :k]
            want = np.pad(want, ((0, 0), (0, k - want.shape[1])), constant_values=np.inf)
            options.append(np.where(np.isfinite(want), want, np.nan))
        got_k = res.k_nearest_m[:, c, :] if k > 1 else res.nearest_m[:, c][:, None]
        assert any(np.allclose(got_k, w, rtol=0, atol=1e-6, equal_nan=True) for w in options), (
            c,
            got_k,
            options,
        )
        np.testing.assert_array_equal(res.nearest_m[:, c], got_k[:, 0])
        sums = []
        for slack in (-eps, eps):
            within = (d <= top + slack) & (d <= r + slack)
            sums.append(np.where(within, np.clip(1.0 - d / top, 0.0, None), 0.0).sum(axis=1))
        assert np.all((res.decayed[:, c] >= sums[0] - 1e-6) & (res.decayed[:, c] <= sums[1] + 1e-6))
    if TWO_THREADS:
        res2 = measured(2)
        np.testing.assert_array_equal(res2.counts, res.counts)
        np.testing.assert_array_equal(res2.nearest_m, res.nearest_m)
        np.testing.assert_array_equal(res2.decayed, res.decayed)


@SETTINGS
@given(cases(exact=True), st.data())
def test_infinite_radii_change_nothing(case, data):
    """ServicePoints with +inf radii give exactly what plain Points give."""
    s = case.services
    wide = engine.ServicePoints(s.edge, s.offset, s.snap_m, np.full(len(s), np.inf))
    plain = _reach(case, k_nearest=2)
    capped = engine.reach(
        case.graph,
        case.origins,
        wide,
        case.category,
        case.n_categories,
        case.thresholds,
        nearest_limit_m=case.limit,
        k_nearest=2,
        threads=1,
    )
    np.testing.assert_array_equal(capped.counts, plain.counts)
    np.testing.assert_array_equal(capped.k_nearest_m, plain.k_nearest_m)


def test_radius_by_hand_from_either_side():
    # A 100 m street 0-1; the origin at 0. Services of one category at 30 m (radius 25:
    # beyond it), 60 m (radius 60: exactly at it, counts) and 80 m (no radius).
    g = Graph(2, np.array([0]), np.array([1]), np.array([100.0]))
    o = Points(np.array([0]), np.array([0.0]), np.array([0.0]))
    s = engine.ServicePoints(
        np.array([0, 0, 0]),
        np.array([30.0, 60.0, 80.0]),
        np.zeros(3),
        np.array([25.0, 60.0, np.inf]),
    )
    res = engine.reach(g, o, s, np.zeros(3, np.int64), 1, [50.0, 70.0, 100.0], k_nearest=3)
    np.testing.assert_array_equal(res.counts[0, 0], [0, 1, 2])
    np.testing.assert_allclose(res.k_nearest_m[0, 0], [60.0, 80.0, np.nan])
    assert res.nearest_m[0, 0] == 60.0  # the service at 30 m is past its radius
    np.testing.assert_array_equal(res.services_per_category, [3])
    # Many origins: the search runs from the services, each only as far as its radius.
    many = Points(np.zeros(5, np.int64), np.array([0.0, 10.0, 25.0, 40.0, 95.0]), np.zeros(5))
    res = engine.reach(g, many, s, np.zeros(3, np.int64), 1, [1000.0])
    # Within radius: service 0 reaches offsets 5..55, service 1 0..120, service 2 all.
    np.testing.assert_array_equal(res.counts[:, 0, 0], [2, 3, 3, 3, 2])
    np.testing.assert_allclose(res.nearest_m[:, 0], [60.0, 20.0, 5.0, 10.0, 15.0])


def test_radius_rejects_nan():
    g = _triangle()
    one = Points(np.array([0]), np.array([1.0]), np.array([0.0]))
    bad = engine.ServicePoints(one.edge, one.offset, one.snap_m, np.array([np.nan]))
    with pytest.raises(ValueError, match="max_m"):
        engine.reach(g, one, bad, np.array([0]), 1, [5.0])


# --- radius_by_area through circles.measure: the city health check's park rule ----------

PARK_RULE = ((5000.0, 500.0), (2000.0, 300.0))  # >= 5,000 m²: 500 m; 2,000-5,000 m²: 300 m


def _street(length_m: float = 1600.0, step_m: float = 100.0):
    """One straight east-west street in UTM 50N (metres), nodes every ``step_m``."""
    import pyproj

    from circles.network import build_network
    from circles.sources.extract import OsmExtract, features_frame

    crs = pyproj.CRS.from_epsg(32650)
    to_wgs = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    x0, y0 = 668000.0, 3546000.0
    xs = x0 + np.arange(0.0, length_m + step_m / 2, step_m)
    lon, lat = to_wgs.transform(xs, np.full(len(xs), y0))
    extract = OsmExtract(
        way_ids=np.array([1], dtype=np.int64),
        way_ptr=np.array([0, len(xs)], dtype=np.int64),
        node_ids=np.arange(100, 100 + len(xs), dtype=np.int64),
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        features=features_frame([], [], [], []),
        source="street",
    )
    return build_network(extract, crs=crs), x0, y0


def _park_reach(area_m2, along_m, thresholds, rule=PARK_RULE):
    """measure.measure from a resident at the street's west end to parks at ``along_m``."""
    from circles import measure
    from circles.config import ReachSettings
    from circles.prepare import Prepared
    from circles.services import Category
    from circles.snap import EdgeIndex

    network, x0, y0 = _street()
    index = EdgeIndex(network)
    n = len(area_m2)
    x, y = x0 + np.asarray(along_m, dtype=float), np.full(n, y0)
    arrays = {
        "category": np.full(n, "park"),
        "name": np.array([f"park {i}" for i in range(n)]),
        "osm_type": np.full(n, "way"),
        "osm_id": np.arange(1, n + 1, dtype=np.int64),
        "x": x,
        "y": y,
        "area_m2": np.asarray(area_m2, dtype=float),
    }
    prepared = Prepared(network, arrays, index.attach(x, y, 50.0), "", None, False)
    origin = index.attach(np.array([x0]), np.array([y0]), 50.0)
    park = Category(key="park", zh="公园", en="Park", radius_by_area=rule)
    return measure.measure(
        prepared, origin, ["park"], thresholds, ReachSettings(k_nearest=2), {"park": park}
    )


def test_park_rule_two_parks_at_400_m():
    # Two parks 400 m down the street: 6,000 m² (radius 500 m) and 3,000 m² (radius 300 m).
    # 5/10/15 minutes at 5 km/h: 417, 833, 1250 m.
    res = _park_reach([6000.0, 3000.0], [400.0, 400.0], [5000 / 12, 10000 / 12, 15000 / 12])
    np.testing.assert_array_equal(res.counts[0, 0], [1, 1, 1])  # only the large one
    assert res.nearest_m[0, 0] == pytest.approx(400.0)
    assert np.isnan(res.k_nearest_m[0, 0, 1])  # the small one is nobody's second nearest
    # GB 50180's 300/500/1000 m: 400 m is beyond 300 m for the large one too.
    res = _park_reach([6000.0, 3000.0], [400.0, 400.0], [300.0, 500.0, 1000.0])
    np.testing.assert_array_equal(res.counts[0, 0], [0, 1, 1])


def test_park_rule_small_unknown_and_far_parks():
    # 3,000 m² at 250 m (within its 300 m); 1,500 m² at 100 m (under every band: counts
    # nowhere); parks mapped as points (unknown area: the smallest band's 300 m) at 280 m
    # (counts) and 450 m (does not); 9,000 m² at 600 m (beyond its 500 m, even at 15
    # minutes).
    areas = [3000.0, 1500.0, np.nan, np.nan, 9000.0]
    res = _park_reach(areas, [250.0, 100.0, 280.0, 450.0, 600.0], [300.0, 500.0, 1000.0])
    np.testing.assert_array_equal(res.counts[0, 0], [2, 2, 2])
    np.testing.assert_allclose(res.k_nearest_m[0, 0], [250.0, 280.0])
    # The same parks as a small park alone: it is not the nearest park when beyond 300 m.
    alone = _park_reach([3000.0], [400.0], [300.0, 500.0, 1000.0])
    np.testing.assert_array_equal(alone.counts[0, 0], [0, 0, 0])
    assert np.isnan(alone.nearest_m[0, 0])
    # Without the rule every park counts within the thresholds alone.
    free = _park_reach([3000.0], [400.0], [300.0, 500.0, 1000.0], rule=())
    np.testing.assert_array_equal(free.counts[0, 0], [0, 1, 1])
    assert free.nearest_m[0, 0] == pytest.approx(400.0)


def test_service_radii_by_band_and_at_the_door():
    from circles.measure import service_radii
    from circles.services import Category

    park = Category(key="park", zh="公园", en="Park", radius_by_area=PARK_RULE)
    keys = np.array(["park"] * 5 + ["market"])
    areas = np.array([9000.0, 5000.0, 3000.0, 1999.0, np.nan, 10.0])
    got = service_radii({"park": park}, keys, areas)
    np.testing.assert_array_equal(got, [500.0, 500.0, 300.0, -np.inf, 300.0, np.inf])
    np.testing.assert_array_equal(service_radii({"park": park}, keys[:1], None), [300.0])
    # Why -inf and not 0 for "counts nowhere": a walk of exactly 0 m is within 0 m.
    g = _triangle()
    here = Points(np.array([0]), np.array([4.0]), np.array([0.0]))
    for max_m, count in ((0.0, 1), (-np.inf, 0)):
        s = engine.ServicePoints(here.edge, here.offset, here.snap_m, np.array([max_m]))
        res = engine.reach(g, here, s, np.array([0]), 1, [10.0])
        assert res.counts[0, 0, 0] == count
