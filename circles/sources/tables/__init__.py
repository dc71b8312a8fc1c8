"""Planners' own tables: POIs and 小区 lists exported from AMap/Gaode, Baidu or a survey.

- :mod:`~circles.sources.tables.read`: files to text tables (formats, encodings) and the
  column of each role;
- :mod:`~circles.sources.tables.locate`: coordinates (WGS-84, GCJ-02, BD-09, EPSG) to the
  study's metric CRS, and the study area;
- :mod:`~circles.sources.tables.classify`: a row's categories (category column, AMap type
  codes, Baidu tags, keywords);
- :mod:`~circles.sources.tables.pois`: POI tables, located and classified;
- :mod:`~circles.sources.tables.merge`: table POIs merged with OSM services, duplicates out;
- :mod:`~circles.sources.tables.residences`: 小区 tables to residence clusters;
- :mod:`~circles.sources.tables.rejected`: every row not used, with its reason.
"""

from __future__ import annotations

from circles.sources.tables.classify import Classifier, code_prefix, row_codes
from circles.sources.tables.locate import StudyArea
from circles.sources.tables.merge import Merged, merge_pois, similar_names
from circles.sources.tables.pois import PoiCandidates, read_pois
from circles.sources.tables.read import RawTable
from circles.sources.tables.rejected import (
    REJECTED_COLUMNS,
    rejected_frame,
    rejection,
    table_summary,
)
from circles.sources.tables.residences import ResidenceRows, read_residences

__all__ = [
    "REJECTED_COLUMNS",
    "Classifier",
    "Merged",
    "PoiCandidates",
    "RawTable",
    "ResidenceRows",
    "StudyArea",
    "code_prefix",
    "merge_pois",
    "read_pois",
    "read_residences",
    "rejected_frame",
    "rejection",
    "row_codes",
    "similar_names",
    "table_summary",
]
