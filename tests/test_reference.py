"""The bundled study end to end, recomputed cluster by cluster with networkx.

The reference snaps clusters and services again with EdgeIndex (itself checked against
brute force in test_snap.py), walks the network with networkx Dijkstra from both ends of
each cluster's edge, applies the attachment rule by hand and counts services per category
and threshold. It never reads the result's reach or snap columns.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from circles.config import load_study
from circles.pipeline import run
from circles.snap import EdgeIndex


@pytest.fixture(scope="module", params=["auto", "grid"])
def result(request):
    if request.param == "auto":
        return request.getfixturevalue("nanjing_result")  # the session's run (conftest)
    # Many more origins: a 250 m grid of cells over the district.
    return run(load_study(residences={"method": "grid"}))


def _starts(result, index, c_att, i):
    """Where cluster i's walks start, by the rule written out by hand: (edge, offset, metres
    walked before it). A 小区 whose outline paths cross (no gate is mapped in the bundled
    data, so no wall) starts on its own paths, the nearest edge whose midpoint lies inside
    it, when one is within the snap distance; else straight to each crossing. Any other
    cluster starts at its nearest street."""
    import shapely

    net = result.network
    row = result.clusters.iloc[i]
    if row.get("walk_from", "point") == "point":
        return [(int(c_att.edge[i]), float(c_att.offset[i]), float(c_att.snap_m[i]))]
    assert row["walk_from"] == "crossings"  # no gates in the bundled extract
    poly = row.geometry
    lines = shapely.linestrings(
        np.stack(
            [
                np.column_stack([net.x[net.edge_u], net.y[net.edge_u]]),
                np.column_stack([net.x[net.edge_v], net.y[net.edge_v]]),
            ],
            axis=1,
        )
    )
    mid = shapely.line_interpolate_point(lines, 0.5, normalized=True)
    inside = np.flatnonzero(shapely.contains(poly, mid))
    point = poly.representative_point()
    max_m = result.study.snap.max_distance_m
    if len(inside):
        d = shapely.distance(point, lines[inside])
        k = int(np.argmin(d))
        if d[k] <= max_m:
            e = int(inside[k])
            return [(e, float(shapely.line_locate_point(lines[e], point)), float(d[k]))]
    # Straight to each crossing of the outline (a point on a crossing edge).
    crossing = np.flatnonzero(shapely.crosses(lines, poly.boundary))
    out = []
    for e in crossing:
        for p in shapely.get_parts(shapely.intersection(lines[e], poly.boundary)):
            out.append((int(e), float(shapely.line_locate_point(lines[e], p)), point.distance(p)))
    return out


def _reference(result):
    """Distances from every cluster to every service (NaN for clusters not snapped)."""
    net = result.network
    max_m = result.study.snap.max_distance_m
    index = EdgeIndex(net)
    services, clusters = result.services, result.clusters
    s_att = index.attach(services.geometry.x.to_numpy(), services.geometry.y.to_numpy(), max_m)
    origin = clusters.geometry.representative_point()
    c_att = index.attach(origin.x.to_numpy(), origin.y.to_numpy(), max_m)
    g = net.to_networkx()
    s_u, s_v = net.edge_u[s_att.edge], net.edge_v[s_att.edge]
    s_to_u = s_att.offset
    s_to_v = net.edge_len[s_att.edge] - s_att.offset
    dist = np.full((len(clusters), len(services)), np.nan)
    from_node: dict[int, np.ndarray] = {}

    def from_end(node: int) -> np.ndarray:
        if node not in from_node:
            sp = nx.single_source_dijkstra_path_length(g, node, weight="length")
            from_node[node] = np.array([sp.get(n, math.inf) for n in range(net.n_nodes)])
        return from_node[node]

    for i in range(len(clusters)):
        if not c_att.used[i]:
            continue
        best = np.full(len(services), np.inf)
        for e, offset, walked in _starts(result, index, c_att, i):
            for end, to_end in ((net.edge_u[e], offset), (net.edge_v[e], net.edge_len[e] - offset)):
                fe = from_end(int(end))
                best = np.minimum(best, walked + to_end + fe[s_u] + s_to_u)
                best = np.minimum(best, walked + to_end + fe[s_v] + s_to_v)
            same = s_att.edge == e
            best[same] = np.minimum(best[same], walked + np.abs(s_att.offset[same] - offset))
        dist[i] = best + s_att.snap_m
    dist[:, ~s_att.used] = np.inf  # services too far from any street are not used
    return dist, c_att


@pytest.mark.slow  # the grid run has many origins; networkx searches from each
def test_reach_columns_match_networkx(result):
    clusters, services = result.clusters, result.services
    assert len(clusters) > 5 and len(services) > 50
    dist, c_att = _reference(result)
    used = c_att.used
    np.testing.assert_array_equal(clusters["used"].to_numpy(bool), used)
    assert used.any()
    categories = services["category"].to_numpy(str)
    area = services["area_m2"].to_numpy(float)
    checked = 0
    for key in result.categories:
        d = dist[:, categories == key].copy()
        bands = result.categories[key].radius_by_area  # the park rule of the city health check
        if bands:
            # By hand: the largest band an area reaches sets its radius; a point (no area)
            # takes the smallest band's; smaller than every band counts nowhere.
            radius = np.array(
                [
                    bands[-1][1] if np.isnan(a) else next((r for m, r in bands if a >= m), -np.inf)
                    for a in area[categories == key]
                ]
            )
            d[d > radius] = np.inf
        for t in result.thresholds:
            col = clusters[f"{key}_{t.distance_m:g}m"]
            ref = np.where(used, (d <= t.distance_m).sum(axis=1), -1)
            if key in result.data_gaps:  # no data: empty, never 0
                assert col.isna().all(), key
                continue
            # Empty exactly where the cluster did not join the network.
            np.testing.assert_array_equal(col.isna().to_numpy(), ~used)
            np.testing.assert_array_equal(
                col.to_numpy(float)[used], ref[used], err_msg=f"{key} {t.distance_m:g} m"
            )
            checked += int((ref > 0).sum())
        near = clusters[f"{key}_nearest_m"].to_numpy(float)
        ref_near = d.min(axis=1, initial=np.inf) if d.shape[1] else np.full(len(d), np.inf)
        ref_near = np.where(used & np.isfinite(ref_near), ref_near, np.nan)
        # The result rounds to 0.1 m.
        assert np.array_equal(np.isnan(near), np.isnan(ref_near)), key
        ok = ~np.isnan(near)
        assert np.all(np.abs(near[ok] - ref_near[ok]) <= 0.05 + 1e-6), key
    assert checked > 0  # some clusters reach some services: the comparison is not vacuous
