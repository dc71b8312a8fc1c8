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
from circles.values import format_number

if TYPE_CHECKING:
    import geopandas as gpd
    import shapely

    from circles.config import ResidenceSettings


# Plausible bounds of one 小区 row (issue 18): beyond them a value is a typo or a unit
# mistake, and the row is rejected as bad_value rather than weigh the scores.
MAX_HOUSEHOLDS = 100_000  #: households in one row: more than the largest 小区 hold
MAX_POPULATION = 300_000  #: residents in one row
#: residents per hectare of a polygon row: about five times a dense 小区 (plot ratio 3.5,
#: 90 m² flats, 2.62 persons each: about 1,000 per hectare)
MAX_RESIDENTS_PER_HA = 5_000


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


def _bad_values(
    households_text: str,
    households: float,
    population_text: str,
    population: float,
    persons_per_dwelling: float,
    shape: shapely.Geometry | None,
) -> str:
    """Why a row's households or population cannot be right ('' when they can).

    Not a number ≥ 0; more than :data:`MAX_HOUSEHOLDS` or :data:`MAX_POPULATION` in one
    row; or, on a polygon, more than :data:`MAX_RESIDENTS_PER_HA` residents per hectare
    of its area (households × persons per dwelling when the population is not given).
    """
    bad = []
    for role, text, value, limit in (
        ("households", households_text, households, MAX_HOUSEHOLDS),
        ("population", population_text, population, MAX_POPULATION),
    ):
        if not text:
            continue
        if not (np.isfinite(value) and value >= 0):
            bad.append(f"{role} '{text}' is not a number ≥ 0")
        elif value > limit:
            bad.append(f"{role} '{text}' is beyond {limit:,} for one 小区")
    if bad or shape is None or shape.geom_type not in ("Polygon", "MultiPolygon"):
        return "; ".join(bad)
    residents = population if np.isfinite(population) else households * persons_per_dwelling
    hectares = shape.area / 10_000
    if np.isfinite(residents) and residents > MAX_RESIDENTS_PER_HA * hectares:
        return (
            f"{format_number(residents)} residents on {hectares:.2f} ha, more than "
            f"{MAX_RESIDENTS_PER_HA:,} per hectare"
        )
    return ""


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
        The clusters, and the rows rejected for their coordinates, a households or
        population value that is not a number ≥ 0 or beyond a plausible bound (per row,
        and per hectare of a polygon: :data:`MAX_HOUSEHOLDS`, :data:`MAX_POPULATION`,
        :data:`MAX_RESIDENTS_PER_HA`), or as a duplicate (same name at the same place).

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
    counts = {role: role_texts(raw, cols, role) for role in ("households", "population")}
    households = parse_number(counts["households"])
    population = parse_number(counts["population"])
    ppd = settings.persons_per_dwelling
    refused: list[tuple[int, str, str]] = []  # (row, reason, detail)
    keep: list[int] = []
    shapes: list[shapely.Geometry] = []
    seen: dict[tuple, int] = {}
    for i in range(len(raw.frame)):
        if loc.reason[i]:
            refused.append((i, loc.reason[i], loc.detail[i]))
            continue
        shape = _to_metric(geoms[i], crs, area) if geoms is not None else None
        bad = _bad_values(counts["households"][i], households[i], counts["population"][i],
                          population[i], ppd, shape)  # fmt: skip
        if bad:
            refused.append((i, "bad_value", bad))
            continue
        key = (normalize_name(names[i]), round(loc.x[i]), round(loc.y[i]))
        if key in seen:
            detail = f"row {int(raw.rows[seen[key]])} has the same name at the same place"
            refused.append((i, "duplicate", detail))
            continue
        seen[key] = i
        keep.append(i)
        if shape is not None:
            shapes.append(shape)
    raw.keep_records([i for i, _, _ in refused])
    rejected = [
        rejection(raw, cols, "residences", i, reason, detail, names[i])
        for i, reason, detail in refused
    ]
    ix = np.asarray(keep, dtype=np.int64)
    if geoms is None:
        shapes = list(shapely.points(loc.x[ix], loc.y[ix])) if len(ix) else []
    shapes_arr = np.asarray(shapes, dtype=object)
    polygonal = np.array([g.geom_type in ("Polygon", "MultiPolygon") for g in shapes], dtype=bool)
    n = len(ix)
    floor = np.full(n, np.nan)
    dwellings = np.full(n, np.nan)
    pop = np.full(n, np.nan)
    # A row's own households or population is the table's figure; a polygon without them
    # is estimated from its buildings like an OSM 小区, with that estimate's confidence.
    how = np.full(n, "table", dtype=object)
    low = np.zeros(n, dtype=bool)
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
        how[polygonal] = est["population_method"].to_numpy(object)
        low[polygonal] = est["population_low"].to_numpy(bool)
    h, p = households[ix], population[ix]
    has_h, has_p = np.isfinite(h), np.isfinite(p)
    how[has_h | has_p], low[has_h | has_p] = "table", False
    dwellings = np.where(has_h, h, np.where(has_p, p / ppd, dwellings))
    pop = np.where(has_p, p, np.where(has_h, h * ppd, pop))
    floor = np.where(has_h | has_p, dwellings * settings.dwelling_m2, floor)
    frame = clusters_frame(
        names[ix],
        "table",
        shapes,
        floor,
        dwellings,
        pop,
        area.crs,
        population_method=how,
        population_low=low,
    )
    notes = []
    unweighted = int(np.isnan(pop).sum())
    if unweighted:
        notes.append(
            f"{raw.path.name}: {unweighted} 小区 points have neither households nor "
            "population; they are measured but carry no population weight"
        )
    return ResidenceRows(raw, cols, crs, frame, ix, notes, rejected=rejected)
