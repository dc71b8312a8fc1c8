"""The API reference builds (mkdocs + mkdocstrings, offline) without a warning."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # imports every module and renders every docstring


def test_api_reference_builds_strict(tmp_path):
    if importlib.util.find_spec("mkdocstrings_handlers") is None:
        pytest.fail("mkdocs and mkdocstrings are missing: pip install -e '.[docs]' (or '.[dev]')")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    # --strict stops on warnings; an error logged without one must not pass either.
    assert "ERROR" not in log, log
    assert "WARNING" not in log, log
    page = (site / "reference" / "engine.html").read_text("utf-8")
    # mkdocstrings rendered the docstrings: a function, and a numpy Parameters section.
    assert 'id="circles.engine.reach"' in page
    assert "thresholds" in page and "Parameters" in page
    assert (site / "index.html").is_file()
