"""The walking network: OSM ways to an undirected graph in metres, exported as CSR arrays.

Every OSM node of a walkable way is a graph node and every pair of consecutive nodes an
edge, so each edge is a straight segment. That keeps snapping and cutting edges for
isochrones exact, and lengths are computed once, in a local UTM projection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyproj

from circles._errors import EmptyNetworkError
from circles.graph import Graph, to_csr

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx

    from circles.sources.extract import OsmExtract


@dataclass
class WalkNetwork:
    """An undirected walking graph: nodes in a metric CRS and a symmetric CSR adjacency.

    Parameters
    ----------
    crs : pyproj.CRS
        The metric CRS of ``x``/``y`` (a UTM zone for OSM data).
    osm_id : numpy.ndarray
        OSM node id of each node (its index for synthetic graphs).
    x, y : numpy.ndarray
        Node coordinates (m) in ``crs``.
    lon, lat : numpy.ndarray
        Node coordinates in WGS-84.
    edge_u, edge_v : numpy.ndarray
        End nodes of each undirected edge, ``edge_u < edge_v``.
    edge_len : numpy.ndarray
        Straight length (m) of each edge.
    indptr, indices, weights : numpy.ndarray
        CSR adjacency holding both directions of every edge (:func:`circles.graph.to_csr`).
    csr_edge : numpy.ndarray
        The undirected edge of each CSR entry.
    stats : dict
        Counts from the build: raw and kept nodes and edges, components, length in km.
    street_names : numpy.ndarray, optional
        The distinct street names (a unicode array), ``""`` among them.
    edge_street : numpy.ndarray, optional
        Each edge's street: an index into ``street_names`` (from its OSM way). By default
        every edge is unnamed. A table and an index, not a name per edge: Malta's 95,606
        edges would otherwise carry 16 MB of mostly repeated text into memory and cache.
    edge_steps : numpy.ndarray, optional
        Whether each edge is ``highway=steps`` (booleans), which take longer to walk
        (:func:`circles.walking.edge_lengths`). By default no edge is.
    """

    crs: pyproj.CRS
    osm_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_len: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    csr_edge: np.ndarray
    stats: dict[str, int | float] = field(default_factory=dict)
    street_names: np.ndarray = field(default_factory=lambda: np.array([""], dtype=np.str_))
    edge_street: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    edge_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        if len(self.edge_street) == 0 and self.n_edges:  # not given: every edge unnamed
            self.street_names = np.array([""], dtype=np.str_)
            self.edge_street = np.zeros(self.n_edges, dtype=np.int32)
        if len(self.edge_street) != self.n_edges:
            raise ValueError(f"{len(self.edge_street)} edge streets for {self.n_edges} edges")
        if len(self.edge_steps) == 0:  # not given: no edge is steps
            self.edge_steps = np.zeros(self.n_edges, dtype=bool)
        if len(self.edge_steps) != self.n_edges:
            raise ValueError(f"{len(self.edge_steps)} steps flags for {self.n_edges} edges")

    def street_of(self, edges: np.ndarray) -> np.ndarray:
        """The street names of some edges.

        Parameters
        ----------
        edges : numpy.ndarray of int
            Edge indices.

        Returns
        -------
        numpy.ndarray
            A unicode array, ``""`` for an unnamed edge.
        """
        return self.street_names[self.edge_street[np.asarray(edges, dtype=np.int64)]]

    @property
    def edge_name(self) -> np.ndarray:
        """The street name of every edge (a unicode array; ``""`` where unnamed)."""
        return self.street_of(np.arange(self.n_edges))

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.x)

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return len(self.edge_u)

    @property
    def graph(self) -> Graph:
        """The edge list the engine works on."""
        return Graph(self.n_nodes, self.edge_u, self.edge_v, self.edge_len)

    def to_networkx(self) -> nx.Graph:
        """The same graph as a networkx Graph (for checks and notebooks, never the hot path).

        Returns
        -------
        networkx.Graph
            Nodes ``0 .. n_nodes - 1``; each edge has its length (m) as ``length``.
        """
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(self.n_nodes))
        g.add_weighted_edges_from(
            zip(self.edge_u.tolist(), self.edge_v.tolist(), self.edge_len.tolist(), strict=True),
            weight="length",
        )
        return g

    def edges_frame(self) -> gpd.GeoDataFrame:
        """Edges as a GeoDataFrame of straight LineStrings in the network CRS.

        Returns
        -------
        geopandas.GeoDataFrame
            Columns ``u``, ``v``, ``length_m`` and geometry, one row per edge.
        """
        import geopandas as gpd
        import shapely

        coords = np.stack(
            [
                np.column_stack([self.x[self.edge_u], self.y[self.edge_u]]),
                np.column_stack([self.x[self.edge_v], self.y[self.edge_v]]),
            ],
            axis=1,
        )
        return gpd.GeoDataFrame(
            {"u": self.edge_u, "v": self.edge_v, "length_m": self.edge_len},
            geometry=shapely.linestrings(coords),
            crs=self.crs,
        )


def utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The WGS-84 UTM zone containing a point: distances in metres with < 0.1% scale error.

    Parameters
    ----------
    lon, lat : float
        The point in WGS-84 degrees.

    Returns
    -------
    pyproj.CRS
        EPSG 326xx north of the equator, 327xx south of it.
    """
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def build_network(extract: OsmExtract, crs: pyproj.CRS | None = None) -> WalkNetwork:
    """Build the walking graph of an extract, keeping its largest connected component.

    Every OSM node of a walkable way is a graph node and each pair of consecutive nodes
    an edge (never across the end of one way to the start of the next), named after its
    way (:attr:`OsmExtract.way_names <circles.sources.extract.OsmExtract>`) and marked
    as steps when its way is ``highway=steps``.

    Parameters
    ----------
    extract : OsmExtract
        Walkable ways as read from a file or from Overpass.
    crs : pyproj.CRS, optional
        The metric CRS; by default the UTM zone of the extract's median point.

    Returns
    -------
    WalkNetwork
        The largest connected component, in metres.

    Raises
    ------
    EmptyNetworkError
        If the extract has no walkable ways, or they have no usable segments.
    """
    if extract.n_ways == 0 or len(extract.node_ids) < 2:
        raise EmptyNetworkError(
            f"{extract.source}: no walkable ways found (footway, residential, primary ...); "
            "check that the file covers a built-up area"
        )
    uniq, first, inverse = np.unique(extract.node_ids, return_index=True, return_inverse=True)
    lon, lat = extract.lon[first], extract.lat[first]
    if crs is None:
        crs = utm_crs(float(np.median(lon)), float(np.median(lat)))
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_metric.transform(lon, lat)

    # Consecutive node pairs inside each way (not across the end of one way to the next).
    starts = np.arange(len(inverse) - 1)
    last_of_way = extract.way_ptr[1:-1] - 1
    starts = np.setdiff1d(starts, last_of_way, assume_unique=True)
    u, v = inverse[starts], inverse[starts + 1]
    # The way of each node position, then of each edge: a repeat, never a loop over edges.
    way_of = np.repeat(np.arange(extract.n_ways), np.diff(extract.way_ptr))
    stats = {"ways": int(extract.n_ways)}
    try:
        return from_arrays(
            x,
            y,
            u,
            v,
            crs,
            osm_id=uniq,
            lonlat=(lon, lat),
            stats=stats,
            edge_name=(extract.way_names, way_of[starts]),
            edge_steps=extract.way_steps[way_of[starts]],
        )
    except EmptyNetworkError as e:
        raise EmptyNetworkError(f"{extract.source}: {e}") from None


def from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    crs: pyproj.CRS | str = "EPSG:32650",
    osm_id: np.ndarray | None = None,
    lonlat: tuple[np.ndarray, np.ndarray] | None = None,
    stats: Mapping[str, int | float] | None = None,
    edge_name: np.ndarray | tuple[np.ndarray, np.ndarray] | None = None,
    edge_steps: np.ndarray | None = None,
) -> WalkNetwork:
    """A network from node coordinates (metres) and edges; keeps the largest component.

    Lengths are straight-line distances; self-loops and repeated node pairs are dropped.
    Used by :func:`build_network` and for synthetic graphs.

    Parameters
    ----------
    x, y : numpy.ndarray
        Node coordinates (m) in ``crs``.
    u, v : numpy.ndarray
        End nodes of each edge.
    crs : pyproj.CRS or str
        The metric CRS of ``x``/``y``.
    osm_id : numpy.ndarray, optional
        An id per node (default: its index).
    lonlat : tuple of numpy.ndarray, optional
        WGS-84 longitudes and latitudes of the nodes (default: ``x``/``y`` transformed).
    stats : Mapping, optional
        Counts to keep in :attr:`WalkNetwork.stats` beside those of this build.
    edge_name : numpy.ndarray or tuple of numpy.ndarray, optional
        A street name per edge (default: all ``""``), or a pair ``(names, index)``: edge
        ``i`` is named ``names[index[i]]`` (a name per way and the way of each edge, so
        that the names are copied once). Of repeated node pairs, a named one is kept.
    edge_steps : numpy.ndarray, optional
        Whether each edge is ``highway=steps`` (default: none). Repeated node pairs are
        steps only when all of them are: a walker takes the way that is not.

    Returns
    -------
    WalkNetwork
        The largest connected component, nodes renumbered from 0.

    Raises
    ------
    EmptyNetworkError
        If no edge joins two distinct nodes.
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    crs = pyproj.CRS.from_user_input(crs)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
    if lonlat is None:
        to_geo = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        lonlat = to_geo.transform(x, y)
    lon, lat = lonlat
    osm_id = np.arange(n, dtype=np.int64) if osm_id is None else osm_id
    # Names travel as indices into a table of names, copied once at the end.
    if edge_name is None:
        names, name_index = np.array([""]), np.zeros(len(u), dtype=np.int64)
    elif isinstance(edge_name, tuple):
        names, name_index = np.asarray(edge_name[0], dtype=np.str_), edge_name[1]
    else:
        names, name_index = np.asarray(edge_name, dtype=np.str_), np.arange(len(u))
    keep = u != v
    name_of = np.asarray(name_index, dtype=np.int64)[keep]
    steps = np.zeros(len(keep), dtype=bool) if edge_steps is None else np.asarray(edge_steps)
    steps = steps.astype(bool)[keep]
    u, v = np.minimum(u[keep], v[keep]), np.maximum(u[keep], v[keep])
    length = np.hypot(x[u] - x[v], y[u] - y[v])
    # One edge per node pair: ways that share two consecutive nodes are the same street
    # (a named way's edge first, so that the kept one has a name if any has).
    order = np.lexsort(((names == "")[name_of], length, v, u))
    u, v, length = u[order], v[order], length[order]
    dup = np.zeros(len(u), dtype=bool)
    dup[1:] = (u[1:] == u[:-1]) & (v[1:] == v[:-1])
    u, v, length = u[~dup], v[~dup], length[~dup]
    name_of = name_of[order[~dup]]
    if len(u) == 0:
        raise EmptyNetworkError("the walkable ways have no usable segments")
    # Steps where every repeat of the node pair is (the repeats are consecutive).
    steps = np.logical_and.reduceat(steps[order], np.flatnonzero(~dup))

    adj = sparse.coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    n_comp, labels = connected_components(adj, directed=False)
    node_keep = labels == int(np.argmax(np.bincount(labels)))
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[node_keep] = np.arange(int(node_keep.sum()))
    edge_keep = node_keep[u]
    eu, ev, el = new_index[u[edge_keep]], new_index[v[edge_keep]], length[edge_keep]
    n_kept = int(node_keep.sum())
    stats = {
        **(stats or {}),
        "nodes_raw": int(n),
        "edges_raw": int(len(u)),
        "components": int(n_comp),
        "nodes": n_kept,
        "edges": int(len(eu)),
        "nodes_dropped": int(n - n_kept),
        "edges_dropped": int(len(u) - len(eu)),
        "share_nodes_dropped": float(1.0 - n_kept / n),
        "length_km": float(el.sum() / 1000.0),
    }
    indptr, indices, weights, csr_edge = to_csr(n_kept, eu, ev, el)
    street_names, street_index = np.unique(names, return_inverse=True)
    edge_street = street_index.astype(np.int32)[name_of[edge_keep]]
    return WalkNetwork(
        crs=crs,
        osm_id=np.asarray(osm_id)[node_keep],
        x=np.ascontiguousarray(x[node_keep]),
        y=np.ascontiguousarray(y[node_keep]),
        lon=np.asarray(lon)[node_keep],
        lat=np.asarray(lat)[node_keep],
        edge_u=eu,
        edge_v=ev,
        edge_len=el.astype(np.float64),
        indptr=indptr,
        indices=indices,
        weights=weights,
        csr_edge=csr_edge,
        stats=stats,
        street_names=street_names,
        edge_street=edge_street,
        edge_steps=steps[edge_keep],
    )
