"""The files of a comparison (``circles compare``), written all at once or not at all.

- ``compare.html``: one page: indicator deltas per level (by clusters, area and residents),
  coverage per category, the clusters that changed grade, those found in one run only, and
  a Leaflet map of the coverage each cluster gained or lost, with the services added and
  removed. The page is the report model of :mod:`circles.outputs.report` written by
  :func:`circles.outputs.report_html.to_html` (every text escaped), with the map added:
  its data is :func:`~circles.outputs.embed.safe_json` in a JSON script element, its
  labels and tooltips escaped in Python; the browser code only joins them. Leaflet comes
  from the CDN or is embedded (``self_contained``), and ``basemap="none"`` requests no
  tile, as in ``map.html``; a Content-Security-Policy allows nothing else.
- ``compare.csv``: the same figures in one long table (:meth:`Comparison.table`), UTF-8
  with a BOM, text a spreadsheet would run as a formula defused.
- ``summary.json``: the comparison as JSON (``"kind": "comparison"``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from circles.comparison import Comparison
from circles.outputs.embed import escape_text as _e
from circles.outputs.embed import safe_json
from circles.outputs.report import Bullets, Heading, Inline, Para, Report, Table
from circles.values import as_number, defuse_formula, format_number

__all__ = [
    "COMPARE_CSV",
    "COMPARE_FILES",
    "COMPARE_HTML",
    "COMPARE_JSON",
    "build_compare_page",
    "write_comparison",
]

COMPARE_HTML = "compare.html"
COMPARE_CSV = "compare.csv"
COMPARE_JSON = "summary.json"
COMPARE_FILES: tuple[str, ...] = (COMPARE_HTML, COMPARE_CSV, COMPARE_JSON)
N_ROWS = 200  # rows of a long table shown in the page (compare.csv has them all)

# Map colours: what happened to a cluster's coverage, and to services.
_STYLES = {
    "gained": ("#1a9850", "覆盖增加 coverage gained"),
    "lost": ("#d73027", "覆盖减少 coverage lost"),
    "both": ("#fdae61", "有增有减 gained and lost"),
    "same": ("#bdbdbd", "无变化 unchanged"),
    "only_a": ("#6a51a3", "仅见于 A only in A"),
    "only_b": ("#2171b5", "仅见于 B only in B"),
    "added": ("#1a9850", "新增设施 services added"),
    "removed": ("#d73027", "关闭设施 services removed"),
}


# ---------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------


def _pp(value: Any) -> str:
    """A change of a share in percentage points (+12.5 pp), or — when unknown."""
    v = as_number(value)
    if v is None:
        return "—"
    return "0" if v == 0 else f"{v * 100:+.1f} pp"


def _pct(value: Any) -> str:
    v = as_number(value)
    return "缺口 gap" if v is None else f"{v * 100:.1f}%"


def _signed(value: Any, digits: int = 0) -> str:
    v = as_number(value)
    if v is None:
        return "—"
    return "0" if v == 0 else ("+" if v > 0 else "") + format_number(v, digits)


def _category_label(key: str) -> str:
    from circles.services import load_catalogue

    cat = load_catalogue().get(key)
    return cat.label if cat else key


def run_text(comparison: Comparison, which: str) -> str:
    """How a run is named in the outputs: ``A: label (source, scenario)``.

    Parameters
    ----------
    comparison : Comparison
        The comparison.
    which : str
        ``a`` or ``b``.

    Returns
    -------
    str
        Plain text.
    """
    run = comparison.a if which == "a" else comparison.b
    scenario = (run.summary.get("scenario") or {}).get("name")
    source = Path(str(run.summary.get("source") or "")).name
    extra = ", ".join(p for p in (source, f"scenario {scenario}" if scenario else "") if p)
    return f"{which.upper()}: {run.label}" + (f" ({extra})" if extra else "")


def _indicator_rows(comparison: Comparison) -> list[list[Any]]:
    rows = []
    frame = comparison.indicators
    for (level, _item), g in frame.groupby(["level", "item"], sort=False):
        by = {r["measure"]: r for r in g.to_dict("records")}
        cells = [level, g["label"].iloc[0]]
        for m in ("clusters", "area", "residents"):
            r = by[m]
            cells.append(f"{_pct(r['a'])} → {_pct(r['b'])} ({_pp(r['change'])})")
        rows.append(cells)
    return rows


def _level_rows(comparison: Comparison) -> list[list[Any]]:
    rows = []
    for level, g in comparison.levels.groupby("level", sort=False):
        by = {r["measure"]: r for r in g.to_dict("records")}
        cells: list[Any] = [level]
        for m, digits in (("clusters", 0), ("residents", 0), ("area_m2", 0)):
            r = by[m]
            a, b = format_number(r["a"], digits), format_number(r["b"], digits)
            cells.append(f"{a} → {b} ({_signed(r['change'], digits)})")
        r = by["completeness_mean"]
        cells.append(f"{_pct(r['a'])} → {_pct(r['b'])} ({_pp(r['change'])})")
        rows.append(cells)
    return rows


def _coverage_rows(comparison: Comparison) -> list[list[Any]]:
    rows = []
    for r in comparison.coverage.to_dict("records"):
        if (as_number(r["change"]) or 0) == 0 and r["gap"] in ("", "ab"):
            continue  # unchanged, or no data in either run
        rows.append(
            [
                _category_label(r["category"]),
                f"{r['threshold_m']:g} m",
                _pct(r["a"]),
                _pct(r["b"]),
                _pp(r["change"]),
            ]
        )
    return rows


def build_compare_report(comparison: Comparison) -> Report:
    """The comparison as a document of plain text blocks (headings, tables).

    Parameters
    ----------
    comparison : Comparison
        The comparison.

    Returns
    -------
    circles.outputs.report.Report
        Its sections; the map is added by :func:`build_compare_page`.
    """
    c = comparison
    doc = Report(
        "对比 Comparison: " + f"{c.b.label} − {c.a.label}",
        f"{run_text(c, 'a')} · {run_text(c, 'b')} · 变化 = B − A (change = B − A)",
    )
    n_gained = int((c.changes["change"] == "gained").sum())
    n_lost = int((c.changes["change"] == "lost").sum())
    facts: list[list[Inline]] = [
        [
            f"匹配的小区 Clusters matched: {len(c.pairs)} (id {int((c.pairs['how'] == 'id').sum())}"
            f", overlap {int((c.pairs['how'] == 'overlap').sum())})"
        ],
        [f"仅见于 A only in A: {len(c.only_a)} · 仅见于 B only in B: {len(c.only_b)}"],
        [
            f"覆盖增加 Reach gained: {n_gained} · 覆盖减少 lost: {n_lost} "
            "(cluster × category × threshold)"
        ],
        [f"等级变化 Grade changes: {len(c.grades)}"],
        [
            f"设施 Services: +{int((c.services['change'] == 'added').sum())} added, "
            f"−{int((c.services['change'] == 'removed').sum())} removed"
        ],
    ]
    notes: list[list[Inline]] = [[n] for n in c.notes]
    doc.add(Heading(2, "概况 Overview"), Bullets([*facts, *notes]))
    if c.unchanged:
        doc.add(Para(["两次运行没有差别。No change between the two runs."]))
    if len(c.indicators):
        doc.add(
            Heading(2, "指标变化 Indicator deltas per level"),
            Table(
                ["级别 Level", "指标 Indicator", "小区 Clusters", "面积 Area", "居民 Residents"],
                _indicator_rows(c),
                "llrrr",
            ),
        )
    if len(c.levels):
        doc.add(
            Heading(2, "达标情况 Clusters meeting each level"),
            Table(
                [
                    "级别 Level",
                    "小区 Clusters",
                    "居民 Residents",
                    "面积 Area (m²)",
                    "完整度 Completeness",
                ],
                _level_rows(c),
            ),
        )
    rows = _coverage_rows(c)
    doc.add(
        Heading(2, "服务覆盖变化 Coverage per category"),
        Table(["类别 Category", "距离 Within", "A", "B", "变化 Change"], rows)
        if rows
        else Para(["各类服务覆盖率不变。No category's coverage changed."]),
    )
    _add_pair_table(
        doc,
        "等级变化的小区 Clusters that changed grade",
        c.grades,
        (["级别 Level", "A", "B", ""], "llll"),
        lambda r: [r["level"], r["a"], r["b"], r["change"]],
        "没有小区等级变化。No cluster changed grade.",
    )
    _add_pair_table(
        doc,
        "覆盖增减的小区 Coverage gained and lost per cluster",
        c.changes,
        (["类别 Category", "距离 Within", "最近 Nearest A → B (m)", ""], "llrl"),
        lambda r: [
            _category_label(r["category"]),
            f"{r['threshold_m']:g} m",
            f"{format_number(r['nearest_a'])} → {format_number(r['nearest_b'])}",
            "+ gained" if r["change"] == "gained" else "− lost",
        ],
        "没有小区的覆盖变化。No cluster gained or lost a category.",
    )
    _add_unmatched(doc, c)
    return doc


def _add_pair_table(
    doc: Report,
    title: str,
    frame: Any,
    columns: tuple[list[str], str],
    cells: Callable[[dict[str, Any]], list[Any]],
    empty: str,
) -> None:
    """A section listing matched clusters (ids, name, residents, then ``cells``), or
    ``empty``; at most :data:`N_ROWS` rows, the rest counted (compare.csv has them)."""
    header, align = columns
    rows = [
        [r["cluster_a"], r["cluster_b"], r["name"], format_number(r["population"]), *cells(r)]
        for r in frame.head(N_ROWS).to_dict("records")
    ]
    doc.add(Heading(2, title))
    if not rows:
        doc.add(Para([empty]))
        return
    doc.add(Table(["A id", "B id", "名称 Name", "人口 Residents", *header], rows, "lllr" + align))
    if len(frame) > N_ROWS:
        doc.add(Para([f"… {len(frame) - N_ROWS} more in compare.csv"]))


def _add_unmatched(doc: Report, c: Comparison) -> None:
    """The clusters found in one run only."""
    for which, frame in (("A", c.only_a), ("B", c.only_b)):
        if len(frame):
            doc.add(
                Heading(3, f"仅见于 {which} Clusters only in {which} ({len(frame)})"),
                Table(
                    ["id", "名称 Name", "人口 Residents"],
                    [
                        [r["cluster_id"], r.get("name", ""), format_number(r.get("population"))]
                        for r in frame.head(N_ROWS).to_dict("records")
                    ],
                ),
            )


# ---------------------------------------------------------------------------------------
# The map
# ---------------------------------------------------------------------------------------


def _cluster_status(comparison: Comparison) -> dict[int, tuple[str, list[str], list[str]]]:
    """Per position in run B's clusters: status, gained and lost (escaped labels)."""
    out: dict[int, tuple[str, list[str], list[str]]] = {}
    changes = comparison.changes
    pos_b = {str(i): k for k, i in enumerate(comparison.b.clusters["cluster_id"])}
    by_cluster: dict[int, tuple[list[str], list[str]]] = {}
    for r in changes.to_dict("records"):
        text = _e(f"{_category_label(r['category'])} {r['threshold_m']:g} m")
        gained, lost = by_cluster.setdefault(pos_b[r["cluster_b"]], ([], []))
        (gained if r["change"] == "gained" else lost).append(text)
    for j in comparison.pairs["b"]:
        gained, lost = by_cluster.get(int(j), ([], []))
        status = "both" if gained and lost else "gained" if gained else "lost" if lost else "same"
        out[int(j)] = (status, gained, lost)
    return out


def _tooltip(row: Any, status: str, gained: list[str], lost: list[str]) -> str:
    name = _e(row.get("name")) or "无名称 unnamed"
    parts = [f"<b>{name}</b> <span>({_e(row.get('cluster_id'))})</span>"]
    parts.append(f"<div>{_e(_STYLES[status][1])}</div>")
    if gained:
        parts.append("<div>+ " + "、".join(gained) + "</div>")
    if lost:
        parts.append("<div>− " + "、".join(lost) + "</div>")
    return "".join(parts)


def _map_data(comparison: Comparison, basemap: str) -> dict[str, Any]:
    """What the page's script draws: outlines, services, styles, basemaps (text escaped)."""
    from circles.outputs import webmap

    c = comparison
    status = _cluster_status(c)
    clusters = []
    sources = [(c.b.clusters, j, *status[j]) for j in sorted(status)]
    sources += [(c.b.clusters, j, "only_b", [], []) for j in _positions(c.b.clusters, c.only_b)]
    sources += [(c.a.clusters, i, "only_a", [], []) for i in _positions(c.a.clusters, c.only_a)]
    for frame, pos, st, gained, lost in sources:
        row = frame.iloc[pos]
        g = webmap.encode_polygons(row.geometry)
        if g is not None:
            clusters.append({"g": g, "s": st, "t": _tooltip(row, st, gained, lost)})
    services = [
        {
            "x": round(r["lon"] * webmap.SCALE),
            "y": round(r["lat"] * webmap.SCALE),
            "s": r["change"],
            "t": f"<b>{_e(r['name']) or '无名称 unnamed'}</b> · "
            f"{_e(_category_label(r['category']))}"
            f"<div>{_e(_STYLES[r['change']][1])} {_e(r['osm'])}</div>",
        }
        for r in c.services.to_dict("records")
    ]
    bounds = c.b.clusters.total_bounds if len(c.b.clusters) else c.a.clusters.total_bounds
    tiles = [
        {
            "name": "OpenStreetMap 地图",
            "url": webmap._OSM_TILES,
            "attr": webmap._OSM_ATTR,
            "max": 19,
            "show": basemap == "osm",
            "cls": "",
        },
        {
            "name": "浅色底图 Light (OpenStreetMap, grey)",
            "url": webmap._OSM_TILES,
            "attr": webmap._OSM_ATTR,
            "max": 19,
            "show": basemap == "light",
            "cls": "cc-grey-tiles",
        },
        {
            "name": "无底图 No basemap (offline)",
            "url": webmap._BLANK_TILE,
            "attr": _e("无底图 No basemap · data © OpenStreetMap contributors"),
            "max": 22,
            "show": basemap == "none",
            "cls": "",
        },
    ]
    return {
        "clusters": clusters,
        "services": services,
        "styles": {k: {"c": v[0], "l": _e(v[1])} for k, v in _STYLES.items()},
        "tiles": tiles,
        "bounds": [[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]],
    }


def _positions(frame: Any, subset: Any) -> list[int]:
    ids = set(subset["cluster_id"].astype(str)) if len(subset) else set()
    return [k for k, i in enumerate(frame["cluster_id"].astype(str)) if i in ids]


_MAP_JS = """
(function () {
  var D = JSON.parse(document.getElementById("cc-compare-data").textContent);
  var map = L.map("cc-compare-map", {preferCanvas: true});
  var bases = {};
  D.tiles.forEach(function (t) {
    var layer = L.tileLayer(t.url, {attribution: t.attr, maxZoom: t.max, className: t.cls});
    bases[t.name] = layer;
    if (t.show) { layer.addTo(map); }
  });
  function ring(r) {
    var out = [], x = 0, y = 0;
    for (var i = 0; i < r.length; i += 2) {
      x += r[i]; y += r[i + 1]; out.push([y / 1e5, x / 1e5]);
    }
    return out;
  }
  var groups = {}, overlays = {};
  Object.keys(D.styles).forEach(function (k) {
    groups[k] = L.featureGroup().addTo(map);
    overlays["<span class='cc-dot' style='background:" + D.styles[k].c + "'></span>" +
             D.styles[k].l] = groups[k];
  });
  D.clusters.forEach(function (c) {
    var s = D.styles[c.s], only = c.s === "only_a" || c.s === "only_b";
    L.polygon(c.g.map(function (p) { return p.map(ring); }), {
      color: s.c, weight: only ? 2 : 1, dashArray: only ? "5 4" : null,
      fillColor: s.c, fillOpacity: only ? 0.1 : 0.55
    }).bindTooltip(c.t, {sticky: true}).addTo(groups[c.s]);
  });
  D.services.forEach(function (p) {
    L.circleMarker([p.y / 1e5, p.x / 1e5], {
      radius: 7, color: "#000", weight: 2, fillColor: D.styles[p.s].c, fillOpacity: 1
    }).bindTooltip(p.t).addTo(groups[p.s]);
  });
  L.control.layers(bases, overlays, {collapsed: false}).addTo(map);
  L.control.scale().addTo(map);
  map.fitBounds(D.bounds, {padding: [20, 20]});
  window.circlesMap = map;
  window.circlesReady = true;
})();
"""

_MAP_CSS = """
#cc-compare-map { height: 70vh; min-height: 420px; border: 1px solid #ddd; margin: 12px 0; }
.cc-dot { width: 10px; height: 10px; border-radius: 50%; margin: 0 4px 0 2px;
  display: inline-block; vertical-align: middle; }
.cc-grey-tiles { filter: grayscale(1) brightness(1.12) contrast(0.8); }
"""


def _assets(self_contained: bool) -> str:
    """Leaflet: linked from its CDN, or embedded from the xstatic-leaflet package."""
    from circles.outputs import webmap

    if not self_contained:
        return (
            f'<link rel="stylesheet" href="{webmap.LEAFLET_CSS_URL}">\n'
            f'<script src="{webmap.LEAFLET_JS_URL}"></script>\n'
        )
    base = webmap.leaflet_dir()
    js = webmap.inline_js((base / "leaflet.js").read_text(encoding="utf-8"))
    css = webmap.inline_css((base / "leaflet.css").read_text(encoding="utf-8"), base)
    return f"<style>{css}</style>\n<script>{js}</script>\n"


def _csp(self_contained: bool, basemap: str) -> str:
    cdn = "" if self_contained else " https://cdn.jsdelivr.net"
    tiles = " https://tile.openstreetmap.org" if basemap != "none" else ""
    return (
        f"default-src 'none'; style-src 'unsafe-inline'{cdn}; script-src 'unsafe-inline'{cdn}; "
        f"img-src data:{cdn}{tiles}"
    )


def build_compare_page(
    comparison: Comparison, *, self_contained: bool = False, basemap: str = "osm"
) -> str:
    """compare.html: the comparison's tables and its map of coverage gained and lost.

    Parameters
    ----------
    comparison : Comparison
        The comparison.
    self_contained : bool
        Embed Leaflet instead of linking to its CDN.
    basemap : str
        ``osm``, ``light`` or ``none`` (no tile requested): the basemap shown first.

    Returns
    -------
    str
        The page.

    Raises
    ------
    ValueError
        For an unknown ``basemap``.
    """
    from circles.outputs.report_html import to_html
    from circles.outputs.webmap import BASEMAPS

    if basemap not in BASEMAPS:
        raise ValueError(f"basemap must be one of {', '.join(BASEMAPS)}, not {basemap!r}")
    doc = build_compare_report(comparison)
    doc.add(
        Heading(2, "覆盖变化地图 Map of coverage gained and lost"),
        Para(
            [
                "小区按覆盖变化着色（B 的轮廓）；虚线为仅见于一次运行的小区；"
                "圆点为新增或关闭的设施。"
                "Clusters coloured by what their coverage gained or lost (B's outlines); dashed: "
                "found in one run only; dots: services added or removed."
            ]
        ),
    )
    page = to_html(doc)
    data = safe_json(_map_data(comparison, basemap))
    csp = f'<meta http-equiv="Content-Security-Policy" content="{_csp(self_contained, basemap)}">'
    # Escaped text holds no "<": the markup below is found only where to_html wrote it.
    page, n = re.subn(r'<meta http-equiv="Content-Security-Policy" content="[^"]*">', csp, page)
    head = f"{_assets(self_contained)}<style>{_MAP_CSS}</style>\n</head>"
    body = (
        '<div id="cc-compare-map"></div>\n'
        f'<script type="application/json" id="cc-compare-data">{data}</script>\n'
        f"<script>{_MAP_JS}</script>\n<footer>"
    )
    if n != 1 or page.count("</head>") != 1 or page.count("\n<footer>") != 1:
        raise RuntimeError("the report page's layout changed; compare.html cannot add its map")
    return page.replace("</head>", head).replace("\n<footer>", "\n" + body)


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def write_compare_csv(comparison: Comparison, path: Path) -> Path:
    """compare.csv: :meth:`Comparison.table`, UTF-8 with a BOM, formulas defused.

    Parameters
    ----------
    comparison : Comparison
        The comparison.
    path : pathlib.Path
        The file to write.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import pandas as pd

    table = comparison.table()
    for col in table.columns:
        if not pd.api.types.is_numeric_dtype(table[col]):
            table[col] = table[col].map(defuse_formula)
    table.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def comparison_summary(comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON-able data (``summary.json`` of its folder).

    Parameters
    ----------
    comparison : Comparison
        The comparison.

    Returns
    -------
    dict
        ``kind`` (``comparison``), the two runs, counts, notes and every table as records.
    """
    c = comparison

    def run(r: Any) -> dict[str, Any]:
        return {
            "label": r.label,
            "folder": str(r.folder) if r.folder else None,
            "study": r.summary.get("study"),
            "source": r.summary.get("source"),
            "scenario": r.summary.get("scenario"),
        }

    return {
        "kind": "comparison",
        "a": run(c.a),
        "b": run(c.b),
        "unchanged": c.unchanged,
        "clusters_matched": len(c.pairs),
        "clusters_only_a": c.only_a.to_dict("records"),
        "clusters_only_b": c.only_b.to_dict("records"),
        "categories": c.categories,
        "notes": c.notes,
        "indicators": c.indicators.to_dict("records"),
        "levels": c.levels.to_dict("records"),
        "coverage": c.coverage.to_dict("records"),
        "grades": c.grades.to_dict("records"),
        "changes": c.changes.to_dict("records"),
        "services": c.services.to_dict("records"),
    }


def write_comparison(
    comparison: Comparison,
    out_dir: Path,
    *,
    self_contained: bool | None = None,
    basemap: str | None = None,
) -> Path:
    """Write compare.html, compare.csv and summary.json into ``out_dir``, all or nothing.

    Parameters
    ----------
    comparison : Comparison
        The comparison.
    out_dir : pathlib.Path
        The folder; an existing one is replaced only when it is empty or holds an
        earlier comparison's files.
    self_contained : bool, optional
        Embed Leaflet; by default run B's ``map:`` setting.
    basemap : str, optional
        ``osm``, ``light`` or ``none``; by default run B's ``map:`` setting.

    Returns
    -------
    pathlib.Path
        ``out_dir``, absolute.

    Raises
    ------
    circles.outputs.OutputError
        The folder holds other files, or cannot be written.
    """
    from circles.outputs import write_folder
    from circles.outputs.files import write_json

    settings = (comparison.b.summary.get("settings") or {}).get("map") or {}
    if self_contained is None:
        self_contained = bool(settings.get("self_contained", False))
    if basemap is None:
        basemap = str(settings.get("basemap", "osm"))
    page = build_compare_page(comparison, self_contained=self_contained, basemap=basemap)
    writers = [
        (COMPARE_JSON, lambda p: write_json(comparison_summary(comparison), p)),
        (COMPARE_CSV, lambda p: write_compare_csv(comparison, p)),
        (COMPARE_HTML, lambda p: p.write_text(page, encoding="utf-8")),
    ]
    return write_folder(Path(out_dir), writers, COMPARE_FILES)
