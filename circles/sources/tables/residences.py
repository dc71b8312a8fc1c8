"""小区 tables: a planner's list of residential compounds as residence clusters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from circles.sources import coords
from circles.sources.tables.locate import StudyArea, locate_table
from circles.sources.tables.merge import normalize_name
from circles.sources.tables.read import RESIDENCE_ROLES, parse_number, read_table, role_texts
from circles.sources.tables.rejected import TableRows, rejection

if TYPE_CHECKING:
    import geopandas as gpd
    import shapely

    from circles.config import ResidenceSettings


@dataclass
class ResidenceRows(TableRows):
    """A 小区 table's clusters (study CRS) and its rejected rows.

    Parameters
    ----------
    raw, cols, crs, rejected
        As in :class:`~circles.sources.tables.rejected.TableRows`.
    clusters : geopandas.GeoDataFrame
        One cluster per row used, in the study's CRS, like the OSM-derived ones.
    idx : numpy.ndarray
        Row of ``raw.frame`` of each cluster.
    notes : list of str
        Warnings for the summary (points without households or population).
    """

    clusters: gpd.GeoDataFrame
    idx: np.ndarray  # row of raw.frame of each cluster
    notes: list[str] = field(default_factory=list)


def _to_metric(geom: shapely.Geometry, crs: str, area: StudyArea) -> shapely.Geometry:
    """A geometry in the table's CRS, converted vertex by vertex to the study CRS."""
    import shapely

    def fn(xy: np.ndarray) -> np.ndarray:
        """Vertices from the table's CRS through WGS-84 to the study CRS."""
        lon, lat = coords.to_wgs84(xy[:, 0], xy[:, 1], crs)
        x, y = area.to_xy(lon, lat)
        return np.column_stack([x, y])

    out = shapely.transform(geom, fn)
    if out.geom_type in ("Polygon", "MultiPolygon") and not out.is_valid:
        out = shapely.make_valid(out)
    return out


def read_residences(
    settings: ResidenceSettings,
    where: str,
    area: StudyArea,
    features: gpd.GeoDataFrame | None,
) -> ResidenceRows:
    """小区 from a table: points or polygons, with households or population when given.

    Population = the ``population`` column, else ``households`` × persons per dwelling;
    a polygon without either is estimated like an OSM residential area (floor area of the
    OSM buildings inside it, else its area × ``default_far``); a point without either
    cannot be estimated: it is measured but has no population (a note says how many).

    Parameters
    ----------
    settings : ResidenceSettings
        The study's residence settings: the table's file, encoding, sheet, CRS and
        column mapping, and the persons per dwelling, dwelling size and plot ratio.
    where : str
        Where the table is in the study file (``residences``), named in errors.
    area : StudyArea
        Where rows may lie.
    features : geopandas.GeoDataFrame or None
        The OSM features, whose buildings estimate a polygon's floor area; None to use
        the polygon's area × ``default_far`` alone.

    Returns
    -------
    ResidenceRows
        The clusters, and the rows rejected for their coordinates, a bad households or
        population value, or as a duplicate (same name at the same place).

    Raises
    ------
    InputError
        The file cannot be read, a mapped column is missing, or there are no coordinate
        columns.
    """
    import geopandas as gpd
    import shapely

    from circles.residences import clusters_frame, from_landuse, residential_buildings

    raw, cols = read_table(settings, RESIDENCE_ROLES, where)
    crs, loc, geoms = locate_table(raw, cols, settings.crs, where, area)
    names = role_texts(raw, cols, "name")
    households = parse_number(role_texts(raw, cols, "households"))
    population = parse_number(role_texts(raw, cols, "population"))
    rejected = []
    keep: list[int] = []
    seen: dict[tuple, int] = {}
    for i in range(len(raw.frame)):
        if loc.reason[i]:
            rejected.append(
                rejection(raw, cols, "residences", i, loc.reason[i], loc.detail[i], names[i])
            )
            continue
        bad = []
        for role, values in (("households", households), ("population", population)):
            text = role_texts(raw, cols, role)[i]
            if text and not (np.isfinite(values[i]) and values[i] >= 0):
                bad.append(f"{role} '{text}' is not a number ≥ 0")
        if bad:
            rejected.append(
                rejection(raw, cols, "residences", i, "bad_value", "; ".join(bad), names[i])
            )
            continue
        key = (normalize_name(names[i]), round(loc.x[i]), round(loc.y[i]))
        if key in seen:
            detail = f"row {int(raw.rows[seen[key]])} has the same name at the same place"
            rejected.append(rejection(raw, cols, "residences", i, "duplicate", detail, names[i]))
            continue
        seen[key] = i
        keep.append(i)
    ix = np.asarray(keep, dtype=np.int64)
    if geoms is not None:
        shapes = [_to_metric(geoms[i], crs, area) for i in ix]
    else:
        shapes = list(shapely.points(loc.x[ix], loc.y[ix])) if len(ix) else []
    shapes_arr = np.asarray(shapes, dtype=object)
    polygonal = np.array([g.geom_type in ("Polygon", "MultiPolygon") for g in shapes], dtype=bool)
    n = len(ix)
    floor = np.full(n, np.nan)
    dwellings = np.full(n, np.nan)
    pop = np.full(n, np.nan)
    if polygonal.any():
        poly = gpd.GeoDataFrame(
            {"name": names[ix][polygonal]}, geometry=list(shapes_arr[polygonal]), crs=area.crs
        )
        if features is not None:
            buildings = residential_buildings(features, poly, settings)
        else:
            buildings = gpd.GeoDataFrame({"floor_area_m2": []}, geometry=[], crs=area.crs)
        est = from_landuse(poly, buildings, settings)
        floor[polygonal] = est["floor_area_m2"].to_numpy()
        dwellings[polygonal] = est["dwellings"].to_numpy()
        pop[polygonal] = est["population"].to_numpy()
    h, p = households[ix], population[ix]
    ppd = settings.persons_per_dwelling
    has_h, has_p = np.isfinite(h), np.isfinite(p)
    dwellings = np.where(has_h, h, np.where(has_p, p / ppd, dwellings))
    pop = np.where(has_p, p, np.where(has_h, h * ppd, pop))
    floor = np.where(has_h | has_p, dwellings * settings.dwelling_m2, floor)
    frame = clusters_frame(names[ix], "table", shapes, floor, dwellings, pop, area.crs)
    notes = []
    unweighted = int(np.isnan(pop).sum())
    if unweighted:
        notes.append(
            f"{raw.path.name}: {unweighted} 小区 points have neither households nor "
            "population; they are measured but carry no population weight"
        )
    return ResidenceRows(raw, cols, crs, frame, ix, notes, rejected=rejected)
