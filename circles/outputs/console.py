"""The run's summary for the terminal: the key findings first (:func:`findings_view`, one
screen), then one rich table with a row per category and a column per threshold, then the
standard's indicators (:func:`run_summary` gives the three in order); a plan's proposed
sites as another table (:func:`plan_table`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from circles.outputs import columns
from circles.outputs.report import FINDINGS_HEADING, findings
from circles.result import StudyResult
from circles.values import as_number, format_number

if TYPE_CHECKING:
    from circles.comparison import Comparison
    from circles.planning import Plan
    from circles.services import Category
    from circles.standards import Standard

# Short, so that every category stays on one line and the summary fits one screen.
GAP_TEXT = "缺口 gap"


def findings_view(result: StudyResult) -> Group:
    """The key findings of the report (:func:`circles.outputs.report.findings`) for the
    terminal: one screen at 100 columns, each finding one line, 中文 then English.

    Parameters
    ----------
    result : StudyResult
        A run with clusters.

    Returns
    -------
    rich.console.Group
        A heading, then each group's label and its findings; names are plain text, never
        rich markup.
    """
    parts: list[RenderableType] = [Text(FINDINGS_HEADING, style="bold underline")]
    for label, lines in findings(result).groups:
        parts.append(Text(label, style="bold"))
        parts += [Text(f"  • {line}") for line in lines]
    return Group(*parts)


def run_summary(result: StudyResult) -> list[RenderableType]:
    """What the terminal shows after a run with clusters, in order: the key findings, the
    coverage table, the standard's indicators (when scored).

    Parameters
    ----------
    result : StudyResult
        A run with clusters.

    Returns
    -------
    list of rich renderables
        Print each in turn.
    """
    out: list[RenderableType] = [findings_view(result), summary_table(result)]
    indicators = indicator_table(result)
    if indicators is not None:
        out.append(indicators)
    return out


def summary_table(result: StudyResult) -> Table:
    """Services found and the share of clusters reaching each category, by threshold.

    Data gaps show as "缺口 gap" (数据缺口, no data) in yellow, never as 0 %. The caption
    counts the inputs: network nodes, clusters, services and what could not join the
    network. One line per category, so that the summary fits one screen.

    Parameters
    ----------
    result : StudyResult
        The run to summarise.

    Returns
    -------
    rich.table.Table
        A row per category: services found, then a share per threshold.
    """
    # Shown only after a run with clusters (cli.run checks result.clusters), which also
    # has services.
    assert result.clusters is not None and result.services is not None
    n_used_clusters = int(columns.used_mask(result.clusters).sum())
    n_unused_c, n_unused_s = columns.unsnapped(result)
    # With method auto, polygons and the buildings outside them both give residents.
    by_method = result.summary.get("residents_by_method") or {}
    residents = (
        "residents 居民 "
        + ", ".join(f"{k} {format_number(v)}" for k, v in by_method.items())
        + " · "
        if len(by_method) > 1
        else ""
    )
    gates = (result.summary.get("gates") or {}).get("walk_from") or {}
    walls = (
        f"walks from gates 大门 {gates['gates']:,}, crossings 路口 {gates['crossings']:,} · "
        if gates.get("gates") or gates.get("crossings")
        else ""
    )
    caption = Text(
        f"network 路网 {result.network.n_nodes:,} nodes · "
        f"clusters 小区 {len(result.clusters):,} ({n_unused_c:,} unsnapped) · {residents}{walls}"
        f"services 设施 {len(result.services):,} ({n_unused_s:,} unsnapped) · "
        f"shares: % of {n_used_clusters:,} connected clusters · 缺口 gap = no data 数据缺口",
        style="dim",
    )
    table = Table(
        title=Text(result.summary.get("title") or result.study.display_title, style="bold"),
        caption=caption,
        caption_justify="left",
        header_style="bold",
        expand=False,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("Category 类别", no_wrap=True, overflow="ellipsis", min_width=14, max_width=30)
    table.add_column("Services\n设施", justify="right", no_wrap=True)
    for t in result.thresholds:
        zh = t.zh.split(" (")[0].split("（")[0] or t.zh
        head = f"{t.distance_m:g} m" if zh == f"{t.distance_m:g}米" else f"{t.distance_m:g} m\n{zh}"
        table.add_column(head, justify="right", no_wrap=True, min_width=8, max_width=9)

    cov = columns.coverage(result)
    counts = columns.service_counts(result)
    gaps = columns.gap_keys(result)
    for key, cat in result.categories.items():
        found, _used = counts[key]
        cells: list[Text] = [Text(cat.label), Text(f"{found:,}")]
        for t in result.thresholds:
            share = cov.get(key, {}).get(t.column)
            if key in gaps:
                cells.append(Text(GAP_TEXT, style="yellow"))
            elif share is None:
                cells.append(Text("—", style="dim"))
            else:
                style = "red" if share < 0.5 else ("green" if share >= 0.9 else "")
                cells.append(Text(columns.format_share(share), style=style))
        table.add_row(*cells)
    return table


def indicator_table(result: StudyResult) -> Table | None:
    """The district indicators of the study's standard: shares of clusters, area, residents.

    An indicator that needs an item with no data shows "data gap / 数据缺口", never 0 %.

    Parameters
    ----------
    result : StudyResult
        A study result, scored or not.

    Returns
    -------
    rich.table.Table or None
        A row per indicator; None when the run was not scored.
    """
    scores = result.scores
    if scores is None:
        return None
    std = scores.standard
    table = Table(
        title=Text(f"{std.title_zh} {std.title_en} ({std.source['number']})", style="bold"),
        caption=Text(
            "shares of scored clusters · of their area · of their residents "
            "(strict figures, counting items without data as missing: report.html)",
            style="dim",
        ),
        caption_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("Indicator 指标", no_wrap=True, overflow="ellipsis", max_width=26)
    table.add_column("Level", no_wrap=True)
    for head in ("小区", "用地", "人口"):
        table.add_column(head, justify="right", no_wrap=True, min_width=8)
    for ind in scores.indicators:
        lv = std.level(ind.level)
        cells: list[Text] = [Text(f"{ind.zh} {ind.en}"), Text(f"{lv.key} {lv.distance_m:g} m")]
        for v in (ind.clusters, ind.area, ind.population):
            if v is None:
                cells.append(Text(GAP_TEXT, style="yellow"))
            else:
                style = "red" if v < 0.5 else ("green" if v >= 0.9 else "")
                cells.append(Text(columns.format_share(v), style=style))
        table.add_row(*cells)
    return table


def standard_tables(standard: Standard) -> list[Table]:
    """A standard as readable tables.

    One table per level (required ● and optional ○ items, the category that measures
    each, its distance, OSM tag rules and AMap codes, then the items not assessed), then
    the grades and the indicators.

    Parameters
    ----------
    standard : Standard
        A loaded standard (:mod:`circles.standards`).

    Returns
    -------
    list of rich.table.Table
        The tables, in the order above.
    """
    out: list[Table] = []
    cats = standard.categories
    for lv in standard.levels:
        pop = f", {lv.population[0]:,}–{lv.population[1]:,} residents" if lv.population else ""
        inc = f" · includes {', '.join(lv.includes)}" if lv.includes else ""
        t = Table(
            title=Text(f"{lv.zh} {lv.en} — {lv.distance_m:g} m{pop}{inc}", style="bold"),
            caption=Text(lv.distance_note, style="dim") if lv.distance_note else None,
            caption_justify="left",
            header_style="bold",
            show_lines=True,
        )
        t.add_column("", no_wrap=True)
        t.add_column("Item (document) 设施", overflow="fold")
        t.add_column("Category 类别", overflow="fold")
        t.add_column("Distance", justify="right", no_wrap=True)
        t.add_column("OSM tag rules", overflow="fold")
        t.add_column("AMap", overflow="fold")
        t.add_column("Clause 条款", overflow="fold")
        for r in lv.requirements:
            label = "\n".join(f"{c}: {cats[c].zh} {cats[c].en}" for c in r.categories)
            if r.match != "one":
                label = ("any of:\n" if r.match == "any" else "all of:\n") + label
            rules = "\n".join(_rules_text(cats[c]) for c in r.categories)
            amap = ", ".join(code for c in r.categories for code in cats[c].amap) or "—"
            t.add_row(
                Text(r.mark, style="bold green" if r.required else "dim"),
                r.item or r.zh,
                label,
                f"{r.distance_m:g} m",
                rules,
                amap,
                r.clause or lv.clause,
            )
        for n in lv.not_assessed:
            t.add_row(
                Text(n.mark, style="dim"),
                Text(n.item, style="dim"),
                Text("not assessed 未评价", style="yellow"),
                "",
                Text(n.reason, style="dim"),
                "",
                n.clause,
            )
        out.append(t)
    g = Table(title=Text("Grades 等级 (circles' convention)", style="bold"), header_style="bold")
    g.add_column("Grade")
    g.add_column("Completeness ≥", justify="right")
    g.add_column("Meaning")
    for gr in standard.grades:
        g.add_row(gr.grade, f"{gr.min_share * 100:.0f}%", f"{gr.zh} {gr.en}".strip())
    out.append(g)
    if standard.indicators:
        it = Table(title=Text("Indicators 指标", style="bold"), header_style="bold")
        it.add_column("key")
        it.add_column("Indicator", overflow="fold")
        it.add_column("Measured as", overflow="fold")
        for ind in standard.indicators:
            how = (
                "complete levels: " + ", ".join(ind.levels)
                if ind.is_complete
                else f"{ind.level}: " + ", ".join(ind.requirements)
            )
            it.add_row(ind.key, f"{ind.zh}\n{ind.en}", how)
        out.append(it)
    return out


def _rules_text(category: Category) -> str:
    return "; ".join(
        " ".join(
            f"{k}={'|'.join(v) if isinstance(v, list) else v}"
            for k, v in rule.items()
            if not k.endswith("!")
        )
        for rule in category.rules
    )


def plan_table(plan: Plan) -> Table:
    """A plan for the terminal: a row per proposed site, coverage before → after below.

    Parameters
    ----------
    plan : Plan
        A plan (:func:`circles.planning.plan`).

    Returns
    -------
    rich.table.Table
        Rank, street, residents and clusters newly covered, cumulative share (and cost,
        when the sites have one); the caption gives coverage before → after by clusters,
        area and residents, the method and the gap to the optimum when known.
    """
    from circles.outputs.plan import coverage_text, item_label, method_text, sites_table

    frame = sites_table(plan)
    has_cost = bool(frame["cost"].notna().any())
    caption = [coverage_text(plan), method_text(plan)]  # a data gap is among plan.notes
    table = Table(
        title=Text(f"选址 Where to build: {item_label(plan)}", style="bold"),
        caption=Text("\n".join(caption), style="dim"),
        caption_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Street 街道", overflow="ellipsis", max_width=28, no_wrap=True)
    table.add_column("lon, lat (WGS-84)", no_wrap=True)
    table.add_column("+Residents\n新覆盖居民", justify="right", no_wrap=True)
    table.add_column("+Clusters\n新覆盖小区", justify="right", no_wrap=True)
    table.add_column("Covered\n累计覆盖", justify="right", no_wrap=True)
    if has_cost:
        table.add_column("Cost 费用", justify="right", no_wrap=True)
    for r in frame.to_dict("records"):
        share = as_number(r["cum_share"])
        cells: list[str | Text] = [
            str(r["rank"]),
            Text(r["street"] or r["name"] or "—"),  # names are not rich markup
            f"{r['lon']:.5f}, {r['lat']:.5f}",
            format_number(r["new_residents"]),
            format_number(r["new_clusters"]),
            "—" if share is None else columns.format_share(share),
        ]
        table.add_row(*cells, *([format_number(r["cost"], 2)] if has_cost else []))
    return table


def comparison_table(comparison: Comparison) -> Table:
    """A comparison for the terminal: coverage per category that changed, and the counts.

    Parameters
    ----------
    comparison : Comparison
        Run B against run A (:func:`circles.comparison.compare`).

    Returns
    -------
    rich.table.Table
        A row per category and threshold whose share of clusters changed (A, B, change);
        the caption counts clusters matched, found in one run only, with reach gained or
        lost, and grade changes.
    """
    from circles.outputs.compare import run_text

    c = comparison
    gained = int((c.changes["change"] == "gained").sum())
    lost = int((c.changes["change"] == "lost").sum())
    caption = [
        f"{run_text(c, 'a')} · {run_text(c, 'b')}",
        f"clusters 小区: {len(c.pairs):,} matched, {len(c.only_a):,} only in A, "
        f"{len(c.only_b):,} only in B · reach gained {gained:,}, lost {lost:,} · "
        f"grade changes {len(c.grades):,} · services +{(c.services['change'] == 'added').sum()}"
        f" −{(c.services['change'] == 'removed').sum()}",
    ]
    table = Table(
        title=Text("对比 Comparison (B − A)", style="bold"),
        caption=Text("\n".join(caption), style="dim"),
        caption_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for head in ("Category 类别", "Within", "A", "B", "Change"):
        table.add_column(head, justify="left" if head.startswith("Cat") else "right")
    for r in c.coverage.to_dict("records"):
        change = as_number(r["change"])
        if not change:
            continue
        a, b = as_number(r["a"]), as_number(r["b"])
        table.add_row(
            Text(r["category"]),
            f"{r['threshold_m']:g} m",
            GAP_TEXT if a is None else columns.format_share(a),
            GAP_TEXT if b is None else columns.format_share(b),
            Text(f"{change * 100:+.1f} pp", style="green" if change > 0 else "red"),
        )
    if not table.row_count:
        table.add_row(Text("no change 无变化", style="dim"), "", "", "", "")
    return table
