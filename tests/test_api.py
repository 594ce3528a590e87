"""The whole pipeline in this process, through the public API only: load → render → build →
create → lock, as a Python user would drive it (the CLI is tested through subprocesses)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import STACKS

import pmpm

pytestmark = pytest.mark.slow


def test_the_pipeline_in_process_through_the_api(tmp_path, monkeypatch):
    shutil.copytree(STACKS / "demo", tmp_path / "demo")
    shutil.copy(STACKS / "demo.yml", tmp_path / "demo.yml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    environ = dict(os.environ)

    stack = pmpm.load_stack("demo.yml")
    variants = pmpm.stack_variants(stack, pmpm.RecipeOptions(variants=("march=x86-64,x86-64-v3",)))
    rendered = pmpm.render_stack(stack, "recipes", variants)
    assert rendered.order == ["libkern", "kern-cli"]
    report = pmpm.build(rendered.recipe_set(), pmpm.BuildOptions.of(jobs=2))
    mine = [r for r in report.results if r.job.name in ("libkern", "kern-cli")]
    assert report.ok and len(mine) == 4 and {r.status for r in mine} == {pmpm.Status.BUILT}, report.to_json()
    again = pmpm.build(rendered.recipe_set(), pmpm.BuildOptions.of())
    assert {r.status for r in again.results} == {pmpm.Status.UP_TO_DATE}

    prefix, records = pmpm.create_stack_env(Path("demo.yml"), tmp_path / "env")
    assert {r.name.normalized for r in records} >= {"libkern", "kern-cli"}
    out = subprocess.run([prefix / "bin" / "kern", "1000", "3"], capture_output=True, text=True, check=True).stdout
    assert "isa=" in out, out

    lock_path, solved = pmpm.lock_stack(Path("demo.yml"))
    locked = pmpm.read_lock(lock_path)
    assert isinstance(locked, pmpm.Locked)
    assert sorted(r.name.normalized for r in locked.records) == sorted(r.name.normalized for r in records)
    assert dict(os.environ) == environ  # the build's PATH, CPU_COUNT and ccache dir went to its engine only
