"""Where to build: the sites that bring the most residents within an item's walking distance.

Maximal covering with the existing facilities fixed: a cluster already within the item's
distance of a facility counts for nothing, so every proposed site must cover someone new.
Coverage sets come from the engine (same network, snapping, attachment and distance
rules as ``circles run``); the greedy answer has exact marginal gains, and ``exact``
solves the integer program with HiGHS (``scipy.optimize.milp``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import geopandas as gpd

    from circles.config import Study

__all__ = ["Item", "Plan"]


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
