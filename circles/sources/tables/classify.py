"""A table row's categories: its category column, AMap type codes, Baidu tags or keywords."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from circles.services import head_regex, load_unmapped, name_head
from circles.sources.tables.read import normalize_header

if TYPE_CHECKING:
    from circles.services import Category, Unmapped


_CODE_SEP = re.compile(r"[|,;/\s]+")
_CODE = re.compile(r"(\d{1,6})(?:\.0+)?")
_LEVEL_SEP = re.compile(r"[;；>/]")
_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")


Search = Callable[[str], "re.Match[str] | None"]


def _nowhere(text: str) -> None:
    """The search of a category without keywords: never found."""
    return None


def _any_of(patterns: tuple[str, ...]) -> str | None:
    """One alternation of several patterns (leading inline flags made local), or None."""
    parts = []
    for p in patterns:
        m = _FLAGS.match(p)
        parts.append(f"(?{m.group(1)}:{p[m.end() :]})" if m else f"(?:{p})")
    return "|".join(parts) or None


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
    for part in _CODE_SEP.split(str(text).strip()):
        m = _CODE.fullmatch(part)
        if m:
            out.append(m.group(1).zfill(6))
    return out


def _levels(text: str) -> list[str]:
    """The levels of a Baidu tag or AMap type text ('医疗;药店' -> ['医疗', '药店'])."""
    return [p.strip() for p in _LEVEL_SEP.split(str(text)) if p.strip()]


def _tag_matches(entry: str, tag_levels: list[str]) -> bool:
    """Whether a row's tag levels fall under a catalogue entry's Baidu tag."""
    want = _levels(entry)
    if not want or not tag_levels:
        return False
    if tag_levels[: len(want)] == want:
        return True
    # A tag of one level ("药店") names the second level of an entry ("医疗;药店").
    return len(tag_levels) == 1 and len(want) > 1 and tag_levels[0] == want[-1]


@dataclass(frozen=True)
class Decision:
    """What one row is, and why.

    Parameters
    ----------
    keys : tuple of str
        The study's categories of the one kind of place the row is (several only when the
        catalogue nests them: a supermarket is also a market); empty when none.
    why_not : str
        When ``keys`` is empty, why; else ``''``.
    by : str
        The rule that decided: ``category column``, ``type code …``, ``type …``, ``name``.
    also : tuple of str
        Other study categories the row's code, type or words (anywhere in the name)
        pointed to, which the precedence set aside: the row is *ambiguous* when any.
    """

    keys: tuple[str, ...]
    why_not: str = ""
    by: str = ""
    also: tuple[str, ...] = ()


def _depth_of(entry: str, levels: list[str]) -> int:
    """How deep a catalogue type path entry matches a row's type levels (0: not at all)."""
    return len(_levels(entry)) if _tag_matches(entry, levels) else 0


class Classifier:
    """Puts a table row in one kind of place, by a stated precedence.

    1. its category column;
    2. its AMap type code (the first one the catalogue knows, when a cell has several);
    3. its type path (AMap type text such as ``医疗保健服务;专科医院;整形美容`` or a Baidu
       tag), through the catalogue's ``amap_types`` and ``baidu`` entries;
    4. keywords at the head of its type path's levels (deepest level first);
    5. keywords at the head of its name (:func:`circles.services.head_regex`).

    The first level that knows the row decides, and a code or type the catalogue knows is
    never re-read by words (a bus stop named 第一中学站 is no school). Within a level the
    most specific rule wins: the longest code prefix or deepest type path (a deliberately
    unmapped one, such as 急救中心, included), the longest keyword at the name's head.
    Categories that the winning code, path or keyword finds together (market and
    supermarket for 060400) are one kind of place and kept together; any other category
    pointed to is reported in :attr:`Decision.also`. A category's ``exclude`` words in
    the name rule it out at levels 2 to 5.

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
        pats = {k: c.word_patterns() for k, c in self.known.items()}
        self._heads = {k: [head_regex(p) for p in ps] for k, ps in pats.items()}
        # One search per category tells whether any of its patterns matches (an
        # alternation matches where one of its branches does): most rows are decided
        # without trying each pattern, which made a 200,000-row table take minutes.
        self._pats = pats
        self._any_word = {k: self._search(ps, head=False) for k, ps in pats.items()}
        self._any_head = {k: self._search(ps, head=True) for k, ps in pats.items()}
        self._study_words = [(k, self._any_word[k]) for k in self.categories]
        self._keys_head: dict[tuple[str, ...], Search] = {}
        self._prefixes = {k: tuple(map(code_prefix, c.amap)) for k, c in self.known.items()}
        self._paths = {k: (*c.amap_types, *c.baidu) for k, c in self.known.items()}
        # A category's exclude words can be in a name only if the name shares a letter
        # with them; else the answer is the one for a name sharing none (False, unless a
        # word is all brackets and spaces, which Category.excludes ignores).
        self._excluding = [
            (k, frozenset("".join(c.exclude)), c.excludes("\uffff"))
            for k, c in self.known.items()
            if c.exclude
        ]
        self.unmapped: tuple[Unmapped, ...] = load_unmapped()
        # A table repeats few codes and type paths over many rows: each is looked up once.
        self._code_cache: dict[tuple[str, ...], tuple[str, list[str], Unmapped | None]] = {}
        self._path_cache: dict[tuple[str, ...], tuple[list[str], Unmapped | None]] = {}
        self._type_words: dict[str, frozenset[str]] = {}

    def _search(self, patterns: tuple[str, ...], head: bool) -> Search:
        """A search for any of ``patterns`` (at a name's head: :func:`head_regex`)."""
        alternation = _any_of(patterns)
        if alternation is None:
            return _nowhere
        try:
            return (head_regex(alternation) if head else re.compile(alternation)).search
        except re.error:  # patterns that do not combine: tried one by one
            each = [head_regex(p) if head else re.compile(p) for p in patterns]
            return lambda text: next((m for p in each if (m := p.search(text))), None)

    # -- the levels -----------------------------------------------------------------------

    def _by_codes(self, codes: list[str]) -> tuple[str, list[str], Unmapped | None]:
        """The first known code, its categories (nested prefixes) or its unmapped entry."""
        key = tuple(codes)
        if key not in self._code_cache:
            self._code_cache[key] = self._codes_lookup(codes)
        return self._code_cache[key]

    def _codes_lookup(self, codes: list[str]) -> tuple[str, list[str], Unmapped | None]:
        """:meth:`_by_codes`, uncached."""
        for code in codes:
            depth = {
                k: max(len(p) for p in ps if code.startswith(p))
                for k, ps in self._prefixes.items()
                if any(code.startswith(p) for p in ps)
            }
            un = [u for u in self.unmapped if u.amap and code.startswith(code_prefix(u.amap))]
            best_un = max(un, key=lambda u: len(code_prefix(u.amap)), default=None)
            if best_un and len(code_prefix(best_un.amap)) > max(depth.values(), default=0):
                return code, [], best_un
            if depth:
                return code, list(depth), None
        return "", [], None

    def _by_path(self, levels: list[str]) -> tuple[list[str], Unmapped | None]:
        """Catalogue categories whose type path fits (nested), or the unmapped entry."""
        key = tuple(levels)
        if key not in self._path_cache:
            self._path_cache[key] = self._path_lookup(levels)
        return self._path_cache[key]

    def _path_lookup(self, levels: list[str]) -> tuple[list[str], Unmapped | None]:
        """:meth:`_by_path`, uncached."""
        depth = {}
        for k, entries in self._paths.items():
            d = max((_depth_of(e, levels) for e in entries), default=0)
            if d:
                depth[k] = d
        un = [(u, _depth_of(u.type_path, levels)) for u in self.unmapped if u.type_path]
        best_un = max(un, key=lambda x: x[1], default=(None, 0))
        if best_un[0] is not None and best_un[1] > max(depth.values(), default=0):
            return [], best_un[0]
        return list(depth), None

    def _at_head(self, text: str, keys: list[str] | dict[str, Category]) -> list[str]:
        """Categories with a keyword at the head of ``text``: the longest keyword and the
        categories whose keyword lies inside it (托儿所 is kindergarten and nursery)."""
        head = name_head(text)
        together = tuple(keys)
        if together not in self._keys_head:
            self._keys_head[together] = self._search(
                tuple(p for k in together for p in self._pats[k]), head=True
            )
        if self._keys_head[together](head) is None:
            return []  # no keyword of any of them at the head
        found: dict[str, str] = {}
        for k in keys:
            if self._any_head[k](head) is None:
                continue  # none of its patterns is at the head
            for p in self._heads[k]:
                for m in p.finditer(head):
                    if len(m.group(0)) > len(found.get(k, "")):
                        found[k] = m.group(0)
        if not found:
            return []
        best = max(found.values(), key=len)
        return [k for k, w in found.items() if w in best]

    def _loose(self, name: str, type_text: str) -> set[str]:
        """Study categories with a keyword anywhere in the name or type (the old rule)."""
        if type_text not in self._type_words:  # a table repeats its types
            self._type_words[type_text] = frozenset(
                k for k, search in self._study_words if type_text and search(type_text)
            )
        by_type = self._type_words[type_text]
        if not name:
            return set(by_type)
        return {k for k, search in self._study_words if k in by_type or search(name)}

    # -- the decision ---------------------------------------------------------------------

    def decide(self, category: str, typecode: str, type_text: str, name: str) -> Decision:
        """What one row is, by the precedence of the class.

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
        Decision
            Its categories, the rule that decided and the categories set aside.
        """
        category = str(category or "").strip()
        if category:
            key = self.labels.get(category.lower()) or self.labels.get(normalize_header(category))
            if key is None:
                why = f"category '{category}' is not a category key (see `circles categories`)"
                return Decision((), why, "category column")
            if key not in self.categories:
                why = f"category '{key}' is not measured in this study (add it to categories:)"
                return Decision((), why, "category column")
            return Decision((key,), "", "category column")
        name, type_text = str(name or ""), str(type_text or "")
        typecode = str(typecode or "")
        codes, levels = row_codes(typecode), _levels(type_text)
        letters = set(name)
        allowed = set(self.known).difference(
            k
            for k, words, otherwise in self._excluding
            if name
            and (self.known[k].excludes(name) if not letters.isdisjoint(words) else otherwise)
        )

        def needs_name(k: str) -> bool:
            return not self.known[k].codes_need_name or bool(self._at_head(name, [k]))

        code, by_code, un = self._by_codes(codes)
        if code or un:
            by = f"type code {code or (un.amap if un else '')}"
            return self._finish(
                by, [k for k in by_code if needs_name(k)], un, allowed, name, type_text
            )
        by_path, un = self._by_path(levels)
        if by_path or un:
            by = f"type '{type_text}'"
            return self._finish(
                by, [k for k in by_path if needs_name(k)], un, allowed, name, type_text
            )
        study = [k for k in self.categories if k in allowed]
        for level in reversed(levels):
            keys = self._at_head(level, study)
            if keys:
                return self._finish(f"type '{type_text}'", keys, None, allowed, name, type_text)
        keys = self._at_head(name, study)
        if keys:
            return self._finish(f"name '{name}'", keys, None, allowed, name, type_text)
        what = [f"type code {'|'.join(codes)}"] if codes else []
        what += [f"type '{type_text}'"] if levels else []
        what += [f"name '{name}'"] if name else []
        return Decision(
            (), f"{' / '.join(what) or 'the row'} matches none of the study's categories"
        )

    def _finish(
        self,
        by: str,
        found: list[str],
        un: Unmapped | None,
        allowed: set[str],
        name: str,
        type_text: str,
    ) -> Decision:
        """The decision of the level that knew the row."""
        if un is not None:
            why = f"{by} is {un.zh} {un.en}, deliberately unmapped: {un.why}"
            return Decision((), why, by)
        keys = tuple(k for k in found if k in self.categories and k in allowed)
        if not keys:
            known = [k for k in found if k in allowed]
            if known:
                return Decision((), f"{by} is {', '.join(known)}, not measured in this study", by)
            if found:
                return Decision(
                    (), f"{by} is {', '.join(found)}, ruled out by the name '{name}'", by
                )
            return Decision((), f"{by}: the name '{name}' does not fit its categories", by)
        also = tuple(sorted(self._loose(name, type_text) - set(keys)))
        return Decision(keys, "", by, also)

    def classify(
        self, category: str, typecode: str, type_text: str, name: str
    ) -> tuple[list[str], str]:
        """The categories of one row (:meth:`decide`, without the reasons).

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
            The study's categories the row is in (one kind of place); empty when none fits.
        why_not : str
            When ``keys`` is empty, why (for rejected_rows.csv); else ``''``.
        """
        d = self.decide(category, typecode, type_text, name)
        return list(d.keys), d.why_not
