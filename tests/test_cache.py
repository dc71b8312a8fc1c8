"""The cache of parsed networks: hits, and never a stale result after a change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests_support import BUNDLED
from typer.testing import CliRunner

from circles import pipeline
from circles.cache import CacheWarning, entries, store
from circles.config import study_from_dict
from cli import app


def _study(osm, **extra):
    return study_from_dict(
        {"name": "c", "source": {"osm": str(osm)}, "reach": {"origins": "nodes"}, **extra}
    )


@pytest.fixture
def osm_copy(tmp_path):
    path = tmp_path / "district.osm"
    path.write_bytes(BUNDLED.read_bytes())
    return path


def test_second_run_comes_from_the_cache_and_is_identical(tmp_path, osm_copy):
    cache = tmp_path / "cache"
    first = pipeline.run(_study(osm_copy), tables_only=True, cache_dir=cache)
    second = pipeline.run(_study(osm_copy), tables_only=True, cache_dir=cache)
    assert not first.summary["from_cache"] and second.summary["from_cache"]
    assert "load" in second.summary["timings_s"] and "network" not in second.summary["timings_s"]
    for key, values in first.reach.items():
        np.testing.assert_array_equal(values, second.reach[key], err_msg=key)


def test_a_changed_file_is_never_served_from_the_cache(tmp_path, osm_copy):
    cache = tmp_path / "cache"
    before = pipeline.run(_study(osm_copy), tables_only=True, cache_dir=cache)
    # Retag the pharmacies as banks (the ones named 药房 still count by their name).
    text = osm_copy.read_text(encoding="utf-8")
    assert 'v="pharmacy"' in text
    osm_copy.write_text(text.replace('v="pharmacy"', 'v="bank"'), encoding="utf-8")
    after = pipeline.run(_study(osm_copy), tables_only=True, cache_dir=cache)
    assert not after.summary["from_cache"]
    per_cat = "services_per_category"
    assert (
        after.summary["inputs"][per_cat]["pharmacy"] < before.summary["inputs"][per_cat]["pharmacy"]
    )
    assert after.reach["pharmacy_1000m"].sum() < before.reach["pharmacy_1000m"].sum()


def test_changed_settings_are_a_different_entry(tmp_path, osm_copy):
    cache = tmp_path / "cache"
    pipeline.run(_study(osm_copy), tables_only=True, cache_dir=cache)
    tight = pipeline.run(
        _study(osm_copy, snap={"max_distance_m": 5}), tables_only=True, cache_dir=cache
    )
    assert not tight.summary["from_cache"]
    assert tight.summary["snap"]["services_unsnapped"] > 0
    fewer = pipeline.run(
        _study(osm_copy, categories=["pharmacy"]), tables_only=True, cache_dir=cache
    )
    assert not fewer.summary["from_cache"]
    assert len(list(cache.glob("prepared-*.npz"))) == 3


def test_a_broken_entry_is_a_miss(tmp_path, osm_copy):
    cache = tmp_path / "cache"
    pipeline.run(_study(osm_copy), tables_only=True, cache_dir=cache)
    [entry] = cache.glob("prepared-*.npz")
    entry.write_bytes(b"not an npz")
    with pytest.warns(CacheWarning, match="is broken"):
        again = pipeline.run(_study(osm_copy), tables_only=True, cache_dir=cache)
    assert not again.summary["from_cache"]


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _empty(data: bytes) -> bytes:
    return b""


def _cut_before_the_directory(data: bytes) -> bytes:
    return data[:-30]  # the zip's central directory and end record are at its end


@pytest.mark.parametrize("damage", [_truncated, _empty, _cut_before_the_directory])
def test_a_truncated_or_empty_entry_is_removed_and_rebuilt(tmp_path, osm_copy, damage):
    # Issue 18, point 2: BadZipFile or EOFError used to fail every later run.
    cache = tmp_path / "cache"
    first = pipeline.run(_study(osm_copy), tables_only=True, cache_dir=cache)
    [entry] = cache.glob("prepared-*.npz")
    entry.write_bytes(damage(entry.read_bytes()))
    with pytest.warns(CacheWarning, match=f"{entry.name} is broken .*removed it") as said:
        again = pipeline.run(_study(osm_copy), tables_only=True, cache_dir=cache)
    assert len([w for w in said if issubclass(w.category, CacheWarning)]) == 1
    assert not again.summary["from_cache"]
    np.testing.assert_array_equal(first.reach["pharmacy_1000m"], again.reach["pharmacy_1000m"])
    # Rewritten whole: the next run is served from it, and no temporary file is left.
    third = pipeline.run(_study(osm_copy), tables_only=True, cache_dir=cache)
    assert third.summary["from_cache"]
    assert sorted(p.name for p in cache.iterdir()) == [entry.name]


def test_entries_list_a_broken_entry_without_raising(tmp_path, osm_copy):
    cache = tmp_path / "cache"
    pipeline.run(_study(osm_copy), tables_only=True, cache_dir=cache)
    [entry] = cache.glob("prepared-*.npz")
    (cache / "prepared-0123.npz").write_bytes(b"")
    (cache / "prepared-4567.npz").write_bytes(_truncated(entry.read_bytes()))
    listed = {e.key: e for e in entries(cache)}
    assert listed["0123"].broken and listed["4567"].broken
    good = listed[entry.stem.removeprefix("prepared-")]
    assert not good.broken and good.source.endswith("district.osm")


def test_a_cache_that_cannot_be_written_warns_and_the_run_goes_on(tmp_path, osm_copy):
    # Issue 18, point 1: a --cache-dir that is a file failed the run (FileExistsError).
    in_the_way = tmp_path / "cache"
    in_the_way.write_text("a file", encoding="utf-8")
    with pytest.warns(CacheWarning, match="cannot write the cache .*goes on without it"):
        res = pipeline.run(_study(osm_copy), tables_only=True, cache_dir=in_the_way)
    plain = pipeline.run(_study(osm_copy), tables_only=True)
    np.testing.assert_array_equal(res.reach["pharmacy_1000m"], plain.reach["pharmacy_1000m"])
    assert in_the_way.read_text(encoding="utf-8") == "a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "district.osm"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    import errno

    def full_disk(file, **arrays):
        Path(file).write_bytes(b"PK\x03\x04 half an entry")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError):
        store(tmp_path, "k", {"a": np.arange(3)}, {})
    assert list(tmp_path.iterdir()) == []


def test_cli_nodes_tables_only_and_cache_commands(tmp_path, osm_copy):
    runner = CliRunner()
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = [
        "run",
        "--osm",
        str(osm_copy),
        "--origins",
        "nodes",
        "--tables-only",
        "--cache-dir",
        str(cache),
        "--out",
        str(out),
        "--k-nearest",
        "2",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["reach.parquet", "summary.json"]
    table = pq.read_table(out / "reach.parquet")
    names = table.column_names
    assert names[:3] == ["origin_id", "lon", "lat"]
    assert {"pharmacy_300m", "pharmacy_1000m", "pharmacy_nearest_m", "pharmacy_nearest2_m"} <= set(
        names
    )
    lon = table.column("lon").to_numpy()
    lat = table.column("lat").to_numpy()
    assert (lon > 118.7).all() and (lon < 118.9).all() and (lat > 31.9).all() and (lat < 32.2).all()
    # Elder care is a data gap here: its nearest distance is null, never a huge number.
    assert table.column("elder_care_nearest_m").null_count == table.num_rows
    info = runner.invoke(app, ["cache", "info", "--cache-dir", str(cache)])
    assert info.exit_code == 0 and "1 entries" in " ".join(info.output.split())
    cleared = runner.invoke(app, ["cache", "clear", "--cache-dir", str(cache)])
    assert cleared.exit_code == 0 and "Removed 1 " in " ".join(cleared.output.split())
    assert not list(cache.glob("prepared-*.npz"))


def test_grid_origins(tmp_path):
    study = study_from_dict(
        {
            "name": "g",
            "source": {"osm": str(BUNDLED)},
            "reach": {"origins": "grid", "grid_spacing_m": 200},
        }
    )
    res = pipeline.run(study, tables_only=True)
    n = len(res.reach["origin_id"])
    assert 50 < n < 2000
    assert (res.reach["snap_m"] <= 300).all()
    assert res.summary["coverage_origins"]["market"]["1000m"] > 0


def test_any_change_to_a_module_the_network_build_imports_changes_the_key(tmp_path):
    import shutil
    import subprocess
    import sys

    from circles import cache
    from circles.settings import PACKAGE_DIR

    # The modules a cached entry depends on: whatever reading, building the network,
    # finding services and snapping import, as a new process sees them.
    probe = (
        "import sys; import circles.prepare, circles.sources.osm_file, circles.network, "
        "circles.services, circles.snap, circles.graph; "
        "print('\\n'.join(m.__file__ for n, m in sys.modules.items() "
        "if n.startswith('circles') and getattr(m, '__file__', None)))"
    )
    files = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    modules = sorted({Path(f).resolve().relative_to(PACKAGE_DIR) for f in files})
    assert Path("graph.py") in modules and Path("network.py") in modules  # the case
    copy = tmp_path / "circles"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    base = cache.package_digest(copy)
    assert base == cache.code_digest()  # the content, not where the package lies
    for rel in modules:
        path = copy / rel
        original = path.read_bytes()
        path.write_bytes(original + b"\n# changed\n")
        assert cache.package_digest(copy) != base, rel
        path.write_bytes(original)
    assert cache.package_digest(copy) == base
