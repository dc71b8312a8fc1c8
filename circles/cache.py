"""A cache of parsed networks and services, keyed by the source file's content hash plus
every setting that changes them, so a changed file or setting never gives stale results.

An entry is one ``.npz`` of plain arrays (loaded with ``allow_pickle=False``) in the cache
folder: by default the user's cache directory, or ``--cache-dir``.

The cache is an optimisation and never costs a run: a folder that cannot be written (read
only, full, a file) and an entry that cannot be read (truncated, empty) are a
:class:`CacheWarning` and a miss; a broken entry is removed so that the run rewrites it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from circles._errors import shown_path
from circles.settings import PACKAGE_DIR

if TYPE_CHECKING:
    from circles.prepare import Prepared

# Bump when the content or meaning of an entry changes (2: the network's edge names).
CACHE_VERSION = 3  # 3: services carry area_m2


class CacheWarning(UserWarning):
    """The cache could not be used; the run goes on without it (the CLI shows one line)."""


def default_dir() -> Path:
    """Where the cache lives unless a run names a folder.

    Returns
    -------
    pathlib.Path
        ``$CIRCLES_CACHE_DIR`` when set, else the user's cache directory for circles
        (``~/.cache/circles`` on Linux).
    """
    env = os.environ.get("CIRCLES_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("circles"))


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes.

    Parameters
    ----------
    path : pathlib.Path
        The file, read in 1 MB blocks.

    Returns
    -------
    str
        The hex digest.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_digest(package: Path = PACKAGE_DIR) -> str:
    """SHA-256 of every file of a package's code and data, in a fixed order.

    Parameters
    ----------
    package : pathlib.Path
        The package folder (default: the installed ``circles``).

    Returns
    -------
    str
        The hex digest. Any changed module (a reader, the walking filter, the graph
        arrays, snapping) or data file gives another digest; compiled caches
        (``__pycache__``) are left out.
    """
    h = hashlib.sha256()
    files = sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        h.update(path.relative_to(package).as_posix().encode("utf-8") + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


@functools.cache
def code_digest() -> str:
    """The digest of the installed package's code (:func:`package_digest`), once per process.

    Returns
    -------
    str
        Part of every cache key, so that an entry made by other code is never served.
    """
    return package_digest()


def make_key(parts: dict) -> str:
    """A stable key from JSON-able parts and the code's digest.

    Parameters
    ----------
    parts : dict
        What the entry depends on: file digests and settings.

    Returns
    -------
    str
        32 hex digits; a change in any part, in :data:`CACHE_VERSION` or in the code
        (:func:`code_digest`) gives another key.
    """
    text = json.dumps(
        {"version": CACHE_VERSION, "code": code_digest(), **parts}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class Entry:
    """One cache entry, as ``circles cache info`` lists it.

    Attributes
    ----------
    key : str
        Its key.
    path : pathlib.Path
        Its file.
    size_bytes : int
        Its size.
    created : float
        When it was written (a POSIX time).
    source : str
        The data it holds (the OSM file's name); empty for a broken entry.
    broken : bool
        The entry cannot be read (truncated, empty): the next run that needs it removes
        and rebuilds it.
    """

    key: str
    path: Path
    size_bytes: int
    created: float
    source: str
    broken: bool = False


def _path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"prepared-{key}.npz"


def store(cache_dir: Path, key: str, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write an entry atomically: a temporary file in the cache folder, renamed into place.

    Parameters
    ----------
    cache_dir : pathlib.Path
        The cache folder (created when missing).
    key : str
        The entry's key.
    arrays : dict of str to numpy.ndarray
        Plain arrays (no objects: entries load with ``allow_pickle=False``).
    meta : dict
        JSON-able metadata.

    Returns
    -------
    pathlib.Path
        The entry's file.

    Raises
    ------
    OSError
        The folder or the entry cannot be written (read only, full, a file); no
        temporary file is left behind.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = _path(cache_dir, key)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".npz")
    os.close(fd)
    try:
        payload = {**arrays, "_meta": np.array(json.dumps(meta, default=str))}
        np.savez(tmp, **payload)  # type: ignore[arg-type]  # numpy's stub: kwds vs allow_pickle
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # gone after the rename; a failed write's remains
    return target


def _unwritable(cache_dir: Path, error: OSError) -> None:
    """Warn that the cache cannot be written, saying why in the user's terms."""
    reason = error.strerror or str(error)
    if error.errno in (errno.EEXIST, errno.ENOTDIR):
        reason = "a file is in the way of the folder"
    elif error.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "the disk is full"
    warnings.warn(
        f"cannot write the cache in {shown_path(cache_dir)} ({reason}); this run goes on "
        "without it (choose another --cache-dir, or --no-cache)",
        CacheWarning,
        stacklevel=3,
    )


def _discard(path: Path, error: BaseException) -> None:
    """Remove a broken entry and say so: the run reads its data again and rewrites it."""
    try:
        path.unlink(missing_ok=True)
        done = "removed it"
    except OSError as e:
        done = f"cannot remove it: {e.strerror}"
    warnings.warn(
        f"cache entry {path.name} is broken (truncated or damaged: {type(error).__name__}); "
        f"{done}, reading the data again",
        CacheWarning,
        stacklevel=3,
    )


def load(cache_dir: Path, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
    """The arrays and metadata of an entry.

    Parameters
    ----------
    cache_dir : pathlib.Path
        The cache folder.
    key : str
        The entry's key.

    Returns
    -------
    tuple of (dict, dict) or None
        The arrays and the metadata; None when the entry is absent or broken. A broken
        entry (truncated, empty, not an entry) is removed with a :class:`CacheWarning`,
        and rewritten by the next store.
    """
    path = _path(cache_dir, key)
    try:
        if not path.is_file():
            return None
    except OSError:  # an unreadable folder: no entry can be served
        return None
    try:
        return _read(path)
    except Exception as e:  # whatever a damaged zip gives (BadZipFile, EOFError, ...)
        _discard(path, e)
        return None


def _read(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "_meta"}
        meta = json.loads(str(z["_meta"]))
    if not isinstance(meta, dict):
        raise ValueError("its metadata is not a mapping")
    return arrays, meta


def entries(cache_dir: Path) -> list[Entry]:
    """The entries in a cache folder, broken ones included (marked, never raised).

    Parameters
    ----------
    cache_dir : pathlib.Path
        The cache folder.

    Returns
    -------
    list of Entry
        Newest first.
    """
    out = []
    for p in cache_dir.glob("prepared-*.npz"):
        try:
            st = p.stat()
        except OSError:  # removed meanwhile (a run discarding it, cache clear)
            continue
        try:
            source, broken = str(_read(p)[1].get("source", "")), False
        except Exception:  # a damaged entry is listed as broken, whatever the zip gives
            source, broken = "", True
        key = p.stem.removeprefix("prepared-")
        out.append(Entry(key, p, st.st_size, st.st_mtime, source, broken))
    return sorted(out, key=lambda e: -e.created)


def clear(cache_dir: Path) -> int:
    """Delete every entry, and any temporary file a killed write left.

    Parameters
    ----------
    cache_dir : pathlib.Path
        The cache folder.

    Returns
    -------
    int
        How many files were removed.

    Raises
    ------
    OSError
        A file cannot be removed (a read-only folder).
    """
    n = 0
    for p in list(cache_dir.glob("prepared-*.npz")) + list(cache_dir.glob(".tmp-*.npz")):
        p.unlink(missing_ok=True)
        n += 1
    return n


def age_text(created: float) -> str:
    """How long ago a POSIX time was, for a person: ``12 min`` or ``5 h``.

    Parameters
    ----------
    created : float
        A POSIX time.

    Returns
    -------
    str
        Minutes below two hours, else hours.
    """
    minutes = (time.time() - created) / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.0f} h"


# The WalkNetwork arrays kept in an entry (with its CRS as WKT and its stats).
_NETWORK_FIELDS = (
    "osm_id",
    "x",
    "y",
    "lon",
    "lat",
    "edge_u",
    "edge_v",
    "edge_len",
    "indptr",
    "indices",
    "weights",
    "csr_edge",
    "street_names",  # a unicode array: stored without pickles
    "edge_street",
    "edge_steps",
)
_ATTACHMENT_FIELDS = ("edge", "offset", "snap_m", "used")


def store_prepared(cache_dir: Path, key: str, prepared: Prepared) -> Path | None:
    """Write a study's prepared inputs (network, OSM services, their attachment).

    Parameters
    ----------
    cache_dir : pathlib.Path
        The cache folder (created when missing).
    key : str
        The entry's key (:func:`circles.prepare.cache_key`).
    prepared : circles.prepare.Prepared
        What :func:`circles.prepare.prepare` read; its features are not kept.

    Returns
    -------
    pathlib.Path or None
        The entry's file; None when the cache cannot be written, which a
        :class:`CacheWarning` says (the run goes on without it).
    """
    net = prepared.network
    arrays = {f"net_{k}": getattr(net, k) for k in _NETWORK_FIELDS}
    arrays["net_crs"] = np.array(net.crs.to_wkt())
    arrays.update({f"svc_{k}": v for k, v in prepared.services.items()})
    arrays.update({f"att_{k}": getattr(prepared.service_attachment, k) for k in _ATTACHMENT_FIELDS})
    try:
        return store(cache_dir, key, arrays, {"source": prepared.source, "stats": net.stats})
    except OSError as e:
        _unwritable(cache_dir, e)
        return None


def load_prepared(cache_dir: Path, key: str) -> Prepared | None:
    """A study's prepared inputs from the cache, or None on a miss.

    Parameters
    ----------
    cache_dir : pathlib.Path
        The cache folder.
    key : str
        The entry's key.

    Returns
    -------
    circles.prepare.Prepared or None
        With ``from_cache`` set and no OSM features; None when the entry is absent or
        broken (removed, with a :class:`CacheWarning`).
    """
    hit = load(cache_dir, key)
    if hit is None:
        return None
    try:
        return _prepared(*hit)
    except Exception as e:  # a readable zip without the arrays of an entry
        _discard(_path(cache_dir, key), e)
        return None


def _prepared(arrays: dict[str, np.ndarray], meta: dict) -> Prepared:
    import pyproj

    from circles.network import WalkNetwork
    from circles.prepare import Prepared
    from circles.snap import Attachment

    network = WalkNetwork(
        crs=pyproj.CRS.from_wkt(str(arrays["net_crs"])),
        stats=meta.get("stats", {}),
        **{k: arrays[f"net_{k}"] for k in _NETWORK_FIELDS},
    )
    services = {k[4:]: v for k, v in arrays.items() if k.startswith("svc_")}
    attachment = Attachment(*(arrays[f"att_{k}"] for k in _ATTACHMENT_FIELDS))
    return Prepared(network, services, attachment, meta.get("source", ""), None, True)
