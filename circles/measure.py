"""The measuring stage: reach from any origins to the services, as arrays and as columns.

``measure`` runs the engine from attached origins (clusters, nodes, grid points, a
point a resident taps) to a study's services. The helpers name the engine's arrays as
the columns of ``clusters.csv`` and ``reach.parquet``: ``<category>_<t>m`` (count within
threshold t), ``<category>_nearest_m`` (NaN when none is reachable), and the optional
k-nearest and decay columns.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from circles.config import ReachSettings
from circles.network import WalkNetwork
from circles.result import Threshold
from circles.snap import Attachment, attachment_lonlat

if TYPE_CHECKING:
    import geopandas as gpd

    from circles import engine
    from circles.prepare import Prepared

__all__ = [
    "cluster_reach_table",
    "data_gaps",
    "measure",
    "origin_reach_table",
    "reach_columns",
    "services_found",
    "with_reach_columns",
]


def services_found(prepared: Prepared, keys: Sequence[str]) -> dict[str, int]:
    """How many usable (snapped) services each category has.

    Parameters
    ----------
    prepared : Prepared
        The study's services and their attachment.
    keys : sequence of str
        The categories measured.

    Returns
    -------
    dict of str to int
        A category with 0 is a data gap: its coverage is unknown, not zero.
    """
    used = prepared.service_attachment.used
    category = prepared.services["category"]
    return {k: int((used & (category == k)).sum()) for k in keys}


def measure(
    prepared: Prepared,
    origins: Attachment,
    keys: Sequence[str],
    distances: Sequence[float],
    settings: ReachSettings,
) -> engine.Reach:
    """Reach from the used origins to the used services, per category and threshold.

    Parameters
    ----------
    prepared : Prepared
        The network and the services.
    origins : Attachment
        Where the origins join the network; unused ones are left out of the result.
    keys : sequence of str
        The categories, in the order of the result's category axis.
    distances : sequence of float
        The thresholds in metres, ascending.
    settings : ReachSettings
        ``k_nearest`` and ``decay``.

    Returns
    -------
    engine.Reach
        One row per used origin.
    """
    from circles import engine

    services = prepared.service_attachment
    used = services.used
    index = {k: i for i, k in enumerate(keys)}
    category = np.array([index[c] for c in prepared.services["category"][used]], dtype=np.int64)
    decay = None
    if settings.decay is not None:
        d = settings.decay
        decay = engine.Decay(d.kind, d.beta, d.max_m or max(distances))
    kept = origins.used
    return engine.reach(
        prepared.network.graph,
        engine.Points(origins.edge[kept], origins.offset[kept], origins.snap_m[kept]),
        engine.Points(services.edge[used], services.offset[used], services.snap_m[used]),
        category,
        len(keys),
        list(distances),
        k_nearest=settings.k_nearest,
        decay=decay,
    )


def reach_columns(
    reach: engine.Reach, keys: Sequence[str], thresholds: Sequence[Threshold]
) -> dict[str, np.ndarray]:
    """The engine's arrays as named columns.

    Parameters
    ----------
    reach : engine.Reach
        What :func:`measure` returned.
    keys : sequence of str
        The categories, in the order measured.
    thresholds : sequence of Threshold
        The thresholds, in the order measured.

    Returns
    -------
    dict of str to numpy.ndarray
        ``<key>_<t>m`` counts, ``<key>_nearest_m`` (rounded to 0.1 m), then
        ``<key>_nearest<j>_m`` and ``<key>_decay`` when measured.
    """
    cols: dict[str, np.ndarray] = {}
    for ci, key in enumerate(keys):
        for ti, t in enumerate(thresholds):
            cols[f"{key}_{t.column}"] = reach.counts[:, ci, ti].astype(np.int64)
        cols[f"{key}_nearest_m"] = np.round(reach.nearest_m[:, ci], 1)
        if reach.k_nearest_m is not None:
            for j in range(1, reach.k_nearest_m.shape[2]):
                cols[f"{key}_nearest{j + 1}_m"] = np.round(reach.k_nearest_m[:, ci, j], 1)
        if reach.decayed is not None:
            cols[f"{key}_decay"] = np.round(reach.decayed[:, ci], 6)
    return cols


def with_reach_columns(
    clusters: gpd.GeoDataFrame,
    reach: engine.Reach,
    keys: Sequence[str],
    thresholds: Sequence[Threshold],
    gaps: Sequence[str],
) -> gpd.GeoDataFrame:
    """The cluster table with its reach columns.

    Parameters
    ----------
    clusters : geopandas.GeoDataFrame
        The clusters, with a boolean ``used`` column (snapped to the network).
    reach : engine.Reach
        One row per used cluster.
    keys : sequence of str
        The categories measured.
    thresholds : sequence of Threshold
        The thresholds measured.
    gaps : sequence of str
        Categories without data, left out of the shares.

    Returns
    -------
    geopandas.GeoDataFrame
        ``clusters`` with the columns of :func:`reach_columns` (-1 / NaN for clusters
        that were not snapped), and per threshold ``reached_<t>m`` (categories reached)
        and ``share_reached_<t>m`` (their share of the categories with data).
    """
    import pandas as pd

    used = clusters["used"].to_numpy(bool)
    n = len(clusters)
    columns: dict[str, Any] = {}
    for name, values in reach_columns(reach, keys, thresholds).items():
        col = np.full(n, -1, dtype=np.int64) if values.dtype.kind == "i" else np.full(n, np.nan)
        col[used] = values
        columns[name] = col
    with_data = [i for i, k in enumerate(keys) if k not in gaps]
    for ti, t in enumerate(thresholds):
        reached = np.zeros(n, dtype=np.int64)
        reached[used] = (reach.counts[:, :, ti] > 0).sum(axis=1)
        columns[f"reached_{t.column}"] = reached
        share = np.full(n, np.nan)
        if with_data:
            share[used] = (reach.counts[:, with_data, ti] > 0).sum(axis=1) / len(with_data)
        columns[f"share_reached_{t.column}"] = share
    out = clusters.copy()
    with warnings.catch_warnings():
        # A standard's thirty-odd categories make many columns; pandas warns, harmlessly.
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        for name, values in columns.items():
            out[name] = values
    return out


def origin_reach_table(
    ids: np.ndarray,
    origins: Attachment,
    reach: engine.Reach,
    network: WalkNetwork,
    keys: Sequence[str],
    thresholds: Sequence[Threshold],
) -> dict[str, np.ndarray]:
    """``reach.parquet`` for surface origins (nodes or grid points).

    Parameters
    ----------
    ids : numpy.ndarray
        The origins' ids (OSM node ids, or grid positions).
    origins : Attachment
        The origins, all used.
    reach : engine.Reach
        Their reach.
    network : WalkNetwork
        Their network (for the WGS-84 positions).
    keys : sequence of str
        The categories measured.
    thresholds : sequence of Threshold
        The thresholds measured.

    Returns
    -------
    dict of str to numpy.ndarray
        ``origin_id``, ``lon``, ``lat``, ``snap_m``, then the reach columns.
    """
    lon, lat = attachment_lonlat(network, origins)
    return {
        "origin_id": np.asarray(ids, dtype=np.int64),
        "lon": np.round(lon, 7),
        "lat": np.round(lat, 7),
        "snap_m": np.round(origins.snap_m, 2),
        **reach_columns(reach, keys, thresholds),
    }


def cluster_reach_table(clusters: gpd.GeoDataFrame) -> dict[str, np.ndarray]:
    """``reach.parquet`` for cluster origins: the cluster table at a point inside each.

    Parameters
    ----------
    clusters : geopandas.GeoDataFrame
        The measured (and scored) clusters.

    Returns
    -------
    dict of str to numpy.ndarray
        ``origin_id`` (the cluster id), ``lon``, ``lat`` (WGS-84), then every column of
        the cluster table but its geometry.
    """
    pts = clusters.geometry.representative_point().to_crs("EPSG:4326")
    table = {
        "origin_id": clusters["cluster_id"].to_numpy(str),
        "lon": np.round(pts.x.to_numpy(), 7),
        "lat": np.round(pts.y.to_numpy(), 7),
    }
    for col in clusters.columns:
        if col not in ("geometry", "cluster_id"):
            table[col] = clusters[col].to_numpy()
    return table


def data_gaps(prepared: Prepared, keys: Sequence[str]) -> list[str]:
    """The categories with no usable service in the data.

    Parameters
    ----------
    prepared : Prepared
        The study's services.
    keys : sequence of str
        The categories measured.

    Returns
    -------
    list of str
        Their coverage is unknown, not zero: reported as data gaps.
    """
    return [k for k, n in services_found(prepared, keys).items() if n == 0]
