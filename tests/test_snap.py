"""Snapping points to edges, checked against brute force (shapely distance to every edge)
and against hand geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely

from circles.network import build_network
from circles.snap import EdgeIndex, attach_to_nodes
from circles.sources.extract import OsmExtract, features_frame
from circles.sources.osm_file import read_osm_file

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "nanjing-xinjiekou-2021.osm"
UTM50 = pyproj.CRS.from_epsg(32650)
MAX_M = 60.0


@pytest.fixture(scope="module")
def network():
    return build_network(read_osm_file(BUNDLED))


@pytest.fixture(scope="module")
def lines(network):
    return network.edges_frame().geometry.to_numpy()


def _on_edge(network, edge, offset):
    """The point at ``offset`` metres from edge_u along each edge."""
    u, v = network.edge_u[edge], network.edge_v[edge]
    t = offset / network.edge_len[edge]
    return (
        network.x[u] + t * (network.x[v] - network.x[u]),
        network.y[u] + t * (network.y[v] - network.y[u]),
    )


def _queries(network, lines) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20210612)
    # 400 uniform points over the district and a margin (some beyond MAX_M) ...
    x = rng.uniform(network.x.min() - 150, network.x.max() + 150, 400)
    y = rng.uniform(network.y.min() - 150, network.y.max() + 150, 400)
    # ... 60 points on edges, 40 exactly on nodes, and 40 next to midpoints of long edges.
    e = rng.integers(0, network.n_edges, 60)
    ex, ey = _on_edge(network, e, rng.uniform(0, 1, 60) * network.edge_len[e])
    nodes = rng.integers(0, network.n_nodes, 40)
    long_edges = np.argsort(network.edge_len)[-40:]
    mx, my = _on_edge(network, long_edges, network.edge_len[long_edges] / 2)
    mx, my = mx + rng.normal(0, 8, 40), my + rng.normal(0, 8, 40)
    return (
        np.concatenate([x, ex, network.x[nodes], mx]),
        np.concatenate([y, ey, network.y[nodes], my]),
    )


def test_attach_matches_brute_force(network, lines):
    x, y = _queries(network, lines)
    att = EdgeIndex(network).attach(x, y, MAX_M)
    pts = shapely.points(x, y)
    dist = shapely.distance(pts[:, None], lines[None, :])  # every point to every edge
    best = dist.min(axis=1)
    np.testing.assert_allclose(att.snap_m, best, rtol=0, atol=1e-6)
    # The chosen edge is at that distance.
    np.testing.assert_allclose(dist[np.arange(len(x)), att.edge], best, rtol=0, atol=1e-6)
    # The offset is on the edge, and its point is at the snap distance from the query.
    assert np.all(att.offset >= 0) and np.all(att.offset <= network.edge_len[att.edge] + 1e-9)
    fx, fy = _on_edge(network, att.edge, att.offset)
    np.testing.assert_allclose(np.hypot(fx - x, fy - y), best, rtol=0, atol=1e-6)
    # Beyond the maximum a point is not used; the rest are.
    np.testing.assert_array_equal(att.used, best <= MAX_M)
    assert 0 < (~att.used).sum() < len(x)
    assert len(att) == len(x)
    # Points on edges and nodes snap with zero distance.
    assert np.all(att.snap_m[400:500] < 1e-6)


def test_attach_is_independent_of_sample_spacing(network):
    x, y = _queries(network, network.edges_frame().geometry.to_numpy())
    fine = EdgeIndex(network, spacing=2.0).attach(x, y, MAX_M)
    coarse = EdgeIndex(network, spacing=75.0).attach(x, y, MAX_M)
    np.testing.assert_allclose(fine.snap_m, coarse.snap_m, rtol=0, atol=1e-6)


def test_subset_and_empty(network):
    index = EdgeIndex(network)
    empty = index.attach(np.zeros(0), np.zeros(0), MAX_M)
    assert len(empty) == 0 and empty.used.dtype == bool
    att = index.attach(network.x[:5] + 1.0, network.y[:5], MAX_M)
    mask = np.array([True, False, True, False, False])
    sub = att.subset(mask)
    np.testing.assert_array_equal(sub.edge, att.edge[mask])
    np.testing.assert_array_equal(sub.snap_m, att.snap_m[mask])


def test_attach_to_nodes_puts_points_on_the_nodes(network):
    nodes = np.arange(0, network.n_nodes, 7)
    att = attach_to_nodes(network, nodes)
    fx, fy = _on_edge(network, att.edge, att.offset)
    np.testing.assert_allclose(fx, network.x[nodes], atol=1e-6)
    np.testing.assert_allclose(fy, network.y[nodes], atol=1e-6)
    assert np.all(att.snap_m == 0) and np.all(att.used)


def _metric_network(ways):
    """A network from ways given in metres (UTM 50N) around Xinjiekou."""
    fwd = pyproj.Transformer.from_crs("EPSG:4326", UTM50, always_xy=True)
    back = pyproj.Transformer.from_crs(UTM50, "EPSG:4326", always_xy=True)
    x0, y0 = fwd.transform(118.78, 32.04)
    ids, lon, lat, ptr = [], [], [], [0]
    for way in ways:
        for nid, dx, dy in way:
            a, b = back.transform(x0 + dx, y0 + dy)
            ids.append(nid)
            lon.append(a)
            lat.append(b)
        ptr.append(len(ids))
    extract = OsmExtract(
        way_ids=np.arange(len(ways), dtype=np.int64),
        way_ptr=np.asarray(ptr, dtype=np.int64),
        node_ids=np.asarray(ids, dtype=np.int64),
        lon=np.asarray(lon),
        lat=np.asarray(lat),
        features=features_frame([], [], [], []),
        source="hand",
    )
    return build_network(extract, crs=UTM50), x0, y0


def test_long_straight_edge_far_from_its_nodes():
    # A 2 km street A-B along y=0; a side street C-D rises from (1005, 10.5), and the loop
    # closes through E far away. Nodes A and B are 1 km from the query points.
    net, x0, y0 = _metric_network(
        [
            [(1, 0.0, 0.0), (2, 2000.0, 0.0)],  # A-B
            [(2, 2000.0, 0.0), (5, 2000.0, 400.0), (4, 1005.0, 400.0), (3, 1005.0, 10.5)],
        ]
    )
    ab = [
        i
        for i in range(net.n_edges)
        if {int(net.osm_id[net.edge_u[i]]), int(net.osm_id[net.edge_v[i]])} == {1, 2}
    ][0]
    a_is_u = int(net.osm_id[net.edge_u[ab]]) == 1
    # P1 lies between samples of A-B (10 m apart): its nearest sample is node C of the
    # side street (5.6 m), yet A-B is nearer (4.9 m). P2 is 500 m along A-B, 30 m off it.
    # P3 is 301 m off A-B, beyond a 300 m maximum.
    qx = np.array([1005.0, 500.0, 700.0]) + x0
    qy = np.array([4.9, 30.0, -301.0]) + y0
    att = EdgeIndex(net, spacing=10.0).attach(qx, qy, 300.0)
    assert att.edge.tolist() == [ab, ab, ab]
    np.testing.assert_allclose(att.snap_m, [4.9, 30.0, 301.0], atol=1e-6)
    along = np.array([1005.0, 500.0, 700.0])
    np.testing.assert_allclose(att.offset, along if a_is_u else 2000.0 - along, atol=1e-6)
    assert att.used.tolist() == [True, True, False]
