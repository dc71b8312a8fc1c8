"""A run as a list of stages: prepare, form clusters, measure, score, draw, summarise.

Each stage is a function in the module of its concern (``prepare``, ``residences``,
``measure``, ``scoring``, ``isochrones``, ``summary``); this module only decides which
stages a run needs and calls them in order. Planning, comparisons, the server and batch
runs call the same stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

# Only light modules are imported here: the engine (numba), geopandas and the geometry
# stages load where they are used, so that a cold run can load them while its OSM file is
# read in a worker process, and a cached run starts fast.
from circles.config import Study
from circles.prepare import TableLog, add_poi_tables, prepare, remove_services
from circles.progress import StepHook, Steps
from circles.result import StudyResult
from circles.scope import Scope

if TYPE_CHECKING:
    import geopandas as gpd

    from circles.prepare import Prepared
    from circles.residences import Clusters
    from circles.scoring import Scores
    from circles.sources.extract import OsmExtract

__all__ = ["run"]


def run(
    study: Study,
    step: StepHook | None = None,
    extract: OsmExtract | None = None,
    tables_only: bool = False,
    cache_dir: Path | None = None,
) -> StudyResult:
    """Run a study end to end and return its tables (nothing is written to disk).

    Parameters
    ----------
    study : Study
        The study.
    step : StepHook, optional
        Called around each step with its label (the CLI shows progress with it).
    extract : OsmExtract, optional
        OSM data already read; default: read the study's source.
    tables_only : bool
        Compute only the reach table of the study's origins: no residences unless they
        are the origins, no isochrones.
    cache_dir : pathlib.Path, optional
        Cache the parsed network and services there; None: no cache.

    Returns
    -------
    StudyResult
        Clusters, services, isochrones, the reach table, scores and the summary.
    """
    from circles import measure
    from circles.summary import summarise

    steps, scope = Steps(step), Scope.of(study, tables_only)
    prepared = prepare(study, scope, steps, extract=extract, cache_dir=cache_dir)
    log = _read_poi_tables(study, scope, prepared, steps)
    gaps = measure.data_gaps(prepared, scope.keys)
    clusters = _measured_clusters(study, scope, prepared, log, steps, gaps)
    if clusters is not None:
        reach_table = measure.cluster_reach_table(clusters.frame)
    else:
        with steps("reach_origins", "计算可达性 Computing reach from every origin"):
            reach_table = _surface_reach_table(study, scope, prepared)
    scores = _score(clusters, scope, prepared, gaps, steps)
    isochrones = _draw(study, scope, prepared, clusters, steps)
    summary = summarise(study, scope, prepared, clusters, reach_table, steps.timings, scores, log)
    return StudyResult(
        study,
        prepared.network,
        scope.categories,
        scope.thresholds,
        clusters.frame if clusters is not None else None,
        prepared.services_frame() if clusters is not None else None,
        isochrones,
        summary,
        reach=reach_table,
        scores=scores,
        tables_only=tables_only,
        rejected=log.rejected if log is not None else None,
    )


def _read_poi_tables(
    study: Study, scope: Scope, prepared: Prepared, steps: Steps
) -> TableLog | None:
    """Lay the study's POI tables over the services and close those its ``remove_pois``
    lists; the log of its tables, if it has any."""
    log = TableLog.of(study)
    if study.pois and log is not None:
        # After the cache: an entry holds OSM services only, so a changed table is never
        # served stale.
        with steps("pois", "读取 POI 表 Reading POI tables"):
            add_poi_tables(prepared, study, scope.categories, log)
    if study.remove_pois is not None and log is not None:
        # After the tables (their rows can be closed) and after the cache, like them.
        with steps("remove_pois", "关闭设施 Closing services"):
            remove_services(prepared, study, log)
    return log


def _measured_clusters(
    study: Study,
    scope: Scope,
    prepared: Prepared,
    log: TableLog | None,
    steps: Steps,
    gaps: list[str],
) -> Clusters | None:
    """Form the clusters and add their reach columns (None when the run needs none)."""
    from circles import measure
    from circles.residences import form_clusters

    if not scope.clusters:
        return None
    with steps("residences", "生成居住单元 Forming residence clusters"):
        clusters = form_clusters(study, prepared, log)
    with steps("reach", "计算可达性 Computing reach"):
        reach = measure.measure(
            prepared, clusters.attachment, scope.keys, scope.distances, study.reach
        )
        clusters.frame = measure.with_reach_columns(
            clusters.frame, reach, scope.keys, scope.thresholds, gaps
        )
    return clusters


def _surface_reach_table(study: Study, scope: Scope, prepared: Prepared) -> dict:
    """The reach table of every node or of grid points."""
    from circles import measure
    from circles.snap import surface_origins

    settings = study.reach
    origins, ids = surface_origins(
        prepared.network,
        prepared.edge_index(),
        settings.origins,
        settings.grid_spacing_m,
        study.snap.max_distance_m,
    )
    reach = measure.measure(prepared, origins, scope.keys, scope.distances, settings)
    return measure.origin_reach_table(
        ids, origins, reach, prepared.network, scope.keys, scope.thresholds
    )


def _score(
    clusters: Clusters | None, scope: Scope, prepared: Prepared, gaps: list[str], steps: Steps
) -> Scores | None:
    """Score the clusters; their ``std_*`` columns join the cluster table (CSV, GeoPackage)."""
    if clusters is None or scope.standard is None:
        return None
    from circles import scoring
    from circles.measure import services_found

    with steps("scoring", "对照标准评分 Scoring against the standard"):
        found = services_found(prepared, scope.keys)
        scores = scoring.score(clusters.frame, scope.standard, gaps, found)
        clusters.frame = scores.clusters = scoring.with_columns(clusters.frame, scores.table)
    return scores


def _draw(
    study: Study, scope: Scope, prepared: Prepared, clusters: Clusters | None, steps: Steps
) -> gpd.GeoDataFrame | None:
    """The clusters' isochrones (None for a tables-only run)."""
    if clusters is None or scope.tables_only:
        return None
    from circles.isochrones import draw

    with steps("isochrones", "生成等时圈 Drawing isochrones"):
        ids = clusters.frame["cluster_id"].tolist()
        return draw(prepared.network, clusters.attachment, ids, scope.distances, study.isochrones)
