"""Compiler cache (issue 15, item 5): a change that does not change what is compiled rebuilds from
ccache, and the package equals a clean build's; --dirty trees are not configured again."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import STACKS, pmpm
from test_rebuild import GATE, V3, _contents

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ccache") is None, reason="ccache not installed (.ci/run installs it)"),
]


@pytest.fixture()
def demo(tmp_path) -> Path:
    shutil.copytree(STACKS / "demo", tmp_path / "demo")
    shutil.copy(STACKS / "demo.yml", tmp_path / "demo.yml")
    return tmp_path


def stats(cache: Path) -> dict[str, int]:
    out = subprocess.run(
        ["ccache", "--print-stats"],
        env={"CCACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counters = dict(line.split("\t") for line in out.splitlines() if "\t" in line)
    return {k: int(counters.get(k, 0)) for k in ("direct_cache_hit", "preprocessed_cache_hit", "cache_miss")}


def built(proc) -> dict[str, Path]:
    return {
        p["name"]: Path(p["files"][0])
        for p in json.loads(proc.stdout)["packages"]
        if p["name"] != GATE and p["status"] == "built"
    }


def test_metadata_only_change_compiles_nothing_and_equals_a_clean_build(demo):
    env = {"XDG_CACHE_HOME": str(demo / "xdg")}
    cache = demo / "xdg" / "pmpm" / "ccache"
    pmpm("build", "demo.yml", *V3, cwd=demo, env=env)
    first = stats(cache)
    assert first["cache_miss"] > 0  # the first build filled the cache
    stack = demo / "demo.yml"
    stack.write_text(stack.read_text().replace("Vectorizable saxpy kernel (pmpm demo)", "A saxpy kernel"))
    again = pmpm("build", "demo.yml", *V3, "--json", cwd=demo, env=env)
    second = stats(cache)
    assert set(built(again)) == {"libkern", "kern-cli"}  # the summary changed: both republished
    assert second["cache_miss"] == first["cache_miss"]  # ... without compiling anything
    assert (
        second["direct_cache_hit"] + second["preprocessed_cache_hit"]
        > first["direct_cache_hit"] + first["preprocessed_cache_hit"]
    )
    kept = demo / "cached"
    kept.mkdir()
    cached = {name: _contents(Path(shutil.copy(path, kept)), demo / "xa") for name, path in built(again).items()}
    clean = pmpm("build", "demo.yml", *V3, "--force", "--no-ccache", "--json", cwd=demo, env=env)
    assert stats(cache) == second  # --no-ccache: the cache is not consulted
    for name, path in built(clean).items():
        files = _contents(path, demo / "xb")
        assert sorted(files) == sorted(cached[name])
        assert [n for n in files if files[n] != cached[name][n]] == [], name


def test_no_ccache_env_var_turns_it_off(demo):
    pmpm("build", "demo.yml", cwd=demo, env={"XDG_CACHE_HOME": str(demo / "xdg"), "PMPM_NO_CCACHE": "1"})
    assert not (demo / "xdg" / "pmpm" / "ccache").exists()


def test_a_dirty_tree_is_configured_once(demo):
    env = {"XDG_CACHE_HOME": str(demo / "xdg")}
    pmpm("build", "demo.yml", *V3, "--dirty", cwd=demo, env=env)
    source = demo / "demo" / "libkern" / "src" / "kern.c"
    source.write_text(source.read_text() + "\nint kern_unused_marker(void) { return 1; }\n")
    proc = pmpm("build", "demo.yml", *V3, "--dirty", "--json", cwd=demo, env=env)
    log = Path(next(p["log"] for p in json.loads(proc.stdout)["packages"] if p["name"] == "libkern")).read_text()
    assert "configured by this same command; not configuring again" in log
    assert "-- Configuring done" not in log
