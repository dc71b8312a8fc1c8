"""What a run returns: the study's tables as GeoDataFrames, plus a JSON-able summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from circles.config import Study
from circles.network import WalkNetwork
from circles.services import Category

if TYPE_CHECKING:
    from geopandas import GeoDataFrame

    from circles.graph import Seeds
    from circles.origins import Walk
    from circles.scoring import Scores
    from circles.units import UnitReport


@dataclass
class Threshold:
    """One walking threshold with its bilingual label (e.g. 300 m, '5分钟', '5 min')."""

    distance_m: float
    zh: str
    en: str

    @property
    def column(self) -> str:
        """Suffix of reach columns: ``market_300m``."""
        return f"{self.distance_m:g}m"


@dataclass
class StudyResult:
    """Everything a run produced. Geometries are in the network's metric CRS.

    clusters: cluster_id, name, method, area_m2, dwellings, population, snap_m, used,
        population_method, population_low, geometry, then per category c and threshold
        t: ``{c}_{t}m`` (count; ``<NA>`` for a data gap or a cluster not snapped),
        ``{c}_nearest_m`` (NaN when unreachable), and per threshold ``reached_{t}m``
        (categories reached; ``<NA>`` when not snapped) and ``share_reached_{t}m``.
    services: service_id, category, name, osm_type, osm_id, snap_m, used, geometry (points).
    isochrones: cluster_id, threshold_m, method, area_m2, geometry.
    reach: one column array per field, one row per origin (clusters, every node or grid
        points): origin_id, lon, lat (WGS-84), then the reach columns; written to
        reach.parquet.
    tables_only: the run made only the tables (no isochrones; services and clusters too are
        None unless the clusters are the origins); only reach.parquet and summary.json are
        written.
    scores: the clusters scored against the study's standard (see :mod:`circles.scoring`);
        its per-cluster ``std_*`` columns are also on ``clusters``. None without a
        standard or without clusters.
    rejected: the rows of the study's own tables (``pois``, ``residences.file``) that were
        not used, each with its reason (written to rejected_rows.csv); None without tables.
    starts: where each used cluster's walks start (:class:`circles.graph.Seeds`: its
        point, or the gates of a walled 小区), for plans measured by the same rule; None
        without clusters.
    walk: the walking costs the clusters were measured with (steps, slopes, walls).
    units: the clusters joined to their communities (社区/街道), with each unit's
        indicators, items and shortfalls (:class:`circles.units.UnitReport`); None
        without ``--units``.
    """

    study: Study
    network: WalkNetwork
    categories: dict[str, Category]
    thresholds: list[Threshold]
    clusters: GeoDataFrame | None
    services: GeoDataFrame | None
    isochrones: GeoDataFrame | None
    summary: dict[str, Any] = field(default_factory=dict)
    reach: dict[str, Any] | None = None
    scores: Scores | None = None
    rejected: list[dict[str, Any]] | None = None
    tables_only: bool = False
    starts: Seeds | None = None
    walk: Walk | None = None
    units: UnitReport | None = None

    @property
    def data_gaps(self) -> list[str]:
        """Categories with no usable service in the data: gaps to report, not zeros."""
        return list(self.summary.get("data_gaps", []))

    def warning_lines(self, most: int = 2) -> list[str]:
        """The run's warnings for the terminal, short enough for one screen.

        Every warning is in summary.json and the report; the terminal shows the data gaps
        in one line, then at most ``most`` others. Plain text, here rather than with the
        console tables: a tables-only run prints it without loading them (rich's tables,
        pandas).

        Parameters
        ----------
        most : int
            How many warnings other than the data gaps are shown.

        Returns
        -------
        list of str
            The lines to print; a last line counts the warnings left out.
        """
        gaps = self.summary.get("data_gaps", [])
        others = [w for w in self.summary.get("warnings", []) if not w.startswith("data gap:")]
        lines = []
        if gaps:
            names = ", ".join(self.categories[k].en for k in gaps if k in self.categories)
            lines.append(
                f"data gaps 数据缺口: no {names} in the data; their coverage is unknown, not "
                "zero (bring a POI table with --pois)"
            )
        lines.extend(others[:most])
        if len(others) > most:
            lines.append(f"… and {len(others) - most} more warnings in summary.json and the report")
        return lines
