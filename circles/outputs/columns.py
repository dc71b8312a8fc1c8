"""Column names, threshold labels and shares that the report, the console table and the map
share, so that they name and count things the same way.

Only pandas is needed here (no geopandas): the writers of files are in
:mod:`circles.outputs.files`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from circles.result import StudyResult, Threshold
from circles.values import as_number, format_number

__all__ = [
    "available_keys",
    "count_column",
    "count_value",
    "coverage",
    "format_metres",
    "format_share",
    "gap_keys",
    "label_both",
    "label_en",
    "label_zh",
    "largest",
    "missing_categories",
    "nearest_column",
    "service_counts",
    "unsnapped",
    "used_mask",
]


def largest(result: StudyResult) -> Threshold:
    """The largest threshold: the 15-minute circle.

    Parameters
    ----------
    result : StudyResult
        A study result with at least one threshold.

    Returns
    -------
    Threshold
        The threshold with the longest walking distance.
    """
    return max(result.thresholds, key=lambda t: t.distance_m)


def _with_distance(threshold: Threshold, label: str, unit: str) -> str:
    """``label``, followed by the threshold's distance unless it already holds it."""
    d = f"{threshold.distance_m:g}"
    return label if d in label else f"{label} ({d}{unit})"


def label_zh(threshold: Threshold) -> str:
    """Chinese label with its distance: '15分钟 (1000米)'; the distance is added if missing.

    Parameters
    ----------
    threshold : Threshold
        A walking threshold; its Chinese label is used.

    Returns
    -------
    str
        The Chinese label, holding the distance once.
    """
    return _with_distance(threshold, threshold.zh, "米")


def label_en(threshold: Threshold) -> str:
    """English label with its distance: '15 min (1000 m)'; the distance is added if missing.

    Parameters
    ----------
    threshold : Threshold
        A walking threshold; its English label is used.

    Returns
    -------
    str
        The English label, holding the distance once.
    """
    return _with_distance(threshold, threshold.en, " m")


def label_both(threshold: Threshold) -> str:
    """One bilingual label with the distance once: '15分钟 15 min (1000 m)'.

    Parameters
    ----------
    threshold : Threshold
        A walking threshold; both its labels are used.

    Returns
    -------
    str
        The Chinese label without its distance, then the English label with it; the English
        label alone when the Chinese one was only the distance.
    """
    d = f"{threshold.distance_m:g}"
    zh = threshold.zh
    for part in (f" ({d}米)", f"（{d}米）", f"({d}米)", f"{d}米"):
        zh = zh.replace(part, "")
    zh = zh.strip()
    return f"{zh} {label_en(threshold)}" if zh else label_en(threshold)


def count_column(category: str, threshold: Threshold) -> str:
    """The column counting a category's services within a threshold.

    Parameters
    ----------
    category : str
        A category key, such as ``market``.
    threshold : Threshold
        The walking threshold the column counts within.

    Returns
    -------
    str
        For example ``market_300m``.
    """
    return f"{category}_{threshold.column}"


def nearest_column(category: str) -> str:
    """The column holding the walking distance to a category's nearest service.

    Parameters
    ----------
    category : str
        A category key, such as ``market``.

    Returns
    -------
    str
        For example ``market_nearest_m``.
    """
    return f"{category}_nearest_m"


def gap_keys(result: StudyResult) -> set[str]:
    """Categories with no usable service: gaps in the data, never reported as 0 %.

    Parameters
    ----------
    result : StudyResult
        A study result; its ``data_gaps`` are read.

    Returns
    -------
    set of str
        The keys of the categories without data.
    """
    return set(result.data_gaps)


def available_keys(result: StudyResult) -> list[str]:
    """Categories that have data, in catalogue order.

    Parameters
    ----------
    result : StudyResult
        A study result; its catalogue order is kept.

    Returns
    -------
    list of str
        The category keys that are not data gaps.
    """
    gaps = gap_keys(result)
    return [k for k in result.categories if k not in gaps]


def used_mask(clusters: pd.DataFrame) -> pd.Series:
    """Clusters that joined the walking network (the others have no reach figures).

    Parameters
    ----------
    clusters : pandas.DataFrame
        Clusters or services, with a ``used`` column when some did not join the network.

    Returns
    -------
    pandas.Series
        Booleans on the frame's index; all True when there is no ``used`` column.
    """
    if "used" not in clusters:
        return pd.Series(True, index=clusters.index)
    return clusters["used"].fillna(False).astype(bool)


def count_value(row: pd.Series | dict, column: str) -> int:
    """A count cell as an int; -1 when there is no figure, never 0.

    A count is empty (``<NA>``) for a category with no data in the study (a data gap) and
    for a cluster that did not join the network; 0 means none within reach.

    Parameters
    ----------
    row : pandas.Series or dict
        A cluster's row.
    column : str
        A count column (see :func:`count_column`).

    Returns
    -------
    int
        The count, or -1 when the cell is missing, empty (``<NA>``, NaN) or not a number.
    """
    value = as_number(row.get(column, -1))
    # An infinite count cannot happen; like <NA> it would mean "no figure". Runs written
    # before counts became nullable hold -1 for a cluster not joined to the network.
    return -1 if value is None or value < 0 else int(value)


def missing_categories(result: StudyResult, row: pd.Series | dict) -> list[str]:
    """Category keys with data that a used cluster cannot reach within the largest threshold.

    Parameters
    ----------
    result : StudyResult
        The study; categories without data are never missing.
    row : pandas.Series or dict
        A cluster's row.

    Returns
    -------
    list of str
        The missing category keys, in catalogue order.
    """
    top = largest(result)
    return [k for k in available_keys(result) if count_value(row, count_column(k, top)) == 0]


def coverage(result: StudyResult) -> dict[str, dict[str, float | None]]:
    """Share of used clusters reaching each category within each threshold.

    Taken from ``summary["coverage"]`` when the pipeline provided it, else computed here.

    Parameters
    ----------
    result : StudyResult
        The study; ``summary["coverage"]`` is used when the pipeline gave it.

    Returns
    -------
    dict
        ``{category: {threshold column: share}}``; a share is None for a data gap, or when
        no cluster joined the network. Empty counts (``<NA>``) count in no share.
    """
    given = result.summary.get("coverage")
    gaps = gap_keys(result)
    clusters = result.clusters
    assert clusters is not None  # the report and console table need a run with clusters
    used = clusters[used_mask(clusters)]
    out: dict[str, dict[str, float | None]] = {}
    for key in result.categories:
        row: dict[str, float | None] = {}
        for t in result.thresholds:
            if isinstance(given, dict) and key in given and t.column in (given[key] or {}):
                value = given[key][t.column]
                row[t.column] = None if value is None else float(value)
            elif key in gaps:
                row[t.column] = None
            else:
                col = count_column(key, t)
                # Empty counts (<NA>) have no figure: they are left out, never taken as 0.
                known = used[col].astype(float).dropna() if col in used else None
                row[t.column] = (
                    float((known > 0).mean()) if known is not None and len(known) else None
                )
        if key in gaps:
            row = {c: None for c in row}
        out[key] = row
    return out


def service_counts(result: StudyResult) -> dict[str, tuple[int, int]]:
    """Per category: (services found, services snapped to the network and used).

    Parameters
    ----------
    result : StudyResult
        The study whose services are counted per category.

    Returns
    -------
    dict
        ``{category: (found, used)}`` for every category of the catalogue.
    """
    services = result.services
    assert services is not None  # a run with clusters always has its services
    out: dict[str, tuple[int, int]] = {}
    for key in result.categories:
        if len(services) == 0 or "category" not in services:
            out[key] = (0, 0)
            continue
        mine = services[services["category"].astype(str) == key]
        n_used = int(used_mask(mine).sum())
        out[key] = (len(mine), n_used)
    return out


def unsnapped(result: StudyResult) -> tuple[int, int]:
    """(clusters, services) that could not join the walking network.

    Parameters
    ----------
    result : StudyResult
        A study result; ``summary["snap"]`` is used when the pipeline counted them.

    Returns
    -------
    tuple of int
        The number of clusters and of services left out.
    """
    snap = result.summary.get("snap") or {}
    clusters = snap.get("clusters_unsnapped")
    services = snap.get("services_unsnapped")
    if clusters is None:
        assert result.clusters is not None  # counted only for a run with clusters
        clusters = int((~used_mask(result.clusters)).sum())
    if services is None:
        assert result.services is not None  # likewise: a run with clusters has services
        services = int((~used_mask(result.services)).sum()) if len(result.services) else 0
    return int(clusters), int(services)


def format_share(share: float | None) -> str:
    """A share as a whole percentage; ``None`` means a data gap and is not formatted here.

    Parameters
    ----------
    share : float or None
        A share from 0 to 1.

    Returns
    -------
    str
        For example ``"42%"``; ``"<1%"`` and ``">99%"`` rather than a rounded 0 % or
        100 % that would not be true; an empty string for None.
    """
    if share is None:
        return ""
    pct = share * 100.0
    if 0 < pct < 1:
        return "<1%"
    if 99 < pct < 100:
        return ">99%"
    return f"{pct:.0f}%"


def format_metres(value: Any) -> str:
    """A distance for a reader: whole metres, thousands separated.

    Parameters
    ----------
    value : Any
        Metres, or a missing value.

    Returns
    -------
    str
        For example ``"1,250 m"``; ``"—"`` when there is no number.
    """
    text = format_number(value)
    return text if text == "—" else f"{text} m"
