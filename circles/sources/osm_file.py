"""Read a local OpenStreetMap file (.osm, .osm.pbf, .osm.bz2, .osm.gz) with pyosmium.

One pass of libosmium (C++) reads every common form; Python sees only the tagged objects
that matter: walkable ways, and features that may be services, residences or buildings.
Ways that run off a clipped extract keep their runs of nodes that have locations.

A read can also run in a worker process (:func:`start_reading`): a cold run then loads
its libraries and the compiled engine while the file is parsed, on the other core.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import osmium
from osmium.osm import Area, Node, Relation, Way

from circles._errors import CirclesError, InputError
from circles.settings import PACKAGE_DIR, is_walkable
from circles.sources.extract import FEATURE_KEYS, OsmExtract, features_frame, way_name

if TYPE_CHECKING:
    from geopandas import GeoDataFrame
    from osmium.osm import mutable

OSM_SUFFIXES = (".osm", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.gz", ".xml", ".osm.xml")


def _check_path(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"OSM file not found: {path} (check the path, or use --place online)")
    name = path.name.lower()
    if not name.endswith(OSM_SUFFIXES):
        raise InputError(f"{path}: not an OSM file; expected one of {', '.join(OSM_SUFFIXES)}")


# A feature as read: (osm_type, osm_id, tags, (lon, lat) of a node or hex WKB of an area).
_Feature = tuple[str, int, dict[str, str], "str | tuple[float, float]"]


@dataclass
class _Parsed:
    """A read before its feature table is built: plain arrays and lists, which a worker
    process sends back cheaply (no geopandas needed to read)."""

    ways: dict[str, np.ndarray]  # way_ids, way_ptr, node_ids, lon, lat, way_names
    feats: list[_Feature]
    n_broken_areas: int


def read_osm_file(path: str | Path, keys: Sequence[str] | None = None) -> OsmExtract:
    """Read walkable ways and candidate features from a local OSM file.

    An unsorted file (an editor's export) is read through a sorted temporary copy, since
    libosmium assembles areas only from sorted files.

    Parameters
    ----------
    path : str or pathlib.Path
        An ``.osm``, ``.osm.pbf``, ``.osm.bz2`` or ``.osm.gz`` file.
    keys : sequence of str, optional
        Keep only the features with one of these tag keys (by default
        :data:`~circles.sources.extract.FEATURE_KEYS`, all that services and residences
        need). A run that needs only services passes the keys of its categories' rules,
        and skips buildings and land use, which are most of the areas to assemble.

    Returns
    -------
    OsmExtract
        The walkable ways and the features, in WGS-84.

    Raises
    ------
    InputError
        If the file is missing, not named like an OSM file, or cannot be read.
    """
    path = Path(path)
    _check_path(path)
    return _to_extract(_parse(path, keys), path)


class PendingRead:
    """A read running in a worker process; :meth:`result` waits for its extract.

    The worker is a new interpreter (``python -m circles.sources._read_worker``), not a
    fork: a fork would inherit libosmium's reader threads in a broken state, and a
    caller's own threads. The request goes as an argument, the reply comes back as a
    pickle on a pipe.
    Use it as a context manager so that the worker stops if the caller fails first.

    Parameters
    ----------
    path : pathlib.Path
        The OSM file, already checked.
    keys : sequence of str or None
        As for :func:`read_osm_file`.
    """

    def __init__(self, path: Path, keys: Sequence[str] | None) -> None:
        self.path = path
        env = dict(os.environ)
        # The worker must import this same package, installed or not.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PACKAGE_DIR.parent), env.get("PYTHONPATH")) if p
        )
        request = json.dumps([str(path), None if keys is None else list(keys)])
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "circles.sources._read_worker", request],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )

    def result(self) -> OsmExtract:
        """Wait for the worker; raise the error it met, or return the extract.

        Returns
        -------
        OsmExtract
            The same extract :func:`read_osm_file` returns.

        Raises
        ------
        CirclesError
            The user's error the worker met (a broken file), as it was raised there.
        RuntimeError
            If the worker process itself failed (it could not start or crashed).
        """
        out, err = self._proc.communicate()
        if self._proc.returncode != 0:
            last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise RuntimeError(
                f"the OSM reader process for {self.path} failed "
                f"(exit {self._proc.returncode}): {last[0]}"
            )
        status, value = pickle.loads(out)
        if status == "error":
            raise value
        return _to_extract(value, self.path)

    def __enter__(self) -> PendingRead:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()


def start_reading(path: str | Path, keys: Sequence[str] | None = None) -> PendingRead:
    """Start :func:`read_osm_file` in a worker process and return at once.

    Parameters
    ----------
    path : str or pathlib.Path
        The OSM file.
    keys : sequence of str, optional
        As for :func:`read_osm_file`.

    Returns
    -------
    PendingRead
        The running read; its ``result()`` waits for the extract.

    Raises
    ------
    InputError
        If the file is missing or misnamed: reported here, before the worker starts.
    """
    path = Path(path)
    _check_path(path)
    return PendingRead(path, keys)


def serve_worker(request: str, reply_to: Any) -> None:
    """The worker's side of :class:`PendingRead`: read, and reply with a pickle.

    Parameters
    ----------
    request : str
        JSON ``[path, keys]`` (keys may be null).
    reply_to : binary file
        Where the pickled ``("ok", parsed)`` or ``("error", CirclesError)`` goes.
    """
    path, keys = json.loads(request)
    try:
        reply: tuple[str, Any] = ("ok", _parse(Path(path), keys))
    except CirclesError as e:  # a user's error (a broken file): the caller raises it
        reply = ("error", e)
    pickle.dump(reply, reply_to, protocol=pickle.HIGHEST_PROTOCOL)


def _parse(path: Path, keys: Sequence[str] | None) -> _Parsed:
    keys = tuple(keys) if keys is not None else FEATURE_KEYS
    try:
        return _read(path, keys)
    except _UnsortedError:
        with tempfile.TemporaryDirectory(prefix="circles-") as tmp:
            return _read(_sorted_copy(path, Path(tmp)), keys)


def _to_extract(parsed: _Parsed, path: Path) -> OsmExtract:
    return OsmExtract(
        **parsed.ways,
        features=_features_to_frame(parsed.feats),
        source=str(path),
        n_broken_areas=parsed.n_broken_areas,
    )


class _UnsortedError(Exception):
    pass


def _read(path: Path, keys: tuple[str, ...]) -> _Parsed:
    way_ids: list[int] = []
    way_names: list[str] = []
    way_ptr: list[int] = [0]
    node_ids: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    feats: list[_Feature] = []
    wkb = osmium.geom.WKBFactory()
    n_broken = 0

    def add_run(way_id: int, name: str, run: list[tuple[int, float, float]]) -> None:
        if len(run) < 2:
            return
        way_ids.append(way_id)
        way_names.append(name)
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
            # copying every object's tags took half of the read. isinstance is what
            # obj.is_node() and the like test, and tells the type checker the type.
            if isinstance(obj, Node):
                # Nodes pass the filter for their highway tag too (crossings, signals).
                if obj.location.valid() and any(k in obj.tags for k in keys):
                    loc = obj.location
                    feats.append(("node", obj.id, dict(obj.tags), (loc.lon, loc.lat)))
            elif isinstance(obj, Way):
                if not is_walkable(obj.tags):
                    continue
                # Split at nodes without a location (clipped extracts) rather than drop.
                name = way_name(obj.tags)
                run: list[tuple[int, float, float]] = []
                for n in obj.nodes:
                    if n.location.valid():
                        run.append((n.ref, n.location.lon, n.location.lat))
                    else:
                        add_run(obj.id, name, run)
                        run = []
                add_run(obj.id, name, run)
            elif isinstance(obj, Area):
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

    ways = {
        "way_ids": np.asarray(way_ids, dtype=np.int64),
        "way_ptr": np.asarray(way_ptr, dtype=np.int64),
        "node_ids": np.asarray(node_ids, dtype=np.int64),
        "lon": np.asarray(lons, dtype=np.float64),
        "lat": np.asarray(lats, dtype=np.float64),
        "way_names": np.asarray(way_names, dtype=np.str_),
    }
    return _Parsed(ways, feats, n_broken)


def _features_to_frame(feats: list[_Feature]) -> GeoDataFrame:
    import shapely

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

    nodes: list[mutable.Node] = []
    ways: list[mutable.Way] = []
    rels: list[mutable.Relation] = []
    for obj in osmium.FileProcessor(str(path)):
        tags = dict(obj.tags)
        if isinstance(obj, Node):
            loc = (obj.location.lon, obj.location.lat) if obj.location.valid() else None
            if loc is not None:
                nodes.append(mutable.Node(id=obj.id, location=loc, tags=tags))
        elif isinstance(obj, Way):
            ways.append(mutable.Way(id=obj.id, nodes=[n.ref for n in obj.nodes], tags=tags))
        elif isinstance(obj, Relation):
            members = [(m.type, m.ref, m.role) for m in obj.members]
            rels.append(mutable.Relation(id=obj.id, members=members, tags=tags))
    out = tmpdir / "sorted.osm.pbf"
    with osmium.SimpleWriter(str(out)) as writer:
        for n in sorted(nodes, key=_mutable_id):
            writer.add_node(n)
        for w in sorted(ways, key=_mutable_id):
            writer.add_way(w)
        for r in sorted(rels, key=_mutable_id):
            writer.add_relation(r)
    return out


def _mutable_id(obj: mutable.OSMObject) -> int:
    # Every object above was made with the id of the one it copies; pyosmium's type says
    # an id may be unset.
    return obj.id if obj.id is not None else 0
