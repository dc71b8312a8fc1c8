"""The study: what area, which sources, which thresholds. Loaded from YAML and validated.

A study file is the planner's record of a run, so every field has a default that follows
GB 50180-2018 and every validation message names the field and the file.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from circles._errors import ConfigError
from circles._yaml import read_yaml_text, safe_load
from circles.settings import DEFAULT_CONFIG, DEFAULT_THRESHOLDS_M

# A name becomes a folder name (with "--<scenario>" and the writer's ".<name>.<hex>.partial"
# around it): 100 bytes each keeps the whole under the 255 bytes of common file systems.
NAME_MAX_CHARS = 64
NAME_MAX_BYTES = 100
# Device names that Windows refuses as file names, whatever the extension.
_WINDOWS_RESERVED = frozenset(
    {
        "CON",
        "PRN",
        "AUX",
        "NUL",
        *(f"COM{i}" for i in range(1, 10)),
        *(f"LPT{i}" for i in range(1, 10)),
    }
)
# At most this many thresholds: every one adds a count column per category to the cluster
# table (a GeoPackage layer holds 1998) and a polygon per cluster to the isochrones.
MAX_THRESHOLDS = 12
# Walking thresholds beyond this are not walking (2.5 hours at 4 km/h).
MAX_THRESHOLD_M = 10_000.0


class _Model(BaseModel):
    # NaN and infinity pass comparisons such as gt=0 and then break the geometry or JSON.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _is_name_char(c: str) -> bool:
    """Letters and digits of any script (with their combining marks), and ``_ . -``."""
    return c in "_.-" or unicodedata.category(c)[0] in "LNM"


def check_name(value: str) -> str:
    """Check a study or scenario name, which names a folder.

    Parameters
    ----------
    value : str
        The name; letters and digits of any script (北京, Zürich), ``_``, ``.`` and ``-``.

    Returns
    -------
    str
        The name in Unicode NFC form (as macOS and Windows compare names).

    Raises
    ------
    ValueError
        The name is empty, too long, starts with something other than a letter or digit,
        ends with a dot, holds a path separator, a space or other punctuation, or is a
        Windows device name (CON, NUL, COM1 ...).
    """
    name = unicodedata.normalize("NFC", value)
    bad = sorted({c for c in name if not _is_name_char(c)})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        raise ValueError(
            f"'{value}' holds {shown}: use letters or digits of any script, _ . - only"
        )
    if not name or unicodedata.category(name[0])[0] not in "LN":
        raise ValueError(f"'{value}' must start with a letter or digit")
    if name.endswith("."):
        raise ValueError(f"'{value}' must not end with a dot (Windows drops it)")
    if len(name) > NAME_MAX_CHARS or len(name.encode()) > NAME_MAX_BYTES:
        raise ValueError(
            f"'{value}' is too long: at most {NAME_MAX_CHARS} characters and "
            f"{NAME_MAX_BYTES} bytes in UTF-8 ({NAME_MAX_BYTES // 3} Chinese characters)"
        )
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        raise ValueError(f"'{value}' is a device name on Windows; choose another")
    return name


def safe_name(text: str) -> str:
    """A readable study name made from any text (a file name, a place).

    Letters and digits of every script are kept (``北京.osm`` gives 北京); each run of
    other characters (spaces, punctuation, path separators) becomes one ``-``. Only when
    nothing readable is left is the name ``study-`` and a short hash of the text, so two
    such texts still differ.

    Parameters
    ----------
    text : str
        The text, e.g. a file's name without its extension.

    Returns
    -------
    str
        A name that :func:`check_name` accepts.
    """
    text = unicodedata.normalize("NFC", text)
    slug = re.sub(r"-+", "-", "".join(c if _is_name_char(c) else "-" for c in text))
    slug = slug.lstrip("-._")[:NAME_MAX_CHARS]
    while len(slug) > NAME_MAX_CHARS or len(slug.encode()) > NAME_MAX_BYTES:
        slug = slug[:-1]
    slug = slug.rstrip("-.")
    try:
        return check_name(slug)
    except ValueError:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        return f"study-{digest}"


class SourceSettings(_Model):
    """Where the OpenStreetMap data comes from: exactly one of a file, a place, or a bbox."""

    osm: Path | None = Field(None, description="local .osm / .osm.pbf / .osm.bz2 / .osm.gz file")
    place: str | None = Field(None, description="place name geocoded by osmnx (online)")
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="west, south, east, north in WGS-84 degrees (online)"
    )
    polygon: Path | None = Field(None, description="boundary polygon file to download (online)")

    @model_validator(mode="after")
    def _one_source(self) -> SourceSettings:
        given = [k for k in ("osm", "place", "bbox", "polygon") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of osm, place, bbox, polygon (got {', '.join(given)})")
        if self.bbox is not None:
            w, s, e, n = self.bbox
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise ValueError(
                    "bbox must be [west, south, east, north] with west<east, south<north"
                )
        return self

    @property
    def is_online(self) -> bool:
        """Whether the data is downloaded (a place, a bbox or a polygon), not read from a file."""
        return self.osm is None


class ThresholdSettings(_Model):
    """Walking thresholds, as distances or as minutes at a walking speed."""

    distances_m: list[float] | None = None
    minutes: list[float] | None = None
    speed_kmh: float = Field(4.0, gt=0, le=10)

    @model_validator(mode="after")
    def _check(self) -> ThresholdSettings:
        if self.distances_m is not None and self.minutes is not None:
            raise ValueError("give thresholds as distances_m or as minutes, not both")
        values = self.minutes if self.minutes is not None else self.distances_m
        if values is not None:
            if not values:
                raise ValueError("thresholds must not be empty")
            if any(not (math.isfinite(v) and v > 0) for v in values):
                raise ValueError("thresholds must be positive numbers")
            if len(set(values)) != len(values):
                raise ValueError("thresholds must be distinct")
            if len(values) > MAX_THRESHOLDS:
                raise ValueError(
                    f"{len(values)} thresholds: at most {MAX_THRESHOLDS} (each adds a column "
                    "per category and a walking area per cluster); split the study in runs"
                )
            longest = max(self.resolve())
            if longest > MAX_THRESHOLD_M:
                unit = (
                    ""
                    if self.minutes is None
                    else f" ({max(values):g} min at {self.speed_kmh:g} km/h)"
                )
                raise ValueError(
                    f"{longest:g} m{unit} is not a walk: thresholds go up to {MAX_THRESHOLD_M:g} m"
                )
        return self

    def resolve(self) -> list[float]:
        """The thresholds in metres.

        Returns
        -------
        list of float
            Ascending; minutes are converted at ``speed_kmh`` (rounded to 0.1 m), and with
            neither given GB 50180-2018's 300, 500 and 1000 m apply.
        """
        if self.minutes is not None:
            per_min = self.speed_kmh * 1000.0 / 60.0
            return sorted(round(m * per_min, 1) for m in self.minutes)
        return sorted(float(d) for d in (self.distances_m or DEFAULT_THRESHOLDS_M))


def _check_crs(v: str) -> str:
    from circles.sources.coords import normalize_crs

    return normalize_crs(v)


class PoiColumns(_Model):
    """Which column of a POI table holds what; unset roles are looked up by common names
    (AMap's export columns, Baidu's, and Chinese headers such as 名称, 经度, 纬度)."""

    name: str | None = None
    category: str | None = Field(None, description="a circles category key or its 中文 label")
    typecode: str | None = Field(None, description="AMap type code(s), 6 digits, '|'-separated")
    type: str | None = Field(None, description="type text: AMap 'a;b;c' or Baidu '医疗;药店'")
    location: str | None = Field(None, description="'lng,lat' in one column (AMap)")
    lng: str | None = None
    lat: str | None = None
    id: str | None = None
    wkt: str | None = Field(None, description="a WKT geometry column (instead of lng/lat)")


class ResidenceColumns(_Model):
    """Which column of a 小区 table holds what (unset: looked up by common names)."""

    name: str | None = None
    households: str | None = Field(None, description="户数: dwellings")
    population: str | None = Field(None, description="人口: residents")
    location: str | None = None
    lng: str | None = None
    lat: str | None = None
    id: str | None = None
    wkt: str | None = None


class _TableFormat(_Model):
    """How a table of your own is read: its coordinate system, text encoding and sheet."""

    crs: str = Field(
        "wgs84", description="wgs84 | gcj02 (AMap, Tencent) | bd09 (Baidu) | EPSG:<code>"
    )
    encoding: str | None = Field(None, description="CSV text encoding; default: detected")
    sheet: str | None = Field(None, description="XLSX sheet; default: the first")

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, v: str) -> str:
        return _check_crs(v)


class PoiTable(_TableFormat):
    """A POI table of your own: CSV, XLSX, GeoJSON, GeoPackage or Shapefile."""

    file: Path
    columns: PoiColumns = Field(default_factory=PoiColumns)


class ResidenceSettings(_TableFormat):
    """How residence clusters are formed, and how their population is estimated; with
    ``file``, they are the 小区 of a table of your own (read with crs/encoding/sheet)."""

    method: Literal["auto", "landuse", "buildings", "grid"] = "auto"
    building_cluster_m: float = Field(50.0, gt=0, description="join buildings closer than this")
    grid_spacing_m: float = Field(250.0, gt=0)
    dwelling_m2: float = Field(
        90.0, gt=0, description="gross floor area per dwelling (m2), for dwelling estimates"
    )
    persons_per_dwelling: float = Field(2.62, gt=0, description="China 2020 census: 2.62")
    default_levels: float = Field(6.0, gt=0, description="storeys when a building has no tag")
    default_far: float = Field(
        1.5, gt=0, description="plot ratio (容积率) for a 小区 polygon without mapped buildings"
    )
    grid_persons_per_ha: float = Field(
        100.0, ge=0, description="density assumed for grid cells, persons per hectare"
    )
    file: Path | None = Field(
        None, description="a table of 小区 (points or polygons): the clusters come from it"
    )
    columns: ResidenceColumns = Field(default_factory=ResidenceColumns)


class PopulationColumns(_Model):
    """Which column of a population table holds what (unset: looked up by common names)."""

    name: str | None = Field(None, description="the unit's (社区) or 小区's name")
    population: str | None = Field(None, description="常住人口: residents")
    elderly: str | None = Field(None, description="60岁以上人口: residents aged 60 and over")
    wkt: str | None = Field(None, description="a WKT polygon of the unit")


class PopulationSettings(_TableFormat):
    """Residents counted elsewhere: a raster (GeoTIFF such as WorldPop or GHS-POP) summed
    over each cluster, or a table of residents per unit (社区 polygons: spread over the
    residential buildings by floor area) or per 小区 (matched by name). ``crs`` is a
    table's, or a raster's that has none of its own."""

    file: Path | None = Field(None, description="a population raster (GeoTIFF) or table")
    columns: PopulationColumns = Field(default_factory=PopulationColumns)
    level: Literal["auto", "unit", "residence"] = Field(
        "auto",
        description="auto: rows with a polygon are units, the others 小区 by name; unit: "
        "every row is a unit; residence: every row is a 小区",
    )


class GateColumns(_Model):
    """Which column of a gate table holds what (unset: looked up by common names)."""

    name: str | None = Field(None, description="the gate's name (北门)")
    residence: str | None = Field(None, description="the 小区 it belongs to (AMap's AOI name)")
    location: str | None = None
    lng: str | None = None
    lat: str | None = None
    id: str | None = None
    wkt: str | None = None


class GateSettings(_TableFormat):
    """The gates (出入口) of gated 小区: a walled compound's walk starts at its gates.

    Gates are OSM entrance=* / barrier=gate nodes near a compound's boundary, the rows of
    a gate table (AMap AOI entrances; ``crs`` is the table's), else the points where
    walkable ways cross the boundary (see :mod:`circles.gates`)."""

    rule: Literal["auto", "off"] = Field(
        "auto", description="auto: walk from the gates when the data has them; off: never"
    )
    file: Path | None = Field(None, description="a gate table (CSV, XLSX, GeoJSON ...)")
    columns: GateColumns = Field(default_factory=GateColumns)
    max_distance_m: float = Field(
        30.0, gt=0, le=500, description="a gate farther from every 小区 boundary is not used"
    )


_OSM_UNITS = re.compile(r"osm\s*:\s*admin_level\s*=\s*(\d+)", re.IGNORECASE)


class UnitSettings(_TableFormat):
    """Units to report by: 社区 (community) or 街道 (sub-district) boundaries, from a file
    (GeoJSON, GeoPackage, Shapefile, or CSV/XLSX with a WKT column; ``crs`` is its
    coordinates') or the OSM file's own administrative boundaries (``osm_admin_level``;
    ``file: osm:admin_level=8`` says the same). See :mod:`circles.units`."""

    file: Path | None = Field(
        None, description="a file of unit polygons, or osm:admin_level=N for the OSM file's"
    )
    name_column: str | None = Field(
        None, description="the column of the units' names; default: name, 名称, 社区 …"
    )
    level: str | None = Field(
        None, description="what the units are (社区, 街道); default: 社区 for a file"
    )
    osm_admin_level: int | None = Field(
        None, ge=1, le=12, description="boundary=administrative relations of this admin_level"
    )

    @model_validator(mode="before")
    @classmethod
    def _osm_text(cls, data: object) -> object:
        """``units: osm:admin_level=8`` or ``file: osm:admin_level=8`` (the CLI's form)."""
        if isinstance(data, str | Path):
            data = {"file": data}
        if not isinstance(data, dict) or not isinstance(data.get("file"), str):
            return data
        text = data["file"].strip()
        if not text.lower().startswith("osm:"):
            return data
        m = _OSM_UNITS.fullmatch(text)
        if m is None:
            raise ValueError(
                f"'{text}': give osm:admin_level=N, e.g. osm:admin_level=8 (the OSM file's "
                "boundary=administrative relations of that level)"
            )
        return {**data, "file": None, "osm_admin_level": int(m.group(1))}

    @model_validator(mode="after")
    def _one_source(self) -> UnitSettings:
        if self.file is not None and self.osm_admin_level is not None:
            raise ValueError("give units as a file or as osm_admin_level, not both")
        return self

    @property
    def given(self) -> bool:
        """Whether the study reports by units (a file or OSM boundaries)."""
        return self.file is not None or self.osm_admin_level is not None


class WalkingSettings(_Model):
    """How residents walk (see :mod:`circles.walking`): a speed profile per category for
    thresholds in minutes (adult, elderly, parent_child; the defaults and their sources
    are in data/walking_speeds.yaml), the time steps take, and slopes from a DEM."""

    profiles: dict[str, str] = Field(
        default_factory=dict,
        description="category key -> profile (adult, elderly, parent_child), over the "
        "defaults (elder care: elderly; kindergarten, nursery, primary school: parent_child)",
    )
    steps: bool = Field(True, description="steps (highway=steps) take longer than a flat walk")
    dem: Path | None = Field(
        None, description="a GeoTIFF elevation model: slopes by Tobler's hiking function"
    )

    @field_validator("profiles")
    @classmethod
    def _known_profiles(cls, v: dict[str, str]) -> dict[str, str]:
        from circles.services import load_catalogue
        from circles.walking import load_speeds

        known = load_speeds().profiles
        for key, profile in v.items():
            if key not in load_catalogue():
                raise ValueError(f"unknown category '{key}'; see `circles categories`")
            if profile not in known:
                raise ValueError(
                    f"{key}: unknown profile '{profile}'; profiles: {', '.join(known)}"
                )
        return v


class SnapSettings(_Model):
    """How far a point may lie from the walking network and still be used."""

    max_distance_m: float = Field(300.0, gt=0, description="points farther are not used")


class DecaySettings(_Model):
    """Distance decay for the gravity-style score: exp(-beta d) or 1 - d/max_m."""

    kind: Literal["exponential", "linear"] = "exponential"
    beta: float = Field(0.002, gt=0, description="per metre, for exponential decay")
    max_m: float | None = Field(None, gt=0, description="linear decay: zero at; default largest")


class ReachSettings(_Model):
    """What the engine measures, and from where."""

    origins: Literal["clusters", "nodes", "grid"] = Field(
        "clusters", description="residence clusters, every network node, or grid points"
    )
    grid_spacing_m: float = Field(100.0, gt=0, description="spacing of grid origins")
    k_nearest: int = Field(1, ge=1, le=20, description="distances to the k nearest per category")
    from_homes: bool = Field(
        True,
        description="also walk from every home (each residential building, or cells of a "
        "large cluster): the share of residents reached, <category>_<t>m_share",
    )
    decay: DecaySettings | None = None


class IsochroneSettings(_Model):
    """How isochrones are drawn: faithful to the streets, or as hulls for comparison."""

    method: Literal["network", "convex", "concave"] = Field(
        "network", description="network: faithful to the streets; convex/concave: hulls"
    )
    buffer_m: float = Field(25.0, gt=0, description="street frontage depth")
    concave_ratio: float = Field(0.3, gt=0, le=1, description="shapely concave_hull ratio")


class MapSettings(_Model):
    """map.html: the basemap shown first, and whether Leaflet is embedded (no CDN needed)."""

    basemap: Literal["osm", "light", "none"] = Field(
        "osm", description="osm | light | none (a blank background for offline use)"
    )
    self_contained: bool = Field(False, description="embed Leaflet so the page needs no CDN")


class LimitSettings(_Model):
    """How large a run may grow before it is refused: a 1 m grid over a city would fill
    the memory minutes later (see docs/guide/config.md, "Size limits")."""

    max_memory_gb: float = Field(
        4.0, gt=0, description="refuse a run whose estimated peak memory is larger"
    )
    max_walking_areas: int = Field(
        100_000, ge=1, description="refuse a run that would draw more (clusters x thresholds)"
    )
    force: bool = Field(False, description="run even beyond these limits (--force)")


class Study(_Model):
    """One study: an area, its data sources and the settings of the analysis."""

    name: str = "study"
    title: str | None = None
    source: SourceSettings = Field(default_factory=SourceSettings)
    boundary: Path | None = Field(None, description="GeoJSON polygon that clips the study")
    categories: list[str] | None = Field(None, description="category keys; default: all")
    thresholds: ThresholdSettings = Field(default_factory=ThresholdSettings)
    residences: ResidenceSettings = Field(default_factory=ResidenceSettings)
    population: PopulationSettings = Field(default_factory=PopulationSettings)
    gates: GateSettings = Field(default_factory=GateSettings)
    walking: WalkingSettings = Field(default_factory=WalkingSettings)
    snap: SnapSettings = Field(default_factory=SnapSettings)
    isochrones: IsochroneSettings = Field(default_factory=IsochroneSettings)
    reach: ReachSettings = Field(default_factory=ReachSettings)
    map: MapSettings = Field(default_factory=MapSettings)
    pois: list[PoiTable] = Field(
        default_factory=list, description="POI tables of your own (AMap, Baidu, a survey)"
    )
    pois_mode: Literal["merge", "replace"] = Field(
        "merge", description="merge: OSM plus the tables (duplicates once); replace: tables only"
    )
    standard: str | None = Field(
        "gb50180-2018",
        description="standard to score against: a built-in name (circles standards list), "
        "the path of a standard .yaml, or null for no scoring",
    )
    self_assessment: Path | None = Field(
        None,
        description="a filled self-assessment form (circles standards form): the items maps "
        "cannot measure, answered per unit (needs units)",
    )
    output_dir: Path = Path("outputs")
    scenario: str | None = Field(
        None,
        description="names a variant of the study (new-pharmacy): its default output "
        "folder is <output_dir>/<name>--<scenario>",
    )
    remove_pois: Path | None = Field(
        None,
        description="a file of services to close: OSM ids (node/123, way/45, or osm_type "
        "and osm_id columns) or rows of the pois tables (pois[0]:17)",
    )
    limits: LimitSettings = Field(default_factory=LimitSettings)
    units: UnitSettings = Field(
        default_factory=UnitSettings,
        description="社区/街道 boundaries: indicators, dossiers and shortfalls per unit",
    )

    @field_validator("name", "scenario")
    @classmethod
    def _folder_name(cls, v: str | None) -> str | None:
        return None if v is None else check_name(v)

    @field_validator("standard")
    @classmethod
    def _known_standard(cls, v: str | None) -> str | None:
        from circles.standards import builtin_names, is_path_like

        if v is None or is_path_like(v) or v in builtin_names():
            return v
        raise ValueError(
            f"unknown standard '{v}'; built-in: {', '.join(builtin_names())} "
            "(or give the path of a .yaml file)"
        )

    @model_validator(mode="after")
    def _profiles_need_minutes(self) -> Study:
        if self.walking.profiles and self.thresholds.minutes is None:
            raise ValueError(
                "walking.profiles set walking speeds, which apply to thresholds in minutes "
                "(thresholds.minutes); the thresholds are distances, the same for everyone"
            )
        return self

    @model_validator(mode="after")
    def _units_need_a_standard(self) -> Study:
        if self.units.given and self.standard is None:
            raise ValueError(
                "units (--units) are scored against a standard: give one (--standard "
                "complete-community-2020), or leave units out"
            )
        return self

    @model_validator(mode="after")
    def _self_assessment_needs_units(self) -> Study:
        if self.self_assessment is not None and not self.units.given:
            raise ValueError(
                "a self-assessment form (--self-assessment) is answered per unit: give the "
                "units too (--units FILE or osm:admin_level=N)"
            )
        return self

    @model_validator(mode="after")
    def _replace_needs_tables(self) -> Study:
        if self.pois_mode == "replace" and not self.pois:
            raise ValueError("pois_mode: replace needs at least one table under pois")
        return self

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        from circles.services import load_catalogue

        known = load_catalogue()
        unknown = [c for c in v if c not in known]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {', '.join(known)}")
        return v

    @property
    def distances_m(self) -> list[float]:
        """The thresholds in metres, ascending (see :meth:`ThresholdSettings.resolve`)."""
        return self.thresholds.resolve()

    @property
    def display_title(self) -> str:
        """The title, or the name when there is none."""
        return self.title or self.name

    @property
    def output_folder(self) -> Path:
        """Where a run writes by default.

        Returns
        -------
        pathlib.Path
            ``output_dir/name``, or ``output_dir/name--scenario`` for a scenario, so a
            variant never replaces its base run and sorts beside it.
        """
        if self.scenario:
            return self.output_dir / f"{self.name}--{self.scenario}"
        return self.output_dir / self.name


def _format_validation(err: ValidationError, where: str) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{where}: field '{field}': {msg}{more}"


def _resolve_paths(study: Study, base: Path) -> Study:
    """Make file paths relative to the config file's folder, as a reader expects."""

    def absolute(p: Path) -> Path:
        return p if p.is_absolute() else (base / p).resolve()

    def fix(p: Path | None) -> Path | None:
        return None if p is None else absolute(p)

    study.source.osm = fix(study.source.osm)
    study.source.polygon = fix(study.source.polygon)
    study.boundary = fix(study.boundary)
    study.output_dir = absolute(study.output_dir)
    for table in study.pois:
        table.file = absolute(table.file)
    study.residences.file = fix(study.residences.file)
    study.population.file = fix(study.population.file)
    study.gates.file = fix(study.gates.file)
    study.walking.dem = fix(study.walking.dem)
    study.remove_pois = fix(study.remove_pois)
    study.self_assessment = fix(study.self_assessment)
    study.units.file = fix(study.units.file)
    from circles.standards import is_path_like

    if study.standard is not None and is_path_like(study.standard):
        study.standard = str(fix(Path(study.standard)))
    return study


def load_study(path: str | Path | None = None, **overrides: object) -> Study:
    """Load a study from a YAML file.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The study file; default: the bundled Nanjing Xinjiekou study.
    **overrides : object
        Top-level fields laid over the file's (None values are ignored).

    Returns
    -------
    Study
        Validated; its paths are made absolute, relative to the file's folder.

    Raises
    ------
    ConfigError
        One line: the file is missing, is not YAML, or a field is wrong (named).
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (give the path of a study .yaml)")
    text = read_yaml_text(path, ConfigError)
    try:
        raw = safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{at}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a study config must be a mapping of fields, e.g. 'name: x'")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        study = Study.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_validation(e, str(path))) from None
    return _resolve_paths(study, path.parent)


def study_from_dict(data: dict, base: Path | None = None, where: str = "study") -> Study:
    """Build a study from a mapping (for notebooks and the command line).

    Parameters
    ----------
    data : dict
        The study's fields, as in a study file.
    base : pathlib.Path, optional
        Relative paths are relative to it; default: the working directory.
    where : str
        Names the mapping's origin in error messages (``--max-snap``).

    Returns
    -------
    Study
        Validated, with absolute paths.

    Raises
    ------
    ConfigError
        One line naming the field and what is wrong with it.
    """
    try:
        study = Study.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation(e, where)) from None
    return _resolve_paths(study, base or Path.cwd())
