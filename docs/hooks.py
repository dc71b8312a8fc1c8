"""mkdocs hook: docstrings name other objects with Sphinx roles (:func:`reach`), which
Markdown leaves as text. Show them as the code they name, without the role."""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|data|attr|mod|exc|obj):(<code>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub(r"\1", html)
