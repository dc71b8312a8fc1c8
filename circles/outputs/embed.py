"""Text and data safe to embed in an HTML page.

OSM names and tags are written by anyone: every piece of text that reaches a page goes
through :func:`escape_text`, and everything embedded in a script through :func:`safe_json`.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

import pandas as pd

__all__ = ["escape_text", "safe_json"]


def safe_json(value: Any) -> str:
    """JSON that can sit inside a <script> element: no ``<``, ``>`` or ``&`` left raw.

    Parameters
    ----------
    value : Any
        Plain data: dicts, lists, strings, finite numbers, None.

    Returns
    -------
    str
        Compact JSON with ``<``, ``>``, ``&`` and the line separators U+2028 and U+2029
        written as ``\\u`` escapes, so no text can close the ``<script>`` element.
    """
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def escape_text(value: Any) -> str:
    """Escaped text of a value; missing values become an empty string.

    Parameters
    ----------
    value : Any
        Text, a number, or a missing value (None, NaN, ``pd.NA``).

    Returns
    -------
    str
        ``str(value)`` escaped with :func:`html.escape` (quotes included).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return escape(str(value), quote=True)
