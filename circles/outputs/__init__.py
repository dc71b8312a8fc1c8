"""Files of a study run, written all at once or not at all.

``write_outputs`` writes every file into a temporary folder beside the output folder and
renames it into place at the end, replacing an earlier run's folder. A failure leaves the
earlier run untouched and no temporary folder behind; a full disk is said in one line.
The temporary folder (``.<name>.<hex>.partial``) records the process writing it, so that
the next write into the same parent removes those of runs that were killed.

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

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from functools import partial
from pathlib import Path

from circles._errors import CirclesError, path_problem, shown_path
from circles.result import StudyResult
from circles.shortfalls import SHORTFALLS_CSV, SHORTFALLS_XLSX

MAP_HTML = "map.html"
GEOPACKAGE = "clusters.gpkg"
CLUSTERS_CSV = "clusters.csv"
SUMMARY_JSON = "summary.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
REACH_PARQUET = "reach.parquet"
REJECTED_CSV = "rejected_rows.csv"
UNITS_CSV = "units.csv"
UNITS_DIR = "units"
UNITS_PDF = "units.pdf"
OUTPUT_FILES: tuple[str, ...] = (
    MAP_HTML,
    GEOPACKAGE,
    CLUSTERS_CSV,
    SUMMARY_JSON,
    REPORT_MD,
    REPORT_HTML,
    REACH_PARQUET,
)
# Written only by some runs (rejected_rows.csv: a study with tables of its own; the units'
# files: a study with --units); an earlier run's folder holding them may be replaced too.
OPTIONAL_FILES: tuple[str, ...] = (
    REJECTED_CSV,
    UNITS_CSV,
    UNITS_DIR,
    UNITS_PDF,
    SHORTFALLS_CSV,
    SHORTFALLS_XLSX,
)

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
    "check_output_folder",
    "remove_stale_partials",
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
        *_unit_writers(result),
        (CLUSTERS_CSV, files.write_cluster_csv),
        (GEOPACKAGE, files.write_geopackage),
        (REPORT_MD, report.write_report),
        (REPORT_HTML, report_html.write_html_report),
        (MAP_HTML, partial(webmap.write_map, carto_api_key=carto_api_key, **(map_options or {}))),
    ]


def _unit_writers(result: StudyResult) -> list[tuple[str, Callable[[StudyResult, Path], Path]]]:
    """The files of a run with units: the table, the shortfall list, the dossiers."""
    if result.units is None:
        return []
    from circles import shortfalls
    from circles.outputs import dossiers, files

    report = result.units
    pages: list[Path] = []

    def write_pages(result: StudyResult, path: Path) -> Path:
        pages.extend(dossiers.write_dossiers(result, report, path.parent))
        return path

    return [
        (UNITS_CSV, files.write_units_csv),
        (SHORTFALLS_CSV, lambda _r, p: shortfalls.write_shortfalls_csv(report.shortfalls, p)),
        (SHORTFALLS_XLSX, lambda _r, p: shortfalls.write_shortfalls_xlsx(report.shortfalls, p)),
        (UNITS_DIR, write_pages),
        (UNITS_PDF, lambda _r, p: dossiers.write_units_pdf(pages, p)),
    ]


def check_output_folder(
    out_dir: Path, known: Collection[str] = OUTPUT_FILES + OPTIONAL_FILES
) -> None:
    """Check, before any work, that a folder can be written by :func:`write_folder`.

    Only a new folder, an empty one or an earlier run's (nothing but files named in
    ``known``) may be written; its parent must be a folder that can be written.

    Parameters
    ----------
    out_dir : pathlib.Path
        The output folder.
    known : collection of str
        The names of the files an earlier run of the same kind may have left there.

    Raises
    ------
    OutputError
        The path names no folder, is an existing file, holds files circles did not write,
        cannot be created (a file in the way, a read-only place), or cannot be named in a
        one-line message (a line break, bytes that are not UTF-8).
    """
    out_dir = Path(out_dir).absolute()
    shown = shown_path(out_dir)
    problem = path_problem(out_dir)
    if problem:
        raise OutputError(f"output folder {shown}: {problem}")
    if not out_dir.name or out_dir.name in (".", ".."):
        raise OutputError(f"output folder {shown} has no name; give a folder such as outputs/x")
    try:
        _check_place(out_dir, shown, known)
    except OSError as e:  # a folder on the way that may not be looked into
        raise OutputError(f"cannot use the output folder {shown}: {e.strerror}") from e


def _check_place(out_dir: Path, shown: str, known: Collection[str]) -> None:
    """What is at ``out_dir`` may be replaced, and its parent may be written."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise OutputError(
            f"output path {shown} exists and is not a folder; remove it or choose another"
        )
    if out_dir.exists():
        foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in known)
        if foreign:
            listed = ", ".join(shown_path(n) for n in foreign[:3])
            more = " ..." if len(foreign) > 3 else ""
            raise OutputError(
                f"refusing to replace {shown}: it holds files circles did not write "
                f"({listed}{more}); choose an empty or new output folder"
            )
    # The temporary folder is made beside out_dir: its nearest existing ancestor must be a
    # folder this process may write into (os.access also sees a read-only mount).
    ancestor = out_dir.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(
            f"cannot create the output folder {shown}: {shown_path(ancestor)} is a file, "
            "not a folder; choose another output folder"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot create the output folder {shown}: {shown_path(ancestor)} is read-only; "
            "choose another output folder"
        )


# A write in progress: .<name>.<12 hex>.partial, holding OWNER_FILE until its rename.
_PARTIAL = re.compile(r"^\..+\.[0-9a-f]{12}\.partial$")
OWNER_FILE = ".circles-writer.json"
# A partial folder without an owner (written by circles before it recorded one, or killed
# between removing the record and the rename) is stale once this old.
_ORPHAN_AGE_S = 24 * 3600


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except (OverflowError, ValueError):
        return False
    return True


def _stale(folder: Path, host: str) -> bool:
    """Whether a partial folder was left by a run that is gone."""
    try:
        owner = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            return time.time() - folder.stat().st_mtime > _ORPHAN_AGE_S
        return False
    except (OSError, ValueError):
        return False  # unreadable: not ours to judge
    if not isinstance(owner, dict) or owner.get("host") != host:
        return False  # another machine's run (a shared folder): its pids are not ours
    pid = owner.get("pid")
    return isinstance(pid, int) and pid > 0 and not _alive(pid)


def remove_stale_partials(parent: Path) -> list[Path]:
    """Remove the temporary folders that killed writes left in a folder.

    A partial folder is removed when the process recorded in it is gone on this machine,
    or, without a record, when it is a day old. Those of live runs and of other machines
    are kept.

    Parameters
    ----------
    parent : pathlib.Path
        The folder that output folders are written into.

    Returns
    -------
    list of pathlib.Path
        The folders removed.
    """
    try:
        candidates = [p for p in Path(parent).iterdir() if _PARTIAL.match(p.name)]
    except OSError:
        return []
    host = socket.gethostname()
    removed = []
    for folder in candidates:
        if folder.is_dir() and not folder.is_symlink() and _stale(folder, host):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
    return removed


def _disk_full(error: BaseException, where: Path) -> bool:
    """Whether a writer failed because the disk is full: it says so (ENOSPC), or it wraps
    the error in its own (GDAL, SQLite) while almost nothing is left."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(where).free < _FULL_BYTES
    except OSError:
        return False


_FULL_BYTES = 1 << 20  # less than this left after a failed write: the disk is full


def _write_error(out_dir: Path, error: BaseException, where: Path) -> OutputError | None:
    """The one-line error of a failed write, or None when it is not about the disk."""
    shown = shown_path(out_dir)
    if _disk_full(error, where):
        return OutputError(
            f"cannot write the output folder {shown}: the disk is full; free some space "
            "or choose an output folder on another disk"
        )
    if isinstance(error, OSError) and error.errno is not None:
        return OutputError(f"cannot write the output folder {shown}: {error.strerror}")
    return None


def write_folder(
    out_dir: Path,
    writers: Iterable[tuple[str, Callable[[Path], object]]],
    known: Collection[str],
) -> Path:
    """Write a folder of files all at once or not at all.

    Every file is written into a temporary sibling folder, which is renamed to
    ``out_dir`` once all of them are complete. An existing ``out_dir`` is replaced only if
    it is empty or holds nothing but files named in ``known`` (an earlier run's);
    otherwise nothing is written (:func:`check_output_folder`). A failing writer leaves
    ``out_dir`` as it was and no temporary folder behind. Temporary folders that killed
    runs left in the same parent are removed first (:func:`remove_stale_partials`).

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
        The folder cannot be created, holds files of something else, or the disk filled
        up while writing.
    """
    out_dir = Path(out_dir).absolute()
    check_output_folder(out_dir, known)
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(parent)
        # mkdir, not mkdtemp: the folder gets the usual permissions (umask), not 0700.
        tmp = parent / f".{out_dir.name}.{uuid.uuid4().hex[:12]}.partial"
        tmp.mkdir()
    except OSError as e:
        error = _write_error(out_dir, e, parent)
        raise error or OutputError(
            f"cannot create the output folder in {shown_path(parent)}: {e.strerror}"
        ) from e
    try:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        (tmp / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")
        for name, write in writers:
            write(tmp / name)
        (tmp / OWNER_FILE).unlink()
        _swap_into_place(tmp, out_dir)
    except BaseException as e:
        # Judged before the folder goes: removing it frees the space that ran out.
        error = _write_error(out_dir, e, parent) if isinstance(e, Exception) else None
        shutil.rmtree(tmp, ignore_errors=True)
        if error is not None:
            raise error from e
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
