"""Text and data safe to embed in an HTML page.

OSM names and tags are written by anyone: every piece of text that reaches a page goes
through :func:`escape_text`, and everything embedded in a script through :func:`safe_json`.
"""

from __future__ import annotations

import json
import math
import re
from html import escape
from typing import Any

import pandas as pd

__all__ = ["escape_many", "escape_text", "safe_json"]

_JINJA_OPEN = re.compile(r"\{(?=[{%#])")


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
        written as ``\\u`` escapes, so no text can close the ``<script>`` element, and a
        ``{`` that would open a Jinja tag (``{{``, ``{%``, ``{#``) written as ``\\u007b``.
    """
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    # "{{", "{%" and "{#" occur only inside strings (JSON's own "{" is followed by '"' or
    # "}"): written as \u007b they cannot open a Jinja tag when folium compiles the page.
    text = _JINJA_OPEN.sub(r"\\u007b", text)
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
        ``str(value)`` escaped with :func:`html.escape` (quotes included), and ``{``
        written ``&#123;`` so that no text opens a Jinja tag in folium's templates.
    """
    if isinstance(value, str):
        return _escape(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return _escape(str(value))


def _escape(text: str) -> str:
    # "{" as a character reference: folium compiles a page's text as a Jinja template,
    # where "{{ ... }}" in a name would run as code
    return escape(text, quote=True).replace("{", "&#123;")


def escape_many(texts: list[str]) -> list[str]:
    """:func:`escape_text` of many strings at once (200,000 names in a fraction of a second).

    Parameters
    ----------
    texts : list of str
        The strings to escape.

    Returns
    -------
    list of str
        Each string escaped as :func:`escape_text` escapes it, in the same order.
    """
    joined = "\0".join(texts)
    if joined.count("\0") != max(len(texts) - 1, 0):  # a NUL inside a text: one by one
        return [_escape(t) for t in texts]
    return _escape(joined).split("\0") if texts else []
