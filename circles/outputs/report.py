"""The bilingual Markdown report (report.md): data, coverage, gaps, least-served areas, method.

Markdown is not HTML: text is written as is, except inside table cells where ``|`` is
escaped and line breaks are flattened, so an OSM name cannot break a table.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from circles.outputs import tables
from circles.result import StudyResult

ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0"
GAP = "数据缺口 data gap"
N_LEAST = 10

_INPUT_LABELS = {
    "features": "OSM 要素 OSM features",
    "buildings": "建筑 Buildings",
    "residential_areas": "居住用地 Residential areas",
    "ways": "道路 Ways",
    "broken_areas": "无法组成面的要素 Broken areas",
}
# Input counts the data summary already shows in its own lines.
_SHOWN = frozenset(
    {
        "walk_nodes",
        "walk_edges",
        "walk_km",
        "services",
        "services_used",
        "services_per_category",
        "clusters",
        "clusters_used",
        "population",
    }
)

_METHODS = {
    "landuse": "居住用地/小区边界 residential land-use polygons (小区)",
    "buildings": "住宅建筑聚类 clusters of residential buildings",
    "grid": "规则网格 a regular grid over built-up land",
    "table": "用户提供的表格 a table supplied by the user",
}


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, line breaks flattened."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return text.replace("|", "\\|")


def _table(header: list[str], rows: list[list[Any]], align: str | None = None) -> list[str]:
    out = ["| " + " | ".join(cell(h) for h in header) + " |"]
    marks = align or ("l" + "r" * (len(header) - 1))
    out.append("|" + "|".join(":---" if a == "l" else "---:" for a in marks) + "|")
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return out


def _num(value: Any, digits: int = 0) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value) if value is not None else "—"
    if math.isnan(v):
        return "—"
    return f"{v:,.{digits}f}"


def _metres(value: Any) -> str:
    text = _num(value)
    return text if text == "—" else f"{text} m"


def _data_section(result: StudyResult) -> list[str]:
    s = result.summary
    net = dict(result.network.stats)
    net.update(s.get("network") or {})
    n_unused_c, n_unused_s = tables.unsnapped(result)
    clusters = result.clusters
    method = s.get("residence_method") or (
        ", ".join(sorted(set(clusters["method"].astype(str)))) if len(clusters) else "—"
    )
    pop = clusters["population"].astype(float).sum() if len(clusters) else 0.0
    out = ["## 数据概况 Data summary", ""]
    out.append(f"- 数据来源 Source: {s.get('source', '—')}")
    out.append(
        f"- 步行网络 Walking network: {_num(net.get('nodes', result.network.n_nodes))} "
        f"节点 nodes, {_num(net.get('edges', result.network.n_edges))} 路段 edges, "
        f"{_num(net.get('length_km'), 1)} km"
    )
    share = net.get("share_nodes_dropped")
    if share is not None:
        out.append(
            f"- 不连通的路网碎片（已去除）Disconnected fragments dropped: "
            f"{float(share) * 100:.1f}% 节点 of nodes "
            f"({_num(net.get('components'))} 个连通分量 components)"
        )
    out.append(
        f"- 居住单元 Residential clusters: {len(clusters):,} "
        f"（方法 method: {_METHODS.get(str(method), method)}），"
        f"估计人口 estimated residents ≈ {pop:,.0f}"
    )
    out.append(
        f"- 未接入步行网络 Not snapped to the network: {n_unused_c:,} 个小区 clusters, "
        f"{n_unused_s:,} 个设施 services"
    )
    n_services = len(result.services)
    out.append(
        f"- 服务设施 Services: {n_services:,} 个 found, "
        f"{n_services - n_unused_s:,} 个接入路网 joined the network"
    )
    inputs = s.get("inputs") or {}
    extra = {
        k: v
        for k, v in inputs.items()
        if k not in _SHOWN and not isinstance(v, dict | list | tuple)
    }
    if extra:
        items = ", ".join(f"{_INPUT_LABELS.get(k, k)}: {_num(v)}" for k, v in extra.items())
        out.append(f"- 其他输入 Other inputs: {items}")
    out.append("")
    counts = tables.service_counts(result)
    gaps = tables.gap_keys(result)
    rows = []
    for key, cat in result.categories.items():
        found, used = counts[key]
        rows.append([cat.label, f"{found:,}", f"{used:,}", GAP if key in gaps else ""])
    out += _table(["服务类别 Category", "找到 Found", "已接入 Used", "备注 Note"], rows, "lrrl")
    out.append("")
    return out


def _coverage_section(result: StudyResult) -> list[str]:
    cov = tables.coverage(result)
    gaps = tables.gap_keys(result)
    n_used = int(tables.used_mask(result.clusters).sum())
    out = ["## 覆盖率 Coverage", ""]
    out.append(
        f"步行可达各类服务的小区占比（共 {n_used:,} 个接入路网的小区）· Share of the "
        f"{n_used:,} connected residential clusters that reach each service category on foot."
    )
    out.append("")
    header = ["服务类别 Category"] + [tables.label_both(t) for t in result.thresholds]
    rows = []
    for key, cat in result.categories.items():
        shares = cov.get(key, {})
        row: list[Any] = [cat.label]
        for t in result.thresholds:
            value = shares.get(t.column)
            if key in gaps:
                row.append(GAP)
            else:
                row.append("—" if value is None else tables.format_share(value))
        rows.append(row)
    out += _table(header, rows)
    out.append("")
    return out


def _gaps_section(result: StudyResult) -> list[str]:
    gaps = [k for k in result.categories if k in tables.gap_keys(result)]
    out = ["## 数据缺口 Data gaps", ""]
    if not gaps:
        out += ["每个类别都有可用数据。Every category has usable data.", ""]
        return out
    out.append(
        "以下类别在 OpenStreetMap 中没有可用的设施，不是“0% 覆盖”，而是“未知”。"
        "These categories have no usable facility in the OpenStreetMap data: their coverage "
        "is unknown, not 0%."
    )
    out.append("")
    for key in gaps:
        out.append(f"- {result.categories[key].label} (`{key}`)")
    out.append("")
    out.append(
        "建议：从民政、卫健等部门取得设施清单（POI 表，含名称、类别、经纬度），"
        "作为补充数据再运行一次。 Hint: bring a POI table (name, category, longitude, "
        "latitude) from the civil affairs or health bureau and run the study again with it."
    )
    out.append("")
    return out


def _least_served_section(result: StudyResult) -> list[str]:
    top = tables.largest(result)
    avail = tables.available_keys(result)
    clusters = result.clusters[tables.used_mask(result.clusters)]
    out = [
        f"## 最欠缺的小区 Least-served clusters ({tables.label_both(top)})",
        "",
    ]
    if len(clusters) == 0 or not avail:
        out += ["无可比较的小区。No connected cluster to compare.", ""]
        return out
    records = []
    for _, row in clusters.iterrows():
        missing = tables.missing_categories(result, row)
        pop = pd.to_numeric(row.get("population"), errors="coerce")
        records.append((len(avail) - len(missing), -(0.0 if pd.isna(pop) else pop), row, missing))
    records = [r for r in records if r[3]]
    if not records:
        out += [
            f"每个接入路网的小区在{tables.label_zh(top)}内都能到达所有有数据的服务类别。 "
            f"Every connected cluster reaches every category with data within "
            f"{tables.label_en(top)}.",
            "",
        ]
        return out
    records.sort(key=lambda r: (r[0], r[1], str(r[2].get("cluster_id"))))
    n = min(N_LEAST, len(records))
    out.append(
        f"{tables.label_zh(top)} 步行范围内可达服务类别最少的 {n} 个小区（同等时按人口排序）。"
        f" The {n} clusters reaching the fewest categories within "
        f"{tables.label_en(top)}, most populous first among ties."
    )
    out.append("")
    rows = []
    for reached, _, row, missing in records[:N_LEAST]:
        miss_text = "; ".join(f"{result.categories[k].label} ({_near(row, k)})" for k in missing)
        rows.append(
            [
                row.get("cluster_id"),
                row.get("name") or "—",
                _num(row.get("population")),
                f"{reached}/{len(avail)}",
                miss_text or "—",
            ]
        )
    out += _table(
        [
            "编号 ID",
            "名称 Name",
            "人口 Residents",
            "可达 Reached",
            "缺少（最近距离）Missing (nearest)",
        ],
        rows,
        "llrrl",
    )
    out.append("")
    return out


def _near(row: pd.Series, key: str) -> str:
    value = row.get(tables.nearest_column(key))
    text = _metres(value)
    return "不可达 unreachable" if text == "—" else text


def _method_section(result: StudyResult) -> list[str]:
    study = result.study
    snap = (result.summary.get("snap") or {}).get("max_distance_m", study.snap.max_distance_m)
    res = study.residences
    thresholds = ", ".join(tables.label_both(t) for t in result.thresholds)
    out = ["## 方法与假设 Method and assumptions", ""]
    out += [
        "- 步行网络 Walking network: OpenStreetMap 中可步行的道路（人行道、小路、居住区道路、"
        "城市道路等，不含禁止步行的道路），按无向图计算，只保留最大的连通部分；距离沿道路计算，"
        "不是直线距离。 Walkable OSM ways (footways, paths, residential and city streets; "
        "not ways closed to pedestrians) as an undirected graph, largest connected part only; "
        "distances are measured along streets, not as the crow flies.",
        f"- 接入路网 Snapping: 小区与设施以直线连接到最近的道路，"
        f"超过 {_num(snap)} m 的不计入（数量见上）。 "
        f"Clusters and services join the nearest street in a straight line; those farther "
        f"than {_num(snap)} m are left out (counted above).",
        f"- 步行阈值 Thresholds (GB 50180-2018 生活圈): {thresholds}.",
        f"- 人口估计 Population estimate: 住宅建筑面积 ÷ {res.dwelling_m2:g} m² 每户 × "
        f"{res.persons_per_dwelling:g} 人每户（无层数时按 {res.default_levels:g} 层；"
        f"无建筑的小区按容积率 {res.default_far:g}；网格按每公顷 {res.grid_persons_per_ha:g} 人）。"
        f" Residential floor area ÷ {res.dwelling_m2:g} m² per dwelling × "
        f"{res.persons_per_dwelling:g} persons per dwelling ({res.default_levels:g} storeys when "
        f"untagged, plot ratio {res.default_far:g} for an area without mapped buildings, "
        f"{res.grid_persons_per_ha:g} persons/ha for grid cells). An estimate, not a census.",
        f"- 步行范围图 Walking areas: 阈值内可达的路段两侧各 {study.isochrones.buffer_m:g} m。 "
        f"Streets reachable within the threshold, buffered {study.isochrones.buffer_m:g} m "
        "on each side.",
        "- OpenStreetMap 的完整性因地而异：设施缺失会表现为“不可达”。 OSM completeness "
        "varies: an unmapped facility looks like an unreachable one.",
        "",
    ]
    return out


def render_report(result: StudyResult) -> str:
    """The report as Markdown text."""
    s = result.summary
    title = s.get("title") or result.study.display_title
    lines = [f"# {title}", ""]
    lines.append(
        f"15分钟生活圈评估报告 · 15-minute living circle report — {s.get('generated', '')}".rstrip(
            " —"
        )
    )
    lines.append("")
    lines += _data_section(result)
    lines += _coverage_section(result)
    lines += _gaps_section(result)
    lines += _least_served_section(result)
    lines += _method_section(result)
    warnings = list(s.get("warnings") or [])
    lines += ["## 警告 Warnings", ""]
    lines += [f"- {w}" for w in warnings] or ["无 None."]
    lines.append("")
    lines += ["## 数据版权 Attribution", "", f"地图数据 Map data {ATTRIBUTION}.", ""]
    return "\n".join(lines)


def write_report(result: StudyResult, path: Path) -> Path:
    path.write_text(render_report(result), encoding="utf-8")
    return path
