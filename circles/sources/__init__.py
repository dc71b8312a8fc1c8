"""Data sources: local OSM files, Overpass through osmnx, and boundaries."""

from circles.sources.extract import OsmExtract
from circles.sources.osm_file import read_osm_file

__all__ = ["OsmExtract", "read_osm_file"]
