"""One list per shortfall: the nearest existing facility, the proposed site, the files.

A shortfall is a unit (社区, 街道) that misses a required item of the standard: some of its
clusters are not within the item's distance. The list a planner hands on says, per
shortfall, which clusters and residents it affects, where the nearest existing facility is
and how far it is to walk (from the affected cluster nearest to one), and, once
``circles plan`` has run, which proposed site would serve it.

Distances come from the engine, by the rule of ``circles run``: from where each cluster's
walks start (the gates of a walled 小区), at its walking costs, with a park counting only
within its radius. The distance reported is the smallest ``<category>_nearest_m`` of the
affected clusters, the figure ``clusters.csv`` holds; the engine finds which facility it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from circles.values import defuse_frame

if TYPE_CHECKING:
    import pandas as pd

    from circles.graph import Seeds
    from circles.origins import Walk
    from circles.planning import Plan
    from circles.prepare import Prepared
    from circles.services import Category
    from circles.standards import Requirement, Standard

__all__ = [
    "SHORTFALL_COLUMNS",
    "SHORTFALLS_CSV",
    "SHORTFALLS_XLSX",
    "nearest_facilities",
    "seeds_subset",
    "shortfall_table",
    "site_label",
    "with_proposed_sites",
    "write_shortfalls",
    "write_shortfalls_csv",
    "write_shortfalls_xlsx",
    "write_table_xlsx",
]

SHORTFALLS_CSV = "shortfalls.csv"
SHORTFALLS_XLSX = "shortfalls.xlsx"

#: The columns of shortfalls.csv and shortfalls.xlsx, with their bilingual headers.
SHORTFALL_COLUMNS: dict[str, str] = {
    "unit": "单元 unit",
    "name": "单元名称 unit name",
    "level": "层级 level",
    "item": "项目 item",
    "zh": "项目名称",
    "en": "item name",
    "clause": "条款 clause",
    "clusters": "涉及小区 clusters",
    "n_clusters": "小区数 n clusters",
    "residents_affected": "受影响居民 residents affected",
    "nearest_facility": "最近现有设施 nearest facility",
    "nearest_facility_m": "步行距离(米) walking distance (m)",
    "proposed_site": "建议新址 proposed site",
    "how": "评价方式 how assessed",
    "status": "状态 status",
}

# The cluster's nearest distance is rounded to 0.1 m in clusters.csv: the facility it names
# lies within 0.05 m beyond it; 1 mm more allows for sums taken in another order.
_ROUNDING_M = 0.05 + 1e-3
# openpyxl refuses control characters (a hostile name may hold them).
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAX_WIDTH = 60


# ---------------------------------------------------------------------------------------
# The nearest existing facility
# ---------------------------------------------------------------------------------------


def seeds_subset(starts: Seeds, origins: np.ndarray) -> Seeds:
    """The seeds of some origins, renumbered ``0 .. len(origins) - 1`` in their order.

    Parameters
    ----------
    starts : Seeds
        Every origin's seeds.
    origins : numpy.ndarray
        Origin indices, ascending and distinct.

    Returns
    -------
    Seeds
        Origin ``k`` of the result is ``origins[k]`` of ``starts``.
    """
    from circles.graph import Seeds

    origins = np.asarray(origins, dtype=np.int64)
    keep = np.isin(starts.origin, origins)
    return Seeds(
        starts.edge[keep],
        starts.offset[keep],
        starts.snap_m[keep],
        origin=np.searchsorted(origins, starts.origin[keep]).astype(np.int64),
        n_origins=len(origins),
    )


def _kinds_missing(
    req: Requirement, rows: np.ndarray, near: dict[str, np.ndarray]
) -> list[tuple[int, str]]:
    """The (cluster row, category) pairs whose nearest facility a shortfall may name.

    Any category of a ``one`` or ``any`` requirement; for ``all``, the kinds each cluster
    misses (all of them when it misses none: scored by its residents, not its point)."""
    cats = [c for c in req.categories if c in near]
    out: list[tuple[int, str]] = []
    for r in rows:
        mine = cats
        if req.match == "all":
            missing = [c for c in cats if not near[c][r] <= req.distance_m + 1e-9]
            mine = missing or cats
        out.extend((int(r), c) for c in mine if np.isfinite(near[c][r]))
    return out


def _facility_label(
    name: str, category: str, several: bool, categories: Mapping[str, Category] | None
) -> str:
    """A facility's name; an unnamed one is named by its kind, as is one of several kinds."""
    if categories is not None and category in categories:
        zh, en = categories[category].zh, categories[category].en
    else:
        from circles.planning import catalogue_label

        zh, en = catalogue_label(category, "zh"), catalogue_label(category, "en")
    if not name:
        return f"未命名{zh} unnamed {en}"
    return f"{name} ({zh} {en})" if several else name


def nearest_facilities(
    needs: Sequence[tuple[Requirement, Sequence[int]]],
    clusters: pd.DataFrame,
    prepared: Prepared,
    starts: Seeds | None,
    walk: Walk | None = None,
    categories: Mapping[str, Category] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The nearest existing facility of each shortfall, and its walk from the affected clusters.

    The distance is the smallest ``<category>_nearest_m`` of the affected clusters over the
    requirement's categories (for ``all_of``, the kinds each cluster misses): the figure
    of clusters.csv. Which facility lies there is found by the engine
    (:func:`circles.engine.pairs_within`) from the run's starts, at the run's walking
    costs, searching only that far (plus the 0.05 m of rounding); a park counts only within
    its radius (:func:`circles.measure.service_radii`). One search per category, from the
    clusters that decide some shortfall.

    Parameters
    ----------
    needs : sequence of (Requirement, sequence of int)
        Per shortfall: the requirement not reached, and the affected clusters as row
        positions in ``clusters``.
    clusters : pandas.DataFrame
        The run's clusters (``used`` and ``<category>_nearest_m``), in the row order of
        ``starts``.
    prepared : Prepared
        The services (``category``, ``name``, ``area_m2`` when known) and where they join
        the network.
    starts : Seeds or None
        Where each used cluster's walks start (``StudyResult.starts``); None: no cluster
        was measured, and no facility is named.
    walk : Walk, optional
        The walking costs the clusters were measured with (``StudyResult.walk``); default:
        each edge's length.
    categories : Mapping of str to Category, optional
        The categories measured (their ``radius_by_area`` and labels).

    Returns
    -------
    names : numpy.ndarray
        Per shortfall, the facility's name (object; ``""`` when none can be reached or the
        kind is a data gap). An unnamed one is ``未命名<kind> unnamed <kind>``; with several
        categories, the kind follows the name.
    metres : numpy.ndarray
        Per shortfall, the walk (m, rounded to 0.1 m as in clusters.csv); NaN when none.

    Raises
    ------
    ValueError
        If ``starts`` does not hold one origin per used cluster.
    """
    from circles.engine import Points, pairs_within
    from circles.measure import service_radii
    from circles.origins import Walk

    n = len(needs)
    names = np.full(n, "", dtype=object)
    metres = np.full(n, np.nan)
    if n == 0 or starts is None:
        return names, metres
    used = clusters["used"].to_numpy(bool)
    if starts.n_origins != int(used.sum()):
        raise ValueError(
            f"starts has {starts.n_origins} origins for {int(used.sum())} used clusters"
        )
    origin_of = np.full(len(clusters), -1, dtype=np.int64)
    origin_of[used] = np.arange(int(used.sum()))
    wanted = {c for req, _ in needs for c in req.categories}
    near = {
        c: clusters[f"{c}_nearest_m"].to_numpy(float)
        for c in sorted(wanted)
        if f"{c}_nearest_m" in clusters.columns
    }
    # Per shortfall, the (origin, category) pairs at its smallest distance.
    winners: list[list[tuple[int, str]]] = []
    for i, (req, rows) in enumerate(needs):
        rows_arr = np.asarray(rows, dtype=np.int64)
        pairs = _kinds_missing(req, rows_arr[origin_of[rows_arr] >= 0], near)
        if not pairs:
            winners.append([])
            continue
        best = min(near[c][r] for r, c in pairs)
        metres[i] = best
        winners.append([(int(origin_of[r]), c) for r, c in pairs if near[c][r] == best])
    walk = walk if walk is not None else Walk.plain(prepared.network)
    graph = walk.graph()
    svc = prepared.services
    att = prepared.service_attachment
    area = svc.get("area_m2")
    found: dict[tuple[int, str], tuple[float, int]] = {}  # (origin, category) -> (m, service)
    for c in sorted({c for w in winners for _, c in w}):
        origins = np.unique([o for w in winners for o, k in w if k == c])
        limit = max(metres[i] for i, w in enumerate(winners) if any(k == c for _, k in w))
        t = np.flatnonzero(att.used & (svc["category"] == c))
        if len(t) == 0:
            continue
        edge = att.edge[t]
        targets = Points(edge, walk.offsets(edge, att.offset[t]), att.snap_m[t])
        radii = (
            service_radii(categories, svc["category"][t], None if area is None else area[t])
            if categories is not None
            else np.full(len(t), np.inf)
        )
        o_idx, t_idx, dist = pairs_within(
            graph, seeds_subset(starts, origins), targets, limit + _ROUNDING_M
        )
        ok = dist <= radii[t_idx]  # a park beyond its radius is nobody's nearest
        o_idx, t_idx, dist = o_idx[ok], t_idx[ok], dist[ok]
        # Per origin the nearest facility; ties go to the lowest service index.
        order = np.lexsort((t[t_idx], dist, o_idx))
        o_idx, t_idx, dist = o_idx[order], t_idx[order], dist[order]
        first = np.flatnonzero(np.r_[True, o_idx[1:] != o_idx[:-1]][: len(o_idx)])
        for j in first:
            found[(int(origins[o_idx[j]]), c)] = (float(dist[j]), int(t[t_idx[j]]))
    for i, (req, _) in enumerate(needs):
        hits = [found[w] + (w[1],) for w in winners[i] if w in found]
        if not hits:
            continue
        _, s, c = min(hits)
        name = str(svc["name"][s]) if isinstance(svc["name"][s], str) else ""  # NaN: none
        names[i] = _facility_label(name, c, len(req.categories) > 1, categories)
    return names, metres


# ---------------------------------------------------------------------------------------
# The proposed site
# ---------------------------------------------------------------------------------------


def site_label(site: Mapping[str, Any]) -> str:
    """How the list names a proposed site: its rank and its name, street or candidate id.

    Parameters
    ----------
    site : Mapping
        A row of ``Plan.sites`` (``rank``, ``name``, ``street``, ``candidate_id``).

    Returns
    -------
    str
        For example ``#1 中山路`` or ``#2 candidate 123456``.
    """

    def text(key: str) -> str:
        v = site.get(key)
        return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()

    where = text("name") or text("street") or f"candidate {text('candidate_id')}"
    return f"#{int(site['rank'])} {where}"


def _plan_rows(shortfalls: pd.DataFrame, plan: Plan, standard: Standard | None) -> np.ndarray:
    """The shortfall rows a plan's item serves: measured rows of a requirement at the
    plan's level (any level with the same distance, for a ``--category`` plan) that the
    plan's category measures."""
    item = plan.item
    keep = np.zeros(len(shortfalls), dtype=bool)
    how = (
        shortfalls["how"].astype(str).to_numpy()
        if "how" in shortfalls
        else np.full(len(shortfalls), "measured")
    )
    for i, (level, key) in enumerate(
        zip(shortfalls["level"].astype(str), shortfalls["item"].astype(str), strict=True)
    ):
        if how[i] != "measured":
            continue
        if standard is None:
            keep[i] = key == item.category and (item.level is None or level == item.level)
            continue
        try:
            req = next(r for r in standard.level(level).requirements if r.key == key)
        except (KeyError, StopIteration):
            continue
        if item.category not in (*req.categories, req.key):
            continue
        if item.level is not None:
            keep[i] = level == item.level
        else:
            keep[i] = abs(req.distance_m - item.distance_m) < 1e-9
    return keep


def with_proposed_sites(
    shortfalls: pd.DataFrame, plan: Plan, standard: Standard | None = None
) -> pd.DataFrame:
    """The shortfall list with the plan's site that serves each of its item's rows.

    Per shortfall of the plan's item, the proposed site that newly covers most of its
    affected clusters (``Plan.clusters.site_rank``, the first site to cover each); ties go
    to the better-ranked site. A row none of whose clusters a site covers keeps ``""``, as
    do the rows of other items.

    Parameters
    ----------
    shortfalls : pandas.DataFrame
        The list (``level``, ``item``, ``clusters`` as ids joined by ``;``, ``how``).
    plan : Plan
        A plan of the same study (``circles plan``).
    standard : Standard, optional
        The standard the list is scored against: a requirement measured by several
        categories (``any_of``, ``all_of``) is served by a plan for one of them. Default:
        the plan study's standard.

    Returns
    -------
    pandas.DataFrame
        A copy, with ``proposed_site`` (:func:`site_label`) filled.
    """
    if standard is None:
        from circles.scope import Scope

        standard = Scope.of(plan.study).standard
    out = shortfalls.copy()
    if "proposed_site" not in out:
        out["proposed_site"] = ""
    proposed = out["proposed_site"].fillna("").astype(str).to_numpy(dtype=object)
    rank_of = dict(
        zip(
            plan.clusters["cluster_id"].astype(str),
            plan.clusters["site_rank"].to_numpy(np.int64),
            strict=True,
        )
    )
    labels = {int(s["rank"]): site_label(s) for s in plan.sites.to_dict("records")}
    ids = out["clusters"].fillna("").astype(str).to_numpy()
    for i in np.flatnonzero(_plan_rows(out, plan, standard)):
        ranks = [rank_of.get(c, -1) for c in ids[i].split(";") if c]
        ranks = [r for r in ranks if r > 0 and r in labels]
        if ranks:
            counts = np.bincount(ranks)
            proposed[i] = labels[int(np.argmax(counts))]  # argmax: the lowest rank on ties
    out["proposed_site"] = proposed
    return out


# ---------------------------------------------------------------------------------------
# The files
# ---------------------------------------------------------------------------------------


def shortfall_table(shortfalls: pd.DataFrame) -> pd.DataFrame:
    """The list as written: :data:`SHORTFALL_COLUMNS`, most residents affected first.

    Parameters
    ----------
    shortfalls : pandas.DataFrame
        The shortfalls (``UnitReport.shortfalls``); a missing ``proposed_site`` is ``""``.

    Returns
    -------
    pandas.DataFrame
        The columns in order (extra ones dropped), sorted by ``residents_affected``
        descending, ties in the given order; text cells defused
        (:func:`circles.values.defuse_formula`).

    Raises
    ------
    ValueError
        If a column other than ``proposed_site`` is missing.
    """
    import pandas as pd

    frame = shortfalls.copy()
    if "proposed_site" not in frame:
        frame["proposed_site"] = ""
    missing = [c for c in SHORTFALL_COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"shortfalls lack the columns {', '.join(missing)}")
    frame = frame[list(SHORTFALL_COLUMNS)]
    residents = pd.to_numeric(frame["residents_affected"], errors="coerce")
    order = np.argsort(-residents.fillna(-np.inf).to_numpy(float), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    return defuse_frame(frame)


def _cell(value: Any) -> Any:
    """A value as an XLSX cell holds it: NaN empty, numpy scalars plain, text clean."""
    if value is None:
        return None
    if isinstance(value, str):
        return _ILLEGAL_XLSX.sub("", value)
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else float(value)
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _width(value: Any) -> int:
    """Columns a value takes: a CJK character is two wide."""
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def write_table_xlsx(
    frame: pd.DataFrame, headers: Mapping[str, str], path: Path, sheet: str
) -> Path:
    """One sheet: a bilingual header row, frozen, filtered, with widths fitting the cells.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows, text already defused.
    headers : Mapping of str to str
        The header of each column (bilingual).
    path : pathlib.Path
        The ``.xlsx`` file to write.
    sheet : str
        The sheet's name (at most 31 characters).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet[:31]
    cols = list(frame.columns)
    ws.append([headers.get(c, c) for c in cols])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in frame.itertuples(index=False, name=None):
        ws.append([_cell(v) for v in row])
    for j, c in enumerate(cols, start=1):
        widest = max([_width(headers.get(c, c)), *(_width(v) for v in frame[c].head(500))])
        ws.column_dimensions[get_column_letter(j)].width = min(widest + 2, _MAX_WIDTH)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(max(len(cols), 1))}{len(frame) + 1}"
    book.save(path)
    return path


def write_shortfalls_csv(shortfalls: pd.DataFrame, path: Path) -> Path:
    """``shortfalls.csv``: the list (:func:`shortfall_table`), UTF-8 with a BOM (Excel shows
    Chinese), the column keys as its header.

    Parameters
    ----------
    shortfalls : pandas.DataFrame
        The list (``UnitReport.shortfalls``).
    path : pathlib.Path
        The file to write.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    shortfall_table(shortfalls).to_csv(path, index=False, encoding="utf-8-sig")
    return Path(path)


def write_shortfalls_xlsx(shortfalls: pd.DataFrame, path: Path) -> Path:
    """``shortfalls.xlsx``: the list (:func:`shortfall_table`) under a bilingual header row,
    frozen, with a filter and fitted widths.

    Parameters
    ----------
    shortfalls : pandas.DataFrame
        The list (``UnitReport.shortfalls``).
    path : pathlib.Path
        The file to write.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    frame = shortfall_table(shortfalls)
    return write_table_xlsx(frame, SHORTFALL_COLUMNS, Path(path), "短板清单 shortfalls")


def write_shortfalls(shortfalls: pd.DataFrame, folder: Path) -> list[Path]:
    """``shortfalls.csv`` and ``shortfalls.xlsx``: one row per unit × required item not reached.

    Sorted by residents affected (most first). The CSV is UTF-8 with a BOM (Excel shows
    Chinese) with the column keys as its header; the XLSX has a bilingual header row,
    frozen, with a filter and fitted widths. Every text cell a spreadsheet would run as a
    formula is defused (:func:`circles.values.defuse_formula`). Written with the header
    when there is no shortfall. Inside :func:`circles.outputs.write_folder`, register
    :func:`write_shortfalls_csv` and :func:`write_shortfalls_xlsx` one file each instead.

    Parameters
    ----------
    shortfalls : pandas.DataFrame
        The list (``UnitReport.shortfalls``, with :data:`SHORTFALL_COLUMNS`; a missing
        ``proposed_site`` is written empty).
    folder : pathlib.Path
        An existing folder.

    Returns
    -------
    list of pathlib.Path
        The CSV and the XLSX.

    Raises
    ------
    ValueError
        If a column of :data:`SHORTFALL_COLUMNS` other than ``proposed_site`` is missing.
    """
    folder = Path(folder)
    return [
        write_shortfalls_csv(shortfalls, folder / SHORTFALLS_CSV),
        write_shortfalls_xlsx(shortfalls, folder / SHORTFALLS_XLSX),
    ]
