"""The run, step by step: sources -> network, services, residences -> snap -> engine ->
isochrones -> summary. No algorithm lives here; each step calls its module."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from circles import engine
from circles._errors import InputError
from circles.config import Study
from circles.isochrones import isochrone_polygons, isochrones_frame
from circles.network import WalkNetwork, build_network, utm_crs
from circles.residences import build_residences
from circles.result import StudyResult, Threshold
from circles.services import Category, find_services, load_categories
from circles.snap import EdgeIndex
from circles.sources.extract import OsmExtract, clip_extract

# GB 50180-2018 names its circles by minutes; keep those names for its distances.
_GB_LABELS = {300.0: 5, 500.0: 10, 800.0: 15, 1000.0: 15}

StepHook = Callable[[str], contextlib.AbstractContextManager]


@contextlib.contextmanager
def _quiet_step(label: str) -> Iterator[None]:
    yield


def thresholds_of(study: Study) -> list[Threshold]:
    """Bilingual labels for the study's thresholds."""
    out = []
    minutes = study.thresholds.minutes
    for i, d in enumerate(study.distances_m):
        m = sorted(minutes)[i] if minutes is not None else _GB_LABELS.get(d)
        if m is None:
            out.append(Threshold(d, f"{d:g}米", f"{d:g} m"))
        else:
            out.append(Threshold(d, f"{m:g}分钟 ({d:g}米)", f"{m:g} min ({d:g} m)"))
    return out


def read_boundary(path: Path) -> shapely.Geometry:
    """The union of the polygons in a boundary file, in WGS-84."""
    if not path.is_file():
        raise InputError(f"boundary file not found: {path} (give a GeoJSON polygon)")
    try:
        frame = gpd.read_file(path)
    except Exception as e:  # pyogrio raises several kinds; all mean the same to a user
        raise InputError(f"{path}: cannot read boundary ({e}); give a GeoJSON polygon") from None
    if frame.crs is not None:
        frame = frame.to_crs("EPSG:4326")
    geom = shapely.union_all(frame.geometry.to_numpy())
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InputError(f"{path}: boundary must contain a Polygon or MultiPolygon")
    return geom


def _reproject(geom: shapely.Geometry, src, dst) -> shapely.Geometry:
    return gpd.GeoSeries([geom], crs=src).to_crs(dst).iloc[0]


def _halo(boundary: shapely.Geometry, metres: float) -> shapely.Geometry:
    """The boundary grown by ``metres`` (done in its UTM zone)."""
    c = boundary.centroid
    crs = utm_crs(c.x, c.y)
    return _reproject(_reproject(boundary, "EPSG:4326", crs).buffer(metres), crs, "EPSG:4326")


def load_extract(study: Study) -> OsmExtract:
    """Read the study's OSM data, from a file or online."""
    src = study.source
    if src.osm is not None:
        from circles.sources.osm_file import read_osm_file

        return read_osm_file(src.osm)
    from circles.sources import overpass

    if src.place is not None:
        return overpass.from_place(src.place)
    if src.bbox is not None:
        return overpass.from_bbox(src.bbox)
    if src.polygon is not None:
        return overpass.from_polygon(read_boundary(src.polygon))
    if study.boundary is not None:
        return overpass.from_polygon(_halo(read_boundary(study.boundary), max(study.distances_m)))
    raise InputError(
        "no data source: give --osm FILE, --place NAME, --bbox W,S,E,N or a config with source"
    )


def run(
    study: Study,
    step: StepHook | None = None,
    extract: OsmExtract | None = None,
) -> StudyResult:
    """Run a study end to end and return its tables (nothing is written to disk)."""
    step = step or _quiet_step
    timings: dict[str, float] = {}
    warnings: list[str] = []

    @contextlib.contextmanager
    def timed(key: str, label: str) -> Iterator[None]:
        t0 = time.perf_counter()
        with step(label):
            yield
        timings[key] = round(time.perf_counter() - t0, 3)

    thresholds = thresholds_of(study)
    dists = [t.distance_m for t in thresholds]
    boundary = read_boundary(study.boundary) if study.boundary is not None else None

    with timed("load", "读取 OSM 数据 Reading OSM data"):
        if extract is None:
            extract = load_extract(study)
        if boundary is not None:
            # Services just outside the boundary still serve residents near its edge.
            extract = clip_extract(extract, _halo(boundary, max(dists)))

    with timed("network", "构建步行网络 Building the walking network"):
        network = build_network(extract)
        if network.stats["share_nodes_dropped"] > 0.2:
            warnings.append(
                f"{network.stats['share_nodes_dropped']:.0%} of walking nodes lie outside the "
                "largest connected network and were dropped; check for missing footways"
            )
        features = extract.features.to_crs(network.crs)

    categories = _pick_categories(study)
    with timed("services", "识别服务设施 Finding services"):
        services = find_services(features, categories)

    with timed("residences", "生成居住单元 Forming residence clusters"):
        clusters, notes = build_residences(
            features, network, study.residences, study.snap.max_distance_m
        )
        warnings.extend(notes)
        if boundary is not None:
            b = _reproject(boundary, "EPSG:4326", network.crs)
            inside = shapely.contains(b, clusters.geometry.representative_point().to_numpy())
            clusters = clusters[inside].reset_index(drop=True)

    with timed("snap", "吸附到路网 Snapping to the network"):
        index = EdgeIndex(network)
        s_att = index.attach(
            services.geometry.x.to_numpy(),
            services.geometry.y.to_numpy(),
            study.snap.max_distance_m,
        )
        origin_pts = clusters.geometry.representative_point()
        c_att = index.attach(
            origin_pts.x.to_numpy(), origin_pts.y.to_numpy(), study.snap.max_distance_m
        )
        services["snap_m"] = np.round(s_att.snap_m, 2)
        services["used"] = s_att.used
        clusters["snap_m"] = np.round(c_att.snap_m, 2)
        clusters["used"] = c_att.used

    keys = list(categories)
    with timed("reach", "计算可达性 Computing reach"):
        used_s = s_att.used
        cat_index = {k: i for i, k in enumerate(keys)}
        res = engine.reach(
            network.graph,
            engine.Points(
                c_att.edge[c_att.used], c_att.offset[c_att.used], c_att.snap_m[c_att.used]
            ),
            engine.Points(s_att.edge[used_s], s_att.offset[used_s], s_att.snap_m[used_s]),
            services["category"][used_s].map(cat_index).to_numpy(np.int64),
            len(keys),
            dists,
        )
        gaps = [k for k in keys if not ((services["category"] == k) & services["used"]).any()]
        _add_reach_columns(clusters, c_att.used, res, keys, thresholds, gaps)

    with timed("isochrones", "生成等时圈 Drawing isochrones"):
        polys = isochrone_polygons(network, c_att, dists, study.isochrones.buffer_m)
        isochrones = isochrones_frame(clusters["cluster_id"].tolist(), polys, dists, network.crs)

    for k in gaps:
        warnings.append(
            f"data gap: no {categories[k].en} ({categories[k].zh}) found in the data; "
            "its coverage is unknown, not zero (bring a POI table)"
        )
    n_unsnapped_c = int((~c_att.used).sum())
    if n_unsnapped_c:
        warnings.append(
            f"{n_unsnapped_c} residence clusters are more than {study.snap.max_distance_m:g} m "
            "from the walking network and were not scored"
        )
    summary = _summary(
        study,
        extract,
        network,
        services,
        clusters,
        keys,
        thresholds,
        gaps,
        warnings,
        timings,
        n_unsnapped_c,
    )
    return StudyResult(
        study, network, categories, thresholds, clusters, services, isochrones, summary
    )


def _pick_categories(study: Study) -> dict[str, Category]:
    catalogue = load_categories()
    keys = study.categories or list(catalogue)
    return {k: catalogue[k] for k in keys}


def _add_reach_columns(clusters, used, res, keys, thresholds, gaps) -> None:
    n = len(clusters)
    with_data = [i for i, k in enumerate(keys) if k not in gaps]
    for ci, key in enumerate(keys):
        for ti, t in enumerate(thresholds):
            col = np.full(n, -1, dtype=np.int64)
            col[used] = res.counts[:, ci, ti]
            clusters[f"{key}_{t.column}"] = col
        near = np.full(n, np.nan)
        near[used] = np.round(res.nearest_m[:, ci], 1)
        clusters[f"{key}_nearest_m"] = near
    for ti, t in enumerate(thresholds):
        reached = np.zeros(n, dtype=np.int64)
        reached[used] = (res.counts[:, :, ti] > 0).sum(axis=1)
        clusters[f"reached_{t.column}"] = reached
        share = np.full(n, np.nan)
        if with_data:
            share[used] = (res.counts[:, with_data, ti] > 0).sum(axis=1) / len(with_data)
        clusters[f"share_reached_{t.column}"] = share


def _summary(
    study,
    extract,
    network: WalkNetwork,
    services,
    clusters,
    keys,
    thresholds,
    gaps,
    warnings,
    timings,
    n_unsnapped_c,
) -> dict:
    used = clusters["used"].to_numpy(bool)
    coverage: dict[str, dict[str, float | None]] = {}
    for k in keys:
        coverage[k] = {}
        for t in thresholds:
            if k in gaps or not used.any():
                coverage[k][t.column] = None
            else:
                coverage[k][t.column] = round(
                    float((clusters.loc[used, f"{k}_{t.column}"] > 0).mean()), 4
                )
    per_cat = services.groupby("category").size().to_dict() if len(services) else {}
    return {
        "study": study.name,
        "title": study.display_title,
        "source": extract.source,
        "generated": dt.date.today().isoformat(),
        "residence_method": str(clusters["method"].iloc[0]) if len(clusters) else "none",
        "thresholds_m": [t.distance_m for t in thresholds],
        "threshold_labels": {t.column: {"zh": t.zh, "en": t.en} for t in thresholds},
        "categories": keys,
        "inputs": {
            "walk_nodes": network.n_nodes,
            "walk_edges": network.n_edges,
            "walk_km": round(network.stats["length_km"], 2),
            "services": int(len(services)),
            "services_used": int(services["used"].sum()) if len(services) else 0,
            "services_per_category": {k: int(per_cat.get(k, 0)) for k in keys},
            "clusters": int(len(clusters)),
            "clusters_used": int(used.sum()),
            "population": float(clusters["population"].sum()),
        },
        "network": network.stats,
        "snap": {
            "max_distance_m": study.snap.max_distance_m,
            "services_unsnapped": int((~services["used"]).sum()) if len(services) else 0,
            "clusters_unsnapped": n_unsnapped_c,
        },
        "coverage": coverage,
        "data_gaps": gaps,
        "warnings": warnings,
        "timings_s": timings,
        "settings": study.model_dump(mode="json"),
    }
