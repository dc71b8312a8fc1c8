"""Walking isochrones: the streets reachable within a threshold, buffered and dissolved.

An edge reachable within the budget is taken whole; a partly reachable edge is cut at the
exact remaining distance from each reachable end (edges are straight segments). The
pieces are buffered by the street-frontage depth and dissolved in one shapely call, so
holes (blocks no street crosses) and separate parts are kept, and a smaller threshold's
polygon lies inside a larger one's by construction.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from circles.engine import ball
from circles.network import WalkNetwork
from circles.snap import Attachment


def reach_pieces(
    network: WalkNetwork, edge: int, offset: float, snap_m: float, budget: float
) -> np.ndarray:
    """Segments (k, 2, 2) reachable from a point attached at ``edge``/``offset``.

    The snap distance is walked first, so it comes off the budget.
    """
    r0 = budget - snap_m
    if r0 <= 0:
        return np.zeros((0, 2, 2))
    u, v, length = network.edge_u[edge], network.edge_v[edge], network.edge_len[edge]
    seeds = np.array([u, v])
    seed_d = np.array([snap_m + offset, snap_m + length - offset])
    nodes, dist = ball(network.indptr, network.indices, network.weights, seeds, seed_d, budget)
    # Every CSR entry leaving a reached node: a piece from it towards the neighbour.
    x, y = network.x, network.y
    deg = network.indptr[nodes + 1] - network.indptr[nodes]
    first = np.cumsum(deg) - deg
    j = np.repeat(network.indptr[nodes], deg) + (np.arange(deg.sum()) - np.repeat(first, deg))
    a = np.repeat(nodes, deg)
    b = network.indices[j]
    frac = np.minimum(1.0, (budget - np.repeat(dist, deg)) / np.maximum(network.weights[j], 1e-12))
    # A piece is redundant when the opposite end reaches the whole edge; an edge whole
    # from both ends is kept once.
    d_full = np.full(network.n_nodes, np.inf)
    d_full[nodes] = dist
    w = network.weights[j]
    reverse_whole = budget - d_full[b] >= w
    keep = ~reverse_whole | ((frac >= 1.0) & (a < b))
    a, b, frac = a[keep], b[keep], frac[keep]
    ax, ay = x[a], y[a]
    pieces = [
        np.stack(
            [
                np.column_stack([ax, ay]),
                np.column_stack([ax + frac * (x[b] - ax), ay + frac * (y[b] - ay)]),
            ],
            axis=1,
        )
    ]
    # The origin's own edge, from the attachment point both ways.
    t = offset / length if length > 0 else 0.0
    px, py = x[u] + t * (x[v] - x[u]), y[u] + t * (y[v] - y[u])
    for end, room in ((u, offset), (v, length - offset)):
        f = min(r0, room) / room if room > 0 else 0.0
        ex, ey = px + f * (x[end] - px), py + f * (y[end] - py)
        pieces.append(np.array([[[px, py], [ex, ey]]]))
    return np.concatenate(pieces)


def isochrone_polygons(
    network: WalkNetwork,
    attachment: Attachment,
    thresholds: list[float],
    buffer_m: float,
) -> list[list[shapely.Geometry]]:
    """For each attached point, one polygon per threshold (empty when not used)."""
    out = []
    for i in range(len(attachment)):
        if not attachment.used[i]:
            out.append([shapely.Polygon() for _ in thresholds])
            continue
        row = []
        for t in thresholds:
            seg = reach_pieces(
                network,
                int(attachment.edge[i]),
                float(attachment.offset[i]),
                float(attachment.snap_m[i]),
                t,
            )
            # Buffering each piece and dissolving is several times faster than buffering
            # one MultiLineString, and gives the same polygon.
            pieces = shapely.buffer(shapely.linestrings(seg), buffer_m)
            row.append(shapely.make_valid(shapely.union_all(pieces)))
        out.append(row)
    return out


def isochrones_frame(
    cluster_ids: list[str],
    polygons: list[list[shapely.Geometry]],
    thresholds: list[float],
    crs,
    method: str = "network",
) -> gpd.GeoDataFrame:
    """Long table: one row per cluster and threshold, with area and circle share."""
    rows = [
        (cid, t, geom)
        for cid, row in zip(cluster_ids, polygons, strict=True)
        for t, geom in zip(thresholds, row, strict=True)
    ]
    geoms = [r[2] for r in rows]
    area = shapely.area(np.asarray(geoms, dtype=object)) if rows else np.zeros(0)
    thr = np.array([r[1] for r in rows], dtype=float)
    return gpd.GeoDataFrame(
        {
            "cluster_id": [r[0] for r in rows],
            "threshold_m": thr,
            "method": method,
            "area_m2": area,
            "circle_share": area / (np.pi * thr**2) if rows else np.zeros(0),
        },
        geometry=geoms,
        crs=crs,
    )
