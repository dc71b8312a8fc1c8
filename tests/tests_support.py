"""Paths shared by the tests (importable, unlike conftest)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "nanjing-xinjiekou-2021.osm"
