"""Colours of the map: category layers told apart in CIELAB, and the walking-area blues.

Category colours come from a YAML catalogue and may be invalid or too alike; a category
whose colour is too close to an earlier one's takes the candidate colour farthest from all
colours used so far, so that each layer keeps a colour of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from circles.result import StudyResult, Threshold

__all__ = ["BLIND", "category_colors", "isochrone_colors", "safe_color", "to_lab"]

BLIND = "#b2182b"  # outline of a blind spot (a cluster missing at least one category)
_ISO_DARK = (8, 81, 156)  # smallest walking area
_ISO_LIGHT = (158, 202, 225)  # largest walking area
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")

# Candidate colours for categories whose catalogue colours are too alike: a 6-level RGB
# cube without the lightest (invisible on a light basemap) and the greys.
_LEVELS = ("00", "33", "66", "99", "cc", "ff")
_CANDIDATES = [
    f"#{r}{g}{b}"
    for r in _LEVELS
    for g in _LEVELS
    for b in _LEVELS
    if not (r == g == b) and (int(r, 16) + int(g, 16) + int(b, 16)) < 600
]
_MIN_DELTA_E = 20.0


def safe_color(value: Any, fallback: str = "#555555") -> str:
    """A ``#rrggbb`` colour; anything else (it comes from a YAML file) is replaced.

    Parameters
    ----------
    value : Any
        A colour from a catalogue.
    fallback : str
        The colour used instead of an invalid one.

    Returns
    -------
    str
        ``value`` when it is ``#rrggbb``, else ``fallback``.
    """
    return value if isinstance(value, str) and _HEX.match(value) else fallback


def to_lab(hex_colors: list[str]) -> np.ndarray:
    """CIELAB coordinates (D65) of ``#rrggbb`` colours: distances there match the eye.

    Parameters
    ----------
    hex_colors : list of str
        Colours as ``#rrggbb``.

    Returns
    -------
    numpy.ndarray
        One row (L*, a*, b*) per colour.
    """
    rgb = np.array([[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] for c in hex_colors])
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ np.array(
        [[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]]
    )
    xyz /= np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.column_stack(
        [116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])]
    )


def category_colors(result: StudyResult) -> dict[str, str]:
    """A distinct colour per category.

    The catalogue's colour, unless it is too close (in CIELAB) to an earlier category's;
    such a category takes the candidate colour farthest from every colour already used,
    so that each layer keeps a colour of its own.

    Parameters
    ----------
    result : StudyResult
        A study result; its categories are coloured in catalogue order.

    Returns
    -------
    dict
        ``{category key: "#rrggbb"}``.
    """
    out: dict[str, str] = {}
    cand_lab = to_lab(_CANDIDATES)
    for key, cat in result.categories.items():
        color = safe_color(cat.color)
        if out:
            used = to_lab(list(out.values()))
            if np.linalg.norm(used - to_lab([color])[0], axis=1).min() < _MIN_DELTA_E:
                gap = np.linalg.norm(cand_lab[:, None, :] - used[None, :, :], axis=2).min(axis=1)
                color = _CANDIDATES[int(np.argmax(gap))]
        out[key] = color
    return out


def _blues(n: int) -> list[str]:
    """Blues from dark (first) to light (last)."""
    out = []
    for i in range(n):
        f = 0.0 if n == 1 else i / (n - 1)
        rgb = [round(a + (b - a) * f) for a, b in zip(_ISO_DARK, _ISO_LIGHT, strict=True)]
        out.append("#{:02x}{:02x}{:02x}".format(*rgb))
    return out


def isochrone_colors(thresholds: Iterable[Threshold]) -> dict[float, str]:
    """The walking areas' colours: dark blue for the smallest threshold, light for the largest.

    Parameters
    ----------
    thresholds : iterable of Threshold
        The study's thresholds, in any order.

    Returns
    -------
    dict
        ``{distance in metres: "#rrggbb"}``.
    """
    ordered = sorted(thresholds, key=lambda t: t.distance_m)
    return {float(t.distance_m): c for t, c in zip(ordered, _blues(len(ordered)), strict=True)}
