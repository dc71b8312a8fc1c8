"""Every code block of the README runs, and gives what the README says.

A block is one of:

- ``python``: executed, in a sandbox folder (below);
- ``console``: a shell session; each ``$ `` line is a ``circles`` command, run in the sandbox
  with the test's own ``circles`` (the one beside this Python) and checked for exit code 0;
  the other lines are output shown, checked loosely (``...`` skips, ``…`` matches anything);
- ``yaml``: validated, a study config through ``study_from_dict`` or a standard (``levels``
  or ``extends``) through ``standard_from_dict`` after its ``extends`` chain is merged; a
  first line ``# some/file.yaml`` also writes it there in the sandbox, for the commands;
- ``text``: a diagram, skipped.

Any other block fails, except the Quick start: the two ``make`` commands, checked against
the Makefile (running them here would build a venv and run this suite inside itself).

The sandbox is a temporary folder with ``data`` (a link to the repo's), a copy of
``configs`` (so a config's ``output_dir: ../outputs`` lands in the sandbox too) and a
sibling ``shared`` (a link to the repo's ``../shared``), so commands write nothing into
the repository. Online sources (``--place``, ``--bbox``) cannot run here: the README
names them in prose.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "guide"
BIN = Path(sys.executable).parent  # the venv running the tests: its `circles`
LANGUAGES = ("python", "console", "yaml", "text")
QUICK_START = (
    "make run    # creates .venv, installs circles, measures the bundled Nanjing district\n"
    "make test   # same set-up, then the whole test suite\n"
)
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int

    @property
    def id(self) -> str:
        return f"{self.lang or 'untagged'}-line{self.line}"


def _blocks(path: Path = README) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [
        Block(m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]


BLOCKS = _blocks()


def _of(lang: str) -> list[Block]:
    return [b for b in BLOCKS if b.lang == lang]


def _written_path(block: Block) -> str | None:
    """The sandbox file a YAML block stands for: its first line ``# dir/name.yaml``."""
    m = re.match(r"#\s*(\S+\.ya?ml)\b", block.text)
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    top = tmp_path_factory.mktemp("readme")
    work = top / "work"
    work.mkdir()
    (work / "data").symlink_to(ROOT / "data", target_is_directory=True)
    shutil.copytree(ROOT / "configs", work / "configs")
    (top / "shared").symlink_to(ROOT.parent / "shared", target_is_directory=True)
    for block in _of("yaml"):
        if rel := _written_path(block):
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
    return work


@pytest.fixture(scope="module")
def env(sandbox) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CIRCLES_CACHE_DIR"] = str(sandbox.parent / "cache")
    env["COLUMNS"] = "200"  # rich wraps at the terminal's width
    # Offline: a request that slipped through fails at once instead of going out.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[name] = "http://127.0.0.1:9"
    for name in ("no_proxy", "NO_PROXY"):
        env.pop(name, None)
    return env


# ---------------------------------------------------------------------------------------
# Every block is of a kind the test knows
# ---------------------------------------------------------------------------------------


def test_every_block_is_python_console_yaml_or_text():
    assert BLOCKS, "no code blocks found in README.md"
    quick_start, *rest = BLOCKS
    assert (quick_start.lang, quick_start.text) == ("bash", QUICK_START), (
        "the first block must be the Quick start: exactly `make run` and `make test`"
    )
    wrong = [b.id for b in rest if b.lang not in LANGUAGES]
    assert wrong == [], f"tag these blocks as one of {LANGUAGES}: {wrong}"


def test_quick_start_commands_are_make_targets():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run: .*\n\t\$\(BIN\)/circles run$", makefile, re.M)
    assert re.search(r"^test: .*\n\t\$\(BIN\)/pytest$", makefile, re.M)
    # `make run` is `circles run` in the venv: the console blocks below run that command.
    assert any(c == ["circles", "run", "--out", "out/nanjing"] for c in _all_commands())


# ---------------------------------------------------------------------------------------
# Python
# ---------------------------------------------------------------------------------------


def test_engine_example_gives_the_numbers_in_its_comments():
    [block] = [b for b in _of("python") if "from circles import Graph" in b.text]
    scope: dict = {}
    exec(block.text, scope)  # noqa: S102 - our own README
    r = scope["r"]
    # Worked by hand: 10 + 150 + 100 = 260 m and 10 + 150 + 280 + 5 = 445 m.
    assert r.counts[0, 0].tolist() == [1, 2, 2]
    assert r.nearest_m[0, 0] == 260.0
    np.testing.assert_allclose(r.k_nearest_m[0, 0], [260.0, 445.0])


@pytest.mark.slow
def test_library_example_writes_a_map_that_opens_offline(sandbox, env, monkeypatch):
    [block] = [b for b in _of("python") if "circles.write_outputs(" in b.text]
    assert 'circles.write_outputs(result, folder, self_contained=True, basemap="none")' in (
        block.text
    )
    monkeypatch.chdir(sandbox)
    monkeypatch.setenv("CIRCLES_CACHE_DIR", env["CIRCLES_CACHE_DIR"])
    scope: dict = {}
    exec(block.text, scope)  # noqa: S102 - our own README
    folder = sandbox / scope["folder"]
    assert folder.resolve().is_relative_to(sandbox.resolve())
    for name in ("map.html", "clusters.gpkg", "clusters.csv", "summary.json", "report.html"):
        assert (folder / name).is_file(), name
    page = (folder / "map.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net" not in page  # Leaflet embedded
    # The extract's 11 residential polygons, and the building clusters outside them.
    assert (scope["result"].clusters["method"] == "landuse").sum() == 11


@pytest.mark.slow
def test_plan_example_writes_a_plan_that_opens_offline(sandbox, env, monkeypatch):
    [block] = [b for b in _of("python") if "circles.plan(" in b.text]
    monkeypatch.chdir(sandbox)
    monkeypatch.setenv("CIRCLES_CACHE_DIR", env["CIRCLES_CACHE_DIR"])
    scope: dict = {}
    exec(block.text, scope)  # noqa: S102 - our own README
    folder = sandbox / "out" / "plan"
    for name in ("sites.csv", "sites.geojson", "plan.html", "report.md", "report.html"):
        assert (folder / name).is_file(), name
    assert "cdn.jsdelivr.net" not in (folder / "plan.html").read_text(encoding="utf-8")
    plan = scope["plan"]
    assert plan.sites["rank"].tolist() == [1, 2, 3]
    assert plan.after["residents"] > plan.before["residents"]


def test_every_python_block_is_tested():
    tested = ("from circles import Graph", "circles.write_outputs(", "circles.plan(")
    untested = [b.id for b in _of("python") if not any(t in b.text for t in tested)]
    assert untested == [], "add a test for these python blocks"


# ---------------------------------------------------------------------------------------
# Shell sessions
# ---------------------------------------------------------------------------------------


def _session(block: Block) -> list[tuple[list[str], list[str]]]:
    """The commands of a console block, each with the output lines shown after it."""
    steps: list[tuple[list[str], list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            steps.append((shlex.split(line[2:], comments=True), []))
        elif line.strip():
            assert steps, f"{block.id}: output shown before any command: {line!r}"
            steps[-1][1].append(line)
    return steps


def _all_commands() -> list[list[str]]:
    return [argv for b in _of("console") for argv, _ in _session(b)]


def test_commands_are_offline_and_write_into_the_sandbox():
    for argv in _all_commands():
        assert argv[0] == "circles", f"only circles commands run here: {argv}"
        assert not {"--place", "--bbox"} & set(argv), f"online, cannot run: {argv}"
        if argv[1:2] == ["run"] and "--help" not in argv:
            # Without --out, the bundled study writes into the repository's outputs/.
            assert "--out" in argv, f"give --out DIR, so that the test writes no repo file: {argv}"


def _squash(text: str) -> str:
    return " ".join(text.split())


def _check_shown(shown: list[str], output: str, argv: list[str]) -> None:
    """Shown lines appear in the output in order; ``...`` skips, ``…`` is a wildcard."""
    output = _squash(output)
    at = 0
    for line in shown:
        if line.strip() == "...":
            continue
        for piece in (_squash(p) for p in line.split("…")):
            found = output.find(piece, at)
            assert found >= 0, f"{shlex.join(argv)}: shown {line!r} not in its output:\n{output}"
            at = found + len(piece)


@pytest.mark.slow
@pytest.mark.parametrize("block", _of("console"), ids=lambda b: b.id)
def test_console_session_runs(block, sandbox, env):
    for argv, shown in _session(block):
        proc = subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            cwd=sandbox,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"$ {shlex.join(argv)} exited {proc.returncode}:\n{output}"
        _check_shown(shown, output, argv)
        if "--out" in argv:
            out = sandbox / argv[argv.index("--out") + 1]
            assert out.resolve().is_relative_to(sandbox.resolve())
            if out.suffix == ".xlsx":  # a form (circles standards form), not a run's folder
                assert out.is_file() and out.stat().st_size > 0, shlex.join(argv)
                continue
            assert (out / "summary.json").is_file(), f"{shlex.join(argv)} wrote no summary.json"


@pytest.mark.slow
def test_table_examples_use_and_report_every_row(sandbox, env):
    """The sample tables load: the POI export adds services, the 小区 list forms clusters."""
    import json

    commands = {shlex.join(a): a for a in _all_commands()}
    pois = [a for a in commands.values() if "--pois" in a]
    residences = [a for a in commands.values() if "--residences" in a]
    assert pois and residences, "the README shows a POI table and a 小区 table"
    for argv in (*pois, *residences):
        out = sandbox / argv[argv.index("--out") + 1]
        if not (out / "summary.json").is_file():  # run on its own, without the session
            subprocess.run([str(BIN / "circles"), *argv[1:]], cwd=sandbox, env=env, check=True)
        tables = json.loads((out / "summary.json").read_text(encoding="utf-8"))["tables"]
        assert tables["rows_read"] == tables["rows_used"] + tables["rows_rejected"]
        assert (out / "rejected_rows.csv").is_file()
    out = sandbox / pois[0][pois[0].index("--out") + 1]
    [table] = json.loads((out / "summary.json").read_text(encoding="utf-8"))["tables"]["pois"]
    assert table["crs"] == "gcj02" and table["services_added"] > 0
    assert table["duplicates_merged"] == 1  # 益丰大药房（新街口店） is the OSM 益丰大药房


# ---------------------------------------------------------------------------------------
# YAML
# ---------------------------------------------------------------------------------------


def _validate_yaml(block: Block, sandbox: Path, files_must_exist: bool) -> None:
    from circles.config import study_from_dict
    from circles.standards import load_standard, standard_from_dict

    data = yaml.safe_load(block.text)
    assert isinstance(data, dict), f"{block.id}: not a mapping"
    rel = _written_path(block)
    path = sandbox / rel if rel else sandbox / "block.yaml"
    if "levels" in data or "extends" in data:
        if "extends" in data:  # merged onto its base, then standard_from_dict
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.text, encoding="utf-8")
            standard = load_standard(path)
        else:
            standard = standard_from_dict(data, origin=block.id)
        assert standard.levels
        return
    study = study_from_dict(data, base=path.parent, where=block.id)
    if files_must_exist:
        files = [study.source.osm, study.boundary, study.residences.file]
        files += [t.file for t in study.pois]
        missing = [str(f) for f in files if f is not None and not Path(f).exists()]
        assert missing == [], f"{block.id}: files not found: {missing}"


@pytest.mark.parametrize("block", _of("yaml"), ids=lambda b: b.id)
def test_yaml_block_is_a_valid_study_or_standard(block, sandbox):
    _validate_yaml(block, sandbox, files_must_exist=True)


GUIDE_YAML = [
    pytest.param(b, id=f"{p.stem}-{b.id}")
    for p in sorted(GUIDE.glob("*.md"))
    for b in _blocks(p)
    if b.lang == "yaml"
]


@pytest.mark.parametrize("block", GUIDE_YAML)
def test_guide_yaml_is_valid(block, sandbox):
    """The guide's examples name files a reader has, not ours: only their fields count."""
    _validate_yaml(block, sandbox, files_must_exist=False)


# ---------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub and mkdocs (toc) both make it for ASCII headings."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_local_links_resolve():
    text = README.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        page = ROOT / path if path else README
        assert page.exists(), f"README links to a missing file: {target}"
        if anchor and page.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
            assert anchor in {_slug(h) for h in headings}, f"no heading for {target}"
