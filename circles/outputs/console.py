"""The run's summary as one rich table: a row per category, a column per threshold."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from circles.outputs import tables
from circles.result import StudyResult

GAP_TEXT = "data gap / 数据缺口"


def summary_table(result: StudyResult) -> Table:
    """Services found and the share of clusters reaching each category, by threshold.

    Data gaps show as "data gap / 数据缺口" in yellow, never as 0 %. The caption counts the
    inputs: network nodes, clusters, services and what could not join the network.
    """
    n_used_clusters = int(tables.used_mask(result.clusters).sum())
    n_unused_c, n_unused_s = tables.unsnapped(result)
    caption = Text(
        f"network 路网 {result.network.n_nodes:,} nodes · "
        f"clusters 小区 {len(result.clusters):,} ({n_unused_c:,} unsnapped) · "
        f"services 设施 {len(result.services):,} ({n_unused_s:,} unsnapped) · "
        f"shares: % of {n_used_clusters:,} connected clusters",
        style="dim",
    )
    table = Table(
        title=Text(result.summary.get("title") or result.study.display_title, style="bold"),
        caption=caption,
        caption_justify="left",
        header_style="bold",
        expand=False,
    )
    table.add_column("Category 类别", overflow="fold")
    table.add_column("Services\n设施", justify="right", no_wrap=True)
    for t in result.thresholds:
        zh = t.zh.split(" (")[0].split("（")[0] or t.zh
        head = f"{t.distance_m:g} m" if zh == f"{t.distance_m:g}米" else f"{t.distance_m:g} m\n{zh}"
        table.add_column(head, justify="right", max_width=10)

    cov = tables.coverage(result)
    counts = tables.service_counts(result)
    gaps = tables.gap_keys(result)
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
                cells.append(Text(tables.format_share(share), style=style))
        table.add_row(*cells)
    return table
