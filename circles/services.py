"""Services by category, found in OSM features by the tag rules of ``data/categories.yaml``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml

_NAME_KEYS = ("name", "name:zh", "name:en")


@dataclass(frozen=True)
class Category:
    """A service category: key, bilingual labels, map style and OSM tag rules."""

    key: str
    zh: str
    en: str
    color: str = "#555555"
    icon: str = "info-sign"
    rules: tuple[dict[str, Any], ...] = field(default=())

    @property
    def label(self) -> str:
        return f"{self.zh} {self.en}"

    def matches(self, tags: dict[str, str]) -> bool:
        """Whether a feature with these tags belongs to this category."""
        return any(_rule_matches(rule, tags) for rule in self.rules)


def _rule_matches(rule: dict[str, Any], tags: dict[str, str]) -> bool:
    for key, want in rule.items():
        if key == "name~":
            if not any(re.search(want, tags.get(k, "")) for k in _NAME_KEYS):
                return False
        elif key.endswith("!"):
            if tags.get(key[:-1]) in want:
                return False
        else:
            have = tags.get(key)
            if have is None or have == "no":
                return False
            if want != "*" and have not in (want if isinstance(want, list) else [want]):
                return False
    return True


def _as_tag_value(v: Any) -> Any:
    """YAML 1.1 reads bare yes/no as booleans; OSM values are strings."""
    if isinstance(v, list):
        return [_as_tag_value(x) for x in v]
    if isinstance(v, bool):
        return "yes" if v else "no"
    return v if v == "*" else str(v)


@cache
def load_categories() -> dict[str, Category]:
    """The category catalogue shipped with the package."""
    text = resources.files("circles").joinpath("data/categories.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    return {
        key: Category(
            key=key,
            zh=spec["zh"],
            en=spec["en"],
            color=spec.get("color", "#555555"),
            icon=spec.get("icon", "info-sign"),
            rules=tuple(
                {k: _as_tag_value(v) for k, v in rule.items()} for rule in spec.get("rules", ())
            ),
        )
        for key, spec in raw.items()
    }


def find_services(features: gpd.GeoDataFrame, categories: dict[str, Category]) -> gpd.GeoDataFrame:
    """One row per (feature, category) it belongs to, located at a representative point.

    A polygon (a park, a market hall) counts at a point inside it. Columns: service_id,
    category, name, osm_type, osm_id, geometry (same CRS as ``features``).
    """
    rows_idx: list[int] = []
    rows_cat: list[str] = []
    tags_col = features["tags"].tolist()
    for key, cat in categories.items():
        for i, tags in enumerate(tags_col):
            if cat.matches(tags):
                rows_idx.append(i)
                rows_cat.append(key)
    idx = np.asarray(rows_idx, dtype=np.int64)
    picked = features.iloc[idx]
    geom = picked.geometry.representative_point() if len(picked) else picked.geometry
    out = gpd.GeoDataFrame(
        {
            "service_id": np.arange(len(idx)),
            "category": pd.Series(rows_cat, dtype="string"),
            "name": picked["name"].to_numpy(),
            "osm_type": picked["osm_type"].to_numpy(),
            "osm_id": picked["osm_id"].to_numpy(),
        },
        geometry=np.asarray(geom),
        crs=features.crs,
    )
    return out
