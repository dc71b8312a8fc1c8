"""What a run measures and makes: its thresholds, categories, standard and outputs.

Every entry point (a run, a plan, the server, a batch) starts by deciding its scope from
a study; the stages then take it instead of a handful of loose arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from circles._errors import ConfigError
from circles.config import Study
from circles.result import Threshold
from circles.services import Category

if TYPE_CHECKING:
    from circles.network import WalkNetwork
    from circles.standards import Standard

__all__ = [
    "GPKG_MAX_FIELDS",
    "Scope",
    "SizeEstimate",
    "check_size",
    "estimate_size",
    "thresholds_of",
]

# A GeoPackage layer holds at most 1998 attribute fields (SQLite's 2000 columns, less the
# feature id and the geometry): pyogrio fails with FieldError beyond, after all the work.
GPKG_MAX_FIELDS = 1998

# GB 50180-2018 names its circles by minutes; keep those names for its distances.
_GB_LABELS = {300.0: 5, 500.0: 10, 800.0: 15, 1000.0: 15}


def thresholds_of(study: Study) -> list[Threshold]:
    """A study's thresholds with their bilingual labels.

    Parameters
    ----------
    study : Study
        Its thresholds, as distances or as minutes at a walking speed.

    Returns
    -------
    list of Threshold
        Ascending; GB 50180-2018's distances are labelled by their minutes
        (300 m: "5分钟 (300米)", "5 min (300 m)").
    """
    out = []
    minutes = study.thresholds.minutes
    for i, d in enumerate(study.distances_m):
        m = sorted(minutes)[i] if minutes is not None else _GB_LABELS.get(d)
        if m is None:
            out.append(Threshold(d, f"{d:g}米", f"{d:g} m"))
        else:
            out.append(Threshold(d, f"{m:g}分钟 ({d:g}米)", f"{m:g} min ({d:g} m)"))
    return out


@dataclass(frozen=True)
class Scope:
    """What a run measures and makes: thresholds, categories, standard, outputs.

    Attributes
    ----------
    thresholds : list of Threshold
        Ascending.
    categories : dict of str to Category
        The study's categories plus every one its standard needs.
    standard : Standard or None
        What clusters are scored against; None without clusters or without a standard.
    clusters : bool
        Whether residence clusters are formed (they are the origins, or the run makes
        its map and report).
    tables_only : bool
        Only the reach table and the summary are made (no isochrones).
    """

    thresholds: list[Threshold]
    categories: dict[str, Category]
    standard: Standard | None
    clusters: bool
    tables_only: bool

    @classmethod
    def of(cls, study: Study, tables_only: bool = False) -> Scope:
        """The scope of a run of ``study``; a bad standard fails here, before any work.

        Parameters
        ----------
        study : Study
            The study.
        tables_only : bool
            Make only the reach table and the summary.

        Returns
        -------
        Scope
            What the run will measure.
        """
        from circles.services import load_catalogue, load_categories
        from circles.standards import load_standard

        clusters = study.reach.origins == "clusters" or not tables_only
        standard = load_standard(study.standard) if study.standard is not None else None
        catalogue = load_catalogue()
        categories = {k: catalogue[k] for k in study.categories or list(load_categories())}
        if not clusters:
            # Only clusters are scored: a tables-only surface measures just its categories.
            standard = None
        if standard is not None:
            categories.update(standard.categories)  # a standard may define its own
        scope = cls(thresholds_of(study), categories, standard, clusters, tables_only)
        if not tables_only:
            scope._check_columns(study)
        return scope

    def _check_columns(self, study: Study) -> None:
        """Refuse, before any work, a cluster table wider than a GeoPackage layer holds."""
        n = self.cluster_columns(study)
        if n > GPKG_MAX_FIELDS:
            raise ConfigError(
                f"the cluster table would have {n} columns ({len(self.categories)} categories "
                f"x {len(self.thresholds)} thresholds and their distances), more than a "
                f"GeoPackage layer holds ({GPKG_MAX_FIELDS}): measure fewer categories or "
                "thresholds, a smaller reach.k_nearest, or use --tables-only"
            )

    def cluster_columns(self, study: Study) -> int:
        """How many attribute columns the cluster table of a run has, at most.

        Parameters
        ----------
        study : Study
            Its ``reach.k_nearest`` and ``reach.decay`` add columns per category.

        Returns
        -------
        int
            The cluster's own columns, a count per category and threshold, the nearest
            distances (and decayed sums) per category, two shares per threshold and the
            standard's columns (9 per level and 3); an upper bound of what
            clusters.gpkg and clusters.csv hold.
        """
        per_category = len(self.thresholds) + study.reach.k_nearest
        # The share of residents per threshold, when walks start at every home.
        per_category += len(self.thresholds) if study.reach.from_homes else 0
        per_category += 1 if study.reach.decay is not None else 0
        # cluster_id, name, method, areas, floor, dwellings, population (and its method,
        # confidence, 60+), snap_m, used, walk_from, gate_change_m, origins
        own = 16
        levels = len(self.standard.levels) if self.standard is not None else 0
        standard = 9 * levels + 3 if self.standard is not None else 0
        return own + len(self.categories) * per_category + 2 * len(self.thresholds) + standard

    @property
    def keys(self) -> list[str]:
        """The category keys, in the order of the engine's category axis."""
        return list(self.categories)

    @property
    def distances(self) -> list[float]:
        """The thresholds in metres, ascending."""
        return [t.distance_m for t in self.thresholds]


# ---------------------------------------------------------------------------------------
# How large a run will be, before the work
# ---------------------------------------------------------------------------------------

# Bytes, measured on the bundled district and rounded up (docs/guide/config.md, "Size
# limits"): the interpreter with its libraries and the network; a grid point built and
# joined to the network; an origin in the engine (augmented graph, attachment); a count,
# a distance or a sum per origin and category in the engine and again as a column; a
# vertex of a walking area in metres, in degrees and as the map's text.
_BASE_BYTES = 300e6
_GRID_POINT_BYTES = 700
_ORIGIN_BYTES = 400
_CELL_BYTES = 24
_VERTEX_BYTES = 48


@dataclass(frozen=True)
class SizeEstimate:
    """How large a run will be: an upper bound from counts, made before the work.

    Attributes
    ----------
    grid_points : int
        Grid points laid over the network's extent (grid origins, grid clusters), before
        those far from a street are left out.
    origins : int
        Points measured from (grid points, nodes or clusters); 0 while unknown.
    walking_areas : int
        Polygons drawn: clusters x thresholds (0 for a tables-only run).
    ball_nodes : float
        Street nodes within the largest threshold of a point (their density over the
        network's extent times a disc of that radius: walks are longer than straight
        lines, so fewer are reached).
    memory_gb : float
        Estimated peak memory of the run, in GB.
    cause : str
        What makes it large, in words (the grid spacing and area, the clusters).
    """

    grid_points: int
    origins: int
    walking_areas: int
    ball_nodes: float
    memory_gb: float
    cause: str


def _grid_points(network: WalkNetwork, spacing_m: float) -> int:
    """The points of a square grid over the network's extent, as snap.py and residences.py
    lay them (centres, spacing apart)."""
    width = float(network.x.max() - network.x.min())
    height = float(network.y.max() - network.y.min())
    return math.ceil(width / spacing_m) * math.ceil(height / spacing_m)


def estimate_size(
    study: Study, scope: Scope, network: WalkNetwork, clusters: int | None = None
) -> SizeEstimate:
    """Estimate a run's size from counts known once the network is read.

    Parameters
    ----------
    study : Study
        Its origins, grid spacings, residence method, k nearest and decay.
    scope : Scope
        The thresholds and categories, whether clusters are formed and walking areas drawn.
    network : WalkNetwork
        The walking network: its extent and density.
    clusters : int, optional
        The number of residence clusters, once formed; before, a grid's cells are counted
        (``residences.method: grid``) and other methods count none.

    Returns
    -------
    SizeEstimate
        Counts and the estimated peak memory (see docs/guide/config.md, "Size limits").
    """
    extent = max(
        float(network.x.max() - network.x.min()) * float(network.y.max() - network.y.min()), 1.0
    )
    n_thresholds = len(scope.thresholds)
    reach = study.reach
    per_origin = _ORIGIN_BYTES + _CELL_BYTES * len(scope.categories) * (
        n_thresholds + reach.k_nearest + (1 if reach.decay is not None else 0)
    )
    grid_points, origins, cause = 0, 0, ""
    if not scope.clusters:
        if reach.origins == "grid":
            grid_points = origins = _grid_points(network, reach.grid_spacing_m)
            cause = f"reach.grid_spacing_m {reach.grid_spacing_m:g} m"
        else:
            origins = network.n_nodes
            cause = "every street node as an origin"
    else:
        residences = study.residences
        grid = residences.method == "grid" and residences.file is None
        if clusters is not None:
            origins = clusters
        elif grid:
            grid_points = origins = _grid_points(network, residences.grid_spacing_m)
        if grid:
            cause = f"residences.grid_spacing_m {residences.grid_spacing_m:g} m"
    if grid_points:
        km = [float(a.max() - a.min()) / 1000 for a in (network.x, network.y)]
        cause += f" over {km[0]:.1f} x {km[1]:.1f} km"
    memory = _BASE_BYTES + _GRID_POINT_BYTES * grid_points + per_origin * origins
    walking_areas = 0
    if scope.clusters and not scope.tables_only:
        walking_areas = origins * n_thresholds
        # A walking area is the buffered streets within its threshold: about three
        # vertices per street segment of the disc, plus the rounded ends.
        edges_per_m2 = network.n_edges / extent
        vertices = sum(
            3 * min(edges_per_m2 * math.pi * d * d, network.n_edges) + 32 for d in scope.distances
        )
        memory += _VERTEX_BYTES * vertices * origins
    ball = network.n_nodes / extent * math.pi * max(scope.distances) ** 2
    return SizeEstimate(
        grid_points, origins, walking_areas, min(ball, network.n_nodes), memory / 1e9, cause
    )


def check_size(
    study: Study, scope: Scope, network: WalkNetwork, clusters: int | None = None
) -> SizeEstimate:
    """Refuse a run beyond the study's size limits, before the work, unless forced.

    Call it once the network is read (a grid is counted before it is built), and again
    with the number of clusters once they are formed (before reach and walking areas).

    Parameters
    ----------
    study : Study
        Its ``limits``: ``max_memory_gb``, ``max_walking_areas`` and ``force``.
    scope : Scope
        The run's scope.
    network : WalkNetwork
        The walking network.
    clusters : int, optional
        The number of residence clusters, once formed.

    Returns
    -------
    SizeEstimate
        The estimate (also when forced).

    Raises
    ------
    ConfigError
        One line: what is too large, the estimate and the limit, and how to go on
        (a coarser grid, a smaller area, ``--tables-only``, ``--force``).
    """
    size = estimate_size(study, scope, network, clusters)
    limits = study.limits
    if limits.force:
        return size
    why = f"; {size.cause}" if size.cause else ""
    smaller = "a coarser grid, a smaller area" if size.grid_points else "a smaller area"
    if size.memory_gb > limits.max_memory_gb:
        raise ConfigError(
            f"this run would need about {size.memory_gb:.1f} GB of memory ({size.origins:,} "
            f"origins{why}), more than limits.max_memory_gb {limits.max_memory_gb:g} GB: use "
            f"{smaller} or fewer categories, or run anyway with --force (or raise the limit, "
            "see docs/guide/config.md)"
        )
    if size.walking_areas > limits.max_walking_areas:
        raise ConfigError(
            f"this run would draw {size.walking_areas:,} walking areas ({size.origins:,} "
            f"clusters x {len(scope.thresholds)} thresholds{why}), more than "
            f"limits.max_walking_areas {limits.max_walking_areas:,}: use --tables-only (no "
            f"walking areas), {smaller} or fewer thresholds, or run anyway with --force"
        )
    return size
