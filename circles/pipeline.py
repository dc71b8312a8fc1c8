"""A run as a list of stages: prepare, form clusters, measure, score, draw, summarise.

Each stage is a function in the module of its concern (``prepare``, ``residences``,
``measure``, ``scoring``, ``isochrones``, ``summary``); this module only decides which
stages a run needs and calls them in order. Planning, comparisons, the server and batch
runs call the same stages.
"""

from __future__ import annotations

import stat
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only light modules are imported here: the engine (numba), geopandas and the geometry
# stages load where they are used, so that a cold run can load them while its OSM file is
# read in a worker process, and a cached run starts fast.
from circles._errors import InputError, path_problem, shown_path
from circles.config import Study
from circles.prepare import TableLog, add_poi_tables, prepare, remove_services
from circles.progress import StepHook, Steps
from circles.result import StudyResult
from circles.scope import Scope, check_size

if TYPE_CHECKING:
    import geopandas as gpd

    from circles.origins import Walk
    from circles.prepare import Prepared
    from circles.residences import Clusters
    from circles.scoring import Scores
    from circles.sources.extract import OsmExtract
    from circles.units import UnitReport, Units

__all__ = ["check_paths", "run"]


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

    Raises
    ------
    circles._errors.InputError
        An input file is missing or unreadable (:func:`check_paths`, before any work).
    """
    from circles import measure
    from circles.summary import summarise

    check_paths(study, source=extract is None)
    steps, scope = Steps(step), Scope.of(study, tables_only)
    prepared = prepare(study, scope, steps, extract=extract, cache_dir=cache_dir)
    check_size(study, scope, prepared.network)  # before a grid is built or a walk measured
    log = _read_poi_tables(study, scope, prepared, steps)
    gaps = measure.data_gaps(prepared, scope.keys)
    units = _read_units(study, scope, prepared, steps)  # bad boundaries fail before the work
    clusters = _measured_clusters(study, scope, prepared, log, steps, gaps)
    if clusters is not None:
        reach_table = measure.cluster_reach_table(clusters.frame)
    else:
        with steps("reach_origins", "计算可达性 Computing reach from every origin"):
            reach_table = _surface_reach_table(study, scope, prepared)
    scores = _score(clusters, scope, prepared, gaps, steps)
    unit_report = _assess_units(study, scope, prepared, clusters, scores, units, steps)
    if unit_report is not None and log is not None:
        log.rejected.extend(unit_report.rejected)
    isochrones = _draw(study, scope, prepared, clusters, steps)
    summary = summarise(study, scope, prepared, clusters, reach_table, steps.timings, scores, log)
    if unit_report is not None:
        from circles.outputs.dossiers import cjk_font_warning

        summary["units"] = unit_report.summary()
        summary["warnings"] += unit_report.notes
        font = cjk_font_warning()  # the dossiers' Chinese would be boxes
        summary["warnings"] += [font] if font else []
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
        starts=clusters.seeds if clusters is not None else None,
        walk=clusters.walk if clusters is not None else None,
        units=unit_report,
    )


def check_paths(
    study: Study,
    out_dir: Path | None = None,
    known: Collection[str] | None = None,
    *,
    source: bool = True,
    also: Sequence[tuple[str, Path, str]] = (),
) -> None:
    """Check every file a study reads, and the folder a run writes, before any work.

    A missing ``--pois`` table or an ``--out`` that cannot be written is said at once,
    not after minutes of reading and measuring.

    Parameters
    ----------
    study : Study
        Its OSM file, boundaries, POI and 小区 tables and ``remove_pois`` file must be
        readable files with usable names.
    out_dir : pathlib.Path, optional
        The output folder: it must be new, empty or an earlier run's, in a place that can
        be written (:func:`circles.outputs.check_output_folder`).
    known : collection of str, optional
        The files an earlier run may have left in ``out_dir``; default: a study run's.
    source : bool
        Check the OSM file too (not when the data was read already).
    also : sequence of (str, pathlib.Path, str)
        Further files the command reads (``circles plan --candidates``): what each one
        is, its path, and how to fix it.

    Raises
    ------
    circles._errors.InputError
        An input is missing, a folder, unreadable, or its path holds a line break or
        bytes that are not UTF-8.
    circles.outputs.OutputError
        The output folder cannot be written.
    """
    for noun, path, hint in [*_input_files(study, source), *also]:
        _check_input(noun, path, hint)
    if out_dir is not None:
        from circles.outputs import OPTIONAL_FILES, OUTPUT_FILES, check_output_folder

        check_output_folder(out_dir, OUTPUT_FILES + OPTIONAL_FILES if known is None else known)


def _input_files(study: Study, source: bool) -> Iterator[tuple[str, Path, str]]:
    """(what it is, path, how to fix it) of every file a study reads."""
    if source and study.source.osm is not None:
        yield "OSM file", study.source.osm, "check the path, or use --place online"
    if study.walking.dem is not None:
        yield "DEM", study.walking.dem, "walking.dem: give a GeoTIFF elevation model"
    if study.gates.file is not None:
        yield "gate table", study.gates.file, "gates.file: check the path of --gates"
    if study.population.file is not None:
        yield "population file", study.population.file, "population.file: check --population"
    if study.units.file is not None:
        yield "units file", study.units.file, "units.file: check the path of --units"
    if study.self_assessment is not None:
        yield "self-assessment form", study.self_assessment, "check --self-assessment"
    if source and study.source.polygon is not None:
        yield "boundary file", study.source.polygon, "source.polygon: give a GeoJSON polygon"
    if study.boundary is not None:
        yield "boundary file", study.boundary, "give a GeoJSON polygon"
    for i, table in enumerate(study.pois):
        yield "table", table.file, f"pois[{i}]: check the path given to --pois"
    if study.residences.file is not None:
        yield "table", study.residences.file, "residences.file: check the path of --residences"
    if study.remove_pois is not None:
        yield "remove_pois file", study.remove_pois, "check the path"


def _check_input(noun: str, path: Path, hint: str) -> None:
    shown = shown_path(path)
    problem = path_problem(path)
    if problem:
        raise InputError(f"{noun} {shown}: {problem}")
    try:
        mode = path.stat().st_mode
        if stat.S_ISREG(mode):
            with open(path, "rb"):
                return
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"{noun} not found: {shown} ({hint})") from None
    except OSError as e:
        raise InputError(f"cannot read {noun} {shown}: {e.strerror} ({hint})") from None
    kind = "a folder, not a file" if stat.S_ISDIR(mode) else "not a regular file"
    raise InputError(f"{noun} {shown} is {kind} ({hint})")


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
    if not scope.clusters:
        return None  # before the imports: residences loads geopandas
    from circles import measure
    from circles.residences import form_clusters

    with steps("residences", "生成居住单元 Forming residence clusters"):
        clusters = form_clusters(study, prepared, log)
    check_size(study, scope, prepared.network, clusters=len(clusters.frame))
    compounds = None
    if study.gates.rule != "off":
        from circles.gates import find_compounds
        from circles.prepare import study_area

        with steps("gates", "识别小区出入口 Finding the gates of 小区"):
            area = study_area(study, prepared.network, halo=False)
            compounds = find_compounds(
                clusters.frame, prepared.network, prepared.features, study.gates, area
            )
            clusters.notes += compounds.notes
            if log is not None:
                log.rejected.extend(compounds.rejected)
    with steps("reach", "计算可达性 Computing reach"):
        walk, distances = _walking_of(study, scope, prepared, clusters.notes)
        measure.measure_clusters(prepared, clusters, compounds, walk, scope, distances, study, gaps)
    return clusters


def _walking_of(
    study: Study, scope: Scope, prepared: Prepared, notes: list[str]
) -> tuple[Walk, Any]:
    """What each edge costs (steps, slopes) and each category's thresholds (its walkers'
    speed), for every measurement of a run; the notes of a DEM join ``notes``."""
    from circles.origins import Walk
    from circles.walking import category_distances, edge_lengths

    cost, more = edge_lengths(prepared.network, study.walking)
    notes += more
    return Walk(prepared.network, cost), category_distances(study, scope.keys)


def _read_units(study: Study, scope: Scope, prepared: Prepared, steps: Steps) -> Units | None:
    """The study's units (社区/街道), read before the clusters are measured."""
    if not study.units.given or scope.standard is None or not scope.clusters:
        return None
    from circles.units import read_units

    with steps("units", "读取社区边界 Reading unit boundaries"):
        return read_units(study, prepared.network)


def _assess_units(
    study: Study,
    scope: Scope,
    prepared: Prepared,
    clusters: Clusters | None,
    scores: Scores | None,
    units: Units | None,
    steps: Steps,
) -> UnitReport | None:
    """Each unit's indicators, items and shortfalls, with its self-assessment merged."""
    if units is None or clusters is None or scores is None:
        return None
    from circles.units import assess

    with steps("units_assess", "汇总到社区 Joining clusters to units"):
        assessment = None
        rejected: list[dict] = []
        notes: list[str] = []
        if study.self_assessment is not None:
            from circles.selfassess import read_form

            assessment, rejected, notes = read_form(
                study.self_assessment, scores.standard, units.name
            )
        report = assess(
            units,
            clusters.frame,
            scores,
            prepared,
            clusters.seeds,
            clusters.walk,
            assessment,
            scope.categories,
        )
        report.rejected = [*report.rejected, *rejected]
        report.notes = [*report.notes, *notes]
        return report


def _surface_reach_table(study: Study, scope: Scope, prepared: Prepared) -> dict:
    """The reach table of every node or of grid points."""
    from circles import measure
    from circles.snap import surface_origins

    settings = study.reach
    origins, ids = surface_origins(
        prepared.network,
        prepared.attach,  # the edge index is built only for grid points
        settings.origins,
        settings.grid_spacing_m,
        study.snap.max_distance_m,
    )
    walk, distances = _walking_of(study, scope, prepared, [])
    reach = measure.measure(
        prepared, origins, scope.keys, distances, settings, scope.categories, walk
    )
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
        scores = scoring.score(clusters.frame, scope.standard, gaps, found, clusters.residents)
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
        if clusters.seeds is None or clusters.walk is None:
            return draw(
                prepared.network, clusters.attachment, ids, scope.distances, study.isochrones
            )
        return draw(
            prepared.network,
            clusters.seeds,
            ids,
            scope.distances,
            study.isochrones,
            weights=None if clusters.walk.is_plain else clusters.walk.csr_weights(),
            used=clusters.frame["used"].to_numpy(bool),
        )
