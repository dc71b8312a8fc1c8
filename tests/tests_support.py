"""Paths shared by the tests (importable, unlike conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "nanjing-xinjiekou-2021.osm"


def features(rows: list[tuple]) -> Any:
    """A features frame from (osm_type, osm_id, tags, geometry) rows."""
    from circles.sources.extract import features_frame

    return features_frame(
        osm_type=[r[0] for r in rows],
        osm_id=[r[1] for r in rows],
        tags=[r[2] for r in rows],
        geometry=[r[3] for r in rows],
    )


def north_up(west: float, north: float, xsize: float, ysize: float) -> Any:
    """A north-up grid's transform (rasterio's from_origin, without its deprecated ``*``)."""
    from affine import Affine

    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def write_geotiff(path: Path, values: Any, crs: Any, transform: Any, nodata: Any = None) -> Path:
    """A one-band float32 GeoTIFF written with rasterio (population rasters, DEMs)."""
    import numpy as np
    import rasterio

    values = np.asarray(values, dtype="float32")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=values.shape[0],
        width=values.shape[1],
        count=1,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(values, 1)
    return Path(path)
