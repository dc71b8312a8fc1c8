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
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from circles._errors import CirclesError
from circles._yaml import read_yaml_text, safe_load
from circles.standards.model import (
    CHECK_ERROR,
    Grade,
    Indicator,
    Level,
    NotAssessed,
    Requirement,
    Standard,
    validation_context,
)

DEFAULT_STANDARD = "gb50180-2018"
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
# Loading
# ---------------------------------------------------------------------------------------


def _builtin_dir() -> Traversable:
    return resources.files("circles").joinpath("standards")


@cache
def builtin_names() -> tuple[str, ...]:
    """The names of the standards shipped with the package.

    Returns
    -------
    tuple of str
        Sorted, e.g. ``("complete-community-2020", "gb50180-2018", "mofcom-2021")``.
    """
    names = [p.name[: -len(".yaml")] for p in _builtin_dir().iterdir() if p.name.endswith(".yaml")]
    return tuple(sorted(names))


def is_path_like(text: str) -> bool:
    """Whether a ``standard:`` value names a file rather than a built-in standard.

    Parameters
    ----------
    text : str
        A ``standard:`` value or ``--standard`` option.

    Returns
    -------
    bool
        True for a ``.yaml``/``.yml`` name or anything with a path separator.
    """
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
        raw, where = _builtin_raw(text), f"built-in standard {text}"
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
        raw = _read_yaml(read_yaml_text(path, StandardError), where)
        base_dir = path.parent
        raw.setdefault("key", re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-.") or "custom")
    parents: tuple[str, ...] = ()
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
    """Load a built-in standard by name, or a standard file with its ``extends`` chain.

    Parameters
    ----------
    spec : str or pathlib.Path
        A built-in name (see :func:`builtin_names`) or the path of a ``.yaml`` file.
    base_dir : pathlib.Path, optional
        What a relative path is relative to (a study file's folder); default: the working
        directory.

    Returns
    -------
    Standard

    Raises
    ------
    StandardError
        An unknown name, a missing file, or a mistake in a file: one line naming the file
        and the field.
    """
    raw, where, parents = _resolve_raw(spec, base_dir, ())
    return standard_from_dict(raw, origin=where, extends=parents)


def standard_from_dict(
    raw: dict[str, Any], origin: str = "standard", extends: tuple[str, ...] = ()
) -> Standard:
    """Validate a standard's mapping against the category catalogue.

    Parameters
    ----------
    raw : dict
        The layout of a standard file (an ``extends`` field is ignored: merge first).
    origin : str
        Where the mapping comes from, for messages and :attr:`Standard.origin`.
    extends : tuple of str
        The standards it was merged onto, nearest first.

    Returns
    -------
    Standard
        Validated against the built-in catalogue and the categories ``raw`` defines.

    Raises
    ------
    StandardError
        When ``raw`` is malformed: its first mistake, as one line naming ``origin`` and the
        field at fault.
    """
    raw = {k: v for k, v in raw.items() if k != "extends"}
    try:
        context = validation_context(raw, origin=origin, extends=extends)
        return Standard.model_validate(raw, context=context)
    except ValidationError as e:
        raise _one_line(e, origin) from None


def _one_line(error: ValidationError, origin: str) -> StandardError:
    """The first error of a validation, as one line naming the file and the field."""
    errors = error.errors()
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if first["type"] == CHECK_ERROR:  # a cross-field check: its message says it all
        loc = ".".join(str(p) for p in (*first["loc"], *first["ctx"]["at"]))
        field = f"field '{loc}': " if loc else ""
        return StandardError(f"{origin}: {field}{first['msg']}{more}")
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    return StandardError(
        f"{origin}: field '{loc}': {msg}{more} "
        "(see `circles standards show gb50180-2018` for the layout)"
    )
