"""The bilingual report: one document model, written as report.md and as report.html.

:func:`build_report` assembles the report as a list of blocks (headings, paragraphs,
bullets, tables, charts) holding plain text only; :func:`render_report` writes it as
Markdown and :mod:`circles.outputs.report_html` as a self-contained HTML page, so the two
files have the same content. Charts are drawn in the HTML page; the Markdown shows their
numbers as a table.

Markdown is not HTML: text is written as is, except inside table cells where ``|`` is
escaped and line breaks are flattened, so an OSM name cannot break a table. The HTML writer
escapes every piece of text (OSM names are untrusted).

Sections: key findings (one screen: :func:`findings`, also the start of the terminal
summary), data summary, data gaps, indicators (with a standard), coverage per category and
threshold, completeness distribution, least-served clusters, blind spots, the standard,
method and assumptions, warnings, attribution.

The report names its input files by their name only: an absolute path of the user's
machine never reaches report.md or report.html (:func:`source_name`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import pandas as pd

from circles.outputs import columns
from circles.residences import MIN_COVERAGE
from circles.result import StudyResult
from circles.settings import OSM_ATTRIBUTION, OSM_COPYRIGHT_URL
from circles.summary import residence_estimates
from circles.values import as_number, format_number

if TYPE_CHECKING:
    from circles.standards import Requirement

GAP = "数据缺口 data gap"
N_LEAST = 10
N_BLIND_ITEMS = 15
N_BLIND_ROWS = 20
N_ALSO = 6  # other missing items named in a row of the least-served tables

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
_METHODS_SHORT = {
    "landuse": "小区边界 landuse",
    "buildings": "建筑聚类 buildings",
    "grid": "网格 grid",
    "table": "表格 table",
}
# Marks a low-confidence population in the per-cluster tables.
LOW_MARK = "†"
_LOW_LEGEND = (
    f"{LOW_MARK} 低可信度人口估计（见数据概况）。 Low-confidence population estimate "
    "(see the data summary)."
)


# ---------------------------------------------------------------------------------------
# The document model
# ---------------------------------------------------------------------------------------


@dataclass
class Link:
    """A link in running text.

    Parameters
    ----------
    text : str
        The text shown.
    url : str
        Where it leads (report.html links only ``http(s)`` addresses).
    """

    text: str
    url: str


Inline = str | Link


@dataclass
class Heading:
    """A section heading.

    Parameters
    ----------
    level : int
        2 for a section, 3 for a part of one (1 is the report's title).
    text : str
        The heading, plain text.
    """

    level: int
    text: str


@dataclass
class Para:
    """A paragraph.

    Parameters
    ----------
    parts : list of str or Link
        Plain text and links, joined without spaces.
    """

    parts: list[Inline]


@dataclass
class Bullets:
    """A bulleted list.

    Parameters
    ----------
    items : list of list of str or Link
        One list of inline parts per bullet.
    """

    items: list[list[Inline]]


@dataclass
class Table:
    """A table of plain text cells.

    Parameters
    ----------
    header : list of str
        The column headings.
    rows : list of list
        The cells; any value, written with ``str`` (None and NaN as nothing).
    align : str, optional
        One letter per column, ``l`` (left) or ``r`` (right); by default the first
        column is left-aligned and the others right-aligned.
    """

    header: list[str]
    rows: list[list[Any]]
    align: str | None = None  # one letter per column: l (left) or r (right)


@dataclass
class Chart:
    """A chart: drawn in report.html, shown by its numbers in report.md.

    Parameters
    ----------
    kind : str
        The drawing (see :mod:`circles.outputs.report_html`): ``coverage`` or ``grades``.
    title : str
        The caption.
    data : dict
        What the drawing needs.
    table : Table
        The chart's numbers.
    alt : str
        A description for screen readers; the title when empty.
    """

    kind: str
    title: str
    data: dict[str, Any]
    table: Table
    alt: str = ""


@dataclass
class Findings:
    """The key findings: a few groups of one-line findings, each 中文 then English.

    Parameters
    ----------
    groups : list of (str, list of str)
        A label and its findings, in order; plain text on one line each.
    """

    groups: list[tuple[str, list[str]]]


Block = Heading | Para | Bullets | Table | Chart | Findings


@dataclass
class Report:
    """The report as a document: a title, a subtitle and blocks of plain text.

    Parameters
    ----------
    title : str
        The study's title.
    subtitle : str
        What the report is, when it was made and the standard it follows.
    blocks : list of Heading, Para, Bullets, Table, Chart or Findings
        The content, in order.
    """

    title: str
    subtitle: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        """Append blocks to the report.

        Parameters
        ----------
        *blocks : Heading, Para, Bullets, Table, Chart or Findings
            The blocks, in order.

        Returns
        -------
        None
        """
        self.blocks.extend(blocks)


def _p(*parts: Inline) -> Para:
    return Para(list(parts))


# ---------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, line breaks flattened.

    Parameters
    ----------
    value : Any
        A cell's value.

    Returns
    -------
    str
        The text; empty for None and NaN.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return text.replace("|", "\\|")


def _share(value: float | None) -> str:
    return GAP if value is None else columns.format_share(value)


# Sources that are queries, not files: shown as they are.
_QUERIES = ("place:", "bbox:", "polygon")


def source_name(source: Any) -> str:
    """An input as the report names it: a file by its name only, never its folder.

    Parameters
    ----------
    source : Any
        ``summary["source"]``: a file's path (absolute or not, POSIX or Windows) or an
        Overpass query (``place: …``, ``bbox: …``, ``polygon``).

    Returns
    -------
    str
        The file's name, the query as it is, or ``—`` when there is none.
    """
    text = "" if source is None else str(source).strip()
    if not text:
        return "—"
    if text.startswith(_QUERIES):
        return text
    return re.split(r"[\\/]", text.rstrip("/\\"))[-1] or text


def _is_absolute(text: str) -> bool:
    return text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", text) is not None


def input_paths(result: StudyResult) -> list[str]:
    """The absolute paths of the study's inputs, longest first (to name them by name only).

    Parameters
    ----------
    result : StudyResult
        Its study's settings (the OSM file, tables, boundary, standard file ...), its
        summary's source and its standard's file.

    Returns
    -------
    list of str
        Every absolute path among them.
    """
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, PurePath):
            found.add(str(value))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple | set):
            for v in value:
                walk(v)

    walk(result.study.model_dump())
    # Text that may hold a path: the source, a standard file and the files it extends.
    texts = [result.summary.get("source"), result.study.standard]
    if result.scores is not None:
        texts += [result.scores.standard.origin, *result.scores.standard.extends]
    found.update(str(t) for t in texts if t is not None)
    return sorted((p for p in found if _is_absolute(p) and len(p) > 1), key=len, reverse=True)


def _without_paths(doc: Report, paths: list[str]) -> Report:
    """The document with every input path in its text replaced by the file's name."""
    if not paths:
        return doc

    def fix(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for p in paths:
            if p in value:
                value = value.replace(p, source_name(p))
        return value

    def fix_parts(parts: list[Inline]) -> list[Inline]:
        return [Link(fix(p.text), p.url) if isinstance(p, Link) else fix(p) for p in parts]

    def fix_table(t: Table) -> Table:
        return Table([fix(h) for h in t.header], [[fix(v) for v in r] for r in t.rows], t.align)

    blocks: list[Block] = []
    for b in doc.blocks:
        if isinstance(b, Heading):
            blocks.append(Heading(b.level, fix(b.text)))
        elif isinstance(b, Para):
            blocks.append(Para(fix_parts(b.parts)))
        elif isinstance(b, Bullets):
            blocks.append(Bullets([fix_parts(i) for i in b.items]))
        elif isinstance(b, Table):
            blocks.append(fix_table(b))
        elif isinstance(b, Chart):
            blocks.append(Chart(b.kind, fix(b.title), b.data, fix_table(b.table), fix(b.alt)))
        else:
            blocks.append(Findings([(fix(g), [fix(x) for x in lines]) for g, lines in b.groups]))
    return Report(fix(doc.title), fix(doc.subtitle), blocks)


def _method_text(method: str) -> str:
    """A residence method in words; ``landuse+buildings`` names both."""
    return " + ".join(_METHODS.get(m, m) for m in str(method).split("+"))


def low_confidence_ids(result: StudyResult) -> set[str]:
    """The clusters whose population is a low-confidence estimate.

    Parameters
    ----------
    result : StudyResult
        A study result; clusters without a ``population_low`` column have none.

    Returns
    -------
    set of str
        Their ``cluster_id``.
    """
    c = result.clusters
    if c is None or "population_low" not in c or len(c) == 0:
        return set()
    low = c["population_low"].fillna(False).to_numpy(dtype=bool)
    return set(c["cluster_id"].astype(str).to_numpy()[low])


def _residents(value: Any, cluster_id: Any, low: set[str]) -> str:
    """A cluster's residents, marked when the estimate is low-confidence."""
    text = format_number(value)
    return f"{text} {LOW_MARK}" if str(cluster_id) in low else text


# ---------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------


def _gate_items(gates: dict[str, Any] | None) -> list[list[Inline]]:
    """Where walks start (gates, crossings, a point) and what the gates change."""
    if not gates:
        return []
    w = gates["walk_from"]
    items: list[list[Inline]] = [
        [
            f"步行起点 Walks start at: 小区大门 gates {w['gates']:,} 个 clusters, "
            f"边界路口 boundary crossings {w['crossings']:,}, "
            f"单点 one point {w['point']:,}（其中无出入口的小区 of them 小区 without a gate "
            f"or crossing: {gates['ungated_compounds']:,}）"
        ]
    ]
    change = gates["gate_change_m"]
    if change["clusters"]:
        items.append(
            [
                f"大门规则的影响 What the gates change: 最近距离中位数变化 median change of "
                f"the nearest distances {change['median']:+,.0f} m (90% ≤ {change['p90']:+,.0f} m, "
                f"最大 largest {change['max']:+,.0f} m); {change['over_100m']:,} / "
                f"{change['clusters']:,} 个小区 clusters walk over 100 m farther "
                "(clusters.csv: gate_change_m)"
            ]
        )
    return items


def _data_section(result: StudyResult) -> list[Block]:
    s = result.summary
    net = dict(result.network.stats)
    net.update(s.get("network") or {})
    n_unused_c, n_unused_s = columns.unsnapped(result)
    clusters = result.clusters
    # The report is written only by a full run, which has clusters and their services.
    assert clusters is not None and result.services is not None
    est = residence_estimates(clusters)
    method = s.get("residence_method") or (est["residence_method"] if len(clusters) else "—")
    pop = clusters["population"].astype(float).sum() if len(clusters) else 0.0
    items: list[list[Inline]] = [[f"数据来源 Source: {source_name(s.get('source'))}"]]
    n_nodes = format_number(net.get("nodes", result.network.n_nodes))
    n_edges = format_number(net.get("edges", result.network.n_edges))
    items.append(
        [
            f"步行网络 Walking network: {n_nodes} 节点 nodes, {n_edges} 路段 edges, "
            f"{format_number(net.get('length_km'), 1)} km"
        ]
    )
    share = net.get("share_nodes_dropped")
    if share is not None:
        items.append(
            [
                f"不连通的路网碎片（已去除）Disconnected fragments dropped: "
                f"{float(share) * 100:.1f}% 节点 of nodes "
                f"({format_number(net.get('components'))} 个连通分量 components)"
            ]
        )
    items.append(
        [
            f"居住单元 Residential clusters: {len(clusters):,} "
            f"（方法 method: {_method_text(method)}），"
            f"估计人口 estimated residents ≈ {pop:,.0f}"
        ]
    )
    by_method = est["residents_by_method"]
    if len(by_method) > 1:
        kinds = clusters["method"].astype(str)
        parts = [
            f"{_METHODS_SHORT.get(m, m)} {n:,.0f}（{int((kinds == m).sum())} 个 clusters）"
            for m, n in by_method.items()
        ]
        items.append([f"各方法估计人口 Residents by method: {'; '.join(parts)}"])
    items += _low_confidence_items(result, est["population_low"], pop)
    items += _gate_items(s.get("gates"))
    items.append(
        [
            f"未接入步行网络 Not snapped to the network: {n_unused_c:,} 个小区 clusters, "
            f"{n_unused_s:,} 个设施 services"
        ]
    )
    n_services = len(result.services)
    items.append(
        [
            f"服务设施 Services: {n_services:,} 个 found, "
            f"{n_services - n_unused_s:,} 个接入路网 joined the network"
        ]
    )
    inputs = s.get("inputs") or {}
    extra = {
        k: v
        for k, v in inputs.items()
        if k not in _SHOWN and not isinstance(v, dict | list | tuple)
    }
    if extra:
        shown = [f"{_INPUT_LABELS.get(k, k)}: {format_number(v)}" for k, v in extra.items()]
        text = ", ".join(shown)
        items.append([f"其他输入 Other inputs: {text}"])
    counts = columns.service_counts(result)
    gaps = columns.gap_keys(result)
    sparse = _sparse(result)
    rows = []
    for key, cat in result.categories.items():
        found, used = counts[key]
        note = GAP if key in gaps else ("数据偏少 few in the data" if key in sparse else "")
        rows.append([cat.label, f"{found:,}", f"{used:,}", note])
    return [
        Heading(2, "数据概况 Data summary"),
        Bullets(items),
        Table(["服务类别 Category", "找到 Found", "已接入 Used", "备注 Note"], rows, "lrrl"),
    ]


def _low_confidence_items(
    result: StudyResult, low: dict[str, Any], total: float
) -> list[list[Inline]]:
    """A line on the clusters whose population is a low-confidence estimate."""
    if not low["clusters"]:
        return []
    res = result.study.residences
    share = f" ({low['residents'] / total:.0%})" if total > 0 else ""
    return [
        [
            f"低可信度人口 Low-confidence populations: {low['clusters']:,} 个小区 clusters，"
            f"≈ {low['residents']:,.0f} 人 residents{share}，在下列表格中出现时标 {LOW_MARK}。"
            "其人口不是由已绘制的建筑算出：小区内建筑覆盖不足 "
            f"{MIN_COVERAGE:.0%}（按容积率 {res.default_far:g} 估计）或网格的假定密度。"
            f" Marked {LOW_MARK} where the tables below list them: their population does "
            "not rest on mapped buildings: a 小区 whose buildings cover less than "
            f"{MIN_COVERAGE:.0%} of it (estimated with plot ratio {res.default_far:g}), or a "
            "grid cell's assumed density."
        ]
    ]


def _sparse(result: StudyResult) -> dict[str, dict[str, Any]]:
    scores = result.scores
    return dict(scores.sparse) if scores is not None else {}


def _gaps_section(result: StudyResult) -> list[Block]:
    gaps = [k for k in result.categories if k in columns.gap_keys(result)]
    sparse = _sparse(result)
    out: list[Block] = [Heading(2, "数据缺口 Data gaps")]
    if not gaps and not sparse:
        out.append(_p("每个类别都有可用数据。Every category has usable data."))
        return out
    if gaps:
        out.append(
            _p(
                "以下类别在 OpenStreetMap 中没有可用的设施，不是“0% 覆盖”，而是“未知”。"
                "These categories have no usable facility in the OpenStreetMap data: their "
                "coverage is unknown, not 0%."
            )
        )
        out.append(Bullets([[f"{result.categories[k].label} ({k})"] for k in gaps]))
    if sparse:
        out.append(
            _p(
                "以下类别的设施数量远少于标准的人口规模所要求的数量，可能是数据未标注完整；"
                "依赖它们的得分可能偏低。These categories have far fewer facilities than the "
                "standard's population scale implies; they may be under-mapped, so scores "
                "that need them may be too low."
            )
        )
        rows = []
        for k, s in sparse.items():
            cat = result.categories.get(k)
            rows.append(
                [
                    cat.label if cat else k,
                    s["found"],
                    f"≈{s['expected']:g}",
                    f"{s['level']}: ≤{s['residents_per_facility']:,}",
                ]
            )
        out.append(
            Table(
                [
                    "服务类别 Category",
                    "找到 Found",
                    "按标准应有 Expected",
                    "标准规模 Scale (residents per facility)",
                ],
                rows,
                "lrrl",
            )
        )
    scores = result.scores
    if scores is not None:
        gap_items = [
            f"{lv.zh} {lv.en}: "
            + "、".join(lv.requirement(k).zh for k in scores.gap_requirements(lv.key))
            for lv in scores.standard.levels
            if scores.gap_requirements(lv.key)
        ]
        if gap_items:
            out.append(
                _p(
                    "评分时，缺少数据的应配建项不计入完整度的分母（严格口径把它们计为缺失）。"
                    "In scoring, required items without data are left out of the completeness "
                    "share; the strict figures count them as missing. Items concerned:"
                )
            )
            out.append(Bullets([[t] for t in gap_items]))
    out.append(
        _p(
            "建议：从民政、卫健等部门取得设施清单（POI 表，含名称、类别、经纬度），"
            "作为补充数据再运行一次。 Hint: bring a POI table (name, category, longitude, "
            "latitude) from the civil affairs or health bureau and run the study again with it."
        )
    )
    return out


def _indicators_section(result: StudyResult) -> list[Block]:
    scores = result.scores
    if scores is None:
        return []
    std = scores.standard
    rows = []
    for ind in scores.indicators:
        lv = std.level(ind.level)
        note_parts = []
        if ind.gaps:
            note_parts.append("缺数据 no data: " + ", ".join(ind.gaps))
        if ind.excluded:
            note_parts.append("未计入（缺数据）left out (no data): " + ", ".join(ind.excluded))
        if ind.partial:
            note_parts.append("部分类别缺数据 partly without data: " + ", ".join(ind.partial))
        if ind.sparse:
            note_parts.append("数据偏少 few in the data: " + ", ".join(ind.sparse))
        strict = (
            f"{columns.format_share(ind.clusters_strict)} / "
            f"{columns.format_share(ind.population_strict)}"
            if ind.clusters_strict is not None
            else "—"
        )
        rows.append(
            [
                f"{ind.zh} {ind.en}",
                f"{lv.zh} {lv.en} ({lv.distance_m:g} m)",
                _share(ind.clusters),
                _share(ind.area),
                _share(ind.population),
                strict,
                "; ".join(note_parts),
            ]
        )
    n = scores.indicators[0].n_clusters if scores.indicators else 0
    return [
        Heading(2, "指标 Indicators"),
        _p(
            f"对照 {std.citation}，按小区数、居住用地面积和估计人口三种口径计算"
            f"（共 {n:,} 个接入路网的小区）。“严格口径”把缺少数据的应配建项计为缺失。"
            f" Measured against {std.citation}, as shares of the {n:,} connected residential "
            "clusters, of their residential area and of their estimated residents. The strict "
            "figures (clusters / residents) count required items without data as missing."
        ),
        Table(
            [
                "指标 Indicator",
                "级别 Level",
                "小区 Clusters",
                "用地 Area",
                "人口 Residents",
                "严格口径 Strict",
                "说明 Note",
            ],
            rows,
            "llrrrrl",
        ),
    ]


def _coverage_section(result: StudyResult) -> list[Block]:
    cov = columns.coverage(result)
    gaps = columns.gap_keys(result)
    n_used = int(columns.used_mask(result.clusters).sum())
    header = ["服务类别 Category"] + [columns.label_both(t) for t in result.thresholds]
    rows = []
    bars = []
    for key, cat in result.categories.items():
        shares = cov.get(key, {})
        row: list[Any] = [cat.label]
        values = []
        for t in result.thresholds:
            value = shares.get(t.column)
            values.append(None if key in gaps else value)
            if key in gaps:
                row.append(GAP)
            else:
                row.append("—" if value is None else columns.format_share(value))
        rows.append(row)
        bars.append({"label": cat.label, "gap": key in gaps, "values": values})
    table = Table(header, rows)
    chart = Chart(
        "coverage",
        "各类服务的步行覆盖率 Coverage by category and walking distance",
        {
            "rows": bars,
            "series": [columns.label_both(t) for t in result.thresholds],
        },
        table,
        alt="Share of connected clusters reaching each category within each threshold",
    )
    return [
        Heading(2, "覆盖率 Coverage"),
        _p(
            f"步行可达各类服务的小区占比（共 {n_used:,} 个接入路网的小区）· Share of the "
            f"{n_used:,} connected residential clusters that reach each service category on foot."
        ),
        chart,
        table,
    ]


def _distribution_section(result: StudyResult) -> list[Block]:
    scores = result.scores
    if scores is None:
        return []
    std = scores.standard
    counts = scores.grade_counts()
    pops = scores.grade_population()
    grades = [g.grade for g in std.grades]
    rows = []
    bars = []
    for lv in std.levels:
        c = counts[lv.key]
        comp = scores.table[f"std_{lv.key}_completeness"].dropna()
        rows.append(
            [f"{lv.zh} {lv.en}"]
            + [f"{c[g]} ({format_number(pops[lv.key][g])})" for g in grades]
            + [c["none"], columns.format_share(float(comp.mean())) if len(comp) else "—"]
        )
        bars.append({"label": f"{lv.zh} {lv.en}", "counts": [c[g] for g in grades]})
    legend = "; ".join(
        f"{g.grade}: ≥{g.min_share * 100:.0f}% {g.zh} {g.en}".strip() for g in std.grades
    )
    table = Table(
        ["级别 Level"]
        + [f"{g}" for g in grades]
        + ["未评分 Not scored", "平均完整度 Mean completeness"],
        rows,
        "l" + "r" * (len(grades) + 2),
    )
    return [
        Heading(2, "完整度分布 Distribution of completeness"),
        _p(
            "完整度＝在该级距离内可达的应配建项（有数据的）所占比例；等级按完整度划分（"
            f"{legend}）。等级是 circles 的约定，不是标准条文。表中每格为小区数（估计人口）。"
            " Completeness is the share of a level's required items (with data) reached within "
            "the level's distance; grades follow it. Grades are a circles convention, not part "
            "of the standard. Each cell of the table: clusters (estimated residents)."
        ),
        Chart(
            "grades",
            "各级完整度等级分布 Grades by level (share of clusters)",
            {"rows": bars, "grades": grades},
            table,
            alt="Share of clusters in each grade, per level",
        ),
        table,
    ]


def _least_served(result: StudyResult) -> list[tuple[int, float, pd.Series, list[str]]]:
    """Connected clusters missing a category within the largest threshold, fewest
    categories reached first, most residents first among ties.

    Each record: (categories reached, minus the residents, the cluster's row, the missing
    category keys).
    """
    avail = columns.available_keys(result)
    assert result.clusters is not None  # the report is written only by a full run
    clusters = result.clusters[columns.used_mask(result.clusters)]
    if len(clusters) == 0 or not avail:
        return []
    records = []
    for _, row in clusters.iterrows():
        missing = columns.missing_categories(result, row)
        if not missing:
            continue
        pop = pd.to_numeric(row.get("population"), errors="coerce")
        records.append((len(avail) - len(missing), -(0.0 if pd.isna(pop) else pop), row, missing))
    records.sort(key=lambda r: (r[0], r[1], str(r[2].get("cluster_id"))))
    return records


def _also(keys: list[str]) -> str:
    """Short keys of the other missing items: the first few, then how many more."""
    shown = ", ".join(keys[:N_ALSO])
    return shown + (f" … +{len(keys) - N_ALSO}" if len(keys) > N_ALSO else "") or "—"


def _least_served_section(result: StudyResult) -> list[Block]:
    """The least-served clusters: by the standard when scored, else by the categories."""
    if result.scores is not None:
        return _worst_scored_section(result)
    top = columns.largest(result)
    avail = columns.available_keys(result)
    out: list[Block] = [
        Heading(2, f"最欠缺的小区 Least-served clusters ({columns.label_both(top)})")
    ]
    used = result.clusters is not None and bool(columns.used_mask(result.clusters).any())
    if not used or not avail:
        out.append(_p("无可比较的小区。No connected cluster to compare."))
        return out
    records = _least_served(result)
    if not records:
        out.append(
            _p(
                f"每个接入路网的小区在{columns.label_zh(top)}内都能到达所有有数据的服务类别。 "
                f"Every connected cluster reaches every category with data within "
                f"{columns.label_en(top)}."
            )
        )
        return out
    n = min(N_LEAST, len(records))
    out.append(
        _p(
            f"{columns.label_zh(top)} 步行范围内可达服务类别最少的 {n} 个小区（同等时按人口排序）；"
            "“最远”是最近一处设施最远的缺项，其余缺项以类别代码列出（见 clusters.csv）。"
            f" The {n} clusters reaching the fewest categories within "
            f"{columns.label_en(top)}, most populous first among ties: the missing category "
            "whose nearest facility is farthest, then the other missing ones by key "
            "(see clusters.csv)."
        )
    )
    rows = []
    low = low_confidence_ids(result)
    for reached, _, row, missing in records[:N_LEAST]:
        far = sorted(missing, key=lambda k: -_distance(row.get(columns.nearest_column(k))))
        rows.append(
            [
                row.get("cluster_id"),
                row.get("name") or "—",
                _residents(row.get("population"), row.get("cluster_id"), low),
                f"{reached}/{len(avail)}",
                f"{result.categories[far[0]].label}: {_near(row, far[0])}",
                _also(far[1:]),
            ]
        )
    out.append(
        Table(
            [
                "编号 ID",
                "名称 Name",
                "人口 Residents",
                "可达 Reached",
                "最远的缺项 Farthest missing (nearest)",
                "其他缺项 Also missing",
            ],
            rows,
            "llrrll",
        )
    )
    return out + _legend(rows)


def _legend(rows: list[list[Any]]) -> list[Block]:
    """The low-confidence mark's legend, under a table that shows the mark."""
    marked = any(isinstance(v, str) and v.endswith(f" {LOW_MARK}") for r in rows for v in r)
    return [_p(_LOW_LEGEND)] if marked else []


def _distance(value: Any) -> float:
    """A nearest distance as a number: infinity when unreachable (no figure)."""
    v = as_number(value)
    return math.inf if v is None or math.isnan(v) else v


def _req_distance(row: pd.Series, req: Requirement) -> float:
    """The nearest distance that decides a requirement (the nearest of ``any``, the
    farthest of ``all``); infinity when unreachable."""
    vals = [_distance(row.get(columns.nearest_column(c))) for c in req.categories]
    if not vals:
        return math.inf
    return min(vals) if req.match == "any" else max(vals)


def _metres_or_unreachable(value: float) -> str:
    return "不可达 unreachable" if math.isinf(value) else columns.format_metres(value)


def _worst_scored_section(result: StudyResult) -> list[Block]:
    scores = result.scores
    # Called only when the run was scored, and only clusters are scored.
    assert scores is not None and result.clusters is not None
    std = scores.standard
    worst = scores.worst(N_LEAST)
    out: list[Block] = [Heading(2, "最欠缺的小区 Least-served clusters")]
    if worst.empty:
        out.append(
            _p(
                "每个接入路网的小区都配齐了有数据的应配建项。Every connected cluster reaches every "
                "required item with data."
            )
        )
        return out
    out.append(
        _p(
            f"对照 {std.key} 各级应配建项，完整度最低的 {len(worst)} 个小区（同等时人口多者在前）："
            "缺项数、超出要求最多的缺项（最近一处的步行距离 / 要求），其余缺项以代码列出"
            "（全部见 clusters.csv 的 std_*_missing 列）。"
            f" The {len(worst)} clusters with the lowest completeness against {std.key} "
            "(most residents first among ties): how many required items they miss, the one "
            "whose nearest facility lies farthest beyond its limit, and the others by key "
            "(all in the std_*_missing columns of clusters.csv)."
        )
    )
    rows = []
    low = low_confidence_ids(result)
    by_id = result.clusters.set_index(result.clusters["cluster_id"].astype(str))
    for _, r in worst.iterrows():
        crow = by_id.loc[r["cluster_id"]]
        if isinstance(crow, pd.DataFrame):
            crow = crow.iloc[0]
        # (beyond the limit, key, text) of every missing item, farthest beyond first
        items: list[tuple[float, str, str]] = []
        for lv in std.levels:
            miss = r[f"std_{lv.key}_missing"]
            if not isinstance(miss, str) or not miss:
                continue
            for key in miss.split(";"):
                req = lv.requirement(key)
                near = _req_distance(crow, req)
                text = (
                    f"{req.zh} {req.en}: {_metres_or_unreachable(near)} / "
                    f"{columns.format_metres(req.distance_m)}"
                )
                items.append((near - req.distance_m, key, text))
        items.sort(key=lambda x: -x[0])
        others = list(dict.fromkeys(k for _, k, _ in items[1:] if k != items[0][1]))
        rows.append(
            [
                r["cluster_id"],
                r["name"] if isinstance(r["name"], str) and r["name"] else "—",
                _residents(r["population"], r["cluster_id"], low),
                r["std_grade"] or "—",
                columns.format_share(float(r["std_completeness"])),
                format_number(r["std_missing_n"]),
                items[0][2] if items else "—",
                _also(others),
            ]
        )
    out.append(
        Table(
            [
                "编号 ID",
                "名称 Name",
                "人口 Residents",
                "等级 Grade",
                "完整度 Completeness",
                "缺项 Missing",
                "最远的缺项 Farthest missing (nearest / limit)",
                "其他缺项 Also missing",
            ],
            rows,
            "llrlrrll",
        )
    )
    return out + _legend(rows)


def _near(row: pd.Series, key: str) -> str:
    return _metres_or_unreachable(_distance(row.get(columns.nearest_column(key))))


def _blind_spots_section(result: StudyResult) -> list[Block]:
    scores = result.scores
    if scores is None:
        return []
    std = scores.standard
    out: list[Block] = [Heading(2, "服务盲区 Blind spots")]
    summary = scores.blind_spot_summary
    if summary.empty:
        out.append(
            _p("没有服务盲区（有数据的应配建项均可达）。No blind spots among items with data.")
        )
        return out
    out.append(
        _p(
            "每一行是一个应配建项：在该级距离内到达不了它的小区数和估计人口，按受影响人口排序。"
            " Each row is a required item: the clusters and estimated residents that cannot "
            "reach it within the level's distance, most residents first."
        )
    )
    rows = []
    for _, r in summary.head(N_BLIND_ITEMS).iterrows():
        lv = std.level(r["level"])
        req = lv.requirement(r["requirement"])
        rows.append(
            [
                f"{lv.zh} {lv.en}",
                f"{req.zh} {req.en}",
                columns.format_metres(req.distance_m),
                int(r["clusters"]),
                format_number(r["population"]),
                columns.format_share(r["share_population"])
                if pd.notna(r["share_population"])
                else "—",
            ]
        )
    out.append(
        Table(
            [
                "级别 Level",
                "设施 Item",
                "距离 Distance",
                "小区 Clusters",
                "人口 Residents",
                "人口占比 Share",
            ],
            rows,
            "llrrrr",
        )
    )
    spots = scores.blind_spots.head(N_BLIND_ROWS)
    out.append(
        _p(
            f"受影响人口最多的 {len(spots)} 处盲区（小区 × 设施）。"
            f" The {len(spots)} blind spots (cluster × item) with the most residents."
        )
    )
    rows = []
    low = low_confidence_ids(result)
    for _, r in spots.iterrows():
        lv = std.level(r["level"])
        near = r["nearest_m"]
        rows.append(
            [
                r["cluster_id"],
                r["name"] or "—",
                _residents(r["population"], r["cluster_id"], low),
                f"{lv.zh}",
                f"{r['zh']} {r['en']}",
                "不可达 unreachable"
                if near is None or pd.isna(near)
                else columns.format_metres(near),
                columns.format_metres(r["distance_m"]),
            ]
        )
    out.append(
        Table(
            [
                "编号 ID",
                "名称 Name",
                "人口 Residents",
                "级别 Level",
                "设施 Item",
                "最近 Nearest",
                "要求 Limit",
            ],
            rows,
            "llrllrr",
        )
    )
    return out + _legend(rows)


def _standard_section(result: StudyResult) -> list[Block]:
    scores = result.scores
    if scores is None:
        return []
    std = scores.standard
    src = std.source
    out: list[Block] = [Heading(2, f"标准 The standard: {std.title_zh} {std.title_en}")]
    bullets: list[list[Inline]] = [
        [f"文件 Document: {src['document']}"],
        [f"编号 Number: {src['number']}（{src['year']}）"],
    ]
    if src.get("issuer"):
        bullets.append([f"发布 Issued by: {src['issuer']}"])
    for c in src.get("clauses") or []:
        bullets.append([f"条款 Clause: {c}"])
    for c in src.get("related") or []:
        bullets.append([f"相关文件 Related: {c}"])
    if std.extends:
        bullets.append(
            [
                f"本标准文件 {source_name(std.origin)} 基于 based on: "
                f"{', '.join(source_name(e) for e in std.extends)}"
                "（本地修订 local variant）"
            ]
        )
    out.append(Bullets(bullets))
    out.append(
        _p(
            "● 应配建（必须提供），○ 按需配建（可选，只作参考）。各级不能互相替代：达到某级须同时"
            "达到其下所有级别。 ● must be provided, ○ optional (shown for reference). Levels do "
            "not substitute for each other: meeting a level needs every lower level too."
        )
    )
    cats = std.categories
    for lv in std.levels:
        pop = f"，{lv.population[0]:,}–{lv.population[1]:,} 人 residents" if lv.population else ""
        inc = f"；含下级 includes: {', '.join(lv.includes)}" if lv.includes else ""
        out.append(Heading(3, f"{lv.zh} {lv.en} — {lv.distance_m:g} m{pop}{inc}"))
        if lv.distance_note:
            out.append(_p(lv.distance_note))
        rows = []
        for r in lv.requirements:
            osm = "; ".join(cats[c].label for c in r.categories)
            if r.match != "one":
                osm = ("任一 any of: " if r.match == "any" else "全部 all of: ") + osm
            amap = ", ".join(code for c in r.categories for code in cats[c].amap) or "—"
            rows.append(
                [
                    r.mark,
                    r.item or r.zh,
                    osm,
                    columns.format_metres(r.distance_m),
                    r.clause or lv.clause,
                    amap,
                    _status_text(scores.status[lv.key][r.key]),
                ]
            )
        out.append(
            Table(
                [
                    "",
                    "设施（原文）Item (document)",
                    "测量类别 Measured by",
                    "距离 Distance",
                    "条款 Clause",
                    "高德类型 AMap codes",
                    "数据 Data",
                ],
                rows,
                "lllrlll",
            )
        )
        if lv.not_assessed:
            out.append(_p("未评价（位置数据无法测量）Not assessed (location data cannot measure):"))
            out.append(Bullets([[f"{n.mark} {n.item} — {n.reason}"] for n in lv.not_assessed]))
    return out


def _status_text(status: str) -> str:
    return {"ok": "有 yes", "partial": "部分缺 partly missing", "gap": GAP}.get(status, status)


def _method_section(result: StudyResult) -> list[Block]:
    study = result.study
    snap = (result.summary.get("snap") or {}).get("max_distance_m", study.snap.max_distance_m)
    res = study.residences
    thresholds = ", ".join(columns.label_both(t) for t in result.thresholds)
    th = study.thresholds
    speed = (
        f"步行速度 {th.speed_kmh:g} km/h 把分钟换算为距离。Minutes become metres at "
        f"{th.speed_kmh:g} km/h."
        if th.minutes is not None
        else "阈值直接以米给出；GB 50180-2018 的 300/500/1000 m 约相当于 4 km/h 的 5/10/15 分钟。"
        "Thresholds are given in metres; GB 50180-2018's 300/500/1000 m match 5/10/15 minutes "
        "at about 4 km/h."
    )
    items: list[list[Inline]] = [
        [
            "步行网络 Walking network: OpenStreetMap 中可步行的道路（人行道、小路、居住区道路、"
            "城市道路等，不含禁止步行的道路），按无向图计算，只保留最大的连通部分；距离沿道路计算，"
            "不是直线距离。 Walkable OSM ways (footways, paths, residential and city streets; "
            "not ways closed to pedestrians) as an undirected graph, largest connected part "
            "only; distances are measured along streets, not as the crow flies."
        ],
        [
            f"接入路网 Snapping: 小区与设施以直线连接到最近的道路，"
            f"超过 {format_number(snap)} m 的不计入（数量见上）。 "
            f"Clusters and services join the nearest street in a straight line; those farther "
            f"than {format_number(snap)} m are left out (counted above)."
        ],
        [f"步行阈值 Thresholds (GB 50180-2018 生活圈): {thresholds}. {speed}"],
        [
            f"人口估计 Population estimate: 住宅建筑面积 ÷ {res.dwelling_m2:g} m² 每户 × "
            f"{res.persons_per_dwelling:g} 人每户（无层数时按 {res.default_levels:g} 层；"
            f"建筑覆盖不足小区面积 {MIN_COVERAGE:.0%}（含无建筑）时取建筑面积与容积率 "
            f"{res.default_far:g} 估计中较大者，并标为低可信度；"
            f"网格按每公顷 {res.grid_persons_per_ha:g} 人）。"
            f" Residential floor area ÷ {res.dwelling_m2:g} m² per dwelling × "
            f"{res.persons_per_dwelling:g} persons per dwelling ({res.default_levels:g} storeys "
            f"when untagged; a 小区 whose buildings cover less than {MIN_COVERAGE:.0%} of it, "
            f"or none, takes the larger of its buildings' floor area and plot ratio "
            f"{res.default_far:g} × its area, flagged low-confidence; "
            f"{res.grid_persons_per_ha:g} persons/ha for grid cells). With "
            "residences.method auto, 小区 polygons and clusters of the residential buildings "
            "outside them are both counted. An estimate, not a census."
        ],
        [
            f"步行范围图 Walking areas: 阈值内可达的路段两侧各 {study.isochrones.buffer_m:g} m。 "
            f"Streets reachable within the threshold, buffered {study.isochrones.buffer_m:g} m "
            "on each side."
        ],
    ]
    scores = result.scores
    if scores is not None:
        std = scores.standard
        dists = ", ".join(f"{lv.zh} {lv.distance_m:g} m" for lv in std.levels)
        items.append(
            [
                f"标准 Standard: {std.citation}；各级距离 level distances: {dists}。"
                "一项设施“可达”指最近一处该类设施的步行网络距离不超过该项的距离（与上面的阈值无关）。"
                " An item is reached when the nearest facility of its category lies within the "
                "item's walking distance along the network (independent of the thresholds above)."
            ]
        )
        items.append(
            [
                "完整度与达标 Completeness and meeting a level: 完整度＝可达的应配建项 ÷ 有数据的"
                "应配建项；“达标”须配齐该级及所有下级的有数据的应配建项；严格口径把缺数据项计为缺失。"
                " Completeness = required items reached ÷ required items with data; a cluster "
                "meets a level when it reaches every required item with data at that level and "
                "every lower level; strict figures count items without data as missing."
            ]
        )
        items.append(
            [
                "指标口径 Indicator bases: 小区数、居住用地面积（小区面积）和估计人口。Shares of "
                "clusters, of residential area (cluster area) and of estimated residents."
            ]
        )
        items.append(
            [
                "规模不评价 Sizes not assessed: 班数、用地和建筑面积等规模要求无法从位置数据判断；"
                "只评价步行可达的设施是否存在。 Class counts, site and floor areas are not "
                "assessed; only the presence of a facility within the walk is."
            ]
        )
    items.append(
        [
            "OpenStreetMap 的完整性因地而异：设施缺失会表现为“不可达”。 OSM completeness "
            "varies: an unmapped facility looks like an unreachable one."
        ]
    )
    return [Heading(2, "方法与假设 Method and assumptions"), Bullets(items)]


# ---------------------------------------------------------------------------------------
# Key findings: one screen, first in report.md, report.html and the terminal
# ---------------------------------------------------------------------------------------

FINDINGS_HEADING = "主要发现 Key findings"
N_FIND_INDICATORS = 4
N_FIND_WORST = 3
N_FIND_SHORTFALLS = 3
N_FIND_GAPS = 3
_NAME_CHARS = 16  # a name in a finding is cut here, so that the finding stays one line
_NONE_CONNECTED = "没有接入步行网络、有居民的小区 No connected cluster with residents"


def _short(text: Any) -> str:
    """A standard's label without its bracketed detail: 幼儿园/托儿所 stays, （…） goes."""
    full = str(text or "")
    return full.split("（")[0].split(" (")[0].strip() or full


def _name(value: Any) -> str:
    """A name (OSM, a unit's) on one short line: line breaks flattened, long names cut."""
    if not isinstance(value, str):
        return ""
    text = " ".join(value.split())
    return text if len(text) <= _NAME_CHARS else text[: _NAME_CHARS - 1] + "…"


def _pct(value: Any) -> str:
    v = as_number(value)
    return "—" if v is None else columns.format_share(v)


def _who(cluster_id: Any, name: Any) -> str:
    short = _name(name)
    return f"{cluster_id} {short}" if short else str(cluster_id)


def _headline(result: StudyResult) -> tuple[str, list[str]]:
    """The standard's district indicators by residents (clusters after), or without a
    standard the categories an average resident reaches within each threshold."""
    scores = result.scores
    if scores is None:
        return _reach_headline(result)
    by_key: dict[str, list[Any]] = {}
    for ind in scores.indicators:
        by_key.setdefault(ind.key, []).append(ind)
    lines = []
    for inds in list(by_key.values())[:N_FIND_INDICATORS]:
        first = inds[0]
        name = f"{_short(first.zh)} {_short(first.en)}"
        if any(i.gaps for i in inds):
            value = "数据缺口 data gap (unknown, not 0%)"
        elif len(inds) == 1:
            value = f"{_pct(first.population)}（小区 clusters {_pct(first.clusters)}）"
        else:
            value = " · ".join(f"{i.level} {_pct(i.population)}" for i in inds)
        if len(inds) == 1 and first.sparse and not first.gaps:
            value += " · 数据偏少 sparse"
        lines.append(f"{name}: {value}")
    label = "主要指标（居民占比）Headline indicators (share of residents)"
    return label, lines or ["此标准没有区级指标 The standard has no district indicators"]


def _resident_shares(result: StudyResult) -> tuple[dict[str, dict[str, float | None]], float]:
    """Share of residents reaching each category per threshold, and the residents counted.

    ``summary["coverage_residents"]`` (every home walks from its door) when the run has
    it; else the residents of the connected clusters whose point reaches the category.
    """
    assert result.clusters is not None  # findings are made for runs with clusters
    c = result.clusters
    pop = pd.to_numeric(c["population"], errors="coerce").fillna(0.0).to_numpy(float)
    given = result.summary.get("coverage_residents")
    if given:
        return given, float(pop.sum())
    used = columns.used_mask(c).to_numpy(bool)
    total = float(pop[used].sum())
    gaps = columns.gap_keys(result)
    out: dict[str, dict[str, float | None]] = {}
    for key in result.categories:
        out[key] = {}
        for t in result.thresholds:
            col = columns.count_column(key, t)
            if key in gaps or total <= 0 or col not in c:
                out[key][t.column] = None
                continue
            counts = pd.to_numeric(c[col], errors="coerce").to_numpy(float)
            out[key][t.column] = float(pop[used & (counts > 0)].sum()) / total
    return out, total


def _reach_headline(result: StudyResult) -> tuple[str, list[str]]:
    shares, _ = _resident_shares(result)
    avail = columns.available_keys(result)
    lines = []
    for t in result.thresholds[:N_FIND_INDICATORS]:
        known = [shares.get(k, {}).get(t.column) for k in avail]
        values = [v for v in known if v is not None]
        if not values:
            continue
        # A resident's expected number of categories reached: the sum of the shares.
        lines.append(
            f"{columns.label_both(t)}: 居民平均可达 {sum(values):.1f} / {len(avail)} 类 · "
            f"residents reach {sum(values):.1f} of {len(avail)} categories on average"
        )
    return "主要指标 Headline indicators", lines or [_NONE_CONNECTED]


def _worst_units(units: Any) -> tuple[str, list[str]] | None:
    """The lowest-ranked units (社区, 街道) of a UnitReport, and those without clusters."""
    table = getattr(units, "table", None)
    if table is None or len(table) == 0:
        return None
    n_clusters = pd.to_numeric(table["clusters"], errors="coerce").fillna(0)
    scored = table[n_clusters > 0]
    if "rank" in scored and scored["rank"].notna().any():
        scored = scored.sort_values("rank", ascending=False, kind="mergesort")
    else:
        scored = scored.sort_values("complete_share", kind="mergesort")
    lines = []
    for _, r in scored.head(N_FIND_WORST).iterrows():
        rank = as_number(r.get("rank"))
        where = f" · 排名 rank {rank:.0f}/{len(scored)}" if rank is not None else ""
        lines.append(
            f"{_name(r['name']) or r['unit']} · {format_number(r.get('population'))} 人 "
            f"residents · 完整生活圈 complete {_pct(r.get('complete_share'))} · "
            f"等级 grade {r.get('grade') or '—'}{where}"
        )
    empty = table[n_clusters <= 0]
    if len(empty):
        names = "、".join(_name(n) for n in empty["name"].head(3))
        more = " …" if len(empty) > 3 else ""
        lines.append(f"没有小区的单元 Units without clusters: {len(empty)}（{names}{more}）")
    level = str(getattr(getattr(units, "units", None), "level", "") or "")
    label = f"最欠缺的单元 Least-served units{f'（{level}）' if level else ''}"
    return label, lines


def _worst_clusters(result: StudyResult) -> tuple[str, list[str]]:
    low = low_confidence_ids(result)
    label = "最欠缺的小区 Least-served clusters"
    assert result.clusters is not None  # findings are made for runs with clusters
    if not columns.used_mask(result.clusters).any():
        return label, [_NONE_CONNECTED]
    scores = result.scores
    lines = []
    if scores is not None:
        for _, r in scores.worst(N_FIND_WORST).iterrows():
            mark = f" {LOW_MARK}" if str(r["cluster_id"]) in low else ""
            lines.append(
                f"{_who(r['cluster_id'], r['name'])} · {format_number(r['population'])} 人 "
                f"residents{mark} · 完整度 completeness {_pct(r['std_completeness'])}"
                f"（等级 grade {r['std_grade'] or '—'}）· 缺项 missing "
                f"{format_number(r['std_missing_n'])}"
            )
        return label, lines or ["每个小区都配齐了有数据的应配建项 Every cluster has every item"]
    n_avail = len(columns.available_keys(result))
    top = columns.largest(result)
    for reached, _, row, _missing in _least_served(result)[:N_FIND_WORST]:
        cid = row.get("cluster_id")
        mark = f" {LOW_MARK}" if str(cid) in low else ""
        lines.append(
            f"{_who(cid, row.get('name'))} · {format_number(row.get('population'))} 人 "
            f"residents{mark} · {columns.label_zh(top)}内可达 {reached}/{n_avail} 类 · "
            f"reaches {reached} of {n_avail} categories"
        )
    return label, lines or ["每个小区都能到达所有类别 Every cluster reaches every category"]


def _unit_shortfalls(units: Any) -> list[str] | None:
    frame = getattr(units, "shortfalls", None)
    if frame is None:
        return None
    table = getattr(units, "table", None)
    names: dict[Any, Any] = {}
    if table is not None and "unit" in table and "name" in table:
        names = dict(zip(table["unit"], table["name"], strict=False))
    lines = []
    for _, r in frame.head(N_FIND_SHORTFALLS).iterrows():
        near = as_number(r.get("nearest_facility_m"))
        near_text = "不可达 unreachable" if near is None else columns.format_metres(near)
        own = " · 自评 self-assessed" if r.get("how") == "self_assessed" else ""
        lines.append(
            f"{_name(names.get(r['unit'], r['unit'])) or r['unit']}: {_short(r['zh'])} "
            f"{_short(r['en'])} · {format_number(r.get('residents_affected'))} 人 residents · "
            f"最近 nearest {near_text}{own}"
        )
    return lines or ["没有短板 No shortfall"]


def _blind_spot_lines(result: StudyResult) -> list[str]:
    """The required items the most residents cannot reach, one line per item."""
    scores = result.scores
    assert scores is not None
    std = scores.standard
    lines: list[str] = []
    seen: set[str] = set()
    for _, r in scores.blind_spot_summary.iterrows():
        if r["requirement"] in seen:
            continue  # the same item at a wider level: its worst line is shown
        seen.add(r["requirement"])
        req = std.level(r["level"]).requirement(r["requirement"])
        share = as_number(r["share_population"])
        few = any(c in scores.sparse for c in req.categories)
        lines.append(
            f"{_short(req.zh)} {_short(req.en)}: {format_number(r['population'])} 人 residents"
            + (f" ({columns.format_share(share)})" if share is not None else "")
            + f" > {columns.format_metres(req.distance_m)}"
            + (" · 数据偏少 sparse" if few else "")
        )
        if len(lines) == N_FIND_SHORTFALLS:
            break
    return lines or ["有数据的应配建项都可达 Every required item with data is reached"]


def _category_shortfalls(result: StudyResult) -> list[str]:
    """Without a standard: the categories the most residents cannot reach in the largest
    threshold."""
    shares, total = _resident_shares(result)
    if total <= 0:
        return [_NONE_CONNECTED]
    top = columns.largest(result)
    rows = [
        (1.0 - v, k)
        for k in columns.available_keys(result)
        if (v := shares.get(k, {}).get(top.column)) is not None and v < 1.0
    ]
    rows.sort(key=lambda r: -r[0])
    cats = result.categories
    return [
        f"{_short(cats[k].zh)} {_short(cats[k].en)}: {format_number(miss * total)} 人 residents "
        f"({columns.format_share(miss)}) > {columns.format_metres(top.distance_m)}"
        for miss, k in rows[:N_FIND_SHORTFALLS]
    ] or ["每个类别都可达 Every category is reached"]


def _gap_lines(result: StudyResult) -> list[str]:
    cats = result.categories
    lines = []

    def names(keys: list[str], most: int = 3) -> str:
        shown = "，".join(_short(cats[k].zh).split("/")[0] for k in keys[:most] if k in cats)
        return shown + (" 等" if len(keys) > most else "")

    gaps = [k for k in cats if k in columns.gap_keys(result)]
    if gaps:
        lines.append(
            f"无数据 No data: {len(gaps)} 类 categories（{names(gaps)}）· 覆盖率未知 unknown, "
            "not 0%"
        )
    sparse = list(_sparse(result))
    if sparse:
        lines.append(
            f"数据偏少 Sparse data: {len(sparse)} 类 categories（{names(sparse, 2)}）· "
            "得分可能偏低 may score low"
        )
    assert result.clusters is not None
    low = residence_estimates(result.clusters)["population_low"]
    pop = float(pd.to_numeric(result.clusters["population"], errors="coerce").sum())
    if low["clusters"] and pop > 0:
        lines.append(
            f"低可信度人口 Low-confidence residents: {columns.format_share(low['residents'] / pop)}"
            f"（{low['clusters']:,} 个小区 clusters）· 非由建筑算出 not from buildings"
        )
    n_unused, _ = columns.unsnapped(result)
    if n_unused:
        lines.append(f"未接入步行网络 Not on the walking network: {n_unused:,} 个小区 clusters")
    return lines[:N_FIND_GAPS] or ["每个类别都有可用数据 Every category has usable data"]


def findings(result: StudyResult) -> Findings:
    """The key findings of a run: one screen, each finding one line, 中文 then English.

    Four groups: the headline indicators (the standard's district indicators by residents,
    then by clusters), the worst units (``result.units``, when the run has them) or else
    the worst clusters, the top shortfalls (the units' shortfall list, else the required
    items the most residents cannot reach) and the data gaps.

    Parameters
    ----------
    result : StudyResult
        A run with clusters, scored or not; ``summary["coverage_residents"]`` is used when
        present.

    Returns
    -------
    Findings
        The groups, plain text; names are flattened to one line and cut short.
    """
    units = getattr(result, "units", None)
    worst = _worst_units(units) if units is not None else None
    shortfalls = _unit_shortfalls(units) if units is not None else None
    if shortfalls is None:
        shortfalls = (
            _blind_spot_lines(result) if result.scores is not None else _category_shortfalls(result)
        )
    groups = [
        _headline(result),
        worst or _worst_clusters(result),
        ("最大的短板：步行距离外的居民 Top shortfalls: residents beyond the walk", shortfalls),
        ("数据缺口 Data gaps", _gap_lines(result)),
    ]
    # One line each, whatever a name or a standard's label holds.
    return Findings([(label, [" ".join(x.split()) for x in lines]) for label, lines in groups])


def build_report(result: StudyResult) -> Report:
    """The report as a document: the same content for report.md and report.html.

    Parameters
    ----------
    result : StudyResult
        A study result, scored or not (the sections about the standard need scores).

    Returns
    -------
    Report
        The document.
    """
    s = result.summary
    title = s.get("title") or result.study.display_title
    subtitle = (
        f"15分钟生活圈评估报告 · 15-minute living circle report — {s.get('generated', '')}"
    ).rstrip(" —")
    if result.scores is not None:
        std = result.scores.standard
        subtitle += f" · 对照标准 Standard: {std.title_zh} {std.title_en} ({std.source['number']})"
    doc = Report(title, subtitle)
    # Findings first: the one screen a district official reads; the data follow.
    doc.add(Heading(2, FINDINGS_HEADING), findings(result))
    doc.add(*_data_section(result))
    doc.add(*_gaps_section(result))
    doc.add(*_indicators_section(result))
    doc.add(*_coverage_section(result))
    doc.add(*_distribution_section(result))
    doc.add(*_least_served_section(result))
    doc.add(*_blind_spots_section(result))
    doc.add(*_standard_section(result))
    doc.add(*_method_section(result))
    warnings = list(s.get("warnings") or [])
    doc.add(Heading(2, "警告 Warnings"))
    doc.add(Bullets([[w] for w in warnings]) if warnings else _p("无 None."))
    doc.add(Heading(2, "数据版权 Attribution"))
    doc.add(
        _p(
            f"地图数据 Map data {OSM_ATTRIBUTION}: ",
            Link(OSM_COPYRIGHT_URL, OSM_COPYRIGHT_URL),
            ".",
        )
    )
    # An input is named by its file's name only, wherever a message quotes its path.
    return _without_paths(doc, input_paths(result))


# ---------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------


def _md_inline(parts: list[Inline]) -> str:
    out = []
    for p in parts:
        if isinstance(p, Link):
            out.append(p.url if p.text == p.url else f"[{p.text}]({p.url})")
        else:
            out.append(p)
    return "".join(out)


def _md_table(t: Table) -> list[str]:
    out = ["| " + " | ".join(cell(h) for h in t.header) + " |"]
    marks = t.align or ("l" + "r" * (len(t.header) - 1))
    out.append("|" + "|".join(":---" if a == "l" else "---:" for a in marks) + "|")
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in t.rows]
    return out


def to_markdown(doc: Report) -> str:
    """The document as Markdown; a chart is shown by its table, which follows it.

    Findings are one line each: a label in bold, its list right below.

    Parameters
    ----------
    doc : Report
        A document from :func:`build_report`.

    Returns
    -------
    str
        The Markdown text.
    """
    lines = [f"# {doc.title}", "", doc.subtitle, ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            lines += [_md_inline(b.parts), ""]
        elif isinstance(b, Bullets):
            lines += [f"- {_md_inline(item)}" for item in b.items] + [""]
        elif isinstance(b, Table):
            lines += _md_table(b) + [""]
        elif isinstance(b, Chart):
            # The numbers of the chart follow as a table; the drawing is in report.html.
            lines += [f"*{b.title}（图见 report.html · chart in report.html）*", ""]
        elif isinstance(b, Findings):
            # A list may follow its label's line directly: one screen, no blank lines.
            for label, items in b.groups:
                lines += [f"**{label}**"] + [f"- {item}" for item in items] + [""]
    return "\n".join(lines)


def render_report(result: StudyResult) -> str:
    """The report as Markdown text.

    Parameters
    ----------
    result : StudyResult
        The study to report on.

    Returns
    -------
    str
        The text of report.md.
    """
    return to_markdown(build_report(result))


def write_report(result: StudyResult, path: Path) -> Path:
    """Write report.md.

    Parameters
    ----------
    result : StudyResult
        The study to report on.
    path : pathlib.Path
        Where report.md goes (UTF-8 text).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path.write_text(render_report(result), encoding="utf-8")
    return path
