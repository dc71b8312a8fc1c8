"""The run, step by step: sources -> network, services, residences -> snap -> engine ->
isochrones -> summary. No algorithm lives here; each step calls its module."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

# Only light modules are imported here: the engine (numba), geopandas and the geometry
# steps load where they are used, so that a cold run can load them while its OSM file is
# read in a worker process, and a cached run starts fast.
from circles._errors import InputError
from circles.config import Study
from circles.network import WalkNetwork, build_network, utm_crs
from circles.result import StudyResult, Threshold
from circles.services import Category, load_categories
from circles.snap import Attachment, EdgeIndex, attach_to_nodes

if TYPE_CHECKING:
    import geopandas as gpd
    import shapely

    from circles import engine
    from circles.sources.extract import OsmExtract

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
    import geopandas as gpd
    import shapely

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
    import geopandas as gpd

    return gpd.GeoSeries([geom], crs=src).to_crs(dst).iloc[0]


def _halo(boundary: shapely.Geometry, metres: float) -> shapely.Geometry:
    """The boundary grown by ``metres`` (done in its UTM zone)."""
    c = boundary.centroid
    crs = utm_crs(c.x, c.y)
    return _reproject(_reproject(boundary, "EPSG:4326", crs).buffer(metres), crs, "EPSG:4326")


def load_extract(study: Study, keys: Sequence[str] | None = None) -> OsmExtract:
    """Read the study's OSM data, from a file or online.

    ``keys``: from a file, read only the features with one of these tag keys (default:
    every feature services and residences need).
    """
    src = study.source
    if src.osm is not None:
        from circles.sources.osm_file import read_osm_file

        return read_osm_file(src.osm, keys)
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


def _read_while_warming(study: Study, keys: Sequence[str] | None, isochrones: bool) -> OsmExtract:
    """Read the study's data and load the engine and the libraries of the later steps.

    The first time in a process, a local file is read in a worker process meanwhile: on
    two cores the parse and the loading (about a second each on Malta) overlap.
    """
    from circles.sources.osm_file import PendingRead, start_reading

    pending: PendingRead | None = None
    if study.source.osm is not None and not _is_warm() and sys.executable:
        with contextlib.suppress(OSError):  # no process could start (a limit): read here
            pending = start_reading(study.source.osm, keys)
    if pending is None:
        extract = load_extract(study, keys)
        _warm_up(isochrones)
        return extract
    with pending:
        _warm_up(isochrones)
        return pending.result()


def _is_warm() -> bool:
    engine = sys.modules.get("circles.engine")
    return engine is not None and engine.is_warm()


def _warm_up(isochrones: bool) -> None:
    """Import what the later steps use and load the engine's compiled kernels."""
    import geopandas  # noqa: F401 (the feature table)
    import scipy.sparse.csgraph  # noqa: F401 (the network's components)
    import scipy.spatial  # noqa: F401 (snapping)

    from circles import engine

    engine.warm_up(isochrones)


# The WalkNetwork arrays kept in a cache entry (with its CRS as WKT and its stats).
_CACHED_NETWORK_FIELDS = (
    "osm_id",
    "x",
    "y",
    "lon",
    "lat",
    "edge_u",
    "edge_v",
    "edge_len",
    "indptr",
    "indices",
    "weights",
    "csr_edge",
)


@dataclass
class Prepared:
    """The parsed inputs: network, services with their attachments, and (when parsed now)
    the OSM features residences are built from."""

    network: WalkNetwork
    services: dict[str, np.ndarray]
    s_att: Attachment
    source: str
    features: gpd.GeoDataFrame | None
    from_cache: bool
    _index: EdgeIndex | None = None

    def edge_index(self) -> EdgeIndex:
        if self._index is None:
            self._index = EdgeIndex(self.network)
        return self._index


def _cache_key(study: Study, categories: dict[str, Category], dists: list[float]) -> str | None:
    """The key of a study's prepared inputs; None for online sources (not cached)."""
    from circles import cache
    from circles.settings import WALKABLE_HIGHWAYS

    if study.source.osm is None or not study.source.osm.is_file():
        return None  # online, or a missing file that the reader reports
    if study.boundary is not None and not study.boundary.is_file():
        return None
    parts = {
        "osm": cache.file_digest(study.source.osm),
        "walk": sorted(WALKABLE_HIGHWAYS),
        "categories": {k: [c.zh, c.en, list(map(repr, c.rules))] for k, c in categories.items()},
        "snap_max_m": study.snap.max_distance_m,
    }
    if study.boundary is not None:
        # The halo around the boundary is as wide as the largest threshold.
        parts["boundary"] = cache.file_digest(study.boundary)
        parts["halo_m"] = max(dists)
    return cache.make_key(parts)


def prepare(
    study: Study,
    categories: dict[str, Category],
    dists: list[float],
    timed: Callable[[str, str], contextlib.AbstractContextManager],
    extract: OsmExtract | None = None,
    cache_dir: Path | None = None,
    need_features: bool = True,
) -> Prepared:
    """Read (or take from the cache) the network and the services, snapped."""
    from circles import cache

    key = _cache_key(study, categories, dists) if cache_dir and extract is None else None
    if key and not need_features:
        with timed("load", "读取缓存 Reading the cache"):
            hit = cache.load(cache_dir, key)
        if hit is not None:
            return _from_cache(*hit)

    from circles.services import feature_keys, find_services
    from circles.sources.extract import clip_extract

    with timed("load", "读取 OSM 数据 Reading OSM data"):
        if extract is None:
            # Without residences only the categories' tag keys matter: most areas
            # (buildings, land use) need not be assembled.
            keys = None if need_features else feature_keys(categories)
            extract = _read_while_warming(study, keys, isochrones=need_features)
        if study.boundary is not None:
            # Services just outside the boundary still serve residents near its edge.
            boundary = read_boundary(study.boundary)
            extract = clip_extract(extract, _halo(boundary, max(dists)))

    with timed("network", "构建步行网络 Building the walking network"):
        network = build_network(extract)
        features = extract.features.to_crs(network.crs)

    with timed("services", "识别服务设施 Finding services"):
        found = find_services(features, categories)
        services = {
            "category": found["category"].to_numpy(str),
            "name": found["name"].fillna("").to_numpy(str),
            "osm_type": found["osm_type"].to_numpy(str),
            "osm_id": found["osm_id"].to_numpy(np.int64),
            "x": found.geometry.x.to_numpy(np.float64),
            "y": found.geometry.y.to_numpy(np.float64),
        }
    prepared = Prepared(network, services, None, extract.source, features, False)  # type: ignore[arg-type]
    with timed("snap", "吸附到路网 Snapping to the network"):
        prepared.s_att = prepared.edge_index().attach(
            services["x"], services["y"], study.snap.max_distance_m
        )
    if key:
        cache.store(
            cache_dir, key, _to_arrays(prepared), {"source": extract.source, "stats": network.stats}
        )
    return prepared


def _to_arrays(p: Prepared) -> dict[str, np.ndarray]:
    net = p.network
    arrays = {f"net_{k}": getattr(net, k) for k in _CACHED_NETWORK_FIELDS}
    arrays["net_crs"] = np.array(net.crs.to_wkt())
    arrays.update({f"svc_{k}": v for k, v in p.services.items()})
    for k in ("edge", "offset", "snap_m", "used"):
        arrays[f"att_{k}"] = getattr(p.s_att, k)
    return arrays


def _from_cache(arrays: dict[str, np.ndarray], meta: dict) -> Prepared:
    import pyproj

    net = WalkNetwork(
        crs=pyproj.CRS.from_wkt(str(arrays["net_crs"])),
        stats=meta.get("stats", {}),
        **{k: arrays[f"net_{k}"] for k in _CACHED_NETWORK_FIELDS},
    )
    services = {k[4:]: v for k, v in arrays.items() if k.startswith("svc_")}
    att = Attachment(*(arrays[f"att_{k}"] for k in ("edge", "offset", "snap_m", "used")))
    return Prepared(net, services, att, meta.get("source", ""), None, True)


def run(
    study: Study,
    step: StepHook | None = None,
    extract: OsmExtract | None = None,
    tables_only: bool = False,
    cache_dir: Path | None = None,
) -> StudyResult:
    """Run a study end to end and return its tables (nothing is written to disk).

    With ``tables_only`` only the reach table of the study's origins is computed (no
    residences unless they are the origins, no isochrones). With ``cache_dir`` the parsed
    network and services are cached there.
    """
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
    want_clusters = study.reach.origins == "clusters" or not tables_only
    standard = _load_standard(study)  # a bad name or file fails before any work
    if not want_clusters:
        # Only clusters are scored: a tables-only surface measures just its categories.
        standard = None
    categories = _pick_categories(study, standard)
    keys = list(categories)
    prepared = prepare(study, categories, dists, timed, extract, cache_dir, want_clusters)
    from circles import engine  # after the read, not at the top: see the note on imports

    network = prepared.network
    tables_info: dict | None = None
    rejected: list[dict] | None = None
    if study.pois or study.residences.file is not None:
        tables_info, rejected = {"pois_mode": study.pois_mode, "pois": []}, []
    if study.residences.file is not None and not want_clusters:
        warnings.append(
            f"residences.file {study.residences.file.name} is not read: this run measures "
            f"from {study.reach.origins}, not from residence clusters"
        )
    if study.pois:
        # After the cache: the cached entry holds OSM services only, so a changed table
        # can never be served stale.
        with timed("pois", "读取 POI 表 Reading POI tables"):
            tables_info["pois"] = _merge_poi_tables(study, prepared, categories, dists, rejected)
    if network.stats.get("share_nodes_dropped", 0) > 0.2:
        warnings.append(
            f"{network.stats['share_nodes_dropped']:.0%} of walking nodes lie outside the "
            "largest connected network and were dropped; check for missing footways"
        )
    svc = prepared.services
    s_att = prepared.s_att
    cat_index = {k: i for i, k in enumerate(keys)}
    svc_cat = np.array([cat_index[c] for c in svc["category"]], dtype=np.int64)
    gaps = [k for k in keys if not (s_att.used & (svc["category"] == k)).any()]

    def measure(att: Attachment) -> engine.Reach:
        used = s_att.used
        decay = None
        if study.reach.decay is not None:
            d = study.reach.decay
            decay = engine.Decay(d.kind, d.beta, d.max_m or max(dists))
        return engine.reach(
            network.graph,
            engine.Points(att.edge[att.used], att.offset[att.used], att.snap_m[att.used]),
            engine.Points(s_att.edge[used], s_att.offset[used], s_att.snap_m[used]),
            svc_cat[used],
            len(keys),
            dists,
            k_nearest=study.reach.k_nearest,
            decay=decay,
        )

    clusters = services = isochrones = None
    if want_clusters:
        import shapely

        from circles.isochrones import isochrone_polygons, isochrones_frame
        from circles.residences import build_residences

        with timed("residences", "生成居住单元 Forming residence clusters"):
            res_table = None
            if study.residences.file is not None:
                res_table = _table_residences(study, prepared, dists)
                clusters, notes = res_table.clusters, res_table.notes
            else:
                clusters, notes = build_residences(
                    prepared.features, network, study.residences, study.snap.max_distance_m
                )
            warnings.extend(notes)
            if study.boundary is not None and res_table is None:  # a table's rows outside
                # the boundary were rejected already, with their reason
                b = _reproject(read_boundary(study.boundary), "EPSG:4326", network.crs)
                inside = shapely.contains(b, clusters.geometry.representative_point().to_numpy())
                clusters = clusters[inside].reset_index(drop=True)
            pts = clusters.geometry.representative_point()
            c_att = prepared.edge_index().attach(
                pts.x.to_numpy(), pts.y.to_numpy(), study.snap.max_distance_m
            )
            clusters["snap_m"] = np.round(c_att.snap_m, 2)
            clusters["used"] = c_att.used
            if res_table is not None:
                tables_info["residences"] = _residence_rows_summary(
                    res_table, c_att, study.snap.max_distance_m, rejected
                )
        with timed("reach", "计算可达性 Computing reach"):
            res = measure(c_att)
            _add_reach_columns(clusters, c_att.used, res, keys, thresholds, gaps)
        if len(clusters) == 0:
            warnings.append(
                "no residence clusters in the study area: nothing to score; check the "
                "boundary, or set residences.method: grid"
            )
        n_unsnapped_c = int((~c_att.used).sum())
        if n_unsnapped_c:
            warnings.append(
                f"{n_unsnapped_c} residence clusters are more than "
                f"{study.snap.max_distance_m:g} m from the walking network and were not scored"
            )
        services = _services_frame(svc, s_att, network.crs)

    reach_table = None
    if study.reach.origins == "clusters":
        reach_table = _cluster_reach_table(clusters, network)
    else:
        with timed("reach_origins", "计算可达性 Computing reach from every origin"):
            o_att, ids = _surface_origins(study, prepared)
            res_o = measure(o_att)
            reach_table = _origin_reach_table(ids, o_att, res_o, network, keys, thresholds, gaps)

    scores = None
    if clusters is not None and standard is not None:
        from circles import scoring

        with timed("scoring", "对照标准评分 Scoring against the standard"):
            found = {k: int((s_att.used & (svc["category"] == k)).sum()) for k in keys}
            scores = scoring.score(clusters, standard, gaps, found)
            # The std_* columns join the cluster table (so the CSV and GeoPackage hold them).
            clusters = scores.clusters = scoring.with_columns(clusters, scores.table)
            warnings.extend(scores.warnings)

    if want_clusters and not tables_only:
        with timed("isochrones", "生成等时圈 Drawing isochrones"):
            iso = study.isochrones
            polys = isochrone_polygons(
                network, c_att, dists, iso.buffer_m, iso.method, iso.concave_ratio
            )
            isochrones = isochrones_frame(
                clusters["cluster_id"].tolist(), polys, dists, network.crs, iso.method
            )

    for k in gaps:
        warnings.append(
            f"data gap: no {categories[k].en} ({categories[k].zh}) found in the data; "
            "its coverage is unknown, not zero (bring a POI table)"
        )
    summary = _summary(
        study, prepared, clusters, reach_table, keys, thresholds, gaps, warnings, timings
    )
    summary["standard"] = standard.describe() if standard is not None else None
    if tables_info is not None:
        summary["tables"] = _tables_summary(tables_info, warnings)
    if scores is not None:
        summary["scoring"] = scores.summary()
    return StudyResult(
        study,
        network,
        categories,
        thresholds,
        clusters,
        services,
        isochrones,
        summary,
        reach=reach_table,
        scores=scores,
        tables_only=tables_only,
        rejected=rejected,
    )


def _study_area(study: Study, network: WalkNetwork, dists: list[float], halo: bool):
    """Where table rows may lie: the boundary (grown by the largest threshold for services,
    ``halo``), or without one, the streets' hull grown by the snapping distance."""
    import shapely

    from circles.sources.tables import StudyArea

    if study.boundary is not None:
        b = read_boundary(study.boundary)
        polygon = _reproject(_halo(b, max(dists)) if halo else b, "EPSG:4326", network.crs)
    else:
        hull = shapely.convex_hull(shapely.multipoints(np.column_stack([network.x, network.y])))
        polygon = hull.buffer(study.snap.max_distance_m)
    return StudyArea(polygon, network.crs)


def _merge_poi_tables(
    study: Study, prepared: Prepared, categories: dict[str, Category], dists, rejected: list
) -> list[dict]:
    """Add the study's POI tables to the services (merge) or put them instead (replace)."""
    from circles.sources import tables

    area = _study_area(study, prepared.network, dists, halo=True)
    found = [
        tables.read_pois(spec, f"pois[{i}]", area, categories) for i, spec in enumerate(study.pois)
    ]
    svc = prepared.services
    n_osm = len(svc["x"])
    merge = study.pois_mode == "merge"
    merged = tables.merge_pois(svc if merge else {}, found)
    att = prepared.edge_index().attach(merged.x, merged.y, study.snap.max_distance_m)
    new = {
        "category": merged.category.astype(str),
        "name": merged.name.astype(str),
        "osm_type": np.full(len(merged.x), "", dtype=str),
        "osm_id": np.zeros(len(merged.x), dtype=np.int64),
        "x": merged.x,
        "y": merged.y,
        "source": merged.source.astype(str),
        "source_row": merged.row,
    }
    old = {**svc, "source": np.full(n_osm, "osm"), "source_row": np.full(n_osm, -1)}
    if merge:
        prepared.services = {k: np.concatenate([old[k], new[k]]) for k in new}
        s = prepared.s_att
        prepared.s_att = Attachment(
            *(
                np.concatenate([getattr(s, k), getattr(att, k)])
                for k in ("edge", "offset", "snap_m", "used")
            )
        )
    else:
        prepared.services, prepared.s_att = new, att
    out = []
    for k, t in enumerate(found):
        mine = merged.table == k
        used_rows = set(merged.idx[mine & att.used].tolist())
        far: set[int] = set()
        for j in np.flatnonzero(mine & ~att.used):
            i = int(merged.idx[j])
            if i in used_rows or i in far:
                continue
            far.add(i)
            detail = (
                f"{att.snap_m[j]:.0f} m from the nearest walkable street "
                f"(at most {study.snap.max_distance_m:g} m)"
            )
            t.rejected.append(
                tables.rejection(
                    t.raw, t.cols, "pois", i, "far_from_street", detail, merged.name[j]
                )
            )
        rejected.extend(t.rejected)
        out.append(
            tables.table_summary(
                t,
                len(used_rows),
                services_added=int((mine & att.used).sum()),
                duplicates_merged=merged.duplicates[k],
            )
        )
    return out


def _table_residences(study: Study, prepared: Prepared, dists):
    from circles.sources import tables

    area = _study_area(study, prepared.network, dists, halo=False)
    return tables.read_residences(study.residences, "residences", area, prepared.features)


def _residence_rows_summary(res, att: Attachment, max_snap: float, rejected: list) -> dict:
    from circles.sources import tables

    for j in np.flatnonzero(~att.used):
        i = int(res.idx[j])
        detail = f"{att.snap_m[j]:.0f} m from the nearest walkable street (at most {max_snap:g} m)"
        name = res.clusters["name"].iloc[j]
        res.rejected.append(
            tables.rejection(res.raw, res.cols, "residences", i, "far_from_street", detail, name)
        )
    rejected.extend(res.rejected)
    return tables.table_summary(res, int(att.used.sum()), clusters=int(len(res.clusters)))


def _tables_summary(info: dict, warnings: list[str]) -> dict:
    """Rows read, used and rejected per table and in all; a warning per table with losses."""
    every = [*info["pois"], *([info["residences"]] if "residences" in info else [])]
    for t in every:
        if t["rows_rejected"]:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(t["rejected_by_reason"].items()))
            warnings.append(
                f"{t['file']}: {t['rows_rejected']} of {t['rows_read']} rows not used "
                f"({reasons}); see rejected_rows.csv"
            )
    return {
        **info,
        "rows_read": sum(t["rows_read"] for t in every),
        "rows_used": sum(t["rows_used"] for t in every),
        "rows_rejected": sum(t["rows_rejected"] for t in every),
    }


def _services_frame(svc: dict[str, np.ndarray], att: Attachment, crs) -> gpd.GeoDataFrame:
    import geopandas as gpd

    return gpd.GeoDataFrame(
        {
            "service_id": np.arange(len(svc["x"])),
            "category": svc["category"].astype(object),
            "name": svc["name"].astype(object),
            "osm_type": svc["osm_type"].astype(object),
            "osm_id": svc["osm_id"],
            **({"source": svc["source"].astype(object)} if "source" in svc else {}),
            **({"source_row": svc["source_row"]} if "source_row" in svc else {}),
            "snap_m": np.round(att.snap_m, 2),
            "used": att.used,
        },
        geometry=gpd.points_from_xy(svc["x"], svc["y"]),
        crs=crs,
    )


def _surface_origins(study: Study, prepared: Prepared) -> tuple[Attachment, np.ndarray]:
    """Every network node, or grid points over the walkable area, as origins."""
    net = prepared.network
    if study.reach.origins == "nodes":
        return attach_to_nodes(net, np.arange(net.n_nodes)), net.osm_id
    s = study.reach.grid_spacing_m
    gx, gy = np.meshgrid(
        np.arange(net.x.min() + s / 2, net.x.max(), s),
        np.arange(net.y.min() + s / 2, net.y.max(), s),
    )
    att = prepared.edge_index().attach(gx.ravel(), gy.ravel(), study.snap.max_distance_m)
    keep = att.used
    return att.subset(keep), np.flatnonzero(keep)


def _lonlat(network: WalkNetwork, att: Attachment) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 position of each attachment's point on its street."""
    import pyproj

    t = np.divide(
        att.offset,
        network.edge_len[att.edge],
        out=np.zeros(len(att)),
        where=network.edge_len[att.edge] > 0,
    )
    u, v = network.edge_u[att.edge], network.edge_v[att.edge]
    x = network.x[u] + t * (network.x[v] - network.x[u])
    y = network.y[u] + t * (network.y[v] - network.y[u])
    to_geo = pyproj.Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    return to_geo.transform(x, y)


def reach_columns(res: engine.Reach, keys, thresholds, gaps) -> dict[str, np.ndarray]:
    """The engine's arrays as named columns: ``<cat>_<t>m``, ``<cat>_nearest_m``, ..."""
    cols: dict[str, np.ndarray] = {}
    for ci, key in enumerate(keys):
        for ti, t in enumerate(thresholds):
            cols[f"{key}_{t.column}"] = res.counts[:, ci, ti].astype(np.int64)
        cols[f"{key}_nearest_m"] = np.round(res.nearest_m[:, ci], 1)
        if res.k_nearest_m is not None:
            for j in range(1, res.k_nearest_m.shape[2]):
                cols[f"{key}_nearest{j + 1}_m"] = np.round(res.k_nearest_m[:, ci, j], 1)
        if res.decayed is not None:
            cols[f"{key}_decay"] = np.round(res.decayed[:, ci], 6)
    return cols


def _origin_reach_table(ids, att, res, network, keys, thresholds, gaps) -> dict[str, np.ndarray]:
    lon, lat = _lonlat(network, att)
    return {
        "origin_id": np.asarray(ids, dtype=np.int64),
        "lon": np.round(lon, 7),
        "lat": np.round(lat, 7),
        "snap_m": np.round(att.snap_m, 2),
        **reach_columns(res, keys, thresholds, gaps),
    }


def _cluster_reach_table(clusters: gpd.GeoDataFrame, network: WalkNetwork) -> dict:
    pts = clusters.geometry.representative_point().to_crs("EPSG:4326")
    table = {
        "origin_id": clusters["cluster_id"].to_numpy(str),
        "lon": np.round(pts.x.to_numpy(), 7),
        "lat": np.round(pts.y.to_numpy(), 7),
    }
    skip = {"geometry"}
    for col in clusters.columns:
        if col not in skip and col != "cluster_id":
            table[col] = clusters[col].to_numpy()
    return table


def _load_standard(study: Study):
    """The study's standard (None: no scoring); a bad name or file fails before any work."""
    if study.standard is None:
        return None
    from circles.standards import load_standard

    return load_standard(study.standard)


def _pick_categories(study: Study, standard=None) -> dict[str, Category]:
    """The study's categories (default: the default ones) and every one its standard needs."""
    from circles.services import load_catalogue

    catalogue = load_catalogue()
    keys = study.categories or list(load_categories())
    picked = {k: catalogue[k] for k in keys}
    if standard is not None:
        picked.update(standard.categories)  # a standard may define its own categories
    return picked


def _add_reach_columns(clusters, used, res, keys, thresholds, gaps) -> None:
    """Reach columns on the cluster table; -1 / NaN for clusters that were not snapped."""
    import warnings

    import pandas as pd

    n = len(clusters)
    with warnings.catch_warnings():
        # Columns are added in place, one per category and threshold: with a standard's
        # thirty-odd categories pandas warns about fragmentation, harmlessly here.
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        for name, values in reach_columns(res, keys, thresholds, gaps).items():
            col = np.full(n, -1, dtype=np.int64) if values.dtype.kind == "i" else np.full(n, np.nan)
            col[used] = values
            clusters[name] = col
        with_data = [i for i, k in enumerate(keys) if k not in gaps]
        for ti, t in enumerate(thresholds):
            reached = np.zeros(n, dtype=np.int64)
            reached[used] = (res.counts[:, :, ti] > 0).sum(axis=1)
            clusters[f"reached_{t.column}"] = reached
            share = np.full(n, np.nan)
            if with_data:
                share[used] = (res.counts[:, with_data, ti] > 0).sum(axis=1) / len(with_data)
            clusters[f"share_reached_{t.column}"] = share


def _coverage(table: dict, used: np.ndarray, keys, thresholds, gaps) -> dict:
    """Share of the used origins that reach each category within each threshold."""
    out: dict[str, dict[str, float | None]] = {}
    for k in keys:
        out[k] = {}
        for t in thresholds:
            if k in gaps or not used.any():
                out[k][t.column] = None
            else:
                out[k][t.column] = round(float((table[f"{k}_{t.column}"][used] > 0).mean()), 4)
    return out


def _summary(
    study, prepared: Prepared, clusters, reach_table, keys, thresholds, gaps, warnings, timings
) -> dict:
    network = prepared.network
    svc, att = prepared.services, prepared.s_att
    per_cat = {k: int((svc["category"] == k).sum()) for k in keys}
    inputs = {
        "walk_nodes": network.n_nodes,
        "walk_edges": network.n_edges,
        "walk_km": round(float(network.edge_len.sum()) / 1000.0, 2),
        "services": int(len(att)),
        "services_used": int(att.used.sum()),
        "services_per_category": per_cat,
    }
    summary = {
        "study": study.name,
        "title": study.display_title,
        "source": prepared.source,
        "from_cache": prepared.from_cache,
        "generated": dt.date.today().isoformat(),
        "origins": study.reach.origins,
        "thresholds_m": [t.distance_m for t in thresholds],
        "threshold_labels": {t.column: {"zh": t.zh, "en": t.en} for t in thresholds},
        "categories": keys,
        "inputs": inputs,
        "network": network.stats,
        "snap": {
            "max_distance_m": study.snap.max_distance_m,
            "services_unsnapped": int((~att.used).sum()),
        },
        "data_gaps": gaps,
        "warnings": warnings,
        "timings_s": timings,
        "settings": study.model_dump(mode="json"),
    }
    if clusters is not None:
        used = clusters["used"].to_numpy(bool)
        table = {c: clusters[c].to_numpy() for c in clusters.columns if c != "geometry"}
        summary["residence_method"] = str(clusters["method"].iloc[0]) if len(clusters) else "none"
        inputs.update(
            clusters=int(len(clusters)),
            clusters_used=int(used.sum()),
            population=float(clusters["population"].sum()),
        )
        summary["snap"]["clusters_unsnapped"] = int((~used).sum())
        summary["coverage"] = _coverage(table, used, keys, thresholds, gaps)
    if study.reach.origins != "clusters" and reach_table is not None:
        n = len(reach_table["origin_id"])
        inputs["origins"] = n
        summary["coverage_origins"] = _coverage(
            reach_table, np.ones(n, dtype=bool), keys, thresholds, gaps
        )
    return summary
