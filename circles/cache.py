"""A cache of parsed networks and services, keyed by the source file's content hash plus
every setting that changes them, so a changed file or setting never gives stale results.

An entry is one ``.npz`` of plain arrays (loaded with ``allow_pickle=False``) in the cache
folder: by default the user's cache directory, or ``--cache-dir``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Bump when the content or meaning of an entry changes.
CACHE_VERSION = 1


def default_dir() -> Path:
    """The user's cache directory for circles (e.g. ~/.cache/circles)."""
    env = os.environ.get("CIRCLES_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("circles"))


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_digest() -> str:
    """SHA-256 of the modules that produce an entry: a changed reader, filter or snapping
    rule is a different key, even before CACHE_VERSION is bumped."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for rel in _PRODUCERS:
        h.update((package / rel).read_bytes())
    return h.hexdigest()


_PRODUCERS = (
    "network.py",
    "services.py",
    "snap.py",
    "settings.py",
    "engine.py",
    "sources/osm_file.py",
    "sources/extract.py",
)


def make_key(parts: dict) -> str:
    """A stable key from JSON-able parts (file digests, settings) and the code's digest."""
    text = json.dumps(
        {"version": CACHE_VERSION, "code": code_digest(), **parts}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class Entry:
    key: str
    path: Path
    size_bytes: int
    created: float
    source: str


def _path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"prepared-{key}.npz"


def store(cache_dir: Path, key: str, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write an entry atomically (a temporary file renamed into place)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = _path(cache_dir, key)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".npz")
    os.close(fd)
    try:
        payload = {**arrays, "_meta": np.array(json.dumps(meta, default=str))}
        np.savez(tmp, **payload)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load(cache_dir: Path, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
    """The arrays and metadata of an entry, or None when absent or unreadable."""
    path = _path(cache_dir, key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != "_meta"}
            meta = json.loads(str(z["_meta"]))
    except (OSError, ValueError, KeyError):
        return None  # a broken entry is a miss; it is rewritten
    return arrays, meta


def entries(cache_dir: Path) -> list[Entry]:
    """The entries in a cache folder, newest first."""
    out = []
    for p in cache_dir.glob("prepared-*.npz"):
        source = ""
        try:
            with np.load(p, allow_pickle=False) as z:
                source = json.loads(str(z["_meta"])).get("source", "")
        except (OSError, ValueError, KeyError):
            source = "(unreadable)"
        st = p.stat()
        key = p.stem.removeprefix("prepared-")
        out.append(Entry(key, p, st.st_size, st.st_mtime, source))
    return sorted(out, key=lambda e: -e.created)


def clear(cache_dir: Path) -> int:
    """Delete every entry; returns how many were removed."""
    n = 0
    for p in list(cache_dir.glob("prepared-*.npz")) + list(cache_dir.glob(".tmp-*.npz")):
        p.unlink(missing_ok=True)
        n += 1
    return n


def age_text(created: float) -> str:
    minutes = (time.time() - created) / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.0f} h"
