"""units/<slug>.html and units.pdf: one printable A4 page per unit (一社区一档案).

Each dossier is a self-contained page: inline CSS and an inline SVG map drawn here from the
unit's outline and its clusters (network CRS metres), no script and no outside resource
(a Content-Security-Policy forbids both). Its print stylesheet lays out one A4 page: the
lists that could run past it (the item table, the shortfall list) are cut to the rows that
fit, and the page says how many rows are left out and where they are (shortfalls.csv).
``units.pdf`` is the same pages rendered by WeasyPrint, one unit per page; its Chinese text
needs a CJK font on the machine (Debian's fonts-noto-cjk: ``make browser`` installs it).
Every piece of text, unit and cluster names included, is escaped with
:func:`circles.outputs.embed.escape_text`.
"""

from __future__ import annotations

import gc
import math
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from circles._errors import one_line
from circles.outputs import OutputError
from circles.outputs.embed import escape_text
from circles.outputs.grades import CLASSES, UNUSED, grade_meaning, scored_level
from circles.outputs.report_html import text_width
from circles.result import StudyResult
from circles.settings import OSM_ATTRIBUTION
from circles.values import as_number, format_number

if TYPE_CHECKING:
    from circles.units import UnitReport

__all__ = [
    "FONT",
    "cjk_font_warning",
    "map_svg",
    "render_dossier",
    "write_dossiers",
    "write_units_pdf",
]

# Noto Sans CJK SC first: WeasyPrint (units.pdf) finds it through fontconfig, and one font
# for Chinese and Latin alike keeps every line of a table the same height.
FONT = (
    "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Hiragino Sans GB', "
    "'Microsoft YaHei', 'WenQuanYi Micro Hei', sans-serif"
)
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

# The page: A4 less 10 mm margins, 190 x 277 mm. A table line is 9.1 pt (7 pt text,
# line-height 1.3); the tables' budgets in lines were found in chromium and WeasyPrint with
# the longest lists (GB 50180, every item missed: tests/test_dossiers.py) and leave a few
# millimetres to spare. Widths are estimated with report_html.text_width, which is generous.
_PT_PX = 96 / 72
_MM_PX = 96 / 25.4
_MAP_MM = 70.0
_BODY_PT = 7.0
_LINE_PT = 1.3 * _BODY_PT  # the line-height of the body, in points
_ITEMS_LINES = 37  # lines of each of the two item tables, their 2-line header included
_SHORTFALL_LINES = 24  # lines of the shortfall table beside the map, its header included
# Widths in mm of the text columns whose cells are cut to fit.
_ITEM_MM = 48.0
_ITEMS_WIDTH_MM = 88.0  # one of the two item tables
_SHORTFALL_ITEM_MM = 52.0
_FACILITY_MM = 36.0
_NAME_MM = 180.0
_TOP3_MM = 78.0

_HOW = {
    "measured": "实测",
    "self_assessed": "自评",
    "not_assessed": "未评估",
}
_STATUS = {  # text and class of each status of an item
    "reached": ("达到", "ok"),
    "missing": ("未达到", "bad"),
    "partial": ("部分达到", "part"),
    "gap": ("数据缺口", "gap"),
    "yes": ("是", "ok"),
    "no": ("否", "bad"),
}
_STATUS_SELF = {"partial": ("部分", "part")}  # a self-assessed "partial" is 部分, not 部分达到
Rows = list[dict[str, Any]]  # a unit report's rows (items, shortfalls) as records

_CSS = f"""
@page {{ size: A4; margin: 10mm; }}
* {{ box-sizing: border-box; }}
html, body {{ margin: 0; padding: 0; }}
body {{ font-family: {FONT}; font-size: {_BODY_PT}pt; line-height: 1.3; color: #222;
        background: #fff; }}
.page {{ width: 190mm; }}
header {{ border-bottom: 0.5mm solid #333; padding-bottom: 1mm; margin-bottom: 2mm; }}
h1 {{ font-size: 15pt; line-height: 1.25; margin: 0; white-space: nowrap; overflow: hidden; }}
h1 .level {{ font-size: 9pt; font-weight: normal; color: #555; margin-left: 2mm; }}
.sub {{ margin: 0.5mm 0 0; color: #555; white-space: nowrap; overflow: hidden; }}
h2 {{ font-size: 8.5pt; line-height: 1.3; margin: 0 0 0.8mm; }}
.headline {{ display: table; width: 100%; table-layout: fixed; border-spacing: 0;
             margin-bottom: 2.5mm; }}
.box {{ display: table-cell; vertical-align: top; padding: 1.5mm 2mm; border: 0.3mm solid #ccc;
        height: 22mm; overflow: hidden; }}
.box.grade {{ width: 32mm; }}
.box.stat {{ width: 38mm; }}
.box .big {{ font-size: 17pt; line-height: 1.15; font-weight: bold; }}
.box ol {{ margin: 0.5mm 0 0; padding-left: 4mm; }}
.box li {{ white-space: nowrap; overflow: hidden; }}
.top {{ display: table; width: 100%; table-layout: fixed; border-spacing: 0;
        margin-bottom: 2.5mm; }}
.top > div {{ display: table-cell; vertical-align: top; }}
.top .map {{ width: {_MAP_MM + 4:.0f}mm; padding-right: 4mm; }}
.map svg {{ display: block; border: 0.3mm solid #bbb; }}
.legend {{ font-size: 6.5pt; line-height: 1.3; margin-top: 0.8mm; }}
.legend span {{ white-space: nowrap; margin-right: 1.5mm; }}
.sw {{ display: inline-block; width: 2.6mm; height: 2.6mm; vertical-align: -0.4mm;
       border: 0.2mm solid #666; margin-right: 0.6mm; }}
.sw.split {{ border: 0.3mm dashed #222; background: #fff; }}
/* Tables of one cell a column (see _Columns): lines never wrap, stripes fall on them. */
table.t {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
table.t th {{ padding: 0.3mm 0.8mm; text-align: left; vertical-align: bottom;
              background: #e6eaf0; font-weight: bold; font-size: 6.3pt; line-height: 1.45; }}
table.t tbody tr {{ background-image: repeating-linear-gradient(to bottom, #fff 0,
                     #fff {_LINE_PT:g}pt, #f1f4f8 {_LINE_PT:g}pt, #f1f4f8 {2 * _LINE_PT:g}pt); }}
table.t td {{ padding: 0 0.8mm; white-space: pre; vertical-align: top; }}
table.t .num {{ text-align: right; }}
.lv {{ font-weight: bold; }}
.bad {{ color: #b2182b; font-weight: bold; }}
.part {{ color: #b35806; }}
.gap {{ color: #8c6d1f; font-style: italic; }}
.dim {{ color: #777; }}
.items {{ display: table; width: 100%; table-layout: fixed; border-spacing: 0; }}
.items > div {{ display: table-cell; vertical-align: top; width: 50%; }}
.items > div + div {{ padding-left: 4mm; }}
.note {{ color: #555; margin: 0 0 0.8mm; }}
footer {{ margin-top: 2mm; color: #666; font-size: 6pt; border-top: 0.2mm solid #ccc;
          padding-top: 0.8mm; white-space: nowrap; overflow: hidden; }}
@media screen {{
  body {{ background: #e8e8e8; }}
  .page {{ margin: 8mm auto; padding: 10mm; width: 210mm; min-height: 297mm;
           background: #fff; box-shadow: 0 0 4px rgba(0,0,0,.25); }}
}}
"""


# ---------------------------------------------------------------------------------------
# Text that fits
# ---------------------------------------------------------------------------------------


def _fit(text: Any, width_mm: float, size_pt: float = _BODY_PT) -> str:
    """``text`` (plain), cut with "…" so that it fits ``width_mm`` at ``size_pt``."""
    s = " ".join(str(text or "").split())
    size = size_pt * _PT_PX
    if text_width(s, size) <= width_mm * _MM_PX:
        return s
    return s[: _fitting(s, width_mm, size_pt, "…")].rstrip() + "…"


def _fitting(s: str, width_mm: float, size_pt: float, tail: str = "") -> int:
    """How many leading characters of ``s`` (and ``tail``) fit ``width_mm``, at least 1."""
    limit = width_mm * _MM_PX
    size = size_pt * _PT_PX
    low, high = 1, len(s)  # text_width grows with the prefix: search it
    while low < high:
        mid = (low + high + 1) // 2
        if text_width(s[:mid] + tail, size) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


def _lines(text: str, width_mm: float, size_pt: float = _BODY_PT) -> int:
    """Lines a text wrapped anywhere takes in a column (estimated generously)."""
    return max(1, math.ceil(text_width(text, size_pt * _PT_PX) / (width_mm * _MM_PX)))


def _num(value: Any) -> str:
    return format_number(value, 0)


def _share(value: Any) -> str:
    v = as_number(value)
    return "—" if v is None else f"{v * 100:.0f}%"


def _label(row: Mapping[str, Any]) -> str:
    """An item's name: "中文 English", or the standard's item text when it has no name."""
    zh, en = str(_cell(row, "zh")), str(_cell(row, "en"))
    text = " ".join(p for p in (zh, en) if p)
    return text or str(_cell(row, "item"))


def _cell(row: Mapping[str, Any], column: str) -> Any:
    value = row.get(column, "")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


# ---------------------------------------------------------------------------------------
# Colours of grades (the map's: circles.outputs.grades.CLASSES, A first)
# ---------------------------------------------------------------------------------------


def _grade_colours(standard: Any) -> dict[str, str]:
    """``{grade: colour}``: the map's classes in the standard's grade order (as map.html)."""
    grades = getattr(standard, "grades", ()) or ()
    return {str(g.grade): CLASSES[min(i, len(CLASSES) - 1)][1] for i, g in enumerate(grades)}


def _ink(fill: str) -> str:
    """Black or white text, whichever reads better on ``fill`` (#rrggbb)."""
    r, g, b = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return "#111" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


# ---------------------------------------------------------------------------------------
# The map: an inline SVG of the unit and its clusters
# ---------------------------------------------------------------------------------------


def _rings(geom: Any) -> list[np.ndarray]:
    """Coordinate arrays of every ring of a polygon or multipolygon."""
    out: list[np.ndarray] = []
    for part in shapely.get_parts(np.asarray([geom], dtype=object)):
        if part is None or part.is_empty or part.geom_type != "Polygon":
            continue
        out.append(np.asarray(part.exterior.coords))
        out.extend(np.asarray(r.coords) for r in part.interiors)
    return out


def _path(geom: Any, to_svg: Any) -> str:
    parts = []
    for ring in _rings(geom):
        xy = to_svg(ring)
        if len(xy) < 3:
            continue
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        parts.append(f"M{pts}Z")
    return "".join(parts)


def _nice_length(metres: float) -> float:
    """The largest 1, 2 or 5 x 10^k metres not above ``metres``."""
    if metres <= 0:
        return 0.0
    k = 10 ** math.floor(math.log10(metres))
    return max(m * k for m in (1, 2, 5) if m * k <= metres)


def map_svg(
    outline: Any,
    clusters: Sequence[tuple[Any, str, str, bool]],
    size_mm: float = _MAP_MM,
) -> str:
    """A static map: the unit's outline and its clusters filled by grade, with a scale bar
    and a north arrow.

    Parameters
    ----------
    outline : shapely geometry or None
        The unit's polygon, in the network's metric CRS.
    clusters : sequence of (geometry, colour, label, split)
        Each cluster's polygon (same CRS), fill colour ``#rrggbb``, label (plain text,
        escaped here; empty for none) and whether a unit boundary cuts it (drawn dashed).
    size_mm : float
        The width and height of the map on the page.

    Returns
    -------
    str
        An inline SVG element; y grows southwards on the page, north is up (the network
        CRS is projected, its grid north within a few degrees of true north).
    """
    side = 4.0 * size_mm  # user units: 4 per mm
    pad = 12.0
    font = 2.6 * 4  # 7.4 pt in user units
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size_mm:g}mm" height="{size_mm:g}mm" '
        f'viewBox="0 0 {side:g} {side:g}" role="img" font-family="{escape_text(FONT)}" '
        f'font-size="{font:g}">'
        f'<rect x="0" y="0" width="{side:g}" height="{side:g}" fill="#fbfbf8"/>'
    )
    geoms = [g for g in [outline, *(c[0] for c in clusters)] if g is not None and not g.is_empty]
    if not geoms:
        return (
            head + f'<text x="{side / 2:g}" y="{side / 2:g}" text-anchor="middle" fill="#777">'
            "无边界和小区 no outline, no clusters</text></svg>"
        )
    bounds = np.array([g.bounds for g in geoms])
    x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
    x1, y1 = bounds[:, 2].max(), bounds[:, 3].max()
    span = max(x1 - x0, y1 - y0, 1.0)
    scale = (side - 2 * pad) / span
    ox = pad + ((side - 2 * pad) - (x1 - x0) * scale) / 2
    oy = pad + ((side - 2 * pad) - (y1 - y0) * scale) / 2

    def to_svg(xy: np.ndarray) -> np.ndarray:
        out = np.empty((len(xy), 2))
        out[:, 0] = ox + (xy[:, 0] - x0) * scale
        out[:, 1] = oy + (y1 - xy[:, 1]) * scale
        # drop points that fall on the previous one at this scale: fewer bytes, same drawing
        keep = np.ones(len(out), bool)
        keep[1:] = np.any(np.abs(np.diff(np.round(out, 1), axis=0)) > 0, axis=1)
        return out[keep]

    tolerance = 0.4 / scale  # half a user unit, in metres
    out = [head]
    if outline is not None and not outline.is_empty:
        d = _path(shapely.simplify(outline, tolerance), to_svg)
        out.append(f'<path d="{d}" fill="#ffffff" stroke="#333" stroke-width="1.6"/>')
    labels = []
    for geom, colour, label, split in clusters:
        if geom is None or geom.is_empty:
            continue
        d = _path(shapely.simplify(geom, tolerance), to_svg)
        dash = ' stroke-dasharray="3 2" stroke="#111" stroke-width="1"' if split else ""
        stroke = "" if split else ' stroke="#555" stroke-width="0.5"'
        out.append(f'<path d="{d}" fill="{colour}" fill-opacity="0.9"{stroke}{dash}/>')
        gx0, gy0, gx1, gy1 = geom.bounds
        if label and (gx1 - gx0) * scale > 24 and (gy1 - gy0) * scale > font * 1.4:
            text = _fit(label, (gx1 - gx0) * scale / 4 - 1, 7.4)
            p = geom.representative_point()
            (px, py) = to_svg(np.array([[p.x, p.y]]))[0]
            labels.append(
                f'<text x="{px:.1f}" y="{py + font * 0.35:.1f}" text-anchor="middle" '
                f'fill="#111">{escape_text(text)}</text>'
            )
    out.extend(labels)  # above every fill
    # scale bar, bottom left, on a white strip
    metres = _nice_length(0.3 * (side - 2 * pad) / scale)
    if metres > 0:
        w = metres * scale
        text = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
        by = side - 8
        out.append(
            f'<rect x="4" y="{by - font - 5:.1f}" width="{w + 12:.1f}" height="{font + 9:.1f}" '
            'fill="#fff" fill-opacity="0.85"/>'
            f'<path d="M10,{by - 4:.1f}V{by:.1f}H{10 + w:.1f}V{by - 4:.1f}" fill="none" '
            'stroke="#111" stroke-width="1.4"/>'
            f'<text x="{10 + w / 2:.1f}" y="{by - 5:.1f}" text-anchor="middle">{text}</text>'
        )
    # north arrow, top right
    nx, ny = side - 16, 10
    out.append(
        f'<path d="M{nx},{ny}L{nx + 7},{ny + 20}L{nx},{ny + 15}L{nx - 7},{ny + 20}Z" '
        'fill="#111"/>'
        f'<text x="{nx}" y="{ny + 20 + font:.1f}" text-anchor="middle" '
        'font-weight="bold">N 北</text>'
    )
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------


def _by_unit(frame: pd.DataFrame | None) -> dict[int, Rows]:
    """A unit report's rows as records, by unit index (pandas once, not once a page)."""
    out: dict[int, Rows] = {}
    if frame is None or frame.empty or "unit" not in frame.columns:
        return out
    for r in frame.to_dict("records"):
        out.setdefault(int(r["unit"]), []).append(r)
    return out


def _level_names(standard: Any) -> dict[str, str]:
    return {
        str(lv.key): f"{lv.zh} {lv.en} · {lv.distance_m:g} m"
        for lv in getattr(standard, "levels", ()) or ()
    }


def _status_cell(row: Mapping[str, Any]) -> str:
    """How an item is known and its status, as one run of text (one box to lay out)."""
    status = str(_cell(row, "status"))
    how = str(_cell(row, "how"))
    table = {**_STATUS, **_STATUS_SELF} if how == "self_assessed" else _STATUS
    text, cls = table.get(status, (status, "")) if status else ("—", "")
    # " ".join(split()): a line break from the data would shift every row below it
    line = escape_text(" ".join(f"{_HOW.get(how, how)} {text}".split()))
    return f'<span class="{cls}">{line}</span>' if cls and cls != "ok" else line


_BLANK = ""  # an empty line of a column: a line box as high as the others, and no text


def _wrap(text: str, width_mm: float, most: int) -> list[str]:
    """``text`` in at most ``most`` lines of ``width_mm`` (cut anywhere; the last one with
    "…" when it does not all fit)."""
    lines: list[str] = []
    rest = " ".join(text.split())
    size = _BODY_PT * _PT_PX
    while rest and len(lines) < most - 1 and text_width(rest, size) > width_mm * _MM_PX:
        cut = _fitting(rest, width_mm, _BODY_PT)
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        lines.append(_fit(rest, width_mm))
    return lines or [""]


class _Columns:
    """A table drawn one cell a column: each cell holds its column's lines (``white-space:
    pre``), row by row, so that every row lines up across the columns.

    WeasyPrint's time grows with the boxes on a page: a table of one cell per column and
    row cost units.pdf twice the time. A line is never wrapped by the engine (it is cut or
    wrapped here), so every line is as high as every other, and stripes drawn by a
    repeating gradient of that height fall on the lines.
    """

    def __init__(self, head: list[str], widths: list[str], numeric: set[int]) -> None:
        self.head = head
        self.widths = widths
        self.numeric = numeric
        self.rows: list[list[list[str]]] = []  # per row, per column, its lines (HTML)

    @property
    def lines(self) -> int:
        return sum(len(r[0]) for r in self.rows)

    def add(self, cells: list[list[str]]) -> None:
        n = max(len(c) for c in cells)
        self.rows.append([c + [_BLANK] * (n - len(c)) for c in cells])

    def html(self) -> str:
        num = [' class="num"' if i in self.numeric else "" for i in range(len(self.head))]
        cols = "".join(f'<col style="width:{w}">' if w else "<col>" for w in self.widths)
        head = "".join(f"<th{c}>{h}</th>" for h, c in zip(self.head, num, strict=True))
        body = "".join(
            f"<td{c}>" + "\n".join(line for row in self.rows for line in row[i]) + "</td>"
            for i, c in enumerate(num)
        )
        return (
            f'<table class="t"><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>'
            f"<tbody><tr>{body}</tr></tbody></table>"
        )


def _item_entries(items: Rows, standard: Any) -> list[tuple[str, list[list[str]], int]]:
    """``(kind, cells, items)`` for each level heading ("level"), item ("item") and list of
    a level's items not assessed ("na"), in the standard's level order; a cell is its lines.

    The items not assessed are alike in every unit and have no figures: one list after
    their level's rows, not a row each, keeps the page short and WeasyPrint quick.
    """
    if not items:
        return []
    names = _level_names(standard)
    order = {k: i for i, k in enumerate(names)}
    # by level in the standard's order (sorted is stable: the items keep theirs)
    rows = sorted(items, key=lambda r: order.get(str(_cell(r, "level")), len(order)))
    levels: dict[str, Rows] = {}
    for r in rows:
        levels.setdefault(str(_cell(r, "level")), []).append(r)
    # ○ optional only when the report says so; a missing flag reads as required
    label = {
        id(r): f"{'○' if _cell(r, 'required') in (False, 0) else '●'} {_label(r)}" for r in rows
    }
    unseen = {id(r) for r in rows if _cell(r, "how") == "not_assessed"}
    na_lines = {
        k: _wrap(
            "未评估 not assessed: " + " · ".join(label[id(r)] for r in group), _ITEMS_WIDTH_MM, 2
        )
        for k, g in levels.items()
        if (group := [r for r in g if id(r) in unseen])
    }
    # a label wraps onto a second line when the page has room for it all; else it is cut
    shown = [label[id(r)] for r in rows if id(r) not in unseen]
    wide = sum(_lines(t, _ITEM_MM) > 1 for t in shown)
    needed = len(shown) + wide + len(levels) + sum(map(len, na_lines.values()))
    two = needed <= 2 * (_ITEMS_LINES - 2)
    out: list[tuple[str, list[list[str]], int]] = []
    for key, group in levels.items():
        name = escape_text(_fit(names.get(key, key), _ITEMS_WIDTH_MM))
        out.append(("level", [[f'<b class="lv">{name}</b>'], [_BLANK], [_BLANK]], 0))
        for row in group:
            if id(row) in unseen:
                continue
            text = _wrap(label[id(row)], _ITEM_MM, 2 if two else 1)
            cells: list[list[str]] = [
                [escape_text(t) for t in text],
                [_status_cell(row)],
                [_missing(row)],
            ]
            out.append(("item", cells, 1))
        if key in na_lines:
            lines = [f'<span class="dim">{escape_text(t)}</span>' for t in na_lines[key]]
            out.append(("na", [lines, [_BLANK], [_BLANK]], sum(id(r) in unseen for r in group)))
    return out


def _missing(row: Mapping[str, Any]) -> str:
    """Clusters and residents missing a measured item, "2 · 1,037" in one run of text;
    nothing for an item every cluster reaches or one without data (no box to draw)."""
    if _cell(row, "how") != "measured" or _cell(row, "status") in ("reached", "gap", ""):
        return _BLANK
    return f"{_num(_cell(row, 'clusters_missing'))} · {_num(_cell(row, 'residents_missing'))}"


def _item_table() -> _Columns:
    return _Columns(
        [
            "条目 item",
            "方式 状态<br>how, status",
            "未达到: 小区 · 居民<br>missing: clusters · residents",
        ],
        ["", "19mm", "23mm"],
        {2},
    )


def _items_html(items: Rows, standard: Any) -> str:
    """The item table as two tables side by side, cut (and said so) past a page."""
    entries = _item_entries(items, standard)
    if not entries:
        return '<p class="note">无条目 no items.</p>'
    budget = _ITEMS_LINES - 2  # the header takes two lines
    total = sum(len(cells[0]) for _, cells, _ in entries)
    half = min(budget, math.ceil(total / 2))
    tables = [_item_table(), _item_table()]
    col = 0
    left_out = 0
    level: list[list[str]] = []
    for i, (kind, cells, _) in enumerate(entries):
        n = len(cells[0])
        if kind == "level":
            level = cells
        if col == 0 and tables[0].lines + n > half:
            col = 1
            if kind != "level":  # the level goes on in the second table: say so
                cont = level[0][0].replace("</b>", " (续 cont.)</b>")
                tables[1].add([[cont], [_BLANK], [_BLANK]])
        if tables[col].lines + n > budget - col:  # the second keeps a line for "more"
            left_out = sum(n for _, _, n in entries[i:])
            break
        tables[col].add(cells)
    if left_out:
        more = f"… 另有 {left_out} 项未列出 {left_out} more items not shown"
        tables[1].add([[f'<span class="dim">{more}</span>'], [_BLANK], [_BLANK]])
    halves = [t.html() if t.rows else "" for t in tables]
    return f'<div class="items"><div>{halves[0]}</div><div>{halves[1]}</div></div>'


def _shortfalls_html(shortfalls: Rows, proposed: bool, clusters: int) -> str:
    """The unit's shortfall list, largest first, cut (and said so) past its space."""
    if not shortfalls and not clusters:
        return (
            '<p class="note">无小区，实测条目无从评估。'
            "No clusters in this unit: the measured items cannot be assessed.</p>"
        )
    if not shortfalls:
        return (
            '<p class="note">无短板：每个必备条目都已达到。'
            "No shortfall: every required item is reached.</p>"
        )
    frame = _by_residents(shortfalls)
    budget = _SHORTFALL_LINES - 2
    shown = frame if len(frame) <= budget else frame[: budget - 1]
    table = _Columns(
        [
            "短板 shortfall",
            "居民 (小区)<br>residents (clusters)",
            "最近设施 · 步行<br>nearest facility, walk",
        ]
        + (["拟建<br>proposed"] if proposed else []),
        ["", "22mm", f"{_FACILITY_MM + 2:g}mm"] + (["18mm"] if proposed else []),
        {1},
    )
    item_mm = _SHORTFALL_ITEM_MM - (18 if proposed else 0)
    for i, row in enumerate(shown, start=1):
        label = _label(row)
        if str(_cell(row, "how")) == "self_assessed":
            label = f"{label} (自评 self-assessed)"
        facility = str(_cell(row, "nearest_facility"))
        metres = as_number(_cell(row, "nearest_facility_m"))
        walk = f" · {metres:,.0f} m" if metres is not None else ""
        near = _fit(facility, _FACILITY_MM - text_width(walk, _BODY_PT * _PT_PX) / _MM_PX)
        cells: list[list[str]] = [
            [escape_text(_fit(f"{i}. {label}", item_mm))],
            [f"{_num(_cell(row, 'residents_affected'))} ({_num(_cell(row, 'n_clusters'))})"],
            [(escape_text(near) or "—") + escape_text(walk)],
        ]
        if proposed:
            cells.append([escape_text(_fit(_cell(row, "proposed_site"), 16)) or "—"])
        table.add(cells)
    more = len(frame) - len(shown)
    if more:
        text = (
            f"… 另有 {more} 项，见 shortfalls.csv / shortfalls.xlsx · {more} more in shortfalls.csv"
        )
        blank = [_BLANK]
        table.add(
            [[f'<span class="dim">{escape_text(text)}</span>'], *[blank] * (len(table.head) - 1)]
        )
    return table.html()


def _by_residents(shortfalls: Rows) -> Rows:
    """Most residents affected first (the report sorts them so; a stable sort keeps ties)."""
    return sorted(shortfalls, key=lambda r: -(as_number(_cell(r, "residents_affected")) or -1.0))


_SCORE_PARTS = (
    "items_reached",
    "measured_reached",
    "measured_total",
    "self_reported_total",
    "self_reported_yes",
    "self_reported_partial",
    "self_reported_no",
)


def _headline(row: Mapping[str, Any], shortfalls: Rows, standard: Any, n_units: int) -> str:
    colours = _grade_colours(standard)
    grade = str(_cell(row, "grade"))
    fill = colours.get(grade, UNUSED[0])
    meaning = grade_meaning(standard, grade) if grade else ""
    if not grade:
        grade, meaning = "—", "未评分 not graded (no clusters)"
    clusters = int(as_number(_cell(row, "clusters")) or 0)
    split = int(as_number(_cell(row, "clusters_split")) or 0)
    rank = as_number(_cell(row, "rank"))
    rank_text = f"第 {rank:.0f} / {n_units} 名 rank" if rank is not None else "未排名 not ranked"
    self_text = ""
    total = as_number(_cell(row, "items_total"))
    if total:
        # Measured and self-reported items are counted apart, never mixed.
        n = {k: as_number(_cell(row, k)) or 0 for k in _SCORE_PARTS}
        self_text = (
            f"<br>全部条目 all items: {n['items_reached']:.0f} / {total:.0f} "
            f"(实测 measured {n['measured_reached']:.0f} / {n['measured_total']:.0f}"
        )
        if n["self_reported_total"]:
            self_text += (
                f"; 自评 self-reported 是 yes {n['self_reported_yes']:.0f} · 部分 partial "
                f"{n['self_reported_partial']:.0f} · 否 no {n['self_reported_no']:.0f}"
            )
        self_text += ")"
    top = _by_residents(shortfalls)[:3]
    if not top:
        top3 = "<li>无 none</li>" if clusters else "<li>无小区，无从评估 no clusters to assess</li>"
    else:
        top3 = "".join(
            "<li>"
            + escape_text(
                _fit(
                    f"{_label(r)} — {_num(_cell(r, 'residents_affected'))} 居民 residents",
                    _TOP3_MM,
                )
            )
            + "</li>"
            for r in top
        )
    return (
        '<section class="headline">'
        f'<div class="box grade" style="background:{fill};color:{_ink(fill)}">'
        f'<div>等级 grade</div><div class="big">{escape_text(grade)}</div>'
        f"<div>{escape_text(meaning)}</div></div>"
        '<div class="box stat"><div>完整生活圈居民占比</div>'
        f'<div class="big">{_share(_cell(row, "complete_share"))}</div>'
        "<div>residents in complete circles · 完整度 completeness "
        f"{_share(_cell(row, 'completeness'))}</div></div>"
        '<div class="box stat"><div>居民 residents</div>'
        f'<div class="big">{_num(_cell(row, "population"))}</div>'
        f"<div>{clusters} 小区 clusters"
        + (f" ({split} 跨界 split)" if split else "")
        + f"<br>{escape_text(rank_text)}{self_text}</div></div>"
        '<div class="box"><div><b>三大短板 Three biggest shortfalls</b></div>'
        f"<ol>{top3}</ol></div>"
        "</section>"
    )


def _legend(standard: Any) -> str:
    colours = _grade_colours(standard)
    parts = [
        f'<span><i class="sw" style="background:{c}"></i>{escape_text(g)} '
        f"{escape_text(grade_meaning(standard, g).split(' ')[0])}</span>"
        for g, c in colours.items()
    ]
    parts.append(f'<span><i class="sw" style="background:{UNUSED[0]}"></i>未评分 not scored</span>')
    parts.append('<span><i class="sw split"></i>跨界小区 split by a boundary</span>')
    return f'<div class="legend">小区等级 cluster grade: {"".join(parts)}</div>'


def _name(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


class _Book:
    """What the pages of a run share, worked out once: the standard, its colours, each
    cluster's drawing, the report's rows by unit, the header and the legend."""

    def __init__(self, result: StudyResult, report: UnitReport) -> None:
        self.report = report
        self.standard = result.scores.standard if result.scores is not None else None
        self.colours = _grade_colours(self.standard)
        self.items = _by_unit(report.items)
        self.shortfalls = _by_unit(report.shortfalls)
        table = report.table
        self.rows = {int(r["unit"]): r for r in table.to_dict("records")} if "unit" in table else {}
        sites = report.shortfalls.get("proposed_site")
        self.proposed = sites is not None and bool(sites.fillna("").astype(str).str.len().any())
        self.clusters = self._drawings(result)
        study = result.summary.get("title") or result.study.display_title
        std = self.standard
        std_text = f"对照标准 Standard: {std.title_zh} {std.title_en}" if std is not None else ""
        self.sub = escape_text(_fit(" · ".join(p for p in (str(study), std_text) if p), 188))
        self.source = escape_text(_fit(str(getattr(report.units, "source", "") or ""), 40, 6))
        self.legend = _legend(self.standard)

    def _drawings(self, result: StudyResult) -> list[tuple[Any, str, str, bool]]:
        """Each cluster's polygon, colour (its grade's), label and whether it is split."""
        clusters = result.clusters
        if clusters is None or len(clusters) == 0:
            return []
        grades: list[Any] = [None] * len(clusters)
        scored = scored_level(result)
        if scored is not None and result.scores is not None:
            grades = result.scores.table[f"std_{scored[1].key}_grade"].tolist()
        names = (
            clusters["name"] if "name" in clusters.columns else clusters["cluster_id"]
        ).tolist()
        split = np.asarray(self.report.cluster_split, dtype=bool)
        return [
            (geom, self.colours.get(str(g), UNUSED[0]) if escape_text(g) else UNUSED[0],
             _name(n), bool(cut))
            for geom, g, n, cut in zip(
                clusters.geometry.to_numpy(), grades, names, split, strict=True
            )
        ]  # fmt: skip

    def page(self, unit: int) -> str:
        """The dossier of the unit with this index."""
        units = self.report.units
        row = self.rows.get(unit, {})
        name = str(units.name[unit])
        level = str(getattr(units, "level", "") or "")
        items = self.items.get(unit, [])
        shortfalls = self.shortfalls.get(unit, [])
        mine = np.flatnonzero(np.asarray(self.report.cluster_unit) == unit)
        drawing = [self.clusters[i] for i in mine]
        return (
            "<!DOCTYPE html>\n"
            '<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
            # A phone shows the whole A4 sheet, zoomed to fit, as a PDF viewer would: the
            # page's layout is in millimetres (246 mm with its padding and margins: 930 px).
            '<meta name="viewport" content="width=940">\n'
            f"<title>{escape_text(name)} · 社区档案 unit dossier</title>\n"
            f'<style>{_CSS}</style>\n</head>\n<body>\n<div class="page">\n'
            f"<header><h1>{escape_text(_fit(name, _NAME_MM - 40, 15))}"
            f'<span class="level">{escape_text(_fit(level, 35, 9))} · 一社区一档案 unit dossier'
            f'</span></h1><p class="sub">{self.sub}</p></header>\n'
            + _headline(row, shortfalls, self.standard, len(units.name))
            + '\n<section class="top"><div class="map"><h2>地图 Map</h2>'
            + map_svg(units.geometry[unit], drawing)
            + self.legend
            + "</div><div><h2>短板清单 Shortfall list "
            '<span class="dim">按受影响居民排序 by residents affected</span></h2>'
            + _shortfalls_html(shortfalls, self.proposed, len(drawing))
            + "</div></section>\n"
            '<section><h2>对照标准条目 Items of the standard</h2><p class="note">'
            "● 必备 required · ○ 可选 optional · 实测 measured · 自评 self-assessed · "
            "未评估 not assessed · 缺: 未达到的小区和居民 clusters, residents not reaching it</p>"
            + _items_html(items, self.standard)
            + "</section>\n"
            f"<footer>circles · 一社区一档案 one file per unit · 边界 units: {self.source} · "
            f"地图数据 map data {escape_text(OSM_ATTRIBUTION)}</footer>\n</div>\n</body>\n</html>\n"
        )


def render_dossier(result: StudyResult, report: UnitReport, unit: int) -> str:
    """The dossier of one unit as a self-contained HTML page (one A4 page in print).

    Parameters
    ----------
    result : StudyResult
        The scored run: its clusters (network CRS), their grades and the standard.
    report : UnitReport
        The units' assessment (:func:`circles.units.assess`).
    unit : int
        The unit's index in ``report.units``.

    Returns
    -------
    str
        The page: a headline (grade, share of residents in complete circles, the three
        biggest shortfalls), a static map, the item table and the shortfall list; no
        script, every text escaped.
    """
    return _Book(result, report).page(unit)


def write_dossiers(result: StudyResult, report: UnitReport, folder: Path) -> list[Path]:
    """Write ``units/<slug>.html``, one printable A4 page per unit.

    Parameters
    ----------
    result : StudyResult
        The scored run.
    report : UnitReport
        The units' assessment; its slugs name the files.
    folder : pathlib.Path
        The output folder; the pages go into its ``units`` subfolder.

    Returns
    -------
    list of pathlib.Path
        The pages, in the units' order.

    Raises
    ------
    OutputError
        A slug is not a plain file name (slugs come from :func:`circles.config.safe_name`).
    """
    out_dir = Path(folder) / "units"
    out_dir.mkdir(parents=True, exist_ok=True)
    book = _Book(result, report)
    paths = []
    for i, slug in enumerate(report.units.slug):
        slug = str(slug)
        if not slug or slug != Path(slug).name or slug.startswith("."):
            raise OutputError(
                f"unit {report.units.name[i]!r}: its file name {slug!r} is not a plain name; "
                "name the unit with letters and digits"
            )
        path = out_dir / f"{slug}.html"
        path.write_text(book.page(i), encoding="utf-8")
        paths.append(path)
    return paths


def write_units_pdf(pages: Sequence[Path | str], out_pdf: Path) -> Path:
    """Every dossier in one PDF, one unit per page, rendered by WeasyPrint.

    Parameters
    ----------
    pages : sequence of pathlib.Path or str
        The dossiers in order: a path is a page written by :func:`write_dossiers`, a
        string is the HTML itself (:func:`render_dossier`).
    out_pdf : pathlib.Path
        The PDF to write (units.pdf).

    Returns
    -------
    pathlib.Path
        ``out_pdf``.

    Raises
    ------
    OutputError
        There is no page to write, or WeasyPrint cannot be loaded (it is not installed,
        or pango is missing).
    """
    if not pages:
        raise OutputError("units.pdf: there are no units to write; give units with --units")
    try:
        from weasyprint import HTML
        from weasyprint.text.fonts import FontConfiguration
    except (ImportError, OSError) as e:  # OSError: WeasyPrint found no pango library
        raise OutputError(
            f"units.pdf needs WeasyPrint and pango ({one_line(e, 120)}): "
            "pip install weasyprint, and apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
            "fonts-noto-cjk (make browser does it as root)"
        ) from e
    fonts = FontConfiguration()  # one for all pages: the CJK font is loaded once
    # The laid-out pages are millions of objects that all live until the PDF is written:
    # the cyclic collector's passes over them took a tenth of the time and freed nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        documents = []
        for page in pages:
            text = page.read_text(encoding="utf-8") if isinstance(page, Path) else page
            documents.append(HTML(string=text).render(font_config=fonts))
        every = [p for d in documents for p in d.pages]
        documents[0].copy(every).write_pdf(out_pdf)
    finally:
        if collecting:
            gc.enable()
    return out_pdf


def cjk_font_warning() -> str | None:
    """A warning when the machine has no font for Chinese: units.pdf would show boxes.

    WeasyPrint draws with the fonts fontconfig knows (the browsers that open the HTML
    pages bring their own); without a CJK one every Chinese character is an empty box.

    Returns
    -------
    str or None
        One line to add to the run's warnings, or None when fontconfig lists a font for
        Chinese (or cannot be asked: no ``fc-list``).
    """
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        found = subprocess.run(
            [fc_list, ":lang=zh", "family"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if found:
        return None
    return (
        "units.pdf: no font for Chinese on this machine, so its Chinese text shows as boxes; "
        "install one (apt-get install fonts-noto-cjk, or make browser as root) and run again"
    )
