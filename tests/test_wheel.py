"""pmpm as a wheel: built with `python -m build` (the sdist, then the wheel from the sdist),
installed into a fresh venv, and used from a directory outside the repository.

The venv is cached under `~/.cache/pmpm-tests/wheel-venvs/`, keyed by the wheel's content
(file names and bytes, not its timestamps), so an unchanged pmpm reuses it and any change in
code or data gets a fresh one; only the newest few other venvs are kept.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import REPO
from filelock import FileLock, Timeout
from python_fixture import cache_root

pytestmark = pytest.mark.slow

KEEP_OTHERS = 2  # venvs of other wheels (other branches, recent edits) kept beside the current one


def data_files() -> list[str]:
    """The run-time data, as paths relative to the repo (and to the wheel's pmpm/_data/)."""
    files = [REPO / "conda_build_config.yaml", *(REPO / "templates").rglob("*.j2"), *(REPO / "catalogue").glob("*.yml")]
    return sorted(str(p.relative_to(REPO)) for p in files)


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("pmpm-*.whl")
    (sdist,) = out.glob("pmpm-*.tar.gz")
    return wheel, sdist


def content_key(wheel: Path) -> str:
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(zf.read(name)).digest())
    return digest.hexdigest()[:24]


def fresh_env() -> dict[str, str]:
    """The caller's environment minus its venv: the wheel's pmpm must not lean on the test venv."""
    here = str(Path(sys.executable).parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != here]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return {**env, "PATH": os.pathsep.join(path), "PYTHONUNBUFFERED": "1"}


def prune(venvs: Path, keep: Path) -> None:
    """Remove all but the newest KEEP_OTHERS venvs of other wheels; skip any a test is using."""
    others = [p for p in venvs.iterdir() if p.is_dir() and p != keep]
    others.sort(key=lambda p: (p / "ok").stat().st_mtime if (p / "ok").exists() else 0, reverse=True)
    for old in others[KEEP_OTHERS:]:
        try:
            with FileLock(str(old) + ".lock", timeout=0):
                shutil.rmtree(old, ignore_errors=True)
        except Timeout:
            continue
        Path(str(old) + ".lock").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def venv(dists) -> Path:
    """A venv holding only the wheel and its dependencies (from pip's configured index)."""
    wheel, _ = dists
    venvs = cache_root() / "wheel-venvs"
    venvs.mkdir(exist_ok=True)
    target = venvs / content_key(wheel)
    with FileLock(str(target) + ".lock"):
        if not (target / "ok").exists():
            shutil.rmtree(target, ignore_errors=True)  # a half-made one from an interrupted run
            # The system python, not the test venv's: a venv made from a venv is still fresh,
            # but this keeps the two unrelated.
            base = getattr(sys, "_base_executable", sys.executable)
            subprocess.run([base, "-m", "venv", str(target)], check=True, timeout=300)
            proc = subprocess.run(
                [str(target / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                capture_output=True,
                text=True,
                env=fresh_env(),
                timeout=1200,
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
            (target / "ok").touch()
        os.utime(target / "ok")
        prune(venvs, target)
    return target


def test_wheel_and_sdist_carry_the_data(dists):
    wheel, sdist = dists
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for rel in data_files():
            member = f"pmpm/_data/{rel}"
            assert member in names, f"{member} missing from {wheel.name}"
            assert zf.read(member) == (REPO / rel).read_bytes(), f"{member} differs from the repo's {rel}"
        assert "pmpm/resources.py" in names
    with tarfile.open(sdist) as tf:
        top = f"{sdist.name.removesuffix('.tar.gz')}/"
        members = {m.name.removeprefix(top) for m in tf.getmembers()}
    missing = [rel for rel in data_files() if rel not in members or f"pmpm/_data/{rel}" not in members]
    assert not missing, f"{sdist.name} lacks {missing}"


def test_installed_wheel_renders_builds_creates_and_runs_the_demo(venv, tmp_path):
    """A newcomer's path, from the wheel alone: `pmpm init` writes the starter (the demo, shipped
    in the wheel), then render, build, create and run it."""
    work = tmp_path / "outside"
    pmpm = str(venv / "bin" / "pmpm")
    env = fresh_env()

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([*args], cwd=work, capture_output=True, text=True, env=env, timeout=900)
        assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        return proc

    subprocess.run([pmpm, "init", str(work)], check=True, capture_output=True, env=fresh_env(), timeout=120)
    assert (work / "stack.yml").is_file() and (work / "demo" / "libkern" / "CMakeLists.txt").is_file()
    # The installed pmpm is the wheel's, not the checkout's.
    where = run(str(venv / "bin" / "python"), "-c", "import pmpm.resources as r; print(r.templates_dir())")
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    run(pmpm, "render", "stack.yml")
    assert (work / "recipes" / "libkern" / "recipe.yaml").is_file()
    run(pmpm, "build")
    assert list((work / "local-channel" / "linux-64").glob("kern-cli-0.1.0-*.conda"))
    run(pmpm, "create", "stack.yml", "-p", str(work / "env"))
    out = run(str(work / "env" / "bin" / "kern"), "1000000", "100")
    assert out.stdout.strip(), "kern printed nothing"
