"""Files of a study run, written all at once or not at all.

``write_outputs`` writes every file into a temporary folder beside the output folder and
renames it into place at the end, replacing an earlier run's folder. A failure leaves the
earlier run untouched and no temporary folder behind.

Files (fixed names; no path is ever built from data, OSM names are untrusted):

- ``map.html``: the interactive map (see :mod:`circles.outputs.webmap`).
- ``clusters.gpkg``: layers ``clusters``, ``services`` and ``isochrones``, in WGS-84
  (EPSG:4326) at full precision; metric figures are in the ``*_m``/``*_m2`` columns.
- ``clusters.csv``: the cluster table without geometry, with ``lon``/``lat`` (WGS-84) of a
  point inside each cluster; UTF-8 with a BOM so Excel shows Chinese names correctly.
- ``summary.json``: ``result.summary`` (UTF-8, Chinese kept readable, NaN as null).
- ``report.md``: the bilingual report (see :mod:`circles.outputs.report`).
- ``report.html``: the same report as one self-contained page with its charts, which opens
  offline (see :mod:`circles.outputs.report_html`).
- ``reach.parquet``: one row per origin (clusters, every node or grid points): origin_id,
  lon, lat (WGS-84) and the reach columns. A ``--tables-only`` run writes only this file
  and ``summary.json`` (and ``rejected_rows.csv``).
- ``rejected_rows.csv``: written when the study reads tables of its own (``pois``,
  ``residences.file``), always with its header: every table row that was not used, with
  its reason (see :func:`circles.sources.tables.write_rejected`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Collection, Iterable
from functools import partial
from pathlib import Path

from circles._errors import CirclesError
from circles.result import StudyResult

MAP_HTML = "map.html"
GEOPACKAGE = "clusters.gpkg"
CLUSTERS_CSV = "clusters.csv"
SUMMARY_JSON = "summary.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
REACH_PARQUET = "reach.parquet"
REJECTED_CSV = "rejected_rows.csv"
OUTPUT_FILES: tuple[str, ...] = (
    MAP_HTML,
    GEOPACKAGE,
    CLUSTERS_CSV,
    SUMMARY_JSON,
    REPORT_MD,
    REPORT_HTML,
    REACH_PARQUET,
)
# Written only by some runs (rejected_rows.csv: a study with tables of its own); an
# earlier run's folder holding them may be replaced too.
OPTIONAL_FILES: tuple[str, ...] = (REJECTED_CSV,)

__all__ = [
    "CLUSTERS_CSV",
    "GEOPACKAGE",
    "MAP_HTML",
    "OPTIONAL_FILES",
    "OUTPUT_FILES",
    "REACH_PARQUET",
    "REJECTED_CSV",
    "REPORT_HTML",
    "REPORT_MD",
    "SUMMARY_JSON",
    "OutputError",
    "write_folder",
    "write_outputs",
]


class OutputError(CirclesError):
    """The output folder cannot be written or replaced."""


def _writers(
    result: StudyResult, carto_api_key: str | None, map_options: dict | None = None
) -> list[tuple[str, Callable[[StudyResult, Path], Path]]]:
    # Looked up at call time, so a writer can be replaced (tests make one fail); imported
    # here so that a tables-only run does not load folium and geopandas.
    rejected = []
    if getattr(result, "rejected", None) is not None:  # the study read tables of its own
        from circles.outputs.rejected import write_rejected

        rejected = [(REJECTED_CSV, write_rejected)]
    from circles.outputs import files

    # The summary and the reach table need no geopandas: a tables-only run stops there.
    light = [(SUMMARY_JSON, files.write_summary), (REACH_PARQUET, files.write_reach)]
    if result.tables_only:
        return [*light, *rejected]
    from circles.outputs import report, report_html, webmap

    return [
        *rejected,
        *light,
        (CLUSTERS_CSV, files.write_cluster_csv),
        (GEOPACKAGE, files.write_geopackage),
        (REPORT_MD, report.write_report),
        (REPORT_HTML, report_html.write_html_report),
        (MAP_HTML, partial(webmap.write_map, carto_api_key=carto_api_key, **(map_options or {}))),
    ]


def _check_replaceable(
    out_dir: Path, known: Collection[str] = OUTPUT_FILES + OPTIONAL_FILES
) -> None:
    """Only an empty folder or an earlier run's folder (files named in ``known``) may be
    replaced."""
    if not out_dir.name or out_dir.name in (".", ".."):
        raise OutputError(f"output folder {out_dir} has no name; give a folder such as outputs/x")
    if not out_dir.exists():
        return
    if not out_dir.is_dir() or out_dir.is_symlink():
        raise OutputError(
            f"output path {out_dir} exists and is not a folder; remove it or choose another"
        )
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in known)
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise OutputError(
            f"refusing to replace {out_dir}: it holds files circles did not write ({shown}); "
            "choose an empty or new output folder"
        )


def write_folder(
    out_dir: Path,
    writers: Iterable[tuple[str, Callable[[Path], object]]],
    known: Collection[str],
) -> Path:
    """Write a folder of files all at once or not at all.

    Every file is written into a temporary sibling folder, which is renamed to
    ``out_dir`` once all of them are complete. An existing ``out_dir`` is replaced only if
    it is empty or holds nothing but files named in ``known`` (an earlier run's);
    otherwise nothing is written. A failing writer leaves ``out_dir`` as it was and no
    temporary folder behind.

    Parameters
    ----------
    out_dir : pathlib.Path
        The folder to write.
    writers : iterable of (str, callable)
        File names (fixed, never built from data) and functions writing a file at the
        path they are given.
    known : collection of str
        The names of the files an earlier run of the same kind may have left there.

    Returns
    -------
    pathlib.Path
        ``out_dir``, absolute.

    Raises
    ------
    OutputError
        The folder cannot be created, or holds files of something else.
    """
    out_dir = Path(out_dir).absolute()
    _check_replaceable(out_dir, known)
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        # mkdir, not mkdtemp: the folder gets the usual permissions (umask), not 0700.
        tmp = parent / f".{out_dir.name}.{uuid.uuid4().hex[:12]}.partial"
        tmp.mkdir()
    except OSError as e:
        raise OutputError(f"cannot create the output folder in {parent}: {e.strerror}") from e
    try:
        for name, write in writers:
            write(tmp / name)
        _swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def write_outputs(
    result: StudyResult,
    out_dir: Path,
    *,
    carto_api_key: str | None = None,
    self_contained: bool | None = None,
    basemap: str | None = None,
) -> Path:
    """Write the map, GeoPackage, CSV, summary and report of ``result`` into ``out_dir``.

    The folder is replaced as a whole (:func:`write_folder`): files are written into a
    temporary sibling folder which is renamed to ``out_dir`` once all of them are complete.
    An existing ``out_dir`` is replaced only if it is empty or holds nothing but an earlier
    run's files, otherwise :class:`OutputError` is raised.

    Parameters
    ----------
    result : StudyResult
        The run to write.
    out_dir : pathlib.Path
        The output folder.
    carto_api_key : str, optional
        Enables the CARTO Positron basemap (the map falls back to a grey OpenStreetMap
        without it).
    self_contained : bool, optional
        Embed Leaflet in map.html (no CDN); default: the study's ``map:`` setting.
    basemap : str, optional
        ``osm``, ``light`` or ``none``; default: the study's ``map:`` setting.

    Returns
    -------
    pathlib.Path
        ``out_dir``, absolute.
    """
    map_options = {"self_contained": self_contained, "basemap": basemap}
    writers = [
        (name, partial(write, result))
        for name, write in _writers(result, carto_api_key, map_options)
    ]
    return write_folder(out_dir, writers, OUTPUT_FILES + OPTIONAL_FILES)


def _swap_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename ``tmp`` to ``out_dir``; an earlier ``out_dir`` is removed only afterwards."""
    old: Path | None = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        if old is not None:
            os.replace(old, out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
