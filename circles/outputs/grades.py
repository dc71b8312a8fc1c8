"""Colour classes of residential areas on the map, and the standard's grade of each.

Without scores, a cluster's class is the share of the service categories with data that it
reaches within the largest threshold, cut where the standards' grades A-E are cut. With a
:mod:`circles.scoring` score, the class is the standard's grade itself (A is the first
class, and so on).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from circles.outputs.embed import escape_text
from circles.result import StudyResult
from circles.values import as_number

__all__ = [
    "CLASSES",
    "UNUSED",
    "class_index",
    "cluster_grades",
    "grade_classes",
    "grade_meaning",
    "scored_level",
]

# (lowest share, colour, Chinese label, English label), best class first.
CLASSES: tuple[tuple[float, str, str, str], ...] = (
    (1.0, "#1a9850", "全部都能到达", "all reachable"),
    (0.8, "#a6d96a", "能到达八成以上", "80% or more reachable"),
    (0.6, "#fee08b", "能到达六至八成", "60–80% reachable"),
    (0.4, "#fc8d59", "能到达四至六成", "40–60% reachable"),
    (0.0, "#d73027", "不到四成", "under 40% reachable"),
)
UNUSED = ("#bdbdbd", "未接入步行网络", "not connected to the walking network")
_GRADE_COLUMNS = ("grade", "level", "score_grade")


def class_index(reached: int, n: int) -> int:
    """The colour class of a cluster that reaches ``reached`` of ``n`` categories.

    Parameters
    ----------
    reached : int
        Categories with data reached within the largest threshold.
    n : int
        Categories with data; with none, every cluster is in the first class.

    Returns
    -------
    int
        An index into :data:`CLASSES`.
    """
    share = 1.0 if n == 0 else reached / n
    for i, (low, *_rest) in enumerate(CLASSES):
        if share >= low - 1e-9:
            return i
    return len(CLASSES) - 1


def scored_level(result: StudyResult) -> tuple[Any, Any] | None:
    """The standard and its largest level, when ``result.scores`` is a scoring result.

    Parameters
    ----------
    result : StudyResult
        The study; scored or not.

    Returns
    -------
    tuple or None
        ``(standard, level)`` when ``result.scores`` is a :mod:`circles.scoring` score with
        a grade column for every cluster at the largest level; None otherwise.
    """
    scores = getattr(result, "scores", None)
    std = getattr(scores, "standard", None)
    table = getattr(scores, "table", None)
    levels = getattr(std, "levels", None)
    if not levels or not isinstance(table, pd.DataFrame):
        return None
    top = max(levels, key=lambda lv: float(getattr(lv, "distance_m", 0) or 0))
    assert result.clusters is not None  # only clusters are scored (pipeline._score)
    if f"std_{top.key}_grade" not in table.columns or len(table) != len(result.clusters):
        return None
    return std, top


def grade_meaning(std: Any, grade: Any) -> str:
    """What a grade of a standard means, in Chinese and English (plain text, not escaped).

    Parameters
    ----------
    std : Any
        A standard with ``grades`` (each with ``grade``, ``zh`` and ``en``).
    grade : Any
        A grade, such as ``"A"``.

    Returns
    -------
    str
        For example ``"达标 meets"``; empty for an unknown grade.
    """
    for g in getattr(std, "grades", ()) or ():
        if str(getattr(g, "grade", "")) == str(grade):
            return " ".join(x for x in (getattr(g, "zh", ""), getattr(g, "en", "")) if x)
    return ""


def cluster_grades(result: StudyResult) -> dict[str, str]:
    """The standard's grade of each cluster (escaped text), by cluster id, when scored.

    With a :mod:`circles.scoring` result (``result.scores``): the grade at the standard's
    largest level (the 15-minute circle), its meaning and the completeness share. Otherwise
    a ``grade`` (or ``level``) column of a ``result.scores`` table or of the clusters.

    Parameters
    ----------
    result : StudyResult
        The study whose clusters are graded, scored or not.

    Returns
    -------
    dict
        ``{cluster id: escaped grade text}``; empty when there are no scores: the map
        works without them.
    """
    scored = scored_level(result)
    if scored is not None:
        std, top = scored
        # scored_level found a scores table and clusters of the same length.
        assert result.scores is not None and result.clusters is not None
        table = result.scores.table
        ids = result.clusters["cluster_id"].astype(str).tolist()
        comp = table.get(f"std_{top.key}_completeness")
        out: dict[str, str] = {}
        for i, grade in enumerate(table[f"std_{top.key}_grade"]):
            if not escape_text(grade):
                continue
            parts = [escape_text(grade), escape_text(grade_meaning(std, grade))]
            share = as_number(comp.iloc[i], 4) if comp is not None else None
            if share is not None:
                parts.append(f"{share * 100:.0f}%")
            out[ids[i]] = " · ".join(p for p in parts if p)
        return out
    candidates = []
    scores = getattr(result, "scores", None)
    if isinstance(scores, pd.DataFrame):
        candidates.append(scores)
    candidates.append(result.clusters)
    for frame in candidates:
        if "cluster_id" not in frame.columns:
            continue
        for col in _GRADE_COLUMNS:
            if col in frame.columns:
                out = {}
                for cid, grade in zip(frame["cluster_id"], frame[col], strict=True):
                    text = escape_text(grade)
                    if text:
                        out[str(cid)] = text
                return out
    return {}


def grade_classes(result: StudyResult) -> dict[str, int]:
    """Colour class of each scored cluster: the index of its grade (A first), at most 4.

    Parameters
    ----------
    result : StudyResult
        The study whose clusters are classed, scored or not.

    Returns
    -------
    dict
        ``{cluster id: index into CLASSES}``; empty without a :mod:`circles.scoring` score.
    """
    scored = scored_level(result)
    if scored is None:
        return {}
    std, top = scored
    order = {str(g.grade): i for i, g in enumerate(getattr(std, "grades", ()) or ())}
    # scored_level found a scores table and clusters of the same length.
    assert result.scores is not None and result.clusters is not None
    ids = result.clusters["cluster_id"].astype(str).tolist()
    out: dict[str, int] = {}
    for i, grade in enumerate(result.scores.table[f"std_{top.key}_grade"]):
        if escape_text(grade) and str(grade) in order:
            out[ids[i]] = min(order[str(grade)], len(CLASSES) - 1)
    return out
