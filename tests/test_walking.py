"""Speeds by group, steps and slopes (issue 16 part 4), against hand-worked cases.

Expected values are worked by hand from the published figures (Tobler 1993, Fruin 1971,
the speeds of data/walking_speeds.yaml), never by the functions under test.
"""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pyproj
import pytest
from tests_support import north_up, write_geotiff

from circles._errors import ConfigError, InputError
from circles.cache import load_prepared, store_prepared
from circles.config import WalkingSettings, study_from_dict
from circles.network import build_network, from_arrays
from circles.prepare import Prepared
from circles.services import load_catalogue
from circles.snap import Attachment
from circles.sources import overpass
from circles.sources.extract import clip_extract
from circles.sources.osm_file import read_osm_file, start_reading
from circles.walking import category_distances, edge_lengths, load_speeds

CRS = "EPSG:32650"  # UTM 50N (Nanjing)
X0, Y0 = 500_000.0, 3_500_000.0


def _write_dem(
    path: Path,
    values: np.ndarray,
    west: float,
    north: float,
    pixel: float,
    crs: str | None = CRS,
    nodata: float | None = -9999.0,
) -> Path:
    return write_geotiff(path, values, crs, north_up(west, north, pixel, pixel), nodata)


def _ramp_dem(path: Path, rise_per_m: float = 0.1) -> Path:
    """A plane rising ``rise_per_m`` eastward from X0, 10 m pixels over X0-50 .. X0+250."""
    cols = (np.arange(30) + 0.5) * 10.0 - 50.0  # pixel centres, metres east of X0
    values = np.tile(rise_per_m * cols, (10, 1))
    return _write_dem(path, values, west=X0 - 50.0, north=Y0 + 50.0, pixel=10.0)


def _line(n_nodes: int, spacing: float = 100.0):
    """Nodes along y = Y0 from X0 eastward, each joined to the next."""
    x = X0 + spacing * np.arange(n_nodes)
    return from_arrays(x, np.full(n_nodes, Y0), np.arange(n_nodes - 1), np.arange(1, n_nodes), CRS)


def _study(**thresholds) -> object:
    return study_from_dict({"thresholds": thresholds})


# --- Tobler's function on a sloped edge ------------------------------------------------


def test_tobler_on_a_single_sloped_edge_worked_by_hand(tmp_path):
    # 100 m east, rising 10 m: slope 0.1 up, -0.1 back.
    net = _line(2)
    dem = _ramp_dem(tmp_path / "dem.tif")
    cost, notes = edge_lengths(net, WalkingSettings(dem=dem))
    v_up = 6 * math.exp(-3.5 * abs(0.1 + 0.05))  # 3.55 km/h
    v_down = 6 * math.exp(-3.5 * abs(-0.1 + 0.05))  # 5.04 km/h
    v_flat = 6 * math.exp(-3.5 * 0.05)  # 5.04 km/h
    # There and back at those speeds, as metres at the flat pace: 120.95 m.
    expected = v_flat * (100 / v_up + 100 / v_down) / 2
    assert expected == pytest.approx(120.95, abs=0.01)
    assert cost == pytest.approx([expected], abs=1e-6)
    assert notes == []


def test_a_dem_in_another_crs_is_reprojected(tmp_path):
    # The same ramp as a WGS-84 raster of ~1 m pixels: each pixel centre's elevation
    # is the ramp at its place in UTM, so the slope found must again be 0.1.
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    to_geo = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    (west, east), (south, north) = to_geo.transform([X0 - 20, X0 + 120], [Y0 - 20, Y0 + 20])
    pixel = 1e-5
    cols = west + (np.arange(int((east - west) / pixel)) + 0.5) * pixel
    rows = north - (np.arange(int((north - south) / pixel)) + 0.5) * pixel
    lon, lat = np.meshgrid(cols, rows)
    x, _ = to_utm.transform(lon, lat)
    dem = _write_dem(tmp_path / "wgs84.tif", 0.1 * (x - X0), west, north, pixel, crs="EPSG:4326")
    cost, _ = edge_lengths(_line(2), WalkingSettings(dem=dem))
    expected = 100 * (math.exp(-3.5 * 0.05) / math.exp(-3.5 * 0.15) + 1) / 2
    assert cost == pytest.approx([expected], abs=0.05)


def test_flat_ground_costs_its_length_and_both_directions_cost_alike(tmp_path):
    flat = _write_dem(tmp_path / "flat.tif", np.full((10, 30), 12.0), X0 - 50, Y0 + 50, 10.0)
    net = _line(3)
    cost, _ = edge_lengths(net, WalkingSettings(dem=flat))
    assert cost == pytest.approx(net.edge_len)
    # Descending the ramp westward costs what climbing it eastward does.
    down = _write_dem(
        tmp_path / "down.tif", np.tile(-0.1 * np.arange(30) * 10.0, (10, 1)), X0 - 50, Y0 + 50, 10.0
    )
    up_cost, _ = edge_lengths(net, WalkingSettings(dem=_ramp_dem(tmp_path / "up.tif")))
    down_cost, _ = edge_lengths(net, WalkingSettings(dem=down))
    assert down_cost == pytest.approx(up_cost)


# --- steps -----------------------------------------------------------------------------


def test_steps_take_fruins_factor_and_no_slope_on_top(tmp_path):
    # Fruin (1971) table 3-B, outdoor stair: 113 ft/min up, 152 down; level 265 ft/min.
    factor = (265 / 113 + 265 / 152) / 2  # 2.044: a walk there and back
    assert load_speeds().steps_factor == pytest.approx(round(factor, 2))
    net = _line(3)
    net.edge_steps = np.array([False, True])
    cost, _ = edge_lengths(net, WalkingSettings())
    assert cost == pytest.approx([100.0, 204.0])
    # On a slope the stair keeps its own factor (it already holds the climb).
    sloped, _ = edge_lengths(net, WalkingSettings(dem=_ramp_dem(tmp_path / "dem.tif")))
    tobler = 100 * (math.exp(-3.5 * 0.05) / math.exp(-3.5 * 0.15) + 1) / 2
    assert sloped == pytest.approx([tobler, 204.0])
    # walking.steps: false walks them as flat.
    plain, _ = edge_lengths(net, WalkingSettings(steps=False))
    assert plain == pytest.approx([100.0, 100.0])


# Nodes 1-2-3 a footway, 3-4 steps, 4-5 a footway: ids negative as JOSM writes new ones
# (read through the normalised copy) or positive (the fast read).
_OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version='0.6' generator='test'>
  <node id='{s}1' lat='32.0400' lon='118.7800' version='1'/>
  <node id='{s}2' lat='32.0400' lon='118.7810' version='1'/>
  <node id='{s}3' lat='32.0400' lon='118.7820' version='1'/>
  <node id='{s}4' lat='32.0405' lon='118.7820' version='1'/>
  <node id='{s}5' lat='32.0410' lon='118.7820' version='1'/>
  <way id='{s}10' version='1'>
    <nd ref='{s}1'/><nd ref='{s}2'/><nd ref='{s}3'/>
    <tag k='highway' v='footway'/>
  </way>
  <way id='{s}11' version='1'>
    <nd ref='{s}3'/><nd ref='{s}4'/>
    <tag k='highway' v='steps'/>
  </way>
  <way id='{s}12' version='1'>
    <nd ref='{s}4'/><nd ref='{s}5'/>
    <tag k='highway' v='footway'/>
  </way>
</osm>
"""


def _steps_by_pair(net) -> dict[tuple[int, int], bool]:
    ids = net.osm_id
    return {
        tuple(sorted((abs(int(ids[a])), abs(int(ids[b]))))): bool(s)
        for a, b, s in zip(net.edge_u, net.edge_v, net.edge_steps, strict=True)
    }


@pytest.mark.parametrize("sign", ["", "-"], ids=["fast-read", "josm-copy"])
def test_a_steps_way_marks_its_edges_through_reader_clip_and_cache(tmp_path, sign):
    path = tmp_path / "steps.osm"
    path.write_text(_OSM.format(s=sign), encoding="utf-8")
    extract = read_osm_file(path)
    assert sorted(extract.way_steps.tolist()) == [False, False, True]
    expected = {(1, 2): False, (2, 3): False, (3, 4): True, (4, 5): False}
    net = build_network(extract)
    assert _steps_by_pair(net) == expected
    # A clip keeps each piece's flag.
    import shapely

    clipped = clip_extract(extract, shapely.box(118.77, 32.03, 118.79, 32.05))
    assert _steps_by_pair(build_network(clipped)) == expected
    # The network cache keeps them.
    empty = np.zeros(0)
    prepared = Prepared(
        net,
        {},
        Attachment(empty.astype(np.int64), empty, empty, empty.astype(bool)),
        "t",
        None,
        False,
    )
    store_prepared(tmp_path / "cache", "k" * 32, prepared)
    cached = load_prepared(tmp_path / "cache", "k" * 32)
    assert cached is not None
    np.testing.assert_array_equal(cached.network.edge_steps, net.edge_steps)


def test_the_worker_process_reads_the_steps_too(tmp_path):
    path = tmp_path / "steps.osm"
    path.write_text(_OSM.format(s=""), encoding="utf-8")
    with start_reading(path) as pending:
        extract = pending.result()
    assert _steps_by_pair(build_network(extract))[(3, 4)] is True


def test_overpass_edges_tagged_steps_are_steps():
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, lon in enumerate([118.780, 118.781, 118.782], start=1):
        g.add_node(n, x=lon, y=32.04)
    for u, v, highway in [(1, 2, "footway"), (2, 1, "footway"), (2, 3, "steps"), (3, 2, "steps")]:
        g.add_edge(u, v, osmid=7, highway=highway, length=95.0)
    extract = overpass._extract(g, None, "test")
    assert _steps_by_pair(build_network(extract)) == {(1, 2): False, (2, 3): True}


def test_a_node_pair_shared_by_steps_and_a_footway_is_no_stair():
    # Two ways over the same two nodes: one can walk the footway, so the edge is not steps.
    net = from_arrays(
        np.array([X0, X0 + 50]),
        np.array([Y0, Y0]),
        [0, 0],
        [1, 1],
        CRS,
        edge_steps=np.array([True, False]),
    )
    assert net.edge_steps.tolist() == [False]


# --- speeds by group ------------------------------------------------------------------


def test_elderly_and_parent_child_walk_fewer_metres_in_the_same_minutes():
    study = _study(minutes=[5, 10, 15], speed_kmh=4.0)
    rows = category_distances(study, ["elder_care", "kindergarten", "market"])
    # 3.24 km/h = 54 m/min; 3.17 km/h = 52.83 m/min; 4 km/h = 66.67 m/min (0.1 m rounding).
    assert rows[0].tolist() == [270.0, 540.0, 810.0]
    assert rows[1].tolist() == [264.2, 528.3, 792.5]
    assert rows[2].tolist() == [333.3, 666.7, 1000.0] == study.distances_m
    # A study's own profile for a category overrides the data file's.
    mine = study_from_dict(
        {"thresholds": {"minutes": [5, 10, 15]}, "walking": {"profiles": {"market": "elderly"}}}
    )
    assert category_distances(mine, ["market"]).tolist() == [[270.0, 540.0, 810.0]]
    # No group walks faster than the study: at 3 km/h, everyone walks 50 m a minute.
    slow = _study(minutes=[5, 10], speed_kmh=3.0)
    assert category_distances(slow, ["elder_care", "market"]).tolist() == [[250.0, 500.0]] * 2


def test_distances_in_metres_are_the_same_for_every_group():
    study = _study(distances_m=[300, 500, 1000])
    rows = category_distances(study, ["elder_care", "kindergarten", "market"])
    assert rows.tolist() == [[300.0, 500.0, 1000.0]] * 3
    assert category_distances(_study(), ["nursery"]).tolist() == [[300.0, 500.0, 1000.0]]
    # Profiles asked for with distances would do nothing: refused, not ignored.
    with pytest.raises(ConfigError, match="walking.profiles"):
        study_from_dict({"walking": {"profiles": {"market": "elderly"}}})


def test_unknown_profiles_and_categories_are_refused():
    with pytest.raises(ConfigError, match="unknown profile 'toddler'"):
        study_from_dict(
            {"thresholds": {"minutes": [5]}, "walking": {"profiles": {"market": "toddler"}}}
        )
    with pytest.raises(ConfigError, match="unknown category 'spa'"):
        study_from_dict(
            {"thresholds": {"minutes": [5]}, "walking": {"profiles": {"spa": "elderly"}}}
        )


def test_the_data_file_cites_every_speed_and_names_real_categories():
    data = load_speeds()
    assert set(data.profiles) == {"adult", "elderly", "parent_child"}
    assert data.profiles["adult"].speed_kmh is None  # the study's speed
    assert data.profiles["elderly"].speed_kmh == pytest.approx(0.90 * 3.6)
    assert data.profiles["parent_child"].speed_kmh == pytest.approx(0.88 * 3.6, abs=0.01)
    for profile in data.profiles.values():
        assert profile.sources and all(len(s) > 40 for s in profile.sources)
    assert set(data.defaults) <= set(load_catalogue())
    assert set(data.defaults.values()) <= set(data.profiles)
    assert data.tobler == (6.0, 3.5, 0.05)


# --- a DEM that does not cover the area -------------------------------------------------


def test_a_dem_elsewhere_is_one_clear_error(tmp_path):
    far = _write_dem(tmp_path / "far.tif", np.zeros((5, 5)), X0 + 50_000, Y0, 10.0)
    with pytest.raises(InputError) as e:
        edge_lengths(_line(3), WalkingSettings(dem=far))
    msg = str(e.value)
    assert "does not cover 3 of the network's 3 nodes (100.0%" in msg
    assert "covers the whole study area" in msg and "\n" not in msg


def test_a_dem_of_nodata_is_one_clear_error(tmp_path):
    void = _write_dem(tmp_path / "void.tif", np.full((10, 30), -9999.0), X0 - 50, Y0 + 50, 10.0)
    with pytest.raises(InputError, match="outside its extent or on nodata"):
        edge_lengths(_line(3), WalkingSettings(dem=void))


def test_a_dem_missing_a_node_or_two_warns_or_refuses_by_share(tmp_path):
    # 101 nodes 1 m apart from X0; the DEM (1 m pixels) ends after the 100th.
    net = _line(101, spacing=1.0)

    def dem_to(last_x: float, name: str) -> Path:
        width = int(last_x - (X0 - 0.5))
        return _write_dem(tmp_path / name, np.full((3, width), 5.0), X0 - 0.5, Y0 + 1.5, 1.0)

    one_out = dem_to(X0 + 99.5, "one.tif")  # node 100 (x = X0 + 100) lies outside: 0.99%
    cost, notes = edge_lengths(net, WalkingSettings(dem=one_out))
    assert cost == pytest.approx(net.edge_len)  # flat, and the last edge walked as flat
    assert len(notes) == 1 and "does not cover 1 of the network's 101 nodes" in notes[0]
    two_out = dem_to(X0 + 98.5, "two.tif")  # 2 of 101: 1.98%, beyond 1%
    with pytest.raises(InputError, match="does not cover 2 of the network's 101 nodes"):
        edge_lengths(net, WalkingSettings(dem=two_out))


def test_bad_dem_files_are_one_line_each(tmp_path):
    net = _line(2)
    with pytest.raises(InputError, match="DEM not found"):
        edge_lengths(net, WalkingSettings(dem=tmp_path / "none.tif"))
    text = tmp_path / "text.tif"
    text.write_text("not a raster", encoding="utf-8")
    with pytest.raises(InputError, match="not a raster"):
        edge_lengths(net, WalkingSettings(dem=text))
    bare = _write_dem(tmp_path / "bare.tif", np.zeros((5, 5)), X0, Y0, 10.0, crs=None)
    with pytest.raises(InputError, match="no coordinate system"):
        edge_lengths(net, WalkingSettings(dem=bare))


def test_steep_edges_are_counted_in_a_note(tmp_path):
    # A 40% ramp: steeper than any street; in a DEM, a bridge or a tunnel.
    cost, notes = edge_lengths(_line(2), WalkingSettings(dem=_ramp_dem(tmp_path / "s.tif", 0.4)))
    assert len(notes) == 1 and "1 edge (0.1 km) is steeper than 30%" in notes[0]
    expected = (
        100 * (math.exp(-3.5 * 0.05) / math.exp(-3.5 * 0.45)) / 2
        + 100 * (math.exp(-3.5 * 0.05) / math.exp(-3.5 * 0.35)) / 2
    )
    assert cost == pytest.approx([expected])


def test_a_dem_read_in_strips_gives_the_same_costs(tmp_path, monkeypatch):
    # A plane rising 0.1 eastward and 0.05 northward, read one row strip at a time.
    import circles.walking

    monkeypatch.setattr(circles.walking, "_STRIP_PIXELS", 31)  # 30 columns: a row a strip
    east = (np.arange(30) + 0.5) * 10.0 - 50.0
    north = 50.0 - (np.arange(10) + 0.5) * 10.0
    dem = _write_dem(
        tmp_path / "plane.tif", 0.1 * east[None, :] + 0.05 * north[:, None], X0 - 50, Y0 + 50, 10.0
    )
    net = from_arrays(
        np.array([X0, X0 + 100, X0 + 100]), np.array([Y0, Y0, Y0 + 40]), [0, 1], [1, 2], CRS
    )
    cost, _ = edge_lengths(net, WalkingSettings(dem=dem))

    def v(slope: float) -> float:
        return 6 * math.exp(-3.5 * abs(slope + 0.05))

    def there_and_back(length: float, s: float) -> float:
        return v(0) * (length / v(s) + length / v(-s)) / 2

    assert sorted(cost) == pytest.approx(
        sorted([there_and_back(100, 0.1), there_and_back(40, 0.05)])
    )
