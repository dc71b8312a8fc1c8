"""The interactive map (map.html): residential areas coloured by how many service categories
are within a 15-minute walk, a layer per service category, blind spots, and the walking
areas of a residential area shown when it is clicked.

**Safety.** OSM names and tags are written by anyone. Every name, tag or label that reaches
the page is escaped with :func:`html.escape` in Python before it is embedded; the browser
code only joins those escaped strings with numbers, never with raw data. Everything embedded
in a script is JSON with ``<``, ``>`` and ``&`` written as ``\\u003c``, ``\\u003e`` and
``\\u0026`` (:func:`safe_json`), so no text can close the ``<script>`` element. folium
compiles a page's text as a Jinja template, so ``{`` is escaped too (a name holding
``{{ ... }}`` would otherwise run as template code), and this module's own text and data
go into the page as :class:`RawText`, which is not compiled.

**Size.** Geometry is simplified in metres for display (the GeoPackage keeps it whole),
rounded to 1e-5 degrees (about 1 m) and delta-encoded as integers; popups and tooltips are
built in the browser from numbers and the escaped labels, which are embedded once. Services
are columns per category, each distinct name stored once (:func:`_service_data`). A Malta
run (about 900 areas, 2,700 walking areas, 2,800 services) makes a page of about 7 MB (see
``benchmarks/RESULTS.md``); 200,000 services from a POI table add about 10 MB (they made
70 MB before), and ``tests/test_map_size.py`` keeps such a page under 15 MB.

**Many services.** A category of more than :data:`DENSE_POINTS` services is drawn on a
canvas, one per map tile (``L.CirclesPoints`` in ``static/map.js``): nearby services are one
ring with their count, coloured by category, until zoom 17, where each is a dot; a click on
a ring zooms in, a click on a dot opens its popup. Thousands of vector markers would make
the page slow to pan, on a phone above all.

**Phones.** On a screen up to 700 px wide the layer control, the legend and the title's
details start closed (a tap opens them), tooltips are left out where nothing hovers, and
popups are sized to the screen, clear of the panels, scrolling inside it.

**Assets.** Only Leaflet is needed (no jQuery, Bootstrap or icon fonts). By default the page
loads it from the jsDelivr CDN, as folium does; ``self_contained=True`` embeds it instead,
read from the ``xstatic-leaflet`` package (PyPI), so the page opens on an intranet without a
CDN. The full-screen control is a few lines of our own code. The page's own code and style
are package files read when a map is built: ``static/map.js``, ``static/layers.js.jinja``
(filled in by folium) and ``static/map.css``. Colours are in :mod:`circles.outputs.colours`,
the colour classes and grades of residential areas in :mod:`circles.outputs.grades`.

**Basemaps.** OpenStreetMap, a light basemap and none (a blank background that requests
nothing: with ``self_contained`` the page then makes no network request at all). The data
is WGS-84, so GCJ-02 tiles (AMap/Gaode, Tencent) are deliberately not offered: WGS-84 shapes
drawn on them would be shifted by hundreds of metres in China.
"""

from __future__ import annotations

import base64
import re
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import folium
import numpy as np
import pandas as pd
import pyproj
import shapely
from branca.element import Element, Figure, MacroElement
from folium.template import Template
from geopandas import GeoDataFrame

from circles.outputs import columns
from circles.outputs.colours import BLIND, category_colors, isochrone_colors
from circles.outputs.embed import escape_many, safe_json
from circles.outputs.embed import escape_text as _e
from circles.outputs.files import WGS84
from circles.outputs.grades import (
    CLASSES,
    UNUSED,
    class_index,
    cluster_grades,
    grade_classes,
    grade_meaning,
    scored_level,
)
from circles.result import StudyResult
from circles.settings import OSM_ATTRIBUTION, OSM_COPYRIGHT_URL
from circles.values import as_number

SIMPLIFY_M = 2.0  # residential areas; display only: the GeoPackage keeps the full geometry
ISO_SIMPLIFY_M = 5.0  # walking areas: 25 m wide street buffers, 5 m is invisible on screen
SCALE = 100_000  # coordinates are integers of 1e-5 degrees (about 1.1 m)
DECIMALS = 5
OSM_URL = "https://www.openstreetmap.org"
OSM_TYPES = frozenset({"node", "way", "relation"})
BASEMAPS: tuple[str, ...] = ("osm", "light", "none")
# A category with more services than this is drawn as clusters on a canvas (map.js,
# CirclesPoints) rather than as one vector marker each, which a phone cannot pan with.
DENSE_POINTS = 1_000
_SAFE_INT = 2**53  # larger ids lose digits as a browser's numbers: no OSM link for them

LEAFLET_VERSION = "1.9.3"  # folium's version, and the xstatic-leaflet package's
LEAFLET_JS_URL = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist/leaflet.js"
LEAFLET_CSS_URL = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist/leaflet.css"

# A transparent 1x1 PNG: the "no basemap" choice requests nothing from the network.
_BLANK_TILE = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
_OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTR = f'<a href="{OSM_COPYRIGHT_URL}">{escape(OSM_ATTRIBUTION)}</a>'
_CARTO_URL = "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png?key="
_CARTO_ATTR = f'{_OSM_ATTR} &copy; <a href="https://carto.com/attributions">CARTO</a>'


def static_text(name: str) -> str:
    """A file of the page from ``static/`` (``map.js``, ...), read when a map is built.

    Parameters
    ----------
    name : str
        The file's name in ``circles/outputs/static/`` (``map.js``, ``map.css``, ...).

    Returns
    -------
    str
        The file's text.
    """
    return resources.files("circles.outputs").joinpath("static", name).read_text(encoding="utf-8")


def whole_number(value: Any) -> int | None:
    """A finite number rounded to a whole number for the page's data, or None.

    Parameters
    ----------
    value : Any
        A number, or anything :func:`circles.values.as_number` reads as one.

    Returns
    -------
    int or None
        The number rounded to a whole number; None if it is missing or not finite.
    """
    v = as_number(value, 0)
    return None if v is None else int(v)


# ---------------------------------------------------------------------------------------
# Geometry for the browser
# ---------------------------------------------------------------------------------------


def simplified_wgs84(frame: GeoDataFrame, crs: Any, simplify_m: float) -> np.ndarray:
    """Geometries simplified in metres, then in WGS-84 (an array of shapely geometries).

    Unlike :func:`circles.outputs.files.to_wgs84`, which gives a frame, this gives only
    the geometries, ready to encode for the page.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        The features to draw.
    crs : Any
        The CRS of ``frame``'s geometries if they have none (the study's metric CRS).
    simplify_m : float
        Tolerance in metres to simplify by before reprojecting; 0 (or a geographic
        CRS) leaves the geometries as they are.

    Returns
    -------
    numpy.ndarray
        The shapely geometries in WGS-84, in ``frame``'s order.
    """
    geoms = frame.geometry
    if geoms.crs is None:
        geoms = geoms.set_crs(crs)
    if not geoms.crs.is_geographic and simplify_m > 0:
        geoms = geoms.simplify(simplify_m, preserve_topology=True)
    return np.asarray(geoms.to_crs(WGS84).array)


def _encode_ring(coords: np.ndarray) -> list[int] | None:
    """A ring as ``[x0, y0, dx1, dy1, ...]`` in 1e-5 degrees, closing point dropped."""
    c = np.round(coords[:, :2] * SCALE).astype(np.int64)
    if len(c) > 1 and (c[0] == c[-1]).all():
        c = c[:-1]
    if len(c) == 0:
        return None
    d = np.diff(c, axis=0)
    keep = np.concatenate([[True], (d != 0).any(axis=1)])  # drop repeats after rounding
    c = c[keep]
    if len(c) < 3:
        return None
    d = np.vstack([c[:1], np.diff(c, axis=0)])
    return d.ravel().tolist()


def encode_polygons(geom: Any) -> list[list[list[int]]] | None:
    """A (multi)polygon as a list of polygons, each a list of delta-encoded rings.

    The browser decodes it with ``circlesDecode`` (``static/map.js``).

    Parameters
    ----------
    geom : shapely geometry or None
        A Polygon or MultiPolygon in WGS-84.

    Returns
    -------
    list or None
        Per polygon, its outer ring then its holes, each ``[x0, y0, dx1, dy1, ...]`` in
        integers of 1e-5 degrees; None for other geometry types and for empty or
        degenerate polygons.
    """
    if geom is None or geom.is_empty:
        return None
    out = []
    for part in shapely.get_parts(geom):
        if part.geom_type != "Polygon" or part.is_empty:
            continue
        outer = _encode_ring(np.asarray(part.exterior.coords))
        if outer is None:
            continue
        rings = [outer]
        for hole in part.interiors:
            r = _encode_ring(np.asarray(hole.coords))
            if r is not None:
                rings.append(r)
        out.append(rings)
    return out or None


def encode_point(geom: Any) -> list[int] | None:
    """A point of the page's data: ``[x, y]`` in whole units of 1e-5 degrees.

    Parameters
    ----------
    geom : Any
        A shapely geometry in WGS-84, or None; a geometry that is not a point is drawn
        at its representative point.

    Returns
    -------
    list of int or None
        ``[x, y]`` (longitude and latitude times :data:`SCALE`, rounded); None for a
        missing or empty geometry.
    """
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type != "Point":
        geom = geom.representative_point()
    return [int(round(geom.x * SCALE)), int(round(geom.y * SCALE))]


# ---------------------------------------------------------------------------------------
# Data embedded in the page
# ---------------------------------------------------------------------------------------


def _osm_refs(services: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per service, the OSM type letter (``n``, ``w``, ``r``; ``-`` for none) and id (0 none).

    Only positive ids of nodes, ways and relations link to openstreetmap.org (a POI table's
    rows and JOSM's new objects do not), and only ids a browser's numbers hold exactly.
    """
    n = len(services)
    letters = np.full(n, "-")
    if "osm_type" not in services or "osm_id" not in services:
        return letters, np.zeros(n, dtype=np.int64)
    kinds = services["osm_type"].astype(object).to_numpy()
    ids = pd.to_numeric(services["osm_id"], errors="coerce").to_numpy(dtype=float)
    whole = np.isfinite(ids) & (ids > 0) & (ids <= _SAFE_INT)
    whole &= ids == np.floor(np.where(whole, ids, 0))
    for kind in OSM_TYPES:
        letters[whole & (kinds == kind)] = kind[0]
    return letters, np.where(letters != "-", ids, 0).astype(np.int64)


def _lonlat(services: GeoDataFrame, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Where each service is drawn: longitudes and latitudes (NaN without a geometry).

    A service that is not a point (an area from a table) is drawn at a point inside it.
    Reprojects the coordinates alone, which is many times faster than the geometries.
    """
    geoms = np.asarray(services.geometry.array)
    shown = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    lon = np.full(len(geoms), np.nan)
    lat = np.full(len(geoms), np.nan)
    if not shown.any():
        return lon, lat
    points = geoms[shown]
    areas = shapely.get_type_id(points) != 0
    points[areas] = shapely.point_on_surface(points[areas])
    xy = shapely.get_coordinates(points)
    source = pyproj.CRS.from_user_input(services.crs or crs)
    if source.is_geographic and source.equals(pyproj.CRS.from_user_input(WGS84)):
        lon[shown], lat[shown] = xy[:, 0], xy[:, 1]
    else:
        to_wgs = pyproj.Transformer.from_crs(source, WGS84, always_xy=True)
        lon[shown], lat[shown] = to_wgs.transform(xy[:, 0], xy[:, 1])
    return lon, lat


def _delta(values: np.ndarray) -> list[int]:
    """Integers as their first value, then differences (small numbers, short JSON)."""
    return np.diff(values, prepend=0).tolist() if len(values) else []


def _service_data(result: StudyResult) -> dict[str, Any]:
    """The services of each category in columns, names stored once (see the module docstring).

    ``names`` holds each distinct name once (escaped; ``""`` for unnamed services);
    ``cats`` one record per category of ``result.categories``, in its order: ``x`` and
    ``y`` delta-encoded integers of 1e-5 degrees, in bands of 0.001 degrees of latitude
    (so the differences are small), ``n`` the index of each service's name, ``u`` the
    services not counted (too far from a walkable street) with their distances ``s`` in
    metres, ``t`` (a letter per service: ``n``, ``w``, ``r`` or ``-``) and ``o`` the OSM
    ids (0 for none) when any service links to OpenStreetMap, and ``dense`` 1 for a
    category of more than :data:`DENSE_POINTS` services, drawn in clusters on a canvas.
    """
    services = result.services
    assert services is not None  # the map is drawn only by a full run, which has services
    keys = list(result.categories)
    empty: dict[str, Any] = {"x": [], "y": [], "n": [], "u": [], "s": []}
    if len(services) == 0 or "category" not in services:
        return {"names": [], "cats": [dict(empty) for _ in keys]}
    lon, lat = _lonlat(services, result.network.crs)
    cats = services["category"].astype(str).to_numpy()
    present = np.isfinite(lon) & np.isfinite(lat) & np.isin(cats, keys)
    xy = np.zeros((len(services), 2), dtype=np.int64)
    xy[present, 0] = np.round(lon[present] * SCALE)
    xy[present, 1] = np.round(lat[present] * SCALE)
    used = columns.used_mask(services).to_numpy()
    snap_m = np.full(len(services), np.nan)
    if "snap_m" in services:
        snap_m = pd.to_numeric(services["snap_m"], errors="coerce").to_numpy(dtype=float)
    letters, ids = _osm_refs(services)
    names = services["name"] if "name" in services else pd.Series("", index=services.index)
    text = names.astype(object).where(names.notna(), "").astype(str).str.strip()
    codes, uniques = pd.factorize(text.to_numpy(dtype=object))
    out = []
    for key in keys:
        idx = np.flatnonzero(present & (cats == key))
        band = xy[idx, 1] // 100
        order = np.lexsort((np.where(band % 2 == 0, xy[idx, 0], -xy[idx, 0]), band))
        idx = idx[order]  # a row of 0.001 degrees at a time, back and forth
        not_used = np.flatnonzero(~used[idx])
        rec: dict[str, Any] = {
            "x": _delta(xy[idx, 0]),
            "y": _delta(xy[idx, 1]),
            "n": codes[idx].tolist(),
            "u": not_used.tolist(),
            "s": [whole_number(v) for v in snap_m[idx[not_used]]],
        }
        if (ids[idx] > 0).any():
            rec["t"] = "".join(letters[idx].tolist())
            rec["o"] = ids[idx].tolist()
        if len(idx) > DENSE_POINTS:
            rec["dense"] = 1
        out.append(rec)
    return {"names": escape_many(uniques.tolist()), "cats": out}


def _is_true(value: Any) -> bool:
    """A flag cell read as a flag: True, 1, "true", "yes"; missing values are False."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    v = as_number(value)
    return v is not None and v != 0


def _cluster_data(
    result: StudyResult, grades: dict[str, str], classes: dict[str, int] | None = None
) -> list[dict]:
    """One record per cluster: numbers, escaped text and encoded outline.

    ``i`` id (for look-ups only, never shown), ``e`` escaped id, ``n`` escaped name, ``p``
    population, ``u`` joined the walking network, ``s`` snap distance (m), ``k`` colour
    class (-1 when not joined), ``r`` categories reached at the largest threshold, ``m``
    indices of the missing categories, ``c`` counts per category and threshold (null for a
    data gap), ``d`` nearest distance per category (m, null if none reachable), ``gr`` the
    standard's grade (escaped) when scoring provided one, ``pm`` how the population was
    estimated (escaped) and ``pl`` 1 for a low-confidence estimate, when the clusters have
    those columns, ``g`` outline. ``classes``: the
    colour class of scored clusters (:func:`grade_classes`); the others are coloured by the
    share of categories they reach.
    """
    classes = classes or {}
    clusters = result.clusters
    assert clusters is not None  # the map is drawn only by a full run, which has clusters
    if len(clusters) == 0:
        return []
    geoms = simplified_wgs84(clusters, result.network.crs, SIMPLIFY_M)
    used = columns.used_mask(clusters).to_numpy()
    keys = list(result.categories)
    gaps = columns.gap_keys(result)
    out = []
    for i, (_, row) in enumerate(clusters.iterrows()):
        g = encode_polygons(geoms[i])
        if g is None:
            continue
        cid = str(row.get("cluster_id"))
        rec: dict[str, Any] = {
            "i": cid,
            "e": _e(cid),
            "n": _e(row.get("name")),
            "p": whole_number(row.get("population")),
            "u": int(bool(used[i])),
            "s": whole_number(row.get("snap_m")),
            "g": g,
        }
        if used[i]:
            missing = columns.missing_categories(result, row)
            n_avail = len(columns.available_keys(result))
            rec["r"] = n_avail - len(missing)
            rec["k"] = classes.get(cid, class_index(rec["r"], n_avail))
            rec["m"] = [keys.index(k) for k in missing]
            rec["c"] = [
                None
                if k in gaps
                else [
                    max(columns.count_value(row, columns.count_column(k, t)), 0)
                    for t in result.thresholds
                ]
                for k in keys
            ]
            rec["d"] = [
                None if k in gaps else whole_number(row.get(columns.nearest_column(k)))
                for k in keys
            ]
        else:
            rec["k"] = -1
        if cid in grades:
            rec["gr"] = grades[cid]
        method = _e(row.get("population_method"))
        if method:
            rec["pm"] = method
        if _is_true(row.get("population_low")):
            rec["pl"] = 1
        out.append(rec)
    return out


def _isochrone_data(result: StudyResult, colors: dict[float, str]) -> dict[str, list[dict]]:
    """Walking areas by cluster id, largest first: ``{"t": metres, "c": colour, "g": …}``."""
    iso = result.isochrones
    assert iso is not None  # a full run (not tables-only) always draws isochrones
    if len(iso) == 0:
        return {}
    geoms = simplified_wgs84(iso, result.network.crs, ISO_SIMPLIFY_M)
    out: dict[str, list[dict]] = {}
    order = np.argsort(-iso["threshold_m"].astype(float).to_numpy(), kind="stable")
    for i in order:
        g = encode_polygons(geoms[i])
        if g is None:
            continue
        t = float(iso["threshold_m"].iloc[i])
        cid = str(iso["cluster_id"].iloc[i])
        out.setdefault(cid, []).append({"t": t, "c": colors.get(t, "#3182bd"), "g": g})
    return out


def _meta(result: StudyResult, iso_colors: list[str], cat_colors: dict[str, str]) -> dict:
    """Labels (escaped) and colours the browser needs to draw and to write popups."""
    top = columns.largest(result)
    gaps = columns.gap_keys(result)
    snap = (result.summary.get("snap") or {}).get("max_distance_m")
    return {
        "cats": [
            {"l": _e(c.label), "z": _e(c.zh), "c": cat_colors[k], "gap": int(k in gaps)}
            for k, c in result.categories.items()
        ],
        "thr": [
            {"z": _e(columns.label_zh(t)), "e": _e(columns.label_en(t)), "c": iso_colors[n]}
            for n, t in enumerate(result.thresholds)
        ],
        "top": {"z": _e(columns.label_zh(top)), "e": _e(columns.label_en(top))},
        "avail": len(columns.available_keys(result)),
        "classes": [c[1] for c in CLASSES],
        "unused": UNUSED[0],
        "blind": BLIND,
        "snap": _e(f"{float(snap):g} m") if snap is not None else "",
    }


# ---------------------------------------------------------------------------------------
# Browser code
# ---------------------------------------------------------------------------------------


class RawText(Element):
    """Text put in the page as it is.

    folium's ``Element`` compiles its text as a Jinja template, and folium's macro elements
    compile their output again: an OSM name holding ``{{ ... }}`` would run as template
    code, and compiling megabytes of data takes seconds. Text escaped with
    :func:`circles.outputs.embed.escape_text` or :func:`safe_json` is inert even there;
    this element skips the compiling altogether.

    Parameters
    ----------
    text : str
        The HTML, script or style to put in the page.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "RawText"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """The text, as it is.

        Parameters
        ----------
        **kwargs : Any
            Ignored (folium passes its rendering options).

        Returns
        -------
        str
            The text given.
        """
        return self.text


class _Layers(MacroElement):
    """Draws every layer from the embedded data into the folium groups of the layer control.

    The browser code is in ``static/``: ``map.js`` (decoding, tooltips, popups, the
    full-screen control) and ``layers.js.jinja`` (the layers, filled in by folium).
    """

    def __init__(
        self,
        meta: dict,
        isochrones: dict,
        clusters: list,
        services: dict,
        clusters_group: str,
        blind_group: str,
        cat_groups: list[str],
        control: str,
    ) -> None:
        super().__init__()
        self._name = "CirclesLayers"
        self._template = Template(static_text("layers.js.jinja"))
        self.code = static_text("map.js")
        self.meta_js = safe_json(meta)
        self.iso_js = safe_json(isochrones)
        self.clusters_js = safe_json(clusters)
        self.services_js = safe_json(services)
        self.clusters_group = clusters_group
        self.blind_group = blind_group
        self.cat_groups = ", ".join(cat_groups)
        self.control = control

    def render(self, **kwargs: Any) -> str:
        """Add the code and the layers' script to the page (as MacroElement, not compiled).

        Parameters
        ----------
        **kwargs : Any
            folium's rendering options, passed to the template's macros.

        Returns
        -------
        str
            Nothing to put where the element stands (``""``): it writes into the page's
            header and script.
        """
        figure = self.get_root()
        assert isinstance(figure, Figure)
        module = self._template.module
        figure.header.add_child(RawText(module.header(self, kwargs)), name=self.get_name())
        figure.script.add_child(RawText(module.script(self, kwargs)), name=self.get_name())
        return ""


# ---------------------------------------------------------------------------------------
# Panels
# ---------------------------------------------------------------------------------------


def _grade_legend(result: StudyResult, grades: dict[str, str]) -> str:
    """A legend line for grades given as a plain column (not a circles.scoring score)."""
    if not grades:
        return ""
    counts: dict[str, int] = {}
    for g in grades.values():
        counts[g] = counts.get(g, 0) + 1
    shown = "、".join(f"{g} ({c})" for g, c in sorted(counts.items()))
    head = "标准等级（小区数）Grades by the standard (areas)"
    return f"<div class='cc-note'>{head}: {shown}</div>"


def _standard_text(result: StudyResult) -> str:
    """Escaped name of the standard the map follows."""
    std = result.summary.get("standard")
    scoring = result.summary.get("scoring")
    if not std and isinstance(scoring, dict):
        title = scoring.get("title")
        if isinstance(title, dict):
            title = " ".join(str(v) for v in (title.get("zh"), title.get("en")) if v)
        source = scoring.get("source")
        number = source.get("number") if isinstance(source, dict) else None
        std = " ".join(str(v) for v in (number, title) if v) or scoring.get("standard")
    if isinstance(std, dict):
        std = std.get("title") or std.get("name") or std.get("label") or std.get("key")
    if std:
        return _e(std)
    dists = sorted(float(t.distance_m) for t in result.thresholds)
    shown = "/".join(f"{d:g}" for d in dists)
    if dists == [300.0, 500.0, 1000.0]:
        return (
            "GB 50180-2018《城市居住区规划设计标准》5/10/15分钟生活圈 · "
            f"5/10/15-minute walks ({shown} m)"
        )
    return f"自定义步行距离 Custom walking distances: {_e(shown)} m"


def _source_text(result: StudyResult) -> str:
    source = str(result.summary.get("source", "") or "")
    if ("/" in source or "\\" in source) and "://" not in source:
        source = source.replace("\\", "/").rsplit("/", 1)[-1]  # a local file: its name only
    return _e(source)


def _title_panel(result: StudyResult) -> str:
    summary = result.summary
    title = _e(summary.get("title") or result.study.display_title)
    generated = _e(summary.get("generated", ""))
    source = _source_text(result)
    meta = [f"标准 Standard: {_standard_text(result)}"]
    if generated:
        meta.append(f"生成日期 Generated: {generated}")
    if source:
        meta.append(f"数据来源 Data source: {source}")
    meta_html = "".join(f"<div class='cc-meta'>{m}</div>" for m in meta)
    # <details>: open on a wide screen; on a phone map.js closes it to the title alone
    return (
        "<details class='cc-panel cc-title' open>"
        f"<summary><h1>{title}</h1></summary>"
        f"{meta_html}"
        "<div class='cc-meta'>地图数据 Map data: "
        f"<a href='{OSM_COPYRIGHT_URL}' target='_blank' rel='noopener'>"
        f"{_e(OSM_ATTRIBUTION)}</a></div>"
        "<div class='cc-meta'>点击小区查看步行范围和服务 · "
        "Click a residential area to see its walking range and services</div>"
        "</details>"
    )


def _legend(
    result: StudyResult, iso_colors: list[str], grades: dict[str, str], clusters: list[dict]
) -> str:
    top = columns.largest(result)
    n = len(columns.available_keys(result))
    per_class = [sum(1 for c in clusters if c.get("k") == i) for i in range(len(CLASSES))]
    scored = scored_level(result)
    if scored is not None:
        std, level = scored
        level_name = " ".join(x for x in (getattr(level, "zh", ""), getattr(level, "en", "")) if x)
        rows = [
            f"<h2>小区颜色：按标准配齐程度评级（{_e(level_name)}）<br>"
            "Colour of an area: its grade by the standard (share of the required facilities "
            f"within reach)</h2>"
        ]
        for i, g in enumerate(getattr(std, "grades", ())[: len(CLASSES)]):
            rows.append(
                f"<div class='cc-row'><span class='cc-swatch' style='background:"
                f"{CLASSES[i][1]}'></span>{_e(g.grade)} {_e(grade_meaning(std, g.grade))}"
                f" ({per_class[i]})</div>"
            )
    else:
        rows = [
            f"<h2>小区颜色：{_e(columns.label_zh(top))}步行能到达几成日常服务（共 {n} 类）<br>"
            f"Colour of an area: the share of the {n} kinds of daily service within "
            f"{_e(columns.label_en(top))} on foot</h2>"
        ]
        for i, (_low, color, zh, en) in enumerate(CLASSES):
            if n == 0 and i > 0:
                continue
            rows.append(
                f"<div class='cc-row'><span class='cc-swatch' style='background:{color}'></span>"
                f"{_e(zh)} · {_e(en)} ({per_class[i]})</div>"
            )
    rows.append(
        f"<div class='cc-row'><span class='cc-swatch' style='background:{UNUSED[0]};"
        f"border-style:dashed'></span>{UNUSED[1]} · {UNUSED[2]}</div>"
    )
    rows.append(
        f"<div class='cc-row'><span class='cc-swatch' style='background:none;"
        f"border:2px dashed {BLIND}'></span>服务盲区（缺少至少一类服务）· "
        "blind spot (misses at least one kind)</div>"
    )
    if scored is None:
        rows.append(_grade_legend(result, grades))
    parts = []
    for t, color in zip(result.thresholds, iso_colors, strict=True):
        parts.append(
            f"<span class='cc-swatch' style='background:{color};opacity:0.7'></span>"
            f"{_e(columns.label_zh(t))}&nbsp; "
        )
    rows.append(
        "<div style='margin-top:4px'>点击小区显示步行范围 · Click an area for its walking "
        f"range:<br>{''.join(parts)}</div>"
    )
    gaps = [result.categories[k] for k in result.categories if k in columns.gap_keys(result)]
    if gaps:
        names = "、".join(_e(c.label) for c in gaps)
        rows.append(
            "<div class='cc-note'>无数据（不计为缺少）· no data, not counted as missing: "
            f"{names}</div>"
        )
    # <details>: a phone's screen starts with it closed (map.js), a tap opens it
    return (
        "<details class='cc-panel cc-legend' open><summary>图例 Legend</summary>"
        + "".join(rows)
        + "</details>"
    )


# ---------------------------------------------------------------------------------------
# Assets
# ---------------------------------------------------------------------------------------


def leaflet_dir() -> Path:
    """Folder of Leaflet's files (leaflet.js, leaflet.css, images/) from xstatic-leaflet.

    Returns
    -------
    pathlib.Path
        The folder of the installed xstatic-leaflet package.

    Raises
    ------
    RuntimeError
        When xstatic-leaflet is missing or is not Leaflet :data:`LEAFLET_VERSION`.
    """
    try:
        import xstatic.pkg.leaflet as xleaflet
    except ImportError as e:  # pragma: no cover - a dependency of circles
        raise RuntimeError(
            "the xstatic-leaflet package is needed for a self-contained map: "
            "pip install xstatic-leaflet"
        ) from e
    if xleaflet.VERSION != LEAFLET_VERSION:  # pragma: no cover - pinned in pyproject
        raise RuntimeError(
            f"xstatic-leaflet {xleaflet.VERSION} installed; circles needs {LEAFLET_VERSION}"
        )
    return Path(xleaflet.BASE_DIR)


def inline_js(text: str) -> str:
    """A script made safe to embed in a ``<script>`` element of the page.

    Parameters
    ----------
    text : str
        The script (``leaflet.js``).

    Returns
    -------
    str
        The script without its source-map comment.

    Raises
    ------
    RuntimeError
        If the script contains ``</script`` or ``<!--``.
    """
    text = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", text)
    if re.search(r"</script|<!--", text, re.I):  # pragma: no cover - not in Leaflet 1.9.3
        raise RuntimeError("a script to embed contains '</script' or '<!--'")
    return text


def inline_css(text: str, base: Path) -> str:
    """A stylesheet made safe to embed in a ``<style>`` element, its images inlined.

    Parameters
    ----------
    text : str
        The stylesheet (``leaflet.css``).
    base : pathlib.Path
        The folder its relative ``url(...)`` references are read from; each file found
        there becomes a ``data:`` URI.

    Returns
    -------
    str
        The stylesheet without its source-map comment, with local images as data URIs.

    Raises
    ------
    RuntimeError
        If the stylesheet contains ``</style``.
    """

    def data_uri(match: re.Match) -> str:
        ref = match.group(1).strip("'\"")
        path = base / ref
        if ref.startswith(("data:", "#", "http:", "https:")) or not path.is_file():
            return match.group(0)
        mime = "image/png" if ref.endswith(".png") else "image/svg+xml"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"url(data:{mime};base64,{data})"

    text = re.sub(r"/\*# sourceMappingURL=\S+ \*/", "", text)
    text = re.sub(r"url\(([^)]+)\)", data_uri, text)
    if re.search(r"</style", text, re.I):  # pragma: no cover
        raise RuntimeError("a stylesheet to embed contains '</style'")
    return text


def map_figure(m: folium.Map) -> Figure:
    """The page of the map: folium.Map puts itself in a branca Figure (get_root: Element).

    Parameters
    ----------
    m : folium.Map
        The map.

    Returns
    -------
    branca.element.Figure
        The page the map is drawn in (its ``header`` and ``html``).
    """
    root = m.get_root()
    assert isinstance(root, Figure)
    return root


def use_assets(m: folium.Map, self_contained: bool) -> None:
    """Only Leaflet: linked from its CDN, or embedded from the xstatic-leaflet package.

    Parameters
    ----------
    m : folium.Map
        The map; its default scripts and stylesheets are replaced.
    self_contained : bool
        Embed Leaflet in the page (works offline) rather than link it from its CDN.
    """
    if not self_contained:
        m.default_js = [("leaflet", LEAFLET_JS_URL)]
        m.default_css = [("leaflet_css", LEAFLET_CSS_URL)]
        return
    m.default_js = []
    m.default_css = []
    base = leaflet_dir()
    js = inline_js((base / "leaflet.js").read_text(encoding="utf-8"))
    css = inline_css((base / "leaflet.css").read_text(encoding="utf-8"), base)
    header = map_figure(m).header
    header.add_child(RawText(f"<style>{css}</style>"), name="leaflet_css")
    header.add_child(RawText(f"<script>{js}</script>"), name="leaflet")


# ---------------------------------------------------------------------------------------
# The map
# ---------------------------------------------------------------------------------------


def _bounds(result: StudyResult) -> list[list[float]] | None:
    """The residential areas' extent (services far out of town would zoom the map out)."""
    # The map is drawn only by a full run, which has clusters and services.
    assert result.clusters is not None and result.services is not None
    frames = [f for f in (result.clusters, result.services) if len(f)][:1]
    boxes = []
    for frame in frames:
        geoms = frame.geometry
        if geoms.crs is None:
            geoms = geoms.set_crs(result.network.crs)
        geoms = geoms[~(geoms.is_empty | geoms.isna())]
        if len(geoms):
            boxes.append(geoms.to_crs(WGS84).total_bounds)
    if not boxes:
        return None
    b = np.vstack(boxes)
    west, south = float(np.nanmin(b[:, 0])), float(np.nanmin(b[:, 1]))
    east, north = float(np.nanmax(b[:, 2])), float(np.nanmax(b[:, 3]))
    return [[south, west], [north, east]]


def add_basemaps(m: folium.Map, basemap: str, carto_api_key: str | None) -> None:
    """OpenStreetMap, a light basemap, and none (a blank page that loads nothing).

    CARTO Positron needs an API key since August 2026; without one the light basemap is
    the OpenStreetMap tiles in grey (a CSS filter). GCJ-02 tiles (AMap/Gaode, Tencent)
    are left out on purpose: the data is WGS-84.

    Parameters
    ----------
    m : folium.Map
        The map to add the tile layers to.
    basemap : str
        The one shown first: one of :data:`BASEMAPS` (``osm``, ``light``, ``none``).
    carto_api_key : str or None
        A CARTO API key for the light basemap; None for the grey OpenStreetMap tiles.
    """
    folium.TileLayer(
        _OSM_TILES,
        attr=_OSM_ATTR,
        name="OpenStreetMap 地图",
        max_zoom=19,
        show=basemap == "osm",
    ).add_to(m)
    if carto_api_key:
        folium.TileLayer(
            _CARTO_URL + quote(carto_api_key, safe=""),
            attr=_CARTO_ATTR,
            name="浅色底图 Light (CARTO Positron)",
            subdomains="abcd",
            max_zoom=20,
            show=basemap == "light",
        ).add_to(m)
    else:
        folium.TileLayer(
            _OSM_TILES,
            attr=_OSM_ATTR,
            name="浅色底图 Light (OpenStreetMap, grey)",
            max_zoom=19,
            show=basemap == "light",
            class_name="cc-grey-tiles",
        ).add_to(m)
    folium.TileLayer(
        _BLANK_TILE,
        attr=f"无底图 No basemap · data {escape(OSM_ATTRIBUTION)}",
        name="无底图 No basemap (offline)",
        max_zoom=22,
        show=basemap == "none",
    ).add_to(m)


def layer_name(label: str, color: str | None = None, note: str = "") -> str:
    """An escaped layer-control entry, with a colour dot for a service category.

    Parameters
    ----------
    label : str
        The layer's name (escaped here).
    color : str or None, optional
        A CSS colour for the dot before the name; None for no dot. It is written as it
        is, so it must be a safe colour (:func:`circles.outputs.colours.safe_color`).
    note : str, optional
        Text after the name (escaped here).

    Returns
    -------
    str
        The HTML of the entry.
    """
    dot = f"<span class='cc-dot' style='background:{color}'></span>" if color else ""
    return f"{dot}{_e(label)}{_e(note)}"


def build_map(
    result: StudyResult,
    *,
    carto_api_key: str | None = None,
    self_contained: bool = False,
    basemap: str = "osm",
) -> folium.Map:
    """The folium map of a study result (see the module docstring).

    Parameters
    ----------
    result : StudyResult
        The study to map.
    carto_api_key : str, optional
        A CARTO basemaps key for the Positron light basemap; without it the light basemap
        is OpenStreetMap in grey.
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
    if basemap not in BASEMAPS:
        raise ValueError(f"basemap must be one of {', '.join(BASEMAPS)}, not {basemap!r}")
    bounds = _bounds(result)
    if bounds is not None:
        center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    elif result.network.n_nodes:
        center = [float(np.mean(result.network.lat)), float(np.mean(result.network.lon))]
    else:
        center = [0.0, 0.0]
    m = folium.Map(
        location=center, zoom_start=15, tiles=None, control_scale=True, prefer_canvas=True
    )
    use_assets(m, self_contained)
    add_basemaps(m, basemap, carto_api_key)

    root = map_figure(m)
    title = _e(result.summary.get("title") or result.study.display_title)
    root.header.add_child(RawText(f"<title>{title}</title>"))
    root.header.add_child(RawText(f"<style>\n{static_text('map.css')}</style>"))
    root.html.add_child(RawText(_title_panel(result)))

    by_threshold = isochrone_colors(result.thresholds)
    iso_colors = [by_threshold[float(t.distance_m)] for t in result.thresholds]
    cat_colors = category_colors(result)
    grades = cluster_grades(result)

    clusters = _cluster_data(result, grades, grade_classes(result))
    n_blind = sum(1 for c in clusters if c["u"] and c["m"])
    clusters_group = folium.FeatureGroup(
        name=layer_name(f"小区 Residential areas ({sum(1 for c in clusters if c['u'])})")
    ).add_to(m)
    blind_group = folium.FeatureGroup(name=layer_name(f"服务盲区 Blind spots ({n_blind})")).add_to(
        m
    )

    gaps = columns.gap_keys(result)
    services = _service_data(result)
    cat_groups = []
    for n, (key, cat) in enumerate(result.categories.items()):
        note = " · 无数据 no data" if key in gaps else f" ({len(services['cats'][n]['x']):,})"
        group = folium.FeatureGroup(
            name=layer_name(cat.label, cat_colors[key], note), show=key not in gaps
        ).add_to(m)
        cat_groups.append(group.get_name())
    # before the layers' script, which reads the control's size to place popups and
    # collapses it on a phone's screen
    control = folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.add_child(
        _Layers(
            _meta(result, iso_colors, cat_colors),
            _isochrone_data(result, by_threshold),
            clusters,
            services,
            clusters_group.get_name(),
            blind_group.get_name(),
            cat_groups,
            control.get_name(),
        )
    )
    root.html.add_child(RawText(_legend(result, iso_colors, grades, clusters)))
    if bounds is not None:
        m.fit_bounds(bounds, padding=(20, 20))
    return m


def map_options(
    result: StudyResult, self_contained: bool | None = None, basemap: str | None = None
) -> tuple[bool, str]:
    """The options given, else the study's ``map:`` settings, else CDN and OpenStreetMap.

    Parameters
    ----------
    result : StudyResult
        A study result; its ``study.map`` holds the study's settings.
    self_contained : bool, optional
        Embed Leaflet; None for the study's setting.
    basemap : str, optional
        The basemap shown first; None for the study's setting.

    Returns
    -------
    tuple of (bool, str)
        ``(self_contained, basemap)``.
    """
    settings = getattr(result.study, "map", None)
    if self_contained is None:
        self_contained = bool(getattr(settings, "self_contained", False))
    if basemap is None:
        basemap = str(getattr(settings, "basemap", "osm"))
    return self_contained, basemap


def write_map(
    result: StudyResult,
    path: Path,
    *,
    carto_api_key: str | None = None,
    self_contained: bool | None = None,
    basemap: str | None = None,
) -> Path:
    """Write map.html, a single page.

    Parameters
    ----------
    result : StudyResult
        The study to map.
    path : pathlib.Path
        Where map.html goes (UTF-8).
    carto_api_key : str, optional
        A CARTO basemaps key (see :func:`build_map`).
    self_contained : bool, optional
        Embed Leaflet; by default the study's ``map:`` setting.
    basemap : str, optional
        ``osm``, ``light`` or ``none``; by default the study's ``map:`` setting.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    self_contained, basemap = map_options(result, self_contained, basemap)
    html_text = (
        build_map(
            result, carto_api_key=carto_api_key, self_contained=self_contained, basemap=basemap
        )
        .get_root()
        .render()
    )
    Path(path).write_text(html_text, encoding="utf-8")
    return path
