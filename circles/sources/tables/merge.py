"""Table POIs merged with OSM services and with each other: one place is counted once."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

from circles.sources.tables.pois import PoiCandidates
from circles.sources.tables.read import role_texts
from circles.sources.tables.rejected import rejection

DUPLICATE_M = 30.0  #: same category within this distance and a similar name: one place
EXACT_M = 1.0  #: within one table: same category, same name within this: listed twice
SIMILAR_RATIO = 0.6  #: difflib ratio of normalised names from which they count as similar


def normalize_name(name: str) -> str:
    """A name for comparison.

    Parameters
    ----------
    name : str
        A place's name (None gives ``''``).

    Returns
    -------
    str
        NFKC (full-width to half-width), lower case, no branch in brackets
        ('华润万家（新街口店）' -> '华润万家'), no spaces or punctuation.
    """
    s = unicodedata.normalize("NFKC", str(name or "")).lower()
    bare = re.sub(r"[(\[【〔].*?[)\]】〕]", "", s)
    bare = re.sub(r"[\W_]+", "", bare)
    return bare or re.sub(r"[\W_]+", "", s)


def similar_names(a: str, b: str) -> bool:
    """Whether two names (after :func:`normalize_name`) may name the same place.

    Both unnamed, equal, or one inside the other: yes. Otherwise the common beginning and
    end are set aside ('益丰大药房' / '国大药房' share only '大药房', the kind of shop) and
    what is left must be similar: empty on one side ('益丰大药房' / '益丰药房') or a difflib
    ratio of at least 0.6. One named and one unnamed are not similar.

    Parameters
    ----------
    a, b : str
        Two names.

    Returns
    -------
    bool
        True when they may name the same place.
    """
    a, b = normalize_name(a), normalize_name(b)
    if not a and not b:
        return True
    if not a or not b:
        return False
    if a == b or (min(len(a), len(b)) >= 2 and (a in b or b in a)):
        return True
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    ra, rb = a[start : len(a) - end], b[start : len(b) - end]
    if not ra or not rb:
        return True
    return SequenceMatcher(None, ra, rb).ratio() >= SIMILAR_RATIO


def row_types(table: PoiCandidates) -> np.ndarray:
    """The type of each entry's row: its type code and type text, normalised.

    Parameters
    ----------
    table : PoiCandidates
        A table's entries (its ``typecode`` and ``type`` columns are read, when it has
        them).

    Returns
    -------
    numpy.ndarray
        Object array of ``(typecode, type)`` pairs of str, one per entry (``''`` where the
        table has no such column or the cell is empty).
    """

    def norm(values: np.ndarray) -> list[str]:
        """Texts without spaces, NFKC, lower case (each distinct text once)."""
        done: dict[str, str] = {}
        for v in set(map(str, values)):
            done[v] = re.sub(r"\s+", "", unicodedata.normalize("NFKC", v)).lower()
        return [done[str(v)] for v in values]

    codes = norm(role_texts(table.raw, table.cols, "typecode")[table.idx])
    types = norm(role_texts(table.raw, table.cols, "type")[table.idx])
    out = np.empty(len(table.idx), dtype=object)
    out[:] = list(zip(codes, types, strict=True))
    return out


def same_type(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Whether two table rows have the same type (:func:`row_types`).

    Parameters
    ----------
    a, b : tuple of (str, str)
        Two rows' ``(typecode, type)``.

    Returns
    -------
    bool
        The texts both rows have (code, type) are equal; without any in common, only two
        rows with no type at all are the same type.
    """
    shared = [(x, y) for x, y in zip(a, b, strict=True) if x and y]
    if shared:
        return all(x == y for x, y in shared)
    return not any(a) and not any(b)


def _candidates(xs: np.ndarray, ys: np.ndarray, n_old: int, sizes: list[int]) -> list[list[int]]:
    """For each table entry, the earlier services it may repeat (by distance alone).

    Within one table only entries within :data:`EXACT_M` can be duplicates; entries of
    other sources (OSM, earlier tables) within :data:`DUPLICATE_M`. Searching the 30 m
    ball in the entry's own table as well found tens of neighbours per row in a dense
    table, and made a 200,000-row table take minutes (the ball fills as the table grows).
    """
    from scipy.spatial import cKDTree

    xy = np.column_stack([xs, ys])
    near: list[list[int]] = list(cKDTree(xy).query_ball_point(xy[n_old:], EXACT_M))
    lo = n_old
    for size in sizes:
        if lo and size:
            earlier = cKDTree(xy[:lo]).query_ball_point(xy[lo : lo + size], DUPLICATE_M)
            for j, cand in enumerate(earlier, start=lo - n_old):
                if cand:
                    near[j] = list(set(near[j]).union(cand))
        lo += size
    return near


@dataclass
class Merged:
    """Table services kept after merging duplicates (in the study's metric CRS).

    Parameters
    ----------
    category, name : numpy.ndarray
        Each service's category key and name.
    x, y : numpy.ndarray
        Its point in the study's metric CRS.
    source : numpy.ndarray
        The table's file name.
    row : numpy.ndarray
        The row number in that file.
    table : numpy.ndarray
        Index of the table.
    idx : numpy.ndarray
        Index of the row in that table's frame.
    duplicates : list of int
        Per table: (row, category) entries merged into another service.
    """

    category: np.ndarray
    name: np.ndarray
    x: np.ndarray
    y: np.ndarray
    source: np.ndarray  # the table's file name
    row: np.ndarray  # the row number in that file
    table: np.ndarray  # index of the table
    idx: np.ndarray  # index of the row in that table's frame
    duplicates: list[int]  # per table: (row, category) entries merged into another service


def merge_pois(existing: dict[str, np.ndarray], tables: list[PoiCandidates]) -> Merged:
    """Keep each table entry unless it is a place already counted.

    An entry is a duplicate of an earlier service of the **same category within 30 m** with
    a **similar name** (:func:`similar_names`) from another source (OSM, or another table).
    Within one table only rows listed twice are merged (same category, same name, within
    1 m): a source is trusted to list distinct places. Two **unnamed** table rows, of one
    table or two, are merged only when they lie within 1 m *and* have the same type
    (:func:`same_type`): a name lost to an unknown header must not merge the clinics of
    one building. ``existing`` (the OSM services, in
    merge mode) always stays; tables are taken in order. A row none of whose entries is kept
    is added to its table's ``rejected`` as a duplicate, naming the service it repeats.

    Parameters
    ----------
    existing : dict of str to numpy.ndarray
        The OSM services: ``category``, ``name``, ``x``, ``y`` (study CRS) and, to name
        them, ``osm_type`` and ``osm_id``; empty to merge the tables among themselves.
    tables : list of PoiCandidates
        The tables, in order.

    Returns
    -------
    Merged
        The table entries kept (never the ``existing`` ones) and the count merged per
        table.
    """
    n_old = len(existing.get("x", ()))
    xs = np.concatenate([np.asarray(existing.get("x", []), float)] + [t.x for t in tables])
    ys = np.concatenate([np.asarray(existing.get("y", []), float)] + [t.y for t in tables])
    cat = np.concatenate(
        [np.asarray(existing.get("category", []), dtype=object)] + [t.category for t in tables]
    )
    name = np.concatenate(
        [np.asarray(existing.get("name", []), dtype=object)] + [t.name for t in tables]
    )
    src = np.concatenate(
        [np.full(n_old, -1)] + [np.full(len(t.x), k) for k, t in enumerate(tables)]
    )
    norm = np.array([normalize_name(v) for v in name], dtype=object)
    kinds = np.empty(len(xs), dtype=object)  # (typecode, type) of table entries
    for k, t in enumerate(tables):
        lo = n_old + sum(len(u.x) for u in tables[:k])
        kinds[lo : lo + len(t.x)] = row_types(t)
    kept = np.zeros(len(xs), dtype=bool)
    kept[:n_old] = True
    dup_of = np.full(len(xs), -1)
    if len(xs) > n_old:
        near = _candidates(xs, ys, n_old, [len(t.x) for t in tables])
        for j, cand in enumerate(near):
            i = n_old + j
            # Nearest first; of two as near, the earlier.
            order = sorted(
                (k for k in cand if k < i and cat[k] == cat[i]),
                key=lambda k: ((xs[k] - xs[i]) ** 2 + (ys[k] - ys[i]) ** 2, k),
            )
            for k in order:
                if not kept[k]:
                    continue
                close = np.hypot(xs[k] - xs[i], ys[k] - ys[i]) <= EXACT_M
                if src[k] >= 0 and not norm[k] and not norm[i]:  # two unnamed table rows
                    if not (close and same_type(kinds[k], kinds[i])):
                        continue
                elif src[k] == src[i]:
                    if not (close and norm[k] == norm[i]):
                        continue
                elif not similar_names(name[k], name[i]):
                    continue
                dup_of[i] = k
                break
            kept[i] = dup_of[i] < 0

    offsets = np.cumsum([n_old] + [len(t.x) for t in tables])

    def describe(k: int) -> str:
        """The service a duplicate repeats, in words."""
        if k < n_old:
            kind = str(existing.get("osm_type", [""] * n_old)[k])
            ident = existing.get("osm_id", [0] * n_old)[k]
            ref = f"OSM {kind}/{ident}" if kind else "an OSM service"
            return f"{ref} '{name[k]}'"
        tk = int(src[k])
        t = tables[tk]
        return f"row {int(t.raw.rows[t.idx[k - offsets[tk]]])} of {t.file} '{name[k]}'"

    duplicates = []
    for tk, t in enumerate(tables):
        lo = offsets[tk]
        t_kept = kept[lo : lo + len(t.x)]
        duplicates.append(int((~t_kept).sum()))
        used_rows = set(t.idx[t_kept].tolist())
        reported: set[int] = set()
        for pos in np.flatnonzero(~t_kept):  # the duplicates, by position in t
            i = int(t.idx[pos])
            if i in used_rows or i in reported:
                continue
            reported.add(i)
            other = int(dup_of[lo + pos])
            d = float(np.hypot(xs[other] - xs[lo + pos], ys[other] - ys[lo + pos]))
            detail = f"same {cat[lo + pos]} as {describe(other)}, {d:.0f} m away"
            t.rejected.append(rejection(t.raw, t.cols, "pois", i, "duplicate", detail, t.name[pos]))
    new = slice(n_old, None)
    keep = kept[new]
    source = np.concatenate(
        [np.full(len(t.x), t.file, dtype=object) for t in tables] or [np.empty(0)]
    )
    rows = np.concatenate([t.raw.rows[t.idx] for t in tables] or [np.empty(0)]).astype(np.int64)
    table = np.concatenate([np.full(len(t.x), k) for k, t in enumerate(tables)] or [np.empty(0)])
    idx = np.concatenate([t.idx for t in tables] or [np.empty(0)]).astype(np.int64)
    return Merged(
        category=cat[new][keep],
        name=name[new][keep],
        x=xs[new][keep],
        y=ys[new][keep],
        source=np.asarray(source, dtype=object)[keep],
        row=rows[keep],
        table=np.asarray(table, dtype=np.int64)[keep],
        idx=idx[keep],
        duplicates=duplicates,
    )
