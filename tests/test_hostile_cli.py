"""Hostile and careless use of the `circles` command (issue 18): a cache or an output place
that cannot be written, a full disk, odd paths, Ctrl-C, a broken standard output, killed
writes. Each case ends in one `error:` line (exit 2), `interrupted` (exit 130) or a warning
and a complete run; never `internal error`, a traceback, or a half-written folder."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests_support import BUNDLED, ROOT
from typer.testing import CliRunner

from circles.outputs import OWNER_FILE, write_folder
from cli import app

runner = CliRunner()
CIRCLES = [sys.executable, "-c", "import cli; cli.main()"]
QUICK_RUN = ["run", "--origins", "nodes", "--tables-only"]  # no clusters, map or GeoPackage


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def _one_error(res, words: str, code: int = 2) -> str:
    """The run ended with exit ``code`` and one ``error:`` line holding ``words``."""
    text = " ".join(res.output.split())
    assert res.exit_code == code, res.output
    assert "internal error" not in text and "Traceback" not in text, res.output
    [line] = _error_lines(res.output)
    assert words in text, res.output
    return line


@contextlib.contextmanager
def _tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A small disk (or a read-only one) at ``path``: a tmpfs, which needs root."""
    if os.geteuid() != 0:
        pytest.skip("a small or read-only disk is a tmpfs mount, which needs root")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def read_only_dir(tmp_path) -> Iterator[Path]:
    """An empty folder nobody may write into: a read-only mount as root (root ignores
    permissions), else a folder without write permission."""
    if os.geteuid() == 0:
        with _tmpfs(tmp_path / "ro", "ro,size=64k") as path:
            yield path
        return
    path = tmp_path / "ro"
    path.mkdir()
    path.chmod(0o555)
    try:
        yield path
    finally:
        path.chmod(0o755)


@pytest.fixture
def osm_copy(tmp_path) -> Path:
    path = tmp_path / "district.osm"
    path.write_bytes(BUNDLED.read_bytes())
    return path


@pytest.fixture
def no_reading(monkeypatch):
    """Any reading of the OSM data fails the test: checks must come before the work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the data was read before the paths were checked")

    monkeypatch.setattr("circles.pipeline.prepare", refuse)


# ---------------------------------------------------------------------------------------
# 1, 2: the cache is an optimisation
# ---------------------------------------------------------------------------------------


def test_a_cache_dir_that_is_a_file_is_one_warning_and_the_run_goes_on(tmp_path, osm_copy):
    in_the_way = tmp_path / "cache"
    in_the_way.write_text("not a folder", encoding="utf-8")
    out = tmp_path / "out"
    args = [*QUICK_RUN, "--osm", str(osm_copy), "--cache-dir", str(in_the_way), "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert text.count("cannot write the cache") == 1 and "goes on without it" in text
    assert "internal error" not in text and _error_lines(res.output) == []
    assert sorted(p.name for p in out.iterdir()) == ["reach.parquet", "summary.json"]
    assert in_the_way.read_text(encoding="utf-8") == "not a folder"


def test_a_read_only_cache_dir_is_one_warning(tmp_path, osm_copy, read_only_dir):
    out = tmp_path / "out"
    cache = read_only_dir / "circles"  # as under a read-only home
    res = runner.invoke(
        app, [*QUICK_RUN, "--osm", str(osm_copy), "--cache-dir", str(cache), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert text.count("cannot write the cache") == 1 and "internal error" not in text
    assert (out / "reach.parquet").is_file()
    assert list(read_only_dir.iterdir()) == []


def test_a_full_cache_disk_is_one_warning_and_leaves_no_temporary_file(tmp_path, osm_copy):
    out = tmp_path / "out"
    with _tmpfs(tmp_path / "small", "size=32k") as small:  # an entry is about 200 kB
        args = [*QUICK_RUN, "--osm", str(osm_copy), "--cache-dir", str(small), "--out", str(out)]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        text = " ".join(res.output.split())
        assert text.count("cannot write the cache") == 1 and "the disk is full" in text
        assert list(small.iterdir()) == []
    assert (out / "reach.parquet").is_file()


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_a_broken_entry_is_said_removed_and_rebuilt_and_cache_info_lists_it(
    tmp_path, osm_copy, damage
):
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = [*QUICK_RUN, "--osm", str(osm_copy), "--cache-dir", str(cache), "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    [entry] = cache.glob("prepared-*.npz")
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")

    info = runner.invoke(app, ["cache", "info", "--cache-dir", str(cache)])
    assert info.exit_code == 0, info.output
    text = " ".join(info.output.split())
    assert "(broken)" in text and "1 broken entries" in text
    assert "Traceback" not in text and "Aborted" not in text

    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert text.count("is broken") == 1 and "removed it" in text and "internal error" not in text
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["from_cache"] is False
    # Rebuilt: the next run is served from the cache, silently.
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "is broken" not in res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["from_cache"] is True


def test_cache_clear_in_a_read_only_folder_is_one_line(tmp_path, osm_copy):
    if os.geteuid() == 0:
        pytest.skip("root removes files from a folder without write permission")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "prepared-0123.npz").write_bytes(b"")
    cache.chmod(0o555)
    try:
        res = runner.invoke(app, ["cache", "clear", "--cache-dir", str(cache)])
    finally:
        cache.chmod(0o755)
    _one_error(res, "cannot clear the cache")


# ---------------------------------------------------------------------------------------
# 10: clear errors instead of internal ones
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_full_disk_under_out_is_one_line_and_leaves_nothing(tmp_path):
    # Issue 18: "internal error: ... no such table: gpkg_contents" (or DataSourceError).
    with _tmpfs(tmp_path / "small", "size=400k") as small:  # the outputs take ~2 MB
        out = small / "nj"
        res = runner.invoke(app, ["run", "--no-cache", "--out", str(out)])
        line = _one_error(res, "the disk is full")
        assert str(out) in line
        assert list(small.iterdir()) == []  # no output folder, no partial folder


@pytest.mark.parametrize(
    ("flag", "name", "words"),
    [
        ("--osm", "a\nb.osm", "line break"),
        ("--osm", os.fsdecode(b"c\xffd.osm"), "not valid UTF-8"),
        ("--pois", "p\nq.csv", "line break"),
        ("--out", "o\nut", "line break"),
        ("--out", os.fsdecode(b"o\xffut"), "not valid UTF-8"),
    ],
)
def test_a_line_break_or_a_byte_that_is_not_utf8_in_a_path_is_one_line(
    tmp_path, no_reading, flag, name, words
):
    path = tmp_path / name
    if flag != "--out":
        path.write_bytes(BUNDLED.read_bytes() if flag == "--osm" else b"name,lon,lat\n")
    args = ["run", flag, str(path)]
    if flag != "--out":
        args += ["--out", str(tmp_path / "out")]
    line = _one_error(runner.invoke(app, args), words)
    assert "rename" in line and ("\\n" in line or "\\xff" in line)  # shown, not raw
    assert not (tmp_path / "out").exists() and not (tmp_path / name).is_dir()


@pytest.mark.parametrize(
    "raised",
    [
        KeyboardInterrupt(),
        # What numba gives when Ctrl-C lands inside a compiled kernel.
        SystemError("CPUDispatcher(<function _count_kernel>) returned a result with an error"),
    ],
    ids=["python", "numba"],
)
def test_ctrl_c_during_reach_is_interrupted_and_130(tmp_path, monkeypatch, raised):
    from circles import measure

    def interrupted(*args, **kwargs):
        if isinstance(raised, KeyboardInterrupt):
            raise raised
        raise raised from KeyboardInterrupt()

    monkeypatch.setattr(measure, "measure", interrupted)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", "--no-cache", "--out", str(out)])
    assert res.exit_code == 130, res.output
    assert res.output.strip().splitlines()[-1] == "interrupted"
    assert "internal error" not in res.output and "SystemError" not in res.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_during_a_real_reach_ends_interrupted_with_130(tmp_path):
    # A fine grid keeps the reach busy for about 7 s: placing the origins (Python), then
    # the compiled kernels. SIGINT 4 s in lands in a kernel on this machine (numba then
    # raises SystemError), or in Python on a slower one: both must end the same way.
    out = tmp_path / "out"
    args = ["run", "--origins", "grid", "--set", "reach.grid_spacing_m=8", "--thresholds"]
    args += ["5000", "--tables-only", "--no-cache", "--out", str(out)]
    proc = subprocess.Popen(
        [*CIRCLES, *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # the step before the reach announces itself when done
            seen.append(line)
            if "Snapping" in line:
                break
        time.sleep(4)
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(seen) + rest
    assert code == 130, text
    assert text.strip().splitlines()[-1] == "interrupted", text
    assert "internal error" not in text and "Traceback" not in text
    assert not out.exists() and list(tmp_path.iterdir()) == []


def _circles(args: list[str], stdout: object, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CIRCLES, *args],
        cwd=ROOT,
        stdout=stdout,  # type: ignore[arg-type]
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        env={**os.environ, "CIRCLES_CACHE_DIR": str(tmp_path / "cache")},
    )


def _closed_stdout():
    os.close(1)


@pytest.mark.parametrize("args", [["--version"], ["categories"], ["cache", "info"]])
def test_a_standard_output_that_cannot_be_written_is_one_line(tmp_path, args):
    with open(os.devnull if not Path("/dev/full").exists() else "/dev/full", "w") as full:
        proc = _circles(args, full, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "error: cannot write to standard output (No space left on device)"


def test_a_closed_standard_output_is_one_line(tmp_path):
    proc = subprocess.run(
        [*CIRCLES, "--version"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=_closed_stdout,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "error: cannot write to standard output (it is closed)"


@pytest.mark.slow
@pytest.mark.parametrize("stdout", ["full", "closed"])
def test_a_run_whose_standard_output_fails_keeps_its_outputs_and_says_so(tmp_path, stdout):
    out = tmp_path / "out"
    args = [*QUICK_RUN, "--no-cache", "--out", str(out)]
    if stdout == "full":
        with open("/dev/full", "w") as full:
            proc = _circles(args, full, tmp_path)
    else:
        proc = subprocess.run(
            [*CIRCLES, *args],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            preexec_fn=_closed_stdout,
        )
    assert proc.returncode == 2, proc.stderr
    [line] = _error_lines(proc.stderr)
    assert line.startswith("error: cannot write to standard output")
    assert f"the outputs are complete in {out}" in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["reach.parquet", "summary.json"]


# ---------------------------------------------------------------------------------------
# 11: fail before the work, not after it
# ---------------------------------------------------------------------------------------


def _out_is_a_file(tmp_path: Path) -> Path:
    path = tmp_path / "taken"
    path.write_text("a file", encoding="utf-8")
    return path


def _out_is_foreign(tmp_path: Path) -> Path:
    path = tmp_path / "thesis"
    path.mkdir()
    (path / "chapter1.docx").write_text("precious", encoding="utf-8")
    return path


def _out_under_a_file(tmp_path: Path) -> Path:
    return _out_is_a_file(tmp_path) / "out"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_out_is_a_file, "exists and is not a folder"),
        (_out_is_foreign, "files circles did not write (chapter1.docx)"),
        (_out_under_a_file, "is a file, not a folder"),
    ],
)
@pytest.mark.parametrize("command", ["run", "plan"])
def test_an_output_folder_that_cannot_be_written_is_refused_before_reading(
    tmp_path, no_reading, make, words, command
):
    out = make(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    args = ["run"] if command == "run" else ["plan", "--category", "pharmacy", "--add", "1"]
    if command == "plan":
        args += ["--distance", "300"]
    _one_error(runner.invoke(app, [*args, "--out", str(out)]), words)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_read_only_parent_is_refused_before_reading(tmp_path, no_reading, read_only_dir):
    res = runner.invoke(app, ["run", "--out", str(read_only_dir / "out")])
    _one_error(res, "is read-only")
    assert list(read_only_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--pois", "{tmp}/missing.csv"], "table not found"),
        (["--residences", "{tmp}/missing.csv"], "table not found"),
        (["--pois", "{tmp}"], "is a folder, not a file"),
        (["--boundary", "{tmp}/none.geojson"], "boundary file not found"),
        (["--osm", "{tmp}/none.osm"], "OSM file not found"),
    ],
)
def test_a_missing_input_is_said_before_reading(tmp_path, no_reading, args, words):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    _one_error(runner.invoke(app, ["run", *args, "--out", str(tmp_path / "o")]), words)
    assert not (tmp_path / "o").exists()


def test_a_missing_candidates_table_of_a_plan_is_said_before_reading(tmp_path, no_reading):
    args = ["plan", "--category", "pharmacy", "--distance", "300", "--add", "1"]
    args += ["--candidates", str(tmp_path / "sites.csv"), "--out", str(tmp_path / "o")]
    line = _one_error(runner.invoke(app, args), "table not found")
    assert "--candidates" in line and not (tmp_path / "o").exists()


def test_an_unreadable_input_is_said_before_reading(tmp_path, no_reading):
    if os.geteuid() == 0:
        pytest.skip("root reads files without read permission")
    table = tmp_path / "p.csv"
    table.write_text("name,lon,lat\n", encoding="utf-8")
    table.chmod(0)
    res = runner.invoke(app, ["run", "--pois", str(table), "--out", str(tmp_path / "o")])
    _one_error(res, "cannot read table")


# ---------------------------------------------------------------------------------------
# 13: leftovers of killed writes
# ---------------------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: its pid names no process now
    return proc.pid


def _partial(parent: Path, name: str, owner: dict | None) -> Path:
    folder = parent / f".{name}.0123456789ab.partial"
    folder.mkdir(parents=True)
    (folder / "map.html").write_text("half", encoding="utf-8")
    if owner is not None:
        (folder / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")
    return folder


def _write(out: Path) -> Path:
    return write_folder(out, [("a.txt", lambda p: p.write_text("x", encoding="utf-8"))], ["a.txt"])


def test_partial_folders_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    host = socket.gethostname()
    dead = _partial(tmp_path, "old-run", {"pid": _dead_pid(), "host": host})
    live = _partial(tmp_path, "busy", {"pid": os.getpid(), "host": host})
    remote = _partial(tmp_path, "shared", {"pid": _dead_pid(), "host": host + "-other"})
    young = _partial(tmp_path, "young", None)  # no record: kept while young
    aged = _partial(tmp_path, "aged", None)
    two_days_ago = time.time() - 2 * 86400
    os.utime(aged, (two_days_ago, two_days_ago))
    _write(tmp_path / "study")
    left = {p.name for p in tmp_path.iterdir()}
    assert dead.name not in left and aged.name not in left
    assert {live.name, remote.name, young.name, "study"} <= left
    # The record of the writer never reaches the finished folder.
    assert [p.name for p in (tmp_path / "study").iterdir()] == ["a.txt"]


def test_a_killed_write_is_cleaned_by_the_next_write_into_the_same_parent(tmp_path):
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from circles.outputs import write_folder\n"
        "def slow(path):\n"
        "    path.write_bytes(b'x' * 100_000)\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(120)\n"
        "write_folder(Path(sys.argv[1]), [('map.html', slow)], ['map.html'])\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "study")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    finally:
        proc.kill()  # SIGKILL: no cleanup can run
        proc.wait()
    [left] = tmp_path.glob(".study.*.partial")
    assert (left / "map.html").is_file()
    _write(tmp_path / "other-study")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-study"]
