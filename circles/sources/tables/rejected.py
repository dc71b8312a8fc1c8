"""Rows not used, with their reasons, and how many rows of a table were read, used and rejected.

Every row is accounted for: it is used, or it is *rejected* with a reason and lands in
``rejected_rows.csv`` (written by :func:`circles.outputs.rejected.write_rejected`):

- ``bad_coordinates``: missing, not a number, out of range, (0, 0), an empty geometry;
- ``lat_lon_swapped``: outside the study area as given, inside with lat and lon swapped
  (not fixed silently: swap the columns, or map them the other way round);
- ``outside_study_area``: outside the boundary (grown by the largest threshold for POIs),
  or, without a boundary, farther than the snapping distance from every walking street's
  hull, so it could never join the network;
- ``unknown_category``: no category column value, AMap type code, Baidu tag or keyword
  puts it in one of the study's categories;
- ``duplicate``: the same place as a service already counted (see
  :func:`circles.sources.tables.merge.merge_pois`);
- ``far_from_street``: inside the area but farther than ``snap.max_distance_m`` from a
  walkable street (kept in the services/clusters with ``used`` false, like OSM ones);
- ``bad_value``: a 小区's households or population is not a non-negative number, or is
  beyond a plausible bound (see :mod:`circles.sources.tables.residences`);
- ``no_match``: a population table's row whose name matches no residence cluster, or whose
  unit polygon holds no residential building and overlaps no cluster
  (see :mod:`circles.population`);
- ``far_from_compound``: a gate table's row farther than ``gates.max_distance_m`` from
  every 小区 boundary (see :mod:`circles.gates`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from circles.sources.tables.read import RawTable

if TYPE_CHECKING:
    import pandas as pd

REASONS: dict[str, str] = {
    "bad_coordinates": "坐标无效 bad coordinates",
    "lat_lon_swapped": "经纬度颠倒 lat and lon swapped",
    "outside_study_area": "不在研究范围内 outside the study area",
    "unknown_category": "类别未知 unknown category",
    "duplicate": "重复 duplicate",
    "far_from_street": "距步行道路太远 too far from a walkable street",
    "bad_value": "数值无效 bad value",
    "no_match": "未匹配 matches no cluster or unit",
    "far_from_compound": "离小区太远 too far from every 小区",
}
AMBIGUOUS_EXAMPLES = 10  # ambiguous rows listed per table in summary.json
REJECTED_COLUMNS = ("file", "kind", "row", "reason", "reason_label", "detail", "name", "x", "y")


@dataclass
class TableRows:
    """A study's table as read, and its rows that were not used.

    Parameters
    ----------
    raw : RawTable
        The table as read.
    cols : dict of str to str
        Its columns by role.
    crs : str
        The CRS of its coordinates.
    rejected : list of dict
        Its rows not used (:func:`rejection`); keyword only.
    ambiguous : list of dict
        Its rows whose code, type or words pointed to more categories than the one kind
        of place chosen (row, name, categories, by, also); keyword only, empty by default.
    """

    raw: RawTable
    cols: dict[str, str]
    crs: str
    rejected: list[dict[str, Any]] = field(default_factory=list, kw_only=True)
    ambiguous: list[dict[str, Any]] = field(default_factory=list, kw_only=True)

    @property
    def rows_read(self) -> int:
        """How many rows the table has (blank lines not counted)."""
        return len(self.raw.frame)


def _raw_xy(raw: RawTable, cols: dict[str, str], i: int) -> tuple[str, str]:
    """The coordinates of row ``i`` as the table wrote them."""
    if "location" in cols:
        return raw.cell(cols["location"], i), ""
    if "lng" in cols and "lat" in cols:
        return raw.cell(cols["lng"], i), raw.cell(cols["lat"], i)
    if "wkt" in cols:
        return raw.cell(cols["wkt"], i)[:80], ""
    if raw.geometry is not None and raw.geometry[i] is not None:
        return raw.geometry[i].wkt[:80], ""
    return "", ""


def rejection(
    raw: RawTable,
    cols: dict[str, str],
    kind: str,
    i: int,
    reason: str,
    detail: str,
    name: str = "",
) -> dict[str, Any]:
    """One line of rejected_rows.csv: where the row is, why, and the row as it was.

    Parameters
    ----------
    raw : RawTable
        The table the row is in.
    cols : dict of str to str
        Its columns by role (for the coordinates as written).
    kind : str
        ``pois`` or ``residences``.
    i : int
        Index of the row in ``raw.frame``.
    reason : str
        A key of :data:`REASONS`.
    detail : str
        Why, in words.
    name : str
        The row's name.

    Returns
    -------
    dict
        The values of :data:`REJECTED_COLUMNS` and ``record`` (the row as JSON).
    """
    x, y = _raw_xy(raw, cols, i)
    return {
        "file": raw.path.name,
        "kind": kind,
        "row": int(raw.rows[i]),
        "reason": reason,
        "reason_label": REASONS[reason],
        "detail": detail,
        "name": str(name or ""),
        "x": x,
        "y": y,
        "record": raw.record(i),
    }


def rejected_frame(rejected: list[dict[str, Any]]) -> pd.DataFrame:
    """The rejected rows as a table with fixed columns (also when there is none).

    Parameters
    ----------
    rejected : list of dict
        Records made by :func:`rejection`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REJECTED_COLUMNS` and ``record``, sorted by kind, file and row.
    """
    import pandas as pd

    columns = [*REJECTED_COLUMNS, "record"]
    frame = pd.DataFrame(rejected, columns=columns)
    return frame.sort_values(["kind", "file", "row"], kind="stable").reset_index(drop=True)


def table_summary(t: TableRows, used_rows: int, **extra: Any) -> dict:
    """Rows read, used and rejected (by reason) of one table, for summary.json.

    Parameters
    ----------
    t : TableRows
        A table as read, with its rejected rows (``PoiCandidates``, ``ResidenceRows``).
    used_rows : int
        How many of its rows are used.
    **extra
        More entries (``duplicates_merged``, ``clusters``).

    Returns
    -------
    dict
        file, path, crs, encoding, rows_read, rows_used, rows_rejected (distinct rows),
        rejected_by_reason, notes (warnings about the table as a whole, such as no name
        column; :func:`circles.summary.tables_summary` makes them warnings),
        ambiguous_rows and ambiguous_examples (the first :data:`AMBIGUOUS_EXAMPLES` of
        ``t.ambiguous``) and the ``extra`` entries.
    """
    by_reason: dict[str, int] = {}
    for r in t.rejected:
        by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + 1
    return {
        "file": t.raw.path.name,
        "path": str(t.raw.path),
        "crs": t.crs,
        "encoding": t.raw.encoding,
        "rows_read": t.rows_read,
        "rows_used": used_rows,
        "rows_rejected": len({r["row"] for r in t.rejected}),
        "rejected_by_reason": by_reason,
        "notes": list(t.raw.notes),
        "ambiguous_rows": len(t.ambiguous),
        "ambiguous_examples": t.ambiguous[:AMBIGUOUS_EXAMPLES],
        **extra,
    }
