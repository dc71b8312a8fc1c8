"""Read a local OpenStreetMap file (.osm, .osm.pbf, .osm.bz2, .osm.gz) with pyosmium.

One pass of libosmium (C++) reads every common form; Python sees only the tagged objects
that matter: walkable ways, and features that may be services, residences or buildings.
Ways that run off a clipped extract keep their runs of nodes that have locations.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import osmium
import shapely
from geopandas import GeoDataFrame

from circles._errors import InputError
from circles.settings import is_walkable
from circles.sources.extract import FEATURE_KEYS, OsmExtract, features_frame

OSM_SUFFIXES = (".osm", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.gz", ".xml", ".osm.xml")


def _check_path(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"OSM file not found: {path} (check the path, or use --place online)")
    name = path.name.lower()
    if not name.endswith(OSM_SUFFIXES):
        raise InputError(f"{path}: not an OSM file; expected one of {', '.join(OSM_SUFFIXES)}")


def read_osm_file(path: str | Path, keys: Sequence[str] | None = None) -> OsmExtract:
    """Read walkable ways and candidate features from a local OSM file.

    ``keys``: keep only the features with one of these tag keys (by default
    :data:`FEATURE_KEYS`, all that services and residences need). A run that needs only
    services passes the keys of its categories' rules, and skips buildings and land use,
    which are most of the areas to assemble.
    """
    path = Path(path)
    _check_path(path)
    keys = tuple(keys) if keys is not None else FEATURE_KEYS
    try:
        return _read(path, keys)
    except _UnsortedError:
        with tempfile.TemporaryDirectory(prefix="circles-") as tmp:
            extract = _read(_sorted_copy(path, Path(tmp)), keys)
        extract.source = str(path)
        return extract


class _UnsortedError(Exception):
    pass


def _read(path: Path, keys: tuple[str, ...]) -> OsmExtract:
    way_ids: list[int] = []
    way_ptr: list[int] = [0]
    node_ids: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    feats: list[tuple[str, int, dict[str, str], bytes | tuple[float, float]]] = []
    wkb = osmium.geom.WKBFactory()
    n_broken = 0

    def add_run(way_id: int, run: list[tuple[int, float, float]]) -> None:
        if len(run) < 2:
            return
        way_ids.append(way_id)
        for nid, lon, lat in run:
            node_ids.append(nid)
            lons.append(lon)
            lats.append(lat)
        way_ptr.append(len(node_ids))

    processor = osmium.FileProcessor(str(path)).with_locations()
    if keys:
        # Areas first: multipolygons are built from untagged member ways, which a key
        # filter before the area assembler would drop.
        processor = processor.with_areas(osmium.filter.KeyFilter(*keys))
    processor = processor.with_filter(osmium.filter.KeyFilter("highway", *keys))
    try:
        for obj in processor:
            # Tags are looked up in place (C++) and copied to a dict only for features:
            # copying every object's tags took half of the read.
            if obj.is_node():
                # Nodes pass the filter for their highway tag too (crossings, signals).
                if obj.location.valid() and any(k in obj.tags for k in keys):
                    loc = obj.location
                    feats.append(("node", obj.id, dict(obj.tags), (loc.lon, loc.lat)))
            elif obj.is_way():
                if not is_walkable(obj.tags):
                    continue
                # Split at nodes without a location (clipped extracts) rather than drop.
                run: list[tuple[int, float, float]] = []
                for n in obj.nodes:
                    if n.location.valid():
                        run.append((n.ref, n.location.lon, n.location.lat))
                    else:
                        add_run(obj.id, run)
                        run = []
                add_run(obj.id, run)
            elif obj.is_area():
                if not any(k in obj.tags for k in keys):
                    continue
                tags = dict(obj.tags)
                try:
                    geom = wkb.create_multipolygon(obj)
                except RuntimeError:
                    n_broken += 1  # an area with nodes outside a clipped extract
                    continue
                kind = "way" if obj.from_way() else "relation"
                feats.append((kind, obj.orig_id(), tags, geom))
    except RuntimeError as e:
        if "out of order" in str(e):
            raise _UnsortedError from None
        raise InputError(f"{path}: cannot read OSM data ({e}); is the file complete?") from None

    features = _features_to_frame(feats)
    return OsmExtract(
        way_ids=np.asarray(way_ids, dtype=np.int64),
        way_ptr=np.asarray(way_ptr, dtype=np.int64),
        node_ids=np.asarray(node_ids, dtype=np.int64),
        lon=np.asarray(lons, dtype=np.float64),
        lat=np.asarray(lats, dtype=np.float64),
        features=features,
        source=str(path),
        n_broken_areas=n_broken,
    )


def _features_to_frame(
    feats: list[tuple[str, int, dict[str, str], bytes | tuple[float, float]]],
) -> GeoDataFrame:
    # Areas are built from way or relation members; a closed way may also have been
    # passed as a way, but only nodes and areas carry feature geometry here.
    points = [f for f in feats if isinstance(f[3], tuple)]
    areas = [f for f in feats if not isinstance(f[3], tuple)]
    geoms = []
    if points:
        xy = np.array([f[3] for f in points], dtype=np.float64)
        geoms.extend(shapely.points(xy))
    if areas:
        geoms.extend(shapely.from_wkb([f[3] for f in areas]))
    rows = points + areas
    return features_frame(
        osm_type=[f[0] for f in rows],
        osm_id=[f[1] for f in rows],
        tags=[f[2] for f in rows],
        geometry=geoms,
    )


def _sorted_copy(path: Path, tmpdir: Path) -> Path:
    """Write a sorted copy of a small unsorted file (editor exports are often unsorted).

    libosmium assembles areas only from files sorted by type and id, as the OSM file
    format requires; JOSM and some Overpass exports do not follow that order.
    """
    from osmium.osm import mutable

    nodes, ways, rels = [], [], []
    for obj in osmium.FileProcessor(str(path)):
        tags = dict(obj.tags)
        if obj.is_node():
            loc = (obj.location.lon, obj.location.lat) if obj.location.valid() else None
            if loc is not None:
                nodes.append(mutable.Node(id=obj.id, location=loc, tags=tags))
        elif obj.is_way():
            ways.append(mutable.Way(id=obj.id, nodes=[n.ref for n in obj.nodes], tags=tags))
        elif obj.is_relation():
            members = [(m.type, m.ref, m.role) for m in obj.members]
            rels.append(mutable.Relation(id=obj.id, members=members, tags=tags))
    out = tmpdir / "sorted.osm.pbf"
    with osmium.SimpleWriter(str(out)) as writer:
        for n in sorted(nodes, key=lambda o: o.id):
            writer.add_node(n)
        for w in sorted(ways, key=lambda o: o.id):
            writer.add_way(w)
        for r in sorted(rels, key=lambda o: o.id):
            writer.add_relation(r)
    return out
