"""The `circles` command: a thin typer layer over circles.pipeline."""

from __future__ import annotations

import contextlib
import errno
import gc
import inspect
import os
import sys
import time
import warnings
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


INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C (128 + SIGINT)
# How writing to a full, closed or vanished standard output fails; reading a file fails
# otherwise (ENOENT, EACCES), and a run's own files are written inside _one_line_errors.
_WRITE_FAILURES = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF))


def _interrupted() -> None:
    console.print("[bold red]interrupted[/]", highlight=False)
    raise typer.Exit(INTERRUPTED)


def _by_ctrl_c(error: BaseException) -> bool:
    """Whether an error stands for Ctrl-C: numba's compiled kernels report a
    KeyboardInterrupt raised during their call as a SystemError caused by it."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("circles")
    except PackageNotFoundError:  # run from a checkout that was never installed
        from circles import __version__ as number
    out.print(f"circles {number}", highlight=False)
    raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="show the version and exit"
        ),
    ] = False,
) -> None:
    pass


@contextlib.contextmanager
def _progress(label: str) -> Iterator[None]:
    t0 = time.perf_counter()
    # A spinner only where someone sees it: elsewhere (a script, a log) it would still load
    # rich's live display and wake a thread a dozen times a second.
    spinner = console.status(f"{label} …") if console.is_terminal else contextlib.nullcontext()
    with spinner:
        yield
    console.print(f"[green]✓[/] {escape(label)} [dim]({time.perf_counter() - t0:.1f} s)[/]")


@contextlib.contextmanager
def _one_line_errors(debug: bool) -> Iterator[None]:
    """A CirclesError as one ``error:`` line and exit code 2; Ctrl-C as ``interrupted`` and
    exit code 130; an internal error as one line and exit code 1, with its traceback under
    ``--debug``. The cache's warnings are shown as one line each, once."""
    from circles._errors import CirclesError

    try:
        with _cache_notices():
            yield
    except CirclesError as e:
        _fail(str(e))
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        _interrupted()
    except Exception as e:
        if _by_ctrl_c(e):
            _interrupted()
        if debug:
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (run again with --debug and report it)", 1)


@contextlib.contextmanager
def _cache_notices() -> Iterator[None]:
    """Show each circles.cache.CacheWarning once, as a ``!`` line (the run goes on)."""
    from circles.cache import CacheWarning

    shown: set[str] = set()
    others = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
        if not issubclass(category, CacheWarning):
            others(message, category, *args, **kw)
        elif str(message) not in shown:
            shown.add(str(message))
            console.print(f"[yellow]![/] {escape(str(message))}", highlight=False)

    with warnings.catch_warnings():
        warnings.simplefilter("always", CacheWarning)
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _printing(folder: Path) -> Iterator[None]:
    """Printing a finished command's results. Its outputs are written by then: a standard
    output that cannot be written (/dev/full, closed) is one ``error:`` line and exit
    code 2, so that a script notices, and the folder stays."""
    try:
        yield
        if sys.stdout is None:
            raise OSError(errno.EBADF, "it is closed")
        sys.stdout.flush()
    except KeyboardInterrupt:
        _interrupted()
    except OSError as e:
        _fail(
            f"cannot write to standard output ({e.strerror or e}); the outputs are "
            f"complete in {_shown(folder)}"
        )


def _shown(path: Path) -> str:
    from circles._errors import shown_path

    return shown_path(path)


def run(config: Path | None = None, **options: Any) -> None:
    """Measure a study: reach per residence cluster, isochrones, map, report and tables."""
    from circles import pipeline
    from circles.cache import default_dir as default_cache_dir
    from circles.options import RUN_OPTIONS, output_folder_for_run, study_for_run
    from circles.outputs import write_outputs

    run_only = {o.name: options.pop(o.name) for o in RUN_OPTIONS if not o.fields}
    with _one_line_errors(run_only["debug"]):
        study = study_for_run(config, run_only["set"] or (), **options)
        target = output_folder_for_run(study, run_only["out"])
        pipeline.check_paths(study, target)
        console.print(f"[bold]{escape(study.display_title)}[/]", highlight=False)
        cache = None if run_only["no_cache"] else (run_only["cache_dir"] or default_cache_dir())
        tables_only = run_only["tables_only"]
        result = pipeline.run(study, step=_progress, tables_only=tables_only, cache_dir=cache)
        with _progress("写出结果 Writing outputs"):
            folder = write_outputs(result, target)

    with _printing(folder):
        if result.clusters is not None:
            # Only here: the console tables load rich's tables and pandas.
            from circles.outputs.console import run_summary

            # The findings first, then the category table and the indicators.
            for part in run_summary(result):
                out.print(part)
        else:
            n = result.summary["inputs"].get("origins", 0)
            out.print(f"Reach of {n:,} origins for {len(result.categories)} categories.")
        for w in result.warning_lines():
            console.print(f"[yellow]![/] {escape(w)}", highlight=False)
        out.print(f"Outputs: {escape(_shown(folder))}", highlight=False)


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
    from circles.outputs.plan import PLAN_FILES, REJECTED_CSV, write_plan
    from circles.shortfalls import SHORTFALLS_CSV, SHORTFALLS_XLSX

    plan_only = {o.name: options.pop(o.name) for o in PLAN_OPTIONS if not o.fields}
    with _one_line_errors(plan_only["debug"]):
        check_plan_options(plan_only)
        study = study_for_run(config, plan_only["set"] or (), **options)
        item = _plan_item(study, plan_only)
        # Checked before the run, with the files write_plan may replace (and its default).
        target = plan_only["out"] or study.output_folder / item.slug
        given = plan_only["candidates"]
        also = [("table", Path(given), "check the path of --candidates")] if given else []
        known = (*PLAN_FILES, REJECTED_CSV, SHORTFALLS_CSV, SHORTFALLS_XLSX)
        pipeline.check_paths(study, target, known, also=also)
        candidates = _plan_candidates(plan_only)
        console.print(f"[bold]{escape(study.display_title)}[/]", highlight=False)
        cache = None if plan_only["no_cache"] else (plan_only["cache_dir"] or default_cache_dir())
        result = pipeline.run(study, step=_progress, tables_only=True, cache_dir=cache)
        with _progress("选址 Choosing sites"):
            proposal = _plan_sites(result, item, candidates, plan_only)
        with _progress("写出结果 Writing outputs"):
            # With units, the shortfall list gains the sites proposed for the item.
            listed = result.units.shortfalls if result.units is not None else None
            folder = write_plan(proposal, plan_only["out"], shortfalls=listed)

    from circles.outputs.console import plan_table

    with _printing(folder):
        out.print(plan_table(proposal))
        for note in proposal.notes[:3]:
            console.print(f"[yellow]![/] {escape(note)}", highlight=False)
        out.print(f"Outputs: {escape(_shown(folder))}", highlight=False)


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

    with _printing(folder):
        out.print(comparison_table(comparison))
        out.print(f"Outputs: {escape(_shown(folder))}", highlight=False)


cache_app = typer.Typer(help="The cache of parsed networks and services.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info(
    cache_dir: Annotated[Path | None, typer.Option(help="cache folder")] = None,
) -> None:
    """Where the cache is, and what it holds (broken entries are listed as such)."""
    from rich.table import Table

    from circles.cache import age_text, default_dir, entries

    with _one_line_errors(False):
        folder = cache_dir or default_dir()
        items = entries(folder) if folder.is_dir() else []
    total = sum(e.size_bytes for e in items)
    out.print(
        f"Cache: {escape(_shown(folder))} — {len(items)} entries, {total / 1e6:.1f} MB",
        highlight=False,
    )
    if items:
        table = Table()
        for col in ("key", "source", "size", "age"):
            table.add_column(col)
        for e in items:
            source = "[red](broken)[/]" if e.broken else escape(e.source)
            table.add_row(e.key, source, f"{e.size_bytes / 1e6:.1f} MB", age_text(e.created))
        out.print(table)
    broken = sum(e.broken for e in items)
    if broken:
        console.print(
            f"[yellow]![/] {broken} broken entries (truncated or empty): a run that needs one "
            "removes and rebuilds it; `circles cache clear` removes them all",
            highlight=False,
        )


@cache_app.command("clear")
def cache_clear(
    cache_dir: Annotated[Path | None, typer.Option(help="cache folder")] = None,
) -> None:
    """Delete every cached network."""
    from circles.cache import clear, default_dir

    folder = cache_dir or default_dir()
    with _one_line_errors(False):
        try:
            n = clear(folder) if folder.is_dir() else 0
        except OSError as e:
            _fail(f"cannot clear the cache in {_shown(folder)}: {e.strerror}")
    out.print(f"Removed {n} cache entries from {escape(_shown(folder))}", highlight=False)


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


@standards_app.command("form")
def standards_form(
    name: Annotated[str, typer.Argument(help="a built-in standard, or the path of a .yaml")],
    units: Annotated[
        str,
        typer.Option(
            help="社区 or 街道 boundaries: a file (GeoJSON, GeoPackage, Shapefile, CSV/XLSX "
            "with WKT) or osm:admin_level=N (with --osm)"
        ),
    ],
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="the form to write (.xlsx); default: <standard>-form.xlsx"),
    ] = None,
    units_crs: Annotated[
        str | None, typer.Option(help="coordinates of --units (like --pois-crs)")
    ] = None,
    osm: Annotated[
        Path | None, typer.Option(help="the OSM file whose boundaries osm:admin_level=N takes")
    ] = None,
) -> None:
    """Write a self-assessment form: 是/否/部分 per unit and item maps cannot measure.

    Read it back with `circles run --self-assessment FILE`.
    """
    from circles._errors import InputError
    from circles.options import study_for_run
    from circles.selfassess import form_items, write_form
    from circles.standards import load_standard
    from circles.units import read_units

    with _one_line_errors(False):
        standard = load_standard(name)
        target = out_path or Path(f"{standard.key}-form.xlsx")
        if target.exists():
            raise InputError(
                f"{_shown(target)} exists (it may hold answers): give another --out, or "
                "move it away"
            )
        if units.strip().lower().startswith("osm:") and osm is None:
            raise InputError(f"--units {units}: give the OSM file that holds them with --osm")
        study = study_for_run(None, (), units=units, units_crs=units_crs, osm=osm, standard=name)
        found = read_units(study)
        write_form(standard, found, target)
    with _printing(target):
        for note in found.notes[:3]:
            console.print(f"[yellow]![/] {escape(note)}", highlight=False)
        out.print(
            f"Form 自评表: {escape(_shown(target))} ({len(found.name)} units × "
            f"{len(form_items(standard))} items)",
            highlight=False,
        )


def main() -> None:
    """The installed ``circles`` command: the typer app, ended without interpreter teardown.

    Python's normal exit spends about 0.13 s freeing numba's compiler state, a tenth of
    a cold run. By the time the app returns every output is written, closed and renamed
    into place, so only the console streams need flushing before ``os._exit``. A standard
    output that cannot be written (``> /dev/full``, closed) ends in one ``error:`` line and
    exit code 2, never a traceback.
    """
    _open_standard_fds()
    # A run builds many long-lived objects as it loads (numba's typing tables, pydantic's
    # schemas), which the collector scans again every 700 allocations: 0.15 s of a warm
    # run, halved this way. Young collections every 50,000 still bound any garbage.
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    try:
        app()  # in standalone mode click always ends with SystemExit
        code: object = 0
    except SystemExit as e:
        code = e.code
    except Exception as e:  # escaped a command: printing (--help > /dev/full), or a bug
        if isinstance(e, OSError) and e.errno in _WRITE_FAILURES:
            code = _say(f"error: cannot write to standard output ({e.strerror or e})", 2)
        else:
            code = _say(f"error: internal error: {type(e).__name__}: {e} (please report it)", 1)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message")
        code = _say(str(code), 1)
    if sys.stdout is None and code == 0:
        code = _say("error: cannot write to standard output (it is closed)", 2)
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as e:
        if code == 0:
            code = _say(f"error: cannot write to standard output ({e.strerror or e})", 2)
    with contextlib.suppress(OSError, ValueError):
        if sys.stderr is not None:
            sys.stderr.flush()
    os._exit(code)


def _say(line: str, code: int) -> int:
    """Print one line to standard error, if it can be written; return ``code``."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(line, file=sys.stderr, flush=True)
    return code


def _open_standard_fds() -> None:
    """Give a closed standard stream /dev/null, so that no file the run opens takes its
    number (a closed stdout would make fd 1 the next output file)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            spare = os.open(os.devnull, os.O_RDWR)
            if spare != fd:
                os.dup2(spare, fd)
                os.close(spare)


if __name__ == "__main__":  # pragma: no cover
    main()
