"""What a run measures and makes: its thresholds, categories, standard and outputs.

Every entry point (a run, a plan, the server, a batch) starts by deciding its scope from
a study; the stages then take it instead of a handful of loose arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from circles.config import Study
from circles.result import Threshold
from circles.services import Category

if TYPE_CHECKING:
    from circles.standards import Standard

__all__ = ["Scope", "thresholds_of"]

# GB 50180-2018 names its circles by minutes; keep those names for its distances.
_GB_LABELS = {300.0: 5, 500.0: 10, 800.0: 15, 1000.0: 15}


def thresholds_of(study: Study) -> list[Threshold]:
    """A study's thresholds with their bilingual labels.

    Parameters
    ----------
    study : Study
        Its thresholds, as distances or as minutes at a walking speed.

    Returns
    -------
    list of Threshold
        Ascending; GB 50180-2018's distances are labelled by their minutes
        (300 m: "5分钟 (300米)", "5 min (300 m)").
    """
    out = []
    minutes = study.thresholds.minutes
    for i, d in enumerate(study.distances_m):
        m = sorted(minutes)[i] if minutes is not None else _GB_LABELS.get(d)
        if m is None:
            out.append(Threshold(d, f"{d:g}米", f"{d:g} m"))
        else:
            out.append(Threshold(d, f"{m:g}分钟 ({d:g}米)", f"{m:g} min ({d:g} m)"))
    return out


@dataclass(frozen=True)
class Scope:
    """What a run measures and makes: thresholds, categories, standard, outputs.

    Attributes
    ----------
    thresholds : list of Threshold
        Ascending.
    categories : dict of str to Category
        The study's categories plus every one its standard needs.
    standard : Standard or None
        What clusters are scored against; None without clusters or without a standard.
    clusters : bool
        Whether residence clusters are formed (they are the origins, or the run makes
        its map and report).
    tables_only : bool
        Only the reach table and the summary are made (no isochrones).
    """

    thresholds: list[Threshold]
    categories: dict[str, Category]
    standard: Standard | None
    clusters: bool
    tables_only: bool

    @classmethod
    def of(cls, study: Study, tables_only: bool = False) -> Scope:
        """The scope of a run of ``study``; a bad standard fails here, before any work.

        Parameters
        ----------
        study : Study
            The study.
        tables_only : bool
            Make only the reach table and the summary.

        Returns
        -------
        Scope
            What the run will measure.
        """
        from circles.services import load_catalogue, load_categories
        from circles.standards import load_standard

        clusters = study.reach.origins == "clusters" or not tables_only
        standard = load_standard(study.standard) if study.standard is not None else None
        catalogue = load_catalogue()
        categories = {k: catalogue[k] for k in study.categories or list(load_categories())}
        if not clusters:
            # Only clusters are scored: a tables-only surface measures just its categories.
            standard = None
        if standard is not None:
            categories.update(standard.categories)  # a standard may define its own
        return cls(thresholds_of(study), categories, standard, clusters, tables_only)

    @property
    def keys(self) -> list[str]:
        """The category keys, in the order of the engine's category axis."""
        return list(self.categories)

    @property
    def distances(self) -> list[float]:
        """The thresholds in metres, ascending."""
        return [t.distance_m for t in self.thresholds]
