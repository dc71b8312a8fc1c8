"""Compare two runs of the same area: a scenario against its base, or two years of OSM.

:func:`load_run` reads a run's folder (``summary.json`` and the ``clusters`` and
``services`` layers of ``clusters.gpkg``); :func:`compare` takes two folders or
:class:`~circles.result.StudyResult` objects and returns a :class:`Comparison`: indicator
deltas per level (by clusters, area and residents), coverage per category and threshold,
the clusters that changed grade, the categories each cluster gained or lost, and the
services added or removed. Nothing here needs the network.

**Which runs compare.** Runs of the same thresholds and the same standard (the same
levels, items and distances), over the same area. Their data may differ: another OSM file
(a 2021 and a 2026 extract), POI tables, closed services. The area is the same when the
areas the runs declare (a place name, a bbox, a boundary file) agree, and the extents of
their clusters overlap with IoU ≥ :data:`AREA_IOU` (0.8): two extracts of one district
differ a little at the edges, two districts do not overlap that much.

**Matching clusters.** Cluster ids are numbered per run (``R0001`` …), so an id is taken
as the same cluster only when the two outlines also overlap with IoU ≥ :data:`MATCH_IOU`
(0.5, in the study's UTM zone); the others are matched by overlap alone, best first and
one to one. Clusters found in only one run are listed, never dropped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from circles._errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    from circles.result import StudyResult

__all__ = [
    "AREA_IOU",
    "MATCH_IOU",
    "Comparison",
    "ComparisonError",
    "RunRecord",
    "compare",
    "load_run",
]

MATCH_IOU = 0.5  #: two outlines overlapping this much (intersection over union) are one cluster
AREA_IOU = 0.8  #: two runs' areas (bbox, boundary, extent of clusters) must overlap this much
THRESHOLD_TOLERANCE_M = 0.05  #: thresholds closer than this are the same
GRADES = ("A", "B", "C", "D", "E")


class ComparisonError(InputError):
    """Two runs that cannot be compared: other areas, thresholds or standards."""


# ---------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """A run as a comparison needs it.

    Attributes
    ----------
    label : str
        How the run is named in the outputs (its folder's name, or study--scenario).
    summary : dict
        Its ``summary.json``.
    clusters : geopandas.GeoDataFrame
        Its clusters in WGS-84, with their reach and ``std_*`` columns.
    services : geopandas.GeoDataFrame or None
        Its services in WGS-84 (None when the folder holds none).
    folder : pathlib.Path or None
        The folder it was read from; None for a result in memory.
    """

    label: str
    summary: dict[str, Any]
    clusters: gpd.GeoDataFrame
    services: gpd.GeoDataFrame | None = None
    folder: Path | None = None

    @property
    def thresholds(self) -> list[float]:
        """The thresholds in metres."""
        return [float(t) for t in self.summary.get("thresholds_m", [])]

    @property
    def gaps(self) -> list[str]:
        """The categories with no data in this run."""
        return list(self.summary.get("data_gaps") or [])

    @property
    def levels(self) -> list[dict[str, Any]]:
        """The standard's levels as the run scored them (empty without a standard)."""
        return list((self.summary.get("scoring") or {}).get("levels") or [])

    @classmethod
    def of_result(cls, result: StudyResult) -> RunRecord:
        """The record of a run in memory.

        Parameters
        ----------
        result : StudyResult
            A full run (not tables-only).

        Returns
        -------
        RunRecord
            Its clusters and services in WGS-84.

        Raises
        ------
        InputError
            The result has no clusters (a tables-only run).
        """
        from circles.outputs.files import to_wgs84

        if result.clusters is None:
            raise InputError("cannot compare a tables-only run: it has no clusters")
        study = result.study
        label = f"{study.name}--{study.scenario}" if study.scenario else study.name
        services = None
        if result.services is not None:
            services = to_wgs84(result.services, result.network.crs)
        clusters = to_wgs84(result.clusters, result.network.crs)
        return cls(label, result.summary, clusters, services)


def load_run(folder: str | Path) -> RunRecord:
    """Read a run's folder: its summary and the clusters and services of its GeoPackage.

    Parameters
    ----------
    folder : str or pathlib.Path
        The output folder of ``circles run`` (not ``--tables-only``).

    Returns
    -------
    RunRecord
        The run, labelled with the folder's name.

    Raises
    ------
    InputError
        One line: the folder is missing, or is not a circles run (no readable
        ``summary.json`` of a run, or no ``clusters.gpkg``).
    """
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"{path}: no such folder; give the output folder of a `circles run`")
    summary_path = path / "summary.json"
    if not summary_path.is_file():
        raise InputError(f"{path} is not a circles run: it has no summary.json")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{summary_path} is not a circles summary ({e})") from None
    if not isinstance(summary, dict):
        raise InputError(f"{summary_path} is not a circles summary")
    if summary.get("kind") == "comparison":
        raise InputError(f"{path} holds a comparison, not a run; give two run folders")
    if not {"thresholds_m", "categories", "settings"} <= set(summary):
        raise InputError(f"{path} is not a circles run: its summary.json is not a run's")
    gpkg = path / "clusters.gpkg"
    if not gpkg.is_file():
        raise InputError(
            f"{path} has no clusters.gpkg (a --tables-only run?); compare needs a full run"
        )
    import geopandas as gpd

    try:
        clusters = gpd.read_file(gpkg, layer="clusters", engine="pyogrio")
        services = gpd.read_file(gpkg, layer="services", engine="pyogrio")
    except (RuntimeError, ValueError, OSError) as e:  # pyogrio's errors are RuntimeErrors
        raise InputError(f"{gpkg} cannot be read as a circles GeoPackage ({e})") from None
    if "cluster_id" not in clusters.columns:
        raise InputError(f"{gpkg}: its clusters layer has no cluster_id; not a circles run")
    return RunRecord(path.resolve().name, summary, clusters, services, path)


def _record(run: str | Path | StudyResult | RunRecord) -> RunRecord:
    if isinstance(run, RunRecord):
        return run
    if isinstance(run, str | Path):
        return load_run(run)
    return RunRecord.of_result(run)


# ---------------------------------------------------------------------------------------
# Can the two be compared?
# ---------------------------------------------------------------------------------------


def _standard_signature(run: RunRecord) -> Any:
    """What a standard decides: its key, and per level its distance and items."""
    std = run.summary.get("standard")
    if not std:
        return None
    return (
        std.get("key"),
        [
            (lv.get("key"), lv.get("distance_m"), lv.get("required"), lv.get("distances_m"))
            for lv in run.levels
        ],
    )


def _box_iou(a: Any, b: Any) -> float:
    """IoU of two boxes (west, south, east, north)."""
    w, s = max(a[0], b[0]), max(a[1], b[1])
    e, n = min(a[2], b[2]), min(a[3], b[3])
    inter = max(e - w, 0.0) * max(n - s, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else float(a == b)


def _boundary(path: Any, crs: Any) -> Any:
    """A boundary file's polygon in ``crs``, or None when it cannot be read any more."""
    if not path or not Path(path).is_file():
        return None
    from circles.sources.boundary import read_boundary, reproject

    try:
        return reproject(read_boundary(Path(path)), "EPSG:4326", crs)
    except Exception:  # a boundary that no longer reads is not a reason to refuse
        return None


def _area_problem(a: RunRecord, b: RunRecord, ga: gpd.GeoSeries, gb: gpd.GeoSeries) -> str | None:
    """Why the two runs cover different areas, or None (``ga``/``gb``: metric outlines)."""
    sa = a.summary.get("settings") or {}
    sb = b.summary.get("settings") or {}
    pa, pb = (sa.get("source") or {}).get("place"), (sb.get("source") or {}).get("place")
    if pa and pb and " ".join(pa.lower().split()) != " ".join(pb.lower().split()):
        return f"different places ({pa!r} and {pb!r})"
    ba, bb = (sa.get("source") or {}).get("bbox"), (sb.get("source") or {}).get("bbox")
    if ba and bb and _box_iou(ba, bb) < AREA_IOU:
        return f"different bboxes ({ba} and {bb})"
    pa_, pb_ = _boundary(sa.get("boundary"), ga.crs), _boundary(sb.get("boundary"), ga.crs)
    if pa_ is not None and pb_ is not None:
        inter = pa_.intersection(pb_).area
        union = pa_.area + pb_.area - inter
        if union > 0 and inter / union < AREA_IOU:
            return f"different boundaries (overlap {inter / union:.0%})"
    if len(ga) and len(gb):
        iou = _box_iou(ga.total_bounds, gb.total_bounds)
        if iou < AREA_IOU:
            return (
                f"their clusters cover different areas (extents overlap {iou:.0%}, "
                f"at least {AREA_IOU:.0%} needed)"
            )
    return None


def _check_comparable(a: RunRecord, b: RunRecord, ga: gpd.GeoSeries, gb: gpd.GeoSeries) -> None:
    """Refuse, in one line, runs of other thresholds, standards or areas."""
    what = f"cannot compare {a.label} and {b.label}"
    ta, tb = a.thresholds, b.thresholds
    if len(ta) != len(tb) or any(
        abs(x - y) > THRESHOLD_TOLERANCE_M for x, y in zip(ta, tb, strict=True)
    ):
        raise ComparisonError(
            f"{what}: different thresholds ({', '.join(f'{t:g}' for t in ta)} m and "
            f"{', '.join(f'{t:g}' for t in tb)} m); rerun one with the other's"
        )
    sa, sb = _standard_signature(a), _standard_signature(b)
    if sa != sb:
        name_a = sa[0] if sa else "none"
        name_b = sb[0] if sb else "none"
        detail = f"{name_a} and {name_b}" if name_a != name_b else f"two versions of {name_a}"
        raise ComparisonError(f"{what}: different standards ({detail}); rerun one with --standard")
    problem = _area_problem(a, b, ga, gb)
    if problem:
        raise ComparisonError(f"{what}: not the same area: {problem}")


# ---------------------------------------------------------------------------------------
# Matching clusters
# ---------------------------------------------------------------------------------------


def _iou(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """IoU of pairs of metric geometries; points (no area) count as one within 1 m."""
    import numpy as np
    import shapely

    inter = shapely.area(shapely.intersection(x, y))
    union = shapely.area(x) + shapely.area(y) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    flat = (shapely.area(x) == 0) & (shapely.area(y) == 0)
    if flat.any():
        iou[flat] = (shapely.distance(x[flat], y[flat]) <= 1.0).astype(float)
    return iou


def match_clusters(ga: gpd.GeoSeries, gb: gpd.GeoSeries, ids_a: Any, ids_b: Any) -> pd.DataFrame:
    """Pairs of clusters that are the same place in two runs.

    Parameters
    ----------
    ga, gb : geopandas.GeoSeries
        The two runs' outlines, in one metric CRS.
    ids_a, ids_b : sequence of str
        Their cluster ids.

    Returns
    -------
    pandas.DataFrame
        ``a``, ``b`` (positions), ``how`` (``id`` or ``overlap``) and ``iou``: first the
        clusters of the same id whose outlines overlap with IoU ≥ :data:`MATCH_IOU`, then
        the others by overlap, best first, each cluster in one pair at most.
    """
    import numpy as np
    import pandas as pd
    import shapely

    xa, xb = np.asarray(ga.array), np.asarray(gb.array)
    pos_b = {str(i): k for k, i in enumerate(ids_b)}
    same = [(k, pos_b[str(i)]) for k, i in enumerate(ids_a) if str(i) in pos_b]
    rows: list[tuple[int, int, str, float]] = []
    if same:
        ia, ib = (np.array(v) for v in zip(*same, strict=True))
        iou = _iou(xa[ia], xb[ib])
        rows += [
            (int(i), int(j), "id", float(v))
            for i, j, v in zip(ia, ib, iou, strict=True)
            if v >= MATCH_IOU
        ]
    free_a = np.setdiff1d(np.arange(len(xa)), [r[0] for r in rows])
    free_b = np.setdiff1d(np.arange(len(xb)), [r[1] for r in rows])
    if len(free_a) and len(free_b):
        tree = shapely.STRtree(xb[free_b])
        qa, qb = tree.query(xa[free_a], predicate="dwithin", distance=1.0)
        ca, cb = free_a[qa], free_b[qb]
        iou = _iou(xa[ca], xb[cb])
        taken_a: set[int] = set()
        taken_b: set[int] = set()
        for k in np.argsort(-iou, kind="stable"):
            i, j = int(ca[k]), int(cb[k])
            if iou[k] < MATCH_IOU:
                break
            if i in taken_a or j in taken_b:
                continue
            taken_a.add(i)
            taken_b.add(j)
            rows.append((i, j, "overlap", float(iou[k])))
    return pd.DataFrame(rows, columns=["a", "b", "how", "iou"]).astype(
        {"a": int, "b": int, "how": str, "iou": float}
    )


# ---------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------


def _change(a: Any, b: Any) -> float | None:
    from circles.values import as_number

    x, y = as_number(a), as_number(b)
    return None if x is None or y is None else round(y - x, 6)


def _indicators(a: RunRecord, b: RunRecord) -> pd.DataFrame:
    """The standard's indicators (summary.json), by clusters, area and residents."""
    import pandas as pd

    def by_key(run: RunRecord) -> dict[tuple[str, str], dict]:
        items = (run.summary.get("scoring") or {}).get("indicators") or []
        return {(i.get("level"), i.get("key")): i for i in items}

    ia, ib = by_key(a), by_key(b)
    rows = []
    for key in [*ia, *(k for k in ib if k not in ia)]:
        x, y = ia.get(key, {}), ib.get(key, {})
        for measure in ("clusters", "area", "residents"):
            col = "share_population" if measure == "residents" else f"share_{measure}"
            rows.append(
                {
                    "level": key[0],
                    "item": key[1],
                    "label": f"{(x or y).get('zh', '')} {(x or y).get('en', '')}".strip(),
                    "measure": measure,
                    "a": x.get(col),
                    "b": y.get(col),
                    "change": _change(x.get(col), y.get(col)),
                }
            )
    return pd.DataFrame(rows, columns=["level", "item", "label", "measure", "a", "b", "change"])


def _meets(frame: pd.DataFrame, level: str) -> dict[str, float | None]:
    """Clusters, residents and area meeting a level, and its mean completeness."""
    import numpy as np

    used = frame["used"].astype(bool).to_numpy() if "used" in frame else np.ones(len(frame), bool)
    col = f"std_{level}_meets"
    if col not in frame:
        return {}
    meets = frame[col].fillna(False).astype(bool).to_numpy() & used
    completeness = frame.get(f"std_{level}_completeness")
    mean = None
    if completeness is not None and used.any():
        mean = round(float(np.nanmean(completeness.to_numpy(float)[used])), 4)
    return {
        "clusters": float(meets.sum()),
        "residents": round(float(frame["population"].to_numpy(float)[meets].sum()), 1),
        "area_m2": round(float(frame["area_m2"].to_numpy(float)[meets].sum()), 1),
        "completeness_mean": mean,
    }


def _levels(a: RunRecord, b: RunRecord) -> pd.DataFrame:
    """Per level, from the ``std_*`` columns: who meets it, and the mean completeness."""
    import pandas as pd

    rows = []
    for lv in a.levels:
        ma, mb = _meets(a.clusters, lv["key"]), _meets(b.clusters, lv["key"])
        for measure in ("clusters", "residents", "area_m2", "completeness_mean"):
            x, y = ma.get(measure), mb.get(measure)
            rows.append(
                {"level": lv["key"], "measure": measure, "a": x, "b": y, "change": _change(x, y)}
            )
    return pd.DataFrame(rows, columns=["level", "measure", "a", "b", "change"])


def _coverage(a: RunRecord, b: RunRecord, keys: list[str]) -> pd.DataFrame:
    """Share of clusters reaching each category within each threshold (summary.json)."""
    import pandas as pd

    ca, cb = a.summary.get("coverage") or {}, b.summary.get("coverage") or {}
    rows = []
    for k in keys:
        for t in a.thresholds:
            col = f"{t:g}m"
            x, y = (ca.get(k) or {}).get(col), (cb.get(k) or {}).get(col)
            rows.append(
                {
                    "category": k,
                    "threshold_m": t,
                    "a": x,
                    "b": y,
                    "change": _change(x, y),
                    "gap": "a" * (k in a.gaps) + "b" * (k in b.gaps),
                }
            )
    return pd.DataFrame(rows, columns=["category", "threshold_m", "a", "b", "change", "gap"])


def _grade_change(x: Any, y: Any) -> str:
    rank = {g: i for i, g in enumerate(GRADES)}
    if x in rank and y in rank:
        return "better" if rank[y] < rank[x] else "worse"
    return "changed"


def _grades(a: RunRecord, b: RunRecord, pairs: pd.DataFrame) -> pd.DataFrame:
    """The matched clusters whose grade changed, per level and overall."""
    import pandas as pd

    fa, fb = a.clusters, b.clusters
    rows = []
    levels = [lv["key"] for lv in a.levels]
    for level, col in [*((lv, f"std_{lv}_grade") for lv in levels), ("overall", "std_grade")]:
        if col not in fa or col not in fb:
            continue
        ga = fa[col].astype(object).to_numpy()[pairs["a"]]
        gb = fb[col].astype(object).to_numpy()[pairs["b"]]
        for k, (x, y) in enumerate(zip(ga, gb, strict=True)):
            x, y = _text(x), _text(y)
            if x != y:
                rows.append({**_pair(a, b, pairs, k), "level": level, "a": x, "b": y})
                rows[-1]["change"] = _grade_change(x, y)
    columns = [*_PAIR_COLUMNS, "level", "a", "b", "change"]
    return pd.DataFrame(rows, columns=columns)


_PAIR_COLUMNS = ["cluster_a", "cluster_b", "name", "population"]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _pair(a: RunRecord, b: RunRecord, pairs: pd.DataFrame, k: int) -> dict[str, Any]:
    """The ids, the name and the population (run B's) of the k-th matched pair."""
    ra = a.clusters.iloc[int(pairs["a"].iloc[k])]
    rb = b.clusters.iloc[int(pairs["b"].iloc[k])]
    return {
        "cluster_a": str(ra["cluster_id"]),
        "cluster_b": str(rb["cluster_id"]),
        "name": _text(rb.get("name")) or _text(ra.get("name")),
        "population": rb.get("population"),
    }


def _reach_changes(a: RunRecord, b: RunRecord, pairs: pd.DataFrame, keys: list[str]) -> Any:
    """Per matched cluster, category and threshold whose reach changed: gained or lost.

    A category with no data in run A counts as reached by no cluster there (as a plan
    treats it), but its count is shown empty (None), not 0; clusters that did not join the
    network in either run are left out.
    """
    import numpy as np
    import pandas as pd

    fa, fb = a.clusters, b.clusters
    ia, ib = pairs["a"].to_numpy(int), pairs["b"].to_numpy(int)
    used = np.ones(len(pairs), bool)
    for frame, idx in ((fa, ia), (fb, ib)):
        if "used" in frame:
            used &= frame["used"].astype(bool).to_numpy()[idx]
    rows = []
    for k in keys:
        near = f"{k}_nearest_m"
        for t in a.thresholds:
            col = f"{k}_{t:g}m"
            if col not in fa or col not in fb:
                continue
            # An empty count (a data gap) is no figure: reached by no cluster, shown empty.
            ca, cb = fa[col].to_numpy(float)[ia], fb[col].to_numpy(float)[ib]
            changed = used & ((np.nan_to_num(ca) > 0) != (np.nan_to_num(cb) > 0))
            for j in np.flatnonzero(changed):
                row = _pair(a, b, pairs, int(j))
                row.update(
                    category=k,
                    threshold_m=t,
                    a=None if np.isnan(ca[j]) else int(ca[j]),
                    b=None if np.isnan(cb[j]) else int(cb[j]),
                    nearest_a=fa[near].iloc[ia[j]] if near in fa else None,
                    nearest_b=fb[near].iloc[ib[j]] if near in fb else None,
                    change="gained" if np.nan_to_num(cb[j]) > 0 else "lost",
                )
                rows.append(row)
    columns = [*_PAIR_COLUMNS, "category", "threshold_m", "a", "b", "nearest_a", "nearest_b"]
    return pd.DataFrame(rows, columns=[*columns, "change"])


def _service_keys(services: gpd.GeoDataFrame) -> list[tuple]:
    """One key per service: its OSM id, or its category and point (about 1 m) otherwise."""
    keys = []
    for cat, kind, ident, geom in zip(
        services["category"].astype(str),
        services.get("osm_type", [""] * len(services)),
        services.get("osm_id", [0] * len(services)),
        services.geometry,
        strict=True,
    ):
        if isinstance(kind, str) and kind in ("node", "way", "relation"):
            keys.append((cat, kind, int(ident)))
        else:
            keys.append((cat, round(geom.x, 5), round(geom.y, 5)))
    return keys


def _services(a: RunRecord, b: RunRecord) -> pd.DataFrame:
    """Services in one run only: ``added`` (in B) or ``removed`` (in A)."""
    import pandas as pd

    columns = ["change", "category", "name", "osm", "lon", "lat"]
    if a.services is None or b.services is None:
        return pd.DataFrame(columns=columns)
    ka, kb = _service_keys(a.services), _service_keys(b.services)
    rows = []
    for change, frame, keys, other in (
        ("removed", a.services, ka, set(kb)),
        ("added", b.services, kb, set(ka)),
    ):
        for pos, key in enumerate(keys):
            if key in other:
                continue
            r = frame.iloc[pos]
            osm = f"{key[1]}/{key[2]}" if isinstance(key[1], str) else ""
            rows.append(
                {
                    "change": change,
                    "category": key[0],
                    "name": _text(r.get("name")),
                    "osm": osm,
                    "lon": round(float(r.geometry.x), 6),
                    "lat": round(float(r.geometry.y), 6),
                }
            )
    return pd.DataFrame(rows, columns=columns)


def _unmatched(run: RunRecord, taken: Any) -> pd.DataFrame:
    import numpy as np

    rest = np.setdiff1d(np.arange(len(run.clusters)), np.asarray(taken, dtype=int))
    frame = run.clusters.iloc[rest]
    cols = [c for c in ("cluster_id", "name", "population") if c in frame]
    return frame[cols].astype({"cluster_id": str}).reset_index(drop=True)


@dataclass
class Comparison:
    """Two runs of one area compared: run B against run A (B − A).

    Attributes
    ----------
    a, b : RunRecord
        The runs (A: the base or the earlier year).
    pairs : pandas.DataFrame
        Matched clusters: ``a``, ``b`` (positions in each run's clusters), ``how``
        (``id`` or ``overlap``), ``iou``.
    only_a, only_b : pandas.DataFrame
        Clusters found in one run only: ``cluster_id``, ``name``, ``population``.
    indicators : pandas.DataFrame
        The standard's indicators: ``level``, ``item``, ``label``, ``measure``
        (``clusters``, ``area``, ``residents``), shares ``a`` and ``b`` and ``change``
        (None for a data gap).
    levels : pandas.DataFrame
        Per level (``std_*`` columns): ``measure`` (``clusters``, ``residents``,
        ``area_m2`` meeting the level, ``completeness_mean``), ``a``, ``b``, ``change``.
    coverage : pandas.DataFrame
        Per category and threshold: the share of clusters reaching it, ``a``, ``b``,
        ``change``; ``gap`` names the runs without data for it.
    grades : pandas.DataFrame
        Matched clusters whose grade changed, per level and ``overall``.
    changes : pandas.DataFrame
        Matched clusters whose reach of a category within a threshold changed:
        counts ``a`` and ``b``, nearest distances, ``change`` (``gained``, ``lost``).
    services : pandas.DataFrame
        Services in one run only (``added``, ``removed``), WGS-84 lon/lat.
    categories : list of str
        The categories both runs measured (the others are named in ``notes``).
    notes : list of str
        What a reader should know (categories in one run only, data gaps).
    """

    a: RunRecord
    b: RunRecord
    pairs: pd.DataFrame
    only_a: pd.DataFrame
    only_b: pd.DataFrame
    indicators: pd.DataFrame
    levels: pd.DataFrame
    coverage: pd.DataFrame
    grades: pd.DataFrame
    changes: pd.DataFrame
    services: pd.DataFrame
    categories: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        """Whether B shows no change at all against A."""
        deltas = [self.indicators["change"], self.levels["change"], self.coverage["change"]]
        moved = any(bool((d.fillna(0) != 0).any()) for d in deltas)
        return not (
            moved
            or len(self.grades)
            or len(self.changes)
            or len(self.services)
            or len(self.only_a)
            or len(self.only_b)
        )

    def table(self) -> pd.DataFrame:
        """Every figure of the comparison in one long table (``compare.csv``).

        Returns
        -------
        pandas.DataFrame
            ``section`` (indicator, level, coverage, grade, reach, service, only_a,
            only_b), then ``level``, ``item``, ``threshold_m``, ``cluster_a``,
            ``cluster_b``, ``name``, ``population``, ``measure``, ``a``, ``b``, ``change``.
        """
        import pandas as pd

        parts = [
            self.indicators.drop(columns="label").assign(section="indicator"),
            self.levels.assign(section="level"),
            self.coverage.drop(columns="gap").rename(columns={"category": "item"}),
            self.grades.assign(section="grade", measure="grade"),
            self.changes.drop(columns=["nearest_a", "nearest_b"]).rename(
                columns={"category": "item"}
            ),
            self.services.rename(columns={"category": "item", "osm": "cluster_b"}).assign(
                section="service", measure="service"
            ),
            self.only_a.rename(columns={"cluster_id": "cluster_a"}).assign(
                section="only_a", change="only in A"
            ),
            self.only_b.rename(columns={"cluster_id": "cluster_b"}).assign(
                section="only_b", change="only in B"
            ),
        ]
        parts[2] = parts[2].assign(section="coverage", measure="share_clusters")
        parts[4] = parts[4].assign(section="reach", measure="services_within")
        columns = [
            "section",
            "level",
            "item",
            "threshold_m",
            "cluster_a",
            "cluster_b",
            "name",
            "population",
            "measure",
            "a",
            "b",
            "change",
        ]
        frames = [p.reindex(columns=columns) for p in parts if len(p)]
        if not frames:
            return pd.DataFrame(columns=columns)
        return pd.concat(frames, ignore_index=True)[columns]


def compare(
    a: str | Path | StudyResult | RunRecord, b: str | Path | StudyResult | RunRecord
) -> Comparison:
    """Compare run B with run A: what B gained or lost, and which clusters changed.

    Parameters
    ----------
    a, b : str, pathlib.Path, StudyResult or RunRecord
        Two runs: output folders of ``circles run``, or results in memory. A is the base
        (or the earlier year), B the scenario (or the later one).

    Returns
    -------
    Comparison
        Deltas are B − A.

    Raises
    ------
    InputError
        A folder is not a circles run.
    ComparisonError
        One line: the runs differ in thresholds, standard or area.
    """
    ra, rb = _record(a), _record(b)
    crs = ra.clusters.estimate_utm_crs() if len(ra.clusters) else "EPSG:3857"
    ga = ra.clusters.geometry.to_crs(crs)
    gb = rb.clusters.geometry.to_crs(crs)
    _check_comparable(ra, rb, ga, gb)
    pairs = match_clusters(ga, gb, ra.clusters["cluster_id"], rb.clusters["cluster_id"])
    cats_a = list(ra.summary.get("categories") or [])
    cats_b = list(rb.summary.get("categories") or [])
    keys = [k for k in cats_a if k in cats_b]
    notes = [f"{k}: measured in {ra.label} only" for k in cats_a if k not in cats_b]
    notes += [f"{k}: measured in {rb.label} only" for k in cats_b if k not in cats_a]
    notes += [
        f"{k}: no data in {ra.label}; counted as reached by no cluster there"
        for k in keys
        if k in ra.gaps and k not in rb.gaps
    ]
    notes += [f"{k}: no data in {rb.label}" for k in keys if k in rb.gaps and k not in ra.gaps]
    return Comparison(
        ra,
        rb,
        pairs,
        _unmatched(ra, pairs["a"]),
        _unmatched(rb, pairs["b"]),
        _indicators(ra, rb),
        _levels(ra, rb),
        _coverage(ra, rb, keys),
        _grades(ra, rb, pairs),
        _reach_changes(ra, rb, pairs, keys),
        _services(ra, rb),
        keys,
        notes,
    )
