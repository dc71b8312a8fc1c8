"""Scores against a standard: each cluster at each level, district indicators, blind spots.

Everything here works on the distance to the nearest service of each category
(``<category>_nearest_m``, NaN when none can be reached), so a standard's distances need not
be the study's thresholds: a requirement is *reached* when the nearest service of its
category lies within the requirement's distance.

Data gaps. A category with no usable service in the data is unknown, not absent. A required
item measured only by such categories is a *gap item*: it is left out of the completeness
share (the denominator is the required items with data) and of ``meets``, and a district
indicator that needs it is None ("unknown"). The strict figures (``*_strict``) count gap
items as missing, so a report can show both. A category with suspiciously few services for
the district's population (fewer than :data:`SPARSE_FACTOR` of what the standard's own
population scale implies) is *sparse*: it is scored as measured, with a warning.

Levels do not substitute for each other: ``meets`` at a level needs the level's own required
items and ``meets`` at every level it includes (GB 50180-2018: a 15-minute circle must also
meet the 10- and 5-minute circles and the residential block).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from circles._errors import CirclesError
from circles.origins import Residents
from circles.standards import Indicator, Requirement, Standard
from circles.values import as_number

# A category is sparse when fewer than this share of the services the standard's scale
# implies (district population / the largest population one facility serves) were found.
SPARSE_FACTOR = 0.5
N_WORST = 10
N_BLIND_SPOTS_SUMMARY = 50

__all__ = [
    "SPARSE_FACTOR",
    "IndicatorValue",
    "Scores",
    "ScoringError",
    "indicators_within",
    "requirement_distance",
    "resident_distance",
    "score",
    "score_arrays",
    "sparse_categories",
    "with_columns",
]


class ScoringError(CirclesError):
    """The run lacks what the standard needs (a category that was not measured)."""


# ---------------------------------------------------------------------------------------
# Per requirement
# ---------------------------------------------------------------------------------------


def requirement_distance(
    req: Requirement, nearest: Mapping[str, np.ndarray], gaps: set[str]
) -> tuple[np.ndarray | None, str]:
    """The distance that decides a requirement, per cluster, and the requirement's status.

    ``one``: the category's nearest distance; ``any``: the smallest over the categories with
    data; ``all``: the largest over the categories with data (an unreachable one makes it
    infinite).

    Parameters
    ----------
    req : circles.standards.Requirement
        The requirement.
    nearest : Mapping of str to numpy.ndarray
        Category key -> each cluster's distance to its nearest service (NaN: unreachable).
    gaps : set of str
        The categories with no usable service in the data.

    Returns
    -------
    distance : numpy.ndarray or None
        Per cluster, inf when unreachable; None when every category is a data gap.
    status : str
        ``ok``, ``partial`` (some categories are data gaps and were left out) or ``gap``
        (every category is a data gap).

    Raises
    ------
    ScoringError
        When a category with data was not measured in this run.
    """
    with_data = [c for c in req.categories if c not in gaps]
    if not with_data:
        return None, "gap"
    for c in with_data:
        if c not in nearest:
            raise ScoringError(
                f"category '{c}' of requirement '{req.key}' was not measured in this run; "
                "run the study with its standard so that every category it needs is measured"
            )
    stack = np.vstack([np.where(np.isnan(nearest[c]), np.inf, nearest[c]) for c in with_data])
    dist = stack.min(axis=0) if req.match == "any" else stack.max(axis=0)
    status = "partial" if len(with_data) < len(req.categories) else "ok"
    return dist, status


def resident_distance(
    req: Requirement, residents: Residents, gaps: set[str], n: int, share: float
) -> tuple[np.ndarray | None, str]:
    """The distance within which ``share`` of each cluster's residents reach a requirement.

    Per origin the deciding distance is as :func:`requirement_distance` takes it; per
    cluster, the smallest distance within which origins holding at least ``share`` of its
    residents lie (a weighted quantile). The requirement is then reached when that
    distance is within the requirement's: "at least 80% of residents reach it".

    Parameters
    ----------
    req : circles.standards.Requirement
        The requirement.
    residents : Residents
        The origins and their nearest distances.
    gaps : set of str
        The categories with no usable service in the data.
    n : int
        How many clusters.
    share : float
        The share of residents (0-1].

    Returns
    -------
    distance : numpy.ndarray or None
        Per cluster (inf when too few residents reach it at all; NaN for a cluster
        without residents); None when every category is a data gap.
    status : str
        As :func:`requirement_distance` gives it.
    """
    d, status = requirement_distance(req, residents.nearest, gaps)
    if d is None:
        return None, status
    order = np.lexsort((d, residents.cluster))
    c, dd, w = residents.cluster[order], d[order], residents.weight[order]
    total = np.bincount(c, weights=w, minlength=n)
    # Running sum of residents within each cluster, in order of distance.
    run = np.cumsum(w)
    start = np.concatenate([[0.0], np.cumsum(total)])[c]
    within = run - start
    enough = within >= share * total[c] - 1e-9 * np.maximum(total[c], 1.0)
    out = np.full(n, np.nan)
    hit = enough & (total[c] > 0)
    # The first origin (nearest first) at which the share is reached, per cluster.
    rows, first = np.unique(c[hit], return_index=True)
    out[rows] = dd[hit][first]
    return out, status


# ---------------------------------------------------------------------------------------
# Per cluster and level
# ---------------------------------------------------------------------------------------


def _join(keys: list[str]) -> str:
    return ";".join(keys)


def score_arrays(
    standard: Standard,
    nearest: Mapping[str, np.ndarray],
    used: np.ndarray,
    gaps: set[str] | frozenset[str] = frozenset(),
    residents: Residents | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, str]], dict[str, dict[str, np.ndarray]]]:
    """Per-cluster columns for every level of ``standard``.

    Parameters
    ----------
    standard : circles.standards.Standard
        The standard to score against.
    nearest : Mapping of str to numpy.ndarray
        Category key -> each cluster's nearest distance (NaN: unreachable).
    used : numpy.ndarray
        Boolean, per cluster: whether it joined the walking network (the others get empty
        cells).
    gaps : set of str
        The categories with no usable service in the data.
    residents : Residents, optional
        With a standard's ``resident_share``: the residents' own distances decide
        (:func:`resident_distance`); a cluster without residents keeps its point's.

    Returns
    -------
    table : pandas.DataFrame
        One row per cluster, the columns below.
    status : dict
        Level -> requirement -> ``ok`` | ``partial`` | ``gap``.
    distances : dict
        Level -> requirement -> the deciding distance per cluster, for every requirement
        with data (inf when unreachable; reached means ``<= requirement.distance_m``).

    Notes
    -----
    Columns per level L: ``std_L_reached`` / ``std_L_missing`` / ``std_L_gaps`` (required
    items, keys joined by ';'), ``std_L_optional`` (optional items reached),
    ``std_L_completeness`` (reached / required items with data), ``std_L_completeness_strict``
    (reached / all required items), ``std_L_grade``, ``std_L_own`` (every required item
    with data reached) and ``std_L_meets`` (own, and meets at every included level);
    overall ``std_completeness``, ``std_grade`` and ``std_missing_n`` over all levels.
    """
    used = np.asarray(used, dtype=bool)
    n = len(used)
    gaps = set(gaps)
    cols: dict[str, Any] = {}
    status: dict[str, dict[str, str]] = {}
    distances: dict[str, dict[str, np.ndarray]] = {}
    own: dict[str, np.ndarray] = {}  # 1 true, 0 false, -1 unknown
    total_reached = np.zeros(n)
    total_measured = np.zeros(n)
    for lv in standard.levels:
        status[lv.key] = {}
        distances[lv.key] = {}
        req_reached: dict[str, np.ndarray] = {}
        for req in lv.requirements:
            dist, st = requirement_distance(req, nearest, gaps)
            share = standard.resident_share
            if dist is not None and residents is not None and share is not None:
                by_residents, _ = resident_distance(req, residents, gaps, n, share)
                if by_residents is not None:
                    dist = np.where(np.isnan(by_residents), dist, by_residents)
            status[lv.key][req.key] = st
            if dist is not None:
                req_reached[req.key] = dist <= req.distance_m + 1e-9
                distances[lv.key][req.key] = dist
        required = lv.required
        measured = [r for r in required if r.key in req_reached]
        gap_keys = [r.key for r in required if r.key not in req_reached]
        reached_s: list[str | None] = []
        missing_s: list[str | None] = []
        gaps_s: list[str | None] = []
        optional_s: list[str | None] = []
        completeness = np.full(n, np.nan)
        strict = np.full(n, np.nan)
        own_l = np.full(n, -1, dtype=np.int8)
        for i in range(n):
            if not used[i]:
                reached_s.append(None)
                missing_s.append(None)
                gaps_s.append(None)
                optional_s.append(None)
                continue
            got = [r.key for r in measured if req_reached[r.key][i]]
            miss = [r.key for r in measured if not req_reached[r.key][i]]
            reached_s.append(_join(got))
            missing_s.append(_join(miss))
            gaps_s.append(_join(gap_keys))
            optional_s.append(
                _join(
                    [r.key for r in lv.optional if r.key in req_reached and req_reached[r.key][i]]
                )
            )
            if measured:
                completeness[i] = len(got) / len(measured)
                own_l[i] = 1 if not miss else 0
            elif not required:
                own_l[i] = 1  # a level that requires nothing is met
            if required:
                strict[i] = len(got) / len(required)
            total_reached[i] += len(got)
            total_measured[i] += len(measured)
        own[lv.key] = own_l
        p = f"std_{lv.key}_"
        cols[p + "reached"] = reached_s
        cols[p + "missing"] = missing_s
        cols[p + "gaps"] = gaps_s
        cols[p + "optional"] = optional_s
        cols[p + "completeness"] = np.round(completeness, 4)
        cols[p + "completeness_strict"] = np.round(strict, 4)
        cols[p + "grade"] = [
            standard.grade_of(v) if used[i] else None for i, v in enumerate(completeness)
        ]
        cols[p + "own"] = _nullable_bool(own_l)
    for lv in standard.levels:
        chain = standard.chain(lv.key)
        stacked = np.vstack([own[k] for k in chain])
        meets = np.where(
            (stacked == 0).any(axis=0), 0, np.where((stacked == -1).any(axis=0), -1, 1)
        ).astype(np.int8)
        meets[~used] = -1
        cols[f"std_{lv.key}_meets"] = _nullable_bool(meets)
    overall = np.full(n, np.nan)
    ok = used & (total_measured > 0)
    overall[ok] = total_reached[ok] / total_measured[ok]
    cols["std_completeness"] = np.round(overall, 4)
    cols["std_grade"] = [standard.grade_of(v) if used[i] else None for i, v in enumerate(overall)]
    missing_n = np.where(used, total_measured - total_reached, np.nan)
    cols["std_missing_n"] = pd.array(
        [None if math.isnan(v) else int(v) for v in missing_n], dtype="Int64"
    )
    return pd.DataFrame(cols), status, distances


def _nullable_bool(codes: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.array([None if c < 0 else bool(c) for c in codes], dtype="boolean")


# ---------------------------------------------------------------------------------------
# Sparse categories
# ---------------------------------------------------------------------------------------


def sparse_categories(
    standard: Standard, found: Mapping[str, int], population: float
) -> dict[str, dict[str, Any]]:
    """Categories with suspiciously few services for the district's population.

    A required single-category (or ``all``) item of a level that serves at most P residents
    (the upper end of the level's population range) implies at least ``population / P`` such
    services in the district. Fewer than :data:`SPARSE_FACTOR` of that, but more than none
    (none is a data gap), marks the category as sparse. Levels without a population range,
    and ``any`` items, give no expectation.

    Parameters
    ----------
    standard : circles.standards.Standard
        The standard whose population ranges set the expectation.
    found : Mapping of str to int
        Category key -> usable services found in the district.
    population : float
        The district's estimated residents.

    Returns
    -------
    dict
        Sparse category -> ``found``, ``expected``, ``level`` (the level with the highest
        expectation) and ``residents_per_facility``.
    """
    out: dict[str, dict[str, Any]] = {}
    if not population or population <= 0:
        return out
    for lv in standard.levels:
        if not lv.population:
            continue
        expected = population / lv.population[1]
        for req in lv.required:
            if req.match == "any":
                continue
            for c in req.categories:
                n = int(found.get(c, 0))
                if n == 0 or expected < 1 or n >= SPARSE_FACTOR * expected:
                    continue
                prev = out.get(c)
                if prev is None or expected > prev["expected"]:
                    out[c] = {
                        "found": n,
                        "expected": round(expected, 1),
                        "level": lv.key,
                        "residents_per_facility": lv.population[1],
                    }
    return out


# ---------------------------------------------------------------------------------------
# District indicators
# ---------------------------------------------------------------------------------------


@dataclass
class IndicatorValue:
    """One district indicator at one level: shares of clusters, residential area, residents.

    The shares are None when the indicator needs an item with no data at all (``gaps``).
    Items left out of a known share because they have no data are in ``excluded``; the
    ``*_strict`` shares count gap items as missing.

    Attributes
    ----------
    key, zh, en : str
        The indicator of the standard.
    level : str
        The level it is measured at.
    requirements : tuple of str
        The requirements a cluster must reach (``level.requirement`` for complete levels).
    clusters, area, population : float or None
        The share of the scored clusters that meet it: by count, residential area and
        residents.
    clusters_strict, area_strict, population_strict : float or None
        The same, counting data-gap items as missing.
    n_clusters : int
        The clusters scored.
    gaps, excluded, partial, sparse : tuple of str
        Items with no data (shares unknown), items left out for lack of data, items with
        some categories left out, and sparse categories.
    note : str
    """

    key: str
    zh: str
    en: str
    level: str
    requirements: tuple[str, ...]
    clusters: float | None
    area: float | None
    population: float | None
    clusters_strict: float | None
    area_strict: float | None
    population_strict: float | None
    n_clusters: int
    gaps: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    partial: tuple[str, ...] = ()
    sparse: tuple[str, ...] = ()
    note: str = ""

    @property
    def status(self) -> str:
        """ok | check data (items left out, partial or sparse data) | data gap | no clusters."""
        if self.n_clusters == 0:
            return "no clusters"
        if self.gaps:
            return "data gap"
        if self.excluded or self.partial or self.sparse:
            return "check data"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        """What summary.json holds for the indicator.

        Returns
        -------
        dict
            The shares (``share_*``, and the strict ones under ``strict``), the status and
            the data caveats.
        """
        return {
            "key": self.key,
            "zh": self.zh,
            "en": self.en,
            "level": self.level,
            "requirements": list(self.requirements),
            "share_clusters": self.clusters,
            "share_area": self.area,
            "share_population": self.population,
            "strict": {
                "share_clusters": self.clusters_strict,
                "share_area": self.area_strict,
                "share_population": self.population_strict,
            },
            "clusters_scored": self.n_clusters,
            "status": self.status,
            "data_gaps": list(self.gaps),
            "left_out_for_lack_of_data": list(self.excluded),
            "partial_gaps": list(self.partial),
            "sparse_categories": list(self.sparse),
            "note": self.note,
        }


Shares = tuple[float | None, float | None, float | None]


def _shares(covered: np.ndarray, used: np.ndarray, area: np.ndarray, pop: np.ndarray) -> Shares:
    """Share of the used clusters that are covered: by count, by area, by population."""
    n = int(used.sum())
    if n == 0:
        return None, None, None
    c = covered & used

    def share(w: np.ndarray) -> float | None:
        total = float(np.nansum(w[used]))
        return round(float(np.nansum(w[c])) / total, 4) if total > 0 else None

    return round(float(c.sum()) / n, 4), share(area), share(pop)


def _elderly_weight(
    standard: Standard, ind: Indicator, clusters: pd.DataFrame, pop: np.ndarray
) -> np.ndarray:
    """The residents an indicator is shared over: those aged 60 and over for an indicator of
    elder care alone (every category walked at the elderly pace), when the population
    data gives them for every cluster; else all residents."""
    from circles.walking import profile_of

    if ind.is_complete or "population_60plus" not in clusters:
        return pop
    level = standard.level(ind.level)
    cats = {c for k in ind.requirements for c in level.requirement(k).categories}
    older = _column(clusters, "population_60plus")
    if cats and all(profile_of(c) == "elderly" for c in cats) and np.isfinite(older).all():
        return older
    return pop


def _indicator_values(
    standard: Standard,
    ind: Indicator,
    table: pd.DataFrame,
    status: dict[str, dict[str, str]],
    dists: dict[str, dict[str, np.ndarray]],
    used: np.ndarray,
    area: np.ndarray,
    pop: np.ndarray,
    sparse: dict[str, dict[str, Any]],
) -> list[IndicatorValue]:
    n_used = int(used.sum())
    none: Shares = (None, None, None)
    out: list[IndicatorValue] = []
    if ind.is_complete:
        for lk in ind.levels:
            items = [(k, r) for k in standard.chain(lk) for r in standard.level(k).required]
            gap_items = tuple(f"{k}.{r.key}" for k, r in items if status[k][r.key] == "gap")
            partial = tuple(f"{k}.{r.key}" for k, r in items if status[k][r.key] == "partial")
            sp = tuple(sorted({c for _, r in items for c in r.categories if c in sparse}))
            meets = table[f"std_{lk}_meets"]
            covered = meets.fillna(False).to_numpy(bool)
            known = bool(meets.notna().to_numpy()[used].any())
            vals = _shares(covered, used, area, pop) if known else none
            strict = _shares(covered & (not gap_items), used, area, pop)
            out.append(
                IndicatorValue(
                    ind.key,
                    ind.zh,
                    ind.en,
                    lk,
                    tuple(f"{k}.{r.key}" for k, r in items),
                    *vals,
                    *strict,
                    n_clusters=n_used,
                    gaps=() if known else gap_items,
                    excluded=gap_items if known else (),
                    partial=partial,
                    sparse=sp,
                    note=ind.note,
                )
            )
        return out
    lv = standard.level(ind.level)
    reqs = [lv.requirement(k) for k in ind.requirements]
    gap_reqs = tuple(r.key for r in reqs if status[lv.key][r.key] == "gap")
    partial = tuple(r.key for r in reqs if status[lv.key][r.key] == "partial")
    sp = tuple(sorted({c for r in reqs for c in r.categories if c in sparse}))
    if gap_reqs:
        vals = none
        strict = _shares(np.zeros(len(used), dtype=bool), used, area, pop)
    else:
        covered = np.ones(len(used), dtype=bool)
        for r in reqs:
            covered &= dists[lv.key][r.key] <= r.distance_m + 1e-9
        vals = strict = _shares(covered, used, area, pop)
    out.append(
        IndicatorValue(
            ind.key,
            ind.zh,
            ind.en,
            lv.key,
            tuple(r.key for r in reqs),
            *vals,
            *strict,
            n_clusters=n_used,
            gaps=gap_reqs,
            partial=partial,
            sparse=sp,
            note=ind.note,
        )
    )
    return out


# ---------------------------------------------------------------------------------------
# The whole score
# ---------------------------------------------------------------------------------------


@dataclass
class Scores:
    """A study scored against a standard.

    Attributes
    ----------
    standard : circles.standards.Standard
        The standard.
    table : pandas.DataFrame
        One row per cluster (the order of ``clusters``), the ``std_*`` columns of
        :func:`score_arrays`.
    indicators : list of IndicatorValue
        The district indicators, one per indicator and level.
    blind_spots : pandas.DataFrame
        One row per cluster, level and required item with data it does not reach, most
        residents first: cluster_id, name, population, area_m2, level, requirement, zh, en,
        distance_m (the limit) and nearest_m (NaN: unreachable).
    blind_spot_summary : pandas.DataFrame
        Per level and requirement: clusters and residents affected.
    status : dict
        Level -> requirement -> ``ok`` | ``partial`` | ``gap``.
    gaps : list of str
        The standard's categories with no usable service.
    sparse : dict
        Category -> found, expected, level (see :func:`sparse_categories`).
    clusters : pandas.DataFrame
        The cluster table that was scored.
    warnings : list of str
        Data caveats, one line each.
    distances : dict
        Level -> requirement -> the deciding distance per cluster (see
        :func:`score_arrays`), for indicators over some of the clusters
        (:func:`indicators_within`).
    """

    standard: Standard
    table: pd.DataFrame
    indicators: list[IndicatorValue]
    blind_spots: pd.DataFrame
    blind_spot_summary: pd.DataFrame
    status: dict[str, dict[str, str]]
    gaps: list[str]
    sparse: dict[str, dict[str, Any]]
    clusters: pd.DataFrame = field(repr=False)
    warnings: list[str] = field(default_factory=list)
    distances: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    def gap_requirements(self, level: str) -> list[str]:
        """The requirements of a level with no data at all.

        Parameters
        ----------
        level : str
            A level's key.

        Returns
        -------
        list of str
            Requirement keys.
        """
        return [k for k, s in self.status[level].items() if s == "gap"]

    def worst(self, n: int = N_WORST) -> pd.DataFrame:
        """Clusters missing something, lowest overall completeness first, then most residents.

        Parameters
        ----------
        n : int
            How many clusters at most.

        Returns
        -------
        pandas.DataFrame
            Rows of :attr:`table` with ``cluster_id``, ``name`` and ``population``.
        """
        t = self.table.copy()
        t["cluster_id"] = self.clusters["cluster_id"].astype(str).to_numpy()
        t["name"] = self.clusters["name"].to_numpy() if "name" in self.clusters else ""
        t["population"] = pd.to_numeric(self.clusters["population"], errors="coerce").to_numpy()
        t = t[t["std_completeness"].notna() & (t["std_missing_n"].fillna(0) > 0)]
        t = t.sort_values(
            ["std_completeness", "population", "cluster_id"],
            ascending=[True, False, True],
            kind="mergesort",
        )
        return t.head(n)

    def grade_counts(self) -> dict[str, dict[str, int]]:
        """Clusters per grade and level.

        Returns
        -------
        dict
            Level -> grade -> clusters; ``none`` counts the clusters not scored.
        """
        out: dict[str, dict[str, int]] = {}
        for lv in self.standard.levels:
            col = self.table[f"std_{lv.key}_grade"]
            counts = {g.grade: int((col == g.grade).sum()) for g in self.standard.grades}
            counts["none"] = int(col.isna().sum())
            out[lv.key] = counts
        return out

    def grade_population(self) -> dict[str, dict[str, float]]:
        """Estimated residents per grade and level.

        Returns
        -------
        dict
            Level -> grade -> residents (one decimal).
        """
        pop = pd.to_numeric(self.clusters["population"], errors="coerce").fillna(0).to_numpy()
        out: dict[str, dict[str, float]] = {}
        for lv in self.standard.levels:
            col = self.table[f"std_{lv.key}_grade"].to_numpy(object)
            out[lv.key] = {
                g.grade: round(float(pop[col == g.grade].sum()), 1) for g in self.standard.grades
            }
        return out

    def summary(self) -> dict[str, Any]:
        """What summary.json holds under ``scoring``.

        Returns
        -------
        dict
            The standard, per-level figures, indicators, grades, data gaps, blind spots and
            the worst clusters, as plain JSON values.
        """
        std = self.standard
        levels = []
        for lv in std.levels:
            comp = self.table[f"std_{lv.key}_completeness"].dropna()
            levels.append(
                {
                    "key": lv.key,
                    "zh": lv.zh,
                    "en": lv.en,
                    "distance_m": lv.distance_m,
                    "distance_note": lv.distance_note,
                    "population": list(lv.population) if lv.population else None,
                    "includes": list(lv.includes),
                    "required": [r.key for r in lv.required],
                    "optional": [r.key for r in lv.optional],
                    "distances_m": {r.key: r.distance_m for r in lv.requirements},
                    "not_assessed": [n.item for n in lv.not_assessed],
                    "data_gaps": self.gap_requirements(lv.key),
                    "partial_gaps": [k for k, s in self.status[lv.key].items() if s == "partial"],
                    "completeness_mean": round(float(comp.mean()), 4) if len(comp) else None,
                    "completeness_median": round(float(comp.median()), 4) if len(comp) else None,
                }
            )
        worst = self.worst()
        return {
            "standard": std.key,
            "title": {"zh": std.title_zh, "en": std.title_en},
            "citation": std.citation,
            "source": std.source,
            "origin": std.origin,
            "extends": list(std.extends),
            "completeness_basis": (
                "share of the required items with data that are reached; data-gap items are "
                "left out (the strict figures count them as missing)"
            ),
            "levels": levels,
            "indicators": [i.as_dict() for i in self.indicators],
            "grades": self.grade_counts(),
            "grade_population": self.grade_population(),
            "data_gaps": list(self.gaps),
            "sparse": self.sparse,
            "blind_spots": {
                "by_requirement": _records(self.blind_spot_summary),
                "top": _records(self.blind_spots.head(N_BLIND_SPOTS_SUMMARY)),
                "total": int(len(self.blind_spots)),
            },
            "worst_clusters": [
                {
                    "cluster_id": r["cluster_id"],
                    "name": r["name"] if isinstance(r["name"], str) else "",
                    "population": as_number(r["population"], 4),
                    "completeness": as_number(r["std_completeness"], 4),
                    "missing": {
                        lv.key: r[f"std_{lv.key}_missing"]
                        for lv in std.levels
                        if r[f"std_{lv.key}_missing"]
                    },
                }
                for _, r in worst.iterrows()
            ],
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (as_number(v, 4) if isinstance(v, float | np.floating) else v) for k, v in rec.items()}
        for rec in frame.to_dict("records")
    ]


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(float)


def score(
    clusters: pd.DataFrame,
    standard: Standard,
    gaps: list[str] | set[str],
    found: Mapping[str, int] | None = None,
    residents: Residents | None = None,
) -> Scores:
    """Score the clusters of a run (with ``<category>_nearest_m`` columns) against a standard.

    Clusters not joined to the network (``used`` False) get empty cells and count in no
    share.

    Parameters
    ----------
    clusters : pandas.DataFrame
        The cluster table: ``<category>_nearest_m``, and ``used``, ``cluster_id``, ``name``,
        ``population``, ``area_m2`` where known.
    standard : circles.standards.Standard
        The standard to score against.
    gaps : list or set of str
        The categories with no usable service.
    found : Mapping of str to int, optional
        Usable services per category (for the sparse check).
    residents : Residents, optional
        The residents' origins and distances, for a standard that scores by the share of
        residents (``resident_share``).

    Returns
    -------
    Scores
    """
    gaps = set(gaps)
    used = _used(clusters)
    nearest = {
        c: _column(clusters, f"{c}_nearest_m")
        for c in standard.category_keys()
        if f"{c}_nearest_m" in clusters
    }
    table, status, dists = score_arrays(standard, nearest, used, gaps, residents)
    table.index = clusters.index
    area, pop = _column(clusters, "area_m2"), _column(clusters, "population")
    sparse = sparse_categories(standard, found or {}, float(np.nansum(pop)))
    indicators = _indicators(
        standard, standard.indicators, clusters, table, status, dists, used, sparse
    )
    blind, blind_summary = _blind_spots(standard, clusters, dists, used, area, pop)
    std_gaps = [c for c in standard.category_keys() if c in gaps]
    return Scores(
        standard=standard,
        table=table,
        indicators=indicators,
        blind_spots=blind,
        blind_spot_summary=blind_summary,
        status=status,
        gaps=std_gaps,
        sparse=sparse,
        clusters=clusters,
        warnings=_warnings(standard, status, sparse),
        distances=dists,
    )


def _used(clusters: pd.DataFrame) -> np.ndarray:
    """Which clusters joined the walking network (all, without a ``used`` column)."""
    if "used" not in clusters:
        return np.ones(len(clusters), dtype=bool)
    return clusters["used"].fillna(False).to_numpy(bool)


def _indicators(
    standard: Standard,
    indicators: Sequence[Indicator],
    clusters: pd.DataFrame,
    table: pd.DataFrame,
    status: dict[str, dict[str, str]],
    dists: dict[str, dict[str, np.ndarray]],
    used: np.ndarray,
    sparse: dict[str, dict[str, Any]],
) -> list[IndicatorValue]:
    """The values of indicators over the ``used`` clusters, by count, area and residents."""
    area, pop = _column(clusters, "area_m2"), _column(clusters, "population")
    out: list[IndicatorValue] = []
    for ind in indicators:
        weight = _elderly_weight(standard, ind, clusters, pop)
        out += _indicator_values(standard, ind, table, status, dists, used, area, weight, sparse)
    return out


def indicators_within(
    scores: Scores, keep: np.ndarray, indicators: Sequence[Indicator] | None = None
) -> list[IndicatorValue]:
    """District indicators over some of the clusters only: a 社区's, say.

    The same values as :attr:`Scores.indicators`, with the shares taken over the scored
    clusters that ``keep`` marks.

    Parameters
    ----------
    scores : Scores
        A district's scores (from :func:`score`).
    keep : numpy.ndarray
        Boolean per cluster (the order of ``scores.clusters``).
    indicators : sequence of circles.standards.Indicator, optional
        The indicators to compute; default: the standard's.

    Returns
    -------
    list of IndicatorValue
        One per indicator and level; ``n_clusters`` counts the kept clusters scored, and
        the shares are None when there is none.
    """
    used = _used(scores.clusters) & np.asarray(keep, dtype=bool)
    chosen = scores.standard.indicators if indicators is None else indicators
    return _indicators(
        scores.standard,
        chosen,
        scores.clusters,
        scores.table,
        scores.status,
        scores.distances,
        used,
        scores.sparse,
    )


_BLIND_COLUMNS = [
    "cluster_id",
    "name",
    "population",
    "area_m2",
    "level",
    "requirement",
    "zh",
    "en",
    "distance_m",
    "nearest_m",
]


def _blind_spots(
    standard: Standard,
    clusters: pd.DataFrame,
    dists: dict[str, dict[str, np.ndarray]],
    used: np.ndarray,
    area: np.ndarray,
    pop: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every (cluster, level, required item) not reached; and the total per item."""
    n = len(clusters)
    ids = (
        clusters["cluster_id"].astype(str).to_numpy()
        if "cluster_id" in clusters
        else np.arange(n).astype(str)
    )
    names = clusters["name"].to_numpy(object) if "name" in clusters else np.full(n, "", object)
    rows = []
    for li, lv in enumerate(standard.levels):
        for ri, req in enumerate(lv.required):
            if req.key not in dists[lv.key]:
                continue  # a data gap: unknown, not a blind spot
            d = dists[lv.key][req.key]
            for i in np.flatnonzero(used & ~(d <= req.distance_m + 1e-9)):
                rows.append(
                    {
                        "cluster_id": ids[i],
                        "name": names[i] if isinstance(names[i], str) else "",
                        "population": 0.0 if math.isnan(pop[i]) else float(pop[i]),
                        "area_m2": None if math.isnan(area[i]) else float(area[i]),
                        "level": lv.key,
                        "requirement": req.key,
                        "zh": req.zh,
                        "en": req.en,
                        "distance_m": req.distance_m,
                        "nearest_m": None if math.isinf(d[i]) else round(float(d[i]), 1),
                        "_order": li * 1000 + ri,
                    }
                )
    summary_cols = [
        "level",
        "requirement",
        "zh",
        "en",
        "clusters",
        "population",
        "share_population",
    ]
    if not rows:
        return pd.DataFrame(columns=_BLIND_COLUMNS), pd.DataFrame(columns=summary_cols)
    frame = pd.DataFrame(rows).sort_values(
        ["population", "_order", "cluster_id"], ascending=[False, True, True], kind="mergesort"
    )
    total_pop = float(np.nansum(pop[used]))
    summary = (
        frame.groupby(["level", "requirement"], sort=False)
        .agg(
            zh=("zh", "first"),
            en=("en", "first"),
            clusters=("cluster_id", "count"),
            population=("population", "sum"),
            _order=("_order", "first"),
        )
        .reset_index()
    )
    summary["population"] = summary["population"].round(1)
    summary["share_population"] = (
        (summary["population"] / total_pop).round(4) if total_pop > 0 else np.nan
    )
    summary = summary.sort_values(
        ["population", "_order"], ascending=[False, True], kind="mergesort"
    )
    return (
        frame[_BLIND_COLUMNS].reset_index(drop=True),
        summary[summary_cols].reset_index(drop=True),
    )


def _warnings(
    standard: Standard, status: dict[str, dict[str, str]], sparse: dict[str, dict[str, Any]]
) -> list[str]:
    out = []
    gap_items = [
        f"{lv.key}:{r.key}"
        for lv in standard.levels
        for r in lv.required
        if status[lv.key][r.key] == "gap"
    ]
    if gap_items:
        out.append(
            f"scoring against {standard.key}: {len(gap_items)} required items have no data "
            f"({', '.join(gap_items)}); completeness leaves them out and the strict figures "
            "count them as missing (bring a POI table)"
        )
    cats = standard.categories
    for c, s in sparse.items():
        cat = cats.get(c)
        label = f"{cat.en} ({cat.zh})" if cat else c
        out.append(
            f"possible data gap: only {s['found']} {label} in the data, where {standard.key} "
            f"({s['level']}: one per at most {s['residents_per_facility']:,} residents) implies "
            f"about {s['expected']:g}; it may be under-mapped, so scores that need it may be "
            "too low (bring a POI table)"
        )
    return out


def with_columns(clusters: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The cluster table with the ``std_*`` columns of ``table`` (replacing older ones).

    Parameters
    ----------
    clusters : pandas.DataFrame or geopandas.GeoDataFrame
        The cluster table.
    table : pandas.DataFrame
        :attr:`Scores.table`, one row per cluster in the same order.

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        Of the same kind as ``clusters``.
    """
    kept = clusters.drop(columns=[c for c in table.columns if c in clusters.columns])
    joined = pd.concat([kept, table.set_axis(kept.index)], axis=1)
    if hasattr(clusters, "geometry"):
        import geopandas as gpd

        joined = gpd.GeoDataFrame(joined, geometry=clusters.geometry.name, crs=clusters.crs)
    return joined
