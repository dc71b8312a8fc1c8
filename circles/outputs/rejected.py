"""``rejected_rows.csv``: the rows of a study's own tables that were not used, and why.

The records are made while the tables are read (see :mod:`circles.sources.tables.rejected`);
this module only writes them. Cells hold text written by strangers, so text a spreadsheet
would run as a formula is defused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from circles.sources.tables.rejected import rejected_frame
from circles.values import defuse_formula

if TYPE_CHECKING:
    from circles.result import StudyResult


def write_rejected(result: StudyResult, path: Path) -> Path:
    """``rejected_rows.csv``: every table row that was not used, with its reason.

    UTF-8 with a BOM (Excel shows Chinese correctly). Columns: file, kind (pois or
    residences), row (as a spreadsheet shows it: the header is row 1; for GeoJSON,
    GeoPackage and Shapefile the feature number), reason (a key), reason_label (中文 and
    English), detail, name, x and y as written in the table, record (the whole row, JSON).
    Written with its header even when no row was rejected.

    Parameters
    ----------
    result : StudyResult
        A study result; its ``rejected`` records are written (none when it is None).
    path : pathlib.Path
        The file to write (rejected_rows.csv).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    frame = rejected_frame(list(result.rejected or []))
    for col in ("detail", "name", "x", "y", "record", "file"):
        frame[col] = frame[col].map(defuse_formula)
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path
