"""The measuring stage: reach from any origins to the services, as arrays and as columns.

``measure`` runs the engine from attached origins (clusters, nodes, grid points, a
point a resident taps) to a study's services. The helpers name the engine's arrays as
the columns of ``clusters.csv`` and ``reach.parquet``: ``<category>_<t>m`` (count within
threshold t), ``<category>_nearest_m`` (NaN when none is reachable), and the optional
k-nearest and decay columns.

A count is null (pandas ``<NA>``, an empty CSV cell, a Parquet or GeoPackage null) when
there is no figure: the category has no service in the data (a data gap), or the cluster
did not join the network. 0 means none within reach.

A category's ``radius_by_area`` lets a service count only near it: a park of 3,000 m²
counts within 300 m, whatever the threshold (:func:`service_radii`); beyond that it is
nobody's nearest park either.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from circles.config import ReachSettings, Study
from circles.graph import Seeds
from circles.network import WalkNetwork
from circles.result import Threshold
from circles.snap import Attachment, attachment_lonlat

if TYPE_CHECKING:
    import geopandas as gpd

    from circles import engine
    from circles.gates import Compounds
    from circles.origins import Origins, Walk
    from circles.prepare import Prepared
    from circles.residences import Clusters
    from circles.scope import Scope
    from circles.services import Category

__all__ = [
    "cluster_reach_table",
    "data_gaps",
    "measure",
    "measure_clusters",
    "origin_reach_table",
    "reach_columns",
    "resident_shares",
    "service_radii",
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


def service_radii(
    categories: Mapping[str, Category], category: np.ndarray, area_m2: np.ndarray | None
) -> np.ndarray:
    """How far each service counts, by its category's ``radius_by_area`` and its area.

    The rule is the category's own (``Category.reach_limits_m``): a service of at least a
    band's area counts within the band's radius (and within the threshold), one smaller
    than every band counts nowhere, and a point (unknown area) counts within the smallest
    band's radius. Categories without bands, or not in ``categories``, count within the
    thresholds alone.

    Parameters
    ----------
    categories : Mapping of str to Category
        The categories measured.
    category : numpy.ndarray
        Each service's category key.
    area_m2 : numpy.ndarray or None
        Each service's area (m²; NaN for a point); None when the services have no areas.

    Returns
    -------
    numpy.ndarray
        Per service, the largest distance (m) at which it counts (float64): +inf without
        a limit, -inf when it counts nowhere.
    """
    category = np.asarray(category)
    radii = np.full(len(category), np.inf)
    area = np.full(len(category), np.nan) if area_m2 is None else np.asarray(area_m2, float)
    for key, cat in categories.items():
        limits = getattr(cat, "reach_limits_m", None)  # absent on categories without bands
        mine = category == key
        if limits is not None and mine.any():
            radii[mine] = limits(area[mine])
    # A service that counts nowhere has a limit of 0 m, but the engine counts a walk of
    # exactly 0 m: -inf keeps it out of every count and every nearest distance.
    radii[radii <= 0] = -np.inf
    return radii


def measure(
    prepared: Prepared,
    origins: Attachment | Seeds,
    keys: Sequence[str],
    distances: Sequence[float] | np.ndarray,
    settings: ReachSettings,
    categories: Mapping[str, Category] | None = None,
    walk: Walk | None = None,
) -> engine.Reach:
    """Reach from the used origins to the used services, per category and threshold.

    Parameters
    ----------
    prepared : Prepared
        The network and the services (with ``area_m2`` when known).
    origins : Attachment or Seeds
        Where the origins join the network (unused ones are left out of the result), or
        the seeds of each origin (:func:`circles.origins.attach_points`), offsets already
        in walking cost.
    keys : sequence of str
        The categories, in the order of the result's category axis.
    distances : sequence of float or numpy.ndarray
        The thresholds in metres, ascending; or one row per category (a category walked
        at another speed, :func:`circles.walking.category_distances`).
    settings : ReachSettings
        ``k_nearest`` and ``decay``.
    categories : Mapping of str to Category, optional
        The categories by key; their ``radius_by_area`` limits how far a service counts
        (:func:`service_radii`). None: every service counts within the thresholds.
    walk : Walk, optional
        What each edge costs (steps, slopes, walls); default: its length.

    Returns
    -------
    engine.Reach
        One row per used origin.
    """
    from circles import engine
    from circles.origins import Walk

    walk = walk if walk is not None else Walk.plain(prepared.network)
    services = prepared.service_attachment
    used = services.used
    index = {k: i for i, k in enumerate(keys)}
    keyed = prepared.services["category"][used]
    category = np.array([index[c] for c in keyed], dtype=np.int64)
    decay = None
    if settings.decay is not None:
        d = settings.decay
        decay = engine.Decay(d.kind, d.beta, d.max_m or float(np.max(distances)))
    points = walk.points(services)
    if categories is not None:
        area = prepared.services.get("area_m2")
        radii = service_radii(categories, keyed, None if area is None else area[used])
        if not np.isposinf(radii).all():
            points = engine.ServicePoints(points.edge, points.offset, points.snap_m, radii)
    start = origins if isinstance(origins, Seeds) else walk.points(origins)
    return engine.reach(
        walk.graph(),
        start,
        points,
        category,
        len(keys),
        np.asarray(distances, dtype=np.float64),
        k_nearest=settings.k_nearest,
        decay=decay,
    )


def resident_shares(
    reach: engine.Reach,
    origins: Origins,
    n_clusters: int,
    keys: Sequence[str],
    thresholds: Sequence[Threshold],
    gaps: Sequence[str],
) -> dict[str, np.ndarray]:
    """The share of each cluster's residents that reach each category within each threshold.

    Parameters
    ----------
    reach : engine.Reach
        The reach of the used origins (:func:`measure` of ``origins.seeds``).
    origins : Origins
        The residents' origins; an origin that did not join the network reaches nothing.
    n_clusters : int
        How many clusters.
    keys : sequence of str
        The categories measured.
    thresholds : sequence of Threshold
        The thresholds measured.
    gaps : sequence of str
        Categories without data: their shares are NaN, not 0.

    Returns
    -------
    dict of str to numpy.ndarray
        ``<key>_<t>m_share`` per category and threshold (0-1, three decimals; NaN for a
        cluster without residents and for a data gap).
    """
    total = np.bincount(origins.cluster, weights=origins.weight, minlength=n_clusters)
    rows = origins.cluster[origins.used]
    w = origins.weight[origins.used]
    out: dict[str, np.ndarray] = {}
    for ci, key in enumerate(keys):
        for ti, t in enumerate(thresholds):
            name = f"{key}_{t.column}_share"
            if key in gaps:
                out[name] = np.full(n_clusters, np.nan)
                continue
            reached = np.bincount(
                rows, weights=w * (reach.counts[:, ci, ti] > 0), minlength=n_clusters
            )
            share = np.divide(reached, total, out=np.full(n_clusters, np.nan), where=total > 0)
            out[name] = np.round(share, 3)
    return out


def _gap_categories(reach: engine.Reach) -> np.ndarray:
    """Per category, whether the engine was given no service of it (a data gap)."""
    given = reach.services_per_category
    if given is None:
        return np.zeros(reach.counts.shape[1], dtype=bool)
    return np.asarray(given) == 0


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
        ``<key>_<t>m`` counts (int64), ``<key>_nearest_m`` (rounded to 0.1 m), then
        ``<key>_nearest<j>_m`` and ``<key>_decay`` when measured. A category with no
        service (a data gap) has no figure: its counts are fully masked
        (``numpy.ma``; nulls in Parquet) and its decay is NaN, never 0.
    """
    cols: dict[str, np.ndarray] = {}
    gap = _gap_categories(reach)
    n = reach.counts.shape[0]
    for ci, key in enumerate(keys):
        for ti, t in enumerate(thresholds):
            counts = reach.counts[:, ci, ti].astype(np.int64)
            cols[f"{key}_{t.column}"] = np.ma.masked_all(n, np.int64) if gap[ci] else counts
        cols[f"{key}_nearest_m"] = np.round(reach.nearest_m[:, ci], 1)
        if reach.k_nearest_m is not None:
            for j in range(1, reach.k_nearest_m.shape[2]):
                cols[f"{key}_nearest{j + 1}_m"] = np.round(reach.k_nearest_m[:, ci, j], 1)
        if reach.decayed is not None:
            decayed = np.full(n, np.nan) if gap[ci] else np.round(reach.decayed[:, ci], 6)
            cols[f"{key}_decay"] = decayed
    return cols


def _nullable_int(values: np.ndarray, known: np.ndarray) -> Any:
    """Integers as a pandas ``Int64`` array, ``<NA>`` where not ``known``."""
    import pandas as pd

    return pd.arrays.IntegerArray(np.where(known, values, 0).astype(np.int64), ~known)


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
        Categories without data (:func:`data_gaps`), left out of ``reached_<t>m`` and the
        shares; their counts are ``<NA>``, as the engine was given none of their services.

    Returns
    -------
    geopandas.GeoDataFrame
        ``clusters`` with the columns of :func:`reach_columns`, counts as pandas
        ``Int64``: ``<NA>`` for a data gap and for clusters that were not snapped (NaN
        distances for those), and per threshold ``reached_<t>m`` (categories reached,
        ``<NA>`` when not snapped) and ``share_reached_<t>m`` (their share of the
        categories with data).
    """
    import pandas as pd

    used = clusters["used"].to_numpy(bool)
    n = len(clusters)
    columns: dict[str, Any] = {}
    for name, values in reach_columns(reach, keys, thresholds).items():
        if values.dtype.kind == "i":
            # Counts: <NA> for a data gap (masked) and for clusters not snapped.
            known = used.copy()
            known[used] = ~np.ma.getmaskarray(values)
            col = np.zeros(n, np.int64)
            col[used] = np.ma.getdata(values)
            columns[name] = _nullable_int(col, known)
        else:
            col = np.full(n, np.nan)
            col[used] = values
            columns[name] = col
    with_data = [i for i, k in enumerate(keys) if k not in gaps]
    for ti, t in enumerate(thresholds):
        reached = np.zeros(n, dtype=np.int64)
        reached[used] = (reach.counts[:, with_data, ti] > 0).sum(axis=1)
        columns[f"reached_{t.column}"] = _nullable_int(reached, used)
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
        the cluster table but its geometry. Columns with missing values other than float
        NaN (``Int64`` counts, nullable booleans, text) are ``numpy.ma`` masked arrays of
        their own type, so that they stay integers, booleans and text, with nulls.
    """
    pts = clusters.geometry.representative_point().to_crs("EPSG:4326")
    table = {
        "origin_id": clusters["cluster_id"].to_numpy(str),
        "lon": np.round(pts.x.to_numpy(), 7),
        "lat": np.round(pts.y.to_numpy(), 7),
    }
    for col in clusters.columns:
        if col not in ("geometry", "cluster_id"):
            table[col] = _column_array(clusters[col])
    return table


def _column_array(column: Any) -> np.ndarray:
    """A pandas column as numpy: floats with NaN as they are, any other column with missing
    values as a masked array of its own type (pandas would give Int64 as floats)."""
    missing = column.isna().to_numpy(bool)
    if column.dtype.kind == "f" or not missing.any():
        return column.to_numpy()
    kind = column.dtype.kind
    if kind in "iub":
        values = column.to_numpy(dtype=np.int64 if kind in "iu" else bool, na_value=0)
    else:
        values = column.to_numpy(dtype=object, na_value=None)
    return np.ma.MaskedArray(values, mask=missing)


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


def measure_clusters(
    prepared: Prepared,
    clusters: Clusters,
    compounds: Compounds | None,
    walk: Walk,
    scope: Scope,
    distances: Sequence[float] | np.ndarray,
    study: Study,
    gaps: Sequence[str],
) -> None:
    """Measure the clusters: from their point (through their gates), and from their homes.

    The cluster table gains the reach columns of its point (:func:`with_reach_columns`),
    walked out of the gates of a walled 小区; ``walk_from`` (``gates``, ``crossings`` or
    ``point``) and ``gate_change_m``, the median change over categories of the nearest
    distance against the single-point rule (NaN where the rules agree by construction);
    ``origins`` (how many places its residents start from) and the share of its residents
    reaching each category (:func:`resident_shares`). ``clusters.seeds`` and
    ``clusters.walk`` keep where walks start, for the isochrones.

    Parameters
    ----------
    prepared : Prepared
        The network and services.
    clusters : Clusters
        The clusters; their frame is replaced.
    compounds : Compounds or None
        The walled 小区 and their openings (None: the single-point rule everywhere).
    walk : Walk
        Walking costs without walls (the walls of ``compounds`` are cut here).
    scope : Scope
        The categories and thresholds.
    distances : sequence of float or numpy.ndarray
        The thresholds (m), or one row per category.
    study : Study
        Its ``reach`` settings and snapping distance.
    gaps : sequence of str
        Categories without data.
    """
    import pandas as pd

    from circles.origins import Residents, attach_points, resident_origins

    keys, thresholds, categories = scope.keys, scope.thresholds, scope.categories
    settings, max_snap_m = study.reach, study.snap.max_distance_m
    frame = clusters.frame
    n = len(frame)
    walled = walk.with_walls(compounds.walls) if compounds is not None else walk
    point = frame.geometry.representative_point()
    px, py = point.x.to_numpy(), point.y.to_numpy()
    rows = np.arange(n, dtype=np.int64)
    seeds, used = attach_points(px, py, rows, prepared, walled, compounds, max_snap_m)
    reach = measure(prepared, seeds, keys, distances, settings, categories, walled)
    frame = frame.copy()
    frame["used"] = used
    frame["walk_from"] = _text_column(_walk_from(n, compounds))
    frame = with_reach_columns(frame, reach, keys, thresholds, gaps)
    frame["gate_change_m"] = _gate_change(
        prepared, clusters.attachment, frame, reach, keys, distances, settings, categories, walk
    )
    clusters.seeds, clusters.walk = seeds, walled
    if not settings.from_homes:
        clusters.frame = frame
        return
    origins = resident_origins(frame, clusters.buildings, prepared, walled, compounds, max_snap_m)
    o_reach = measure(prepared, origins.seeds, keys, distances, settings, categories, walled)
    shares = resident_shares(o_reach, origins, n, keys, thresholds, gaps)
    shares["origins"] = np.bincount(origins.cluster, minlength=n)
    # One concat, not a column at a time: a standard's categories make hundreds of shares.
    frame = pd.concat([frame, pd.DataFrame(shares, index=frame.index)], axis=1)
    near = np.full((len(origins), len(keys)), np.nan)
    near[origins.used] = o_reach.nearest_m
    clusters.residents = Residents(
        origins.cluster, origins.weight, {k: near[:, i] for i, k in enumerate(keys)}
    )
    clusters.frame = frame


def _text_column(values: np.ndarray) -> Any:
    """Text as a pandas ``string`` column."""
    import pandas as pd

    return pd.array(values, dtype="string")


def _walk_from(n: int, compounds: Compounds | None) -> np.ndarray:
    """Per cluster, where its walks start: ``gates``, ``crossings`` or its ``point``."""
    out = np.full(n, "point", dtype=object)
    if compounds is None:
        return out
    ptr = compounds.openings_ptr
    for k, row in enumerate(compounds.cluster):
        kinds = set(compounds.kind[ptr[k] : ptr[k + 1]].tolist())
        if kinds:
            out[row] = "crossings" if kinds == {"crossing"} else "gates"
    return out


def _gate_change(
    prepared: Prepared,
    attachment: Attachment,
    frame: gpd.GeoDataFrame,
    reach: engine.Reach,
    keys: Sequence[str],
    distances: Sequence[float] | np.ndarray,
    settings: ReachSettings,
    categories: Mapping[str, Category] | None,
    walk: Walk,
) -> np.ndarray:
    """Median over categories of (nearest through the gates - nearest from the point
    snapped to its street), for the walled clusters; NaN elsewhere."""
    n = len(frame)
    change = np.full(n, np.nan)
    walled = (frame["walk_from"] != "point").to_numpy(bool) & frame["used"].to_numpy(bool)
    both = walled & attachment.used
    if not both.any():
        return change
    single = attachment.subset(both)
    plain = measure(prepared, single, keys, distances, settings, categories, walk)
    gated = np.full((n, len(keys)), np.nan)
    gated[frame["used"].to_numpy(bool)] = reach.nearest_m
    delta = gated[both] - plain.nearest_m
    finite = np.isfinite(delta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a cluster with no finite pair
        med = np.nanmedian(np.where(finite, delta, np.nan), axis=1)
    change[both] = np.round(med, 1)
    return change
