"""Residence clusters (小区) and their population estimates.

Three ways to form clusters:
1. ``landuse``: each ``landuse=residential`` polygon is a cluster (a 小区 in Chinese data).
2. ``buildings``: residential buildings closer than ``building_cluster_m`` join one cluster.
3. ``grid``: a regular grid of cells over the walkable area, for data with neither.

``method: auto`` uses the polygons *and* clusters the residential buildings outside them
(ids R… and B…); without polygons, the buildings alone; with neither, the grid.

Population = dwellings x persons per dwelling, and dwellings = residential floor area /
floor area per dwelling. Floor area is the footprint of residential buildings times their
storeys (``building:levels``, else a default). A 小区 polygon whose mapped buildings cover
less than :data:`MIN_COVERAGE` of it (none at all included) is taken to be only partly
mapped: it gets the larger of its buildings' floor area and its area times a default plot
ratio (容积率), and its population is flagged low-confidence. A grid cell uses a density
per hectare.
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
    from circles.graph import Seeds
    from circles.origins import Residents, Walk
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
COLUMNS = [
    "cluster_id",
    "name",
    "method",
    "area_m2",
    "floor_area_m2",
    "dwellings",
    "population",
    "population_method",
    "population_low",
]
# A fully built 小区 covers typically 20-30 % of its land with buildings (the fully mapped
# polygons of the bundled district: 14-43 %). Below half the low end the mapped buildings
# cannot be the whole 小区: the plot ratio estimate takes over and the result is flagged.
MIN_COVERAGE = 0.10
# auto warns when the residential buildings outside every 小区 polygon hold more than this
# share of the mapped residential floor area: the polygons then miss many residents.
OUTSIDE_SHARE_WARN = 0.20
# How each cluster kind's population is estimated, and whether it is low-confidence, when
# the forming function does not say (a grid cell's density is an assumption, not data).
_DEFAULT_ESTIMATE = {
    "landuse": ("buildings", False),
    "buildings": ("buildings", False),
    "grid": ("grid", True),
    "table": ("table", False),
}


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


def residential_found(
    features: gpd.GeoDataFrame, settings: ResidenceSettings
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The residential areas and the residential buildings of OSM features.

    Parameters
    ----------
    features : geopandas.GeoDataFrame
        OSM features with a ``tags`` column, in a metric CRS.
    settings : circles.config.ResidenceSettings
        ``default_levels``.

    Returns
    -------
    tuple of geopandas.GeoDataFrame
        :func:`residential_areas` and :func:`residential_buildings`.
    """
    areas = residential_areas(features)
    return areas, residential_buildings(features, areas, settings)


def _levels(value: str | None) -> float:
    try:
        v = float(str(value).split(";")[0])
    except (TypeError, ValueError):
        return np.nan
    return v if 0 < v < 200 else np.nan


def _population(floor_area: np.ndarray, settings: ResidenceSettings) -> tuple[np.ndarray, ...]:
    dwellings = floor_area / settings.dwelling_m2
    return dwellings, dwellings * settings.persons_per_dwelling


def first_area(buildings: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> np.ndarray:
    """The first polygon of ``areas`` that holds each building's representative point.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        Residential buildings.
    areas : geopandas.GeoDataFrame
        Polygons in the same CRS (小区 polygons, clusters, units).

    Returns
    -------
    numpy.ndarray
        Row of the first polygon holding each building (int64), -1 when none does; a
        building inside overlapping polygons counts once, in the first.
    """
    first = np.full(len(buildings), -1, dtype=np.int64)
    if len(buildings) == 0 or len(areas) == 0:
        return first
    pts = buildings.geometry.representative_point().to_numpy()
    b_idx, a_idx = shapely.STRtree(areas.geometry.to_numpy()).query(pts, predicate="within")
    # Query order is not row order: keep the lowest polygon row per building.
    order = np.lexsort((a_idx, b_idx))
    b_idx, a_idx = b_idx[order], a_idx[order]
    _, at = np.unique(b_idx, return_index=True)
    first[b_idx[at]] = a_idx[at]
    return first


def from_landuse(
    areas: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, settings: ResidenceSettings
) -> gpd.GeoDataFrame:
    """One cluster per residential polygon, with the floor area of its buildings.

    A polygon whose buildings' footprints cover less than :data:`MIN_COVERAGE` of its
    area (none at all included) is only partly mapped: its floor area is the larger of its
    buildings' floor area and its area times ``settings.default_far``. The mapped
    buildings are a lower bound (unmapped ones only add), the plot ratio the typical
    whole; the larger never falls below what is mapped. Its population is low-confidence.

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
        Clusters R0001 ... with the columns of :data:`COLUMNS` and geometry;
        ``population_method`` is ``buildings`` or ``plot_ratio`` (whichever estimate was
        taken) and ``population_low`` is True below the coverage.
    """
    geoms = areas.geometry.to_numpy()
    area = shapely.area(geoms) if len(geoms) else np.zeros(0)
    floor = np.zeros(len(areas))
    footprint = np.zeros(len(areas))
    first = first_area(buildings, areas)
    inside = first >= 0
    if inside.any():
        np.add.at(floor, first[inside], buildings["floor_area_m2"].to_numpy()[inside])
        np.add.at(footprint, first[inside], buildings.geometry.area.to_numpy()[inside])
    coverage = np.divide(footprint, area, out=np.zeros(len(areas)), where=area > 0)
    low = coverage < MIN_COVERAGE
    by_plot_ratio = area * settings.default_far
    use_plot_ratio = low & (by_plot_ratio > floor)
    floor = np.where(use_plot_ratio, by_plot_ratio, floor)
    dwellings, population = _population(floor, settings)
    return clusters_frame(
        areas["name"].fillna("").to_numpy(),
        "landuse",
        geoms,
        floor,
        dwellings,
        population,
        areas.crs,
        population_method=np.where(use_plot_ratio, "plot_ratio", "buildings"),
        population_low=low,
    )


def from_buildings(
    buildings: gpd.GeoDataFrame, settings: ResidenceSettings, outside: Any = None
) -> gpd.GeoDataFrame:
    """Join buildings within ``building_cluster_m`` of each other; a cluster is their hull.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        Residential buildings with ``floor_area_m2``, in a metric CRS.
    settings : circles.config.ResidenceSettings
        ``building_cluster_m`` and the population settings.
    outside : shapely.Geometry, optional
        Land the hulls must not cover (the 小区 polygons, when both are used): it is cut
        out of each hull, so no land counts in two clusters.

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
        hull = shapely.convex_hull(shapely.union_all(geoms[members]))
        if outside is not None:
            cut = shapely.difference(hull, outside)
            # Buildings whose point lies outside leave land outside: keep the hull if not.
            hull = cut if not cut.is_empty else hull
        out_geom.append(hull)
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
    *,
    population_method: Any = None,
    population_low: Any = None,
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
    population_method : str or sequence of str, optional
        How each population was estimated: ``buildings``, ``plot_ratio``, ``grid`` or
        ``table``; by default what ``method`` implies (``buildings`` for landuse).
    population_low : bool or sequence of bool, optional
        Whether each population is a low-confidence estimate; by default True for grid
        cells only.

    Returns
    -------
    geopandas.GeoDataFrame
        cluster_id, name, method, area_m2, floor_area_m2, dwellings (0.1), population
        (whole), population_method, population_low and geometry.
    """
    n = len(geoms)
    prefix = {"landuse": "R", "buildings": "B", "grid": "G"}.get(method, "T")
    how, low = _DEFAULT_ESTIMATE.get(method, ("table", False))
    how_col = np.broadcast_to(
        np.asarray(how if population_method is None else population_method, dtype=object), (n,)
    )
    low_col = np.broadcast_to(
        np.asarray(low if population_low is None else population_low, dtype=bool), (n,)
    )
    return gpd.GeoDataFrame(
        {
            "cluster_id": [f"{prefix}{i + 1:04d}" for i in range(n)],
            "name": pd.Series(list(names), dtype="string"),
            "method": method,
            "area_m2": shapely.area(np.asarray(geoms, dtype=object)) if n else [],
            "floor_area_m2": np.asarray(floor, dtype=float),
            "dwellings": np.round(np.asarray(dwellings, dtype=float), 1),
            "population": np.round(np.asarray(population, dtype=float), 0),
            "population_method": pd.Series(list(how_col), dtype="string"),
            "population_low": low_col.copy(),
        },
        geometry=list(geoms),
        crs=crs,
    )


def build_residences(
    features: gpd.GeoDataFrame,
    network: WalkNetwork,
    settings: ResidenceSettings,
    max_snap_m: float,
    found: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None = None,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Residence clusters by the configured method; also returns notes on the choice.

    ``auto`` takes the ``landuse`` polygons and clusters the residential buildings
    outside them as ``buildings``; without polygons it clusters all the buildings, and
    with neither it lays a ``grid``. A method that finds nothing falls back to the grid.

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
    found : tuple of geopandas.GeoDataFrame, optional
        The residential areas and buildings of ``features`` when already found
        (:func:`residential_areas`, :func:`residential_buildings`).

    Returns
    -------
    clusters : geopandas.GeoDataFrame
        One row per cluster with the columns of :data:`COLUMNS`: the polygons' clusters
        (R…) first, then the buildings' (B…).
    notes : list of str
        What was chosen instead of the configured method and why, and whether many
        buildings lie outside the polygons.
    """
    notes: list[str] = []
    areas, buildings = found if found is not None else residential_found(features, settings)
    method = settings.method
    parts: list[gpd.GeoDataFrame] = []
    if method in ("auto", "landuse") and len(areas):
        parts.append(from_landuse(areas, buildings, settings))
        if method == "auto":
            outside = first_area(buildings, areas) < 0
            if outside.any():
                union = shapely.union_all(areas.geometry.to_numpy())
                parts.append(from_buildings(buildings[outside], settings, outside=union))
                notes += _outside_notes(buildings, outside, parts[1])
    elif method in ("auto", "buildings") and len(buildings):
        parts.append(from_buildings(buildings, settings))
        if method == "auto":
            notes.append("no landuse=residential polygons: clusters formed from buildings")
    elif method == "auto":
        notes.append("no residential polygons or buildings: clusters are grid cells")
    elif method != "grid":
        what = "landuse=residential polygons" if method == "landuse" else "residential buildings"
        notes.append(
            f"residences.method '{method}' found no {what} in the data: clusters are grid "
            "cells instead (set residences.method: auto to use whatever is mapped)"
        )
    if parts:
        clusters = pd.concat(parts, ignore_index=True)
    else:
        clusters = from_grid(network, settings, max_snap_m)
        if len(clusters) == 0:
            notes.append(_empty_grid_note(network, settings, max_snap_m))
    return clusters, notes


def _low_confidence_notes(clusters: gpd.GeoDataFrame, settings: ResidenceSettings) -> list[str]:
    """A note on the 小区 polygons whose population rests on too few mapped buildings.

    Grid cells are low-confidence by nature; the note on the grid already says so.
    """
    if "population_low" not in clusters or len(clusters) == 0:
        return []
    polygons = (clusters["population_method"] != "grid").to_numpy(bool)
    low = clusters["population_low"].to_numpy(bool) & polygons
    if not low.any():
        return []
    pop = clusters["population"].to_numpy(float)
    return [
        f"{int(low.sum())} 小区 polygons have buildings covering less than {MIN_COVERAGE:.0%} "
        f"of their area (partly mapped or not at all): their {np.nansum(pop[low]):,.0f} "
        f"residents are a low-confidence estimate from the plot ratio {settings.default_far:g} "
        "(population_low in clusters.csv); map their buildings or bring a 小区 table with "
        "households"
    ]


def _outside_notes(
    buildings: gpd.GeoDataFrame, outside: np.ndarray, clusters: gpd.GeoDataFrame
) -> list[str]:
    """A warning when the buildings outside the 小区 polygons hold much of the floor area."""
    floor = buildings["floor_area_m2"].to_numpy(float)
    total = floor.sum()
    share = floor[outside].sum() / total if total > 0 else 0.0
    if share <= OUTSIDE_SHARE_WARN:
        return []
    return [
        f"{int(outside.sum())} residential buildings outside the landuse=residential polygons "
        f"hold {share:.0%} of the mapped residential floor area (over "
        f"{OUTSIDE_SHARE_WARN:.0%}): they form {len(clusters)} building clusters (B…) with "
        f"{clusters['population'].sum():,.0f} residents; the 小区 polygons are incompletely "
        "mapped, so check their outlines or bring a 小区 table"
    ]


def _empty_grid_note(network: WalkNetwork, settings: ResidenceSettings, reach_m: float) -> str:
    """Why the grid has no cell, and what to change."""
    s = settings.grid_spacing_m
    w = float(network.x.max() - network.x.min())
    h = float(network.y.max() - network.y.min())
    if min(w, h) <= s / 2:
        return (
            f"no residence clusters: the walking network spans only {w:,.0f} × {h:,.0f} m, "
            f"too small for one grid cell of residences.grid_spacing_m = {s:g} m; use an "
            "extract that covers the neighbourhood, or set a smaller residences.grid_spacing_m"
        )
    return (
        f"no residence clusters: no grid cell of {s:g} m has its centre within {reach_m:g} m "
        "of a street; set a smaller residences.grid_spacing_m or a larger "
        "snap.max_distance_m"
    )


@dataclass
class Clusters:
    """The residence clusters of a run and where they join the network.

    Attributes
    ----------
    frame : geopandas.GeoDataFrame
        One row per cluster (network CRS): cluster_id, name, method, area_m2, dwellings,
        population, snap_m, used, then the reach and score columns once measured.
    attachment : Attachment
        Where each cluster's representative point joins its nearest street (the
        single-point rule).
    notes : list of str
        Warnings about how the clusters were formed.
    buildings : geopandas.GeoDataFrame or None
        The residential buildings of the OSM data (network CRS, ``floor_area_m2``), where
        residents' walks start; None without OSM features.
    seeds : Seeds or None
        Where each used cluster's walks start once measured: its point, or the gates of a
        walled 小区 (:func:`circles.origins.attach_points`).
    walk : Walk or None
        The walking costs it was measured with (walls cut).
    residents : Residents or None
        Where its residents start and how far they walk (for scoring by residents).
    """

    frame: gpd.GeoDataFrame
    attachment: Attachment
    notes: list[str] = field(default_factory=list)
    buildings: gpd.GeoDataFrame | None = None
    seeds: Seeds | None = None
    walk: Walk | None = None
    residents: Residents | None = None


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
    found = None
    if prepared.features is not None:
        found = residential_found(prepared.features, study.residences)
    empty_note = (
        "no residence clusters in the study area: nothing to score; check the boundary, "
        "or set residences.method: grid"
    )
    if study.residences.file is not None:
        area = study_area(study, network, halo=False)
        table = read_residences(study.residences, "residences", area, prepared.features)
        frame, notes = table.clusters, list(table.notes)
    else:
        if prepared.features is None:
            raise ValueError("residences need the OSM features: prepare with need_features")
        frame, notes = build_residences(
            prepared.features, network, study.residences, max_snap, found
        )
        if len(frame) == 0:
            empty_note = ""  # build_residences said why
        elif study.boundary is not None:  # a table's rows outside it were rejected already
            boundary = reproject(read_boundary(study.boundary), "EPSG:4326", network.crs)
            inside = shapely.contains(boundary, frame.geometry.representative_point().to_numpy())
            frame = frame[inside].reset_index(drop=True)
            empty_note = (
                f"none of the {len(inside)} residence clusters lies inside the boundary: "
                "nothing to score; check that the boundary covers the data"
            )
    buildings = found[1] if found is not None else None
    if study.population.file is not None:
        frame, more = _with_population(frame, buildings, study, log)
        notes += more
    notes += _low_confidence_notes(frame, study.residences)
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
    if len(frame) == 0 and empty_note:
        notes.append(empty_note)
    if (~attachment.used).any():
        notes.append(
            f"{int((~attachment.used).sum())} residence clusters are more than "
            f"{max_snap:g} m from the walking network and were not scored"
        )
    return Clusters(frame, attachment, notes, buildings)


def _with_population(
    frame: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None, study: Study, log: TableLog | None
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The clusters with the study's population raster or table laid over them."""
    from circles.population import apply_population

    if buildings is not None:
        buildings = buildings.assign(cluster=first_area(buildings, frame))
    rejected: list[dict] = []
    frame, notes = apply_population(frame, buildings, study.population, rejected)
    if log is not None:
        log.rejected.extend(rejected)
    return frame, notes
