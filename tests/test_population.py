"""Population data laid over the clusters: rasters and tables, checked by hand arithmetic."""

from __future__ import annotations

import csv

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from tests_support import north_up, write_geotiff

from circles._errors import ConfigError, InputError
from circles.config import PopulationSettings
from circles.options import study_for_run
from circles.population import apply_population, is_raster
from circles.residences import clusters_frame

UTM = "EPSG:32650"  # UTM 50N: 114-120 °E
X0, Y0 = 500_000.0, 3_500_000.0  # a corner of the test area, in UTM


from_origin = north_up


def _raster(path, values, crs, transform, nodata=None):
    return write_geotiff(path, values, crs, transform, nodata)


def _clusters(geoms, names=None, population=50.0, floor=None, crs=UTM):
    n = len(geoms)
    floor = np.zeros(n) if floor is None else np.asarray(floor, dtype=float)
    pop = np.broadcast_to(np.asarray(population, dtype=float), (n,))
    return clusters_frame(names or [""] * n, "landuse", geoms, floor, pop / 2.62, pop, crs)


def _box(x0, y0, x1, y1):
    """A box given in metres from the test area's corner."""
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def _csv(path, header, rows, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


NINE = np.arange(1, 10).reshape(3, 3)  # row 0 (north) is 1 2 3; row 2 (south) is 7 8 9


# --- rasters ----------------------------------------------------------------------------


def _utm_raster(tmp_path, values=NINE, nodata=None):
    # 100 m cells; the top-left corner at (0, 300): row 2 spans y 0-100, column 0 x 0-100.
    transform = from_origin(X0, Y0 + 300, 100, 100)
    return _raster(tmp_path / "pop.tif", values, UTM, transform, nodata)


@pytest.mark.parametrize("read_at_once", [True, False])
def test_raster_sums_cells_by_their_area_inside_each_cluster(tmp_path, monkeypatch, read_at_once):
    if not read_at_once:  # a raster too large to read in one window: cluster by cluster
        monkeypatch.setattr("circles.population.MAX_RASTER_CELLS", 1)
    path = _utm_raster(tmp_path)
    clusters = _clusters(
        [
            _box(50, 150, 150, 250),  # a quarter of the cells 1, 2, 4, 5
            _box(150, 0, 300, 100),  # half of cell 8, all of cell 9
            _box(1000, 0, 1100, 100),  # off the raster
        ]
    )
    out, notes = apply_population(clusters, None, PopulationSettings(file=path), [])
    # (1 + 2 + 4 + 5) / 4 = 3; 8 / 2 + 9 = 13; the third keeps its 50.
    assert out["population"].tolist() == pytest.approx([3.0, 13.0, 50.0])
    assert out["population_method"].tolist() == ["raster", "raster", "buildings"]
    assert not out["population_low"].any()
    assert out["population_60plus"].isna().all()
    assert any("1 residence clusters lie off the raster" in n for n in notes)


def test_raster_nodata_cells_count_zero_and_are_reported(tmp_path):
    values = NINE.astype(float)
    values[0, 0] = -9999  # the cell of value 1
    path = _utm_raster(tmp_path, values, nodata=-9999)
    clusters = _clusters([_box(50, 150, 150, 250), _box(150, 0, 300, 100)])
    out, notes = apply_population(clusters, None, PopulationSettings(file=path), [])
    # (0 + 2 + 4 + 5) / 4 = 2.75
    assert out["population"].tolist() == pytest.approx([2.75, 13.0])
    assert any("1 residence clusters cover nodata cells" in n for n in notes)


def test_raster_in_another_crs_is_summed_over_the_reprojected_clusters(tmp_path):
    # 0.001° cells in WGS-84; clusters drawn in UTM from lon/lat rectangles of those cells.
    lon0, lat0, d = 117.0, 32.003, 0.001
    path = _raster(tmp_path / "pop.tif", NINE, "EPSG:4326", from_origin(lon0, lat0, d, d))
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", UTM, always_xy=True)

    def utm_rect(w, s, e, n):
        dense = shapely.segmentize(shapely.box(w, s, e, n), d / 100)
        return shapely.transform(dense, lambda xy: np.column_stack(to_utm.transform(*xy.T)))

    clusters = _clusters(
        [
            utm_rect(lon0, lat0 - d, lon0 + 2 * d, lat0),  # cells 1 and 2
            utm_rect(lon0 + 1.5 * d, lat0 - 2 * d, lon0 + 3 * d, lat0 - d),  # half 5, all 6
        ]
    )
    out, _ = apply_population(clusters, None, PopulationSettings(file=path), [])
    # 1 + 2 = 3; 5 / 2 + 6 = 8.5
    assert out["population"].tolist() == pytest.approx([3.0, 8.5], rel=1e-5)


def test_raster_all_nodata_under_the_clusters_is_an_error(tmp_path):
    path = _utm_raster(tmp_path, np.full((3, 3), -1.0), nodata=-1)
    clusters = _clusters([_box(50, 150, 150, 250)])
    with pytest.raises(InputError, match="every cell of the raster under the 1 residence"):
        apply_population(clusters, None, PopulationSettings(file=path), [])


def test_raster_that_misses_the_clusters_is_an_error(tmp_path):
    path = _utm_raster(tmp_path)
    clusters = _clusters([_box(5000, 0, 5100, 100)])
    with pytest.raises(InputError, match="does not overlap the 1 residence cluster"):
        apply_population(clusters, None, PopulationSettings(file=path), [])


def test_a_tif_that_is_not_a_raster_is_one_clear_error(tmp_path):
    path = tmp_path / "pop.tif"
    path.write_text("name,population\nA,1\n", encoding="utf-8")
    assert is_raster(path)
    with pytest.raises(InputError, match="not a readable GeoTIFF"):
        apply_population(_clusters([_box(0, 0, 10, 10)]), None, PopulationSettings(file=path), [])


def test_raster_detected_by_its_bytes_whatever_its_name(tmp_path):
    path = _utm_raster(tmp_path).rename(tmp_path / "pop.dat")
    assert is_raster(path) and not is_raster(_csv(tmp_path / "p.csv", ["a"], [[1]]))


# --- tables: units spread over buildings (dasymetric) -----------------------------------


def _buildings(rows, crs=UTM):
    """(box, floor area, cluster row) per building."""
    return gpd.GeoDataFrame(
        {"floor_area_m2": [r[1] for r in rows], "cluster": [r[2] for r in rows]},
        geometry=[r[0] for r in rows],
        crs=crs,
    )


def test_unit_totals_spread_over_buildings_by_floor_area(tmp_path):
    clusters = _clusters(
        [_box(0, 0, 100, 100), _box(200, 0, 300, 100), _box(1000, 0, 1100, 100)],
        names=["东区", "西区", "远处"],
        population=77.0,
        floor=[4000, 4000, 500],
    )
    buildings = _buildings(
        [
            (_box(10, 10, 30, 30), 1000.0, 0),
            (_box(50, 50, 90, 90), 3000.0, 0),
            (_box(210, 10, 240, 40), 2000.0, 1),  # in unit 1
            (_box(260, 10, 290, 40), 2000.0, 1),  # in unit 2
            (_box(1010, 10, 1030, 30), 500.0, 2),  # in no unit
        ]
    )
    table = _csv(
        tmp_path / "社区.csv",
        ["社区名称", "常住人口", "60岁以上人口", "wkt"],
        [
            ["一社区", "600", "120", _box(0, 0, 250, 100).wkt],
            ["二社区", "100", "30", _box(250, 0, 300, 100).wkt],
        ],
    )
    settings = PopulationSettings(file=table, crs=UTM)
    rejected: list[dict] = []
    out, notes = apply_population(clusters, buildings, settings, rejected)
    # Unit 1: 6000 m2 of floor; 1000 + 3000 m2 in 东区 take 4/6 of 600 = 400, 2000 m2 in
    # 西区 take 200. Unit 2's 100 all go to 西区's other building: 西区 = 300.
    # 60+: 120 x 4/6 = 80; 120 x 2/6 + 30 = 70. 远处 is in no unit and keeps its 77.
    assert out["population"].tolist() == pytest.approx([400.0, 300.0, 77.0])
    assert out["population"][:2].sum() == pytest.approx(600 + 100)
    assert out["population_60plus"][:2].tolist() == pytest.approx([80.0, 70.0])
    assert np.isnan(out["population_60plus"][2])
    assert out["population_method"].tolist() == ["dasymetric", "dasymetric", "buildings"]
    assert rejected == [] and notes == []


def test_unit_without_buildings_spreads_over_the_clusters_it_overlaps_by_area(tmp_path):
    clusters = _clusters([_box(0, 0, 100, 100), _box(100, 0, 200, 100)], population=40.0)
    table = _csv(
        tmp_path / "units.csv",
        ["name", "population", "population_60plus", "wkt"],
        [["一社区", "90", "9", _box(50, 0, 200, 100).wkt]],
    )
    out, notes = apply_population(clusters, None, PopulationSettings(file=table, crs=UTM), [])
    # Overlaps: 5,000 m2 of the first, 10,000 m2 of the second: 30 and 60 residents. The
    # first lies half outside the unit: that half keeps half its 40, and its 60+ are unknown.
    assert out["population"].tolist() == pytest.approx([30.0 + 20.0, 60.0])
    assert np.isnan(out["population_60plus"][0]) and out["population_60plus"][1] == pytest.approx(
        6.0
    )
    assert any("1 units hold no residential building" in n for n in notes)
    assert any("1 residence clusters lie partly outside every unit" in n for n in notes)


def test_a_cluster_without_mapped_buildings_takes_its_estimated_floor_area(tmp_path):
    # The first 小区 has no mapped building: its 2,000 m2 are its plot-ratio estimate. The
    # second has one mapped building of 2,000 m2. One unit over both: 100 residents, half each.
    clusters = _clusters(
        [_box(0, 0, 100, 100), _box(200, 0, 300, 100)], population=99.0, floor=[2000, 2000]
    )
    buildings = _buildings([(_box(210, 10, 240, 40), 2000.0, 1)])
    table = _csv(
        tmp_path / "units.csv",
        ["name", "population", "wkt"],
        [["一", "100", _box(0, 0, 300, 100).wkt]],
    )
    out, notes = apply_population(clusters, buildings, PopulationSettings(file=table, crs=UTM), [])
    assert out["population"].tolist() == pytest.approx([50.0, 50.0])
    assert out["population_method"].tolist() == ["dasymetric", "dasymetric"] and notes == []


def test_unit_residents_in_buildings_outside_the_clusters_are_reported_not_moved(tmp_path):
    clusters = _clusters([_box(0, 0, 100, 100)], floor=[1000])
    buildings = _buildings(
        [(_box(10, 10, 30, 30), 1000.0, 0), (_box(150, 10, 170, 30), 1000.0, -1)]
    )
    unit = _box(0, 0, 200, 600)  # a third of it beside the cluster and the buildings
    table = _csv(tmp_path / "u.csv", ["name", "population", "wkt"], [["一", "200", unit.wkt]])
    out, notes = apply_population(clusters, buildings, PopulationSettings(file=table, crs=UTM), [])
    # Half the floor area is outside the cluster: the cluster takes 100, the other 100 stay out.
    assert out["population"].tolist() == pytest.approx([100.0])
    assert any(
        "100 residents of the units live in residential buildings outside" in n for n in notes
    )
    assert any("1 units lie mostly beyond the study's residential data" in n for n in notes)


def test_units_in_geojson_in_wgs84_are_moved_into_the_clusters_crs(tmp_path):
    to_lonlat = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    unit = shapely.transform(
        shapely.segmentize(_box(-10, -10, 110, 110), 1.0),
        lambda xy: np.column_stack(to_lonlat.transform(*xy.T)),
    )
    path = tmp_path / "units.geojson"
    gpd.GeoDataFrame({"名称": ["一社区"], "人口": [250]}, geometry=[unit], crs=4326).to_file(path)
    clusters = _clusters([_box(0, 0, 100, 100)])
    buildings = _buildings([(_box(10, 10, 30, 30), 800.0, 0), (_box(60, 60, 80, 80), 200.0, 0)])
    out, _ = apply_population(clusters, buildings, PopulationSettings(file=path), [])
    assert out["population"].tolist() == pytest.approx([250.0])
    assert out["population_method"].tolist() == ["dasymetric"]


# --- tables: 小区 by name -----------------------------------------------------------------


def _named_clusters():
    return _clusters(
        [
            _box(0, 0, 100, 100),
            _box(200, 0, 300, 100),
            _box(400, 0, 500, 100),
            _box(0, 200, 50, 250),
        ],
        names=["阳光小区", "幸福里", "翠苑（一期）", "无名"],
        population=50.0,
    )


def test_residence_rows_go_to_the_cluster_of_their_name_and_the_rest_are_rejected(tmp_path):
    table = _csv(
        tmp_path / "小区人口.csv",
        ["小区名称", "常住人口", "60岁以上人口"],
        [
            ["阳光小区", "1200", "300"],
            ["幸福里（一期）", "300", ""],  # two phases of the one 幸福里: both go to it
            ["幸福里（二期）", "500", "50"],
            ["翠苑", "500", "100"],  # 翠苑（一期） without its bracket
            ["不存在花园", "50", "5"],
            ["阳光小区", "1200", "300"],  # the same again
            ["坏数", "abc", ""],
        ],
        encoding="gbk",
    )
    rejected: list[dict] = []
    out, notes = apply_population(_named_clusters(), None, PopulationSettings(file=table), rejected)
    assert out["population"].tolist() == pytest.approx([1200.0, 800.0, 500.0, 50.0])
    assert out["population_method"].tolist() == ["table", "table", "table", "buildings"]
    eld = out["population_60plus"].tolist()
    assert eld[0] == 300 and np.isnan(eld[1]) and eld[2] == 100 and np.isnan(eld[3])
    by_name = {r["name"]: (r["reason"], r["kind"], r["row"]) for r in rejected}
    assert by_name == {
        "不存在花园": ("no_match", "population", 6),
        "阳光小区": ("duplicate", "population", 7),
        "坏数": ("bad_value", "population", 8),
    }
    [note] = notes
    assert "3 of 7 rows give no residence cluster residents" in note and "不存在花园" in note


def test_a_table_whose_names_match_nothing_is_one_error_naming_both_sides(tmp_path):
    table = _csv(tmp_path / "pop.csv", ["名称", "人口"], [["甲小区", "10"], ["乙小区", "20"]])
    rejected: list[dict] = []
    with pytest.raises(InputError) as err:
        apply_population(_named_clusters(), None, PopulationSettings(file=table), rejected)
    msg = str(err.value)
    assert "pop.csv" in msg and "none of its 2 rows" in msg and "no_match 2" in msg
    assert "甲小区" in msg and "阳光小区" in msg and "\n" not in msg


def test_level_unit_refuses_rows_without_polygons(tmp_path):
    table = _csv(tmp_path / "pop.csv", ["名称", "人口"], [["阳光小区", "10"]])
    settings = PopulationSettings(file=table, level="unit")
    with pytest.raises(InputError, match="none of its 1 rows"):
        apply_population(_named_clusters(), None, settings, [])


def test_table_without_a_population_column_is_one_error(tmp_path):
    table = _csv(tmp_path / "pop.csv", ["名称", "户数"], [["阳光小区", "10"]])
    with pytest.raises(InputError, match="no population column"):
        apply_population(_named_clusters(), None, PopulationSettings(file=table), [])


def test_no_file_adds_an_empty_60plus_column_and_changes_nothing():
    clusters = _named_clusters()
    out, notes = apply_population(clusters, None, PopulationSettings(), [])
    assert notes == [] and out["population_60plus"].isna().all()
    assert out["population"].tolist() == clusters["population"].tolist()


# --- the command line ---------------------------------------------------------------------


def test_population_options_set_the_study(tmp_path):
    table = tmp_path / "pop.csv"
    study = study_for_run(population=table, population_crs="gcj02")
    assert study.population.file == table.resolve() and study.population.crs == "gcj02"
    with pytest.raises(ConfigError, match="--population-crs applies to --population FILE"):
        study_for_run(population_crs="gcj02")


def test_a_study_file_names_the_population_file_relative_to_itself(tmp_path):
    from circles.config import load_study

    config = tmp_path / "study.yaml"
    config.write_text("population:\n  file: data/人口.csv\n  level: unit\n", encoding="utf-8")
    study = load_study(config)
    assert study.population.file == (tmp_path / "data" / "人口.csv").resolve()
    assert study.population.level == "unit" and study.population.crs == "wgs84"
    config.write_text("population:\n  level: street\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="population.level"):
        load_study(config)
