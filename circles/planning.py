"""Where to build: the sites that bring the most residents within an item's walking distance.

Maximal covering with the existing facilities fixed: a cluster already within the item's
distance of a facility counts for nothing, so every proposed site must cover someone new.
Coverage sets come from the engine (same network, snapping, attachment and distance
rules as ``circles run``); the greedy answer has exact marginal gains, and ``exact``
solves the integer program with HiGHS (``scipy.optimize.milp``).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from circles._errors import InputError
from circles.config import PoiTable

if TYPE_CHECKING:
    import geopandas as gpd
    from scipy.sparse import csr_matrix

    from circles.config import Study
    from circles.network import WalkNetwork
    from circles.result import StudyResult
    from circles.snap import Attachment, EdgeIndex
    from circles.standards import Standard

__all__ = [
    "CANDIDATE_NEAR_M",
    "CANDIDATE_SPACING_M",
    "CandidateTable",
    "Candidates",
    "Coverage",
    "Item",
    "Plan",
    "budget_greedy",
    "cluster_attachment",
    "coverage_sets",
    "distinct_candidates",
    "exact_sites",
    "file_candidates",
    "greedy",
    "item_from_standard",
    "item_of_study",
    "nearest_existing",
    "plan",
    "street_candidates",
]

#: Street nodes within this distance (m) of a residence cluster's polygon are candidates.
CANDIDATE_NEAR_M = 50.0
#: Street candidates are thinned to the first node (in OSM id order) per square this wide.
CANDIDATE_SPACING_M = 50.0
#: A site on an unnamed edge takes the name of the nearest named edge this close (m).
STREET_NAME_NEAR_M = 50.0
#: Header names of a candidate file's cost column, when the spec names none.
COST_HEADERS = ("cost", "造价", "费用", "成本", "投资")
OBJECTIVES = ("residents", "clusters")


@dataclass(frozen=True)
class Item:
    """What to plan for: a category and the walking distance it must be within.

    Attributes
    ----------
    category : str
        A category key (``elder_care``).
    distance_m : float
        The walking distance (m) a cluster must be within to be covered.
    level : str or None
        The standard's level key (``5min``), when the item comes from a standard.
    zh, en : str
        Labels for outputs (``养老服务站 (5分钟, 300米)``, ``elder care (5 min, 300 m)``).
    """

    category: str
    distance_m: float
    level: str | None = None
    zh: str = ""
    en: str = ""

    @property
    def slug(self) -> str:
        """The plan's folder name: ``plan-<level>-<category>`` or ``plan-<m>m-<category>``."""
        where = self.level if self.level else f"{self.distance_m:g}m"
        return f"plan-{where}-{self.category}"


@dataclass
class Plan:
    """Proposed sites for one item, in rank order, and what they change.

    Attributes
    ----------
    study : Study
        The study planned on (title, name, map settings).
    item : Item
        The item.
    objective : str
        ``residents`` or ``clusters``: what a site's gain counts.
    method : str
        ``greedy``, ``exact``, ``budget`` (greedy or exact under a budget) or ``cover_all``.
    sites : geopandas.GeoDataFrame
        One row per proposed site, in rank order (network CRS points): ``rank`` (1, 2,
        ...), ``candidate_id``, ``name``, ``lon``, ``lat`` (WGS-84), ``lon_gcj02``,
        ``lat_gcj02``, ``street`` (the nearest street's name, or ""), ``snap_m``, ``cost``
        (NaN without costs), ``new_residents``, ``new_clusters`` (newly covered by this
        site, given the sites ranked before it), ``cum_residents``, ``cum_share`` (share
        of all residents covered, existing facilities included, once sites up to this
        rank are built).
    clusters : geopandas.GeoDataFrame
        Every cluster (network CRS): ``cluster_id``, ``name``, ``population``, ``area_m2``,
        ``covered_before``, ``covered_after`` (bool), ``site_rank`` (rank of the first
        site that covers it newly, -1 if none), ``reachable`` (some candidate covers it).
    existing : geopandas.GeoDataFrame
        The existing facilities of the category (network CRS points): ``name``.
    unreachable : list of str
        Cluster ids not covered before that no candidate can cover.
    before, after : dict
        Coverage shares ``{"clusters": s, "area": s, "residents": s}`` before and after.
    greedy_value : float
        The objective the greedy answer reaches.
    exact_value : float or None
        The optimum, when solved exactly.
    gap : float or None
        ``(exact_value - greedy_value) / exact_value``: the greedy answer's optimality gap.
    n_candidates : int
        Candidates considered.
    candidates_source : str
        ``streets`` (street nodes near residential areas) or the candidate file's name.
    data_gap : bool
        The data has no facility of the category: planned as if none existed.
    rejected : list of dict
        Candidate-file rows that could not be used, with their reasons.
    notes : list of str
        Warnings for the planner.
    crs : Any
        The network's CRS.
    """

    study: Study
    item: Item
    objective: str
    method: str
    sites: gpd.GeoDataFrame
    clusters: gpd.GeoDataFrame
    existing: gpd.GeoDataFrame
    unreachable: list[str]
    before: dict[str, float | None]
    after: dict[str, float | None]
    greedy_value: float
    exact_value: float | None = None
    gap: float | None = None
    n_candidates: int = 0
    candidates_source: str = "streets"
    data_gap: bool = False
    rejected: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    crs: Any = None


# ---------------------------------------------------------------------------------------
# The item
# ---------------------------------------------------------------------------------------


def item_from_standard(standard: Standard, text: str) -> Item:
    """The item ``LEVEL:CATEGORY`` of a standard (``5min:elder_care``).

    The category is a requirement's key at that level, or one of the categories of a
    requirement there (``5min:pharmacy`` of ``community_shops``); its walking distance and
    labels are the requirement's.

    Parameters
    ----------
    standard : Standard
        The study's standard.
    text : str
        ``LEVEL:CATEGORY``.

    Returns
    -------
    Item
        The category, the requirement's distance, the level key and bilingual labels.

    Raises
    ------
    InputError
        If the standard has no such item; the message lists the items it has.
    """
    level_key, _, category = (part.strip() for part in text.partition(":"))
    for level in standard.levels:
        if level.key != level_key or not category:
            continue
        found = [r for r in level.requirements if r.key == category and len(r.categories) == 1]
        found += [r for r in level.requirements if category in r.categories]
        if found:
            r = found[0]
            d = r.distance_m
            zh = catalogue_label(category, "zh") if len(r.categories) > 1 else r.zh
            en = catalogue_label(category, "en") if len(r.categories) > 1 else r.en
            # A requirement named other than its one category (sports_hall: sports).
            return Item(
                category if category in r.categories else r.categories[0],
                d,
                level=level.key,
                zh=f"{zh} ({level.zh}, {d:g}米)",
                en=f"{en} ({level.en}, {d:g} m)",
            )
    items = [
        f"{lv.key}:{c}" for lv in standard.levels for r in lv.requirements for c in r.categories
    ]
    raise InputError(
        f"standard {standard.key} has no item '{text}' (LEVEL:CATEGORY); it has: "
        f"{', '.join(dict.fromkeys(items))}"
    )


def catalogue_label(category: str, language: str) -> str:
    """A category's name in the bundled catalogue (its key when unknown).

    Parameters
    ----------
    category : str
        A category key.
    language : str
        ``zh`` or ``en``.

    Returns
    -------
    str
        The label.
    """
    from circles.services import load_catalogue

    found = load_catalogue().get(category)
    return str(getattr(found, language)) if found is not None else category


# ---------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------


class CandidateTable(PoiTable):
    """A planner's candidate sites: a table read like a POI table, with optional costs.

    Vacant lots, ground-floor shops to let, 存量用房: CSV, XLSX, GeoJSON, GeoPackage or
    Shapefile, with the coordinates, ``crs`` and ``columns`` of a POI table (no category
    needed). ``cost`` names the column of each site's cost (default: a column headed
    cost, 造价, 费用, 成本 or 投资, if there is one).
    """

    cost: str | None = Field(None, description="the column of each site's cost (budget)")


@dataclass
class Candidates:
    """Where new facilities may go, attached to the network.

    Attributes
    ----------
    x, y : numpy.ndarray
        The sites (network CRS).
    attachment : Attachment
        Where each joins the network (all used).
    ids, names : numpy.ndarray
        Each site's id (OSM node id, or the file's id column or row) and name, as text.
    cost : numpy.ndarray
        Each site's cost; NaN without costs.
    source : str
        ``streets`` or the candidate file's name.
    rejected : list of dict
        Rows of the candidate file that cannot be used, with their reasons.
    """

    x: np.ndarray
    y: np.ndarray
    attachment: Attachment
    ids: np.ndarray
    names: np.ndarray
    cost: np.ndarray
    source: str = "streets"
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def has_costs(self) -> bool:
        """Whether the sites have costs."""
        return bool(len(self.cost)) and bool(np.isfinite(self.cost).all())


def street_candidates(network: WalkNetwork, clusters: gpd.GeoDataFrame) -> Candidates:
    """Walkable street nodes inside or near residence clusters, one per square.

    A node within :data:`CANDIDATE_NEAR_M` of a cluster's polygon is kept when it is the
    first (in OSM id order) in its :data:`CANDIDATE_SPACING_M` square of a grid anchored
    at the CRS origin: the same network and clusters always give the same candidates.

    Parameters
    ----------
    network : WalkNetwork
        The walking network.
    clusters : geopandas.GeoDataFrame
        The residence clusters (network CRS).

    Returns
    -------
    Candidates
        The nodes, attached exactly where they are (no snap distance).
    """
    import shapely

    from circles.snap import attach_to_nodes

    pts = shapely.points(network.x, network.y)
    tree = shapely.STRtree(clusters.geometry.to_numpy())
    near, _ = tree.query(pts, predicate="dwithin", distance=CANDIDATE_NEAR_M)
    nodes = np.unique(near)
    nodes = nodes[np.argsort(network.osm_id[nodes], kind="stable")]
    s = CANDIDATE_SPACING_M
    cells = np.column_stack(
        [np.floor(network.x[nodes] / s), np.floor(network.y[nodes] / s)]
    ).astype(np.int64)
    _, first = np.unique(cells, axis=0, return_index=True)
    nodes = nodes[np.sort(first)]
    n = len(nodes)
    return Candidates(
        x=network.x[nodes],
        y=network.y[nodes],
        attachment=attach_to_nodes(network, nodes),
        ids=network.osm_id[nodes].astype(str).astype(object),
        names=np.full(n, "", dtype=object),
        cost=np.full(n, np.nan),
    )


def file_candidates(
    spec: CandidateTable, study: Study, network: WalkNetwork, index: EdgeIndex
) -> Candidates:
    """A planner's candidate file, read with the readers and CRS options of ``--pois``.

    Rows with bad coordinates, outside the study area, farther than the snapping distance
    from a walkable street, or with a cost that is not a non-negative number become
    rejection records (``kind`` ``candidates``).

    Parameters
    ----------
    spec : CandidateTable
        The file, its CRS, encoding, sheet, columns and cost column.
    study : Study
        The study (its area and snapping distance).
    network : WalkNetwork
        The network the sites join.
    index : EdgeIndex
        The network's edge index.

    Returns
    -------
    Candidates
        The usable rows, in file order.

    Raises
    ------
    InputError
        The file cannot be read, has no coordinate columns, names a cost column it lacks,
        or has no usable row.
    """
    from circles.prepare import study_area
    from circles.sources.tables import rejection
    from circles.sources.tables.locate import locate_table
    from circles.sources.tables.read import (
        POI_ROLES,
        normalize_header,
        parse_number,
        read_table,
        role_texts,
    )

    where = "candidates"
    raw, cols = read_table(spec, POI_ROLES, where)
    cost_col = spec.cost
    if cost_col is not None and cost_col not in raw.columns:
        raise InputError(
            f"{raw.path}: no cost column '{cost_col}'; columns found: {', '.join(raw.columns)}"
        )
    if cost_col is None:
        taken = set(cols.values())
        wanted = {normalize_header(h) for h in COST_HEADERS}
        cost_col = next(
            (c for c in raw.columns if c not in taken and normalize_header(c) in wanted), None
        )
    _, loc, _ = locate_table(raw, cols, spec.crs, where, study_area(study, network, halo=False))
    names = role_texts(raw, cols, "name")
    ids = role_texts(raw, cols, "id")
    n = len(raw.frame)
    cost = parse_number(raw.frame[cost_col].tolist()) if cost_col else np.full(n, np.nan)
    max_snap = study.snap.max_distance_m
    ok = loc.reason == ""
    attachment = index.attach(np.where(ok, loc.x, 0.0), np.where(ok, loc.y, 0.0), max_snap)
    rejected, keep = [], []
    for i in range(n):
        reason, detail = str(loc.reason[i]), str(loc.detail[i])
        if not reason and cost_col and not (np.isfinite(cost[i]) and cost[i] >= 0):
            reason = "bad_value"
            detail = f"cost '{raw.cell(cost_col, i)}' is not a non-negative number"
        if not reason and not attachment.used[i]:
            reason = "far_from_street"
            detail = (
                f"{attachment.snap_m[i]:.0f} m from the nearest walkable street "
                f"(at most {max_snap:g} m)"
            )
        if reason:
            rejected.append(rejection(raw, cols, where, i, reason, detail, names[i]))
        else:
            keep.append(i)
    if not keep:
        reasons = sorted({r["reason"] for r in rejected})
        raise InputError(
            f"{raw.path}: no usable candidate site in {n} rows ({', '.join(reasons) or 'empty'});"
            " check the coordinates, crs and columns"
        )
    k = np.asarray(keep, dtype=np.int64)
    row_ids = np.where(ids[k] != "", ids[k], raw.rows[k].astype(str))
    return Candidates(
        x=loc.x[k],
        y=loc.y[k],
        attachment=attachment.subset(k),
        ids=row_ids.astype(object),
        names=names[k],
        cost=cost[k],
        source=raw.path.name,
        rejected=rejected,
    )


def _candidates(
    given: str | Path | PoiTable | None,
    result: StudyResult,
    clusters: gpd.GeoDataFrame,
    index: EdgeIndex,
) -> Candidates:
    if given is None:
        return street_candidates(result.network, clusters)
    if isinstance(given, str | Path):
        spec = CandidateTable(file=Path(given))
    elif isinstance(given, CandidateTable):
        spec = given
    else:
        spec = CandidateTable(**given.model_dump())
    return file_candidates(spec, result.study, result.network, index)


# ---------------------------------------------------------------------------------------
# Coverage
# ---------------------------------------------------------------------------------------


@dataclass
class Coverage:
    """Which candidates newly cover which clusters, and what covering each is worth.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        ``matrix[i, j]`` is True when candidate i is within the item's distance of
        cluster j (rows: candidates; columns: every cluster of the study).
    weight : numpy.ndarray
        What covering each cluster adds: its population (or 1); 0 for clusters covered
        before, which count for nothing.
    before : numpy.ndarray
        Clusters covered by the existing facilities.
    """

    matrix: csr_matrix
    weight: np.ndarray
    before: np.ndarray

    def value(self, sites: list[int] | np.ndarray) -> float:
        """The objective a set of sites reaches: the weight it newly covers.

        Parameters
        ----------
        sites : list of int
            Candidate indices.

        Returns
        -------
        float
            The summed weight of the clusters they cover.
        """
        rows = self.matrix[np.asarray(sites, dtype=np.int64)]
        hit = np.zeros(self.matrix.shape[1], dtype=bool)
        hit[rows.indices] = True
        return float(self.weight[hit].sum())


def cluster_attachment(result: StudyResult, index: EdgeIndex) -> Attachment:
    """The clusters' attachment, as :func:`circles.residences.form_clusters` makes it.

    Parameters
    ----------
    result : StudyResult
        A run with clusters.
    index : EdgeIndex
        The edge index of the run's network.

    Returns
    -------
    Attachment
        One row per cluster (representative point), identical to the run's.
    """
    assert result.clusters is not None
    points = result.clusters.geometry.representative_point()
    return index.attach(points.x.to_numpy(), points.y.to_numpy(), result.study.snap.max_distance_m)


def nearest_existing(
    result: StudyResult, item: Item, attachment: Attachment, index: EdgeIndex
) -> tuple[np.ndarray, gpd.GeoDataFrame]:
    """Each cluster's ``<category>_nearest_m`` and the category's existing facilities.

    Taken from the run when it measured the category; else its services are found in the
    study's OSM data and measured here with :func:`circles.measure.measure`.

    Parameters
    ----------
    result : StudyResult
        A run with clusters.
    item : Item
        Its category.
    attachment : Attachment
        The clusters' attachment (:func:`cluster_attachment`).
    index : EdgeIndex
        The edge index of the run's network.

    Returns
    -------
    nearest : numpy.ndarray
        Metres to the nearest facility per cluster, rounded to 0.1 m; NaN when none.
    existing : geopandas.GeoDataFrame
        The used facilities of the category: ``name`` and points (network CRS).

    Raises
    ------
    InputError
        The category is not in the catalogue.
    """
    import geopandas as gpd

    assert result.clusters is not None
    column = f"{item.category}_nearest_m"
    services = result.services
    if column in result.clusters.columns and services is not None:
        mine = services[(services["category"] == item.category) & services["used"]]
        return result.clusters[column].to_numpy(float), mine[["name", "geometry"]]
    from circles import measure
    from circles.config import ReachSettings
    from circles.prepare import Prepared, load_extract
    from circles.services import feature_keys, find_services, load_catalogue

    catalogue = load_catalogue()
    if item.category not in catalogue:
        raise InputError(
            f"unknown category '{item.category}'; see `circles categories` for the known ones"
        )
    cats = {item.category: catalogue[item.category]}
    network = result.network
    features = load_extract(result.study, feature_keys(cats)).features.to_crs(network.crs)
    found = find_services(features, cats)
    x, y = found.geometry.x.to_numpy(), found.geometry.y.to_numpy()
    arrays = {
        "category": found["category"].to_numpy(str),
        "name": found["name"].fillna("").to_numpy(str),
        "osm_type": found["osm_type"].to_numpy(str),
        "osm_id": found["osm_id"].to_numpy(np.int64),
        "x": x,
        "y": y,
    }
    if "area_m2" in found:  # a park's area decides how far it serves (radius_by_area)
        arrays["area_m2"] = found["area_m2"].to_numpy(float)
    att = index.attach(x, y, result.study.snap.max_distance_m)
    prepared = Prepared(network, arrays, att, "", None, False)
    # From where the run's walks start (the gates of a walled 小区), at its walking costs.
    starts = result.starts if result.starts is not None else attachment
    used = result.clusters["used"].to_numpy(bool) if result.starts is not None else attachment.used
    reach = measure.measure(
        prepared, starts, [item.category], [item.distance_m], ReachSettings(), cats, result.walk
    )
    nearest = np.full(len(attachment), np.nan)
    nearest[used] = np.round(reach.nearest_m[:, 0], 1)
    existing = gpd.GeoDataFrame(
        {"name": arrays["name"][att.used].astype(object)},
        geometry=gpd.points_from_xy(x[att.used], y[att.used]),
        crs=network.crs,
    )
    return nearest, existing


def coverage_sets(
    result: StudyResult,
    item: Item,
    candidates: Candidates,
    clusters: Attachment,
    before: np.ndarray,
    weight: np.ndarray,
) -> Coverage:
    """Candidates x clusters within the item's distance, by the rule of ``circles run``.

    A cluster is covered when its nearest facility, rounded to 0.1 m as in the
    ``<category>_nearest_m`` column, is within the distance; so the pairs are searched
    0.05 m beyond it and kept by the same rounding.

    Parameters
    ----------
    result : StudyResult
        The run (its network).
    item : Item
        The walking distance.
    candidates : Candidates
        The candidate sites, attached.
    clusters : Attachment
        The clusters' attachment, for a result that kept no ``starts``; otherwise the
        run's own starts (the gates of walled 小区) and walking costs are used. Unused
        clusters are never covered.
    before : numpy.ndarray of bool
        Clusters the existing facilities cover.
    weight : numpy.ndarray
        What covering each cluster is worth (population, or 1).

    Returns
    -------
    Coverage
        The candidates x clusters matrix, with the weights of clusters covered before
        set to 0.
    """
    from scipy.sparse import csr_matrix

    from circles.engine import Points, pairs_within
    from circles.origins import Walk

    s = candidates.attachment
    walk = result.walk if result.walk is not None else Walk.plain(result.network)
    if result.starts is not None:
        # The run's own starts: gates of walled 小区, walls cut, steps and slopes costed.
        assert result.clusters is not None
        used = np.flatnonzero(result.clusters["used"].to_numpy(bool))
        origins: Points = result.starts
    else:
        used = np.flatnonzero(clusters.used)
        origins = walk.points(clusters.subset(used))
    o_idx, t_idx, dist = pairs_within(
        walk.graph(),
        origins,
        Points(s.edge, walk.offsets(s.edge, s.offset), s.snap_m),
        item.distance_m + 0.05,
    )
    keep = np.round(dist, 1) <= item.distance_m
    rows, cols = t_idx[keep], used[o_idx[keep]]
    matrix = csr_matrix(
        (np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(candidates), len(before))
    )
    matrix.sort_indices()
    return Coverage(matrix, np.where(before, 0.0, weight), before)


# ---------------------------------------------------------------------------------------
# Solvers
# ---------------------------------------------------------------------------------------


def _gain(cov: Coverage, covered: np.ndarray, i: int) -> float:
    m = cov.matrix
    cols = m.indices[m.indptr[i] : m.indptr[i + 1]]
    return float(cov.weight[cols[~covered[cols]]].sum())


def greedy(
    cov: Coverage, n: int | None, cost: np.ndarray | None = None, budget: float | None = None
) -> list[int]:
    """Lazy greedy with exact marginal gains: at most ``n`` sites, or within ``budget``.

    With costs, sites are ranked by gain per cost and a site that no longer fits the
    remaining budget is dropped. A gain is an upper bound until it is recomputed in the
    current state (coverage is submodular), so the site taken has the largest exact gain
    (ties: the lowest index). Stops when nothing more is gained.

    Parameters
    ----------
    cov : Coverage
        The coverage sets and weights.
    n : int or None
        The most sites; None: no limit but the budget.
    cost : numpy.ndarray, optional
        A cost per candidate.
    budget : float, optional
        The total cost allowed.

    Returns
    -------
    list of int
        Candidate indices in the order taken.
    """
    m = cov.matrix
    covered = np.zeros(m.shape[1], dtype=bool)
    gains = np.asarray(m.astype(np.float64) @ cov.weight).ravel()
    per = np.maximum(cost, 1e-12) if cost is not None else np.ones(len(gains))
    heap = [(-g / p, i, 0) for i, (g, p) in enumerate(zip(gains, per, strict=True)) if g > 0]
    heapq.heapify(heap)
    left = np.inf if budget is None else float(budget)
    chosen: list[int] = []
    while heap and (n is None or len(chosen) < n):
        key, i, stamp = heapq.heappop(heap)
        if cost is not None and cost[i] > left:
            continue
        if stamp == len(chosen):
            chosen.append(i)
            cols = m.indices[m.indptr[i] : m.indptr[i + 1]]
            covered[cols] = True
            if cost is not None:
                left -= cost[i]
            continue
        g = _gain(cov, covered, i)
        if g > 0:
            heapq.heappush(heap, (-g / per[i], i, len(chosen)))
    return chosen


def budget_greedy(cov: Coverage, cost: np.ndarray, budget: float) -> list[int]:
    """Greedy by gain per cost, or the best single affordable site if that covers more.

    The better of the two reaches at least (1 - 1/e) / 2 of the optimum.

    Parameters
    ----------
    cov : Coverage
        The coverage sets and weights.
    cost : numpy.ndarray
        A cost per candidate.
    budget : float
        The total cost allowed.

    Returns
    -------
    list of int
        Candidate indices.
    """
    chosen = greedy(cov, None, cost, budget)
    gains = np.asarray(cov.matrix.astype(np.float64) @ cov.weight).ravel()
    gains[cost > budget] = -1.0
    best = int(np.argmax(gains)) if len(gains) else -1
    if best >= 0 and gains[best] > cov.value(chosen):
        return [best]
    return chosen


def distinct_candidates(cov: Coverage, cost: np.ndarray | None, needed: np.ndarray) -> np.ndarray:
    """Candidates that cover some needed cluster, one per distinct coverage set.

    The integer program needs no others: a candidate covering nothing needed cannot
    help, and of candidates with the same coverage set one (the cheapest, then the
    lowest index) serves as well as any.

    Parameters
    ----------
    cov : Coverage
        The coverage sets.
    cost : numpy.ndarray, optional
        A cost per candidate.
    needed : numpy.ndarray of int
        The clusters that count.

    Returns
    -------
    numpy.ndarray of int
        Candidate indices, ascending.
    """
    m = cov.matrix[:, needed].tocsr()
    m.sort_indices()
    keys: dict[bytes, int] = {}
    for i in np.argsort(cost if cost is not None else np.zeros(m.shape[0]), kind="stable"):
        cols = m.indices[m.indptr[i] : m.indptr[i + 1]]
        if len(cols):
            keys.setdefault(cols.tobytes(), int(i))
    return np.sort(np.fromiter(keys.values(), dtype=np.int64, count=len(keys)))


def exact_sites(
    cov: Coverage,
    n: int | None,
    cost: np.ndarray | None = None,
    budget: float | None = None,
    cover_all: bool = False,
) -> list[int]:
    """The maximal-covering (or set-covering) integer program, solved by HiGHS.

    Maximal covering: max sum w_j y_j subject to y_j <= sum of the x_i that cover j,
    sum x_i <= n (or sum c_i x_i <= budget), x binary, 0 <= y <= 1. Set covering
    (``cover_all``): min sum x_i subject to every reachable needed cluster covered.
    Candidates with the same coverage set are one variable (the cheapest), an exact
    reduction.

    Parameters
    ----------
    cov : Coverage
        The coverage sets and weights.
    n : int or None
        The most sites (maximal covering without a budget).
    cost : numpy.ndarray, optional
        A cost per candidate (with ``budget``).
    budget : float, optional
        The total cost allowed.
    cover_all : bool
        Solve the set-covering program instead.

    Returns
    -------
    list of int
        The optimal candidate indices (HiGHS with a relative gap of 0).

    Raises
    ------
    InputError
        HiGHS found no solution.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import diags, hstack

    needed = np.flatnonzero(cov.weight > 0) if not cover_all else _reachable_needed(cov)
    if len(needed) == 0:
        return []
    cand = distinct_candidates(cov, cost, needed)
    a = cov.matrix[cand][:, needed].astype(np.float64).T.tocsr()  # clusters x candidates
    n_x, n_y = len(cand), len(needed)
    options = {"mip_rel_gap": 0.0, "presolve": True}
    if cover_all:
        res = milp(
            np.ones(n_x),
            constraints=[LinearConstraint(a, lb=1.0, ub=np.inf)],
            integrality=np.ones(n_x),
            bounds=Bounds(0.0, 1.0),
            options=options,
        )
    else:
        link = hstack([-a, diags(np.ones(n_y))]).tocsr()
        per, ub = (cost[cand], budget) if cost is not None else (np.ones(n_x), n)
        row = np.concatenate([per, np.zeros(n_y)])[None, :]
        res = milp(
            np.concatenate([np.zeros(n_x), -cov.weight[needed]]),
            constraints=[
                LinearConstraint(link, lb=-np.inf, ub=0.0),
                LinearConstraint(row, lb=-np.inf, ub=float(ub or 0)),
            ],
            integrality=np.concatenate([np.ones(n_x), np.zeros(n_y)]),
            bounds=Bounds(0.0, 1.0),
            options=options,
        )
    if res.x is None:
        raise InputError(f"the integer program found no solution: {res.message}")
    return cand[np.flatnonzero(res.x[:n_x] > 0.5)].tolist()


def _reachable_needed(cov: Coverage) -> np.ndarray:
    hit = np.zeros(cov.matrix.shape[1], dtype=bool)
    hit[cov.matrix.indices] = True
    return np.flatnonzero(hit & ~cov.before)


def _rank(cov: Coverage, sites: list[int], keep_zero: bool) -> list[int]:
    """Order a set of sites greedily: the largest new weight first, then the most new
    clusters, then the lowest index; drop sites adding nothing unless ``keep_zero``."""
    m = cov.matrix
    covered = cov.before.copy()
    left, out = sorted(sites), []
    while left:
        best = max(
            left,
            key=lambda i: (
                _gain(cov, covered, i),
                int((~covered[m.indices[m.indptr[i] : m.indptr[i + 1]]]).sum()),
                -i,
            ),
        )
        cols = m.indices[m.indptr[best] : m.indptr[best + 1]]
        if not keep_zero and _gain(cov, covered, best) <= 0:
            break
        out.append(best)
        covered[cols] = True
        left.remove(best)
    return out


# ---------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------


def plan(
    result: StudyResult,
    item: Item | str,
    n: int | None,
    candidates: str | Path | PoiTable | None = None,
    objective: str = "residents",
    budget: float | None = None,
    exact: bool = False,
    cover_all: bool = False,
) -> Plan:
    """Propose where to build: the sites that bring the most residents within an item.

    Existing facilities stay fixed: a cluster whose nearest facility of the category is
    already within the item's distance (the ``<category>_nearest_m`` rule of
    ``circles run``) counts for nothing. Coverage comes from the engine
    (:func:`circles.engine.pairs_within`) on the run's network, with the clusters attached
    as the run attaches them, so a rerun with the sites added gives the same coverage.

    Parameters
    ----------
    result : StudyResult
        A run with clusters (``circles.run(study)``; ``tables_only=True`` will do).
    item : Item or str
        What to plan for; ``LEVEL:CATEGORY`` is looked up in the study's standard
        (:func:`item_from_standard`).
    n : int or None
        How many sites to add; ignored with ``budget`` or ``cover_all`` (may be None then).
    candidates : str, pathlib.Path, PoiTable or CandidateTable, optional
        A candidate file (read like ``--pois``; :class:`CandidateTable` names a cost
        column); default: street nodes in or near residential areas
        (:func:`street_candidates`).
    objective : str
        ``residents`` (a site's gain is the population it newly covers) or ``clusters``.
    budget : float, optional
        Spend at most this on sites, each at its cost (the candidate file's cost column;
        1 per site without one): greedy by gain per cost, or exact with ``exact``.
    exact : bool
        Also solve the integer program with HiGHS (``scipy.optimize.milp``); the sites
        are then the optimum, and the greedy answer's gap is reported.
    cover_all : bool
        The fewest sites that cover every cluster some candidate can reach (set cover,
        solved exactly); the others are listed in ``unreachable``.

    Returns
    -------
    Plan
        The sites in rank order, every cluster before and after, the shares and values.

    Raises
    ------
    InputError
        If the item is unknown, ``n`` is not positive, the objective is unknown, the
        run has no clusters, the candidate file has no usable row, or the budget is below
        every cost.
    """
    from circles.snap import EdgeIndex

    study = result.study
    if isinstance(item, str):
        item = item_of_study(study, item)
    if objective not in OBJECTIVES:
        raise InputError(f"objective must be one of {', '.join(OBJECTIVES)}, not '{objective}'")
    if n is not None and n <= 0:
        raise InputError(f"the number of sites to add must be at least 1, not {n}")
    if n is None and budget is None and not cover_all:
        raise InputError("say how many sites to add (n), a budget, or cover_all")
    if cover_all and budget is not None:
        raise InputError("cover_all finds the fewest sites; it takes no budget")
    if result.clusters is None:
        raise InputError("planning needs residence clusters: run the study with clusters")
    index = EdgeIndex(result.network)
    frame = result.clusters
    attachment = cluster_attachment(result, index)
    nearest, existing = nearest_existing(result, item, attachment, index)
    before = np.nan_to_num(nearest, nan=np.inf) <= item.distance_m
    notes: list[str] = []
    data_gap = len(existing) == 0
    if data_gap:
        notes.append(
            f"no {item.category} in the data: planned as if none existed (a data gap; "
            "check OSM or add a POI table of the existing ones)"
        )
    population = np.nan_to_num(frame["population"].to_numpy(float))
    weight = population if objective == "residents" else np.ones(len(frame))
    cand = _candidates(candidates, result, frame, index)
    cov = coverage_sets(result, item, cand, attachment, before, weight)
    cost = cand.cost if cand.has_costs else None
    method = "cover_all" if cover_all else "budget" if budget is not None else "greedy"
    if budget is not None:
        cost = cost if cost is not None else np.ones(len(cand))
        if not cand.has_costs:
            notes.append("the candidates have no costs: each site costs 1")
        if len(cost) and budget < cost.min():
            raise InputError(
                f"budget {budget:g} is below every candidate's cost (the cheapest is "
                f"{cost.min():g})"
            )
        chosen = budget_greedy(cov, cost, budget)
    elif cover_all:
        chosen = greedy(cov, None)
    else:
        chosen = greedy(cov, n)
    greedy_value = cov.value(chosen)
    exact_value = gap = None
    if cover_all:
        best = _rank(cov, exact_sites(cov, None, cover_all=True), keep_zero=True)
        notes.append(
            f"cover all: {len(best)} sites (exact set cover); greedy would need "
            f"{len(_greedy_cover(cov))}"
        )
        chosen, exact_value = best, cov.value(best)
        greedy_value = exact_value
    elif exact:
        best = _rank(cov, exact_sites(cov, n, cost if budget is not None else None, budget), False)
        exact_value = cov.value(best)
        gap = (exact_value - greedy_value) / exact_value if exact_value > 0 else 0.0
        chosen = best if exact_value >= greedy_value else chosen
        method = "budget" if budget is not None else "exact"
    if len(chosen) < (n or 0) and not cover_all and budget is None:
        notes.append(f"only {len(chosen)} sites add coverage; no other candidate covers anyone new")
    return _fill(
        result,
        item,
        cand,
        cov,
        _Solution(chosen, objective, method, greedy_value, exact_value, gap),
        existing,
        data_gap,
        notes,
    )


def item_of_study(study: Study, text: str) -> Item:
    """An item named ``LEVEL:CATEGORY`` in a study's standard.

    Parameters
    ----------
    study : Study
        Its ``standard``.
    text : str
        For example ``5min:elder_care``.

    Returns
    -------
    Item
        As :func:`item_from_standard` reads it.

    Raises
    ------
    InputError
        The study has no standard, or its standard has no such item.
    """
    from circles.scope import Scope

    standard = Scope.of(study).standard
    if standard is None:
        raise InputError(
            f"the study has no standard to find '{text}' in: give a category and a distance"
        )
    return item_from_standard(standard, text)


def _greedy_cover(cov: Coverage) -> list[int]:
    """Greedy set cover of the reachable clusters (every cluster counts 1)."""
    ones = Coverage(cov.matrix, np.where(cov.before, 0.0, 1.0), cov.before)
    return greedy(ones, None)


@dataclass
class _Solution:
    sites: list[int]
    objective: str
    method: str
    greedy_value: float
    exact_value: float | None
    gap: float | None


def _shares(covered: np.ndarray, frame: gpd.GeoDataFrame) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, values in (
        ("clusters", np.ones(len(frame))),
        ("area", frame["area_m2"].to_numpy(float)),
        ("residents", frame["population"].to_numpy(float)),
    ):
        v = np.nan_to_num(values)
        total = float(v.sum())
        out[key] = float(v[covered].sum()) / total if total > 0 else None
    return out


def _fill(
    result: StudyResult,
    item: Item,
    cand: Candidates,
    cov: Coverage,
    sol: _Solution,
    existing: gpd.GeoDataFrame,
    data_gap: bool,
    notes: list[str],
) -> Plan:
    """The plan's tables: the sites in rank order and every cluster before and after."""
    import geopandas as gpd
    import pyproj

    from circles.sources.coords import wgs84_to_gcj02

    frame = result.clusters
    assert frame is not None
    network = result.network
    population = np.nan_to_num(frame["population"].to_numpy(float))
    total = float(population.sum())
    m = cov.matrix
    covered = cov.before.copy()
    site_rank = np.full(len(frame), -1, dtype=np.int64)
    new_res, new_cl = [], []
    for rank, i in enumerate(sol.sites, start=1):
        cols = m.indices[m.indptr[i] : m.indptr[i + 1]]
        new = cols[~covered[cols]]
        site_rank[new] = rank
        covered[new] = True
        new_res.append(float(population[new].sum()))
        new_cl.append(len(new))
    idx = np.asarray(sol.sites, dtype=np.int64)
    x, y = cand.x[idx], cand.y[idx]
    to_geo = pyproj.Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    lon, lat = (np.asarray(a, float) for a in to_geo.transform(x, y))
    glon, glat = (np.asarray(a, float) for a in wgs84_to_gcj02(lon, lat))
    cum = np.cumsum(new_res) if len(new_res) else np.zeros(0)
    before_res = float(population[cov.before].sum())
    sites = gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(idx) + 1, dtype=np.int64),
            "candidate_id": cand.ids[idx].astype(object),
            "name": cand.names[idx].astype(object),
            "lon": np.round(lon, 7),
            "lat": np.round(lat, 7),
            "lon_gcj02": np.round(glon, 7),
            "lat_gcj02": np.round(glat, 7),
            "street": _street_names(network, cand.attachment.subset(idx), x, y),
            "snap_m": np.round(cand.attachment.snap_m[idx], 2),
            "cost": cand.cost[idx] if len(idx) else np.zeros(0),
            "new_residents": np.asarray(new_res, dtype=float),
            "new_clusters": np.asarray(new_cl, dtype=np.int64),
            "cum_residents": cum,
            "cum_share": (before_res + cum) / total if total > 0 else np.full(len(idx), np.nan),
        },
        geometry=gpd.points_from_xy(x, y),
        crs=network.crs,
    )
    reachable = np.zeros(len(frame), dtype=bool)
    reachable[m.indices] = True
    clusters = gpd.GeoDataFrame(
        {
            "cluster_id": frame["cluster_id"].to_numpy(),
            "name": frame["name"].to_numpy(),
            "population": frame["population"].to_numpy(float),
            "area_m2": frame["area_m2"].to_numpy(float),
            "covered_before": cov.before,
            "covered_after": covered,
            "site_rank": site_rank,
            "reachable": reachable,
        },
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )
    unreachable = frame["cluster_id"].to_numpy(str)[~cov.before & ~reachable].tolist()
    return Plan(
        study=result.study,
        item=item,
        objective=sol.objective,
        method=sol.method,
        sites=sites,
        clusters=clusters,
        existing=existing.reset_index(drop=True),
        unreachable=unreachable,
        before=_shares(cov.before, frame),
        after=_shares(covered, frame),
        greedy_value=sol.greedy_value,
        exact_value=sol.exact_value,
        gap=sol.gap,
        n_candidates=len(cand),
        candidates_source=cand.source,
        data_gap=data_gap,
        rejected=cand.rejected,
        notes=notes,
        crs=network.crs,
    )


def _street_names(
    network: WalkNetwork, attachment: Attachment, x: np.ndarray, y: np.ndarray
) -> list[str]:
    """The name of the street each site joins; if that edge has none, the name of the
    nearest named edge within :data:`STREET_NAME_NEAR_M` of the site (ties: the lowest
    edge index), else ``""``."""
    from circles.snap import EdgeIndex, project_to_segments

    names = network.street_of(attachment.edge).astype(object)
    missing = np.flatnonzero(names == "")
    if len(missing) == 0 or not (network.street_names != "").any():
        return [str(n) for n in names]
    index = EdgeIndex(network)
    for i in missing:
        # Every edge within the radius has a sample within radius + half_gap of the site.
        near = index.tree.query_ball_point([x[i], y[i]], STREET_NAME_NEAR_M + index.half_gap)
        e = np.unique(index.edge_of[np.asarray(near, dtype=np.int64)])
        e = e[network.street_of(e) != ""]
        if len(e) == 0:
            continue
        u, v = network.edge_u[e], network.edge_v[e]
        d, _ = project_to_segments(
            x[i], y[i], network.x[u], network.y[u], network.x[v], network.y[v]
        )
        best = int(np.argmin(d))  # e is sorted: ties go to the lowest edge index
        if d[best] <= STREET_NAME_NEAR_M:
            names[i] = network.street_of(e[best : best + 1])[0]
    return [str(n) for n in names]
