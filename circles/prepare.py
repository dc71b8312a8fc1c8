"""The first stage of every entry point: a study's network and services, snapped.

``prepare`` reads the OSM data (or takes it from the cache), builds the walking network,
finds the services and attaches them to the network. ``add_poi_tables`` then lays the
study's own POI tables over the services. Runs, plans and a server all start here.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# Only light modules at the top: the engine (numba) and geopandas load while a cold run's
# OSM file is read in a worker process (see read_while_warming).
from circles._errors import InputError
from circles.config import Study
from circles.network import WalkNetwork, build_network
from circles.progress import Steps
from circles.services import Category
from circles.snap import Attachment, EdgeIndex

if TYPE_CHECKING:
    import geopandas as gpd

    from circles.scope import Scope
    from circles.sources.extract import OsmExtract
    from circles.sources.tables import StudyArea

__all__ = [
    "Prepared",
    "TableLog",
    "add_poi_tables",
    "cache_key",
    "load_extract",
    "prepare",
    "reject_far_rows",
    "remove_services",
    "study_area",
]

ServiceArrays = dict[str, np.ndarray]
"""Services as parallel arrays: category, name, osm_type, osm_id, x, y (network CRS), and
source, source_row once tables are merged."""


@dataclass
class Prepared:
    """A study's parsed inputs: the network, the services and where they join it.

    Attributes
    ----------
    network : WalkNetwork
        The walking network in its UTM zone.
    services : dict of str to numpy.ndarray
        The services as parallel arrays (see :data:`ServiceArrays`).
    service_attachment : Attachment
        Where each service joins the network; ``used`` is False beyond the snap limit.
    source : str
        Where the data came from (a file name, a place, a bbox).
    features : geopandas.GeoDataFrame or None
        The OSM features (network CRS) that residences are formed from; None when the
        inputs came from the cache or were read without them.
    from_cache : bool
        Whether the network and services came from the cache.
    """

    network: WalkNetwork
    services: ServiceArrays
    service_attachment: Attachment
    source: str
    features: gpd.GeoDataFrame | None
    from_cache: bool
    _index: EdgeIndex | None = field(default=None, repr=False)

    def edge_index(self) -> EdgeIndex:
        """The KD-tree over the network's edges, built on first use.

        Returns
        -------
        EdgeIndex
            Attaches any further points (clusters, table rows, grid origins).
        """
        if self._index is None:
            self._index = EdgeIndex(self.network)
        return self._index

    def services_frame(self) -> gpd.GeoDataFrame:
        """The services as a table, with where they joined the network.

        Returns
        -------
        geopandas.GeoDataFrame
            service_id, category, name, osm_type, osm_id, source and source_row (when
            tables were merged), area_m2 (of an outline; empty for points and table
            rows), snap_m, used; points in the network's CRS.
        """
        import geopandas as gpd

        services, attachment = self.services, self.service_attachment
        tables: ServiceArrays = {
            k: services[k] for k in ("source", "source_row", "area_m2") if k in services
        }
        return gpd.GeoDataFrame(
            {
                "service_id": np.arange(len(services["x"])),
                "category": services["category"].astype(object),
                "name": services["name"].astype(object),
                "osm_type": services["osm_type"].astype(object),
                "osm_id": services["osm_id"],
                **{k: v.astype(object) if v.dtype.kind == "U" else v for k, v in tables.items()},
                "snap_m": np.round(attachment.snap_m, 2),
                "used": attachment.used,
            },
            geometry=gpd.points_from_xy(services["x"], services["y"]),
            crs=self.network.crs,
        )

    def attach(self, x: np.ndarray, y: np.ndarray, max_distance_m: float) -> Attachment:
        """Attach points (network CRS) to their nearest edges.

        Parameters
        ----------
        x, y : numpy.ndarray
            Coordinates in the network's CRS.
        max_distance_m : float
            Points farther from a street are marked unused.

        Returns
        -------
        Attachment
            One row per point.
        """
        return self.edge_index().attach(x, y, max_distance_m)


def cache_key(study: Study, categories: dict[str, Category], halo_m: float) -> str | None:
    """The cache key of a study's prepared inputs.

    Parameters
    ----------
    study : Study
        Its OSM file, boundary and snapping distance are part of the key.
    categories : dict of str to Category
        Their tag rules are part of the key.
    halo_m : float
        How far around the boundary data is read (the largest threshold).

    Returns
    -------
    str or None
        None for online sources, which are not cached, and for missing files (which the
        reader then reports).
    """
    from circles import cache
    from circles.settings import WALKABLE_HIGHWAYS

    if study.source.osm is None or not study.source.osm.is_file():
        return None
    if study.boundary is not None and not study.boundary.is_file():
        return None
    parts: dict[str, Any] = {
        "osm": cache.file_digest(study.source.osm),
        "walk": sorted(WALKABLE_HIGHWAYS),
        "categories": {
            k: [c.zh, c.en, list(map(repr, c.rules)), c.min_area_m2] for k, c in categories.items()
        },
        "snap_max_m": study.snap.max_distance_m,
    }
    if study.boundary is not None:
        parts["boundary"] = cache.file_digest(study.boundary)
        parts["halo_m"] = halo_m
    return cache.make_key(parts)


def prepare(
    study: Study,
    scope: Scope,
    steps: Steps,
    *,
    extract: OsmExtract | None = None,
    cache_dir: Path | None = None,
) -> Prepared:
    """Read (or take from the cache) a study's network and services, snapped.

    Parameters
    ----------
    study : Study
        The study: its source, boundary and snapping distance.
    scope : Scope
        The categories to find, the largest threshold (the halo around a boundary), and
        whether residences will be formed: then the OSM features are needed and a cache
        hit (which holds none) cannot serve.
    steps : Steps
        Times and announces the steps (``load``, ``network``, ``services``, ``snap``).
    extract : OsmExtract, optional
        Data already read (a test, a notebook); then the cache is not used.
    cache_dir : pathlib.Path, optional
        The cache folder; None reads and writes no cache.

    Returns
    -------
    Prepared
        The network, the OSM services and their attachment.
    """
    from circles import cache

    categories, need_features = scope.categories, scope.clusters
    halo_m = max(scope.distances)
    key = cache_key(study, categories, halo_m) if cache_dir and extract is None else None
    if key and cache_dir and not need_features:
        with steps("load", "读取缓存 Reading the cache"):
            hit = cache.load_prepared(cache_dir, key)
        if hit is not None:
            return hit

    from circles.services import feature_keys, find_services
    from circles.sources.boundary import grow, read_boundary
    from circles.sources.extract import clip_extract

    with steps("load", "读取 OSM 数据 Reading OSM data"):
        if extract is None:
            # Without residences only the categories' tag keys matter: most areas
            # (buildings, land use) need not be assembled.
            keys = None if need_features else feature_keys(categories)
            extract = read_while_warming(study, keys, isochrones=need_features)
        if study.boundary is not None:
            # Services just outside the boundary still serve residents near its edge.
            extract = clip_extract(extract, grow(read_boundary(study.boundary), halo_m))
    with steps("network", "构建步行网络 Building the walking network"):
        network = build_network(extract)
        features = extract.features.to_crs(network.crs)
    with steps("services", "识别服务设施 Finding services"):
        found = find_services(features, categories)
        services = {
            "category": found["category"].to_numpy(str),
            "name": found["name"].fillna("").to_numpy(str),
            "osm_type": found["osm_type"].to_numpy(str),
            "osm_id": found["osm_id"].to_numpy(np.int64),
            "x": found.geometry.x.to_numpy(np.float64),
            "y": found.geometry.y.to_numpy(np.float64),
            # A park's area decides how far it serves (Category.radius_by_area).
            "area_m2": found["area_m2"].to_numpy(np.float64),
        }
    with steps("snap", "吸附到路网 Snapping to the network"):
        index = EdgeIndex(network)
        attachment = index.attach(services["x"], services["y"], study.snap.max_distance_m)
    prepared = Prepared(network, services, attachment, extract.source, features, False, index)
    if key and cache_dir:
        cache.store_prepared(cache_dir, key, prepared)
    return prepared


def load_extract(study: Study, keys: Sequence[str] | None = None) -> OsmExtract:
    """Read a study's OSM data, from a file or online.

    Parameters
    ----------
    study : Study
        Its ``source`` says where from; a boundary without a source is downloaded with a
        halo as wide as the largest threshold.
    keys : sequence of str, optional
        From a file, read only the features with one of these tag keys (default: every
        feature services and residences need).

    Returns
    -------
    OsmExtract
        Walkable ways and candidate features, in WGS-84.

    Raises
    ------
    InputError
        The study names no source.
    """
    src = study.source
    if src.osm is not None:
        from circles.sources.osm_file import read_osm_file

        return read_osm_file(src.osm, keys)
    from circles.sources import overpass
    from circles.sources.boundary import grow, read_boundary

    if src.place is not None:
        return overpass.from_place(src.place)
    if src.bbox is not None:
        return overpass.from_bbox(src.bbox)
    if src.polygon is not None:
        return overpass.from_polygon(read_boundary(src.polygon))
    if study.boundary is not None:
        return overpass.from_polygon(grow(read_boundary(study.boundary), max(study.distances_m)))
    raise InputError(
        "no data source: give --osm FILE, --place NAME, --bbox W,S,E,N or a config with source"
    )


def read_while_warming(study: Study, keys: Sequence[str] | None, isochrones: bool) -> OsmExtract:
    """Read a study's data while the engine and the later steps' libraries load.

    The first time in a process, a local file is read in a worker process meanwhile: on
    two cores the parse and the loading (about a second each on Malta) overlap.

    Parameters
    ----------
    study : Study
        The study to read.
    keys : sequence of str, optional
        As for :func:`load_extract`.
    isochrones : bool
        Also load the kernel that draws isochrones.

    Returns
    -------
    OsmExtract
        As :func:`load_extract` returns it.
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


def study_area(study: Study, network: WalkNetwork, halo: bool) -> StudyArea:
    """Where the rows of a study's own tables may lie.

    Parameters
    ----------
    study : Study
        Its boundary, thresholds and snapping distance.
    network : WalkNetwork
        Without a boundary, its streets' hull grown by the snapping distance.
    halo : bool
        Grow the boundary by the largest threshold (services), or not (residences).

    Returns
    -------
    circles.sources.tables.StudyArea
        A polygon in the network's CRS.
    """
    import shapely

    from circles.sources.boundary import grow, read_boundary, reproject
    from circles.sources.tables import StudyArea

    if study.boundary is not None:
        b = read_boundary(study.boundary)
        grown = grow(b, max(study.distances_m)) if halo else b
        polygon = reproject(grown, "EPSG:4326", network.crs)
    else:
        hull = shapely.convex_hull(shapely.multipoints(np.column_stack([network.x, network.y])))
        polygon = hull.buffer(study.snap.max_distance_m)
    return StudyArea(polygon, network.crs)


@dataclass
class TableLog:
    """What became of the rows of a study's own tables (``pois``, ``residences.file``).

    Attributes
    ----------
    pois_mode : str
        ``merge`` or ``replace``.
    pois : list of dict
        One summary per POI table: rows read, used, rejected by reason, services added.
    residences : dict or None
        The summary of the 小区 table, when there is one.
    rejected : list of dict
        Every row not used, with its reason (``rejected_rows.csv``).
    removed : dict or None
        What ``remove_pois`` closed (:func:`remove_services`), when the study has it.
    """

    pois_mode: str
    pois: list[dict[str, Any]] = field(default_factory=list)
    residences: dict[str, Any] | None = None
    rejected: list[dict[str, Any]] = field(default_factory=list)
    removed: dict[str, Any] | None = None

    @classmethod
    def of(cls, study: Study) -> TableLog | None:
        """An empty log for a study's tables.

        Parameters
        ----------
        study : Study
            Its ``pois``, ``residences.file``, ``remove_pois``, gate, population and unit
            files and its self-assessment form.

        Returns
        -------
        TableLog or None
            None when the study reads no table of its own.
        """
        own = (
            study.residences.file,
            study.remove_pois,
            study.gates.file,
            study.population.file,
            study.units.file,
            study.units.osm_admin_level,  # its relations may be rejected too
            study.self_assessment,
        )
        if study.pois or any(f is not None for f in own):
            return cls(study.pois_mode)
        return None


def reject_far_rows(
    table: Any,
    kind: str,
    rows: np.ndarray,
    names: Sequence[str] | np.ndarray,
    snap_m: np.ndarray,
    limit_m: float,
) -> None:
    """Reject the rows of a table whose points lie too far from a walkable street.

    Parameters
    ----------
    table : Any
        A table read by :mod:`circles.sources.tables`; its ``rejected`` list grows.
    kind : str
        ``pois`` or ``residences``.
    rows : numpy.ndarray of int
        The rows to reject.
    names : sequence of str
        Their names, as shown in ``rejected_rows.csv``.
    snap_m : numpy.ndarray
        Their distances to the nearest street.
    limit_m : float
        The snapping limit they exceed.
    """
    from circles.sources.tables import rejection

    for row, name, d in zip(rows, names, snap_m, strict=True):
        detail = f"{d:.0f} m from the nearest walkable street (at most {limit_m:g} m)"
        table.rejected.append(
            rejection(table.raw, table.cols, kind, int(row), "far_from_street", detail, name)
        )


def add_poi_tables(
    prepared: Prepared, study: Study, categories: dict[str, Category], log: TableLog
) -> None:
    """Lay the study's POI tables over the services: added to OSM's, or instead of them.

    Parameters
    ----------
    prepared : Prepared
        Its ``services`` and ``service_attachment`` are replaced.
    study : Study
        Its ``pois`` tables and ``pois_mode`` (``merge``: OSM plus the tables, duplicates
        once; ``replace``: the tables only).
    categories : dict of str to Category
        The categories rows are classified into.
    log : TableLog
        Receives each table's summary and its rejected rows.
    """
    from circles.sources import tables

    area = study_area(study, prepared.network, halo=True)
    found = [
        tables.read_pois(spec, f"pois[{i}]", area, categories) for i, spec in enumerate(study.pois)
    ]
    merge = study.pois_mode == "merge"
    osm = prepared.services
    merged = tables.merge_pois(osm if merge else {}, found)
    attachment = prepared.attach(merged.x, merged.y, study.snap.max_distance_m)
    n = len(merged.x)
    added = {
        "category": merged.category.astype(str),
        "name": merged.name.astype(str),
        "osm_type": np.full(n, "", dtype=str),
        "osm_id": np.zeros(n, dtype=np.int64),
        "x": merged.x,
        "y": merged.y,
        "source": merged.source.astype(str),
        "source_row": merged.row,
        "area_m2": np.full(n, np.nan),  # a table row has no outline
    }
    if merge:
        n_osm = len(osm["x"])
        osm = {**osm, "source": np.full(n_osm, "osm"), "source_row": np.full(n_osm, -1)}
        prepared.services = {k: np.concatenate([osm[k], added[k]]) for k in added}
        prepared.service_attachment = prepared.service_attachment.concat(attachment)
    else:
        prepared.services, prepared.service_attachment = added, attachment
    for k, table in enumerate(found):
        mine = merged.table == k
        used_rows = set(merged.idx[mine & attachment.used].tolist())
        # A row merged into several services is rejected only when none of them is used.
        far = ~attachment.used & mine & ~np.isin(merged.idx, list(used_rows))
        first = np.unique(merged.idx[far], return_index=True)[1]
        far_points = np.flatnonzero(far)[first]
        table.raw.keep_records(merged.idx[far_points])  # their records at once, not per row
        reject_far_rows(
            table,
            "pois",
            merged.idx[far_points],
            merged.name[far_points],
            attachment.snap_m[far_points],
            study.snap.max_distance_m,
        )
        log.rejected.extend(table.rejected)
        log.pois.append(
            tables.table_summary(
                table,
                len(used_rows),
                # One row is one place: at most one service, which may count in several
                # categories the catalogue nests (a 养老院 is elder care and a nursing
                # home), each an entry.
                services_added=len(used_rows),
                category_entries=int((mine & attachment.used).sum()),
                duplicates_merged=merged.duplicates[k],
            )
        )


# ---------------------------------------------------------------------------------------
# Closing services (a scenario's ``remove_pois``)
# ---------------------------------------------------------------------------------------

_REMOVAL_REASONS = {
    "bad_reference": "无法识别 not a service reference",
    "not_found": "未找到该设施 no such service",
    "duplicate": "重复 duplicate",
}
_OSM_REF = re.compile(r"(?:^|/)(node|way|relation)/(\d+)/?$", re.I)
_SHORT_REF = re.compile(r"^([nwr])(\d+)$", re.I)
_ROW_REF = re.compile(r"^(.+):(\d+)$")
_SHORT_TYPES = {"n": "node", "w": "way", "r": "relation"}


def _removal_entries(path: Path) -> list[tuple[int, str]]:
    """The entries of a removal file: (row as a spreadsheet shows it, reference text).

    One reference per line (``#`` starts a comment; a first line ``ref`` is a header), or
    a CSV with ``osm_type`` and ``osm_id`` columns.
    """
    import csv
    import io

    if not path.is_file():
        raise InputError(f"remove_pois: file not found: {path}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030", errors="replace")
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text))]
    header = [c.lower() for c in rows[0]] if rows else []
    if "osm_type" in header and "osm_id" in header:
        t, i = header.index("osm_type"), header.index("osm_id")
        return [
            (n, f"{r[t]}/{r[i]}" if len(r) > max(t, i) else ",".join(r))
            for n, r in enumerate(rows[1:], start=2)
            if any(r)
        ]
    start = 1
    if header and header[0] in ("ref", "id", "osm", "service"):
        rows, start = rows[1:], 2
    return [(n, r[0]) for n, r in enumerate(rows, start) if r and r[0] and not r[0].startswith("#")]


def _service_key(text: str, tables: dict[str, str]) -> tuple[str, str, int] | None:
    """``("osm", type, id)`` or ``(table file name, "", row)``; None when not a reference."""
    if m := _OSM_REF.search(text) or _SHORT_REF.match(text):
        kind = m.group(1).lower()
        return "osm", _SHORT_TYPES.get(kind, kind), int(m.group(2))
    if m := _ROW_REF.match(text):
        table = tables.get(m.group(1).replace(" ", ""), m.group(1))
        return table, "", int(m.group(2))
    return None


def _removal_rejection(path: Path, row: int, text: str, reason: str, detail: str) -> dict:
    return {
        "file": path.name,
        "kind": "remove_pois",
        "row": row,
        "reason": reason,
        "reason_label": _REMOVAL_REASONS[reason],
        "detail": detail,
        "name": text,
        "x": "",
        "y": "",
        "record": text,
    }


def remove_services(prepared: Prepared, study: Study, log: TableLog) -> None:
    """Close the services a scenario's ``remove_pois`` file lists: they and their attachments go.

    Runs after :func:`add_poi_tables` (rows of the study's tables can be closed too) and
    after the cache, which holds OSM services only: a changed file is never served stale.
    An OSM id closes every service of that feature (a feature may serve two categories);
    a table row closes what that row added. Entries that are not references, name no
    service, or repeat one are rejected rows with their reason, never ignored.

    Parameters
    ----------
    prepared : Prepared
        Its ``services`` and ``service_attachment`` are replaced.
    study : Study
        Its ``remove_pois`` file and ``pois`` tables (``pois[0]:17`` is row 17 of the
        first table's file, as ``rejected_rows.csv`` counts rows; ``file.csv:17`` too).
    log : TableLog
        Receives ``removed`` (file, entries, services closed) and the rejected entries.

    Raises
    ------
    InputError
        The file is missing or lists nothing.
    """
    path = study.remove_pois
    if path is None:
        return
    entries = _removal_entries(path)
    if not entries:
        raise InputError(
            f"remove_pois {path}: lists no service; give one per line (node/123, way/45, "
            "pois[0]:17) or osm_type and osm_id columns"
        )
    services = prepared.services
    n = len(services["x"])
    source = services.get("source", np.full(n, "osm"))
    source_row = services.get("source_row", np.full(n, -1))
    tables = {f"pois[{i}]": t.file.name for i, t in enumerate(study.pois)}
    drop = np.zeros(n, dtype=bool)
    removed: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for row, text in entries:
        key = _service_key(text, tables)
        if key is None:
            detail = "give node/123, way/45, relation/7 or a table row such as pois[0]:17"
            rejected.append(_removal_rejection(path, row, text, "bad_reference", detail))
            continue
        if key[0] == "osm":
            hit = (source == "osm") & (services["osm_type"] == key[1])
            hit &= services["osm_id"] == key[2]
        else:
            hit = (source == key[0]) & (source_row == key[2])
        if not hit.any():
            where = "among the OSM services" if key[0] == "osm" else f"added from {key[0]}"
            detail = f"no service {text} {where} of this run"
            rejected.append(_removal_rejection(path, row, text, "not_found", detail))
        elif not (hit & ~drop).any():
            detail = f"{text} is listed twice; closed once"
            rejected.append(_removal_rejection(path, row, text, "duplicate", detail))
        for i in np.flatnonzero(hit & ~drop):
            removed.append(
                {
                    "entry": text,
                    "row": row,
                    "category": str(services["category"][i]),
                    "name": str(services["name"][i]),
                    "source": str(source[i]),
                }
            )
        drop |= hit
    prepared.services = {k: v[~drop] for k, v in services.items()}
    prepared.service_attachment = prepared.service_attachment.subset(~drop)
    log.rejected.extend(rejected)
    log.removed = {
        "file": path.name,
        "path": str(path),
        "entries": len(entries),
        "entries_rejected": len(rejected),
        "services_removed": len(removed),
        "removed": removed,
    }
