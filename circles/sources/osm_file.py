"""Read a local OpenStreetMap file (.osm, .osm.pbf, .osm.bz2, .osm.gz) with pyosmium.

One pass of libosmium (C++) reads every common form; Python sees only the tagged objects
that matter: walkable ways, and features that may be services, residences or buildings.
Ways that run off a clipped extract keep their runs of nodes that have locations.

The format is told by the file's first bytes, not its name (a .pbf renamed .osm reads).
What the fast read cannot take as it is goes through a normalised copy, written in
Python: unsorted files and JOSM's files (negative ids for new objects, deleted objects
kept with a mark), and files with a node id defined twice or a node with impossible
coordinates, which the copy rejects in one line (exact repeats, as in merged extracts,
it keeps once).

A read can also run in a worker process (:func:`start_reading`): a cold run then loads
its libraries and the compiled engine while the file is parsed, on the other core.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import html
import json
import mmap
import os
import pickle
import re
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import osmium
from osmium import InvalidLocationError
from osmium.osm import Area, Node, Relation, Way

from circles._errors import CirclesError, InputError
from circles.settings import PACKAGE_DIR, is_walkable
from circles.sources.extract import FEATURE_KEYS, NODE_KEYS, OsmExtract, features_frame, way_name

if TYPE_CHECKING:
    from geopandas import GeoDataFrame

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

    ways: dict[str, np.ndarray]  # way_ids, way_ptr, node_ids, lon, lat, way_names, way_steps
    feats: list[_Feature]
    n_broken_areas: int


def read_osm_file(path: str | Path, keys: Sequence[str] | None = None) -> OsmExtract:
    """Read walkable ways and candidate features from a local OSM file.

    An unsorted file (an editor's export) is read through a sorted temporary copy, since
    libosmium assembles areas only from sorted files; so is a JOSM file, whose negative
    ids (objects not yet uploaded) are read like any others, and whose deleted objects
    are left out.

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
        If the file is missing, not named like an OSM file, or cannot be read; if a node
        id is defined twice with different coordinates or tags; if a way or feature uses
        a node without valid coordinates. The message names the file and, where it can,
        the element.
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
    fmt = _sniff_format(path)
    deleted = _josm_deleted(path) if fmt == "osm" else set()
    if not deleted:
        try:
            return _read(path, fmt, keys)
        except _NeedsCopy:
            pass
    with tempfile.TemporaryDirectory(prefix="circles-") as tmp:
        copy, bases = _normalised_copy(path, fmt, Path(tmp), keys, deleted)
        parsed = _read(copy, "pbf", keys, check=False, source=path)
    return _restore_ids(parsed, bases)


def _to_extract(parsed: _Parsed, path: Path) -> OsmExtract:
    return OsmExtract(
        **parsed.ways,
        features=_features_to_frame(parsed.feats),
        source=str(path),
        n_broken_areas=parsed.n_broken_areas,
    )


class _NeedsCopy(Exception):
    """The fast read cannot take the file as it is: read a normalised copy instead."""


# --- the format, by the file's first bytes ---------------------------------------------------


def _sniff_format(path: Path) -> str:
    """The format libosmium must read, told by the first bytes: a name can lie (a .pbf
    renamed .osm was read as XML and failed as "incomplete")."""
    try:
        with path.open("rb") as f:
            head = f.read(32)
    except OSError as e:
        raise InputError(
            f"{path}: cannot open the file ({e.strerror}); check its permissions"
        ) from None
    if not head:
        raise InputError(f"{path}: the file is empty; export or download it again")
    if head.startswith(b"\x1f\x8b"):
        return "osm.gz"
    if head.startswith(b"BZh"):
        return "osm.bz2"
    if head[4:15] == b"\n\tOSMHeader":  # a BlobHeader's size, then its type "OSMHeader"
        return "pbf"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "osm"
    raise InputError(
        f"{path}: not OSM data (neither OSM XML nor PBF, plain or compressed with gzip or "
        "bzip2); export or download the file again"
    )


# JOSM keeps the objects a user deleted in the file, marked action="delete", which
# libosmium does not read: a footway closed in JOSM would still be walked. The mark is
# plain text in an uncompressed .osm; a byte search (1 ms for 1.5 MB) finds it.
_DELETED = (b"action='delete'", b'action="delete"')
_START_TAG = re.compile(rb"<(node|way|relation)\s([^>]*)>")
_ATTRIBUTE = re.compile(rb"""([\w:]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _josm_deleted(path: Path) -> set[tuple[str, int]]:
    """The objects JOSM marks deleted in an XML file, as (type, id)."""
    deleted: set[tuple[str, int]] = set()
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if any(data.find(p) >= 0 for p in _DELETED):
            for m in _START_TAG.finditer(data):
                attrs = _attributes(m.group(2))
                if attrs.get("action") == "delete" and re.fullmatch(r"-?\d+", attrs.get("id", "")):
                    deleted.add((m.group(1).decode(), int(attrs["id"])))
    return deleted


def _attributes(text: bytes) -> dict[str, str]:
    return {
        k.decode(): html.unescape((a or b).decode("utf-8", "replace"))
        for k, a, b in _ATTRIBUTE.findall(text)
    }


# --- the fast read ------------------------------------------------------------------------

# Node location stores: one entry per node definition, and one per distinct id.
_STORE = "sparse_mem_array"
_DISTINCT = "sparse_mem_map"


def _read(
    path: Path, fmt: str, keys: tuple[str, ...], check: bool = True, source: Path | None = None
) -> _Parsed:
    """Read with libosmium, Python seeing only the tagged objects that matter.

    Raises :class:`_NeedsCopy` for what only a normalised copy reads right: an unsorted
    file, negative ids, a node with impossible coordinates that a way or feature uses,
    and (``check``) a node id defined twice.
    """
    source = source or path
    way_ids: list[int] = []
    way_names: list[str] = []
    way_steps: list[bool] = []
    way_ptr: list[int] = [0]
    node_ids: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    feats: list[_Feature] = []
    wkb = osmium.geom.WKBFactory()
    n_broken = 0

    def add_run(way_id: int, name: str, steps: bool, run: list[tuple[int, float, float]]) -> None:
        if len(run) < 2:
            return
        way_ids.append(way_id)
        way_names.append(name)
        way_steps.append(steps)
        for nid, lon, lat in run:
            node_ids.append(nid)
            lons.append(lon)
            lats.append(lat)
        way_ptr.append(len(node_ids))

    def unusable(ref: int) -> bool:
        """A way's node without a location: negative (kept in no store) or present with
        coordinates off the globe; else absent, as at the edge of a clipped extract."""
        if ref < 0:
            return True
        try:
            store.get(ref)
        except KeyError:
            return False
        return True

    # The sparse array is what the default store ("flex_mem") is below 16 million nodes;
    # its size is the number of node definitions, which the duplicate check needs.
    processor = osmium.FileProcessor(osmium.io.File(str(path), fmt)).with_locations(_STORE)
    table = processor.node_location_storage
    assert table is not None  # set by with_locations
    store = table
    distinct = None
    if check:
        # Duplicate node ids: a map keeps one entry per id, the array one per definition.
        # libosmium compares the two sizes in C++ while it stores locations anyway
        # (Malta: +0.05 s CPU); looking at every node in Python would double the read.
        distinct = osmium.index.create_map(_DISTINCT)
        counter = osmium.NodeLocationsForWays(distinct)
        counter.ignore_errors()
        counter.apply_nodes_to_ways = False
        processor = processor.with_filter(counter)
    # Gate keys (NODE_KEYS) count on nodes only: a barrier=wall way is no feature.
    way_keys = tuple(k for k in keys if k not in NODE_KEYS)
    if way_keys:
        # Areas first: multipolygons are built from untagged member ways, which a key
        # filter before the area assembler would drop.
        processor = processor.with_areas(osmium.filter.KeyFilter(*way_keys))
    way_filter = osmium.filter.KeyFilter("highway", *way_keys)
    way_filter.enable_for(osmium.osm.WAY | osmium.osm.RELATION | osmium.osm.AREA)
    node_filter = osmium.filter.KeyFilter("highway", *keys)
    node_filter.enable_for(osmium.osm.NODE)
    processor = processor.with_filter(way_filter).with_filter(node_filter)
    try:
        for obj in processor:
            if obj.id < 0:  # JOSM's new objects: their nodes have no place in the store
                raise _NeedsCopy
            # Tags are looked up in place (C++) and copied to a dict only for features:
            # copying every object's tags took half of the read. isinstance is what
            # obj.is_node() and the like test, and tells the type checker the type.
            if isinstance(obj, Node):
                # Nodes pass the filter for their highway tag too (crossings, signals).
                if not obj.location.valid():
                    raise _NeedsCopy  # coordinates off the globe: the copy counts them
                if any(k in obj.tags for k in keys):
                    loc = obj.location
                    feats.append(("node", obj.id, dict(obj.tags), (loc.lon, loc.lat)))
            elif isinstance(obj, Way):
                if not is_walkable(obj.tags):
                    # A candidate area: libosmium silently builds none when one of its
                    # nodes has no location. One C++ call checks them all.
                    try:
                        osmium.geom.haversine_distance(obj.nodes)
                    except InvalidLocationError:
                        if any(unusable(n.ref) for n in obj.nodes if not n.location.valid()):
                            raise _NeedsCopy from None
                    continue
                # Split at nodes without a location (clipped extracts) rather than drop.
                name = way_name(obj.tags)
                steps = obj.tags.get("highway") == "steps"
                run: list[tuple[int, float, float]] = []
                for n in obj.nodes:
                    if n.location.valid():
                        run.append((n.ref, n.location.lon, n.location.lat))
                    else:
                        if unusable(n.ref):
                            raise _NeedsCopy
                        add_run(obj.id, name, steps, run)
                        run = []
                add_run(obj.id, name, steps, run)
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
            raise _NeedsCopy from None
        raise _read_error(source, fmt, e) from None
    except (ValueError, InvalidLocationError) as e:
        raise _read_error(source, fmt, e) from None
    if distinct is not None and _n_entries(store, _STORE) != _n_entries(distinct, _DISTINCT):
        raise _NeedsCopy

    ways = {
        "way_ids": np.asarray(way_ids, dtype=np.int64),
        "way_ptr": np.asarray(way_ptr, dtype=np.int64),
        "node_ids": np.asarray(node_ids, dtype=np.int64),
        "lon": np.asarray(lons, dtype=np.float64),
        "lat": np.asarray(lats, dtype=np.float64),
        "way_names": np.asarray(way_names, dtype=np.str_),
        "way_steps": np.asarray(way_steps, dtype=bool),
    }
    return _Parsed(ways, feats, n_broken)


def _n_entries(table: osmium.index.LocationTable, kind: str) -> int:
    """How many entries a sparse location table of this kind holds, from its memory use."""
    base, size = _entry_size(kind)
    return (table.used_memory() - base) // size


@functools.cache
def _entry_size(kind: str) -> tuple[int, int]:
    """The fixed and per-entry memory of a kind of location table, measured once."""
    table = osmium.index.create_map(kind)
    table.set(1, osmium.osm.Location(0.0, 0.0))
    one = table.used_memory()
    table.set(2, osmium.osm.Location(0.0, 0.0))
    size = table.used_memory() - one
    return one - size, size


# --- the normalised copy --------------------------------------------------------------------

_MEMBER_TYPES = {"n": "node", "w": "way", "r": "relation"}
# libosmium's fixed-point "no location" (x and y both), for a node without coordinates.
_UNDEFINED = 2147483647


def _normalised_copy(
    path: Path, fmt: str, tmpdir: Path, keys: tuple[str, ...], deleted: set[tuple[str, int]]
) -> tuple[Path, dict[str, int]]:
    """Write a copy that the fast read takes: sorted, positive ids, every node once.

    libosmium assembles areas only from files sorted by type and id, as the OSM file
    format requires (JOSM and some Overpass exports are not), and stores the locations
    of positive ids only. The whole file passes through Python, so this is for what
    needs it: editors' exports, or broken files, which it rejects in one line.

    Returns the copy and, per type, the base above which an id was negative: ``-k`` is
    written as ``base + k`` (:func:`_restore_ids` turns it back).
    """
    from osmium.osm import mutable

    nodes: dict[int, tuple[int, int, dict[str, str]]] = {}
    ways: dict[int, tuple[list[int], dict[str, str]]] = {}
    rels: dict[int, tuple[list[tuple[str, int, str]], dict[str, str]]] = {}
    tables: dict[str, dict[int, Any]] = {"node": nodes, "way": ways, "relation": rels}
    clashes: list[tuple[str, int, Any, Any]] = []
    try:
        for obj in osmium.FileProcessor(osmium.io.File(str(path), fmt)):
            tags = dict(obj.tags)
            value: Any
            if isinstance(obj, Node):
                kind, value = "node", (obj.location.x, obj.location.y, tags)
            elif isinstance(obj, Way):
                kind, value = "way", ([n.ref for n in obj.nodes], tags)
            elif isinstance(obj, Relation):
                members = [(_MEMBER_TYPES[m.type], m.ref, m.role) for m in obj.members]
                kind, value = "relation", (members, tags)
            else:
                continue
            if (kind, obj.id) in deleted:
                continue
            kept = tables[kind].setdefault(obj.id, value)
            # An exact repeat (overlapping extracts merged) is kept once; another object
            # under the same id would give a wrong answer without a word.
            if kept is not value and kept != value:
                clashes.append((kind, obj.id, kept, value))
    except (RuntimeError, ValueError, InvalidLocationError) as e:
        raise _read_error(path, fmt, e) from None
    if clashes:
        raise InputError(_clash_message(path, clashes))
    _drop_invalid_nodes(path, nodes, ways, rels, keys)

    bases = {kind: max((i for i in t if i > 0), default=0) for kind, t in tables.items()}
    for kind, t in tables.items():
        if t and bases[kind] - min(t) > np.iinfo(np.int64).max:
            raise InputError(
                f"{path}: {kind} ids run from {min(t)} to {bases[kind]}, too far apart to "
                "renumber the negative ones; renumber the file (osmium renumber)"
            )

    def new(kind: str, i: int) -> int:
        return i if i >= 0 else bases[kind] - i

    out = tmpdir / "normalised.osm.pbf"
    with osmium.SimpleWriter(str(out)) as writer:
        for i in sorted(nodes, key=lambda i: new("node", i)):
            x, y, tags = nodes[i]
            loc = (x / 1e7, y / 1e7)  # libosmium rounds them back to the same x, y
            writer.add_node(mutable.Node(id=new("node", i), location=loc, tags=tags))
        for i in sorted(ways, key=lambda i: new("way", i)):
            refs, tags = ways[i]
            way_nodes = [new("node", r) for r in refs]
            writer.add_way(mutable.Way(id=new("way", i), nodes=way_nodes, tags=tags))
        for i in sorted(rels, key=lambda i: new("relation", i)):
            members, tags = rels[i]
            mems = [(t[0], new(t, ref), role) for t, ref, role in members]
            writer.add_relation(mutable.Relation(id=new("relation", i), members=mems, tags=tags))
    return out, bases


def _restore_ids(parsed: _Parsed, bases: dict[str, int]) -> _Parsed:
    """Give a read of a normalised copy its file's ids again (negative ones included)."""

    def back(kind: str, ids: np.ndarray) -> np.ndarray:
        return np.where(ids > bases[kind], bases[kind] - ids, ids)

    ways = dict(parsed.ways)
    ways["node_ids"] = back("node", ways["node_ids"])
    ways["way_ids"] = back("way", ways["way_ids"])
    feats: list[_Feature] = [
        (kind, i if i <= bases[kind] else bases[kind] - i, tags, geom)
        for kind, i, tags, geom in parsed.feats
    ]
    return _Parsed(ways, feats, parsed.n_broken_areas)


def _clash_message(path: Path, clashes: list[tuple[str, int, Any, Any]]) -> str:
    kind, i, first, second = clashes[0]
    if kind == "node" and first[:2] != second[:2]:
        how = f"at different coordinates ({_place(*first[:2])} and {_place(*second[:2])})"
    elif kind == "node":
        how = "with different tags"
    else:
        how = (
            "with different members or tags"
            if kind == "relation"
            else "with different nodes or tags"
        )
    n = len({(k, j) for k, j, _, _ in clashes})
    more = f" ({n:,} ids are repeated so)" if n > 1 else ""
    return (
        f"{path}: {kind} id {i} appears more than once {how}{more}; every object needs its "
        "own id: fix the file (JOSM: Validation) or re-export it"
    )


def _place(x: int, y: int) -> str:
    if x == _UNDEFINED or y == _UNDEFINED:
        return "no coordinates"
    return f"lat {y / 1e7:g}, lon {x / 1e7:g}"


def _drop_invalid_nodes(
    path: Path,
    nodes: dict[int, tuple[int, int, dict[str, str]]],
    ways: dict[int, tuple[list[int], dict[str, str]]],
    rels: dict[int, tuple[list[tuple[str, int, str]], dict[str, str]]],
    keys: tuple[str, ...],
) -> None:
    """Reject nodes off the globe that a way, a relation or a feature uses; drop the rest.

    Rejected rather than warned about: OSM never holds such coordinates (the API refuses
    them), so they mean a damaged or hand-made file whose other values are suspect too;
    dropping them would cut the ways and lose the areas they outline (two residential
    areas of three, in one test) and give a wrong answer with at most a warning that
    points elsewhere. Fixing them is a small edit. A node nothing uses changes nothing.
    """
    limit_x, limit_y = 180 * 10**7, 90 * 10**7
    bad = {i for i, (x, y, _) in nodes.items() if abs(x) > limit_x or abs(y) > limit_y}
    if not bad:
        return
    feature_keys = {"highway", *FEATURE_KEYS, *keys}
    used = {r for refs, _ in ways.values() for r in refs if r in bad}
    used |= {r for members, _ in rels.values() for t, r, _ in members if t == "node" and r in bad}
    used |= {i for i in bad if feature_keys.intersection(nodes[i][2])}
    if used:
        i = min(used, key=abs)
        raise InputError(
            f"{path}: {len(used):,} {'nodes' if len(used) > 1 else 'node'} used by ways or "
            f"features {'have' if len(used) > 1 else 'has'} no valid coordinates (latitude "
            f"within ±90°, longitude within ±180°), e.g. node {i} ({_place(*nodes[i][:2])}); "
            "such nodes drop out of the network and of the areas they outline: correct or "
            "delete them (JOSM: Validation) and read the file again"
        )
    for i in bad:
        del nodes[i]


# --- errors of the library, in the user's words ---------------------------------------------

_OSM_TYPES = ("node", "way", "relation")
_XML_TAG = re.compile(rb"<(node|way|relation|nd|member|tag)\s([^>]*)>")
_OPENERS: dict[str, Callable[..., Any]] = {"osm": open, "osm.gz": gzip.open, "osm.bz2": bz2.open}
_COORDINATE = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_MAX_COORDINATE = 214.7483647  # libosmium keeps degrees in 32 bits of 1e-7
_MAX_TAG_BYTES = 1024  # libosmium's limit on a key or value (OSM's is 255 characters)
_ID_LIMIT = 2**63


def _read_error(path: Path, fmt: str, error: Exception) -> InputError:
    """A one-line error for what libosmium could not read, naming the element if it can."""
    text = " ".join(str(error).split())  # the library's words, on one line
    if isinstance(error, InvalidLocationError) or "coordinate" in text:
        where = _find_element(path, fmt, _bad_coordinate)
        return InputError(
            f"{path}: {where or f'invalid coordinate ({text})'}; coordinates must be "
            'decimal degrees with a point, e.g. lat="39.95": fix the node or re-export the file'
        )
    if "illegal id" in text:
        where = _find_element(path, fmt, _bad_id)
        return InputError(
            f"{path}: {where or text}; OSM ids are whole numbers that fit in 64 bits: fix "
            "it, renumber the file (osmium renumber) or re-export it"
        )
    if "too long" in text:
        where = _find_element(path, fmt, _long_text)
        return InputError(
            f"{path}: {where or text}; the OSM reader (libosmium) takes tag keys and values "
            f"of at most {_MAX_TAG_BYTES} bytes (OSM itself allows 255 characters): shorten "
            "it and read the file again"
        )
    return InputError(f"{path}: cannot read OSM data ({text}); is the file complete?")


def _find_element(path: Path, fmt: str, bad: Callable[[str, dict[str, str]], str | None]) -> str:
    """In an XML file, the first element ``bad`` finds a problem with, in words
    (``node 7 has lat="nan"``), or ``""``. Only on the way to an error: it scans the text."""
    opener = _OPENERS.get(fmt)
    if opener is None:
        return ""
    element, rest = "", b""
    try:
        with opener(path, "rb") as f:
            while chunk := f.read(1 << 20):
                data = rest + chunk
                cut = data.rfind(b">") + 1
                data, rest = data[:cut], data[cut:]
                for m in _XML_TAG.finditer(data):
                    kind, attrs = m.group(1).decode(), _attributes(m.group(2))
                    if kind in _OSM_TYPES:
                        element = f"{kind} {attrs.get('id', '?')[:30]}"
                    problem = bad(kind, attrs)
                    if problem:
                        return f"{element or kind} {problem}"
    except (OSError, EOFError, ValueError, zlib.error):
        pass  # a stream broken further on: the library's own words will do
    return ""


def _bad_coordinate(kind: str, attrs: dict[str, str]) -> str | None:
    for name in ("lat", "lon"):
        value = attrs.get(name)
        if kind == "node" and value is not None and not _coordinate_ok(value):
            return f'has {name}="{value[:30]}"'
    return None


def _coordinate_ok(value: str) -> bool:
    return bool(_COORDINATE.fullmatch(value)) and abs(float(value)) <= _MAX_COORDINATE


def _bad_id(kind: str, attrs: dict[str, str]) -> str | None:
    name = "id" if kind in _OSM_TYPES else "ref" if kind in ("nd", "member") else None
    value = attrs.get(name) if name else None
    if value is None or (re.fullmatch(r"-?\d+", value) and -_ID_LIMIT <= int(value) < _ID_LIMIT):
        return None
    if name == "id":
        return "has an id that is not a whole number of 64 bits"
    return f'refers to "{value[:30]}", not a whole number of 64 bits'


def _long_text(kind: str, attrs: dict[str, str]) -> str | None:
    if kind != "tag":
        return None
    key, value = attrs.get("k", ""), attrs.get("v", "")
    if len(key.encode()) > _MAX_TAG_BYTES:
        return f"has a tag key of {len(key):,} characters"
    if len(value.encode()) > _MAX_TAG_BYTES:
        return f"has a {key[:30]}= value of {len(value):,} characters"
    return None


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
