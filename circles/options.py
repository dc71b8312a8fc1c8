"""The options of ``circles run``, each declared once with the study field it sets.

The command line is generated from :data:`RUN_OPTIONS`, and :func:`study_for_run` lays
the given options over a study by their fields, so an option never has to be written
three times (a CLI parameter, a keyword, a patch). ``--set FIELD=VALUE`` reaches any
other field of the study.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from circles._errors import ConfigError
from circles.config import SourceSettings, Study, load_study, study_from_dict

__all__ = [
    "PLAN_OPTIONS",
    "RUN_OPTIONS",
    "Option",
    "check_plan_options",
    "output_folder_for_run",
    "parse_assignment",
    "study_for_run",
]


@dataclass(frozen=True)
class Option:
    """One option of ``circles run``.

    Attributes
    ----------
    name : str
        The keyword (``max_snap``); the flag is the same with dashes (``--max-snap``).
    help : str
        The help text.
    fields : tuple of str
        The study fields the option sets, dotted (``snap.max_distance_m``);
        ``pois[].crs`` sets the field in every POI table. Empty for options of the run
        itself (``--out``, ``--cache-dir``).
    kind : type
        What the command line takes: ``str``, ``float``, ``int``, ``Path`` or ``bool``.
    parse : callable, optional
        Turns the command line's value into the field's (``"300,500"`` → ``[300, 500]``).
    clears : tuple of str
        Fields reset to their defaults when the option is given (``--minutes`` clears
        ``thresholds.distances_m``).
    requires : tuple of str
        Options of which at least one must be given too.
    group : str, optional
        Options of one group exclude each other (``--osm``, ``--place``, ``--bbox``).
    flag : str, optional
        A flag declaration other than ``--<name>`` (``--self-contained/--cdn``).
    many : bool
        The option may be repeated; its value is a list.
    """

    name: str
    help: str
    fields: tuple[str, ...] = ()
    kind: type = str
    parse: Callable[[Any], Any] | None = None
    clears: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    group: str | None = None
    flag: str | None = None
    many: bool = False

    @property
    def flags(self) -> str:
        """The flag as the command line spells it."""
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def first_flag(self) -> str:
        """The flag without its negative form (``--self-contained``)."""
        return self.flags.split("/")[0]


def _numbers(flag: str, example: str) -> Callable[[Any], list[float]]:
    def parse(value: Any) -> list[float]:
        if not isinstance(value, str):
            return [float(v) for v in value]
        try:
            return [float(v) for v in value.replace(" ", "").split(",") if v]
        except ValueError:
            raise ConfigError(
                f"{flag} '{value}': give numbers separated by commas, e.g. {example}"
            ) from None

    return parse


def _keys(value: Any) -> list[str]:
    if not isinstance(value, str):
        return list(value)
    return [c.strip() for c in value.split(",") if c.strip()]


def _path(value: Any) -> Path:
    return Path(value).resolve()


def _paths(value: Any) -> list[dict[str, Any]]:
    return [{"file": Path(p).resolve()} for p in value]


def _columns(value: Any) -> dict[str, str]:
    """``name=医院名称,lng=经度`` as a mapping of POI table roles to headers."""
    from circles.config import PoiColumns

    if not isinstance(value, str):
        return dict(value)
    roles = list(PoiColumns.model_fields)
    out: dict[str, str] = {}
    for pair in (p.strip() for p in value.replace("，", ",").split(",")):
        if not pair:
            continue
        role, sep, column = (t.strip() for t in pair.partition("="))
        if not sep or not role or not column:
            raise ConfigError(
                f"--pois-columns '{value}': '{pair}' is not ROLE=COLUMN; give e.g. "
                "name=医院名称,lng=经度,lat=纬度"
            )
        if role not in roles:
            raise ConfigError(
                f"--pois-columns '{value}': unknown role '{role}'; roles: {', '.join(roles)}"
            )
        out[role] = column
    return out


def _units(value: Any) -> str | Path:
    """A units file, or ``osm:admin_level=N`` as written (the study's field reads it)."""
    text = str(value).strip()
    return text if text.lower().startswith("osm:") else Path(value).resolve()


def _standard(value: Any) -> str | None:
    from circles.standards import is_path_like

    if value.lower() == "none":
        return None
    return str(Path(value).resolve()) if is_path_like(value) else value


RUN_OPTIONS: tuple[Option, ...] = (
    Option(
        "osm",
        "local OSM file (.osm, .osm.pbf, .osm.bz2, .osm.gz)",
        ("source.osm",),
        Path,
        _path,
        clears=("source",),
        group="source",
    ),
    Option(
        "place",
        "place name, downloaded online",
        ("source.place",),
        clears=("source",),
        group="source",
    ),
    Option(
        "bbox",
        "west,south,east,north in degrees, downloaded online",
        ("source.bbox",),
        parse=_numbers("--bbox", "118.77,32.03,118.80,32.05"),
        clears=("source",),
        group="source",
    ),
    Option("boundary", "GeoJSON polygon: clip the study to it", ("boundary",), Path, _path),
    Option("out", "output folder; default: <output_dir>/<study name>", kind=Path),
    Option(
        "thresholds",
        "distances in metres, e.g. 300,500,1000 (at most 12)",
        ("thresholds.distances_m",),
        parse=_numbers("--thresholds", "300,500,1000"),
        clears=("thresholds.minutes",),
        group="thresholds",
    ),
    Option(
        "minutes",
        "walking minutes, e.g. 5,10,15 (with --speed)",
        ("thresholds.minutes",),
        parse=_numbers("--minutes", "5,10,15"),
        clears=("thresholds.distances_m",),
        group="thresholds",
    ),
    Option(
        "speed",
        "walking speed for minutes, km/h (default 4)",
        ("thresholds.speed_kmh",),
        float,
    ),
    Option(
        "residence_method",
        "residence clusters: auto, landuse, buildings or grid",
        ("residences.method",),
    ),
    Option(
        "pois",
        "a POI table of your own (CSV, XLSX, XLS, GeoJSON, GeoPackage); repeatable; replaces "
        "the config's pois",
        ("pois",),
        Path,
        _paths,
        many=True,
    ),
    Option(
        "pois_crs",
        "coordinates of --pois: wgs84 (default), gcj02 (AMap), bd09 (Baidu), EPSG:<code>",
        ("pois[].crs",),
        requires=("pois",),
    ),
    Option(
        "pois_columns",
        "columns of --pois whose headers circles does not know, ROLE=COLUMN pairs, e.g. "
        "name=医院名称,lng=经度,lat=纬度 (roles: name, category, typecode, type, location, "
        "lng, lat, id, wkt)",
        ("pois[].columns",),
        parse=_columns,
        requires=("pois",),
    ),
    Option(
        "pois_mode",
        "merge (OSM plus the tables, default) or replace (the tables only)",
        ("pois_mode",),
    ),
    Option(
        "remove_pois",
        "a file of services to close: OSM ids (node/123, way/45, or osm_type,osm_id "
        "columns) or --pois rows (pois[0]:17); unknown ones go to rejected_rows.csv",
        ("remove_pois",),
        Path,
        _path,
    ),
    Option(
        "scenario",
        "name of a variant (new-pharmacy): its default output folder is "
        "<output_dir>/<study>--<scenario>; compare it with `circles compare`",
        ("scenario",),
    ),
    Option(
        "residences",
        "a 小区 table (points or polygons, households or population)",
        ("residences.file",),
        Path,
        _path,
        clears=("residences.columns", "residences.crs", "residences.encoding"),
    ),
    Option(
        "residences_crs",
        "coordinates of --residences (like --pois-crs)",
        ("residences.crs",),
        requires=("residences",),
    ),
    Option(
        "population",
        "residents counted elsewhere: a raster (GeoTIFF: WorldPop, GHS-POP) summed over each "
        "cluster, or a table of 常住人口 per 社区 (polygons: spread over the buildings by "
        "floor area) or per 小区 (by name)",
        ("population.file",),
        Path,
        _path,
        clears=("population.columns", "population.crs", "population.encoding"),
    ),
    Option(
        "population_crs",
        "coordinates of --population: a table's (like --pois-crs), or a raster's that has "
        "no CRS of its own (EPSG:<code>)",
        ("population.crs",),
        requires=("population",),
    ),
    Option(
        "gates",
        "a table of the gates (出入口) of gated 小区, e.g. AMap AOI entrances; a gate "
        "farther than gates.max_distance_m (30 m) from every 小区 is reported, not used",
        ("gates.file",),
        Path,
        _path,
        clears=("gates.columns", "gates.crs", "gates.encoding"),
    ),
    Option(
        "gates_crs",
        "coordinates of --gates (like --pois-crs; AMap: gcj02)",
        ("gates.crs",),
        requires=("gates",),
    ),
    Option(
        "gate_rule",
        "auto (default): a walled 小区's walk starts at its gates (OSM gates, --gates, else "
        "where paths cross its boundary); off: from one point, as before",
        ("gates.rule",),
    ),
    Option(
        "units",
        "社区 or 街道 boundaries to report by: a file (GeoJSON, GeoPackage, Shapefile, CSV or "
        "XLSX with a WKT column) or osm:admin_level=N (the OSM file's administrative "
        "boundaries, e.g. osm:admin_level=8); indicators, a dossier and shortfalls per unit",
        ("units.file",),
        Path,
        _units,
        clears=("units",),
    ),
    Option(
        "units_crs",
        "coordinates of --units (like --pois-crs)",
        ("units.crs",),
        requires=("units",),
    ),
    Option(
        "dem",
        "a GeoTIFF elevation model (metres) covering the study area: each street's walk "
        "takes the time Tobler's hiking function gives for its slope",
        ("walking.dem",),
        Path,
        _path,
    ),
    Option(
        "encoding",
        "text encoding of the CSV tables given here; default: detected",
        ("pois[].encoding", "residences.encoding"),
        requires=("pois", "residences"),
    ),
    Option(
        "max_snap",
        "points farther from a street are not used (m)",
        ("snap.max_distance_m",),
        float,
    ),
    Option(
        "categories",
        "category keys, e.g. market,pharmacy (default: all)",
        ("categories",),
        parse=_keys,
    ),
    Option(
        "isochrone_method",
        "network (faithful, default), convex or concave",
        ("isochrones.method",),
    ),
    Option(
        "origins",
        "origins: clusters (default), nodes (every street node) or grid",
        ("reach.origins",),
    ),
    Option("tables_only", "write only reach.parquet and summary.json", kind=bool),
    Option(
        "k_nearest",
        "also the distances to the k nearest per category",
        ("reach.k_nearest",),
        int,
    ),
    Option("cache_dir", "cache of parsed networks; default: user cache dir", kind=Path),
    Option("no_cache", "neither read nor write it", kind=bool),
    Option(
        "self_contained",
        "map.html embeds Leaflet (opens with no CDN, e.g. on an intranet) or loads it from "
        "a CDN (default)",
        ("map.self_contained",),
        bool,
        flag="--self-contained/--cdn",
    ),
    Option(
        "basemap",
        "basemap shown first: osm (default), light, or none (offline)",
        ("map.basemap",),
    ),
    Option(
        "standard",
        "standard to score against: a built-in name (see `circles standards list`), a "
        "standard .yaml, or none (default: the study's, gb50180-2018)",
        ("standard",),
        parse=_standard,
    ),
    Option(
        "self_assessment",
        "a filled self-assessment form (`circles standards form`): the items maps cannot "
        "measure, scored per unit as self-reported (needs --units)",
        ("self_assessment",),
        Path,
        _path,
    ),
    Option(
        "set",
        "any study field, e.g. --set snap.max_distance_m=200 --set reach.decay.kind=linear "
        "(a YAML value; repeatable)",
        kind=str,
        many=True,
    ),
    Option(
        "force",
        "run even when the estimated size is beyond the limits (memory, walking areas; "
        "see docs/guide/config.md)",
        ("limits.force",),
        bool,
    ),
    Option("debug", "show tracebacks of internal errors", kind=bool),
)
_BY_NAME = {o.name: o for o in RUN_OPTIONS}


def parse_assignment(text: str) -> tuple[str, Any]:
    """A ``--set`` assignment: its dotted field and its value, read as YAML.

    Parameters
    ----------
    text : str
        ``FIELD=VALUE``, e.g. ``snap.max_distance_m=200`` or
        ``thresholds.minutes=[5, 10, 15]``.

    Returns
    -------
    tuple of (str, Any)
        The field and the value (``200``, ``[5, 10, 15]``, ``None`` for ``null``).

    Raises
    ------
    ConfigError
        The text is not ``FIELD=VALUE``, or the value is not YAML.
    """
    import yaml

    from circles._yaml import safe_load

    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name or not all(part.isidentifier() for part in name.split(".")):
        raise ConfigError(f"--set '{text}': give FIELD=VALUE, e.g. --set snap.max_distance_m=200")
    try:
        return name, safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"--set '{text}': the value is not valid YAML") from None


def _check_combination(given: dict[str, Any], by_name: dict[str, Option] = _BY_NAME) -> None:
    groups: dict[str, list[str]] = {}
    for name in given:
        option = by_name[name]
        if option.group:
            groups.setdefault(option.group, []).append(option.first_flag)
        if option.requires and not any(r in given for r in option.requires):
            needed = " or ".join(_requirement(by_name[r]) for r in option.requires)
            raise ConfigError(f"{option.first_flag} applies to {needed}; give that too")
    for flags in groups.values():
        if len(flags) > 1:
            raise ConfigError(f"give only one of {', '.join(flags)}")


def _requirement(option: Option) -> str:
    """How an error names an option that must be given too (``--pois FILE``)."""
    metavar = {Path: " FILE", float: " N", int: " N", str: " TEXT"}.get(option.kind, "")
    return option.first_flag + metavar


# What an OSM file's name ends with, longest first: only these are cut, so that
# beijing.2021.osm and beijing.2022.osm name different studies.
_OSM_SUFFIXES = (".osm.pbf", ".osm.bz2", ".osm.gz", ".osm.xml", ".osm", ".pbf", ".xml")


def _default_name(given: dict[str, Any]) -> str:
    """A study's name from its source, when no config names it (北京.osm: 北京)."""
    from circles.config import safe_name

    if "osm" in given:
        text = Path(given["osm"]).name
        for suffix in _OSM_SUFFIXES:
            if text.lower().endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                break
    elif "boundary" in given and not {"place", "bbox"} & set(given):
        text = Path(given["boundary"]).stem
    else:
        text = given.get("place") or "bbox"
    return safe_name(text)


def _unset(name: str, value: Any) -> bool:
    """Whether a switch (``--force``) was left off: False then means "not given", so that
    it does not undo a config's ``true``."""
    option = _BY_NAME.get(name)
    return option is not None and option.kind is bool and option.flag is None and value is False


def _check_speed(given: dict[str, Any], data: dict[str, Any]) -> None:
    """Refuse ``--speed`` when the study's thresholds are not minutes: it would be ignored."""
    thresholds = data.get("thresholds")
    minutes = thresholds.get("minutes") if isinstance(thresholds, dict) else None
    if "speed" in given and minutes is None:
        raise ConfigError(
            f"--speed {given['speed']:g} converts walking minutes to metres, but the thresholds "
            "are distances: give --minutes too (e.g. --minutes 5,10,15), or leave --speed out"
        )


def _root(dotted: str) -> str:
    return dotted.split(".")[0].removesuffix("[]")


def _fields_given(option: Option, given: dict[str, Any]) -> list[str]:
    """The option's fields, less those of a table that is not given here (``--encoding``
    applies to the ``--pois`` and ``--residences`` files of the same command)."""
    roots = {_root(f): r for r in option.requires for f in _BY_NAME[r].fields}
    return [f for f in option.fields if _root(f) not in roots or roots[_root(f)] in given]


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a dotted field in a study's mapping (``pois[]`` fans out to every table)."""
    head, _, rest = dotted.partition(".")
    if head.endswith("[]"):
        for item in data.get(head[:-2]) or []:
            _set(item, rest, value)
    elif not rest:
        data[head] = value
    else:
        section = data.get(head)
        if not isinstance(section, dict):
            section = data[head] = {}
        _set(section, rest, value)


def _clear(data: dict[str, Any], dotted: str) -> None:
    """Remove a dotted field, so that its default applies."""
    head, _, rest = dotted.partition(".")
    if not rest:
        data.pop(head, None)
    elif isinstance(data.get(head), dict):
        _clear(data[head], rest)


def study_for_run(
    config: Path | None = None, assignments: Sequence[str] = (), **given: Any
) -> Study:
    """The study a ``circles run`` means: a config with the command line's options over it.

    Parameters
    ----------
    config : pathlib.Path, optional
        A study file. Without one, the bundled study, or, when a source or boundary is
        given, a study with the defaults named after it.
    assignments : sequence of str
        ``--set FIELD=VALUE`` texts, applied last.
    **given : Any
        Options of :data:`RUN_OPTIONS` that set study fields, by name (``osm=...``,
        ``max_snap=200``); None means not given. Values may be the command line's text
        (``thresholds="300,500"``) or already typed (``thresholds=[300, 500]``).

    Returns
    -------
    Study
        Validated. Relative paths given here are relative to the working directory.

    Raises
    ------
    ConfigError
        One line: an unknown option, inconsistent options (two sources, ``--pois-crs``
        without ``--pois``), or a value the study's field refuses.
    """
    given = {k: v for k, v in given.items() if v is not None and v != [] and not _unset(k, v)}
    unknown = [k for k in given if k not in _BY_NAME or not _BY_NAME[k].fields]
    if unknown:
        raise ConfigError(f"not an option that sets a study field: {', '.join(unknown)}")
    _check_combination(given)
    if config is None and {"osm", "place", "bbox", "boundary"} & set(given):
        data: dict[str, Any] = {"name": _default_name(given)}
    else:
        data = load_study(config).model_dump()
    for option in RUN_OPTIONS:  # in the table's order: --pois before --pois-crs
        if option.name not in given:
            continue
        value = given[option.name]
        for dotted in option.clears:
            _clear(data, dotted)
        for dotted in _fields_given(option, given):
            _set(data, dotted, option.parse(value) if option.parse else value)
    for text in assignments:
        _set(data, *parse_assignment(text))
    _check_speed(given, data)
    where = ", ".join([_BY_NAME[k].first_flag for k in given] + [f"--set {a}" for a in assignments])
    return study_from_dict(data, where=where or "study")


def output_folder_for_run(study: Study, out: Path | None = None) -> Path:
    """The folder a run writes: ``--out``, or the study's default folder when that holds
    no run of another source.

    Default folders are named after the study, so two inputs may share one (``a/北京.osm``
    and ``b/北京.osm``, or two configs with one ``name``); the second run must not then
    replace the first's results without a word.

    Parameters
    ----------
    study : Study
        The study; its default folder is :attr:`Study.output_folder`.
    out : pathlib.Path, optional
        The ``--out`` folder: used as it is (naming a folder is consent to replace it).

    Returns
    -------
    pathlib.Path
        ``out``, or the default folder.

    Raises
    ------
    ConfigError
        The default folder holds the results of another OSM file, place or bbox.
    """
    if out is not None:
        return out
    folder = study.output_folder
    previous = _source_of_run(folder / "summary.json")
    if previous is not None and previous != study.source:
        raise ConfigError(
            f"{folder} holds the results of another input ({_describe(previous)}), not of "
            f"{_describe(study.source)}: give --out {folder} to replace them, or --out "
            "another folder (or name the study: name: in a config)"
        )
    return folder


def _source_of_run(summary: Path) -> SourceSettings | None:
    """The source of the run whose summary.json this is; None when unknown (no file, or
    one that does not read: the writer then judges the folder)."""
    import json

    try:
        settings = json.loads(summary.read_text(encoding="utf-8"))["settings"]
        return SourceSettings.model_validate(settings["source"])
    except (OSError, ValueError, KeyError, TypeError):  # missing, not JSON, another layout
        return None


def _describe(source: SourceSettings) -> str:
    """A source in a few words: its file, place or bbox."""
    if source.osm is not None:
        return str(source.osm)
    if source.place is not None:
        return f"place {source.place!r}"
    if source.bbox is not None:
        return "bbox " + ",".join(f"{v:g}" for v in source.bbox)
    return f"polygon {source.polygon}" if source.polygon is not None else "no source"


# ---------------------------------------------------------------------------------------
# circles plan
# ---------------------------------------------------------------------------------------

# The study options of `circles run` that a plan takes: what the study is made of and how
# its maps look; not thresholds or origins (the item sets the one distance planned for).
_PLAN_STUDY = (
    "osm",
    "boundary",
    "standard",
    "residences",
    "residences_crs",
    "residence_method",
    "population",
    "population_crs",
    "units",
    "units_crs",
    "gates",
    "gates_crs",
    "gate_rule",
    "dem",
    "pois",
    "pois_crs",
    "pois_columns",
    "pois_mode",
    "remove_pois",
    "scenario",
    "encoding",
    "max_snap",
    "self_contained",
    "basemap",
    "set",
    "cache_dir",
    "no_cache",
    "force",
    "debug",
)

PLAN_OPTIONS: tuple[Option, ...] = (
    Option(
        "item",
        "LEVEL:CATEGORY of the study's standard, e.g. 5min:elder_care (see `circles "
        "standards show`)",
        group="item",
    ),
    Option(
        "category",
        "a category key, e.g. pharmacy (with --distance; no standard needed)",
        group="item",
        requires=("distance",),
    ),
    Option("distance", "walking distance (m) for --category", kind=float, requires=("category",)),
    Option("add", "how many new sites to propose (N ≥ 1)", kind=int),
    Option(
        "objective",
        "what a site's gain counts: residents (default) or clusters newly covered",
    ),
    Option(
        "budget",
        "total cost the sites may add up to (a cost per candidate: --cost-column)",
        kind=float,
    ),
    Option(
        "cost_column",
        "the column of --candidates holding each site's cost (default: cost, 造价, 费用 …)",
        requires=("candidates",),
    ),
    Option(
        "cover_all",
        "the fewest new sites that cover every cluster a candidate can reach",
        kind=bool,
    ),
    Option(
        "candidates",
        "your own candidate sites (CSV, XLSX, GeoJSON, GeoPackage; read like --pois); "
        "default: street nodes near residential areas, one per 50 m",
        kind=Path,
        parse=_path,
    ),
    Option(
        "candidates_crs",
        "coordinates of --candidates: wgs84 (default), gcj02 (AMap), bd09 (Baidu), EPSG:<code>",
        requires=("candidates",),
    ),
    Option(
        "exact", "solve the integer program (HiGHS) and report the greedy answer's gap", kind=bool
    ),
    Option(
        "out",
        "output folder; default: <output_dir>/<study name>/plan-<level>-<category>",
        kind=Path,
    ),
    *(_BY_NAME[name] for name in _PLAN_STUDY),
)
_PLAN_ONLY = {o.name: o for o in PLAN_OPTIONS if not o.fields}


def check_plan_options(given: dict[str, Any]) -> None:
    """Refuse inconsistent options of ``circles plan`` before anything runs.

    Parameters
    ----------
    given : dict
        Options of :data:`PLAN_OPTIONS` that set no study field, by name; None (or
        False for a switch) means not given.

    Returns
    -------
    None

    Raises
    ------
    ConfigError
        One line: neither or both of ``--item`` and ``--category``, ``--category``
        without ``--distance``, ``--add`` below 1 or missing (without ``--budget`` or
        ``--cover-all``),
        ``--cover-all`` with ``--budget``, a distance or budget that is not positive,
        ``--candidates-crs`` or
        ``--cost-column`` without ``--candidates``, an unknown objective.
    """
    given = {k: v for k, v in given.items() if v is not None and v is not False and v != []}
    if "item" not in given and "category" not in given:
        raise ConfigError(
            "say what to plan for: --item LEVEL:CATEGORY (e.g. 5min:elder_care) or "
            "--category KEY --distance M"
        )
    _check_combination({k: v for k, v in given.items() if k in _PLAN_ONLY}, _PLAN_ONLY)
    add = given.get("add")
    if add is None and not {"cover_all", "budget"} & set(given):
        raise ConfigError("say how many sites to propose: --add N (or --budget B, --cover-all)")
    if add is not None and add < 1:
        raise ConfigError(f"--add {add}: give a number of new sites of at least 1")
    if "cover_all" in given and "budget" in given:
        raise ConfigError("--cover-all finds the fewest sites; it takes no --budget")
    for name in ("distance", "budget"):
        if name in given and not given[name] > 0:
            raise ConfigError(
                f"{_PLAN_ONLY[name].first_flag} {given[name]:g}: give a positive number"
            )
    objective = given.get("objective", "residents")
    if objective not in ("residents", "clusters"):
        raise ConfigError(f"--objective {objective}: give residents or clusters")
