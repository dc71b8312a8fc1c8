"""The summarising stage: the JSON-able account of a run (``summary.json``).

It computes nothing new about accessibility: it counts the inputs, takes coverage shares
from the reach tables, and gathers the settings, data gaps, warnings and timings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from circles.config import Study
from circles.result import Threshold

if TYPE_CHECKING:
    import pandas as pd

    from circles.prepare import Prepared, TableLog
    from circles.residences import Clusters
    from circles.scope import Scope
    from circles.scoring import Scores

__all__ = [
    "coverage",
    "gap_warnings",
    "gate_summary",
    "resident_coverage",
    "residence_estimates",
    "scenario_summary",
    "summarise",
    "tables_summary",
    "walking_summary",
]

# The order cluster kinds are listed in: 小区 polygons, then buildings outside them.
_METHOD_ORDER = ("landuse", "buildings", "grid", "table")


def coverage(
    table: dict[str, np.ndarray],
    used: np.ndarray,
    keys: Sequence[str],
    thresholds: Sequence[Threshold],
    gaps: Sequence[str],
) -> dict[str, dict[str, float | None]]:
    """The share of the used origins that reach each category within each threshold.

    Parameters
    ----------
    table : dict of str to numpy.ndarray
        Reach columns (``<key>_<t>m``), one row per origin.
    used : numpy.ndarray of bool
        The origins that count.
    keys : sequence of str
        The categories.
    thresholds : sequence of Threshold
        The thresholds.
    gaps : sequence of str
        Categories without data: their shares are None, never 0.

    Returns
    -------
    dict
        ``{category: {"300m": share, ...}}``, shares rounded to 4 decimals.
    """
    out: dict[str, dict[str, float | None]] = {}
    for k in keys:
        out[k] = {}
        for t in thresholds:
            if k in gaps or not used.any():
                out[k][t.column] = None
            else:
                out[k][t.column] = round(float((table[f"{k}_{t.column}"][used] > 0).mean()), 4)
    return out


def gap_warnings(gaps: Sequence[str], scope: Scope) -> list[str]:
    """One warning per category with no service in the data.

    Parameters
    ----------
    gaps : sequence of str
        The categories without data.
    scope : Scope
        The run's categories (for their labels).

    Returns
    -------
    list of str
        For example ``data gap: no elder care (养老) found in the data; ...``.
    """
    return [
        f"data gap: no {scope.categories[k].en} ({scope.categories[k].zh}) found in the data; "
        "its coverage is unknown, not zero (bring a POI table)"
        for k in gaps
    ]


def tables_summary(log: TableLog, warnings: list[str]) -> dict[str, Any]:
    """Rows read, used and rejected per table and in all; a warning per table with losses.

    Parameters
    ----------
    log : TableLog
        What became of the tables' rows.
    warnings : list of str
        Receives each table's notes (no name column), once, and one line per table that
        lost rows.

    Returns
    -------
    dict
        ``pois_mode``, ``pois`` (one summary per table), ``residences`` when there is a
        小区 table, and the totals ``rows_read``, ``rows_used``, ``rows_rejected``.
    """
    every = [*log.pois, *([log.residences] if log.residences is not None else [])]
    for t in every:
        warnings.extend(t.get("notes", ()))
        if t["rows_rejected"]:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(t["rejected_by_reason"].items()))
            warnings.append(
                f"{t['file']}: {t['rows_rejected']} of {t['rows_read']} rows not used "
                f"({reasons}); see rejected_rows.csv"
            )
    info: dict[str, Any] = {"pois_mode": log.pois_mode, "pois": log.pois}
    if log.residences is not None:
        info["residences"] = log.residences
    return {
        **info,
        "rows_read": sum(t["rows_read"] for t in every),
        "rows_used": sum(t["rows_used"] for t in every),
        "rows_rejected": sum(t["rows_rejected"] for t in every),
    }


def scenario_summary(study: Study, log: TableLog | None, warnings: list[str]) -> dict[str, Any]:
    """What makes a run a scenario: its name, the tables it adds and the services it closes.

    Parameters
    ----------
    study : Study
        Its ``scenario``, ``pois`` and ``remove_pois``.
    log : TableLog, optional
        Its ``removed`` record (:func:`circles.prepare.remove_services`).
    warnings : list of str
        Receives a line when entries of the removal file were not used.

    Returns
    -------
    dict
        ``name``, ``pois_added`` (the tables' file names) and ``removed`` (file, entries,
        services closed and each one's category and name; None without a removal file).
    """
    removed = log.removed if log is not None else None
    if removed and removed["entries_rejected"]:
        warnings.append(
            f"{removed['file']}: {removed['entries_rejected']} of {removed['entries']} "
            "entries closed no service; see rejected_rows.csv"
        )
    return {
        "name": study.scenario,
        "pois_added": [t.file.name for t in study.pois],
        "removed": removed,
    }


def summarise(
    study: Study,
    scope: Scope,
    prepared: Prepared,
    clusters: Clusters | None,
    reach_table: dict[str, np.ndarray],
    timings: dict[str, float],
    scores: Scores | None = None,
    log: TableLog | None = None,
) -> dict[str, Any]:
    """The run's summary, as written to ``summary.json``.

    Parameters
    ----------
    study : Study
        The study (its settings are included).
    scope : Scope
        The run's thresholds, categories and standard.
    prepared : Prepared
        The network and services (counted).
    clusters : Clusters or None
        The measured clusters, when they were formed (their notes become warnings).
    reach_table : dict of str to numpy.ndarray
        The table of ``reach.parquet``.
    timings : dict of str to float
        Seconds per step.
    scores : Scores, optional
        The clusters' scores against the standard (their warnings are included).
    log : TableLog, optional
        What became of the study's own tables.

    Returns
    -------
    dict
        JSON-able: study, inputs, network, snapping, coverage, data gaps, warnings,
        timings, settings, the residence estimates (:func:`residence_estimates`) with
        clusters, and ``standard``, ``scoring`` and ``tables`` when they apply.
    """
    from circles.measure import data_gaps

    network = prepared.network
    keys, thresholds = scope.keys, scope.thresholds
    gaps = data_gaps(prepared, keys)
    warnings: list[str] = []
    if network.stats.get("share_nodes_dropped", 0) > 0.2:
        warnings.append(
            f"{network.stats['share_nodes_dropped']:.0%} of walking nodes lie outside the "
            "largest connected network and were dropped; check for missing footways"
        )
    warnings += _unread_residences(study, scope)
    warnings += clusters.notes if clusters is not None else []
    warnings += scores.warnings if scores is not None else []
    warnings += gap_warnings(gaps, scope)
    attachment = prepared.service_attachment
    inputs: dict[str, Any] = {
        "walk_nodes": network.n_nodes,
        "walk_edges": network.n_edges,
        "walk_km": round(float(network.edge_len.sum()) / 1000.0, 2),
        "services": int(len(attachment)),
        "services_used": int(attachment.used.sum()),
        "services_per_category": {k: int((prepared.services["category"] == k).sum()) for k in keys},
    }
    summary: dict[str, Any] = {
        "study": study.name,
        "title": study.display_title,
        "source": prepared.source,
        "from_cache": prepared.from_cache,
        "generated": dt.date.today().isoformat(),
        "origins": study.reach.origins,
        "thresholds_m": [t.distance_m for t in thresholds],
        "threshold_labels": {t.column: {"zh": t.zh, "en": t.en} for t in thresholds},
        "categories": keys,
        "inputs": inputs,
        "network": network.stats,
        "snap": {
            "max_distance_m": study.snap.max_distance_m,
            "services_unsnapped": int((~attachment.used).sum()),
        },
        "data_gaps": gaps,
        "warnings": warnings,
        "timings_s": timings,
        "settings": study.model_dump(mode="json"),
    }
    summary["walking"] = walking_summary(study, keys)
    if clusters is not None:
        frame = clusters.frame
        used = frame["used"].to_numpy(bool)
        table = {c: frame[c].to_numpy() for c in frame.columns if c != "geometry"}
        summary.update(residence_estimates(frame))
        inputs.update(
            clusters=int(len(frame)),
            clusters_used=int(used.sum()),
            population=float(frame["population"].sum()),
        )
        summary["snap"]["clusters_unsnapped"] = int((~used).sum())
        summary["coverage"] = coverage(table, used, keys, thresholds, gaps)
        if "walk_from" in frame:
            summary["gates"] = gate_summary(frame)
        if study.reach.from_homes and "origins" in frame:
            summary["coverage_residents"] = resident_coverage(frame, keys, thresholds, gaps)
    if study.reach.origins != "clusters":
        n = len(reach_table["origin_id"])
        inputs["origins"] = n
        summary["coverage_origins"] = coverage(
            reach_table, np.ones(n, dtype=bool), keys, thresholds, gaps
        )
    summary["standard"] = scope.standard.describe() if scope.standard is not None else None
    if log is not None:
        summary["tables"] = tables_summary(log, warnings)
    if study.scenario is not None or study.remove_pois is not None:
        summary["scenario"] = scenario_summary(study, log, warnings)
    if scores is not None:
        summary["scoring"] = scores.summary()
    return summary


def resident_coverage(
    frame: pd.DataFrame,
    keys: Sequence[str],
    thresholds: Sequence[Threshold],
    gaps: Sequence[str],
) -> dict[str, dict[str, float | None]]:
    """The share of all residents who reach each category within each threshold.

    Each home walks from its own door (``<key>_<t>m_share`` per cluster), so this is the
    residents' coverage, where :func:`coverage` counts clusters by their one point.

    Parameters
    ----------
    frame : pandas.DataFrame
        The clusters with ``population`` and the share columns.
    keys : sequence of str
        The categories.
    thresholds : sequence of Threshold
        The thresholds.
    gaps : sequence of str
        Categories without data: None, never 0.

    Returns
    -------
    dict
        ``{category: {"300m": share, ...}}``, rounded to 4 decimals (None without residents).
    """
    pop = np.nan_to_num(frame["population"].to_numpy(float))
    total = pop.sum()
    out: dict[str, dict[str, float | None]] = {}
    for k in keys:
        out[k] = {}
        for t in thresholds:
            share = frame[f"{k}_{t.column}_share"].to_numpy(float)
            if k in gaps or total <= 0:
                out[k][t.column] = None
            else:
                out[k][t.column] = round(float(np.nansum(share * pop) / total), 4)
    return out


def walking_summary(study: Study, keys: Sequence[str]) -> dict[str, Any]:
    """Who walks to each category, how fast, and how far each threshold then reaches.

    Parameters
    ----------
    study : Study
        Its thresholds and ``walking`` settings.
    keys : sequence of str
        The categories.

    Returns
    -------
    dict
        ``steps`` and ``dem`` (the file's name), and for thresholds in minutes
        ``profiles``: per category its profile, speed (km/h) and distances (m), where the
        reach columns' names carry the adult's distances.
    """
    from circles.walking import category_distances, profile_of, profile_speeds_kmh

    walking = study.walking
    out: dict[str, Any] = {
        "steps": walking.steps,
        "dem": walking.dem.name if walking.dem is not None else None,
    }
    if study.thresholds.minutes is not None:
        speeds = profile_speeds_kmh(study.thresholds.speed_kmh)
        rows = category_distances(study, keys)
        out["profiles"] = {
            k: {
                "profile": profile_of(k, walking.profiles),
                "speed_kmh": speeds[profile_of(k, walking.profiles)],
                "distances_m": [float(d) for d in rows[i]],
            }
            for i, k in enumerate(keys)
        }
    return out


def gate_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Where the walks of the 小区 start, and how much the gates change them.

    Parameters
    ----------
    frame : pandas.DataFrame
        The clusters with ``walk_from``, ``method`` and ``gate_change_m``.

    Returns
    -------
    dict
        ``walk_from``: clusters per rule (``gates``, ``crossings``, ``point``);
        ``ungated_compounds``: 小区 polygons with no gate or crossing in the data (they
        keep the single-point rule); ``gate_change_m``: the median, 90th percentile and
        largest change of the clusters' median nearest distance against the single-point
        rule, and how many clusters walk more than 100 m farther.
    """
    walk_from = frame["walk_from"].astype(str).to_numpy()
    polygons = frame["method"].isin(["landuse", "table"]).to_numpy(bool)
    if "geometry" in frame:
        polygons = polygons & frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy(
            bool
        )
    change = frame["gate_change_m"].to_numpy(float)
    known = change[np.isfinite(change)]

    def stat(values: np.ndarray, q: float) -> float | None:
        return round(float(np.percentile(values, q)), 1) if len(values) else None

    return {
        "walk_from": {k: int((walk_from == k).sum()) for k in ("gates", "crossings", "point")},
        "ungated_compounds": int((polygons & (walk_from == "point")).sum()),
        "gate_change_m": {
            "clusters": int(len(known)),
            "median": stat(known, 50),
            "p90": stat(known, 90),
            "max": stat(known, 100),
            "over_100m": int((known > 100).sum()),
        },
    }


def residence_estimates(frame: pd.DataFrame) -> dict[str, Any]:
    """How the clusters were formed and how far their populations can be trusted.

    Parameters
    ----------
    frame : pandas.DataFrame
        The clusters: ``method``, ``population`` and, when estimated,
        ``population_low``.

    Returns
    -------
    dict
        ``residence_method``: the cluster kinds joined by ``+`` (``landuse+buildings``
        when ``auto`` used both; ``none`` without clusters); ``residents_by_method``:
        residents per kind; ``population_low``: the clusters and residents whose
        population is a low-confidence estimate.
    """
    methods = frame["method"].astype(str).to_numpy()
    pop = frame["population"].to_numpy(dtype=float)
    kinds = [m for m in _METHOD_ORDER if m in set(methods)]
    kinds += sorted(set(methods) - set(kinds))
    low = (
        frame["population_low"].fillna(False).to_numpy(dtype=bool)
        if "population_low" in frame
        else np.zeros(len(frame), dtype=bool)
    )
    return {
        "residence_method": "+".join(kinds) if kinds else "none",
        "residents_by_method": {m: round(float(np.nansum(pop[methods == m])), 1) for m in kinds},
        "population_low": {
            "clusters": int(low.sum()),
            "residents": round(float(np.nansum(pop[low])), 1),
        },
    }


def _unread_residences(study: Study, scope: Scope) -> list[str]:
    """A warning when the study names a 小区 table that this run does not read."""
    if study.residences.file is None or scope.clusters:
        return []
    return [
        f"residences.file {study.residences.file.name} is not read: this run measures "
        f"from {study.reach.origins}, not from residence clusters"
    ]
