"""The walking network built from tiny hand-made extracts, checked against hand geometry,
pyproj's geodesic distances and scipy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
from scipy import sparse

from circles._errors import EmptyNetworkError
from circles.network import build_network, from_arrays, utm_crs
from circles.sources.extract import OsmExtract, clip_extract, features_frame
from circles.sources.osm_file import read_osm_file

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "nanjing-xinjiekou-2021.osm"
UTM50 = pyproj.CRS.from_epsg(32650)
GEOD = pyproj.Geod(ellps="WGS84")
LON0, LAT0 = 118.78, 32.04


def _extract(ways: list[list[tuple[int, float, float]]], source: str = "test") -> OsmExtract:
    """An extract from ways given as lists of (node id, lon, lat)."""
    ids, lon, lat, ptr = [], [], [], [0]
    for way in ways:
        for nid, x, y in way:
            ids.append(nid)
            lon.append(x)
            lat.append(y)
        ptr.append(len(ids))
    return OsmExtract(
        way_ids=np.arange(100, 100 + len(ways), dtype=np.int64),
        way_ptr=np.asarray(ptr, dtype=np.int64),
        node_ids=np.asarray(ids, dtype=np.int64),
        lon=np.asarray(lon, dtype=np.float64),
        lat=np.asarray(lat, dtype=np.float64),
        features=features_frame([], [], [], []),
        source=source,
    )


def _metric_extract(ways: list[list[tuple[int, float, float]]]) -> OsmExtract:
    """An extract from ways given in metres east/north of (LON0, LAT0) in UTM zone 50N."""
    fwd = pyproj.Transformer.from_crs("EPSG:4326", UTM50, always_xy=True)
    back = pyproj.Transformer.from_crs(UTM50, "EPSG:4326", always_xy=True)
    x0, y0 = fwd.transform(LON0, LAT0)
    out = []
    for way in ways:
        pts = []
        for nid, dx, dy in way:
            lon, lat = back.transform(x0 + dx, y0 + dy)
            pts.append((nid, lon, lat))
        out.append(pts)
    return _extract(out)


def _edge_set(net) -> dict[tuple[int, int], float]:
    """Edges as {(smaller osm id, larger osm id): length}."""
    out = {}
    for u, v, length in zip(net.edge_u, net.edge_v, net.edge_len, strict=True):
        a, b = sorted((int(net.osm_id[u]), int(net.osm_id[v])))
        assert (a, b) not in out, "duplicate edge"
        out[(a, b)] = float(length)
    return out


def test_lengths_match_geodesic_distances():
    # An irregular street: steps of 0.001-0.01 degrees (~100 m to ~1 km) in all directions.
    pts = [
        (1, LON0, LAT0),
        (2, LON0 + 0.004, LAT0),
        (3, LON0 + 0.004, LAT0 + 0.003),
        (4, LON0 - 0.006, LAT0 + 0.0105),
        (5, LON0 - 0.0061, LAT0 + 0.0106),
    ]
    net = build_network(_extract([pts]))
    assert net.crs.to_epsg() == 32650
    edges = _edge_set(net)
    assert set(edges) == {(1, 2), (2, 3), (3, 4), (4, 5)}
    where = {nid: (x, y) for nid, x, y in pts}
    for (a, b), length in edges.items():
        _, _, geodesic = GEOD.inv(*where[a], *where[b])
        assert length == pytest.approx(geodesic, rel=0.005)
    assert net.stats["length_km"] == pytest.approx(sum(edges.values()) / 1000.0, rel=1e-12)


def test_lengths_equal_hand_computed_projected_distances():
    # A 3-4-5 triangle and a 100 m spur, in metres.
    net = build_network(
        _metric_extract(
            [
                [(1, 0.0, 0.0), (2, 300.0, 0.0), (3, 300.0, 400.0), (1, 0.0, 0.0)],
                [(3, 300.0, 400.0), (4, 300.0, 500.0)],
            ]
        )
    )
    assert net.crs.to_epsg() == 32650
    assert _edge_set(net) == pytest.approx(
        {(1, 2): 300.0, (2, 3): 400.0, (1, 3): 500.0, (3, 4): 100.0}, abs=1e-6
    )
    # Node coordinates are the UTM coordinates, in osm id order.
    fwd = pyproj.Transformer.from_crs("EPSG:4326", UTM50, always_xy=True)
    x, y = fwd.transform(net.lon, net.lat)
    np.testing.assert_allclose(net.x, x, atol=1e-6)
    np.testing.assert_allclose(net.y, y, atol=1e-6)
    assert net.osm_id.tolist() == [1, 2, 3, 4]


def test_shared_segments_become_one_edge():
    # Ways 100 and 101 share the segment 2-3; way 102 runs it backwards.
    net = build_network(
        _metric_extract(
            [
                [(1, 0.0, 0.0), (2, 100.0, 0.0), (3, 200.0, 0.0)],
                [(2, 100.0, 0.0), (3, 200.0, 0.0), (4, 200.0, 100.0)],
                [(3, 200.0, 0.0), (2, 100.0, 0.0)],
            ]
        )
    )
    assert _edge_set(net) == pytest.approx({(1, 2): 100.0, (2, 3): 100.0, (3, 4): 100.0}, abs=1e-6)
    assert net.stats["edges_raw"] == 3
    assert net.stats["length_km"] == pytest.approx(0.3, abs=1e-9)


def test_no_edge_across_way_ends_and_no_self_loops():
    # Way 100 ends at node 2 and way 101 starts at node 3: no edge 2-3. Node 5 repeats.
    net = build_network(
        _metric_extract(
            [
                [(1, 0.0, 0.0), (2, 100.0, 0.0)],
                [(3, 0.0, 50.0), (5, 50.0, 50.0), (5, 50.0, 50.0), (1, 0.0, 0.0)],
                [(2, 100.0, 0.0), (6, 100.0, 80.0)],
            ]
        )
    )
    edges = _edge_set(net)
    assert (2, 3) not in edges
    assert set(edges) == {(1, 2), (3, 5), (1, 5), (2, 6)}
    assert edges[(1, 5)] == pytest.approx(np.hypot(50.0, 50.0), abs=1e-6)
    assert np.all(net.edge_u != net.edge_v)


def test_largest_component_is_kept_and_dropped_nodes_reported():
    net = build_network(
        _metric_extract(
            [
                # Component A: 4 nodes, 3 edges.
                [(10, 0.0, 0.0), (11, 100.0, 0.0), (12, 200.0, 0.0), (13, 300.0, 0.0)],
                # Component B: 2 nodes, 1 edge.
                [(20, 0.0, 500.0), (21, 50.0, 500.0)],
                # Component C: 3 nodes, 2 edges.
                [(30, 0.0, 900.0), (31, 10.0, 900.0), (32, 20.0, 900.0)],
            ]
        )
    )
    assert net.osm_id.tolist() == [10, 11, 12, 13]
    assert set(_edge_set(net)) == {(10, 11), (11, 12), (12, 13)}
    s = net.stats
    assert s["ways"] == 3
    assert s["components"] == 3
    assert (s["nodes_raw"], s["nodes"], s["nodes_dropped"]) == (9, 4, 5)
    assert (s["edges_raw"], s["edges"], s["edges_dropped"]) == (6, 3, 3)
    assert s["share_nodes_dropped"] == pytest.approx(5 / 9)
    assert s["length_km"] == pytest.approx(0.3, abs=1e-9)
    # Kept edges index kept nodes only.
    assert net.edge_u.max() < net.n_nodes and net.edge_v.max() < net.n_nodes
    assert len(net.lon) == len(net.lat) == len(net.x) == net.n_nodes


def _check_csr(net) -> None:
    n = net.n_nodes
    assert net.indptr[0] == 0 and net.indptr[-1] == 2 * net.n_edges == len(net.indices)
    a = sparse.csr_matrix((net.weights, net.indices, net.indptr), shape=(n, n))
    assert (abs(a - a.T) > 0).nnz == 0
    rows = np.repeat(np.arange(n), np.diff(net.indptr))
    # One entry per direction of each edge, no duplicates, and csr_edge points back to it.
    pairs = set(zip(rows.tolist(), net.indices.tolist(), strict=True))
    assert len(pairs) == len(rows)
    expected = set(zip(net.edge_u.tolist(), net.edge_v.tolist(), strict=True))
    expected |= {(v, u) for u, v in expected}
    assert pairs == expected
    e = net.csr_edge
    np.testing.assert_array_equal(net.weights, net.edge_len[e])
    ends = np.sort(np.column_stack([net.edge_u[e], net.edge_v[e]]), axis=1)
    np.testing.assert_array_equal(ends, np.sort(np.column_stack([rows, net.indices]), axis=1))
    # Row sums are the weighted degrees.
    deg = np.bincount(net.edge_u, net.edge_len, n) + np.bincount(net.edge_v, net.edge_len, n)
    np.testing.assert_allclose(np.asarray(a.sum(axis=1)).ravel(), deg)


def test_csr_is_symmetric_on_hand_graph():
    net = build_network(
        _metric_extract(
            [
                [(1, 0.0, 0.0), (2, 300.0, 0.0), (3, 300.0, 400.0), (1, 0.0, 0.0)],
                [(3, 300.0, 400.0), (4, 300.0, 500.0), (2, 300.0, 0.0)],
            ]
        )
    )
    _check_csr(net)


def test_csr_is_symmetric_on_bundled_district():
    net = build_network(read_osm_file(BUNDLED))
    _check_csr(net)
    # The kept network is connected (scipy), and networkx sees the same graph.
    n_comp, _ = sparse.csgraph.connected_components(
        sparse.csr_matrix((net.weights, net.indices, net.indptr)), directed=False
    )
    assert n_comp == 1
    g = net.to_networkx()
    assert g.number_of_nodes() == net.n_nodes and g.number_of_edges() == net.n_edges


def test_explicit_crs_is_used():
    crs = pyproj.CRS.from_epsg(3857)
    net = build_network(_extract([[(1, LON0, LAT0), (2, LON0 + 0.001, LAT0)]]), crs=crs)
    assert net.crs == crs
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(
        [LON0, LON0 + 0.001], [LAT0, LAT0]
    )
    np.testing.assert_allclose(net.x, x)
    np.testing.assert_allclose(net.edge_len, [x[1] - x[0]])


def test_empty_extract_raises():
    with pytest.raises(EmptyNetworkError, match="empty-source"):
        build_network(_extract([], source="empty-source"))


def test_extract_without_segments_raises():
    # One way that stays on one node: nothing to walk.
    with pytest.raises(EmptyNetworkError):
        build_network(_extract([[(1, LON0, LAT0), (1, LON0, LAT0)]]))


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [
        (118.78, 32.04, 32650),  # Nanjing: 114-120 E is zone 50
        (14.51, 35.90, 32633),  # Malta: 12-18 E is zone 33
        (116.35, 40.00, 32650),  # Beijing
        (-73.98, 40.75, 32618),  # Manhattan: 78-72 W is zone 18
        (151.21, -33.87, 32756),  # Sydney, southern hemisphere: zone 56S
        (120.0, 30.0, 32651),  # on the 120 E meridian: zone 51 starts there
        (-180.0, 10.0, 32601),
    ],
)
def test_utm_crs(lon, lat, epsg):
    assert utm_crs(lon, lat).to_epsg() == epsg


# --- street names -------------------------------------------------------------------------


def _named(ways, names) -> OsmExtract:
    ex = _metric_extract(ways)
    return OsmExtract(
        way_ids=ex.way_ids,
        way_ptr=ex.way_ptr,
        node_ids=ex.node_ids,
        lon=ex.lon,
        lat=ex.lat,
        features=ex.features,
        source=ex.source,
        way_names=np.asarray(names, dtype=np.str_),
    )


def _edge_names(net) -> dict[tuple[int, int], str]:
    """Edge names as {(smaller osm id, larger osm id): name}."""
    return {
        tuple(sorted((int(net.osm_id[u]), int(net.osm_id[v])))): str(name)
        for u, v, name in zip(net.edge_u, net.edge_v, net.edge_name, strict=True)
    }


def test_street_names_reach_the_edges():
    # 中山路 runs 1-2-3; an unnamed footway shares its segment 2-3 and goes on to 4.
    # 汉中路 runs 3-5, and way 103 (no name) runs backwards over 1-2.
    net = build_network(
        _named(
            [
                [(1, 0.0, 0.0), (2, 100.0, 0.0), (3, 200.0, 0.0)],
                [(2, 100.0, 0.0), (3, 200.0, 0.0), (4, 200.0, 100.0)],
                [(3, 200.0, 0.0), (5, 300.0, 0.0)],
                [(2, 100.0, 0.0), (1, 0.0, 0.0)],
            ],
            ["中山路", "", "汉中路", ""],
        )
    )
    assert net.edge_name.dtype.kind == "U" and len(net.edge_name) == net.n_edges
    # A segment two ways share keeps the name of the named one, whatever their order.
    assert _edge_names(net) == {(1, 2): "中山路", (2, 3): "中山路", (3, 4): "", (3, 5): "汉中路"}


def test_unnamed_extracts_and_synthetic_graphs_have_empty_names():
    net = build_network(_metric_extract([[(1, 0.0, 0.0), (2, 100.0, 0.0), (3, 100.0, 50.0)]]))
    assert net.edge_name.tolist() == ["", ""]
    net = from_arrays(np.arange(3.0), np.zeros(3), [0, 1], [1, 2])
    assert net.edge_name.tolist() == ["", ""]
    named = from_arrays(np.arange(3.0), np.zeros(3), [1, 0], [2, 1], edge_name=np.array(["b", "a"]))
    assert _edge_names(named) == {(0, 1): "a", (1, 2): "b"}


def test_clipped_ways_keep_their_names():
    from shapely.geometry import box

    ex = _named(
        [
            # Leaves the box after node 3 and comes back at node 5: two pieces.
            [
                (1, 0.0, 0.0),
                (2, 100.0, 0.0),
                (3, 200.0, 0.0),
                (4, 200.0, 900.0),
                (5, 300.0, 0.0),
                (6, 400.0, 0.0),
            ],
            [(3, 200.0, 0.0), (7, 200.0, -100.0)],
            [(8, 300.0, 0.0), (9, 300.0, -100.0)],
        ],
        ["Strada Mercanti", "Triq il-Kbira", ""],
    )
    lon, lat = ex.lon[[0, 5]], ex.lat[[0, 5]]
    clipped = clip_extract(ex, box(lon[0] - 1e-4, lat[0] - 0.005, lon[1] + 1e-4, lat[0] + 0.005))
    assert clipped.way_ids.tolist() == [100, 100, 101, 102]
    assert clipped.way_names.tolist() == ["Strada Mercanti", "Strada Mercanti", "Triq il-Kbira", ""]
    names = {}
    for i in range(clipped.n_ways):
        ids = clipped.node_ids[clipped.way_ptr[i] : clipped.way_ptr[i + 1]].tolist()
        names[tuple(ids)] = str(clipped.way_names[i])
    assert names == {
        (1, 2, 3): "Strada Mercanti",
        (5, 6): "Strada Mercanti",
        (3, 7): "Triq il-Kbira",
        (8, 9): "",
    }
    # An extract without names is clipped too, all unnamed.
    bare = clip_extract(_metric_extract([[(1, 0.0, 0.0), (2, 100.0, 0.0)]]), box(0, 0, 180, 80))
    assert bare.way_names.tolist() == [""]


def _osm_ways_by_pair() -> dict[tuple[int, int], set[str]]:
    """The bundled district parsed with ElementTree: the names of the walkable ways that
    join each pair of consecutive nodes (name, name:zh, name:en, ref, else "")."""
    import xml.etree.ElementTree as ET

    from circles.settings import is_walkable

    pairs: dict[tuple[int, int], set[str]] = {}
    for way in ET.parse(BUNDLED).getroot().iter("way"):
        tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
        if "highway" not in tags or not is_walkable(tags):
            continue
        name = next((tags[k] for k in ("name", "name:zh", "name:en", "ref") if tags.get(k)), "")
        refs = [int(nd.get("ref")) for nd in way.iter("nd")]
        for a, b in zip(refs[:-1], refs[1:], strict=True):
            pairs.setdefault((min(a, b), max(a, b)), set()).add(name)
    return pairs


def test_edge_names_match_the_osm_xml_of_the_bundled_district():
    net = build_network(read_osm_file(BUNDLED))
    pairs = _osm_ways_by_pair()
    edges = _edge_names(net)
    named = {pair: name for pair, name in edges.items() if name}
    assert len(named) > 0.2 * len(edges)  # most of 新街口's streets have names
    for pair, name in edges.items():
        ways = pairs[pair]
        if name:
            assert name in ways, pair
        else:
            assert ways == {""}, pair  # unnamed only when no way over it has a name
    # A few edges one way alone covers: their name is that way's, exactly.
    alone = sorted(p for p, ways in pairs.items() if len(ways) == 1 and "" not in ways)
    some = [p for p in alone if p in edges][:: max(1, len(alone) // 8)]
    assert len(some) >= 5
    for pair in some:
        assert edges[pair] == next(iter(pairs[pair])), pair


def test_worker_read_and_cache_keep_the_names(tmp_path):
    from circles import pipeline
    from circles.config import study_from_dict
    from circles.sources.osm_file import start_reading

    direct = read_osm_file(BUNDLED)
    with start_reading(BUNDLED) as pending:
        via_worker = pending.result()
    np.testing.assert_array_equal(via_worker.way_names, direct.way_names)
    assert (direct.way_names != "").any()

    osm = tmp_path / "district.osm"
    osm.write_bytes(BUNDLED.read_bytes())
    study = study_from_dict(
        {"name": "c", "source": {"osm": str(osm)}, "reach": {"origins": "nodes"}}
    )
    fresh = pipeline.run(study, tables_only=True, cache_dir=tmp_path / "cache")
    cached = pipeline.run(study, tables_only=True, cache_dir=tmp_path / "cache")
    assert not fresh.summary["from_cache"] and cached.summary["from_cache"]
    assert cached.network.edge_name.dtype.kind == "U"
    np.testing.assert_array_equal(cached.network.edge_name, fresh.network.edge_name)
    assert (fresh.network.edge_name != "").any()


def test_osmnx_edge_names_reach_the_network():
    import networkx as nx

    from circles.sources import overpass

    # An unsimplified osmnx-style graph: both directions, a merged edge with a list of names.
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n in range(1, 5):
        g.add_node(n, x=LON0 + 0.001 * n, y=LAT0)
    g.add_edge(1, 2, highway="footway")  # unnamed one way ...
    g.add_edge(2, 1, highway="footway", name="珠江路")  # ... named the other
    g.add_edge(2, 3, highway="residential", name=["中山路", "汉中路"])
    g.add_edge(3, 4, highway="primary", ref="S1")
    ex = overpass._extract(g, None, "test")
    assert ex.way_names.tolist() == ["珠江路", "中山路", "S1"]
    assert _edge_names(build_network(ex)) == {(1, 2): "珠江路", (2, 3): "中山路", (3, 4): "S1"}
