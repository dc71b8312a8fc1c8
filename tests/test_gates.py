"""Gates of gated 小区 (circles.gates), against geometry worked by hand.

The compound of most tests is the square (0, 0)-(100, 100) m. A street rings it 10 m
outside (y = -10 and y = 110, x = -50 and x = 150), and paths go from its centre C
(50, 50) through its outline to the ring:

    north: C - (50, 110), crossing the outline at (50, 100)
    south: C - (50, -10), crossing it at (50, 0)

so a gate on the north side is on the far side from the south street.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from circles.config import GateSettings, ResidenceSettings
from circles.gates import WALL_TOLERANCE_M, find_compounds, gate_points, is_gate
from circles.network import build_network, from_arrays
from circles.sources import coords
from circles.sources.osm_file import read_osm_file
from circles.sources.tables import StudyArea

CRS = "EPSG:32650"  # UTM 50N: Beijing
# The square's south-west corner, at lon 116.33, lat 39.99 (Wudaokou).
X0, Y0 = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(116.33, 39.99)
SQUARE = shapely.box(0, 0, 100, 100)


def network(extra_nodes=(), extra_edges=(), names=None, ring=True):
    """The ring street and the north and south paths, shifted to (X0, Y0); more nodes
    and edges by their coordinates."""
    nodes = [(-50, -10), (50, -10), (150, -10), (150, 110), (50, 110), (-50, 110), (50, 50)]
    nodes += list(extra_nodes)
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0)] if ring else []
    edges += [(6, 4), (6, 1), *extra_edges]
    xy = np.array(nodes, dtype=float)
    u, v = np.array(edges).T
    edge_name = None if names is None else np.array([names.get(e, "") for e in edges])
    return from_arrays(xy[:, 0] + X0, xy[:, 1] + Y0, u, v, CRS, edge_name=edge_name)


def edge_id(net, a, b):
    """The id of the edge between the nodes at points a and b (unshifted metres)."""
    ax, ay, bx, by = a[0] + X0, a[1] + Y0, b[0] + X0, b[1] + Y0
    at = {(round(x, 3), round(y, 3)): i for i, (x, y) in enumerate(zip(net.x, net.y, strict=True))}
    i, j = at[(round(ax, 3), round(ay, 3))], at[(round(bx, 3), round(by, 3))]
    hit = np.flatnonzero(
        (np.minimum(net.edge_u, net.edge_v) == min(i, j))
        & (np.maximum(net.edge_u, net.edge_v) == max(i, j))
    )
    assert len(hit) == 1
    return int(hit[0])


def shifted(geom):
    return shapely.affinity.translate(geom, X0, Y0)


def clusters(*polygons, methods=None):
    geoms = [shifted(g) for g in polygons]
    methods = methods or ["landuse"] * len(geoms)
    return gpd.GeoDataFrame(
        {"name": [f"小区{i}" for i in range(len(geoms))], "method": methods},
        geometry=geoms,
        crs=CRS,
    )


def features(*nodes):
    """OSM node features: (x, y, tags) in unshifted metres."""
    return gpd.GeoDataFrame(
        {
            "osm_type": ["node"] * len(nodes),
            "osm_id": list(range(1, len(nodes) + 1)),
            "name": [""] * len(nodes),
            "tags": [t for _, _, t in nodes],
        },
        geometry=[shapely.Point(x + X0, y + Y0) for x, y, _ in nodes],
        crs=CRS,
    )


def openings(result, i=0):
    a, b = result.openings_ptr[i], result.openings_ptr[i + 1]
    xy = np.column_stack([result.x[a:b] - X0, result.y[a:b] - Y0])
    return sorted(
        (round(x, 1), round(y, 1), k) for (x, y), k in zip(xy, result.kind[a:b], strict=True)
    )


def inside(result, i=0):
    return set(result.inside_edges[result.inside_edges_ptr[i] : result.inside_edges_ptr[i + 1]])


NORTH, SOUTH = ((50, 50), (50, 110)), ((50, 50), (50, -10))
GATE = {"barrier": "gate"}


# --- which OSM nodes are gates ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "gate"),
    [
        ({"barrier": "gate"}, True),
        ({"barrier": "lift_gate"}, True),
        ({"entrance": "main"}, True),
        ({"entrance": "yes"}, True),
        ({"barrier": "bollard"}, False),
        ({"barrier": "wall"}, False),
        ({"entrance": "emergency"}, False),
        ({"entrance": "staircase"}, False),  # a building's 单元门, not the compound's gate
        # A 小区's own gate is often access=private: private to its residents, whose
        # walks it starts.
        ({"barrier": "gate", "access": "private"}, True),
        ({"barrier": "gate", "access": "no"}, False),
        ({"barrier": "gate", "access": "no"}, False),
        ({"barrier": "gate", "access": "private", "foot": "yes"}, True),
        ({"barrier": "gate", "foot": "no"}, False),
        ({"barrier": "gate", "locked": "yes"}, False),
        ({"amenity": "pharmacy"}, False),
    ],
)
def test_is_gate(tags, gate):
    assert is_gate(tags) is gate


# --- gates, crossings, walls -----------------------------------------------------------------


def test_a_gate_on_the_far_side_is_the_only_opening_and_the_near_path_a_wall():
    net = network()
    result = find_compounds(clusters(SQUARE), net, features((50, 100, GATE)), GateSettings())
    assert result.cluster.tolist() == [0]
    assert openings(result) == [(50.0, 100.0, "gate")]
    # The south path crosses the outline at (50, 0), 100 m from the gate: a wall.
    assert result.walls.tolist() == [edge_id(net, *SOUTH)]
    # Inside: the north path (midpoint (50, 80)); the south one is a wall.
    assert inside(result) == {edge_id(net, *NORTH)}
    assert result.ungated.tolist() == []
    assert result.notes == [] and result.rejected == []


def test_two_gates_are_both_openings():
    # A west path C - (-50, 50) crosses the outline at (0, 50); the west street is split
    # there. Gates on the north and the west side: only the south path is a wall.
    net = network(extra_nodes=[(-50, 50)], extra_edges=[(6, 7), (5, 7), (7, 0)])
    feats = features((50, 100, GATE), (0, 50, {"entrance": "main"}))
    result = find_compounds(clusters(SQUARE), net, feats, GateSettings())
    assert openings(result) == [(0.0, 50.0, "gate"), (50.0, 100.0, "gate")]
    assert result.walls.tolist() == [edge_id(net, *SOUTH)]


def test_a_compound_without_gates_opens_where_ways_cross_its_outline():
    net = network()
    result = find_compounds(clusters(SQUARE), net, None, GateSettings())
    assert openings(result) == [(50.0, 0.0, "crossing"), (50.0, 100.0, "crossing")]
    assert result.walls.tolist() == []  # no gates, no walls
    assert inside(result) == {edge_id(net, *NORTH), edge_id(net, *SOUTH)}


def test_a_way_through_the_wall_away_from_the_gate_is_a_wall():
    # Beside the gate at (50, 100), a footway crosses the outline 3 m east of it, at
    # (53, 100) (a pedestrian door): it passes. An east path crosses at (100, 50), 71 m
    # from the gate: a wall, as is the south path.
    assert 3 < WALL_TOLERANCE_M < 50
    net = network(
        extra_nodes=[(53, 60), (53, 110), (150, 50)],
        extra_edges=[(6, 7), (7, 8), (9, 6)],
    )
    result = find_compounds(clusters(SQUARE), net, features((50, 100, GATE)), GateSettings())
    assert openings(result) == [(50.0, 100.0, "gate")]
    east = edge_id(net, (50, 50), (150, 50))
    assert sorted(result.walls.tolist()) == sorted([edge_id(net, *SOUTH), east])
    door = edge_id(net, (53, 60), (53, 110))
    assert door in inside(result) and edge_id(net, *NORTH) in inside(result)


def test_a_street_drawn_along_the_wall_is_no_wall():
    # The north street runs (-50, 104) - (50, 98) - (150, 104): it dips 2 m inside the
    # outline, meeting it at 3.4 degrees. The gate is on the south path.
    nodes = [(-50, -10), (50, -10), (150, -10), (-50, 104), (50, 98), (150, 104), (50, 50)]
    edges = [(0, 1), (1, 2), (0, 3), (3, 4), (4, 5), (5, 2), (6, 1)]
    xy = np.array(nodes, dtype=float)
    u, v = np.array(edges).T
    net = from_arrays(xy[:, 0] + X0, xy[:, 1] + Y0, u, v, CRS)
    result = find_compounds(clusters(SQUARE), net, features((50, 0, GATE)), GateSettings())
    assert openings(result) == [(50.0, 0.0, "gate")]
    assert result.walls.tolist() == []
    assert inside(result) == {edge_id(net, *SOUTH)}


def test_a_named_street_through_the_wall_leaves_the_compound_open():
    # The south path is a named street (公园路): public, it is no wall, so the square
    # is not a walled compound: it opens where ways cross its outline.
    net = network(names={(6, 1): "公园路"})
    result = find_compounds(clusters(SQUARE), net, features((50, 100, GATE)), GateSettings())
    assert openings(result) == [(50.0, 0.0, "crossing"), (50.0, 100.0, "crossing")]
    assert result.walls.tolist() == []
    assert any("named street" in n for n in result.notes)


def test_compounds_are_polygons_and_one_with_nothing_is_ungated():
    # Row 0: the square (a gate); row 1: a landuse polygon far from every way;
    # row 2: a building cluster (no compound); row 3: a 小区 table's point (no compound);
    # row 4: a 小区 table's polygon far from every way.
    far = shapely.box(1000, 1000, 1100, 1100)
    frame = clusters(
        SQUARE,
        far,
        shapely.box(200, 200, 220, 220),
        shapely.Point(300, 300),
        shapely.box(2000, 2000, 2100, 2100),
        methods=["landuse", "landuse", "buildings", "table", "table"],
    )
    result = find_compounds(frame, network(), features((50, 100, GATE)), GateSettings())
    assert result.cluster.tolist() == [0]
    assert result.ungated.tolist() == [1, 4]


def test_rule_off_gates_nothing(tmp_path):
    table = tmp_path / "gates.csv"
    table.write_text("name,lng,lat\n北门,116.33,39.99\n", encoding="utf-8")
    settings = GateSettings(rule="off", file=table)
    frame = clusters(SQUARE, shapely.box(200, 0, 300, 100))
    result = find_compounds(frame, network(), features((50, 100, GATE)), settings)
    assert len(result) == 0 and result.openings_ptr.tolist() == [0]
    assert len(result.x) == len(result.walls) == len(result.inside_edges) == 0
    assert result.ungated.tolist() == [0, 1]
    assert any("gates.rule is off" in n and "gates.csv" in n for n in result.notes)


# --- gate tables -----------------------------------------------------------------------------


def _lonlat(x, y):
    """WGS-84 of a point given in unshifted metres."""
    return pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x + X0, y + Y0)


def test_a_gcj02_gate_table_opens_its_compound(tmp_path):
    # An AMap gate 15 m north of the outline, at (50, 115), in GCJ-02: the path through it
    # (the crossing nearest the gate, at (50, 100)) passes; the south path is a wall.
    lon, lat = _lonlat(50, 115)
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    assert abs(glon - lon) + abs(glat - lat) > 1e-3  # hundreds of metres apart
    table = tmp_path / "amap-gates.csv"
    table.write_text(f"名称,经度,纬度\n北门,{glon:.8f},{glat:.8f}\n", encoding="utf-8")
    net = network()
    result = find_compounds(clusters(SQUARE), net, None, GateSettings(file=table, crs="gcj02"))
    [(x, y, kind)] = openings(result)
    assert kind == "table"
    assert abs(x - 50) < 0.5 and abs(y - 115) < 0.5
    assert result.walls.tolist() == [edge_id(net, *SOUTH)]
    assert result.rejected == [] and result.notes == []
    # Read as WGS-84, the same row lies hundreds of metres off: refused, not dropped.
    wrong = find_compounds(clusters(SQUARE), net, None, GateSettings(file=table))
    assert len(wrong.rejected) == 1 and wrong.ungated.tolist() == []  # crossings remain
    assert set(wrong.kind) == {"crossing"}


def test_a_gate_far_from_every_compound_is_reported_and_rejected(tmp_path):
    # Row 2 (北门) is on the outline; row 3 (远门) 200 m north of it, at (50, 300);
    # row 4 has no coordinates.
    near, far = _lonlat(50, 100), _lonlat(50, 300)
    table = tmp_path / "gates.csv"
    table.write_text(
        "name,lng,lat\n"
        f"北门,{near[0]:.8f},{near[1]:.8f}\n"
        f"远门,{far[0]:.8f},{far[1]:.8f}\n"
        "无坐标,,\n",
        encoding="utf-8",
    )
    # The study area as the pipeline gives it: the streets' hull grown by 300 m.
    area = StudyArea(shifted(shapely.box(-350, -310, 450, 410)), pyproj.CRS(CRS))
    result = find_compounds(clusters(SQUARE), network(), None, GateSettings(file=table), area)
    assert [k for *_, k in openings(result)] == ["table"]
    by_reason = {r["reason"]: r for r in result.rejected}
    assert set(by_reason) == {"far_from_compound", "bad_coordinates"}
    far_row = by_reason["far_from_compound"]
    assert (far_row["file"], far_row["kind"], far_row["row"], far_row["name"]) == (
        "gates.csv",
        "gates",
        3,
        "远门",
    )
    assert "200 m" in far_row["detail"] and '"name": "远门"' in far_row["record"]
    assert by_reason["bad_coordinates"]["row"] == 4
    [note] = [n for n in result.notes if "farther than" in n]
    assert "1 of 3 gates" in note and "row 3 '远门' is 200 m" in note and "30 m" in note


def test_a_gate_table_row_naming_its_compound_goes_to_it(tmp_path):
    # Two compounds 10 m apart, the east one (小区1) from x = 110; a gate at (104, 50)
    # is 4 m from 小区0 and 6 m from 小区1, within the tolerance of both: its 小区
    # column says which.
    gate = _lonlat(104, 50)
    table = tmp_path / "gates.csv"
    table.write_text(
        f"name,小区名称,lng,lat\n东门,小区1,{gate[0]:.8f},{gate[1]:.8f}\n", encoding="utf-8"
    )
    frame = clusters(SQUARE, shapely.box(110, 0, 210, 100))
    result = find_compounds(frame, network(), None, GateSettings(file=table))
    kinds = {
        int(result.cluster[i]): {k for *_, k in openings(result, i)} for i in range(len(result))
    }
    assert kinds == {0: {"crossing"}, 1: {"table"}}


# --- OSM files: gate nodes reach the features ------------------------------------------------


def _osm(tmp_path):
    """A residential square of 100 m (0.0009 deg of latitude, 0.00117 of longitude at
    40 N) with a footway from its middle through its north side to a street, and a
    gate node tagged only barrier=gate where the footway crosses the outline; a walled
    garden (a closed barrier=wall way) and a bollard on the street."""
    lat0, lon0, dlat, dlon = 39.99, 116.33, 0.0009, 0.00117
    nodes = {
        1: (lat0, lon0, {}),
        2: (lat0, lon0 + dlon, {}),
        3: (lat0 + dlat, lon0 + dlon, {}),
        4: (lat0 + dlat, lon0, {}),
        10: (lat0 + dlat / 2, lon0 + dlon / 2, {}),
        11: (lat0 + dlat, lon0 + dlon / 2, {"barrier": "gate"}),
        12: (lat0 + 1.2 * dlat, lon0 + dlon / 2, {}),
        13: (lat0 + 1.2 * dlat, lon0 - dlon, {"barrier": "bollard"}),
        14: (lat0 + 1.2 * dlat, lon0 + 2 * dlon, {}),
        20: (lat0 - dlat, lon0, {}),
        21: (lat0 - dlat, lon0 + dlon / 4, {}),
        22: (lat0 - 1.2 * dlat, lon0 + dlon / 4, {}),
    }
    ways = {
        100: ([1, 2, 3, 4, 1], {"landuse": "residential", "name": "学院小区"}),
        101: ([10, 11, 12], {"highway": "footway"}),
        102: ([13, 12, 14], {"highway": "residential", "name": "成府路"}),
        103: ([20, 21, 22, 20], {"barrier": "wall"}),
    }
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    for i, (lat, lon, tags) in nodes.items():
        inner = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append(f'<node id="{i}" version="1" lat="{lat:.7f}" lon="{lon:.7f}">{inner}</node>')
    for i, (refs, tags) in ways.items():
        inner = "".join(f'<nd ref="{r}"/>' for r in refs)
        inner += "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append(f'<way id="{i}" version="1">{inner}</way>')
    lines.append("</osm>")
    path = tmp_path / "gate.osm"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_gate_nodes_of_an_osm_file_reach_the_features_and_open_the_compound(tmp_path):
    from circles.residences import build_residences

    extract = read_osm_file(_osm(tmp_path))
    f = extract.features
    as_read = {
        (t, int(i)): tags for t, i, tags in zip(f["osm_type"], f["osm_id"], f["tags"], strict=True)
    }
    assert as_read[("node", 11)] == {"barrier": "gate"}
    assert ("way", 103) not in as_read  # a wall is no feature, nor an area to assemble
    assert ("way", 100) in as_read  # the residential area still is
    # A read for services only (their keys) keeps no gates.
    lean = read_osm_file(_osm(tmp_path), keys=("amenity",))
    assert ("node", 11) not in set(
        zip(lean.features["osm_type"], lean.features["osm_id"], strict=True)
    )

    net = build_network(extract)
    feats = f.to_crs(net.crs)
    gx, gy = gate_points(feats, net.crs)
    assert len(gx) == 1  # the gate; not the bollard
    frame, _ = build_residences(feats, net, ResidenceSettings(method="landuse"), 300.0)
    result = find_compounds(frame, net, feats, GateSettings())
    assert [str(frame["name"].iloc[int(c)]) for c in result.cluster] == ["学院小区"]
    assert result.kind.tolist() == ["gate"]
    assert (result.x[0], result.y[0]) == pytest.approx((gx[0], gy[0]))
    assert result.walls.tolist() == []
