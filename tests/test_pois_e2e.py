"""End to end: the bundled district plus a POI table made from its own OSM services,
shifted into GCJ-02 (and BD-09) with circles' forward transforms, as an AMap (Baidu)
export would hold them.

The run must put every point back within 1 m; in replace mode (the table only) it must
score exactly as the OSM-only run; in merge mode every row must be recognised as a
duplicate of its OSM original.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from circles import pipeline
from circles.config import load_study, study_from_dict
from circles.sources.coords import wgs84_to_bd09, wgs84_to_gcj02

FORWARD = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def _table(result, path, crs: str, encoding: str = "utf-8") -> pd.DataFrame:
    """The run's services as a Chinese provider's export: name, category, 'lng,lat'."""
    svc = result.services
    ll = svc.to_crs("EPSG:4326")
    lon, lat = FORWARD[crs](ll.geometry.x.to_numpy(), ll.geometry.y.to_numpy())
    frame = pd.DataFrame(
        {
            "name": svc["name"].astype(str),
            "category": svc["category"].astype(str),
            "location": [f"{float(a)!r},{float(b)!r}" for a, b in zip(lon, lat, strict=True)],
        }
    )
    frame.to_csv(path, index=False, encoding=encoding)
    return frame


def _unsized(coverage: dict, result) -> dict:
    """Coverage of the categories whose reach does not depend on a service's size."""
    return {k: v for k, v in coverage.items() if not result.categories[k].radius_by_area}


def _with_table(path, crs: str, mode: str, **extra):
    study = load_study()
    return study_from_dict(
        {
            **study.model_dump(),
            "pois": [{"file": str(path), "crs": crs}],
            "pois_mode": mode,
            **extra,
        }
    )


def _scores(result) -> pd.DataFrame:
    cols = [c for c in result.clusters.columns if c.startswith("std_")]
    assert cols, "the bundled study is scored against its standard"
    return result.clusters[["cluster_id", *cols]].reset_index(drop=True)


@pytest.mark.parametrize(("crs", "encoding"), [("gcj02", "utf-8"), ("bd09", "gbk")])
def test_replace_mode_puts_points_back_and_scores_the_same(nanjing_result, tmp_path, crs, encoding):
    path = tmp_path / f"{crs}.csv"
    _table(nanjing_result, path, crs, encoding)
    osm = nanjing_result.services
    res = pipeline.run(_with_table(path, crs, "replace"))

    t = res.summary["tables"]["pois"][0]
    assert t["rows_read"] == len(osm)
    assert t["rows_used"] + t["rows_rejected"] == t["rows_read"]
    # Only rows whose OSM original could not be snapped either may be unused.
    assert t["rows_used"] == int(osm["used"].sum())

    # Every point is back where OSM has it, within 1 m (the table's row n+2 is service n).
    svc = res.services
    assert set(svc["source"]) == {path.name}
    original = osm.geometry.to_numpy()[svc["source_row"].to_numpy() - 2]
    err = shapely.distance(svc.geometry.to_numpy(), original)
    assert err.max() < 1.0, err.max()
    offset = osm.geometry.iloc[:1].to_crs("EPSG:4326").iloc[0]
    # (and the shift it undid was hundreds of metres)
    shifted = FORWARD[crs](offset.x, offset.y)
    assert abs(shifted[0] - offset.x) + abs(shifted[1] - offset.y) > 0.003

    # The same coverage, gaps and scores as the OSM-only run; but a table's park is a point
    # of unknown size, which counts only within the smallest radius (300 m), never more.
    cov, ref = res.summary["coverage"], nanjing_result.summary["coverage"]
    assert _unsized(cov, res) == _unsized(ref, res)
    assert all(cov["park"][t] <= ref["park"][t] for t in ref["park"])
    assert res.data_gaps == nanjing_result.data_gaps
    pd.testing.assert_frame_equal(_scores(res), _scores(nanjing_result))
    assert (
        res.summary["inputs"]["services_per_category"]
        == (nanjing_result.summary["inputs"]["services_per_category"])
    )


def test_merge_mode_counts_every_row_once(nanjing_result, tmp_path):
    path = tmp_path / "amap.csv"
    _table(nanjing_result, path, "gcj02")
    res = pipeline.run(_with_table(path, "gcj02", "merge"))
    t = res.summary["tables"]["pois"][0]
    n = len(nanjing_result.services)
    assert t["rows_read"] == n
    assert t["rows_used"] == 0 and t["rows_rejected"] == n
    assert t["rejected_by_reason"] == {"duplicate": n}
    assert t["duplicates_merged"] == n and t["services_added"] == 0
    assert len(res.services) == n
    assert res.summary["coverage"] == nanjing_result.summary["coverage"]
    pd.testing.assert_frame_equal(_scores(res), _scores(nanjing_result))
    assert all(r["reason"] == "duplicate" for r in res.rejected)
    assert all(" 0 m away" in r["detail"] for r in res.rejected)


def test_a_table_fills_a_data_gap(nanjing_result, tmp_path):
    """Elder care is a data gap in the bundled district; one AMap row fills it."""
    assert "elder_care" in nanjing_result.data_gaps
    ll = nanjing_result.clusters.to_crs("EPSG:4326").geometry.representative_point()
    lon, lat = wgs84_to_gcj02(ll.x.to_numpy()[:1], ll.y.to_numpy()[:1])
    path = tmp_path / "elder.csv"
    pd.DataFrame(
        {"name": ["新街口社区老年人日间照料中心"], "type": ["生活服务;生活服务场所;生活服务场所"],
         "typecode": ["070000"], "location": [f"{float(lon[0])!r},{float(lat[0])!r}"]}
    ).to_csv(path, index=False)  # fmt: skip
    res = pipeline.run(_with_table(path, "gcj02", "merge"))
    assert "elder_care" not in res.data_gaps
    assert res.summary["coverage"]["elder_care"]["1000m"] > 0
    assert res.summary["tables"]["pois"][0]["rows_used"] == 1


def test_the_cache_never_serves_a_stale_table(nanjing_result, tmp_path):
    """Tables are merged after the cached OSM services: a changed table counts at once."""
    cache = tmp_path / "cache"
    path = tmp_path / "p.csv"
    frame = _table(nanjing_result, path, "gcj02")
    study = _with_table(path, "gcj02", "replace", reach={"origins": "nodes"})
    first = pipeline.run(study, cache_dir=cache, tables_only=True)
    again = pipeline.run(study, cache_dir=cache, tables_only=True)
    assert again.summary["from_cache"] is True
    assert (
        again.summary["tables"]["pois"][0]["rows_used"]
        == (first.summary["tables"]["pois"][0]["rows_used"])
    )
    frame[frame["category"] != "pharmacy"].to_csv(path, index=False)
    changed = pipeline.run(study, cache_dir=cache, tables_only=True)
    assert changed.summary["from_cache"] is True
    assert "pharmacy" in changed.data_gaps and "pharmacy" not in first.data_gaps
    assert changed.summary["inputs"]["services_per_category"]["pharmacy"] == 0


def test_cached_tables_only_run_with_node_origins(nanjing_result, tmp_path):
    path = tmp_path / "p.csv"
    _table(nanjing_result, path, "gcj02")
    study = _with_table(path, "gcj02", "replace", reach={"origins": "nodes"})
    cache = tmp_path / "cache"
    plain = load_study()
    plain = study_from_dict({**plain.model_dump(), "reach": {"origins": "nodes"}})
    a = pipeline.run(plain, cache_dir=cache, tables_only=True)
    b = pipeline.run(study, cache_dir=cache, tables_only=True)
    assert b.summary["from_cache"] is True
    assert _unsized(b.summary["coverage_origins"], b) == _unsized(a.summary["coverage_origins"], b)
    for k in ("pharmacy_1000m", "market_nearest_m"):
        np.testing.assert_allclose(b.reach[k], a.reach[k], atol=1.0)
