"""Administrative boundaries from a local OSM file: the units a study can report by.

``boundary=administrative`` relations of one ``admin_level`` become polygons in two
passes over the file, each filtered in C++ (libosmium): the relations of the level, then
their member ways with node locations. Python sees only those relations and ways, never
the file's other objects, and GEOS closes the ways into areas (``build_area``: a ring
inside another is a hole, an enclave). Assembling areas the way
:mod:`circles.sources.osm_file` does would build every closed way of the file (each
building) as well, which the units do not need.

A relation the extract holds only part of (a council cut by the extract's edge) does not
close; it is returned without a geometry and with the reason, so the caller can report it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from geopandas import GeoDataFrame

__all__ = ["admin_boundaries"]

# The relation types that outline an area.
_AREA_TYPES = ("boundary", "multipolygon")


def admin_boundaries(path: str | Path, level: int) -> GeoDataFrame:
    """The administrative boundaries of one level in an OSM file, as polygons.

    Parameters
    ----------
    path : str or pathlib.Path
        An ``.osm``, ``.osm.pbf``, ``.osm.bz2`` or ``.osm.gz`` file.
    level : int
        The ``admin_level`` (8: municipalities or local councils in many countries).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per ``boundary=administrative`` relation of that level (``type=boundary``
        or ``multipolygon``), by id: ``osm_id``, ``name`` (its ``name`` tag, ``''``
        without one), ``problem`` (``''``, or why it has no polygon) and ``geometry`` (a
        polygon or multipolygon in WGS-84; None when it could not be closed).

    Raises
    ------
    InputError
        The file is missing, not OSM data, or cannot be read.
    """
    import geopandas as gpd
    import osmium
    from osmium.osm import Relation, Way

    from circles.sources.osm_file import _check_path, _read_error, _sniff_format

    path = Path(path)
    _check_path(path)
    fmt = _sniff_format(path)
    names: dict[int, str] = {}
    members: dict[int, list[int]] = {}
    lines: dict[int, list[tuple[float, float]] | None] = {}
    try:
        reader = osmium.FileProcessor(osmium.io.File(str(path), fmt), osmium.osm.RELATION)
        reader = reader.with_filter(osmium.filter.TagFilter(("boundary", "administrative")))
        reader = reader.with_filter(osmium.filter.TagFilter(("admin_level", str(level))))
        for rel in reader:
            if isinstance(rel, Relation) and rel.tags.get("type") in _AREA_TYPES:
                names[rel.id] = rel.tags.get("name") or ""
                members[rel.id] = [m.ref for m in rel.members if m.type == "w"]
        wanted = {ref for refs in members.values() for ref in refs}
        if wanted:
            ways = osmium.FileProcessor(
                osmium.io.File(str(path), fmt), osmium.osm.NODE | osmium.osm.WAY
            ).with_locations()
            ways = ways.with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            for way in ways.with_filter(osmium.filter.IdFilter(wanted)):
                if not isinstance(way, Way):
                    continue
                nodes = way.nodes
                if all(n.location.valid() for n in nodes):
                    lines[way.id] = [(n.location.lon, n.location.lat) for n in nodes]
                else:
                    lines[way.id] = None  # a node beyond the extract's edge
    except RuntimeError as e:
        raise _read_error(path, fmt, e) from None
    except (ValueError, osmium.InvalidLocationError) as e:
        raise _read_error(path, fmt, e) from None
    ids = sorted(names)
    shapes, problems = (
        zip(*(_close(members[i], lines) for i in ids), strict=True) if ids else ((), ())
    )
    return gpd.GeoDataFrame(
        {
            "osm_id": ids,
            "name": [names[i] for i in ids],
            "problem": list(problems),
        },
        geometry=list(shapes),
        crs="EPSG:4326",
    )


def _close(refs: list[int], lines: dict[int, list[tuple[float, float]] | None]) -> tuple:
    """A relation's area from its member ways: (polygon or None, problem or '')."""
    import shapely

    missing = [r for r in refs if lines.get(r) is None]
    if not refs:
        return None, "it has no member ways"
    if missing:
        return None, (
            f"the extract holds only part of its boundary ({len(missing)} of its "
            f"{len(refs)} ways are missing or cut)"
        )
    parts = [shapely.LineString(lines[r]) for r in dict.fromkeys(refs) if len(lines[r] or ()) > 1]
    area = shapely.build_area(shapely.GeometryCollection(parts))
    if area.is_empty:
        return None, "its ways do not close into a ring"
    return area, ""
