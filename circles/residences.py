"""Residence clusters (小区) and their population estimates.

Three ways to form clusters, tried in this order by ``method: auto``:
1. ``landuse``: each ``landuse=residential`` polygon is a cluster (a 小区 in Chinese data).
2. ``buildings``: residential buildings closer than ``building_cluster_m`` join one cluster.
3. ``grid``: a regular grid of cells over the walkable area, for data with neither.

Population = dwellings x persons per dwelling, and dwellings = residential floor area /
floor area per dwelling. Floor area is the footprint of residential buildings times their
storeys (``building:levels``, else a default); a 小区 polygon without mapped buildings uses
its area times a default plot ratio (容积率). A grid cell uses a density per hectare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from circles.config import ResidenceSettings
from circles.network import WalkNetwork
from circles.snap import Attachment

if TYPE_CHECKING:
    from circles.config import Study
    from circles.prepare import Prepared, TableLog

RESIDENTIAL_BUILDINGS = frozenset(
    {
        "residential",
        "apartments",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
        "bungalow",
        "flats",
    }
)
LOW_RISE = frozenset({"house", "detached", "semidetached_house", "terrace", "bungalow"})
COLUMNS = ["cluster_id", "name", "method", "area_m2", "floor_area_m2", "dwellings", "population"]


def _is_polygonal(geoms: gpd.GeoSeries) -> np.ndarray:
    return geoms.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()


def residential_areas(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``landuse=residential`` polygons.

    Parameters
    ----------
    features : geopandas.GeoDataFrame
        OSM features with a ``tags`` column of dicts.

    Returns
    -------
    geopandas.GeoDataFrame
        The polygonal features tagged ``landuse=residential``.
    """
    tags = features["tags"]
    mask = tags.map(lambda t: t.get("landuse") == "residential").to_numpy(bool)
    return features[mask & _is_polygonal(features.geometry)]


def residential_buildings(
    features: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, settings: ResidenceSettings
) -> gpd.GeoDataFrame:
    """Buildings tagged residential, plus untyped buildings (``building=yes``) that stand
    inside a residential area, with their floor area.

    Parameters
    ----------
    features : geopandas.GeoDataFrame
        OSM features with a ``tags`` column, in a metric CRS.
    areas : geopandas.GeoDataFrame
        Residential areas (:func:`residential_areas`).
    settings : circles.config.ResidenceSettings
        ``default_levels`` for buildings without ``building:levels``.

    Returns
    -------
    geopandas.GeoDataFrame
        The buildings, with ``levels`` and ``floor_area_m2`` (footprint x levels); a
        low-rise type (house, terrace ...) without levels counts two.
    """
    poly = features[_is_polygonal(features.geometry)]
    kind = poly["tags"].map(lambda t: t.get("building")).fillna("")
    typed = kind.isin(RESIDENTIAL_BUILDINGS).to_numpy().copy()
    untyped = (kind == "yes").to_numpy().copy()
    if len(areas) and untyped.any():
        inside = np.zeros(len(poly), dtype=bool)
        cand = np.flatnonzero(untyped)
        pts = poly.geometry.iloc[cand].representative_point()
        hit = shapely.STRtree(areas.geometry.to_numpy()).query(pts.to_numpy(), predicate="within")
        inside[cand[np.unique(hit[0])]] = True
        untyped &= inside
    else:
        untyped[:] = False
    b = poly[typed | untyped].copy()
    levels = b["tags"].map(lambda t: _levels(t.get("building:levels")))
    default = np.where(
        b["tags"].map(lambda t: t.get("building") in LOW_RISE).to_numpy(bool),
        2.0,
        settings.default_levels,
    )
    b["levels"] = np.where(levels.isna(), default, levels.to_numpy(float))
    b["floor_area_m2"] = b.geometry.area.to_numpy() * b["levels"].to_numpy()
    return b


def _levels(value: str | None) -> float:
    try:
        v = float(str(value).split(";")[0])
    except (TypeError, ValueError):
        return np.nan
    return v if 0 < v < 200 else np.nan


def _population(floor_area: np.ndarray, settings: ResidenceSettings) -> tuple[np.ndarray, ...]:
    dwellings = floor_area / settings.dwelling_m2
    return dwellings, dwellings * settings.persons_per_dwelling


def from_landuse(
    areas: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, settings: ResidenceSettings
) -> gpd.GeoDataFrame:
    """One cluster per residential polygon, with the floor area of its buildings.

    A polygon without mapped buildings uses its area times ``settings.default_far``.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Residential polygons, in a metric CRS.
    buildings : geopandas.GeoDataFrame
        Residential buildings with ``floor_area_m2``; each counts in the first polygon
        that holds its representative point.
    settings : circles.config.ResidenceSettings
        Floor area per dwelling, persons per dwelling, default plot ratio.

    Returns
    -------
    geopandas.GeoDataFrame
        Clusters R0001 ... with the columns of :data:`COLUMNS` and geometry.
    """
    geoms = areas.geometry.to_numpy()
    floor = np.zeros(len(areas))
    if len(buildings):
        pts = buildings.geometry.representative_point().to_numpy()
        b_idx, a_idx = shapely.STRtree(geoms).query(pts, predicate="within")
        # A building inside overlapping polygons counts once, in the first.
        _, first = np.unique(b_idx, return_index=True)
        np.add.at(floor, a_idx[first], buildings["floor_area_m2"].to_numpy()[b_idx[first]])
    area = shapely.area(geoms)
    floor = np.where(floor > 0, floor, area * settings.default_far)
    dwellings, population = _population(floor, settings)
    return clusters_frame(
        areas["name"].fillna("").to_numpy(),
        "landuse",
        geoms,
        floor,
        dwellings,
        population,
        areas.crs,
    )


def from_buildings(buildings: gpd.GeoDataFrame, settings: ResidenceSettings) -> gpd.GeoDataFrame:
    """Join buildings within ``building_cluster_m`` of each other; a cluster is their hull.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        Residential buildings with ``floor_area_m2``, in a metric CRS.
    settings : circles.config.ResidenceSettings
        ``building_cluster_m`` and the population settings.

    Returns
    -------
    geopandas.GeoDataFrame
        Clusters B0001 ...: the convex hull of each group, named after its first named
        building, with the columns of :data:`COLUMNS`.
    """
    geoms = buildings.geometry.to_numpy()
    n = len(geoms)
    if n == 0:
        return clusters_frame([], "buildings", [], [], [], [], buildings.crs)
    left, right = shapely.STRtree(geoms).query(
        geoms, predicate="dwithin", distance=settings.building_cluster_m
    )
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    floor_b = buildings["floor_area_m2"].to_numpy()
    names = buildings["name"].fillna("").to_numpy()
    out_geom, out_floor, out_name = [], [], []
    for lab in range(label.max() + 1):
        members = np.flatnonzero(label == lab)
        out_geom.append(shapely.convex_hull(shapely.union_all(geoms[members])))
        out_floor.append(floor_b[members].sum())
        named = [s for s in names[members] if s]
        out_name.append(named[0] if named else "")
    floor = np.asarray(out_floor)
    dwellings, population = _population(floor, settings)
    return clusters_frame(
        out_name, "buildings", out_geom, floor, dwellings, population, buildings.crs
    )


def from_grid(
    network: WalkNetwork, settings: ResidenceSettings, reach_m: float
) -> gpd.GeoDataFrame:
    """Square cells over the network's extent whose centre is within ``reach_m`` of a street.

    Parameters
    ----------
    network : WalkNetwork
        The walking network; cells cover its bounding box.
    settings : circles.config.ResidenceSettings
        ``grid_spacing_m`` and ``grid_persons_per_ha``.
    reach_m : float
        A cell is kept when its centre is this close to a street.

    Returns
    -------
    geopandas.GeoDataFrame
        Clusters G0001 ... with the columns of :data:`COLUMNS`.
    """
    from circles.snap import EdgeIndex

    s = settings.grid_spacing_m
    x0, x1 = network.x.min(), network.x.max()
    y0, y1 = network.y.min(), network.y.max()
    gx, gy = np.meshgrid(np.arange(x0 + s / 2, x1, s), np.arange(y0 + s / 2, y1, s))
    cx, cy = gx.ravel(), gy.ravel()
    keep = EdgeIndex(network).attach(cx, cy, reach_m).used
    cx, cy = cx[keep], cy[keep]
    geoms = shapely.box(cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)
    area = np.full(len(cx), s * s)
    population = area / 10_000.0 * settings.grid_persons_per_ha
    dwellings = population / settings.persons_per_dwelling
    floor = dwellings * settings.dwelling_m2
    return clusters_frame([""] * len(cx), "grid", geoms, floor, dwellings, population, network.crs)


def clusters_frame(
    names: Any,
    method: str,
    geoms: Any,
    floor: Any,
    dwellings: Any,
    population: Any,
    crs: Any,
) -> gpd.GeoDataFrame:
    """The cluster table every way of forming clusters returns.

    Parameters
    ----------
    names : sequence of str
        The clusters' names ("" when unnamed).
    method : str
        ``landuse``, ``buildings``, ``grid`` or ``table``; it sets the id's prefix (R, B,
        G, T).
    geoms : sequence of shapely.Geometry
        Their outlines (cells, hulls or 小区 polygons).
    floor, dwellings, population : sequence of float
        Residential floor area (m²), dwellings and residents per cluster.
    crs : Any
        The geometries' CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        cluster_id, name, method, area_m2, floor_area_m2, dwellings (0.1), population
        (whole) and geometry.
    """
    n = len(geoms)
    prefix = {"landuse": "R", "buildings": "B", "grid": "G"}.get(method, "T")
    return gpd.GeoDataFrame(
        {
            "cluster_id": [f"{prefix}{i + 1:04d}" for i in range(n)],
            "name": pd.Series(list(names), dtype="string"),
            "method": method,
            "area_m2": shapely.area(np.asarray(geoms, dtype=object)) if n else [],
            "floor_area_m2": np.asarray(floor, dtype=float),
            "dwellings": np.round(np.asarray(dwellings, dtype=float), 1),
            "population": np.round(np.asarray(population, dtype=float), 0),
        },
        geometry=list(geoms),
        crs=crs,
    )


def build_residences(
    features: gpd.GeoDataFrame,
    network: WalkNetwork,
    settings: ResidenceSettings,
    max_snap_m: float,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Residence clusters by the configured method; also returns notes on the choice.

    ``auto`` tries ``landuse``, then ``buildings``, then ``grid``; any method that finds
    no cluster falls back to the grid.

    Parameters
    ----------
    features : geopandas.GeoDataFrame
        OSM features with a ``tags`` column, in the network CRS.
    network : WalkNetwork
        The walking network (for the grid).
    settings : circles.config.ResidenceSettings
        ``method`` and the population settings.
    max_snap_m : float
        Grid cells farther from a street are dropped.

    Returns
    -------
    clusters : geopandas.GeoDataFrame
        One row per cluster with the columns of :data:`COLUMNS`.
    notes : list of str
        What was chosen instead of the configured method, and why.
    """
    notes: list[str] = []
    areas = residential_areas(features)
    buildings = residential_buildings(features, areas, settings)
    method = settings.method
    if method == "auto":
        if len(areas):
            method = "landuse"
        elif len(buildings):
            method = "buildings"
            notes.append("no landuse=residential polygons: clusters formed from buildings")
        else:
            method = "grid"
            notes.append("no residential polygons or buildings: clusters are grid cells")
    if method == "landuse":
        clusters = from_landuse(areas, buildings, settings)
    elif method == "buildings":
        clusters = from_buildings(buildings, settings)
    else:
        clusters = from_grid(network, settings, max_snap_m)
    if len(clusters) == 0:
        notes.append(f"method '{method}' found no residence clusters; falling back to grid")
        clusters = from_grid(network, settings, max_snap_m)
    return clusters, notes


@dataclass
class Clusters:
    """The residence clusters of a run and where they join the network.

    Attributes
    ----------
    frame : geopandas.GeoDataFrame
        One row per cluster (network CRS): cluster_id, name, method, area_m2, dwellings,
        population, snap_m, used, then the reach and score columns once measured.
    attachment : Attachment
        Where each cluster's representative point joins the network.
    notes : list of str
        Warnings about how the clusters were formed.
    """

    frame: gpd.GeoDataFrame
    attachment: Attachment
    notes: list[str] = field(default_factory=list)


def form_clusters(study: Study, prepared: Prepared, log: TableLog | None) -> Clusters:
    """Form a study's residence clusters, from its 小区 table or from the OSM features.

    Parameters
    ----------
    study : Study
        Its ``residences`` settings (a table in ``residences.file``, or a method), its
        boundary and its snapping distance.
    prepared : Prepared
        The network and the OSM features (network CRS).
    log : TableLog or None
        Receives the 小区 table's summary and rejected rows (None without tables).

    Returns
    -------
    Clusters
        The clusters inside the boundary, attached to the network.
    """
    from circles.prepare import reject_far_rows, study_area
    from circles.sources.boundary import read_boundary, reproject
    from circles.sources.tables import read_residences, table_summary

    network, max_snap = prepared.network, study.snap.max_distance_m
    table = None
    if study.residences.file is not None:
        area = study_area(study, network, halo=False)
        table = read_residences(study.residences, "residences", area, prepared.features)
        frame, notes = table.clusters, list(table.notes)
    else:
        if prepared.features is None:
            raise ValueError("residences need the OSM features: prepare with need_features")
        frame, notes = build_residences(prepared.features, network, study.residences, max_snap)
        if study.boundary is not None:  # a table's rows outside it were rejected already
            boundary = reproject(read_boundary(study.boundary), "EPSG:4326", network.crs)
            inside = shapely.contains(boundary, frame.geometry.representative_point().to_numpy())
            frame = frame[inside].reset_index(drop=True)
    points = frame.geometry.representative_point()
    attachment = prepared.attach(points.x.to_numpy(), points.y.to_numpy(), max_snap)
    frame["snap_m"] = np.round(attachment.snap_m, 2)
    frame["used"] = attachment.used
    if table is not None and log is not None:
        far = ~attachment.used
        names, snap_m = frame["name"].to_numpy()[far], attachment.snap_m[far]
        reject_far_rows(table, "residences", table.idx[far], names, snap_m, max_snap)
        log.rejected.extend(table.rejected)
        log.residences = table_summary(table, int(attachment.used.sum()), clusters=len(frame))
    if len(frame) == 0:
        notes.append(
            "no residence clusters in the study area: nothing to score; check the "
            "boundary, or set residences.method: grid"
        )
    if (~attachment.used).any():
        notes.append(
            f"{int((~attachment.used).sum())} residence clusters are more than "
            f"{max_snap:g} m from the walking network and were not scored"
        )
    return Clusters(frame, attachment, notes)
