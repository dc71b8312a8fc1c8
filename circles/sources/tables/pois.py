"""POI tables (AMap/Gaode, Baidu or survey exports): rows located and put in categories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from circles._errors import InputError
from circles.sources.tables.classify import Classifier
from circles.sources.tables.locate import StudyArea, locate_table
from circles.sources.tables.read import POI_ROLES, columns_found, read_table, role_texts
from circles.sources.tables.rejected import TableRows, rejection

if TYPE_CHECKING:
    from circles.config import PoiTable
    from circles.services import Category


@dataclass
class PoiCandidates(TableRows):
    """One table's rows that lie in the study area and have a category.

    One entry per (row, category), before duplicates are merged. A row is one kind of
    place (:class:`~circles.sources.tables.classify.Classifier`); it has several entries
    only for categories the catalogue nests (a supermarket is also a market).

    Parameters
    ----------
    raw, cols, crs, rejected
        As in :class:`~circles.sources.tables.rejected.TableRows`.
    idx : numpy.ndarray
        Index of each entry's row in ``raw.frame``.
    category, name : numpy.ndarray
        Each entry's category key and name.
    x, y : numpy.ndarray
        Each entry's point in the study's metric CRS.
    """

    idx: np.ndarray  # index of each entry's row in raw.frame
    category: np.ndarray
    name: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def file(self) -> str:
        """The table's file name."""
        return self.raw.path.name


def read_pois(
    spec: PoiTable,
    where: str,
    area: StudyArea,
    categories: dict[str, Category],
    catalogue: dict[str, Category] | None = None,
) -> PoiCandidates:
    """Read one POI table: locate its rows, put them in categories, reject the others.

    Parameters
    ----------
    spec : PoiTable
        The table's file, encoding, sheet, CRS and column mapping.
    where : str
        Where the table is in the study file (``pois[0]``), named in errors.
    area : StudyArea
        Where rows may lie.
    categories : dict of str to Category
        The study's categories.
    catalogue : dict of str to Category, optional
        Every known category; the bundled catalogue when None.

    Returns
    -------
    PoiCandidates
        One entry per (row, category); rows with bad coordinates, outside the area or of
        no category are in its ``rejected``.

    Raises
    ------
    InputError
        The file cannot be read, a mapped column is missing, or the table has no
        coordinate columns or no column to find categories by.
    """
    from circles.services import load_catalogue

    raw, cols = read_table(spec, POI_ROLES, where)
    if not any(r in cols for r in ("category", "typecode", "type", "name")):
        raise InputError(
            f"{raw.path}: no column to find categories by (name, type, typecode or category); "
            f"columns found: {columns_found(raw)}; map one under {where}.columns"
        )
    crs, loc, _ = locate_table(raw, cols, spec.crs, where, area)
    names = role_texts(raw, cols, "name")
    cats, codes, types = (role_texts(raw, cols, r) for r in ("category", "typecode", "type"))
    classifier = Classifier(categories, catalogue or load_catalogue())
    idx, keys_out, ambiguous = [], [], []
    refused: list[tuple[int, str, str]] = []  # (row, reason, detail)
    for i in range(len(raw.frame)):
        if loc.reason[i]:
            refused.append((i, loc.reason[i], loc.detail[i]))
            continue
        d = classifier.decide(cats[i], codes[i], types[i], names[i])
        if not d.keys:
            refused.append((i, "unknown_category", d.why_not))
        elif d.also:
            ambiguous.append(
                {"row": int(raw.rows[i]), "name": str(names[i] or ""), "categories": list(d.keys),
                 "by": d.by, "also": list(d.also)}
            )  # fmt: skip
        for key in d.keys:
            idx.append(i)
            keys_out.append(key)
    raw.keep_records([i for i, _, _ in refused])
    rejected = [rejection(raw, cols, "pois", i, r, why, names[i]) for i, r, why in refused]
    ix = np.asarray(idx, dtype=np.int64)
    return PoiCandidates(
        raw=raw,
        cols=cols,
        crs=crs,
        idx=ix,
        category=np.asarray(keys_out, dtype=object),
        name=np.asarray(names[ix], dtype=object),
        x=loc.x[ix],
        y=loc.y[ix],
        rejected=rejected,
        ambiguous=ambiguous,
    )
