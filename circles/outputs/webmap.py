"""The interactive map (map.html): residential areas coloured by how many service categories
are within a 15-minute walk, a layer per service category, blind spots, and the walking
areas of a residential area shown when it is clicked.

**Safety.** OSM names and tags are written by anyone. Every name, tag or label that reaches
the page is escaped with :func:`html.escape` in Python before it is embedded; the browser
code only joins those escaped strings with numbers, never with raw data. Everything embedded
in a script is JSON with ``<``, ``>`` and ``&`` written as ``\\u003c``, ``\\u003e`` and
``\\u0026`` (:func:`safe_json`), so no text can close the ``<script>`` element.

**Size.** Geometry is simplified in metres for display (the GeoPackage keeps it whole),
rounded to 1e-5 degrees (about 1 m) and delta-encoded as integers; popups and tooltips of
residential areas are built in the browser from numbers and the escaped labels, which are
embedded once. A Malta run (about 900 areas, 2,700 walking areas, 2,800 services) makes a
page of about 7 MB (see ``benchmarks/RESULTS.md``).

**Assets.** Only Leaflet is needed (no jQuery, Bootstrap or icon fonts). By default the page
loads it from the jsDelivr CDN, as folium does; ``self_contained=True`` embeds it instead,
read from the ``xstatic-leaflet`` package (PyPI), so the page opens on an intranet without a
CDN. The full-screen control is a few lines of our own code.

**Basemaps.** OpenStreetMap, a light basemap and none (a blank background that requests
nothing: with ``self_contained`` the page then makes no network request at all). The data
is WGS-84, so GCJ-02 tiles (AMap/Gaode, Tencent) are deliberately not offered: WGS-84 shapes
drawn on them would be shifted by hundreds of metres in China.
"""

from __future__ import annotations

import base64
import json
import math
import re
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.template import Template
from geopandas import GeoDataFrame

from circles.outputs import tables
from circles.result import StudyResult

SIMPLIFY_M = 2.0  # residential areas; display only: the GeoPackage keeps the full geometry
ISO_SIMPLIFY_M = 5.0  # walking areas: 25 m wide street buffers, 5 m is invisible on screen
SCALE = 100_000  # coordinates are integers of 1e-5 degrees (about 1.1 m)
DECIMALS = 5
OSM_URL = "https://www.openstreetmap.org"
OSM_TYPES = frozenset({"node", "way", "relation"})
BASEMAPS: tuple[str, ...] = ("osm", "light", "none")

LEAFLET_VERSION = "1.9.3"  # folium's version, and the xstatic-leaflet package's
LEAFLET_JS_URL = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist/leaflet.js"
LEAFLET_CSS_URL = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist/leaflet.css"

# A transparent 1x1 PNG: the "no basemap" choice requests nothing from the network.
_BLANK_TILE = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
_OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTR = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
_CARTO_URL = "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png?key="
_CARTO_ATTR = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors '
    '&copy; <a href="https://carto.com/attributions">CARTO</a>'
)

# Colour classes of residential areas: the share of the service categories with data that
# are reached within the largest threshold, cut where the standards' grades A-E are cut.
# With scores, the colour is the standard's grade itself (A is the first class, and so on).
_CLASSES: tuple[tuple[float, str, str, str], ...] = (
    (1.0, "#1a9850", "全部都能到达", "all reachable"),
    (0.8, "#a6d96a", "能到达八成以上", "80% or more reachable"),
    (0.6, "#fee08b", "能到达六至八成", "60–80% reachable"),
    (0.4, "#fc8d59", "能到达四至六成", "40–60% reachable"),
    (0.0, "#d73027", "不到四成", "under 40% reachable"),
)
_UNUSED = ("#bdbdbd", "未接入步行网络", "not connected to the walking network")
_BLIND = "#b2182b"
_ISO_DARK = (8, 81, 156)  # smallest walking area
_ISO_LIGHT = (158, 202, 225)  # largest walking area
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


# ---------------------------------------------------------------------------------------
# Safe embedding
# ---------------------------------------------------------------------------------------


def safe_json(value: Any) -> str:
    """JSON that can sit inside a <script> element: no ``<``, ``>`` or ``&`` left raw."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _e(value: Any) -> str:
    """Escaped text of a value; missing values become an empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return escape(str(value), quote=True)


def _num(value: Any, digits: int = 0) -> float | int | None:
    """A finite number rounded for display, or None."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    return int(round(v)) if digits == 0 else round(v, digits)


def _color(value: Any, fallback: str = "#555555") -> str:
    """A ``#rrggbb`` colour; anything else (it comes from a YAML file) is replaced."""
    return value if isinstance(value, str) and _HEX.match(value) else fallback


# ---------------------------------------------------------------------------------------
# Geometry for the browser
# ---------------------------------------------------------------------------------------


def _to_wgs84(frame: GeoDataFrame, crs: Any, simplify_m: float) -> np.ndarray:
    """Geometries simplified in metres, then in WGS-84 (an array of shapely geometries)."""
    geoms = frame.geometry
    if geoms.crs is None:
        geoms = geoms.set_crs(crs)
    if not geoms.crs.is_geographic and simplify_m > 0:
        geoms = geoms.simplify(simplify_m, preserve_topology=True)
    return np.asarray(geoms.to_crs(tables.WGS84).array)


def _encode_ring(coords: np.ndarray) -> list[int] | None:
    """A ring as ``[x0, y0, dx1, dy1, ...]`` in 1e-5 degrees, closing point dropped."""
    c = np.round(coords[:, :2] * SCALE).astype(np.int64)
    if len(c) > 1 and (c[0] == c[-1]).all():
        c = c[:-1]
    if len(c) == 0:
        return None
    d = np.diff(c, axis=0)
    keep = np.concatenate([[True], (d != 0).any(axis=1)])  # drop repeats after rounding
    c = c[keep]
    if len(c) < 3:
        return None
    d = np.vstack([c[:1], np.diff(c, axis=0)])
    return d.ravel().tolist()


def encode_polygons(geom: Any) -> list[list[list[int]]] | None:
    """A (multi)polygon as a list of polygons, each a list of delta-encoded rings.

    The browser decodes it with ``circlesDecode``. Other geometry types and empty or
    degenerate polygons give None.
    """
    if geom is None or geom.is_empty:
        return None
    out = []
    for part in shapely.get_parts(geom):
        if part.geom_type != "Polygon" or part.is_empty:
            continue
        outer = _encode_ring(np.asarray(part.exterior.coords))
        if outer is None:
            continue
        rings = [outer]
        for hole in part.interiors:
            r = _encode_ring(np.asarray(hole.coords))
            if r is not None:
                rings.append(r)
        out.append(rings)
    return out or None


def _point(geom: Any) -> list[int] | None:
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type != "Point":
        geom = geom.representative_point()
    return [int(round(geom.x * SCALE)), int(round(geom.y * SCALE))]


def _iso_colors(n: int) -> list[str]:
    """Blues from dark (smallest threshold) to light (largest)."""
    out = []
    for i in range(n):
        f = 0.0 if n == 1 else i / (n - 1)
        rgb = [round(a + (b - a) * f) for a, b in zip(_ISO_DARK, _ISO_LIGHT, strict=True)]
        out.append("#{:02x}{:02x}{:02x}".format(*rgb))
    return out


def _metres(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(v):
        return "—"
    return f"{v:,.0f} m"


def _lab(hex_colors: list[str]) -> np.ndarray:
    """CIELAB coordinates (D65) of ``#rrggbb`` colours: distances there match the eye."""
    rgb = np.array([[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] for c in hex_colors])
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ np.array(
        [[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]]
    )
    xyz /= np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.column_stack(
        [116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])]
    )


# Candidate colours for categories whose catalogue colours are too alike: a 6-level RGB
# cube without the lightest (invisible on a light basemap) and the greys.
_LEVELS = ("00", "33", "66", "99", "cc", "ff")
_CANDIDATES = [
    f"#{r}{g}{b}"
    for r in _LEVELS
    for g in _LEVELS
    for b in _LEVELS
    if not (r == g == b) and (int(r, 16) + int(g, 16) + int(b, 16)) < 600
]
_MIN_DELTA_E = 20.0


def category_colors(result: StudyResult) -> dict[str, str]:
    """A distinct colour per category: the catalogue's, unless it is too close (in CIELAB)
    to an earlier category's; such a category takes the candidate colour farthest from
    every colour already used, so that each layer keeps a colour of its own."""
    out: dict[str, str] = {}
    cand_lab = _lab(_CANDIDATES)
    for key, cat in result.categories.items():
        color = _color(cat.color)
        if out:
            used = _lab(list(out.values()))
            if np.linalg.norm(used - _lab([color])[0], axis=1).min() < _MIN_DELTA_E:
                gap = np.linalg.norm(cand_lab[:, None, :] - used[None, :, :], axis=2).min(axis=1)
                color = _CANDIDATES[int(np.argmax(gap))]
        out[key] = color
    return out


# ---------------------------------------------------------------------------------------
# Scores (optional: shown when the scoring step provides a grade per cluster)
# ---------------------------------------------------------------------------------------

_GRADE_COLUMNS = ("grade", "level", "score_grade")


def _scored_level(result: StudyResult) -> tuple[Any, Any] | None:
    """(standard, its largest level) when ``result.scores`` is a :mod:`circles.scoring` score."""
    scores = getattr(result, "scores", None)
    std = getattr(scores, "standard", None)
    table = getattr(scores, "table", None)
    levels = getattr(std, "levels", None)
    if not levels or not isinstance(table, pd.DataFrame):
        return None
    top = max(levels, key=lambda lv: float(getattr(lv, "distance_m", 0) or 0))
    if f"std_{top.key}_grade" not in table.columns or len(table) != len(result.clusters):
        return None
    return std, top


def _grade_meaning(std: Any, grade: Any) -> str:
    for g in getattr(std, "grades", ()) or ():
        if str(getattr(g, "grade", "")) == str(grade):
            return " ".join(x for x in (getattr(g, "zh", ""), getattr(g, "en", "")) if x)
    return ""


def cluster_grades(result: StudyResult) -> dict[str, str]:
    """The standard's grade of each cluster (escaped text), by cluster id, when scored.

    With a :mod:`circles.scoring` result (``result.scores``): the grade at the standard's
    largest level (the 15-minute circle), its meaning and the completeness share. Otherwise
    a ``grade`` (or ``level``) column of a ``result.scores`` table or of the clusters. An
    empty dict when there are no scores: the map works without them.
    """
    scored = _scored_level(result)
    if scored is not None:
        std, top = scored
        table = result.scores.table
        ids = result.clusters["cluster_id"].astype(str).tolist()
        comp = table.get(f"std_{top.key}_completeness")
        out = {}
        for i, grade in enumerate(table[f"std_{top.key}_grade"]):
            if not _e(grade):
                continue
            parts = [_e(grade), _e(_grade_meaning(std, grade))]
            share = _num(comp.iloc[i], 4) if comp is not None else None
            if share is not None:
                parts.append(f"{share * 100:.0f}%")
            out[ids[i]] = " · ".join(p for p in parts if p)
        return out
    candidates = []
    scores = getattr(result, "scores", None)
    if isinstance(scores, pd.DataFrame):
        candidates.append(scores)
    candidates.append(result.clusters)
    for frame in candidates:
        if "cluster_id" not in frame.columns:
            continue
        for col in _GRADE_COLUMNS:
            if col in frame.columns:
                out = {}
                for cid, grade in zip(frame["cluster_id"], frame[col], strict=True):
                    text = _e(grade)
                    if text:
                        out[str(cid)] = text
                return out
    return {}


def _grade_legend(result: StudyResult, grades: dict[str, str]) -> str:
    """A legend line for grades given as a plain column (not a circles.scoring score)."""
    if not grades:
        return ""
    counts: dict[str, int] = {}
    for g in grades.values():
        counts[g] = counts.get(g, 0) + 1
    shown = "、".join(f"{g} ({c})" for g, c in sorted(counts.items()))
    head = "标准等级（小区数）Grades by the standard (areas)"
    return f"<div class='cc-note'>{head}: {shown}</div>"


def _standard_text(result: StudyResult) -> str:
    """Escaped name of the standard the map follows."""
    std = result.summary.get("standard")
    scoring = result.summary.get("scoring")
    if not std and isinstance(scoring, dict):
        title = scoring.get("title")
        if isinstance(title, dict):
            title = " ".join(str(v) for v in (title.get("zh"), title.get("en")) if v)
        source = scoring.get("source")
        number = source.get("number") if isinstance(source, dict) else None
        std = " ".join(str(v) for v in (number, title) if v) or scoring.get("standard")
    if isinstance(std, dict):
        std = std.get("title") or std.get("name") or std.get("label") or std.get("key")
    if std:
        return _e(std)
    dists = sorted(float(t.distance_m) for t in result.thresholds)
    shown = "/".join(f"{d:g}" for d in dists)
    if dists == [300.0, 500.0, 1000.0]:
        return (
            "GB 50180-2018《城市居住区规划设计标准》5/10/15分钟生活圈 · "
            f"5/10/15-minute walks ({shown} m)"
        )
    return f"自定义步行距离 Custom walking distances: {_e(shown)} m"


# ---------------------------------------------------------------------------------------
# Data embedded in the page
# ---------------------------------------------------------------------------------------


def _class_index(reached: int, n: int) -> int:
    share = 1.0 if n == 0 else reached / n
    for i, (low, *_rest) in enumerate(_CLASSES):
        if share >= low - 1e-9:
            return i
    return len(_CLASSES) - 1


def grade_classes(result: StudyResult) -> dict[str, int]:
    """Colour class of each scored cluster: the index of its grade (A first), at most 4."""
    scored = _scored_level(result)
    if scored is None:
        return {}
    std, top = scored
    order = {str(g.grade): i for i, g in enumerate(getattr(std, "grades", ()) or ())}
    ids = result.clusters["cluster_id"].astype(str).tolist()
    out = {}
    for i, grade in enumerate(result.scores.table[f"std_{top.key}_grade"]):
        if _e(grade) and str(grade) in order:
            out[ids[i]] = min(order[str(grade)], len(_CLASSES) - 1)
    return out


def _osm_link(osm_type: Any, osm_id: Any) -> str:
    kind = str(osm_type) if osm_type is not None and not pd.isna(osm_type) else ""
    try:
        ident = int(osm_id)
    except (TypeError, ValueError):
        return ""
    if kind not in OSM_TYPES or ident <= 0:
        return ""
    ref = f"{kind}/{ident}"
    return f"<a href='{escape(f'{OSM_URL}/{ref}')}' target='_blank' rel='noopener'>{ref}</a>"


def _service_popup(result: StudyResult, row: pd.Series) -> str:
    cat = result.categories.get(str(row.get("category")))
    label = _e(cat.label if cat else row.get("category"))
    name = _e(row.get("name")) or "无名称 unnamed"
    parts = [f"<b>{name}</b>", f"<div>类别 Category: {label}</div>"]
    link = _osm_link(row.get("osm_type"), row.get("osm_id"))
    if link:
        parts.append(f"<div>OSM: {link}</div>")
    if not bool(row.get("used", True)):
        parts.append(
            "<div class='cc-warn'>离步行道路太远，未计入 · too far from a walkable street, "
            f"not counted ({_metres(row.get('snap_m'))})</div>"
        )
    return "<div class='cc-pop'>" + "".join(parts) + "</div>"


def _service_data(result: StudyResult) -> dict[str, list[list]]:
    """Per category: ``[x, y, used, tooltip, popup]`` of each service (text escaped)."""
    services = result.services
    out: dict[str, list[list]] = {k: [] for k in result.categories}
    if len(services) == 0 or "category" not in services:
        return out
    points = _to_wgs84(services, result.network.crs, 0.0)
    used = tables.used_mask(services).to_numpy()
    cats = services["category"].astype(str).to_numpy()
    for i, (_, row) in enumerate(services.iterrows()):
        if cats[i] not in out:
            continue
        xy = _point(points[i])
        if xy is None:
            continue
        cat = result.categories[cats[i]]
        name = _e(row.get("name")) or "无名称 unnamed"
        tip = f"{name} · {_e(cat.zh)}"
        out[cats[i]].append([xy[0], xy[1], int(bool(used[i])), tip, _service_popup(result, row)])
    return out


def _cluster_data(
    result: StudyResult, grades: dict[str, str], classes: dict[str, int] | None = None
) -> list[dict]:
    """One record per cluster: numbers, escaped text and encoded outline.

    ``i`` id (for look-ups only, never shown), ``e`` escaped id, ``n`` escaped name, ``p``
    population, ``u`` joined the walking network, ``s`` snap distance (m), ``k`` colour
    class (-1 when not joined), ``r`` categories reached at the largest threshold, ``m``
    indices of the missing categories, ``c`` counts per category and threshold (null for a
    data gap), ``d`` nearest distance per category (m, null if none reachable), ``gr`` the
    standard's grade (escaped) when scoring provided one, ``g`` outline. ``classes``: the
    colour class of scored clusters (:func:`grade_classes`); the others are coloured by the
    share of categories they reach.
    """
    classes = classes or {}
    clusters = result.clusters
    if len(clusters) == 0:
        return []
    geoms = _to_wgs84(clusters, result.network.crs, SIMPLIFY_M)
    used = tables.used_mask(clusters).to_numpy()
    keys = list(result.categories)
    gaps = tables.gap_keys(result)
    out = []
    for i, (_, row) in enumerate(clusters.iterrows()):
        g = encode_polygons(geoms[i])
        if g is None:
            continue
        cid = str(row.get("cluster_id"))
        rec: dict[str, Any] = {
            "i": cid,
            "e": _e(cid),
            "n": _e(row.get("name")),
            "p": _num(row.get("population")),
            "u": int(bool(used[i])),
            "s": _num(row.get("snap_m")),
            "g": g,
        }
        if used[i]:
            missing = tables.missing_categories(result, row)
            n_avail = len(tables.available_keys(result))
            rec["r"] = n_avail - len(missing)
            rec["k"] = classes.get(cid, _class_index(rec["r"], n_avail))
            rec["m"] = [keys.index(k) for k in missing]
            rec["c"] = [
                None
                if k in gaps
                else [
                    max(tables.count_value(row, tables.count_column(k, t)), 0)
                    for t in result.thresholds
                ]
                for k in keys
            ]
            rec["d"] = [
                None if k in gaps else _num(row.get(tables.nearest_column(k))) for k in keys
            ]
        else:
            rec["k"] = -1
        if cid in grades:
            rec["gr"] = grades[cid]
        out.append(rec)
    return out


def _isochrone_data(result: StudyResult, colors: dict[float, str]) -> dict[str, list[dict]]:
    """Walking areas by cluster id, largest first: ``{"t": metres, "c": colour, "g": …}``."""
    iso = result.isochrones
    if len(iso) == 0:
        return {}
    geoms = _to_wgs84(iso, result.network.crs, ISO_SIMPLIFY_M)
    out: dict[str, list[dict]] = {}
    order = np.argsort(-iso["threshold_m"].astype(float).to_numpy(), kind="stable")
    for i in order:
        g = encode_polygons(geoms[i])
        if g is None:
            continue
        t = float(iso["threshold_m"].iloc[i])
        cid = str(iso["cluster_id"].iloc[i])
        out.setdefault(cid, []).append({"t": t, "c": colors.get(t, "#3182bd"), "g": g})
    return out


def _meta(result: StudyResult, iso_colors: list[str], cat_colors: dict[str, str]) -> dict:
    """Labels (escaped) and colours the browser needs to draw and to write popups."""
    top = tables.largest(result)
    gaps = tables.gap_keys(result)
    snap = (result.summary.get("snap") or {}).get("max_distance_m")
    return {
        "cats": [
            {"l": _e(c.label), "z": _e(c.zh), "c": cat_colors[k], "gap": int(k in gaps)}
            for k, c in result.categories.items()
        ],
        "thr": [
            {"z": _e(tables.label_zh(t)), "e": _e(tables.label_en(t)), "c": iso_colors[n]}
            for n, t in enumerate(result.thresholds)
        ],
        "top": {"z": _e(tables.label_zh(top)), "e": _e(tables.label_en(top))},
        "avail": len(tables.available_keys(result)),
        "classes": [c[1] for c in _CLASSES],
        "unused": _UNUSED[0],
        "blind": _BLIND,
        "snap": _e(f"{float(snap):g} m") if snap is not None else "",
    }


# ---------------------------------------------------------------------------------------
# Browser code
# ---------------------------------------------------------------------------------------

# Joins only escaped strings (from Python) and numbers; never raw data.
_JS = r"""
function circlesDecode(g) {
    return g.map(function(poly) {
        return poly.map(function(r) {
            var out = [], x = 0, y = 0;
            for (var i = 0; i < r.length; i += 2) {
                x += r[i]; y += r[i + 1];
                out.push([y / 1e5, x / 1e5]);
            }
            return out;
        });
    });
}
function circlesFmt(v) {
    if (v === null || v === undefined) { return '—'; }
    return Math.round(v).toLocaleString('en-US');
}
function circlesTip(p, M) {
    var name = p.n || p.e;
    if (!p.u) {
        return '<b>' + name + '</b><br>未接入步行网络 not connected to the walking network';
    }
    var s = '<b>' + name + '</b><br>' + M.top.z + '可达 ' + p.r + '/' + M.avail + ' 类 · ' +
        p.r + '/' + M.avail + ' categories within ' + M.top.e;
    if (p.gr) { s += '<br>等级 Grade: ' + p.gr; }
    return s;
}
function circlesPopup(p, M) {
    var name = p.n || '未命名小区 Unnamed area';
    var h = ["<div class='cc-pop'><b>" + name + "</b> <span class='cc-id'>" + p.e + '</span>'];
    if (p.p === null || p.p === undefined) {
        h.push('<div>估计人口 Estimated residents: 未知 unknown</div>');
    } else {
        h.push('<div>估计人口 Estimated residents: 约 ' + circlesFmt(p.p) + ' 人 (about ' +
               circlesFmt(p.p) + ')</div>');
    }
    if (!p.u) {
        var lim = M.snap || 'the limit';
        h.push("<div class='cc-warn'>未接入步行网络：离最近的可步行道路 " + circlesFmt(p.s) +
               ' m，超过 ' + lim + '，未计入统计。<br>Not connected to the walking network: ' +
               'the nearest walkable street is ' + circlesFmt(p.s) + ' m away (more than ' +
               lim + '); not counted.</div></div>');
        return h.join('');
    }
    if (p.gr) { h.push("<div class='cc-grade'>标准等级 Grade: <b>" + p.gr + '</b></div>'); }
    h.push('<div>' + M.top.z + '步行可达 ' + p.r + '/' + M.avail + ' 类服务 · ' + p.r +
           ' of ' + M.avail + ' service categories within ' + M.top.e + '</div>');
    var missing = {};
    p.m.forEach(function(k) { missing[k] = true; });
    var t = ["<table class='cc-table'><tr><th>类别 Category</th>"];
    M.thr.forEach(function(th) { t.push('<th>' + th.z + '</th>'); });
    t.push('<th>最近 Nearest</th></tr>');
    var reached = [], gaps = [];
    M.cats.forEach(function(cat, k) {
        if (p.c[k] === null) {
            gaps.push("<tr class='cc-gap'><td>" + cat.l + "</td><td colspan='" +
                      (M.thr.length + 1) + "'>无数据 no data</td></tr>");
            return;
        }
        var cells = p.c[k].map(function(n) {
            return "<td class='" + (n === 0 ? 'cc-zero' : '') + "'>" + n + '</td>';
        }).join('');
        var near = p.d[k] === null ? '—' : circlesFmt(p.d[k]) + ' m';
        if (missing[k]) {
            t.push("<tr class='cc-miss'><td>✗ " + cat.l + '</td>' + cells + '<td>' + near +
                   '</td></tr>');
        } else {
            reached.push('<tr><td>' + cat.l + '</td>' + cells + '<td>' + near + '</td></tr>');
        }
    });
    t.push(reached.join(''), gaps.join(''), '</table>');
    h.push(t.join(''));
    h.push("<div class='cc-note'>数字为步行范围内的设施数量；红色为缺少的服务（排在前面）。" +
           'Numbers are services within walking distance; missing ones are red, at the top.' +
           '</div></div>');
    return h.join('');
}
L.Control.Fullscreen = L.Control.extend({
    options: {position: 'topleft', title: '全屏 Full screen',
              titleCancel: '退出全屏 Exit full screen'},
    onAdd: function(map) {
        var box = L.DomUtil.create('div', 'leaflet-bar leaflet-control cc-fullscreen');
        var a = L.DomUtil.create('a', '', box), o = this.options;
        a.href = '#';
        a.setAttribute('role', 'button');
        a.title = o.title;
        a.setAttribute('aria-label', o.title);
        a.innerHTML = '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">' +
            '<path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="#333" ' +
            'stroke-width="2"/></svg>';
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.on(a, 'click', function(e) {
            L.DomEvent.preventDefault(e);
            var doc = document, el = doc.documentElement;
            if (doc.fullscreenElement) { doc.exitFullscreen(); }
            else if (el.requestFullscreen) { el.requestFullscreen(); }
        });
        L.DomEvent.on(document, 'fullscreenchange', function() {
            var on = !!document.fullscreenElement;
            a.title = on ? o.titleCancel : o.title;
            a.setAttribute('aria-label', a.title);
            map.invalidateSize();
        });
        return box;
    }
});
L.control.fullscreen = function(options) { return new L.Control.Fullscreen(options); };
"""


class _Layers(MacroElement):
    """Draws every layer from the embedded data into the folium groups of the layer control."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <script>{{ this.code }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var circlesMeta = {{ this.meta_js }};
        var circlesIsochrones = {{ this.iso_js }};
        var circlesClusters = {{ this.clusters_js }};
        var circlesServices = {{ this.services_js }};
        (function(map, M, G) {
            window.circlesMap = map;
            var isoPane = map.createPane('circlesIsochrones');
            isoPane.style.zIndex = 350;
            isoPane.style.pointerEvents = 'none';
            var isoRenderer = L.svg({pane: 'circlesIsochrones'});
            var current = null;
            function clear() {
                if (current) { map.removeLayer(current); current = null; }
                window.circlesShown = null;
            }
            window.circlesClearIsochrones = clear;
            window.circlesShowIsochrones = function(id) {
                clear();
                if (!Object.prototype.hasOwnProperty.call(circlesIsochrones, id)) { return; }
                current = L.featureGroup();
                circlesIsochrones[id].forEach(function(it) {
                    L.polygon(circlesDecode(it.g), {
                        renderer: isoRenderer, pane: 'circlesIsochrones', interactive: false,
                        color: it.c, weight: 1.5, opacity: 0.9, fillColor: it.c,
                        fillOpacity: 0.3, className: 'cc-iso'
                    }).addTo(current);
                });
                current.addTo(map);
                window.circlesShown = id;
            };
            map.on('click', clear);
            // popups open clear of the title panel and the layer control
            function popupOptions(width) {
                var title = document.querySelector('.cc-title');
                var control = document.querySelector('.leaflet-control-layers');
                var top = title ? title.getBoundingClientRect().bottom + 10 : 10;
                var right = control ? control.offsetWidth + 20 : 10;
                var height = Math.max(200, Math.min(420, window.innerHeight - top - 60));
                return {maxWidth: width, maxHeight: height,
                        autoPanPaddingTopLeft: L.point(10, top),
                        autoPanPaddingBottomRight: L.point(right, 10)};
            }
            window.circlesClusterLayers = {};
            circlesClusters.forEach(function(p) {
                var used = p.u === 1;
                var style = used ?
                    {color: '#4d4d4d', weight: 1, fillColor: M.classes[p.k], fillOpacity: 0.6} :
                    {color: '#757575', weight: 1, dashArray: '4 3', fillColor: M.unused,
                     fillOpacity: 0.5};
                var shape = circlesDecode(p.g);
                var layer = L.polygon(shape, style);
                layer.bindTooltip(function() { return circlesTip(p, M); }, {sticky: true});
                layer.bindPopup(function() { return circlesPopup(p, M); }, popupOptions(560));
                layer.on('click', function(e) {
                    L.DomEvent.stopPropagation(e);
                    window.circlesShowIsochrones(p.i);
                });
                layer.on('mouseover', function() { layer.setStyle({weight: 3}); });
                layer.on('mouseout', function() { layer.setStyle({weight: style.weight}); });
                layer.addTo(G.clusters);
                window.circlesClusterLayers[p.i] = layer;
                if (used && p.m.length) {
                    L.polygon(shape, {color: M.blind, weight: 3, dashArray: '6 4', fill: false,
                                      opacity: 0.95, interactive: false}).addTo(G.blind);
                }
            });
            M.cats.forEach(function(cat, k) {
                var group = G.cats[k];
                (circlesServices[k] || []).forEach(function(s) {
                    var used = s[2] === 1;
                    var marker = L.circleMarker([s[1] / 1e5, s[0] / 1e5], {
                        radius: 6, color: used ? '#ffffff' : cat.c, weight: used ? 1 : 1.5,
                        fillColor: cat.c, fillOpacity: used ? 0.9 : 0.2,
                        bubblingMouseEvents: false
                    });
                    marker.bindTooltip(s[3]);
                    marker.bindPopup(s[4], popupOptions(320));
                    marker.addTo(group);
                });
            });
            L.control.fullscreen().addTo(map);
            window.circlesReady = true;
        })({{ this._parent.get_name() }}, circlesMeta, {
            clusters: {{ this.clusters_group }},
            blind: {{ this.blind_group }},
            cats: [{{ this.cat_groups }}]
        });
        {% endmacro %}
        """
    )

    def __init__(
        self,
        meta: dict,
        isochrones: dict,
        clusters: list,
        services: list,
        clusters_group: str,
        blind_group: str,
        cat_groups: list[str],
    ):
        super().__init__()
        self._name = "CirclesLayers"
        self.code = _JS
        self.meta_js = safe_json(meta)
        self.iso_js = safe_json(isochrones)
        self.clusters_js = safe_json(clusters)
        self.services_js = safe_json(services)
        self.clusters_group = clusters_group
        self.blind_group = blind_group
        self.cat_groups = ", ".join(cat_groups)


# ---------------------------------------------------------------------------------------
# Panels
# ---------------------------------------------------------------------------------------

_CSS = """
<style>
.cc-panel { position: fixed; z-index: 680; background: rgba(255,255,255,0.95);
  border-radius: 6px; box-shadow: 0 1px 5px rgba(0,0,0,0.35); padding: 8px 12px;
  font: 13px/1.45 "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", Arial, sans-serif;
  color: #222; }
.cc-title { top: 10px; left: 56px; max-width: 400px; }
.cc-title h1 { font-size: 17px; margin: 0 0 4px 0; }
.cc-title .cc-meta { color: #555; font-size: 12px; }
.cc-legend { bottom: 58px; left: 10px; max-width: 330px; }
.cc-legend h2 { font-size: 13px; margin: 0 0 4px 0; }
.cc-legend .cc-row { display: flex; align-items: center; margin: 2px 0; }
.cc-swatch { width: 18px; height: 12px; margin-right: 6px; border: 1px solid #666;
  flex: none; display: inline-block; vertical-align: middle; }
.cc-dot { width: 10px; height: 10px; border-radius: 50%; margin: 0 4px 0 2px;
  display: inline-block; vertical-align: middle; border: 1px solid #fff;
  box-shadow: 0 0 0 1px #999; }
.leaflet-container { font-family: "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", Arial,
  sans-serif; }
.leaflet-control-layers { max-height: calc(100vh - 120px); overflow-y: auto; font-size: 12px;
  max-width: 330px; }
.leaflet-control-layers label { line-height: 1.3; margin: 2px 0; }
.cc-pop { font: 12px/1.4 "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", Arial,
  sans-serif; }
.cc-pop .cc-id { color: #777; font-size: 11px; }
.cc-grade { margin: 2px 0; }
.cc-grades { margin-top: 4px; font-size: 12px; }
.cc-table { border-collapse: collapse; margin-top: 6px; }
.cc-table th, .cc-table td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
.cc-table th:first-child, .cc-table td:first-child { text-align: left; }
.cc-table th { background: #f3f3f3; font-weight: 600; }
.cc-table .cc-zero { color: #b2182b; }
.cc-table tr.cc-miss td { color: #b2182b; background: #fde0dd; font-weight: 600; }
.cc-table tr.cc-gap td { color: #888; font-style: italic; }
.cc-grey-tiles { filter: grayscale(1) brightness(1.12) contrast(0.8); }
.cc-warn { color: #8a4b00; margin-top: 4px; }
.cc-note { color: #666; font-size: 11px; margin-top: 4px; }
.cc-fullscreen a { display: flex; align-items: center; justify-content: center; }
@media (max-width: 700px) { .cc-legend { display: none; } .cc-title { max-width: 60%; } }
</style>
"""


def _source_text(result: StudyResult) -> str:
    source = str(result.summary.get("source", "") or "")
    if ("/" in source or "\\" in source) and "://" not in source:
        source = source.replace("\\", "/").rsplit("/", 1)[-1]  # a local file: its name only
    return _e(source)


def _title_panel(result: StudyResult) -> str:
    summary = result.summary
    title = _e(summary.get("title") or result.study.display_title)
    generated = _e(summary.get("generated", ""))
    source = _source_text(result)
    meta = [f"标准 Standard: {_standard_text(result)}"]
    if generated:
        meta.append(f"生成日期 Generated: {generated}")
    if source:
        meta.append(f"数据来源 Data source: {source}")
    meta_html = "".join(f"<div class='cc-meta'>{m}</div>" for m in meta)
    return (
        "<div class='cc-panel cc-title'>"
        f"<h1>{title}</h1>"
        f"{meta_html}"
        "<div class='cc-meta'>地图数据 Map data: "
        "<a href='https://www.openstreetmap.org/copyright' target='_blank' rel='noopener'>"
        "© OpenStreetMap contributors</a> (ODbL 1.0)</div>"
        "<div class='cc-meta'>点击小区查看步行范围和服务 · "
        "Click a residential area to see its walking range and services</div>"
        "</div>"
    )


def _legend(
    result: StudyResult, iso_colors: list[str], grades: dict[str, str], clusters: list[dict]
) -> str:
    top = tables.largest(result)
    n = len(tables.available_keys(result))
    per_class = [sum(1 for c in clusters if c.get("k") == i) for i in range(len(_CLASSES))]
    scored = _scored_level(result)
    if scored is not None:
        std, level = scored
        level_name = " ".join(x for x in (getattr(level, "zh", ""), getattr(level, "en", "")) if x)
        rows = [
            f"<h2>小区颜色：按标准配齐程度评级（{_e(level_name)}）<br>"
            "Colour of an area: its grade by the standard (share of the required facilities "
            f"within reach)</h2>"
        ]
        for i, g in enumerate(getattr(std, "grades", ())[: len(_CLASSES)]):
            rows.append(
                f"<div class='cc-row'><span class='cc-swatch' style='background:"
                f"{_CLASSES[i][1]}'></span>{_e(g.grade)} {_e(_grade_meaning(std, g.grade))}"
                f" ({per_class[i]})</div>"
            )
    else:
        rows = [
            f"<h2>小区颜色：{_e(tables.label_zh(top))}步行能到达几成日常服务（共 {n} 类）<br>"
            f"Colour of an area: the share of the {n} kinds of daily service within "
            f"{_e(tables.label_en(top))} on foot</h2>"
        ]
        for i, (_low, color, zh, en) in enumerate(_CLASSES):
            if n == 0 and i > 0:
                continue
            rows.append(
                f"<div class='cc-row'><span class='cc-swatch' style='background:{color}'></span>"
                f"{_e(zh)} · {_e(en)} ({per_class[i]})</div>"
            )
    rows.append(
        f"<div class='cc-row'><span class='cc-swatch' style='background:{_UNUSED[0]};"
        f"border-style:dashed'></span>{_UNUSED[1]} · {_UNUSED[2]}</div>"
    )
    rows.append(
        f"<div class='cc-row'><span class='cc-swatch' style='background:none;"
        f"border:2px dashed {_BLIND}'></span>服务盲区（缺少至少一类服务）· "
        "blind spot (misses at least one kind)</div>"
    )
    if scored is None:
        rows.append(_grade_legend(result, grades))
    parts = []
    for t, color in zip(result.thresholds, iso_colors, strict=True):
        parts.append(
            f"<span class='cc-swatch' style='background:{color};opacity:0.7'></span>"
            f"{_e(tables.label_zh(t))}&nbsp; "
        )
    rows.append(
        "<div style='margin-top:4px'>点击小区显示步行范围 · Click an area for its walking "
        f"range:<br>{''.join(parts)}</div>"
    )
    gaps = [result.categories[k] for k in result.categories if k in tables.gap_keys(result)]
    if gaps:
        names = "、".join(_e(c.label) for c in gaps)
        rows.append(
            "<div class='cc-note'>无数据（不计为缺少）· no data, not counted as missing: "
            f"{names}</div>"
        )
    return "<div class='cc-panel cc-legend'>" + "".join(rows) + "</div>"


# ---------------------------------------------------------------------------------------
# Assets
# ---------------------------------------------------------------------------------------


def leaflet_dir() -> Path:
    """Folder of Leaflet's files (leaflet.js, leaflet.css, images/) from xstatic-leaflet."""
    try:
        import xstatic.pkg.leaflet as xleaflet
    except ImportError as e:  # pragma: no cover - a dependency of circles
        raise RuntimeError(
            "the xstatic-leaflet package is needed for a self-contained map: "
            "pip install xstatic-leaflet"
        ) from e
    if xleaflet.VERSION != LEAFLET_VERSION:  # pragma: no cover - pinned in pyproject
        raise RuntimeError(
            f"xstatic-leaflet {xleaflet.VERSION} installed; circles needs {LEAFLET_VERSION}"
        )
    return Path(xleaflet.BASE_DIR)


def _inline_js(text: str) -> str:
    text = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", text)
    if re.search(r"</script|<!--", text, re.I):  # pragma: no cover - not in Leaflet 1.9.3
        raise RuntimeError("a script to embed contains '</script' or '<!--'")
    return text


def _inline_css(text: str, base: Path) -> str:
    def data_uri(match: re.Match) -> str:
        ref = match.group(1).strip("'\"")
        path = base / ref
        if ref.startswith(("data:", "#", "http:", "https:")) or not path.is_file():
            return match.group(0)
        mime = "image/png" if ref.endswith(".png") else "image/svg+xml"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"url(data:{mime};base64,{data})"

    text = re.sub(r"/\*# sourceMappingURL=\S+ \*/", "", text)
    text = re.sub(r"url\(([^)]+)\)", data_uri, text)
    if re.search(r"</style", text, re.I):  # pragma: no cover
        raise RuntimeError("a stylesheet to embed contains '</style'")
    return text


def _use_assets(m: folium.Map, self_contained: bool) -> None:
    """Only Leaflet: linked from its CDN, or embedded from the xstatic-leaflet package."""
    if not self_contained:
        m.default_js = [("leaflet", LEAFLET_JS_URL)]
        m.default_css = [("leaflet_css", LEAFLET_CSS_URL)]
        return
    m.default_js = []
    m.default_css = []
    base = leaflet_dir()
    js = _inline_js((base / "leaflet.js").read_text(encoding="utf-8"))
    css = _inline_css((base / "leaflet.css").read_text(encoding="utf-8"), base)
    header = m.get_root().header
    header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css")
    header.add_child(Element(f"<script>{js}</script>"), name="leaflet")


# ---------------------------------------------------------------------------------------
# The map
# ---------------------------------------------------------------------------------------


def _bounds(result: StudyResult) -> list[list[float]] | None:
    """The residential areas' extent (services far out of town would zoom the map out)."""
    frames = [f for f in (result.clusters, result.services) if len(f)][:1]
    boxes = []
    for frame in frames:
        geoms = frame.geometry
        if geoms.crs is None:
            geoms = geoms.set_crs(result.network.crs)
        geoms = geoms[~(geoms.is_empty | geoms.isna())]
        if len(geoms):
            boxes.append(geoms.to_crs(tables.WGS84).total_bounds)
    if not boxes:
        return None
    b = np.vstack(boxes)
    west, south = float(np.nanmin(b[:, 0])), float(np.nanmin(b[:, 1]))
    east, north = float(np.nanmax(b[:, 2])), float(np.nanmax(b[:, 3]))
    return [[south, west], [north, east]]


def _add_basemaps(m: folium.Map, basemap: str, carto_api_key: str | None) -> None:
    """OpenStreetMap, a light basemap, and none (a blank page that loads nothing).

    ``basemap`` is the one shown first. CARTO Positron needs an API key since August 2026;
    without one the light basemap is the OpenStreetMap tiles in grey (a CSS filter).
    GCJ-02 tiles (AMap/Gaode, Tencent) are left out on purpose: the data is WGS-84.
    """
    folium.TileLayer(
        _OSM_TILES,
        attr=_OSM_ATTR,
        name="OpenStreetMap 地图",
        max_zoom=19,
        show=basemap == "osm",
    ).add_to(m)
    if carto_api_key:
        folium.TileLayer(
            _CARTO_URL + quote(carto_api_key, safe=""),
            attr=_CARTO_ATTR,
            name="浅色底图 Light (CARTO Positron)",
            subdomains="abcd",
            max_zoom=20,
            show=basemap == "light",
        ).add_to(m)
    else:
        folium.TileLayer(
            _OSM_TILES,
            attr=_OSM_ATTR,
            name="浅色底图 Light (OpenStreetMap, grey)",
            max_zoom=19,
            show=basemap == "light",
            class_name="cc-grey-tiles",
        ).add_to(m)
    folium.TileLayer(
        _BLANK_TILE,
        attr="无底图 No basemap · data © OpenStreetMap contributors",
        name="无底图 No basemap (offline)",
        max_zoom=22,
        show=basemap == "none",
    ).add_to(m)


def _group_name(label: str, color: str | None = None, note: str = "") -> str:
    """An escaped layer-control entry, with a colour dot for a service category."""
    dot = f"<span class='cc-dot' style='background:{color}'></span>" if color else ""
    return f"{dot}{escape(label)}{escape(note)}"


def build_map(
    result: StudyResult,
    *,
    carto_api_key: str | None = None,
    self_contained: bool = False,
    basemap: str = "osm",
) -> folium.Map:
    """The folium map of a study result (see the module docstring).

    ``carto_api_key``: a CARTO basemaps key for the Positron light basemap; without it the
    light basemap is OpenStreetMap in grey. ``self_contained``: embed Leaflet instead of
    linking to its CDN. ``basemap``: ``osm``, ``light`` or ``none``, the one shown first.
    """
    if basemap not in BASEMAPS:
        raise ValueError(f"basemap must be one of {', '.join(BASEMAPS)}, not {basemap!r}")
    bounds = _bounds(result)
    if bounds is not None:
        center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    elif result.network.n_nodes:
        center = [float(np.mean(result.network.lat)), float(np.mean(result.network.lon))]
    else:
        center = [0.0, 0.0]
    m = folium.Map(
        location=center, zoom_start=15, tiles=None, control_scale=True, prefer_canvas=True
    )
    _use_assets(m, self_contained)
    _add_basemaps(m, basemap, carto_api_key)

    root = m.get_root()
    title = _e(result.summary.get("title") or result.study.display_title)
    root.header.add_child(Element(f"<title>{title}</title>"))
    root.header.add_child(Element(_CSS))
    root.html.add_child(Element(_title_panel(result)))

    ordered = sorted(result.thresholds, key=lambda t: t.distance_m)
    iso_colors_sorted = _iso_colors(len(ordered))
    by_threshold = {float(t.distance_m): c for t, c in zip(ordered, iso_colors_sorted, strict=True)}
    iso_colors = [by_threshold[float(t.distance_m)] for t in result.thresholds]
    cat_colors = category_colors(result)
    grades = cluster_grades(result)

    clusters = _cluster_data(result, grades, grade_classes(result))
    n_blind = sum(1 for c in clusters if c["u"] and c["m"])
    clusters_group = folium.FeatureGroup(
        name=_group_name(f"小区 Residential areas ({sum(1 for c in clusters if c['u'])})")
    ).add_to(m)
    blind_group = folium.FeatureGroup(name=_group_name(f"服务盲区 Blind spots ({n_blind})")).add_to(
        m
    )

    gaps = tables.gap_keys(result)
    services = _service_data(result)
    cat_groups = []
    for key, cat in result.categories.items():
        note = " · 无数据 no data" if key in gaps else f" ({len(services[key])})"
        group = folium.FeatureGroup(
            name=_group_name(cat.label, cat_colors[key], note), show=key not in gaps
        ).add_to(m)
        cat_groups.append(group.get_name())
    # before the layers' script, which reads the control's size to place popups
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.add_child(
        _Layers(
            _meta(result, iso_colors, cat_colors),
            _isochrone_data(result, by_threshold),
            clusters,
            [services[k] for k in result.categories],
            clusters_group.get_name(),
            blind_group.get_name(),
            cat_groups,
        )
    )
    root.html.add_child(Element(_legend(result, iso_colors, grades, clusters)))
    if bounds is not None:
        m.fit_bounds(bounds, padding=(20, 20))
    return m


def map_options(
    result: StudyResult, self_contained: bool | None = None, basemap: str | None = None
) -> tuple[bool, str]:
    """The options given, else the study's ``map:`` settings, else CDN and OpenStreetMap."""
    settings = getattr(result.study, "map", None)
    if self_contained is None:
        self_contained = bool(getattr(settings, "self_contained", False))
    if basemap is None:
        basemap = str(getattr(settings, "basemap", "osm"))
    return self_contained, basemap


def write_map(
    result: StudyResult,
    path: Path,
    *,
    carto_api_key: str | None = None,
    self_contained: bool | None = None,
    basemap: str | None = None,
) -> Path:
    """Write map.html, a single page (see :func:`build_map` for the options).

    ``self_contained`` and ``basemap`` default to the study's ``map:`` settings.
    """
    self_contained, basemap = map_options(result, self_contained, basemap)
    html_text = (
        build_map(
            result, carto_api_key=carto_api_key, self_contained=self_contained, basemap=basemap
        )
        .get_root()
        .render()
    )
    Path(path).write_text(html_text, encoding="utf-8")
    return path
