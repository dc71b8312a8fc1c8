"""Units: the district's scores per 社区 (community) or 街道 (sub-district).

The units of Chinese practice are the community and the sub-district, not the 小区 alone:
the complete-community standard and the city health check (城市体检) count by community.
``--units FILE`` (a GeoJSON, GeoPackage or Shapefile, or a CSV/XLSX with a WKT column, in
WGS-84, GCJ-02, BD-09 or an EPSG system) or ``--units osm:admin_level=8`` (the OSM file's
own ``boundary=administrative`` relations, :func:`circles.sources.admin.admin_boundaries`)
gives their boundaries; :func:`read_units` reads and checks them, :func:`assess` lays the
scored clusters over them.

- **Joining.** Each residence cluster joins the unit holding most of its area (a cluster
  given as a point, the unit holding it); the part outside every unit competes too, so a
  cluster mostly outside the units joins none. A cluster with less than
  :data:`SPLIT_SHARE` of its area in its unit is *split* by a boundary: it counts wholly in
  its unit, and the report says how many there are.
- **Per unit.** Every district indicator of the standard over the unit's clusters only
  (:func:`circles.scoring.indicators_within`), by clusters, residential area and
  residents; the residents-weighted completeness, its grade, the share of residents in
  complete circles (the standard's ``complete`` indicator at its top level) and a rank.
  A unit without clusters is listed with empty shares.
- **Per item.** Every requirement of every level: how many of the unit's clusters reach
  or miss it and the residents missing it; the standard's ``not_assessed`` items, either
  not assessed or self-assessed on a form (:mod:`circles.selfassess`), never mixed with
  the measured ones.
- **Shortfalls.** One row per unit and required item not reached (measured: some
  clusters miss it; self-assessed: 否 or 部分), with the nearest existing facility
  (:func:`circles.shortfalls.nearest_facilities`), most residents affected first.

Bad boundaries get one clear line: units that overlap by more than a sliver, a name that
repeats, no name column, no unit in the study area. Rows without a usable polygon or
name, and units outside the study area, go to rejected_rows.csv (kind ``units``) with a
warning.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from circles._errors import ConfigError, InputError, one_line, shown_path
from circles.shortfalls import SHORTFALL_COLUMNS  # the columns of UnitReport.shortfalls

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from circles.config import Study, UnitSettings
    from circles.graph import Seeds
    from circles.network import WalkNetwork
    from circles.origins import Walk
    from circles.prepare import Prepared
    from circles.scoring import IndicatorValue, Scores
    from circles.selfassess import SelfAssessment
    from circles.services import Category
    from circles.sources.tables import StudyArea
    from circles.standards import Standard

__all__ = [
    "DEFAULT_LEVEL",
    "OVERLAP_SHARE",
    "SPLIT_SHARE",
    "UnitReport",
    "Units",
    "assess",
    "read_units",
]

#: What the units of a file are when ``units.level`` does not say.
DEFAULT_LEVEL = "社区"
#: A cluster with less of its area in its unit is split by the unit's boundary.
SPLIT_SHARE = 0.99
#: Two units overlap when they share more than this share of the smaller one's area; less
#: is a sliver where two boundaries were digitised apart.
OVERLAP_SHARE = 0.01
#: A unit with no more than this share of its area in the study area misses it.
MISS_SHARE = 1e-6
SHOWN = 5  # names shown in a message
#: Header names looked up for the units' names, in order (compared as
#: :func:`~circles.sources.tables.read.normalize_header` does), and for WKT polygons.
UNIT_ROLES: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "名称",
        "社区名称",
        "社区",
        "社区居委会",
        "居委会",
        "居委会名称",
        "街道名称",
        "街道",
        "乡镇街道",
        "单元名称",
        "单元",
        "unit",
        "unit_name",
    ),
    "wkt": ("wkt", "geometry", "geom", "the_geom"),
}


# ---------------------------------------------------------------------------------------
# The units
# ---------------------------------------------------------------------------------------


@dataclass
class Units:
    """Unit boundaries (社区, 街道), checked, in the study's CRS.

    Attributes
    ----------
    name : numpy.ndarray
        The names (str), as the file gives them (trimmed); distinct.
    slug : numpy.ndarray
        File-safe names (:func:`circles.config.safe_name`; any script), distinct even
        on a file system that ignores case: ``units/<slug>.html``.
    geometry : numpy.ndarray
        Shapely polygons or multipolygons in ``crs``.
    level : str
        What the units are: ``社区``, ``街道``, ``admin_level=8`` ...
    source : str
        The file's name only (never its folder), or ``osm:admin_level=8``.
    crs : pyproj.CRS or str
        The CRS of ``geometry``: the network's (WGS-84 when read without a network).
    where : numpy.ndarray
        Where each unit is in its source (``row 3``, ``feature 3``, ``relation 123``).
    notes : list of str
        Warnings from reading them (units left out, names made up).
    rejected : list of dict
        rejected_rows.csv records (kind ``units``) of the rows not used.
    """

    name: np.ndarray
    slug: np.ndarray
    geometry: np.ndarray
    level: str
    source: str
    crs: Any = "EPSG:4326"
    where: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    notes: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        """How many units."""
        return len(self.name)


@dataclass
class _Rows:
    """Unit rows as read, before the checks: names, shapes in the target CRS, refusals."""

    shown: str  # what messages call the source: the file's path, or the OSM file and level
    names: np.ndarray
    shapes: np.ndarray  # shapely geometry or None
    unreadable: np.ndarray
    where: np.ndarray
    record: Callable[[int, str, str], dict[str, Any]]
    refused: dict[int, tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def refuse(self, i: int, reason: str, detail: str) -> None:
        self.refused.setdefault(int(i), (reason, detail))


def read_units(study: Study, network: WalkNetwork | None = None) -> Units:
    """Read and check a study's units (``study.units``: a file or ``osm_admin_level``).

    Parameters
    ----------
    study : Study
        Its ``units`` settings; for ``osm_admin_level``, its OSM file (``source.osm``);
        its boundary, if any, is the study area.
    network : WalkNetwork, optional
        The study's network: the units are moved into its CRS and checked against the
        study area (its boundary, else its streets' hull grown by the snapping distance).
        Without it (a form needs the names only) they stay in WGS-84, unchecked for place.

    Returns
    -------
    Units
        The usable units, with the notes and rejected rows of the others.

    Raises
    ------
    ConfigError
        The study gives no units.
    InputError
        The file is missing or unreadable; it has no name column or no polygons; a name
        repeats; no unit is usable; none lies in the study area; two units overlap by
        more than a sliver (:data:`OVERLAP_SHARE`); the study has no OSM file for
        ``osm_admin_level``, or its file no boundary of that level.
    """
    settings = study.units
    if not settings.given:
        raise ConfigError("no units given: --units FILE or --units osm:admin_level=N")
    area = _study_area(study, network)
    if settings.osm_admin_level is not None:
        rows = _from_osm(study, settings.osm_admin_level, area)
        source = f"osm:admin_level={settings.osm_admin_level}"
        level = settings.level or source.removeprefix("osm:")
    else:
        rows = _from_file(settings, area)
        source = Path(str(settings.file)).name
        level = settings.level or DEFAULT_LEVEL
    return _checked(rows, area if network is not None else None, level, source)


def _study_area(study: Study, network: WalkNetwork | None) -> StudyArea:
    """Where units must lie, in the network's CRS; without a network a WGS-84 stand-in
    that only converts coordinates."""
    import shapely

    from circles.prepare import study_area
    from circles.sources.tables import StudyArea

    if network is not None:
        return study_area(study, network, halo=False)
    return StudyArea(shapely.box(-180, -90, 180, 90), "EPSG:4326")


def _from_file(settings: UnitSettings, area: StudyArea) -> _Rows:
    """The rows of a units file: names, and polygons in the study's CRS."""
    from circles.sources.tables.locate import effective_crs
    from circles.sources.tables.read import (
        columns_found,
        normalize_header,
        read_raw,
        resolve_columns,
        role_texts,
    )
    from circles.sources.tables.rejected import rejection
    from circles.sources.tables.shapes import table_shapes

    path = Path(str(settings.file))
    if not path.is_file():
        raise InputError(f"units file not found: {shown_path(path)} (units.file, --units)")
    raw = read_raw(path, settings.encoding, settings.sheet)
    if not len(raw.frame):
        raise InputError(f"{path}: the units file has no rows; give one row per unit")
    mapping = {"name": settings.name_column}
    if settings.name_column is not None and normalize_header(settings.name_column) not in {
        normalize_header(c) for c in raw.columns
    }:
        raise InputError(
            f"{path}: units.name_column '{settings.name_column}' is not a column; columns "
            f"found: {columns_found(raw)}"
        )
    cols = resolve_columns(raw, mapping, UNIT_ROLES, "units")
    if "name" not in cols:
        raise InputError(
            f"{path}: no column of unit names (name, 名称, 社区, 街道 …); columns found: "
            f"{columns_found(raw)}; say which with units.name_column (--set "
            "units.name_column=<header>)"
        )
    if raw.geometry is None and "wkt" not in cols:
        raise InputError(
            f"{path}: no unit polygons; give a GeoJSON, GeoPackage or Shapefile, or a "
            f"table with a wkt column of polygons; columns found: {columns_found(raw)}"
        )
    crs = effective_crs(settings.crs, raw, "units")
    shapes, unreadable = table_shapes(raw, cols, crs, area)
    names = np.array([_clean(t) for t in role_texts(raw, cols, "name")], dtype=object)
    noun = "feature" if raw.geometry is not None else "row"
    where = np.array([f"{noun} {int(r)}" for r in raw.rows], dtype=object)

    def record(i: int, reason: str, detail: str) -> dict[str, Any]:
        return rejection(raw, cols, "units", i, reason, detail, names[i])

    rows = _Rows(str(path), names, shapes, unreadable, where, record)
    for i in np.flatnonzero(names == ""):
        rows.refuse(int(i), "bad_value", f"no unit name (column {cols['name']})")
    _check_repeats(rows)
    return rows


def _clean(text: Any) -> str:
    """A unit's name for display and comparison: NFC, trimmed, one line."""
    return " ".join(unicodedata.normalize("NFC", str(text)).split())


def _check_repeats(rows: _Rows) -> None:
    """Fail when a unit name repeats: a unit's figures would be split or merged unseen."""
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(rows.names):
        if name:
            seen.setdefault(name, []).append(i)
    repeats = {n: ix for n, ix in seen.items() if len(ix) > 1}
    if not repeats:
        return
    name, ix = next(iter(repeats.items()))
    more = f" ({len(repeats) - 1} more names repeat)" if len(repeats) > 1 else ""
    raise InputError(
        f"{rows.shown}: the unit name '{one_line(name, 60)}' repeats "
        f"({', '.join(str(w) for w in rows.where[ix])}){more}; every unit needs its own "
        "name: rename them (e.g. with the 街道) or merge their polygons"
    )


def _from_osm(study: Study, level: int, area: StudyArea) -> _Rows:
    """The administrative boundaries of one level in the study's OSM file."""
    import shapely

    from circles.sources.admin import admin_boundaries
    from circles.sources.tables.rejected import REASONS

    osm = study.source.osm
    if osm is None:
        raise InputError(
            f"--units osm:admin_level={level} takes the boundaries from the study's OSM "
            "file, but this study is downloaded online; give the file (--osm) or a units "
            "file (--units FILE)"
        )
    frame = admin_boundaries(osm, level)
    shown = f"{osm} (admin_level={level})"
    if not len(frame):
        raise InputError(
            f"{osm}: no boundary=administrative relation of admin_level={level}; try "
            "another level (4 province, 6 county or district, 8 municipality, 9-10 "
            "neighbourhoods, as the country maps them) or give a units file (--units FILE)"
        )
    ids = frame["osm_id"].to_numpy(np.int64)
    names = np.array([_clean(n) for n in frame["name"]], dtype=object)
    notes = []
    unnamed = names == ""
    names[unnamed] = [f"relation {i}" for i in ids[unnamed]]
    if unnamed.any():
        notes.append(
            f"{osm.name}: {int(unnamed.sum())} admin_level={level} boundaries have no name "
            "and are named by their relation id"
        )
    # A name OSM gives twice (two villages of one name) is told apart by the relation id:
    # the user cannot rename them in the file as they would in their own table.
    values, counts = np.unique(names, return_counts=True)
    twice = np.isin(names, values[counts > 1])
    names[twice] = [f"{n} (relation {i})" for n, i in zip(names[twice], ids[twice], strict=True)]
    if twice.any():
        notes.append(
            f"{osm.name}: {int(twice.sum())} admin_level={level} boundaries share a name; "
            "their relation id is added to it"
        )
    geoms = frame.geometry.to_numpy()
    ok = np.array([g is not None for g in geoms], dtype=bool)
    shapes = np.full(len(frame), None, dtype=object)
    if ok.any():

        def move(xy: np.ndarray) -> np.ndarray:
            return np.column_stack(area.to_xy(xy[:, 0], xy[:, 1]))

        shapes[ok] = shapely.transform(np.asarray(list(geoms[ok]), dtype=object), move)
    where = np.array([f"relation {i}" for i in ids], dtype=object)

    def record(i: int, reason: str, detail: str) -> dict[str, Any]:
        return {
            "file": osm.name,
            "kind": "units",
            "row": int(ids[i]),
            "reason": reason,
            "reason_label": REASONS[reason],
            "detail": detail,
            "name": str(names[i]),
            "x": "",
            "y": "",
            "record": json.dumps(
                {"osm_type": "relation", "osm_id": int(ids[i]), "name": str(frame["name"][i])},
                ensure_ascii=False,
            ),
        }

    rows = _Rows(shown, names, shapes, np.zeros(len(frame), dtype=bool), where, record)
    rows.notes += notes
    for i, problem in enumerate(frame["problem"]):
        if problem:
            rows.refuse(i, "bad_coordinates", problem)
    return rows


def _areal(g: Any) -> Any:
    """The polygons of a geometry (a repaired polygon may come with stray lines), or None."""
    import shapely

    if g is None or g.is_empty:
        return None
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def _checked(rows: _Rows, area: StudyArea | None, level: str, source: str) -> Units:
    """Refuse rows without a usable polygon or outside the study area; fail on overlaps."""
    n = len(rows.names)
    geoms = np.full(n, None, dtype=object)
    for i in range(n):
        g = rows.shapes[i]
        if rows.unreadable[i]:
            rows.refuse(i, "bad_coordinates", "the geometry cannot be read (WKT, or units.crs)")
        elif g is None or g.is_empty:
            rows.refuse(i, "bad_coordinates", "no geometry (empty)")
        elif (poly := _areal(g)) is None:
            rows.refuse(i, "bad_coordinates", f"a {g.geom_type}, not a polygon")
        elif poly.area <= 0:
            rows.refuse(i, "bad_coordinates", "a polygon without area")
        else:
            geoms[i] = poly
    kept = np.array([i not in rows.refused for i in range(n)], dtype=bool)
    if area is not None and kept.any():
        _refuse_outside(rows, geoms, kept, area)
        kept = np.array([i not in rows.refused for i in range(n)], dtype=bool)
    if not kept.any():
        reasons = sorted({d for _, d in rows.refused.values()})
        raise InputError(
            f"{rows.shown}: none of its {n} units is usable ({'; '.join(reasons[:3])}); give "
            "polygons of 社区 or 街道 with their names"
        )
    ix = np.flatnonzero(kept)
    _check_overlaps(rows, geoms, ix, area)
    refused = sorted(rows.refused)
    rejected = [rows.record(i, *rows.refused[i]) for i in refused]
    notes = list(rows.notes)
    if refused:
        by_reason: dict[str, int] = {}
        for reason, _ in rows.refused.values():
            by_reason[reason] = by_reason.get(reason, 0) + 1
        shown = ", ".join(f"{k} {v}" for k, v in sorted(by_reason.items()))
        notes.append(
            f"{Path(rows.shown).name}: {len(refused)} of {n} units are left out ({shown}), "
            f"e.g. {_examples(rows.names[refused])}; see rejected_rows.csv"
        )
    names = rows.names[ix].astype(str)
    return Units(
        name=np.asarray(names, dtype=object),
        slug=_slugs(names),
        geometry=np.asarray(list(geoms[ix]), dtype=object),
        level=level,
        source=source,
        crs=area.crs if area is not None else "EPSG:4326",
        where=rows.where[ix],
        notes=notes,
        rejected=rejected,
    )


def _refuse_outside(rows: _Rows, geoms: np.ndarray, kept: np.ndarray, area: StudyArea) -> None:
    """Refuse units with no area in the study area; fail when none has any."""
    import shapely

    ix = np.flatnonzero(kept)
    polys = np.asarray(list(geoms[ix]), dtype=object)
    inside = shapely.area(shapely.intersection(polys, area.polygon)) / shapely.area(polys)
    miss = inside <= MISS_SHARE
    if miss.all():
        raise InputError(
            f"{rows.shown}: none of its {len(ix)} units lies in the study area (the units "
            f"span {_extent(shapely.union_all(polys), area.crs)}, the study "
            f"{_extent(area.polygon, area.crs)}); check their coordinate system "
            "(units.crs, --units-crs: wgs84, gcj02, bd09, EPSG:<code>) or give the units of "
            "this district"
        )
    for i in ix[miss]:
        rows.refuse(i, "outside_study_area", "the unit lies outside the study area")


def _extent(geom: Any, crs: Any) -> str:
    """A geometry's bounds in degrees, for a message: '118.70–118.72 E, 32.01–32.03 N'."""
    import pyproj

    to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    w, s, e, n = to_lonlat.transform_bounds(*geom.bounds)
    return f"{w:.3f}–{e:.3f} E, {s:.3f}–{n:.3f} N"


def _check_overlaps(rows: _Rows, geoms: np.ndarray, ix: np.ndarray, area: StudyArea | None) -> None:
    """Fail when two units share more than a sliver: a cluster would count twice or
    arbitrarily (a 社区 file and a 街道 file put together, or a unit drawn twice)."""
    import shapely

    polys = np.asarray(list(geoms[ix]), dtype=object)
    a, b = shapely.STRtree(polys).query(polys, predicate="intersects")
    pair = a < b
    a, b = a[pair], b[pair]
    if not len(a):
        return
    common = shapely.area(shapely.intersection(polys[a], polys[b]))
    areas = shapely.area(polys)
    smaller = np.minimum(areas[a], areas[b])
    bad = np.flatnonzero(common > OVERLAP_SHARE * smaller)
    if not len(bad):
        return
    k = bad[np.argmax(common[bad] / smaller[bad])]
    i, j = ix[a[k]], ix[b[k]]
    small = rows.names[i] if areas[a[k]] <= areas[b[k]] else rows.names[j]
    metric = area is not None and not getattr(area.crs, "is_geographic", True)
    size = f"{common[k]:,.0f} m², " if metric else ""
    more = f"; {len(bad) - 1} more pairs overlap" if len(bad) > 1 else ""
    raise InputError(
        f"{rows.shown}: units '{one_line(rows.names[i], 40)}' ({rows.where[i]}) and "
        f"'{one_line(rows.names[j], 40)}' ({rows.where[j]}) overlap ({size}"
        f"{common[k] / smaller[k]:.0%} of '{one_line(small, 40)}'){more}; units must not "
        "overlap (a 社区 and a 街道 file put together?): fix the boundaries, or give units "
        "of one level"
    )


def _slugs(names: np.ndarray) -> np.ndarray:
    """File-safe names, distinct even where a file system ignores case."""
    from circles.config import safe_name

    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        base = safe_name(str(name))
        slug, k = base, 2
        while slug.casefold() in taken:
            slug, k = f"{base}-{k}", k + 1
        taken.add(slug.casefold())
        out.append(slug)
    return np.asarray(out, dtype=object)


def _examples(values: Any) -> str:
    """A few distinct names, for a message."""
    seen = list(dict.fromkeys(one_line(v, 40) for v in values if str(v).strip()))
    more = " …" if len(seen) > SHOWN else ""
    return ", ".join(seen[:SHOWN]) + more if seen else "(unnamed)"


# ---------------------------------------------------------------------------------------
# The report per unit
# ---------------------------------------------------------------------------------------


@dataclass
class UnitReport:
    """A study's scores per unit.

    Attributes
    ----------
    units : Units
        The units.
    cluster_unit : numpy.ndarray
        Per cluster (row of the cluster table): the index of its unit in ``units``, or
        -1 when it lies (mostly) outside every unit.
    cluster_split : numpy.ndarray
        Per cluster: a unit boundary cuts it (less than :data:`SPLIT_SHARE` of its area
        in its unit).
    table : pandas.DataFrame
        One row per unit: ``unit`` (its index), name, slug, level, clusters,
        clusters_scored, clusters_split, area_m2 (the unit's), residential_area_m2 (its
        clusters'), population (its clusters' residents), completeness
        (residents-weighted mean of the clusters' ``std_completeness``), grade,
        complete_share (share of residents in complete circles), then per district
        indicator and level ``ind_<key>_<level>_clusters|_area|_population``, then
        ``rank`` (1 = best complete_share, ties: more residents first; empty for a unit
        without scored clusters), then the unit's score over every required item
        (:func:`circles.selfassess.unit_item_score`: ``items_reached`` of ``items_total``,
        measured and self-reported counted apart) and, with a self-assessment,
        ``self_assessment_note``.
    items : pandas.DataFrame
        One row per unit × item of the standard: unit, name, level, item (requirement key,
        or the not-assessed item's text), zh, en, clause, group, required, how
        (``measured``, ``self_assessed``, ``not_assessed``), status (``reached``,
        ``missing``, ``partial`` for measured items, ``gap`` without data, ``""`` for a
        unit without scored clusters; ``yes``, ``no``, ``partial`` self-assessed; ``""``
        not assessed), clusters_reached, clusters_missing, residents_missing, note.
    shortfalls : pandas.DataFrame
        One row per unit × required item not reached, most residents affected first:
        unit, name, level, item, zh, en, clause, clusters (cluster ids joined by ``;``),
        n_clusters, residents_affected, nearest_facility, nearest_facility_m,
        proposed_site, how, status (the item's: ``missing`` or ``partial`` measured, ``no``
        or ``partial`` self-assessed).
    notes : list of str
        Warnings: units left out, clusters split or outside every unit, units without
        clusters.
    rejected : list of dict
        rejected_rows.csv records (kind ``units``).
    """

    units: Units
    cluster_unit: np.ndarray
    cluster_split: np.ndarray
    table: pd.DataFrame
    items: pd.DataFrame
    shortfalls: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """What summary.json may hold under ``units``.

        Returns
        -------
        dict
            source, level, units, clusters split and outside every unit, the units
            without clusters, each unit's headline figures (name, clusters, population,
            completeness, grade, complete_share, rank), shortfalls and notes.
        """
        import pandas as pd

        from circles.values import as_number

        rows = []
        for r in self.table.to_dict("records"):
            rank, grade = r["rank"], r["grade"]
            rows.append(
                {
                    "name": str(r["name"]),
                    "clusters": int(r["clusters"]),
                    "population": as_number(r["population"], 1),
                    "completeness": as_number(r["completeness"], 4),
                    "grade": None if pd.isna(grade) else str(grade),
                    "complete_share": as_number(r["complete_share"], 4),
                    "rank": None if pd.isna(rank) else int(rank),
                }
            )
        return {
            "source": self.units.source,
            "level": self.units.level,
            "units": len(self.units),
            "clusters_split": int(self.cluster_split.sum()),
            "clusters_outside": int((self.cluster_unit < 0).sum()),
            "without_clusters": [r["name"] for r in rows if r["clusters"] == 0],
            "per_unit": rows,
            "shortfalls": int(len(self.shortfalls)),
            "notes": list(self.notes),
        }


def assess(
    units: Units,
    clusters: gpd.GeoDataFrame,
    scores: Scores,
    prepared: Prepared | None = None,
    starts: Seeds | None = None,
    walk: Walk | None = None,
    self_assessment: SelfAssessment | None = None,
    categories: Mapping[str, Category] | None = None,
) -> UnitReport:
    """Lay a run's scored clusters over the units: indicators, items and shortfalls per unit.

    Parameters
    ----------
    units : Units
        The units (:func:`read_units`), in the clusters' CRS.
    clusters : geopandas.GeoDataFrame
        The run's clusters (``cluster_id``, ``population``, ``area_m2``, ``used``,
        ``<category>_nearest_m``, geometry), in the order of ``scores.clusters``.
    scores : circles.scoring.Scores
        The clusters scored against the study's standard.
    prepared : Prepared, optional
        The services and where they join the network, for the nearest facility of each
        shortfall; None leaves those columns empty.
    starts : Seeds, optional
        Where each used cluster's walks start (``StudyResult.starts``).
    walk : Walk, optional
        The walking costs the clusters were measured with (``StudyResult.walk``).
    self_assessment : SelfAssessment, optional
        A form's answers (:func:`circles.selfassess.read_form`) for the standard's
        not-assessed items.
    categories : Mapping of str to Category, optional
        The categories measured (a park's radius by its area, the labels).

    Returns
    -------
    UnitReport
        The tables per unit, the notes and the rejected unit rows.

    Raises
    ------
    ValueError
        If the clusters and the scores differ in length, or the units are in another CRS.
    """
    from circles.scoring import _used
    from circles.selfassess import unit_item_score

    if len(clusters) != len(scores.clusters):
        raise ValueError(f"{len(clusters)} clusters for {len(scores.clusters)} scored ones")
    _same_crs(units, clusters)
    unit, split = _join(units.geometry, clusters.geometry.to_numpy())
    pop = _numbers(clusters, "population")
    used = _used(clusters)
    table = _unit_table(units, clusters, scores, unit, split, pop, used, self_assessment)
    items, needs = _items(units, clusters, scores, unit, pop, used, self_assessment)
    # Every required item, measured and self-reported counted apart (unit_item_score).
    table = table.merge(unit_item_score(items), on="unit", how="left")
    shortfalls = _shortfalls(items, needs, unit, clusters, prepared, starts, walk, categories)
    notes = list(units.notes) + _join_notes(units, table, unit, split, pop, used)
    return UnitReport(
        units=units,
        cluster_unit=unit,
        cluster_split=split,
        table=table,
        items=items,
        shortfalls=shortfalls,
        notes=notes,
        rejected=list(units.rejected),
    )


def _same_crs(units: Units, clusters: gpd.GeoDataFrame) -> None:
    """Refuse units and clusters in different CRSs: their areas would not compare."""
    import pyproj

    if clusters.crs is None:
        return
    if not pyproj.CRS.from_user_input(units.crs).equals(pyproj.CRS.from_user_input(clusters.crs)):
        raise ValueError(
            f"the units are in {pyproj.CRS.from_user_input(units.crs).name}, the clusters in "
            f"{clusters.crs.name}: read the units with the study's network"
        )


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A numeric column as floats (NaN where empty; all NaN when there is no such column)."""
    import pandas as pd

    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(float)


def _join(units: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's unit (-1: none) and whether a unit boundary cuts it.

    A cluster joins the unit holding most of its area, unless more of it lies outside
    every unit; a cluster without area (a point) joins the unit holding it.
    """
    import shapely

    n = len(clusters)
    unit = np.full(n, -1, dtype=np.int64)
    split = np.zeros(n, dtype=bool)
    if n == 0 or len(units) == 0:
        return unit, split
    geoms = np.asarray(clusters, dtype=object)
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    c, u = shapely.STRtree(units).query(geoms, predicate="intersects")
    if not len(c):
        return unit, split
    area = shapely.area(geoms)
    areal = area[c] > 0
    share = np.ones(len(c))
    share[areal] = (
        shapely.area(shapely.intersection(geoms[c[areal]], units[u[areal]])) / area[c[areal]]
    )
    # Per cluster, its largest share first (ties: the unit listed first).
    order = np.lexsort((u, -share, c))
    c, u, share = c[order], u[order], share[order]
    first = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    best_c, best_u, best = c[first], u[first], share[first]
    outside = np.clip(1.0 - np.bincount(c, weights=share, minlength=n)[best_c], 0.0, 1.0)
    joins = (best > 0) & (best >= outside)
    unit[best_c[joins]] = best_u[joins]
    split[best_c] = (area[best_c] > 0) & (best < SPLIT_SHARE)
    return unit, split


def _unit_table(
    units: Units,
    clusters: gpd.GeoDataFrame,
    scores: Scores,
    unit: np.ndarray,
    split: np.ndarray,
    pop: np.ndarray,
    used: np.ndarray,
    assessment: SelfAssessment | None,
) -> pd.DataFrame:
    """One row per unit: its clusters, residents, completeness, indicators and rank."""
    import pandas as pd
    import shapely

    from circles.scoring import indicators_within

    std = scores.standard
    top = std.levels[0].key
    indicators, complete_key = _with_complete(std, top)
    comp = scores.table["std_completeness"].to_numpy(float)
    residential = _numbers(clusters, "area_m2")
    rows = []
    for u in range(len(units)):
        keep = unit == u
        scored = keep & used & np.isfinite(comp)
        values = indicators_within(scores, keep, indicators)
        complete = next(v for v in values if v.key == complete_key and v.level == top)
        completeness = _weighted_mean(comp[scored], pop[scored])
        row: dict[str, Any] = {
            "unit": u,
            "name": units.name[u],
            "slug": units.slug[u],
            "level": units.level,
            "clusters": int(keep.sum()),
            "clusters_scored": int(scored.sum()),
            "clusters_split": int((keep & split).sum()),
            "area_m2": round(float(shapely.area(units.geometry[u])), 1),
            "residential_area_m2": round(float(np.nansum(residential[keep])), 1),
            "population": round(float(np.nansum(pop[keep])), 1),
            "completeness": completeness,
            "grade": std.grade_of(completeness),
            "complete_share": _share(complete.population),
        }
        for v in values:
            if v.key != _FALLBACK_COMPLETE:
                row.update(_indicator_columns(v))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["rank"] = _ranks(table)
    if assessment is not None:
        table["self_assessment_note"] = [assessment.notes.get((str(n), ""), "") for n in units.name]
    return table


# The key of the complete indicator made up when a standard has none at its top level.
_FALLBACK_COMPLETE = "_complete"


def _with_complete(std: Standard, top: str) -> tuple[list[Any], str]:
    """The standard's indicators, and the key of the one that says whether a cluster
    meets the top level completely (made up when the standard has none)."""
    from circles.standards import Indicator

    indicators = list(std.indicators)
    for ind in indicators:
        if ind.is_complete and top in ind.levels:
            return indicators, ind.key
    made = Indicator(key=_FALLBACK_COMPLETE, zh="完整", en="complete", levels=(top,))
    return [*indicators, made], _FALLBACK_COMPLETE


def _indicator_columns(v: IndicatorValue) -> dict[str, float]:
    """An indicator's shares as the unit table's columns."""
    p = f"ind_{v.key}_{v.level}_"
    return {p + "clusters": _share(v.clusters), p + "area": _share(v.area),
            p + "population": _share(v.population)}  # fmt: skip


def _share(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    """The residents-weighted mean (plain when no cluster has residents); NaN for none."""
    if not len(values):
        return np.nan
    w = np.nan_to_num(weights)
    mean = float((w * values).sum() / w.sum()) if w.sum() > 0 else float(values.mean())
    return round(mean, 4)


def _ranks(table: pd.DataFrame) -> pd.Series:
    """1 = the best share of residents in complete circles; ties: more residents first,
    then the name. Units without that share have no rank."""
    import pandas as pd

    known = table[table["complete_share"].notna()]
    order = known.sort_values(
        ["complete_share", "population", "name"], ascending=[False, False, True], kind="mergesort"
    ).index
    rank = pd.Series(pd.NA, index=table.index, dtype="Int64")
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def _key_sets(table: pd.DataFrame, column: str) -> list[set[str]]:
    """Per cluster, the requirement keys a ``std_*`` column lists (';'-joined)."""
    if column not in table:
        return [set() for _ in range(len(table))]
    return [set(v.split(";")) if isinstance(v, str) and v else set() for v in table[column]]


# A shortfall to find the nearest facility for: (row of items, requirement, cluster rows).
_Need = tuple[int, Any, np.ndarray]


def _items(
    units: Units,
    clusters: gpd.GeoDataFrame,
    scores: Scores,
    unit: np.ndarray,
    pop: np.ndarray,
    used: np.ndarray,
    assessment: SelfAssessment | None,
) -> tuple[pd.DataFrame, list[_Need]]:
    """One row per unit × item; and the measured required items some clusters miss."""
    import pandas as pd

    std = scores.standard
    n_units = len(units)
    inside = unit >= 0
    scored = np.bincount(unit[inside & used], minlength=n_units)
    rows: list[dict[str, Any]] = []
    needs: list[_Need] = []
    for lv in std.levels:
        reached = _key_sets(scores.table, f"std_{lv.key}_reached")
        optional = _key_sets(scores.table, f"std_{lv.key}_optional")
        missing = _key_sets(scores.table, f"std_{lv.key}_missing")
        for req in lv.requirements:
            gap = scores.status[lv.key][req.key] == "gap"
            got = np.array([req.key in s for s in (reached if req.required else optional)], bool)
            got &= used
            if req.required:
                miss = np.array([req.key in s for s in missing], dtype=bool) & used
            else:
                miss = used & ~got & (not gap)
            n_got = np.bincount(unit[inside & got], minlength=n_units)
            n_miss = np.bincount(unit[inside & miss], minlength=n_units)
            lost = np.bincount(unit[inside & miss], np.nan_to_num(pop[inside & miss]), n_units)
            missing_rows = _by_unit(np.flatnonzero(inside & miss), unit, n_units)
            for u in range(n_units):
                status = _status(gap, int(scored[u]), int(n_got[u]), int(n_miss[u]))
                known = status not in ("gap", "")
                rows.append(
                    {
                        "unit": u,
                        "name": units.name[u],
                        "level": lv.key,
                        "item": req.key,
                        "zh": req.zh,
                        "en": req.en,
                        "clause": req.clause,
                        "group": req.group,
                        "required": req.required,
                        "how": "measured",
                        "status": status,
                        "clusters_reached": int(n_got[u]) if known else pd.NA,
                        "clusters_missing": int(n_miss[u]) if known else pd.NA,
                        "residents_missing": round(float(lost[u]), 1) if known else np.nan,
                        "note": req.note,
                    }
                )
                if req.required and known and n_miss[u] > 0:
                    needs.append((len(rows) - 1, req, missing_rows[u]))
        for item in lv.not_assessed:
            text = item.item.strip()
            for u in range(n_units):
                answer = assessment.answer(str(units.name[u]), text) if assessment else ""
                rows.append(
                    {
                        "unit": u,
                        "name": units.name[u],
                        "level": lv.key,
                        "item": text,
                        "zh": text,
                        "en": "",
                        "clause": item.clause,
                        "group": item.group,
                        "required": item.required,
                        "how": "self_assessed" if answer else "not_assessed",
                        "status": answer,
                        "clusters_reached": pd.NA,
                        "clusters_missing": pd.NA,
                        "residents_missing": np.nan,
                        "note": item.reason,
                    }
                )
    frame = pd.DataFrame(rows, columns=ITEM_COLUMNS)
    for col in ("clusters_reached", "clusters_missing"):
        frame[col] = frame[col].astype("Int64")
    order = np.argsort(frame["unit"].to_numpy(), kind="stable")  # unit by unit
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    frame = frame.iloc[order].reset_index(drop=True)
    return frame, [(int(back[i]), req, cl) for i, req, cl in needs]


#: The columns of :attr:`UnitReport.items`.
ITEM_COLUMNS = (
    "unit",
    "name",
    "level",
    "item",
    "zh",
    "en",
    "clause",
    "group",
    "required",
    "how",
    "status",
    "clusters_reached",
    "clusters_missing",
    "residents_missing",
    "note",
)


def _by_unit(rows: np.ndarray, unit: np.ndarray, n_units: int) -> list[np.ndarray]:
    """Cluster rows grouped by their unit (each group ascending)."""
    order = np.argsort(unit[rows], kind="stable")
    rows = rows[order]
    cuts = np.searchsorted(unit[rows], np.arange(n_units + 1))
    return [rows[cuts[u] : cuts[u + 1]] for u in range(n_units)]


def _status(gap: bool, scored: int, reached: int, missing: int) -> str:
    """A measured item's status in a unit."""
    if gap:
        return "gap"
    if scored == 0 or reached + missing == 0:
        return ""
    if missing == 0:
        return "reached"
    return "missing" if reached == 0 else "partial"


def _shortfalls(
    items: pd.DataFrame,
    needs: list[_Need],
    unit: np.ndarray,
    clusters: gpd.GeoDataFrame,
    prepared: Prepared | None,
    starts: Seeds | None,
    walk: Walk | None,
    categories: Mapping[str, Category] | None,
) -> pd.DataFrame:
    """One row per unit × required item not reached, most residents affected first."""
    import pandas as pd

    ids = clusters["cluster_id"].astype(str).to_numpy()
    pop = np.nan_to_num(_numbers(clusters, "population"))
    names = np.full(len(needs), "", dtype=object)
    metres = np.full(len(needs), np.nan)
    if needs and prepared is not None and starts is not None:
        from circles.shortfalls import nearest_facilities

        names, metres = nearest_facilities(
            [(req, rows.tolist()) for _, req, rows in needs],
            clusters,
            prepared,
            starts,
            walk,
            categories,
        )
    records = items.to_dict("records")  # row by row, a Series each would be slow
    rows: list[dict[str, Any]] = []
    for k, (i, _, cl) in enumerate(needs):
        rows.append(_shortfall(records[i], ids[cl], float(pop[cl].sum()), names[k], metres[k], i))
    said_no = (
        (items["how"] == "self_assessed")
        & items["required"].astype(bool)
        & items["status"].isin(["no", "partial"])
    )
    for j in np.flatnonzero(said_no.to_numpy(bool)).tolist():
        # A unit that says it lacks an item lacks it for all its residents.
        cl = np.flatnonzero(unit == records[j]["unit"])
        rows.append(_shortfall(records[j], ids[cl], float(pop[cl].sum()), "", np.nan, j))
    frame = pd.DataFrame(rows, columns=[*SHORTFALL_COLUMNS, "_order"])
    frame = frame.sort_values(
        ["residents_affected", "_order"], ascending=[False, True], kind="mergesort"
    )
    return frame.drop(columns="_order").reset_index(drop=True)


def _shortfall(
    item: dict[str, Any],
    ids: np.ndarray,
    residents: float,
    facility: str,
    metres: float,
    order: int,
) -> dict[str, Any]:
    """One row of the shortfall list: ``status`` is ``missing`` or ``partial`` (measured),
    ``no`` or ``partial`` (self-assessed)."""
    return {
        "unit": int(item["unit"]),
        "name": item["name"],
        "level": item["level"],
        "item": item["item"],
        "zh": item["zh"],
        "en": item["en"],
        "clause": item["clause"],
        "clusters": ";".join(ids),
        "n_clusters": len(ids),
        "residents_affected": round(residents, 1),
        "nearest_facility": facility or "",
        "nearest_facility_m": metres,
        "proposed_site": "",
        "how": item["how"],
        "status": item["status"],
        "_order": order,
    }


def _join_notes(
    units: Units,
    table: pd.DataFrame,
    unit: np.ndarray,
    split: np.ndarray,
    pop: np.ndarray,
    used: np.ndarray,
) -> list[str]:
    """Warnings on the join: clusters split or outside every unit, units without clusters."""
    notes = []
    src = units.source
    if split.any():
        notes.append(
            f"{src}: {int(split.sum())} residence clusters ({np.nansum(pop[split]):,.0f} "
            f"residents) are cut by unit boundaries (less than {SPLIT_SHARE:.0%} of their area "
            "in one unit); each counts wholly in the unit holding most of its area"
        )
    outside = unit < 0
    if outside.any():
        notes.append(
            f"{src}: {int(outside.sum())} residence clusters "
            f"({np.nansum(pop[outside]):,.0f} residents; {int((outside & used).sum())} of them "
            "measured) lie outside every unit, or mostly, and count in none"
        )
    empty = table.loc[table["clusters"] == 0, "name"].to_numpy()
    if len(empty):
        notes.append(
            f"{src}: {len(empty)} of {len(table)} {units.level} units hold no residence "
            f"cluster: {_examples(empty)}; their shares are empty"
        )
    return notes
