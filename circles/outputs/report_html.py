"""report.html: the report of :mod:`circles.outputs.report` as one self-contained page.

The page needs nothing from the network: styles are inline, charts are inline SVG drawn
here (the browser renders their Chinese labels with its own fonts, so no CJK font is needed
on the machine that writes the report). A Content-Security-Policy forbids scripts and any
outside resource. Every piece of text, OSM names included, is escaped with
:func:`html.escape`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from circles.outputs.report import (
    Bullets,
    Chart,
    Findings,
    Heading,
    Inline,
    Link,
    Para,
    Report,
    Table,
    build_report,
)
from circles.result import StudyResult
from circles.settings import OSM_ATTRIBUTION

_FONT = (
    "system-ui, -apple-system, 'Segoe UI', 'PingFang SC', 'Hiragino Sans GB', "
    "'Microsoft YaHei', 'Noto Sans CJK SC', 'Source Han Sans SC', 'WenQuanYi Micro Hei', "
    "sans-serif"
)
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_SERIES_COLORS = ("#9ecae1", "#4292c6", "#08306b", "#6a51a3", "#807dba")
_GRADE_COLORS = {
    "A": "#1a9850",
    "B": "#91cf60",
    "C": "#fee08b",
    "D": "#fc8d59",
    "E": "#d73027",
}
_OTHER_GRADE = "#bdbdbd"

_CSS = f"""
:root {{ color-scheme: light; }}
body {{ font-family: {_FONT}; margin: 0; color: #222; background: #fafafa; line-height: 1.5; }}
main {{ max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }}
h1 {{ font-size: 1.6em; margin: 0.2em 0; }}
h2 {{ font-size: 1.25em; margin-top: 1.8em; border-bottom: 2px solid #e0e0e0;
      padding-bottom: 4px; }}
h3 {{ font-size: 1.05em; margin-top: 1.3em; color: #333; }}
.sub {{ color: #555; margin-top: 0; }}
nav.toc {{ background: #f5f7fa; border: 1px solid #e3e7ee; padding: 8px 14px; margin: 16px 0; }}
nav.toc a {{ margin-right: 14px; white-space: nowrap; color: #1565c0; text-decoration: none; }}
.tbl {{ overflow-x: auto; }}
table {{ border-collapse: collapse; margin: 10px 0 16px; font-size: 0.9em; width: 100%; }}
th, td {{ border: 1px solid #ddd; padding: 4px 7px; vertical-align: top; text-align: left; }}
th {{ background: #f0f3f7; }}
td.num, th.num {{ text-align: right; white-space: nowrap; }}
tr:nth-child(even) td {{ background: #fbfbfd; }}
figure {{ margin: 12px 0 8px; overflow-x: auto; }}
figcaption {{ font-weight: 600; margin-bottom: 4px; }}
ul {{ padding-left: 1.3em; }}
li {{ margin: 2px 0; }}
footer {{ margin-top: 32px; color: #555; font-size: 0.9em; }}
/* The key findings: one screen, before the data. */
h2:first-of-type {{ margin-top: 0.8em; }}
section.findings {{ background: #f7f9fc; border: 1px solid #dfe5ee; border-radius: 6px;
                    padding: 2px 16px 8px; }}
section.findings h3 {{ font-size: 1em; margin: 0.7em 0 0.1em; }}
section.findings ul {{ margin: 0; }}
section.findings li {{ margin: 1px 0; }}
/* A phone: wide tables and charts scroll inside their own box, never the page. */
@media (max-width: 600px) {{
  main {{ padding: 12px 12px 32px; }}
  nav.toc a {{ white-space: normal; }}
}}
"""


def _e(text: Any) -> str:
    """Escaped text of any value (None and NaN print as nothing)."""
    if text is None:
        return ""
    if isinstance(text, float) and text != text:
        return ""
    return escape(str(text), quote=True)


def _inline(parts: list[Inline]) -> str:
    out = []
    for p in parts:
        if isinstance(p, Link):
            url = p.url if p.url.startswith(("https://", "http://")) else "#"
            out.append(f'<a href="{_e(url)}" rel="noopener noreferrer">{_e(p.text)}</a>')
        else:
            out.append(_e(p))
    return "".join(out)


def _table(t: Table) -> str:
    marks = t.align or ("l" + "r" * (len(t.header) - 1))

    def cls(i: int) -> str:
        return ' class="num"' if i < len(marks) and marks[i] == "r" else ""

    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(t.header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{_e(v)}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in t.rows
    )
    return (
        f'<div class="tbl"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


# ---------------------------------------------------------------------------------------
# Charts (inline SVG)
# ---------------------------------------------------------------------------------------


def text_width(text: str, size: float = 12.0) -> float:
    """A generous estimate of the width of ``text`` in pixels (CJK glyphs are square).

    Parameters
    ----------
    text : str
        The text.
    size : float
        The font size in pixels.

    Returns
    -------
    float
        The width in pixels.
    """
    wide = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return size * (wide + 0.62 * (len(text) - wide))


def _svg_text(x: float, y: float, text: str, **attrs: Any) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{_e(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{_e(text)}</text>'


def coverage_svg(data: dict[str, Any]) -> str:
    """Horizontal bars: per category, one bar per threshold (share of clusters, 0-100%).

    Parameters
    ----------
    data : dict
        ``rows`` (each with ``label``, ``gap`` and a share or None per threshold in
        ``values``) and ``series`` (the thresholds' labels).

    Returns
    -------
    str
        An inline SVG element; every text in it is escaped.
    """
    rows = data["rows"]
    series = data["series"]
    pad, bar_w, bar_h, gap, top = 12, 420, 7, 8, 34
    label_w = min(560, max([120.0] + [text_width(r["label"]) for r in rows]) + 2 * pad)
    row_h = max(len(series), 1) * (bar_h + 1) + gap
    height = top + len(rows) * row_h + 26
    legend_w = sum(16 + text_width(name) + 18 for name in series)
    width = label_w + max(bar_w + 70, legend_w)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="{_e(_FONT)}" font-size="12">'
    ]
    # legend
    x = label_w
    for i, name in enumerate(series):
        color = _SERIES_COLORS[i % len(_SERIES_COLORS)]
        out.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{color}"/>')
        out.append(_svg_text(x + 16, 18, name))
        x += 16 + text_width(name) + 18
    # grid
    for pct in (0, 25, 50, 75, 100):
        gx = label_w + bar_w * pct / 100
        out.append(
            f'<line x1="{gx:.1f}" y1="{top - 4}" x2="{gx:.1f}" y2="{height - 22}" '
            'stroke="#e0e0e0" stroke-width="1"/>'
        )
        out.append(_svg_text(gx, height - 8, f"{pct}%", text_anchor="middle", fill="#666"))
    for r, row in enumerate(rows):
        y0 = top + r * row_h
        out.append(
            _svg_text(
                label_w - pad,
                y0 + row_h / 2,
                row["label"],
                text_anchor="end",
                dominant_baseline="middle",
            )
        )
        if row["gap"]:
            out.append(
                _svg_text(
                    label_w + 4,
                    y0 + row_h / 2,
                    "数据缺口 data gap (unknown, not 0%)",
                    dominant_baseline="middle",
                    fill="#b26a00",
                    font_style="italic",
                )
            )
            continue
        for i, v in enumerate(row["values"]):
            y = y0 + i * (bar_h + 1)
            color = _SERIES_COLORS[i % len(_SERIES_COLORS)]
            if v is None:
                out.append(_svg_text(label_w + 4, y + bar_h, "—", fill="#999", font_size="9"))
                continue
            w = max(0.0, min(1.0, float(v))) * bar_w
            out.append(
                f'<rect x="{label_w}" y="{y:.1f}" width="{w:.1f}" height="{bar_h}" fill="{color}">'
                f"<title>{_e(row['label'])} · {_e(series[i])}: {float(v) * 100:.0f}%</title></rect>"
            )
            if i == len(row["values"]) - 1:
                out.append(
                    _svg_text(
                        label_w + w + 4,
                        y + bar_h,
                        f"{float(v) * 100:.0f}%",
                        fill="#333",
                        font_size="10",
                    )
                )
    out.append("</svg>")
    return "".join(out)


def grades_svg(data: dict[str, Any]) -> str:
    """One 100% stacked bar per level: the share of scored clusters in each grade.

    Parameters
    ----------
    data : dict
        ``rows`` (each with ``label`` and a cluster count per grade in ``counts``) and
        ``grades`` (the grades, best first).

    Returns
    -------
    str
        An inline SVG element; every text in it is escaped.
    """
    rows = data["rows"]
    grades = list(data["grades"])
    bar_w, bar_h, gap, top = 460, 22, 12, 34
    label_w = min(560, max([120.0] + [text_width(r["label"]) for r in rows]) + 24)
    height = top + len(rows) * (bar_h + gap) + 10
    width = label_w + bar_w + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="{_e(_FONT)}" font-size="12">'
    ]
    x = label_w
    for g in grades:
        color = _GRADE_COLORS.get(g, _OTHER_GRADE)
        out.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{color}"/>')
        out.append(_svg_text(x + 16, 18, g))
        x += 44
    for r, row in enumerate(rows):
        y = top + r * (bar_h + gap)
        out.append(
            _svg_text(
                label_w - 12,
                y + bar_h / 2,
                row["label"],
                text_anchor="end",
                dominant_baseline="middle",
            )
        )
        total = sum(row["counts"])
        if total == 0:
            out.append(
                _svg_text(
                    label_w + 4, y + bar_h / 2, "未评分 not scored", dominant_baseline="middle"
                )
            )
            continue
        x = float(label_w)
        for g, n in zip(grades, row["counts"], strict=True):
            if n == 0:
                continue
            w = bar_w * n / total
            color = _GRADE_COLORS.get(g, _OTHER_GRADE)
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}" '
                f'stroke="#fff" stroke-width="1"><title>{_e(row["label"])} · {_e(g)}: '
                f"{n} / {total}</title></rect>"
            )
            if w > 26:
                out.append(
                    _svg_text(
                        x + w / 2,
                        y + bar_h / 2,
                        f"{g} {n}",
                        text_anchor="middle",
                        dominant_baseline="middle",
                        fill="#111",
                        font_size="11",
                    )
                )
            x += w
    out.append("</svg>")
    return "".join(out)


_CHARTS = {"coverage": coverage_svg, "grades": grades_svg}


def _chart(c: Chart) -> str:
    draw = _CHARTS.get(c.kind)
    svg = draw(c.data) if draw else ""
    return (
        f'<figure aria-label="{_e(c.alt or c.title)}"><figcaption>{_e(c.title)}</figcaption>'
        f"{svg}</figure>"
    )


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------


def _findings(f: Findings) -> str:
    groups = "".join(
        f"<h3>{_e(label)}</h3><ul>" + "".join(f"<li>{_e(x)}</li>" for x in lines) + "</ul>"
        for label, lines in f.groups
    )
    return f'<section class="findings">{groups}</section>'


def to_html(doc: Report) -> str:
    """The document as a self-contained HTML page.

    Parameters
    ----------
    doc : Report
        A document from :func:`circles.outputs.report.build_report`.

    Returns
    -------
    str
        The page: the key findings in a box when the document opens with them, a table of
        contents, then the rest with inline charts; no scripts.
    """
    body: list[str] = []
    toc: list[str] = []
    n = 0
    for b in doc.blocks:
        if isinstance(b, Heading):
            if b.level == 2:
                n += 1
                anchor = f"s{n}"
                toc.append(f'<a href="#{anchor}">{_e(b.text)}</a>')
                body.append(f'<h2 id="{anchor}">{_e(b.text)}</h2>')
            else:
                body.append(f"<h{b.level}>{_e(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{_inline(b.parts)}</p>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            body.append(_table(b))
        elif isinstance(b, Chart):
            body.append(_chart(b))
        elif isinstance(b, Findings):
            body.append(_findings(b))
    # Findings that open the report come before the table of contents: the first screen.
    lead = 2 if len(doc.blocks) > 1 and isinstance(doc.blocks[1], Findings) else 0
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(doc.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<header><h1>{_e(doc.title)}</h1><p class="sub">{_e(doc.subtitle)}</p></header>\n'
        + "".join(x + "\n" for x in body[:lead])
        + f'<nav class="toc">{"".join(toc)}</nav>\n'
        + "\n".join(body[lead:])
        + f"\n<footer>circles · {_e(OSM_ATTRIBUTION)}</footer>\n"
        "</main>\n</body>\n</html>\n"
    )


def render_html(result: StudyResult) -> str:
    """The report of ``result`` as a self-contained HTML page.

    Parameters
    ----------
    result : StudyResult
        The study to report on, scored or not.

    Returns
    -------
    str
        The text of report.html.
    """
    return to_html(build_report(result))


def write_html_report(result: StudyResult, path: Path) -> Path:
    """Write report.html.

    Parameters
    ----------
    result : StudyResult
        The study to report on, scored or not.
    path : pathlib.Path
        Where report.html goes; the page opens offline.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path.write_text(render_html(result), encoding="utf-8")
    return path
