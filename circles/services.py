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

# A branch or note in brackets at the end of a name: 同仁堂药店(中关村店), 万泉幼儿园（分园）.
_BRANCH = re.compile(r"\s*[（(【\[][^（）()【】\[\]]*[）)】\]]\s*$")
# Words that may follow a keyword at the end of a name without changing what the place
# is: 养老|服务中心, 美发|店, 大药房|连锁有限公司. Not a bare 站: 第一中学站 is a bus stop.
HEAD_TAIL = (
    "(?:分园|分院|分部|分校|分店|总店|旗舰店|专卖店|连锁店|连锁|有限责任公司|有限公司|公司"
    "|服务中心|服务站|服务点|服务部|驿站|站点|中心|市场|店|馆|院|室|所|部|处|点|厅|铺|坊|屋)*"
)
_BRACKETS = str.maketrans("", "", "()（）[]【】 ")

# Stops, stations and streets are named after what is near them: a metro stop 顾村公园, a
# bus stop 第一中学, a road 附中路. A rule that reads the name never finds them: these
# exclusions join every rule with ``name~`` (see :attr:`Category.match_rules`), except
# for a key the rule itself asks for (a category of stations may find them by name).
NAME_RULE_EXCLUSIONS: dict[str, tuple[str, ...]] = {
    "public_transport": ("platform", "stop_position", "station", "stop_area"),
    "railway": ("station", "halt", "stop", "platform", "tram_stop", "subway_entrance"),
    "highway": (
        "bus_stop",
        "platform",
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "unclassified",
        "residential",
        "service",
        "living_street",
        "footway",
        "path",
        "cycleway",
        "steps",
        "track",
        "road",
    ),  # fmt: skip
    "amenity": ("bus_station", "ferry_terminal", "taxi"),
}


def name_head(name: str) -> str:
    """A name without the branch in brackets at its end, where its head noun is.

    Parameters
    ----------
    name : str
        A place's name.

    Returns
    -------
    str
        ``同仁堂药店(中关村店)`` -> ``同仁堂药店``; brackets inside the name stay.
    """
    text = str(name or "").strip()
    while True:
        shorter = _BRANCH.sub("", text)
        if shorter == text or not shorter:
            return text
        text = shorter


def head_regex(pattern: str) -> re.Pattern[str]:
    """A keyword pattern that matches only at a name's head (its end).

    Parameters
    ----------
    pattern : str
        A ``name~`` regular expression or an escaped keyword.

    Returns
    -------
    re.Pattern
        Searches for ``pattern`` followed only by :data:`HEAD_TAIL` words up to the end
        (apply it to :func:`name_head`): ``第五幼儿园分园卫生站`` is a 卫生站, and no
        幼儿园.
    """
    flags = re.match(r"\(\?[aiLmsux]+\)", pattern)
    lead = flags.group(0) if flags else ""
    return re.compile(f"{lead}(?:{pattern[len(lead) :]})(?={HEAD_TAIL}$)")


def with_name_exclusions(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as it is matched: with :data:`NAME_RULE_EXCLUSIONS` when it reads the name.

    Parameters
    ----------
    rule : dict
        A tag rule.

    Returns
    -------
    dict
        ``rule`` itself without ``name~``; else a copy whose ``k!`` lists also hold the
        stop, station and street values of each key the rule does not ask for.
    """
    if "name~" not in rule:
        return rule
    out = dict(rule)
    for key, values in NAME_RULE_EXCLUSIONS.items():
        if key in rule:
            continue  # the rule asks for this key: its own value decides
        have = out.get(f"{key}!") or []
        have = list(have) if isinstance(have, list | tuple) else [have]
        out[f"{key}!"] = have + [v for v in values if v not in have]
    return out


def words_only(rule: dict[str, Any]) -> bool:
    """Whether an OSM rule finds places by their name alone (``name~`` and exclusions).

    Parameters
    ----------
    rule : dict
        A tag rule.

    Returns
    -------
    bool
        True when its only positive key is ``name~``: such a rule matches the name's head
        (:func:`head_regex`) and honours the category's ``exclude:`` words.
    """
    return "name~" in rule and all(k == "name~" or k.endswith("!") for k in rule)


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
    amap_types : tuple of str
        AMap type text paths ("医疗保健服务;诊所": 大类;中类[;小类], a prefix of a row's type)
        for tables that have the type text but not the code.
    exclude : tuple of str
        Words that rule the category out when in the name (brackets and spaces ignored):
        a 党员服务站 is no clinic. They hold for table rows (codes, types and keywords) and
        for OSM rules that go by the name alone.
    default : bool
        False for categories measured only when a standard refers to them.
    note : str
        Free text shown with the category.
    min_area_m2 : float
        A feature mapped as an area smaller than this is no service of the category
        (a 87 m² planter is no park); 0 for none. Points and table rows have no area
        and are kept.
    radius_by_area : tuple of (float, float)
        ``(min_area_m2, radius_m)`` pairs, from the largest area down: a service of at
        least that area counts only within ``radius_m`` (and within the threshold); see
        :meth:`reach_limits_m`. Empty: every service counts at every threshold.

    Notes
    -----
    :attr:`match_rules` holds the rules as they are matched: each rule with ``name~``
    also excludes stops, stations and streets (:func:`with_name_exclusions`), so that no
    rule can forget it.
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
    amap_types: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    default: bool = True
    note: str = ""
    min_area_m2: float = 0.0
    radius_by_area: tuple[tuple[float, float], ...] = ()
    match_rules: tuple[dict[str, Any], ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # Frozen: the derived fields are set once, here.
        bands = sorted(((float(a), float(r)) for a, r in self.radius_by_area), reverse=True)
        object.__setattr__(self, "radius_by_area", tuple(bands))
        object.__setattr__(self, "min_area_m2", float(self.min_area_m2 or 0.0))
        object.__setattr__(self, "match_rules", tuple(map(with_name_exclusions, self.rules)))

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
        return any(
            _rule_matches(rule, tags)
            and not (words_only(rule) and any(self.excludes(tags.get(k)) for k in _NAME_KEYS))
            for rule in self.match_rules
        )

    def reach_limits_m(self, area_m2: Any) -> Any:
        """How far services of these areas count, by :attr:`radius_by_area`.

        Parameters
        ----------
        area_m2 : array_like of float
            The services' areas (``area_m2`` of :func:`find_services`); NaN for a point
            or a table row.

        Returns
        -------
        numpy.ndarray of float
            Per service: ``inf`` without bands; else the radius of the first band (from
            the largest area down) whose area it reaches; 0 below every band (it does not
            count); for an unknown area (NaN) the smallest band's radius, since a park
            mapped as a point may be small.
        """
        import numpy as np

        area = np.asarray(area_m2, dtype=np.float64)
        if not self.radius_by_area:
            return np.full(area.shape, np.inf)
        out = np.zeros(area.shape)
        # From the smallest band up, so that the largest band an area reaches wins.
        for min_area, radius in reversed(self.radius_by_area):
            out[area >= min_area] = radius
        out[np.isnan(area)] = self.radius_by_area[-1][1]
        return out

    def excludes(self, name: str | None) -> bool:
        """Whether one of the category's ``exclude`` words is in a name.

        Parameters
        ----------
        name : str or None
            A name; brackets and spaces are ignored (党(团)员服务 is 党团员服务).

        Returns
        -------
        bool
            True when the name rules the category out.
        """
        if not name or not self.exclude:
            return False
        text = str(name).translate(_BRACKETS)
        return any(w.translate(_BRACKETS) in text for w in self.exclude)

    def word_patterns(self) -> tuple[str, ...]:
        """Regular expressions that find this category by words alone, for table rows.

        Table rows have no OSM tags, so these are the ``name~`` rules that ask for no tag
        (``k!`` exclusions are about tags a row does not have), and the ``keywords``.

        Returns
        -------
        tuple of str
            Patterns for :func:`re.search` (:func:`head_regex` makes them match at the
        name's head); keywords are escaped.
        """
        out = [rule["name~"] for rule in self.rules if words_only(rule)]
        out += [re.escape(k) for k in self.keywords]
        return tuple(out)


@cache
def _name_regex(pattern: str, head: bool) -> re.Pattern[str]:
    return head_regex(pattern) if head else re.compile(pattern)


def _name_found(pattern: re.Pattern[str], name: str | None, head: bool) -> bool:
    if not name:
        return False
    return pattern.search(name_head(name) if head else name) is not None


def _rule_matches(rule: dict[str, Any], tags: dict[str, str]) -> bool:
    head = words_only(rule)
    for key, want in rule.items():
        if key == "name~":
            pattern = _name_regex(want, head)
            if not any(_name_found(pattern, tags.get(k), head) for k in _NAME_KEYS):
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
        amap_types=tuple(str(c) for c in spec.get("amap_types") or ()),
        exclude=tuple(str(c) for c in spec.get("exclude") or ()),
        default=bool(spec.get("default", True)),
        note=spec.get("note") or "",
        min_area_m2=float(spec.get("min_area_m2") or 0.0),
        radius_by_area=tuple((float(a), float(r)) for a, r in spec.get("radius_by_area") or ()),
    )


@dataclass(frozen=True)
class Unmapped:
    """A kind of place the catalogue knows and deliberately puts in no category.

    A table row of this AMap code or type path is rejected (``unknown_category``, the
    detail says why) and is never re-read by the keywords in its name.

    Parameters
    ----------
    amap : str
        Its AMap code ('' when none).
    type_path : str
        Its AMap type text path (``医疗保健服务;急救中心``).
    zh, en : str
        Its labels.
    why : str
        Why no category measures it.
    """

    amap: str
    type_path: str
    zh: str
    en: str
    why: str


@cache
def _catalogue_yaml() -> dict[str, Any]:
    text = resources.files("circles").joinpath("data/categories.yaml").read_text("utf-8")
    return safe_load(text)


def load_unmapped() -> tuple[Unmapped, ...]:
    """The kinds of place deliberately unmapped (``_unmapped`` in ``data/categories.yaml``).

    Returns
    -------
    tuple of Unmapped
        In the order of the file; ``circles categories`` lists them.
    """
    return tuple(
        Unmapped(
            amap=str(u.get("amap") or ""),
            type_path=str(u.get("type") or ""),
            zh=str(u.get("zh") or ""),
            en=str(u.get("en") or ""),
            why=str(u.get("why") or ""),
        )
        for u in _catalogue_yaml().get("_unmapped") or ()
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
    return {
        key: category_from_spec(key, spec)
        for key, spec in _catalogue_yaml().items()
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


def areas_m2(geometry: gpd.GeoSeries) -> Any:
    """The area of each polygon in square metres; NaN for points and lines.

    Parameters
    ----------
    geometry : geopandas.GeoSeries
        Geometries in any CRS.

    Returns
    -------
    numpy.ndarray of float
        Measured in the UTM zone of the geometries (the CRS itself when it is one: the
        walking network's), where the scale error of an area is under 0.2%; NaN
        everywhere when the CRS is unknown.
    """
    import numpy as np
    import shapely

    out = np.full(len(geometry), np.nan)
    kind = shapely.get_type_id(np.asarray(geometry.values))
    is_area = (kind == 3) | (kind == 6)  # Polygon, MultiPolygon
    if not is_area.any() or geometry.crs is None:
        return out
    polygons = geometry[is_area]
    if polygons.crs.utm_zone is None:
        # Degrees have no area, and Web Mercator's metres are not metres on the ground.
        polygons = polygons.to_crs(polygons.estimate_utm_crs())
    out[is_area] = polygons.area.to_numpy(np.float64)
    return out


def find_services(features: gpd.GeoDataFrame, categories: dict[str, Category]) -> gpd.GeoDataFrame:
    """One row per (feature, category) it belongs to, located at a representative point.

    A polygon (a park, a market hall) counts at a point inside it; one smaller than its
    category's ``min_area_m2`` does not count.

    Parameters
    ----------
    features : geopandas.GeoDataFrame
        OSM features with columns name, osm_type, osm_id and tags (dicts).
    categories : dict of str to Category
        The categories to look for.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns service_id, category, name, osm_type, osm_id, area_m2 (float: a
        polygon's area in m², see :func:`areas_m2`; NaN for a point) and geometry (same
        CRS as ``features``); a feature in two categories is two rows.
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
    area: np.ndarray | None = None  # computed once, if a category has a minimum
    rows_idx: list[np.ndarray] = []
    rows_cat: list[str] = []
    for key, cat in categories.items():
        hit = np.zeros(len(tags_col), dtype=bool)
        for rule in cat.match_rules:
            ok = np.ones(len(tags_col), dtype=bool)
            head = words_only(rule)
            if head and cat.exclude:
                for col in names:
                    ok &= ~np.fromiter(map(cat.excludes, col), dtype=bool, count=len(col))
            for k, want in rule.items():
                if k == "name~":
                    pattern = _name_regex(want, head)
                    found = np.zeros(len(tags_col), dtype=bool)
                    for col in names:
                        found |= np.fromiter(
                            (_name_found(pattern, v, head) for v in col),
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
        if cat.min_area_m2 > 0 and hit.any():
            if area is None:
                area = areas_m2(features.geometry)
            hit &= ~(area < cat.min_area_m2)  # NaN (a point) is kept
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
            "area_m2": area[idx] if area is not None else areas_m2(picked.geometry),
        },
        geometry=np.asarray(geom),
        crs=features.crs,
    )
    return out
