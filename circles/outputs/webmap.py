"""The interactive map (map.html): services by category, residential areas coloured by how
many service categories are within a 15-minute walk, blind spots, and walking areas shown on
click.

Every name, tag or label that reaches the page is escaped with :func:`html.escape` before
it is put in HTML, and every piece of data embedded in a script is JSON with ``<``, ``>``
and ``&`` written as ``\\u003c``, ``\\u003e`` and ``\\u0026``: OSM names are untrusted.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.plugins import Fullscreen
from folium.template import Template
from folium.utilities import JsCode
from geopandas import GeoDataFrame
from shapely.geometry import mapping

from circles.outputs import tables
from circles.result import StudyResult

SIMPLIFY_M = 2.0  # display only: the GeoPackage keeps the full geometry
DECIMALS = 6  # ~0.1 m
OSM_URL = "https://www.openstreetmap.org"
OSM_TYPES = frozenset({"node", "way", "relation"})
# A transparent 1x1 PNG: the "no basemap" choice requests nothing from the network.
_BLANK_TILE = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)

_CARTO_URL = "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png?key="
_CARTO_ATTR = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors '
    '&copy; <a href="https://carto.com/attributions">CARTO</a>'
)

# Colour classes of residential areas by how many categories (with data) they miss.
_CLASSES: tuple[tuple[int, float, str, str, str], ...] = (
    (0, 0, "#1a9850", "全部可达", "all categories reachable"),
    (1, 1, "#a6d96a", "缺 1 类", "1 category missing"),
    (2, 2, "#fee08b", "缺 2 类", "2 categories missing"),
    (3, 4, "#fc8d59", "缺 3–4 类", "3–4 categories missing"),
    (5, math.inf, "#d73027", "缺 5 类及以上", "5 or more missing"),
)
_UNUSED = ("#bdbdbd", "未接入步行网络", "not connected to the walking network")
_BLIND = "#b2182b"
_ISO_DARK = (8, 81, 156)  # smallest walking area
_ISO_LIGHT = (158, 202, 225)  # largest walking area


# ---------------------------------------------------------------------------------------
# Safe embedding
# ---------------------------------------------------------------------------------------


def safe_json(value: Any) -> str:
    """JSON that can sit inside a <script> element: no ``<``, ``>`` or ``&`` left raw."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
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


def _display_geometries(frame: GeoDataFrame, crs: Any) -> list[dict | None]:
    """GeoJSON geometries for the browser: simplified in metres, WGS-84, 6 decimals."""
    if len(frame) == 0:
        return []
    geoms = frame.geometry
    if geoms.crs is None:
        geoms = geoms.set_crs(crs)
    if not geoms.crs.is_geographic:
        geoms = geoms.simplify(SIMPLIFY_M, preserve_topology=True)
    geoms = geoms.to_crs(tables.WGS84)
    arr = shapely.transform(np.asarray(geoms.array), lambda c: np.round(c, DECIMALS))
    out: list[dict | None] = []
    for g in arr:
        if g is None or g.is_empty:
            out.append(None)
        else:
            out.append(json.loads(json.dumps(mapping(g))))
    return out


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


# ---------------------------------------------------------------------------------------
# Popups
# ---------------------------------------------------------------------------------------


def _class_of(missing: int) -> tuple[str, str, str]:
    for low, high, color, zh, en in _CLASSES:
        if low <= missing <= high:
            return color, zh, en
    return _CLASSES[-1][2:]


def _cluster_title(row: pd.Series) -> str:
    name = _e(row.get("name"))
    cid = _e(row.get("cluster_id"))
    if not name:
        name = "未命名小区 Unnamed area"
    return f"<b>{name}</b> <span class='cc-id'>{cid}</span>"


def _population(row: pd.Series) -> str:
    try:
        pop = float(row.get("population"))
    except (TypeError, ValueError):
        pop = math.nan
    if math.isnan(pop):
        return "估计人口 Estimated residents: 未知 unknown"
    return f"估计人口 Estimated residents: 约 {pop:,.0f} 人 (about {pop:,.0f})"


def _cluster_popup(result: StudyResult, row: pd.Series, used: bool) -> str:
    top = tables.largest(result)
    gaps = tables.gap_keys(result)
    lines = [_cluster_title(row), f"<div>{_population(row)}</div>"]
    if not used:
        snap = (result.summary.get("snap") or {}).get("max_distance_m")
        limit = f"{float(snap):g} m" if snap is not None else "the limit"
        lines.append(
            "<div class='cc-warn'>未接入步行网络：离最近的可步行道路 "
            f"{_metres(row.get('snap_m'))}，超过 {_e(limit)}，未计入统计。<br>"
            "Not connected to the walking network: the nearest walkable street is "
            f"{_metres(row.get('snap_m'))} away (more than {_e(limit)}); not counted.</div>"
        )
        return "<div class='cc-pop'>" + "".join(lines) + "</div>"

    missing = tables.missing_categories(result, row)
    avail = tables.available_keys(result)
    reached = len(avail) - len(missing)
    lines.append(
        f"<div>{_e(tables.label_zh(top))}步行可达 {reached}/{len(avail)} 类服务 · "
        f"{reached} of {len(avail)} service categories within "
        f"{_e(tables.label_en(top))}</div>"
    )
    head = "".join(f"<th>{_e(tables.label_zh(t))}</th>" for t in result.thresholds)
    rows = [f"<tr><th>类别 Category</th>{head}<th>最近 Nearest</th></tr>"]
    span = len(result.thresholds) + 1
    for key, cat in result.categories.items():
        label = _e(cat.label)
        if key in gaps:
            rows.append(
                f"<tr class='cc-gap'><td>{label}</td><td colspan='{span}'>无数据 no data</td></tr>"
            )
            continue
        cells = []
        for t in result.thresholds:
            n = tables.count_value(row, tables.count_column(key, t))
            cells.append(f"<td class='{'cc-zero' if n == 0 else ''}'>{max(n, 0)}</td>")
        near = _metres(row.get(tables.nearest_column(key)))
        if key in missing:
            rows.append(
                f"<tr class='cc-miss'><td>✗ {label}</td>{''.join(cells)}<td>{near}</td></tr>"
            )
        else:
            rows.append(f"<tr><td>{label}</td>{''.join(cells)}<td>{near}</td></tr>")
    lines.append("<table class='cc-table'>" + "".join(rows) + "</table>")
    lines.append(
        "<div class='cc-note'>数字为步行范围内的设施数量；红色为缺少的服务。"
        "Numbers are services within walking distance; red rows are missing.</div>"
    )
    return "<div class='cc-pop'>" + "".join(lines) + "</div>"


def _cluster_tip(result: StudyResult, row: pd.Series, used: bool) -> str:
    name = _e(row.get("name")) or _e(row.get("cluster_id"))
    if not used:
        return f"<b>{name}</b><br>{_UNUSED[1]} {_UNUSED[2]}"
    top = tables.largest(result)
    avail = tables.available_keys(result)
    reached = len(avail) - len(tables.missing_categories(result, row))
    return (
        f"<b>{name}</b><br>{_e(tables.label_zh(top))}可达 {reached}/{len(avail)} 类 · "
        f"{reached}/{len(avail)} categories within {_e(tables.label_en(top))}"
    )


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
    parts = [f"<b>{name}</b>", f"<div>{label}</div>"]
    link = _osm_link(row.get("osm_type"), row.get("osm_id"))
    if link:
        parts.append(f"<div>OSM: {link}</div>")
    used = bool(row.get("used", True))
    if not used:
        parts.append(
            "<div class='cc-warn'>离步行道路太远，未计入 · too far from a walkable street, "
            f"not counted ({_metres(row.get('snap_m'))})</div>"
        )
    return "<div class='cc-pop'>" + "".join(parts) + "</div>"


# ---------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------

_CLUSTER_JS = JsCode(
    """function(feature, layer) {
        var p = feature.properties;
        if (p.tip) { layer.bindTooltip(p.tip, {sticky: true}); }
        if (p.popup) { layer.bindPopup(p.popup, {maxWidth: 560}); }
        layer.on('click', function(e) {
            L.DomEvent.stopPropagation(e);
            window.circlesShowIsochrones(p.cluster_id);
        });
        layer.on('mouseover', function(e) { e.target.setStyle({weight: 3}); });
        layer.on('mouseout', function(e) { e.target.setStyle({weight: p.style.weight}); });
    }"""
)

_SERVICE_JS = JsCode(
    """function(feature, layer) {
        var p = feature.properties;
        if (p.tip) { layer.bindTooltip(p.tip); }
        if (p.popup) { layer.bindPopup(p.popup, {maxWidth: 320}); }
    }"""
)


class _Isochrones(MacroElement):
    """The walking areas of every cluster, shown for one cluster at a time on click."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var circlesIsochrones = {{ this.data_js }};
        (function(map) {
            var pane = map.createPane('circlesIsochrones');
            pane.style.zIndex = 350;
            pane.style.pointerEvents = 'none';
            var current = null;
            function clear() {
                if (current) { map.removeLayer(current); current = null; }
            }
            window.circlesClearIsochrones = clear;
            window.circlesShowIsochrones = function(id) {
                clear();
                if (!Object.prototype.hasOwnProperty.call(circlesIsochrones, id)) { return; }
                var items = circlesIsochrones[id];
                current = L.featureGroup();
                items.forEach(function(it) {
                    L.geoJSON(it.g, {
                        pane: 'circlesIsochrones',
                        interactive: false,
                        style: {color: it.c, weight: 1.5, opacity: 0.9,
                                fillColor: it.c, fillOpacity: 0.3}
                    }).addTo(current);
                });
                current.addTo(map);
            };
            map.on('click', clear);
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, data: dict[str, list[dict]]):
        super().__init__()
        self._name = "CirclesIsochrones"
        self.data_js = safe_json(data)


def _isochrone_data(result: StudyResult, colors: dict[float, str]) -> dict[str, list[dict]]:
    iso = result.isochrones
    if len(iso) == 0:
        return {}
    geoms = _display_geometries(iso, result.network.crs)
    out: dict[str, list[dict]] = {}
    order = np.argsort(-iso["threshold_m"].astype(float).to_numpy(), kind="stable")
    for i in order:
        g = geoms[i]
        if g is None:
            continue
        t = float(iso["threshold_m"].iloc[i])
        cid = str(iso["cluster_id"].iloc[i])
        out.setdefault(cid, []).append({"t": t, "c": colors.get(t, "#3182bd"), "g": g})
    return out


def _cluster_features(
    result: StudyResult,
) -> tuple[list[dict], list[dict]]:
    """Features of the clusters layer and of the blind-spots layer."""
    clusters = result.clusters
    geoms = _display_geometries(clusters, result.network.crs)
    used = tables.used_mask(clusters).to_numpy()
    features, blind = [], []
    for i, (_, row) in enumerate(clusters.iterrows()):
        g = geoms[i]
        if g is None:
            continue
        if used[i]:
            missing = tables.missing_categories(result, row)
            color = _class_of(len(missing))[0]
            style = {"color": "#4d4d4d", "weight": 1, "fillColor": color, "fillOpacity": 0.6}
        else:
            missing = []
            style = {
                "color": "#757575",
                "weight": 1,
                "dashArray": "4 3",
                "fillColor": _UNUSED[0],
                "fillOpacity": 0.5,
            }
        props = {
            "cluster_id": str(row.get("cluster_id")),
            "tip": _cluster_tip(result, row, bool(used[i])),
            "popup": _cluster_popup(result, row, bool(used[i])),
            "style": style,
        }
        features.append({"type": "Feature", "geometry": g, "properties": props})
        if used[i] and missing:
            blind_style = {
                "color": _BLIND,
                "weight": 3,
                "dashArray": "6 4",
                "fill": False,
                "opacity": 0.95,
            }
            blind.append({"type": "Feature", "geometry": g, "properties": {"style": blind_style}})
    return features, blind


def _service_features(result: StudyResult, key: str, color: str) -> list[dict]:
    services = result.services
    if len(services) == 0:
        return []
    mine = services[services["category"].astype(str) == key]
    if len(mine) == 0:
        return []
    geoms = _display_geometries(mine, result.network.crs)
    used = tables.used_mask(mine).to_numpy()
    out = []
    for i, (_, row) in enumerate(mine.iterrows()):
        if geoms[i] is None:
            continue
        style = {
            "color": "#ffffff" if used[i] else color,
            "weight": 1 if used[i] else 1.5,
            "fillColor": color,
            "fillOpacity": 0.9 if used[i] else 0.2,
        }
        name = _e(row.get("name")) or "无名称 unnamed"
        props = {"tip": name, "popup": _service_popup(result, row), "style": style}
        out.append({"type": "Feature", "geometry": geoms[i], "properties": props})
    return out


def _collection(features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": features}


# ---------------------------------------------------------------------------------------
# Panels
# ---------------------------------------------------------------------------------------

_CSS = """
<style>
.cc-panel { position: fixed; z-index: 1000; background: rgba(255,255,255,0.95);
  border-radius: 6px; box-shadow: 0 1px 5px rgba(0,0,0,0.35); padding: 8px 12px;
  font: 13px/1.45 "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", Arial, sans-serif;
  color: #222; }
.cc-title { top: 10px; left: 56px; max-width: 460px; }
.cc-title h1 { font-size: 17px; margin: 0 0 4px 0; }
.cc-title .cc-meta { color: #555; font-size: 12px; }
.cc-legend { bottom: 36px; left: 10px; max-width: 330px; }
.cc-legend h2 { font-size: 13px; margin: 0 0 4px 0; }
.cc-legend .cc-row { display: flex; align-items: center; margin: 2px 0; }
.cc-swatch { width: 18px; height: 12px; margin-right: 6px; border: 1px solid #666;
  flex: none; }
.cc-pop { font: 12px/1.4 "PingFang SC", "Microsoft YaHei", Arial, sans-serif; }
.cc-pop .cc-id { color: #777; font-size: 11px; }
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
@media (max-width: 700px) { .cc-legend { display: none; } .cc-title { max-width: 60%; } }
</style>
"""


def _title_panel(result: StudyResult) -> str:
    summary = result.summary
    title = _e(summary.get("title") or result.study.display_title)
    generated = _e(summary.get("generated", ""))
    source = str(summary.get("source", "") or "")
    if ("/" in source or "\\" in source) and "://" not in source:
        source = source.replace("\\", "/").rsplit("/", 1)[-1]  # a local file: its name only
    source = _e(source)
    meta = []
    if generated:
        meta.append(f"生成日期 Generated: {generated}")
    if source:
        meta.append(f"数据来源 Data source: {source}")
    meta_html = " · ".join(meta)
    return (
        "<div class='cc-panel cc-title'>"
        f"<h1>{title}</h1>"
        f"<div class='cc-meta'>{meta_html}</div>"
        "<div class='cc-meta'>地图数据 Map data: "
        "<a href='https://www.openstreetmap.org/copyright' target='_blank' rel='noopener'>"
        "© OpenStreetMap contributors</a> (ODbL 1.0)</div>"
        "<div class='cc-meta'>点击小区查看步行范围和服务 · "
        "Click a residential area to see its walking range and services</div>"
        "</div>"
    )


def _legend(result: StudyResult, iso_colors: list[str]) -> str:
    top = tables.largest(result)
    avail = tables.available_keys(result)
    rows = [
        f"<h2>{_e(tables.label_zh(top))}内步行可达的服务类别<br>"
        f"Service categories within {_e(tables.label_en(top))} on foot</h2>"
    ]
    for low, _high, color, zh, en in _CLASSES:
        if low > max(len(avail), 0) or (low > 0 and not avail):
            continue
        rows.append(
            f"<div class='cc-row'><span class='cc-swatch' style='background:{color}'></span>"
            f"{_e(zh)} · {_e(en)}</div>"
        )
    rows.append(
        f"<div class='cc-row'><span class='cc-swatch' style='background:{_UNUSED[0]};"
        f"border-style:dashed'></span>{_UNUSED[1]} · {_UNUSED[2]}</div>"
    )
    rows.append(
        f"<div class='cc-row'><span class='cc-swatch' style='background:none;"
        f"border:2px dashed {_BLIND}'></span>服务盲区（缺少至少一类服务）· "
        "blind spot (misses at least one service)</div>"
    )
    parts = []
    for t, color in zip(result.thresholds, iso_colors, strict=True):
        parts.append(
            f"<span class='cc-swatch' style='background:{color};opacity:0.7;"
            f"display:inline-block'></span>{_e(tables.label_zh(t))}&nbsp; "
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
# The map
# ---------------------------------------------------------------------------------------


def _bounds(result: StudyResult) -> list[list[float]] | None:
    frames = [f for f in (result.clusters, result.services) if len(f)]
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


def _add_basemaps(m: folium.Map, carto_api_key: str | None) -> None:
    """OpenStreetMap, a light basemap, and none (a blank page that loads nothing).

    CARTO Positron needs an API key since August 2026; without one the light basemap is
    the OpenStreetMap tiles in grey (a CSS filter), which needs no key.
    """
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap 地图").add_to(m)
    if carto_api_key:
        folium.TileLayer(
            _CARTO_URL + quote(carto_api_key, safe=""),
            attr=_CARTO_ATTR,
            name="浅色底图 Light (CARTO Positron)",
            subdomains="abcd",
            max_zoom=20,
            show=False,
        ).add_to(m)
    else:
        folium.TileLayer(
            "OpenStreetMap",
            name="浅色底图 Light (OpenStreetMap, grey)",
            show=False,
            class_name="cc-grey-tiles",
        ).add_to(m)
    folium.TileLayer(
        _BLANK_TILE, attr="无底图 No basemap", name="无底图 No basemap", show=False
    ).add_to(m)


def build_map(result: StudyResult, *, carto_api_key: str | None = None) -> folium.Map:
    """The folium map of a study result (see the module docstring).

    ``carto_api_key``: a CARTO basemaps key for the Positron light basemap; without it the
    light basemap is OpenStreetMap in grey.
    """
    bounds = _bounds(result)
    if bounds is not None:
        center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    elif result.network.n_nodes:
        center = [float(np.mean(result.network.lat)), float(np.mean(result.network.lon))]
    else:
        center = [0.0, 0.0]
    m = folium.Map(location=center, zoom_start=15, tiles=None, control_scale=True)

    _add_basemaps(m, carto_api_key)

    root = m.get_root()
    title = _e(result.summary.get("title") or result.study.display_title)
    root.header.add_child(Element(f"<title>{title}</title>"))
    root.header.add_child(Element(_CSS))
    root.html.add_child(Element(_title_panel(result)))

    ordered = sorted(result.thresholds, key=lambda t: t.distance_m)
    iso_colors = _iso_colors(len(ordered))
    by_threshold = {float(t.distance_m): c for t, c in zip(ordered, iso_colors, strict=True)}
    m.add_child(_Isochrones(_isochrone_data(result, by_threshold)))

    top = tables.largest(result)
    features, blind = _cluster_features(result)
    folium.GeoJson(
        _collection(features),
        name=escape(
            f"小区（按{tables.label_zh(top)}可达服务着色）"
            f"Residential areas by services within {tables.label_en(top)}"
        ),
        on_each_feature=_CLUSTER_JS,
    ).add_to(m)
    folium.GeoJson(
        _collection(blind),
        name=escape(f"服务盲区 Blind spots ({len(blind)})"),
        interactive=False,
    ).add_to(m)

    gaps = tables.gap_keys(result)
    for key, cat in result.categories.items():
        feats = _service_features(result, key, cat.color)
        name = f"{cat.label} · 无数据 no data" if key in gaps else f"{cat.label} ({len(feats)})"
        group = folium.FeatureGroup(name=escape(name), show=key not in gaps)
        if feats:
            folium.GeoJson(
                _collection(feats),
                control=False,
                marker=folium.CircleMarker(
                    radius=6,
                    color="#ffffff",
                    weight=1,
                    fill=True,
                    fill_color=cat.color,
                    fill_opacity=0.9,
                    bubbling_mouse_events=False,
                ),
                on_each_feature=_SERVICE_JS,
            ).add_to(group)
        group.add_to(m)

    root.html.add_child(Element(_legend(result, iso_colors)))
    Fullscreen(position="topleft", title="全屏 Full screen", title_cancel="退出全屏 Exit").add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    if bounds is not None:
        m.fit_bounds(bounds, padding=(20, 20))
    return m


def write_map(result: StudyResult, path: Path, *, carto_api_key: str | None = None) -> Path:
    """Write map.html (a single page; Leaflet and the tiles load from the web)."""
    build_map(result, carto_api_key=carto_api_key).save(str(path))
    return path
