"""The API reference: every module is on a page, and the site builds (mkdocs +
mkdocstrings, offline) without a warning."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest
from conftest import ROOT

REFERENCE = ROOT / "docs" / "reference"
# Packages whose page lists their submodules itself (show_submodules in the page).
WHOLE_PACKAGES = ("circles.sources", "circles.outputs", "circles.standards")


def test_every_module_is_on_a_reference_page():
    shown = set()
    for page in REFERENCE.glob("*.md"):
        shown |= set(re.findall(r"^::: ([\w.]+)", page.read_text("utf-8"), flags=re.M))
    modules = set()
    for path in (ROOT / "circles").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if parts[-1].startswith("_") and name != "circles._errors":
            continue  # private helpers (circles._yaml, the read worker)
        if any(name.startswith(p + ".") for p in WHOLE_PACKAGES):
            continue
        modules.add(name)
    assert sorted(modules - shown) == [], "add these modules to a page of docs/reference/"
    assert sorted(shown - modules - set(WHOLE_PACKAGES)) == [], "pages name missing modules"


@pytest.mark.slow  # imports nothing, but renders every docstring of the package
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
    assert "n_categories" in page and "Parameters" in page
    assert (site / "index.html").is_file()
