"""The outputs of a plan (``circles plan``): where to build, written all at once.

:func:`write_plan` writes ``outputs/<study>/plan-<level>-<category>/`` (see
:attr:`circles.planning.Item.slug`) through :func:`circles.outputs.write_folder`, so a
failure leaves an earlier plan untouched and no half-written folder:

- ``sites.csv``: one row per proposed site in rank order: rank, lon/lat (WGS-84) and
  lon_gcj02/lat_gcj02 (GCJ-02, for AMap), street, the residents and clusters it newly
  covers, the cumulative coverage, cost; UTF-8 with a BOM, formulas defused (names come
  from candidate files and OSM).
- ``sites.geojson``: the same rows as WGS-84 points.
- ``plan.html``: the map, with map.html's conventions (:mod:`circles.outputs.webmap`):
  every name escaped in Python, data embedded with :func:`safe_json`, Leaflet from the CDN
  or embedded (``self_contained``), an offline ``none`` basemap, the OSM credit.
- ``report.md`` and ``report.html``: the plan section, built from the report's blocks
  (:mod:`circles.outputs.report`) and written by its two renderers.
- ``rejected_rows.csv``: the candidate-file rows that could not be used, when there are any.
"""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from circles.outputs import OutputError, write_folder
from circles.outputs.columns import format_share
from circles.outputs.embed import escape_text as _e
from circles.outputs.embed import safe_json
from circles.outputs.report import (
    Block,
    Bullets,
    Heading,
    Inline,
    Link,
    Para,
    Report,
    Table,
    to_markdown,
)
from circles.settings import OSM_ATTRIBUTION, OSM_COPYRIGHT_URL
from circles.shortfalls import SHORTFALLS_CSV, SHORTFALLS_XLSX
from circles.values import as_number, defuse_formula, format_number

if TYPE_CHECKING:
    import folium

    from circles.planning import Plan

__all__ = [
    "PLAN_FILES",
    "STATES",
    "cluster_states",
    "coverage_text",
    "item_label",
    "method_text",
    "plan_report",
    "plan_section",
    "sites_table",
    "write_plan",
    "write_plan_map",
]

SITES_CSV = "sites.csv"
SITES_GEOJSON = "sites.geojson"
PLAN_HTML = "plan.html"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
REJECTED_CSV = "rejected_rows.csv"
PLAN_FILES: tuple[str, ...] = (SITES_CSV, SITES_GEOJSON, PLAN_HTML, REPORT_MD, REPORT_HTML)
# With units (社区/街道): the shortfall list with the sites proposed for the plan's item.
_KNOWN = (*PLAN_FILES, REJECTED_CSV, SHORTFALLS_CSV, SHORTFALLS_XLSX)

SITE_COLUMNS: tuple[str, ...] = (
    "rank",
    "lon",
    "lat",
    "lon_gcj02",
    "lat_gcj02",
    "street",
    "name",
    "candidate_id",
    "new_residents",
    "new_clusters",
    "cum_residents",
    "cum_share",
    "cost",
    "snap_m",
)

# The colour classes of the clusters on the map: (key, colour, 中文, English, dashed).
STATES: tuple[tuple[str, str, str, str, bool], ...] = (
    ("before", "#4575b4", "已覆盖（现有设施）", "covered before (existing facilities)", False),
    ("new", "#1a9850", "新覆盖", "newly covered", False),
    ("uncovered", "#fdae61", "仍未覆盖", "still uncovered", False),
    ("unreachable", "#bdbdbd", "任何候选点都无法覆盖", "unreachable from every candidate", True),
)
_EXISTING = "#542788"

_OBJECTIVES = {
    "residents": "新覆盖的居民人数 residents newly covered",
    "clusters": "新覆盖的小区个数 clusters newly covered",
}
_METHODS = {
    "greedy": "贪心算法（精确边际增益）greedy, with exact marginal gains",
    "exact": "整数规划（HiGHS）exact integer program (HiGHS)",
    "budget": "预算约束下的选址 within a budget",
    "cover_all": "覆盖全部可覆盖小区的最少新址 fewest sites covering every reachable cluster",
}


# ---------------------------------------------------------------------------------------
# The sites as a table
# ---------------------------------------------------------------------------------------


def _lon_lat(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 lon/lat of the sites: the plan's columns, else from the points."""
    sites = plan.sites
    if {"lon", "lat"} <= set(sites.columns):
        return sites["lon"].to_numpy(float), sites["lat"].to_numpy(float)
    geoms = sites.geometry if sites.geometry.crs else sites.geometry.set_crs(plan.crs)
    wgs = geoms.to_crs(4326)
    return wgs.x.to_numpy(float), wgs.y.to_numpy(float)


def sites_table(plan: Plan) -> pd.DataFrame:
    """The proposed sites as the table of sites.csv and sites.geojson.

    The GCJ-02 columns are computed here from the WGS-84 ones
    (:func:`circles.sources.coords.wgs84_to_gcj02`), so the two always agree.

    Parameters
    ----------
    plan : Plan
        A plan.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SITE_COLUMNS`, in rank order; a missing column of the plan's sites
        is left empty.
    """
    from circles.sources.coords import wgs84_to_gcj02

    sites = plan.sites
    lon, lat = _lon_lat(plan)
    lon, lat = np.round(lon, 7), np.round(lat, 7)  # about a centimetre, as reach.parquet
    glon, glat = wgs84_to_gcj02(lon, lat) if len(lon) else (lon, lat)
    frame = pd.DataFrame(index=range(len(sites)))
    for col in SITE_COLUMNS:
        frame[col] = sites[col].to_numpy() if col in sites.columns else np.nan
    frame["lon"], frame["lat"] = lon, lat
    frame["lon_gcj02"] = np.round(np.asarray(glon, dtype=float), 7)
    frame["lat_gcj02"] = np.round(np.asarray(glat, dtype=float), 7)
    frame["cum_share"] = pd.to_numeric(frame["cum_share"]).round(4)
    for col in ("new_residents", "cum_residents"):  # residents are whole people
        frame[col] = pd.to_numeric(frame[col]).round().astype("Int64")
    frame["rank"] = frame["rank"].fillna(pd.Series(range(1, len(frame) + 1))).astype(int)
    for col in ("street", "name", "candidate_id"):
        frame[col] = frame[col].map(lambda v: "" if _missing(v) else str(v))
    return frame.sort_values("rank", kind="stable").reset_index(drop=True)


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _write_sites_csv(plan: Plan, path: Path) -> Path:
    """sites.csv: UTF-8 with a BOM (Excel shows Chinese), text a formula would run defused."""
    frame = sites_table(plan)
    for col in ("street", "name", "candidate_id"):
        frame[col] = frame[col].map(defuse_formula)
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def _json_value(value: Any) -> Any:
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    return value


def _write_sites_geojson(plan: Plan, path: Path) -> Path:
    """sites.geojson: the sites as WGS-84 points (RFC 7946), NaN written as null."""
    frame = sites_table(plan)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]},
            "properties": {k: _json_value(v) for k, v in r.items()},
        }
        for r in frame.to_dict("records")
    ]
    doc = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# Text shared by the map, the report and the terminal
# ---------------------------------------------------------------------------------------


def item_label(plan: Plan) -> str:
    """The item in words: its labels, else its category and distance.

    Parameters
    ----------
    plan : Plan
        A plan.

    Returns
    -------
    str
        For example ``养老服务站 (5分钟, 300米) · elder care (5 min, 300 m)``.
    """
    item = plan.item
    labels = " · ".join(t for t in (item.zh, item.en) if t)
    return labels or f"{item.category} ({item.distance_m:g} m)"


def _share(value: float | None) -> str:
    return "—" if value is None else format_share(value)


def _coverage_rows(plan: Plan) -> list[list[str]]:
    names = {
        "clusters": "小区 Clusters",
        "area": "用地 Area",
        "residents": "居民 Residents",
    }
    return [
        [label, _share(plan.before.get(key)), _share(plan.after.get(key))]
        for key, label in names.items()
    ]


def _gap_text(plan: Plan) -> str:
    """The greedy answer against the optimum, when it is known."""
    if plan.exact_value is None:
        return ""
    gap = 0.0 if plan.gap is None else plan.gap
    return (
        f"贪心 greedy {format_number(plan.greedy_value)} · 最优 optimum "
        f"{format_number(plan.exact_value)} · 差距 gap {gap * 100:.1f}%"
    )


def coverage_text(plan: Plan) -> str:
    """Coverage before → after in one line.

    Parameters
    ----------
    plan : Plan
        A plan.

    Returns
    -------
    str
        For example ``coverage 覆盖 before → after: clusters 小区 20% → 60% · ...``.
    """
    parts = [f"{label} {b} → {a}" for label, b, a in _coverage_rows(plan)]
    return "coverage 覆盖 before → after: " + " · ".join(parts)


def method_text(plan: Plan) -> str:
    """The method, the candidates and the gap to the optimum when known, in one line.

    Parameters
    ----------
    plan : Plan
        A plan.

    Returns
    -------
    str
        For example ``greedy · 1,234 candidates (streets) · objective: residents``.
    """
    parts = [
        plan.method,
        f"{plan.n_candidates:,} candidates ({plan.candidates_source})",
        f"objective: {plan.objective}",
    ]
    if gap := _gap_text(plan):
        parts.append(gap)
    return " · ".join(parts)


def _data_gap_text() -> str:
    return (
        "数据中没有该类设施：按现状无此类设施规划，覆盖率“之前”为零。 The data has no "
        "facility of this category: planned as if none existed (bring a POI table with --pois)."
    )


# ---------------------------------------------------------------------------------------
# The report section
# ---------------------------------------------------------------------------------------


def plan_report(plan: Plan) -> Report:
    """The plan as a report: the same blocks as the study report, for report.md and .html.

    Parameters
    ----------
    plan : Plan
        A plan.

    Returns
    -------
    Report
        Title, subtitle and the plan section: item, objective, method, coverage before
        and after, the sites, unreachable clusters, data gap, rejected candidate rows,
        notes and the attribution.
    """
    study = plan.study
    doc = Report(
        study.display_title,
        f"选址规划 · Where to build — {item_label(plan)}",
    )
    doc.add(*plan_section(plan))
    doc.add(Heading(2, "数据版权 Attribution"))
    doc.add(
        Para([f"地图数据 Map data {OSM_ATTRIBUTION}: ", Link(OSM_COPYRIGHT_URL, OSM_COPYRIGHT_URL)])
    )
    return doc


def _sites_block(plan: Plan) -> Table:
    frame = sites_table(plan)
    has_cost = bool(frame["cost"].notna().any())
    has_name = bool((frame["name"] != "").any())  # candidates from a file of the planner's
    header = ["#", "街道 Street", *(["名称 Name"] if has_name else []), "经度 Lon", "纬度 Lat"]
    header += ["新覆盖居民 New residents", "新覆盖小区 New clusters", "累计覆盖 Cumulative share"]
    header += ["费用 Cost"] if has_cost else []
    rows = []
    for r in frame.to_dict("records"):
        row = [r["rank"], r["street"] or "—", *([r["name"]] if has_name else [])]
        row += [
            f"{r['lon']:.6f}",
            f"{r['lat']:.6f}",
            format_number(r["new_residents"]),
            format_number(r["new_clusters"]),
            _share(as_number(r["cum_share"])),
        ]
        rows.append(row + ([format_number(r["cost"], 2)] if has_cost else []))
    align = "rl" + ("l" if has_name else "")
    return Table(header, rows, align.ljust(len(header), "r"))


def plan_section(plan: Plan) -> list[Block]:
    """The plan section of a report, as blocks of plain text.

    Parameters
    ----------
    plan : Plan
        A plan.

    Returns
    -------
    list of Heading, Para, Bullets or Table
        The blocks, in order.
    """
    source = "步行道路节点 street nodes near residential areas"
    if plan.candidates_source != "streets":
        source = f"候选点文件 candidate file {plan.candidates_source}"
    facts: list[list[Inline]] = [
        [f"规划项目 Item: {item_label(plan)}，步行 {plan.item.distance_m:g} 米以内"],
        [f"目标 Objective: {_OBJECTIVES.get(plan.objective, plan.objective)}"],
        [f"方法 Method: {_METHODS.get(plan.method, plan.method)}"],
        [f"候选点 Candidates: {format_number(plan.n_candidates)} ({source})"],
        [f"新增设施 Sites proposed: {len(plan.sites)}"],
    ]
    if gap := _gap_text(plan):
        facts.append([f"最优性 Optimality: {gap}"])
    blocks: list[Block] = [Heading(2, f"选址规划 Where to build: {item_label(plan)}")]
    blocks += [Bullets(facts)]
    if plan.data_gap:
        blocks.append(Para([_data_gap_text()]))
    blocks.append(Heading(3, "覆盖率：规划前 → 规划后 Coverage before → after"))
    blocks.append(Table(["", "规划前 Before", "规划后 After"], _coverage_rows(plan)))
    blocks.append(Heading(3, "建议新址 Proposed sites"))
    sites = _sites_block(plan)
    blocks.append(sites if sites.rows else Para(["无 None."]))
    blocks.append(Heading(3, "无法覆盖的小区 Unreachable clusters"))
    if plan.unreachable:
        names = _cluster_names(plan)
        blocks.append(
            Para(
                [
                    f"{len(plan.unreachable)} 个未覆盖的小区，任何候选点都无法在 "
                    f"{plan.item.distance_m:g} 米内覆盖 · not covered, and no candidate is "
                    "within reach of them:"
                ]
            )
        )
        blocks.append(Bullets([[names.get(c, c)] for c in plan.unreachable]))
    else:
        blocks.append(Para(["无 None."]))
    if plan.rejected:
        rows_out = len({(r.get("file"), r.get("row")) for r in plan.rejected})
        blocks.append(
            Para(
                [
                    f"候选点文件中 {rows_out} 行未使用，原因见 rejected_rows.csv · "
                    f"{rows_out} candidate rows not used; reasons in rejected_rows.csv."
                ]
            )
        )
    if plan.notes:
        blocks += [Heading(3, "提示 Notes"), Bullets([[n] for n in plan.notes])]
    return blocks


def _cluster_names(plan: Plan) -> dict[str, str]:
    clusters = plan.clusters
    if "name" not in clusters.columns:
        return {}
    out = {}
    for cid, name in zip(clusters["cluster_id"].astype(str), clusters["name"], strict=True):
        out[cid] = f"{name} ({cid})" if not _missing(name) and str(name).strip() else cid
    return out


def _write_report(plan: Plan, path: Path, *, html: bool) -> Path:
    """report.md (:func:`circles.outputs.report.to_markdown`) or report.html (one page that
    opens offline, no scripts, text escaped: :func:`circles.outputs.report_html.to_html`)."""
    from circles.outputs.report_html import to_html

    doc = plan_report(plan)
    path.write_text(to_html(doc) if html else to_markdown(doc), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# The map
# ---------------------------------------------------------------------------------------


def cluster_states(plan: Plan) -> list[int]:
    """The colour class of each cluster: an index into :data:`STATES`.

    Parameters
    ----------
    plan : Plan
        A plan.

    Returns
    -------
    list of int
        Per cluster in ``plan.clusters`` order: 0 covered before, 1 newly covered,
        2 still uncovered (a candidate could cover it), 3 unreachable.
    """
    c = plan.clusters
    out = []
    unreachable = set(plan.unreachable)
    for before, after, reachable, cid in zip(
        c["covered_before"].astype(bool),
        c["covered_after"].astype(bool),
        c["reachable"].astype(bool) if "reachable" in c.columns else [True] * len(c),
        c["cluster_id"].astype(str),
        strict=True,
    ):
        if before:
            out.append(0)
        elif after:
            out.append(1)
        elif not reachable or cid in unreachable:
            out.append(3)
        else:
            out.append(2)
    return out


def _cluster_data(plan: Plan) -> list[dict[str, Any]]:
    """Per cluster: ``e`` escaped id, ``n`` escaped name, ``p`` residents, ``k`` state,
    ``r`` the rank of the site that covers it newly (0 if none), ``g`` the outline."""
    from circles.outputs.webmap import SIMPLIFY_M, encode_polygons, simplified_wgs84, whole_number

    c = plan.clusters
    if len(c) == 0:
        return []
    geoms = simplified_wgs84(c, plan.crs, SIMPLIFY_M)
    states = cluster_states(plan)
    out = []
    for i, row in enumerate(c.to_dict("records")):
        g = encode_polygons(geoms[i])
        if g is None:
            continue
        rank = whole_number(row.get("site_rank"))
        out.append(
            {
                "e": _e(row.get("cluster_id")),
                "n": _e(row.get("name")),
                "p": whole_number(row.get("population")),
                "k": states[i],
                "r": rank if rank and rank > 0 else 0,
                "g": g,
            }
        )
    return out


def _site_popup(r: dict[str, Any]) -> str:
    where = _e(r["street"]) or "—"
    lines = [
        f"<b>第 {int(r['rank'])} 处新址 · Site {int(r['rank'])}</b>",
        f"街道 Street: {where}",
    ]
    if r["name"]:
        lines.append(f"名称 Name: {_e(r['name'])}")
    lines += [
        f"新覆盖居民 New residents: {_e(format_number(r['new_residents']))}",
        f"新覆盖小区 New clusters: {_e(format_number(r['new_clusters']))}",
        f"累计覆盖 Cumulative share: {_e(_share(as_number(r['cum_share'])))}",
        f"WGS-84 {r['lon']:.6f}, {r['lat']:.6f} · GCJ-02 {r['lon_gcj02']:.6f}, "
        f"{r['lat_gcj02']:.6f}",
    ]
    if not _missing(r["cost"]):
        lines.append(f"费用 Cost: {_e(format_number(r['cost'], 2))}")
    return "<div class='cc-pop'>" + "<br>".join(lines) + "</div>"


def _site_data(plan: Plan) -> list[list[Any]]:
    """Per site: ``[x, y, rank, tooltip, popup]`` (1e-5 degrees; text escaped)."""
    from circles.outputs.webmap import SCALE

    out = []
    for r in sites_table(plan).to_dict("records"):
        if not (math.isfinite(r["lon"]) and math.isfinite(r["lat"])):
            continue
        tip = (
            f"第 {int(r['rank'])} 处 · Site {int(r['rank'])}: +{format_number(r['new_residents'])}"
        )
        xy = [int(round(r["lon"] * SCALE)), int(round(r["lat"] * SCALE))]
        out.append([*xy, int(r["rank"]), _e(tip), _site_popup(r)])
    return out


def _existing_data(plan: Plan) -> list[list[Any]]:
    """Per existing facility: ``[x, y, tooltip]`` (text escaped)."""
    from circles.outputs.webmap import encode_point, simplified_wgs84

    existing = plan.existing
    if existing is None or len(existing) == 0:
        return []
    points = simplified_wgs84(existing, plan.crs, 0.0)
    names = existing["name"] if "name" in existing.columns else [None] * len(existing)
    out = []
    for geom, name in zip(points, names, strict=True):
        xy = encode_point(geom)
        if xy is not None:
            label = _e(name) or "无名称 unnamed"
            out.append([*xy, f"{label} · 现有设施 existing"])
    return out


def _bounds(plan: Plan) -> list[list[float]] | None:
    frames = [f for f in (plan.clusters, plan.sites) if f is not None and len(f)]
    if not frames:
        return None
    geoms = frames[0].geometry
    geoms = geoms if geoms.crs else geoms.set_crs(plan.crs)
    geoms = geoms[~(geoms.is_empty | geoms.isna())]
    if not len(geoms):
        return None
    west, south, east, north = (float(v) for v in geoms.to_crs(4326).total_bounds)
    return [[south, west], [north, east]]


def _title_panel(plan: Plan) -> str:
    rows = [f"<div class='cc-meta'>规划项目 Item: {_e(item_label(plan))}</div>"]
    rows.append(
        f"<div class='cc-meta'>方法 Method: {_e(_METHODS.get(plan.method, plan.method))}</div>"
    )
    return (
        "<div class='cc-panel cc-title'>"
        f"<h1>{_e(plan.study.display_title)} · 选址规划 Where to build</h1>"
        + "".join(rows)
        + "<div class='cc-meta'>地图数据 Map data: "
        f"<a href='{OSM_COPYRIGHT_URL}' target='_blank' rel='noopener'>"
        f"{_e(OSM_ATTRIBUTION)}</a></div></div>"
    )


def _panel(plan: Plan, clusters: list[dict[str, Any]]) -> str:
    """Coverage before and after, the gap to the optimum, and the legend."""
    cells = "".join(
        f"<tr><td>{_e(label)}</td><td>{_e(b)}</td><td>{_e(a)}</td></tr>"
        for label, b, a in _coverage_rows(plan)
    )
    parts = [
        f"<h2>覆盖率 Coverage ({_e(plan.item.category)}, {plan.item.distance_m:g} m)</h2>",
        "<table class='cc-table'><tr><th></th><th>规划前 Before</th><th>规划后 After</th></tr>"
        f"{cells}</table>",
    ]
    if gap := _gap_text(plan):
        parts.append(f"<div class='cc-note'>{_e(gap)}</div>")
    counts = [sum(1 for c in clusters if c["k"] == i) for i in range(len(STATES))]
    for (_key, color, zh, en, dashed), n in zip(STATES, counts, strict=True):
        dash = ";border-style:dashed" if dashed else ""
        parts.append(
            f"<div class='cc-row'><span class='cc-swatch' style='background:{color}{dash}'>"
            f"</span>{_e(zh)} · {_e(en)} ({n})</div>"
        )
    parts.append(
        "<div class='cc-row'><span class='cc-dot' style='background:"
        f"{_EXISTING}'></span>现有设施 existing facility ({len(plan.existing)})</div>"
    )
    parts.append(
        "<div class='cc-row'><span class='cc-site'><span>1</span></span>"
        "建议新址（按顺序）proposed site, in rank order "
        f"({len(plan.sites)})</div>"
    )
    if plan.data_gap:
        parts.append(f"<div class='cc-warn'>{_e(_data_gap_text())}</div>")
    return "<div class='cc-panel cc-legend cc-plan'>" + "".join(parts) + "</div>"


def build_plan_map(plan: Plan, *, self_contained: bool = False, basemap: str = "osm") -> folium.Map:
    """The folium map of a plan.

    Parameters
    ----------
    plan : Plan
        A plan.
    self_contained : bool
        Embed Leaflet instead of linking to its CDN.
    basemap : str
        ``osm``, ``light`` or ``none``: the basemap shown first.

    Returns
    -------
    folium.Map
        The map; ``m.get_root().render()`` gives the page.

    Raises
    ------
    ValueError
        For an unknown ``basemap``.
    """
    import folium
    from branca.element import Element, MacroElement
    from folium.template import Template

    # map.html's own helpers: the same assets, basemaps, page files and layer names.
    from circles.outputs import webmap

    if basemap not in webmap.BASEMAPS:
        raise ValueError(f"basemap must be one of {', '.join(webmap.BASEMAPS)}, not {basemap!r}")
    bounds = _bounds(plan)
    center = [0.0, 0.0]
    if bounds is not None:
        center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    m = folium.Map(
        location=center, zoom_start=15, tiles=None, control_scale=True, prefer_canvas=True
    )
    webmap.use_assets(m, self_contained)
    webmap.add_basemaps(m, basemap, None)
    root = webmap.map_figure(m)
    root.header.add_child(Element(f"<title>{_e(plan.study.display_title)} · plan</title>"))
    css = webmap.static_text("map.css") + webmap.static_text("plan.css")
    root.header.add_child(Element(f"<style>\n{css}</style>"))
    root.html.add_child(Element(_title_panel(plan)))

    clusters = _cluster_data(plan)
    sites = _site_data(plan)
    existing = _existing_data(plan)
    name = webmap.layer_name
    groups = {
        "clusters": folium.FeatureGroup(name=name(f"小区 Residential areas ({len(clusters)})")),
        "existing": folium.FeatureGroup(
            name=name(f"现有设施 Existing facilities ({len(existing)})")
        ),
        "sites": folium.FeatureGroup(name=name(f"建议新址 Proposed sites ({len(sites)})")),
    }
    for group in groups.values():
        group.add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)

    layers = MacroElement()
    layers._name = "CirclesPlan"
    layers._template = Template(webmap.static_text("plan.js.jinja"))
    meta = {
        "states": [
            {"c": c, "z": _e(zh), "e": _e(en), "dash": dash} for _, c, zh, en, dash in STATES
        ],
        "existing": _EXISTING,
    }
    fields = {
        "code": webmap.static_text("map.js"),
        "meta_js": safe_json(meta),
        "clusters_js": safe_json(clusters),
        "sites_js": safe_json(sites),
        "existing_js": safe_json(existing),
    }
    for key, value in fields.items():
        setattr(layers, key, value)
    for key, group in groups.items():
        setattr(layers, f"{key}_group", group.get_name())
    m.add_child(layers)
    root.html.add_child(Element(_panel(plan, clusters)))
    if bounds is not None:
        m.fit_bounds(bounds, padding=(20, 20))
    return m


def write_plan_map(
    plan: Plan, path: Path, *, self_contained: bool | None = None, basemap: str | None = None
) -> Path:
    """Write plan.html, a single page.

    Parameters
    ----------
    plan : Plan
        A plan.
    path : pathlib.Path
        Where plan.html goes (UTF-8).
    self_contained : bool, optional
        Embed Leaflet; by default the study's ``map:`` setting.
    basemap : str, optional
        ``osm``, ``light`` or ``none``; by default the study's ``map:`` setting.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    settings = plan.study.map
    if self_contained is None:
        self_contained = bool(settings.self_contained)
    if basemap is None:
        basemap = str(settings.basemap)
    m = build_plan_map(plan, self_contained=self_contained, basemap=basemap)
    Path(path).write_text(m.get_root().render(), encoding="utf-8")
    return path


def _write_rejected(plan: Plan, path: Path) -> Path:
    from circles.outputs.rejected import write_rejected

    return write_rejected(plan, path)  # type: ignore[arg-type]  # it reads only .rejected


# ---------------------------------------------------------------------------------------
# The folder
# ---------------------------------------------------------------------------------------


def write_plan(
    plan: Plan,
    out_dir: Path | str | None = None,
    *,
    self_contained: bool | None = None,
    basemap: str | None = None,
    shortfalls: pd.DataFrame | None = None,
) -> Path:
    """Write a plan's files into one folder, all at once or not at all.

    Parameters
    ----------
    plan : Plan
        A plan (:func:`circles.planning.plan`).
    out_dir : pathlib.Path or str, optional
        The folder; default ``<study output folder>/<plan.item.slug>``, e.g.
        ``outputs/nanjing-xinjiekou/plan-5min-elder_care``.
    self_contained : bool, optional
        plan.html embeds Leaflet (no CDN); default: the study's ``map:`` setting.
    basemap : str, optional
        ``osm``, ``light`` or ``none`` (offline); default: the study's ``map:`` setting.
    shortfalls : pandas.DataFrame, optional
        The run's shortfall list (``UnitReport.shortfalls``, with ``--units``): written
        as shortfalls.csv and shortfalls.xlsx with the site proposed for each row of the
        plan's item (:func:`circles.shortfalls.with_proposed_sites`).

    Returns
    -------
    pathlib.Path
        The folder, absolute.

    Raises
    ------
    OutputError
        The folder cannot be written, or holds files circles did not write.
    """
    if out_dir is None:
        out_dir = plan.study.output_folder / plan.item.slug
    if basemap is not None and basemap not in ("osm", "light", "none"):
        raise OutputError(f"basemap must be osm, light or none, not {basemap!r}")
    writers: list[tuple[str, Any]] = [
        (SITES_CSV, partial(_write_sites_csv, plan)),
        (SITES_GEOJSON, partial(_write_sites_geojson, plan)),
        (REPORT_MD, partial(_write_report, plan, html=False)),
        (REPORT_HTML, partial(_write_report, plan, html=True)),
        (
            PLAN_HTML,
            partial(write_plan_map, plan, self_contained=self_contained, basemap=basemap),
        ),
    ]
    if plan.rejected:
        writers.insert(0, (REJECTED_CSV, partial(_write_rejected, plan)))
    if shortfalls is not None:
        from circles.shortfalls import (
            with_proposed_sites,
            write_shortfalls_csv,
            write_shortfalls_xlsx,
        )
        from circles.standards import load_standard

        standard = plan.study.standard
        listed = with_proposed_sites(
            shortfalls, plan, load_standard(standard) if standard is not None else None
        )
        writers += [
            (SHORTFALLS_CSV, partial(write_shortfalls_csv, listed)),
            (SHORTFALLS_XLSX, partial(write_shortfalls_xlsx, listed)),
        ]
    return write_folder(Path(out_dir), writers, _KNOWN)
