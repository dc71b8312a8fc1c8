"""Planning standards as data: levels, walking distances, required and optional facilities.

Each built-in standard is a YAML file in this folder (shipped with the package):

- ``gb50180-2018``: GB 50180-2018 城市居住区规划设计标准 (15-, 10-, 5-minute circles and
  the residential block, appendix B);
- ``mofcom-2021``: 城市一刻钟便民生活圈建设指南 (2021) and the 2023-2025 action plan;
- ``complete-community-2020``: 完整居住社区建设标准（试行）(建科规〔2020〕7号).

A standard names service categories by their key in ``circles/data/categories.yaml``, so the
OSM tag rules and AMap codes live in one catalogue that every standard shares; a standard
file may add or override categories under ``categories:``. A user's file can start from a
built-in one with ``extends: gb50180-2018`` and change only what differs: mappings are
merged key by key, lists and values replace, and ``null`` removes an entry::

    extends: gb50180-2018
    key: nanjing-local
    levels:
      block:
        requirements:
          convenience: {distance_m: 500}   # a local rule: a convenience store within 500 m

Errors in a file raise :class:`StandardError` with one line naming the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from circles._errors import CirclesError
from circles._yaml import safe_load
from circles.services import Category, category_from_spec, load_catalogue

DEFAULT_STANDARD = "gb50180-2018"
_KEY = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_MAX_EXTENDS = 8

__all__ = [
    "DEFAULT_STANDARD",
    "Grade",
    "Indicator",
    "Level",
    "NotAssessed",
    "Requirement",
    "Standard",
    "StandardError",
    "builtin_names",
    "is_path_like",
    "load_standard",
    "standard_from_dict",
]


class StandardError(CirclesError):
    """A standard is unknown, or its file is missing or malformed."""


# ---------------------------------------------------------------------------------------
# The file layout (validated with pydantic; unknown fields are errors, so typos show up)
# ---------------------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Bilingual(_Spec):
    zh: str
    en: str


class _Source(_Spec):
    document: str
    number: str
    year: int
    issuer: str | None = None
    clauses: list[str] = Field(default_factory=list)
    url: str | None = None
    related: list[str] = Field(default_factory=list)


class _Grade(_Spec):
    grade: str = Field(min_length=1, max_length=3)
    min_share: float = Field(ge=0.0, le=1.0)
    zh: str = ""
    en: str = ""


class _Requirement(_Spec):
    category: str | None = None
    any_of: list[str] | None = None
    all_of: list[str] | None = None
    required: bool = True
    item: str = ""
    group: str | None = None
    zh: str | None = None
    en: str | None = None
    distance_m: float | None = Field(None, gt=0)
    clause: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> _Requirement:
        given = [k for k in ("category", "any_of", "all_of") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of category, any_of, all_of (got {', '.join(given)})")
        for k in ("any_of", "all_of"):
            if getattr(self, k) is not None and not getattr(self, k):
                raise ValueError(f"{k} must list at least one category")
        return self


class _NotAssessed(_Spec):
    item: str
    required: bool = True
    group: str | None = None
    reason: str
    clause: str | None = None


class _Level(_Spec):
    zh: str
    en: str
    distance_m: float = Field(gt=0)
    distance_note: str | None = None
    population: tuple[int, int] | None = None
    includes: list[str] = Field(default_factory=list)
    clause: str | None = None
    requirements: dict[str, _Requirement | None] = Field(default_factory=dict)
    not_assessed: list[_NotAssessed] = Field(default_factory=list)


class _Indicator(_Spec):
    zh: str
    en: str
    levels: list[str] | None = None
    level: str | None = None
    requirements: list[str] | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _kind(self) -> _Indicator:
        if self.levels is not None and (self.level is not None or self.requirements):
            raise ValueError("give either levels (complete levels) or level and requirements")
        if self.levels is None and (self.level is None or not self.requirements):
            raise ValueError("give levels, or a level and its requirements")
        return self


class _Category(_Spec):
    zh: str
    en: str
    color: str | None = None
    icon: str | None = None
    rules: list[dict[str, Any]] = Field(min_length=1)
    amap: list[str] = Field(default_factory=list)
    amap_note: str | None = None
    note: str | None = None
    default: bool = False


class _Standard(_Spec):
    key: str = Field(pattern=_KEY)
    extends: str | None = None
    title: _Bilingual
    summary: _Bilingual | None = None
    source: _Source
    grades: list[_Grade] = Field(min_length=1)
    levels: dict[str, _Level | None] = Field(min_length=1)
    indicators: dict[str, _Indicator | None] = Field(default_factory=dict)
    categories: dict[str, _Category] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------
# The resolved standard
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grade:
    """A grade (A-E) and the smallest completeness share that earns it."""

    grade: str
    min_share: float
    zh: str = ""
    en: str = ""


@dataclass(frozen=True)
class Requirement:
    """A facility a level asks for, measured by one or more categories.

    ``match`` is ``one`` (a single category), ``any`` (reached when any of ``categories`` is
    within ``distance_m``) or ``all`` (every one of them must be).
    """

    key: str
    zh: str
    en: str
    categories: tuple[str, ...]
    match: Literal["one", "any", "all"]
    required: bool
    distance_m: float
    item: str = ""
    group: str = ""
    clause: str = ""
    note: str = ""

    @property
    def mark(self) -> str:
        """● for a facility that must be provided, ○ for an optional one."""
        return "●" if self.required else "○"

    @property
    def label(self) -> str:
        return f"{self.zh} {self.en}"


@dataclass(frozen=True)
class NotAssessed:
    """A facility of the document that location data cannot measure, and why."""

    item: str
    required: bool
    reason: str
    group: str = ""
    clause: str = ""

    @property
    def mark(self) -> str:
        return "●" if self.required else "○"


@dataclass(frozen=True)
class Level:
    """One level of a standard (a 15-minute circle, say) with its walking distance."""

    key: str
    zh: str
    en: str
    distance_m: float
    requirements: tuple[Requirement, ...]
    includes: tuple[str, ...] = ()
    not_assessed: tuple[NotAssessed, ...] = ()
    distance_note: str = ""
    population: tuple[int, int] | None = None
    clause: str = ""

    @property
    def label(self) -> str:
        return f"{self.zh} {self.en} ({self.distance_m:g} m)"

    @property
    def required(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if r.required)

    @property
    def optional(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if not r.required)

    def requirement(self, key: str) -> Requirement:
        for r in self.requirements:
            if r.key == key:
                return r
        raise KeyError(key)


@dataclass(frozen=True)
class Indicator:
    """A district indicator: complete levels, or the requirements of one level all met."""

    key: str
    zh: str
    en: str
    levels: tuple[str, ...] = ()
    level: str = ""
    requirements: tuple[str, ...] = ()
    note: str = ""

    @property
    def is_complete(self) -> bool:
        return bool(self.levels)


@dataclass(frozen=True)
class Standard:
    """A resolved standard: levels from the largest distance down, and its categories."""

    key: str
    title_zh: str
    title_en: str
    source: dict[str, Any]
    grades: tuple[Grade, ...]
    levels: tuple[Level, ...]
    indicators: tuple[Indicator, ...]
    categories: dict[str, Category]
    summary_zh: str = ""
    summary_en: str = ""
    notes: tuple[str, ...] = ()
    origin: str = "built-in"
    extends: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def title(self) -> str:
        return f"{self.title_zh} {self.title_en}"

    @property
    def citation(self) -> str:
        """The document, its number and year: what a reader needs to look it up."""
        s = self.source
        return f"{s['document']} ({s['number']}, {s['year']})"

    def describe(self) -> dict[str, Any]:
        """What summary.json says about the standard (``title`` is one display line)."""
        return {
            "key": self.key,
            "title": f"{self.title_zh} {self.title_en} ({self.source['number']})",
            "zh": self.title_zh,
            "en": self.title_en,
            "number": self.source["number"],
            "year": self.source["year"],
            "origin": self.origin,
            "extends": list(self.extends),
        }

    def level(self, key: str) -> Level:
        for lv in self.levels:
            if lv.key == key:
                return lv
        raise KeyError(key)

    def category_keys(self) -> list[str]:
        """Every category a requirement of the standard refers to, in first-use order."""
        seen: dict[str, None] = {}
        for lv in self.levels:
            for r in lv.requirements:
                for c in r.categories:
                    seen.setdefault(c, None)
        return list(seen)

    def chain(self, key: str) -> list[str]:
        """The level and every level it includes (directly or not), in order."""
        out: list[str] = []
        todo = [key]
        while todo:
            k = todo.pop(0)
            if k not in out:
                out.append(k)
                todo.extend(self.level(k).includes)
        return out

    def grade_of(self, share: float | None) -> str | None:
        """The grade of a completeness share; None for an unknown share."""
        if share is None or share != share:  # NaN
            return None
        for g in self.grades:
            if share >= g.min_share - 1e-9:
                return g.grade
        return self.grades[-1].grade


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def _builtin_dir():
    return resources.files("circles").joinpath("standards")


@cache
def builtin_names() -> tuple[str, ...]:
    """The names of the standards shipped with the package."""
    names = [p.name[: -len(".yaml")] for p in _builtin_dir().iterdir() if p.name.endswith(".yaml")]
    return tuple(sorted(names))


def is_path_like(text: str) -> bool:
    """Whether a ``standard:`` value names a file rather than a built-in standard."""
    return text.lower().endswith((".yaml", ".yml")) or "/" in text or "\\" in text


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        raw = safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise StandardError(
            f"{where}{at}: not valid YAML ({problem}); fix the file or start from "
            "`circles standards show gb50180-2018`"
        ) from None
    if not isinstance(raw, dict):
        raise StandardError(
            f"{where}: a standard must be a mapping of fields (key, title, levels, ...), "
            "e.g. 'extends: gb50180-2018'"
        )
    return raw


def _builtin_raw(name: str) -> dict[str, Any]:
    text = _builtin_dir().joinpath(f"{name}.yaml").read_text("utf-8")
    return _read_yaml(text, f"built-in standard {name}")


def _merge(base: Any, over: Any) -> Any:
    """``over`` laid onto ``base``: mappings merge key by key, None deletes, others replace."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = _merge(base.get(k), v)
        return out
    return over


def _unknown_message(name: str) -> str:
    return (
        f"unknown standard '{name}': built-in standards are {', '.join(builtin_names())}; "
        "or give the path of a .yaml file (see `circles standards list`)"
    )


def _resolve_raw(
    spec: str | Path, base_dir: Path | None, seen: tuple[str, ...]
) -> tuple[dict[str, Any], str, tuple[str, ...]]:
    """The raw mapping of a standard with its ``extends`` chain merged in."""
    text = str(spec)
    if len(seen) > _MAX_EXTENDS:
        raise StandardError(f"{seen[0]}: 'extends' goes deeper than {_MAX_EXTENDS} files")
    if not is_path_like(text):
        if text not in builtin_names():
            raise StandardError(_unknown_message(text))
        raw, where, parents = _builtin_raw(text), f"built-in standard {text}", ()
    else:
        path = Path(text)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise StandardError(
                f"standard file not found: {path} (give the path of a standard .yaml, "
                "or a built-in name: " + ", ".join(builtin_names()) + ")"
            )
        where = str(path)
        if where in seen:
            raise StandardError(f"{where}: 'extends' loops back to itself")
        raw = _read_yaml(path.read_text(encoding="utf-8"), where)
        base_dir, parents = path.parent, ()
        raw.setdefault("key", re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-.") or "custom")
    parent = raw.get("extends")
    if parent is not None:
        if not isinstance(parent, str):
            raise StandardError(f"{where}: field 'extends': give the name or path of a standard")
        base_raw, base_where, grand = _resolve_raw(parent, base_dir, (*seen, where))
        own = {k: v for k, v in raw.items() if k != "extends"}
        if "title" not in own and isinstance(base_raw.get("title"), dict):
            # A variant must not pass for the document it starts from.
            t = base_raw["title"]
            own["title"] = {
                "zh": f"{t.get('zh', '')}（地方修订 {own['key']}）",
                "en": f"{t.get('en', '')} (local variant {own['key']})",
            }
        raw = _merge(base_raw, own)
        parents = (base_where, *grand)
    return raw, where, parents


def load_standard(spec: str | Path = DEFAULT_STANDARD, base_dir: Path | None = None) -> Standard:
    """A built-in standard by name, or a standard file (relative paths from ``base_dir``)."""
    raw, where, parents = _resolve_raw(spec, base_dir, ())
    return standard_from_dict(raw, origin=where, extends=parents)


def standard_from_dict(
    raw: dict[str, Any], origin: str = "standard", extends: tuple[str, ...] = ()
) -> Standard:
    """Validate a standard's mapping and resolve it against the category catalogue."""
    raw = {k: v for k, v in raw.items() if k != "extends"}
    try:
        spec = _Standard.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = first["msg"].removeprefix("Value error, ")
        more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
        raise StandardError(
            f"{origin}: field '{loc}': {msg}{more} "
            "(see `circles standards show gb50180-2018` for the layout)"
        ) from None
    return _resolve(spec, origin, extends, raw)


def _fail(origin: str, what: str) -> StandardError:
    return StandardError(f"{origin}: {what}")


def _resolve(
    spec: _Standard, origin: str, extends: tuple[str, ...], raw: dict[str, Any]
) -> Standard:
    catalogue = dict(load_catalogue())
    for key, cat in spec.categories.items():
        if not re.match(_KEY, key):
            raise _fail(origin, f"category key '{key}' must use letters, digits, - _ .")
        catalogue[key] = category_from_spec(key, cat.model_dump())

    levels: list[Level] = []
    level_specs = {k: v for k, v in spec.levels.items() if v is not None}
    if not level_specs:
        raise _fail(origin, "field 'levels': a standard needs at least one level")
    for lkey, lv in level_specs.items():
        if not re.match(_KEY, lkey):
            raise _fail(origin, f"level key '{lkey}' must use letters, digits, - _ .")
        for inc in lv.includes:
            if inc not in level_specs:
                raise _fail(
                    origin,
                    f"field 'levels.{lkey}.includes': unknown level '{inc}' "
                    f"(levels: {', '.join(level_specs)})",
                )
        reqs: list[Requirement] = []
        for rkey, r in lv.requirements.items():
            if r is None:
                continue
            where = f"field 'levels.{lkey}.requirements.{rkey}'"
            if r.any_of is not None:
                cats, match = tuple(r.any_of), "any"
            elif r.all_of is not None:
                cats, match = tuple(r.all_of), "all"
            else:
                cats, match = (r.category or rkey,), "one"
            for c in cats:
                if c not in catalogue:
                    raise _fail(
                        origin,
                        f"{where}: unknown category '{c}' (see `circles categories`, or define "
                        "it under 'categories:' with zh, en and rules)",
                    )
            first = catalogue[cats[0]]
            reqs.append(
                Requirement(
                    key=rkey,
                    zh=r.zh
                    or (first.zh if match == "one" else " / ".join(catalogue[c].zh for c in cats)),
                    en=r.en
                    or (first.en if match == "one" else " / ".join(catalogue[c].en for c in cats)),
                    categories=cats,
                    match=match,  # type: ignore[arg-type]
                    required=r.required,
                    distance_m=float(r.distance_m or lv.distance_m),
                    item=r.item,
                    group=r.group or "",
                    clause=r.clause or lv.clause or "",
                    note=r.note or "",
                )
            )
        levels.append(
            Level(
                key=lkey,
                zh=lv.zh,
                en=lv.en,
                distance_m=float(lv.distance_m),
                requirements=tuple(reqs),
                includes=tuple(lv.includes),
                not_assessed=tuple(
                    NotAssessed(
                        item=n.item,
                        required=n.required,
                        reason=n.reason,
                        group=n.group or "",
                        clause=n.clause or "",
                    )
                    for n in lv.not_assessed
                ),
                distance_note=lv.distance_note or "",
                population=tuple(lv.population) if lv.population else None,  # type: ignore[arg-type]
                clause=lv.clause or "",
            )
        )
    # Largest distance first (stable for ties), as the documents list them.
    order = {lv.key: i for i, lv in enumerate(levels)}
    levels.sort(key=lambda lv: (-lv.distance_m, order[lv.key]))
    _check_no_cycle(levels, origin)

    grades = sorted(
        (Grade(g.grade, g.min_share, g.zh, g.en) for g in spec.grades),
        key=lambda g: -g.min_share,
    )
    if grades[-1].min_share > 0:
        raise _fail(origin, "field 'grades': the lowest grade must have min_share: 0")

    by_key = {lv.key: lv for lv in levels}
    indicators: list[Indicator] = []
    for ikey, ind in spec.indicators.items():
        if ind is None:
            continue
        where = f"field 'indicators.{ikey}'"
        if ind.levels is not None:
            for lk in ind.levels:
                if lk not in by_key:
                    raise _fail(origin, f"{where}: unknown level '{lk}'")
            indicators.append(
                Indicator(ikey, ind.zh, ind.en, levels=tuple(ind.levels), note=ind.note or "")
            )
            continue
        if ind.level not in by_key:
            raise _fail(origin, f"{where}: unknown level '{ind.level}'")
        rkeys = {r.key for r in by_key[ind.level].requirements}
        for rk in ind.requirements or ():
            if rk not in rkeys:
                raise _fail(
                    origin,
                    f"{where}: level '{ind.level}' has no requirement '{rk}' "
                    f"(it has: {', '.join(sorted(rkeys))})",
                )
        indicators.append(
            Indicator(
                ikey,
                ind.zh,
                ind.en,
                level=ind.level or "",
                requirements=tuple(ind.requirements or ()),
                note=ind.note or "",
            )
        )

    standard = Standard(
        key=spec.key,
        title_zh=spec.title.zh,
        title_en=spec.title.en,
        source=spec.source.model_dump(),
        grades=tuple(grades),
        levels=tuple(levels),
        indicators=tuple(indicators),
        categories={},
        summary_zh=spec.summary.zh if spec.summary else "",
        summary_en=spec.summary.en if spec.summary else "",
        notes=tuple(spec.notes),
        origin=origin,
        extends=extends,
        raw=raw,
    )
    cats = {k: catalogue[k] for k in standard.category_keys()}
    object.__setattr__(standard, "categories", cats)
    return standard


def _check_no_cycle(levels: list[Level], origin: str) -> None:
    by_key = {lv.key: lv for lv in levels}
    state: dict[str, int] = {}

    def visit(k: str, path: tuple[str, ...]) -> None:
        if state.get(k) == 2:
            return
        if state.get(k) == 1:
            raise _fail(origin, f"levels include each other in a loop: {' -> '.join((*path, k))}")
        state[k] = 1
        for inc in by_key[k].includes:
            visit(inc, (*path, k))
        state[k] = 2

    for lv in levels:
        visit(lv.key, ())
