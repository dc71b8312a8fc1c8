"""Project-wide constants: defaults that follow the standards, and the walking filter."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, overload

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
DEFAULT_CONFIG = PROJECT_DIR / "configs" / "nanjing-xinjiekou.yaml"

# GB 50180-2018 table 3.0.4: 5-, 10- and 15-minute life circles at 300, 500 and 800-1000 m.
DEFAULT_THRESHOLDS_M: tuple[float, ...] = (300.0, 500.0, 1000.0)

# Ways a pedestrian may use (the list; links follow their road class).
WALKABLE_HIGHWAYS: frozenset[str] = frozenset(
    {
        "footway",
        "path",
        "pedestrian",
        "steps",
        "living_street",
        "residential",
        "service",
        "unclassified",
        "tertiary",
        "tertiary_link",
        "secondary",
        "secondary_link",
        "primary",
        "primary_link",
        "track",
        "cycleway",
        "corridor",
        "road",
    }
)
# Trunk roads are walkable only where the data says so (sidewalk or foot access).
CONDITIONAL_HIGHWAYS: frozenset[str] = frozenset({"trunk", "trunk_link"})
FOOT_ALLOWED: frozenset[str] = frozenset({"yes", "designated", "permissive", "use_sidepath"})
FOOT_FORBIDDEN: frozenset[str] = frozenset({"no", "private"})
ACCESS_FORBIDDEN: frozenset[str] = frozenset({"private", "no"})


class TagLookup(Protocol):
    """Tags that can be looked up by key: a dict, or pyosmium's tag list."""

    # Two overloads, as dict.get has them: a single signature with an optional default
    # would not match dict[str, str].
    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str | None: ...


OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL 1.0)"
OSM_COPYRIGHT_URL = "https://www.openstreetmap.org/copyright"


def is_walkable(tags: TagLookup) -> bool:
    """Whether a way with these tags may be walked (in both directions).

    Parameters
    ----------
    tags : TagLookup
        A dict or anything with ``get``, such as pyosmium's tag list, which is read in
        place without copying it.

    Returns
    -------
    bool
        True for the highways of :data:`WALKABLE_HIGHWAYS`, and for trunk roads with a
        sidewalk or foot access, unless foot or general access forbids walking.
    """
    highway = tags.get("highway")
    if highway is None:
        return False
    foot = tags.get("foot")
    if foot in FOOT_FORBIDDEN:
        return False
    if tags.get("access") in ACCESS_FORBIDDEN and foot not in FOOT_ALLOWED:
        return False
    if highway in WALKABLE_HIGHWAYS:
        return True
    if highway in CONDITIONAL_HIGHWAYS:
        sidewalk = tags.get("sidewalk", "no")
        return foot in FOOT_ALLOWED or sidewalk not in ("no", "none", "separate")
    return False
