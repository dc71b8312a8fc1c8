"""A table row's categories: its category column, AMap type codes, Baidu tags or keywords."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from circles.sources.tables.read import normalize_header

if TYPE_CHECKING:
    from circles.services import Category


def code_prefix(code: str) -> str:
    """An AMap code as the prefix it stands for.

    Parameters
    ----------
    code : str
        A 6-digit AMap type code.

    Returns
    -------
    str
        050000 (大类) -> '05', 060200 (中类) -> '0602', 090601 (小类) -> '090601'.
    """
    code = str(code).strip()
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def row_codes(text: str) -> list[str]:
    """The 6-digit AMap codes in a cell.

    Parameters
    ----------
    text : str
        A typecode cell: '090601', '90601' (a lost leading zero), '90601.0',
        '050100|050101' (several).

    Returns
    -------
    list of str
        The codes, zero-padded to six digits; empty when there is none.
    """
    out = []
    for part in re.split(r"[|,;/\s]+", str(text).strip()):
        m = re.fullmatch(r"(\d{1,6})(?:\.0+)?", part)
        if m:
            out.append(m.group(1).zfill(6))
    return out


def _levels(text: str) -> list[str]:
    """The levels of a Baidu tag or AMap type text ('医疗;药店' -> ['医疗', '药店'])."""
    return [p.strip() for p in re.split(r"[;；>/]", str(text)) if p.strip()]


def _tag_matches(entry: str, tag_levels: list[str]) -> bool:
    """Whether a row's tag levels fall under a catalogue entry's Baidu tag."""
    want = _levels(entry)
    if not want or not tag_levels:
        return False
    if tag_levels[: len(want)] == want:
        return True
    # A tag of one level ("药店") names the second level of an entry ("医疗;药店").
    return len(tag_levels) == 1 and len(want) > 1 and tag_levels[0] == want[-1]


class Classifier:
    """Puts a table row in categories.

    Its category column, else its AMap type codes or Baidu tag, else keywords in its name
    and type (only when the code or tag is not one the catalogue knows: a bus stop named
    第一中学站 is not a school).

    Parameters
    ----------
    categories : dict of str to Category
        The study's categories: the only ones a row may be put in.
    catalogue : dict of str to Category
        Every known category, so that a code or tag of one the study does not measure is
        recognised (and not matched by keywords).
    """

    def __init__(self, categories: dict[str, Category], catalogue: dict[str, Category]) -> None:
        self.categories = categories
        self.known = {**catalogue, **categories}
        self.labels = {}
        for key, cat in self.known.items():
            self.labels[key.lower()] = key
            self.labels[normalize_header(cat.zh)] = key
            self.labels[cat.en.lower()] = key
        self._words = {k: [re.compile(p) for p in c.word_patterns()] for k, c in self.known.items()}
        self._prefixes = {k: tuple(map(code_prefix, c.amap)) for k, c in self.known.items()}
        self._code_cache: dict[tuple[str, str], tuple[str, ...]] = {}

    def _by_code(self, typecode: str, type_text: str) -> tuple[str, ...]:
        """Catalogue categories whose AMap codes or Baidu tags fit (cached: exports repeat
        a few hundred codes and tags over many rows)."""
        key = (typecode, type_text)
        hit = self._code_cache.get(key)
        if hit is None:
            codes, tag = row_codes(typecode), _levels(type_text)
            hit = tuple(
                k
                for k in self.known
                if any(code.startswith(p) for code in codes for p in self._prefixes[k])
                or any(_tag_matches(e, tag) for e in self.known[k].baidu)
            )
            self._code_cache[key] = hit
        return hit

    def _by_words(self, key: str, texts: list[str]) -> bool:
        """Whether a keyword of category ``key`` is in one of the texts."""
        return any(p.search(t) for p in self._words[key] for t in texts if t)

    def classify(
        self, category: str, typecode: str, type_text: str, name: str
    ) -> tuple[list[str], str]:
        """The categories of one row.

        Parameters
        ----------
        category : str
            The category column: a key, or a category's 中文 or English label.
        typecode : str
            AMap type codes.
        type_text : str
            AMap type text or Baidu tag.
        name : str
            The row's name.

        Returns
        -------
        keys : list of str
            The study's categories the row is in; empty when none fits.
        why_not : str
            When ``keys`` is empty, why (for rejected_rows.csv); else ``''``.
        """
        category = str(category or "").strip()
        if category:
            key = self.labels.get(category.lower()) or self.labels.get(normalize_header(category))
            if key is None:
                return [], f"category '{category}' is not a category key (see `circles categories`)"
            if key not in self.categories:
                return [], f"category '{key}' is not measured in this study (add it to categories:)"
            return [key], ""
        texts = [str(name or ""), str(type_text or "")]
        by_code = self._by_code(str(typecode or ""), str(type_text or ""))
        keys = [
            k
            for k in by_code
            if k in self.categories
            and (not self.known[k].codes_need_name or self._by_words(k, texts))
        ]
        if keys:
            return keys, ""
        if not by_code:  # code and tag unknown to the catalogue: words decide
            keys = [k for k in self.categories if self._by_words(k, texts)]
            if keys:
                return keys, ""
        what = []
        if row_codes(typecode):
            what.append(f"type code {'|'.join(row_codes(typecode))}")
        if _levels(type_text):
            what.append(f"type '{type_text}'")
        if name:
            what.append(f"name '{name}'")
        if by_code:
            return [], (f"{' / '.join(what)} is {', '.join(by_code)}, not measured in this study")
        return [], f"{' / '.join(what) or 'the row'} matches none of the study's categories"
