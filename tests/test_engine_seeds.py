"""Origins with several seeds (the gates of a walled 小区) and per-category thresholds,
against the brute-force networkx reference of tests/test_engine.py.

An origin with seeds is as far from a service as the nearest of its seeds, each seed's own
walk (home to gate, gate to street) included; no walk may pass through an origin.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_engine import SETTINGS, graphs, points, reference_distances

from circles import engine
from circles.engine import Graph, Points, Seeds


def _seeds(points: Points, origin: list[int], n: int) -> Seeds:
    order = np.argsort(origin, kind="stable")
    return Seeds(
        points.edge[order],
        points.offset[order],
        points.snap_m[order],
        np.asarray(origin, np.int64)[order],
        n,
    )


@SETTINGS
@given(st.data())
def test_seeded_origins_match_the_nearest_seed(data):
    exact = data.draw(st.booleans())
    graph = data.draw(graphs(exact))
    seeds = data.draw(points(graph, exact, min_size=1, max_size=8))
    n_o = data.draw(st.integers(1, len(seeds)))
    # Every origin gets at least one seed, the rest go anywhere.
    owner = list(range(n_o)) + [data.draw(st.integers(0, n_o - 1)) for _ in seeds.edge[n_o:]]
    services = data.draw(points(graph, exact, min_size=1, max_size=8))
    n_cat = data.draw(st.integers(1, 2))
    category = np.array([data.draw(st.integers(0, n_cat - 1)) for _ in services.edge], np.int64)
    thresholds = [5.0, 15.0, 40.0]
    per_seed = reference_distances(graph, seeds, services)
    ref = np.full((n_o, len(services.edge)), np.inf)
    for s, o in enumerate(owner):
        ref[o] = np.minimum(ref[o], per_seed[s])
    origins = _seeds(seeds, owner, n_o)
    res = engine.reach(graph, origins, services, category, n_cat, thresholds, threads=1)
    eps = 0.0 if exact else 1e-9
    for c in range(n_cat):
        d = ref[:, category == c]
        for k, t in enumerate(thresholds):
            low, high = (d <= t - eps).sum(axis=1), (d <= t + eps).sum(axis=1)
            got = res.counts[:, c, k]
            assert np.all((low <= got) & (got <= high)), (c, t, got, low, high)
        near = d.min(axis=1, initial=np.inf)
        near = np.where(np.isfinite(near), near, np.nan)
        np.testing.assert_allclose(res.nearest_m[:, c], near, atol=1e-6, equal_nan=True)
    # pairs_within takes the same origins.
    o_idx, s_idx, dist = engine.pairs_within(graph, origins, services, 40.0)
    want = {(i, j) for i, j in zip(*np.nonzero(ref <= 40.0 + eps), strict=True)}
    sure = {(i, j) for i, j in zip(*np.nonzero(ref <= 40.0 - eps), strict=True)}
    got = set(zip(o_idx.tolist(), s_idx.tolist(), strict=True))
    assert sure <= got <= want
    np.testing.assert_allclose(dist, ref[o_idx, s_idx], atol=1e-6)


def _line(n: int, step: float = 10.0) -> Graph:
    """A path 0 - 1 - ... - n-1 of equal edges."""
    u = np.arange(n - 1, dtype=np.int64)
    return Graph(n, u, u + 1, np.full(n - 1, step))


def test_no_walk_passes_through_an_origin():
    # Line 0-1-2-3-4-5 (10 m edges) cut in two: edges 0-1, 1-2 and 3-4, 4-5 only. One origin
    # has seeds at node 2 and node 3 (each 1 m away). A service at node 5 is 21 m from it
    # (through its seed at 3); a second origin at node 0 cannot reach node 5 through the
    # first origin's two seeds: it would if the origin were an ordinary node.
    g = Graph(6, np.array([0, 1, 3, 4]), np.array([1, 2, 4, 5]), np.full(4, 10.0))
    seeds = Seeds(
        np.array([0, 1, 2]),  # edge 0 at its start (node 0); edge 1 end (2); edge 2 start (3)
        np.array([0.0, 10.0, 0.0]),
        np.array([0.0, 1.0, 1.0]),
        np.array([0, 1, 1]),
        2,
    )
    service = Points(np.array([3]), np.array([10.0]), np.array([0.0]))  # node 5
    for services in (
        service,
        Points(*(np.repeat(a, 3) for a in (service.edge, service.offset, service.snap_m))),
    ):  # from services, then from origins
        n = len(services.edge)
        res = engine.reach(g, seeds, services, np.zeros(n, np.int64), 1, [30.0], threads=1)
        assert np.isnan(res.nearest_m[0, 0])
        assert res.counts[0, 0, 0] == 0
        assert res.nearest_m[1, 0] == pytest.approx(21.0)
        assert res.counts[1, 0, 0] == n


def test_each_category_has_its_own_thresholds():
    # Services at 10, 20, 30, 40 m along a line from the origin; category 0 at 25 m and
    # 45 m, category 1 (a slower walker's) at 15 m and 25 m.
    g = _line(5)
    origin = Points(np.array([0]), np.array([0.0]), np.array([0.0]))
    services = Points(np.array([0, 1, 2, 3] * 2), np.array([10.0] * 8), np.zeros(8))
    category = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    thr = np.array([[25.0, 45.0], [15.0, 25.0]])
    for o, s in ((origin, services),):
        res = engine.reach(g, o, s, category, 2, thr, threads=1)
        assert res.counts[0, 0].tolist() == [2, 4]
        assert res.counts[0, 1].tolist() == [1, 2]
    # From the services' side (more origins than services) the same.
    many = Points(np.zeros(9, np.int64), np.zeros(9), np.zeros(9))
    res = engine.reach(g, many, services, category, 2, thr, threads=1)
    assert res.counts[:, 0].tolist() == [[2, 4]] * 9
    assert res.counts[:, 1].tolist() == [[1, 2]] * 9
    with pytest.raises(ValueError, match="shape"):
        engine.reach(g, origin, services, category, 2, np.ones((3, 2)))
