"""The `circles` command: a thin typer layer over circles.pipeline."""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.markup import escape

from circles.options import PLAN_OPTIONS, RUN_OPTIONS, Option

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


@contextlib.contextmanager
def _one_line_errors(debug: bool) -> Iterator[None]:
    """A CirclesError as one ``error:`` line and exit code 2; an internal error as one line
    and exit code 1, with its traceback under ``--debug``."""
    from circles._errors import CirclesError

    try:
        yield
    except CirclesError as e:
        _fail(str(e))
    except typer.Exit:
        raise
    except Exception as e:
        if debug:
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (run again with --debug and report it)", 1)


def run(config: Path | None = None, **options: Any) -> None:
    """Measure a study: reach per residence cluster, isochrones, map, report and tables."""
    from circles import pipeline
    from circles.cache import default_dir as default_cache_dir
    from circles.options import RUN_OPTIONS, study_for_run
    from circles.outputs import write_outputs

    run_only = {o.name: options.pop(o.name) for o in RUN_OPTIONS if not o.fields}
    with _one_line_errors(run_only["debug"]):
        study = study_for_run(config, run_only["set"] or (), **options)
        target = run_only["out"] or study.output_folder
        console.print(f"[bold]{escape(study.display_title)}[/]", highlight=False)
        cache = None if run_only["no_cache"] else (run_only["cache_dir"] or default_cache_dir())
        tables_only = run_only["tables_only"]
        result = pipeline.run(study, step=_progress, tables_only=tables_only, cache_dir=cache)
        with _progress("写出结果 Writing outputs"):
            folder = write_outputs(result, target)

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


def _signature(options: Sequence[Option], config_help: str) -> inspect.Signature:
    """A command's parameters: a CONFIG argument, then one per option of a table of
    circles.options (``RUN_OPTIONS``, ``PLAN_OPTIONS``)."""
    config = Annotated[Path | None, typer.Argument(help=config_help)]
    params = [inspect.Parameter("config", _KEYWORD, default=None, annotation=config)]
    for option in options:
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
_CONFIG_HELP = "study .yaml; default: the bundled Nanjing study"
run.__signature__ = _signature(RUN_OPTIONS, _CONFIG_HELP)  # type: ignore[attr-defined]
app.command()(run)


def plan(config: Path | None = None, **options: Any) -> None:
    """Where to build: propose the sites that bring the most residents within an item's
    walking distance, keeping the existing facilities (plan.html, sites.csv, report)."""
    from circles import pipeline
    from circles.cache import default_dir as default_cache_dir
    from circles.options import check_plan_options, study_for_run
    from circles.outputs.plan import write_plan

    plan_only = {o.name: options.pop(o.name) for o in PLAN_OPTIONS if not o.fields}
    with _one_line_errors(plan_only["debug"]):
        check_plan_options(plan_only)
        study = study_for_run(config, plan_only["set"] or (), **options)
        item = _plan_item(study, plan_only)
        candidates = _plan_candidates(plan_only)
        console.print(f"[bold]{escape(study.display_title)}[/]", highlight=False)
        cache = None if plan_only["no_cache"] else (plan_only["cache_dir"] or default_cache_dir())
        result = pipeline.run(study, step=_progress, tables_only=True, cache_dir=cache)
        with _progress("选址 Choosing sites"):
            proposal = _plan_sites(result, item, candidates, plan_only)
        with _progress("写出结果 Writing outputs"):
            folder = write_plan(proposal, plan_only["out"])

    from circles.outputs.console import plan_table

    out.print(plan_table(proposal))
    for note in proposal.notes[:3]:
        console.print(f"[yellow]![/] {escape(note)}", highlight=False)
    out.print(f"Outputs: {escape(str(folder))}", highlight=False)


def _plan_item(study: Any, given: dict[str, Any]) -> Any:
    """The item planned for: ``--item`` of the study's standard, or ``--category``."""
    from circles import planning

    if given["category"]:
        return planning.Item(given["category"], float(given["distance"]))
    return planning.item_of_study(study, given["item"])


def _plan_candidates(given: dict[str, Any]) -> Any:
    """The ``--candidates`` table (circles.planning.CandidateTable), or None."""
    if not given["candidates"]:
        return None
    import pydantic

    from circles import planning
    from circles._errors import ConfigError

    spec = {"file": given["candidates"], "crs": given["candidates_crs"] or "wgs84"}
    try:
        return planning.CandidateTable(**spec, cost=given["cost_column"])
    except pydantic.ValidationError as e:
        message = e.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(f"--candidates-crs {spec['crs']}: {message}") from None


def _plan_sites(result: Any, item: Any, candidates: Any, given: dict[str, Any]) -> Any:
    """circles.planning.plan with the command line's options."""
    from circles import planning

    return planning.plan(
        result,
        item,
        given["add"],
        candidates=candidates,
        objective=given["objective"] or "residents",
        budget=given["budget"],
        exact=given["exact"],
        cover_all=given["cover_all"],
    )


plan.__signature__ = _signature(PLAN_OPTIONS, _CONFIG_HELP)  # type: ignore[attr-defined]
app.command()(plan)


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="the base run's output folder (A)")],
    run_b: Annotated[Path, typer.Argument(help="the scenario's or later year's folder (B)")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="output folder; default: compare--<A>--<B> beside B"),
    ] = None,
    self_contained: Annotated[
        bool | None,
        typer.Option(
            "--self-contained/--cdn", help="compare.html embeds Leaflet; default: B's map setting"
        ),
    ] = None,
    basemap: Annotated[
        str | None, typer.Option(help="osm, light or none (offline); default: B's map setting")
    ] = None,
    debug: Annotated[bool, typer.Option(help="show tracebacks of internal errors")] = False,
) -> None:
    """Compare two runs of one area (B − A): indicator deltas, grade changes, a map of
    coverage gained and lost (compare.html, compare.csv)."""
    with _one_line_errors(debug):
        from circles.comparison import compare as compare_runs
        from circles.outputs.compare import write_comparison

        if basemap is not None and basemap not in ("osm", "light", "none"):
            _fail(f"--basemap {basemap!r}: give osm, light or none")
        comparison = compare_runs(run_a, run_b)
        target = out_dir or run_b.absolute().parent / (
            f"compare--{run_a.absolute().name}--{run_b.absolute().name}"
        )
        folder = write_comparison(
            comparison, target, self_contained=self_contained, basemap=basemap
        )
    from circles.outputs.console import comparison_table

    out.print(comparison_table(comparison))
    out.print(f"Outputs: {escape(str(folder))}", highlight=False)


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
    """List the service categories, the OSM tags that find them, their AMap codes, and the
    AMap types deliberately unmapped."""
    from rich.table import Table

    from circles.services import load_catalogue, load_unmapped

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
    unmapped = Table(
        title="Deliberately unmapped 不计入任何类别",
        caption="table rows of these AMap types are rejected (unknown_category), not guessed",
    )
    for col in ("AMap", "type path", "中文", "English", "why"):
        unmapped.add_column(col)
    for u in load_unmapped():
        unmapped.add_row(u.amap or "—", u.type_path or "—", u.zh, u.en, u.why)
    out.print(unmapped)


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
