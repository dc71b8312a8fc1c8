"""Small value helpers that every output shares: one number coercion, one formula guard.

Outputs format numbers from pandas cells (floats, numpy scalars, NaN, None) and write
text written by strangers (OSM names, users' tables) into CSV and XLSX files. Each job has
one helper here, so that the map, the report, the summary and the tables agree.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["as_number", "defuse_formula", "format_number"]

# A cell starting with one of these runs as a formula in Excel, LibreOffice or Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number ("-5", "+1.5e3") is shown as a number by a spreadsheet, never run.
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def as_number(value: Any, digits: int | None = None) -> float | None:
    """A finite number, or None.

    Parameters
    ----------
    value : Any
        A number, a numpy scalar, a numeric string, NaN or None.
    digits : int, optional
        Round to this many decimals (``0`` gives a whole number as a float).

    Returns
    -------
    float or None
        None for anything that is not a finite number (NaN, infinities, text, None).
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    return v if digits is None else round(v, digits)


def format_number(value: Any, digits: int = 0, missing: str = "—") -> str:
    """A number for a reader: thousands separated, ``missing`` when there is none.

    Parameters
    ----------
    value : Any
        Anything :func:`as_number` accepts.
    digits : int
        Decimals shown.
    missing : str
        Shown for NaN, None and other non-numbers.

    Returns
    -------
    str
        For example ``"12,345"`` or ``"1.5"``.
    """
    v = as_number(value)
    return missing if v is None else f"{v:,.{digits}f}"


def defuse_formula(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, with a leading apostrophe.

    Parameters
    ----------
    value : Any
        A table cell. Only strings are changed.

    Returns
    -------
    Any
        ``value`` unchanged, except a string that starts with ``=``, ``+``, ``-``, ``@``,
        a tab or a carriage return and is not a plain number (``"-5"`` stays, ``"-1+1"``
        and ``"=HYPERLINK(...)"`` get the apostrophe).
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def defuse_frame(frame: Any) -> Any:
    """A table's text cells defused (:func:`defuse_formula`); numbers and booleans kept.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table about to be written to CSV or XLSX.

    Returns
    -------
    pandas.DataFrame
        A copy whose text cells cannot run as spreadsheet formulas.
    """
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        out[col] = values.map(lambda v: defuse_formula(v) if isinstance(v, str) else v)
    return out
