"""Isochrones against geometry worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from circles.isochrones import isochrone_polygons, isochrones_frame
from circles.network import from_arrays
from circles.snap import Attachment, EdgeIndex


def _attach_at(edge: int, offset: float, snap: float = 0.0) -> Attachment:
    return Attachment(np.array([edge]), np.array([offset]), np.array([snap]), np.array([True]))


def test_straight_street_gives_a_stadium():
    # One street of 1000 m (10 segments of 100 m), origin at its west end.
    x = np.arange(11) * 100.0
    net = from_arrays(x, np.zeros(11), np.arange(10), np.arange(1, 11))
    west = int(np.flatnonzero(net.edge_u == 0)[0])
    [[poly]] = isochrone_polygons(net, _attach_at(west, 0.0), [300.0], buffer_m=25.0)
    # 300 m of street buffered by 25 m: a 300 x 50 rectangle and a circle of radius 25.
    expected = 300 * 50 + math.pi * 25**2
    assert abs(poly.area - expected) / expected < 0.005
    minx, miny, maxx, maxy = poly.bounds
    assert abs((maxx - minx) - 350) < 0.5  # 300 + 25 at each end
    assert abs((maxy - miny) - 50) < 0.5


def test_snap_distance_comes_off_the_budget():
    x = np.arange(11) * 100.0
    net = from_arrays(x, np.zeros(11), np.arange(10), np.arange(1, 11))
    west = int(np.flatnonzero(net.edge_u == 0)[0])
    [[poly]] = isochrone_polygons(net, _attach_at(west, 0.0, snap=100.0), [300.0], 25.0)
    assert abs(poly.bounds[2] - 225.0) < 0.5  # 300 - 100 walked to the street, + 25


def test_t_junction_reaches_each_arm_by_the_remaining_budget():
    # Stem from (0,0) north to (0,200); arms west and east 500 m each from (0,200).
    xs = np.array([0, 0, -500, 500.0])
    ys = np.array([0, 200, 200, 200.0])
    net = from_arrays(xs, ys, [0, 1, 1], [1, 2, 3])
    stem = int(np.flatnonzero((net.edge_u == 0) & (net.edge_v == 1))[0])
    [[poly]] = isochrone_polygons(net, _attach_at(stem, 0.0), [400.0], buffer_m=10.0)
    minx, miny, maxx, maxy = poly.bounds
    assert abs(maxx - 210.0) < 0.5 and abs(minx + 210.0) < 0.5  # 200 m left on each arm
    assert abs(maxy - 210.0) < 0.5 and abs(miny + 10.0) < 0.5


def test_loop_around_a_block_keeps_the_hole():
    # A 200 m square street around a block; the block inside is not reachable area.
    xs = np.array([0, 200, 200, 0.0])
    ys = np.array([0, 0, 200, 200.0])
    net = from_arrays(xs, ys, [0, 1, 2, 3], [1, 2, 3, 0])
    [[poly]] = isochrone_polygons(net, _attach_at(0, 0.0), [1000.0], buffer_m=25.0)
    assert poly.geom_type == "Polygon"
    assert len(poly.interiors) == 1
    hole = shapely.Polygon(poly.interiors[0])
    assert abs(hole.area - 150 * 150) < 1.0
    assert not poly.contains(shapely.Point(100, 100))


def test_thresholds_nest_and_polygons_are_valid(nanjing_result):
    net = nanjing_result.network
    pts = nanjing_result.clusters.geometry.representative_point()
    att = EdgeIndex(net).attach(pts.x.to_numpy(), pts.y.to_numpy(), 300.0)
    polys = isochrone_polygons(net, att, [300.0, 500.0, 1000.0], 25.0)
    for row in polys:
        assert all(shapely.is_valid(p) for p in row)
        small, mid, big = row
        assert small.difference(mid).area < 1e-6 * max(small.area, 1)
        assert mid.difference(big).area < 1e-6 * max(mid.area, 1)
    frame = isochrones_frame(
        [f"c{i}" for i in range(len(polys))], polys, [300.0, 500.0, 1000.0], net.crs
    )
    assert len(frame) == 3 * len(polys)
    assert (frame["circle_share"] <= 1.5).all()


def test_isochrone_contains_reachable_services(nanjing_result):
    res = nanjing_result
    iso = res.isochrones[res.isochrones["threshold_m"] == 1000.0].set_index("cluster_id")
    net = res.network
    idx = EdgeIndex(net)
    svc = res.services[res.services["used"]]
    att = idx.attach(svc.geometry.x.to_numpy(), svc.geometry.y.to_numpy(), 300.0)
    # The snapped point of each service on the street.
    t = att.offset / net.edge_len[att.edge]
    u, v = net.edge_u[att.edge], net.edge_v[att.edge]
    sx = net.x[u] + t * (net.x[v] - net.x[u])
    sy = net.y[u] + t * (net.y[v] - net.y[u])
    checked = 0
    for _, cl in res.clusters[res.clusters["used"]].iterrows():
        poly = iso.loc[cl["cluster_id"], "geometry"]
        for cat in res.categories:
            if cat in res.data_gaps or cl[f"{cat}_1000m"] <= 0:
                continue
            mask = (svc["category"] == cat).to_numpy()
            # At least as many snapped points of the category lie in the polygon as are
            # counted (the service's own snap walk can only shrink the count).
            inside = shapely.contains_xy(poly.buffer(1e-6), sx[mask], sy[mask]).sum()
            assert inside >= cl[f"{cat}_1000m"]
            checked += 1
    assert checked > 10


def test_the_inner_qinhuai_river_is_not_jumped(nanjing_result):
    """A hidden obstacle on the bundled district: the Inner Qinhuai River (内秦淮河中段,
    OSM way 62381498). Node 1157142194 lies 49 m from node 1068742501 across the water,
    but the walk round by the nearest bridge is 852 m: an 800 m isochrone must stop at
    the bank, where a convex hull jumps across."""
    import networkx as nx

    from circles.snap import attach_to_nodes

    net = nanjing_result.network
    here = int(np.flatnonzero(net.osm_id == 1068742501)[0])
    there = int(np.flatnonzero(net.osm_id == 1157142194)[0])
    straight = math.hypot(net.x[here] - net.x[there], net.y[here] - net.y[there])
    walk = nx.shortest_path_length(net.to_networkx(), here, there, weight="length")
    assert straight < 50 and 840 < walk < 860  # checked independently of the isochrones
    far_bank = shapely.Point(net.x[there], net.y[there])
    att = attach_to_nodes(net, np.array([here]))
    [[faithful]] = isochrone_polygons(net, att, [800.0], 25.0, method="network")
    [[convex]] = isochrone_polygons(net, att, [800.0], 25.0, method="convex")
    assert not faithful.contains(far_bank)
    assert faithful.distance(far_bank) > 10  # the frontage on this bank stops short of it
    assert convex.contains(far_bank)  # the shortcut jumps the river
    assert convex.area > 2 * faithful.area


def test_methods_by_hand_on_a_straight_street():
    x = np.arange(11) * 100.0
    net = from_arrays(x, np.zeros(11), np.arange(10), np.arange(1, 11))
    west = int(np.flatnonzero(net.edge_u == 0)[0])
    for method in ("network", "convex", "concave"):
        [[poly]] = isochrone_polygons(net, _attach_at(west, 0.0), [300.0], 25.0, method=method)
        assert shapely.is_valid(poly)
        # All three agree on a single street: 300 m of street, 25 m either side.
        assert abs(poly.bounds[2] - 325.0) < 0.5 and abs(poly.bounds[0] + 25.0) < 0.5
    with pytest.raises(ValueError, match="method"):
        isochrone_polygons(net, _attach_at(west, 0.0), [300.0], 25.0, method="hull")
