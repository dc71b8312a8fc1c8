"""Online sources without a network: osmnx is replaced by fakes, sockets are blocked."""

from __future__ import annotations

import re
import socket

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx
import pandas as pd
import pytest
import requests
import shapely
from shapely.geometry import Point, Polygon, box

from circles._errors import InputError, NetworkUnavailableError
from circles.network import build_network
from circles.settings import CONDITIONAL_HIGHWAYS, WALKABLE_HIGHWAYS, is_walkable
from circles.sources import overpass


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch):
    """Any attempt to open a connection fails at once (these tests never go online)."""

    def refuse(*args, **kwargs):
        raise OSError("network access is blocked in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _graph() -> nx.MultiDiGraph:
    """An unsimplified osmnx-style graph: both directions of each street, one parallel way."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    coords = {
        1: (118.780, 32.040),
        2: (118.781, 32.040),
        3: (118.781, 32.041),
        4: (118.782, 32.041),
    }
    for n, (x, y) in coords.items():
        g.add_node(n, x=x, y=y, street_count=2)
    for u, v, k in [(1, 2, 0), (2, 1, 0), (2, 3, 0), (3, 2, 0), (2, 3, 1), (4, 3, 0)]:
        g.add_edge(u, v, key=k, osmid=500 + u, highway="footway", length=100.0)
    return g


def _features() -> gpd.GeoDataFrame:
    index = pd.MultiIndex.from_tuples(
        [("node", 10), ("way", 20), ("relation", 30)], names=["element", "id"]
    )
    return gpd.GeoDataFrame(
        {
            "amenity": ["pharmacy", np.nan, None],
            "name": ["老百姓大药房", np.nan, "秦淮小区"],
            "building": [np.nan, "yes", np.nan],
            "landuse": [np.nan, np.nan, "residential"],
            "nodes": [np.nan, [1, 2, 3, 1], np.nan],
            "ways": [np.nan, np.nan, [20]],
        },
        geometry=[
            Point(118.7805, 32.0402),
            box(118.7811, 32.0401, 118.7813, 32.0403),
            Polygon([(118.779, 32.039), (118.783, 32.039), (118.783, 32.042)]),
        ],
        index=index,
        crs="EPSG:4326",
    )


def test_extract_from_osmnx_graph_and_features():
    ex = overpass._extract(_graph(), _features(), "place: 新街口")
    assert ex.source == "place: 新街口"
    # One two-node way per undirected node pair, pairs in order, smaller id first.
    assert ex.n_ways == 3
    assert ex.way_ptr.tolist() == [0, 2, 4, 6]
    assert ex.node_ids.tolist() == [1, 2, 2, 3, 3, 4]
    np.testing.assert_array_equal(ex.lon, [118.780, 118.781, 118.781, 118.781, 118.781, 118.782])
    np.testing.assert_array_equal(ex.lat, [32.040, 32.040, 32.040, 32.041, 32.041, 32.041])
    f = ex.features
    assert f.crs.to_epsg() == 4326
    assert f["osm_type"].tolist() == ["node", "way", "relation"]
    assert f["osm_id"].tolist() == [10, 20, 30]
    assert f["name"].tolist() == ["老百姓大药房", "", "秦淮小区"]
    # Missing tags (NaN, None) are dropped; node lists are not tags.
    assert f["tags"].tolist() == [
        {"amenity": "pharmacy", "name": "老百姓大药房"},
        {"building": "yes"},
        {"name": "秦淮小区", "landuse": "residential"},
    ]
    assert shapely.equals_exact(f.geometry.to_numpy(), _features().geometry.to_numpy(), 0).all()
    # The extract makes a network like a file's: the path 1-2-3-4.
    net = build_network(ex)
    assert net.n_nodes == 4 and net.n_edges == 3
    assert net.crs.to_epsg() == 32650


def test_extract_without_features():
    ex = overpass._extract(_graph(), None, "bbox: 1,2,3,4")
    assert len(ex.features) == 0 and ex.n_ways == 3


def _fake(result=None, error: Exception | None = None, calls: list | None = None):
    def fake(*args, **kwargs):
        if calls is not None:
            calls.append((args, kwargs))
        if error is not None:
            raise error
        return result

    return fake


QUERIES = [
    ("from_place", "place", "南京市玄武区"),
    ("from_bbox", "bbox", (118.77, 32.03, 118.79, 32.05)),
    ("from_polygon", "polygon", box(118.77, 32.03, 118.79, 32.05)),
]


@pytest.mark.parametrize(("func", "suffix", "arg"), QUERIES)
@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectionError("Failed to establish a new connection"),
        requests.exceptions.Timeout("read timed out"),
    ],
    ids=["connection", "timeout"],
)
def test_offline_graph_query_says_use_osm(monkeypatch, func, suffix, arg, error):
    monkeypatch.setattr(osmnx, f"graph_from_{suffix}", _fake(error=error))
    monkeypatch.setattr(osmnx, f"features_from_{suffix}", _fake(error=error))
    with pytest.raises(NetworkUnavailableError, match="--osm") as err:
        getattr(overpass, func)(arg)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("func", "suffix", "arg"), QUERIES)
def test_offline_features_query_says_use_osm(monkeypatch, func, suffix, arg):
    monkeypatch.setattr(osmnx, f"graph_from_{suffix}", _fake(result=_graph()))
    monkeypatch.setattr(
        osmnx, f"features_from_{suffix}", _fake(error=requests.exceptions.ConnectionError())
    )
    with pytest.raises(NetworkUnavailableError, match="--osm"):
        getattr(overpass, func)(arg)


def test_from_place_with_fakes_asks_for_the_walk_filter(monkeypatch):
    graph_calls: list = []
    feature_calls: list = []
    monkeypatch.setattr(osmnx, "graph_from_place", _fake(_graph(), calls=graph_calls))
    monkeypatch.setattr(osmnx, "features_from_place", _fake(_features(), calls=feature_calls))
    ex = overpass.from_place("南京市玄武区")
    assert ex.source == "place: 南京市玄武区"
    assert ex.n_ways == 3 and len(ex.features) == 3
    ((args, kwargs),) = graph_calls
    assert args == ("南京市玄武区",)
    assert kwargs["custom_filter"] == overpass.walk_filter()
    assert kwargs["simplify"] is False and kwargs["retain_all"] is True
    ((_, fkwargs),) = feature_calls
    assert {"amenity", "shop", "leisure", "landuse", "building"} <= set(fkwargs["tags"])


def test_empty_answer_is_an_input_error(monkeypatch):
    monkeypatch.setattr(
        osmnx,
        "graph_from_place",
        _fake(error=osmnx._errors.InsufficientResponseError("No data elements in response")),
    )
    with pytest.raises(InputError, match="no usable data"):
        overpass.from_place("Nowhere")


def test_other_errors_are_not_hidden(monkeypatch):
    monkeypatch.setattr(osmnx, "graph_from_bbox", _fake(error=ValueError("bad bbox")))
    with pytest.raises(ValueError, match="bad bbox"):
        overpass.from_bbox((1.0, 2.0, 3.0, 4.0))


# --- the Overpass walking filter ----------------------------------------------------------


def test_walk_filter_lists_every_walkable_highway():
    f = overpass.walk_filter()
    m = re.search(r'\["highway"~"\^\(([^)]*)\)\$"\]', f)
    assert m is not None, f
    listed = set(m.group(1).split("|"))
    assert listed >= WALKABLE_HIGHWAYS
    assert listed <= WALKABLE_HIGHWAYS | CONDITIONAL_HIGHWAYS
    assert "motorway" not in listed


def _overpass_matches(filter_text: str, tags: dict[str, str]) -> bool:
    """Overpass tag-filter semantics: ["k"~"re"] needs k with a matching value; ["k"!~"re"]
    needs k absent or not matching. All clauses must hold."""
    clauses = re.findall(r'\["([^"]+)"(!?~)"([^"]*)"\]', filter_text)
    assert "".join(f'["{k}"{op}"{v}"]' for k, op, v in clauses) == filter_text
    for key, op, pattern in clauses:
        value = tags.get(key)
        hit = value is not None and re.search(pattern, value) is not None
        if hit != (op == "~"):
            return False
    return True


CASES = [
    {"highway": "footway"},
    {"highway": "residential"},
    {"highway": "steps"},
    {"highway": "motorway"},
    {"highway": "footway", "foot": "no"},
    {"highway": "service", "access": "private"},
    {"highway": "service", "access": "no"},
    {"highway": "residential", "access": "destination"},
    {"highway": "trunk", "sidewalk": "both"},
    {"highway": "trunk", "foot": "yes"},
    {"highway": "trunk", "foot": "private"},
    {"highway": "footwayx"},
    {"building": "yes"},
    {"highway": "trunk"},
    {"highway": "trunk_link", "sidewalk": "no"},
    {"highway": "trunk", "sidewalk": "separate"},
    {"highway": "service", "access": "private", "foot": "yes"},
    {"highway": "footway", "access": "no", "foot": "designated"},
]


@pytest.mark.parametrize("tags", CASES)
def test_online_network_walks_what_a_file_walks(tags):
    # The Overpass filter may pass more; _extract keeps exactly what is_walkable accepts.
    if is_walkable(tags):
        assert _overpass_matches(overpass.walk_filter(), tags)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    g.add_node(1, x=118.780, y=32.040)
    g.add_node(2, x=118.781, y=32.040)
    g.add_edge(1, 2, key=0, **tags)
    ex = overpass._extract(g, None, "test")
    assert ex.n_ways == (1 if is_walkable(tags) else 0)
