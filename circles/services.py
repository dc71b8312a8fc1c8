"""Services by category, found in OSM features by the tag rules of ``data/categories.yaml``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from circles._yaml import safe_load

if TYPE_CHECKING:
    import geopandas as gpd

_NAME_KEYS = ("name", "name:zh", "name:en")


@dataclass(frozen=True)
class Category:
    """A service category: key, bilingual labels, map style and OSM tag rules.

    Parameters
    ----------
    key : str
        Identifier used in columns (``pharmacy`` gives ``pharmacy_1000m``).
    zh, en : str
        Chinese and English labels.
    color, icon : str
        Marker colour and Font Awesome/Glyphicon name on the map.
    rules : tuple of dict
        OSM tag rules; a feature matching any rule belongs to the category. In a rule,
        ``key: value`` (or a list of values, or ``"*"``) must hold, ``key!: [values]``
        excludes, and ``name~: regex`` searches the name tags.
    amap : tuple of str
        AMap/Gaode POI type codes of the same kind of place (for users' POI tables).
    amap_note : str
        How to find the category in AMap when it has no type for it.
    codes_need_name : bool
        A code or tag alone is too broad (050000 for breakfast): the row's name or type
        must match the category's words too.
    baidu : tuple of str
        Baidu POI categories ("医疗;药店": 一级;二级, a prefix of a row's tag).
    keywords : tuple of str
        Plain words that find the category in a table row's name or type text when
        neither code nor tag does (the ``name~`` rules are tried as well).
    default : bool
        False for categories measured only when a standard refers to them.
    note : str
        Free text shown with the category.
    """

    key: str
    zh: str
    en: str
    color: str = "#555555"
    icon: str = "info-sign"
    rules: tuple[dict[str, Any], ...] = field(default=())
    amap: tuple[str, ...] = ()
    amap_note: str = ""
    codes_need_name: bool = False
    baidu: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    default: bool = True
    note: str = ""

    @property
    def label(self) -> str:
        """``"<zh> <en>"``, as maps and reports show the category."""
        return f"{self.zh} {self.en}"

    def matches(self, tags: dict[str, str]) -> bool:
        """Whether a feature with these tags belongs to this category.

        Parameters
        ----------
        tags : dict of str to str
            The feature's OSM tags.

        Returns
        -------
        bool
            True when any of the category's rules matches.
        """
        return any(_rule_matches(rule, tags) for rule in self.rules)

    def word_patterns(self) -> tuple[str, ...]:
        """Regular expressions that find this category by words alone, for table rows.

        Table rows have no OSM tags, so these are the ``name~`` rules that ask for no tag
        (``k!`` exclusions are about tags a row does not have), and the ``keywords``.

        Returns
        -------
        tuple of str
            Patterns for :func:`re.search`; keywords are escaped.
        """
        out = [
            rule["name~"]
            for rule in self.rules
            if "name~" in rule and all(k == "name~" or k.endswith("!") for k in rule)
        ]
        out += [re.escape(k) for k in self.keywords]
        return tuple(out)


def _rule_matches(rule: dict[str, Any], tags: dict[str, str]) -> bool:
    for key, want in rule.items():
        if key == "name~":
            if not any(re.search(want, tags.get(k, "")) for k in _NAME_KEYS):
                return False
        elif key.endswith("!"):
            if tags.get(key[:-1]) in want:
                return False
        else:
            have = tags.get(key)
            if have is None or have == "no":
                return False
            if want != "*" and have not in (want if isinstance(want, list) else [want]):
                return False
    return True


def feature_keys(categories: dict[str, Category]) -> tuple[str, ...] | None:
    """Tag keys of which a feature needs one to match any of these categories.

    A rule matches only a feature that has each of its keys (``k!`` exclusions aside) or,
    for ``name~``, a name; so reading just the features with one of these keys finds the
    same services.

    Parameters
    ----------
    categories : dict of str to Category
        The categories measured.

    Returns
    -------
    tuple of str or None
        Sorted tag keys; None when a rule asks for no tag at all (then every feature
        counts).
    """
    keys: set[str] = set()
    for cat in categories.values():
        for rule in cat.rules:
            wanted = {k for k in rule if not k.endswith("!")}
            if not wanted:
                return None
            keys |= set(_NAME_KEYS) if "name~" in wanted else set()
            keys |= wanted - {"name~"}
    return tuple(sorted(keys))


def _as_tag_value(v: Any) -> Any:
    """YAML 1.1 reads bare yes/no as booleans; OSM values are strings."""
    if isinstance(v, list):
        return [_as_tag_value(x) for x in v]
    if isinstance(v, bool):
        return "yes" if v else "no"
    return v if v == "*" else str(v)


def category_from_spec(key: str, spec: dict[str, Any]) -> Category:
    """A category from its YAML mapping (the layout of ``data/categories.yaml``).

    Parameters
    ----------
    key : str
        The category's key.
    spec : dict
        Its mapping: ``zh``, ``en`` and optionally the other fields of :class:`Category`.
        YAML booleans in rules (``yes``/``no``) become the OSM strings.

    Returns
    -------
    Category
        The category.

    Raises
    ------
    KeyError
        If ``zh`` or ``en`` is missing.
    """
    return Category(
        key=key,
        zh=spec["zh"],
        en=spec["en"],
        color=spec.get("color") or "#555555",
        icon=spec.get("icon") or "info-sign",
        rules=tuple(
            {k: _as_tag_value(v) for k, v in rule.items()} for rule in spec.get("rules") or ()
        ),
        amap=tuple(str(c) for c in spec.get("amap") or ()),
        amap_note=spec.get("amap_note") or "",
        codes_need_name=bool(spec.get("codes_need_name", False)),
        baidu=tuple(str(c) for c in spec.get("baidu") or ()),
        keywords=tuple(str(c) for c in spec.get("keywords") or ()),
        default=bool(spec.get("default", True)),
        note=spec.get("note") or "",
    )


@cache
def load_catalogue() -> dict[str, Category]:
    """Every category shipped with the package, including those only standards use.

    Read once per process (cached).

    Returns
    -------
    dict of str to Category
        By key, in the order of ``data/categories.yaml``.
    """
    text = resources.files("circles").joinpath("data/categories.yaml").read_text("utf-8")
    raw = safe_load(text)
    return {
        key: category_from_spec(key, spec)
        for key, spec in raw.items()
        if not key.startswith("_")  # YAML anchors shared by the rules
    }


def load_categories() -> dict[str, Category]:
    """The default categories: what a study measures unless it or its standard asks for more.

    :func:`load_catalogue` has every category, including those only a standard refers to.

    Returns
    -------
    dict of str to Category
        The categories whose ``default`` is True, by key.
    """
    return {k: c for k, c in load_catalogue().items() if c.default}


def find_services(features: gpd.GeoDataFrame, categories: dict[str, Category]) -> gpd.GeoDataFrame:
    """One row per (feature, category) it belongs to, located at a representative point.

    A polygon (a park, a market hall) counts at a point inside it.

    Parameters
    ----------
    features : geopandas.GeoDataFrame
        OSM features with columns name, osm_type, osm_id and tags (dicts).
    categories : dict of str to Category
        The categories to look for.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns service_id, category, name, osm_type, osm_id and geometry (same CRS as
        ``features``); a feature in two categories is two rows.
    """
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    # Rules are evaluated column-wise: one array of values per tag key, then set
    # membership per rule. This is Category.matches, vectorised (a test checks both agree).
    tags_col = features["tags"].tolist()
    columns: dict[str, np.ndarray] = {}

    def values(key: str) -> np.ndarray:
        if key not in columns:
            columns[key] = np.array([t.get(key) for t in tags_col], dtype=object)
        return columns[key]

    names = [values(k) for k in _NAME_KEYS]
    rows_idx: list[np.ndarray] = []
    rows_cat: list[str] = []
    for key, cat in categories.items():
        hit = np.zeros(len(tags_col), dtype=bool)
        for rule in cat.rules:
            ok = np.ones(len(tags_col), dtype=bool)
            for k, want in rule.items():
                if k == "name~":
                    pattern = re.compile(want)
                    found = np.zeros(len(tags_col), dtype=bool)
                    for col in names:
                        found |= np.fromiter(
                            (bool(v) and pattern.search(v) is not None for v in col),
                            dtype=bool,
                            count=len(col),
                        )
                    ok &= found
                elif k.endswith("!"):
                    ok &= ~np.isin(values(k[:-1]), want)
                else:
                    have = values(k)
                    ok &= (have != None) & (have != "no")  # noqa: E711 (element-wise)
                    if want != "*":
                        ok &= np.isin(have, want if isinstance(want, list) else [want])
            hit |= ok
        found_idx = np.flatnonzero(hit)
        rows_idx.append(found_idx)
        rows_cat.extend([key] * len(found_idx))
    idx = np.asarray(
        np.concatenate(rows_idx) if rows_idx else np.zeros(0, dtype=np.int64), dtype=np.int64
    )
    picked = features.iloc[idx]
    geom = picked.geometry.representative_point() if len(picked) else picked.geometry
    out = gpd.GeoDataFrame(
        {
            "service_id": np.arange(len(idx)),
            "category": pd.Series(rows_cat, dtype="string"),
            "name": picked["name"].to_numpy(),
            "osm_type": picked["osm_type"].to_numpy(),
            "osm_id": picked["osm_id"].to_numpy(),
        },
        geometry=np.asarray(geom),
        crs=features.crs,
    )
    return out
