"""TOAST 3, python-pmpm's reason to exist, built by pmpm end to end (issue 30): the catalogue's fftw
and toast from their upstream sources (fftw through a mirror holding Debian's byte-identical
tarball), TOAST's PyPI-only dependencies from `_pmpm.pypi`, for this CPU's best x86-64 level, then
a fast subset of TOAST's own test suite run in the environment `pmpm create` made.

The whole suite, both marches and the speed-up are `benchmarks/toast_e2e.py`'s. Built once per
machine: the channel and the pip/ccache caches live under ~/.cache/pmpm-tests/toast.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import archspec.cpu
import pytest
from conftest import pmpm
from filelock import FileLock
from python_fixture import cache_root, objdump_ymm
from test_python import numpy_channel, python_channel  # noqa: F401  (fixtures)
from toast_fixture import FAST_MODULES, fill_mirror, libtoast, run_toast_tests, write_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # a first build takes ~10 min on 2 cores
V3 = archspec.cpu.host().family.name == "x86_64" and "avx2" in archspec.cpu.host().features
MARCH, ARCHSPEC = ("x86-64-v3", "x86_64_v3") if V3 else ("x86-64", "x86_64")


@pytest.fixture(scope="module")
def toast_build(python_channel, numpy_channel):  # noqa: F811
    work = cache_root() / "toast"
    work.mkdir(exist_ok=True)
    env = {"XDG_CACHE_HOME": str(work / "cache")}  # pip's sdists and wheels, ccache: kept for the next run

    def run(*args, **kwargs):
        return pmpm(*args, cwd=work, env=env, timeout=3600, **kwargs)

    with FileLock(str(work) + ".lock"):
        write_stack(work, [python_channel, numpy_channel], [MARCH])
        mirror = fill_mirror(work, run)
        report = json.loads(run("build", "stack.yml", "--source-mirror", mirror, "-j", "2", "--json").stdout)
    return work, env, report


def test_toast_and_fftw_are_built_for_the_cpu_with_tools_and_dependencies_from_pypi(toast_build):
    _, _, report = toast_build
    status = {(p["name"], p["build"]): p["status"] for p in report["packages"]}
    suffix = f"_{ARCHSPEC}_0"
    for name in ("toast", "fftw", "psutil"):  # psutil: compiled from its sdist, like TOAST
        assert [s for (n, b), s in status.items() if n == name and b.endswith(suffix)] in (["built"], ["up to date"])
    assert {"scikit-build-core", "pybind11", "scipy", "healpy", "astropy", "h5py"} <= {n for n, _ in status}
    assert all(s in ("built", "up to date") for s in status.values()), status


def test_toast_s_own_tests_pass_in_the_environment_pmpm_creates(toast_build, tmp_path):
    work, env, _ = toast_build
    prefix = tmp_path / "env"
    pmpm("create", "stack.yml", "-p", prefix, cwd=work, env={**env, "CONDA_OVERRIDE_ARCHSPEC": ARCHSPEC})
    build = json.loads(next((prefix / "conda-meta").glob("toast-3.0.6-*.json")).read_text())["build"]
    assert build.endswith(f"_{ARCHSPEC}_0")
    library = libtoast(prefix)
    ldd = subprocess.run(["ldd", library], capture_output=True, text=True, check=True).stdout
    linked = {m[1]: os.path.realpath(m[2]) for m in re.finditer(r"^\s*(\S+) => (\S+)", ldd, re.M)}
    assert linked["libfftw3.so.3"] == os.path.realpath(prefix / "lib" / "libfftw3.so.3")  # the catalogue's fftw
    blas = [path for name, path in linked.items() if "blas" in name]  # Debian: libopenblas.so.0
    assert blas and not any(path.startswith(str(prefix)) for path in blas), linked  # the host's, found by CMake
    if V3:  # the x86-64 build has ~150 (from code selecting instructions at run time), the v3 build thousands
        assert objdump_ymm(library) > 1000

    outcome = run_toast_tests([sys.executable, "-m", "pmpm", "run", "-p", str(prefix)], tmp_path, FAST_MODULES)
    assert outcome.failures + outcome.errors == 0, outcome.output[-5000:]
    assert outcome.ran >= 30, outcome.output[-3000:]
