"""Tables of a study: the GeoPackage, the cluster CSV, and the figures the report and map share.

The GeoPackage is written in WGS-84 (EPSG:4326) so any GIS, web tool or spreadsheet plug-in
reads it without a projection step; areas and distances stay in the metre columns computed
in the study's metric CRS (``area_m2``, ``snap_m``, ``*_nearest_m``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from circles.result import StudyResult, Threshold

WGS84 = "EPSG:4326"
GPKG_LAYERS: tuple[str, ...] = ("clusters", "services", "isochrones")


# ---------------------------------------------------------------------------------------
# Shared figures (used by the report, the console table and the map)
# ---------------------------------------------------------------------------------------


def largest(result: StudyResult) -> Threshold:
    """The largest threshold: the 15-minute circle."""
    return max(result.thresholds, key=lambda t: t.distance_m)


def label_zh(threshold: Threshold) -> str:
    """Chinese label with its distance: '15分钟 (1000米)'; the distance is added if missing."""
    d = f"{threshold.distance_m:g}"
    return threshold.zh if d in threshold.zh else f"{threshold.zh} ({d}米)"


def label_en(threshold: Threshold) -> str:
    """English label with its distance: '15 min (1000 m)'; the distance is added if missing."""
    d = f"{threshold.distance_m:g}"
    return threshold.en if d in threshold.en else f"{threshold.en} ({d} m)"


def label_both(threshold: Threshold) -> str:
    """One bilingual label with the distance once: '15分钟 15 min (1000 m)'."""
    d = f"{threshold.distance_m:g}"
    zh = threshold.zh
    for part in (f" ({d}米)", f"（{d}米）", f"({d}米)", f"{d}米"):
        zh = zh.replace(part, "")
    zh = zh.strip()
    return f"{zh} {label_en(threshold)}" if zh else label_en(threshold)


def count_column(category: str, threshold: Threshold) -> str:
    return f"{category}_{threshold.column}"


def nearest_column(category: str) -> str:
    return f"{category}_nearest_m"


def gap_keys(result: StudyResult) -> set[str]:
    """Categories with no usable service: gaps in the data, never reported as 0 %."""
    return set(result.data_gaps)


def available_keys(result: StudyResult) -> list[str]:
    """Categories that have data, in catalogue order."""
    gaps = gap_keys(result)
    return [k for k in result.categories if k not in gaps]


def used_mask(clusters: pd.DataFrame) -> pd.Series:
    """Clusters that joined the walking network (the others have no reach figures)."""
    if "used" not in clusters:
        return pd.Series(True, index=clusters.index)
    return clusters["used"].fillna(False).astype(bool)


def count_value(row: pd.Series | dict, column: str) -> int:
    """A count cell as an int; -1 (not measured) when missing or not a number."""
    value = row.get(column, -1)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return -1
    return -1 if math.isnan(value) else int(value)


def missing_categories(result: StudyResult, row: pd.Series | dict) -> list[str]:
    """Category keys with data that a used cluster cannot reach within the largest threshold."""
    top = largest(result)
    return [k for k in available_keys(result) if count_value(row, count_column(k, top)) == 0]


def coverage(result: StudyResult) -> dict[str, dict[str, float | None]]:
    """Share of used clusters reaching each category within each threshold.

    None for a data gap, or when no cluster joined the network.
    Taken from ``summary["coverage"]`` when the pipeline provided it, else computed here.
    """
    given = result.summary.get("coverage")
    gaps = gap_keys(result)
    clusters = result.clusters
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
                if col not in used or len(used) == 0:
                    row[t.column] = None
                else:
                    row[t.column] = float((used[col].astype(float) > 0).mean())
        if key in gaps:
            row = {c: None for c in row}
        out[key] = row
    return out


def service_counts(result: StudyResult) -> dict[str, tuple[int, int]]:
    """Per category: (services found, services snapped to the network and used)."""
    services = result.services
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
    """(clusters, services) that could not join the walking network."""
    snap = result.summary.get("snap") or {}
    clusters = snap.get("clusters_unsnapped")
    services = snap.get("services_unsnapped")
    if clusters is None:
        clusters = int((~used_mask(result.clusters)).sum())
    if services is None:
        services = int((~used_mask(result.services)).sum()) if len(result.services) else 0
    return int(clusters), int(services)


def format_share(share: float | None) -> str:
    """A share as a whole percentage; ``None`` means a data gap and is not formatted here."""
    if share is None:
        return ""
    pct = share * 100.0
    if 0 < pct < 1:
        return "<1%"
    if 99 < pct < 100:
        return ">99%"
    return f"{pct:.0f}%"


def format_int(value: Any) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(value):
        return "—"
    return f"{value:,.0f}"


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns a GeoPackage or CSV can hold: dicts and lists become JSON text."""
    frame = frame.copy()
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    for col in frame.columns:
        if col == geometry:
            continue
        if frame[col].dtype == object:
            sample = frame[col].dropna()
            if len(sample) and sample.map(lambda v: isinstance(v, dict | list | tuple)).any():
                frame[col] = frame[col].map(_json_cell)
    return frame


def _json_cell(value: Any) -> Any:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def to_wgs84(frame: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """The frame in WGS-84; a frame without a CRS is taken to be in ``crs`` (the network's)."""
    if frame.crs is None:
        frame = frame.set_crs(crs)
    return frame.to_crs(WGS84)


def write_geopackage(result: StudyResult, path: Path) -> Path:
    """clusters, services and isochrones as three layers of one GeoPackage, in WGS-84."""
    crs = result.network.crs
    frames = {
        "clusters": result.clusters,
        "services": result.services,
        "isochrones": result.isochrones,
    }
    for layer in GPKG_LAYERS:
        frame = _plain_columns(to_wgs84(frames[layer], crs))
        frame = frame.reset_index(drop=True)
        frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    return path


def cluster_table(result: StudyResult) -> pd.DataFrame:
    """The cluster table without geometry, with lon/lat of a point inside each cluster."""
    clusters = result.clusters
    frame = pd.DataFrame(clusters.drop(columns=clusters.geometry.name))
    points = clusters.geometry.representative_point()
    points = gpd.GeoSeries(points, crs=clusters.crs or result.network.crs).to_crs(WGS84)
    lon = np.where(points.is_empty | points.isna(), np.nan, points.x.to_numpy())
    lat = np.where(points.is_empty | points.isna(), np.nan, points.y.to_numpy())
    at = list(frame.columns).index("used") + 1 if "used" in frame.columns else len(frame.columns)
    frame.insert(at, "lon", np.round(lon, 6))
    frame.insert(at + 1, "lat", np.round(lat, 6))
    return _plain_columns(frame.reset_index(drop=True))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defuse(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_cluster_csv(result: StudyResult, path: Path) -> Path:
    """The cluster table as CSV, UTF-8 with a BOM so Excel shows Chinese names correctly.

    Text that starts like a formula (``=``, ``+``, ``-``, ``@``) is prefixed with ``'`` so a
    crafted OSM name cannot run as a spreadsheet formula; numbers are left alone.
    """
    table = cluster_table(result)
    for col in table.columns:
        if not pd.api.types.is_numeric_dtype(table[col]) and not pd.api.types.is_bool_dtype(
            table[col]
        ):
            table[col] = table[col].map(_defuse)
    table.to_csv(path, index=False, encoding="utf-8-sig")
    return path
