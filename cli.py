"""The `circles` command: a thin typer layer over circles.pipeline."""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(
    help="circles: 15-minute living circles (15分钟生活圈) from OpenStreetMap.\n\n"
    "Run `circles run` to measure the bundled Nanjing district offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _progress(label: str) -> Iterator[None]:
    t0 = time.perf_counter()
    with console.status(f"{label} …"):
        yield
    console.print(f"[green]✓[/] {escape(label)} [dim]({time.perf_counter() - t0:.1f} s)[/]")


def run(config: Path | None = None, **options: Any) -> None:
    """Measure a study: reach per residence cluster, isochrones, map, report and tables."""
    from circles import pipeline
    from circles._errors import CirclesError
    from circles.cache import default_dir as default_cache_dir
    from circles.options import RUN_OPTIONS, study_for_run
    from circles.outputs import write_outputs

    run_only = {o.name: options.pop(o.name) for o in RUN_OPTIONS if not o.fields}
    try:
        study = study_for_run(config, run_only["set"] or (), **options)
        target = run_only["out"] or study.output_folder
        console.print(f"[bold]{escape(study.display_title)}[/]", highlight=False)
        cache = None if run_only["no_cache"] else (run_only["cache_dir"] or default_cache_dir())
        tables_only = run_only["tables_only"]
        result = pipeline.run(study, step=_progress, tables_only=tables_only, cache_dir=cache)
        with _progress("写出结果 Writing outputs"):
            folder = write_outputs(result, target)
    except CirclesError as e:
        _fail(str(e))
    except typer.Exit:
        raise
    except Exception as e:  # an internal error: one line unless --debug
        if run_only["debug"]:
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (run again with --debug and report it)", 1)

    from circles.outputs.console import warning_lines

    if result.clusters is not None:
        from circles.outputs.console import indicator_table, summary_table

        out.print(summary_table(result))
        indicators = indicator_table(result)
        if indicators is not None:
            out.print(indicators)
    else:
        n = result.summary["inputs"].get("origins", 0)
        out.print(f"Reach of {n:,} origins for {len(result.categories)} categories.")
    for w in warning_lines(result):
        console.print(f"[yellow]![/] {escape(w)}", highlight=False)
    out.print(f"Outputs: {escape(str(folder))}", highlight=False)


def _run_signature() -> inspect.Signature:
    """``run``'s parameters, one per option of the table (circles.options.RUN_OPTIONS)."""
    from circles.options import RUN_OPTIONS

    config = Annotated[
        Path | None, typer.Argument(help="study .yaml; default: the bundled Nanjing study")
    ]
    params = [inspect.Parameter("config", _KEYWORD, default=None, annotation=config)]
    for option in RUN_OPTIONS:
        kind: Any = cast(Any, list)[option.kind] if option.many else option.kind
        switch = option.kind is bool and option.flag is None
        # Built at run time from the table: typer reads it like a written annotation.
        annotation = cast(Any, Annotated)[
            kind if switch else kind | None, typer.Option(option.flags, help=option.help)
        ]
        default = False if switch else None
        params.append(
            inspect.Parameter(option.name, _KEYWORD, default=default, annotation=annotation)
        )
    return inspect.Signature(params)


_KEYWORD = inspect.Parameter.KEYWORD_ONLY
run.__signature__ = _run_signature()  # type: ignore[attr-defined]
app.command()(run)


cache_app = typer.Typer(help="The cache of parsed networks and services.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info(
    cache_dir: Annotated[Path | None, typer.Option(help="cache folder")] = None,
) -> None:
    """Where the cache is, and what it holds."""
    from rich.table import Table

    from circles.cache import age_text, default_dir, entries

    folder = cache_dir or default_dir()
    items = entries(folder) if folder.is_dir() else []
    total = sum(e.size_bytes for e in items)
    out.print(
        f"Cache: {escape(str(folder))} — {len(items)} entries, {total / 1e6:.1f} MB",
        highlight=False,
    )
    if items:
        table = Table()
        for col in ("key", "source", "size", "age"):
            table.add_column(col)
        for e in items:
            table.add_row(e.key, e.source, f"{e.size_bytes / 1e6:.1f} MB", age_text(e.created))
        out.print(table)


@cache_app.command("clear")
def cache_clear(
    cache_dir: Annotated[Path | None, typer.Option(help="cache folder")] = None,
) -> None:
    """Delete every cached network."""
    from circles.cache import clear, default_dir

    folder = cache_dir or default_dir()
    n = clear(folder) if folder.is_dir() else 0
    out.print(f"Removed {n} cache entries from {escape(str(folder))}", highlight=False)


@app.command()
def categories() -> None:
    """List the service categories, the OSM tags that find them and their AMap codes."""
    from rich.table import Table

    from circles.services import load_catalogue

    table = Table(
        title="Service categories 服务设施类别",
        caption="default: measured in every run; standard: only when a standard needs it",
    )
    table.add_column("key")
    table.add_column("中文")
    table.add_column("English")
    table.add_column("OSM tag rules")
    table.add_column("AMap")
    table.add_column("measured")
    for c in load_catalogue().values():
        rules = "; ".join(
            " ".join(f"{k}={'|'.join(v) if isinstance(v, list) else v}" for k, v in r.items())
            for r in c.rules
        )
        amap = ", ".join(c.amap) or "—"
        table.add_row(c.key, c.zh, c.en, rules, amap, "default" if c.default else "standard")
    out.print(table)


standards_app = typer.Typer(
    help="Planning standards to score against (GB 50180-2018 and others).", no_args_is_help=True
)
app.add_typer(standards_app, name="standards")


@standards_app.command("list")
def standards_list() -> None:
    """List the built-in standards."""
    from rich.table import Table

    from circles.standards import builtin_names, load_standard

    table = Table(title="Standards 标准 (use with --standard NAME, or standard: in a study)")
    table.add_column("name", no_wrap=True)
    table.add_column("title 标题", overflow="fold")
    table.add_column("document 文件", overflow="fold")
    table.add_column("levels 级别", overflow="fold")
    for name in builtin_names():
        std = load_standard(name)
        levels = ", ".join(f"{lv.key} {lv.distance_m:g} m" for lv in std.levels)
        table.add_row(
            name,
            f"{std.title_zh}\n{std.title_en}",
            f"{std.source['number']} ({std.source['year']})",
            levels,
        )
    out.print(table)


@standards_app.command("show")
def standards_show(
    name: Annotated[str, typer.Argument(help="a built-in standard, or the path of a .yaml")],
) -> None:
    """Show a standard: levels, required (●) and optional (○) items, distances, sources."""
    from circles._errors import CirclesError
    from circles.outputs.console import standard_tables
    from circles.standards import load_standard

    try:
        std = load_standard(name)
    except CirclesError as e:
        _fail(str(e))
    src = std.source
    out.print(
        f"[bold]{escape(std.title_zh)} {escape(std.title_en)}[/] [dim]({escape(std.key)})[/]",
        highlight=False,
    )
    out.print(escape(f"{src['document']} · {src['number']} · {src['year']}"), highlight=False)
    if src.get("issuer"):
        out.print(f"[dim]{escape(str(src['issuer']))}[/]", highlight=False)
    for clause in [*src.get("clauses", []), *src.get("related", [])]:
        out.print(f"  · {escape(str(clause))}", highlight=False)
    if std.extends:
        out.print(f"[yellow]local variant of {escape(', '.join(std.extends))}[/]", highlight=False)
    for table in standard_tables(std):
        out.print(table)


def main() -> None:
    """The installed ``circles`` command: the typer app, ended without interpreter teardown.

    Python's normal exit spends about 0.13 s freeing numba's compiler state, a tenth of
    a cold run. By the time the app returns every output is written, closed and renamed
    into place, so only the console streams need flushing before ``os._exit``.
    """
    try:
        app()  # in standalone mode click always ends with SystemExit
        code: object = 0
    except SystemExit as e:
        code = e.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message")
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
