"""Hostile and careless OSM files and boundaries (issue 18, points 4, 5, 6, 10 and 14).

Every input is generated here: a small grid of footways with a few POIs, written as an
ordinary export (positive ids, versions) or as JOSM writes new objects (negative ids,
``action='modify'``, no version), then broken in one way. Expected values come from the
grid's construction (node and edge counts) and from geodesic lengths (pyproj.Geod), not
from the reader under test.
"""

from __future__ import annotations

import bz2
import gzip
import json
import re
from pathlib import Path

import numpy as np
import osmium
import pyproj
import pytest
import shapely
from tests_support import BUNDLED
from typer.testing import CliRunner

from circles._errors import InputError
from circles.network import build_network
from circles.sources.boundary import grow, read_boundary
from circles.sources.extract import clip_extract
from circles.sources.osm_file import read_osm_file, start_reading

N = 4  # the grid has N x N nodes, N rows and N columns of footways
LAT0, LON0, STEP = 32.04, 118.78, 0.001  # Nanjing, 0.001 degrees apart (~95 m, ~111 m)
GEOD = pyproj.Geod(ellps="WGS84")


# --- generated files ----------------------------------------------------------------------


def node_id(i: int, j: int, sign: int = 1) -> int:
    return sign * (1 + i * N + j)


def grid(sign: int = 1, lat0: float = LAT0, lon0: float = LON0):
    """Nodes (id, lat, lon, tags), ways (id, refs, tags): N rows and N columns of
    footways, a pharmacy and a supermarket."""
    nodes = [
        (node_id(i, j, sign), lat0 + i * STEP, lon0 + j * STEP, {})
        for i in range(N)
        for j in range(N)
    ]
    nodes += [
        (sign * 1001, lat0 + 0.5 * STEP, lon0 + 0.5 * STEP, {"amenity": "pharmacy", "name": "P"}),
        (sign * 1002, lat0 + 1.5 * STEP, lon0 + 2.5 * STEP, {"shop": "supermarket"}),
    ]
    rows = [(sign * (1 + i), [node_id(i, j, sign) for j in range(N)]) for i in range(N)]
    cols = [(sign * (1 + N + j), [node_id(i, j, sign) for i in range(N)]) for j in range(N)]
    ways = [(wid, refs, {"highway": "footway"}) for wid, refs in rows + cols]
    return nodes, ways


def grid_length_m() -> float:
    """Geodesic length of the grid's footways, segment by segment."""
    total = 0.0
    for i in range(N):
        for j in range(N - 1):
            lat = LAT0 + i * STEP
            total += GEOD.inv(LON0 + j * STEP, lat, LON0 + (j + 1) * STEP, lat)[2]
            lon = LON0 + i * STEP
            total += GEOD.inv(lon, LAT0 + j * STEP, lon, LAT0 + (j + 1) * STEP)[2]
    return total


def osm_xml(nodes, ways, relations=(), josm: bool = False, extra: dict | None = None) -> str:
    """OSM XML; ``josm``: as JOSM saves it (single quotes, new objects with negative ids,
    action='modify' and no version). ``extra`` adds attributes to some (type, id)."""
    q = "'" if josm else '"'
    extra = extra or {}

    def head(kind: str, oid: int, more: str = "") -> str:
        if int(oid) < 0:
            meta = f" action={q}modify{q} visible={q}true{q}"
        else:
            meta = f" version={q}2{q} timestamp={q}2021-05-01T00:00:00Z{q} visible={q}true{q}"
        added = "".join(f" {k}={q}{v}{q}" for k, v in extra.get((kind, oid), {}).items())
        return f"<{kind} id={q}{oid}{q}{meta}{added}{more}"

    def tags(t: dict) -> str:
        return "".join(f"<tag k={q}{k}{q} v={q}{v}{q}/>" for k, v in t.items())

    lines = [f"<?xml version={q}1.0{q} encoding={q}UTF-8{q}?>"]
    lines.append(f"<osm version={q}0.6{q} generator={q}{'JOSM' if josm else 'test'}{q}>")
    for oid, lat, lon, t in nodes:
        lat_s = lat if isinstance(lat, str) else f"{lat:.7f}"
        lon_s = lon if isinstance(lon, str) else f"{lon:.7f}"
        lines.append(
            head("node", oid, f" lat={q}{lat_s}{q} lon={q}{lon_s}{q}") + f">{tags(t)}</node>"
        )
    for oid, refs, t in ways:
        nds = "".join(f"<nd ref={q}{r}{q}/>" for r in refs)
        lines.append(head("way", oid) + f">{nds}{tags(t)}</way>")
    for oid, members, t in relations:
        mem = "".join(
            f"<member type={q}{k}{q} ref={q}{r}{q} role={q}{role}{q}/>" for k, r, role in members
        )
        lines.append(head("relation", oid) + f">{mem}{tags(t)}</relation>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def write_pbf(path: Path, nodes, ways) -> Path:
    """The same data as PBF, in the order given (duplicates included)."""
    from osmium.osm import mutable

    with osmium.SimpleWriter(str(path)) as writer:
        for oid, lat, lon, t in nodes:
            writer.add_node(mutable.Node(id=oid, location=(lon, lat), tags=t))
        for oid, refs, t in ways:
            writer.add_way(mutable.Way(id=oid, nodes=refs, tags=t))
    return path


def features(extract) -> dict[tuple[str, int], str]:
    f = extract.features
    return dict(zip(zip(f["osm_type"], f["osm_id"], strict=True), f["name"], strict=True))


def assert_one_line(err: pytest.ExceptionInfo, path: Path, *words: str) -> str:
    text = str(err.value)
    assert "\n" not in text
    assert str(path) in text
    for w in words:
        assert w in text, (w, text)
    return text.replace(str(path), "")  # the message without the path (a test's name)


# --- 4. JOSM files: negative ids are ids like any others --------------------------------------


def test_josm_file_with_negative_ids_gives_the_network_of_positive_ids(tmp_path):
    positive = write(tmp_path, "positive.osm", osm_xml(*grid(+1)))
    negative = write(tmp_path, "josm.osm", osm_xml(*grid(-1), josm=True))
    a, b = read_osm_file(positive), read_osm_file(negative)
    na, nb = build_network(a), build_network(b)
    # The hand-made geometry: N x N nodes, 2 N (N - 1) segments, their geodesic length.
    for net in (na, nb):
        assert net.n_nodes == N * N
        assert net.n_edges == 2 * N * (N - 1)
        assert net.stats["length_km"] * 1000 == pytest.approx(grid_length_m(), rel=1e-3)
    np.testing.assert_allclose(np.sort(na.edge_len), np.sort(nb.edge_len), rtol=1e-12)
    assert sorted(-nb.osm_id) == sorted(na.osm_id) == list(range(1, N * N + 1))
    # The same POIs, under their own (negative) ids.
    assert features(b) == {(t, -i): name for (t, i), name in features(a).items()}
    assert set(features(b)) == {("node", -1001), ("node", -1002)}


def test_a_pbf_with_negative_ids_gives_the_network_of_positive_ids(tmp_path):
    a = read_osm_file(write_pbf(tmp_path / "positive.osm.pbf", *grid(+1)))
    b = read_osm_file(write_pbf(tmp_path / "negative.osm.pbf", *grid(-1)))
    na, nb = build_network(a), build_network(b)
    assert (na.n_nodes, na.n_edges) == (nb.n_nodes, nb.n_edges) == (N * N, 2 * N * (N - 1))
    assert nb.stats["length_km"] == pytest.approx(na.stats["length_km"], rel=1e-12)
    assert set(features(b)) == {("node", -1001), ("node", -1002)}


@pytest.mark.slow
def test_the_bundled_district_with_every_id_negative_reads_the_same(tmp_path, bundled):
    """The issue's case: a file whose ids are all negative had "no walkable ways"."""
    text = BUNDLED.read_text(encoding="utf-8")
    negated = re.sub(r'(\s(?:id|ref)=")(\d+)"', r'\1-\2"', text)
    assert negated.count('id="-') > 10_000
    again = read_osm_file(write(tmp_path, "josm.osm", negated))
    np.testing.assert_array_equal(-again.node_ids, bundled.node_ids)
    np.testing.assert_array_equal(-again.way_ids, bundled.way_ids)
    assert features(again) == {(t, -i): name for (t, i), name in features(bundled).items()}
    na, nb = build_network(bundled), build_network(again)
    assert na.stats == nb.stats


def test_a_footway_drawn_in_josm_joins_the_network(tmp_path):
    nodes, ways = grid(+1)
    centre = (-1, LAT0 + 0.5 * STEP, LON0 + 0.4 * STEP, {})
    new_way = (-1, [node_id(0, 0), -1, node_id(1, 1)], {"highway": "footway"})
    new_poi = (-2, LAT0 + 2.5 * STEP, LON0 + 0.5 * STEP, {"amenity": "clinic", "name": "新诊所"})
    path = write(
        tmp_path, "mixed.osm", osm_xml([*nodes, centre, new_poi], [*ways, new_way], josm=True)
    )
    extract = read_osm_file(path)
    net = build_network(extract)
    added = (
        GEOD.inv(LON0, LAT0, centre[2], centre[1])[2]
        + GEOD.inv(centre[2], centre[1], LON0 + STEP, LAT0 + STEP)[2]
    )
    assert net.n_nodes == N * N + 1
    assert net.n_edges == 2 * N * (N - 1) + 2
    assert net.stats["length_km"] * 1000 == pytest.approx(grid_length_m() + added, rel=1e-3)
    assert -1 in net.osm_id.tolist()
    assert features(extract)[("node", -2)] == "新诊所"


def test_an_area_drawn_in_josm_is_a_feature(tmp_path):
    nodes, ways = grid(+1)
    corners = [
        (-10 - k, LAT0 - 0.002 + dy, LON0 + dx, {})
        for k, (dx, dy) in enumerate([(0, 0), (0.001, 0), (0.001, 0.001), (0, 0.001)])
    ]
    area = (-5, [-10, -11, -12, -13, -10], {"landuse": "residential", "name": "新小区"})
    path = write(tmp_path, "area.osm", osm_xml([*nodes, *corners], [*ways, area], josm=True))
    extract = read_osm_file(path)
    assert features(extract)[("way", -5)] == "新小区"
    geom = extract.features.set_index("osm_id").geometry[-5]
    assert geom.bounds == pytest.approx((LON0, LAT0 - 0.002, LON0 + 0.001, LAT0 - 0.001))


def test_a_node_added_in_josm_to_an_existing_area_keeps_the_area(tmp_path):
    nodes, ways = grid(+1)
    corners = [
        (50 + k, LAT0 - 0.002 + dy, LON0 + dx, {})
        for k, (dx, dy) in enumerate([(0, 0), (0.001, 0), (0.001, 0.001), (0, 0.001)])
    ]
    added = (-1, LAT0 - 0.0015, LON0 + 0.0015, {})  # a new corner, east of the square
    area = (60, [50, 51, -1, 52, 53, 50], {"landuse": "residential", "name": "小区"})
    path = write(tmp_path, "area.osm", osm_xml([*nodes, *corners, added], [*ways, area], josm=True))
    extract = read_osm_file(path)
    geom = extract.features.set_index("osm_id").geometry[60]
    assert geom.bounds == pytest.approx((LON0, LAT0 - 0.002, LON0 + 0.0015, LAT0 - 0.001))


def test_objects_deleted_in_josm_are_left_out(tmp_path):
    nodes, ways = grid(+1)
    gone = {("way", 1): {"action": "delete"}, ("node", 1002): {"action": "delete"}}
    path = write(tmp_path, "deleted.osm", osm_xml(nodes, ways, josm=True, extra=gone))
    extract = read_osm_file(path)
    net = build_network(extract)
    row0 = sum(
        GEOD.inv(LON0 + j * STEP, LAT0, LON0 + (j + 1) * STEP, LAT0)[2] for j in range(N - 1)
    )
    assert 1 not in extract.way_ids.tolist()
    assert net.n_edges == 2 * N * (N - 1) - (N - 1)
    assert net.stats["length_km"] * 1000 == pytest.approx(grid_length_m() - row0, rel=1e-3)
    assert set(features(extract)) == {("node", 1001)}


def test_worker_reads_a_josm_file_like_this_process(tmp_path):
    path = write(tmp_path, "josm.osm", osm_xml(*grid(-1), josm=True))
    here = read_osm_file(path)
    with start_reading(path) as pending:
        there = pending.result()
    np.testing.assert_array_equal(here.node_ids, there.node_ids)
    assert features(here) == features(there)


# --- 5. duplicate node ids ------------------------------------------------------------------


def _moved(node, dlat: float = 0.01):
    oid, lat, lon, tags = node
    return (oid, lat + dlat, lon, tags)


@pytest.mark.parametrize("where", ["next", "end"])
def test_a_node_id_twice_at_other_coordinates_is_rejected(tmp_path, where):
    nodes, ways = grid()
    twin = _moved(nodes[5])  # node 6, on a row and a column of footways
    nodes = [*nodes[:6], twin, *nodes[6:]] if where == "next" else [*nodes, twin]
    path = write(tmp_path, "dup.osm", osm_xml(nodes, ways))
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, "node id 6", "more than once", "lat 32.041", "lat 32.051")


def test_many_repeated_ids_are_counted(tmp_path):
    nodes, ways = grid()
    twins = [_moved(n, 0.5) for n in nodes[:10]]
    path = write(tmp_path, "dups.osm", osm_xml([*nodes, *twins], ways))
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, "10 ids", "JOSM: Validation")


def test_a_poi_id_twice_is_rejected(tmp_path):
    nodes, ways = grid()
    path = write(tmp_path, "poi.osm", osm_xml([*nodes, _moved(nodes[-2])], ways))
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, "node id 1001")


def test_a_repeated_id_in_a_pbf_is_rejected(tmp_path):
    nodes, ways = grid()
    path = write_pbf(tmp_path / "dup.osm.pbf", [*nodes[:6], _moved(nodes[5]), *nodes[6:]], ways)
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, "node id 6")


def test_exact_repeats_of_merged_extracts_count_once(tmp_path):
    nodes, ways = grid()
    plain = read_osm_file(write(tmp_path, "plain.osm", osm_xml(nodes, ways)))
    merged = read_osm_file(write(tmp_path, "merged.osm", osm_xml([*nodes, *nodes], ways)))
    assert len(merged.features) == 2
    assert features(merged) == features(plain)
    assert build_network(merged).stats["length_km"] == build_network(plain).stats["length_km"]


# --- 6. nodes with coordinates off the globe -------------------------------------------------


def test_a_footway_node_off_the_globe_is_counted_and_rejected(tmp_path):
    nodes, ways = grid()
    nodes[5] = (6, 95.0, nodes[5][2], {})
    path = write(tmp_path, "lat95.osm", osm_xml(nodes, ways))
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    text = assert_one_line(err, path, "1 node ", "node 6", "lat 95")
    assert "footway" not in text


def test_every_bad_node_is_counted(tmp_path):
    nodes, ways = grid()
    for k in (2, 5, 9):
        nodes[k] = (nodes[k][0], 91.5, nodes[k][2], {})
    path = write(tmp_path, "bad3.osm", osm_xml(nodes, ways))
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, "3 nodes", "node 3")


def test_a_residential_area_with_a_node_off_the_globe_is_rejected(tmp_path):
    nodes, ways = grid()
    corners = [
        (50 + k, LAT0 - 0.002 + dy, LON0 + dx, {})
        for k, (dx, dy) in enumerate([(0, 0), (0.001, 0), (0.001, 0.001), (0, 0.001)])
    ]
    corners[2] = (52, 95.0, LON0, {})
    area = (60, [50, 51, 52, 53, 50], {"landuse": "residential"})
    path = write(tmp_path, "area95.osm", osm_xml([*nodes, *corners], [*ways, area]))
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, "1 node ", "node 52")


def test_a_poi_off_the_globe_is_rejected(tmp_path):
    nodes, ways = grid()
    nodes[-2] = (1001, LAT0, 200.0, nodes[-2][3])
    path = write(tmp_path, "lon200.osm", osm_xml(nodes, ways))
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, "node 1001", "lon 200")


def test_a_bad_node_that_nothing_uses_changes_nothing(tmp_path):
    nodes, ways = grid()
    plain = read_osm_file(write(tmp_path, "plain.osm", osm_xml(nodes, ways)))
    stray = read_osm_file(
        write(tmp_path, "stray.osm", osm_xml([*nodes, (99, 95.0, 0.0, {})], ways))
    )
    np.testing.assert_array_equal(plain.node_ids, stray.node_ids)
    assert features(plain) == features(stray)


# --- 10. values the reader cannot parse: one line, naming the element -----------------------


def _with_node6(lat: str = "", node: str = "6") -> str:
    nodes, ways = grid()
    nodes[5] = (node, lat or f"{nodes[5][1]:.7f}", nodes[5][2], {})
    ways = [(w, [node if r == 6 else r for r in refs], t) for w, refs, t in ways]
    return osm_xml(nodes, ways)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (_with_node6(lat="nan"), ["node 6", 'lat="nan"', "decimal degrees"]),
        (_with_node6(lat="39,95"), ["node 6", 'lat="39,95"', "decimal degrees"]),
        (_with_node6(node=str(2**64)), [f"node {2**64}", "64 bits"]),
        (_with_node6(node=str(2**63)), [f"node {2**63}", "64 bits"]),
    ],
    ids=["nan", "comma", "id-2^64", "id-2^63"],
)
def test_unreadable_values_are_one_line_naming_the_element(tmp_path, text, words):
    path = write(tmp_path, "bad.osm", text)
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, *words)


def test_a_way_referring_to_an_id_beyond_64_bits_is_named(tmp_path):
    nodes, ways = grid()
    ways[0] = (1, [1, 2**64, 3], ways[0][2])
    path = write(tmp_path, "ref.osm", osm_xml(nodes, ways))
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, "way 1", str(2**64))


def test_a_coordinate_error_in_a_compressed_file_is_named(tmp_path):
    path = tmp_path / "bad.osm.gz"
    path.write_bytes(gzip.compress(_with_node6(lat="nan").encode()))
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, "node 6", 'lat="nan"')


@pytest.mark.parametrize("name", ["x" * 300, "药" * 300])
def test_a_poi_with_a_name_of_300_characters_is_found(tmp_path, name):
    """Values over OSM's 255 characters are legal in files; libosmium takes 1024 bytes."""
    nodes, ways = grid()
    nodes[-2] = (*nodes[-2][:3], {"amenity": "pharmacy", "name": name})
    extract = read_osm_file(write(tmp_path, "long.osm", osm_xml(nodes, ways)))
    assert features(extract)[("node", 1001)] == name


def test_a_tag_value_the_reader_cannot_hold_is_named(tmp_path):
    nodes, ways = grid()
    nodes[-2] = (*nodes[-2][:3], {"amenity": "pharmacy", "description": "长" * 400})
    path = write(tmp_path, "longer.osm", osm_xml(nodes, ways))
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, "node 1001", "description=", "400 characters", "1024 bytes")


# --- 14. the format by its first bytes, not its name ------------------------------------------


@pytest.fixture(scope="module")
def bundled_pbf(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pbf") / "district.osm.pbf"
    with osmium.SimpleWriter(str(out)) as writer:
        for obj in osmium.FileProcessor(str(BUNDLED)):
            writer.add(obj)
    return out


@pytest.fixture(scope="module")
def bundled():
    return read_osm_file(BUNDLED)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("pbf-renamed.osm", lambda pbf: pbf.read_bytes()),
        ("pbf-renamed.osm.bz2", lambda pbf: pbf.read_bytes()),
        ("xml-renamed.osm.pbf", lambda pbf: BUNDLED.read_bytes()),
        ("gz-renamed.osm", lambda pbf: gzip.compress(BUNDLED.read_bytes())),
        ("bz2-renamed.osm.gz", lambda pbf: bz2.compress(BUNDLED.read_bytes())),
        ("gz-renamed.osm.pbf", lambda pbf: gzip.compress(BUNDLED.read_bytes())),
    ],
)
def test_a_renamed_file_reads_by_its_content(tmp_path, bundled, bundled_pbf, name, make):
    path = tmp_path / name
    path.write_bytes(make(bundled_pbf))
    again = read_osm_file(path)
    np.testing.assert_array_equal(again.node_ids, bundled.node_ids)
    np.testing.assert_array_equal(again.way_ptr, bundled.way_ptr)
    assert features(again) == features(bundled)


def test_an_empty_file_says_so(tmp_path):
    path = tmp_path / "empty.osm"
    path.write_bytes(b"")
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert_one_line(err, path, "empty")


# --- 10 and 14. boundaries that are not the study area ---------------------------------------


def geojson(tmp_path: Path, ring, name: str = "boundary.geojson", crs: str | None = None) -> Path:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def box_ring(west: float, south: float, east: float, north: float) -> list[list[float]]:
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def _utm50_ring() -> list[list[float]]:
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
    ring = box_ring(LON0, LAT0, LON0 + 0.003, LAT0 + 0.003)
    return [list(to_utm.transform(x, y)) for x, y in ring]


def test_a_boundary_in_metres_without_a_crs_is_refused(tmp_path):
    path = geojson(tmp_path, _utm50_ring())
    with pytest.raises(InputError) as err:
        read_boundary(path)
    assert_one_line(err, path, "metres", "EPSG:4326")


def test_a_boundary_in_metres_with_its_crs_is_read(tmp_path):
    path = geojson(tmp_path, _utm50_ring(), crs="urn:ogc:def:crs:EPSG::32650")
    west, south, east, north = read_boundary(path).bounds
    assert (west, south) == pytest.approx((LON0, LAT0), abs=1e-6)
    assert (east, north) == pytest.approx((LON0 + 0.003, LAT0 + 0.003), abs=1e-6)


def test_a_boundary_with_latitude_first_is_refused(tmp_path):
    ring = [[y, x] for x, y in box_ring(LON0, LAT0, LON0 + 0.003, LAT0 + 0.003)]
    path = geojson(tmp_path, ring)
    with pytest.raises(InputError) as err:
        read_boundary(path)
    assert_one_line(err, path, "swapped", "[longitude, latitude]")


@pytest.mark.parametrize("ring", [box_ring(0, -90, 180, 90), box_ring(-180, -90, 180, 0)])
def test_a_boundary_over_a_hemisphere_is_refused(tmp_path, ring):
    path = geojson(tmp_path, ring)
    with pytest.raises(InputError) as err:
        read_boundary(path)
    text = assert_one_line(err, path, "the boundary spans")
    assert "built-up" not in text


def test_a_boundary_outside_the_data_says_so(tmp_path):
    extract = read_osm_file(write(tmp_path, "grid.osm", osm_xml(*grid())))
    boundary = read_boundary(geojson(tmp_path, box_ring(116.3, 39.9, 116.4, 40.0)))  # Beijing
    with pytest.raises(InputError) as err:
        clip_extract(extract, grow(boundary, 1000))
    text = assert_one_line(err, Path(extract.source), "outside the data", "lon 116.")
    assert "built-up" not in text


def test_a_swapped_boundary_that_passes_for_degrees_is_caught_against_the_data(tmp_path):
    """In Malta (14.5 E, 35.9 N) swapped coordinates are still plausible degrees."""
    nodes, ways = grid(lat0=35.9, lon0=14.5)
    extract = read_osm_file(write(tmp_path, "malta.osm", osm_xml(nodes, ways)))
    ring = [[y, x] for x, y in box_ring(14.5, 35.9, 14.503, 35.903)]
    with pytest.raises(InputError) as err:
        clip_extract(extract, read_boundary(geojson(tmp_path, ring)))
    assert_one_line(err, Path(extract.source), "swapped")


def test_a_boundary_between_the_ways_says_so(tmp_path):
    extract = read_osm_file(write(tmp_path, "grid.osm", osm_xml(*grid())))
    inner = shapely.box(LON0 + 0.2 * STEP, LAT0 + 0.2 * STEP, LON0 + 0.8 * STEP, LAT0 + 0.8 * STEP)
    with pytest.raises(InputError) as err:
        clip_extract(extract, inner)
    assert_one_line(err, Path(extract.source), "no walkable way lies inside the boundary")


def test_a_boundary_inside_the_data_still_clips(tmp_path):
    extract = read_osm_file(write(tmp_path, "grid.osm", osm_xml(*grid())))
    half = shapely.box(LON0 - 1e-4, LAT0 - 1e-4, LON0 + 1.5 * STEP, LAT0 + 3.5 * STEP)
    net = build_network(clip_extract(extract, half))
    assert net.n_nodes == 2 * N  # the first two columns of nodes


# --- through the command line: `error:`, exit 2, nothing written ----------------------------


runner = CliRunner()


def _cli_error(tmp_path: Path, *args: str) -> str:
    from cli import app

    out = tmp_path / "out"
    res = runner.invoke(app, ["run", *args, "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert res.output.count("error:") == 1, res.output
    assert "internal error" not in res.output and "Traceback" not in res.output
    assert not out.exists()
    return res.output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "words"),
    [
        (_with_node6(lat="nan"), 'lat="nan"'),
        (_with_node6(node=str(2**64)), "64 bits"),
        (osm_xml([*grid()[0], _moved(grid()[0][5])], grid()[1]), "node id 6"),
        (
            osm_xml([*grid()[0][:5], (6, 95.0, LON0, {}), *grid()[0][6:]], grid()[1]),
            "no valid coordinates",
        ),
    ],
    ids=["nan", "id-2^64", "duplicate", "lat95"],
)
def test_cli_hostile_osm_is_one_error_line(tmp_path, text, words):
    path = write(tmp_path, "hostile.osm", text)
    assert words in _cli_error(tmp_path, "--osm", str(path))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("ring", "words"),
    [
        (box_ring(116.3, 39.9, 116.4, 40.0), "outside the data"),
        (box_ring(0, -90, 180, 90), "spans 180°"),
        (_utm50_ring(), "metres"),
    ],
    ids=["outside", "hemisphere", "metres"],
)
def test_cli_wrong_boundary_is_one_error_line(tmp_path, ring, words):
    path = geojson(tmp_path, ring)
    output = _cli_error(tmp_path, "--osm", str(BUNDLED), "--boundary", str(path))
    assert words in output and "built-up" not in output
