"""End-to-end runs on real extracts: the bundled district and Manhattan."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely

from circles import pipeline, prepare
from circles.config import study_from_dict

REQUIRED = ["market", "pharmacy", "elder_care", "clinic", "kindergarten", "park"]


def test_bundled_district_end_to_end(nanjing_result):
    res = nanjing_result
    s = res.summary
    # The 11 residential polygons of the extract's README, and clusters of the residential
    # buildings outside them (issue 17: auto no longer drops them).
    assert s["residence_method"] == "landuse+buildings"
    method = res.clusters["method"]
    assert (method == "landuse").sum() == 11 and (method == "buildings").sum() >= 1
    assert s["inputs"]["clusters"] == len(res.clusters)
    assert s["inputs"]["services_per_category"]["pharmacy"] == 3
    # No elder care is tagged in this extract: a data gap, reported, never a silent zero.
    assert "elder_care" in s["data_gaps"]
    assert s["coverage"]["elder_care"]["1000m"] is None
    assert any("elder" in w.lower() and "gap" in w for w in s["warnings"])
    json.dumps(s)  # the summary is JSON as it stands
    # Shares in the summary are the shares in the cluster table.
    used = res.clusters["used"]
    share = (res.clusters.loc[used, "pharmacy_1000m"] > 0).mean()
    assert s["coverage"]["pharmacy"]["1000m"] == pytest.approx(share, abs=1e-4)
    # Counts can only grow with the threshold.
    for cat in res.categories:
        a, b, c = (res.clusters[f"{cat}_{t}m"] for t in (300, 500, 1000))
        assert (a <= b).all() and (b <= c).all()
    assert len(res.isochrones) == 3 * len(res.clusters)


@pytest.mark.slow
def test_manhattan_has_every_category(shared_osm):
    study = study_from_dict(
        {
            "name": "manhattan",
            "source": {"osm": str(shared_osm / "manhattan-midtown.osm.pbf")},
            "standard": None,  # the default categories only (GB 50180 adds Chinese ones)
        }
    )
    res = pipeline.run(study)
    per_cat = res.summary["inputs"]["services_per_category"]
    for cat in REQUIRED:
        assert per_cat[cat] > 0, cat
    assert res.summary["data_gaps"] == []
    assert res.summary["inputs"]["walk_nodes"] > 10_000
    # Midtown is dense: most clusters reach a pharmacy within 1000 m.
    assert res.summary["coverage"]["pharmacy"]["1000m"] > 0.5


def test_boundary_clips_clusters_but_keeps_services_in_the_halo(tmp_path, nanjing_result):
    import geopandas as gpd

    # A boundary around two thirds of the bundled clusters' points.
    pts = nanjing_result.clusters.geometry.representative_point().to_crs("EPSG:4326")
    xmin, xmax = np.quantile(pts.x, [0.0, 0.6])
    box = shapely.box(xmin - 1e-4, pts.y.min() - 1e-4, xmax + 1e-4, pts.y.max() + 1e-4)
    path = tmp_path / "boundary.geojson"
    gpd.GeoDataFrame(geometry=[box], crs="EPSG:4326").to_file(path, driver="GeoJSON")
    study = study_from_dict(
        {
            "name": "clip",
            "source": {"osm": str(nanjing_result.study.source.osm)},
            "boundary": str(path),
        }
    )
    res = pipeline.run(study)
    inside = shapely.contains(box, pts.to_numpy()).sum()
    assert len(res.clusters) == inside < len(nanjing_result.clusters)
    # Services up to 1000 m outside the boundary are still there to be reached.
    svc = res.services.to_crs("EPSG:4326")
    assert (~shapely.contains(box, svc.geometry.to_numpy())).any()
    # And the counts of the kept clusters equal those of the unclipped run.
    # (Building clusters may share an empty name: their area breaks the tie.)
    a = res.clusters.sort_values(["name", "area_m2"]).reset_index(drop=True)
    full = nanjing_result.clusters
    kept = full[shapely.contains(box, pts.to_numpy())]
    kept = kept.sort_values(["name", "area_m2"]).reset_index(drop=True)
    for cat in ("market", "pharmacy", "park"):
        col = f"{cat}_1000m"
        if cat in res.data_gaps:  # none in the clipped area and its halo: no data, empty
            assert a[col].isna().all() and (kept[col].fillna(0) == 0).all(), cat
        else:
            pd.testing.assert_series_equal(a[col], kept[col])
    assert set(res.data_gaps) != {"market", "pharmacy", "park"}  # something was compared


def test_missing_osm_file_is_a_clear_error(tmp_path):
    from circles._errors import InputError

    study = study_from_dict({"name": "x", "source": {"osm": str(tmp_path / "none.osm.pbf")}})
    with pytest.raises(InputError, match="not found"):
        pipeline.run(study)


def test_first_run_in_a_process_reads_in_a_worker_with_the_same_result(monkeypatch):
    from circles.settings import PROJECT_DIR
    from circles.sources import osm_file

    osm = PROJECT_DIR / "data" / "nanjing-xinjiekou-2021.osm"
    study = study_from_dict(
        {
            "name": "w",
            "source": {"osm": str(osm)},
            "reach": {"origins": "nodes"},
            "categories": ["market", "pharmacy"],
        }
    )
    here = pipeline.run(study, tables_only=True)
    started = []

    def spy(path, keys=None):
        started.append(keys)
        return osm_file.PendingRead(path, keys)

    monkeypatch.setattr(osm_file, "start_reading", spy)
    monkeypatch.setattr(prepare, "_is_warm", lambda: False)  # as in a new process
    there = pipeline.run(study, tables_only=True)
    assert len(started) == 1 and "shop" in started[0]  # the categories' keys only
    assert here.reach.keys() == there.reach.keys()
    for k in here.reach:
        np.testing.assert_array_equal(here.reach[k], there.reach[k], err_msg=k)
    assert here.summary["inputs"] == there.summary["inputs"]


def test_no_worker_process_means_reading_here(monkeypatch):
    from circles.settings import PROJECT_DIR
    from circles.sources import osm_file

    def refuse(path, keys=None):
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(osm_file, "start_reading", refuse)
    monkeypatch.setattr(prepare, "_is_warm", lambda: False)
    osm = PROJECT_DIR / "data" / "nanjing-xinjiekou-2021.osm"
    study = study_from_dict(
        {"name": "w", "source": {"osm": str(osm)}, "reach": {"origins": "nodes"}}
    )
    res = pipeline.run(study, tables_only=True)
    assert res.summary["inputs"]["walk_nodes"] == 1351
