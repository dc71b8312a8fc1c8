"""The models of a standard: the layout of its YAML file, validated into the public types.

One set of frozen pydantic models is both what a standard file may say and what the rest of
the package reads. A file writes levels, requirements and indicators as mappings by key
(``null`` leaves an entry out); the models hold them as tuples in the document's order,
each entry with its ``key``. Unknown fields are errors, so typos show up.

What one entry cannot check alone, the model that holds it checks:

- a requirement's categories exist in the category catalogue, which validation takes from
  the context ``{"catalogue": {key: Category}}`` (:func:`validation_context` adds the
  file's own categories; without a context, the built-in catalogue); its labels default to
  its categories' labels;
- a requirement without a distance or a clause takes its level's;
- a level includes only levels of the standard, and never in a loop; levels are sorted from
  the largest distance down;
- an indicator refers to levels and requirements that exist; the lowest grade starts at 0.

A failed cross-field check is an error of type :data:`CHECK_ERROR` (see :func:`invalid`)
whose message is complete; the loader turns the first error into one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Protocol, TypeVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from circles.services import Category, category_from_spec, load_catalogue

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
CHECK_ERROR = "standard"

__all__ = [
    "CHECK_ERROR",
    "KEY_PATTERN",
    "Bilingual",
    "CategorySpec",
    "Grade",
    "Indicator",
    "Level",
    "NotAssessed",
    "Requirement",
    "Source",
    "Standard",
    "invalid",
    "validation_context",
]


def invalid(message: str, at: tuple[str, ...] = ()) -> PydanticCustomError:
    """The error a cross-field check raises.

    Parameters
    ----------
    message : str
        The whole message, shown as it is (no layout hint is added).
    at : tuple of str
        Where below the validated field the mistake is (``("block", "includes")`` under
        ``levels``); empty for the field itself.

    Returns
    -------
    pydantic_core.PydanticCustomError
        An error of type :data:`CHECK_ERROR` with ``message`` and ``at`` in its context.
    """
    return PydanticCustomError(CHECK_ERROR, "{message}", {"message": message, "at": at})


def _key_check(kind: str) -> BeforeValidator:
    def check(key: Any) -> Any:
        if isinstance(key, str) and not re.match(KEY_PATTERN, key):
            raise invalid(f"{kind} key '{key}' must use letters, digits, - _ .")
        return key

    return BeforeValidator(check)


# ``null`` in a file means "not given": an empty text, an empty list.
_Text = Annotated[str, BeforeValidator(lambda v: "" if v is None else v)]
_Names = Annotated[tuple[str, ...], BeforeValidator(lambda v: () if v is None else v)]
_CategoryKey = Annotated[str, _key_check("category")]


class _ByKey:
    """Annotation of a tuple of models that a file writes as a mapping by key.

    ``levels: {block: {...}, 15min: null}`` becomes ``(Level(key="block", ...),)``: each
    entry gets its mapping key as ``key`` before it is validated, so that an error names
    ``levels.block.distance_m``; ``null`` entries are left out.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        entry = core_schema.nullable_schema(handler.generate_schema(get_args(source)[0]))
        mapping = core_schema.dict_schema(core_schema.str_schema(), entry)
        return core_schema.no_info_after_validator_function(
            lambda entries: tuple(v for v in entries.values() if v is not None),
            core_schema.no_info_before_validator_function(_with_keys, mapping),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda items: {x.key: x for x in items}
            ),
        )


def _with_keys(entries: Any) -> Any:
    if not isinstance(entries, dict):
        return entries  # the mapping schema says what is wrong
    return {k: {**v, "key": k} if isinstance(v, dict) else v for k, v in entries.items()}


class _AsMapping:
    """Annotation of a plain mapping validated by a model (``Standard.source``)."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            lambda m: m.model_dump(),
            handler.generate_schema(self.model),
            serialization=core_schema.plain_serializer_function_ser_schema(dict),
        )


def _catalogue(info: ValidationInfo) -> Mapping[str, Category]:
    return (info.context or {}).get("catalogue") or load_catalogue()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


_Entry = TypeVar("_Entry", bound=_Keyed)


# ---------------------------------------------------------------------------------------
# Parts of the file
# ---------------------------------------------------------------------------------------


class Bilingual(_Model):
    """A text in Chinese and English (a standard's ``title`` and ``summary``).

    Attributes
    ----------
    zh, en : str
        The text in each language.
    """

    zh: str
    en: str


class Source(_Model):
    """The document a standard follows (``Standard.source`` holds it as a mapping).

    Attributes
    ----------
    document, number : str
        Its title and number (``GB 50180-2018``).
    year : int
        The year it was issued.
    issuer, url : str or None
        Who issued it and where to read it.
    clauses, related : list of str
        The clauses the standard quotes, and related documents.
    """

    document: str
    number: str
    year: int
    issuer: str | None = None
    clauses: list[str] = Field(default_factory=list)
    url: str | None = None
    related: list[str] = Field(default_factory=list)


class CategorySpec(_Model):
    """A service category a standard file defines under ``categories:``.

    The layout of ``circles/data/categories.yaml``; see :class:`circles.services.Category`.
    A category defined by a standard is measured only when a standard refers to it
    (``default`` False). ``min_area_m2`` drops features mapped as smaller areas;
    ``radius_by_area`` lists ``[min_area_m2, radius_m]`` pairs (any order; kept from the
    largest area down), two different areas each.
    """

    zh: str
    en: str
    color: str | None = None
    icon: str | None = None
    rules: list[dict[str, Any]] = Field(min_length=1)
    amap: list[str] = Field(default_factory=list)
    amap_note: str | None = None
    note: str | None = None
    default: bool = False
    min_area_m2: float = Field(0.0, ge=0, allow_inf_nan=False)
    radius_by_area: list[
        tuple[
            Annotated[float, Field(ge=0, allow_inf_nan=False)],
            Annotated[float, Field(gt=0, allow_inf_nan=False)],
        ]
    ] = Field(default_factory=list)

    @field_validator("radius_by_area")
    @classmethod
    def _distinct_areas(cls, bands: list[tuple[float, float]]) -> list[tuple[float, float]]:
        areas = [a for a, _ in bands]
        if len(set(areas)) < len(areas):
            raise invalid("give each min_area_m2 once in radius_by_area ([min_area_m2, radius_m])")
        return sorted(bands, reverse=True)

    def category(self, key: str) -> Category:
        """The category this defines.

        Parameters
        ----------
        key : str
            Its key under ``categories:``.

        Returns
        -------
        circles.services.Category
        """
        return category_from_spec(key, self.model_dump())


class _OwnCategories(BaseModel):
    model_config = ConfigDict(extra="ignore")
    categories: dict[_CategoryKey, CategorySpec] = Field(default_factory=dict)


def validation_context(raw: Mapping[str, Any], **more: Any) -> dict[str, Any]:
    """The context to validate a standard's mapping in: the catalogue with its own categories.

    Parameters
    ----------
    raw : Mapping
        The standard's mapping; only its ``categories:`` are read (and validated) here.
    **more : Any
        Further context: ``origin`` (where the mapping comes from) and ``extends`` (the
        files it extends), which :class:`Standard` keeps.

    Returns
    -------
    dict
        ``{"catalogue": {key: Category}, **more}``.

    Raises
    ------
    pydantic.ValidationError
        When a category the mapping defines is malformed.
    """
    own = _OwnCategories.model_validate(raw).categories
    catalogue = {**load_catalogue(), **{k: spec.category(k) for k, spec in own.items()}}
    return {"catalogue": catalogue, **more}


# ---------------------------------------------------------------------------------------
# The public types
# ---------------------------------------------------------------------------------------


class Grade(_Model):
    """A grade (A-E) and the smallest completeness share that earns it.

    Attributes
    ----------
    grade : str
        One to three characters.
    min_share : float
        From 0 to 1.
    zh, en : str
        What the grade means.
    """

    grade: str = Field(min_length=1, max_length=3)
    min_share: float = Field(ge=0.0, le=1.0)
    zh: str = ""
    en: str = ""


class NotAssessed(_Model):
    """A facility of the document that location data cannot measure, and why.

    Attributes
    ----------
    item : str
        The item as the document numbers and names it.
    required : bool
        Whether the document requires it.
    reason : str
        Why it is not measured.
    group, clause : str
        Its group in the document, and the clause that asks for it.
    """

    item: str
    required: bool = True
    reason: str
    group: _Text = ""
    clause: _Text = ""

    @property
    def mark(self) -> str:
        """● for a facility that must be provided, ○ for an optional one."""
        return "●" if self.required else "○"


class Requirement(_Model):
    """A facility a level asks for, measured by one or more categories.

    A file gives one of ``category`` (default: the requirement's key), ``any_of`` (reached
    when any of them is within ``distance_m``) or ``all_of`` (every one of them must be).

    Attributes
    ----------
    key : str
        Its key under the level's ``requirements:``.
    category : str or None
    any_of, all_of : tuple of str or None
        The categories that measure it, as the file gives them (see :attr:`categories`).
    zh, en : str
        Its name; default: the names of its categories.
    required : bool
        Whether the level requires it (● or ○).
    distance_m : float
        How far the nearest one may be; default: the level's distance.
    item, group, clause, note : str
        The item as the document numbers it, its group, its clause (default: the level's)
        and a note.
    """

    key: str
    category: str | None = None
    any_of: tuple[str, ...] | None = None
    all_of: tuple[str, ...] | None = None
    zh: _Text = Field("", validate_default=True)
    en: _Text = Field("", validate_default=True)
    required: bool = True
    distance_m: float = Field(gt=0)
    item: str = ""
    group: _Text = ""
    clause: _Text = ""
    note: _Text = ""

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories that measure it."""
        return _categories_of(self.key, self.category, self.any_of, self.all_of)

    @property
    def match(self) -> Literal["one", "any", "all"]:
        """``one`` (a single category), ``any`` (any of :attr:`categories`) or ``all``."""
        if self.any_of is not None:
            return "any"
        return "all" if self.all_of is not None else "one"

    @property
    def mark(self) -> str:
        """● for a facility that must be provided, ○ for an optional one."""
        return "●" if self.required else "○"

    @property
    def label(self) -> str:
        """Its name in both languages."""
        return f"{self.zh} {self.en}"

    @field_validator("zh", "en")
    @classmethod
    def _label_from_categories(cls, label: str, info: ValidationInfo) -> str:
        d = info.data
        if label or "key" not in d:
            return label
        catalogue = _catalogue(info)
        cats = _categories_of(d["key"], d.get("category"), d.get("any_of"), d.get("all_of"))
        if not all(c in catalogue for c in cats):
            return label  # _known_categories says which is unknown
        return " / ".join(getattr(catalogue[c], str(info.field_name)) for c in cats)

    @model_validator(mode="after")
    def _one_kind(self) -> Requirement:
        given = [k for k in ("category", "any_of", "all_of") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of category, any_of, all_of (got {', '.join(given)})")
        for k in ("any_of", "all_of"):
            if getattr(self, k) is not None and not getattr(self, k):
                raise ValueError(f"{k} must list at least one category")
        return self

    @model_validator(mode="after")
    def _known_categories(self, info: ValidationInfo) -> Requirement:
        catalogue = _catalogue(info)
        for c in self.categories:
            if c not in catalogue:
                raise invalid(
                    f"unknown category '{c}' (see `circles categories`, or define it under "
                    "'categories:' with zh, en and rules)"
                )
        return self


def _find(entries: tuple[_Entry, ...], key: str) -> _Entry:
    for entry in entries:
        if entry.key == key:
            return entry
    raise KeyError(key)


def _categories_of(
    key: str, category: str | None, any_of: tuple[str, ...] | None, all_of: tuple[str, ...] | None
) -> tuple[str, ...]:
    if any_of is not None:
        return tuple(any_of)
    if all_of is not None:
        return tuple(all_of)
    return (category or key,)


class Level(_Model):
    """One level of a standard (a 15-minute circle, say) with its walking distance.

    Attributes
    ----------
    key : str
        Its key under ``levels:`` (letters, digits, - _ .).
    zh, en : str
        Its name.
    distance_m : float
        The walking distance of the level.
    distance_note : str
        How the document words the distance.
    population : tuple of int or None
        The residents it serves (from, to).
    includes : tuple of str
        The levels it includes (a 15-minute circle includes the 10-minute one).
    clause : str
        The clause that defines it.
    requirements : tuple of Requirement
        What it asks for, in the document's order.
    not_assessed : tuple of NotAssessed
        What it asks for that location data cannot measure.
    """

    key: Annotated[str, _key_check("level")]
    zh: str
    en: str
    distance_m: float = Field(gt=0)
    distance_note: _Text = ""
    population: tuple[int, int] | None = None
    includes: tuple[str, ...] = ()
    clause: _Text = ""
    requirements: Annotated[tuple[Requirement, ...], _ByKey()] = ()
    not_assessed: tuple[NotAssessed, ...] = ()

    @property
    def label(self) -> str:
        """Its name and distance."""
        return f"{self.zh} {self.en} ({self.distance_m:g} m)"

    @property
    def required(self) -> tuple[Requirement, ...]:
        """The requirements it must meet (●)."""
        return tuple(r for r in self.requirements if r.required)

    @property
    def optional(self) -> tuple[Requirement, ...]:
        """The optional ones (○)."""
        return tuple(r for r in self.requirements if not r.required)

    def requirement(self, key: str) -> Requirement:
        """A requirement by its key under the level's ``requirements:``.

        Parameters
        ----------
        key : str
            For example ``convenience``; a ``KeyError`` when the level has no such item.

        Returns
        -------
        Requirement
        """
        return _find(self.requirements, key)

    @field_validator("requirements", mode="before")
    @classmethod
    def _level_defaults(cls, entries: Any, info: ValidationInfo) -> Any:
        """A requirement without a distance or clause of its own takes the level's."""
        if not isinstance(entries, dict):
            return entries
        distance, clause = info.data.get("distance_m"), info.data.get("clause")
        out = {}
        for k, r in entries.items():
            if isinstance(r, dict):
                r = dict(r)
                if r.get("distance_m") is None and distance is not None:
                    r["distance_m"] = distance
                if not r.get("clause") and clause:
                    r["clause"] = clause
            out[k] = r
        return out


class Indicator(_Model):
    """A district indicator: complete levels, or the requirements of one level all met.

    Attributes
    ----------
    key : str
        Its key under ``indicators:``.
    zh, en : str
        Its name.
    levels : tuple of str
        The levels a cluster must meet completely; or empty, and then
    level : str
    requirements : tuple of str
        The level and those of its requirements a cluster must reach.
    note : str
    """

    key: str
    zh: str
    en: str
    levels: _Names = ()
    level: _Text = ""
    requirements: _Names = ()
    note: _Text = ""

    @property
    def is_complete(self) -> bool:
        """Whether it asks for complete levels."""
        return bool(self.levels)

    @model_validator(mode="after")
    def _kind(self) -> Indicator:
        if self.levels and (self.level or self.requirements):
            raise ValueError("give either levels (complete levels) or level and requirements")
        if not self.levels and (not self.level or not self.requirements):
            raise ValueError("give levels, or a level and its requirements")
        return self


class Standard(_Model):
    """A standard: levels from the largest distance down, grades, indicators, categories.

    Validate a mapping in :func:`validation_context` (``standard_from_dict`` does), so that
    the categories the file defines are known and ``origin`` and ``extends`` are kept.

    Attributes
    ----------
    key : str
        Its name (letters, digits, - _ .).
    titles : Bilingual
        Its title (``title:`` in the file; see :attr:`title_zh`, :attr:`title_en`).
    summary : Bilingual or None
        A summary (see :attr:`summary_zh`, :attr:`summary_en`).
    source : dict
        The document it follows (the fields of :class:`Source`).
    grades : tuple of Grade
        From the highest ``min_share`` down; the last one starts at 0.
    category_specs : dict of str to CategorySpec
        The categories the file defines (``categories:`` in the file; see
        :attr:`categories`).
    levels : tuple of Level
        From the largest distance down (ties in the file's order).
    indicators : tuple of Indicator
        The district indicators.
    resident_share : float or None
        Score by residents, not by the cluster's point: a requirement is reached when at
        least this share of the cluster's residents (its homes, each walking from its own
        door) reach it within its distance. None: the cluster's point decides.
    notes : tuple of str
    """

    key: str = Field(pattern=KEY_PATTERN)
    titles: Bilingual = Field(validation_alias="title")
    summary: Bilingual | None = None
    source: Annotated[dict[str, Any], _AsMapping(Source)]
    grades: tuple[Grade, ...]
    category_specs: dict[_CategoryKey, CategorySpec] = Field(
        default_factory=dict, validation_alias="categories", repr=False
    )
    levels: Annotated[tuple[Level, ...], _ByKey()]
    indicators: Annotated[tuple[Indicator, ...], _ByKey()] = ()
    resident_share: float | None = Field(None, gt=0, le=1)
    notes: tuple[str, ...] = ()

    _categories: dict[str, Category] = PrivateAttr(default_factory=dict)
    _origin: str = PrivateAttr("built-in")
    _extends: tuple[str, ...] = PrivateAttr(())
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def title_zh(self) -> str:
        """The title in Chinese."""
        return self.titles.zh

    @property
    def title_en(self) -> str:
        """The title in English."""
        return self.titles.en

    @property
    def title(self) -> str:
        """The title in both languages."""
        return f"{self.title_zh} {self.title_en}"

    @property
    def summary_zh(self) -> str:
        """The summary in Chinese ('' without one)."""
        return self.summary.zh if self.summary else ""

    @property
    def summary_en(self) -> str:
        """The summary in English ('' without one)."""
        return self.summary.en if self.summary else ""

    @property
    def categories(self) -> dict[str, Category]:
        """The categories its requirements refer to, by key, in first-use order."""
        return self._categories

    @property
    def origin(self) -> str:
        """Where it was read from (``built-in standard NAME`` or a path)."""
        return self._origin

    @property
    def extends(self) -> tuple[str, ...]:
        """The standards it extends, nearest first (empty for a standard of its own)."""
        return self._extends

    @property
    def raw(self) -> dict[str, Any]:
        """The mapping it was validated from (with its ``extends`` merged in)."""
        return self._raw

    @property
    def citation(self) -> str:
        """The document, its number and year: what a reader needs to look it up."""
        s = self.source
        return f"{s['document']} ({s['number']}, {s['year']})"

    def describe(self) -> dict[str, Any]:
        """What summary.json says about the standard.

        Returns
        -------
        dict
            key, title (one display line), zh, en, number, year, origin and extends.
        """
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
        """A level by its key under ``levels:`` (``KeyError`` when there is none).

        Parameters
        ----------
        key : str
            For example ``15min``.

        Returns
        -------
        Level
        """
        return _find(self.levels, key)

    def category_keys(self) -> list[str]:
        """Every category a requirement of the standard refers to, in first-use order.

        Returns
        -------
        list of str
        """
        seen: dict[str, None] = {}
        for lv in self.levels:
            for r in lv.requirements:
                for c in r.categories:
                    seen.setdefault(c, None)
        return list(seen)

    def chain(self, key: str) -> list[str]:
        """The level and every level it includes (directly or not), in order.

        Parameters
        ----------
        key : str
            A level's key.

        Returns
        -------
        list of str
            ``key`` first.
        """
        out: list[str] = []
        todo = [key]
        while todo:
            k = todo.pop(0)
            if k not in out:
                out.append(k)
                todo.extend(self.level(k).includes)
        return out

    def grade_of(self, share: float | None) -> str | None:
        """The grade of a completeness share.

        Parameters
        ----------
        share : float or None
            From 0 to 1.

        Returns
        -------
        str or None
            The first grade whose ``min_share`` it reaches; None for None or NaN.
        """
        if share is None or share != share:  # NaN
            return None
        for g in self.grades:
            if share >= g.min_share - 1e-9:
                return g.grade
        return self.grades[-1].grade

    @field_validator("grades")
    @classmethod
    def _highest_first(cls, grades: tuple[Grade, ...]) -> tuple[Grade, ...]:
        if not grades:
            raise invalid("a standard needs at least one grade")
        grades = tuple(sorted(grades, key=lambda g: -g.min_share))
        if grades[-1].min_share > 0:
            raise invalid("the lowest grade must have min_share: 0")
        return grades

    @field_validator("levels")
    @classmethod
    def _known_includes(cls, levels: tuple[Level, ...]) -> tuple[Level, ...]:
        if not levels:
            raise invalid("a standard needs at least one level")
        keys = [lv.key for lv in levels]
        for lv in levels:
            for inc in lv.includes:
                if inc not in keys:
                    raise invalid(
                        f"unknown level '{inc}' (levels: {', '.join(keys)})", (lv.key, "includes")
                    )
        return levels

    @field_validator("levels")
    @classmethod
    def _largest_first_without_loops(cls, levels: tuple[Level, ...]) -> tuple[Level, ...]:
        levels = tuple(sorted(levels, key=lambda lv: -lv.distance_m))  # stable for ties
        includes = {lv.key: lv.includes for lv in levels}
        done: set[str] = set()

        def visit(k: str, path: tuple[str, ...]) -> None:
            if k in path:
                raise invalid(f"levels include each other in a loop: {' -> '.join((*path, k))}")
            if k not in done:
                for inc in includes[k]:
                    visit(inc, (*path, k))
                done.add(k)

        for lv in levels:
            visit(lv.key, ())
        return levels

    @field_validator("indicators")
    @classmethod
    def _known_levels_and_requirements(
        cls, indicators: tuple[Indicator, ...], info: ValidationInfo
    ) -> tuple[Indicator, ...]:
        levels = {lv.key: lv for lv in info.data.get("levels", ())}
        if not levels:
            return indicators  # the levels are wrong, and their error says so
        for ind in indicators:
            for lk in ind.levels or (ind.level,):
                if lk not in levels:
                    raise invalid(f"unknown level '{lk}'", (ind.key,))
            have = {r.key for r in levels[ind.level].requirements} if ind.level else set()
            for rk in ind.requirements:
                if rk not in have:
                    raise invalid(
                        f"level '{ind.level}' has no requirement '{rk}' "
                        f"(it has: {', '.join(sorted(have))})",
                        (ind.key,),
                    )
        return indicators

    @model_validator(mode="wrap")
    @classmethod
    def _keep_context(
        cls, data: Any, handler: ModelWrapValidatorHandler[Standard], info: ValidationInfo
    ) -> Standard:
        std = handler(data)
        context = info.context or {}
        catalogue = _catalogue(info)
        std._categories = {k: catalogue[k] for k in std.category_keys()}
        std._origin = context.get("origin", "built-in")
        std._extends = tuple(context.get("extends", ()))
        std._raw = dict(data) if isinstance(data, Mapping) else {}
        return std
